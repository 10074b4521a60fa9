// SPDX-License-Identifier: GPL-2.0
/*
 * Fused SFC agents: source generation, NVRTC, on-disk CUBIN cache (see rtc.h).
 *
 * The generated kernel is the prebuilt rtc agent (agent.cu) with the per-packet
 * switch on the NF type replaced by direct calls in chain order, so NVRTC inlines
 * the whole chain into one loop body. State pointers still come from the Agent
 * Table entry (struct nf_chain in device memory), never from the source: the
 * source, and with it the cache key, depends only on the chain's NF types and on
 * the code, so every queue's copy of a chain and every restart share one CUBIN.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "rtc.h"
#include "gpu_launch.h"
#include "../nf/agent.h"
#include "../nf/custom.h"
#include "../nf/rtcache.h"

/* nf/custom_build.c provides these where custom NFs are built in. */
extern int nf_custom_read_source(const struct nf_hdr *h, char **ret_text, size_t *ret_len) __attribute__((weak));

#define RTC_CACHE_MAGIC "GENCUBIN"
#define RTC_CACHE_VERSION 1u

/* What precedes the CUBIN in a cache file: a torn or edited file fails the checksum. */
struct rtc_cache_hdr {
	char magic[8];
	uint32_t version;
	uint32_t ptx;
	uint64_t size;
	uint8_t sha256[32];
};
_Static_assert(sizeof(struct rtc_cache_hdr) == 56, "cache file header is on disk");

/* The NVRTC entry points used (declared here: no CUDA headers in this file). */
struct nvrtc {
	void *lib;
	int (*create)(void **prog, const char *src, const char *name, int nheaders, const char *const *headers,
		      const char *const *include_names);
	int (*compile)(void *prog, int nopts, const char *const *opts);
	int (*log_size)(void *prog, size_t *size);
	int (*log)(void *prog, char *log);
	int (*cubin_size)(void *prog, size_t *size);
	int (*cubin)(void *prog, char *cubin);
	int (*ptx_size)(void *prog, size_t *size);
	int (*ptx)(void *prog, char *ptx);
	int (*destroy)(void **prog);
	const char *(*err_str)(int result);
	int (*version)(int *major, int *minor);
	int (*num_archs)(int *n);
	int (*archs)(int *archs);
	int major, minor;
	int max_arch;
	char why[256];
	int status; /* 0 loaded, -ENOENT */
};

static struct {
	pthread_once_t once;
	struct nvrtc nv;
	_Atomic uint64_t compiles, hits, corrupt, writes;
} r = { .once = PTHREAD_ONCE_INIT };

static void nvrtc_load(void)
{
	static const char *const names[] = {
		"libnvrtc.so.13", "libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so.13", "/usr/local/cuda/lib64/libnvrtc.so",
		"libnvrtc.so.12",
	};
	struct nvrtc *nv = &r.nv;
	const char *env = getenv("GEN_NVRTC");

	nv->status = -ENOENT;
	if (env && *env) {
		/* An explicit choice is the only one tried: tests use it to take NVRTC away. */
		nv->lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
		if (!nv->lib) {
			snprintf(nv->why, sizeof(nv->why), "no NVRTC: GEN_NVRTC=%s: %s", env, dlerror());
			return;
		}
	}
	for (size_t i = 0; !nv->lib && i < sizeof(names) / sizeof(names[0]); i++)
		nv->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!nv->lib) {
		snprintf(nv->why, sizeof(nv->why), "no NVRTC (libnvrtc.so.13 not found)");
		return;
	}
#define SYM(f, s) (*(void **)&nv->f = dlsym(nv->lib, s))
	if (!SYM(create, "nvrtcCreateProgram") || !SYM(compile, "nvrtcCompileProgram") ||
	    !SYM(log_size, "nvrtcGetProgramLogSize") || !SYM(log, "nvrtcGetProgramLog") ||
	    !SYM(cubin_size, "nvrtcGetCUBINSize") || !SYM(cubin, "nvrtcGetCUBIN") || !SYM(ptx_size, "nvrtcGetPTXSize") ||
	    !SYM(ptx, "nvrtcGetPTX") || !SYM(destroy, "nvrtcDestroyProgram") || !SYM(err_str, "nvrtcGetErrorString") ||
	    !SYM(version, "nvrtcVersion") || !SYM(num_archs, "nvrtcGetNumSupportedArchs") ||
	    !SYM(archs, "nvrtcGetSupportedArchs")) {
		snprintf(nv->why, sizeof(nv->why), "no NVRTC: libnvrtc lacks an entry point: %s", dlerror());
		dlclose(nv->lib);
		nv->lib = NULL;
		return;
	}
#undef SYM
	int n = 0, archs[64];
	if (nv->version(&nv->major, &nv->minor) || nv->num_archs(&n) || n < 1 || n > 64 || nv->archs(archs)) {
		snprintf(nv->why, sizeof(nv->why), "no NVRTC: libnvrtc does not answer its version");
		return;
	}
	nv->max_arch = archs[n - 1];
	nv->status = 0;
}

int rtc_available(char *why, size_t len)
{
	pthread_once(&r.once, nvrtc_load);
	if (r.nv.status && why)
		snprintf(why, len, "%s", r.nv.why);
	return r.nv.status;
}

int rtc_version(int *major, int *minor)
{
	if (rtc_available(NULL, 0))
		return -ENOENT;
	*major = r.nv.major;
	*minor = r.nv.minor;
	return 0;
}

void rtc_stats_get(struct rtc_stats *s)
{
	s->compiles = atomic_load(&r.compiles);
	s->cache_hits = atomic_load(&r.hits);
	s->cache_corrupt = atomic_load(&r.corrupt);
	s->cache_writes = atomic_load(&r.writes);
}

bool rtc_needs_fused(const struct chain_prog *prog)
{
	for (uint32_t i = 0; i < prog->n && i < NF_CHAIN_MAX; i++)
		if (prog->type[i] == NF_T_CUSTOM)
			return true;
	return false;
}

static int rtc_key(struct rtc_src *src, int arch);

/* ---- source generation ---- */

struct strbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (!b->p || b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap : 4096);
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Header and entry point of each shipped NF type (nf/nf_list.h). */
#define NF_CODE_(NAME, name, head, tail, writes, binit) [NF_T_##NAME] = { #name ".h", "nf_" #name "_run" },
static const struct {
	const char *header, *fn;
} nf_code[NF_T_MAX] = { NF_LIST(NF_CODE_) };
#undef NF_CODE_

/* Custom NF i of the chain: its source, included once per distinct file (by path and hash). */
static int custom_add(struct rtc_src *src, const struct nf_hdr *h, struct strbuf *b, uint32_t nf, char *err,
		      size_t errlen)
{
	const struct nf_custom *c = (const struct nf_custom *)h;
	const char *path = (const char *)h + c->src_off;
	char *text = NULL;
	size_t len = 0;
	int e;

	if (c->src_off == 0 || c->src_len == 0 || (uint64_t)c->src_off + c->src_len > h->size ||
	    path[c->src_len - 1] != '\0') {
		snprintf(err, errlen, "custom NF %u: its state blob names no source file", nf);
		return -EINVAL;
	}
	for (uint32_t k = 0; k < src->ncustom; k++) {
		if (!strcmp(src->custom_name[k], path)) {
			sb_printf(b, "#define GEN_NF%u_ENTRY gen_nf_src%u::gen_nf_entry_%u\n", nf, k, k);
			return 0;
		}
	}
	if (src->ncustom >= 16) {
		snprintf(err, errlen, "custom NF %u: more than 16 custom sources in one chain", nf);
		return -E2BIG;
	}
	/* Read through the builder when it is linked in: it checks the file still is the code the cpu runs. */
	e = nf_custom_read_source ? nf_custom_read_source(h, &text, &len) : -ENOSYS;
	if (e) {
		snprintf(err, errlen, "%s: cannot read the custom NF's source: %s", path,
			 e == -ESTALE ? "the file changed since it was built (reload to rebuild)" : strerror(-e));
		return e;
	}
	uint32_t k = src->ncustom++;
	src->custom_name[k] = strdup(path);
	src->custom_text[k] = text;
	if (!src->custom_name[k])
		return -ENOMEM;
	/* A namespace per source: two authors may both name their struct `state`. */
	sb_printf(b, "#define GEN_NF_ID %u\n#define GEN_NF_DECLARED_SIZE %u\nnamespace gen_nf_src%u {\n#include \"%s\"\n}\n"
		     "#undef GEN_NF_ID\n#undef GEN_NF_DECLARED_SIZE\n#define GEN_NF%u_ENTRY gen_nf_src%u::gen_nf_entry_%u\n",
		  k, c->state_size, k, path, nf, k, k);
	return 0;
}

int rtc_generate(const struct chain_prog *prog, int arch, struct rtc_src *src, char *err, size_t errlen)
{
	struct strbuf b = { 0 };
	bool need[NF_T_MAX] = { false };
	int e = 0;

	memset(src, 0, sizeof(*src));
	if (prog->n > NF_CHAIN_MAX) {
		snprintf(err, errlen, "chain of %u NFs: at most %u", prog->n, NF_CHAIN_MAX);
		return -EINVAL;
	}
	sb_printf(&b, "// fused SFC agent, generated by gend for this chain's NF types\n");
	/* Bench override: nids checks port-keyed rules one lane per packet, as before the warp-wide loop. */
	if (getenv("GEN_NIDS_WARP_PORTS") && !strcmp(getenv("GEN_NIDS_WARP_PORTS"), "0"))
		sb_printf(&b, "#define NIDS_WARP_PORTS 0\n");
	sb_printf(&b, "#include \"nf.h\"\n#include \"gpu_launch.h\"\n");
	for (uint32_t i = 0; i < prog->n; i++) {
		uint32_t t = prog->type[i];

		if (t >= NF_T_MAX || (t != NF_T_CUSTOM && !nf_code[t].header)) {
			snprintf(err, errlen, "NF %u: type %u has no device code", i, t);
			e = -EINVAL;
			goto fail;
		}
		if (need[t])
			continue;
		need[t] = true;
		if (t == NF_T_CUSTOM)
			sb_printf(&b, "#include \"custom.h\"\n#include \"gen_nf.h\"\n");
		else
			sb_printf(&b, "#include \"%s\"\n", nf_code[t].header);
	}
	for (uint32_t i = 0; i < prog->n; i++) {
		if (prog->type[i] != NF_T_CUSTOM)
			continue;
		e = custom_add(src, prog->state[i], &b, i, err, errlen);
		if (e)
			goto fail;
	}
	/* The chain's NFs called directly, in order: NVRTC inlines the whole chain. */
	/*
	 * No early return: every live lane reaches each NF boundary, where the warp
	 * reconverges (gpu_nf_reconverge) before the next NF.
	 */
	sb_printf(&b, "\nstatic __device__ __forceinline__ int gen_fused_chain(void *const *s, const struct gpu_launch &l, "
		      "struct nf_pkt *p, uint32_t live)\n{\n\tint v = NF_PASS;\n");
	for (uint32_t i = 0; i < prog->n; i++) {
		if (i)
			sb_printf(&b, "\tgpu_nf_reconverge(l, live);\n");
		/* The batch's reservation for this NF (nf_pkt.batch_seq): a constant index into the parameter. */
		sb_printf(&b, "\tif (v == NF_PASS) {\n\t\tp->batch_seq = l.batch_seq[%u];\n", i);
		if (prog->type[i] == NF_T_CUSTOM)
			sb_printf(&b, "\t\tv = nf_custom_account((struct nf_custom *)s[%u], GEN_NF%u_ENTRY("
				      "nf_custom_state((struct nf_custom *)s[%u]), p)) == NF_PASS ? NF_PASS : NF_DROP;\n\t}\n",
				  i, i, i);
		else
			sb_printf(&b, "\t\tv = %s(s[%u], p) == NF_PASS ? NF_PASS : NF_DROP;\n\t}\n", nf_code[prog->type[i]].fn,
				  i);
	}
	sb_printf(&b, "\treturn v;\n}\n");
	/* The agent body is the prebuilt agent's (gpu_launch.h); only the chain differs. */
	/* Test override: blocks per SM the registers are sized for (4: 64 registers, 2: 128). */
	const char *mb = getenv("GEN_GPU_MINBLOCKS");
	int minblocks = mb ? atoi(mb) : 0;
	sb_printf(&b, "\n#define GEN_FUSED_MINBLOCKS %d\n", minblocks >= 1 && minblocks <= 8 ? minblocks : GPU_BLOCKS_PER_SM);
	sb_printf(&b, "\nextern \"C\" __global__ void __launch_bounds__(GPU_BLOCK_MAX, GEN_FUSED_MINBLOCKS) " RTC_KERNEL
		      "(struct gpu_launch l)\n{\n\t__shared__ void *s[%u];\n\n"
		      "\tif (threadIdx.x < %u)\n\t\ts[threadIdx.x] = (void *)(uintptr_t)l.chain->state[threadIdx.x];\n",
		  prog->n ? prog->n : 1, prog->n);
	/* Shared-memory tables: the first NF of each type that has them (nf_list.h: binit). */
#define NF_BINIT_(NAME, name, head, tail, writes, binit) [NF_T_##NAME] = binit ? "nf_" #name "_block_init" : NULL,
	static const char *const binit_fn[NF_T_MAX] = { NF_LIST(NF_BINIT_) };
#undef NF_BINIT_
	bool binit_done[NF_T_MAX] = { false };
	for (uint32_t i = 0; i < prog->n; i++) {
		uint32_t t = prog->type[i];

		if (t < NF_T_MAX && binit_fn[t] && !binit_done[t]) {
			binit_done[t] = true;
			sb_printf(&b, "\t%s((void *)(uintptr_t)l.chain->state[%u]);\n", binit_fn[t], i);
		}
	}
	sb_printf(&b, "\t__syncthreads();\n\tgpu_agent_body(l, [&](struct nf_pkt *p, uint32_t live) { return gen_fused_chain(s, l, p, live); });\n}\n");
	if (b.oom) {
		e = -ENOMEM;
		snprintf(err, errlen, "out of memory generating the fused agent");
		goto fail;
	}
	src->text = b.p;
	src->len = b.len;
	b.p = NULL;
	e = rtc_key(src, arch);
	if (e) {
		snprintf(err, errlen, "cannot hash the fused agent: %s", strerror(-e));
		goto fail;
	}
	return 0;
fail:
	free(b.p);
	rtc_src_free(src);
	return e;
}

void rtc_src_free(struct rtc_src *src)
{
	free(src->text);
	for (uint32_t k = 0; k < src->ncustom && k < 16; k++) {
		free(src->custom_name[k]);
		free(src->custom_text[k]);
	}
	memset(src, 0, sizeof(*src));
}

/* ---- cache key ---- */

/* The options NVRTC gets besides the architecture; part of the key. */
/* Line info costs nothing at run time and lets profilers name the NF source line. */
static const char *const rtc_opts[] = { "--std=c++17", "--extra-device-vectorization", "--generate-line-info" };

/*
 * SHA-256 of: the generated source, every embedded header, every custom source,
 * the architecture, NVRTC's version and the options. NVRTC may be absent here
 * (key still defined: "none"), then nothing is built anyway.
 */
static int rtc_key(struct rtc_src *src, int arch)
{
	struct rtcache_key k;
	char ver[32] = "none";
	int maj, min, e;

	e = rtcache_key_init(&k, "gen-fused-agent-v1");
	if (e)
		return e;
	if (!rtc_version(&maj, &min))
		snprintf(ver, sizeof(ver), "%d.%d", maj, min);
	rtcache_key_add(&k, "source", src->text, src->len);
	for (unsigned i = 0; i < rtc_nheaders; i++) {
		rtcache_key_add_str(&k, "header", rtc_headers[i].name);
		rtcache_key_add(&k, "text", rtc_headers[i].text, rtc_headers[i].len);
	}
	for (uint32_t i = 0; i < src->ncustom; i++) {
		rtcache_key_add_str(&k, "custom", src->custom_name[i]);
		rtcache_key_add_str(&k, "text", src->custom_text[i]);
	}
	rtcache_key_add(&k, "arch", &arch, sizeof(arch));
	rtcache_key_add_str(&k, "nvrtc", ver);
	for (size_t i = 0; i < sizeof(rtc_opts) / sizeof(rtc_opts[0]); i++)
		rtcache_key_add_str(&k, "opt", rtc_opts[i]);
	return rtcache_key_end(&k, src->key);
}

/* ---- on-disk cache (the directory and the rules for entries: nf/rtcache.h) ---- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void sha256(const void *d, size_t n, uint8_t out[32])
{
	unsigned len = 0;

	EVP_Digest(d, n, out, &len, EVP_sha256(), NULL);
}

/* 1 on a hit, 0 on a miss, -EBADMSG when the file is there but damaged or not to be trusted. */
static int cache_read(const char *path, struct rtc_cubin *out)
{
	struct rtc_cache_hdr h;
	uint8_t md[32];
	struct stat st;
	int fd;
	void *data = NULL;

	if (!rtcache_entry_ok(path))
		return lstat(path, &st) ? 0 : -EBADMSG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || (size_t)st.st_size < sizeof(h) || read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) ||
	    memcmp(h.magic, RTC_CACHE_MAGIC, 8) || h.version != RTC_CACHE_VERSION ||
	    h.size != (uint64_t)st.st_size - sizeof(h) || h.size == 0)
		goto bad;
	data = malloc(h.size);
	if (!data || read(fd, data, h.size) != (ssize_t)h.size)
		goto bad;
	sha256(data, h.size, md);
	if (memcmp(md, h.sha256, 32))
		goto bad;
	close(fd);
	out->data = data;
	out->size = h.size;
	out->ptx = h.ptx;
	return 1;
bad:
	free(data);
	close(fd);
	return -EBADMSG;
}

static int cache_write(const char *path, const struct rtc_cubin *c)
{
	struct rtc_cache_hdr h = { .version = RTC_CACHE_VERSION, .ptx = c->ptx, .size = c->size };
	int e;

	memcpy(h.magic, RTC_CACHE_MAGIC, 8);
	sha256(c->data, c->size, h.sha256);
	e = rtcache_write(path, &h, sizeof(h), c->data, c->size);
	if (!e)
		atomic_fetch_add(&r.writes, 1);
	return e;
}

/* ---- NVRTC ---- */

/*
 * NVRTC writes "name(LINE): error: ..."; the rest of gend speaks FILE:LINE:.
 * Copy the log into err with that rewrite, custom sources first in line.
 */
static void log_to_err(const char *log, char *err, size_t errlen)
{
	size_t o = 0;

	for (const char *l = log; *l && o + 1 < errlen;) {
		const char *eol = strchr(l, '\n');
		size_t n = eol ? (size_t)(eol - l) : strlen(l);
		const char *paren = memchr(l, '(', n);
		char line[1024];
		unsigned ln;
		int c = 0;

		if (n && paren && sscanf(paren, "(%u): %n", &ln, &c) == 1 && c > 0 && (size_t)(paren - l) + c <= n)
			snprintf(line, sizeof(line), "%.*s:%u: %.*s", (int)(paren - l), l, ln, (int)(n - (paren - l) - c),
				 paren + c);
		else
			snprintf(line, sizeof(line), "%.*s", (int)n, l);
		if (line[0])
			o += (size_t)snprintf(err + o, errlen - o, "%s%s", o ? "\n" : "", line);
		l += n + (eol ? 1 : 0);
	}
	if (o >= errlen && errlen)
		err[errlen - 1] = '\0';
}

static int nvrtc_compile(const struct rtc_src *src, int arch, struct rtc_cubin *out, char *err, size_t errlen)
{
	struct nvrtc *nv = &r.nv;
	const char *names[64], *texts[64];
	const char *opts[8];
	char archopt[48];
	int nh = 0, nopts = 0, e;
	void *prog = NULL;
	size_t n = 0;

	for (unsigned i = 0; i < rtc_nheaders && nh < 48; i++, nh++) {
		names[nh] = rtc_headers[i].name;
		texts[nh] = rtc_headers[i].text;
	}
	for (uint32_t k = 0; k < src->ncustom; k++, nh++) {
		names[nh] = src->custom_name[k];
		texts[nh] = src->custom_text[k];
	}
	/* A device newer than this NVRTC gets PTX of the newest architecture NVRTC knows; the driver JITs it. */
	out->ptx = arch > nv->max_arch;
	snprintf(archopt, sizeof(archopt), "--gpu-architecture=%s_%d", out->ptx ? "compute" : "sm",
		 out->ptx ? nv->max_arch : arch);
	opts[nopts++] = archopt;
	for (size_t i = 0; i < sizeof(rtc_opts) / sizeof(rtc_opts[0]); i++)
		opts[nopts++] = rtc_opts[i];

	atomic_fetch_add(&r.compiles, 1);
	e = nv->create(&prog, src->text, "gen_fused_agent.cu", nh, texts, names);
	if (e) {
		snprintf(err, errlen, "nvrtcCreateProgram: %s", nv->err_str(e));
		return -EIO;
	}
	e = nv->compile(prog, nopts, opts);
	if (e) {
		char *log = NULL;

		if (!nv->log_size(prog, &n) && n > 1 && (log = calloc(1, n + 1)) && !nv->log(prog, log))
			log_to_err(log, err, errlen);
		else
			snprintf(err, errlen, "nvrtcCompileProgram: %s", nv->err_str(e));
		free(log);
		nv->destroy(&prog);
		return -EINVAL;
	}
	e = out->ptx ? nv->ptx_size(prog, &n) : nv->cubin_size(prog, &n);
	if (!e && n) {
		out->data = malloc(n);
		if (!out->data)
			e = -1;
		else
			e = out->ptx ? nv->ptx(prog, out->data) : nv->cubin(prog, out->data);
	}
	nv->destroy(&prog);
	if (e || !n) {
		free(out->data);
		out->data = NULL;
		snprintf(err, errlen, "NVRTC produced no %s", out->ptx ? "PTX" : "CUBIN");
		return -EIO;
	}
	out->size = n;
	return 0;
}

int rtc_build(const struct rtc_src *src, int arch, struct rtc_cubin *out, char *err, size_t errlen)
{
	struct timespec t0;
	char dir[4096], path[4200];
	int e;

	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = rtcache_dir(dir, sizeof(dir), err, errlen);
	if (e)
		return e;
	e = rtcache_path(dir, src->key, "cubin", path, sizeof(path));
	if (e) {
		snprintf(err, errlen, "cache directory '%s': name too long", dir);
		return e;
	}
	e = cache_read(path, out);
	if (e == 1) {
		atomic_fetch_add(&r.hits, 1);
		out->cache_hit = out->cached = true;
		out->ms = ms_since(&t0);
		return 0;
	}
	if (e == -EBADMSG) {
		atomic_fetch_add(&r.corrupt, 1); /* recompiled below, and replaced */
		unlink(path);
	}
	if (rtc_available(err, errlen))
		return -ENOENT;
	e = nvrtc_compile(src, arch, out, err, errlen);
	if (e)
		return e;
	out->cached = !cache_write(path, out);
	out->ms = ms_since(&t0);
	return 0;
}

void rtc_cubin_free(struct rtc_cubin *c)
{
	free(c->data);
	memset(c, 0, sizeof(*c));
}
