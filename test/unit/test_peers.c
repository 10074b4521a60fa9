// SPDX-License-Identifier: GPL-2.0
/*
 * gen-bench's cpu peers compute what they claim: the OpenSSL ESP peers write
 * the bytes the ipsec_esp NF writes for the same SA, IV key and sequence
 * number; the stitched TLS record decrypts (independent EVP + HMAC) to the
 * payload, its MAC and padding; Hyperscan finds the nids contents the NF
 * indexes, case rules included, and nothing else.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "registry.h"
#include "ipsec_esp.h"
#include "test/bench/peers.h"

#define ENC_KEY_HEX "2b7e151628aed2a6abf7158809cf4f3c"
#define AUTH_KEY_HEX "0123456789abcdef0123456789abcdef01234567"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint8_t rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 31);
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int x;
		sscanf(s + 2 * i, "%2x", &x);
		out[i] = (uint8_t)x;
	}
}

static struct nf_ipsec_esp *make_sa(void)
{
	const struct nf_ops *ops = nf_ops_find("ipsec_esp");
	struct nf_kv kv[] = {
		{ "direction", "encrypt", 2 },	 { "spi", "0x1234abcd", 3 },	   { "enc_key", ENC_KEY_HEX, 4 },
		{ "auth_key", AUTH_KEY_HEX, 5 }, { "tunnel_src", "192.0.2.1", 6 }, { "tunnel_dst", "198.51.100.2", 7 },
		{ "mtu", "9000", 8 },
	};
	struct nf_cfg cfg = { .name = "sa", .file = "t.ini", .line = 1, .kv = kv, .nkv = 7, .base_dir = "." };
	struct nf_hdr *h = NULL;
	char err[256] = "";

	cr_assert_not_null(ops);
	cr_assert_eq(ops->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);
	return (struct nf_ipsec_esp *)h;
}

/* The peers' keys for the NF's SA: the IV key is the first round key of its schedule. */
static struct peers_config sa_config(const struct nf_ipsec_esp *st)
{
	struct peers_config pc = { .spi = st->spi };

	unhex(ENC_KEY_HEX, pc.enc_key, 16);
	unhex(AUTH_KEY_HEX, pc.auth_key, 20);
	for (int i = 0; i < 4; i++)
		nf_put32(pc.iv_key + 4 * i, st->iv_rk[i]);
	return pc;
}

/* Eth + IPv4 of inner_len bytes (random body) at f + 256. */
static void mk_frame(uint8_t *f, uint32_t inner_len)
{
	uint8_t *d = f + 256, *ip = d + 14;

	for (uint32_t i = 0; i < 14 + inner_len; i++)
		d[i] = rnd8();
	nf_put16(d + 12, NF_ETH_P_IP);
	ip[0] = 0x45;
	nf_put16(ip + 2, (uint16_t)inner_len);
	ip[6] = 0;
	ip[7] = 0;
}

Test(peers, esp_peers_write_the_nf_bytes)
{
	static const uint32_t sizes[] = { 20, 21, 30, 46, 50, 63, 64, 100, 255, 511, 1000, 1400, 1486, 4000 };
	struct nf_ipsec_esp *st = make_sa();
	struct peers_config pc = sa_config(st);
	char why[128] = "";
	struct peers *p = peers_create(&pc, why, sizeof(why));
	cr_assert_not_null(p, "%s", why);
	struct peers_worker *w = peers_worker_new(p);
	cr_assert_not_null(w);
	static uint8_t frame[8192], inner[8192], a[8192], b[8192];

	for (int round = 0; round < 3; round++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			uint32_t len = sizes[k] & 4095; /* bounds the copies for the compiler */
			mk_frame(frame, len);
			memcpy(inner, frame + 256 + 14, len);
			struct nf_pkt pkt = { .buf = frame, .off = 256, .len = 14 + len, .cap = sizeof(frame) };
			cr_assert_eq(nf_ipsec_esp_run(st, &pkt), NF_PASS, "inner %u", len);
			const uint8_t *esp = frame + pkt.off + 14 + ESP_OUTER_IP_LEN;
			uint32_t esp_len = pkt.len - 14 - ESP_OUTER_IP_LEN;
			uint32_t seq = nf_get32(esp + 4);

			int n = peers_esp_seal(w, seq, inner, len, a);
			cr_assert_eq(n, (int)esp_len, "inner %u: peer wrote %d bytes, the NF %u", len, n, esp_len);
			cr_assert_eq(memcmp(a, esp, esp_len), 0, "inner %u: plain EVP peer differs from the NF", len);
			n = peers_esp_seal_fast(w, seq, inner, len, b);
			cr_assert_eq(n, (int)esp_len);
			cr_assert_eq(memcmp(b, esp, esp_len), 0, "inner %u, round %d: fast peer differs from the NF", len,
				     round);
		}
	}
	/* Lengths below one block take the fast peer's other first-block path: same bytes as the plain one. */
	for (uint32_t len = 0; len < 40; len++) {
		for (uint32_t i = 0; i < len; i++)
			inner[i] = rnd8();
		int n = peers_esp_seal(w, 1000 + len, inner, len, a);
		cr_assert_gt(n, 0);
		cr_assert_eq(peers_esp_seal_fast(w, 1000 + len, inner, len, b), n);
		cr_assert_eq(memcmp(a, b, (size_t)n), 0, "length %u", len);
	}
	peers_worker_free(w);
	peers_destroy(p);
	free(st);
}

Test(peers, stitched_record_decrypts_to_payload_mac_and_padding)
{
	struct peers_config pc = { .spi = 7 };
	char why[128] = "";
	static uint8_t in[2048], out[2048], plain[2048];

	unhex(ENC_KEY_HEX, pc.enc_key, 16);
	unhex(AUTH_KEY_HEX, pc.auth_key, 20);
	struct peers *p = peers_create(&pc, why, sizeof(why));
	cr_assert_not_null(p, "%s", why);
	struct peers_worker *w = peers_worker_new(p);
	cr_assert_not_null(w);
	uint8_t chain_iv[16] = { 0 }; /* the context starts from a zero IV and chains across records */
	for (uint32_t len = 1; len < 1500; len += 37) {
		for (uint32_t i = 0; i < 16 + len; i++)
			in[i] = rnd8();
		int n = peers_tls_seal(w, len, in, len, out);
		if (n == -EOPNOTSUPP) {
			peers_worker_free(w);
			peers_destroy(p);
			cr_skip_test("no stitched AES-128-CBC-HMAC-SHA1 in this OpenSSL for this CPU");
		}
		cr_assert_gt(n, 0);
		cr_assert_eq(n % 16, 0);
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		int l1 = 0, l2 = 0;
		cr_assert(EVP_DecryptInit_ex2(c, EVP_aes_128_cbc(), pc.enc_key, chain_iv, NULL));
		EVP_CIPHER_CTX_set_padding(c, 0);
		cr_assert(EVP_DecryptUpdate(c, plain, &l1, out, n));
		cr_assert(EVP_DecryptFinal_ex(c, plain + l1, &l2));
		EVP_CIPHER_CTX_free(c);
		memcpy(chain_iv, out + n - 16, 16);
		cr_assert_eq(memcmp(plain, in, 16 + len), 0, "length %u: explicit IV and payload", len);
		uint8_t aad[13], mac[20];
		unsigned int ml = 0;
		nf_put32(aad, 0);
		nf_put32(aad + 4, len);
		aad[8] = 23, aad[9] = 3, aad[10] = 3;
		nf_put16(aad + 11, (uint16_t)len);
		uint8_t msg[2048];
		memcpy(msg, aad, 13);
		memcpy(msg + 13, in + 16, len);
		HMAC(EVP_sha1(), pc.auth_key, 20, msg, 13 + len, mac, &ml);
		cr_assert_eq(memcmp(plain + 16 + len, mac, 20), 0, "length %u: MAC", len);
		uint8_t padv = plain[n - 1];
		cr_assert_eq((uint32_t)n, 16 + len + 20 + padv + 1u, "length %u: padding length", len);
		for (uint32_t i = 16 + len + 20; i < (uint32_t)n; i++)
			cr_assert_eq(plain[i], padv, "length %u: padding byte %u", len, i);
	}
	peers_worker_free(w);
	peers_destroy(p);
}

static const char rules[] =
	"alert tcp any any -> any any (msg:\"a\"; content:\"evilpayload\"; sid:1;)\n"
	"alert tcp any any -> any any (msg:\"b\"; content:\"CaseLess\"; nocase; sid:2;)\n"
	"alert tcp any any -> any any (msg:\"c\"; content:\"ab\"; content:\"longer-one\"; sid:3;)\n"
	"alert tcp any any -> any any (msg:\"d\"; content:\"xyz\"; sid:4;)\n"
	"alert tcp any any -> any any (msg:\"e\"; content:!\"notme\"; content:\"okay\"; sid:5;)\n"
	"alert tcp any any -> any any (msg:\"f\"; content:\"Exact\"; sid:6;)\n"
	"alert tcp any any -> any any (msg:\"g\"; content:\"evilpayload\"; sid:7;)\n"
	"alert tcp any any -> any 21 (msg:\"h\"; content:\"qq\"; sid:8;)\n";

Test(peers, hyperscan_finds_the_indexed_contents)
{
	char dir[] = "/tmp/gen-peers-XXXXXX", path[256], why[128] = "", err[512] = "";
	struct nf_hdr *h = NULL;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/local.rules", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(rules, f);
	fclose(f);
	const struct nf_ops *ops = nf_ops_find("nids");
	struct nf_kv kv[] = { { "rules", "local.rules", 3 } };
	struct nf_cfg cfg = { .name = "ids", .file = "c.ini", .line = 2, .kv = kv, .nkv = 1, .base_dir = dir };
	int r = ops->build(&cfg, &h, err, sizeof(err));
	unlink(path);
	rmdir(dir);
	cr_assert_eq(r, 0, "%s", err);

	struct peers_config pc = { .nids = (const struct nf_nids *)h };
	struct peers *p = peers_create(&pc, why, sizeof(why));
	cr_assert_not_null(p, "%s", why);
	struct peers_worker *w = peers_worker_new(p);
	cr_assert_not_null(w);
	static const struct {
		const char *payload;
		int found;
	} cases[] = {
		{ "xx evilpayload yy", 1 },
		{ "CASELESS", 1 },               /* nocase */
		{ "caseless and CaSeLeSs", 1 },  /* one literal, reported once */
		{ "evilpayloa", 0 },
		{ "ab", 0 },                     /* shorter than the index minimum, not the rule's longest */
		{ "longer-one", 1 },
		{ "xyz then evilpayload", 2 },   /* short, but its rule's only content */
		{ "notme", 0 },                  /* negated contents are not literals */
		{ "qq", 0 },                     /* short, and the NF finds its rule by port instead */
		{ "okay", 1 },
		{ "EXACT exact", 0 },            /* case-sensitive content */
		{ "Exact", 1 },
		{ "", 0 },
	};
	int n = peers_hs_count(w, (const uint8_t *)"evilpayload", 11);
	if (n == -EOPNOTSUPP) {
		peers_worker_free(w);
		peers_destroy(p);
		free(h);
		cr_skip_test("built without Hyperscan");
	}
	cr_assert_eq(peers_hs_patterns(p), 6, "literals: %u", peers_hs_patterns(p));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = peers_hs_count(w, (const uint8_t *)cases[i].payload, (uint32_t)strlen(cases[i].payload));
		cr_expect_eq(n, cases[i].found, "'%s': %d literals found, want %d", cases[i].payload, n, cases[i].found);
	}
	/* Somewhere in a long random payload, with a NUL byte before it. */
	static uint8_t big[1500];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)('A' + rnd8() % 20); /* upper case A..T: no literal */
	big[700] = 0;
	cr_expect_eq(peers_hs_count(w, big, sizeof(big)), 0);
	memcpy(big + 1200, "okay", 4);
	cr_expect_eq(peers_hs_count(w, big, sizeof(big)), 1);
	peers_worker_free(w);
	peers_destroy(p);
	free(h);
}
