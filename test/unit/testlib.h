/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the unit tests share: where their data is (the source tree, the Snort
 * community rules), NF construction, a reproducible generator, hex vectors,
 * and Internet checksums. Plain C, no Criterion: a helper that fails returns
 * an error and the test asserts on it.
 */
#ifndef GEN_TESTLIB_H
#define GEN_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nf/nf.h"
#include "nf/registry.h"

/*
 * The source tree: $GEN_SOURCE_DIR, else the first directory at or above the
 * working directory that holds nf/gen_nf.h (a build tree inside the checkout,
 * or a copy run from a checkout), else the one this build was configured from.
 * NULL when none is there (a build copied elsewhere: set the variable).
 */
const char *tl_source_dir(void);
/* rel under the source tree in buf; 0, or -ENOENT (buf then names what was looked for). */
int tl_source_path(const char *rel, char *buf, size_t len);
/*
 * Custom NFs compile against the source tree's nf/gen_nf.h: point
 * GEN_NF_INCLUDE there unless it is set. 0, or -ENOENT without a source tree.
 */
int tl_nf_include_from_source(void);
/* A whole file, NUL-terminated (malloc'ed); NULL + errno. */
char *tl_slurp(const char *path, size_t *ret_len);

/*
 * The Snort community rules: $GEN_SHARED_DATA, else the build's GEN_SHARED_DATA,
 * + /snort-community/community.rules. Returns the path when it can be read,
 * else NULL with the path looked at in *ret_tried.
 */
const char *tl_community_rules(const char **ret_tried);
/* In a Criterion test: the community rules' path, or skip (fail under CI, where they are laid out). */
#define tl_require_community_rules()                                                     \
	({                                                                               \
		const char *tl_tried_, *tl_path_ = tl_community_rules(&tl_tried_);       \
		if (!tl_path_) {                                                         \
			if (getenv("CI"))                                                \
				cr_assert_fail("%s is missing", tl_tried_);              \
			cr_skip_test("Snort community rules not found at %s", tl_tried_); \
		}                                                                        \
		tl_path_;                                                                \
	})

/*
 * Build one NF of type from key = value pairs (lines 2, 3, ... of "test.ini",
 * relative paths under base_dir, NULL for "/"). NULL with the builder's
 * message in err when it fails or type is not registered.
 */
struct nf_hdr *tl_nf_build(const char *type, const struct nf_kv *kv, int nkv, const char *base_dir, char *err,
			   size_t errlen);

/* The same from a NULL-terminated list of key, value, key, value, ... */
struct nf_hdr *tl_nf_make(const char *type, const char *const *pairs, char *err, size_t errlen);
/* A copy of a state blob, 64-byte aligned like a built one; NULL when out of memory. */
struct nf_hdr *tl_blob_dup(const struct nf_hdr *h);
/*
 * A hand-over's view: into a copy of before (the blob as built), only after's
 * live spans (nf_live_spans) are copied. Returns the spans' bytes, and in
 * *differs the first byte where the copy and after still differ (a byte packets
 * wrote outside the spans), or UINT64_MAX when they are equal.
 */
uint64_t tl_live_cover(const struct nf_hdr *before, const struct nf_hdr *after, uint64_t *differs);

/* xorshift64* (Vigna): reproducible, seeded by the caller; *state must not be 0. */
static inline uint64_t tl_rnd(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

void tl_rnd_bytes(uint64_t *state, uint8_t *b, size_t n);

/* 2n hex digits into n bytes; 0, or -EINVAL when s is not exactly that. */
int tl_unhex(const char *s, uint8_t *out, size_t n);

/* RFC 1071: the 16-bit ones'-complement sum of p (an odd tail padded with 0), folded, not inverted. */
uint16_t tl_csum_fold(const void *p, size_t n);
/* The checksum to store: ~tl_csum_fold. A header holding its right checksum sums to 0xffff. */
static inline uint16_t tl_csum(const void *p, size_t n)
{
	return (uint16_t)~tl_csum_fold(p, n);
}

/*
 * A frame the gpu backend left (g) against the cpu's (c), frame_size bytes,
 * the packet at frame offsets [in0, in0 + in_len) before the chain and
 * [out0, out0 + out_len) after it. Every byte must match, except, with
 * zero_ok (the gather's GPU_EDGES_ZERO), a byte the gpu left 0 that lies in a
 * 16-byte chunk of the packet after, outside that packet and outside the
 * chunks that held it before: the room a grown packet's edge chunks share
 * with it. The offset of the first byte that breaks this, or -1.
 */
static inline long tl_frame_diff(const uint8_t *g, const uint8_t *c, size_t frame_size, size_t in0, size_t in_len,
				 size_t out0, size_t out_len, bool zero_ok)
{
	size_t i0 = in0 & ~(size_t)15, i1 = (in0 + in_len + 15) & ~(size_t)15;
	size_t o0 = out0 & ~(size_t)15, o1 = (out0 + out_len + 15) & ~(size_t)15;

	for (size_t x = 0; x < frame_size; x++) {
		if (g[x] == c[x])
			continue;
		bool room = x >= o0 && x < o1 && (x < i0 || x >= i1) && (x < out0 || x >= out0 + out_len);
		if (!(zero_ok && room && g[x] == 0))
			return (long)x;
	}
	return -1;
}

#endif
