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

#define SLOTS 4

struct inflight {
	struct gen_desc *descs;
	uint32_t n;
	int q;
	bool busy;
	const struct backend_ops *be; /* what ran it: a fallback must not mix backends */
	struct backend_chain *bc;
};

struct ctl_state {
	struct gen_chain *c;
	struct inflight slot[SLOTS];
	uint32_t nslots;
	uint32_t head, tail;   /* submit order ring over slot[] */
	struct backend_chain *cpu_bc[GEN_MAX_QUEUES]; /* after a backend failure */
};

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
	if (wake_init(&c->wake))
		return -errno;
	for (int q = 0; q < nq; q++) {
		c->io[q].chain_wake = &c->wake;
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
	STORE(&c->dropped_nf, c->dropped_nf + drops);
	f->busy = false;
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
		STORE(&c->backend_lost, c->backend_lost + f->n);
	} else {
		backend_cpu_run(&c->cur->prog, c->workers[f->q].area, GEN_FRAME_SIZE, f->descs, f->n);
	}
	STORE(&c->fallbacks, c->fallbacks + 1);
	if (!c->backend_failed) {
		STORE(&c->backend_failed, 1);
		STORE(&c->backend_name, "cpu");
	}
}

static struct backend_chain *active_bc(struct ctl_state *s, int q)
{
	struct gen_chain *c = s->c;

	if (c->backend_failed) {
		if (!s->cpu_bc[q])
			s->cpu_bc[q] = backend_cpu.chain_create(&c->cur->prog, c->workers[q].area,
							      c->workers[q].area_size, GEN_FRAME_SIZE);
		return s->cpu_bc[q];
	}
	return c->cur->bc[q];
}

static const struct backend_ops *active_be(struct gen_chain *c)
{
	return c->backend_failed ? &backend_cpu : c->cur->be;
}

static uint32_t complete_some(struct ctl_state *s)
{
	uint32_t n = 0;

	while (s->tail != s->head) {
		struct inflight *f = &s->slot[s->tail % s->nslots];
		struct gen_desc *descs;
		uint32_t cnt;
		int r = f->be->complete(f->bc, &descs, &cnt);

		if (r == 0)
			break;
		if (r < 0)
			fall_back(s, f, r);
		return_batch(s, f);
		s->tail++;
		n++;
	}
	return n;
}

static uint32_t submit_some(struct ctl_state *s)
{
	struct gen_chain *c = s->c;
	uint32_t n = 0;

	for (int q = 0; q < c->nq; q++) {
		struct inflight *f;
		uint32_t cnt;
		int r;

		if (s->head - s->tail >= s->nslots)
			break;
		f = &s->slot[s->head % s->nslots];
		/* The Adaptive Batcher: everything waiting, up to max_batch, as one batch. */
		cnt = ring_pop(&c->io[q].in, f->descs, c->max_batch);
		if (!cnt)
			continue;
		f->n = cnt;
		f->q = q;
		f->busy = true;
		f->be = active_be(c);
		f->bc = active_bc(s, q);
		r = f->bc ? f->be->submit(f->bc, f->descs, cnt) : -ENOMEM;
		if (r == -EBUSY) {
			/* Cannot happen while slots <= max_inflight; run it here rather than lose it. */
			backend_cpu_run(&c->cur->prog, c->workers[q].area, GEN_FRAME_SIZE, f->descs, cnt);
			return_batch(s, f);
			continue;
		}
		if (r < 0) {
			fall_back(s, f, r);
			return_batch(s, f);
			continue;
		}
		s->head++;
		STORE(&c->batches, c->batches + 1);
		STORE(&c->batch_pkts, c->batch_pkts + cnt);
		STORE(&c->batch_last, cnt);
		if (cnt > c->batch_max)
			STORE(&c->batch_max, cnt);
		n += cnt;
	}
	return n;
}

static void drop_cpu_fallback(struct ctl_state *s)
{
	for (int q = 0; q < s->c->nq; q++) {
		if (s->cpu_bc[q])
			backend_cpu.chain_destroy(s->cpu_bc[q]);
		s->cpu_bc[q] = NULL;
	}
}

static bool controller_has_work(struct gen_chain *c)
{
	for (int q = 0; q < c->nq; q++)
		if (ring_count(&c->io[q].in))
			return true;
	return LOAD(&c->next) || LOAD(&c->stop);
}

/* Idle with nothing in flight: block until the worker hands over packets. */
static void controller_sleep(struct gen_chain *c)
{
	struct pollfd pfd = { .fd = c->wake.fd, .events = POLLIN };
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	wake_prepare(&c->wake);
	if (!controller_has_work(c))
		ppoll(&pfd, 1, &ts, NULL);
	wake_done(&c->wake);
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

static void *controller_main(void *arg)
{
	struct ctl_state s = { .c = arg };
	struct gen_chain *c = s.c;
	unsigned int idle = 0;

	s.nslots = c->cur->be->max_inflight;
	if (s.nslots > SLOTS)
		s.nslots = SLOTS;
	if (s.nslots < 1)
		s.nslots = 1;
	for (uint32_t i = 0; i < s.nslots; i++)
		s.slot[i].descs = calloc(c->max_batch, sizeof(struct gen_desc));

	for (;;) {
		uint32_t work = complete_some(&s);
		struct chain_ver *next = LOAD(&c->next);
		bool stopping = LOAD(&c->stop);

		/* A new program takes over at a batch boundary: nothing of the old in flight. */
		if (next) {
			if (s.head == s.tail) {
				if (!c->backend_failed)
					hand_over_state(c, c->cur, next);
				STORE(&c->retired, c->cur);
				c->cur = next;
				drop_cpu_fallback(&s);
				STORE(&c->backend_failed, 0);
				STORE(&c->backend_name, next->be->name);
				__atomic_store_n(&c->io[0].out_port, next->out_port, __ATOMIC_RELEASE);
				for (int q = 1; q < c->nq; q++)
					__atomic_store_n(&c->io[q].out_port, next->out_port, __ATOMIC_RELEASE);
				STORE(&c->next, NULL);
			}
			continue;
		}
		work += submit_some(&s);
		if (stopping && !work && s.head == s.tail) {
			bool empty = true;

			for (int q = 0; q < c->nq; q++)
				empty &= ring_count(&c->io[q].in) == 0;
			if (empty)
				break;
		}
		if (work) {
			idle = 0;
		} else if (++idle < 64 || s.head != s.tail) {
			/* A batch is on the device: poll for its completion. */
			struct timespec ts = { 0, 2000 };

			nanosleep(&ts, NULL);
		} else {
			controller_sleep(c);
		}
	}
	drop_cpu_fallback(&s);
	for (uint32_t i = 0; i < s.nslots; i++)
		free(s.slot[i].descs);
	return NULL;
}

int chain_start(struct gen_chain *c, struct chain_ver *v)
{
	int r;

	c->cur = v;
	c->backend_name = v->be->name;
	for (int q = 0; q < c->nq; q++)
		c->io[q].out_port = v->out_port;
	r = pthread_create(&c->thread, NULL, controller_main, c);
	if (r)
		return -r;
	c->running = true;
	return 0;
}

struct chain_ver *chain_swap(struct gen_chain *c, struct chain_ver *v)
{
	struct timespec ts = { 0, 20000 };
	struct chain_ver *old;

	STORE(&c->retired, NULL);
	STORE(&c->next, v);
	wake_kick(&c->wake);
	while (LOAD(&c->next))
		nanosleep(&ts, NULL);
	old = LOAD(&c->retired);
	STORE(&c->retired, NULL);
	return old;
}

void chain_stop(struct gen_chain *c)
{
	if (!c->running)
		return;
	STORE(&c->stop, 1);
	wake_kick(&c->wake);
	pthread_join(c->thread, NULL);
	c->running = false;
}

void chain_fini(struct gen_chain *c)
{
	wake_fini(&c->wake);
	for (int q = 0; q < c->nq; q++) {
		ring_fini(&c->io[q].in);
		ring_fini(&c->io[q].out);
	}
}
