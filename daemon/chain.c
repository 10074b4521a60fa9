// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include "chain.h"
#include "nf/registry.h"
#include "pin.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define SLOTS 16 /* batches in flight per chain and queue at most ([chain] inflight; the backend may allow fewer) */
#define GROUPS 32 /* arrival times kept per batch: packets of one worker burst share one */
#define WINDOW_NS 10000000ull    /* the latency controller's window: 10 ms */
#define PLACE_NS 50000000ull     /* hybrid: the load is measured over 50 ms */
#define PLACE_RUNS 4             /* ... and a move needs 4 such windows in a row */
#define PLACE_HOLD_NS 500000000ull /* ... and 500 ms since the last move */
#define SURGE_NS 1000000ull       /* hybrid on the cpu: the input rings looked at every 1 ms */
#define LIM_MIN 32u              /* the latency target never shrinks batches below this */
#define TARGET_RUNS 10           /* windows in a row before a miss (or a meet) is reported */

/* Packets of a batch that arrived at one time. */
struct arrival {
	uint32_t n;
	uint64_t ns;
};

struct inflight {
	struct gen_desc *descs;
	uint32_t n;
	struct arrival grp[GROUPS];
	uint32_t ngrp;
	int q;
	bool busy;
	const struct backend_ops *be; /* what ran it: a fallback must not mix backends */
	struct backend_chain *bc;
	const struct backend_ops *attached; /* descs attached to this backend (descs_attach) */
	int64_t submitted_ns;
	uint64_t now;                 /* the batch's time, for its NFs (a rerun keeps it) */
};

struct ctl_state {
	struct gen_chain *c;
	struct chain_ctl *me;
	int q;
	struct inflight slot[SLOTS];
	uint32_t nslots;
	uint32_t head, tail;   /* submit order ring over slot[] */
	bool held;             /* slot[head] holds a batch the backend refused: it goes next, after those in flight */
	const struct backend_ops *fb;  /* after a backend failure: the fallback, and its chain for this queue */
	struct backend_chain *fb_bc;

	/* The batcher: its limits (the latency target moves them) and the arrival marks. */
	uint32_t depth, depth0, lim;
	uint32_t mcur;          /* next arrival mark not yet passed */
	bool late;              /* the oldest packet reached max_wait with every slot busy */
	uint64_t win_start, win_pkts;
	uint32_t win_batches, win_full; /* batches of the window, and those the limit cut short */
	uint64_t win_hist[CHAIN_LAT_BUCKETS];
	uint32_t backlog0;      /* ring count at the window's start */
	uint64_t stalls0;       /* the input's stalls and ring-full drops at the window's start */
	int miss_run, meet_run, calm_run;

	/* Hybrid placement (the controller of queue 0 decides for the chain). */
	uint64_t pl_start, pl_rx0, pl_busy0[GEN_MAX_QUEUES], pl_pkts0[GEN_MAX_QUEUES];
	uint64_t last_move, cpu_cost_ns; /* cpu ns per packet, measured on the cpu side */
	int pl_run;
	uint64_t surge_at, surge_busy0[GEN_MAX_QUEUES]; /* the last look at the input rings, */
	uint32_t surge_last;    /* and the largest backlog then past an eighth of a ring on a busy cpu side (0: none) */
	bool move_pending;
	char move_why[96];      /* what place_window saw, for the log once the move is done */
};

/*
 * Batches version v keeps in flight on backend be with slots slots at most:
 * the least of those, the backend's own limit and v's inflight ([chain] or
 * [gen]; 0 in a version made without one: every slot).
 */
static uint32_t inflight_cap(const struct chain_ver *v, const struct backend_ops *be, uint32_t slots)
{
	uint32_t cap = be->max_inflight < slots ? be->max_inflight : slots;

	return v->inflight && v->inflight < cap ? v->inflight : cap;
}

/* ... for the controller, with the slots it has. */
static uint32_t slot_cap(const struct ctl_state *s, const struct backend_ops *be)
{
	return inflight_cap(s->c->cur, be, s->nslots);
}

void (*chain_test_taken)(int q);

static void add64(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void chain_fail(struct gen_chain *c, const char *why)
{
	int zero = 0;

	if (!__atomic_compare_exchange_n(&c->fail_claim, &zero, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return;
	snprintf(c->fail_reason, sizeof(c->fail_reason), "%s", why);
	STORE(&c->failed, 1);
}

struct chain_ver *chain_ver_new(const struct chain_prog *prog, const struct backend_ops *be,
				struct qworker *workers, int nq, int out_port, char *err, size_t errlen)
{
	struct chain_ver *v = calloc(1, sizeof(*v));
	char why[2048];

	if (!v)
		return NULL;
	v->prog = *prog;
	v->be = be;
	v->out_port = out_port;
	for (int q = 0; q < nq; q++) {
		why[0] = '\0';
		v->bc[q] = be->chain_create(prog, workers[q].area, workers[q].area_size, GEN_FRAME_SIZE, why,
					    sizeof(why));
		if (!v->bc[q]) {
			int r = errno ? errno : EIO;

			snprintf(err, errlen, "backend %s failed to set up the chain: %s%s%s", be->name, strerror(r),
				 why[0] ? "\n" : "", why);
			chain_ver_free(v, q);
			errno = r;
			return NULL;
		}
	}
	return v;
}

void chain_ver_free(struct chain_ver *v, int nq)
{
	if (!v)
		return;
	for (int q = 0; q < nq; q++) {
		if (v->bc[q])
			v->be->chain_destroy(v->bc[q]);
		if (v->cpu_bc[q])
			v->be->fallback->chain_destroy(v->cpu_bc[q]);
	}
	free(v);
}

int chain_ver_add_cpu(struct chain_ver *v, struct qworker *workers, int nq, char *err, size_t errlen)
{
	const struct backend_ops *fb = v->be->fallback;
	char why[256];

	if (!fb) {
		snprintf(err, errlen, "backend %s has no fallback to run a hybrid chain at low load", v->be->name);
		return -EINVAL;
	}
	for (int q = 0; q < nq; q++) {
		why[0] = '\0';
		v->cpu_bc[q] = fb->chain_create(&v->prog, workers[q].area, workers[q].area_size, GEN_FRAME_SIZE, why,
						sizeof(why));
		if (!v->cpu_bc[q]) {
			snprintf(err, errlen, "backend %s failed to set up the hybrid chain's low-load side: %s", fb->name,
				 why[0] ? why : strerror(errno));
			return -ENOMEM;
		}
	}
	v->hybrid = true;
	return 0;
}

int chain_init(struct gen_chain *c, const char *name, uint32_t id, int nq, uint32_t max_batch,
	       struct qworker *workers)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->id = id;
	c->nq = nq;
	c->max_batch = max_batch;
	c->workers = workers;
	pthread_mutex_init(&c->place_lock, NULL);
	for (int q = 0; q < nq; q++)
		c->ctl[q].wake.fd = -1;
	for (int q = 0; q < nq; q++) {
		c->ctl[q].c = c;
		c->ctl[q].q = q;
		if (wake_init(&c->ctl[q].wake)) {
			chain_fini(c);
			return -errno;
		}
		c->io[q].chain_wake = &c->ctl[q].wake;
		c->io[q].worker_wake = &workers[q].wake;
		/* As many slots as the UMEM has frames: these rings never overflow. */
		if (ring_init(&c->io[q].in, workers[q].nframes) || ring_init(&c->io[q].out, workers[q].nframes)) {
			chain_fini(c);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Bucket of ns: below K = 2^CHAIN_LAT_SUB nanoseconds bucket ns; else, with
 * 2^e <= ns < 2^(e+1), the octave's (e - SUB + 1)-th row of K buckets, split
 * by the SUB bits after the leading one.
 */
int chain_lat_bucket(uint64_t ns)
{
	const int k = 1 << CHAIN_LAT_SUB;
	int e, b;

	if (ns < (uint64_t)k)
		return (int)ns;
	e = 63 - __builtin_clzll(ns);
	b = (e - CHAIN_LAT_SUB + 1) * k + (int)((ns >> (e - CHAIN_LAT_SUB)) & (uint64_t)(k - 1));
	return b < CHAIN_LAT_BUCKETS ? b : CHAIN_LAT_BUCKETS - 1;
}

/* The largest ns in bucket b. */
uint64_t chain_lat_bucket_ns(int b)
{
	const int k = 1 << CHAIN_LAT_SUB;
	int e = b / k + CHAIN_LAT_SUB - 1;

	if (b < k)
		return (uint64_t)b;
	return (((uint64_t)k + (uint64_t)(b % k) + 1) << (e - CHAIN_LAT_SUB)) - 1;
}

uint64_t chain_lat_quantile(const uint64_t *hist, double q)
{
	uint64_t n = 0, seen = 0, want;

	for (int b = 0; b < CHAIN_LAT_BUCKETS; b++)
		n += hist[b];
	if (!n)
		return 0;
	want = (uint64_t)(q * (double)n);
	if (want >= n)
		want = n - 1;
	for (int b = 0; b < CHAIN_LAT_BUCKETS; b++) {
		seen += hist[b];
		if (seen > want)
			return chain_lat_bucket_ns(b);
	}
	return chain_lat_bucket_ns(CHAIN_LAT_BUCKETS - 1);
}

/* Each packet's sojourn, from its arrival in the ring to its verdict, now. */
static void record_latency(struct ctl_state *s, const struct inflight *f)
{
	uint64_t now = spin_now_ns();

	for (uint32_t g = 0; g < f->ngrp; g++) {
		int b = chain_lat_bucket(now > f->grp[g].ns ? now - f->grp[g].ns : 0);

		s->win_hist[b] += f->grp[g].n;
		add64(&s->c->lat_hist[b], f->grp[g].n);
	}
	s->win_pkts += f->n;
}

static void return_batch(struct ctl_state *s, struct inflight *f)
{
	struct gen_chain *c = s->c;
	struct chain_io *io = &c->io[f->q];
	uint32_t done = 0;

	/* DROP verdicts are counted by the worker that forwards the batch (chain_io.drop[VERDICT]). */
	record_latency(s, f);
	while (done < f->n)
		done += ring_push(&io->out, f->descs + done, f->n - done);
	wake_kick(io->worker_wake);
	f->busy = false;
}

/* A failed chain runs nothing: its frames go back as drops. */
static void drop_failed(struct ctl_state *s, struct inflight *f)
{
	for (uint32_t i = 0; i < f->n; i++)
		f->descs[i].verdict = NF_DROP;
	add64(&s->c->fail_dropped, f->n);
	return_batch(s, f);
}

/* Submit; time spent in the cpu backend is hybrid's measure of the cpu's load. */
static int submit_timed(struct ctl_state *s, struct inflight *f, uint32_t cnt)
{
	uint64_t t0;
	int r;

	if (f->be != s->c->cur->be->fallback)
		return f->be->submit(f->bc, f->descs, cnt, f->now);
	t0 = spin_now_ns();
	r = f->be->submit(f->bc, f->descs, cnt, f->now);
	add64(&s->me->busy_ns, spin_now_ns() - t0);
	add64(&s->me->cpu_pkts, cnt);
	return r;
}

/* This queue's chain on the version's fallback, made when first needed. */
static struct backend_chain *fallback_bc(struct ctl_state *s, int q)
{
	struct gen_chain *c = s->c;

	if (!s->fb_bc && c->cur->be->fallback) {
		s->fb = c->cur->be->fallback;
		s->fb_bc = s->fb->chain_create(&c->cur->prog, c->workers[q].area, c->workers[q].area_size,
					       GEN_FRAME_SIZE, NULL, 0);
	}
	return s->fb_bc;
}

/*
 * Run a batch on the fallback now: it runs within submit and completes at once
 * (backend.h). 0, or -errno: no fallback, no chain on it, or it refused.
 */
static int fallback_run(struct ctl_state *s, struct inflight *f)
{
	struct backend_chain *bc = fallback_bc(s, f->q);
	struct gen_desc *descs;
	uint32_t n;
	int r;

	if (!bc)
		return s->c->cur->be->fallback ? -ENOMEM : -ENODEV;
	r = s->fb->submit(bc, f->descs, f->n, f->now);
	if (r)
		return r;
	return s->fb->complete(bc, &descs, &n) == 1 ? 0 : -EPROTO;
}

/*
 * The batch's NFs under the guard: on a backend that runs them on this thread
 * (the fallback, cpu_only) they run here. Returns what the backend returned,
 * or -EFAULT when an NF crashed or overran: the chain has failed then.
 */
static int run_guarded(struct ctl_state *s, struct inflight *f, bool cpu_only)
{
	struct guard *g = &s->me->guard;
	char why[160];
	volatile int r = 0; /* not read after the jump back; volatile keeps the compiler quiet */

	if (sigsetjmp(g->jb, 0)) {
		guard_describe(g, why, sizeof(why));
		chain_fail(s->c, why);
		return -EFAULT;
	}
	guard_arm(g);
	if (cpu_only)
		r = fallback_run(s, f);
	else
		r = submit_timed(s, f, f->n);
	guard_leave(g);
	return r;
}

/* Every packet of the batch dropped, counted in *counter. */
static void drop_batch(struct inflight *f, uint64_t *counter)
{
	for (uint32_t i = 0; i < f->n; i++)
		f->descs[i].verdict = NF_DROP;
	add64(counter, f->n);
}

/*
 * The backend failed batch f (err): keep its words (the first failure's), and
 * move the chain to the fallback for good, if the backend declares one.
 * Returns the fallback, or NULL.
 */
static const struct backend_ops *leave_backend(struct ctl_state *s, struct inflight *f, int err)
{
	struct gen_chain *c = s->c;
	const struct backend_ops *fb = c->cur->be->fallback;
	const char *why = f->bc && f->be->last_error ? f->be->last_error(f->bc) : "";
	int zero = 0;

	if (__atomic_compare_exchange_n(&c->backend_err_claim, &zero, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		snprintf(c->backend_error, sizeof(c->backend_error), "%s", why && why[0] ? why : strerror(-err));
		STORE(&c->backend_err_set, 1);
	}
	if (!fb)
		return NULL;
	add64(&c->fallbacks, 1);
	if (!c->backend_failed) {
		STORE(&c->backend_failed, 1);
		STORE(&c->backend_name, fb->name);
	}
	return fb;
}

/*
 * Rerun a batch the backend failed on, on its fallback, and keep the chain
 * there. A batch whose frames the backend may have begun to rewrite (-ESTALE,
 * see backend.h) is dropped and counted instead: a rerun could apply an NF
 * twice; so is one that has nowhere to go.
 */
static void fall_back(struct ctl_state *s, struct inflight *f, int err)
{
	struct gen_chain *c = s->c;
	int r = leave_backend(s, f, err) && err != -ESTALE ? run_guarded(s, f, true) : err;

	if (r == -EFAULT)
		drop_batch(f, &c->fail_dropped);
	else if (r)
		drop_batch(f, &c->backend_lost);
}

static const struct backend_ops *active_be(struct gen_chain *c)
{
	/* Both only where the backend has a fallback (chain_ver_add_cpu, leave_backend). */
	return LOAD(&c->backend_failed) || LOAD(&c->on_cpu) ? c->cur->be->fallback : c->cur->be;
}

/*
 * The backend a batch goes to and queue q's chain on it, from one reading of
 * the placement: another queue's controller may move the chain to the
 * fallback (leave_backend) at any moment, and a batch must never reach one
 * backend's submit with the other's chain (seen: the device's submit given
 * the cpu fallback's chain, under load, in test_chain).
 */
static const struct backend_ops *active(struct ctl_state *s, int q, struct backend_chain **bc)
{
	struct gen_chain *c = s->c;
	bool failed = LOAD(&c->backend_failed), on_cpu = LOAD(&c->on_cpu);

	if (failed) {
		*bc = fallback_bc(s, q);
		return c->cur->be->fallback;
	}
	*bc = on_cpu ? c->cur->cpu_bc[q] : c->cur->bc[q];
	return on_cpu ? c->cur->be->fallback : c->cur->be;
}

static uint32_t complete_some(struct ctl_state *s)
{
	uint32_t n = 0;

	while (s->tail != s->head) {
		struct inflight *f = &s->slot[s->tail % s->nslots];
		struct gen_desc *descs;
		uint32_t cnt;
		int r = f->be->complete(f->bc, &descs, &cnt);

		if (r == 0) {
			/*
			 * A batch the device never finishes cannot be taken back: its frames stay
			 * with it. The chain fails, so that nothing more is sent to the device.
			 */
			if (!LOAD(&s->c->failed) && mono_ns() - f->submitted_ns > (int64_t)CHAIN_DEVICE_MS * 1000000) {
				char why[96];

				snprintf(why, sizeof(why), "a batch on the %s backend did not complete within %d ms",
					 f->be->name, CHAIN_DEVICE_MS);
				chain_fail(s->c, why);
			}
			break;
		}
		if (r < 0)
			fall_back(s, f, r);
		return_batch(s, f);
		s->tail++;
		n++;
	}
	return n;
}

static void count_batch(struct gen_chain *c, uint32_t cnt)
{
	uint32_t max = LOAD(&c->batch_max);

	add64(&c->batches, 1);
	add64(&c->batch_pkts, cnt);
	STORE(&c->batch_last, cnt);
	while (cnt > max && !__atomic_compare_exchange_n(&c->batch_max, &max, cnt, false, __ATOMIC_RELAXED,
							 __ATOMIC_RELAXED))
		;
}

/*
 * When the packet at ring position pos arrived: the time of the first arrival
 * mark past it. *ret_end: the ring position that mark ends at (packets up to
 * it arrived then too). No mark yet (the worker is about to write it): now.
 */
static uint64_t arrival_of(struct ctl_state *s, uint32_t pos, uint64_t now, uint32_t *ret_end)
{
	const struct chain_io *io = &s->c->io[s->q];
	uint32_t n = LOAD(&io->nmark);

	if (n - s->mcur > CHAIN_IO_MARKS)
		s->mcur = n - CHAIN_IO_MARKS; /* older marks were overwritten: their packets are gone */
	for (; s->mcur != n; s->mcur++) {
		const struct io_mark *m = &io->mark[s->mcur % CHAIN_IO_MARKS];
		uint32_t head = __atomic_load_n(&m->head, __ATOMIC_RELAXED);
		uint64_t ns = __atomic_load_n(&m->ns, __ATOMIC_RELAXED);

		if ((int32_t)(head - pos) <= 0)
			continue;
		if (LOAD(&io->nmark) - s->mcur > CHAIN_IO_MARKS)
			continue; /* rewritten while read */
		*ret_end = head;
		return ns < now ? ns : now;
	}
	*ret_end = pos + (1u << 30);
	return now;
}

/* How long the oldest packet waiting has waited (0: none waits). */
static uint64_t oldest_wait(struct ctl_state *s, uint64_t now)
{
	const struct ring *in = &s->c->io[s->q].in;
	uint32_t end;

	if (!ring_count(in))
		return 0;
	return now - arrival_of(s, in->tail, now, &end);
}

/* Pop up to lim packets into f, with their arrival times. */
static uint32_t take(struct ctl_state *s, struct inflight *f, uint32_t lim, uint64_t now)
{
	struct ring *in = &s->c->io[s->q].in;
	uint32_t t0 = in->tail, cnt = ring_pop(in, f->descs, lim), pos = t0, end;

	f->ngrp = 0;
	while (pos != t0 + cnt) {
		uint64_t ns = arrival_of(s, pos, now, &end);
		uint32_t k = (int32_t)(end - (t0 + cnt)) < 0 ? end - pos : t0 + cnt - pos;

		if (f->ngrp < GROUPS)
			f->grp[f->ngrp++] = (struct arrival){ k, ns };
		else
			f->grp[GROUPS - 1].n += k; /* counted with an older time: latency over-, never under-stated */
		pos += k;
	}
	return cnt;
}

/*
 * The Adaptive Batcher's rule for one more batch now: a slot under the depth
 * is free (take everything waiting, the paper's rule), or max_wait_us has run
 * out for the oldest packet and a slot beyond the depth is free (close early).
 */
static bool batch_due(struct ctl_state *s, uint32_t busy, uint32_t cap, uint64_t now)
{
	uint64_t wait_ns = (uint64_t)s->c->cur->max_wait_us * 1000;
	uint32_t depth = s->depth < cap ? s->depth : cap;

	if (busy < depth)
		return true;
	if (!wait_ns || oldest_wait(s, now) < wait_ns)
		return false;
	if (busy < cap) {
		add64(&s->c->early_closes, 1);
		return true;
	}
	s->late = true;
	return false;
}

/*
 * A failed chain: what waits in the ring goes back as drops at once, whatever
 * its batches in flight (a batch stuck on a device holds its slots for good).
 * Returns the count.
 */
static uint32_t drop_waiting(struct ctl_state *s)
{
	struct chain_io *io = &s->c->io[s->q];
	struct gen_desc d[64];
	uint32_t n = ring_pop(&io->in, d, 64);

	for (uint32_t i = 0; i < n; i++)
		d[i].verdict = NF_DROP;
	for (uint32_t done = 0; done < n;)
		done += ring_push(&io->out, d + done, n - done);
	if (n) {
		add64(&s->c->fail_dropped, n);
		wake_kick(io->worker_wake);
	}
	return n;
}

/*
 * A batch the backend did not take (r < 0) while batches are in flight: it
 * must not overtake them, so it is held and goes next, once a slot is free
 * (-EBUSY) or, after a failure, once the chain is on its fallback and what the
 * backend still holds came back. Returns false when it cannot wait (nothing
 * in flight, or no fallback to go to): the caller handles it at once.
 */
static bool hold_batch(struct ctl_state *s, struct inflight *f, int r)
{
	if (s->head == s->tail)
		return false;
	if (r != -EBUSY && !leave_backend(s, f, r))
		return false;
	s->held = true;
	return true;
}

/* A batch the backend did not take, with nothing in flight: its fallback runs it now, else it is lost. */
static void refused_now(struct ctl_state *s, struct inflight *f, int r)
{
	if (r != -EBUSY) {
		fall_back(s, f, r);
	} else {
		r = s->c->cur->be->fallback ? run_guarded(s, f, true) : r;
		if (r == -EFAULT)
			drop_batch(f, &s->c->fail_dropped);
		else if (r)
			drop_batch(f, &s->c->backend_lost);
	}
	return_batch(s, f);
}

static uint32_t submit_some(struct ctl_state *s)
{
	struct gen_chain *c = s->c;
	int q = s->q;
	uint32_t n = 0;

	for (;;) {
		struct inflight *f = &s->slot[s->head % s->nslots];
		struct backend_chain *bc;
		const struct backend_ops *be = active(s, q, &bc);
		uint32_t cap = slot_cap(s, be);
		uint64_t now = spin_now_ns();
		uint32_t cnt;
		int r;

		if (s->held) {
			/* Taken already: it goes as soon as a slot is free, before anything newer. */
			if (s->head - s->tail >= (cap ? cap : 1))
				break;
			s->held = false;
			cnt = f->n;
		} else if (LOAD(&c->failed)) {
			n += drop_waiting(s);
			break;
		} else {
			if (s->move_pending || !ring_count(&c->io[q].in) ||
			    !batch_due(s, s->head - s->tail, cap ? cap : 1, now))
				break;
			/* The Adaptive Batcher: everything waiting, up to the batch limit, as one batch. */
			cnt = take(s, f, s->lim, now);
			if (!cnt)
				break;
			s->win_batches++;
			s->win_full += cnt == s->lim;
			if (s->late)
				add64(&c->wait_overruns, 1);
			s->late = false;
			f->n = cnt;
			f->q = q;
			f->busy = true;
			f->now = backend_batch_time();
			if (chain_test_taken)
				chain_test_taken(q);
		}
		if (LOAD(&c->failed)) {
			drop_failed(s, f);
			continue;
		}
		f->be = be;
		f->bc = bc;
		f->submitted_ns = mono_ns();
		r = f->bc ? run_guarded(s, f, false) : -ENOMEM;
		if (r == -EFAULT) {
			drop_failed(s, f);
			continue;
		}
		if (r < 0) {
			if (hold_batch(s, f, r))
				break;
			refused_now(s, f, r);
			continue;
		}
		s->head++;
		count_batch(c, cnt);
		n += cnt;
		/* A cpu batch is done already: hand it back before taking the next. */
		if (cap <= 1)
			break;
	}
	return n;
}

static void drop_cpu_fallback(struct ctl_state *s)
{
	if (s->fb_bc)
		s->fb->chain_destroy(s->fb_bc);
	s->fb_bc = NULL;
}

static bool controller_has_work(struct ctl_state *s)
{
	return ring_count(&s->c->io[s->q].in) || LOAD(&s->c->pause_req) || LOAD(&s->c->move_req) ||
	       LOAD(&s->c->stop);
}

/*
 * Idle with nothing in flight: block until the worker hands over packets, or
 * 10 ms; whether a wake-up (or work found at once) ended it (wake.h: spin_slept).
 */
static bool controller_sleep(struct ctl_state *s)
{
	struct wake *wk = &s->me->wake;
	struct pollfd pfd = { .fd = wk->fd, .events = POLLIN };
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	bool woken = true;

	wake_prepare(wk);
	if (!controller_has_work(s))
		woken = ppoll(&pfd, 1, &ts, NULL) > 0;
	wake_done(wk);
	return woken;
}

/* At a batch boundary, nothing in flight: wait while the main thread swaps the program. */
static void controller_pause(struct ctl_state *s)
{
	struct timespec ts = { 0, 20000 };

	drop_cpu_fallback(s);
	STORE(&s->me->paused, 1);
	while (LOAD(&s->c->pause_req) || LOAD(&s->c->move_req))
		nanosleep(&ts, NULL);
	STORE(&s->me->paused, 0);
}

/* Where a version runs: its backend, or (hybrid, on_cpu) its cpu side. */
struct place {
	const struct chain_ver *v;
	const struct backend_ops *be;
	struct backend_chain *bc; /* queue 0's: the queues of a device share the NF copies */
};

static struct place place_of(const struct chain_ver *v, bool on_cpu)
{
	if (on_cpu && v->hybrid)
		return (struct place){ v, v->be->fallback, v->cpu_bc[0] };
	return (struct place){ v, v->be, v->bc[0] };
}

/*
 * At a batch boundary, when the chain moves to another device or backend, the
 * live state of each NF it keeps (flow tables, IPsec sequence numbers, replay
 * windows, counters) is copied from the old copy to the new one. Nothing of the
 * chain is in flight, so no update is lost and no sequence number is reused.
 */
static void hand_over_state(struct gen_chain *c, struct place from, struct place to)
{
	int64_t t0 = mono_ns();
	uint64_t bytes = 0;

	if (from.be == to.be && from.v->prog.gpu == to.v->prog.gpu)
		return; /* same device: the NF copies are shared already */
	for (uint32_t i = 0; i < to.v->prog.n; i++) {
		for (uint32_t j = 0; j < from.v->prog.n; j++) {
			/* Only what packets write (nf_ops.live): a router's 64 MiB FIB is the same on both. */
			struct nf_span sp[NF_SPANS_MAX];
			uint32_t n, k, most = 1;
			void *buf;

			if (from.v->prog.state[j] != to.v->prog.state[i])
				continue;
			n = nf_live_spans(to.v->prog.state[i], sp);
			for (k = 0; k < n; k++)
				most = sp[k].len > most ? sp[k].len : most;
			buf = malloc(most); /* one buffer for the NF's spans */
			for (k = 0; k < n; k++) {
				if (!buf || from.be->state_read(from.bc, j, buf, sp[k].off, sp[k].len) ||
				    to.be->state_write(to.bc, i, buf, sp[k].off, sp[k].len))
					break;
				bytes += sp[k].len;
			}
			free(buf);
			if (k == n)
				STORE(&c->handovers, c->handovers + 1);
			break;
		}
	}
	STORE(&c->handover_bytes, c->handover_bytes + bytes);
	STORE(&c->handover_ns_last, (uint64_t)(mono_ns() - t0));
}

/* No memory for batches: every frame goes back as a drop until the chain stops. */
static void controller_idle_failed(struct ctl_state *s)
{
	for (;;) {
		if (LOAD(&s->c->pause_req) || LOAD(&s->c->move_req))
			controller_pause(s);
		if (drop_waiting(s))
			continue;
		if (LOAD(&s->c->stop))
			return;
		controller_sleep(s);
	}
}

/* What the input could not hand this queue of the chain: stalls and inbox-full drops. */
static uint64_t input_stalls(const struct ctl_state *s)
{
	const struct chain_io *io = &s->c->io[s->q];

	return __atomic_load_n(&io->stalls, __ATOMIC_RELAXED) +
	       __atomic_load_n(&io->drop[CHAIN_IO_DROP_RING_FULL], __ATOMIC_RELAXED);
}

/*
 * The latency target, once per window: above it, more batches in flight, then
 * halve the batch limit; under half of it, let the limit grow back by a quarter
 * (bigger batches cost less per packet); in between, hold. When the limit cut
 * most batches short and the backlog did not shrink over the window, the chain
 * is short of throughput: smaller batches would only make that worse, so the
 * limit doubles back and the miss is reported. A window in which the input
 * had frames it found no room for (chain_io.stalls, or the chain's inbox full)
 * is saturated too, a shortfall that never shows as a backlog here (a NIC ring
 * or a synthetic port holds back or drops it): within the target, one more
 * batch in flight. The depth comes back down only after TARGET_RUNS calm
 * windows in a row (under half the target, no stall), so that it does not flap.
 */
static void adapt_to_target(struct ctl_state *s, uint64_t p99, uint32_t cap)
{
	struct gen_chain *c = s->c;
	uint64_t target = (uint64_t)c->cur->latency_target_us * 1000;
	uint32_t backlog = ring_count(&c->io[s->q].in);
	uint32_t lo = c->max_batch < LIM_MIN ? c->max_batch : LIM_MIN;
	bool short_of_tput = s->win_full * 2 > s->win_batches && backlog >= s->backlog0 && backlog > s->lim;
	bool miss = p99 > target;
	bool saturated = input_stalls(s) != s->stalls0;

	if (miss)
		add64(&c->target_misses, 1);
	s->calm_run = !miss && !saturated && p99 < target / 2 ? s->calm_run + 1 : 0;
	if (short_of_tput) {
		s->lim = s->lim * 2 < c->max_batch ? s->lim * 2 : c->max_batch;
		s->depth = cap;
	} else if (miss) {
		if (s->depth < cap)
			s->depth++;
		else
			s->lim = s->lim / 2 > lo ? s->lim / 2 : lo;
	} else if (saturated && s->depth < cap) {
		s->depth++;
	} else if (p99 < target / 2) {
		if (s->lim < c->max_batch)
			s->lim = s->lim + s->lim / 4 + 1 < c->max_batch ? s->lim + s->lim / 4 + 1 : c->max_batch;
		else if (s->depth > s->depth0 && s->calm_run >= TARGET_RUNS) {
			s->depth--;
			s->calm_run = 0;
		}
	}
	s->miss_run = miss ? s->miss_run + 1 : 0;
	s->meet_run = miss ? 0 : s->meet_run + 1;
	if (s->miss_run == TARGET_RUNS)
		STORE(&s->me->target_missed, 1);
	if (s->meet_run == TARGET_RUNS)
		STORE(&s->me->target_missed, 0);
}

/* The depth the batcher keeps by itself: every slot, or with max_wait_us the paper's one. */
static void batcher_reset(struct ctl_state *s)
{
	struct gen_chain *c = s->c;
	uint32_t cap = slot_cap(s, active_be(c));

	s->depth0 = c->cur->max_wait_us ? 1 : (cap ? cap : 1);
	s->depth = s->depth0;
	s->lim = c->max_batch;
	STORE(&s->me->target_missed, 0);
}

/* End of a 10 ms window: publish its latency, steer toward the target. */
static void window_end(struct ctl_state *s, uint64_t now)
{
	struct chain_ctl *me = s->me;
	const struct backend_ops *be = active_be(s->c);
	uint32_t cap = slot_cap(s, be);

	if (s->win_pkts) {
		uint64_t p99 = chain_lat_quantile(s->win_hist, 0.99);

		STORE(&me->win_p50_ns, chain_lat_quantile(s->win_hist, 0.5));
		STORE(&me->win_p99_ns, p99);
		if (s->c->cur->latency_target_us)
			adapt_to_target(s, p99, cap ? cap : 1);
	}
	STORE(&me->batch_limit, s->lim);
	STORE(&me->depth, s->depth < cap ? s->depth : cap);
	memset(s->win_hist, 0, sizeof(s->win_hist));
	s->win_pkts = 0;
	s->win_batches = s->win_full = 0;
	s->stalls0 = input_stalls(s);
	s->win_start = now;
	s->backlog0 = ring_count(&s->c->io[s->q].in);
}

/*
 * Move a hybrid chain between its cpu side and its GPU: every controller at a
 * batch boundary (this one, queue 0's, is), the NF states copied, the
 * placement flipped. A program swap in progress wins; the move is tried later.
 * The wait for the other controllers is bounded as chain_swap's is: one stuck
 * in an NF the guard cannot cut short fails the chain after CHAIN_WAIT_MS, and
 * a stop or a failure meanwhile calls the move off.
 */
static void move_chain(struct ctl_state *s, bool to_cpu, uint64_t now)
{
	struct timespec ts = { 0, 20000 };
	struct gen_chain *c = s->c;
	int64_t deadline = mono_ns() + (int64_t)CHAIN_WAIT_MS * 1000000;
	bool moved = false;

	if (pthread_mutex_trylock(&c->place_lock))
		return;
	if (LOAD(&c->pause_req) || LOAD(&c->backend_failed) || LOAD(&c->stop) || LOAD(&c->failed) ||
	    !c->cur->hybrid) {
		pthread_mutex_unlock(&c->place_lock);
		return;
	}
	STORE(&c->move_req, 1);
	for (int q = 0; q < c->nq; q++) {
		if (q == s->q)
			continue;
		wake_kick(&c->ctl[q].wake);
		while (LOAD(&c->ctl[q].running) && !LOAD(&c->ctl[q].paused) && !LOAD(&c->ctl[q].exited)) {
			if (LOAD(&c->stop) || LOAD(&c->failed))
				goto off;
			if (mono_ns() > deadline) {
				chain_fail(c, "a controller reached no batch boundary in time for a hybrid move");
				goto off;
			}
			nanosleep(&ts, NULL);
		}
	}
	hand_over_state(c, place_of(c->cur, !to_cpu), place_of(c->cur, to_cpu));
	STORE(&c->on_cpu, to_cpu);
	STORE(&c->backend_name, to_cpu ? "cpu" : c->cur->be->name);
	snprintf(c->move_reason, sizeof(c->move_reason), "%s", s->move_why); /* read under place_lock */
	add64(&c->switches, 1);
	moved = true;
off:
	STORE(&c->move_req, 0);
	pthread_mutex_unlock(&c->place_lock);
	s->move_pending = false;
	s->last_move = now;
	s->pl_run = 0;
	if (moved)
		batcher_reset(s);
}

/*
 * Hybrid placement, queue 0's controller for the chain, every 50 ms: the load
 * (packets per second over every queue) against hybrid_pps, or without it the
 * cpu's busy share (time in the cpu backend; what the load would cost there
 * while on the GPU). A move needs its condition in 4 windows in a row and
 * 500 ms since the last one: hysteresis and a hold time against flapping.
 */
static void place_window(struct ctl_state *s, uint64_t now)
{
	struct gen_chain *c = s->c;
	uint64_t dt = now - s->pl_start, rx = 0, busy = 0, pkts = 0, tpps = c->cur->hybrid_pps;
	double rate, busy_max = 0;
	bool on_cpu = LOAD(&c->on_cpu), want;

	if (dt < PLACE_NS)
		return;
	for (int q = 0; q < c->nq; q++) {
		uint64_t b = LOAD(&c->ctl[q].busy_ns), p = LOAD(&c->ctl[q].cpu_pkts);
		double share = (double)(b - s->pl_busy0[q]) / (double)dt;

		rx += LOAD(&c->io[q].rx_packets);
		busy += b - s->pl_busy0[q];
		pkts += p - s->pl_pkts0[q];
		busy_max = share > busy_max ? share : busy_max;
		s->pl_busy0[q] = b;
		s->pl_pkts0[q] = p;
	}
	rate = (double)(rx - s->pl_rx0) * 1e9 / (double)dt;
	s->pl_rx0 = rx;
	s->pl_start = now;
	if (on_cpu && pkts >= 64)
		s->cpu_cost_ns = s->cpu_cost_ns ? (s->cpu_cost_ns * 3 + busy / pkts) / 4 : busy / pkts;
	if (tpps)
		want = on_cpu ? rate > (double)tpps : rate < (double)tpps / 2;
	else
		want = on_cpu ? busy_max > 0.7 :
			s->cpu_cost_ns && rate / c->nq * (double)s->cpu_cost_ns / 1e9 < 0.3;
	s->pl_run = want ? s->pl_run + 1 : 0;
	if (s->pl_run >= PLACE_RUNS && now - s->last_move >= PLACE_HOLD_NS && !s->move_pending) {
		s->move_pending = true;
		if (tpps)
			snprintf(s->move_why, sizeof(s->move_why), "load %.0f packets/s %s hybrid_pps %lu%s", rate,
				 on_cpu ? "above" : "below", (unsigned long)tpps, on_cpu ? "" : "/2");
		else if (on_cpu)
			snprintf(s->move_why, sizeof(s->move_why), "a cpu side busy %.0f%% of the time, above 70%%",
				 busy_max * 100);
		else
			snprintf(s->move_why, sizeof(s->move_why), "the load would keep a cpu busy %.0f%%, below 30%%",
				 rate / c->nq * (double)s->cpu_cost_ns / 1e7);
	}
}

/*
 * Hybrid, on the cpu side: a load past what the cpu side carries fills the
 * input rings long before four 50 ms windows confirm it (2 Mpps over fills
 * 16,384 frames in 8 ms, and the port then misses frames). The chain moves
 * to the GPU at the next batch boundary, hold time or not, when a queue's
 * backlog passes a quarter of its ring (looked at on every pass), or an
 * eighth of it at two looks in a row 1 ms or more apart with that queue's
 * cpu side 90 % busy between them. A pause of the cpu side's thread leaves a
 * backlog that it clears by the next look unless the load is near what the
 * cpu side carries, where the GPU is the better place anyway.
 */
static void place_surge(struct ctl_state *s, uint64_t now)
{
	struct gen_chain *c = s->c;
	uint64_t dt = now - s->surge_at;
	uint32_t most = 0;
	double busy = 0;
	bool on_cpu = LOAD(&c->on_cpu);

	if (on_cpu && !s->move_pending) {
		for (int q = 0; q < c->nq; q++) {
			uint32_t n = ring_count(&c->io[q].in);

			if (n > c->io[q].in.size / 4) {
				s->move_pending = true; /* move_chain restarts the rate rule's windows */
				snprintf(s->move_why, sizeof(s->move_why),
					 "a backlog on the cpu side of %u frames, over a quarter of queue %d's ring", n, q);
				return;
			}
		}
	}
	if (dt < SURGE_NS)
		return;
	s->surge_at = now;
	for (int q = 0; q < c->nq; q++) {
		uint64_t b = LOAD(&c->ctl[q].busy_ns);
		uint32_t n = ring_count(&c->io[q].in);
		double share = (double)(b - s->surge_busy0[q]) / (double)dt;

		s->surge_busy0[q] = b;
		if (n > c->io[q].in.size / 8 && share >= 0.9 && n > most) {
			most = n;
			busy = share;
		}
	}
	if (!on_cpu)
		most = 0;
	if (most && s->surge_last && !s->move_pending) {
		s->move_pending = true;
		snprintf(s->move_why, sizeof(s->move_why),
			 "a backlog on the cpu side of %u then %u frames, %.1f ms apart, busy %.0f%%", s->surge_last,
			 most, (double)dt / 1e6, busy > 1 ? 100 : busy * 100);
	}
	s->surge_last = most;
}

/*
 * A batch slot's descriptors, in whole pages of their own: a backend that can
 * work on them in place (descs_attach: the GPU reads and writes them over PCIe)
 * gets them attached, so that submit and complete copy none.
 */
static int slot_descs_alloc(struct ctl_state *s, uint32_t i)
{
	size_t size = ((size_t)s->c->max_batch * sizeof(struct gen_desc) + 4095) & ~(size_t)4095;
	const struct backend_ops *be = s->c->cur->be;
	struct gen_desc *d = aligned_alloc(4096, size);

	if (!d)
		return -ENOMEM;
	memset(d, 0, size);
	s->slot[i].descs = d;
	s->slot[i].attached = be->descs_attach && !be->descs_attach(d, size) ? be : NULL;
	return 0;
}

static void slot_descs_free(struct ctl_state *s, uint32_t i)
{
	const struct backend_ops *be = s->slot[i].attached;

	/* Still attached to a device that runs a kernel that never ended: it may write them yet. */
	if (be && be->descs_detach(s->slot[i].descs))
		return;
	free(s->slot[i].descs);
}

/*
 * Give the controller the slots its version wants, with nothing in flight (at
 * its start, and after a new version took over: a reload may raise inflight).
 * Slots are never taken back; slot_cap leaves the ones over the limit idle.
 */
static int slots_fit(struct ctl_state *s)
{
	uint32_t want = inflight_cap(s->c->cur, s->c->cur->be, SLOTS);

	if (!want)
		want = 1;
	while (s->nslots < want) {
		if (slot_descs_alloc(s, s->nslots))
			return -ENOMEM;
		s->nslots++;
	}
	return 0;
}

static void *controller_main(void *arg)
{
	struct chain_ctl *me = arg;
	struct ctl_state s = { .c = me->c, .me = me, .q = me->q };
	struct gen_chain *c = s.c;
	struct spin spin = { 0 };
	char name[16];

	snprintf(name, sizeof(name), "gen-c%u-q%d", c->id, me->q);
	pthread_setname_np(pthread_self(), name);
	pin_self();
	guard_thread_init(&me->guard);
	if (slots_fit(&s))
		chain_fail(c, "out of memory for its batches");
	if (!s.nslots) {
		controller_idle_failed(&s);
		goto out;
	}
	batcher_reset(&s);
	s.win_start = s.pl_start = spin_now_ns();

	for (;;) {
		uint32_t work = complete_some(&s), kicked = 0;
		bool stopping = LOAD(&c->stop);
		struct qworker *help = LOAD(&c->io[s.q].kick_help);
		uint64_t now = spin_now_ns();

		/* A new program, or a move, takes over at a batch boundary: nothing of the old in flight. */
		if (LOAD(&c->pause_req) || LOAD(&c->move_req)) {
			if (s.head == s.tail) {
				controller_pause(&s);
				slots_fit(&s); /* short of memory: the slots it has */
				batcher_reset(&s);
			}
			continue;
		}
		if (now - s.win_start >= WINDOW_NS)
			window_end(&s, now);
		if (s.q == 0 && c->cur->hybrid && !LOAD(&c->backend_failed) && !LOAD(&c->failed)) {
			place_surge(&s, now);
			place_window(&s, now);
			if (s.move_pending && s.head == s.tail && !stopping)
				move_chain(&s, !LOAD(&c->on_cpu), now);
		}
		work += submit_some(&s);
		if (stopping && !work && s.head == s.tail && !s.held && !ring_count(&c->io[s.q].in))
			break;
		/* Idle, nothing in flight: the queue's TX sockets that have no kicker thread (dp.h: tx_help). */
		if (!work && s.head == s.tail && help)
			kicked = xsk_help_kick(help);
		if (work || kicked)
			spin_reset(&spin);
		else if (!spin_again(&spin) && s.head == s.tail) { /* a batch on the device is polled for, never slept on */
			uint64_t t = spin_now_ns();
			bool woken = controller_sleep(&s);

			spin_slept(&spin, spin_now_ns() - t, woken);
		}
	}
out:
	drop_cpu_fallback(&s);
	for (uint32_t i = 0; i < s.nslots; i++)
		slot_descs_free(&s, i);
	guard_thread_fini(&me->guard);
	STORE(&me->exited, 1);
	return NULL;
}

int chain_start(struct gen_chain *c, struct chain_ver *v)
{
	int r;

	c->cur = v;
	c->on_cpu = v->hybrid; /* a hybrid chain starts on the cpu: no load yet */
	c->backend_name = v->hybrid ? "cpu" : v->be->name;
	for (int q = 0; q < c->nq; q++)
		c->io[q].out_port = v->out_port;
	for (int q = 0; q < c->nq; q++) {
		r = pthread_create(&c->ctl[q].thread, NULL, controller_main, &c->ctl[q]);
		if (r) {
			chain_stop(c);
			return -r;
		}
		c->ctl[q].running = true;
	}
	return 0;
}

struct chain_ver *chain_swap(struct gen_chain *c, struct chain_ver *v)
{
	struct timespec ts = { 0, 20000 };
	struct chain_ver *old = c->cur;
	int64_t deadline = mono_ns() + (int64_t)CHAIN_WAIT_MS * 1000000;
	struct timespec until;
	bool on_cpu;

	/* A hybrid move holds the lock at most CHAIN_WAIT_MS too: one deadline bounds both waits. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CHAIN_WAIT_MS / 1000;
	if (pthread_mutex_timedlock(&c->place_lock, &until)) {
		chain_fail(c, "a hybrid move did not end in time for a reload");
		return v;
	}
	STORE(&c->pause_req, 1);
	for (int q = 0; q < c->nq; q++) {
		wake_kick(&c->ctl[q].wake);
		while (c->ctl[q].running && !LOAD(&c->ctl[q].paused)) {
			if (mono_ns() > deadline) {
				STORE(&c->pause_req, 0);
				pthread_mutex_unlock(&c->place_lock);
				chain_fail(c, "a controller reached no batch boundary in time for a reload");
				return v;
			}
			nanosleep(&ts, NULL);
		}
	}
	/* A hybrid chain stays where it is; one that stops being hybrid goes to its backend. */
	on_cpu = c->on_cpu && v->hybrid;
	if (!c->backend_failed)
		hand_over_state(c, place_of(old, c->on_cpu), place_of(v, on_cpu));
	c->cur = v;
	STORE(&c->on_cpu, on_cpu);
	STORE(&c->backend_failed, 0);
	STORE(&c->backend_name, on_cpu ? "cpu" : v->be->name);
	for (int q = 0; q < c->nq; q++)
		__atomic_store_n(&c->io[q].out_port, v->out_port, __ATOMIC_RELEASE);
	STORE(&c->pause_req, 0);
	pthread_mutex_unlock(&c->place_lock);
	return old;
}

const char *chain_backend_error(struct gen_chain *c)
{
	return LOAD(&c->backend_err_set) ? c->backend_error : "";
}

const char *chain_placement(struct gen_chain *c)
{
	return LOAD(&c->backend_name);
}

/* NF i's live state, read (src NULL) or written, wherever the chain runs now. */
static int chain_state_io(struct gen_chain *c, uint32_t i, void *dst, const void *src, uint32_t off, uint32_t len)
{
	struct timespec until;
	struct place p;
	int r;

	/* Never held long but by a move waiting on a stuck controller: then no counters, rather than a stall. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += CHAIN_READ_WAIT_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_timedlock(&c->place_lock, &until))
		return -EBUSY;
	p = place_of(c->cur, LOAD(&c->on_cpu));
	r = src ? p.be->state_write(p.bc, i, src, off, len) : p.be->state_read(p.bc, i, dst, off, len);
	pthread_mutex_unlock(&c->place_lock);
	return r;
}

int chain_state_read(struct gen_chain *c, uint32_t i, void *dst, uint32_t off, uint32_t len)
{
	return chain_state_io(c, i, dst, NULL, off, len);
}

int chain_state_write(struct gen_chain *c, uint32_t i, const void *src, uint32_t off, uint32_t len)
{
	return chain_state_io(c, i, NULL, src, off, len);
}

int chain_stop(struct gen_chain *c)
{
	struct timespec until;
	int r = 0;

	STORE(&c->stop, 1);
	for (int q = 0; q < c->nq; q++)
		wake_kick(&c->ctl[q].wake);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CHAIN_WAIT_MS / 1000;
	for (int q = 0; q < c->nq; q++) {
		if (!c->ctl[q].running)
			continue;
		/* A controller stuck where the guard cannot reach is left behind, never waited on forever. */
		if (pthread_timedjoin_np(c->ctl[q].thread, NULL, &until)) {
			chain_fail(c, "a controller did not stop in time and was left behind");
			c->abandoned = true;
			r = -ETIMEDOUT;
			continue;
		}
		c->ctl[q].running = false;
	}
	return r;
}

void chain_fini(struct gen_chain *c)
{
	pthread_mutex_destroy(&c->place_lock);
	for (int q = 0; q < c->nq; q++) {
		wake_fini(&c->ctl[q].wake);
		ring_fini(&c->io[q].in);
		ring_fini(&c->io[q].out);
	}
}
