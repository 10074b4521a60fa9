// SPDX-License-Identifier: GPL-2.0
/*
 * The gpu backend against the cpu reference (backend_cpu_run): for every NF that
 * is built in and for the paper's chain (router -> nids -> ipsec_esp encrypt),
 * random batches of 1, 255, 256, 257 and 10000 packets of 64 B, 1500 B, random
 * sizes and IMIX must give byte-identical packets, identical verdicts and
 * identical NF counters, in every packet-memory mode (gather, staged, mapped) and
 * in pipeline mode.
 *
 * ESP encryption's sequence numbers (and the IVs derived from them) are
 * reserved per batch on the host, in submit order, by both backends: packet i
 * of a batch gets number first + i on either, so encrypted packets are compared
 * byte for byte like the rest, and their numbers must be exactly 1 + i.
 * gpu_backend.esp_numbers_follow_submit_order checks the same across batches
 * in flight together.
 *
 * Without a usable GPU every test but the probe test is skipped, with the reason.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "daemon/backend.h"
#include "nf/agent.h"
#include "nf/registry.h"
#include "test/bench/pktgen.h"
#include "testlib.h"

/* The time every batch here is stamped with (nf_pkt.now): a fixed one, the same on every backend. */
#define GEN_TEST_NOW 1764547200000000000ull

#define NSIZES 4
static const int sizes[NSIZES] = { 64, 1500, PKTGEN_RANDOM, PKTGEN_IMIX };
static const uint32_t batches[] = { 1, 255, 256, 257, 10000 };
#define BATCH_MAX 10000

struct variant {
	const char *mem, *mode;
};
static const struct variant variants[] = {
	{ "gather", "rtc" },    { "staged", "rtc" },      { "mapped", "rtc" },
	{ "gather", "pipeline" }, { "staged", "pipeline" }, { "mapped", "pipeline" },
};

static char gpu_why[256];
static const struct backend_ops *gpu;

static void gpu_require(void)
{
#ifdef GEN_PARITY_SELFTEST
	/* Checks the test's own oracle logic on a machine without a GPU: cpu vs cpu. */
	gpu = &backend_cpu;
	return;
#endif
	if (!backend_gpu || gpu_backend_probe(gpu_why, sizeof(gpu_why)))
		cr_skip_test("no CUDA device: %s", backend_gpu ? gpu_why : "built without CUDA");
	gpu = backend_gpu;
}

/*
 * Every test's process shuts the backend down before it exits, as gend's
 * rt_stop does: chains start their fused agent's compile in the background,
 * and a compile still running at exit() crashes inside NVRTC; an exit
 * handler of ours does not prevent it (RESULTS.md, ninth run).
 */
static void gpu_fini(void)
{
	if (gpu && gpu->shutdown)
		gpu->shutdown();
}
TestSuite(gpu_parity, .fini = gpu_fini);
TestSuite(gpu_backend, .fini = gpu_fini);

/* ---- building NF states from small configs ---- */

static const char *tmp_file(const char *text)
{
	static char paths[16][64];
	static int k;
	char *p = paths[k++ % 16];
	FILE *f;

	snprintf(p, 64, "/tmp/gen_parity_XXXXXX");
	int fd = mkstemp(p);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return p;
}

/* Build an NF from "key", "value", ... NULL; NULL when the NF is not built in. */
static struct nf_hdr *nf_make(const char *type, const char *const *kv)
{
	char err[512] = "";
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

static const char *const esp_keys[] = {
	"spi", "0x1001", "enc_key", "000102030405060708090a0b0c0d0e0f",
	"auth_key", "101112131415161718191a1b1c1d1e1f20212223", "tunnel_src", "192.0.2.1",
	"tunnel_dst", "192.0.2.2",
};

static struct nf_hdr *esp_make(const char *dir, int window_off)
{
	const char *kv[20];
	int k = 0;

	kv[k++] = "direction", kv[k++] = dir;
	for (size_t i = 0; i < sizeof(esp_keys) / sizeof(esp_keys[0]); i++)
		kv[k++] = esp_keys[i];
	if (window_off)
		kv[k++] = "replay_window", kv[k++] = "0";
	kv[k] = NULL;
	return nf_make("ipsec_esp", kv);
}

static const char *const nids_contents[] = { "EVILPAYLOAD", "/etc/passwd", "cmd.exe", "USER root" };

static const char *nids_small_rules(void)
{
	return tmp_file("alert tcp any any -> any any (msg:\"evil\"; content:\"EVILPAYLOAD\"; sid:1000001; rev:1;)\n"
			"alert tcp any any -> any 80 (msg:\"passwd\"; content:\"/etc/passwd\"; nocase; sid:1000002; rev:1;)\n"
			"alert udp any any -> any any (msg:\"cmd\"; content:\"cmd.exe\"; sid:1000003; rev:1;)\n"
			"alert ip any any -> any any (msg:\"root\"; content:\"USER\"; content:\"root\"; distance:1; sid:1000004; rev:1;)\n");
}

static const char *routes_file(void)
{
	return tmp_file("10.0.0.0/8 02:00:00:00:00:01\n10.1.0.0/16 02:00:00:00:00:02\n10.1.255.0/24 02:00:00:00:00:03\n"
			"192.168.1.0/24 02:00:00:00:00:04\n192.168.2.64/26 02:00:00:00:00:05\n8.8.8.8/32 02:00:00:00:00:06\n");
}

/* ---- one batch on each backend ---- */

struct chain_def {
	uint32_t n;
	struct nf_hdr *blob[NF_CHAIN_MAX]; /* pristine: every run starts from a copy */
	int esp_enc;                       /* index of an encrypting SA, or -1 */
	int esp_pre;                       /* decrypt tests: encrypt input first with this blob */
	struct nf_hdr *pre;
	bool low_headroom;                 /* every third packet moved to the front of its frame */
	const char *edges;                 /* GEN_GPU_EDGES for the run (NULL: the default, zero) */
};

static uint8_t *umem_new(size_t size)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert(m != MAP_FAILED);
	return m;
}

static void prog_of(struct chain_prog *p, const struct chain_def *d, struct nf_hdr **states)
{
	memset(p, 0, sizeof(*p));
	p->n = d->n;
	p->mini_batch = GEN_MINI_BATCH_DEFAULT;
	/* GEN_PARITY_GPU=N runs the parity cases on device N (multi-GPU machines). */
	p->gpu = getenv("GEN_PARITY_GPU") ? atoi(getenv("GEN_PARITY_GPU")) : 0;
	for (uint32_t i = 0; i < d->n; i++) {
		p->type[i] = d->blob[i]->type;
		p->state[i] = states[i];
	}
}

/* Descriptor arrays in pages of their own, for descs_attach (the device works on them in place). */
static size_t descs_pages_size(size_t n)
{
	return (n * sizeof(struct gen_desc) + 4095) & ~(size_t)4095;
}

static struct gen_desc *descs_pages(size_t n)
{
	struct gen_desc *d = aligned_alloc(4096, descs_pages_size(n));

	cr_assert(d);
	memset(d, 0, descs_pages_size(n));
	return d;
}

/*
 * One batch on the gpu. With in_place, the descs are copied into an attached
 * array (descs_attach, as gend's batch slots are) and the device works on them
 * there; the results are copied back into descs either way.
 */
static int gpu_run_batch(const struct chain_prog *prog, uint8_t *umem, size_t umem_size, struct gen_desc *descs,
			 uint32_t n, const struct variant *v, bool in_place, struct nf_hdr **counters_out)
{
	static struct gen_desc *att;
	struct gen_desc *run = descs;
	struct backend_chain *bc;
	struct gen_desc *got = NULL;
	uint32_t got_n = 0;
	int r;

	setenv("GEN_GPU_MEM", v->mem, 1);
	setenv("GEN_GPU_MODE", v->mode, 1);
	cr_assert_eq(gpu->umem_attach(umem, umem_size, PKTGEN_FRAME), 0);
	if (in_place) {
		if (!att)
			att = descs_pages(BATCH_MAX);
		cr_assert_eq(gpu->descs_attach(att, descs_pages_size(BATCH_MAX)), 0);
		memcpy(att, descs, n * sizeof(*descs));
		run = att;
	}
	char err[2048] = "";

	bc = gpu->chain_create(prog, umem, umem_size, PKTGEN_FRAME, err, sizeof(err));
	cr_assert(bc, "chain_create: %s: %s", strerror(errno), err);
	cr_assert_eq(gpu->submit(bc, run, n, GEN_TEST_NOW), 0);
	time_t t0 = time(NULL);
	while ((r = gpu->complete(bc, &got, &got_n)) == 0)
		cr_assert(time(NULL) - t0 < 60, "batch of %u did not complete", n);
	cr_assert_eq(r, 1, "complete: %d", r);
	cr_assert_eq(got, run);
	cr_assert_eq(got_n, n);
	char how[400] = "";
	cr_assert_eq(gpu->describe(bc, how, sizeof(how)), 0);
	/* Staged batches always copy: their scatter reads the descs as submitted. */
	bool want_in_place = in_place && strcmp(v->mem, "staged");
	cr_assert_eq(strstr(how, "descs in place") != NULL, want_in_place, "%s/%s: %s", v->mem, v->mode, how);
	if (in_place) {
		memcpy(descs, att, n * sizeof(*descs));
		cr_assert_eq(gpu->descs_detach(att), 0);
	}
	for (uint32_t i = 0; i < prog->n; i++) {
		counters_out[i] = blob_dup(prog->state[i]);
		cr_assert_eq(gpu->state_read(bc, i, counters_out[i], 0, prog->state[i]->size), 0);
	}
	gpu->chain_destroy(bc);
	gpu->umem_detach(umem);
	return 0;
}

static uint32_t esp_seq_of(const uint8_t *frame_pkt, uint32_t len)
{
	struct nf_pkt p = { .buf = (uint8_t *)frame_pkt, .off = 0, .len = len, .cap = len };
	uint32_t ip = nf_ipv4_off(&p);

	cr_assert(ip, "encrypted packet without IPv4 header");
	return nf_get32(frame_pkt + ip + (frame_pkt[ip] & 0x0f) * 4 + 4);
}

static void counters_equal(const struct nf_hdr *a, const struct nf_hdr *b, const char *what)
{
	const uint64_t *ca = NF_AT(a, a->counters_off, const uint64_t *);
	const uint64_t *cb = NF_AT(b, b->counters_off, const uint64_t *);

	for (uint32_t k = 0; k < a->ncounters; k++)
		cr_expect_eq(ca[k], cb[k], "%s: counter %u: cpu %lu gpu %lu", what, k, (unsigned long)ca[k],
			     (unsigned long)cb[k]);
}

static int alert_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct nids_alert));
}

/* The alert rings hold the same records: the GPU's threads take places in another order. */
static void alerts_equal(const struct nf_nids *a, const struct nf_nids *b, const char *what)
{
	const struct nids_ring *ra = NF_AT(a, a->ring_off, const struct nids_ring *);
	const struct nids_ring *rb = NF_AT(b, b->ring_off, const struct nids_ring *);
	uint32_t n = ra->head < ra->size ? (uint32_t)ra->head : ra->size;
	struct nids_alert *x = calloc(n + 1, sizeof(*x)), *y = calloc(n + 1, sizeof(*y));

	cr_assert_eq(ra->head, rb->head, "%s: alert ring head: cpu %lu gpu %lu", what, (unsigned long)ra->head,
		     (unsigned long)rb->head);
	/* A full ring kept whichever firings came first: the same number (events_lost agrees), not the same ones. */
	if (a->counters[NIDS_C_EVENTS_LOST])
		n = 0;
	memcpy(x, NF_AT(a, ra->recs_off, const struct nids_alert *), n * sizeof(*x));
	memcpy(y, NF_AT(b, rb->recs_off, const struct nids_alert *), n * sizeof(*y));
	for (uint32_t i = 0; i < n; i++) {
		cr_assert(y[i].seq >= 1 && y[i].seq <= n, "%s: gpu alert record %u unpublished", what, i);
		x[i].seq = y[i].seq = 0; /* where a record landed is the only difference allowed */
	}
	qsort(x, n, sizeof(*x), alert_cmp);
	qsort(y, n, sizeof(*y), alert_cmp);
	cr_assert(!memcmp(x, y, n * sizeof(*x)), "%s: alert records differ", what);
	free(x);
	free(y);
}

static int slot_cmp(const void *a, const void *b)
{
	const struct nf_flow_slot *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* The flow tables hold the same flows, with the same counts and times (slots may differ on a race). */
static void flows_equal(const struct nf_flowmon *a, const struct nf_flowmon *b, const char *what)
{
	const struct nf_flow_slot *sa = NF_AT(a, a->slots_off, const struct nf_flow_slot *);
	const struct nf_flow_slot *sb = NF_AT(b, b->slots_off, const struct nf_flow_slot *);
	struct nf_flow_slot *x = calloc(a->nslots, sizeof(*x)), *y = calloc(a->nslots, sizeof(*y));
	uint32_t nx = 0, ny = 0;

	for (uint32_t i = 0; i < a->nslots; i++) {
		if (sa[i].key)
			x[nx++] = sa[i];
		if (sb[i].key)
			y[ny++] = sb[i];
	}
	cr_assert_eq(nx, ny, "%s: flows: cpu %u gpu %u", what, nx, ny);
	qsort(x, nx, sizeof(*x), slot_cmp);
	qsort(y, ny, sizeof(*y), slot_cmp);
	cr_assert(!memcmp(x, y, nx * sizeof(*x)), "%s: flow slots differ (counts or first/last seen)", what);
	free(x);
	free(y);
}

static void state_equal(const struct nf_hdr *a, const struct nf_hdr *b, const char *what)
{
	counters_equal(a, b, what);
	if (a->type == NF_T_NIDS && ((const struct nf_nids *)a)->ring_off)
		alerts_equal((const struct nf_nids *)a, (const struct nf_nids *)b, what);
	if (a->type == NF_T_FLOWMON)
		flows_equal((const struct nf_flowmon *)a, (const struct nf_flowmon *)b, what);
}

static void parity_case(const struct chain_def *d, uint32_t n, int size_mode, const struct variant *v, uint64_t seed)
{
	size_t usize = (size_t)BATCH_MAX * PKTGEN_FRAME;
	struct pktgen g = { .rng = seed | 1, .contents = nids_contents, .ncontents = 4 };
	static uint8_t *in, *uc, *ug;
	static struct gen_desc din[BATCH_MAX], dc[BATCH_MAX], dg[BATCH_MAX];
	struct nf_hdr *sc[NF_CHAIN_MAX], *sg[NF_CHAIN_MAX], *gread[NF_CHAIN_MAX];
	struct chain_prog pc, pg;
	char what[160];

	if (!in) {
		in = umem_new(usize);
		uc = umem_new(usize);
		ug = umem_new(usize);
	}
	/* Descriptors worked on in place (as gend's) for these batch sizes, copied for 255 and 256. */
	bool in_place = n != 255 && n != 256;
	snprintf(what, sizeof(what), "batch %u size %d %s/%s%s seed %lu", n, size_mode, v->mem, v->mode,
		 in_place ? " in place" : "", (unsigned long)seed);
	/*
	 * Frame bytes outside the packets are noise, not zeros: an agent that
	 * reads a byte it did not stage, or writes one back that it should have
	 * left, then differs from the cpu.
	 */
	for (uint64_t j = 0, x = seed | 1; j < (uint64_t)n * PKTGEN_FRAME / 8; j++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(in + 8 * j, &x, 8);
	}
	pktgen_batch(&g, in, din, n, size_mode);
	/*
	 * Every other packet at another offset of its frame, 44-283 (ESP's head
	 * fits; some new starts fall on a chunk's first byte, most inside one):
	 * with GEN_GPU_EDGES=head the gather stages a head's edge chunk alone.
	 */
	for (uint32_t i = 1; i < n; i += 2) {
		uint64_t f = din[i].addr - din[i].addr % PKTGEN_FRAME, to = f + 44 + (i / 2 * 37) % 240;

		memmove(in + to, in + din[i].addr, din[i].len);
		din[i].addr = to;
	}
	/*
	 * Packets with less headroom than ESP prepends (0-47 bytes): ESP moves
	 * them up, and the gather stages a longer tail for their batch
	 * (backend_gpu.c: gather_tail).
	 */
	for (uint32_t i = 0; d->low_headroom && i < n; i += 3) {
		uint64_t f = din[i].addr - din[i].addr % PKTGEN_FRAME, to = f + (i * 13) % 48;

		memmove(in + to, in + din[i].addr, din[i].len);
		din[i].addr = to;
	}
	if (d->pre) { /* decrypt tests: the input is ESP made by a cpu encryptor */
		struct chain_prog pp = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { blob_dup(d->pre) } };
		backend_cpu_run(&pp, in, PKTGEN_FRAME, din, n, GEN_TEST_NOW);
		for (uint32_t i = 0; i < n; i++)
			din[i].verdict = 0xffffffffu;
		free(pp.state[0]);
	}
	memcpy(uc, in, (size_t)n * PKTGEN_FRAME);
	memcpy(ug, in, (size_t)n * PKTGEN_FRAME);
	memcpy(dc, din, n * sizeof(*din));
	memcpy(dg, din, n * sizeof(*din));
	for (uint32_t i = 0; i < d->n; i++) {
		sc[i] = blob_dup(d->blob[i]);
		sg[i] = blob_dup(d->blob[i]);
	}
	prog_of(&pc, d, sc);
	prog_of(&pg, d, sg);
	backend_cpu_run(&pc, uc, PKTGEN_FRAME, dc, n, GEN_TEST_NOW);
	gpu_run_batch(&pg, ug, usize, dg, n, v, in_place, gread);

	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(dg[i].verdict, dc[i].verdict, "%s: packet %u verdict", what, i);
		cr_assert_eq(dg[i].addr, dc[i].addr, "%s: packet %u addr", what, i);
		cr_assert_eq(dg[i].len, dc[i].len, "%s: packet %u len", what, i);
		cr_assert(!memcmp(ug + dg[i].addr, uc + dc[i].addr, dc[i].len), "%s: packet %u bytes differ", what, i);
		if (d->esp_enc >= 0 && dg[i].verdict == NF_PASS)
			cr_assert_eq(esp_seq_of(ug + dg[i].addr, dg[i].len), 1 + i, "%s: packet %u: sequence number", what, i);
	}
	/*
	 * Gather mode writes back the chunks that hold the packet, staged or not
	 * (gpu_warp_scatter): the frame's bytes outside the packet must stay as
	 * the cpu left them. With the default GPU_EDGES_ZERO, a grown packet's
	 * first and last 16-byte chunks may hold zeros instead in their bytes
	 * outside the packet and outside the chunks the packet had before (never
	 * staged); nothing else may differ. Not for decryption, which shrinks
	 * packets: the cpu leaves the plaintext trailer past the new end, the
	 * write-back does not.
	 */
	if (!d->pre && !strcmp(v->mem, "gather"))
		for (uint32_t i = 0; i < n; i++) {
			uint64_t f = din[i].addr - din[i].addr % PKTGEN_FRAME;
			long x = tl_frame_diff(ug + f, uc + f, PKTGEN_FRAME, din[i].addr - f, din[i].len, dg[i].addr - f,
					       dg[i].len, !d->edges && !strcmp(v->mode, "rtc"));

			cr_assert(x < 0, "%s: packet %u: frame bytes outside it differ (frame byte %ld: gpu 0x%02x, cpu 0x%02x)",
				  what, i, x, x < 0 ? 0 : ug[f + x], x < 0 ? 0 : uc[f + x]);
		}
	if (d->esp_enc >= 0) /* the host blob counts the batch's reservation */
		cr_assert_eq(((const struct nf_ipsec_esp *)sg[d->esp_enc])->seq_last, n, "%s: numbers reserved", what);
	for (uint32_t i = 0; i < d->n; i++) {
		char w2[200];
		snprintf(w2, sizeof(w2), "%s nf %u", what, i);
		state_equal(sc[i], gread[i], w2);
		free(sc[i]);
		free(sg[i]);
		free(gread[i]);
	}
}

static void parity_all(struct chain_def *d, const char *name)
{
	uint64_t seed = 1;

	if (d->edges)
		setenv("GEN_GPU_EDGES", d->edges, 1);
	else
		unsetenv("GEN_GPU_EDGES");

	for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++)
		for (int s = 0; s < NSIZES; s++)
			for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
				parity_case(d, batches[b], sizes[s], &variants[v], seed++ * 0x9e3779b97f4a7c15ull);
	for (uint32_t i = 0; i < d->n; i++)
		free(d->blob[i]);
	free(d->pre);
	cr_log_info("%s: %zu batches identical", name,
		    sizeof(batches) / sizeof(batches[0]) * NSIZES * sizeof(variants) / sizeof(variants[0]));
}

/* One-NF chain; skipped when the NF is not built in. */
static void parity_one(const char *type, const char *const *kv)
{
	struct chain_def d = { .n = 1, .esp_enc = -1 };

	gpu_require();
	d.blob[0] = nf_make(type, kv);
	if (!d.blob[0])
		cr_skip_test("nf %s is not built in", type);
	parity_all(&d, type);
}

Test(gpu_parity, probe_says_why)
{
	char why[256] = "";
	int r = gpu_backend_probe(why, sizeof(why));

	cr_assert(why[0], "probe gave no reason");
	if (r)
		cr_assert_eq(r, -ENODEV, "probe: %d (%s)", r, why);
	cr_log_info("probe: %d: %s", r, why);
}

Test(gpu_parity, l2_rewrite, .timeout = 600)
{
	static const char *const kv[] = { "dst_mac", "02:11:22:33:44:55", "src_mac", "02:66:77:88:99:aa", NULL };
	parity_one("l2_rewrite", kv);
}

Test(gpu_parity, ttl_dec, .timeout = 600)
{
	parity_one("ttl_dec", NULL);
}

Test(gpu_parity, ipv4_router, .timeout = 600)
{
	const char *kv[] = { "routes", routes_file(), NULL };
	parity_one("ipv4_router", kv);
}

Test(gpu_parity, firewall, .timeout = 600)
{
	const char *kv[] = { "rules",
			     tmp_file("deny proto tcp dport 22\nallow proto udp dport 53\ndeny src 192.168.0.0/16 proto icmp\n"
				      "allow src 10.0.0.0/8\nallow dst 8.8.8.8\n"),
			     "default", "deny", NULL };
	parity_one("firewall", kv);
}

Test(gpu_parity, nids_small_drop, .timeout = 600)
{
	const char *kv[] = { "rules", nids_small_rules(), "action", "drop", NULL };
	parity_one("nids", kv);
}

Test(gpu_parity, nids_community, .timeout = 900)
{
	/* GEN_SHARED_DATA in the environment wins: the data may sit elsewhere where the GPU is. */
	const char *kv[] = { "rules", tl_require_community_rules(), "action", "alert", NULL };
	parity_one("nids", kv);
}

Test(gpu_parity, flowmon, .timeout = 600)
{
	parity_one("flowmon", NULL);
}

Test(gpu_parity, ipsec_decrypt, .timeout = 600)
{
	struct chain_def d = { .n = 1, .esp_enc = -1 };

	gpu_require();
	/* Anti-replay off: with a window, which late packet loses depends on arrival order. */
	d.blob[0] = esp_make("decrypt", 1);
	if (!d.blob[0])
		cr_skip_test("nf ipsec_esp is not built in");
	d.pre = esp_make("encrypt", 0);
	parity_all(&d, "ipsec_esp decrypt");
}

Test(gpu_parity, ipsec_encrypt, .timeout = 600)
{
	struct chain_def d = { .n = 1, .esp_enc = 0 };

	gpu_require();
	d.blob[0] = esp_make("encrypt", 0);
	if (!d.blob[0])
		cr_skip_test("nf ipsec_esp is not built in");
	parity_all(&d, "ipsec_esp encrypt");
}

/* Some packets with too little headroom for ESP's 44 bytes: moved up on both backends alike. */
Test(gpu_parity, ipsec_encrypt_low_headroom, .timeout = 600)
{
	struct chain_def d = { .n = 1, .esp_enc = 0, .low_headroom = true };

	gpu_require();
	d.blob[0] = esp_make("encrypt", 0);
	if (!d.blob[0])
		cr_skip_test("nf ipsec_esp is not built in");
	parity_all(&d, "ipsec_esp encrypt, low headroom");
}

/*
 * GEN_GPU_EDGES=head and =window stage the room around the packet and keep
 * every frame byte outside it as the cpu leaves it (checked strictly).
 */
static void esp_edges(const char *edges, bool low_headroom)
{
	struct chain_def d = { .n = 1, .esp_enc = 0, .low_headroom = low_headroom, .edges = edges };
	char name[80];

	gpu_require();
	d.blob[0] = esp_make("encrypt", 0);
	if (!d.blob[0])
		cr_skip_test("nf ipsec_esp is not built in");
	snprintf(name, sizeof(name), "ipsec_esp encrypt, GEN_GPU_EDGES=%s%s", edges, low_headroom ? ", low headroom" : "");
	parity_all(&d, name);
	unsetenv("GEN_GPU_EDGES");
}

Test(gpu_parity, ipsec_encrypt_edges_head, .timeout = 600)
{
	esp_edges("head", false);
}

Test(gpu_parity, ipsec_encrypt_edges_window, .timeout = 600)
{
	esp_edges("window", true);
}

/* The paper's chain: ipv4_router -> nids -> ipsec_esp (encrypt). */
Test(gpu_parity, chain_router_nids_ipsec, .timeout = 900)
{
	struct chain_def d = { .n = 3, .esp_enc = 2 };
	const char *rkv[] = { "routes", routes_file(), NULL };
	const char *nkv[] = { "rules", nids_small_rules(), "action", "drop", NULL };

	gpu_require();
	d.blob[0] = nf_make("ipv4_router", rkv);
	d.blob[1] = nf_make("nids", nkv);
	d.blob[2] = esp_make("encrypt", 0);
	if (!d.blob[0] || !d.blob[1] || !d.blob[2])
		cr_skip_test("the chain's NFs are not all built in");
	parity_all(&d, "router->nids->ipsec");
}

/* ---- backend behaviour ---- */

static struct nf_hdr *l2_blob(void)
{
	static const char *const kv[] = { "dst_mac", "02:11:22:33:44:55", NULL };
	return nf_make("l2_rewrite", kv);
}

static uint64_t counter(struct backend_chain *bc, uint32_t nf, uint32_t idx)
{
	struct nf_hdr h;
	uint64_t v;

	cr_assert_eq(gpu->state_read(bc, nf, &h, 0, sizeof(h)), 0);
	cr_assert_eq(gpu->state_read(bc, nf, &v, h.counters_off + 8 * idx, 8), 0);
	return v;
}

/* nb batches of n packets, batch b in frames [b * n, (b + 1) * n) of umem, descs d[b * n ..]. */
static void batches_fill(struct pktgen *g, uint8_t *umem, struct gen_desc *d, int nb, uint32_t n, int size_mode)
{
	for (int b = 0; b < nb; b++) {
		pktgen_batch(g, umem + (size_t)b * n * PKTGEN_FRAME, d + (size_t)b * n, n, size_mode);
		for (uint32_t i = 0; i < n; i++)
			d[(size_t)b * n + i].addr += (uint64_t)b * n * PKTGEN_FRAME;
	}
}

/* Several batches in flight; -EBUSY when full; completions in submit order. */
Test(gpu_backend, overlap_in_order)
{
	enum { NB = 20, N = 2048 };
	size_t usize = (size_t)NB * N * PKTGEN_FRAME;
	static struct gen_desc d[NB][N];
	struct pktgen g = { .rng = 42 };
	struct nf_hdr *st;
	uint8_t *umem;

	gpu_require();
	cr_assert_geq(gpu->max_inflight, 2);
	cr_assert_lt(gpu->max_inflight, NB);
	st = l2_blob();
	umem = umem_new(usize);
	batches_fill(&g, umem, d[0], NB, N, PKTGEN_IMIX);
	struct chain_prog p = { .n = 1, .type = { NF_T_L2_REWRITE }, .state = { st }, .mini_batch = GEN_MINI_BATCH_DEFAULT };
	static const char *const mems[] = { "gather", "staged", "mapped" };
	for (int m = 0; m < 3; m++) {
		setenv("GEN_GPU_MEM", mems[m], 1);
		cr_assert_eq(gpu->umem_attach(umem, usize, PKTGEN_FRAME), 0);
		struct backend_chain *bc = gpu->chain_create(&p, umem, usize, PKTGEN_FRAME, NULL, 0);
		cr_assert(bc);
		int sub = 0, done = 0;
		uint32_t k = gpu->max_inflight;
		for (; sub < (int)k; sub++)
			cr_assert_eq(gpu->submit(bc, d[sub], N, GEN_TEST_NOW), 0);
		cr_assert_eq(gpu->submit(bc, d[sub], N, GEN_TEST_NOW), -EBUSY);
		while (done < NB) {
			struct gen_desc *got;
			uint32_t n;
			int r = gpu->complete(bc, &got, &n);
			cr_assert_geq(r, 0);
			if (!r)
				continue;
			cr_assert_eq(got, d[done], "completion %d out of order", done);
			cr_assert_eq(n, N);
			for (int i = 0; i < N; i++)
				cr_assert(got[i].verdict == NF_PASS && !memcmp(umem + got[i].addr, "\x02\x11\x22\x33\x44\x55", 6));
			done++;
			if (sub < NB)
				cr_assert_eq(gpu->submit(bc, d[sub++], N, GEN_TEST_NOW), 0);
		}
		/* Each chain_create uploads the host blob afresh: counters start from it. */
		cr_assert_eq(counter(bc, 0, L2RW_C_REWRITTEN), (uint64_t)NB * N);
		gpu->chain_destroy(bc);
		gpu->umem_detach(umem);
	}
	free(st);
}

/*
 * An encrypting SA with several batches in flight at once (which the device may
 * run in any order): the numbers follow submit order, packet i of batch b
 * numbered b * N + i + 1, and every packet is byte-identical to the cpu running
 * the batches one after the other. Before numbers were reserved per batch on
 * the host, the kernels took them from a device counter as they ran.
 */
Test(gpu_backend, esp_numbers_follow_submit_order, .timeout = 300)
{
	enum { NB = 24, N = 2048 };
	size_t usize = (size_t)NB * N * PKTGEN_FRAME;
	static struct gen_desc d[NB][N], dc[NB][N];
	struct pktgen g = { .rng = 4242 };
	struct nf_hdr *pristine, *sg, *sc;
	uint8_t *umem, *uc;

	gpu_require();
	pristine = esp_make("encrypt", 0);
	if (!pristine)
		cr_skip_test("nf ipsec_esp is not built in");
	umem = umem_new(usize);
	uc = umem_new(usize);
	static const char *const mems[] = { "gather", "staged", "mapped" };
	for (int m = 0; m < 3; m++) {
		batches_fill(&g, umem, d[0], NB, N, PKTGEN_IMIX);
		memcpy(uc, umem, usize);
		memcpy(dc, d, sizeof(d));
		sg = blob_dup(pristine);
		sc = blob_dup(pristine);
		struct chain_prog p = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { sg }, .mini_batch = 256 };
		struct chain_prog pc = { .n = 1, .type = { NF_T_IPSEC_ESP }, .state = { sc }, .mini_batch = 256 };
		setenv("GEN_GPU_MEM", mems[m], 1);
		setenv("GEN_GPU_MODE", "rtc", 1);
		cr_assert_eq(gpu->umem_attach(umem, usize, PKTGEN_FRAME), 0);
		struct backend_chain *bc = gpu->chain_create(&p, umem, usize, PKTGEN_FRAME, NULL, 0);
		cr_assert(bc);
		int sub = 0, done = 0;
		while (done < NB) {
			struct gen_desc *got;
			uint32_t n;
			while (sub < NB && gpu->submit(bc, d[sub], N, GEN_TEST_NOW) == 0)
				sub++;
			int r = gpu->complete(bc, &got, &n);
			cr_assert_geq(r, 0);
			if (r)
				done++;
		}
		for (int b = 0; b < NB; b++)
			backend_cpu_run(&pc, uc, PKTGEN_FRAME, dc[b], N, GEN_TEST_NOW);
		for (int b = 0; b < NB; b++) {
			for (uint32_t i = 0; i < N; i++) {
				cr_assert_eq(d[b][i].verdict, dc[b][i].verdict, "%s: batch %d packet %u verdict", mems[m], b, i);
				if (d[b][i].verdict != NF_PASS)
					continue;
				cr_assert_eq(esp_seq_of(umem + d[b][i].addr, d[b][i].len), (uint32_t)(b * N + i + 1),
					     "%s: batch %d packet %u: sequence number out of submit order", mems[m], b, i);
				cr_assert(d[b][i].addr == dc[b][i].addr && d[b][i].len == dc[b][i].len &&
						  !memcmp(umem + d[b][i].addr, uc + dc[b][i].addr, d[b][i].len),
					  "%s: batch %d packet %u differs from the cpu", mems[m], b, i);
			}
		}
		cr_assert_eq(((const struct nf_ipsec_esp *)sg)->seq_last, (uint64_t)NB * N);
		gpu->chain_destroy(bc);
		gpu->umem_detach(umem);
		free(sg);
		free(sc);
	}
	free(pristine);
}

/* GEN_GPU_FAULT_INJECT=2: the second batch comes back -EIO, untouched in staged mode; the others run. */
Test(gpu_backend, fault_hands_batch_back)
{
	enum { N = 1000 };
	size_t usize = (size_t)3 * N * PKTGEN_FRAME;
	static struct gen_desc d[3][N], ref[N];
	struct pktgen g = { .rng = 7 };
	uint8_t *umem, *pristine;

	gpu_require();
	setenv("GEN_GPU_FAULT_INJECT", "2", 1);
	setenv("GEN_GPU_MEM", "staged", 1);
	struct nf_hdr *st = nf_make("ttl_dec", NULL);
	umem = umem_new(usize);
	pristine = umem_new(usize);
	batches_fill(&g, umem, d[0], 3, N, PKTGEN_RANDOM);
	memcpy(pristine, umem, usize);
	memcpy(ref, d[1], sizeof(ref));
	struct chain_prog p = { .n = 1, .type = { NF_T_TTL_DEC }, .state = { st }, .mini_batch = 128 };
	cr_assert_eq(gpu->umem_attach(umem, usize, PKTGEN_FRAME), 0);
	struct backend_chain *bc = gpu->chain_create(&p, umem, usize, PKTGEN_FRAME, NULL, 0);
	cr_assert(bc);
	for (int b = 0; b < 3; b++)
		cr_assert_eq(gpu->submit(bc, d[b], N, GEN_TEST_NOW), 0);
	int want[3] = { 1, -EIO, 1 };
	for (int b = 0; b < 3;) {
		struct gen_desc *got;
		uint32_t n;
		int r = gpu->complete(bc, &got, &n);
		if (!r)
			continue;
		cr_assert_eq(r, want[b], "batch %d: complete %d", b, r);
		cr_assert_eq(got, d[b]);
		cr_assert_eq(n, N);
		b++;
	}
	/* The failed batch: descs and frames as submitted, so the cpu can rerun it. */
	cr_assert(!memcmp(d[1], ref, sizeof(ref)));
	cr_assert(!memcmp(umem + N * PKTGEN_FRAME, pristine + N * PKTGEN_FRAME, (size_t)N * PKTGEN_FRAME));
	cr_assert(memcmp(umem, pristine, (size_t)N * PKTGEN_FRAME), "batch 1 was not processed");
	cr_assert_eq(counter(bc, 0, TTL_C_FORWARDED) + counter(bc, 0, TTL_C_EXPIRED) + counter(bc, 0, TTL_C_NOT_IPV4),
		     2 * N);
	gpu->chain_destroy(bc);
	gpu->umem_detach(umem);
	free(st);
}

/*
 * A fault after the agent ran (GEN_GPU_FAULT_INJECT=2:after), gather mode: a
 * chain that writes packets has written its frames back, so the batch comes
 * back -ESTALE (never to be rerun) and each packet holds exactly one pass of the
 * NF; a chain that only reads packets left every frame as it was: -EIO, rerun ok.
 */
static void fault_after(const char *nf, const char *mem, int want, bool in_place)
{
	enum { N = 3000 };
	size_t usize = (size_t)3 * N * PKTGEN_FRAME;
	static struct gen_desc ref[N];
	struct gen_desc *d[3], *all = descs_pages(3 * N);
	struct pktgen g = { .rng = 17 };
	uint8_t *umem, *pristine, *once;

	gpu_require();
	setenv("GEN_GPU_FAULT_INJECT", "2:after", 1);
	setenv("GEN_GPU_MEM", mem, 1);
	struct nf_hdr *st = nf_make(nf, NULL);
	umem = umem_new(usize);
	pristine = umem_new(usize);
	once = umem_new(usize);
	for (int b = 0; b < 3; b++)
		d[b] = all + b * N;
	batches_fill(&g, umem, d[0], 3, N, PKTGEN_RANDOM);
	memcpy(pristine, umem, usize);
	memcpy(once, umem, usize);
	memcpy(ref, d[1], sizeof(ref));
	struct chain_prog p = { .n = 1, .type = { st->type }, .state = { st }, .mini_batch = 128 };
	/* One pass of the NF on the cpu over batch 1: what the frames may hold after the fault. */
	struct nf_hdr *cs = blob_dup(st);
	struct chain_prog pc = p;
	pc.state[0] = cs;
	static struct gen_desc dc[N];
	memcpy(dc, ref, sizeof(dc));
	backend_cpu_run(&pc, once, PKTGEN_FRAME, dc, N, GEN_TEST_NOW);
	cr_assert_eq(gpu->umem_attach(umem, usize, PKTGEN_FRAME), 0);
	if (in_place)
		cr_assert_eq(gpu->descs_attach(all, descs_pages_size(3 * N)), 0);
	struct backend_chain *bc = gpu->chain_create(&p, umem, usize, PKTGEN_FRAME, NULL, 0);
	cr_assert(bc);
	for (int b = 0; b < 3; b++)
		cr_assert_eq(gpu->submit(bc, d[b], N, GEN_TEST_NOW), 0);
	char how[400] = "";
	cr_assert_eq(gpu->describe(bc, how, sizeof(how)), 0);
	cr_assert_eq(strstr(how, "descs in place") != NULL, in_place, "%s", how);
	int wants[3] = { 1, want, 1 };
	for (int b = 0; b < 3;) {
		struct gen_desc *got;
		uint32_t n;
		int r = gpu->complete(bc, &got, &n);
		if (!r)
			continue;
		cr_assert_eq(r, wants[b], "batch %d: complete %d", b, r);
		cr_assert_eq(got, d[b]);
		b++;
	}
	/*
	 * The failed batch's descs are handed back as submitted either way; worked
	 * on in place, a rerunnable one may hold verdicts (a rerun sets them anew).
	 */
	for (int i = 0; i < N; i++) {
		cr_assert(d[1][i].addr == ref[i].addr && d[1][i].len == ref[i].len, "packet %d: desc moved", i);
		cr_assert(in_place || d[1][i].verdict == ref[i].verdict, "packet %d: verdict changed", i);
	}
	const uint8_t *expect = want == -EIO ? pristine : once;
	for (int i = 0; i < N; i++)
		cr_assert(!memcmp(umem + dc[i].addr, expect + dc[i].addr, dc[i].len), "packet %d: not one pass", i);
	if (want == -EIO)
		cr_assert(!memcmp(umem + N * PKTGEN_FRAME, pristine + N * PKTGEN_FRAME, (size_t)N * PKTGEN_FRAME));
	gpu->chain_destroy(bc);
	if (in_place)
		cr_assert_eq(gpu->descs_detach(all), 0);
	gpu->umem_detach(umem);
	free(all);
	free(st);
	free(cs);
}

/* Each in a process of its own: the injection counts the process's submits. */
Test(gpu_backend, fault_after_write_is_not_rerun)
{
	fault_after("ttl_dec", "gather", -ESTALE, false);
}

Test(gpu_backend, fault_after_write_in_place_is_not_rerun)
{
	fault_after("ttl_dec", "gather", -ESTALE, true);
}

Test(gpu_backend, fault_after_read_only_is_rerun)
{
	fault_after("flowmon", "gather", -EIO, false);
}

/* Worked on in place, a read-only chain's batch still reruns exactly: only verdicts were stored. */
Test(gpu_backend, fault_after_read_only_in_place_is_rerun)
{
	fault_after("flowmon", "gather", -EIO, true);
}

/* In place, the frames are the kernel's from its first access: a failed batch is never rerun. */
Test(gpu_backend, fault_after_mapped_is_not_rerun)
{
	fault_after("ttl_dec", "mapped", -ESTALE, false);
}

/* Two chains on one [nf] share its device copy: counters add up across both. */
Test(gpu_backend, shared_state_refcount)
{
	enum { N = 512 };
	size_t usize = (size_t)N * PKTGEN_FRAME;
	static struct gen_desc d[N];
	struct pktgen g = { .rng = 9 };
	uint8_t *umem = umem_new(usize);

	gpu_require();
	struct nf_hdr *st = l2_blob();
	struct chain_prog p = { .n = 1, .type = { NF_T_L2_REWRITE }, .state = { st }, .mini_batch = GEN_MINI_BATCH_DEFAULT };
	cr_assert_eq(gpu->umem_attach(umem, usize, PKTGEN_FRAME), 0);
	struct backend_chain *a = gpu->chain_create(&p, umem, usize, PKTGEN_FRAME, NULL, 0);
	struct backend_chain *b = gpu->chain_create(&p, umem, usize, PKTGEN_FRAME, NULL, 0);
	cr_assert(a && b);
	struct backend_chain *both[2] = { a, b };
	for (int k = 0; k < 2; k++) {
		struct gen_desc *got;
		uint32_t n;
		pktgen_batch(&g, umem, d, N, 64);
		cr_assert_eq(gpu->submit(both[k], d, N, GEN_TEST_NOW), 0);
		while (gpu->complete(both[k], &got, &n) == 0)
			;
	}
	cr_assert_eq(counter(a, 0, L2RW_C_REWRITTEN), 2 * N);
	gpu->chain_destroy(a);
	cr_assert_eq(counter(b, 0, L2RW_C_REWRITTEN), 2 * N);
	gpu->chain_destroy(b);
	gpu->umem_detach(umem);
	free(st);
}

/* A GEN_GPU_EDGES value the backend does not know: chain_create fails with EINVAL, naming it. */
Test(gpu_backend, edges_unknown_value_refused)
{
	enum { N = 16 };
	size_t usize = (size_t)N * PKTGEN_FRAME;
	uint8_t *umem = umem_new(usize);
	char err[512] = "";

	gpu_require();
	struct nf_hdr *st = l2_blob();
	struct chain_prog p = { .n = 1, .type = { NF_T_L2_REWRITE }, .state = { st }, .mini_batch = GEN_MINI_BATCH_DEFAULT };
	cr_assert_eq(gpu->umem_attach(umem, usize, PKTGEN_FRAME), 0);
	setenv("GEN_GPU_EDGES", "zeros", 1);
	struct backend_chain *bc = gpu->chain_create(&p, umem, usize, PKTGEN_FRAME, err, sizeof(err));
	int e = errno;
	unsetenv("GEN_GPU_EDGES");
	cr_assert_null(bc, "GEN_GPU_EDGES=zeros accepted");
	cr_assert_eq(e, EINVAL, "errno %d", e);
	cr_assert(strstr(err, "GEN_GPU_EDGES=zeros"), "error does not name the variable: %s", err);
	gpu->umem_detach(umem);
	free(st);
}

/* Every device runs the chain; one past the last is refused. */
Test(gpu_backend, every_device)
{
	enum { N = 300 };
	size_t usize = (size_t)N * PKTGEN_FRAME;
	static struct gen_desc d[N], dc[N];
	struct pktgen g = { .rng = 11 };
	uint8_t *umem = umem_new(usize), *uc = umem_new(usize);
	int ndev = 0;
	char why[256];

	gpu_require();
	gpu_backend_probe(why, sizeof(why));
	cr_assert_eq(sscanf(why, "%d", &ndev), 1, "probe text: %s", why);
	struct nf_hdr *st = nf_make("ttl_dec", NULL);
	cr_assert_eq(gpu->umem_attach(umem, usize, PKTGEN_FRAME), 0);
	for (int dev = 0; dev <= ndev; dev++) {
		struct chain_prog p = { .n = 1, .type = { NF_T_TTL_DEC }, .state = { st }, .mini_batch = 64, .gpu = dev };
		struct backend_chain *bc = gpu->chain_create(&p, umem, usize, PKTGEN_FRAME, NULL, 0);
		if (dev == ndev) {
			cr_assert_null(bc, "device %d of %d accepted", dev, ndev);
			cr_assert_eq(errno, ENODEV);
			break;
		}
		cr_assert(bc, "device %d: %s", dev, strerror(errno));
		pktgen_batch(&g, umem, d, N, PKTGEN_IMIX);
		memcpy(uc, umem, usize);
		memcpy(dc, d, sizeof(d));
		backend_cpu_run(&p, uc, PKTGEN_FRAME, dc, N, GEN_TEST_NOW);
		struct gen_desc *got;
		uint32_t n;
		cr_assert_eq(gpu->submit(bc, d, N, GEN_TEST_NOW), 0);
		while (gpu->complete(bc, &got, &n) == 0)
			;
		cr_assert(!memcmp(d, dc, sizeof(d)), "device %d: descs differ", dev);
		cr_assert(!memcmp(umem, uc, usize), "device %d: frames differ", dev);
		gpu->chain_destroy(bc);
	}
	gpu->umem_detach(umem);
	free(st);
}
