// SPDX-License-Identifier: GPL-2.0
/*
 * ipsec_esp NF: configuration errors, ESP format checked by an independent
 * parser on OpenSSL, decryption of packets made by an OpenSSL-based encoder,
 * encrypt -> decrypt round trips, anti-replay against a reference model, and
 * sequence-number uniqueness under concurrency.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "registry.h"
#include "ipsec_esp.h"
#include "backend.h"
#include "testlib.h"

/* The time every batch here is stamped with (nf_pkt.now): a fixed one, the same on every backend. */
#define GEN_TEST_NOW 1764547200000000000ull

#define ENC_KEY_HEX "2b7e151628aed2a6abf7158809cf4f3c"
#define AUTH_KEY_HEX "0123456789abcdef0123456789abcdef01234567"
#define SPI 0x1234abcdu
#define TUN_SRC 0xc0000201u /* 192.0.2.1 */
#define TUN_DST 0xc6336402u /* 198.51.100.2 */
#define FRAME_MAX 4096

static uint8_t enc_key[16], auth_key[20];

static void unhex(const char *s, uint8_t *out, size_t n)
{
	cr_assert_eq(tl_unhex(s, out, n), 0, "not %zu bytes of hex: '%s'", n, s);
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd(void) { return tl_rnd(&rng_state); }
static void rnd_bytes(uint8_t *b, size_t n) { tl_rnd_bytes(&rng_state, b, n); }

static void setup(void)
{
	unhex(ENC_KEY_HEX, enc_key, 16);
	unhex(AUTH_KEY_HEX, auth_key, 20);
}

TestSuite(ipsec, .init = setup);

/* ---- building SAs --------------------------------------------------------- */

static int build(struct nf_kv *kv, int nkv, struct nf_ipsec_esp **ret, char *err, size_t errlen)
{
	const struct nf_ops *ops = nf_ops_find("ipsec_esp");
	struct nf_cfg cfg = { .name = "sa", .file = "test.ini", .line = 1, .kv = kv, .nkv = nkv, .base_dir = "." };
	struct nf_hdr *h = NULL;

	cr_assert_not_null(ops, "ipsec_esp is registered");
	cr_assert_eq(ops->type, NF_T_IPSEC_ESP);
	int r = ops->build(&cfg, &h, err, errlen);
	*ret = (struct nf_ipsec_esp *)h;
	return r;
}

/* An SA with our test keys; extra "key=value" overrides (NULL-terminated pairs). */
static struct nf_ipsec_esp *make_sa(const char *dir, const char *mtu, const char *window)
{
	struct nf_kv kv[8];
	int n = 0;
	char err[256] = "";
	struct nf_ipsec_esp *st;

	kv[n++] = (struct nf_kv){ "direction", dir, 2 };
	kv[n++] = (struct nf_kv){ "spi", "0x1234abcd", 3 };
	kv[n++] = (struct nf_kv){ "enc_key", ENC_KEY_HEX, 4 };
	kv[n++] = (struct nf_kv){ "auth_key", "0x" AUTH_KEY_HEX, 5 };
	kv[n++] = (struct nf_kv){ "tunnel_src", "192.0.2.1", 6 };
	kv[n++] = (struct nf_kv){ "tunnel_dst", "198.51.100.2", 7 };
	if (mtu)
		kv[n++] = (struct nf_kv){ "mtu", mtu, 8 };
	if (window)
		kv[n++] = (struct nf_kv){ "replay_window", window, 9 };
	cr_assert_eq(build(kv, n, &st, err, sizeof(err)), 0, "build failed: %s", err);
	cr_assert_eq(st->hdr.type, NF_T_IPSEC_ESP);
	cr_assert_eq(st->hdr.ncounters, ESP_C_MAX);
	cr_assert_geq(st->hdr.size, sizeof(*st));
	return st;
}

static uint64_t cnt(struct nf_ipsec_esp *st, int c) { return NF_COUNTERS(&st->hdr)[c]; }

Test(ipsec, config_errors_name_file_and_line)
{
	static const struct {
		const char *key, *value, *needle;
	} bad[] = {
		{ "direction", "sideways", "direction" },
		{ "spi", "0", "spi" },
		{ "spi", "4294967296", "spi" },
		{ "spi", "0xzz", "spi" },
		{ "spi", "-5", "spi" },
		{ "enc_key", "2b7e151628aed2a6abf7158809cf4f", "enc_key" },
		{ "enc_key", "2b7e151628aed2a6abf7158809cf4fXX", "enc_key" },
		{ "auth_key", ENC_KEY_HEX, "auth_key" },
		{ "tunnel_src", "192.0.2", "tunnel_src" },
		{ "tunnel_dst", "example.org", "tunnel_dst" },
		{ "mtu", "67", "mtu" },
		{ "mtu", "70000", "mtu" },
		{ "replay_window", "2000", "replay_window" },
		{ "replay_window", "16", "replay_window" },
		{ "colour", "blue", "unknown key" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nf_kv kv[9] = {
			{ "direction", "decrypt", 2 },	   { "spi", "305441741", 3 },
			{ "enc_key", ENC_KEY_HEX, 4 },	   { "auth_key", AUTH_KEY_HEX, 5 },
			{ "tunnel_src", "192.0.2.1", 6 }, { "tunnel_dst", "198.51.100.2", 7 },
		};
		int n = 6;
		kv[n++] = (struct nf_kv){ bad[i].key, bad[i].value, 42 }; /* last one wins */
		char err[256] = "", want[32];
		struct nf_ipsec_esp *st = NULL;

		cr_assert_eq(build(kv, n, &st, err, sizeof(err)), -EINVAL, "'%s = %s' accepted", bad[i].key,
			     bad[i].value);
		cr_assert_null(st);
		snprintf(want, sizeof(want), "test.ini:42: ");
		cr_assert_eq(strncmp(err, want, strlen(want)), 0, "error '%s' lacks FILE:LINE", err);
		cr_assert_not_null(strstr(err, bad[i].needle), "error '%s' does not name %s", err, bad[i].needle);
	}
	/* Missing key: reported at the section header line. */
	struct nf_kv kv[1] = { { "direction", "encrypt", 2 } };
	char err[256];
	struct nf_ipsec_esp *st = NULL;
	cr_assert_eq(build(kv, 1, &st, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "test.ini:1: ") , "%s", err);
	cr_assert_not_null(strstr(err, "spi"), "%s", err);
	/* Good values in both spellings. */
	free(make_sa("decrypt", "9000", "1024"));
	free(make_sa("decrypt", NULL, "0"));
}

Test(ipsec, sa_fields)
{
	struct nf_ipsec_esp *e = make_sa("encrypt", NULL, NULL), *d = make_sa("decrypt", NULL, NULL);
	cr_assert_eq(e->spi, SPI);
	cr_assert_eq(e->tunnel_src, TUN_SRC);
	cr_assert_eq(e->tunnel_dst, TUN_DST);
	cr_assert_eq(e->mtu, 1500);
	cr_assert_eq(d->replay_window, 64);
	/* IV key: random per build, never the traffic key. */
	cr_assert_neq(memcmp(e->iv_rk, d->iv_rk, sizeof(e->iv_rk)), 0);
	cr_assert_neq(memcmp(e->iv_rk, e->enc_rk, sizeof(e->iv_rk)), 0);
	free(e);
	free(d);
}

/* ---- frames ----------------------------------------------------------------- */

/* A random Ethernet (optionally 802.1Q) + IPv4 frame of exactly len bytes; returns the L2 length. */
static uint32_t gen_frame(uint8_t *f, uint32_t len, int vlan)
{
	uint32_t l2 = vlan ? 18 : 14;
	rnd_bytes(f, len);
	if (vlan) {
		nf_put16(f + 12, NF_ETH_P_8021Q);
		nf_put16(f + 16, NF_ETH_P_IP);
	} else {
		nf_put16(f + 12, NF_ETH_P_IP);
	}
	uint8_t *ip = f + l2;
	uint32_t iplen = len - l2;
	uint32_t ihl = 5 + (iplen >= 32 ? (uint32_t)(rnd() % 3) : 0);
	ip[0] = (uint8_t)(0x40 | ihl);
	nf_put16(ip + 2, (uint16_t)iplen);
	ip[6] = (rnd() & 1) ? 0x40 : 0;
	ip[7] = 0;
	return l2;
}

struct esp_view {
	uint32_t seq;
	uint8_t iv[16];
};


/*
 * Independent check of one encrypted frame with OpenSSL: outer header fields,
 * ICV, decryption, RFC 4303 padding, and the inner packet against the original.
 */
static void verify_esp(const uint8_t *orig, uint32_t olen, uint32_t l2, const uint8_t *e, uint32_t elen,
		       struct esp_view *ret)
{
	const uint8_t *oip = orig + l2, *ip = e + l2;
	uint32_t inner_len = olen - l2;

	cr_assert_arr_eq(e, orig, l2, "L2 header changed");
	cr_assert_eq(ip[0], 0x45);
	cr_assert_eq(ip[1], oip[1], "TOS not copied");
	cr_assert_eq(nf_get16(ip + 2), elen - l2, "outer total length");
	cr_assert_eq(nf_get16(ip + 6), (oip[6] & 0x40) ? 0x4000 : 0, "DF copied, no fragment bits");
	cr_assert_eq(ip[8], 64);
	cr_assert_eq(ip[9], 50);
	cr_assert_eq(tl_csum_fold(ip, 20), 0xffff, "outer IPv4 checksum");
	cr_assert_eq(nf_get32(ip + 12), TUN_SRC);
	cr_assert_eq(nf_get32(ip + 16), TUN_DST);

	const uint8_t *esp = ip + 20;
	uint32_t esp_len = elen - l2 - 20;
	cr_assert_geq(esp_len, 8 + 16 + 16 + 12);
	uint32_t ct_len = esp_len - 8 - 16 - 12;
	cr_assert_eq(ct_len % 16, 0);
	cr_assert_eq(nf_get32(esp), SPI);
	ret->seq = nf_get32(esp + 4);
	memcpy(ret->iv, esp + 8, 16);

	uint8_t mac[20];
	unsigned int ml;
	cr_assert_not_null(HMAC(EVP_sha1(), auth_key, 20, esp, 24 + ct_len, mac, &ml));
	cr_assert_arr_eq(esp + 24 + ct_len, mac, 12, "ICV is not HMAC-SHA1-96 over ESP header|IV|ciphertext");

	uint8_t pt[FRAME_MAX];
	int l1, lf;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	cr_assert(EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, enc_key, esp + 8));
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	cr_assert(EVP_DecryptUpdate(ctx, pt, &l1, esp + 24, (int)ct_len));
	cr_assert(EVP_DecryptFinal_ex(ctx, pt + l1, &lf));
	EVP_CIPHER_CTX_free(ctx);

	uint32_t padlen = pt[ct_len - 2];
	cr_assert_eq(pt[ct_len - 1], 4, "next header is not IPv4");
	cr_assert_eq(padlen, (16 - (inner_len + 2) % 16) % 16, "padding is not the minimum");
	cr_assert_eq(ct_len, inner_len + padlen + 2);
	for (uint32_t i = 0; i < padlen; i++)
		cr_assert_eq(pt[inner_len + i], i + 1, "pad byte %u", i);
	cr_assert_arr_eq(pt, oip, inner_len, "inner packet differs");
}

/*
 * OpenSSL-based ESP encoder: the decrypt NF must accept its packets.
 * pad_fix / next_header let tests produce well-authenticated but bad trailers.
 */
static uint32_t oracle_encap(const uint8_t *orig, uint32_t olen, uint32_t l2, uint32_t seq, int bad_pad,
			     uint8_t next_header, uint8_t *out, uint32_t spi)
{
	uint32_t inner_len = olen - l2;
	uint32_t padlen = (16 - (inner_len + 2) % 16) % 16;
	if (bad_pad && padlen == 0)
		padlen = 16; /* a full block of padding, so there is a byte to spoil */
	uint32_t ct_len = inner_len + padlen + 2;
	uint32_t tot = 20 + 8 + 16 + ct_len + 12;
	uint8_t pt[FRAME_MAX];

	memcpy(out, orig, l2);
	uint8_t *ip = out + l2;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	nf_put16(ip + 2, (uint16_t)tot);
	ip[8] = 17;
	ip[9] = 50;
	nf_put32(ip + 12, TUN_DST);
	nf_put32(ip + 16, TUN_SRC);
	nf_put16(ip + 10, (uint16_t)~tl_csum_fold(ip, 20));
	uint8_t *esp = ip + 20;
	nf_put32(esp, spi);
	nf_put32(esp + 4, seq);
	rnd_bytes(esp + 8, 16);
	memcpy(pt, orig + l2, inner_len);
	for (uint32_t i = 0; i < padlen; i++)
		pt[inner_len + i] = (uint8_t)(i + 1);
	if (bad_pad)
		pt[inner_len + padlen - 1] ^= 0x80;
	pt[ct_len - 2] = (uint8_t)padlen;
	pt[ct_len - 1] = next_header;

	int l1, lf;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	cr_assert(EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, enc_key, esp + 8));
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	cr_assert(EVP_EncryptUpdate(ctx, esp + 24, &l1, pt, (int)ct_len));
	cr_assert(EVP_EncryptFinal_ex(ctx, esp + 24 + l1, &lf));
	EVP_CIPHER_CTX_free(ctx);
	uint8_t mac[20];
	unsigned int ml;
	HMAC(EVP_sha1(), auth_key, 20, esp, 24 + ct_len, mac, &ml);
	memcpy(esp + 24 + ct_len, mac, 12);
	return l2 + tot;
}

static int cmp_iv(const void *a, const void *b) { return memcmp(a, b, 16); }

#define ROUND_TRIPS 100000

Test(ipsec, round_trip_random_frames_vs_openssl, .timeout = 300)
{
	struct nf_ipsec_esp *enc = make_sa("encrypt", "65535", NULL);
	struct nf_ipsec_esp *dec = make_sa("decrypt", "65535", "1024");
	static uint8_t orig[FRAME_MAX], buf[FRAME_MAX], before[FRAME_MAX];
	uint8_t(*ivs)[16] = calloc(ROUND_TRIPS, 16);
	uint32_t nivs = 0, too_big = 0;

	cr_assert_not_null(ivs);
	for (uint32_t i = 0; i < ROUND_TRIPS; i++) {
		uint32_t len = 34 + (uint32_t)(rnd() % (1514 - 34 + 1));
		int vlan = len >= 38 && rnd() % 4 == 0;
		uint32_t l2 = gen_frame(orig, len, vlan);
		uint32_t head = (uint32_t)(rnd() % 129), tail = (uint32_t)(rnd() % 129);
		uint32_t cap = head + len + tail;
		uint32_t inner = len - l2, padlen = (16 - (inner + 2) % 16) % 16;
		uint32_t need_len = l2 + 20 + 8 + 16 + inner + padlen + 2 + 12;
		uint32_t new_off = head >= 44 ? head - 44 : 0;

		rnd_bytes(buf, cap);
		memcpy(buf + head, orig, len);
		memcpy(before, buf, cap);
		struct nf_pkt p = { .buf = buf, .off = head, .len = len, .cap = cap };
		int v = nf_ipsec_esp_run(enc, &p);
		if (new_off + need_len > cap) {
			cr_assert_eq(v, NF_DROP, "frame %u needs %u bytes of %u", i, new_off + need_len, cap);
			cr_assert_arr_eq(buf, before, cap, "a dropped frame was modified");
			too_big++;
			continue;
		}
		cr_assert_eq(v, NF_PASS, "frame %u (len %u head %u tail %u)", i, len, head, tail);
		cr_assert_eq(p.off, new_off);
		cr_assert_eq(p.len, need_len);
		cr_assert_leq(p.off + p.len, cap);

		struct esp_view ev;
		verify_esp(orig, len, l2, buf + p.off, p.len, &ev);
		cr_assert_eq(ev.seq, nivs + 1, "sequence numbers count from 1 without gaps");
		memcpy(ivs[nivs++], ev.iv, 16);

		cr_assert_eq(nf_ipsec_esp_run(dec, &p), NF_PASS, "decrypt of frame %u", i);
		cr_assert_eq(p.len, len);
		cr_assert_arr_eq(buf + p.off, orig, len, "round trip of frame %u", i);
	}
	cr_assert_eq(cnt(enc, ESP_C_ENCRYPTED), nivs);
	cr_assert_eq(cnt(enc, ESP_C_TOO_BIG), too_big);
	cr_assert_eq(cnt(dec, ESP_C_DECRYPTED), nivs);
	cr_assert_gt(too_big, 0, "the tailroom range never ran out: the drop path went untested");
	cr_assert_gt(nivs, ROUND_TRIPS / 2);
	qsort(ivs, nivs, 16, cmp_iv);
	for (uint32_t i = 1; i < nivs; i++)
		cr_assert_neq(memcmp(ivs[i - 1], ivs[i], 16), 0, "IV repeated");
	free(ivs);
	free(enc);
	free(dec);
}

Test(ipsec, decrypts_openssl_encoded_packets)
{
	struct nf_ipsec_esp *dec = make_sa("decrypt", NULL, "0");
	uint8_t orig[FRAME_MAX], buf[FRAME_MAX];

	for (uint32_t i = 0; i < 5000; i++) {
		uint32_t len = 34 + (uint32_t)(rnd() % 1400);
		uint32_t l2 = gen_frame(orig, len, rnd() % 3 == 0 && len >= 38);
		uint32_t n = oracle_encap(orig, len, l2, i + 1, 0, 4, buf, SPI);
		struct nf_pkt p = { .buf = buf, .off = 0, .len = n, .cap = sizeof(buf) };

		cr_assert_eq(nf_ipsec_esp_run(dec, &p), NF_PASS, "packet %u", i);
		cr_assert_eq(p.len, len);
		cr_assert_arr_eq(buf + p.off, orig, len);
	}
	/* Authentic but wrong padding, wrong next header: malformed, after the ICV passed. */
	uint32_t l2 = gen_frame(orig, 100, 0);
	uint32_t n = oracle_encap(orig, 100, l2, 9000, 1, 4, buf, SPI);
	struct nf_pkt p = { .buf = buf, .off = 0, .len = n, .cap = sizeof(buf) };
	cr_assert_eq(nf_ipsec_esp_run(dec, &p), NF_DROP);
	n = oracle_encap(orig, 100, l2, 9001, 0, 41, buf, SPI);
	p = (struct nf_pkt){ .buf = buf, .off = 0, .len = n, .cap = sizeof(buf) };
	cr_assert_eq(nf_ipsec_esp_run(dec, &p), NF_DROP);
	cr_assert_eq(cnt(dec, ESP_C_MALFORMED), 2);
	cr_assert_eq(cnt(dec, ESP_C_AUTH_FAILED), 0);
	/* Another SA's SPI. */
	n = oracle_encap(orig, 100, l2, 9002, 0, 4, buf, SPI + 1);
	p = (struct nf_pkt){ .buf = buf, .off = 0, .len = n, .cap = sizeof(buf) };
	cr_assert_eq(nf_ipsec_esp_run(dec, &p), NF_DROP);
	cr_assert_eq(cnt(dec, ESP_C_BAD_SPI), 1);
	cr_assert_eq(cnt(dec, ESP_C_DECRYPTED), 5000);
	free(dec);
}

/* ---- host crypto (AES-NI / SHA-NI) against the portable code ---------------------- */

/* A copy of an SA blob (same keys, same IV key, same counters) that runs the portable code. */
static struct nf_ipsec_esp *portable_twin(const struct nf_ipsec_esp *st)
{
	struct nf_ipsec_esp *t = aligned_alloc(64, st->hdr.size);
	cr_assert_not_null(t);
	memcpy(t, st, st->hdr.size);
	t->host_accel = 0;
	return t;
}

Test(ipsec, builder_selects_host_crypto_from_cpuid)
{
	unsetenv("GEN_ESP_PORTABLE"); /* this test process only */
	struct nf_ipsec_esp *st = make_sa("encrypt", NULL, NULL);
	cr_assert_eq(st->host_accel, esp_host_cpu_accel(), "host_accel %#x, CPU offers %#x", st->host_accel,
		     esp_host_cpu_accel());
	/* The AES-NI key bytes are the portable schedules, byte for byte. */
	for (int i = 0; i < AES128_RK_WORDS; i++) {
		cr_assert_eq(nf_get32(st->ni_enc_rk + 4 * i), st->enc_rk[i]);
		cr_assert_eq(nf_get32(st->ni_iv_rk + 4 * i), st->iv_rk[i]);
	}
	free(st);
	setenv("GEN_ESP_PORTABLE", "1", 1);
	st = make_sa("decrypt", NULL, NULL);
	unsetenv("GEN_ESP_PORTABLE");
	cr_assert_eq(st->host_accel, 0, "GEN_ESP_PORTABLE=1 must keep the portable code");
	for (int i = 0; i < AES128_RK_WORDS; i++)
		cr_assert_eq(nf_get32(st->ni_dec_rk + 4 * i), st->dec_rk[i]);
	free(st);
}

#define TWIN_FRAMES 30000

/*
 * The cpu backend's ESP (with the host_accel bits of mask) and the portable
 * code the GPU runs, on the same random frames from the same state:
 * verdicts, offsets, lengths, every byte of the frame buffer and the counters
 * must agree, encrypting, decrypting, and decrypting tampered packets.
 */
static void twin_run(uint32_t mask, uint32_t frames)
{
	unsetenv("GEN_ESP_PORTABLE");
	struct nf_ipsec_esp *enc = make_sa("encrypt", "65535", NULL);
	struct nf_ipsec_esp *dec = make_sa("decrypt", "65535", "1024");
	struct nf_ipsec_esp *enc_p = portable_twin(enc), *dec_p = portable_twin(dec);
	static uint8_t orig[FRAME_MAX], a[FRAME_MAX], b[FRAME_MAX];
	uint32_t passed = 0, tampered = 0;

	enc->host_accel = dec->host_accel = mask;
	for (uint32_t i = 0; i < frames; i++) {
		uint32_t len = 34 + (uint32_t)(rnd() % (1514 - 34 + 1));
		uint32_t l2 = gen_frame(orig, len, len >= 38 && rnd() % 4 == 0);
		uint32_t head = (uint32_t)(rnd() % 129), tail = (uint32_t)(rnd() % 129);
		uint32_t cap = head + len + tail;

		rnd_bytes(a, cap);
		memcpy(a + head, orig, len);
		memcpy(b, a, cap);
		struct nf_pkt pa = { .buf = a, .off = head, .len = len, .cap = cap };
		struct nf_pkt pb = pa;
		pb.buf = b;
		int va = nf_ipsec_esp_run(enc, &pa), vb = nf_ipsec_esp_run(enc_p, &pb);
		cr_assert_eq(va, vb, "frame %u: encrypt verdicts differ", i);
		cr_assert(pa.off == pb.off && pa.len == pb.len, "frame %u: encrypt geometry differs", i);
		cr_assert_arr_eq(a, b, cap, "frame %u (%u bytes, l2 %u): accelerated encrypt differs", i, len, l2);
		if (va != NF_PASS)
			continue;
		passed++;
		/* One in eight: a random covered bit flipped, both must reject it alike. */
		if (rnd() % 8 == 0) {
			uint32_t esp = pa.off + l2 + 20;
			uint32_t bit = (uint32_t)(rnd() % ((pa.off + pa.len - esp - 8) * 8));
			a[esp + 8 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
			b[esp + 8 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
			tampered++;
		}
		va = nf_ipsec_esp_run(dec, &pa);
		vb = nf_ipsec_esp_run(dec_p, &pb);
		cr_assert_eq(va, vb, "frame %u: decrypt verdicts differ", i);
		cr_assert(pa.off == pb.off && pa.len == pb.len, "frame %u: decrypt geometry differs", i);
		cr_assert_arr_eq(a, b, cap, "frame %u: accelerated decrypt differs", i);
		if (va == NF_PASS)
			cr_assert_arr_eq(a + pa.off, orig, len, "frame %u: round trip", i);
	}
	for (int c = 0; c < ESP_C_MAX; c++) {
		cr_assert_eq(cnt(enc, c), cnt(enc_p, c), "encrypt counter %d", c);
		cr_assert_eq(cnt(dec, c), cnt(dec_p, c), "decrypt counter %d", c);
	}
	cr_assert_eq(cnt(dec, ESP_C_AUTH_FAILED), tampered);
	cr_assert_eq(cnt(dec, ESP_C_DECRYPTED), passed - tampered);
	cr_assert_gt(passed, frames / 2);
	free(enc);
	free(dec);
	free(enc_p);
	free(dec_p);
}

Test(ipsec, host_crypto_identical_to_portable, .timeout = 300)
{
	uint32_t have = esp_host_cpu_accel();
	if (!have)
		cr_skip_test("this CPU has neither AES-NI nor SHA-NI: only the portable code exists here");
	twin_run(have, TWIN_FRAMES);
}

/* A CPU with only one of the two extensions takes the mixed paths: checked here on one with both. */
Test(ipsec, host_crypto_one_extension_identical_to_portable, .timeout = 300)
{
	uint32_t have = esp_host_cpu_accel();
	if (!(have & ESP_ACCEL_AESNI) || !(have & ESP_ACCEL_SHANI))
		cr_skip_test("this CPU lacks AES-NI or SHA-NI");
	twin_run(ESP_ACCEL_AESNI, 5000);
	twin_run(ESP_ACCEL_SHANI, 5000);
}

/* What esp_ni_encrypt_and_mac computes, on the portable code the GPU runs. */
static void portable_encrypt_and_mac(const struct nf_ipsec_esp *st, uint64_t seq, uint8_t *esp, uint32_t ct_len,
				     uint8_t mac[SHA1_DIGEST])
{
	uint32_t iv[4] = { 0, 0, (uint32_t)(seq >> 32), (uint32_t)seq };

	aes128_enc_words(&st->aes, st->iv_rk, iv);
	aes_store_block(esp + 8, iv);
	aes128_cbc_encrypt(&st->aes, st->enc_rk, esp + 8, esp + 24, ct_len);
	hmac_sha1_pre(st->hmac_istate, st->hmac_ostate, esp, 24 + ct_len, mac);
}

/*
 * The fused encrypt-and-MAC keeps CBC a few blocks ahead of SHA-1 and takes
 * different branches by how the SHA-1 blocks fall on the ciphertext: every
 * ciphertext length from 1 to 256 blocks, each against the portable code.
 */
Test(ipsec, host_encrypt_and_mac_every_length_vs_portable, .timeout = 120)
{
	uint32_t have = esp_host_cpu_accel();
	if ((have & (ESP_ACCEL_AESNI | ESP_ACCEL_SHANI)) != (ESP_ACCEL_AESNI | ESP_ACCEL_SHANI))
		cr_skip_test("this CPU lacks AES-NI or SHA-NI");
	unsetenv("GEN_ESP_PORTABLE");
	struct nf_ipsec_esp *st = make_sa("encrypt", NULL, NULL);
	static uint8_t a[24 + 4096], b[24 + 4096];

	for (uint32_t ct_len = 16; ct_len <= 4096; ct_len += 16) {
		for (int rep = 0; rep < 3; rep++) {
			uint64_t seq = rnd();
			uint8_t ma[SHA1_DIGEST], mb[SHA1_DIGEST];
			rnd_bytes(a, 24 + ct_len);
			memcpy(b, a, 24 + ct_len);
			esp_ni_encrypt_and_mac(st->ni_iv_rk, st->ni_enc_rk, st->hmac_istate, st->hmac_ostate, seq, a, ct_len,
					       ma);
			portable_encrypt_and_mac(st, seq, b, ct_len, mb);
			cr_assert_arr_eq(a, b, 24 + ct_len, "%u bytes: IV or ciphertext differs", ct_len);
			cr_assert_arr_eq(ma, mb, SHA1_DIGEST, "%u bytes: MAC differs", ct_len);
		}
	}
	free(st);
}

/*
 * The batch entry point (two packets interleaved) against the one-packet
 * function and the portable code: batches of 1..9 jobs of random lengths,
 * small ones (paired) and large ones (run alone) mixed.
 */
Test(ipsec, host_encrypt_batch_vs_single_and_portable, .timeout = 120)
{
	uint32_t have = esp_host_cpu_accel();
	if ((have & (ESP_ACCEL_AESNI | ESP_ACCEL_SHANI)) != (ESP_ACCEL_AESNI | ESP_ACCEL_SHANI))
		cr_skip_test("this CPU lacks AES-NI or SHA-NI");
	unsetenv("GEN_ESP_PORTABLE");
	struct nf_ipsec_esp *st = make_sa("encrypt", NULL, NULL);
	enum { JOBS = 9, MAXB = 24 + 1600 };
	static uint8_t a[JOBS][MAXB], b[JOBS][MAXB], c[JOBS][MAXB], ma[JOBS][SHA1_DIGEST], mb[SHA1_DIGEST],
		mc[SHA1_DIGEST];

	for (int round = 0; round < 2000; round++) {
		uint32_t n = 1 + (uint32_t)(rnd() % JOBS);
		struct esp_ni_job jobs[JOBS];
		for (uint32_t i = 0; i < n; i++) {
			/* Mostly small (what the pairs take), some past the 512-byte cut. */
			uint32_t blocks = rnd() % 4 ? 1 + (uint32_t)(rnd() % 40) : 1 + (uint32_t)(rnd() % 100);
			jobs[i] = (struct esp_ni_job){ .esp = a[i], .ct_len = 16 * blocks, .seq = rnd(), .mac = ma[i] };
			rnd_bytes(a[i], 24 + 16 * blocks);
			memcpy(b[i], a[i], 24 + 16 * blocks);
			memcpy(c[i], a[i], 24 + 16 * blocks);
		}
		esp_ni_encrypt_and_mac_batch(st->ni_iv_rk, st->ni_enc_rk, st->hmac_istate, st->hmac_ostate, jobs, n);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t len = jobs[i].ct_len;
			esp_ni_encrypt_and_mac(st->ni_iv_rk, st->ni_enc_rk, st->hmac_istate, st->hmac_ostate, jobs[i].seq,
					       b[i], len, mb);
			portable_encrypt_and_mac(st, jobs[i].seq, c[i], len, mc);
			cr_assert_arr_eq(a[i], c[i], 24 + len, "round %d job %u of %u (%u bytes): batch ciphertext", round, i,
					 n, len);
			cr_assert_arr_eq(ma[i], mc, SHA1_DIGEST, "round %d job %u of %u (%u bytes): batch MAC", round, i, n,
					 len);
			cr_assert_arr_eq(b[i], c[i], 24 + len, "job %u: one-packet ciphertext", i);
			cr_assert_arr_eq(mb, mc, SHA1_DIGEST, "job %u: one-packet MAC", i);
		}
	}
	free(st);
}

/* The decrypt side's batch entry: ICVs of 1..9 messages of random lengths, two at a time, against the portable HMAC. */
Test(ipsec, host_hmac_batch_vs_portable, .timeout = 120)
{
	if (!(esp_host_cpu_accel() & ESP_ACCEL_SHANI))
		cr_skip_test("this CPU lacks SHA-NI");
	unsetenv("GEN_ESP_PORTABLE");
	struct nf_ipsec_esp *st = make_sa("decrypt", NULL, NULL);
	enum { JOBS = 9, MAXB = 1200 };
	static uint8_t msg[JOBS][MAXB], mac[JOBS][SHA1_DIGEST];

	for (int round = 0; round < 3000; round++) {
		uint32_t n = 1 + (uint32_t)(rnd() % JOBS);
		struct esp_ni_mac_job jobs[JOBS];
		for (uint32_t i = 0; i < n; i++) {
			uint32_t len = (uint32_t)(rnd() % 4 ? rnd() % 200 : rnd() % MAXB); /* every tail shape, some long */
			rnd_bytes(msg[i], len);
			jobs[i] = (struct esp_ni_mac_job){ .msg = msg[i], .len = len, .mac = mac[i] };
		}
		esp_ni_hmac_sha1_batch(st->hmac_istate, st->hmac_ostate, jobs, n);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t want[SHA1_DIGEST];
			hmac_sha1_pre(st->hmac_istate, st->hmac_ostate, msg[i], jobs[i].len, want);
			cr_assert_arr_eq(mac[i], want, SHA1_DIGEST, "round %d job %u of %u (%u bytes)", round, i, n,
					 jobs[i].len);
		}
	}
	free(st);
}

/* Every inner packet length of a 1500-byte MTU through the NF, host path against its portable twin. */
Test(ipsec, host_encrypt_every_inner_length_vs_portable, .timeout = 120)
{
	uint32_t have = esp_host_cpu_accel();
	if (!have)
		cr_skip_test("this CPU has neither AES-NI nor SHA-NI");
	unsetenv("GEN_ESP_PORTABLE");
	struct nf_ipsec_esp *enc = make_sa("encrypt", "65535", NULL);
	struct nf_ipsec_esp *enc_p = portable_twin(enc);
	static uint8_t a[FRAME_MAX], b[FRAME_MAX];

	for (uint32_t len = 34; len <= 1514; len++) {
		uint32_t l2 = gen_frame(a + 64, len, 0);
		memcpy(b, a, sizeof(a));
		struct nf_pkt pa = { .buf = a, .off = 64, .len = len, .cap = sizeof(a) }, pb = pa;
		pb.buf = b;
		cr_assert_eq(nf_ipsec_esp_run(enc, &pa), NF_PASS, "frame of %u bytes", len);
		cr_assert_eq(nf_ipsec_esp_run(enc_p, &pb), NF_PASS);
		cr_assert(pa.off == pb.off && pa.len == pb.len);
		cr_assert_arr_eq(a, b, sizeof(a), "frame of %u bytes (l2 %u): host encrypt differs", len, l2);
	}
	free(enc);
	free(enc_p);
}

/* Crossed: what one path encrypts the other decrypts, both ways. */
Test(ipsec, host_and_portable_interoperate)
{
	if (!esp_host_cpu_accel())
		cr_skip_test("this CPU has neither AES-NI nor SHA-NI");
	unsetenv("GEN_ESP_PORTABLE");
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL), *dec = make_sa("decrypt", NULL, NULL);
	struct nf_ipsec_esp *enc_p = portable_twin(enc), *dec_p = portable_twin(dec);
	uint8_t orig[1600], buf[1700];

	for (uint32_t i = 0; i < 4000; i++) {
		uint32_t len = 34 + (uint32_t)(rnd() % 1400);
		uint32_t l2 = gen_frame(orig, len, 0);
		(void)l2;
		memcpy(buf + 64, orig, len);
		struct nf_pkt p = { .buf = buf, .off = 64, .len = len, .cap = sizeof(buf) };
		cr_assert_eq(nf_ipsec_esp_run(i & 1 ? enc : enc_p, &p), NF_PASS);
		cr_assert_eq(nf_ipsec_esp_run(i & 1 ? dec_p : dec, &p), NF_PASS, "packet %u", i);
		cr_assert_eq(p.len, len);
		cr_assert_arr_eq(buf + p.off, orig, len, "packet %u", i);
	}
	free(enc);
	free(dec);
	free(enc_p);
	free(dec_p);
}

/* ---- anti-replay -------------------------------------------------------------- */

struct wire {
	uint8_t b[128];
	uint32_t len;
	uint32_t seq;
};

/* n small encrypted packets with seqs 1..n (index i has seq i + 1). */
static struct wire *encrypt_many(uint32_t n)
{
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL);
	struct wire *w = calloc(n, sizeof(*w));
	uint8_t orig[64];

	cr_assert_not_null(w);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t l2 = gen_frame(orig, 40, 0);
		(void)l2;
		memcpy(w[i].b + 48, orig, 40);
		struct nf_pkt p = { .buf = w[i].b, .off = 48, .len = 40, .cap = sizeof(w[i].b) };
		cr_assert_eq(nf_ipsec_esp_run(enc, &p), NF_PASS);
		memmove(w[i].b, w[i].b + p.off, p.len);
		w[i].len = p.len;
		w[i].seq = nf_get32(w[i].b + 14 + 20 + 4);
		cr_assert_eq(w[i].seq, i + 1);
	}
	free(enc);
	return w;
}

static int deliver(struct nf_ipsec_esp *dec, const struct wire *w)
{
	uint8_t b[128];
	memcpy(b, w->b, w->len);
	struct nf_pkt p = { .buf = b, .off = 0, .len = w->len, .cap = sizeof(b) };
	return nf_ipsec_esp_run(dec, &p);
}

Test(ipsec, replay_window_basics)
{
	struct wire *w = encrypt_many(200);
	struct nf_ipsec_esp *dec = make_sa("decrypt", NULL, "64");

	cr_assert_eq(deliver(dec, &w[99]), NF_PASS);  /* seq 100: right edge */
	cr_assert_eq(deliver(dec, &w[99]), NF_DROP);  /* duplicate */
	cr_assert_eq(deliver(dec, &w[29]), NF_DROP);  /* seq 30: left of the window */
	cr_assert_eq(deliver(dec, &w[35]), NF_DROP);  /* seq 36: 100 - 64, just outside */
	cr_assert_eq(deliver(dec, &w[36]), NF_PASS);  /* seq 37: oldest in the window */
	cr_assert_eq(deliver(dec, &w[49]), NF_PASS);  /* seq 50: out of order, in window */
	cr_assert_eq(deliver(dec, &w[49]), NF_DROP);
	cr_assert_eq(deliver(dec, &w[98]), NF_PASS);  /* seq 99 */
	cr_assert_eq(deliver(dec, &w[199]), NF_PASS); /* seq 200: jump, window slides */
	cr_assert_eq(deliver(dec, &w[99]), NF_DROP);  /* seq 100 now too old */
	cr_assert_eq(deliver(dec, &w[150]), NF_PASS); /* seq 151 */
	cr_assert_eq(cnt(dec, ESP_C_DECRYPTED), 6);
	cr_assert_eq(cnt(dec, ESP_C_REPLAY), 5);
	free(dec);

	/* Window off: duplicates pass. */
	dec = make_sa("decrypt", NULL, "0");
	cr_assert_eq(deliver(dec, &w[5]), NF_PASS);
	cr_assert_eq(deliver(dec, &w[5]), NF_PASS);
	free(dec);
	free(w);
}

/* RFC 4303 §3.4.3 reference: accept iff right of top - W and not yet seen. */
Test(ipsec, replay_window_vs_reference_model, .timeout = 120)
{
	const uint32_t n = 6000;
	struct wire *w = encrypt_many(n);
	static const char *const windows[] = { "32", "64", "100", "1024" };

	for (size_t wi = 0; wi < 4; wi++) {
		struct nf_ipsec_esp *dec = make_sa("decrypt", NULL, windows[wi]);
		uint32_t W = (uint32_t)atoi(windows[wi]), top = 0;
		uint8_t *seen = calloc(n + 1, 1);
		int64_t cursor = 1;

		for (int k = 0; k < 40000; k++) {
			/* Mostly forward with jitter, sometimes far back, sometimes a jump ahead. */
			int64_t s = cursor + (int64_t)(rnd() % (2 * W + 40)) - W - 20;
			if (rnd() % 50 == 0)
				s = cursor - (int64_t)(rnd() % 3000);
			if (rnd() % 200 == 0)
				cursor += (int64_t)(rnd() % 400);
			if (rnd() % 3 == 0)
				cursor++;
			if (s < 1 || s > n)
				continue;
			int want = ((uint64_t)s + W > top && !seen[s]) ? NF_PASS : NF_DROP;
			if (want == NF_PASS) {
				seen[s] = 1;
				if ((uint32_t)s > top)
					top = (uint32_t)s;
			}
			cr_assert_eq(deliver(dec, &w[s - 1]), want, "window %u, top %u, seq %lld", W, top,
				     (long long)s);
			if (cursor > n)
				cursor = n / 2;
		}
		free(seen);
		free(dec);
	}
	free(w);
}

/* ---- drops ---------------------------------------------------------------------- */

Test(ipsec, tamper_is_auth_failed_and_does_not_move_the_window)
{
	struct wire *w = encrypt_many(300);
	struct nf_ipsec_esp *dec = make_sa("decrypt", NULL, NULL);

	for (uint32_t i = 0; i < 300; i++) {
		struct wire t = w[i];
		uint32_t esp = 14 + 20;
		/* Any bit from the sequence number to the end of the ICV. */
		uint32_t bit = (uint32_t)(rnd() % ((t.len - esp - 4) * 8));
		t.b[esp + 4 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (bit < 32) {
			/* The seq itself was hit: make it far ahead so replay cannot pre-empt the ICV. */
			nf_put32(t.b + esp + 4, 0x10000000u + i);
		}
		cr_assert_eq(deliver(dec, &t), NF_DROP);
	}
	cr_assert_eq(cnt(dec, ESP_C_AUTH_FAILED), 300);
	/* Forged far-ahead seqs were not committed: genuine ones still pass. */
	for (uint32_t i = 0; i < 300; i++)
		cr_assert_eq(deliver(dec, &w[i]), NF_PASS);
	free(dec);
	free(w);
}

Test(ipsec, too_big_for_mtu_or_frame)
{
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL); /* mtu 1500 */
	uint8_t buf[FRAME_MAX];

	/* Inner 1500: outer 1500 + 20 + 8 + 16 + 2 + pad + 12 > 1500. */
	gen_frame(buf + 64, 1514, 0);
	struct nf_pkt p = { .buf = buf, .off = 64, .len = 1514, .cap = sizeof(buf) };
	cr_assert_eq(nf_ipsec_esp_run(enc, &p), NF_DROP);
	/* Largest inner that fits: 1500 - 20 - 8 - 16 - 12 = 1444 bytes of ciphertext, 1442 of inner + trailer. */
	gen_frame(buf + 64, 14 + 1442, 0);
	p = (struct nf_pkt){ .buf = buf, .off = 64, .len = 14 + 1442, .cap = sizeof(buf) };
	cr_assert_eq(nf_ipsec_esp_run(enc, &p), NF_DROP, "1444 is not a multiple of 16");
	gen_frame(buf + 64, 14 + 1438, 0);
	p = (struct nf_pkt){ .buf = buf, .off = 64, .len = 14 + 1438, .cap = sizeof(buf) };
	cr_assert_eq(nf_ipsec_esp_run(enc, &p), NF_PASS);
	cr_assert_eq(nf_get16(buf + p.off + 14 + 2), 1440 + 56);
	/* Frame capacity: no room at all around a 100-byte frame. */
	gen_frame(buf, 100, 0);
	p = (struct nf_pkt){ .buf = buf, .off = 0, .len = 100, .cap = 100 };
	cr_assert_eq(nf_ipsec_esp_run(enc, &p), NF_DROP);
	cr_assert_eq(cnt(enc, ESP_C_TOO_BIG), 3);
	cr_assert_eq(cnt(enc, ESP_C_ENCRYPTED), 1);
	cr_assert_eq(enc->seq_last, 1, "dropped packets must not consume sequence numbers");
	free(enc);
}

Test(ipsec, sequence_number_overflow)
{
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL);
	struct nf_ipsec_esp *dec = make_sa("decrypt", NULL, NULL);
	uint8_t orig[100], buf[256];

	enc->seq_last = 0xfffffffeull;
	uint32_t l2 = gen_frame(orig, 100, 0);
	memcpy(buf + 64, orig, 100);
	struct nf_pkt p = { .buf = buf, .off = 64, .len = 100, .cap = sizeof(buf) };
	cr_assert_eq(nf_ipsec_esp_run(enc, &p), NF_PASS);
	cr_assert_eq(nf_get32(buf + p.off + l2 + 24), 0xffffffffu);
	cr_assert_eq(nf_ipsec_esp_run(dec, &p), NF_PASS, "the last sequence number is valid");
	cr_assert_arr_eq(buf + p.off, orig, 100);
	for (int i = 0; i < 3; i++) {
		memcpy(buf + 64, orig, 100);
		p = (struct nf_pkt){ .buf = buf, .off = 64, .len = 100, .cap = sizeof(buf) };
		cr_assert_eq(nf_ipsec_esp_run(enc, &p), NF_DROP, "the 32-bit counter would cycle");
	}
	cr_assert_eq(cnt(enc, ESP_C_SEQ_OVERFLOW), 3);
	free(enc);
	free(dec);
}

Test(ipsec, not_ipv4_and_malformed)
{
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL);
	struct nf_ipsec_esp *dec = make_sa("decrypt", NULL, NULL);
	uint8_t buf[512];

	/* ARP: not IPv4, either direction. */
	memset(buf, 0, sizeof(buf));
	nf_put16(buf + 12, 0x0806);
	struct nf_pkt p = { .buf = buf, .off = 0, .len = 60, .cap = sizeof(buf) };
	cr_assert_eq(nf_ipsec_esp_run(enc, &p), NF_DROP);
	cr_assert_eq(nf_ipsec_esp_run(dec, &p), NF_DROP);
	cr_assert_eq(cnt(enc, ESP_C_NOT_IPV4), 1);
	cr_assert_eq(cnt(dec, ESP_C_NOT_IPV4), 1);

	struct wire *w = encrypt_many(4);
	struct wire t = w[0];
	t.b[14 + 9] = 17; /* not ESP */
	cr_assert_eq(deliver(dec, &t), NF_DROP);
	t = w[1];
	t.b[14 + 10] ^= 1; /* outer checksum */
	cr_assert_eq(deliver(dec, &t), NF_DROP);
	t = w[2];
	nf_put16(t.b + 14 + 2, nf_get16(t.b + 14 + 2) - 1); /* ciphertext not whole blocks */
	t.len--;
	nf_put16(t.b + 14 + 10, 0);
	nf_put16(t.b + 14 + 10, esp_ip_csum(t.b + 14, 20));
	cr_assert_eq(deliver(dec, &t), NF_DROP);
	cr_assert_eq(cnt(dec, ESP_C_MALFORMED), 3);
	cr_assert_eq(deliver(dec, &w[3]), NF_PASS);
	free(w);
	free(enc);
	free(dec);
}

/* ---- concurrency ------------------------------------------------------------------ */

#define MT_THREADS 4
#define MT_PER_THREAD 25000

struct mt_arg {
	struct nf_ipsec_esp *st;
	uint32_t *seqs;
	const struct wire *w;
	uint32_t nw;
	uint32_t *accepted; /* per seq, atomically incremented */
};

static void *mt_encrypt(void *arg)
{
	struct mt_arg *a = arg;
	uint8_t buf[256], orig[64];

	for (uint32_t i = 0; i < MT_PER_THREAD; i++) {
		for (int j = 0; j < 64; j++)
			orig[j] = (uint8_t)(i + j);
		nf_put16(orig + 12, NF_ETH_P_IP);
		orig[14] = 0x45;
		nf_put16(orig + 16, 50);
		memcpy(buf + 64, orig, 64);
		struct nf_pkt p = { .buf = buf, .off = 64, .len = 64, .cap = sizeof(buf) };
		if (nf_ipsec_esp_run(a->st, &p) != NF_PASS)
			return (void *)1;
		a->seqs[i] = nf_get32(buf + p.off + 14 + 24);
	}
	return NULL;
}

Test(ipsec, concurrent_encrypt_unique_sequence_numbers, .timeout = 120)
{
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL);
	static uint32_t seqs[MT_THREADS][MT_PER_THREAD];
	pthread_t th[MT_THREADS];
	struct mt_arg a[MT_THREADS];
	const uint32_t total = MT_THREADS * MT_PER_THREAD;
	uint8_t *hit = calloc(total + 1, 1);

	for (int t = 0; t < MT_THREADS; t++) {
		a[t] = (struct mt_arg){ .st = enc, .seqs = seqs[t] };
		cr_assert_eq(pthread_create(&th[t], NULL, mt_encrypt, &a[t]), 0);
	}
	for (int t = 0; t < MT_THREADS; t++) {
		void *r;
		pthread_join(th[t], &r);
		cr_assert_null(r, "thread %d saw a drop", t);
	}
	for (int t = 0; t < MT_THREADS; t++) {
		for (uint32_t i = 0; i < MT_PER_THREAD; i++) {
			uint32_t s = seqs[t][i];
			cr_assert(s >= 1 && s <= total, "seq %u out of range", s);
			cr_assert_eq(hit[s], 0, "seq %u used twice", s);
			hit[s] = 1;
			if (i)
				cr_assert_gt(s, seqs[t][i - 1], "one thread's seqs increase");
		}
	}
	cr_assert_eq(cnt(enc, ESP_C_ENCRYPTED), total);
	free(hit);
	free(enc);
}

static void *mt_decrypt(void *arg)
{
	struct mt_arg *a = arg;
	for (uint32_t i = 0; i < a->nw; i++) {
		if (deliver(a->st, &a->w[i]) == NF_PASS)
			__atomic_fetch_add(&a->accepted[a->w[i].seq], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

Test(ipsec, concurrent_decrypt_accepts_each_seq_at_most_once, .timeout = 120)
{
	const uint32_t n = 4000;
	struct wire *w = encrypt_many(n);
	struct nf_ipsec_esp *dec = make_sa("decrypt", NULL, "1024");
	uint32_t *accepted = calloc(n + 1, sizeof(uint32_t));
	pthread_t th[MT_THREADS];
	struct mt_arg a[MT_THREADS];

	/* Every thread replays the whole stream: only one copy of each may pass. */
	for (int t = 0; t < MT_THREADS; t++) {
		a[t] = (struct mt_arg){ .st = dec, .w = w, .nw = n, .accepted = accepted };
		cr_assert_eq(pthread_create(&th[t], NULL, mt_decrypt, &a[t]), 0);
	}
	for (int t = 0; t < MT_THREADS; t++)
		pthread_join(th[t], NULL);
	uint64_t sum = 0;
	for (uint32_t s = 1; s <= n; s++) {
		cr_assert_leq(accepted[s], 1, "seq %u accepted %u times", s, accepted[s]);
		sum += accepted[s];
	}
	cr_assert_eq(cnt(dec, ESP_C_DECRYPTED), sum);
	cr_assert_eq(cnt(dec, ESP_C_DECRYPTED) + cnt(dec, ESP_C_REPLAY), (uint64_t)MT_THREADS * n);
	/* In-order streams with a 1024 window: nearly every seq gets through once. */
	cr_assert_gt(sum, n * 9 / 10, "only %llu of %u accepted", (unsigned long long)sum, n);
	free(accepted);
	free(dec);
	free(w);
}

/* The window alone, no crypto: both halves against the reference model. */
Test(ipsec, replay_seen_and_commit_vs_reference_model, .timeout = 120)
{
	static const uint32_t windows[] = { 32, 33, 64, 100, 1000, 1024 };

	for (size_t wi = 0; wi < sizeof(windows) / sizeof(windows[0]); wi++) {
		struct nf_ipsec_esp *st = make_sa("decrypt", NULL, "1024");
		const uint32_t n = 1u << 16, W = windows[wi];
		uint8_t *seen = calloc(n + 2 * ESP_REPLAY_MAX, 1); /* s runs up to W past the cursor */
		uint32_t top = 0, cursor = 1;

		st->replay_window = W;
		st->replay_slots = (W + 31) / 32 + 1;
		for (int k = 0; k < 300000; k++) {
			int64_t s = (int64_t)cursor + (int64_t)(rnd() % (3 * W)) - 2 * W;
			if (rnd() % 1000 == 0)
				cursor += (uint32_t)(rnd() % (4 * W));
			cursor += rnd() % 2;
			if (cursor >= n)
				break;
			if (s < 1)
				continue;
			int fresh = (uint64_t)s + W > top && !seen[s];
			cr_assert_eq(esp_replay_seen(st, (uint32_t)s), !fresh, "seen: W %u top %u seq %lld", W, top,
				     (long long)s);
			cr_assert_eq(esp_replay_commit(st, (uint32_t)s), !fresh, "commit: W %u top %u seq %lld", W, top,
				     (long long)s);
			if (fresh) {
				seen[s] = 1;
				top = (uint32_t)s > top ? (uint32_t)s : top;
			}
			cr_assert_eq(st->replay_top, top);
		}
		free(seen);
		free(st);
	}
}

#define STRESS_SEQS 400000

struct stress_arg {
	struct nf_ipsec_esp *st;
	uint32_t *accepted;
	uint64_t seed;
};

static void *stress_commit(void *arg)
{
	struct stress_arg *a = arg;
	uint64_t x = a->seed;

	/* Same stream in every thread, shuffled within blocks of 64, so threads collide on slots. */
	for (uint32_t base = 1; base + 64 <= STRESS_SEQS; base += 64) {
		uint32_t order[64];
		for (uint32_t i = 0; i < 64; i++)
			order[i] = i;
		for (uint32_t i = 63; i > 0; i--) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			uint32_t j = (uint32_t)(x % (i + 1)), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (uint32_t i = 0; i < 64; i++) {
			uint32_t s = base + order[i];
			if (!esp_replay_commit(a->st, s))
				__atomic_fetch_add(&a->accepted[s], 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

Test(ipsec, replay_commit_concurrent_stress, .timeout = 120)
{
	struct nf_ipsec_esp *st = make_sa("decrypt", NULL, "1024");
	uint32_t *accepted = calloc(STRESS_SEQS + 1, sizeof(uint32_t));
	pthread_t th[MT_THREADS];
	struct stress_arg a[MT_THREADS];
	uint64_t sum = 0;

	for (int t = 0; t < MT_THREADS; t++) {
		a[t] = (struct stress_arg){ .st = st, .accepted = accepted, .seed = 0x1234567u * (uint64_t)(t + 1) };
		cr_assert_eq(pthread_create(&th[t], NULL, stress_commit, &a[t]), 0);
	}
	for (int t = 0; t < MT_THREADS; t++)
		pthread_join(th[t], NULL);
	for (uint32_t s = 1; s <= STRESS_SEQS; s++) {
		cr_assert_leq(accepted[s], 1, "seq %u accepted %u times", s, accepted[s]);
		sum += accepted[s];
	}
	cr_assert_gt(sum, STRESS_SEQS * 9 / 10, "only %llu accepted", (unsigned long long)sum);
	uint32_t max = 0;
	for (uint32_t s = 1; s <= STRESS_SEQS; s++)
		max = accepted[s] ? s : max;
	cr_assert_eq(st->replay_top, max, "right edge %llu is not the highest accepted seq %u",
		     (unsigned long long)st->replay_top, max);
	free(accepted);
	free(st);
}

/*
 * The interleaving where a thread read the right edge, then others moved it a
 * window ahead and recycled the slot of this thread's block: the slot's block
 * number alone must make the thread reject, whatever edge it saw.
 */
Test(ipsec, replay_commit_rejects_recycled_slot_with_stale_edge)
{
	struct nf_ipsec_esp *st = make_sa("decrypt", NULL, "64");
	uint32_t s = 1000, blk = s >> 5, ns = st->replay_slots;

	cr_assert_eq(ns, 3);
	st->replay[blk % ns] = ((uint64_t)(blk + ns) << 32) | 1; /* a newer block owns the slot */
	st->replay_top = 0;                                       /* the stale view */
	cr_assert_eq(esp_replay_seen(st, s), 1);
	cr_assert_eq(esp_replay_commit(st, s), 1);
	cr_assert_eq(st->replay[blk % ns], ((uint64_t)(blk + ns) << 32) | 1, "the newer block's bits were lost");
	/* An older block in the slot is recycled. */
	st->replay[blk % ns] = ((uint64_t)(blk - ns) << 32) | 0xffffffffu;
	cr_assert_eq(esp_replay_commit(st, s), 0);
	cr_assert_eq(st->replay[blk % ns], ((uint64_t)blk << 32) | (1u << (s & 31)));
	cr_assert_eq(st->replay_top, s);
	free(st);
}

/* ---- through the cpu backend ------------------------------------------------------ */

/*
 * The chain the way the daemon runs it: UMEM frames of 2048 bytes with the
 * packet 256 bytes in (AF_XDP's receive headroom), encrypt then decrypt.
 */
Test(ipsec, cpu_backend_chain_encrypt_then_decrypt)
{
	const uint32_t fs = 2048, n = 512, head = 256;
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL), *dec = make_sa("decrypt", NULL, NULL);
	uint8_t *umem = calloc(n, fs), *orig = calloc(n, fs);
	struct gen_desc *d = calloc(n, sizeof(*d));
	struct chain_prog one = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { &enc->hdr }, .mini_batch = GEN_MINI_BATCH_DEFAULT };
	struct chain_prog two = { .n = 2, .type = { NF_T_IPSEC_ESP, NF_T_IPSEC_ESP }, .state = { &enc->hdr, &dec->hdr },
				  .mini_batch = GEN_MINI_BATCH_DEFAULT };

	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = 34 + (uint32_t)(rnd() % 1400);
		gen_frame(orig + (size_t)i * fs, len, 0);
		memcpy(umem + (size_t)i * fs + head, orig + (size_t)i * fs, len);
		d[i] = (struct gen_desc){ .addr = (uint64_t)i * fs + head, .len = len };
	}
	backend_cpu_run(&two, umem, fs, d, n, GEN_TEST_NOW);
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(d[i].verdict, NF_PASS, "packet %u", i);
		cr_assert_eq(d[i].addr / fs, i, "packet %u left its frame", i);
		cr_assert_arr_eq(umem + d[i].addr, orig + (size_t)i * fs, d[i].len, "packet %u", i);
	}
	/* Encrypt only: the packet starts 44 bytes earlier, inside the same frame. */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = 34 + (uint32_t)(rnd() % 1400);
		gen_frame(orig + (size_t)i * fs, len, 0);
		memcpy(umem + (size_t)i * fs + head, orig + (size_t)i * fs, len);
		d[i] = (struct gen_desc){ .addr = (uint64_t)i * fs + head, .len = len };
	}
	backend_cpu_run(&one, umem, fs, d, n, GEN_TEST_NOW);
	for (uint32_t i = 0; i < n; i++) {
		struct esp_view ev;
		cr_assert_eq(d[i].verdict, NF_PASS);
		cr_assert_eq(d[i].addr, (uint64_t)i * fs + head - 44);
		uint32_t olen = nf_get16(orig + (size_t)i * fs + 16) + 14;
		verify_esp(orig + (size_t)i * fs, olen, 14, umem + d[i].addr, d[i].len, &ev);
	}
	cr_assert_eq(cnt(enc, ESP_C_ENCRYPTED), 2 * n);
	cr_assert_eq(cnt(dec, ESP_C_DECRYPTED), n);
	free(d);
	free(orig);
	free(umem);
	free(enc);
	free(dec);
}

/* ---- the cpu backend's batch path ------------------------------------------------- */

/*
 * A batch of n frames of fs bytes for the encrypt batch tests: mostly IPv4 at
 * AF_XDP's headroom, with the cases that leave the batch early mixed in (not
 * IPv4, too big for the MTU, no room left in the frame) and packets with less
 * headroom than ESP prepends (moved up). Returns the packets that must pass.
 */
static uint32_t batch_frames(uint8_t *umem, struct gen_desc *d, uint32_t n, uint32_t fs)
{
	uint32_t pass = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint8_t *f = umem + (size_t)i * fs;
		uint32_t kind = (uint32_t)(rnd() % 8), head = 256, len = 34 + (uint32_t)(rnd() % 600);

		rnd_bytes(f, fs);
		if (kind == 1)
			head = (uint32_t)(rnd() % 44);      /* moved up */
		else if (kind == 2)
			len = 1400 + (uint32_t)(rnd() % 100); /* outer packet above the MTU */
		else if (kind == 3)
			head = fs - len - (uint32_t)(rnd() % 14); /* no room for the trailer */
		gen_frame(f + head, len, len >= 38 && rnd() % 4 == 0);
		if (kind == 4)
			nf_put16(f + head + 12, 0x86dd); /* not IPv4 */
		d[i] = (struct gen_desc){ .addr = (uint64_t)i * fs + head, .len = len };
		pass += kind != 2 && kind != 3 && kind != 4;
	}
	return pass;
}

/* The sequence number an encrypted frame carries (Ethernet header of 14 or 18 bytes). */
static uint32_t frame_seq(const uint8_t *f)
{
	uint32_t l2 = nf_get16(f + 12) == NF_ETH_P_8021Q ? 18 : 14;
	return nf_get32(f + l2 + 20 + 4);
}

/*
 * Frames ua (descs da) through three runs of one SA's copies: backend_cpu_run
 * with sa (ua, da), nf_ipsec_esp_run packet by packet with one (copies ub,
 * db) on the numbers reserved for the batch as a backend reserves them (as the
 * GPU agent runs), backend_cpu_run with the portable port (uc, dc). Verdicts,
 * geometry, every byte and every counter must agree.
 */
struct three_runs {
	struct nf_ipsec_esp *sa, *one, *port;
	uint8_t *ua, *ub, *uc;
	struct gen_desc *da, *db, *dc;
	uint32_t n, fs;
};

static void three_runs(const struct three_runs *t, int round)
{
	struct chain_prog pa = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { &t->sa->hdr } };
	struct chain_prog pc = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { &t->port->hdr } };
	size_t bytes = (size_t)t->n * t->fs;

	memcpy(t->ub, t->ua, bytes);
	memcpy(t->uc, t->ua, bytes);
	memcpy(t->db, t->da, t->n * sizeof(*t->da));
	memcpy(t->dc, t->da, t->n * sizeof(*t->da));
	struct nf_hdr *one = &t->one->hdr;
	uint64_t first;

	backend_cpu_run(&pa, t->ua, t->fs, t->da, t->n, GEN_TEST_NOW);
	backend_cpu_run(&pc, t->uc, t->fs, t->dc, t->n, GEN_TEST_NOW);
	nf_reserve(1, &one, t->n, &first);
	for (uint32_t i = 0; i < t->n; i++) {
		struct gen_desc *a = &t->da[i], *b = &t->db[i], *c = &t->dc[i];
		uint64_t base = (uint64_t)i * t->fs;
		struct nf_pkt p = { .buf = t->ub + base, .off = (uint32_t)(b->addr - base), .len = b->len,
				    .cap = t->fs, .seq = i, .batch_seq = first };
		b->verdict = (uint32_t)nf_ipsec_esp_run(t->one, &p);
		b->addr = base + p.off;
		b->len = p.len;
		cr_assert_eq(a->verdict, b->verdict, "round %d packet %u: verdict", round, i);
		cr_assert(a->addr == b->addr && a->len == b->len, "round %d packet %u: geometry", round, i);
		cr_assert(c->verdict == b->verdict && c->addr == b->addr && c->len == b->len,
			  "round %d packet %u: portable batch", round, i);
	}
	cr_assert_arr_eq(t->ua, t->ub, bytes, "round %d: batch bytes differ from one by one", round);
	cr_assert_arr_eq(t->uc, t->ub, bytes, "round %d: portable batch bytes differ", round);
	for (int c = 0; c < ESP_C_MAX; c++) {
		cr_assert_eq(cnt(t->sa, c), cnt(t->one, c), "round %d counter %d: %lu vs %lu", round, c,
			     (unsigned long)cnt(t->sa, c), (unsigned long)cnt(t->one, c));
		cr_assert_eq(cnt(t->port, c), cnt(t->one, c), "round %d counter %d (portable)", round, c);
	}
}

static void three_runs_free(struct three_runs *t)
{
	free(t->ua);
	free(t->ub);
	free(t->uc);
	free(t->da);
	free(t->db);
	free(t->dc);
	free(t->sa);
	free(t->one);
	free(t->port);
}

/*
 * backend_cpu_run (the SA over chunks, one atomic for the numbers, two
 * packets' crypto at a time) against nf_ipsec_esp_run packet by packet on a
 * copy of the SA: same verdicts, geometry, every byte of every frame, the
 * same counters and numbers; and the same again with the portable crypto.
 */
Test(ipsec, cpu_backend_batch_identical_to_one_by_one, .timeout = 120)
{
	const uint32_t fs = 2048, n = 700; /* several of the backend's chunks, the last one partial */
	struct nf_ipsec_esp *enc = make_sa("encrypt", "1400", NULL);
	struct three_runs t = { .sa = enc, .one = portable_twin(enc), .port = portable_twin(enc), .n = n, .fs = fs,
				.ua = calloc(n, fs), .ub = calloc(n, fs), .uc = calloc(n, fs),
				.da = calloc(n, sizeof(*t.da)), .db = calloc(n, sizeof(*t.db)),
				.dc = calloc(n, sizeof(*t.dc)) };

	t.one->host_accel = enc->host_accel; /* the same crypto, one packet at a time */
	for (int round = 0; round < 3; round++) {
		uint32_t pass = batch_frames(t.ua, t.da, n, fs), seen = 0;
		uint64_t seq0 = enc->seq_last;

		three_runs(&t, round);
		for (uint32_t i = 0; i < n; i++) {
			/* Packet i of the batch has number seq0 + 1 + i: those of dropped packets are skipped. */
			if (t.da[i].verdict == NF_PASS && ++seen)
				cr_assert_eq(frame_seq(t.ua + t.da[i].addr), seq0 + 1 + i, "round %d packet %u: seq", round, i);
		}
		cr_assert_eq(seen, pass, "round %d: %u passed, %u expected", round, seen, pass);
		cr_assert_eq(enc->seq_last, seq0 + n, "the batch reserved one number per packet");
		cr_assert_eq(enc->seq_last, t.one->seq_last);
		cr_assert_eq(t.port->seq_last, t.one->seq_last);
	}
	cr_assert_gt(cnt(enc, ESP_C_TOO_BIG), 0);
	cr_assert_gt(cnt(enc, ESP_C_NOT_IPV4), 0);
	three_runs_free(&t);
}

/* The 32-bit counter runs out inside a batch: the numbers past it are taken, their packets dropped. */
Test(ipsec, cpu_backend_batch_seq_overflow)
{
	const uint32_t fs = 2048, n = 10;
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL);
	uint8_t *umem = calloc(n, fs);
	struct gen_desc *d = calloc(n, sizeof(*d));
	struct chain_prog pa = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { &enc->hdr } };

	for (uint32_t i = 0; i < n; i++) {
		gen_frame(umem + (size_t)i * fs + 256, 100, 0);
		d[i] = (struct gen_desc){ .addr = (uint64_t)i * fs + 256, .len = 100 };
	}
	enc->seq_last = ESP_SEQ_MAX - 4;
	backend_cpu_run(&pa, umem, fs, d, n, GEN_TEST_NOW);
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(d[i].verdict, i < 4 ? NF_PASS : NF_DROP, "packet %u", i);
		if (i < 4)
			cr_assert_eq(frame_seq(umem + d[i].addr), (uint32_t)(ESP_SEQ_MAX - 3 + i));
	}
	cr_assert_eq(cnt(enc, ESP_C_ENCRYPTED), 4);
	cr_assert_eq(cnt(enc, ESP_C_SEQ_OVERFLOW), 6);
	cr_assert_eq(enc->seq_last, ESP_SEQ_MAX + 6);
	free(umem);
	free(d);
	free(enc);
}

/*
 * Frames to decrypt for the batch test: the packets enc passed, in mostly
 * rising order with jumps back (left of a 64-packet window, or inside it),
 * duplicates within the batch (some with a broken ICV: one by one the
 * replay check comes first), broken ICVs, ciphertext, SPIs and IPv4
 * checksums. d[i] describes frame i of dst.
 */
static void decrypt_frames(const uint8_t *src, const struct gen_desc *sd, uint32_t ns, uint8_t *dst,
			   struct gen_desc *d, uint32_t n, uint32_t fs)
{
	uint32_t *ok = calloc(ns, sizeof(*ok)), nok = 0, at = 0;

	for (uint32_t i = 0; i < ns; i++)
		if (sd[i].verdict == NF_PASS)
			ok[nok++] = i;
	cr_assert_gt(nok, 100);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t kind = (uint32_t)(rnd() % 16), pick = ok[at++ % nok], head = 64 + (uint32_t)(rnd() % 200);
		if (kind == 0 && i > 0) /* an earlier frame of this batch again */
			pick = ok[(at - 2 - (uint32_t)(rnd() % (at - 1 < 40 ? at - 1 : 40))) % nok];
		else if (kind == 1)
			pick = ok[(at + nok - 1 - (uint32_t)(rnd() % 100)) % nok]; /* from up to 100 back */
		const struct gen_desc *s = &sd[pick];
		uint8_t *f = dst + (size_t)i * fs;
		memset(f, 0, fs);
		memcpy(f + head, src + s->addr, s->len);
		d[i] = (struct gen_desc){ .addr = (uint64_t)i * fs + head, .len = s->len };
		uint32_t l2 = nf_get16(f + head + 12) == NF_ETH_P_8021Q ? 18 : 14;
		if (kind == 2 || (kind == 0 && rnd() % 2))
			f[head + s->len - 1 - (uint32_t)(rnd() % ESP_ICV_LEN)] ^= 0x20; /* ICV */
		else if (kind == 3)
			f[head + l2 + 20 + 24 + (uint32_t)(rnd() % 16)] ^= 1; /* ciphertext */
		else if (kind == 4)
			f[head + l2 + 20] ^= 0x80; /* SPI */
		else if (kind == 5)
			f[head + l2 + 10] ^= 0x01; /* IPv4 header checksum */
	}
	free(ok);
}

/*
 * The decrypt side of backend_cpu_run (ICVs computed ahead, two at a time)
 * against nf_ipsec_esp_run packet by packet on a copy of the SA, and the
 * portable code through the backend: same verdicts, geometry, bytes,
 * counters and anti-replay state, on the mixes of decrypt_frames.
 */
Test(ipsec, cpu_backend_decrypt_batch_identical_to_one_by_one, .timeout = 120)
{
	const uint32_t fs = 2048, n = 700;
	struct nf_ipsec_esp *enc = make_sa("encrypt", "1400", NULL), *dec = make_sa("decrypt", "1400", "64");
	struct three_runs t = { .sa = dec, .one = portable_twin(dec), .port = portable_twin(dec), .n = n, .fs = fs,
				.ua = calloc(n, fs), .ub = calloc(n, fs), .uc = calloc(n, fs),
				.da = calloc(n, sizeof(*t.da)), .db = calloc(n, sizeof(*t.db)),
				.dc = calloc(n, sizeof(*t.dc)) };
	struct chain_prog pe = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { &enc->hdr } };
	uint8_t *src = calloc(n, fs);
	struct gen_desc *sd = calloc(n, sizeof(*sd));

	t.one->host_accel = dec->host_accel; /* the same crypto, one packet at a time */
	for (int round = 0; round < 4; round++) {
		batch_frames(src, sd, n, fs);
		backend_cpu_run(&pe, src, fs, sd, n, GEN_TEST_NOW);
		decrypt_frames(src, sd, n, t.ua, t.da, n, fs);
		three_runs(&t, round);
		cr_assert_eq(dec->replay_top, t.one->replay_top);
		cr_assert_arr_eq(dec->replay, t.one->replay, sizeof(dec->replay), "round %d: replay window", round);
		cr_assert_arr_eq(t.port->replay, t.one->replay, sizeof(dec->replay), "round %d: portable window", round);
	}
	/* Every way out was taken. */
	static const int ways[] = { ESP_C_DECRYPTED, ESP_C_REPLAY, ESP_C_AUTH_FAILED, ESP_C_BAD_SPI, ESP_C_MALFORMED };
	for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++)
		cr_assert_gt(cnt(dec, ways[w]), 0, "counter %d never counted", ways[w]);
	three_runs_free(&t);
	free(src);
	free(sd);
	free(enc);
}

struct cpu_job {
	struct nf_ipsec_esp *enc;
	uint8_t *umem;
	struct gen_desc *d;
	uint32_t n, pass;
};

static void *cpu_job_run(void *arg)
{
	struct cpu_job *j = arg;
	struct chain_prog p = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { &j->enc->hdr } };

	for (uint32_t b = 0; b < j->n; b += 300)
		backend_cpu_run(&p, j->umem, 2048, j->d + b, j->n - b < 300 ? j->n - b : 300, GEN_TEST_NOW);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Threads running batches of one SA at once: after the batches every counter
 * is the sum of the outcomes (each thread's deltas reached the blob), every
 * batch reserved its own numbers (seq_last = all packets), no number is used
 * twice, and each thread's numbers rise with its packets.
 */
Test(ipsec, cpu_backend_counters_exact_on_threads, .timeout = 120)
{
	enum { T = 4, N = 3000 };
	const uint32_t fs = 2048;
	struct nf_ipsec_esp *enc = make_sa("encrypt", "1400", NULL);
	struct cpu_job job[T];
	pthread_t tid[T];
	uint32_t pass = 0, bad = 0, *seqs = calloc(T * N, sizeof(*seqs)), ns = 0;

	for (int t = 0; t < T; t++) {
		job[t] = (struct cpu_job){ .enc = enc, .umem = calloc(N, fs), .d = calloc(N, sizeof(struct gen_desc)),
					   .n = N };
		job[t].pass = batch_frames(job[t].umem, job[t].d, N, fs);
		for (uint32_t i = 0; i < N; i++) {
			uint8_t *f = job[t].umem + (size_t)i * fs + (job[t].d[i].addr % fs);
			bad += nf_get16(f + 12) == 0x86dd;
		}
		pass += job[t].pass;
	}
	for (int t = 0; t < T; t++)
		cr_assert_eq(pthread_create(&tid[t], NULL, cpu_job_run, &job[t]), 0);
	for (int t = 0; t < T; t++)
		pthread_join(tid[t], NULL);
	for (int t = 0; t < T; t++) {
		uint32_t prev = 0;

		for (uint32_t i = 0; i < N; i++) {
			if (job[t].d[i].verdict != NF_PASS)
				continue;
			seqs[ns] = frame_seq(job[t].umem + job[t].d[i].addr);
			cr_assert_gt(seqs[ns], prev, "thread %d packet %u: numbers must rise within a thread", t, i);
			prev = seqs[ns++];
		}
		free(job[t].umem);
		free(job[t].d);
	}
	cr_assert_eq(ns, pass);
	cr_assert_eq(cnt(enc, ESP_C_ENCRYPTED), pass);
	cr_assert_eq(cnt(enc, ESP_C_NOT_IPV4), bad);
	cr_assert_eq(cnt(enc, ESP_C_ENCRYPTED) + cnt(enc, ESP_C_NOT_IPV4) + cnt(enc, ESP_C_TOO_BIG), (uint64_t)T * N);
	cr_assert_eq(enc->seq_last, (uint64_t)T * N);
	qsort(seqs, ns, sizeof(*seqs), cmp_u32);
	for (uint32_t i = 0; i < ns; i++) {
		cr_assert(seqs[i] >= 1 && seqs[i] <= (uint64_t)T * N, "sequence number %u out of range", seqs[i]);
		cr_assert(i == 0 || seqs[i] > seqs[i - 1], "sequence number %u used twice", seqs[i]);
	}
	free(seqs);
	free(enc);
}

/*
 * A state hand-over into the host blob (a chain moving back from a device)
 * copies the device's blob, whose counter the device never advances: the
 * host's reserved numbers must survive it, or the next batch would reuse
 * numbers (and IVs) already on the wire.
 */
Test(ipsec, state_write_never_takes_numbers_back)
{
	const uint32_t fs = 2048, n = 50;
	struct nf_ipsec_esp *enc = make_sa("encrypt", NULL, NULL);
	struct nf_ipsec_esp *stale = malloc(enc->hdr.size);
	uint8_t *umem = calloc(n, fs);
	struct gen_desc *d = calloc(n, sizeof(*d));
	struct chain_prog pa = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { &enc->hdr } };
	struct backend_chain *bc;
	uint32_t last = 0;

	memcpy(stale, enc, enc->hdr.size); /* the blob as uploaded: seq_last 0 */
	bc = backend_cpu.chain_create(&pa, umem, (size_t)n * fs, fs, NULL, 0);
	cr_assert_not_null(bc);
	for (int round = 0; round < 2; round++) {
		struct gen_desc *done;
		uint32_t nd;

		for (uint32_t i = 0; i < n; i++) {
			gen_frame(umem + (size_t)i * fs + 256, 100, 0);
			d[i] = (struct gen_desc){ .addr = (uint64_t)i * fs + 256, .len = 100 };
		}
		cr_assert_eq(backend_cpu.submit(bc, d, n, GEN_TEST_NOW), 0);
		cr_assert_eq(backend_cpu.complete(bc, &done, &nd), 1);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t s = frame_seq(umem + d[i].addr);
			cr_assert_gt(s, last, "round %d packet %u: number %u reused (last %u)", round, i, s, last);
			last = s;
		}
		cr_assert_eq(enc->seq_last, (uint64_t)(round + 1) * n);
		/* The hand-over: the whole stale blob written over the live one. */
		cr_assert_eq(backend_cpu.state_write(bc, 0, stale, 0, stale->hdr.size), 0);
		cr_assert_eq(enc->seq_last, (uint64_t)(round + 1) * n, "the counter went back");
	}
	backend_cpu.chain_destroy(bc);
	free(umem);
	free(d);
	free(stale);
	free(enc);
}
