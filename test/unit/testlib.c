// SPDX-License-Identifier: GPL-2.0
/* Shared unit-test helpers (see testlib.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testlib.h"
#include "test/bench/pktgen.h"

#ifndef GEN_SOURCE_DIR
#define GEN_SOURCE_DIR ""
#endif
#ifndef GEN_SHARED_DATA
#define GEN_SHARED_DATA ""
#endif

static bool is_source_tree(const char *dir)
{
	char p[PATH_MAX];

	return dir && dir[0] && (size_t)snprintf(p, sizeof(p), "%s/nf/gen_nf.h", dir) < sizeof(p) &&
	       access(p, R_OK) == 0;
}

const char *tl_source_dir(void)
{
	static char found[PATH_MAX];
	const char *e = getenv("GEN_SOURCE_DIR");
	char *slash;

	if (e && e[0])
		return is_source_tree(e) ? e : NULL; /* named explicitly: no guessing past it */
	if (getcwd(found, sizeof(found))) {
		for (;;) {
			if (is_source_tree(found))
				return found;
			slash = strrchr(found, '/');
			if (!slash || slash == found)
				break;
			*slash = '\0';
		}
	}
	return is_source_tree(GEN_SOURCE_DIR) ? GEN_SOURCE_DIR : NULL;
}

int tl_source_path(const char *rel, char *buf, size_t len)
{
	const char *src = tl_source_dir();

	if (!src) {
		snprintf(buf, len, "%s (no source tree: set GEN_SOURCE_DIR)", rel);
		return -ENOENT;
	}
	snprintf(buf, len, "%s/%s", src, rel);
	return access(buf, R_OK) ? -ENOENT : 0;
}

int tl_nf_include_from_source(void)
{
	char inc[PATH_MAX];
	const char *e = getenv("GEN_NF_INCLUDE");

	if (e && e[0])
		return 0;
	if (tl_source_path("nf", inc, sizeof(inc)))
		return -ENOENT;
	return setenv("GEN_NF_INCLUDE", inc, 1) ? -errno : 0;
}

char *tl_slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc((size_t)n + 1);
	if (!buf)
		goto out;
	len = fread(buf, 1, (size_t)n, f);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
out:
	fclose(f);
	return buf;
}

const char *tl_community_rules(const char **ret_tried)
{
	static char path[PATH_MAX];
	const char *e = getenv("GEN_SHARED_DATA");

	snprintf(path, sizeof(path), "%s/snort-community/community.rules", e && e[0] ? e : GEN_SHARED_DATA);
	if (ret_tried)
		*ret_tried = path;
	return access(path, R_OK) ? NULL : path;
}

struct nf_hdr *tl_nf_build(const char *type, const struct nf_kv *kv, int nkv, const char *base_dir, char *err,
			   size_t errlen)
{
	const struct nf_ops *ops = nf_ops_find(type);
	struct nf_cfg cfg = { .name = type, .file = "test.ini", .line = 1, .kv = kv, .nkv = nkv,
			      .base_dir = base_dir ? base_dir : "/" };
	struct nf_hdr *h = NULL;

	if (!ops) {
		snprintf(err, errlen, "no NF type '%s'", type);
		return NULL;
	}
	if (ops->build(&cfg, &h, err, errlen))
		return NULL;
	return h;
}

struct nf_hdr *tl_nf_make(const char *type, const char *const *pairs, char *err, size_t errlen)
{
	struct nf_kv kv[32];
	int n = 0;

	for (; pairs && pairs[2 * n]; n++) {
		if (n == 32) {
			snprintf(err, errlen, "more than 32 keys");
			return NULL;
		}
		kv[n] = (struct nf_kv){ pairs[2 * n], pairs[2 * n + 1], 2 + n };
	}
	return tl_nf_build(type, kv, n, "/", err, errlen);
}

uint64_t tl_live_cover(const struct nf_hdr *before, const struct nf_hdr *after, uint64_t *differs)
{
	struct nf_span sp[NF_SPANS_MAX];
	struct nf_hdr *c = tl_blob_dup(before);
	uint32_t n = nf_live_spans(after, sp);
	uint64_t bytes = 0;

	*differs = UINT64_MAX;
	if (!c)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		memcpy((uint8_t *)c + sp[i].off, (const uint8_t *)after + sp[i].off, sp[i].len);
		bytes += sp[i].len;
	}
	for (uint64_t b = 0; b < after->size; b++)
		if (((const uint8_t *)c)[b] != ((const uint8_t *)after)[b]) {
			*differs = b;
			break;
		}
	free(c);
	return bytes;
}

struct nf_hdr *tl_blob_dup(const struct nf_hdr *h)
{
	struct nf_hdr *c = aligned_alloc(64, (h->size + 63) & ~(size_t)63);

	if (c)
		memcpy(c, h, h->size);
	return c;
}

void tl_rnd_bytes(uint64_t *state, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(tl_rnd(state) >> 56);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tl_unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

uint16_t tl_csum_fold(const void *p, size_t n)
{
	/* The traffic generator's RFC 1071 sum, not inverted. */
	return (uint16_t)~pktgen_csum(p, (uint32_t)n);
}
