// SPDX-License-Identifier: GPL-2.0
/* Builder for ipsec_esp: parse one SA from `[nf NAME]`, precompute key schedules and HMAC pads. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "registry.h"
#include "ipsec_esp.h"

#define ESP_ENC_KEY_LEN 16
#define ESP_AUTH_KEY_LEN 20

_Static_assert(offsetof(struct nf_ipsec_esp, ni_enc_rk) % 16 == 0, "AES-NI round keys on 16-byte lines");
_Static_assert(offsetof(struct nf_ipsec_esp, seq_last) % 8 == 0, "64-bit atomics are 8-aligned");

/*
 * What the cpu backend may use on this machine: the CPU's AES / SHA
 * instructions unless GEN_ESP_PORTABLE is set (non-empty, not "0"), which
 * keeps the portable code the GPU runs (comparisons, benchmarks).
 */
static uint32_t esp_accel_for_this_host(void)
{
	const char *v = getenv("GEN_ESP_PORTABLE");

	if (v && *v && strcmp(v, "0"))
		return 0;
	return esp_host_cpu_accel();
}

/* Exactly n bytes of hex, optional 0x prefix. */
static int parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned int hi, lo;
		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]))
			return -EINVAL;
		sscanf(s + 2 * i, "%1x%1x", &hi, &lo);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Decimal, or hex with 0x; a leading 0 does not mean octal. */
static int parse_u64(const char *s, unsigned long long max, unsigned long long *ret)
{
	int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end || end == s || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_ipv4(const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = ntohl(a.s_addr);
	return 0;
}

/* `key` must be present; sets *v and *line, or writes the error. */
static int need(const struct nf_cfg *cfg, const char *key, const char **v, int *line, char *err, size_t errlen)
{
	*v = nf_cfg_get(cfg, key, line);
	if (!*v) {
		snprintf(err, errlen, "%s:%d: nf '%s': ipsec_esp needs '%s'", cfg->file, cfg->line, cfg->name, key);
		return -EINVAL;
	}
	return 0;
}

/*
 * A key file holds the key as hex (optional 0x, surrounding white space). It
 * must be a regular file owned by root and unreadable by group and others:
 * a key anyone on the host can read is no secret, so such a file is refused.
 */
static int read_key_file(const struct nf_cfg *cfg, const char *key, const char *val, int line, uint8_t *out,
			 size_t n, char *err, size_t errlen)
{
	char path[4096], buf[256], *s, *e;
	struct stat st;
	size_t len;
	FILE *f;
	int r;

	nf_cfg_path(cfg, val, path, sizeof(path));
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s:%d: %s '%s': %s", cfg->file, line, key, path, strerror(-r));
		return r;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s:%d: %s '%s' is not a regular file", cfg->file, line, key, path);
		fclose(f);
		return -EINVAL;
	}
	if (st.st_uid != 0 || (st.st_mode & 077)) {
		snprintf(err, errlen, "%s:%d: %s '%s' must be owned by root and readable by nobody else "
			 "(owner uid %u, mode %04o; chown root and chmod 0600 it)", cfg->file, line, key, path,
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		fclose(f);
		return -EPERM;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	for (s = buf; isspace((unsigned char)*s); s++)
		;
	for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	r = parse_hex(s, out, n);
	memset(buf, 0, sizeof(buf));
	if (r) {
		snprintf(err, errlen, "%s:%d: %s '%s' must hold %zu bytes as %zu hex digits", cfg->file, line, key, path,
			 n, 2 * n);
		return r;
	}
	return 0;
}

/*
 * A key comes inline (`enc_key`) or from a file (`enc_key_file`), exactly one
 * of the two; what the inline value must look like is in `what`.
 */
static int get_key(const struct nf_cfg *cfg, const char *key, uint8_t *out, size_t n, const char *what, char *err,
		   size_t errlen)
{
	char fkey[32];
	const char *v, *fv;
	int line, fline;

	snprintf(fkey, sizeof(fkey), "%s_file", key);
	v = nf_cfg_get(cfg, key, &line);
	fv = nf_cfg_get(cfg, fkey, &fline);
	if (v && fv) {
		snprintf(err, errlen, "%s:%d: nf '%s': give %s or %s, not both", cfg->file, fline, cfg->name, key, fkey);
		return -EINVAL;
	}
	if (fv)
		return read_key_file(cfg, fkey, fv, fline, out, n, err, errlen);
	if (!v) {
		snprintf(err, errlen, "%s:%d: nf '%s': ipsec_esp needs '%s' or '%s'", cfg->file, cfg->line, cfg->name,
			 key, fkey);
		return -EINVAL;
	}
	if (parse_hex(v, out, n)) {
		snprintf(err, errlen, "%s:%d: %s must be %s, got '%s'", cfg->file, line, key, what, v);
		return -EINVAL;
	}
	return 0;
}

/*
 * The IV key is not the traffic key, and differs on every build even with the
 * same configured keys: HMAC-SHA1 keyed with fresh random bytes over the SA's
 * keys and SPI. So IVs cannot be predicted from the configuration, nor repeat
 * across restarts of the daemon that reuse the sequence numbers.
 */
static int derive_iv_key(const uint8_t enc[ESP_ENC_KEY_LEN], const uint8_t auth[ESP_AUTH_KEY_LEN], uint32_t spi,
			 uint8_t out[16])
{
	static const char label[] = "GEN ESP IV key";
	uint8_t seed[32], msg[sizeof(label) + ESP_ENC_KEY_LEN + ESP_AUTH_KEY_LEN + 4], mac[SHA1_DIGEST];
	size_t got = 0;

	while (got < sizeof(seed)) {
		ssize_t r = getrandom(seed + got, sizeof(seed) - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	memcpy(msg, label, sizeof(label));
	memcpy(msg + sizeof(label), enc, ESP_ENC_KEY_LEN);
	memcpy(msg + sizeof(label) + ESP_ENC_KEY_LEN, auth, ESP_AUTH_KEY_LEN);
	nf_put32(msg + sizeof(label) + ESP_ENC_KEY_LEN + ESP_AUTH_KEY_LEN, spi);
	hmac_sha1(seed, sizeof(seed), msg, sizeof(msg), mac);
	memcpy(out, mac, 16);
	memset(seed, 0, sizeof(seed));
	memset(mac, 0, sizeof(mac));
	return 0;
}

static int ipsec_esp_build(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	static const char *const known[] = { "direction", "spi",	"enc_key",	 "auth_key", "tunnel_src",
					     "tunnel_dst", "mtu", "replay_window", "enc_key_file", "auth_key_file",
					     NULL };
	uint8_t enc_key[ESP_ENC_KEY_LEN], auth_key[ESP_AUTH_KEY_LEN], iv_key[16];
	uint32_t direction, spi, src, dst, mtu = 1500, window = 64;
	unsigned long long n;
	const char *v;
	int line, r;

	r = nf_cfg_check_keys(cfg, known, err, errlen);
	if (r)
		return r;

	if ((r = need(cfg, "direction", &v, &line, err, errlen)))
		return r;
	if (!strcmp(v, "encrypt")) {
		direction = ESP_DIR_ENCRYPT;
	} else if (!strcmp(v, "decrypt")) {
		direction = ESP_DIR_DECRYPT;
	} else {
		snprintf(err, errlen, "%s:%d: direction '%s' is not encrypt or decrypt", cfg->file, line, v);
		return -EINVAL;
	}

	if ((r = need(cfg, "spi", &v, &line, err, errlen)))
		return r;
	if (parse_u64(v, UINT32_MAX, &n) || n == 0) {
		snprintf(err, errlen, "%s:%d: spi '%s' is not a number in 1..4294967295 (decimal or 0x hex; 0 is reserved)",
			 cfg->file, line, v);
		return -EINVAL;
	}
	spi = (uint32_t)n;

	if ((r = get_key(cfg, "enc_key", enc_key, sizeof(enc_key), "16 bytes as 32 hex digits (AES-128)", err,
			 errlen)))
		return r;
	if ((r = get_key(cfg, "auth_key", auth_key, sizeof(auth_key), "20 bytes as 40 hex digits (HMAC-SHA1-96)",
			 err, errlen))) {
		memset(enc_key, 0, sizeof(enc_key));
		return r;
	}

	if ((r = need(cfg, "tunnel_src", &v, &line, err, errlen)))
		return r;
	if (parse_ipv4(v, &src)) {
		snprintf(err, errlen, "%s:%d: tunnel_src '%s' is not an IPv4 address", cfg->file, line, v);
		return -EINVAL;
	}
	if ((r = need(cfg, "tunnel_dst", &v, &line, err, errlen)))
		return r;
	if (parse_ipv4(v, &dst)) {
		snprintf(err, errlen, "%s:%d: tunnel_dst '%s' is not an IPv4 address", cfg->file, line, v);
		return -EINVAL;
	}

	v = nf_cfg_get(cfg, "mtu", &line);
	if (v) {
		if (parse_u64(v, 65535, &n) || n < 68) {
			snprintf(err, errlen, "%s:%d: mtu '%s' is not a number in 68..65535", cfg->file, line, v);
			return -EINVAL;
		}
		mtu = (uint32_t)n;
	}
	v = nf_cfg_get(cfg, "replay_window", &line);
	if (v) {
		if (parse_u64(v, ESP_REPLAY_MAX, &n) || (n != 0 && n < 32)) {
			snprintf(err, errlen, "%s:%d: replay_window '%s' is not 0 (off) or a number in 32..%d",
				 cfg->file, line, v, ESP_REPLAY_MAX);
			return -EINVAL;
		}
		if (direction == ESP_DIR_ENCRYPT) {
			snprintf(err, errlen, "%s:%d: replay_window applies to direction = decrypt only", cfg->file,
				 line);
			return -EINVAL;
		}
		window = (uint32_t)n;
	}

	r = derive_iv_key(enc_key, auth_key, spi, iv_key);
	if (r) {
		snprintf(err, errlen, "%s:%d: nf '%s': no random bytes for the IV key: %s", cfg->file, cfg->line,
			 cfg->name, strerror(-r));
		return r;
	}

	struct nf_hdr *h = nf_blob_alloc(NF_T_IPSEC_ESP, sizeof(struct nf_ipsec_esp),
					 offsetof(struct nf_ipsec_esp, counters), ESP_C_MAX);
	if (!h)
		return -errno;
	struct nf_ipsec_esp *st = (struct nf_ipsec_esp *)h;
	st->direction = direction;
	st->spi = spi;
	st->tunnel_src = src;
	st->tunnel_dst = dst;
	st->mtu = mtu;
	st->replay_window = direction == ESP_DIR_DECRYPT ? window : 0;
	st->replay_slots = (st->replay_window + 31) / 32 + 1;
	aes_tables_init(&st->aes);
	aes128_expand_enc(&st->aes, enc_key, st->enc_rk);
	aes128_expand_dec(st->enc_rk, st->dec_rk);
	aes128_expand_enc(&st->aes, iv_key, st->iv_rk);
	hmac_sha1_precompute(auth_key, sizeof(auth_key), st->hmac_istate, st->hmac_ostate);
	esp_host_ni_keys(st->enc_rk, st->ni_enc_rk);
	esp_host_ni_keys(st->dec_rk, st->ni_dec_rk);
	esp_host_ni_keys(st->iv_rk, st->ni_iv_rk);
	st->host_accel = esp_accel_for_this_host();
	memset(enc_key, 0, sizeof(enc_key));
	memset(auth_key, 0, sizeof(auth_key));
	memset(iv_key, 0, sizeof(iv_key));
	*ret_state = h;
	return 0;
}

static const char *const esp_counters[] = {
	"encrypted", "decrypted", "auth_failed", "replay", "bad_spi", "malformed", "too_big", "seq_overflow", "not_ipv4",
};
_Static_assert(sizeof(esp_counters) / sizeof(esp_counters[0]) == ESP_C_MAX, "one name per counter");

/* Encrypting SAs spend one sequence number per packet, reserved per batch by the backends. */
static uint64_t *esp_seq_counter(struct nf_hdr *h)
{
	struct nf_ipsec_esp *st = (struct nf_ipsec_esp *)h;

	return st->direction == ESP_DIR_ENCRYPT ? &st->seq_last : NULL;
}

const struct nf_ops nf_ops_ipsec_esp = {
	.type_name = "ipsec_esp",
	.type = NF_T_IPSEC_ESP,
	.build = ipsec_esp_build,
	.counter_names = esp_counters,
	.seq_counter = esp_seq_counter,
};
