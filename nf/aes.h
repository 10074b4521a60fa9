/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AES-128 (FIPS 197) for NF code: encrypt and decrypt one block, CBC over a
 * byte range in place, key schedules.
 *
 * Round tables live in a struct aes_tables that the caller keeps inside its
 * state blob: NF code may not own global tables (NVRTC and nvcc would need
 * __device__/__constant__ copies), and a blob is uploaded with everything it
 * needs. One 1 KiB table per direction plus rotations keeps the working set
 * small enough for the GPU's L1. The tables are computed from the field
 * arithmetic by aes_tables_init(), not typed in.
 *
 * Table lookups are indexed by secret data, so this code is not constant-time
 * against a co-located cache-timing observer; the threat model is packets on a
 * wire, not a hostile process sharing the core or the SM.
 *
 * Words are big-endian column words: byte 0 of a column is bits 31..24.
 * Packet bytes are read and written byte by byte (no alignment assumptions).
 */
#ifndef GEN_NF_AES_H
#define GEN_NF_AES_H

#include "nf.h"

#define AES_BLOCK 16
#define AES128_RK_WORDS 44

struct aes_tables {
	uint32_t te[256];  /* SubBytes then MixColumns column (2s, s, s, 3s) of byte x */
	uint32_t td[256];  /* InvSubBytes then InvMixColumns column (14i, 9i, 13i, 11i) */
	uint8_t sbox[256];
	uint8_t isbox[256];
};
_Static_assert(sizeof(struct aes_tables) == 2560, "aes_tables crosses to the GPU");

NF_FN uint32_t aes_ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

NF_FN uint8_t aes_xtime(uint8_t a) { return (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1b : 0)); }

/* Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
NF_FN uint8_t aes_gmul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;
	while (b) {
		if (b & 1)
			r ^= a;
		a = aes_xtime(a);
		b >>= 1;
	}
	return r;
}

NF_FN uint8_t aes_rotl8(uint8_t x, int n) { return (uint8_t)((x << n) | (x >> (8 - n))); }

/* Build S-boxes and round tables from the field: inverse via 3^k powers, then the affine map. */
NF_FN void aes_tables_init(struct aes_tables *t)
{
	uint8_t pow3[256], log3[256];
	uint8_t x = 1;

	for (int i = 0; i < 255; i++) {
		pow3[i] = x;
		log3[x] = (uint8_t)i;
		x = (uint8_t)(x ^ aes_xtime(x)); /* x * 3 */
	}
	pow3[255] = pow3[0];
	log3[0] = 0;
	for (int i = 0; i < 256; i++) {
		uint8_t inv = i ? pow3[255 - log3[i]] : 0;
		uint8_t s = (uint8_t)(inv ^ aes_rotl8(inv, 1) ^ aes_rotl8(inv, 2) ^ aes_rotl8(inv, 3) ^
				      aes_rotl8(inv, 4) ^ 0x63);
		t->sbox[i] = s;
		t->isbox[s] = (uint8_t)i;
	}
	for (int i = 0; i < 256; i++) {
		uint8_t s = t->sbox[i], v = t->isbox[i];

		t->te[i] = ((uint32_t)aes_gmul(s, 2) << 24) | ((uint32_t)s << 16) | ((uint32_t)s << 8) |
			   aes_gmul(s, 3);
		t->td[i] = ((uint32_t)aes_gmul(v, 14) << 24) | ((uint32_t)aes_gmul(v, 9) << 16) |
			   ((uint32_t)aes_gmul(v, 13) << 8) | aes_gmul(v, 11);
	}
}

NF_FN uint32_t aes_subword(const struct aes_tables *t, uint32_t w)
{
	return ((uint32_t)t->sbox[w >> 24] << 24) | ((uint32_t)t->sbox[(w >> 16) & 0xff] << 16) |
	       ((uint32_t)t->sbox[(w >> 8) & 0xff] << 8) | t->sbox[w & 0xff];
}

/* AES-128 key expansion (FIPS 197 §5.2) into 44 words. */
NF_FN void aes128_expand_enc(const struct aes_tables *t, const uint8_t key[16], uint32_t rk[AES128_RK_WORDS])
{
	uint8_t rcon = 1;

	for (int i = 0; i < 4; i++)
		rk[i] = nf_get32(key + 4 * i);
	for (int i = 4; i < AES128_RK_WORDS; i++) {
		uint32_t w = rk[i - 1];
		if ((i & 3) == 0) {
			w = aes_subword(t, (w << 8) | (w >> 24)) ^ ((uint32_t)rcon << 24);
			rcon = aes_xtime(rcon);
		}
		rk[i] = rk[i - 4] ^ w;
	}
}

NF_FN uint32_t aes_inv_mix_word(uint32_t w)
{
	uint8_t a0 = (uint8_t)(w >> 24), a1 = (uint8_t)(w >> 16), a2 = (uint8_t)(w >> 8), a3 = (uint8_t)w;
	uint8_t b0 = aes_gmul(a0, 14) ^ aes_gmul(a1, 11) ^ aes_gmul(a2, 13) ^ aes_gmul(a3, 9);
	uint8_t b1 = aes_gmul(a0, 9) ^ aes_gmul(a1, 14) ^ aes_gmul(a2, 11) ^ aes_gmul(a3, 13);
	uint8_t b2 = aes_gmul(a0, 13) ^ aes_gmul(a1, 9) ^ aes_gmul(a2, 14) ^ aes_gmul(a3, 11);
	uint8_t b3 = aes_gmul(a0, 11) ^ aes_gmul(a1, 13) ^ aes_gmul(a2, 9) ^ aes_gmul(a3, 14);
	return ((uint32_t)b0 << 24) | ((uint32_t)b1 << 16) | ((uint32_t)b2 << 8) | b3;
}

/*
 * Decryption schedule for the equivalent inverse cipher (FIPS 197 §5.3.5):
 * round keys in reverse order, InvMixColumns applied to the middle nine, so
 * decryption has the same table-driven shape as encryption.
 */
NF_FN void aes128_expand_dec(const uint32_t erk[AES128_RK_WORDS], uint32_t drk[AES128_RK_WORDS])
{
	for (int r = 0; r <= 10; r++) {
		for (int c = 0; c < 4; c++) {
			uint32_t w = erk[4 * (10 - r) + c];
			drk[4 * r + c] = (r == 0 || r == 10) ? w : aes_inv_mix_word(w);
		}
	}
}

/* One block, words in and out (big-endian columns). */
NF_FN void aes128_enc_words(const struct aes_tables *t, const uint32_t *rk, uint32_t s[4])
{
	const uint32_t *te = t->te;
	uint32_t s0 = s[0] ^ rk[0], s1 = s[1] ^ rk[1], s2 = s[2] ^ rk[2], s3 = s[3] ^ rk[3];

	for (int r = 1; r < 10; r++) {
		const uint32_t *k = rk + 4 * r;
		uint32_t t0 = te[s0 >> 24] ^ aes_ror(te[(s1 >> 16) & 0xff], 8) ^ aes_ror(te[(s2 >> 8) & 0xff], 16) ^
			      aes_ror(te[s3 & 0xff], 24) ^ k[0];
		uint32_t t1 = te[s1 >> 24] ^ aes_ror(te[(s2 >> 16) & 0xff], 8) ^ aes_ror(te[(s3 >> 8) & 0xff], 16) ^
			      aes_ror(te[s0 & 0xff], 24) ^ k[1];
		uint32_t t2 = te[s2 >> 24] ^ aes_ror(te[(s3 >> 16) & 0xff], 8) ^ aes_ror(te[(s0 >> 8) & 0xff], 16) ^
			      aes_ror(te[s1 & 0xff], 24) ^ k[2];
		uint32_t t3 = te[s3 >> 24] ^ aes_ror(te[(s0 >> 16) & 0xff], 8) ^ aes_ror(te[(s1 >> 8) & 0xff], 16) ^
			      aes_ror(te[s2 & 0xff], 24) ^ k[3];
		s0 = t0; s1 = t1; s2 = t2; s3 = t3;
	}
	const uint8_t *sb = t->sbox;
	const uint32_t *k = rk + 40;
	s[0] = (((uint32_t)sb[s0 >> 24] << 24) | ((uint32_t)sb[(s1 >> 16) & 0xff] << 16) |
		((uint32_t)sb[(s2 >> 8) & 0xff] << 8) | sb[s3 & 0xff]) ^ k[0];
	s[1] = (((uint32_t)sb[s1 >> 24] << 24) | ((uint32_t)sb[(s2 >> 16) & 0xff] << 16) |
		((uint32_t)sb[(s3 >> 8) & 0xff] << 8) | sb[s0 & 0xff]) ^ k[1];
	s[2] = (((uint32_t)sb[s2 >> 24] << 24) | ((uint32_t)sb[(s3 >> 16) & 0xff] << 16) |
		((uint32_t)sb[(s0 >> 8) & 0xff] << 8) | sb[s1 & 0xff]) ^ k[2];
	s[3] = (((uint32_t)sb[s3 >> 24] << 24) | ((uint32_t)sb[(s0 >> 16) & 0xff] << 16) |
		((uint32_t)sb[(s1 >> 8) & 0xff] << 8) | sb[s2 & 0xff]) ^ k[3];
}

/* One block with the decryption schedule from aes128_expand_dec(). */
NF_FN void aes128_dec_words(const struct aes_tables *t, const uint32_t *drk, uint32_t s[4])
{
	const uint32_t *td = t->td;
	uint32_t s0 = s[0] ^ drk[0], s1 = s[1] ^ drk[1], s2 = s[2] ^ drk[2], s3 = s[3] ^ drk[3];

	for (int r = 1; r < 10; r++) {
		const uint32_t *k = drk + 4 * r;
		uint32_t t0 = td[s0 >> 24] ^ aes_ror(td[(s3 >> 16) & 0xff], 8) ^ aes_ror(td[(s2 >> 8) & 0xff], 16) ^
			      aes_ror(td[s1 & 0xff], 24) ^ k[0];
		uint32_t t1 = td[s1 >> 24] ^ aes_ror(td[(s0 >> 16) & 0xff], 8) ^ aes_ror(td[(s3 >> 8) & 0xff], 16) ^
			      aes_ror(td[s2 & 0xff], 24) ^ k[1];
		uint32_t t2 = td[s2 >> 24] ^ aes_ror(td[(s1 >> 16) & 0xff], 8) ^ aes_ror(td[(s0 >> 8) & 0xff], 16) ^
			      aes_ror(td[s3 & 0xff], 24) ^ k[2];
		uint32_t t3 = td[s3 >> 24] ^ aes_ror(td[(s2 >> 16) & 0xff], 8) ^ aes_ror(td[(s1 >> 8) & 0xff], 16) ^
			      aes_ror(td[s0 & 0xff], 24) ^ k[3];
		s0 = t0; s1 = t1; s2 = t2; s3 = t3;
	}
	const uint8_t *ib = t->isbox;
	const uint32_t *k = drk + 40;
	s[0] = (((uint32_t)ib[s0 >> 24] << 24) | ((uint32_t)ib[(s3 >> 16) & 0xff] << 16) |
		((uint32_t)ib[(s2 >> 8) & 0xff] << 8) | ib[s1 & 0xff]) ^ k[0];
	s[1] = (((uint32_t)ib[s1 >> 24] << 24) | ((uint32_t)ib[(s0 >> 16) & 0xff] << 16) |
		((uint32_t)ib[(s3 >> 8) & 0xff] << 8) | ib[s2 & 0xff]) ^ k[1];
	s[2] = (((uint32_t)ib[s2 >> 24] << 24) | ((uint32_t)ib[(s1 >> 16) & 0xff] << 16) |
		((uint32_t)ib[(s0 >> 8) & 0xff] << 8) | ib[s3 & 0xff]) ^ k[2];
	s[3] = (((uint32_t)ib[s3 >> 24] << 24) | ((uint32_t)ib[(s2 >> 16) & 0xff] << 16) |
		((uint32_t)ib[(s1 >> 8) & 0xff] << 8) | ib[s0 & 0xff]) ^ k[3];
}

NF_FN void aes_load_block(const uint8_t *b, uint32_t s[4])
{
	for (int i = 0; i < 4; i++)
		s[i] = nf_get32(b + 4 * i);
}

NF_FN void aes_store_block(uint8_t *b, const uint32_t s[4])
{
	for (int i = 0; i < 4; i++)
		nf_put32(b + 4 * i, s[i]);
}

/* One block, bytes (in may equal out). */
NF_FN void aes128_encrypt_block(const struct aes_tables *t, const uint32_t *rk, const uint8_t in[16], uint8_t out[16])
{
	uint32_t s[4];
	aes_load_block(in, s);
	aes128_enc_words(t, rk, s);
	aes_store_block(out, s);
}

NF_FN void aes128_decrypt_block(const struct aes_tables *t, const uint32_t *drk, const uint8_t in[16], uint8_t out[16])
{
	uint32_t s[4];
	aes_load_block(in, s);
	aes128_dec_words(t, drk, s);
	aes_store_block(out, s);
}

/* CBC encryption of len bytes (a multiple of 16) in place. */
NF_FN void aes128_cbc_encrypt(const struct aes_tables *t, const uint32_t *rk, const uint8_t iv[16], uint8_t *buf,
			      uint32_t len)
{
	uint32_t c[4];

	aes_load_block(iv, c);
	for (uint32_t off = 0; off + AES_BLOCK <= len; off += AES_BLOCK) {
		for (int i = 0; i < 4; i++)
			c[i] ^= nf_get32(buf + off + 4 * i);
		aes128_enc_words(t, rk, c);
		aes_store_block(buf + off, c);
	}
}

/* CBC decryption of len bytes (a multiple of 16) in place. */
NF_FN void aes128_cbc_decrypt(const struct aes_tables *t, const uint32_t *drk, const uint8_t iv[16], uint8_t *buf,
			      uint32_t len)
{
	uint32_t prev[4], c[4], s[4];

	aes_load_block(iv, prev);
	for (uint32_t off = 0; off + AES_BLOCK <= len; off += AES_BLOCK) {
		aes_load_block(buf + off, c);
		for (int i = 0; i < 4; i++)
			s[i] = c[i];
		aes128_dec_words(t, drk, s);
		for (int i = 0; i < 4; i++) {
			s[i] ^= prev[i];
			prev[i] = c[i];
		}
		aes_store_block(buf + off, s);
	}
}

#endif
