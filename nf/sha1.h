/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SHA-1 (FIPS 180-4) and HMAC-SHA1 (RFC 2104) for NF code.
 *
 * HMAC is split so the per-packet path never touches the key: the chaining
 * values after the ipad and opad blocks are computed once when the state blob
 * is built (hmac_sha1_precompute) and each packet then costs the message
 * blocks plus two finishing blocks (hmac_sha1_pre).
 */
#ifndef GEN_NF_SHA1_H
#define GEN_NF_SHA1_H

#include "nf.h"

#define SHA1_BLOCK 64
#define SHA1_DIGEST 20

NF_FN uint32_t sha1_rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

NF_FN void sha1_init(uint32_t h[5])
{
	h[0] = 0x67452301u;
	h[1] = 0xefcdab89u;
	h[2] = 0x98badcfeu;
	h[3] = 0x10325476u;
	h[4] = 0xc3d2e1f0u;
}

/* One round: the schedule lives in a 16-word ring so it stays in registers. */
#define SHA1_W(i) (w[(i) & 15] = sha1_rol(w[((i) + 13) & 15] ^ w[((i) + 8) & 15] ^ w[((i) + 2) & 15] ^ w[(i) & 15], 1))
#define SHA1_ROUND(f, k, wi)                                           \
	do {                                                           \
		uint32_t t_ = sha1_rol(a, 5) + (f) + e + (k) + (wi);   \
		e = d;                                                 \
		d = c;                                                 \
		c = sha1_rol(b, 30);                                   \
		b = a;                                                 \
		a = t_;                                                \
	} while (0)

/*
 * Compress one block, given as its 16 message words, into h. Four loops, one per
 * round function, unrolled on the GPU: w then stays in registers (a loop
 * counter indexing it put it on the thread's stack).
 */
NF_FN void sha1_compress(uint32_t h[5], uint32_t w[16])
{
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	NF_UNROLL
	for (int i = 0; i < 16; i++)
		SHA1_ROUND((b & c) | (~b & d), 0x5a827999u, w[i]);
	NF_UNROLL
	for (int i = 16; i < 20; i++)
		SHA1_ROUND((b & c) | (~b & d), 0x5a827999u, SHA1_W(i));
	NF_UNROLL
	for (int i = 20; i < 40; i++)
		SHA1_ROUND(b ^ c ^ d, 0x6ed9eba1u, SHA1_W(i));
	NF_UNROLL
	for (int i = 40; i < 60; i++)
		SHA1_ROUND((b & c) | (d & (b | c)), 0x8f1bbcdcu, SHA1_W(i));
	NF_UNROLL
	for (int i = 60; i < 80; i++)
		SHA1_ROUND(b ^ c ^ d, 0xca62c1d6u, SHA1_W(i));
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

/* Compress one 64-byte block into h. */
NF_FN void sha1_block(uint32_t h[5], const uint8_t *blk)
{
	uint32_t w[16];

	for (int i = 0; i < 16; i++)
		w[i] = nf_get32(blk + 4 * i);
	sha1_compress(h, w);
}
#undef SHA1_ROUND
#undef SHA1_W

/* Big-endian word of the padded tail: bytes [at, at + 4) of tail[0, rest) then 0x80 then zeros. */
NF_FN uint32_t sha1_tail_word(const uint8_t *tail, uint32_t rest, uint32_t at)
{
	if (at + 4 <= rest)
		return nf_get32(tail + at);
	uint32_t v = 0;
	for (uint32_t k = 0; k < 4; k++) {
		uint32_t b = at + k;
		uint32_t byte = b < rest ? tail[b] : b == rest ? 0x80u : 0;
		v |= byte << (24 - 8 * k);
	}
	return v;
}

/*
 * Hash msg[0, len) starting from chaining value h, which has already absorbed
 * `prior` bytes (a multiple of 64), and write the 20-byte digest. h is consumed.
 * The padded tail's words are built from the message in place (no copy).
 */
NF_FN void sha1_finish(uint32_t h[5], uint64_t prior, const uint8_t *msg, uint32_t len, uint8_t out[SHA1_DIGEST])
{
	uint32_t full = len & ~(uint32_t)(SHA1_BLOCK - 1);
	uint32_t rest = len - full;
	uint64_t bits = (prior + len) * 8;
	uint32_t nblk = rest + 1 + 8 <= SHA1_BLOCK ? 1 : 2;
	uint32_t w[16];

	for (uint32_t off = 0; off < full; off += SHA1_BLOCK)
		sha1_block(h, msg + off);
	for (uint32_t k = 0; k < nblk; k++) {
		for (uint32_t i = 0; i < 16; i++)
			w[i] = sha1_tail_word(msg + full, rest, SHA1_BLOCK * k + 4 * i);
		if (k == nblk - 1) {
			w[14] = (uint32_t)(bits >> 32);
			w[15] = (uint32_t)bits;
		}
		sha1_compress(h, w);
	}
	for (int i = 0; i < 5; i++)
		nf_put32(out + 4 * i, h[i]);
}

NF_FN void sha1(const uint8_t *msg, uint32_t len, uint8_t out[SHA1_DIGEST])
{
	uint32_t h[5];
	sha1_init(h);
	sha1_finish(h, 0, msg, len, out);
}

/* Chaining values after the (key ^ ipad) and (key ^ opad) blocks; keys over 64 bytes are hashed first. */
NF_FN void hmac_sha1_precompute(const uint8_t *key, uint32_t keylen, uint32_t istate[5], uint32_t ostate[5])
{
	uint8_t k[SHA1_BLOCK], blk[SHA1_BLOCK];

	for (int i = 0; i < SHA1_BLOCK; i++)
		k[i] = 0;
	if (keylen > SHA1_BLOCK) {
		sha1(key, keylen, k);
	} else {
		for (uint32_t i = 0; i < keylen; i++)
			k[i] = key[i];
	}
	for (int i = 0; i < SHA1_BLOCK; i++)
		blk[i] = k[i] ^ 0x36;
	sha1_init(istate);
	sha1_block(istate, blk);
	for (int i = 0; i < SHA1_BLOCK; i++)
		blk[i] = k[i] ^ 0x5c;
	sha1_init(ostate);
	sha1_block(ostate, blk);
}

/* HMAC-SHA1 of msg with precomputed pad states. */
NF_FN void hmac_sha1_pre(const uint32_t istate[5], const uint32_t ostate[5], const uint8_t *msg, uint32_t len,
			 uint8_t out[SHA1_DIGEST])
{
	uint32_t h[5], w[16];
	uint8_t inner[SHA1_DIGEST];

	for (int i = 0; i < 5; i++)
		h[i] = istate[i];
	sha1_finish(h, SHA1_BLOCK, msg, len, inner);
	/*
	 * The outer hash's only block: the inner digest as its first five words (taken
	 * from the chaining value, not re-read from bytes), padding, and the length of
	 * the opad block plus 20 bytes, in bits.
	 */
	for (int i = 0; i < 16; i++)
		w[i] = 0;
	for (int i = 0; i < 5; i++) {
		w[i] = h[i];
		h[i] = ostate[i];
	}
	w[5] = 0x80000000u;
	w[15] = (SHA1_BLOCK + SHA1_DIGEST) * 8;
	sha1_compress(h, w);
	for (int i = 0; i < 5; i++)
		nf_put32(out + 4 * i, h[i]);
}

NF_FN void hmac_sha1(const uint8_t *key, uint32_t keylen, const uint8_t *msg, uint32_t len, uint8_t out[SHA1_DIGEST])
{
	uint32_t is[5], os[5];
	hmac_sha1_precompute(key, keylen, is, os);
	hmac_sha1_pre(is, os, msg, len, out);
}

#endif
