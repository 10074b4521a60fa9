// SPDX-License-Identifier: GPL-2.0
/*
 * gen-bench: throughput of one chain on synthetic packets in a fake UMEM.
 *
 *   gen-bench [-c chains.ini] [-n CHAIN] [-r RULES] [-d SECONDS] [-T THREADS] [-q] [-F] [-M] [-C]
 *
 * Without -c it benches the paper's chain (ipv4_router -> nids -> ipsec_esp
 * encrypt) with the Snort community rules (-r). Prints:
 *   - gpu: Mpps per batch size (256 .. 64k) for staged/mapped packet memory and
 *     rtc/pipeline execution, batches kept in flight back to back; the figure
 *     includes the copies (staged) or the PCIe traffic (mapped);
 *   - cpu: Mpps of the same chain on the cpu backend with 1 thread (batches of at
 *     most 4096) and T threads (at most 4096 per thread, persistent workers);
 *   - cpu peers, per packet size: the cpu backend's chain and its ESP and nids
 *     NFs alone on T threads, beside OpenSSL (AES-128-CBC + HMAC-SHA1, stitched
 *     TLS record and ESP order), Hyperscan on the nids contents, and a chain of
 *     those libraries, on the same packets and T threads (test/bench/peers.h);
 *   - cpu: ns/packet of each NF alone at 64 B and 1500 B.
 * -F prints only the fused-agent figures: time from chain_create to the fused
 * agent being loaded, with a cold NVRTC compile (empty cache) and with a cache
 * hit, and Mpps of the generic vs the fused agent at 64 B (batches 1k..64k).
 * Frames are restored from a pristine pool of 64k packets before each batch
 * (the chain rewrites them), by restorer threads, overlapped with the GPU's
 * work and outside the clock (restore_range); a chain whose NFs never write
 * packet bytes has its frames read instead, so that they wait in the host's
 * caches. For comparison only: GEN_BENCH_COPY=1 copies those too,
 * GEN_BENCH_NT=1 copies with streaming stores (frames left in DRAM).
 * GEN_BENCH_SLOTS=s cycles gpu batches through s slots (s / 2 in flight) instead
 * of 16, a smaller span of frames (diagnostic).
 * -C checks the frames and restores and prints no figures (ctest bench/restore).
 * Figures only: nothing here asserts on timing.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "daemon/backend.h"
#ifdef GEN_HAVE_CUDA
#include "cuda/backend_gpu.h"
#endif
#include "daemon/cfg.h"
#include "nf/agent.h"
#include "test/bench/peers.h"
#include "test/bench/pktgen.h"

/* The time every batch here is stamped with (nf_pkt.now): a fixed one, the same on every backend. */
#define GEN_TEST_NOW 1764547200000000000ull

/* Batches' worth of frames: more than a backend keeps in flight (gend's default
 * inflight, 12), so that batches that completed are restored in the background
 * while the others run. */
#define NBUF 16
static const uint32_t batch_sizes[] = { 256, 1024, 4096, 16384, 65536 };
#define BATCH_MAX 65536

struct bench {
	struct chain_prog prog;
	const char *const *nf_names;
	uint8_t *umem, *pristine;
	bool writes; /* a chain NF may change packet bytes (nf_list.h); else restores only read the frames */
	size_t umem_size;
	struct gen_desc *pdesc;  /* pristine descs, BATCH_MAX * NBUF */
	struct gen_desc *desc;
	double seconds;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/*
 * Slot 0's frames are the pool every slot's packets come from: slot b's packet
 * i is pool packet (i + b * POOL_STEP) % BATCH_MAX, in a frame of its own. So
 * 4k-packet batches of the 16 slots carry 64k distinct packets, as before, and
 * larger batches the same 64k packets in other orders; restores read the pool
 * (packed enough to stay in the host's caches) instead of 2 GiB of copies.
 */
#define POOL_STEP 4096

static uint32_t bench_regions(void);

/*
 * GEN_BENCH_NT=1: restores write with streaming stores, around the host's
 * caches (the frames then wait in DRAM, not in the L3 as a NIC's or the
 * kernel's writes leave them); default: plain stores.
 */
static bool restore_nt; /* set once in main */
static uint64_t restore_sink; /* what read-only restores read (kept so that the reads stay) */

/* Whether any NF of the program may change packet bytes (custom NFs may). */
static bool prog_writes(const struct chain_prog *p)
{
#define NF_WRITES_(NAME, name, h, t, w, b) [NF_T_##NAME] = w,
	static const uint8_t writes[NF_T_MAX] = { NF_LIST(NF_WRITES_) };
#undef NF_WRITES_
	const char *c = getenv("GEN_BENCH_COPY");

	if (c && !strcmp(c, "1"))
		return true;
	for (uint32_t i = 0; i < p->n; i++)
		if (p->type[i] >= NF_T_MAX || p->type[i] == NF_T_CUSTOM || writes[p->type[i]])
			return true;
	return false;
}

/* Copy n bytes (rounded up to 64) between 64-byte-aligned places. */
static void restore_copy(uint8_t *dst, const uint8_t *src, uint32_t n)
{
#ifdef __SSE2__
	if (restore_nt) {
		for (uint32_t k = 0; k < n; k += 64) {
			const __m128i *s = (const __m128i *)(src + k);
			__m128i *d = (__m128i *)(dst + k);
			__m128i a = _mm_load_si128(s), b = _mm_load_si128(s + 1), c = _mm_load_si128(s + 2),
				e = _mm_load_si128(s + 3);
			_mm_stream_si128(d, a);
			_mm_stream_si128(d + 1, b);
			_mm_stream_si128(d + 2, c);
			_mm_stream_si128(d + 3, e);
		}
		return;
	}
#endif
	memcpy(dst, src, (n + 63) & ~63u);
}

/* Put packets [first, first + n) of batch slot b back as generated. */
static void restore_range(struct bench *bn, uint32_t b, uint32_t first, uint32_t n)
{
	struct gen_desc *pd = bn->pdesc + (size_t)b * BATCH_MAX + first, *d = bn->desc + (size_t)b * BATCH_MAX + first;
	uint32_t from = (b % bench_regions()) * POOL_STEP + first;

	if (!bn->writes) {
		/*
		 * The frames are as generated: read their lines so that they wait in
		 * the host's caches as freshly received frames would (a NIC's DMA or
		 * the kernel's copy leaves them there), without writing them back.
		 */
		uint64_t sink = 0;
		for (uint32_t i = 0; i < n; i++)
			for (uint32_t k = 0; k < pd[i].len + 128; k += 64)
				sink += *(volatile const uint64_t *)(bn->umem + pd[i].addr - 64 + k);
		restore_sink += sink;
		memcpy(d, pd, n * sizeof(*d));
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		/*
		 * NFs touch at most a little around the packet (ESP: 44 B before, 29
		 * after): 64 bytes either side, whole cache lines (the headroom and
		 * the frame size keep them inside the frame).
		 */
		uint32_t off = (uint32_t)(pd[i].addr % PKTGEN_FRAME) - 64;
		size_t src = (size_t)((from + i) % BATCH_MAX) * PKTGEN_FRAME + off;
		restore_copy(bn->umem + pd[i].addr - 64, bn->pristine + src, pd[i].len + 128);
	}
#ifdef __SSE2__
	if (restore_nt)
		_mm_sfence(); /* the streaming stores are visible before the slot is marked restored */
#endif
	memcpy(d, pd, n * sizeof(*d));
}

/* Put batch slot b (n packets) back as generated. */
static void restore(struct bench *bn, uint32_t b, uint32_t n)
{
	restore_range(bn, b, 0, n);
}

/*
 * GEN_BENCH_REGIONS=r (diagnostic only): batch slot b uses the frames of slot
 * b % r, so r < NBUF shrinks the frames the GPU reads to r slots' worth while
 * NBUF batches still cycle; batches in flight together then share frames and
 * their output bytes are garbage. For telling footprint effects (TLBs, caches)
 * from batch-size effects; never for figures of record.
 */
static uint32_t bench_regions(void)
{
	const char *v = getenv("GEN_BENCH_REGIONS");
	int r = v ? atoi(v) : 0;

	return r > 0 && r < NBUF ? (uint32_t)r : NBUF;
}

/*
 * GEN_BENCH_SLOTS=s (even, 2..NBUF; diagnostic): the gpu loop cycles its
 * batches through s slots instead of NBUF and keeps at most s / 2 in flight,
 * the other half being restored. At 64k batches the default's 16 slots of
 * 2 KiB frames span 2 GiB of host memory, where the bench's restores and the
 * GPU's DMA share the host's DRAM; fewer slots shrink that span, and the depth
 * in flight with it (both move the figure: RESULTS.md). Every frame is distinct
 * and correct in either mode.
 */
static uint32_t bench_slots = NBUF; /* set once in main */

static uint32_t bench_slots_from_env(void)
{
	const char *v = getenv("GEN_BENCH_SLOTS");
	int s = v ? atoi(v) : 0;

	return s >= 2 && s < NBUF ? (uint32_t)s & ~1u : NBUF;
}

/*
 * GEN_BENCH_HEADROOM=h (64..448; diagnostic): packets start h bytes into their
 * frames instead of XDP's 256, which moves where each packet and what the
 * chain prepends fall among the host's 64-byte lines (the PCIe reads and
 * writes of a packet's chunks). Every frame is still distinct and correct.
 */
static uint32_t bench_headroom(void)
{
	const char *v = getenv("GEN_BENCH_HEADROOM");
	int h = v ? atoi(v) : 0;

	if (!v)
		return PKTGEN_HEADROOM;
	if (h < 64 || h > 448) {
		fprintf(stderr, "gen-bench: GEN_BENCH_HEADROOM=%s: not in 64..448, using %d\n", v, PKTGEN_HEADROOM);
		return PKTGEN_HEADROOM;
	}
	if (h != PKTGEN_HEADROOM)
		fprintf(stderr, "gen-bench: packets at %d bytes into their frames (GEN_BENCH_HEADROOM)\n", h);
	return (uint32_t)h;
}

static void gen_traffic(struct bench *bn, int size_mode)
{
	struct pktgen g = { .rng = 0x1234567 };
	uint32_t regions = bench_regions();

	pktgen_batch_at(&g, bn->pristine, bn->pdesc, BATCH_MAX, size_mode, bench_headroom());
	for (uint32_t b = 1; b < NBUF; b++) {
		size_t base = (size_t)(b % regions) * BATCH_MAX * PKTGEN_FRAME;
		struct gen_desc *pd = bn->pdesc + (size_t)b * BATCH_MAX;

		if (b >= regions) {
			memcpy(pd, bn->pdesc + (size_t)(b % regions) * BATCH_MAX, BATCH_MAX * sizeof(*pd));
			continue;
		}
		for (uint32_t i = 0; i < BATCH_MAX; i++) {
			uint32_t j = (i + b * POOL_STEP) % BATCH_MAX;
			size_t at = base + (size_t)i * PKTGEN_FRAME;

			memcpy(bn->pristine + at, bn->pristine + (size_t)j * PKTGEN_FRAME, PKTGEN_FRAME);
			pd[i] = bn->pdesc[j];
			pd[i].addr = at + bn->pdesc[j].addr % PKTGEN_FRAME;
		}
	}
	if (regions < NBUF)
		fprintf(stderr, "gen-bench: GEN_BENCH_REGIONS=%u: batches share frames (diagnostic; output bytes are garbage)\n",
			regions);
	memcpy(bn->umem, bn->pristine, bn->umem_size);
}

/*
 * Restorers for the gpu loop: a batch that completed is put back as generated
 * (the chain rewrote its frames) by one of these threads while the later
 * batches run, so the submitting thread never copies packets. One slot per
 * request; several slots are restored at once.
 */
#define RESTORE_CHUNKS 16 /* pieces of a slot at most, restored by as many threads at once */
#define RESTORE_SPIN_S 200e-6 /* a restorer with nothing to do spins this long before it sleeps */

/* Pieces a slot of n packets is restored in: one per 1024 packets, up to RESTORE_CHUNKS. */
static inline uint32_t restore_chunks(uint32_t n)
{
	uint32_t k = n / 1024;

	return k < 1 ? 1 : k > RESTORE_CHUNKS ? RESTORE_CHUNKS : k;
}

static inline void restore_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}
struct restorer {
	pthread_mutex_t lock; /* only for sleeping and waking */
	pthread_cond_t cond;
	struct bench *bn;
	uint32_t n;
	/* Items slot * RESTORE_CHUNKS + chunk; qtail published by the submitting thread, qhead claimed by CAS. */
	uint32_t queue[NBUF * RESTORE_CHUNKS];
	uint32_t qhead __attribute__((aligned(64)));
	uint32_t qtail __attribute__((aligned(64)));
	int ready[NBUF] __attribute__((aligned(64))); /* atomic: chunks of the slot restored */
	int threads, stop, sleepers;
	pthread_t tid[16];
};

/* The next item, claimed without the lock; false when none is queued. */
static bool restorer_claim(struct restorer *r, uint32_t *item)
{
	uint32_t h = __atomic_load_n(&r->qhead, __ATOMIC_ACQUIRE);

	while (h != __atomic_load_n(&r->qtail, __ATOMIC_ACQUIRE)) {
		uint32_t it = r->queue[h % (NBUF * RESTORE_CHUNKS)];
		if (__atomic_compare_exchange_n(&r->qhead, &h, h + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			*item = it;
			return true;
		}
	}
	return false;
}

static void *restorer_main(void *arg)
{
	struct restorer *r = arg;

	for (;;) {
		uint32_t item;

		/*
		 * Spin while there is work now and then: at small batches slots come
		 * back every few microseconds, and a post that must wake a sleeper
		 * costs the submitting thread a futex call (its time is what the bench
		 * measures). Sleep only after RESTORE_SPIN_S without an item.
		 */
		double t0 = now();
		bool got = false;
		while (!(got = restorer_claim(r, &item)) && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) &&
		       now() - t0 < RESTORE_SPIN_S)
			restore_pause();
		if (!got) {
			pthread_mutex_lock(&r->lock);
			__atomic_fetch_add(&r->sleepers, 1, __ATOMIC_SEQ_CST);
			while (__atomic_load_n(&r->qhead, __ATOMIC_SEQ_CST) == __atomic_load_n(&r->qtail, __ATOMIC_SEQ_CST) &&
			       !__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST))
				pthread_cond_wait(&r->cond, &r->lock);
			__atomic_fetch_sub(&r->sleepers, 1, __ATOMIC_SEQ_CST);
			pthread_mutex_unlock(&r->lock);
			if (!restorer_claim(r, &item)) {
				if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
					return NULL;
				continue;
			}
		}
		uint32_t slot = item / RESTORE_CHUNKS, c = item % RESTORE_CHUNKS, k = restore_chunks(r->n);
		uint32_t first = (uint32_t)((uint64_t)r->n * c / k);
		restore_range(r->bn, slot, first, (uint32_t)((uint64_t)r->n * (c + 1) / k) - first);
		__atomic_fetch_add(&r->ready[slot], 1, __ATOMIC_RELEASE);
	}
}

static int restorer_ready(struct restorer *r, uint32_t slot)
{
	return __atomic_load_n(&r->ready[slot], __ATOMIC_ACQUIRE) == (int)restore_chunks(r->n);
}

/* Queue slot's chunks (the submitting thread only): no lock unless a restorer sleeps. */
static void restorer_post(struct restorer *r, uint32_t slot)
{
	uint32_t t = r->qtail;

	__atomic_store_n(&r->ready[slot], 0, __ATOMIC_RELAXED);
	for (uint32_t c = 0; c < restore_chunks(r->n); c++)
		r->queue[t++ % (NBUF * RESTORE_CHUNKS)] = slot * RESTORE_CHUNKS + c;
	__atomic_store_n(&r->qtail, t, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->sleepers, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&r->lock);
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
}

/* Chains restored at once (multi_report sets it), so that their restorers share the cores. */
static int restorer_chains = 1;
static void restorer_start(struct restorer *r, struct bench *bn, uint32_t n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->bn = bn;
	r->n = n;
	/*
	 * All cores but the submitters' and one, shared by the chains that run at
	 * once (-M), at most 16: 1500-byte batches restore ~100 MB each. But no
	 * more than the pieces of the slots being restored keep busy (4 a piece, and
	 * 2): at small batches a slot is one piece, and threads without one only
	 * spin on the queue's lines the submitting thread writes, then sleep after
	 * RESTORE_SPIN_S, so that its posts must wake them (GEN_BENCH_RESTORERS=k:
	 * k threads, for comparison).
	 */
	long share = (cpus - 1 - restorer_chains) / restorer_chains, want = 4 * (long)restore_chunks(n) + 2;
	const char *rv = getenv("GEN_BENCH_RESTORERS");
	const int forced = rv ? atoi(rv) : 0;
	if (forced > 0)
		want = forced;
	if (share > want)
		share = want;
	r->threads = share > 1 ? (int)(share < 16 ? share : 16) : 1;
	for (uint32_t b = 0; b < bench_slots; b++) {
		restore(bn, b, n);
		r->ready[b] = (int)restore_chunks(n);
	}
	for (int t = 0; t < r->threads; t++)
		pthread_create(&r->tid[t], NULL, restorer_main, r);
}

static void restorer_stop(struct restorer *r)
{
	pthread_mutex_lock(&r->lock);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (int t = 0; t < r->threads; t++)
		pthread_join(r->tid[t], NULL);
}

/* Share of the timed loop the backend could have taken a batch that was still being restored. */
static __thread double gpu_idle_share;
/*
 * Where the submitting thread's time went in the last gpu_loop (printed with
 * -P): inside submit(), inside complete() that returned a batch, inside
 * complete() that found none done, and the mean batches in flight.
 */
static __thread struct loop_phases {
	double submit, complete, poll, post, inflight;
	uint64_t batches, polls;
} gpu_phases;

/*
 * Mpps of one gpu chain with batches of n kept in flight for bn->seconds. The
 * clock covers submit, the GPU's work (copies or PCIe traffic included) and
 * complete; restoring frames runs on other threads.
 */
static double gpu_loop(struct bench *bn, struct backend_chain *bc, uint32_t n)
{
	/* One per call: several chains run this at once (multi_report). */
	struct restorer *rs = calloc(1, sizeof(*rs));
	const uint32_t slots = bench_slots;
	/*
	 * Batches kept in flight: what gend keeps by default ([chain] inflight),
	 * with 4 slots left to restore; GEN_BENCH_SLOTS keeps half its slots;
	 * GEN_BENCH_DEPTH=k (up to slots - 1) says, with GEN_GPU_INFLIGHT >= k.
	 */
	const char *dv = getenv("GEN_BENCH_DEPTH");
	const int want = dv ? atoi(dv) : 0;
	uint32_t dflt = slots < NBUF ? slots / 2 : CFG_INFLIGHT_DEFAULT < slots - 4 ? CFG_INFLIGHT_DEFAULT : slots - 4;
	if (dflt > backend_gpu->max_inflight)
		dflt = backend_gpu->max_inflight;
	const uint32_t depth = want > 0 && (uint32_t)want < slots ? (uint32_t)want : dflt;
	struct loop_phases ph = { 0 };
	uint64_t pkts = 0, sub = 0, done = 0, posted = slots;
	double t0, t1, idle = 0, idle_since = 0;
	/*
	 * GEN_BENCH_AHEAD=k: a free slot's frames are restored only once it is
	 * among the next k batches to submit (default NBUF: as soon as it is free),
	 * so that they are fresh in the host's caches when the GPU reads them, as
	 * packets a NIC just wrote would be.
	 */
	const char *av = getenv("GEN_BENCH_AHEAD");
	uint64_t ahead = av && atoi(av) > 0 ? (uint64_t)atoi(av) : slots;

	if (!rs)
		return -1;
	restorer_start(rs, bn, n);
	/* Warm-up: every in-flight slot once, so first launches and buffer growth are not timed. */
	for (uint32_t w = 0; w < depth; w++)
		backend_gpu->submit(bc, bn->desc + (size_t)w * BATCH_MAX, n, GEN_TEST_NOW);
	for (uint32_t w = 0; w < depth;) {
		struct gen_desc *d;
		uint32_t k;
		if (backend_gpu->complete(bc, &d, &k))
			w++;
	}
	for (uint32_t w = 0; w < depth; w++)
		restore(bn, w, n);
	t0 = now();
	t1 = t0;
	while (t1 - t0 < bn->seconds || done < sub) {
		struct gen_desc *d;
		uint32_t k;
		int r;

		/* Time the backend had a free slot but the next batch was not restored yet. */
		int waiting = t1 - t0 < bn->seconds && sub - done < depth && !restorer_ready(rs, (uint32_t)(sub % slots));
		if (waiting && idle_since == 0)
			idle_since = t1;
		else if (!waiting && idle_since > 0) {
			idle += t1 - idle_since;
			idle_since = 0;
		}
		while (t1 - t0 < bn->seconds && sub - done < depth && restorer_ready(rs, (uint32_t)(sub % slots))) {
			uint32_t slot = (uint32_t)(sub % slots);
			double ts = now();
			r = backend_gpu->submit(bc, bn->desc + (size_t)slot * BATCH_MAX, n, GEN_TEST_NOW);
			ph.submit += now() - ts;
			if (r == -EBUSY)
				break;
			if (r) {
				fprintf(stderr, "gen-bench: submit: %s\n", strerror(-r));
				goto out;
			}
			sub++;
		}
		double tc = now();
		r = backend_gpu->complete(bc, &d, &k);
		double tc1 = now();
		if (r < 0) {
			fprintf(stderr, "gen-bench: batch failed on the gpu\n");
			break;
		}
		ph.inflight += (double)(sub - done) * (tc1 - t1);
		if (r == 0) {
			ph.poll += tc1 - tc;
			ph.polls++;
		} else {
			ph.complete += tc1 - tc;
			ph.batches++;
			__atomic_store_n(&rs->ready[done % slots], 0, __ATOMIC_RELAXED);
			done++;
			pkts += k;
		}
		/* Submission posted's slot is free once batch posted - slots completed. */
		for (; posted < done + slots && posted < sub + ahead; posted++)
			restorer_post(rs, (uint32_t)(posted % slots));
		t1 = now();
		ph.post += t1 - tc1; /* the posts and the loop's own bookkeeping */
	}
out:
	t1 = now();
	restorer_stop(rs);
	free(rs);
	gpu_idle_share = idle / (t1 - t0);
	ph.inflight /= t1 - t0;
	gpu_phases = ph;
	return pkts / (t1 - t0) / 1e6;
}

static void gpu_env(const char *mem, const char *mode)
{
	setenv("GEN_GPU_MEM", mem, 1);
	/* "fused": the rtc mode on the chain's fused agent, built before the clock starts. */
	setenv("GEN_GPU_MODE", strcmp(mode, "fused") ? mode : "rtc", 1);
	setenv("GEN_GPU_AGENT", strcmp(mode, "fused") ? "generic" : "fused", 1);
}

/* Mpps of the gpu backend with batches of n kept in flight for bn->seconds. */
static double gpu_point(struct bench *bn, uint32_t n, const char *mem, const char *mode)
{
	struct backend_chain *bc;
	char err[2048] = "";
	double mpps;

	gpu_env(mem, mode);
	bc = backend_gpu->chain_create(&bn->prog, bn->umem, bn->umem_size, PKTGEN_FRAME, err, sizeof(err));
	if (!bc) {
		fprintf(stderr, "gen-bench: gpu chain_create: %s: %s\n", strerror(errno), err);
		return -1;
	}
	mpps = gpu_loop(bn, bc, n);
	backend_gpu->chain_destroy(bc);
	return mpps;
}

struct mg_job {
	struct bench *bn;
	struct backend_chain *bc;
	uint32_t n;
	double mpps;
	double cpu;  /* seconds of CPU the submitting thread used */
	double idle; /* share of the time a free slot waited for the bench's frame restore */
};

static void *mg_thread(void *arg)
{
	struct mg_job *j = arg;
	struct timespec c0, c1;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	j->mpps = gpu_loop(j->bn, j->bc, j->n);
	j->idle = gpu_idle_share;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	j->cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9;
	return NULL;
}

#define MG_CHAINS 4
/*
 * The UMEM as gend maps it (daemon/xsk.c): on 2 MiB hugepages when the system
 * has them free (vm.nr_hugepages), else on normal pages; GEN_BENCH_HUGE=0 forces
 * normal pages. Large batches touch a large UMEM (16 slots of up to 64k frames:
 * 2 GiB), which the GPU reads through its own and the IOMMU's page tables.
 */
static int umem_huge = -1; /* -1 not yet mapped, else whether the last map got hugepages */
static uint8_t *umem_map(size_t size)
{
	const char *v = getenv("GEN_BENCH_HUGE");
	void *p = MAP_FAILED;

	if (!(v && !strcmp(v, "0")))
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	umem_huge = p != MAP_FAILED;
	if (p == MAP_FAILED)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p;
}

/*
 * The bench's frames and its batches' descriptors to the gpu backend: the
 * descriptors attached as gend attaches its batch slots, so that the device
 * works on them in place (GEN_GPU_DESC_COPY=1 makes it copy them anyway).
 */
static int bench_attach(struct bench *b)
{
	if (backend_gpu->umem_attach(b->umem, b->umem_size, PKTGEN_FRAME))
		return -ENOMEM;
	if (backend_gpu->descs_attach)
		backend_gpu->descs_attach(b->desc, (size_t)NBUF * BATCH_MAX * sizeof(*b->desc));
	return 0;
}

static void bench_detach(struct bench *b)
{
	if (backend_gpu->descs_detach)
		backend_gpu->descs_detach(b->desc);
	backend_gpu->umem_detach(b->umem);
}

/* A second bench over fresh memory, with the same packets as from. */
static int bench_clone(struct bench *to, const struct bench *from)
{
	*to = *from;
	to->umem = umem_map(to->umem_size);
	to->pristine = mmap(NULL, to->umem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	to->pdesc = calloc((size_t)NBUF * BATCH_MAX, sizeof(*to->pdesc));
	to->desc = calloc((size_t)NBUF * BATCH_MAX, sizeof(*to->desc));
	if (to->umem == MAP_FAILED || to->pristine == MAP_FAILED || !to->pdesc || !to->desc || bench_attach(to))
		return -ENOMEM;
	return 0;
}

static void bench_copy_traffic(struct bench *to, const struct bench *from)
{
	memcpy(to->pristine, from->pristine, to->umem_size);
	memcpy(to->umem, from->pristine, to->umem_size);
	memcpy(to->pdesc, from->pdesc, (size_t)NBUF * BATCH_MAX * sizeof(*to->pdesc));
}

/*
 * Multi-GPU scaling: 1, 2 and 4 copies of the chain, each fed by its own
 * submitting thread from its own UMEM, all on device 0 or spread over devices
 * 0 and 1 (chain c on c % 2); the fused agent, 64 B (16k-packet batches) and
 * 1500 B (64k). Prints the aggregate Mpps (Gbps), each chain's, and the host
 * cores the submitting threads kept busy (frame restores, which only the
 * bench needs, run on other threads and are not counted).
 */
static void multi_report(struct bench *bn0, int ndev)
{
	static struct bench bn[MG_CHAINS];
	static const struct { int size; uint32_t n; } sz[] = { { 64, 16384 }, { 1500, 65536 } };

	bn[0] = *bn0;
	for (int c = 1; c < MG_CHAINS; c++) {
		if (bench_clone(&bn[c], bn0)) {
			fprintf(stderr, "gen-bench: memory for chain %d\n", c);
			return;
		}
	}
	gpu_env("gather", "fused");
	printf("\n== multi-GPU: paper chains on 1 and 2 GPUs, gather/fused agent, aggregate (%d devices)\n", ndev);
	printf("(UMEM per chain %zu MiB on %s)\n", bn0->umem_size >> 20, umem_huge ? "2 MiB hugepages" : "normal pages");
	printf("(restore wait: the largest share of a chain's time that a free slot waited for the bench's frame restore)\n");
	printf("%-6s %6s %5s %10s %8s %10s %12s  %s\n", "size", "chains", "gpus", "Mpps", "Gbps", "host cores", "restore wait",
	       "per chain");
	for (size_t s = 0; s < sizeof(sz) / sizeof(sz[0]); s++) {
		gen_traffic(&bn[0], sz[s].size);
		for (int c = 1; c < MG_CHAINS; c++)
			bench_copy_traffic(&bn[c], &bn[0]);
		for (int nc = 1; nc <= MG_CHAINS; nc *= 2) {
			for (int ng = 1; ng <= 2; ng++) {
				struct mg_job j[MG_CHAINS];
				pthread_t t[MG_CHAINS];
				double agg = 0, cpu = 0, wall, idle = 0;
				char per[128] = "", err[2048] = "";
				int ok = 1;

				if (ng > ndev || (nc == 1 && ng == 2))
					continue;
				for (int c = 0; c < nc; c++) {
					bn[c].prog.gpu = ng == 2 ? c % 2 : 0;
					j[c] = (struct mg_job){ .bn = &bn[c], .n = sz[s].n };
					j[c].bc = backend_gpu->chain_create(&bn[c].prog, bn[c].umem, bn[c].umem_size, PKTGEN_FRAME,
									    err, sizeof(err));
					ok &= j[c].bc != NULL;
				}
				if (ok) {
					double t0 = now();
					restorer_chains = nc;
					for (int c = 0; c < nc; c++)
						pthread_create(&t[c], NULL, mg_thread, &j[c]);
					for (int c = 0; c < nc; c++)
						pthread_join(t[c], NULL);
					wall = now() - t0;
					restorer_chains = 1;
					for (int c = 0; c < nc; c++) {
						size_t o = strlen(per);
						agg += j[c].mpps;
						cpu += j[c].cpu;
						idle = j[c].idle > idle ? j[c].idle : idle;
						snprintf(per + o, sizeof(per) - o, "%s%.2f", c ? " + " : "", j[c].mpps);
					}
					printf("%-6d %6d %5d %10.2f %8.1f %10.1f %11.0f%%  %s\n", sz[s].size, nc, ng, agg,
					       agg * sz[s].size * 8 / 1e3, cpu / wall, idle * 100, per);
				} else {
					fprintf(stderr, "gen-bench: chain_create for %d chains on %d GPU(s): %s: %s\n", nc, ng,
						strerror(errno), err);
				}
				for (int c = 0; c < nc; c++)
					if (j[c].bc)
						backend_gpu->chain_destroy(j[c].bc);
				fflush(stdout);
			}
		}
	}
	for (int c = 0; c < MG_CHAINS; c++)
		bn[c].prog.gpu = 0;
	for (int c = 1; c < MG_CHAINS; c++)
		bench_detach(&bn[c]);
}

/*
 * Persistent cpu workers, one per thread of -T, started once. Two ways to use
 * them (both print, see cpu_peers_report):
 * - free-running (cpu_point): each worker loops on a slice of its own for the
 *   whole measurement: restore its packets (untimed), run the chain on them
 *   (timed on its own clock). The figure is the sum of each worker's packets
 *   over its own busy time: T cores each running the chain, as T controllers
 *   of the daemon do, and as the peers run (peers.c).
 * - one batch split over the workers (cpu_point_split): three barrier rounds
 *   per batch (posted, restored = clock starts, done = clock stops), so the
 *   clock also holds the workers' wake-up skew and the slowest slice.
 */
struct cpu_pool {
	pthread_barrier_t bar; /* the workers and the main thread */
	int threads;           /* 0 until started */
	struct bench *bn;
	const struct chain_prog *prog;
	uint32_t slot, n;
	bool free_run;         /* this round: free-running until stop */
	atomic_int stop;
	double busy[NBUF * 16];  /* free-running: seconds each worker ran the chain */
	uint64_t pkts[NBUF * 16];
};
static struct cpu_pool cpu_pool;

/* Free-running worker t: slice m of n packets, in its own slot (and part of it when T > NBUF). */
static void cpu_free_run(struct cpu_pool *pl, int t)
{
	uint32_t m = (uint32_t)((uint64_t)pl->n / (uint32_t)pl->threads), slot = (uint32_t)t % NBUF;
	uint32_t first = (uint32_t)t / NBUF * m;
	double busy = 0;
	uint64_t pkts = 0;

	if (!m)
		m = 1;
	while (!atomic_load_explicit(&pl->stop, memory_order_relaxed)) {
		restore_range(pl->bn, slot, first, m);
		double t0 = now();
		backend_cpu_run(pl->prog, pl->bn->umem, PKTGEN_FRAME, pl->bn->desc + (size_t)slot * BATCH_MAX + first, m,
				GEN_TEST_NOW);
		busy += now() - t0;
		pkts += m;
	}
	pl->busy[t] = busy;
	pl->pkts[t] = pkts;
}

static void *cpu_worker(void *arg)
{
	struct cpu_pool *pl = &cpu_pool;
	int t = (int)(intptr_t)arg;

	for (;;) {
		pthread_barrier_wait(&pl->bar); /* a batch is posted, or a free-running round starts */
		if (pl->free_run) {
			cpu_free_run(pl, t);
			pthread_barrier_wait(&pl->bar);
			continue;
		}
		uint32_t first = (uint32_t)((uint64_t)pl->n * t / pl->threads);
		uint32_t cnt = (uint32_t)((uint64_t)pl->n * (t + 1) / pl->threads) - first;
		restore_range(pl->bn, pl->slot, first, cnt);
		pthread_barrier_wait(&pl->bar); /* all restored: the clock starts */
		backend_cpu_run(pl->prog, pl->bn->umem, PKTGEN_FRAME, pl->bn->desc + (size_t)pl->slot * BATCH_MAX + first,
				cnt, GEN_TEST_NOW);
		pthread_barrier_wait(&pl->bar); /* all done: the clock stops */
	}
	return NULL;
}

/* The workers live until the process exits; -errno if they cannot all start. */
static int cpu_pool_start(int threads)
{
	pthread_t tid;

	if (cpu_pool.threads)
		return cpu_pool.threads == threads ? 0 : -EINVAL;
	if (threads > (int)(sizeof(cpu_pool.busy) / sizeof(cpu_pool.busy[0])))
		return -EINVAL;
	pthread_barrier_init(&cpu_pool.bar, NULL, (unsigned int)threads + 1);
	cpu_pool.threads = threads;
	for (int t = 0; t < threads; t++) {
		int r = pthread_create(&tid, NULL, cpu_worker, (void *)(intptr_t)t);
		if (r) {
			/* The barrier counts every worker: the ones started would wait forever. */
			fprintf(stderr, "gen-bench: cpu worker %d of %d: %s\n", t, threads, strerror(r));
			exit(1);
		}
		pthread_detach(tid);
	}
	return 0;
}

/*
 * Mpps of the cpu backend on batches of n: on the calling thread when threads
 * is 1, else on the persistent workers, free-running, each on n / threads
 * packets of its own (restores untimed either way).
 */
static double cpu_point(struct bench *bn, const struct chain_prog *prog, uint32_t n, int threads)
{
	double busy = 0, mpps = 0;
	uint64_t pkts = 0;

	if (threads > 1) {
		struct timespec d = { (time_t)bn->seconds, (long)((bn->seconds - (time_t)bn->seconds) * 1e9) };

		if (cpu_pool_start(threads))
			return -1;
		cpu_pool.bn = bn;
		cpu_pool.prog = prog;
		cpu_pool.n = n;
		cpu_pool.free_run = true;
		atomic_store(&cpu_pool.stop, 0);
		pthread_barrier_wait(&cpu_pool.bar);
		nanosleep(&d, NULL);
		atomic_store(&cpu_pool.stop, 1);
		pthread_barrier_wait(&cpu_pool.bar);
		cpu_pool.free_run = false;
		for (int t = 0; t < threads; t++)
			mpps += cpu_pool.busy[t] > 0 ? cpu_pool.pkts[t] / cpu_pool.busy[t] / 1e6 : 0;
		return mpps;
	}
	for (int it = 0; busy < bn->seconds || it < 2; it++) {
		uint32_t slot = (uint32_t)(it % NBUF);

		restore_range(bn, slot, 0, n);
		double t0 = now();
		backend_cpu_run(prog, bn->umem, PKTGEN_FRAME, bn->desc + (size_t)slot * BATCH_MAX, n, GEN_TEST_NOW);
		busy += now() - t0;
		pkts += n;
	}
	return pkts / busy / 1e6;
}

/* Mpps of one batch of n split over the workers, a barrier per batch (the earlier method; see cpu_pool). */
static double cpu_point_split(struct bench *bn, const struct chain_prog *prog, uint32_t n, int threads)
{
	double busy = 0;
	uint64_t pkts = 0;

	if (threads < 2)
		return cpu_point(bn, prog, n, 1);
	if (cpu_pool_start(threads))
		return -1;
	for (int it = 0; busy < bn->seconds || it < 2; it++) {
		cpu_pool.bn = bn;
		cpu_pool.prog = prog;
		cpu_pool.slot = (uint32_t)(it % NBUF);
		cpu_pool.n = n;
		pthread_barrier_wait(&cpu_pool.bar);
		pthread_barrier_wait(&cpu_pool.bar);
		double t0 = now();
		pthread_barrier_wait(&cpu_pool.bar);
		busy += now() - t0;
		pkts += n;
	}
	return pkts / busy / 1e6;
}

/* The chain's first NF of a type, or -1. */
static int cpu_nf_index(const struct chain_prog *prog, uint32_t type)
{
	for (uint32_t i = 0; i < prog->n; i++)
		if (prog->type[i] == type)
			return (int)i;
	return -1;
}

/* The libraries' peers built from the chain's NF states (router, nids); NULL if OpenSSL is unusable. */
static struct peers *cpu_peers_create(const struct bench *bn)
{
	/* The bench's default SA keys: the cost does not depend on them, test_peers checks the bytes. */
	struct peers_config pc = {
		.enc_key = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f },
		.auth_key = { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
			      0x20, 0x21, 0x22, 0x23 },
		.iv_key = { 0x5a, 0x17, 0x42, 0x9e, 0x01, 0xc3, 0x77, 0x28, 0xe4, 0x6b, 0x90, 0x3d, 0xaf, 0x12, 0x58, 0xd1 },
		.spi = 0x1001,
	};
	int rt = cpu_nf_index(&bn->prog, NF_T_IPV4_ROUTER), ids = cpu_nf_index(&bn->prog, NF_T_NIDS),
	    esp = cpu_nf_index(&bn->prog, NF_T_IPSEC_ESP);
	char why[256];
	double t0 = now();
	struct peers *p;

	pc.router = rt < 0 ? NULL : (const struct nf_ipv4_router *)bn->prog.state[rt];
	pc.nids = ids < 0 ? NULL : (const struct nf_nids *)bn->prog.state[ids];
	if (esp >= 0)
		pc.mtu = ((const struct nf_ipsec_esp *)bn->prog.state[esp])->mtu;
	p = peers_create(&pc, why, sizeof(why));
	if (!p)
		fprintf(stderr, "gen-bench: cpu peers: %s\n", why);
	else if (peers_hs_patterns(p))
		printf("cpu peers: hyperscan database of %u literals from the nids contents in %.0f ms\n",
		       peers_hs_patterns(p), (now() - t0) * 1e3);
	return p;
}

/*
 * The libraries beside the cpu backend on the same packets (the first n of
 * batch slot 0) and threads: the chain, and each NF alone, on the backend's
 * persistent workers, then the peers on theirs.
 */
static void cpu_peers_report(struct bench *bn, struct peers *p, const char *size, uint32_t n, int threads)
{
	static const struct { uint32_t type; int peer; const char *what; } pairs[] = {
		{ NF_T_IPSEC_ESP, PEER_ESP, "gen cpu backend: ipsec_esp alone" },
		{ NF_T_NIDS, PEER_HS, "gen cpu backend: nids alone (scan + rule verification)" },
	};
	struct peers_packets pk = { .umem = bn->pristine, .descs = bn->pdesc, .n = n, .frame_size = PKTGEN_FRAME };
	struct peers_result res;
	double mpps;

	printf("\n== cpu peers (%d threads), %s packets, %u per round: Mpps all threads, ns/packet per core\n", threads,
	       size, n);
	mpps = cpu_point(bn, &bn->prog, n, threads);
	printf("%-72s %9.2f %9.1f\n", "gen cpu backend: whole chain", mpps, threads * 1e3 / mpps);
	mpps = cpu_point_split(bn, &bn->prog, n, threads);
	printf("%-72s %9.2f %9.1f\n", "gen cpu backend: whole chain, one batch split, barrier per batch", mpps,
	       threads * 1e3 / mpps);
	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		int i = cpu_nf_index(&bn->prog, pairs[k].type);
		if (i < 0)
			continue;
		struct chain_prog one = { .n = 1, .type = { bn->prog.type[i] }, .state = { bn->prog.state[i] } };
		mpps = cpu_point(bn, &one, n, threads);
		printf("%-72s %9.2f %9.1f\n", pairs[k].what, mpps, threads * 1e3 / mpps);
	}
	if (!p) {
		printf("%-72s n/a (OpenSSL could not be set up)\n", "peers");
		return;
	}
	int r = peers_run(p, &pk, threads, bn->seconds, &res);
	if (r) {
		printf("%-72s n/a (%s)\n", "peers", strerror(-r));
		return;
	}
	for (int k = 0; k < PEER_MAX; k++) {
		if (res.mpps[k] < 0)
			printf("%-72s %s\n", peers_name(k), res.why[k]);
		else
			printf("%-72s %9.2f %9.1f\n", peers_name(k), res.mpps[k], res.ns_per_pkt[k]);
	}
	if (res.mpps[PEER_HS] >= 0)
		printf("(hyperscan: %u literals, %.1f%% of packets had at least one)\n", peers_hs_patterns(p),
		       100 * res.hs_hit_share);
	fflush(stdout);
}

static int load_chain(struct bench *bn, const char *file, const char *chain_name)
{
	static char err[4096];
	static const char *names[NF_CHAIN_MAX];
	struct cfg *c;
	const struct cfg_chain *ch;

	if (cfg_load(file, &c, err, sizeof(err)) || cfg_build_nfs(c, NULL, err, sizeof(err))) {
		fprintf(stderr, "%s", err);
		return -EINVAL;
	}
	ch = chain_name ? cfg_chain_find(c, chain_name) : c->nchains ? &c->chains[0] : NULL;
	if (!ch) {
		fprintf(stderr, "gen-bench: %s: no chain %s\n", file, chain_name ? chain_name : "at all");
		return -ENOENT;
	}
	memset(&bn->prog, 0, sizeof(bn->prog));
	bn->prog.n = (uint32_t)ch->nnfs;
	bn->prog.mini_batch = c->mini_batch;
	bn->prog.gpu = ch->gpu;
	for (int i = 0; i < ch->nnfs; i++) {
		bn->prog.type[i] = c->nfs[ch->nfs[i]].nf_type;
		bn->prog.state[i] = c->nfs[ch->nfs[i]].state;
		names[i] = c->nfs[ch->nfs[i]].name;
	}
	bn->nf_names = names;
	printf("chain '%s' from %s:", ch->name, file);
	for (int i = 0; i < ch->nnfs; i++)
		printf(" %s(%s)", names[i], c->nfs[ch->nfs[i]].type);
	printf(", mini_batch %u\n", bn->prog.mini_batch);
	return 0; /* c stays alive: the states belong to it */
}

/* The paper's chain, written to a temporary chains.ini. */
static const char *default_config(const char *rules)
{
	static char dir[] = "/tmp/gen-bench-XXXXXX", ini[128];
	char routes[128];
	FILE *f;

	if (!mkdtemp(dir))
		return NULL;
	snprintf(routes, sizeof(routes), "%s/routes", dir);
	snprintf(ini, sizeof(ini), "%s/chains.ini", dir);
	f = fopen(routes, "w");
	if (!f)
		return NULL;
	fprintf(f, "10.0.0.0/8 02:00:00:00:00:01\n10.1.0.0/16 02:00:00:00:00:02\n192.168.0.0/16 02:00:00:00:00:03\n"
		   "172.16.0.0/12 02:00:00:00:00:04\n8.8.8.0/24 02:00:00:00:00:05\n");
	fclose(f);
	f = fopen(ini, "w");
	if (!f)
		return NULL;
	fprintf(f, "[gen]\nports = bench0 bench1\nmini_batch = 256\n\n"
		   "[nf router]\ntype = ipv4_router\nroutes = %s\n\n"
		   "[nf ids]\ntype = nids\nrules = %s\naction = alert\n\n"
		   "[nf esp]\ntype = ipsec_esp\ndirection = encrypt\nspi = 0x1001\n"
		   "enc_key = 000102030405060708090a0b0c0d0e0f\nauth_key = 101112131415161718191a1b1c1d1e1f20212223\n"
		   "tunnel_src = 192.0.2.1\ntunnel_dst = 192.0.2.2\n"
		   /* 1500-byte packets grow by up to 73 bytes: an MTU that carries them, so ESP drops none. */
		   "mtu = 1600\n\n"
		   "[chain paper]\nid = 1\nmatch = src 0.0.0.0/0\nnfs = router ids esp\noutput = 2\n\n"
		   /* Each NF of the chain alone (-n router, -n ids, -n esp), for profiles by NF. */
		   "[chain router]\nid = 2\nmatch = src 10.0.0.0/8\nnfs = router\noutput = 2\n\n"
		   "[chain ids]\nid = 3\nmatch = src 10.1.0.0/16\nnfs = ids\noutput = 2\n\n"
		   "[chain esp]\nid = 4\nmatch = src 192.168.0.0/16\nnfs = esp\noutput = 2\n",
		routes, rules);
	fclose(f);
	return ini;
}

#ifdef GEN_HAVE_CUDA
/* ms from chain_create to the fused agent loaded (polled), as seen by the caller and by the backend. */
static int fused_startup(struct bench *bn, double *wall_ms, double *be_ms, bool *hit)
{
	struct backend_chain *bc;
	char desc[256] = "", err[2048] = "";
	double t0 = now();

	setenv("GEN_GPU_AGENT", "auto", 1);
	setenv("GEN_GPU_MODE", "rtc", 1);
	setenv("GEN_GPU_MEM", "gather", 1);
	bc = backend_gpu->chain_create(&bn->prog, bn->umem, bn->umem_size, PKTGEN_FRAME, err, sizeof(err));
	if (!bc) {
		fprintf(stderr, "gen-bench: chain_create: %s: %s\n", strerror(errno), err);
		return -1;
	}
	while (gpu_backend_fused_timing(bc, be_ms, hit)) {
		backend_gpu->describe(bc, desc, sizeof(desc));
		if (!strstr(desc, "compiling") || now() - t0 > 300) {
			fprintf(stderr, "gen-bench: no fused agent: %s\n", desc);
			backend_gpu->chain_destroy(bc);
			return -1;
		}
		usleep(200);
	}
	*wall_ms = (now() - t0) * 1e3;
	backend_gpu->describe(bc, desc, sizeof(desc));
	printf("  %s\n", desc);
	backend_gpu->chain_destroy(bc);
	return 0;
}

static void fused_report(struct bench *bn)
{
	static char dir[] = "/tmp/gen-bench-cache-XXXXXX";
	double wall, be;
	bool hit;

	if (!mkdtemp(dir)) {
		perror("gen-bench: cache dir");
		return;
	}
	setenv("GEN_CACHE_DIR", dir, 1);
	printf("\n== fused agent: chain_create -> fused agent loaded (empty cache %s)\n", dir);
	for (int k = 0; k < 3; k++) {
		if (fused_startup(bn, &wall, &be, &hit))
			return;
		printf("%-22s %9.1f ms (backend: %.1f ms)\n", k == 0 ? "cold NVRTC compile" : "cache hit", wall, be);
	}
	gen_traffic(bn, 64);
	printf("\n== 64B packets: Mpps, generic vs fused agent\n%-8s %14s %14s %14s %14s\n", "batch", "gather/generic",
	       "gather/fused", "mapped/generic", "mapped/fused");
	for (size_t b = 1; b < sizeof(batch_sizes) / sizeof(batch_sizes[0]); b++) {
		uint32_t n = batch_sizes[b];
		printf("%-8u", n);
		printf(" %14.2f", gpu_point(bn, n, "gather", "rtc"));
		printf(" %14.2f", gpu_point(bn, n, "gather", "fused"));
		printf(" %14.2f", gpu_point(bn, n, "mapped", "rtc"));
		printf(" %14.2f\n", gpu_point(bn, n, "mapped", "fused"));
		fflush(stdout);
	}
}
#endif

/*
 * Every slot's first n packets restored by the restorer threads after the
 * frames were overwritten: posted in a burst, then one by one with pauses
 * long enough that the restorers go to sleep and must be woken.
 */
static int restore_threaded(struct bench *bn, uint32_t n)
{
	struct restorer *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -ENOMEM;
	restorer_start(rs, bn, n);
	memset(bn->umem, 0xa5, bn->umem_size);
	for (uint32_t b = 0; b < NBUF; b++) {
		restorer_post(rs, b);
		if (b >= NBUF / 2)
			usleep(1000);
	}
	for (uint32_t b = 0; b < NBUF; b++)
		while (!restorer_ready(rs, b))
			restore_pause();
	restorer_stop(rs);
	free(rs);
	return 0;
}

/*
 * -C: the bench's own frames, checked (no figures). For each size mode every
 * slot's packet i must be pool packet (i + b * POOL_STEP) % BATCH_MAX, and a
 * restore must put back the window an NF may touch (64 bytes either side)
 * after the frames were overwritten. 0 when all hold, else 1.
 */
static int self_check(struct bench *bn)
{
	static const int modes[] = { 64, PKTGEN_IMIX, 1500 };
	bool writes = bn->writes;
	size_t bad = 0, checked = 0;

	bn->writes = true;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		gen_traffic(bn, modes[m]);
		memset(bn->umem, 0xa5, bn->umem_size);
		/* The restorer threads, as the gpu loop uses them: 64k, 3000 (2 chunks) and 1000 (1) a slot. */
		uint32_t n = m == 0 ? BATCH_MAX : m == 1 ? 3000 : 1000;
		if (m == 0) {
			for (uint32_t b = 0; b < NBUF; b++)
				restore_range(bn, b, 0, BATCH_MAX);
		} else if (restore_threaded(bn, n)) {
			return 1;
		}
		checked += (size_t)NBUF * n;
		for (uint32_t b = 0; b < NBUF; b++) {
			for (uint32_t i = 0; i < n; i++) {
				const struct gen_desc *d = bn->desc + (size_t)b * BATCH_MAX + i;
				const struct gen_desc *pd = bn->pdesc + (size_t)b * BATCH_MAX + i;
				const struct gen_desc *pool = bn->pdesc + (i + b * POOL_STEP) % BATCH_MAX;
				bool ok = d->addr == pd->addr && d->len == pd->len && pd->len == pool->len &&
					  !memcmp(bn->umem + pd->addr - 64, bn->pristine + pool->addr - 64, pd->len + 128);
				if (!ok && bad++ < 5)
					fprintf(stderr, "gen-bench -C: size mode %d, slot %u, packet %u: not restored as generated\n",
						modes[m], b, i);
			}
		}
	}
	bn->writes = writes;
	printf("gen-bench -C: %zu of %zu packets wrong after restore\n", bad, checked);
	return bad ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: gen-bench [-c chains.ini] [-n CHAIN] [-r RULES] [-d SECONDS] [-T THREADS] [-m MINI_BATCH] [-q] [-F] [-M] [-C]\n"
		"  -C check the bench's frame restore and exit (no figures)\n"
		"  -F fused-agent figures only; -M multi-GPU placement figures only\n"
		"  -n CHAIN without -c: paper (the default), or router, ids, esp (each NF of it alone)\n"
		"  -P MEM/MODE:BATCH:SIZE one gpu figure (e.g. gather/rtc:65536:64), for profilers\n");
	exit(2);
}

/*
 * The end of a run that used the gpu: the backend's shutdown first (a fused
 * agent may still be compiling in the background, and exit() while it does
 * crashes inside NVRTC), then the UMEM.
 */
static void gpu_done(struct bench *bn)
{
	if (backend_gpu->shutdown)
		backend_gpu->shutdown();
	bench_detach(bn);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *chain = NULL, *rules = GEN_SHARED_DATA "/snort-community/community.rules";
	struct bench bn = { .seconds = 0.3 };
	int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), quick = 0, fused_only = 0, multi_only = 0, check = 0, o;
	const char *point = NULL;
	char why[256];
	long mini = 0;

	if (getenv("GEN_SHARED_DATA")) {
		static char buf[512];
		snprintf(buf, sizeof(buf), "%s/snort-community/community.rules", getenv("GEN_SHARED_DATA"));
		rules = buf;
	}
	while ((o = getopt(argc, argv, "c:n:r:d:T:m:qFMP:Ch")) != -1) {
		switch (o) {
		case 'c': file = optarg; break;
		case 'n': chain = optarg; break;
		case 'r': rules = optarg; break;
		case 'd': bn.seconds = atof(optarg); break;
		case 'T': threads = atoi(optarg); break;
		case 'm': mini = strtol(optarg, NULL, 10); break;
		case 'q': quick = 1; break;
		case 'F': fused_only = 1; break;
		case 'M': multi_only = 1; break;
		case 'P': point = optarg; break;
		case 'C': check = 1; break;
		default: usage();
		}
	}
	if (threads < 1 || threads > 256)
		threads = 2;
	restore_nt = getenv("GEN_BENCH_NT") && !strcmp(getenv("GEN_BENCH_NT"), "1");
	bench_slots = bench_slots_from_env();
	if (bench_slots < NBUF)
		fprintf(stderr, "gen-bench: GEN_BENCH_SLOTS=%u: gpu batches cycle through %u slots, at most %u in flight\n",
			bench_slots, bench_slots, bench_slots / 2);
	bn.umem_size = (size_t)NBUF * BATCH_MAX * PKTGEN_FRAME;
	bn.umem = umem_map(bn.umem_size);
	bn.pristine = mmap(NULL, bn.umem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bn.pdesc = calloc((size_t)NBUF * BATCH_MAX, sizeof(*bn.pdesc));
	bn.desc = calloc((size_t)NBUF * BATCH_MAX, sizeof(*bn.desc));
	if (bn.umem == MAP_FAILED || bn.pristine == MAP_FAILED || !bn.pdesc || !bn.desc) {
		perror("gen-bench: memory");
		return 1;
	}
	if (check) /* the frames alone: no chain, no rules */
		return self_check(&bn);
	if (!file && !(file = default_config(rules))) {
		perror("gen-bench: temporary config");
		return 1;
	}
	if (load_chain(&bn, file, chain))
		return 1;
	bn.writes = prog_writes(&bn.prog);
	if (mini > 0 && mini <= 1024) {
		bn.prog.mini_batch = (uint32_t)mini; /* threads per block on the GPU (the paper's mini-batch) */
		printf("mini_batch %ld (-m)\n", mini);
	}

	static const struct { const char *name; int mode; } smodes[] = { { "64B", 64 }, { "IMIX", PKTGEN_IMIX }, { "1500B", 1500 } };
	int nsm = quick ? 1 : 3;
	int gpu_ok = backend_gpu && !gpu_backend_probe(why, sizeof(why));

	printf("gpu: %s\n", backend_gpu ? why : "built without CUDA");
	printf("umem: %zu MiB on %s\n", bn.umem_size >> 20, umem_huge ? "2 MiB hugepages" : "normal pages");
	if (!gpu_ok) {
		if (backend_gpu)
			gpu_backend_probe(why, sizeof(why));
	} else if (bench_attach(&bn)) {
		fprintf(stderr, "gen-bench: umem_attach failed\n");
		gpu_ok = 0;
	}
	if (point) {
		/* One figure, for profilers: -P MEM/MODE:BATCH:SIZE (SIZE 64, 1500, imix). */
		char mem[16], mode[16], size[16];
		unsigned int n;

		if (sscanf(point, "%15[^/]/%15[^:]:%u:%15s", mem, mode, &n, size) != 4 || n < 1 || n > BATCH_MAX) {
			fprintf(stderr, "gen-bench: -P MEM/MODE:BATCH:SIZE, e.g. gather/rtc:65536:64\n");
			return 2;
		}
		if (!gpu_ok)
			return 1;
		gen_traffic(&bn, !strcmp(size, "imix") ? PKTGEN_IMIX : atoi(size));
		double mpps = gpu_point(&bn, n, mem, mode);
		if (gpu_idle_share > 0.01)
			printf("(restore wait %.0f %% of the time)\n", 100 * gpu_idle_share);
		if (gpu_phases.batches) {
			double b = (double)gpu_phases.batches;
			printf("(submitting thread per batch: submit %.1f us, complete %.1f us, polls %.1f us in %.0f calls, "
			       "restore posts %.1f us; %.2f batches in flight on average)\n",
			       1e6 * gpu_phases.submit / b, 1e6 * gpu_phases.complete / b, 1e6 * gpu_phases.poll / b,
			       (double)gpu_phases.polls / b, 1e6 * gpu_phases.post / b, gpu_phases.inflight);
		}
		printf("%s/%s batch %u size %s: %.2f Mpps\n", mem, mode, n, size, mpps);
		gpu_done(&bn);
		return 0;
	}
	if (multi_only) {
		int ndev = 0;

		if (gpu_ok && sscanf(why, "%d", &ndev) == 1 && ndev >= 1)
			multi_report(&bn, ndev);
		if (gpu_ok)
			gpu_done(&bn);
		return gpu_ok ? 0 : 1;
	}
	if (fused_only) {
#ifdef GEN_HAVE_CUDA
		if (gpu_ok) {
			fused_report(&bn);
			gpu_done(&bn);
		}
#endif
		return gpu_ok ? 0 : 1;
	}
	/* gather is the default packet memory; mapped (in place) and staged are the earlier designs. */
	static const char *const vars[][2] = { { "gather", "rtc" },   { "gather", "fused" }, { "gather", "pipeline" },
					       { "mapped", "rtc" },   { "staged", "rtc" } };
	enum { NVARS = sizeof(vars) / sizeof(vars[0]) };
	struct peers *peers = cpu_peers_create(&bn);
	for (int s = 0; s < nsm; s++) {
		gen_traffic(&bn, smodes[s].mode);
		printf("\n== %s packets: Mpps (packets per second / 1e6)\n", smodes[s].name);
		printf("%-8s", "batch");
		if (gpu_ok)
			for (int v = 0; v < NVARS; v++)
				printf(" %9s/%-8s", vars[v][0], vars[v][1]);
		printf(" %12s %12s\n", "cpu 1 thr", "cpu T thr");
		for (size_t b = 0; b < sizeof(batch_sizes) / sizeof(batch_sizes[0]); b++) {
			uint32_t n = batch_sizes[b];
			printf("%-8u", n);
			double idle_max = 0;
			if (gpu_ok)
				for (int v = 0; v < NVARS; v++) {
					printf(" %18.2f", gpu_point(&bn, n, vars[v][0], vars[v][1]));
					idle_max = gpu_idle_share > idle_max ? gpu_idle_share : idle_max;
					fflush(stdout);
				}
			/* The cpu has no batch-size effect past thread start-up: cap its batches so slow chains finish. */
			uint32_t nc = n < 4096 ? n : 4096;
			printf(" %12.2f %12.2f", cpu_point(&bn, &bn.prog, nc, 1), cpu_point(&bn, &bn.prog, nc * (uint32_t)threads < n ? nc * (uint32_t)threads : n, threads));
			/* The gpu waited for frames to be restored: the figure is the bench's, not the chain's. */
			printf(idle_max > 0.02 ? "  (waited for restores up to %.0f%% of the time)\n" : "\n", idle_max * 100);
			fflush(stdout);
		}
		printf("(cpu T = %d threads)\n", threads);
		cpu_peers_report(&bn, peers, smodes[s].name, 4096 * (uint32_t)threads < BATCH_MAX ? 4096 * (uint32_t)threads : BATCH_MAX,
				 threads);
	}

	printf("\n== cpu ns/packet per NF alone, 2048-packet batches, 1 thread\n%-16s %10s %10s\n", "nf", "64B", "1500B");
	double nf_ns[NF_CHAIN_MAX][2];
	for (int s = 0; s < 2; s++) {
		gen_traffic(&bn, s ? 1500 : 64); /* once per size: it rewrites the whole fake UMEM */
		for (uint32_t i = 0; i < bn.prog.n && i < NF_CHAIN_MAX; i++) {
			struct chain_prog one = { .n = 1, .type = { bn.prog.type[i] }, .state = { bn.prog.state[i] } };
			nf_ns[i][s] = 1e3 / cpu_point(&bn, &one, 2048, 1);
		}
	}
	for (uint32_t i = 0; i < bn.prog.n && i < NF_CHAIN_MAX; i++)
		printf("%-16s %10.1f %10.1f\n", bn.nf_names[i], nf_ns[i][0], nf_ns[i][1]);
	peers_destroy(peers);
	if (gpu_ok)
		gpu_done(&bn);
	return 0;
}
