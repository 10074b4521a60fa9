/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fused SFC agents, compiled at run time. For one chain program this generates
 * CUDA C source of a kernel that calls the chain's NFs in order, directly (no
 * per-packet dispatch), with custom NFs (type = custom) included from their C
 * sources; compiles it with NVRTC (libnvrtc is dlopen'ed, optional) into a CUBIN
 * for the device's architecture; and keeps the result in an on-disk cache keyed
 * by SHA-256 of everything that went into it. Plain C: no CUDA headers needed,
 * and nothing here touches a GPU, so it works (and is tested) without one.
 */
#ifndef GEN_RTC_H
#define GEN_RTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../daemon/backend.h"

/* The kernel every fused agent defines: void gen_agent_fused(struct gpu_launch). */
#define RTC_KERNEL "gen_agent_fused"
/* Default limit on one compile that chain_create waits for (custom NFs), seconds. */
#define RTC_TIMEOUT_DEFAULT 60

/* The NF headers (and cuda/gpu_launch.h) embedded at build time. */
struct rtc_header {
	const char *name;
	const char *text;
	unsigned len;
};
extern const struct rtc_header rtc_headers[];
extern const unsigned rtc_nheaders;

/* One agent to build: the generated source and what it includes beyond the embedded headers. */
struct rtc_src {
	char *text;
	size_t len;
	uint32_t ncustom;
	char *custom_name[16]; /* include name = the source's absolute path */
	char *custom_text[16];
	char key[65];          /* SHA-256 hex of everything the CUBIN depends on, set by rtc_key() */
};

/* The outcome of rtc_build(). */
struct rtc_cubin {
	void *data;
	size_t size;
	bool cache_hit;
	bool cached;     /* the cache was usable (hit or written) */
	bool ptx;        /* PTX for the driver to JIT (the device is newer than NVRTC) */
	double ms;       /* compile, or cache read */
};

/* Process-wide counters, for tests and genctl. */
struct rtc_stats {
	uint64_t compiles;      /* NVRTC compilations started */
	uint64_t cache_hits;
	uint64_t cache_corrupt; /* cache files rejected (bad header, size or checksum) */
	uint64_t cache_writes;
};

/* 0 when libnvrtc can be loaded (env GEN_NVRTC names the library to try first); else -ENOENT and why. */
int rtc_available(char *why, size_t len);
/* The NVRTC version; 0 or -ENOENT. */
int rtc_version(int *major, int *minor);
/* Whether the program has an NF that only a fused agent can run (type custom). */
bool rtc_needs_fused(const struct chain_prog *prog);
/*
 * Generate the fused agent of prog (host state blobs: custom NFs are read from
 * their blob's source path) and compute its cache key for sm_<arch>. 0, or
 * -errno with a message in err.
 */
int rtc_generate(const struct chain_prog *prog, int arch, struct rtc_src *src, char *err, size_t errlen);
void rtc_src_free(struct rtc_src *src);
/*
 * The CUBIN of src for sm_<arch>: from the cache (nf/rtcache.h: $GEN_CACHE_DIR,
 * else /var/cache/gen; a directory that fails its checks is an error, -EPERM
 * and the like, with the reason in err) or compiled with NVRTC (and then
 * cached). On a compile error err holds NVRTC's log with lines as
 * FILE:LINE: ... and the result is -EINVAL.
 */
int rtc_build(const struct rtc_src *src, int arch, struct rtc_cubin *out, char *err, size_t errlen);
void rtc_cubin_free(struct rtc_cubin *c);
void rtc_stats_get(struct rtc_stats *s);

#endif
