// SPDX-License-Identifier: GPL-2.0
/*
 * The NF crypto (nf/aes.h, nf/sha1.h) against RFC 3602 and RFC 2202 vectors
 * and against OpenSSL libcrypto on random inputs; the host's AES-NI / SHA-NI
 * versions (nf/esp_host.h) against the same vectors and the portable code.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include "aes.h"
#include "sha1.h"
#include "esp_host.h"
#include "testlib.h"

static void unhex(const char *s, uint8_t *out, size_t n)
{
	cr_assert_eq(tl_unhex(s, out, n), 0, "not %zu bytes of hex: '%s'", n, s);
}

/* Deterministic generator so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return tl_rnd(&rng_state); }
static void rnd_bytes(uint8_t *b, size_t n) { tl_rnd_bytes(&rng_state, b, n); }

static struct aes_tables tables;
static void init_tables(void) { aes_tables_init(&tables); }

TestSuite(crypto, .init = init_tables);

Test(crypto, sbox_spot_values)
{
	/* FIPS 197 Figure 7 corners and its inverse. */
	cr_assert_eq(tables.sbox[0x00], 0x63);
	cr_assert_eq(tables.sbox[0x01], 0x7c);
	cr_assert_eq(tables.sbox[0x53], 0xed);
	cr_assert_eq(tables.sbox[0xff], 0x16);
	for (int i = 0; i < 256; i++)
		cr_assert_eq(tables.isbox[tables.sbox[i]], i);
}

Test(crypto, fips197_c1)
{
	uint8_t key[16], pt[16], ct[16], out[16];
	uint32_t rk[44], drk[44];

	unhex("000102030405060708090a0b0c0d0e0f", key, 16);
	unhex("00112233445566778899aabbccddeeff", pt, 16);
	unhex("69c4e0d86a7b0430d8cdb78070b4c55a", ct, 16);
	aes128_expand_enc(&tables, key, rk);
	aes128_expand_dec(rk, drk);
	aes128_encrypt_block(&tables, rk, pt, out);
	cr_assert_arr_eq(out, ct, 16);
	aes128_decrypt_block(&tables, drk, ct, out);
	cr_assert_arr_eq(out, pt, 16);
}

struct cbc_vec {
	const char *key, *iv, *pt_hex, *pt_str, *ct;
};

/* RFC 3602 §4, cases 1-4. */
static const struct cbc_vec rfc3602[] = {
	{ "06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41", NULL, "Single block msg",
	  "e353779c1079aeb82708942dbe77181a" },
	{ "c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL,
	  "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1" },
	{ "6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81", NULL,
	  "This is a 48-byte message (exactly 3 AES blocks)",
	  "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684" },
	{ "56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
	  "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
	  NULL,
	  "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55" },
};

Test(crypto, rfc3602_cbc_vectors)
{
	for (size_t v = 0; v < sizeof(rfc3602) / sizeof(rfc3602[0]); v++) {
		const struct cbc_vec *c = &rfc3602[v];
		uint8_t key[16], iv[16], pt[64], ct[64], buf[64];
		uint32_t rk[44], drk[44];
		size_t n = strlen(c->ct) / 2;

		unhex(c->key, key, 16);
		unhex(c->iv, iv, 16);
		unhex(c->ct, ct, n);
		if (c->pt_hex)
			unhex(c->pt_hex, pt, n);
		else
			memcpy(pt, c->pt_str, n);
		aes128_expand_enc(&tables, key, rk);
		aes128_expand_dec(rk, drk);
		memcpy(buf, pt, n);
		aes128_cbc_encrypt(&tables, rk, iv, buf, (uint32_t)n);
		cr_assert_arr_eq(buf, ct, n, "RFC 3602 case %zu encrypt", v + 1);
		aes128_cbc_decrypt(&tables, drk, iv, buf, (uint32_t)n);
		cr_assert_arr_eq(buf, pt, n, "RFC 3602 case %zu decrypt", v + 1);
	}
}

Test(crypto, rfc2202_hmac_sha1_vectors)
{
	static const char *const digests[] = {
		"b617318655057264e28bc0b6fb378c8ef146be00", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
		"125d7342b9ac11cd91a39af48aa17b4f63f175d3", "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
		"4c1a03424b55e07fe7f27be1d58bb9324a9a5a04", "aa4ae5e15272d00e95705637ce8a3b55ed402112",
		"e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
	};
	uint8_t key[80], data[80], want[20], out[20];
	size_t klen[7], dlen[7];

	for (int t = 0; t < 7; t++) {
		switch (t) {
		case 0:
			memset(key, 0x0b, klen[t] = 20);
			memcpy(data, "Hi There", dlen[t] = 8);
			break;
		case 1:
			memcpy(key, "Jefe", klen[t] = 4);
			memcpy(data, "what do ya want for nothing?", dlen[t] = 28);
			break;
		case 2:
			memset(key, 0xaa, klen[t] = 20);
			memset(data, 0xdd, dlen[t] = 50);
			break;
		case 3:
			for (int i = 0; i < 25; i++)
				key[i] = (uint8_t)(i + 1);
			klen[t] = 25;
			memset(data, 0xcd, dlen[t] = 50);
			break;
		case 4:
			memset(key, 0x0c, klen[t] = 20);
			memcpy(data, "Test With Truncation", dlen[t] = 20);
			break;
		case 5:
			memset(key, 0xaa, klen[t] = 80);
			memcpy(data, "Test Using Larger Than Block-Size Key - Hash Key First", dlen[t] = 54);
			break;
		default:
			memset(key, 0xaa, klen[t] = 80);
			memcpy(data, "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
			       dlen[t] = 73);
			break;
		}
		unhex(digests[t], want, 20);
		hmac_sha1(key, (uint32_t)klen[t], data, (uint32_t)dlen[t], out);
		cr_assert_arr_eq(out, want, 20, "RFC 2202 test case %d", t + 1);
	}
}

Test(crypto, sha1_lengths_vs_openssl)
{
	/* Every tail length around the 55/56/64-byte padding boundaries. */
	uint8_t msg[300], out[20], want[20];
	unsigned int wl;

	rnd_bytes(msg, sizeof(msg));
	for (uint32_t len = 0; len <= sizeof(msg); len++) {
		sha1(msg, len, out);
		cr_assert(EVP_Digest(msg, len, want, &wl, EVP_sha1(), NULL));
		cr_assert_arr_eq(out, want, 20, "SHA-1 of %u bytes", len);
	}
}

#define RANDOM_ROUNDS 100000

Test(crypto, aes_cbc_random_vs_openssl, .timeout = 120)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t key[16], iv[16], pt[256], ours[256], theirs[256 + 16];
	uint32_t rk[44], drk[44];

	cr_assert_not_null(ctx);
	for (int i = 0; i < RANDOM_ROUNDS; i++) {
		uint32_t n = 16 * (1 + (uint32_t)(rnd() % 16));
		int l1, l2;

		rnd_bytes(key, 16);
		rnd_bytes(iv, 16);
		rnd_bytes(pt, n);
		aes128_expand_enc(&tables, key, rk);
		aes128_expand_dec(rk, drk);
		memcpy(ours, pt, n);
		aes128_cbc_encrypt(&tables, rk, iv, ours, n);

		cr_assert(EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv));
		EVP_CIPHER_CTX_set_padding(ctx, 0);
		cr_assert(EVP_EncryptUpdate(ctx, theirs, &l1, pt, (int)n));
		cr_assert(EVP_EncryptFinal_ex(ctx, theirs + l1, &l2));
		cr_assert_eq((uint32_t)(l1 + l2), n);
		cr_assert_arr_eq(ours, theirs, n, "AES-CBC encrypt, round %d, %u bytes", i, n);

		aes128_cbc_decrypt(&tables, drk, iv, ours, n);
		cr_assert_arr_eq(ours, pt, n, "AES-CBC decrypt, round %d", i);
	}
	EVP_CIPHER_CTX_free(ctx);
}

Test(crypto, aes_cbc_decrypt_random_vs_openssl, .timeout = 120)
{
	/* Decrypt of random ciphertext (not our own output) against OpenSSL. */
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t key[16], iv[16], ct[128], ours[128], theirs[128 + 16];
	uint32_t rk[44], drk[44];

	cr_assert_not_null(ctx);
	for (int i = 0; i < RANDOM_ROUNDS; i++) {
		uint32_t n = 16 * (1 + (uint32_t)(rnd() % 8));
		int l1, l2;

		rnd_bytes(key, 16);
		rnd_bytes(iv, 16);
		rnd_bytes(ct, n);
		aes128_expand_enc(&tables, key, rk);
		aes128_expand_dec(rk, drk);
		memcpy(ours, ct, n);
		aes128_cbc_decrypt(&tables, drk, iv, ours, n);
		cr_assert(EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv));
		EVP_CIPHER_CTX_set_padding(ctx, 0);
		cr_assert(EVP_DecryptUpdate(ctx, theirs, &l1, ct, (int)n));
		cr_assert(EVP_DecryptFinal_ex(ctx, theirs + l1, &l2));
		cr_assert_arr_eq(ours, theirs, n, "AES-CBC decrypt, round %d", i);
	}
	EVP_CIPHER_CTX_free(ctx);
}

Test(crypto, hmac_sha1_random_vs_openssl, .timeout = 120)
{
	uint8_t key[100], msg[600], ours[20], theirs[20];
	unsigned int tl;

	for (int i = 0; i < RANDOM_ROUNDS; i++) {
		uint32_t kl = (uint32_t)(rnd() % sizeof(key)) + 1;
		uint32_t ml = (uint32_t)(rnd() % sizeof(msg));

		rnd_bytes(key, kl);
		rnd_bytes(msg, ml);
		hmac_sha1(key, kl, msg, ml, ours);
		cr_assert_not_null(HMAC(EVP_sha1(), key, (int)kl, msg, ml, theirs, &tl));
		cr_assert_eq(tl, 20);
		cr_assert_arr_eq(ours, theirs, 20, "HMAC-SHA1 round %d, key %u, msg %u bytes", i, kl, ml);
	}
}

/*
 * The host-only accelerated crypto (nf/esp_host.h, AES-NI and SHA-NI) that the
 * cpu backend's ESP uses: the same vectors, and byte-identical results to the
 * portable code on random input. Skipped where the CPU lacks the instructions.
 */
#if defined(ESP_HOST_X86)
static void need_accel(uint32_t bit, const char *what)
{
	if (!(esp_host_cpu_accel() & bit))
		cr_skip_test("this CPU has no %s", what);
}

/* The AES-NI key bytes of a key, through the portable schedule as the ESP builder makes them. */
static void ni_keys(const uint8_t key[16], uint8_t enc[ESP_NI_RK_BYTES], uint8_t dec[ESP_NI_RK_BYTES],
		    uint32_t rk[44], uint32_t drk[44])
{
	aes128_expand_enc(&tables, key, rk);
	aes128_expand_dec(rk, drk);
	esp_host_ni_keys(rk, enc);
	esp_host_ni_keys(drk, dec);
}

Test(crypto, aesni_fips197_c1_and_rfc3602)
{
	need_accel(ESP_ACCEL_AESNI, "AES-NI");
	uint8_t key[16], pt[64], ct[64], iv[16], buf[64], ek[ESP_NI_RK_BYTES], dk[ESP_NI_RK_BYTES];
	uint32_t rk[44], drk[44];

	unhex("000102030405060708090a0b0c0d0e0f", key, 16);
	unhex("00112233445566778899aabbccddeeff", pt, 16);
	unhex("69c4e0d86a7b0430d8cdb78070b4c55a", ct, 16);
	ni_keys(key, ek, dk, rk, drk);
	esp_ni_encrypt_block(ek, pt, buf);
	cr_assert_arr_eq(buf, ct, 16, "FIPS 197 C.1 with AES-NI");
	memset(iv, 0, 16);
	esp_ni_cbc_decrypt(dk, iv, buf, 16);
	cr_assert_arr_eq(buf, pt, 16, "FIPS 197 C.1 inverse with AES-NI");

	for (size_t v = 0; v < sizeof(rfc3602) / sizeof(rfc3602[0]); v++) {
		const struct cbc_vec *c = &rfc3602[v];
		size_t n = strlen(c->ct) / 2;

		unhex(c->key, key, 16);
		unhex(c->iv, iv, 16);
		unhex(c->ct, ct, n);
		if (c->pt_hex)
			unhex(c->pt_hex, pt, n);
		else
			memcpy(pt, c->pt_str, n);
		ni_keys(key, ek, dk, rk, drk);
		memcpy(buf, pt, n);
		esp_ni_cbc_encrypt(ek, iv, buf, (uint32_t)n);
		cr_assert_arr_eq(buf, ct, n, "RFC 3602 case %zu encrypt with AES-NI", v + 1);
		esp_ni_cbc_decrypt(dk, iv, buf, (uint32_t)n);
		cr_assert_arr_eq(buf, pt, n, "RFC 3602 case %zu decrypt with AES-NI", v + 1);
	}
}

Test(crypto, aesni_iv_is_aes_of_the_sequence_number)
{
	need_accel(ESP_ACCEL_AESNI, "AES-NI");
	uint8_t key[16], ek[ESP_NI_RK_BYTES], dk[ESP_NI_RK_BYTES], iv[16], want[16], blk[48], ref[48];
	uint32_t rk[44], drk[44], ivk[44];
	uint8_t ivek[ESP_NI_RK_BYTES];

	for (int i = 0; i < 10000; i++) {
		uint64_t seq = i < 64 ? (uint64_t)1 << i : rnd();
		uint32_t w[4] = { 0, 0, (uint32_t)(seq >> 32), (uint32_t)seq };

		rnd_bytes(key, 16);
		aes128_expand_enc(&tables, key, ivk);
		esp_host_ni_keys(ivk, ivek);
		rnd_bytes(key, 16);
		ni_keys(key, ek, dk, rk, drk);
		rnd_bytes(blk, sizeof(blk));
		memcpy(ref, blk, sizeof(blk));
		aes128_enc_words(&tables, ivk, w);
		aes_store_block(want, w);
		aes128_cbc_encrypt(&tables, rk, want, ref, sizeof(ref));
		esp_ni_iv_cbc_encrypt(ivek, ek, seq, iv, blk, sizeof(blk));
		cr_assert_arr_eq(iv, want, 16, "IV of seq %llu", (unsigned long long)seq);
		cr_assert_arr_eq(blk, ref, sizeof(blk), "ciphertext under that IV, seq %llu", (unsigned long long)seq);
	}
}

Test(crypto, aesni_cbc_random_identical_to_portable, .timeout = 120)
{
	need_accel(ESP_ACCEL_AESNI, "AES-NI");
	static uint8_t pt[1600], ours[1600], ref[1600];
	uint8_t key[16], iv[16], ek[ESP_NI_RK_BYTES], dk[ESP_NI_RK_BYTES];
	uint32_t rk[44], drk[44];

	for (int i = 0; i < RANDOM_ROUNDS; i++) {
		/* 0..100 blocks: every remainder of the 4-block decrypt loop. */
		uint32_t n = 16 * (uint32_t)(rnd() % 101);

		rnd_bytes(key, 16);
		rnd_bytes(iv, 16);
		rnd_bytes(pt, n);
		ni_keys(key, ek, dk, rk, drk);
		memcpy(ours, pt, n);
		memcpy(ref, pt, n);
		esp_ni_cbc_encrypt(ek, iv, ours, n);
		aes128_cbc_encrypt(&tables, rk, iv, ref, n);
		cr_assert_arr_eq(ours, ref, n, "CBC encrypt, round %d, %u bytes", i, n);
		/* Decrypt random ciphertext too, not only our own output. */
		if (i & 1)
			rnd_bytes(ours, n);
		memcpy(ref, ours, n);
		esp_ni_cbc_decrypt(dk, iv, ours, n);
		aes128_cbc_decrypt(&tables, drk, iv, ref, n);
		cr_assert_arr_eq(ours, ref, n, "CBC decrypt, round %d, %u bytes", i, n);
		if (!(i & 1))
			cr_assert_arr_eq(ours, pt, n, "CBC round trip, round %d", i);
	}
}

/* HMAC-SHA1 with the pads from the portable precompute and the rest on SHA-NI. */
static void ni_hmac(const uint8_t *key, uint32_t kl, const uint8_t *msg, uint32_t ml, uint8_t out[20])
{
	uint32_t is[5], os[5];
	hmac_sha1_precompute(key, kl, is, os);
	esp_ni_hmac_sha1_pre(is, os, msg, ml, out);
}

Test(crypto, shani_rfc2202_vectors)
{
	need_accel(ESP_ACCEL_SHANI, "SHA-NI");
	/* All seven: cases 6 and 7 hash their 80-byte key first (portable precompute, then SHA-NI). */
	static const char *const digests[] = {
		"b617318655057264e28bc0b6fb378c8ef146be00", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
		"125d7342b9ac11cd91a39af48aa17b4f63f175d3", "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
		"4c1a03424b55e07fe7f27be1d58bb9324a9a5a04", "aa4ae5e15272d00e95705637ce8a3b55ed402112",
		"e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
	};
	uint8_t key[80], data[80], want[20], out[20];
	uint32_t kl = 0, dl = 0;

	for (int t = 0; t < 7; t++) {
		switch (t) {
		case 0:
			memset(key, 0x0b, kl = 20);
			memcpy(data, "Hi There", dl = 8);
			break;
		case 1:
			memcpy(key, "Jefe", kl = 4);
			memcpy(data, "what do ya want for nothing?", dl = 28);
			break;
		case 2:
			memset(key, 0xaa, kl = 20);
			memset(data, 0xdd, dl = 50);
			break;
		case 3:
			for (int i = 0; i < 25; i++)
				key[i] = (uint8_t)(i + 1);
			kl = 25;
			memset(data, 0xcd, dl = 50);
			break;
		case 4:
			memset(key, 0x0c, kl = 20);
			memcpy(data, "Test With Truncation", dl = 20);
			break;
		case 5:
			memset(key, 0xaa, kl = 80);
			memcpy(data, "Test Using Larger Than Block-Size Key - Hash Key First", dl = 54);
			break;
		default:
			memset(key, 0xaa, kl = 80);
			memcpy(data, "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data", dl = 73);
			break;
		}
		unhex(digests[t], want, 20);
		ni_hmac(key, kl, data, dl, out);
		cr_assert_arr_eq(out, want, 20, "RFC 2202 test case %d with SHA-NI", t + 1);
	}
}

Test(crypto, shani_sha1_lengths_vs_openssl)
{
	need_accel(ESP_ACCEL_SHANI, "SHA-NI");
	uint8_t msg[1100], out[20], want[20];
	unsigned int wl;

	rnd_bytes(msg, sizeof(msg));
	for (uint32_t len = 0; len <= sizeof(msg); len++) {
		uint32_t h[5];
		sha1_init(h);
		esp_ni_sha1_finish(h, 0, msg, len, out);
		cr_assert(EVP_Digest(msg, len, want, &wl, EVP_sha1(), NULL));
		cr_assert_arr_eq(out, want, 20, "SHA-NI SHA-1 of %u bytes", len);
	}
}

Test(crypto, shani_hmac_random_identical_to_portable, .timeout = 120)
{
	need_accel(ESP_ACCEL_SHANI, "SHA-NI");
	static uint8_t msg[1600];
	uint8_t key[100], ours[20], ref[20], theirs[20];
	unsigned int tl;

	for (int i = 0; i < RANDOM_ROUNDS; i++) {
		uint32_t kl = (uint32_t)(rnd() % sizeof(key)) + 1;
		uint32_t ml = (uint32_t)(rnd() % sizeof(msg));
		uint32_t is[5], os[5];

		rnd_bytes(key, kl);
		rnd_bytes(msg, ml);
		hmac_sha1_precompute(key, kl, is, os);
		esp_ni_hmac_sha1_pre(is, os, msg, ml, ours);
		hmac_sha1_pre(is, os, msg, ml, ref);
		cr_assert_arr_eq(ours, ref, 20, "HMAC-SHA1 round %d, key %u, msg %u bytes", i, kl, ml);
		if (i % 16 == 0) {
			cr_assert_not_null(HMAC(EVP_sha1(), key, (int)kl, msg, ml, theirs, &tl));
			cr_assert_arr_eq(ours, theirs, 20, "HMAC-SHA1 vs OpenSSL, round %d", i);
		}
	}
}
#endif
