// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include "chain.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define SLOTS 8 /* batches in flight per chain at most (the backend may allow fewer) */

struct inflight {
	struct gen_desc *descs;
	uint32_t n;
	int q;
	bool busy;
	const struct backend_ops *be; /* what ran it: a fallback must not mix backends */
	struct backend_chain *bc;
	int64_t submitted_ns;
};

struct ctl_state {
	struct gen_chain *c;
	struct chain_ctl *me;
	int q;
	struct inflight slot[SLOTS];
	uint32_t nslots;
	uint32_t head, tail;   /* submit order ring over slot[] */
	struct backend_chain *cpu_bc; /* after a backend failure */
};

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

	if (!v)
		return NULL;
	v->prog = *prog;
	v->be = be;
	v->out_port = out_port;
	for (int q = 0; q < nq; q++) {
		v->bc[q] = be->chain_create(prog, workers[q].area, workers[q].area_size, GEN_FRAME_SIZE);
		if (!v->bc[q]) {
			int r = errno ? errno : EIO;

			const char *why = be == backend_gpu ? gpu_backend_last_error() : "";

			snprintf(err, errlen, "backend %s failed to set up the chain: %s%s%s", be->name, strerror(r),
				 why && why[0] ? "\n" : "", why ? why : "");
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
	for (int q = 0; q < nq; q++)
		if (v->bc[q])
			v->be->chain_destroy(v->bc[q]);
	free(v);
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

static void return_batch(struct ctl_state *s, struct inflight *f)
{
	struct gen_chain *c = s->c;
	struct chain_io *io = &c->io[f->q];
	uint32_t drops = 0, done = 0;

	for (uint32_t i = 0; i < f->n; i++)
		drops += f->descs[i].verdict != NF_PASS;
	while (done < f->n)
		done += ring_push(&io->out, f->descs + done, f->n - done);
	wake_kick(io->worker_wake);
	if (drops)
		add64(&c->dropped_nf, drops);
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

/*
 * The batch's NFs under the guard: on the host backend (cpu_only, or when the
 * backend is the cpu) they run here. Returns what the backend returned, or
 * -EFAULT when an NF crashed or overran: the chain has failed then.
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
		backend_cpu_run(&s->c->cur->prog, s->c->workers[f->q].area, GEN_FRAME_SIZE, f->descs, f->n);
	else
		r = f->be->submit(f->bc, f->descs, f->n);
	guard_leave(g);
	return r;
}

/*
 * Rerun a batch the backend failed on, on the cpu backend, and keep the chain
 * there. A batch whose frames the backend may have begun to rewrite (-ESTALE,
 * see backend.h) is dropped and counted instead: a rerun could apply an NF twice.
 */
static void fall_back(struct ctl_state *s, struct inflight *f, int err)
{
	struct gen_chain *c = s->c;

	if (err == -ESTALE) {
		for (uint32_t i = 0; i < f->n; i++)
			f->descs[i].verdict = NF_DROP;
		add64(&c->backend_lost, f->n);
	} else if (run_guarded(s, f, true) == -EFAULT) {
		for (uint32_t i = 0; i < f->n; i++)
			f->descs[i].verdict = NF_DROP;
		add64(&c->fail_dropped, f->n);
	}
	add64(&c->fallbacks, 1);
	if (!c->backend_failed) {
		STORE(&c->backend_failed, 1);
		STORE(&c->backend_name, "cpu");
	}
}

static struct backend_chain *active_bc(struct ctl_state *s, int q)
{
	struct gen_chain *c = s->c;

	if (LOAD(&c->backend_failed)) {
		if (!s->cpu_bc)
			s->cpu_bc = backend_cpu.chain_create(&c->cur->prog, c->workers[q].area, c->workers[q].area_size,
							     GEN_FRAME_SIZE);
		return s->cpu_bc;
	}
	return c->cur->bc[q];
}

static const struct backend_ops *active_be(struct gen_chain *c)
{
	return LOAD(&c->backend_failed) ? &backend_cpu : c->cur->be;
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

static uint32_t submit_some(struct ctl_state *s)
{
	struct gen_chain *c = s->c;
	int q = s->q;
	uint32_t n = 0;

	while (s->head - s->tail < s->nslots) {
		struct inflight *f = &s->slot[s->head % s->nslots];
		uint32_t cnt;
		int r;

		/* The Adaptive Batcher: everything waiting, up to max_batch, as one batch. */
		cnt = ring_pop(&c->io[q].in, f->descs, c->max_batch);
		if (!cnt)
			break;
		f->n = cnt;
		f->q = q;
		f->busy = true;
		if (LOAD(&c->failed)) {
			drop_failed(s, f);
			continue;
		}
		f->be = active_be(c);
		f->bc = active_bc(s, q);
		f->submitted_ns = mono_ns();
		r = f->bc ? run_guarded(s, f, false) : -ENOMEM;
		if (r == -EFAULT) {
			drop_failed(s, f);
			continue;
		}
		if (r == -EBUSY) {
			/* Cannot happen while slots <= max_inflight; run it here rather than lose it. */
			if (run_guarded(s, f, true) == -EFAULT) {
				drop_failed(s, f);
				continue;
			}
			return_batch(s, f);
			continue;
		}
		if (r < 0) {
			fall_back(s, f, r);
			return_batch(s, f);
			continue;
		}
		s->head++;
		count_batch(c, cnt);
		n += cnt;
		/* A cpu batch is done already: hand it back before taking the next. */
		if (s->nslots == 1)
			break;
	}
	return n;
}

static void drop_cpu_fallback(struct ctl_state *s)
{
	if (s->cpu_bc)
		backend_cpu.chain_destroy(s->cpu_bc);
	s->cpu_bc = NULL;
}

static bool controller_has_work(struct ctl_state *s)
{
	return ring_count(&s->c->io[s->q].in) || LOAD(&s->c->pause_req) || LOAD(&s->c->stop);
}

/* Idle with nothing in flight: block until the worker hands over packets. */
static void controller_sleep(struct ctl_state *s)
{
	struct wake *wk = &s->me->wake;
	struct pollfd pfd = { .fd = wk->fd, .events = POLLIN };
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	wake_prepare(wk);
	if (!controller_has_work(s))
		ppoll(&pfd, 1, &ts, NULL);
	wake_done(wk);
}

/* At a batch boundary, nothing in flight: wait while the main thread swaps the program. */
static void controller_pause(struct ctl_state *s)
{
	struct timespec ts = { 0, 20000 };

	drop_cpu_fallback(s);
	STORE(&s->me->paused, 1);
	while (LOAD(&s->c->pause_req))
		nanosleep(&ts, NULL);
	STORE(&s->me->paused, 0);
}

/*
 * At a batch boundary, when the chain moves to another device or backend, the
 * live state of each NF it keeps (flow tables, IPsec sequence numbers, replay
 * windows, counters) is copied from the old copy to the new one. Nothing of the
 * chain is in flight, so no update is lost and no sequence number is reused.
 */
static void hand_over_state(struct gen_chain *c, const struct chain_ver *from, const struct chain_ver *to)
{
	if (from->be == to->be && from->prog.gpu == to->prog.gpu)
		return; /* same device: the NF copies are shared already */
	for (uint32_t i = 0; i < to->prog.n; i++) {
		for (uint32_t j = 0; j < from->prog.n; j++) {
			uint32_t size = to->prog.state[i]->size;
			void *buf;

			if (from->prog.state[j] != to->prog.state[i])
				continue;
			buf = malloc(size);
			if (buf && !from->be->state_read(from->bc[0], j, buf, 0, size) &&
			    !to->be->state_write(to->bc[0], i, buf, 0, size))
				STORE(&c->handovers, c->handovers + 1);
			free(buf);
			break;
		}
	}
}

/* No memory for batches: every frame goes back as a drop until the chain stops. */
static void controller_idle_failed(struct ctl_state *s)
{
	struct chain_io *io = &s->c->io[s->q];
	struct gen_desc d[64];
	uint32_t n;

	for (;;) {
		if (LOAD(&s->c->pause_req))
			controller_pause(s);
		n = ring_pop(&io->in, d, 64);
		for (uint32_t i = 0; i < n; i++)
			d[i].verdict = NF_DROP;
		for (uint32_t done = 0; done < n;)
			done += ring_push(&io->out, d + done, n - done);
		if (n) {
			add64(&s->c->fail_dropped, n);
			wake_kick(io->worker_wake);
		} else if (LOAD(&s->c->stop)) {
			return;
		} else {
			controller_sleep(s);
		}
	}
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
	guard_thread_init(&me->guard);
	s.nslots = c->cur->be->max_inflight;
	if (s.nslots > SLOTS)
		s.nslots = SLOTS;
	if (s.nslots < 1)
		s.nslots = 1;
	for (uint32_t i = 0; i < s.nslots; i++) {
		s.slot[i].descs = calloc(c->max_batch, sizeof(struct gen_desc));
		if (!s.slot[i].descs) {
			chain_fail(c, "out of memory for its batches");
			s.nslots = i;
			break;
		}
	}
	if (!s.nslots) {
		controller_idle_failed(&s);
		goto out;
	}

	for (;;) {
		uint32_t work = complete_some(&s);
		bool stopping = LOAD(&c->stop);

		/* A new program takes over at a batch boundary: nothing of the old in flight. */
		if (LOAD(&c->pause_req)) {
			if (s.head == s.tail)
				controller_pause(&s);
			continue;
		}
		work += submit_some(&s);
		if (stopping && !work && s.head == s.tail && !ring_count(&c->io[s.q].in))
			break;
		if (work)
			spin_reset(&spin);
		else if (!spin_again(&spin) && s.head == s.tail)
			controller_sleep(&s); /* a batch on the device is polled for, never slept on */
	}
out:
	drop_cpu_fallback(&s);
	for (uint32_t i = 0; i < s.nslots; i++)
		free(s.slot[i].descs);
	guard_thread_fini(&me->guard);
	return NULL;
}

int chain_start(struct gen_chain *c, struct chain_ver *v)
{
	int r;

	c->cur = v;
	c->backend_name = v->be->name;
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

	STORE(&c->pause_req, 1);
	for (int q = 0; q < c->nq; q++) {
		wake_kick(&c->ctl[q].wake);
		while (c->ctl[q].running && !LOAD(&c->ctl[q].paused)) {
			if (mono_ns() > deadline) {
				STORE(&c->pause_req, 0);
				chain_fail(c, "a controller reached no batch boundary in time for a reload");
				return v;
			}
			nanosleep(&ts, NULL);
		}
	}
	if (!c->backend_failed)
		hand_over_state(c, old, v);
	c->cur = v;
	STORE(&c->backend_failed, 0);
	STORE(&c->backend_name, v->be->name);
	for (int q = 0; q < c->nq; q++)
		__atomic_store_n(&c->io[q].out_port, v->out_port, __ATOMIC_RELEASE);
	STORE(&c->pause_req, 0);
	return old;
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
	for (int q = 0; q < c->nq; q++) {
		wake_fini(&c->ctl[q].wake);
		ring_fini(&c->io[q].in);
		ring_fini(&c->io[q].out);
	}
}
