/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-only ESP crypto: AES-128 with the x86 AES instructions (AES-NI) and
 * SHA-1 with the x86 SHA extensions (SHA-NI), for the cpu backend.
 *
 * nf/ipsec_esp.h includes this file only when neither nvcc nor NVRTC compiles
 * it and the target is x86, so the GPU (and every other architecture) keeps
 * running the portable code of nf/aes.h and nf/sha1.h. Both compute the same
 * functions (FIPS 197, FIPS 180-4), so the bytes on the wire do not depend on
 * which path ran; test/unit/test_crypto.c and test/unit/test_ipsec.c compare
 * the two paths on random input.
 *
 * Each function carries its own target attribute, so no translation unit
 * needs -maes or -msha: the instructions run only after esp_host_cpu_accel()
 * found them in CPUID, and the callers check the bits it returned.
 *
 * Round keys are the byte strings of the FIPS 197 schedule (what AESENC takes
 * from memory), precomputed into the state blob by the builder:
 * esp_host_ni_keys() turns the portable big-endian word schedule into them.
 * The decryption keys of the equivalent inverse cipher are the same for
 * AESDEC as for the portable table code, so no AESIMC runs per packet.
 */
#ifndef GEN_NF_ESP_HOST_H
#define GEN_NF_ESP_HOST_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "nf/esp_host.h is host-only code"
#endif

#include "nf.h"
#include "aes.h"
#include "sha1.h"

/* Bits of struct nf_ipsec_esp.host_accel. */
#define ESP_ACCEL_AESNI 1u
#define ESP_ACCEL_SHANI 2u

#define ESP_NI_RK_BYTES (AES_BLOCK * 11)

/* Portable schedule (44 big-endian words) -> the 176 key bytes AES-NI reads. */
static inline __attribute__((unused)) void esp_host_ni_keys(const uint32_t rk[AES128_RK_WORDS],
							    uint8_t out[ESP_NI_RK_BYTES])
{
	for (int i = 0; i < AES128_RK_WORDS; i++)
		nf_put32(out + 4 * i, rk[i]);
}

#if defined(__x86_64__) || defined(__i386__)
#define ESP_HOST_X86 1
#include <cpuid.h>
#include <immintrin.h>

/* ESP_ACCEL_* this CPU supports; the SSE levels the code also uses are checked with them. */
static inline __attribute__((unused)) uint32_t esp_host_cpu_accel(void)
{
	unsigned int a, b, c, d;
	uint32_t r = 0;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	int sse41 = (c >> 19) & 1, ssse3 = (c >> 9) & 1;
	if (sse41 && ssse3 && ((c >> 25) & 1))
		r |= ESP_ACCEL_AESNI;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && sse41 && ssse3 && ((b >> 29) & 1))
		r |= ESP_ACCEL_SHANI;
	return r;
}

#define ESP_NI_AES __attribute__((unused, target("aes,sse4.1,ssse3")))
#define ESP_NI_SHA __attribute__((unused, target("sha,sse4.1,ssse3")))

/* AES-128 of one block; rk = the 11 round keys. */
#define ESP_NI_ENC_BLOCK(x, k)                                                                     \
	do {                                                                                       \
		x = _mm_xor_si128(x, k[0]);                                                        \
		for (int r_ = 1; r_ < 10; r_++)                                                    \
			x = _mm_aesenc_si128(x, k[r_]);                                            \
		x = _mm_aesenclast_si128(x, k[10]);                                                \
	} while (0)

/*
 * ESP encryption's cipher half: IV = AES(iv key, 0^64 | seq64) written to
 * iv_out, then CBC over buf[0, len) in place (len a multiple of 16). CBC
 * encryption is serial by nature, so each block waits for the one before.
 */
static inline ESP_NI_AES void esp_ni_iv_cbc_encrypt(const uint8_t *iv_rk, const uint8_t *rk, uint64_t seq,
						     uint8_t *iv_out, uint8_t *buf, uint32_t len)
{
	__m128i k[11];
	/* Big-endian seq in bytes 8..15: the byte swap of the low qword, shifted up. */
	const __m128i bswap64 = _mm_set_epi8(8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
	__m128i x = _mm_shuffle_epi8(_mm_set_epi64x((long long)seq, 0), bswap64);

	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(iv_rk + 16 * i));
	ESP_NI_ENC_BLOCK(x, k);
	_mm_storeu_si128((__m128i *)iv_out, x);
	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(rk + 16 * i));
	for (uint32_t off = 0; off + AES_BLOCK <= len; off += AES_BLOCK) {
		x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(buf + off)));
		ESP_NI_ENC_BLOCK(x, k);
		_mm_storeu_si128((__m128i *)(buf + off), x);
	}
}

/* AES-128-CBC encryption in place with an explicit IV (tests and the RFC 3602 vectors). */
static inline ESP_NI_AES void esp_ni_cbc_encrypt(const uint8_t *rk, const uint8_t iv[16], uint8_t *buf, uint32_t len)
{
	__m128i k[11];
	__m128i x = _mm_loadu_si128((const __m128i *)iv);

	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(rk + 16 * i));
	for (uint32_t off = 0; off + AES_BLOCK <= len; off += AES_BLOCK) {
		x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(buf + off)));
		ESP_NI_ENC_BLOCK(x, k);
		_mm_storeu_si128((__m128i *)(buf + off), x);
	}
}

#define ESP_NI_DEC4(a, b, c, d, k)                                                                 \
	do {                                                                                       \
		a = _mm_xor_si128(a, k[0]);                                                        \
		b = _mm_xor_si128(b, k[0]);                                                        \
		c = _mm_xor_si128(c, k[0]);                                                        \
		d = _mm_xor_si128(d, k[0]);                                                        \
		for (int r_ = 1; r_ < 10; r_++) {                                                  \
			a = _mm_aesdec_si128(a, k[r_]);                                            \
			b = _mm_aesdec_si128(b, k[r_]);                                            \
			c = _mm_aesdec_si128(c, k[r_]);                                            \
			d = _mm_aesdec_si128(d, k[r_]);                                            \
		}                                                                                  \
		a = _mm_aesdeclast_si128(a, k[10]);                                                \
		b = _mm_aesdeclast_si128(b, k[10]);                                                \
		c = _mm_aesdeclast_si128(c, k[10]);                                                \
		d = _mm_aesdeclast_si128(d, k[10]);                                                \
	} while (0)

/*
 * AES-128-CBC decryption in place; drk = the equivalent-inverse-cipher keys
 * (nf/aes.h's aes128_expand_dec, as bytes). Blocks are independent here, so
 * four go through the pipeline at once.
 */
static inline ESP_NI_AES void esp_ni_cbc_decrypt(const uint8_t *drk, const uint8_t iv[16], uint8_t *buf, uint32_t len)
{
	__m128i k[11];
	__m128i prev = _mm_loadu_si128((const __m128i *)iv);
	uint32_t off = 0;

	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(drk + 16 * i));
	for (; off + 4 * AES_BLOCK <= len; off += 4 * AES_BLOCK) {
		__m128i c0 = _mm_loadu_si128((const __m128i *)(buf + off));
		__m128i c1 = _mm_loadu_si128((const __m128i *)(buf + off + 16));
		__m128i c2 = _mm_loadu_si128((const __m128i *)(buf + off + 32));
		__m128i c3 = _mm_loadu_si128((const __m128i *)(buf + off + 48));
		__m128i p0 = c0, p1 = c1, p2 = c2, p3 = c3;
		ESP_NI_DEC4(p0, p1, p2, p3, k);
		_mm_storeu_si128((__m128i *)(buf + off), _mm_xor_si128(p0, prev));
		_mm_storeu_si128((__m128i *)(buf + off + 16), _mm_xor_si128(p1, c0));
		_mm_storeu_si128((__m128i *)(buf + off + 32), _mm_xor_si128(p2, c1));
		_mm_storeu_si128((__m128i *)(buf + off + 48), _mm_xor_si128(p3, c2));
		prev = c3;
	}
	for (; off + AES_BLOCK <= len; off += AES_BLOCK) {
		__m128i c = _mm_loadu_si128((const __m128i *)(buf + off));
		__m128i p = _mm_xor_si128(c, k[0]);
		for (int r = 1; r < 10; r++)
			p = _mm_aesdec_si128(p, k[r]);
		p = _mm_aesdeclast_si128(p, k[10]);
		_mm_storeu_si128((__m128i *)(buf + off), _mm_xor_si128(p, prev));
		prev = c;
	}
}

/* One block with AES-NI (tests: FIPS 197 C.1). */
static inline ESP_NI_AES void esp_ni_encrypt_block(const uint8_t *rk, const uint8_t in[16], uint8_t out[16])
{
	__m128i k[11];
	__m128i x = _mm_loadu_si128((const __m128i *)in);

	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(rk + 16 * i));
	ESP_NI_ENC_BLOCK(x, k);
	_mm_storeu_si128((__m128i *)out, x);
}

/*
 * Four SHA-1 rounds per step. w[] is a ring of the last four 4-word message
 * groups: group i (words 4i..4i+3) replaces group i-4 in slot i & 3, computed
 * from groups i-4..i-1 by SHA1MSG1 / XOR / SHA1MSG2. e carries E plus the
 * group's words: SHA1NEXTE derives the next E from the ABCD of four rounds
 * back. The round-function selector is an immediate, hence the macro.
 */
#define ESP_SHA_STEP_V(i, f, w, e, prev, abcd)                                                     \
	do {                                                                                       \
		if ((i) >= 4)                                                                      \
			w[(i) & 3] = _mm_sha1msg2_epu32(                                           \
				_mm_xor_si128(_mm_sha1msg1_epu32(w[(i) & 3], w[((i) + 1) & 3]),    \
					      w[((i) + 2) & 3]),                                   \
				w[((i) + 3) & 3]);                                                 \
		e = (i) ? _mm_sha1nexte_epu32(prev, w[(i) & 3]) : _mm_add_epi32(e, w[0]);          \
		prev = abcd;                                                                       \
		abcd = _mm_sha1rnds4_epu32(abcd, e, f);                                            \
	} while (0)
#define ESP_SHA_STEP(i, f) ESP_SHA_STEP_V(i, f, w, e, prev, abcd)

/* Compress n 64-byte blocks into h (same chaining value layout as nf/sha1.h). */
static inline ESP_NI_SHA void esp_ni_sha1_blocks(uint32_t h[5], const uint8_t *p, uint32_t n)
{
	/* Big-endian words, word 0 in the top lane, as SHA1RNDS4 expects. */
	const __m128i bswap = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1b);
	__m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0);

	for (uint32_t b = 0; b < n; b++, p += SHA1_BLOCK) {
		__m128i abcd0 = abcd, e00 = e0, e = e0, prev = abcd;
		__m128i w[4];

		for (int j = 0; j < 4; j++)
			w[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * j)), bswap);
		ESP_SHA_STEP(0, 0);
		ESP_SHA_STEP(1, 0);
		ESP_SHA_STEP(2, 0);
		ESP_SHA_STEP(3, 0);
		ESP_SHA_STEP(4, 0);
		ESP_SHA_STEP(5, 1);
		ESP_SHA_STEP(6, 1);
		ESP_SHA_STEP(7, 1);
		ESP_SHA_STEP(8, 1);
		ESP_SHA_STEP(9, 1);
		ESP_SHA_STEP(10, 2);
		ESP_SHA_STEP(11, 2);
		ESP_SHA_STEP(12, 2);
		ESP_SHA_STEP(13, 2);
		ESP_SHA_STEP(14, 2);
		ESP_SHA_STEP(15, 3);
		ESP_SHA_STEP(16, 3);
		ESP_SHA_STEP(17, 3);
		ESP_SHA_STEP(18, 3);
		ESP_SHA_STEP(19, 3);
		e0 = _mm_sha1nexte_epu32(prev, e00);
		abcd = _mm_add_epi32(abcd, abcd0);
	}
	_mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1b));
	h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

/*
 * SHA-1's padding of a message's last rest (< 64) bytes, after `total` bytes
 * in all (earlier blocks and key block included): one or two blocks in tail
 * (room for 128 bytes, or 64 when rest < 56; last may be tail), returns their length.
 */
static inline __attribute__((unused)) uint32_t esp_sha1_pad(const uint8_t *last, uint32_t rest, uint64_t total,
							    uint8_t *tail)
{
	uint64_t bits = total * 8;
	uint32_t tlen = rest + 1 + 8 <= SHA1_BLOCK ? SHA1_BLOCK : 2 * SHA1_BLOCK;

	for (uint32_t i = 0; i < rest; i++)
		tail[i] = last[i];
	tail[rest] = 0x80;
	for (uint32_t i = rest + 1; i < tlen - 8; i++)
		tail[i] = 0;
	nf_put32(tail + tlen - 8, (uint32_t)(bits >> 32));
	nf_put32(tail + tlen - 4, (uint32_t)bits);
	return tlen;
}

/* sha1_finish() of nf/sha1.h on the SHA-NI compression function. */
static inline ESP_NI_SHA void esp_ni_sha1_finish(uint32_t h[5], uint64_t prior, const uint8_t *msg, uint32_t len,
						 uint8_t out[SHA1_DIGEST])
{
	uint8_t tail[2 * SHA1_BLOCK];
	uint32_t full = len & ~(uint32_t)(SHA1_BLOCK - 1);

	esp_ni_sha1_blocks(h, msg, full / SHA1_BLOCK);
	uint32_t tlen = esp_sha1_pad(msg + full, len - full, prior + len, tail);
	esp_ni_sha1_blocks(h, tail, tlen / SHA1_BLOCK);
	for (int i = 0; i < 5; i++)
		nf_put32(out + 4 * i, h[i]);
}

/* hmac_sha1_pre() of nf/sha1.h on SHA-NI. */
static inline ESP_NI_SHA void esp_ni_hmac_sha1_pre(const uint32_t istate[5], const uint32_t ostate[5],
						   const uint8_t *msg, uint32_t len, uint8_t out[SHA1_DIGEST])
{
	uint32_t h[5];
	uint8_t inner[SHA1_DIGEST];

	for (int i = 0; i < 5; i++)
		h[i] = istate[i];
	esp_ni_sha1_finish(h, SHA1_BLOCK, msg, len, inner);
	for (int i = 0; i < 5; i++)
		h[i] = ostate[i];
	esp_ni_sha1_finish(h, SHA1_BLOCK, inner, SHA1_DIGEST, out);
}

#define ESP_NI_BOTH __attribute__((unused, target("aes,sha,sse4.1,ssse3")))

/*
 * AES operation i (0..43) of four chained CBC blocks at buf: block i / 11,
 * round i % 11; round 0 also XORs the plaintext in, round 10 stores. Meant
 * for constant i, so each use folds into one or two instructions.
 */
#define ESP_NI_AES_OP(i, x, k, buf)                                                                \
	do {                                                                                       \
		const int b_ = (i) / 11, r_ = (i) % 11;                                            \
		if (r_ == 0) {                                                                     \
			x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)((buf) + 16 * b_))); \
			x = _mm_xor_si128(x, k[0]);                                                \
		} else if (r_ < 10) {                                                              \
			x = _mm_aesenc_si128(x, k[r_]);                                            \
		} else {                                                                           \
			x = _mm_aesenclast_si128(x, k[10]);                                        \
			_mm_storeu_si128((__m128i *)((buf) + 16 * b_), x);                         \
		}                                                                                  \
	} while (0)

/* SHA-1 step s of 20, then its share (44 / 20) of the four AES blocks' operations. */
#define ESP_NI_STEP_AES(s, f, x, k, buf)                                                           \
	do {                                                                                       \
		ESP_SHA_STEP(s, f);                                                                \
		_Pragma("GCC unroll 4") for (int i_ = 44 * (s) / 20; i_ < 44 * ((s) + 1) / 20; i_++) \
			ESP_NI_AES_OP(i_, x, k, buf);                                              \
	} while (0)

/*
 * One SHA-1 block of msg into (abcd, e0) while four CBC blocks at buf are
 * encrypted in place, chained through x. The two are independent (buf lies
 * past msg's 64 bytes): SHA1RNDS4 and AESENC each wait on their own chain,
 * and written one after the other the out-of-order window does not reach far
 * enough to run them together, so the source interleaves them.
 */
static inline ESP_NI_BOTH void esp_ni_sha1_block_aes4(__m128i *abcd_io, __m128i *e0_io, const uint8_t *msg,
						       __m128i *x_io, const __m128i k[11], uint8_t *buf)
{
	const __m128i bswap = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m128i abcd = *abcd_io, abcd0 = abcd, e00 = *e0_io, e = e00, prev = abcd, x = *x_io;
	__m128i w[4];

	for (int j = 0; j < 4; j++)
		w[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(msg + 16 * j)), bswap);
	ESP_NI_STEP_AES(0, 0, x, k, buf);
	ESP_NI_STEP_AES(1, 0, x, k, buf);
	ESP_NI_STEP_AES(2, 0, x, k, buf);
	ESP_NI_STEP_AES(3, 0, x, k, buf);
	ESP_NI_STEP_AES(4, 0, x, k, buf);
	ESP_NI_STEP_AES(5, 1, x, k, buf);
	ESP_NI_STEP_AES(6, 1, x, k, buf);
	ESP_NI_STEP_AES(7, 1, x, k, buf);
	ESP_NI_STEP_AES(8, 1, x, k, buf);
	ESP_NI_STEP_AES(9, 1, x, k, buf);
	ESP_NI_STEP_AES(10, 2, x, k, buf);
	ESP_NI_STEP_AES(11, 2, x, k, buf);
	ESP_NI_STEP_AES(12, 2, x, k, buf);
	ESP_NI_STEP_AES(13, 2, x, k, buf);
	ESP_NI_STEP_AES(14, 2, x, k, buf);
	ESP_NI_STEP_AES(15, 3, x, k, buf);
	ESP_NI_STEP_AES(16, 3, x, k, buf);
	ESP_NI_STEP_AES(17, 3, x, k, buf);
	ESP_NI_STEP_AES(18, 3, x, k, buf);
	ESP_NI_STEP_AES(19, 3, x, k, buf);
	*e0_io = _mm_sha1nexte_epu32(prev, e00);
	*abcd_io = _mm_add_epi32(abcd, abcd0);
	*x_io = x;
}
#undef ESP_NI_STEP_AES
#undef ESP_NI_AES_OP

/*
 * Both halves of ESP encryption in one pass, for CPUs with AES-NI and SHA-NI:
 * esp points at SPI | seq (written by the caller), followed by room for the IV
 * and ct_len bytes of plaintext (a multiple of 16). Writes the IV, encrypts in
 * place, and returns HMAC-SHA1(esp[0, 24 + ct_len)) in mac.
 *
 * CBC encryption is one long dependency chain of AESENC latencies, and so is
 * SHA-1. The MAC covers the ciphertext, so SHA-1 block j (bytes 64j..64j+63
 * of SPI | seq | IV | ciphertext) can start once CBC block 4j + 2 exists: the
 * loop keeps CBC three blocks ahead and, per SHA-1 block, encrypts the next
 * four CBC blocks interleaved with it (esp_ni_sha1_block_aes4). What is left
 * (the last partial SHA-1 blocks, the outer hash) runs after.
 */
static inline ESP_NI_BOTH void esp_ni_encrypt_and_mac(const uint8_t *iv_rk, const uint8_t *rk,
						     const uint32_t istate[5], const uint32_t ostate[5], uint64_t seq,
						     uint8_t *esp, uint32_t ct_len, uint8_t mac[SHA1_DIGEST])
{
	const uint32_t pre = 8 + AES_BLOCK; /* SPI, seq, IV: hashed, not encrypted */
	const __m128i bswap64 = _mm_set_epi8(8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
	__m128i x = _mm_shuffle_epi8(_mm_set_epi64x((long long)seq, 0), bswap64);
	__m128i k[11];
	uint32_t h[5];
	uint8_t inner[SHA1_DIGEST];
	uint8_t *ct = esp + pre;
	uint32_t nb = ct_len / AES_BLOCK, done = 0, full = (pre + ct_len) / SHA1_BLOCK;

	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(iv_rk + 16 * i));
	ESP_NI_ENC_BLOCK(x, k);
	_mm_storeu_si128((__m128i *)(esp + 8), x);
	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(rk + 16 * i));
	for (; done < nb && done < 3; done++) {
		x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(ct + AES_BLOCK * done)));
		ESP_NI_ENC_BLOCK(x, k);
		_mm_storeu_si128((__m128i *)(ct + AES_BLOCK * done), x);
	}
	/* SHA-1 chaining value in registers, as esp_ni_sha1_blocks keeps it. */
	__m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)istate), 0x1b);
	__m128i e0 = _mm_set_epi32((int)istate[4], 0, 0, 0);
	for (uint32_t j = 0; j < full; j++) {
		/* Here done >= 4j + 3: the ciphertext SHA-1 block j covers exists. */
		if (done + 4 <= nb) {
			esp_ni_sha1_block_aes4(&abcd, &e0, esp + SHA1_BLOCK * j, &x, k, ct + AES_BLOCK * done);
			done += 4;
			continue;
		}
		_mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1b));
		h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
		esp_ni_sha1_blocks(h, esp + SHA1_BLOCK * j, 1);
		abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1b);
		e0 = _mm_set_epi32((int)h[4], 0, 0, 0);
		for (uint32_t stop = done + 4; done < nb && done < stop; done++) {
			x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(ct + AES_BLOCK * done)));
			ESP_NI_ENC_BLOCK(x, k);
			_mm_storeu_si128((__m128i *)(ct + AES_BLOCK * done), x);
		}
	}
	for (; done < nb; done++) {
		x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(ct + AES_BLOCK * done)));
		ESP_NI_ENC_BLOCK(x, k);
		_mm_storeu_si128((__m128i *)(ct + AES_BLOCK * done), x);
	}
	_mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1b));
	h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
	esp_ni_sha1_finish(h, SHA1_BLOCK + SHA1_BLOCK * full, esp + SHA1_BLOCK * full, pre + ct_len - SHA1_BLOCK * full,
			   inner);
	for (int i = 0; i < 5; i++)
		h[i] = ostate[i];
	esp_ni_sha1_finish(h, SHA1_BLOCK, inner, SHA1_DIGEST, mac);
}

/*
 * One 64-byte block of each of two messages, a into ha and b into hb, the
 * steps of the two alternating: each SHA-1 is one chain of SHA1RNDS4
 * latencies, two independent chains fill the unit's idle cycles.
 */
static inline ESP_NI_SHA void esp_ni_sha1_block_x2(uint32_t ha[5], const uint8_t *pa, uint32_t hb[5],
						    const uint8_t *pb)
{
	const __m128i bswap = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m128i aa = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)ha), 0x1b), aa0 = aa, pva = aa;
	__m128i ab = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)hb), 0x1b), ab0 = ab, pvb = ab;
	__m128i ea0 = _mm_set_epi32((int)ha[4], 0, 0, 0), ea = ea0;
	__m128i eb0 = _mm_set_epi32((int)hb[4], 0, 0, 0), eb = eb0;
	__m128i wa[4], wb[4];

	for (int j = 0; j < 4; j++) {
		wa[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pa + 16 * j)), bswap);
		wb[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pb + 16 * j)), bswap);
	}
#define ESP_SHA_STEP2(i, f)                                                                        \
	do {                                                                                       \
		ESP_SHA_STEP_V(i, f, wa, ea, pva, aa);                                             \
		ESP_SHA_STEP_V(i, f, wb, eb, pvb, ab);                                             \
	} while (0)
	ESP_SHA_STEP2(0, 0);
	ESP_SHA_STEP2(1, 0);
	ESP_SHA_STEP2(2, 0);
	ESP_SHA_STEP2(3, 0);
	ESP_SHA_STEP2(4, 0);
	ESP_SHA_STEP2(5, 1);
	ESP_SHA_STEP2(6, 1);
	ESP_SHA_STEP2(7, 1);
	ESP_SHA_STEP2(8, 1);
	ESP_SHA_STEP2(9, 1);
	ESP_SHA_STEP2(10, 2);
	ESP_SHA_STEP2(11, 2);
	ESP_SHA_STEP2(12, 2);
	ESP_SHA_STEP2(13, 2);
	ESP_SHA_STEP2(14, 2);
	ESP_SHA_STEP2(15, 3);
	ESP_SHA_STEP2(16, 3);
	ESP_SHA_STEP2(17, 3);
	ESP_SHA_STEP2(18, 3);
	ESP_SHA_STEP2(19, 3);
#undef ESP_SHA_STEP2
	ea0 = _mm_sha1nexte_epu32(pva, ea0);
	eb0 = _mm_sha1nexte_epu32(pvb, eb0);
	_mm_storeu_si128((__m128i *)ha, _mm_shuffle_epi32(_mm_add_epi32(aa, aa0), 0x1b));
	_mm_storeu_si128((__m128i *)hb, _mm_shuffle_epi32(_mm_add_epi32(ab, ab0), 0x1b));
	ha[4] = (uint32_t)_mm_extract_epi32(ea0, 3);
	hb[4] = (uint32_t)_mm_extract_epi32(eb0, 3);
}

/* One packet of a batch for esp_ni_encrypt_and_mac_batch: the arguments of esp_ni_encrypt_and_mac. */
struct esp_ni_job {
	uint8_t *esp;    /* SPI | seq, then room for the IV, then ct_len bytes of plaintext */
	uint32_t ct_len; /* a multiple of 16 */
	uint32_t pad;
	uint64_t seq;
	uint8_t *mac;    /* SHA1_DIGEST bytes out */
};

/* Block j of an HMAC inner message: from the packet while whole, then from its padded tail. */
static inline __attribute__((unused)) const uint8_t *esp_ni_msg_block(const uint8_t *msg, uint32_t full,
								      const uint8_t *tail, uint32_t j)
{
	return j < full ? msg + SHA1_BLOCK * j : tail + SHA1_BLOCK * (j - full);
}

/*
 * HMAC-SHA1 (precomputed pads) of two messages at once, the same bytes as
 * esp_ni_hmac_sha1_pre on each: the inner hashes side by side block by
 * block, then the two outer blocks together.
 */
static inline ESP_NI_SHA void esp_ni_hmac_sha1_x2(const uint32_t istate[5], const uint32_t ostate[5],
						   const uint8_t *ma, uint32_t la, uint8_t outa[SHA1_DIGEST],
						   const uint8_t *mb, uint32_t lb, uint8_t outb[SHA1_DIGEST])
{
	uint8_t ta[2 * SHA1_BLOCK], tb[2 * SHA1_BLOCK], oa[SHA1_BLOCK], ob[SHA1_BLOCK];
	uint32_t ha[5], hb[5];
	uint32_t fa = la / SHA1_BLOCK, fb = lb / SHA1_BLOCK;
	uint32_t ba = fa + esp_sha1_pad(ma + SHA1_BLOCK * fa, la - SHA1_BLOCK * fa, SHA1_BLOCK + (uint64_t)la, ta) /
				   SHA1_BLOCK;
	uint32_t bb = fb + esp_sha1_pad(mb + SHA1_BLOCK * fb, lb - SHA1_BLOCK * fb, SHA1_BLOCK + (uint64_t)lb, tb) /
				   SHA1_BLOCK;
	uint32_t j = 0;

	for (int i = 0; i < 5; i++)
		ha[i] = hb[i] = istate[i];
	for (; j < ba && j < bb; j++)
		esp_ni_sha1_block_x2(ha, esp_ni_msg_block(ma, fa, ta, j), hb, esp_ni_msg_block(mb, fb, tb, j));
	for (uint32_t i = j; i < ba; i++)
		esp_ni_sha1_blocks(ha, esp_ni_msg_block(ma, fa, ta, i), 1);
	for (uint32_t i = j; i < bb; i++)
		esp_ni_sha1_blocks(hb, esp_ni_msg_block(mb, fb, tb, i), 1);
	/* Outer hashes: one block each, the 20-byte inner digest padded. */
	for (int i = 0; i < 5; i++) {
		nf_put32(oa + 4 * i, ha[i]);
		nf_put32(ob + 4 * i, hb[i]);
	}
	esp_sha1_pad(oa, SHA1_DIGEST, SHA1_BLOCK + SHA1_DIGEST, oa);
	esp_sha1_pad(ob, SHA1_DIGEST, SHA1_BLOCK + SHA1_DIGEST, ob);
	for (int i = 0; i < 5; i++)
		ha[i] = hb[i] = ostate[i];
	esp_ni_sha1_block_x2(ha, oa, hb, ob);
	for (int i = 0; i < 5; i++) {
		nf_put32(outa + 4 * i, ha[i]);
		nf_put32(outb + 4 * i, hb[i]);
	}
}

/* One message of a batch for esp_ni_hmac_sha1_batch. */
struct esp_ni_mac_job {
	const uint8_t *msg; /* for ESP: SPI | seq | IV | ciphertext */
	uint32_t len;
	uint32_t pad;
	uint8_t *mac;       /* SHA1_DIGEST bytes out */
};

/*
 * HMAC-SHA1 of every job as esp_ni_hmac_sha1_pre would, two at a time: the
 * ICV checks of a batch of packets to decrypt (the CBC decryption that
 * follows is already four blocks wide per packet). Messages above 512 bytes
 * run alone, as in esp_ni_encrypt_and_mac_batch.
 */
static inline ESP_NI_SHA void esp_ni_hmac_sha1_batch(const uint32_t istate[5], const uint32_t ostate[5],
						      const struct esp_ni_mac_job *jobs, uint32_t n)
{
	const struct esp_ni_mac_job *pend = NULL;

	for (uint32_t i = 0; i < n; i++) {
		const struct esp_ni_mac_job *j = &jobs[i];
		if (j->len > 512) {
			esp_ni_hmac_sha1_pre(istate, ostate, j->msg, j->len, j->mac);
		} else if (pend) {
			esp_ni_hmac_sha1_x2(istate, ostate, pend->msg, pend->len, pend->mac, j->msg, j->len, j->mac);
			pend = NULL;
		} else {
			pend = j;
		}
	}
	if (pend)
		esp_ni_hmac_sha1_pre(istate, ostate, pend->msg, pend->len, pend->mac);
}

/*
 * esp_ni_encrypt_and_mac for two packets at once, the same bytes: their IVs,
 * CBC chains and SHA-1 chains side by side. A small packet is a few
 * dependent AES blocks and three dependent SHA-1 blocks; alone it leaves the
 * AES and SHA units waiting on latencies most of the time, two packets fill
 * each other's gaps.
 */
static inline ESP_NI_BOTH void esp_ni_encrypt_and_mac_x2(const uint8_t *iv_rk, const uint8_t *rk,
							const uint32_t istate[5], const uint32_t ostate[5],
							const struct esp_ni_job *a, const struct esp_ni_job *b)
{
	const uint32_t pre = 8 + AES_BLOCK;
	const __m128i bswap64 = _mm_set_epi8(8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
	__m128i xa = _mm_shuffle_epi8(_mm_set_epi64x((long long)a->seq, 0), bswap64);
	__m128i xb = _mm_shuffle_epi8(_mm_set_epi64x((long long)b->seq, 0), bswap64);
	__m128i k[11];

	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(iv_rk + 16 * i));
	ESP_NI_ENC_BLOCK(xa, k);
	ESP_NI_ENC_BLOCK(xb, k);
	_mm_storeu_si128((__m128i *)(a->esp + 8), xa);
	_mm_storeu_si128((__m128i *)(b->esp + 8), xb);
	for (int i = 0; i < 11; i++)
		k[i] = _mm_loadu_si128((const __m128i *)(rk + 16 * i));
	uint32_t na = a->ct_len / AES_BLOCK, nb = b->ct_len / AES_BLOCK;
	uint8_t *ca = a->esp + pre, *cb = b->esp + pre;
	for (uint32_t i = 0; i < na || i < nb; i++) {
		if (i < na) {
			xa = _mm_xor_si128(xa, _mm_loadu_si128((const __m128i *)(ca + AES_BLOCK * i)));
			ESP_NI_ENC_BLOCK(xa, k);
			_mm_storeu_si128((__m128i *)(ca + AES_BLOCK * i), xa);
		}
		if (i < nb) {
			xb = _mm_xor_si128(xb, _mm_loadu_si128((const __m128i *)(cb + AES_BLOCK * i)));
			ESP_NI_ENC_BLOCK(xb, k);
			_mm_storeu_si128((__m128i *)(cb + AES_BLOCK * i), xb);
		}
	}
	esp_ni_hmac_sha1_x2(istate, ostate, a->esp, pre + a->ct_len, a->mac, b->esp, pre + b->ct_len, b->mac);
}

/*
 * The batch entry point: every job encrypted and MACed as
 * esp_ni_encrypt_and_mac would, two at a time. Small packets gain the most;
 * a job above 512 bytes of ciphertext already overlaps its own CBC and SHA-1
 * chains and runs alone.
 */
static inline ESP_NI_BOTH void esp_ni_encrypt_and_mac_batch(const uint8_t *iv_rk, const uint8_t *rk,
							   const uint32_t istate[5], const uint32_t ostate[5],
							   const struct esp_ni_job *jobs, uint32_t n)
{
	const struct esp_ni_job *pend = NULL;

	for (uint32_t i = 0; i < n; i++) {
		const struct esp_ni_job *j = &jobs[i];
		if (j->ct_len > 512) {
			esp_ni_encrypt_and_mac(iv_rk, rk, istate, ostate, j->seq, j->esp, j->ct_len, j->mac);
		} else if (pend) {
			esp_ni_encrypt_and_mac_x2(iv_rk, rk, istate, ostate, pend, j);
			pend = NULL;
		} else {
			pend = j;
		}
	}
	if (pend)
		esp_ni_encrypt_and_mac(iv_rk, rk, istate, ostate, pend->seq, pend->esp, pend->ct_len, pend->mac);
}

#undef ESP_SHA_STEP
#undef ESP_SHA_STEP_V
#undef ESP_NI_ENC_BLOCK
#undef ESP_NI_DEC4
#else /* not x86: the portable code only */
static inline __attribute__((unused)) uint32_t esp_host_cpu_accel(void) { return 0; }
#endif

#endif
