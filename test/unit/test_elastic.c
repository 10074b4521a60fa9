// SPDX-License-Identifier: GPL-2.0
/*
 * The batcher's latency bound and hybrid placement (daemon/chain.c), driven
 * over its plain rings by a test port worker, with a fake slow backend in the
 * GPU's place: batches complete a fixed time after submit, several in flight,
 * and the NFs run on the backend's own copies of their states, as on a device,
 * so that a state not handed over at a move shows up as lost counts and
 * reused ESP sequence numbers. The fake can also fault or hang in a submit:
 * a hybrid chain's batches run under the guard, and a move's wait is bounded.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "chain.h"
#include "fake_device.h"
#include "guard.h"
#include "../../nf/flowmon.h"
#include "../../nf/ipsec_esp.h"
#include "../../nf/registry.h"
#include "testlib.h"

#define NFRAMES 4096u
#define PKT_OFF 256u
#define PKT_LEN 64u
#define FLOWS 64u

/* ---- the fake slow backend ---- */

#define FAKE_SLOTS 8
/* Descriptor areas the fake keeps attached at once (descs_attach). */
#define FAKE_AREAS 64

static struct {
	uint64_t batch_ns;       /* a batch completes this long after submit */
	uint32_t max_inflight;
	uint64_t push_ns[2][NFRAMES]; /* when the test worker pushed each frame, per queue */
	uint64_t max_wait_ns;    /* longest a packet waited from push to submit */
	uint64_t late_ns;        /* packets that waited longer than this ... */
	uint64_t late, packets;  /* ... of all packets submitted */
	uint64_t submits;
	int crash;               /* the next submit faults (an NF crashing on the device side) */
	int stall_q;             /* 1 + the queue whose next submit hangs where the guard cannot reach */
	int stalled, release;
	/* Descriptor areas given to descs_attach (as the gpu backend gets gend's batch slots). */
	struct { void *p; size_t size; } area[FAKE_AREAS];
	uint32_t attached, detached;
	uint64_t in_area, outside; /* batches submitted from inside an attached area, and from elsewhere */
	pthread_mutex_t lock;
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int fake_descs_attach(void *p, size_t size)
{
	pthread_mutex_lock(&fake.lock);
	for (uint32_t i = 0; i < FAKE_AREAS; i++) {
		if (!fake.area[i].p) {
			fake.area[i].p = p;
			fake.area[i].size = size;
			fake.attached++;
			break;
		}
	}
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int fake_descs_detach(void *p)
{
	pthread_mutex_lock(&fake.lock);
	for (uint32_t i = 0; i < FAKE_AREAS; i++) {
		if (fake.area[i].p == p) {
			fake.area[i].p = NULL;
			fake.detached++;
		}
	}
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

/* Whether d[0, n) lies in one attached area (fake.lock held). */
static bool fake_in_area(const struct gen_desc *d, uint32_t n)
{
	for (uint32_t i = 0; i < FAKE_AREAS; i++) {
		const uint8_t *a = fake.area[i].p;
		if (a && (const uint8_t *)d >= a && (const uint8_t *)(d + n) <= a + fake.area[i].size)
			return true;
	}
	return false;
}

struct backend_chain {
	struct chain_prog prog; /* state[] point at the fake's copies */
	uint8_t *umem;
	int q;
	struct { struct gen_desc *d; uint32_t n; uint64_t due; } slot[FAKE_SLOTS];
	uint32_t head, n;
};

static struct backend_chain *fake_create(const struct chain_prog *prog, void *umem, size_t size, uint32_t fs,
				       char *err, size_t errlen)
{
	struct backend_chain *bc = calloc(1, sizeof(*bc));

	bc->prog = *prog;
	bc->umem = umem;
	fake_dev_prog_get(&bc->prog, 0);
	return bc;
}

static void fake_destroy(struct backend_chain *bc)
{
	fake_dev_prog_put(&bc->prog);
	free(bc);
}

static int fake_submit(struct backend_chain *bc, struct gen_desc *d, uint32_t n, uint64_t batch_time)
{
	uint64_t now = fake_now_ns(), wait = 0;
	int q = bc->q;

	if (__atomic_exchange_n(&fake.crash, 0, __ATOMIC_ACQ_REL))
		raise(SIGSEGV);
	if (fake.stall_q == q + 1 && !__atomic_exchange_n(&fake.stalled, 1, __ATOMIC_ACQ_REL)) {
		sigset_t usr2, old;
		struct timespec ts = { 0, 1000000 };

		sigemptyset(&usr2);
		sigaddset(&usr2, SIGUSR2);
		pthread_sigmask(SIG_BLOCK, &usr2, &old);
		while (!__atomic_load_n(&fake.release, __ATOMIC_ACQUIRE))
			nanosleep(&ts, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (bc->n == fake.max_inflight)
		return -EBUSY;
	uint64_t late = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t w = now - fake.push_ns[q][d[i].addr / GEN_FRAME_SIZE];

		wait = w > wait ? w : wait;
		late += fake.late_ns && w > fake.late_ns;
	}
	pthread_mutex_lock(&fake.lock);
	fake.late += late;
	fake.packets += n;
	fake.max_wait_ns = wait > fake.max_wait_ns ? wait : fake.max_wait_ns;
	fake.submits++;
	if (fake_in_area(d, n))
		fake.in_area++;
	else
		fake.outside++;
	pthread_mutex_unlock(&fake.lock);
	backend_cpu_run(&bc->prog, bc->umem, GEN_FRAME_SIZE, d, n, batch_time);
	bc->slot[(bc->head + bc->n) % FAKE_SLOTS].d = d;
	bc->slot[(bc->head + bc->n) % FAKE_SLOTS].n = n;
	bc->slot[(bc->head + bc->n) % FAKE_SLOTS].due = now + fake.batch_ns;
	bc->n++;
	return 0;
}

static int fake_complete(struct backend_chain *bc, struct gen_desc **ret_d, uint32_t *ret_n)
{
	if (!bc->n || fake_now_ns() < bc->slot[bc->head].due)
		return 0;
	*ret_d = bc->slot[bc->head].d;
	*ret_n = bc->slot[bc->head].n;
	bc->head = (bc->head + 1) % FAKE_SLOTS;
	bc->n--;
	return 1;
}

FAKE_DEVICE_STATE_OPS()

static struct backend_ops fake_ops = {
	.name = "fake",
	.umem_attach = fake_umem_attach,
	.umem_detach = fake_umem_detach,
	.descs_attach = fake_descs_attach,
	.descs_detach = fake_descs_detach,
	.chain_create = fake_create,
	.chain_destroy = fake_destroy,
	.submit = fake_submit,
	.complete = fake_complete,
	.state_read = fake_state_read,
	.state_write = fake_state_write,
	.fallback = &backend_cpu, /* as the GPU's: a hybrid chain's low-load side */
};

/* ---- a test port worker: offered load in, verdicts out ---- */

struct rig {
	struct gen_chain c;
	struct qworker w[2];
	int nq;
	struct chain_ver *v;
	struct nf_hdr *st[2];   /* flowmon, ipsec_esp */
	volatile uint64_t rate; /* packets/s per queue */
	volatile int stop;
	pthread_t thread;
	uint64_t pushed, passed, dropped, seq_dups, ring_full;
	uint8_t *seen;          /* ESP sequence numbers seen on the way out */
	uint64_t t0, moves_seen; /* moves: each one the rig saw, when and why (watch_moves) */
	char moves[512];
};

static void *worker_main(void *arg)
{
	struct rig *r = arg;
	uint64_t *free_frames[2], nfree[2], last = fake_now_ns();
	double tokens = 0;

	for (int q = 0; q < r->nq; q++) {
		free_frames[q] = malloc(NFRAMES * sizeof(uint64_t));
		nfree[q] = 0;
		for (uint32_t f = 0; f < NFRAMES; f++)
			free_frames[q][nfree[q]++] = (uint64_t)f * GEN_FRAME_SIZE;
	}
	while (!r->stop || r->passed + r->dropped < r->pushed) {
		uint64_t now = fake_now_ns();
		struct timespec ts = { 0, 50000 };

		uint32_t want;

		tokens += r->stop ? 0 : (double)(now - last) * (double)r->rate / 1e9;
		last = now;
		if (tokens > 4096)
			tokens = 4096; /* frames ran short: do not make up for it later */
		want = tokens > 256 ? 256 : (uint32_t)tokens;
		tokens -= want;
		for (int q = 0; q < r->nq; q++) {
			struct chain_io *io = &r->c.io[q];
			struct gen_desc d[256];
			uint32_t n = want > nfree[q] ? (uint32_t)nfree[q] : want, k;

			for (uint32_t i = 0; i < n; i++) {
				uint64_t base = free_frames[q][--nfree[q]];

				fake_udp_frame((uint8_t *)r->w[q].area + base + PKT_OFF, PKT_LEN, q, (uint32_t)(r->pushed + i) % FLOWS);
				fake.push_ns[q][base / GEN_FRAME_SIZE] = now;
				d[i] = (struct gen_desc){ .addr = base + PKT_OFF, .len = PKT_LEN };
			}
			if (n) {
				if (ring_push(&io->in, d, n) != n)
					r->ring_full++;
				chain_io_mark(io);
				__atomic_store_n(&io->rx_packets, io->rx_packets + n, __ATOMIC_RELAXED);
				wake_kick(io->chain_wake);
				r->pushed += n;
			}
			while ((k = ring_pop(&io->out, d, 256))) {
				for (uint32_t i = 0; i < k; i++) {
					const uint8_t *p = (const uint8_t *)r->w[q].area + d[i].addr;
					uint32_t seq = (uint32_t)p[38] << 24 | p[39] << 16 | p[40] << 8 | p[41];

					if (d[i].verdict != NF_PASS) {
						r->dropped++;
					} else {
						r->passed++;
						if (seq >= (1u << 24) || r->seen[seq]++)
							r->seq_dups++;
					}
					free_frames[q][nfree[q]++] = d[i].addr - d[i].addr % GEN_FRAME_SIZE;
				}
			}
		}
		nanosleep(&ts, NULL);
	}
	for (int q = 0; q < r->nq; q++)
		free(free_frames[q]);
	return NULL;
}

/* A chain flowmon -> ipsec_esp over nq queues on the fake backend (hybrid: with a cpu side). */
static void rig_start(struct rig *r, int nq, bool hybrid, uint32_t max_wait_us, uint32_t target_us,
		      uint64_t hybrid_pps)
{
	static const struct nf_kv esp_kv[] = {
		{ "direction", "encrypt", 2 }, { "spi", "0x1001", 3 },
		{ "enc_key", "00112233445566778899aabbccddeeff", 4 },
		{ "auth_key", "0102030405060708090a0b0c0d0e0f1011121314", 5 },
		{ "tunnel_src", "192.0.2.1", 6 }, { "tunnel_dst", "192.0.2.2", 7 },
	};
	static const struct nf_kv fm_kv[] = { { "flows", "1024", 2 } };
	struct chain_prog prog = { .n = 2, .mini_batch = GEN_MINI_BATCH_DEFAULT };
	char err[256];

	memset(r, 0, sizeof(*r));
	r->t0 = fake_now_ns();
	r->nq = nq;
	r->seen = calloc(1u << 24, 1);
	for (int q = 0; q < nq; q++) {
		r->w[q].nframes = NFRAMES;
		r->w[q].area_size = (size_t)NFRAMES * GEN_FRAME_SIZE;
		r->w[q].area = aligned_alloc(4096, r->w[q].area_size);
		cr_assert_eq(wake_init(&r->w[q].wake), 0);
	}
	r->st[0] = build_nf("flowmon", fm_kv, 1);
	r->st[1] = build_nf("ipsec_esp", esp_kv, 6);
	prog.type[0] = r->st[0]->type;
	prog.type[1] = r->st[1]->type;
	prog.state[0] = r->st[0];
	prog.state[1] = r->st[1];
	cr_assert_eq(chain_init(&r->c, "t", 1, nq, 4096, r->w), 0);
	r->v = chain_ver_new(&prog, &fake_ops, r->w, nq, 0, err, sizeof(err));
	cr_assert(r->v, "%s", err);
	for (int q = 0; q < nq; q++)
		r->v->bc[q]->q = q;
	if (hybrid)
		cr_assert_eq(chain_ver_add_cpu(r->v, r->w, nq, err, sizeof(err)), 0, "%s", err);
	r->v->max_wait_us = max_wait_us;
	r->v->latency_target_us = target_us;
	r->v->hybrid_pps = hybrid_pps;
	cr_assert_eq(chain_start(&r->c, r->v), 0);
	cr_assert_eq(pthread_create(&r->thread, NULL, worker_main, r), 0);
}

/* Stop the load, wait until every packet came back, stop the chain. */
static void rig_stop(struct rig *r)
{
	r->stop = 1;
	pthread_join(r->thread, NULL);
	chain_stop(&r->c);
}

static void rig_free(struct rig *r)
{
	chain_ver_free(r->v, r->nq);
	chain_fini(&r->c);
	for (int q = 0; q < r->nq; q++) {
		wake_fini(&r->w[q].wake);
		free(r->w[q].area);
	}
	free(r->st[0]);
	free(r->st[1]);
	free(r->seen);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * A hybrid move since the last look goes into r->moves: ms since the rig
 * started, how many moves in all, the placement, the controller's reason (the
 * last move's, where the look came after more than one).
 */
static void watch_moves(struct rig *r)
{
	uint64_t n = __atomic_load_n(&r->c.switches, __ATOMIC_ACQUIRE);
	size_t used = strlen(r->moves);

	if (n == r->moves_seen || used >= sizeof(r->moves) - 1)
		return;
	pthread_mutex_lock(&r->c.place_lock);
	snprintf(r->moves + used, sizeof(r->moves) - used, "[%.0f ms: move %lu, %s, %s] ",
		 (double)(fake_now_ns() - r->t0) / 1e6, (unsigned long)n, chain_placement(&r->c), r->c.move_reason);
	pthread_mutex_unlock(&r->c.place_lock);
	r->moves_seen = n;
}

/* Sleep ms, looking for moves every 2 ms (for the messages of the tests that count moves). */
static void sleep_watch(struct rig *r, long ms)
{
	uint64_t until = fake_now_ns() + (uint64_t)ms * 1000000;

	while (fake_now_ns() < until) {
		watch_moves(r);
		sleep_ms(until - fake_now_ns() > 2000000 ? 2 : 1);
	}
	watch_moves(r);
}

/* Packets the live flowmon state counted, and the ESP state's last sequence number. */
static void live_counts(struct rig *r, uint64_t *fm_pkts, uint64_t *esp_seq)
{
	struct nf_flowmon fm;
	struct nf_ipsec_esp esp;
	struct nf_flow_slot *slots;

	cr_assert_eq(chain_state_read(&r->c, 0, &fm, 0, sizeof(fm)), 0);
	slots = malloc((size_t)fm.nslots * sizeof(*slots));
	cr_assert_eq(chain_state_read(&r->c, 0, slots, fm.slots_off, fm.nslots * (uint32_t)sizeof(*slots)), 0);
	*fm_pkts = 0;
	for (uint32_t i = 0; i < fm.nslots; i++)
		*fm_pkts += slots[i].packets;
	free(slots);
	cr_assert_eq(chain_state_read(&r->c, 1, &esp, 0, sizeof(esp)), 0);
	*esp_seq = esp.seq_last;
}

static void fake_reset(uint64_t batch_ns, uint32_t max_inflight)
{
	fake.batch_ns = batch_ns;
	fake.max_inflight = max_inflight;
	fake_ops.max_inflight = max_inflight;
	fake.max_wait_ns = 0;
	fake.submits = 0;
	fake.late = fake.packets = 0;
	fake.late_ns = 0;
	fake.crash = fake.stall_q = fake.stalled = fake.release = 0;
	memset(fake.area, 0, sizeof(fake.area));
	fake.attached = fake.detached = 0;
	fake.in_area = fake.outside = 0;
}

/* 50 kpps for ms on a device of `slots` slots and 40 ms batches, max_wait_us = 8000. */
static void run_bound(struct rig *r, uint32_t slots, long ms)
{
	fake_reset(40000000, slots);
	fake.late_ns = 16000000;
	rig_start(r, 1, false, 8000, 0, 0);
	r->rate = 50000;
	sleep_ms(ms);
	rig_stop(r);
}

/*
 * A backend that works on descriptors in place (descs_attach) gets every batch
 * slot of every controller attached, every batch comes from one, and a
 * controller that ends detaches them all.
 */
Test(elastic, batch_slots_attached, .timeout = 60)
{
	struct rig r;

	fake_reset(1000000, 8);
	rig_start(&r, 2, false, 0, 0, 0);
	r.rate = 50000;
	sleep_ms(300);
	rig_stop(&r);
	pthread_mutex_lock(&fake.lock);
	cr_assert_eq(fake.attached, 2 * 8, "batch slots attached: %u of 16", fake.attached);
	cr_assert_gt(fake.in_area, 10, "batches from attached slots: %lu", (unsigned long)fake.in_area);
	cr_assert_eq(fake.outside, 0, "batches from outside the attached slots: %lu", (unsigned long)fake.outside);
	cr_assert_eq(fake.detached, fake.attached, "detached %u of %u", fake.detached, fake.attached);
	pthread_mutex_unlock(&fake.lock);
	cr_assert_eq(r.pushed, r.passed + r.dropped, "pushed %lu, back %lu", (unsigned long)r.pushed,
		     (unsigned long)(r.passed + r.dropped));
	rig_free(&r);
}

/*
 * Batches take 40 ms on the fake device. With max_wait_us = 8000 the batcher
 * keeps one batch in flight by the paper's rule, so packets would wait up to
 * 40 ms for it; the bound closes batches early into the spare slots instead.
 * A shared 2-core box may deschedule the controller for some ms now and then
 * (seen: up to 12 ms under builds): the test allows 5 % of the packets past
 * twice the bound; without the bound some 60 % would be.
 */
Test(elastic, max_wait_bound_respected, .timeout = 120)
{
	struct rig r;
	bool ok = false;
	char last[160] = "";

	/* Up to three tries: a try fails only when the box took the cores away. */
	for (int attempt = 0; attempt < 3 && !ok; attempt++) {
		run_bound(&r, 8, 1000);
		cr_expect_eq(r.passed, r.pushed, "every packet back: %lu of %lu", (unsigned long)r.passed,
			     (unsigned long)r.pushed);
		cr_expect_gt(r.c.early_closes, 10, "max_wait closed batches early: %lu", (unsigned long)r.c.early_closes);
		ok = fake.late * 20 <= fake.packets && r.c.wait_overruns == 0;
		snprintf(last, sizeof(last),
			 "%lu of %lu packets waited over 16 ms (bound 8 ms; longest %.2f ms; %lu early closes, %lu overruns)",
			 (unsigned long)fake.late, (unsigned long)fake.packets, fake.max_wait_ns / 1e6,
			 (unsigned long)r.c.early_closes, (unsigned long)r.c.wait_overruns);
		cr_log_info("try %d: %s", attempt, last);
		rig_free(&r);
	}
	cr_expect(ok, "over 5 %% of the packets waited past twice the bound, or overruns, in three tries; the last: %s",
		  last);
}

/* The same load with one slot: the bound cannot be kept, and the batcher says so. */
Test(elastic, max_wait_overrun_reported, .timeout = 60)
{
	struct rig r;

	run_bound(&r, 1, 600);
	cr_expect_eq(r.passed, r.pushed);
	cr_expect_gt(fake.late * 3, fake.packets, "packets wait for the single slot: %lu of %lu over 16 ms",
		     (unsigned long)fake.late, (unsigned long)fake.packets);
	cr_expect_gt(r.c.wait_overruns, 0, "overruns counted: %lu", (unsigned long)r.c.wait_overruns);
	rig_free(&r);
}

/* A target no batch can meet (each takes 2 ms) is reported missed; a reachable one is met. */
Test(elastic, latency_target_reported, .timeout = 60)
{
	struct rig r;

	fake_reset(2000000, 8);
	rig_start(&r, 1, false, 0, 500, 0);
	r.rate = 50000;
	sleep_ms(600);
	cr_expect(__atomic_load_n(&r.c.ctl[0].target_missed, __ATOMIC_RELAXED), "target of 500 us reported missed");
	cr_expect_gt(r.c.target_misses, 20);
	cr_expect_lt(r.c.ctl[0].batch_limit, 4096, "the batch limit came down: %u", r.c.ctl[0].batch_limit);
	rig_stop(&r);
	cr_expect_eq(r.passed, r.pushed);
	rig_free(&r);

	fake_reset(2000000, 8);
	rig_start(&r, 1, false, 0, 20000, 0);
	r.rate = 50000;
	sleep_ms(600);
	cr_expect_not(__atomic_load_n(&r.c.ctl[0].target_missed, __ATOMIC_RELAXED), "target of 20 ms met");
	cr_expect_gt(r.c.ctl[0].win_p99_ns, 1000000, "p99 includes the 2 ms batch: %lu ns",
		     (unsigned long)r.c.ctl[0].win_p99_ns);
	cr_expect_lt(r.c.ctl[0].win_p99_ns, 20000000);
	rig_stop(&r);
	rig_free(&r);
}

/*
 * Hybrid on two queues: low load on the cpu side, a step past hybrid_pps moves
 * the chain to the fake device, the step back down moves it back. Every packet
 * comes back, the live flowmon state counted each one, and ESP handed out each
 * sequence number exactly once: the states went across both ways.
 */
Test(elastic, hybrid_switches_both_ways_no_loss, .timeout = 60)
{
	struct rig r;
	uint64_t fm, seq, subs_low;

	fake_reset(1000000, 8);
	rig_start(&r, 2, true, 0, 0, 40000);
	r.rate = 5000; /* per queue: 10 kpps in all */
	sleep_watch(&r, 700);
	cr_expect_str_eq(chain_placement(&r.c), "cpu", "on the cpu at low load; moves: %s", r.moves);
	cr_expect_eq(fake.submits, 0, "nothing on the device at low load");
	r.rate = 50000; /* 100 kpps > 40 kpps */
	sleep_watch(&r, 1200);
	cr_expect_str_eq(chain_placement(&r.c), "fake", "moved up under load; moves: %s", r.moves);
	cr_expect_gt(fake.submits, 0);
	r.rate = 5000; /* 10 kpps < 20 kpps */
	sleep_watch(&r, 1200);
	cr_expect_str_eq(chain_placement(&r.c), "cpu", "moved back at low load; moves: %s", r.moves);
	subs_low = fake.submits;
	sleep_watch(&r, 300);
	cr_expect_eq(fake.submits, subs_low, "no batch on the device once back");
	rig_stop(&r);
	watch_moves(&r);
	cr_expect_eq(r.c.switches, 2, "two moves, no flapping: %lu; moves: %s", (unsigned long)r.c.switches, r.moves);
	cr_expect_gt(r.pushed, 50000);
	cr_expect_eq(r.passed, r.pushed, "no packet lost: %lu of %lu back", (unsigned long)r.passed,
		     (unsigned long)r.pushed);
	cr_expect_eq(r.dropped, 0);
	cr_expect_eq(r.seq_dups, 0, "ESP sequence numbers reused: %lu", (unsigned long)r.seq_dups);
	live_counts(&r, &fm, &seq);
	cr_expect_eq(fm, r.pushed, "flowmon counted %lu of %lu packets", (unsigned long)fm, (unsigned long)r.pushed);
	cr_expect_eq(seq, r.pushed, "ESP's last sequence number %lu, packets %lu", (unsigned long)seq,
		     (unsigned long)r.pushed);
	rig_free(&r);
}

/* A cpu side that spends slow_cpu_ns on each packet before running it: a host it cannot keep up on. */
static struct backend_ops slow_cpu;
static uint64_t slow_cpu_ns;

static int slow_cpu_submit(struct backend_chain *bc, struct gen_desc *d, uint32_t n, uint64_t batch_time)
{
	uint64_t until = fake_now_ns() + n * slow_cpu_ns;

	while (fake_now_ns() < until)
		;
	return backend_cpu.submit(bc, d, n, batch_time);
}

/*
 * A load about ten times what the cpu side carries, with hybrid_pps out of the
 * rate's reach: only the backlog growing on the cpu side can move the chain,
 * and it does, without waiting for the rate rule's windows; nothing is lost
 * and the states go across.
 */
Test(elastic, hybrid_backlog_moves_up, .timeout = 60)
{
	struct rig r;
	uint64_t fm, seq, t0;

	slow_cpu = backend_cpu;
	slow_cpu.submit = slow_cpu_submit;
	slow_cpu_ns = 4000; /* 250 kpps */
	fake_ops.fallback = &slow_cpu;
	fake_reset(1000000, 8);
	rig_start(&r, 1, true, 0, 0, 1000000000000ull);
	r.rate = 2000;
	sleep_ms(300);
	cr_assert_str_eq(chain_placement(&r.c), "cpu");
	t0 = fake_now_ns();
	r.rate = 2500000;
	while (strcmp(chain_placement(&r.c), "fake") && fake_now_ns() - t0 < 3000000000ull)
		sleep_ms(1);
	cr_log_info("moved %.1f ms after the load came", (fake_now_ns() - t0) / 1e6);
	cr_expect_str_eq(chain_placement(&r.c), "fake", "a growing backlog on the cpu side moves the chain up");
	r.rate = 20000;
	sleep_ms(200);
	rig_stop(&r);
	fake_ops.fallback = &backend_cpu;
	cr_log_info("the move's reason: %s", r.c.move_reason);
	cr_expect(strstr(r.c.move_reason, "backlog on the cpu side"), "the move's reason: %s", r.c.move_reason);
	cr_expect_eq(r.c.switches, 1, "one move: %lu", (unsigned long)r.c.switches);
	cr_expect_eq(r.passed, r.pushed, "no packet lost: %lu of %lu back", (unsigned long)r.passed,
		     (unsigned long)r.pushed);
	cr_expect_eq(r.seq_dups, 0, "ESP sequence numbers reused: %lu", (unsigned long)r.seq_dups);
	live_counts(&r, &fm, &seq);
	cr_expect_eq(fm, r.pushed, "flowmon counted %lu of %lu packets", (unsigned long)fm, (unsigned long)r.pushed);
	cr_expect_eq(seq, r.pushed, "ESP's last sequence number %lu, packets %lu", (unsigned long)seq,
		     (unsigned long)r.pushed);
	rig_free(&r);
}

/*
 * On the device the host blobs fall behind (what the cpu side would run on
 * without a hand-over), and the device copy holds every packet, the cpu side's
 * too: it took their state when the chain moved up.
 */
Test(elastic, hybrid_state_lives_on_the_device, .timeout = 60)
{
	struct rig r;
	uint64_t fm, seq;

	fake_reset(1000000, 8);
	rig_start(&r, 1, true, 0, 0, 40000);
	r.rate = 5000;
	sleep_ms(300);
	r.rate = 100000;
	sleep_ms(1200);
	cr_assert_str_eq(chain_placement(&r.c), "fake");
	rig_stop(&r);
	/* The host blobs alone (what the cpu side would use without a hand-over) miss the device's packets. */
	seq = ((struct nf_ipsec_esp *)r.st[1])->seq_last;
	fm = r.pushed;
	cr_expect_lt(seq, fm, "the host copy lags the device copy while the chain is on the device");
	live_counts(&r, &fm, &seq);
	cr_expect_eq(seq, r.pushed, "the live copy has them all");
	rig_free(&r);
}

static void fatal_outside_guard(int sig)
{
	fprintf(stderr, "signal %d outside a guarded batch\n", sig);
}

/* Up under load to the fake device, on two queues. */
static void hybrid_on_device(struct rig *r)
{
	cr_assert_eq(guard_install(fatal_outside_guard), 0);
	fake_reset(1000000, 8);
	rig_start(r, 2, true, 0, 0, 40000);
	r->rate = 50000;
	sleep_ms(1200);
	cr_assert_str_eq(chain_placement(&r->c), "fake");
}

/*
 * A hybrid chain's batches run under the guard too: a fault in one fails the
 * chain, what reaches it afterwards is dropped and counted, nothing more is
 * submitted, and a failed chain no longer moves when the load falls.
 */
Test(elastic, hybrid_fault_fails_chain, .timeout = 60)
{
	struct rig r;
	uint64_t subs, switches;

	hybrid_on_device(&r);
	switches = r.c.switches;
	__atomic_store_n(&fake.crash, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 100 && !__atomic_load_n(&r.c.failed, __ATOMIC_ACQUIRE); i++)
		sleep_ms(10);
	cr_assert(__atomic_load_n(&r.c.failed, __ATOMIC_ACQUIRE), "the fault failed the chain");
	cr_expect(strstr(r.c.fail_reason, "crashed"), "reason: %s", r.c.fail_reason);
	subs = fake.submits;
	r.rate = 5000; /* would move it back to the cpu side */
	sleep_ms(1200);
	cr_expect_eq(fake.submits, subs, "nothing submitted after the failure");
	cr_expect_eq(r.c.switches, switches, "a failed chain does not move: %lu moves", (unsigned long)r.c.switches);
	cr_expect_gt(r.c.fail_dropped, 0);
	rig_stop(&r);
	cr_expect_eq(r.passed + r.dropped, r.pushed, "every frame came back");
	cr_expect_geq(r.dropped, r.c.fail_dropped);
	rig_free(&r);
}

/*
 * A move waits for every controller to reach a batch boundary. One stuck where
 * the guard cannot cut it short (its signal blocked) must not hold the move, or
 * the chain, forever: after CHAIN_WAIT_MS the chain fails, the other queue
 * goes on (dropping), and once the stuck one returns the chain stops.
 */
Test(elastic, hybrid_move_wait_bounded, .timeout = 90)
{
	struct rig r;
	uint64_t t0, t1 = 0;

	hybrid_on_device(&r);
	__atomic_store_n(&fake.stall_q, 2, __ATOMIC_RELEASE);
	for (int i = 0; i < 100 && !__atomic_load_n(&fake.stalled, __ATOMIC_ACQUIRE); i++)
		sleep_ms(10);
	cr_assert(__atomic_load_n(&fake.stalled, __ATOMIC_ACQUIRE), "queue 1 stuck in its submit");
	t0 = fake_now_ns();
	r.rate = 5000; /* queue 0 decides to move back to the cpu side */
	for (int i = 0; i < 2500 && !t1; i++) {
		if (__atomic_load_n(&r.c.failed, __ATOMIC_ACQUIRE))
			t1 = fake_now_ns();
		sleep_ms(10);
	}
	cr_assert(t1, "the move never gave up");
	cr_log_info("the stuck move failed the chain after %.1f s: %s", (t1 - t0) / 1e9, r.c.fail_reason);
	cr_expect(strstr(r.c.fail_reason, "hybrid move"), "reason: %s", r.c.fail_reason);
	cr_expect_geq(t1 - t0, (uint64_t)CHAIN_WAIT_MS * 1000000, "failed only after the bound");
	cr_expect_eq(r.c.switches, 1, "no move made");
	cr_expect_eq(__atomic_load_n(&r.c.move_req, __ATOMIC_ACQUIRE), 0, "the other controllers were let go");
	__atomic_store_n(&fake.release, 1, __ATOMIC_RELEASE);
	rig_stop(&r);
	cr_expect_eq(r.passed + r.dropped, r.pushed, "every frame came back");
	rig_free(&r);
}
