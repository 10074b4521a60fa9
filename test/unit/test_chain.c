// SPDX-License-Identifier: GPL-2.0
/*
 * The SFC controller (daemon/chain.c) on its own: the test thread plays the
 * port worker over the chain's plain rings, and a fake backend stands where
 * the GPU would. The fake keeps its own copy of each NF state per device, as
 * a GPU does, and can refuse a batch (-EBUSY past the slots it really has,
 * or a submit that fails), fail a batch after its NFs ran (-EIO: they ran on
 * a staged copy, so the frames are untouched; -ESTALE: they ran in place),
 * complete slowly, or never. Every packet carries its flow and its sequence
 * number in the flow, and its TTL (64 on the wire) says how many ttl_dec NFs
 * ran on it: so the checks see per-flow order, a packet run twice or not at
 * all, and which program version ran it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "chain.h"
#include "fake_device.h"
#include "../../nf/ttl_dec.h"

#define NFRAMES 4096u
#define PKT_OFF 256u
#define PKT_LEN 64u
#define FLOWS 8u
#define MAXQ 2

/* ---- the fake backend ---- */

enum fake_fail { FAIL_NONE, FAIL_SUBMIT, FAIL_EIO, FAIL_ESTALE };

static struct {
	uint32_t takes;          /* batches it really holds at once; past them, -EBUSY */
	uint64_t slow_ns;        /* a batch completes this long after its submit */
	uint64_t fail_at;        /* the fail_at-th submit fails as fail says */
	enum fake_fail fail;
	uint64_t hang_at;        /* the hang_at-th submit completes only once release is set */
	int release;
	uint64_t submits, ebusy, max_n, mixed, destroyed_busy;
	uint32_t peak;           /* most batches it held at once */
	int inflight[4];         /* batches in flight per program version (its NF count) */
	uint8_t *scratch;        /* the "device" copy of the frames that a staged batch runs on */
	pthread_mutex_t lock;
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct backend_chain {
	struct chain_prog prog; /* state[] point at the fake's device copies */
	uint8_t *umem;
	int ver;
	char err[96];
	struct { struct gen_desc *d; uint32_t n; uint64_t due; int err; bool hang; } slot[16];
	uint32_t head, n;
};

static struct backend_chain *fake_create(const struct chain_prog *prog, void *umem, size_t size, uint32_t fs,
					 char *err, size_t errlen)
{
	struct backend_chain *bc = calloc(1, sizeof(*bc));

	bc->prog = *prog;
	bc->umem = umem;
	bc->ver = (int)prog->n;
	fake_dev_prog_get(&bc->prog, prog->gpu);
	return bc;
}

static void fake_destroy(struct backend_chain *bc)
{
	pthread_mutex_lock(&fake.lock);
	fake.destroyed_busy += bc->n;
	pthread_mutex_unlock(&fake.lock);
	fake_dev_prog_put(&bc->prog);
	free(bc);
}

/* The batch's NFs on a copy of its frames and descs: what a staged device does before it writes back. */
static void run_staged(struct backend_chain *bc, const struct gen_desc *d, uint32_t n, uint64_t now)
{
	struct gen_desc *copy = malloc(n * sizeof(*copy));

	memcpy(copy, d, n * sizeof(*copy));
	for (uint32_t i = 0; i < n; i++) {
		uint64_t base = d[i].addr - d[i].addr % GEN_FRAME_SIZE;

		memcpy(fake.scratch + base, bc->umem + base, GEN_FRAME_SIZE);
	}
	backend_cpu_run(&bc->prog, fake.scratch, GEN_FRAME_SIZE, copy, n, now);
	free(copy);
}

static int fake_submit(struct backend_chain *bc, struct gen_desc *d, uint32_t n, uint64_t now)
{
	uint64_t k;
	int err = 0;

	pthread_mutex_lock(&fake.lock);
	for (int v = 0; v < 4; v++)
		fake.mixed += v != bc->ver && fake.inflight[v];
	if (bc->n >= fake.takes) {
		fake.ebusy++;
		pthread_mutex_unlock(&fake.lock);
		return -EBUSY;
	}
	k = ++fake.submits;
	fake.max_n = n > fake.max_n ? n : fake.max_n;
	pthread_mutex_unlock(&fake.lock);
	if (k == fake.fail_at && fake.fail == FAIL_SUBMIT) {
		snprintf(bc->err, sizeof(bc->err), "fake: submit %lu refused", (unsigned long)k);
		return -ENOMEM;
	}
	if (k == fake.fail_at && fake.fail == FAIL_EIO) {
		run_staged(bc, d, n, now);
		snprintf(bc->err, sizeof(bc->err), "fake: batch %lu failed before its write-back", (unsigned long)k);
		err = -EIO;
	} else if (k == fake.fail_at && fake.fail == FAIL_ESTALE) {
		struct gen_desc *copy = malloc(n * sizeof(*copy));

		/* The frames are written, the descs not yet: a fault in the middle of the write-back. */
		memcpy(copy, d, n * sizeof(*copy));
		backend_cpu_run(&bc->prog, bc->umem, GEN_FRAME_SIZE, copy, n, now);
		free(copy);
		snprintf(bc->err, sizeof(bc->err), "fake: batch %lu failed during its write-back", (unsigned long)k);
		err = -ESTALE;
	} else {
		backend_cpu_run(&bc->prog, bc->umem, GEN_FRAME_SIZE, d, n, now);
	}
	bc->slot[(bc->head + bc->n) % 16].d = d;
	bc->slot[(bc->head + bc->n) % 16].n = n;
	bc->slot[(bc->head + bc->n) % 16].due = fake_now_ns() + fake.slow_ns;
	bc->slot[(bc->head + bc->n) % 16].err = err;
	bc->slot[(bc->head + bc->n) % 16].hang = k == fake.hang_at;
	bc->n++;
	pthread_mutex_lock(&fake.lock);
	fake.peak = bc->n > fake.peak ? bc->n : fake.peak;
	fake.inflight[bc->ver]++;
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int fake_complete(struct backend_chain *bc, struct gen_desc **ret_d, uint32_t *ret_n)
{
	int err;

	if (!bc->n || fake_now_ns() < bc->slot[bc->head].due)
		return 0;
	if (bc->slot[bc->head].hang && !__atomic_load_n(&fake.release, __ATOMIC_ACQUIRE))
		return 0;
	*ret_d = bc->slot[bc->head].d;
	*ret_n = bc->slot[bc->head].n;
	err = bc->slot[bc->head].err;
	bc->head = (bc->head + 1) % 16;
	bc->n--;
	pthread_mutex_lock(&fake.lock);
	fake.inflight[bc->ver]--;
	pthread_mutex_unlock(&fake.lock);
	return err ? err : 1;
}

FAKE_DEVICE_STATE_OPS()

static const char *fake_last_error(struct backend_chain *bc)
{
	return bc->err;
}

static struct backend_ops fake_ops = {
	.name = "fake",
	.umem_attach = fake_umem_attach,
	.umem_detach = fake_umem_detach,
	.chain_create = fake_create,
	.chain_destroy = fake_destroy,
	.submit = fake_submit,
	.complete = fake_complete,
	.state_read = fake_state_read,
	.state_write = fake_state_write,
	.last_error = fake_last_error,
	.max_inflight = 8,
	.fallback = &backend_cpu,
};

/* The same device without a fallback. */
static struct backend_ops fake_alone_ops;

/* ---- the test thread as port worker ---- */

struct rig {
	struct gen_chain c;
	struct qworker w[MAXQ];
	int nq;
	struct chain_ver *v;
	struct nf_hdr *ttl[2];
	uint64_t free_frames[MAXQ][NFRAMES];
	uint32_t nfree[MAXQ];
	uint32_t next_seq[MAXQ][FLOWS], last_seq[MAXQ][FLOWS];
	bool seen[MAXQ][FLOWS], newer[MAXQ][FLOWS]; /* newer: a packet with 2 NFs run came back */
	uint64_t sent, got, passed, dropped, disorder, old_after_new;
	uint64_t by_nfs[4];      /* passed packets by how many ttl_dec ran on them */
};

static struct rig rig;
static const struct backend_ops *rig_ops = &fake_ops; /* the backend of the versions make_ver makes */
static uint32_t rig_inflight; /* ... and their inflight (0: every slot) */

/* A program of nnf ttl_dec NFs (the states of rig.ttl) on device gpu. */
static struct chain_ver *make_ver(int nnf, int gpu)
{
	struct chain_prog prog = { .n = (uint32_t)nnf, .mini_batch = 256, .gpu = gpu };
	struct chain_ver *v;
	char err[256];

	for (int i = 0; i < nnf; i++) {
		prog.type[i] = NF_T_TTL_DEC;
		prog.state[i] = rig.ttl[i];
	}
	v = chain_ver_new(&prog, rig_ops, rig.w, rig.nq, 0, err, sizeof(err));
	cr_assert(v, "%s", err);
	v->inflight = rig_inflight;
	return v;
}

static void rig_start(int nq, uint32_t max_batch)
{
	memset(&rig, 0, sizeof(rig));
	rig.nq = nq;
	fake.scratch = aligned_alloc(4096, (size_t)NFRAMES * GEN_FRAME_SIZE);
	for (int q = 0; q < nq; q++) {
		rig.w[q].nframes = NFRAMES;
		rig.w[q].area_size = (size_t)NFRAMES * GEN_FRAME_SIZE;
		rig.w[q].area = aligned_alloc(4096, rig.w[q].area_size);
		cr_assert_eq(wake_init(&rig.w[q].wake), 0);
		for (uint32_t f = 0; f < NFRAMES; f++)
			rig.free_frames[q][rig.nfree[q]++] = (uint64_t)f * GEN_FRAME_SIZE;
	}
	rig.ttl[0] = build_nf("ttl_dec", NULL, 0);
	rig.ttl[1] = build_nf("ttl_dec", NULL, 0);
	cr_assert_eq(chain_init(&rig.c, "t", 1, nq, max_batch, rig.w), 0);
	rig.v = make_ver(1, 0);
	cr_assert_eq(chain_start(&rig.c, rig.v), 0);
}

static void rig_stop(void)
{
	cr_assert_eq(chain_stop(&rig.c), 0, "a controller did not stop");
	chain_ver_free(rig.v, rig.nq);
	chain_fini(&rig.c);
	for (int q = 0; q < rig.nq; q++) {
		wake_fini(&rig.w[q].wake);
		free(rig.w[q].area);
	}
	free(rig.ttl[0]);
	free(rig.ttl[1]);
	free(fake.scratch);
}

/* The fake for the next test: its real slots, its speed, and which submit fails how. */
static void fake_reset(uint32_t takes, uint64_t slow_ns, uint64_t fail_at, enum fake_fail fail)
{
	pthread_mutex_lock(&fake.lock);
	fake.takes = takes;
	fake.slow_ns = slow_ns;
	fake.fail_at = fail_at;
	fake.fail = fail;
	fake.hang_at = 0;
	fake.release = 0;
	fake.submits = fake.ebusy = fake.max_n = fake.mixed = fake.destroyed_busy = 0;
	fake.peak = 0;
	memset(fake.inflight, 0, sizeof(fake.inflight));
	pthread_mutex_unlock(&fake.lock);
}

/* n packets on queue q, flows in turn, as one worker burst. */
static void push(int q, uint32_t n)
{
	struct chain_io *io = &rig.c.io[q];
	struct gen_desc d[256];

	n = n > 256 ? 256 : n;
	n = n > rig.nfree[q] ? rig.nfree[q] : n;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t base = rig.free_frames[q][--rig.nfree[q]];
		uint32_t flow = (uint32_t)(rig.sent + i) % FLOWS;

		uint8_t *p = (uint8_t *)rig.w[q].area + base + PKT_OFF;

		fake_udp_frame(p, PKT_LEN, q, flow);
		memcpy(p + 14 + 20 + 8, &(uint32_t){ ++rig.next_seq[q][flow] }, 4);
		d[i] = (struct gen_desc){ .addr = base + PKT_OFF, .len = PKT_LEN };
	}
	if (!n)
		return;
	cr_assert_eq(ring_push(&io->in, d, n), n);
	chain_io_mark(io);
	__atomic_store_n(&io->rx_packets, io->rx_packets + n, __ATOMIC_RELAXED);
	wake_kick(io->chain_wake);
	rig.sent += n;
}

/* Take back what the controllers returned: order per flow, NFs run per packet. */
static void drain(void)
{
	struct gen_desc d[256];
	uint32_t k;

	for (int q = 0; q < rig.nq; q++) {
		while ((k = ring_pop(&rig.c.io[q].out, d, 256))) {
			for (uint32_t i = 0; i < k; i++) {
				const uint8_t *p = (const uint8_t *)rig.w[q].area + d[i].addr;
				uint32_t flow = p[14 + 15], seq, nfs = 64u - p[14 + 8];

				memcpy(&seq, p + 14 + 20 + 8, 4);
				cr_assert_lt(flow, FLOWS);
				if (d[i].verdict == NF_PASS) {
					/* Order is the packets' that go on: drops leave no trace on the wire. */
					rig.disorder += rig.seen[q][flow] && seq <= rig.last_seq[q][flow];
					rig.seen[q][flow] = true;
					rig.last_seq[q][flow] = seq;
					rig.passed++;
					rig.by_nfs[nfs < 4 ? nfs : 3]++;
					rig.old_after_new += nfs == 1 && rig.newer[q][flow];
					rig.newer[q][flow] |= nfs == 2;
				} else {
					rig.dropped++;
				}
				rig.free_frames[q][rig.nfree[q]++] = d[i].addr - d[i].addr % GEN_FRAME_SIZE;
			}
			rig.got += k;
		}
	}
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * Offer total packets per queue in bursts of burst, gap_us apart. Each burst
 * waits (200 ms at most) until the controllers took the one before: a loaded
 * test machine then still makes as many batches, not a few large ones.
 */
static void offer(uint64_t total, uint32_t burst, long gap_us)
{
	for (uint64_t sent = 0; sent < total; sent += burst) {
		uint64_t t0 = fake_now_ns();
		bool waiting = true;

		for (int q = 0; q < rig.nq; q++)
			push(q, burst);
		while (waiting && fake_now_ns() - t0 < 200000000ull) {
			drain();
			waiting = false;
			for (int q = 0; q < rig.nq; q++)
				waiting |= ring_count(&rig.c.io[q].in) != 0;
			if (waiting)
				sleep_us(20);
		}
		sleep_us(gap_us);
	}
}

/* Wait until every packet sent came back (10 s at most). */
static void settle(void)
{
	uint64_t t0 = fake_now_ns();

	for (drain(); rig.got < rig.sent && fake_now_ns() - t0 < 10000000000ull; drain())
		sleep_us(200);
	cr_assert_eq(rig.got, rig.sent, "%lu of %lu packets came back", (unsigned long)rig.got,
		     (unsigned long)rig.sent);
	cr_assert_eq(rig.disorder, 0, "%lu packets out of order in their flow", (unsigned long)rig.disorder);
}

/* Every packet came back passed, its one NF run on it exactly once. */
static void assert_each_ran_once(void)
{
	cr_assert_eq(rig.passed, rig.sent, "%lu of %lu packets passed", (unsigned long)rig.passed,
		     (unsigned long)rig.sent);
	cr_assert_eq(rig.by_nfs[1], rig.sent, "a packet ran twice or not at all (0: %lu, 2: %lu, 3+: %lu)",
		     (unsigned long)rig.by_nfs[0], (unsigned long)rig.by_nfs[2], (unsigned long)rig.by_nfs[3]);
}

/* A failed batch was dropped and counted (backend_lost); every other packet passed, run once. */
static void assert_batch_lost(void)
{
	cr_assert_gt(rig.c.backend_lost, 0);
	cr_assert_eq(rig.dropped, rig.c.backend_lost, "the lost batch comes back as drops");
	cr_assert_eq(rig.passed + rig.dropped, rig.sent);
	cr_assert_eq(rig.by_nfs[1], rig.passed, "a passed packet ran twice or not at all");
}

/* ---- the tests ---- */

/* The plain path: several batches in flight on a slow backend, every packet once, in order. */
Test(chain, slow_backend_in_order, .timeout = 30)
{
	fake_reset(8, 300000, 0, FAIL_NONE);
	rig_start(2, 4096);
	offer(3000, 64, 50);
	settle();
	assert_each_ran_once();
	cr_assert_gt(fake.submits, 10);
	cr_assert_eq(rig.c.fallbacks, 0);
	cr_assert_str_eq(chain_placement(&rig.c), "fake");
	rig_stop();
}

/*
 * A backend that takes fewer batches than it declares: -EBUSY with others in
 * flight. The refused batch waits for them and goes next, never before them.
 */
Test(chain, ebusy_waits_its_turn, .timeout = 30)
{
	fake_reset(2, 5000000, 0, FAIL_NONE);
	rig_start(2, 4096);
	offer(4000, 32, 20);
	settle();
	cr_assert_gt(fake.ebusy, 0, "the backend never refused: the test did not test");
	assert_each_ran_once();
	cr_assert_eq(rig.c.fallbacks, 0, "a full backend is no failure");
	cr_assert_str_eq(chain_placement(&rig.c), "fake");
	rig_stop();
}

/*
 * A batch fails with -EIO after its NFs ran on the device's staged copy: the
 * frames are untouched, so the controller reruns it on the declared fallback
 * (each NF once per packet), keeps the chain there, and says why.
 */
Test(chain, eio_falls_back_once, .timeout = 30)
{
	uint64_t at_fail;

	fake_reset(4, 200000, 5, FAIL_EIO);
	rig_start(1, 4096);
	offer(1500, 32, 100);
	settle();
	at_fail = fake.submits;
	offer(500, 32, 100);
	settle();
	assert_each_ran_once();
	cr_assert_geq(rig.c.fallbacks, 1);
	cr_assert_eq(rig.c.backend_lost, 0);
	cr_assert_eq(rig.c.backend_failed, 1);
	cr_assert_str_eq(chain_placement(&rig.c), "cpu");
	cr_assert(strstr(chain_backend_error(&rig.c), "batch 5 failed before its write-back"), "%s",
		  chain_backend_error(&rig.c));
	cr_assert_eq(fake.submits, at_fail, "the failed backend got batches after the fallback");
	rig_stop();
}

/* A batch whose frames the backend may have written (-ESTALE) is dropped and counted, never rerun. */
Test(chain, estale_drops_never_reruns, .timeout = 30)
{
	fake_reset(4, 200000, 3, FAIL_ESTALE);
	rig_start(1, 4096);
	offer(1000, 32, 100);
	settle();
	assert_batch_lost();
	cr_assert_str_eq(chain_placement(&rig.c), "cpu");
	rig_stop();
}

/*
 * A submit that fails (the batch not taken) while batches are in flight: the
 * chain moves to the fallback, and the refused batch runs there only after
 * the backend handed back what it held.
 */
Test(chain, refused_submit_keeps_order, .timeout = 30)
{
	fake_reset(8, 5000000, 6, FAIL_SUBMIT);
	rig_start(2, 4096);
	offer(2000, 32, 100);
	settle();
	assert_each_ran_once();
	cr_assert_geq(rig.c.fallbacks, 1);
	cr_assert(strstr(chain_backend_error(&rig.c), "submit 6 refused"), "%s", chain_backend_error(&rig.c));
	rig_stop();
}

static void slow_take(int q)
{
	usleep(3000);
}

/*
 * A queue's device refuses a submit and moves the chain to the fallback while
 * the other queue's controller is between taking a batch and submitting it:
 * that batch still goes to one backend with that backend's chain (a batch
 * once reached the device's submit with the fallback's chain, and crashed).
 */
Test(chain, failover_while_another_queue_submits, .timeout = 30)
{
	chain_test_taken = slow_take;
	fake_reset(8, 5000000, 6, FAIL_SUBMIT);
	rig_start(2, 4096);
	offer(2000, 32, 100);
	settle();
	chain_test_taken = NULL;
	assert_each_ran_once();
	cr_assert_geq(rig.c.fallbacks, 1);
	cr_assert(strstr(chain_backend_error(&rig.c), "submit 6 refused"), "%s", chain_backend_error(&rig.c));
	rig_stop();
}

/* No batch is larger than max_batch, on the backend or on its fallback; under load batches reach it. */
Test(chain, max_batch_holds, .timeout = 30)
{
	fake_reset(1, 2000000, 0, FAIL_NONE);
	rig_start(1, 48);
	offer(3000, 200, 200);
	settle();
	cr_assert_leq(fake.max_n, 48, "a batch of %lu", (unsigned long)fake.max_n);
	cr_assert_eq(fake.max_n, 48, "the load never filled a batch: the test did not test");
	cr_assert_leq(rig.c.batch_max, 48);
	/* Now on the fallback (one slot, batches done at once). */
	pthread_mutex_lock(&fake.lock);
	fake.fail_at = fake.submits + 1;
	fake.fail = FAIL_EIO;
	pthread_mutex_unlock(&fake.lock);
	offer(3000, 200, 50);
	settle();
	cr_assert_str_eq(chain_placement(&rig.c), "cpu");
	cr_assert_leq(rig.c.batch_max, 48, "a batch of %u on the fallback", rig.c.batch_max);
	cr_assert_eq(rig.by_nfs[1], rig.sent);
	rig_stop();
}

/*
 * A new program (two NFs instead of one) swapped in under load: it takes over
 * at a batch boundary with nothing of the old in flight, no packet runs a mix,
 * and in each flow no packet of the old program follows one of the new.
 */
Test(chain, swap_at_batch_boundary, .timeout = 30)
{
	struct chain_ver *old, *v2;

	fake_reset(8, 500000, 0, FAIL_NONE);
	rig_start(2, 4096);
	offer(1500, 32, 50);
	v2 = make_ver(2, 0);
	old = chain_swap(&rig.c, v2);
	cr_assert_eq(old, rig.v, "the swap was refused");
	rig.v = v2;
	chain_ver_free(old, rig.nq);
	offer(1500, 32, 50);
	settle();
	cr_assert_eq(fake.mixed, 0, "a batch of one program was submitted while the other's were in flight");
	cr_assert_eq(fake.destroyed_busy, 0, "the old program was freed with batches in flight");
	cr_assert_eq(rig.passed, rig.sent);
	cr_assert_gt(rig.by_nfs[1], 0);
	cr_assert_gt(rig.by_nfs[2], 0);
	cr_assert_eq(rig.by_nfs[1] + rig.by_nfs[2], rig.sent, "a packet ran part of a program");
	cr_assert_eq(rig.old_after_new, 0, "old-program packets after new-program ones in a flow");
	rig_stop();
}

/*
 * [chain] inflight: a controller keeps at most that many batches on its
 * backend, though the backend takes 16; a reload that raises it gets the
 * slots for them at the swap (slots_fit).
 */
Test(chain, inflight_caps_batches_and_reload_raises_it, .timeout = 30)
{
	struct chain_ver *old, *v2;

	fake_ops.max_inflight = 16;
	fake_reset(16, 5000000, 0, FAIL_NONE);
	rig_inflight = 3;
	rig_start(1, 4096);
	offer(32 * 40, 32, 0);
	settle();
	cr_assert_eq(fake.peak, 3, "%u batches in flight with inflight = 3", fake.peak);
	rig_inflight = 12;
	v2 = make_ver(1, 0);
	old = chain_swap(&rig.c, v2);
	cr_assert_eq(old, rig.v, "the swap was refused");
	rig.v = v2;
	chain_ver_free(old, rig.nq);
	pthread_mutex_lock(&fake.lock);
	fake.peak = 0;
	pthread_mutex_unlock(&fake.lock);
	offer(32 * 60, 32, 0);
	settle();
	cr_assert_eq(fake.peak, 12, "%u batches in flight after inflight went from 3 to 12", fake.peak);
	assert_each_ran_once();
	rig_stop();
}

/*
 * The chain moves to another device at a swap: the NF's live state (here its
 * counters, on the device copy) is handed over, so the counts go on from
 * where they were.
 */
Test(chain, state_handed_over_at_swap, .timeout = 30)
{
	struct chain_ver *old, *v2;
	struct nf_ttl_dec st;

	fake_reset(8, 200000, 0, FAIL_NONE);
	rig_start(1, 4096);
	offer(1000, 50, 100);
	settle();
	v2 = make_ver(1, 1);
	old = chain_swap(&rig.c, v2);
	cr_assert_eq(old, rig.v);
	rig.v = v2;
	chain_ver_free(old, rig.nq);
	offer(700, 50, 100);
	settle();
	cr_assert_eq(rig.c.handovers, 1);
	cr_assert_eq(rig.c.handover_bytes, rig.ttl[0]->size, "ttl_dec names no live spans: its whole blob moves");
	cr_assert_eq(chain_state_read(&rig.c, 0, &st, 0, sizeof(st)), 0);
	cr_assert_eq(st.counters[TTL_C_FORWARDED], rig.sent, "device 1 counts %lu of %lu packets",
		     (unsigned long)st.counters[TTL_C_FORWARDED], (unsigned long)rig.sent);
	memcpy(&st, rig.ttl[0], sizeof(st));
	cr_assert_eq(st.counters[TTL_C_FORWARDED], 0, "the host blob ran packets: the fake is no device");
	rig_stop();
}

/*
 * A batch the device never finishes: after CHAIN_DEVICE_MS the chain fails,
 * nothing more goes to the device, and new packets come back as drops.
 */
Test(chain, stuck_batch_fails_chain, .timeout = 30)
{
	uint64_t t0 = fake_now_ns(), submits;

	fake_reset(8, 0, 0, FAIL_NONE);
	fake.hang_at = 2;
	rig_start(1, 4096);
	offer(200, 20, 1000);
	while (!__atomic_load_n(&rig.c.failed, __ATOMIC_ACQUIRE) && fake_now_ns() - t0 < 5000000000ull)
		sleep_us(1000);
	cr_assert(rig.c.failed, "the chain did not fail");
	cr_assert(strstr(rig.c.fail_reason, "did not complete within"), "%s", rig.c.fail_reason);
	submits = fake.submits;
	offer(100, 20, 1000);
	sleep_us(50000);
	drain();
	cr_assert_eq(fake.submits, submits, "a failed chain sent batches to the device");
	cr_assert_geq(rig.c.fail_dropped, 100);
	__atomic_store_n(&fake.release, 1, __ATOMIC_RELEASE);
	settle();
	rig_stop();
}

/*
 * A backend that declares no fallback: a failed batch has nowhere to go, so
 * it is dropped and counted, the chain stays where it is and says why; and no
 * hybrid chain can be made on it.
 */
Test(chain, no_fallback_drops_and_stays, .timeout = 30)
{
	char err[256] = "";

	fake_alone_ops = fake_ops;
	fake_alone_ops.fallback = NULL;
	rig_ops = &fake_alone_ops;
	fake_reset(4, 200000, 3, FAIL_EIO);
	rig_start(1, 4096);
	offer(1000, 32, 100);
	settle();
	assert_batch_lost();
	cr_assert_eq(rig.c.fallbacks, 0);
	cr_assert_eq(rig.c.backend_failed, 0);
	cr_assert_str_eq(chain_placement(&rig.c), "fake");
	cr_assert(strstr(chain_backend_error(&rig.c), "batch 3 failed"), "%s", chain_backend_error(&rig.c));
	cr_assert_gt(fake.submits, 3, "the chain left its backend");
	cr_assert_eq(chain_ver_add_cpu(rig.v, rig.w, rig.nq, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "backend fake has no fallback"), "%s", err);
	rig_stop();
}

/*
 * The latency histogram's buckets: every value lies in the bucket whose upper
 * bound is the first at or above it; bounds rise strictly, and a bucket is at
 * most 1/2^CHAIN_LAT_SUB of its lower edge wide, so a quantile read from it is
 * within that of the true value.
 */
Test(chain, latency_buckets)
{
	uint64_t prev = 0;

	for (int b = 0; b < CHAIN_LAT_BUCKETS; b++) {
		uint64_t up = chain_lat_bucket_ns(b);

		cr_assert_eq(chain_lat_bucket(up), b, "upper bound %llu of bucket %d lands in %d",
			     (unsigned long long)up, b, chain_lat_bucket(up));
		if (b) {
			cr_assert_gt(up, prev, "bucket %d's bound %llu not above %llu", b, (unsigned long long)up,
				     (unsigned long long)prev);
			cr_assert_eq(chain_lat_bucket(prev + 1), b, "bucket %d does not start right after %d", b, b - 1);
			if (prev >= (1u << CHAIN_LAT_SUB))
				cr_assert_leq((double)(up - prev), (double)(prev + 1) / (1 << CHAIN_LAT_SUB) + 1,
					      "bucket %d [%llu, %llu] is too wide", b, (unsigned long long)prev + 1,
					      (unsigned long long)up);
		}
		prev = up;
	}
	/* A few values by hand: 8 buckets an octave. */
	cr_assert_eq(chain_lat_bucket_ns(chain_lat_bucket(100000)), 106495); /* [98304, 106495] */
	cr_assert_eq(chain_lat_bucket_ns(chain_lat_bucket(131072)), 147455); /* [131072, 147455] */
	cr_assert_eq(chain_lat_bucket(UINT64_MAX), CHAIN_LAT_BUCKETS - 1);
	{
		uint64_t h[CHAIN_LAT_BUCKETS] = { 0 };

		h[chain_lat_bucket(1000)] = 90;
		h[chain_lat_bucket(200000)] = 10;
		cr_assert_eq(chain_lat_quantile(h, 0.5), chain_lat_bucket_ns(chain_lat_bucket(1000)));
		cr_assert_eq(chain_lat_quantile(h, 0.95), chain_lat_bucket_ns(chain_lat_bucket(200000)));
	}
}
