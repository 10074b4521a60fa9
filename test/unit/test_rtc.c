// SPDX-License-Identifier: GPL-2.0
/*
 * Fused SFC agents (cuda/rtc.c, cuda/fused.c). Without a GPU: the generated
 * agent of every NF and of the paper's chain compiles with NVRTC, the CUBIN cache
 * hits, detects a damaged file and recompiles, and a custom NF that NVRTC rejects
 * gives its FILE:LINE. With a GPU: the fused agent's packets, verdicts and
 * counters are byte-identical to the generic agent's and to backend_cpu_run for
 * every NF, the paper's chain and a custom NF; a second chain_create is a cache
 * hit (no NVRTC call); auto mode switches to the fused agent; a custom NF that
 * does not compile makes chain_create fail with the compiler's line.
 * Each part skips with the reason when NVRTC or the GPU is missing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "daemon/backend.h"
#include "nf/agent.h"
#include "nf/registry.h"
#include "test/bench/pktgen.h"
#include "testlib.h"
#ifdef GEN_HAVE_CUDA
#include "cuda/backend_gpu.h"
#include "cuda/rtc.h"
#endif

#ifndef GEN_HAVE_CUDA
Test(rtc, skipped)
{
	cr_skip_test("built without CUDA: no fused agents");
}
#else

static char tmpdir[64];

/* A private cache (and work) directory per test process, 0700 like the real one. */
static void fresh_cache(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gen_rtc_XXXXXX");
	cr_assert(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
	setenv("GEN_CACHE_DIR", tmpdir, 1);
	/* Custom NFs compile against the source tree's headers, wherever the build was copied. */
	tl_nf_include_from_source();
}

static const struct backend_ops *gpu;

static void cleanup(void)
{
	char cmd[128];

	/*
	 * A background fused-agent compile still running at exit() crashes in
	 * NVRTC, and an exit handler does not prevent it: shut the backend down
	 * first, as gend's rt_stop does, and before the cache goes.
	 */
	if (gpu && gpu->shutdown)
		gpu->shutdown();
	if (!tmpdir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		cr_log_warn("could not remove %s", tmpdir);
}

static void nvrtc_require(void)
{
	char why[256];

	if (rtc_available(why, sizeof(why)))
		cr_skip_test("%s", why);
	fresh_cache();
}

static void gpu_require(void)
{
	char why[256];

	if (!backend_gpu || gpu_backend_probe(why, sizeof(why)))
		cr_skip_test("no CUDA device: %s", backend_gpu ? why : "built without CUDA");
	nvrtc_require();
	gpu = backend_gpu;
}

/* ---- NF states ---- */

static const char *write_file(const char *name, const char *text)
{
	static char paths[8][128];
	static int k;
	char *p = paths[k++ % 8];
	FILE *f;

	snprintf(p, 128, "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	cr_assert(f, "%s: %s", p, strerror(errno));
	fputs(text, f);
	fclose(f);
	chmod(p, 0644);
	return p;
}

static struct nf_hdr *nf_make(const char *type, const char *const *kv)
{
	char err[2048] = "";
	struct nf_hdr *h = tl_nf_make(type, kv, err, sizeof(err));

	cr_assert(h, "building %s: %s", type, err);
	return h;
}

static struct nf_hdr *blob_dup(const struct nf_hdr *h)
{
	struct nf_hdr *c = tl_blob_dup(h);

	cr_assert(c);
	return c;
}

static struct nf_hdr *make_router(void)
{
	const char *kv[] = { "routes", write_file("routes", "10.0.0.0/8 02:00:00:00:00:01\n10.1.0.0/16 02:00:00:00:00:02\n"
							    "192.168.1.0/24 02:00:00:00:00:04\n8.8.8.8/32 02:00:00:00:00:06\n"),
			     NULL };
	return nf_make("ipv4_router", kv);
}

static struct nf_hdr *make_nids(void)
{
	const char *kv[] = { "rules",
			     write_file("rules", "alert tcp any any -> any any (msg:\"evil\"; content:\"EVILPAYLOAD\"; sid:1000001; rev:1;)\n"
						 "alert udp any any -> any any (msg:\"cmd\"; content:\"cmd.exe\"; sid:1000003; rev:1;)\n"),
			     "action", "drop", NULL };
	return nf_make("nids", kv);
}

static struct nf_hdr *make_esp(void)
{
	static const char *const kv[] = { "direction", "encrypt", "spi", "0x1001", "enc_key",
					  "000102030405060708090a0b0c0d0e0f", "auth_key",
					  "101112131415161718191a1b1c1d1e1f20212223", "tunnel_src", "192.0.2.1",
					  "tunnel_dst", "192.0.2.2", NULL };
	return nf_make("ipsec_esp", kv);
}

static struct nf_hdr *make_firewall(void)
{
	const char *kv[] = { "rules", write_file("fw", "deny proto tcp dport 22\nallow proto udp dport 53\nallow src 10.0.0.0/8\n"),
			     "default", "deny", NULL };
	return nf_make("firewall", kv);
}

static struct nf_hdr *make_l2(void)
{
	static const char *const kv[] = { "dst_mac", "02:11:22:33:44:55", "src_mac", "02:66:77:88:99:aa", NULL };
	return nf_make("l2_rewrite", kv);
}

/* A custom NF from text, built by the cpu builder (cc) exactly as gend builds it. */
static struct nf_hdr *make_custom(const char *name, const char *text, const char *params)
{
	const char *kv[] = { "source", write_file(name, text), "params", params, NULL };

	if (!nf_ops_find("custom"))
		cr_skip_test("custom NFs are not built in");
	return nf_make("custom", kv);
}

/* A file of the source tree (testlib.h says where that is). */
static char *source_text(const char *rel)
{
	static char *text;
	char path[4096];

	cr_assert_eq(tl_source_path(rel, path, sizeof(path)), 0, "%s: not found", path);
	free(text);
	text = tl_slurp(path, NULL);
	cr_assert(text, "%s: %s", path, strerror(errno));
	return text;
}

/* ---- NVRTC only (no GPU) ---- */

static void build_ok(const struct chain_prog *p, struct rtc_cubin *c)
{
	struct rtc_src src;
	static char err[8192];

	cr_assert_eq(rtc_generate(p, 90, &src, err, sizeof(err)), 0, "generate: %s", err);
	int e = rtc_build(&src, 90, c, err, sizeof(err));
	cr_assert_eq(e, 0, "NVRTC rejected the fused agent (%d):\n%s\nsource:\n%s", e, err, src.text);
	cr_assert(c->data && c->size > 0);
	cr_log_info("%.16s: %s in %.1f ms, %zu bytes", src.key, c->cache_hit ? "cache hit" : "compiled", c->ms, c->size);
	rtc_src_free(&src);
}

/* One chain with every shipped NF type: all their device code goes through NVRTC. */
Test(rtc, every_nf_compiles, .fini = cleanup, .timeout = 300)
{
	struct rtc_cubin c;

	nvrtc_require();
	struct chain_prog p = { .n = 7,
				.type = { NF_T_L2_REWRITE, NF_T_TTL_DEC, NF_T_IPV4_ROUTER, NF_T_NIDS, NF_T_IPSEC_ESP,
					  NF_T_FIREWALL, NF_T_FLOWMON } };
	build_ok(&p, &c);
	cr_assert(!c.cache_hit);
	rtc_cubin_free(&c);
}

/* Cold compile, hit without NVRTC, damaged file detected and replaced. */
Test(rtc, cache_hit_and_corruption, .fini = cleanup, .timeout = 300)
{
	struct chain_prog p = { .n = 3, .type = { NF_T_IPV4_ROUTER, NF_T_NIDS, NF_T_IPSEC_ESP } };
	struct rtc_stats s0, s1;
	struct rtc_cubin c;
	struct rtc_src src;
	char err[512], path[256];

	nvrtc_require();
	rtc_stats_get(&s0);
	build_ok(&p, &c);
	cr_assert(!c.cache_hit && c.cached);
	rtc_cubin_free(&c);
	rtc_stats_get(&s1);
	cr_assert_eq(s1.compiles, s0.compiles + 1);

	build_ok(&p, &c);
	cr_assert(c.cache_hit, "second build was not a cache hit");
	size_t size = c.size;
	rtc_cubin_free(&c);
	rtc_stats_get(&s1);
	cr_assert_eq(s1.compiles, s0.compiles + 1, "a cache hit ran NVRTC");
	cr_assert_eq(s1.cache_hits, s0.cache_hits + 1);

	/* The same chain for another architecture is another entry. */
	cr_assert_eq(rtc_generate(&p, 90, &src, err, sizeof(err)), 0);
	char key90[65];
	memcpy(key90, src.key, 65);
	rtc_src_free(&src);
	cr_assert_eq(rtc_generate(&p, 80, &src, err, sizeof(err)), 0);
	cr_assert_str_neq(src.key, key90);
	rtc_src_free(&src);

	/* Flip one byte of the CUBIN in the cache file. */
	snprintf(path, sizeof(path), "%s/%s.cubin", tmpdir, key90);
	cr_assert_eq(chmod(path, 0600), 0, "%s: %s", path, strerror(errno)); /* entries are stored read-only */
	int fd = open(path, O_RDWR);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, 56 + size / 2), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, 56 + size / 2), 1);
	close(fd);
	build_ok(&p, &c);
	cr_assert(!c.cache_hit, "a damaged cache file was used");
	rtc_cubin_free(&c);
	rtc_stats_get(&s1);
	cr_assert_eq(s1.cache_corrupt, s0.cache_corrupt + 1);
	cr_assert_eq(s1.compiles, s0.compiles + 2);

	/* Truncated file: same. Then the rewritten entry hits again. */
	cr_assert_eq(truncate(path, 30), 0);
	build_ok(&p, &c);
	cr_assert(!c.cache_hit);
	rtc_cubin_free(&c);
	build_ok(&p, &c);
	cr_assert(c.cache_hit);
	rtc_cubin_free(&c);
	rtc_stats_get(&s1);
	cr_assert_eq(s1.cache_corrupt, s0.cache_corrupt + 2);
	cr_assert_eq(s1.compiles, s0.compiles + 3);
}

/* Valid C (the cpu build accepts it), not valid for NVRTC (C++): the error names the line. */
static const char bad_custom[] =
	"#include <gen_nf.h>\n"

/* The time every batch here is stamped with (nf_pkt.now): a fixed one, the same on every backend. */
#define GEN_TEST_NOW 1764547200000000000ull
	"struct st { uint32_t params[8]; };\n"
	"NF_FN int bad(struct st *s, struct nf_pkt *p)\n"
	"{\n"
	"	void *v = p->buf;\n"
	"	uint8_t *d = v;\n"
	"	return d[0] == 1 ? NF_DROP : NF_PASS;\n"
	"}\n"
	"GEN_NF(bad, struct st);\n";

Test(rtc, custom_compile_error_names_line, .fini = cleanup, .timeout = 300)
{
	struct rtc_src src;
	struct rtc_cubin c;
	char err[8192], want[256];

	nvrtc_require();
	struct nf_hdr *h = make_custom("bad_nf.c", bad_custom, "1");
	struct chain_prog p = { .n = 2, .type = { NF_T_TTL_DEC, NF_T_CUSTOM }, .state = { h, h } };
	p.state[0] = nf_make("ttl_dec", NULL);
	cr_assert_eq(rtc_generate(&p, 90, &src, err, sizeof(err)), 0, "%s", err);
	int e = rtc_build(&src, 90, &c, err, sizeof(err));
	cr_assert_eq(e, -EINVAL, "NVRTC accepted C that is not C++ (%d)", e);
	snprintf(want, sizeof(want), "%s/bad_nf.c:6: error", tmpdir);
	cr_assert(strstr(err, want), "no '%s' in:\n%s", want, err);
	rtc_src_free(&src);
	free(h);
	free(p.state[0]);
}

/* The shipped example compiles as a fused agent too. */
Test(rtc, custom_example_compiles, .fini = cleanup, .timeout = 300)
{
	struct rtc_cubin c;

	nvrtc_require();
	struct nf_hdr *h = make_custom("dscp_marker.c", source_text("etc/gen/nf/dscp_marker.c"), "46");
	struct nf_hdr *h2 = make_custom("ttl_guard.c", source_text("etc/gen/nf/ttl_guard.c"), "3");
	struct chain_prog p = { .n = 3, .type = { NF_T_CUSTOM, NF_T_TTL_DEC, NF_T_CUSTOM }, .state = { h, NULL, h2 } };
	p.state[1] = nf_make("ttl_dec", NULL);
	build_ok(&p, &c);
	rtc_cubin_free(&c);
	free(h);
	free(h2);
	free(p.state[1]);
}

/* ---- on the GPU ---- */

#define NPKT 2000
static const char *const contents[] = { "EVILPAYLOAD", "cmd.exe" };

struct run {
	uint8_t *umem;
	struct gen_desc d[NPKT];
	struct nf_hdr *st[NF_CHAIN_MAX]; /* the state the run started from, then its end state */
};

static size_t usize = (size_t)NPKT * PKTGEN_FRAME;

static void run_init(struct run *r, const uint8_t *in, const struct gen_desc *din, uint32_t n,
		     struct nf_hdr *const *blobs, uint32_t nnf, struct chain_prog *p)
{
	if (!r->umem) {
		r->umem = mmap(NULL, usize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		cr_assert(r->umem != MAP_FAILED);
	}
	memcpy(r->umem, in, usize);
	memcpy(r->d, din, n * sizeof(*din));
	memset(p, 0, sizeof(*p));
	p->n = nnf;
	p->mini_batch = 128;
	for (uint32_t i = 0; i < nnf; i++) {
		free(r->st[i]);
		r->st[i] = blob_dup(blobs[i]);
		p->type[i] = blobs[i]->type;
		p->state[i] = r->st[i];
	}
}

static void wait_one(struct backend_chain *bc, struct gen_desc *want, uint32_t n)
{
	struct gen_desc *got;
	uint32_t k;
	time_t t0 = time(NULL);
	int r;

	while ((r = gpu->complete(bc, &got, &k)) == 0)
		cr_assert(time(NULL) - t0 < 60, "batch did not complete");
	cr_assert_eq(r, 1, "batch failed on the gpu: %s", gpu->last_error(bc));
	cr_assert_eq(got, want);
	cr_assert_eq(k, n);
}

/* Run on the gpu with agent `agent`; one packet per batch when `serial` (order-dependent NFs). */
static void run_gpu(struct run *r, struct chain_prog *p, uint32_t n, const char *agent, bool serial)
{
	char desc[256];

	setenv("GEN_GPU_AGENT", agent, 1);
	cr_assert_eq(gpu->umem_attach(r->umem, usize, PKTGEN_FRAME), 0);
	char err[2048] = "";
	struct backend_chain *bc = gpu->chain_create(p, r->umem, usize, PKTGEN_FRAME, err, sizeof(err));
	cr_assert(bc, "chain_create (%s agent): %s: %s", agent, strerror(errno), err);
	gpu->describe(bc, desc, sizeof(desc));
	cr_assert(strstr(desc, !strcmp(agent, "fused") ? ": fused agent" : ": generic agent"), "%s", desc);
	for (uint32_t i = 0; i < n; i += serial ? 1 : n) {
		uint32_t k = serial ? 1 : n;
		cr_assert_eq(gpu->submit(bc, r->d + i, k, GEN_TEST_NOW), 0);
		wait_one(bc, r->d + i, k);
	}
	for (uint32_t i = 0; i < p->n; i++)
		cr_assert_eq(gpu->state_read(bc, i, r->st[i], 0, r->st[i]->size), 0);
	gpu->chain_destroy(bc);
	gpu->umem_detach(r->umem);
}

/*
 * a: a gpu run, b: the cpu's, from the packets din. Frames compare byte for
 * byte but for the zeros the gather may leave beside a grown packet
 * (tl_frame_diff; cuda/gpu_launch.h, GPU_EDGES_ZERO).
 */
static void same(const struct run *a, const struct run *b, const struct gen_desc *din, uint32_t n, uint32_t nnf,
		 const char *what)
{
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(a->d[i].verdict, b->d[i].verdict, "%s: packet %u verdict", what, i);
		cr_assert_eq(a->d[i].addr, b->d[i].addr, "%s: packet %u addr", what, i);
		cr_assert_eq(a->d[i].len, b->d[i].len, "%s: packet %u len", what, i);
	}
	for (uint32_t i = 0; i < n; i++) {
		size_t f = din[i].addr - din[i].addr % PKTGEN_FRAME;
		long x = tl_frame_diff(a->umem + f, b->umem + f, PKTGEN_FRAME, din[i].addr - f, din[i].len,
				       a->d[i].addr - f, a->d[i].len, true);

		cr_assert(x < 0, "%s: packet %u: its frame differs (frame byte %ld)", what, i, x);
	}
	cr_assert(!memcmp(a->umem + (size_t)n * PKTGEN_FRAME, b->umem + (size_t)n * PKTGEN_FRAME,
			  usize - (size_t)n * PKTGEN_FRAME),
		  "%s: frames past the batch differ", what);
	for (uint32_t i = 0; i < nnf; i++) {
		const struct nf_hdr *x = a->st[i], *y = b->st[i];
		const uint64_t *cx = NF_AT(x, x->counters_off, const uint64_t *);
		const uint64_t *cy = NF_AT(y, y->counters_off, const uint64_t *);
		for (uint32_t k = 0; k < x->ncounters; k++)
			cr_assert_eq(cx[k], cy[k], "%s: nf %u counter %u: %lu vs %lu", what, i, k, (unsigned long)cx[k],
				     (unsigned long)cy[k]);
	}
}

/*
 * cpu (backend_cpu_run) vs generic agent vs fused agent, same input, for two
 * traffic mixes. serial: one packet per batch, for NFs whose output depends on
 * the order packets are served in (ESP sequence numbers).
 */
static void parity(struct nf_hdr *const *blobs, uint32_t nnf, bool serial, bool with_generic)
{
	static const int modes[] = { PKTGEN_IMIX, PKTGEN_RANDOM };
	uint32_t n = serial ? 150 : NPKT;
	static struct run cpu, gen, fus;
	static struct gen_desc din[NPKT];
	struct chain_prog p;
	uint8_t *in = mmap(NULL, usize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert(in != MAP_FAILED);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct pktgen g = { .rng = 0x5eed + m, .contents = contents, .ncontents = 2 };
		char what[64];

		pktgen_batch(&g, in, din, n, modes[m]);
		run_init(&cpu, in, din, n, blobs, nnf, &p);
		backend_cpu_run(&p, cpu.umem, PKTGEN_FRAME, cpu.d, n, GEN_TEST_NOW);
		if (with_generic) {
			run_init(&gen, in, din, n, blobs, nnf, &p);
			run_gpu(&gen, &p, n, "generic", serial);
			snprintf(what, sizeof(what), "generic vs cpu, mix %zu", m);
			same(&gen, &cpu, din, n, nnf, what);
		}
		run_init(&fus, in, din, n, blobs, nnf, &p);
		run_gpu(&fus, &p, n, "fused", serial);
		snprintf(what, sizeof(what), "fused vs cpu, mix %zu", m);
		same(&fus, &cpu, din, n, nnf, what);
	}
	munmap(in, usize);
}

static void parity_one(struct nf_hdr *h, bool serial)
{
	parity(&h, 1, serial, true);
	free(h);
}

Test(rtc_gpu, l2_rewrite, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	parity_one(make_l2(), false);
}

Test(rtc_gpu, ttl_dec, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	parity_one(nf_make("ttl_dec", NULL), false);
}

Test(rtc_gpu, ipv4_router, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	parity_one(make_router(), false);
}

Test(rtc_gpu, firewall, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	parity_one(make_firewall(), false);
}

Test(rtc_gpu, nids_drop, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	parity_one(make_nids(), false);
}

Test(rtc_gpu, flowmon, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	parity_one(nf_make("flowmon", NULL), false);
}

Test(rtc_gpu, ipsec_encrypt, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	parity_one(make_esp(), true);
}

/* The paper's chain: ipv4_router -> nids -> ipsec_esp (encrypt). */
Test(rtc_gpu, chain_router_nids_ipsec, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	struct nf_hdr *b[3] = { make_router(), make_nids(), make_esp() };
	parity(b, 3, true, true);
	for (int i = 0; i < 3; i++)
		free(b[i]);
}

/* A custom NF between shipped ones, on the gpu: only the fused agent can run it. */
Test(rtc_gpu, custom_dscp_marker, .fini = cleanup, .timeout = 300)
{
	gpu_require();
	struct nf_hdr *b[3] = { make_router(),
				make_custom("dscp_marker.c", source_text("etc/gen/nf/dscp_marker.c"), "46"),
				make_firewall() };
	parity(b, 3, false, false);
	for (int i = 0; i < 3; i++)
		free(b[i]);
}

static struct backend_chain *create_ttl(struct run *r, struct chain_prog *p, struct nf_hdr *h, const char *agent)
{
	static struct gen_desc din[NPKT];
	struct pktgen g = { .rng = 77 };
	uint8_t *in = calloc(1, usize);

	cr_assert(in);
	pktgen_batch(&g, in, din, NPKT, PKTGEN_IMIX);
	run_init(r, in, din, NPKT, &h, 1, p);
	free(in);
	setenv("GEN_GPU_AGENT", agent, 1);
	cr_assert_eq(gpu->umem_attach(r->umem, usize, PKTGEN_FRAME), 0);
	char err[2048] = "";
	struct backend_chain *bc = gpu->chain_create(p, r->umem, usize, PKTGEN_FRAME, err, sizeof(err));
	cr_assert(bc, "chain_create: %s: %s", strerror(errno), err);
	return bc;
}

/* Second create of the same chain: from the cache, NVRTC not called; two live chains share one build. */
Test(rtc_gpu, second_create_is_cache_hit, .fini = cleanup, .timeout = 300)
{
	static struct run r;
	struct chain_prog p;
	struct rtc_stats s0, s1;
	char desc[256];
	double ms;
	bool hit;

	gpu_require();
	struct nf_hdr *h = nf_make("ttl_dec", NULL);
	rtc_stats_get(&s0);
	struct backend_chain *a = create_ttl(&r, &p, h, "fused");
	struct backend_chain *b = gpu->chain_create(&p, r.umem, usize, PKTGEN_FRAME, NULL, 0);
	cr_assert(b);
	rtc_stats_get(&s1);
	cr_assert_eq(s1.compiles, s0.compiles + 1, "two live chains of one program compiled twice");
	cr_assert_eq(gpu_backend_fused_timing(a, &ms, &hit), 0);
	cr_assert(!hit);
	cr_log_info("cold: %.1f ms", ms);
	gpu->chain_destroy(a);
	gpu->chain_destroy(b);

	a = gpu->chain_create(&p, r.umem, usize, PKTGEN_FRAME, NULL, 0);
	cr_assert(a);
	rtc_stats_get(&s1);
	cr_assert_eq(s1.compiles, s0.compiles + 1, "the second create ran NVRTC");
	cr_assert_eq(s1.cache_hits, s0.cache_hits + 1);
	gpu->describe(a, desc, sizeof(desc));
	cr_assert(strstr(desc, ": fused agent (cache hit"), "%s", desc);
	cr_assert_eq(gpu_backend_fused_timing(a, &ms, &hit), 0);
	cr_assert(hit);
	cr_log_info("cache hit: %.1f ms: %s", ms, desc);
	cr_assert_eq(gpu->submit(a, r.d, NPKT, GEN_TEST_NOW), 0);
	wait_one(a, r.d, NPKT);
	gpu->chain_destroy(a);
	gpu->umem_detach(r.umem);
	free(h);
}

/* auto: batches run (correctly) on the generic agent until the fused one is loaded, then on it. */
Test(rtc_gpu, auto_switches_between_batches, .fini = cleanup, .timeout = 300)
{
	static struct run r, c;
	static struct gen_desc din[NPKT];
	struct chain_prog p, pc;
	char desc[256];
	int generic = 0, fused = 0;

	gpu_require();
	struct nf_hdr *h = make_router();
	struct backend_chain *bc = create_ttl(&r, &p, h, "auto");
	uint8_t *in = malloc(usize);
	cr_assert(in);
	memcpy(in, r.umem, usize);
	memcpy(din, r.d, sizeof(din));
	run_init(&c, in, din, NPKT, &h, 1, &pc);
	backend_cpu_run(&pc, c.umem, PKTGEN_FRAME, c.d, NPKT, GEN_TEST_NOW);
	time_t t0 = time(NULL);
	while (fused < 3) {
		cr_assert(time(NULL) - t0 < 120, "the fused agent never became active: %s", desc);
		gpu->describe(bc, desc, sizeof(desc));
		bool f = strstr(desc, ": fused agent") != NULL;
		memcpy(r.umem, in, usize);
		memcpy(r.d, din, sizeof(din));
		cr_assert_eq(gpu->submit(bc, r.d, NPKT, GEN_TEST_NOW), 0);
		wait_one(bc, r.d, NPKT);
		cr_assert(!memcmp(r.d, c.d, sizeof(din)), "batch %d (%s): descs differ from the cpu", generic + fused, desc);
		cr_assert(!memcmp(r.umem, c.umem, usize), "batch %d (%s): frames differ from the cpu", generic + fused, desc);
		fused += f;
		generic += !f;
	}
	cr_log_info("%d batches on the generic agent, then %d on the fused one: %s", generic, fused, desc);
	gpu->chain_destroy(bc);
	gpu->umem_detach(r.umem);
	free(in);
	free(h);
}

/* A custom NF that NVRTC rejects: chain_create fails with the compiler's FILE:LINE. */
Test(rtc_gpu, custom_compile_error_fails_create, .fini = cleanup, .timeout = 300)
{
	static struct run r;
	struct chain_prog p;
	char want[256];

	gpu_require();
	struct nf_hdr *h = make_custom("bad_nf.c", bad_custom, "1");
	static struct gen_desc din[NPKT];
	uint8_t *in = calloc(1, usize);
	run_init(&r, in, din, 1, &h, 1, &p);
	setenv("GEN_GPU_AGENT", "auto", 1);
	cr_assert_eq(gpu->umem_attach(r.umem, usize, PKTGEN_FRAME), 0);
	errno = 0;
	char err[4096] = "";
	struct backend_chain *bc = gpu->chain_create(&p, r.umem, usize, PKTGEN_FRAME, err, sizeof(err));
	cr_assert_null(bc, "a custom NF that does not compile was accepted");
	cr_assert_eq(errno, EINVAL, "errno %d", errno);
	snprintf(want, sizeof(want), "%s/bad_nf.c:6: error", tmpdir);
	cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
	gpu->umem_detach(r.umem);
	free(in);
	free(h);
}

/* Without NVRTC: plain chains stay on the generic agent and say why; custom chains are refused. */
Test(rtc_gpu, no_nvrtc, .fini = cleanup, .timeout = 120)
{
	static struct run r;
	struct chain_prog p;
	char desc[256], why[256];

	/* Before anything loads NVRTC in this process. */
	setenv("GEN_NVRTC", "/nonexistent/libnvrtc.so", 1);
	if (!backend_gpu || gpu_backend_probe(why, sizeof(why)))
		cr_skip_test("no CUDA device: %s", backend_gpu ? why : "built without CUDA");
	gpu = backend_gpu;
	fresh_cache();
	struct nf_hdr *h = nf_make("ttl_dec", NULL);
	struct backend_chain *bc = create_ttl(&r, &p, h, "auto");
	gpu->describe(bc, desc, sizeof(desc));
	cr_assert(strstr(desc, ": generic agent (no NVRTC"), "%s", desc);
	cr_assert_eq(gpu->submit(bc, r.d, NPKT, GEN_TEST_NOW), 0);
	wait_one(bc, r.d, NPKT);
	gpu->chain_destroy(bc);
	struct nf_hdr *c = make_custom("dscp_marker.c", source_text("etc/gen/nf/dscp_marker.c"), "46");
	p.type[0] = NF_T_CUSTOM;
	p.state[0] = c;
	char err[2048] = "";
	cr_assert_null(gpu->chain_create(&p, r.umem, usize, PKTGEN_FRAME, err, sizeof(err)));
	cr_assert(strstr(err, "no NVRTC"), "%s", err);
	gpu->umem_detach(r.umem);
	free(h);
	free(c);
}
#endif
