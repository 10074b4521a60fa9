// SPDX-License-Identifier: GPL-2.0
/*
 * Port workers: one thread per queue index owns every fill, completion, RX and
 * TX ring of that queue on every port, so each ring has exactly one producer and
 * one consumer. Frames move between ports by address inside the queue's UMEM.
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_xdp.h>
#include "cls.h"
#include "demote.h"
#include "dp.h"
#include "pin.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void set_fill_targets(struct qworker *w);
static int shards_open(struct tx_shard *x, uint32_t nextra, int ifindex, uint32_t q, uint32_t nq, int pool_fd);
static void shards_close(struct tx_shard *x, uint32_t nextra);

/* The port's TX socket (libxdp's, or the one made when its netdev came back), or -1. */
static int port_fd(const struct port_q *pq)
{
	return pq->tx_xsk || pq->own_fd > 0 ? pq->tx_fd : -1;
}

/* TX shard s of a port: its own socket's ring for 0, else one of the extra sockets' (tx_sockets). */
static struct xsk_ring_prod *shard_ring(struct port_q *pq, uint32_t s)
{
	return s ? &pq->xtx[s - 1].o.tx : &pq->tx;
}

/*
 * A test override (gend-debug only): GEN_TEST_HELP_ONLY=1 leaves the extra TX
 * sockets without a kicker thread to the chain controllers alone, so that a
 * test sees their kicks carry the frames.
 */
static bool help_only;

/*
 * A test override (gend-debug only): GEN_TEST_HOLD_TX=PATH makes every TX kick
 * fail with EAGAIN (as a busy queue does) while PATH exists, so that a test
 * finds frames waiting in the TX rings when it needs them there.
 */
#ifdef GEN_DEBUG
static const char *hold_tx;
#endif

#ifndef GEN_TX_PREFETCH
#define GEN_TX_PREFETCH 1
#endif

/*
 * The first line of each frame the next sendto() copies out (at most the
 * socket's budget), asked for at once into this core's L2: the kernel
 * copies them one skb at a time, and each line was last written or read on
 * another core (the receiving core, the worker).
 */
static void tx_prefetch(const struct qworker *w, struct xsk_ring_prod *tx, uint32_t budget)
{
	uint32_t c = __atomic_load_n(tx->consumer, __ATOMIC_ACQUIRE);
	uint32_t n = __atomic_load_n(tx->producer, __ATOMIC_ACQUIRE) - c;

	if (n > budget)
		n = budget;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *x = xsk_ring_prod__tx_desc(tx, c + i);

		__builtin_prefetch((const uint8_t *)w->area + __atomic_load_n(&x->addr, __ATOMIC_RELAXED), 0, 2);
	}
}

/*
 * A TX descriptor for frame d. addr and len are stored atomically: a kicker or
 * an idle controller reads them after its sendto() (demote_tx_taken) while the
 * worker may be refilling the slot, which only points that hint elsewhere.
 */
static void desc_put(struct xdp_desc *x, const struct gen_desc *d)
{
	__atomic_store_n(&x->addr, d->addr, __ATOMIC_RELAXED);
	__atomic_store_n(&x->len, d->len, __ATOMIC_RELAXED);
	x->options = 0;
}

/*
 * Kick a copy-mode TX socket whose budget (frames a call) is budget; with
 * demote, the lines of the frames the kernel copied out go back (demote.h).
 */
static int tx_send(struct qworker *w, int fd, struct xsk_ring_prod *tx, uint32_t budget)
{
#ifdef GEN_DEBUG
	if (hold_tx && !access(hold_tx, F_OK)) {
		errno = EAGAIN;
		return -1;
	}
#endif
	if (GEN_TX_PREFETCH)
		tx_prefetch(w, tx, budget);
	__atomic_add_fetch(&w->tx_kicks, 1, __ATOMIC_RELAXED);
	return (int)demote_sendto(fd, tx, w->area, w->demote);
}

static int shard_fd(const struct port_q *pq, uint32_t s)
{
	return s ? pq->xtx[s - 1].o.fd : port_fd(pq);
}

/* dp.h */
bool tx_flow_hash(const uint8_t *f, uint32_t len, uint32_t *hash)
{
	uint32_t off = 12, h = 0, l4 = 0, proto;
	uint16_t et;

	if (len < 14)
		return false;
	et = (uint16_t)(f[12] << 8 | f[13]);
	if ((et == 0x8100 || et == 0x88a8) && len >= 18) {
		off = 16;
		et = (uint16_t)(f[16] << 8 | f[17]);
	}
	off += 2;
	if (et == 0x0800 && len >= off + 20) {
		uint32_t a, b, ihl = (f[off] & 15u) * 4;

		memcpy(&a, f + off + 12, 4);
		memcpy(&b, f + off + 16, 4);
		proto = f[off + 9];
		h = a * 0x9e3779b1u ^ b;
		/* Ports only where the datagram is whole: all its fragments (the first too) hash alike without them. */
		if (!(f[off + 6] & 0x3f) && !f[off + 7] && ihl >= 20)
			l4 = off + ihl;
	} else if (et == 0x86dd && len >= off + 40) {
		uint32_t w[8];

		memcpy(w, f + off + 8, sizeof(w));
		for (int i = 0; i < 8; i++)
			h = (h ^ w[i]) * 0x9e3779b1u;
		proto = f[off + 6];
		l4 = off + 40;
	} else {
		return false;
	}
	if (l4 && (proto == 6 || proto == 17) && len >= l4 + 4) {
		uint32_t ports;

		memcpy(&ports, f + l4, 4);
		h ^= ports * 0x85ebca6bu;
	}
	h ^= proto;
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	*hash = h;
	return true;
}

/* A given bucket that may be given again: idle long enough, and its last frame out of its ring. */
static bool bucket_free_to_move(const struct tx_balance *b, uint32_t k, uint32_t now_ms)
{
	return now_ms - b->seen[k] > GEN_TX_IDLE_MS && (int32_t)(b->done[b->sock[k] - 1] - b->sent[k]) >= 0;
}

/* dp.h */
uint32_t tx_balance_pick(struct tx_balance *b, uint32_t hash, uint32_t n, uint32_t now_ms)
{
	uint32_t k = tx_bucket(hash), s = b->sock[k], best;

	if (s && s <= n && !bucket_free_to_move(b, k, now_ms)) {
		b->seen[k] = now_ms;
		return s - 1;
	}
	if (s)
		b->used[s - 1]--; /* idle (or its socket is gone): given again below */
	/* The socket with the fewest buckets; ties go by the hash, so that no socket is always first. */
	best = hash % n;
	for (uint32_t i = 1; i < n; i++) {
		uint32_t c = (hash + i) % n;

		if (b->used[c] < b->used[best])
			best = c;
	}
	b->used[best]++;
	b->sock[k] = (uint8_t)(best + 1);
	b->seen[k] = now_ms;
	return best;
}

/* dp.h */
void tx_balance_sweep(struct tx_balance *b, uint32_t now_ms, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		uint32_t k = b->cursor++ & (GEN_TX_BUCKETS - 1);

		if (b->sock[k] && bucket_free_to_move(b, k, now_ms)) {
			b->used[b->sock[k] - 1]--;
			b->sock[k] = 0;
		}
	}
}

/* Coarse milliseconds, for the TX buckets' idle times. */
static uint32_t coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

#define HUGE_PAGE (2u << 20)

static void sock_config(struct xsk_socket_config *c, uint16_t mode)
{
	memset(c, 0, sizeof(*c));
	c->rx_size = GEN_RXTX_SIZE;
	c->tx_size = GEN_RXTX_SIZE;
	/* gend attaches its own classifier; libxdp must not load its default program. */
	c->libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
	c->bind_flags = XDP_USE_NEED_WAKEUP | mode;
}

/*
 * The UMEM on 2 MiB pages where the kernel has them free (fewer TLB misses
 * for the workers and, on the gpu backend, fewer pages to pin), else on normal
 * pages. The caller reports which.
 */
static int map_area(struct qworker *w)
{
	size_t huge = (w->area_size + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);

	w->area = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE,
		       -1, 0);
	if (w->area != MAP_FAILED) {
		w->hugepages = true;
		w->area_size = huge;
		return 0;
	}
	w->area = mmap(NULL, w->area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (w->area == MAP_FAILED) {
		w->area = NULL;
		return -errno;
	}
	return 0;
}

/* What the kernel bound, whatever was asked. */
static bool sock_zerocopy(int fd)
{
	struct xdp_options o = { 0 };
	socklen_t len = sizeof(o);

	return getsockopt(fd, SOL_XDP, XDP_OPTIONS, &o, &len) == 0 && (o.flags & XDP_OPTIONS_ZEROCOPY);
}

/* Whether TX shard s of a port with ntx sockets gets a kicker thread (as xsk_worker_start starts them). */
static bool shard_plan_threaded(const struct qworker *w, int ntx, uint32_t s)
{
	if (s)
		return s <= w->tx_kickers;
	return w->tx_thread == CFG_TX_THREAD_YES || (w->tx_thread == CFG_TX_THREAD_AUTO && ntx > 1);
}

/*
 * The queue's TX budgets ([gen] tx_budget) on the copy-mode TX sockets fds[0..ntx)
 * of a port: each its plan's (shard_plan_threaded). The first refusal, while the
 * queue is set up, sets both budgets to the kernel's 32 and no socket is asked
 * again; one later (none has been) leaves that socket at 32: the kick counts
 * built on the budgets are estimates, and kicks go on while frames wait.
 */
static void port_budgets(struct qworker *w, const int *fds, int ntx)
{
	for (int s = 0; s < ntx && !w->tx_budget_err; s++) {
		bool threaded = shard_plan_threaded(w, ntx, (uint32_t)s);
		uint32_t b = threaded ? w->tx_budget_threaded : w->tx_budget_shared;

		if (threaded && !w->running)
			w->tx_any_threaded = true;
		if (b <= GEN_KERNEL_TX_BATCH || fds[s] < 0)
			continue;
		errno = 0;
		if (tx_budget_set(fds[s], b, GEN_RXTX_SIZE) == GEN_KERNEL_TX_BATCH && !w->running) {
			w->tx_budget_err = errno ? errno : EINVAL;
			w->tx_budget_threaded = w->tx_budget_shared = GEN_KERNEL_TX_BATCH;
		}
	}
}

/* The port's TX socket, and with it its fill and completion rings; zero-copy first under `auto`. */
static int bind_port(struct qworker *w, int p, enum xsk_bind bind)
{
	struct port_q *pq = &w->port[p];
	struct xsk_socket_config scfg;
	int r = -EOPNOTSUPP;

	if (bind != XSK_BIND_COPY) {
		sock_config(&scfg, XDP_ZEROCOPY);
		r = xsk_socket__create_shared(&pq->tx_xsk, w->ifname[p], w->q, w->umem, NULL, &pq->tx, &pq->fq, &pq->cq,
					      &scfg);
	}
	if (r && bind != XSK_BIND_ZEROCOPY) {
		sock_config(&scfg, XDP_COPY);
		r = xsk_socket__create_shared(&pq->tx_xsk, w->ifname[p], w->q, w->umem, NULL, &pq->tx, &pq->fq, &pq->cq,
					      &scfg);
	}
	if (r) {
		pq->tx_xsk = NULL;
		return r;
	}
	pq->has_rings = true;
	pq->tx_fd = xsk_socket__fd(pq->tx_xsk);
	pq->zerocopy = sock_zerocopy(pq->tx_fd);
	if (bind == XSK_BIND_ZEROCOPY && !pq->zerocopy) {
		xsk_socket__delete(pq->tx_xsk);
		pq->tx_xsk = NULL;
		return -EOPNOTSUPP;
	}
	return 0;
}

int xsk_worker_init(struct qworker *w, uint32_t q, char **ports, int nports, const struct xsk_opts *o,
		    const struct backend_ops *be, char *err, size_t errlen)
{
	struct xsk_umem_config ucfg = {
		.fill_size = GEN_FILL_SIZE,
		.comp_size = GEN_COMP_SIZE,
		.frame_size = GEN_FRAME_SIZE,
		.frame_headroom = 0,
	};
	uint32_t nframes = o->nframes;
	int r, first = -1;

	memset(w, 0, sizeof(*w));
	w->wake.fd = -1;
	for (uint32_t s = 0; s < GEN_MAX_TX_SOCKS; s++)
		w->kick[s] = (struct kicker){ .w = w, .s = s, .wake = { .fd = -1 } };
	w->q = q;
	w->cpu = -1;
	w->cls = o->cls;
	w->tx_thread = o->tx_thread;
	w->tx_sockets = o->tx_sockets ? o->tx_sockets : 1;
	w->tx_budget_threaded = o->tx_budget ? o->tx_budget : GEN_TX_BUDGET_AUTO;
	w->tx_budget_shared = o->tx_budget ? o->tx_budget : GEN_KERNEL_TX_BATCH;
	w->tx_help = o->tx_help && w->tx_sockets > 1;
#ifdef GEN_DEBUG
	help_only = w->tx_help && getenv("GEN_TEST_HELP_ONLY") && !strcmp(getenv("GEN_TEST_HELP_ONLY"), "1");
	hold_tx = getenv("GEN_TEST_HOLD_TX");
#endif
	w->tx_kickers = w->tx_help ? o->tx_kickers : w->tx_sockets - 1;
	w->demote = o->demote == CFG_DEMOTE_YES || (o->demote == CFG_DEMOTE_AUTO && demote_supported());
	w->nq = o->nqueues ? o->nqueues : 1;
	r = wake_init(&w->wake);
	for (uint32_t s = 0; s < w->tx_sockets && !r; s++)
		r = wake_init(&w->kick[s].wake);
	if (r) {
		snprintf(err, errlen, "cannot create the wake-up eventfd of queue %u: %s", q, strerror(-r));
		return r;
	}
	w->nports = nports;
	w->nframes = nframes;
	w->area_size = (size_t)nframes * GEN_FRAME_SIZE;
	for (int p = 0; p < nports; p++) {
		snprintf(w->ifname[p], sizeof(w->ifname[p]), "%s", ports[p]);
		if (!synth_is_name(ports[p])) {
			if (first < 0)
				first = p;
			continue;
		}
		w->port[p].synth = synth_new(o->synth, p, q);
		if (!w->port[p].synth) {
			snprintf(err, errlen, "out of memory for synthetic port '%s' queue %u", ports[p], q);
			return -ENOMEM;
		}
	}

	r = map_area(w);
	if (r) {
		snprintf(err, errlen, "failed to map UMEM of %u frames for queue %u: %s", nframes, q, strerror(-r));
		return r;
	}
	w->free_frames = calloc(nframes, sizeof(uint64_t));
	w->fill_owner = calloc(nframes, 1);
	if (!w->free_frames || !w->fill_owner) {
		snprintf(err, errlen, "out of memory for the frame pool of queue %u", q);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nframes; i++)
		w->free_frames[w->nfree++] = (uint64_t)(nframes - 1 - i) * GEN_FRAME_SIZE;

	if (first >= 0) {
		r = xsk_umem__create(&w->umem, w->area, (uint64_t)nframes * GEN_FRAME_SIZE, &w->port[first].fq,
				     &w->port[first].cq, &ucfg);
		if (r) {
			w->umem = NULL;
			snprintf(err, errlen, "failed to create UMEM for queue %u: %s%s", q, strerror(-r),
				 r == -EPERM || r == -ENOMEM ? " (RLIMIT_MEMLOCK too low? run with CAP_IPC_LOCK)" : "");
			return r;
		}
		w->port[first].has_rings = true;
	}
	r = be->umem_attach(w->area, w->area_size, GEN_FRAME_SIZE);
	if (r) {
		snprintf(err, errlen, "backend %s could not map the UMEM of queue %u: %s", be->name, q, strerror(-r));
		return r;
	}

	for (int p = 0; p < nports; p++) {
		if (w->port[p].synth)
			continue;
		r = bind_port(w, p, o->bind);
		if (r) {
			snprintf(err, errlen, "failed to bind AF_XDP socket on '%s' queue %u%s: %s", w->ifname[p], q,
				 o->bind == XSK_BIND_ZEROCOPY ? " in zero-copy mode (xdp_bind = zerocopy)" : "",
				 strerror(-r));
			return r;
		}
		w->port[p].ntx = 1;
		/*
		 * A zero-copy port transmits from its driver's NAPI, whatever its
		 * sockets: one is enough. A port without the queues for the extra
		 * ones keeps one; gend logs why (ntx_err).
		 */
		if (w->tx_sockets > 1 && !(w->port[p].bal = calloc(1, sizeof(*w->port[p].bal)))) {
			snprintf(err, errlen, "out of memory for the TX sockets of '%s' queue %u", w->ifname[p], q);
			return -ENOMEM;
		}
		if (w->tx_sockets > 1 && !w->port[p].zerocopy) {
			r = shards_open(w->port[p].xtx, w->tx_sockets - 1, (int)if_nametoindex(w->ifname[p]), q, w->nq,
					w->port[p].tx_fd);
			w->port[p].ntx = r ? 1 : (int)w->tx_sockets;
			w->port[p].ntx_err = -r;
		}
		if (!w->port[p].zerocopy) {
			int fds[GEN_MAX_TX_SOCKS];

			for (int s = 0; s < w->port[p].ntx; s++)
				fds[s] = shard_fd(&w->port[p], (uint32_t)s);
			port_budgets(w, fds, w->port[p].ntx);
		}
	}
	set_fill_targets(w);
	return 0;
}

/* Completed TX frames go back to the free pool. */
static uint32_t drain_cq(struct qworker *w, struct xsk_ring_cons *cq)
{
	uint32_t idx, n = xsk_ring_cons__peek(cq, GEN_COMP_SIZE, &idx);

	for (uint32_t i = 0; i < n; i++)
		w->free_frames[w->nfree++] = frame_base(*xsk_ring_cons__comp_addr(cq, idx + i));
	if (n)
		xsk_ring_cons__release(cq, n);
	return n;
}

/* Completed TX frames go back to the free pool: the port's own completion ring, then its extra TX sockets'. */
static uint32_t reap_completions(struct qworker *w, struct port_q *pq)
{
	uint32_t n = drain_cq(w, &pq->cq);

	for (int s = 1; s < pq->ntx; s++)
		n += drain_cq(w, &pq->xtx[s - 1].o.cq);
	pq->in_tx -= n;
	return n;
}

/*
 * The same in the worker's pass, in bunches, as a NIC driver frees its TX
 * descriptors past a threshold: at most once per GEN_REAP_NS (dp.h), so that
 * the kernel's per-frame writes to the rings find their lines where they are.
 * A frame waits at most that long more for its reuse; the fill ring holds
 * thousands.
 */
static uint32_t drain_completions(struct qworker *w, struct port_q *pq)
{
	if (!pq->in_tx || w->pass_ns - pq->reap_ns < GEN_REAP_NS)
		return 0;
	pq->reap_ns = w->pass_ns;
	return reap_completions(w, pq);
}

/*
 * Only ports that some chain receives on get fill frames, and they share the
 * UMEM: a port that never receives must not hoard frames in its fill ring.
 */
static void set_fill_targets(struct qworker *w)
{
	uint32_t nrx_ports = 0, target;
	bool has_rx[GEN_MAX_PORTS] = { false };

	for (int i = 0; i < w->nrx; i++)
		has_rx[w->rx[i]->port] = true;
	for (int p = 0; p < w->nports; p++)
		nrx_ports += has_rx[p];
	target = nrx_ports ? w->nframes / (2 * nrx_ports) : 0;
	if (target > GEN_FILL_SIZE)
		target = GEN_FILL_SIZE;
	for (int p = 0; p < w->nports; p++)
		w->port[p].fill_target = has_rx[p] ? target : 0;

	/* What an idle worker sleeps on: its wake-up fd and every RX socket. */
	struct pollfd *pfd = realloc(w->pfd, (size_t)(w->nrx + 1) * sizeof(*pfd));

	if (!pfd) {
		w->npfd = w->pfd ? 1 : 0; /* keep sleeping on the wake fd alone: timeouts still apply */
		return;
	}
	w->pfd = pfd;
	pfd[0] = (struct pollfd){ .fd = w->wake.fd, .events = POLLIN };
	for (int i = 0; i < w->nrx; i++)
		pfd[i + 1] = (struct pollfd){ .fd = w->rx[i]->fd, .events = POLLIN };
	w->npfd = w->nrx + 1;
}

static uint32_t refill(struct qworker *w, int p)
{
	struct port_q *pq = &w->port[p];
	uint32_t want = pq->fill_target > pq->in_fill ? pq->fill_target - pq->in_fill : 0, idx, n;

	if (!want)
		return 0;
	if (want > w->nfree)
		want = w->nfree;
	if (want < GEN_BURST && pq->in_fill > GEN_BURST)
		return 0; /* refill in bursts */
	if (LOAD(&pq->down))
		return 0;
	n = xsk_ring_prod__reserve(&pq->fq, want, &idx);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = w->free_frames[--w->nfree];

		*xsk_ring_prod__fill_addr(&pq->fq, idx + i) = a;
		w->fill_owner[a / GEN_FRAME_SIZE] = (uint8_t)(p + 1);
	}
	if (n) {
		xsk_ring_prod__submit(&pq->fq, n);
		pq->in_fill += n;
		if (w->demote) /* the receiving core reads them next */
			demote_ring(pq->fq.ring, pq->fq.mask, sizeof(uint64_t), idx, n, pq->fq.producer);
	}
	if (xsk_ring_prod__needs_wakeup(&pq->fq)) {
		for (int i = 0; i < w->nrx; i++) {
			if (w->rx[i]->port == p) {
				recvfrom(w->rx[i]->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
				break;
			}
		}
	}
	return n;
}

void xsk_deliver(struct qworker *w, struct chain_io *io, const struct gen_desc *d, uint32_t n)
{
	/* The ring holds as many descriptors as the UMEM has frames: it cannot be full. */
	uint32_t pushed = ring_push(&io->in, d, n);

	for (uint32_t i = pushed; i < n; i++)
		w->free_frames[w->nfree++] = frame_base(d[i].addr);
	__atomic_store_n(&w->in_chains, w->in_chains + pushed, __ATOMIC_RELAXED); /* genctl stats reads it */
	if (pushed)
		chain_io_mark(io);
	__atomic_store_n(&io->rx_packets, io->rx_packets + pushed, __ATOMIC_RELAXED);
	if (pushed && io->chain_wake)
		wake_kick(io->chain_wake);
	if (pushed < n)
		chain_io_drop(io, CHAIN_IO_DROP_RING_FULL, n - pushed);
}

static uint32_t receive(struct qworker *w, struct rx_sock *s)
{
	struct gen_desc d[GEN_BURST];
	uint32_t idx, n = xsk_ring_cons__peek(&s->rx, GEN_BURST, &idx);

	if (!n)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *x = xsk_ring_cons__rx_desc(&s->rx, idx + i);

		d[i] = (struct gen_desc){ .addr = x->addr, .len = x->len };
		w->fill_owner[x->addr / GEN_FRAME_SIZE] = 0;
	}
	xsk_ring_cons__release(&s->rx, n);
	if (w->demote) /* the receiving core writes these lines again on the ring's next lap */
		demote_ring(s->rx.ring, s->rx.mask, sizeof(struct xdp_desc), idx, n, s->rx.consumer);
	w->port[s->port].in_fill -= n;
	xsk_deliver(w, s->io, d, n);
	return n;
}

/*
 * forward() on a port with several TX sockets: each passing frame to the ring
 * of its flow bucket's shard, the rest back to the pool. Every ring has room
 * for all n (checked by the caller), so no reservation fails.
 */
static void forward_sharded(struct qworker *w, struct port_q *pq, const struct gen_desc *d, uint32_t n)
{
	uint8_t sh[GEN_BURST];
	uint16_t bk[GEN_BURST];
	uint32_t cnt[GEN_MAX_TX_SOCKS] = { 0 }, idx[GEN_MAX_TX_SOCKS] = { 0 }, now = coarse_ms(), h;
	struct tx_balance *b = pq->bal;

	for (int s = 0; s < pq->ntx; s++)
		b->done[s] = __atomic_load_n(shard_ring(pq, (uint32_t)s)->consumer, __ATOMIC_ACQUIRE);
	/* A whole sweep of the buckets every GEN_TX_BUCKETS / 16 bursts. */
	tx_balance_sweep(b, now, 16);
	/*
	 * The headers the hash reads were written on another core (the kernel's
	 * copy into the frame, or a controller's NF): ask for them all first, so
	 * that their misses overlap rather than come one a packet.
	 */
	for (uint32_t i = 0; i < n; i++)
		if (d[i].verdict == NF_PASS)
			__builtin_prefetch((const uint8_t *)w->area + d[i].addr);
	for (uint32_t i = 0; i < n; i++) {
		if (d[i].verdict != NF_PASS)
			continue;
		const uint8_t *f = (const uint8_t *)w->area + d[i].addr;
		bool hashed = tx_flow_hash(f, d[i].len, &h);

		if (w->demote) /* the headers it read: not this core's to keep (tx_send) */
			demote_range(f, d[i].len < GEN_CACHE_LINE ? d[i].len : GEN_CACHE_LINE);
		if (hashed) {
			sh[i] = (uint8_t)tx_balance_pick(b, h, (uint32_t)pq->ntx, now);
			bk[i] = (uint16_t)tx_bucket(h);
		} else {
			sh[i] = 0;
			bk[i] = UINT16_MAX; /* no flow: socket 0, no bucket */
		}
		cnt[sh[i]]++;
	}
	for (int s = 0; s < pq->ntx; s++)
		if (cnt[s])
			xsk_ring_prod__reserve(shard_ring(pq, (uint32_t)s), cnt[s], &idx[s]);
	for (uint32_t i = 0; i < n; i++) {
		if (d[i].verdict == NF_PASS) {
			desc_put(xsk_ring_prod__tx_desc(shard_ring(pq, sh[i]), idx[sh[i]]++), &d[i]);
			if (bk[i] != UINT16_MAX)
				b->sent[bk[i]] = idx[sh[i]];
		} else {
			w->free_frames[w->nfree++] = frame_base(d[i].addr);
		}
	}
	for (int s = 0; s < pq->ntx; s++) {
		if (!cnt[s])
			continue;
		xsk_ring_prod__submit(shard_ring(pq, (uint32_t)s), cnt[s]);
		__atomic_store_n(&pq->shard_frames[s], pq->shard_frames[s] + cnt[s], __ATOMIC_RELAXED);
		if (s)
			pq->xtx[s - 1].unkicked += cnt[s];
		else
			pq->tx_unkicked += cnt[s];
	}
}

/* Frames back from a controller: DROP verdicts are recycled, the rest sent. */
static uint32_t forward_burst(struct qworker *w, struct chain_io *io)
{
	struct gen_desc d[GEN_BURST];
	int port = __atomic_load_n(&io->out_port, __ATOMIC_RELAXED);
	struct port_q *pq = &w->port[port];
	bool down = LOAD(&pq->down);
	/* A down port's rings are not touched: once its netdev is gone they may be unmapped (xsk_port_commit). */
	uint32_t room = pq->synth || down ? 0 : xsk_prod_nb_free(&pq->tx, GEN_BURST), n, npass = 0, idx = 0, ntx = 0;

	/* ntx after down: xsk_port_commit rewrites a gone port's (main thread) */
	for (int s = 1; !pq->synth && !down && s < pq->ntx; s++) {
		uint32_t r = xsk_prod_nb_free(&pq->xtx[s - 1].o.tx, GEN_BURST);

		room = r < room ? r : room;
	}
	if (room > GEN_BURST)
		room = GEN_BURST;
	if (pq->synth || down)
		room = GEN_BURST; /* sent at once, or dropped at once: the frames come straight back */
	n = ring_pop(&io->out, d, room);
	if (!n)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		npass += d[i].verdict == NF_PASS;
	if (down) {
		/* Queued to a port that cannot send, they would starve every other port of frames. */
		for (uint32_t i = 0; i < n; i++)
			w->free_frames[w->nfree++] = frame_base(d[i].addr);
		STORE(&pq->down_drops, pq->down_drops + npass); /* read by the main thread */
		ntx = npass;
		npass = 0;
		goto out;
	}
	if (pq->synth) {
		for (uint32_t i = 0; i < n; i++)
			w->free_frames[w->nfree++] = frame_base(d[i].addr);
		goto out;
	}
	if (npass && pq->ntx > 1) {
		forward_sharded(w, pq, d, n);
		pq->in_tx += npass;
		goto out;
	}
	if (npass && xsk_ring_prod__reserve(&pq->tx, npass, &idx) != npass) {
		ntx = npass; /* cannot happen: room was checked; counted as TX full */
		npass = 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (d[i].verdict == NF_PASS && npass) {
			desc_put(xsk_ring_prod__tx_desc(&pq->tx, idx++), &d[i]);
		} else {
			w->free_frames[w->nfree++] = frame_base(d[i].addr);
		}
	}
	if (npass) {
		xsk_ring_prod__submit(&pq->tx, npass);
		__atomic_store_n(&pq->shard_frames[0], pq->shard_frames[0] + npass, __ATOMIC_RELAXED);
		pq->in_tx += npass;
		pq->tx_unkicked += npass;
	}
out:
	__atomic_store_n(&w->in_chains, w->in_chains - n, __ATOMIC_RELAXED);
	__atomic_store_n(&io->tx_packets, io->tx_packets + npass, __ATOMIC_RELAXED);
	if (ntx)
		chain_io_drop(io, CHAIN_IO_DROP_TX_FULL, ntx);
	if (n - npass - ntx)
		chain_io_drop(io, CHAIN_IO_DROP_VERDICT, n - npass - ntx);
	return n;
}

/*
 * What the chain handed back, up to sixteen bursts per port of the queue. A pass
 * of the worker takes in up to a burst on each port (a synthetic port's
 * generator, or each RX socket); giving back only one burst a pass let a
 * backlog that the chain hands back at once (a GPU batch, a controller that
 * was late) drain no faster than the ports refill it: under overload it never
 * drained, with most of the pool's frames waiting in `out`, and below capacity
 * the ports starved meanwhile (a synthetic port then missed at 60-80 % of its
 * capacity). Giving back more than the pass takes in empties `out` within a
 * pass or two, so a backlog waits where the bottleneck is (the worker's
 * frames_left_out: 15,600 frames a pass with one burst, under 1 with four or
 * sixteen, test_synth.sh on a 2-vCPU Xeon). Sixteen, so that a GPU batch of
 * thousands is back within a pass; a frame given back costs a few ns against
 * a frame taken in's tens. Stops at the first short burst: the ring is empty,
 * or the TX ring is full.
 */
static uint32_t forward(struct qworker *w, struct chain_io *io)
{
	uint32_t n = 0, m;
	int k = 0;

	do
		n += m = forward_burst(w, io);
	while (m == GEN_BURST && ++k < 16 * w->nports);
	return n;
}

/*
 * The port's netdev is gone: nothing will be received on it, sent from it or
 * completed by it again. Frames still in its sockets' RX rings go to their
 * chains first; then every frame its fill ring still lists (and that the
 * kernel did not hand to an RX ring: fill_owner says) and every frame its TX
 * ring holds come back to the pool. What the kernel had taken from the fill
 * ring but not delivered is written off as lost: those frames are not reused.
 */
static void port_reclaim(struct qworker *w, int p)
{
	struct port_q *pq = &w->port[p];
	uint32_t back = 0;

	for (int i = 0; i < w->nrx; i++)
		if (w->rx[i]->port == p)
			while (receive(w, w->rx[i]))
				;
	reap_completions(w, pq);
	for (uint32_t i = __atomic_load_n(pq->fq.consumer, __ATOMIC_ACQUIRE); i != pq->fq.cached_prod; i++) {
		uint64_t a = frame_base(*xsk_ring_prod__fill_addr(&pq->fq, i));

		if (w->fill_owner[a / GEN_FRAME_SIZE] != p + 1)
			continue;
		w->fill_owner[a / GEN_FRAME_SIZE] = 0;
		w->free_frames[w->nfree++] = a;
		pq->in_fill--;
		back++;
	}
	for (int s = 0; s < pq->ntx; s++) {
		struct xsk_ring_prod *tx = shard_ring(pq, (uint32_t)s);

		for (uint32_t i = __atomic_load_n(tx->consumer, __ATOMIC_ACQUIRE); i != tx->cached_prod; i++) {
			w->free_frames[w->nfree++] = frame_base(xsk_ring_prod__tx_desc(tx, i)->addr);
			pq->in_tx--;
			back++;
		}
		if (s)
			pq->xtx[s - 1].unkicked = 0;
	}
	for (uint32_t f = 0; f < w->nframes; f++)
		if (w->fill_owner[f] == p + 1)
			w->fill_owner[f] = 0;
	w->lost += pq->in_fill + pq->in_tx;
	pq->in_fill = pq->in_tx = 0;
	pq->tx_unkicked = 0;
	STORE(&pq->frames_back, pq->frames_back + back);
	pq->reclaimed = true;
}

void xsk_port_state(struct qworker *w, int p, bool down, bool gone)
{
	STORE(&w->port[p].down, down || gone);
	STORE(&w->port[p].gone, gone);
	wake_kick(&w->wake);
	/* Frames a down port kept in its rings: its kickers take them up again. */
	for (int s = 0; !down && !gone && s < GEN_MAX_TX_SOCKS; s++)
		if (w->kick[s].running)
			wake_kick(&w->kick[s].wake);
}

/*
 * For other threads (genctl stats, metrics): the worker's view as of the end
 * of its last pass (frames_seen), each count stored atomically; it sleeps
 * only after a pass, so an idle queue's view is current.
 */
void xsk_frames_where(const struct qworker *w, struct xsk_frames_where *f)
{
	*f = (struct xsk_frames_where){ .chains = __atomic_load_n(&w->seen.chains, __ATOMIC_RELAXED),
					.fill = __atomic_load_n(&w->seen.fill, __ATOMIC_RELAXED),
					.tx = __atomic_load_n(&w->seen.tx, __ATOMIC_RELAXED),
					.free = __atomic_load_n(&w->seen.free, __ATOMIC_RELAXED) };
}

/*
 * The worker, after each pass: where its frames are (its counters are its
 * alone to write), published for xsk_frames_where; returns every frame it
 * accounts for, which must be nframes.
 */
static uint32_t frames_seen(struct qworker *w)
{
	struct xsk_frames_where f = { .chains = w->in_chains, .free = w->nfree };

	for (int p = 0; p < w->nports; p++) {
		f.fill += w->port[p].in_fill;
		f.tx += w->port[p].in_tx;
	}
	__atomic_store_n(&w->seen.chains, f.chains, __ATOMIC_RELAXED);
	__atomic_store_n(&w->seen.fill, f.fill, __ATOMIC_RELAXED);
	__atomic_store_n(&w->seen.tx, f.tx, __ATOMIC_RELAXED);
	__atomic_store_n(&w->seen.free, f.free, __ATOMIC_RELAXED);
	return f.chains + f.fill + f.tx + f.free + w->lost;
}

/* Waits outside the data path (pause handshakes, shutdown). */
static void nap(void)
{
	struct timespec ts = { 0, 50000 };

	nanosleep(&ts, NULL);
}

static bool worker_has_work(const struct qworker *w)
{
	for (int i = 0; i < w->nios; i++)
		if (ring_count(&w->ios[i]->out))
			return true;
	return LOAD(&w->stop) || LOAD(&w->call_seq) != w->call_ack;
}

/*
 * Nothing moved for a while: block until an RX socket has a frame, a controller
 * hands frames back, or (while sent frames await completion) a short timeout.
 */
static bool worker_sleep(struct qworker *w)
{
	bool tx_pending = false, woken = true;
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	/*
	 * Frames on their way out are reaped soon; a rate-limited generator waits
	 * for tokens, until its synth_count is out. A down port's frames wait for
	 * it to come up, which wakes the worker (xsk_port_state): polling for
	 * them would spin for nothing.
	 */
	for (int p = 0; p < w->nports; p++)
		tx_pending |= (w->port[p].in_tx != 0 && !LOAD(&w->port[p].down)) ||
			      (w->port[p].synth && !synth_done(w->port[p].synth));
	if (tx_pending)
		ts.tv_nsec = 50 * 1000;
	wake_prepare(&w->wake);
	if (!worker_has_work(w) && w->npfd) {
		STORE(&w->sleeps, w->sleeps + 1);
		woken = ppoll(w->pfd, (nfds_t)w->npfd, &ts, NULL) > 0;
	}
	wake_done(&w->wake);
	return woken;
}

/* Whether port pq's first TX socket is kicked by kicker thread 0 (tx_thread) rather than by the worker. */
static bool kick0_threaded(const struct qworker *w, const struct port_q *pq)
{
	return w->kick[0].running && (w->tx_thread == CFG_TX_THREAD_YES || pq->ntx > 1);
}

/* Descriptors in TX shard s of a port that the kernel has not taken yet. */
static bool tx_waiting(struct port_q *pq, uint32_t s)
{
	struct xsk_ring_prod *tx = shard_ring(pq, s);

	return (int)s < pq->ntx && shard_fd(pq, s) >= 0 &&
	       __atomic_load_n(tx->producer, __ATOMIC_ACQUIRE) != __atomic_load_n(tx->consumer, __ATOMIC_ACQUIRE);
}

/*
 * Kick TX shard s of a port (one without a kicker thread, tx_help) up to n
 * times while it holds frames the kernel has not taken, unless another thread
 * is kicking it: the worker and the queue's idle controllers share it. The
 * sendto() calls made.
 */
static uint32_t kick_shared(struct qworker *w, struct port_q *pq, uint32_t s, uint32_t n)
{
	uint32_t done = 0;

	if (__atomic_exchange_n(&pq->kick_lock[s], 1, __ATOMIC_ACQUIRE))
		return 0;
	/* Only sends the kernel took up count: a down netdev (ENETDOWN) keeps its frames, and no one polls on it. */
	while (done < n && tx_waiting(pq, s)) {
		if (tx_send(w, shard_fd(pq, s), shard_ring(pq, s), w->tx_budget_shared) < 0 && errno != EAGAIN && errno != EBUSY &&
		    errno != ENOBUFS)
			break;
		done++;
	}
	__atomic_store_n(&pq->kick_lock[s], 0, __ATOMIC_RELEASE);
	return done;
}

/* Whether TX shard s of port pq has a kicker thread (else the worker and idle controllers kick it). */
static bool shard_threaded(const struct qworker *w, const struct port_q *pq, uint32_t s)
{
	return s ? w->kick[s].running : kick0_threaded(w, pq);
}

/*
 * Copy-mode TX only moves on sendto(), and one call sends at most
 * tx_budget_shared frames (the socket's budget): kick once per that many, never per packet; or
 * leave it to the socket's kicker thread (tx_thread, tx_sockets), which is
 * only woken.
 */
static void kick_tx(struct qworker *w, struct port_q *pq)
{
	if (pq->synth || pq->reclaimed)
		return;
	for (int s = 1; s < pq->ntx; s++) {
		uint32_t unkicked = pq->xtx[s - 1].unkicked;

		if (w->kick[s].running) {
			if (unkicked)
				wake_kick(&w->kick[s].wake);
		} else if (!help_only && (unkicked || tx_waiting(pq, (uint32_t)s))) { /* what a controller left */
			kick_shared(w, pq, (uint32_t)s, unkicked / w->tx_budget_shared + 1);
		}
		pq->xtx[s - 1].unkicked = 0;
	}
	if (kick0_threaded(w, pq)) {
		if (pq->tx_unkicked)
			wake_kick(&w->kick[0].wake);
	} else if (pq->in_tx && xsk_ring_prod__needs_wakeup(&pq->tx)) {
		kick_shared(w, pq, 0, pq->tx_unkicked / w->tx_budget_shared + 1);
	}
	pq->tx_unkicked = 0;
}

/* dp.h */
uint32_t xsk_help_kick(struct qworker *w)
{
	uint32_t n = 0;

	__atomic_add_fetch(&w->helping, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&w->help_block, __ATOMIC_SEQ_CST)) {
		for (int p = 0; p < w->nports; p++) {
			struct port_q *pq = &w->port[p];

			/*
			 * A gone port's sockets are left alone until it is back (as
			 * the kickers leave them); a down one's frames wait for it to
			 * come up, when the worker kicks them.
			 */
			if (pq->synth || LOAD(&pq->down))
				continue;
			for (uint32_t s = 0; s < (uint32_t)pq->ntx; s++)
				if (!shard_threaded(w, pq, s) && tx_waiting(pq, s))
					n += kick_shared(w, pq, s, 1);
		}
	}
	__atomic_sub_fetch(&w->helping, 1, __ATOMIC_RELEASE);
	if (n)
		__atomic_add_fetch(&w->help_kicks, n, __ATOMIC_RELAXED);
	return n;
}

/*
 * Controllers out of xsk_help_kick and kept out (block), or let in again: a
 * port's sockets and rings change only while none can be at them.
 */
static void help_grace(struct qworker *w, bool block)
{
	__atomic_store_n(&w->help_block, block, __ATOMIC_SEQ_CST);
	while (block && __atomic_load_n(&w->helping, __ATOMIC_SEQ_CST))
		nap();
}

/* A change handed over by xsk_call: run it, then say so. */
static void worker_take_call(struct qworker *w)
{
	uint32_t seq = LOAD(&w->call_seq);

	if (seq == w->call_ack)
		return;
	w->call_fn(w, w->call_arg);
	STORE(&w->call_ack, seq);
}

static void *worker_main(void *arg)
{
	struct qworker *w = arg;
	struct spin spin = { 0 };
	char name[16];
	uint64_t last;

	snprintf(name, sizeof(name), "gen-w%u", w->q);
	pthread_setname_np(pthread_self(), name);
	pin_self();
	STORE(&w->spin_ns, spin_window(&spin));
	last = spin_now_ns();
	while (!LOAD(&w->stop)) {
		uint32_t work = 0, in = 0, accounted;
		uint64_t now;

		w->pass_ns = last;
		worker_take_call(w);
		for (int p = 0; p < w->nports; p++) {
			if (w->port[p].synth) {
				uint32_t n = synth_rx(w, p);

				work += n;
				in += n;
				continue;
			}
			if (LOAD(&w->port[p].gone) && !w->port[p].reclaimed)
				port_reclaim(w, p);
			if (w->port[p].reclaimed)
				continue;
			work += drain_completions(w, &w->port[p]);
			work += refill(w, p);
		}
		for (int i = 0; i < w->nrx; i++) {
			uint32_t n = receive(w, w->rx[i]);

			work += n;
			in += n;
		}
		for (int i = 0; i < w->nios; i++)
			work += forward(w, w->ios[i]);
		for (int p = 0; p < w->nports; p++)
			kick_tx(w, &w->port[p]);
		accounted = frames_seen(w);
#ifdef GEN_DEBUG
		if (accounted != w->nframes) {
			fprintf(stderr, "queue %u: frame accounting broken: %u of %u frames accounted\n", w->q, accounted,
				w->nframes);
			abort();
		}
#else
		if (accounted != w->nframes)
			w->accounting_errors++;
#endif
		now = spin_now_ns();
		if (work) {
			int cpu = sched_getcpu(); /* a read of the rseq area with glibc 2.35 and later */

			if (cpu != w->cpu) {
				if (w->cpu >= 0)
					STORE(&w->cpu_moves, w->cpu_moves + 1);
				STORE(&w->cpu, cpu);
			}
			STORE(&w->busy_ns, w->busy_ns + (now - last));
			STORE(&w->busy_passes, w->busy_passes + 1);
			STORE(&w->frames_in, w->frames_in + in);
			spin_reset(&spin);
		} else if (!spin_again(&spin)) {
			bool woken = worker_sleep(w);
			uint64_t t = spin_now_ns();

			spin_slept(&spin, t - now, woken);
			STORE(&w->spin_ns, spin_window(&spin));
			now = t;
		}
		last = now;
	}
	return NULL;
}

/*
 * Whether kicker k has TX shard k->s of port pq to kick. A gone port's rings
 * may be replaced (xsk_port_commit): not touched until it is back. A down
 * one's frames wait for it to come up (the kernel takes none: kicking them
 * would spin); xsk_port_state wakes the kickers then.
 */
static bool kick_wanted(const struct kicker *k, struct port_q *pq)
{
	return !LOAD(&pq->down) && tx_waiting(pq, k->s) &&
	       (k->s || (kick0_threaded(k->w, pq) && xsk_ring_prod__needs_wakeup(&pq->tx)));
}

static bool kick_has_work(struct kicker *k)
{
	struct qworker *w = k->w;

	for (int p = 0; p < w->nports; p++)
		if (kick_wanted(k, &w->port[p]))
			return true;
	return LOAD(&w->stop);
}

/*
 * Blocks until woken or 10 ms (as the worker and the controllers: the worker
 * wakes a kicker for every frame it hands over, xsk_port_state when a port
 * comes up); whether a wake-up (or work found at once) ended it.
 */
static bool kicker_sleep(struct kicker *k)
{
	struct pollfd pfd = { .fd = k->wake.fd, .events = POLLIN };
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	bool woken = true;

	wake_prepare(&k->wake);
	if (!kick_has_work(k))
		woken = ppoll(&pfd, 1, &ts, NULL) > 0;
	wake_done(&k->wake);
	return woken;
}

/*
 * One sendto() sends at most tx_budget_threaded frames in copy mode: kick
 * while the ring holds frames the kernel has not taken and the socket asks
 * (an extra TX socket is kicked whenever its ring holds frames). Kicker s
 * serves TX shard s of every port of the queue.
 */
static void *kicker_main(void *arg)
{
	struct kicker *k = arg;
	struct qworker *w = k->w;
	struct spin spin = { 0 };
	char name[32];

	if (k->s)
		snprintf(name, sizeof(name), "gen-t%u.%u", w->q, k->s);
	else
		snprintf(name, sizeof(name), "gen-t%u", w->q);
	name[15] = '\0'; /* a thread's name is at most 15 characters */
	pthread_setname_np(pthread_self(), name);
	pin_self();
	while (!LOAD(&w->stop)) {
		uint32_t kicked = 0;

		for (int p = 0; p < w->nports; p++) {
			struct port_q *pq = &w->port[p];

			if (!kick_wanted(k, pq))
				continue;
			if (tx_send(w, shard_fd(pq, k->s), shard_ring(pq, k->s), w->tx_budget_threaded) >= 0 || errno == EAGAIN ||
			    errno == EBUSY || errno == ENOBUFS)
				kicked++;
		}
		STORE(&k->passes, k->passes + 1);
		if (kicked)
			spin_reset(&spin);
		else if (!spin_again(&spin)) {
			uint64_t t = spin_now_ns();
			bool woken = kicker_sleep(k);

			spin_slept(&spin, spin_now_ns() - t, woken);
		}
	}
	return NULL;
}

static int kicker_start(struct kicker *k)
{
	int r = pthread_create(&k->thread, NULL, kicker_main, k);

	if (!r)
		k->running = true;
	return -r;
}

int xsk_worker_start(struct qworker *w)
{
	bool tx = false;
	int nshards = 1, r;

	for (int p = 0; p < w->nports; p++) {
		tx |= w->port[p].tx_xsk != NULL;
		nshards = w->port[p].ntx > nshards ? w->port[p].ntx : nshards;
	}
	/* tx_thread = auto: kicker 0 only where some port has more than one TX socket. */
	if (tx && (w->tx_thread == CFG_TX_THREAD_YES || (w->tx_thread == CFG_TX_THREAD_AUTO && nshards > 1)) &&
	    (r = kicker_start(&w->kick[0]))) {
		xsk_worker_stop(w);
		return r;
	}
	for (int s = 1; s < nshards && (uint32_t)s <= w->tx_kickers; s++) {
		r = kicker_start(&w->kick[s]);
		if (r) {
			xsk_worker_stop(w);
			return r;
		}
	}
	r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r) {
		xsk_worker_stop(w);
		return -r;
	}
	w->running = true;
	return 0;
}

/*
 * Run fn on the worker between two of its passes, and wait until it ran. The
 * worker owns its socket and ring lists, frame pool and counters; a change to
 * them is a few array edits there, so the chains it serves are not held up
 * while the slow parts of a change (creating and closing sockets, RCU grace
 * periods, controller threads) run on the caller's thread before or after.
 * Before the worker starts or after it stopped, fn runs here.
 */
static void xsk_call(struct qworker *w, void (*fn)(struct qworker *w, void *arg), void *arg)
{
	uint32_t seq;

	if (!w->running) {
		fn(w, arg);
		return;
	}
	w->call_fn = fn;
	w->call_arg = arg;
	seq = w->call_seq + 1;
	STORE(&w->call_seq, seq);
	wake_kick(&w->wake);
	while (LOAD(&w->call_ack) != seq)
		nap();
}

static void call_nothing(struct qworker *w, void *arg)
{
	(void)w;
	(void)arg;
}

void xsk_sync(struct qworker *w)
{
	xsk_call(w, call_nothing, NULL);
}

/*
 * An RX-only socket sharing the buffer pool of the port's TX socket. Made by hand
 * because libxdp binds every shared socket against the UMEM's first socket, which
 * the kernel accepts only on that socket's own netdev and queue.
 */
/* An unbound AF_XDP socket, and the address that binds it to (ifindex, q) sharing pool_fd's UMEM. */
static int shared_socket(int ifindex, uint32_t q, int pool_fd, struct sockaddr_xdp *sxdp)
{
	*sxdp = (struct sockaddr_xdp){
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (uint32_t)ifindex,
		.sxdp_queue_id = q,
		.sxdp_flags = XDP_SHARED_UMEM,
		.sxdp_shared_umem_fd = (uint32_t)pool_fd,
	};
	return socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
}

static int rx_sock_open(struct rx_sock *s, int ifindex, uint32_t q, int pool_fd)
{
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	uint32_t ndescs = GEN_RXTX_SIZE;
	struct sockaddr_xdp sxdp;
	void *map;
	int fd, r;

	fd = shared_socket(ifindex, q, pool_fd, &sxdp);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_XDP, XDP_RX_RING, &ndescs, sizeof(ndescs)) ||
	    getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen))
		goto fail;
	s->map_size = off.rx.desc + ndescs * sizeof(struct xdp_desc);
	map = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, XDP_PGOFF_RX_RING);
	if (map == MAP_FAILED)
		goto fail;
	s->map = map;
	s->rx.mask = ndescs - 1;
	s->rx.size = ndescs;
	s->rx.producer = (uint32_t *)((char *)map + off.rx.producer);
	s->rx.consumer = (uint32_t *)((char *)map + off.rx.consumer);
	s->rx.flags = (uint32_t *)((char *)map + off.rx.flags);
	s->rx.ring = (char *)map + off.rx.desc;
	s->rx.cached_prod = *s->rx.producer;
	s->rx.cached_cons = *s->rx.consumer;
	if (bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)))
		goto fail;
	s->fd = fd;
	return fd;
fail:
	r = -errno;
	if (s->map)
		munmap(s->map, s->map_size);
	s->map = NULL;
	close(fd);
	return r;
}

static void sock_stats(int fd, struct xdp_statistics *sum);

static void rx_sock_close(struct rx_sock *s)
{
	munmap(s->map, s->map_size);
	close(s->fd);
	free(s);
}

struct rx_call {
	int port;
	uint32_t cls_id;
	struct chain_io *io;
	struct rx_sock *sock;       /* to add; or, on removal, the list of those removed */
	int r;
};

static void rx_add_on_worker(struct qworker *w, void *arg)
{
	struct rx_call *c = arg;

	if (w->port[c->port].synth) {
		synth_route(w->port[c->port].synth, c->cls_id, c->io);
		return;
	}
	w->rx[w->nrx++] = c->sock;
	set_fill_targets(w);
}

int xsk_rx_add(struct qworker *w, int port, struct chain_io *io, uint32_t cls_id, char *err, size_t errlen)
{
	struct rx_call c = { .port = port, .cls_id = cls_id, .io = io };
	struct rx_sock *s;
	int r;

	if (w->port[port].synth) {
		xsk_call(w, rx_add_on_worker, &c);
		return 0;
	}
	if (w->nrx >= GEN_MAX_RX_SOCKS) {
		snprintf(err, errlen, "too many AF_XDP sockets on queue %u", w->q);
		return -ENOSPC;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/* Created here, before the worker knows of it: a bind takes long, the hand-over does not. */
	r = rx_sock_open(s, (int)if_nametoindex(w->ifname[port]), w->q, w->port[port].tx_fd);
	if (r < 0) {
		snprintf(err, errlen, "failed to bind AF_XDP socket on '%s' queue %u: %s", w->ifname[port], w->q,
			 strerror(-r));
		free(s);
		return r;
	}
	s->io = io;
	s->port = port;
	s->cls_id = cls_id;
	c.sock = s;
	xsk_call(w, rx_add_on_worker, &c);
	return s->fd;
}

/* The worker lets go of io's RX sockets, after moving what their rings still hold to io->in. */
static void rx_remove_on_worker(struct qworker *w, void *arg)
{
	struct rx_call *c = arg;

	for (int p = 0; p < w->nports; p++)
		if (w->port[p].synth)
			synth_unroute(w->port[p].synth, c->io);
	for (int i = 0; i < w->nrx;) {
		struct rx_sock *s = w->rx[i];

		if (s->io != c->io) {
			i++;
			continue;
		}
		while (receive(w, s)) /* frames already in its RX ring still belong to the chain */
			;
		w->rx[i] = w->rx[--w->nrx];
		s->next = c->sock;
		c->sock = s;
	}
	set_fill_targets(w);
}

void xsk_rx_remove(struct qworker *w, struct chain_io *io)
{
	struct rx_call c = { .io = io };

	xsk_call(w, rx_remove_on_worker, &c);
	/* Closed here: a socket's release waits for a grace period of its own. */
	while (c.sock) {
		struct rx_sock *s = c.sock;

		c.sock = s->next;
		sock_stats(s->fd, &w->retired); /* the queue's totals keep what it dropped */
		rx_sock_close(s);
	}
}

static void io_add_on_worker(struct qworker *w, void *arg)
{
	struct rx_call *c = arg;

	if (w->nios >= GEN_MAX_IOS) {
		c->r = -ENOSPC;
		return;
	}
	STORE(&c->io->kick_help, w->tx_help ? w : NULL);
	w->ios[w->nios++] = c->io;
}

int xsk_io_add(struct qworker *w, struct chain_io *io)
{
	struct rx_call c = { .io = io };

	xsk_call(w, io_add_on_worker, &c);
	return c.r;
}

static void io_remove_on_worker(struct qworker *w, void *arg)
{
	struct rx_call *c = arg;

	for (int i = 0; i < w->nios; i++) {
		if (w->ios[i] == c->io) {
			while (forward(w, c->io))
				;
			w->ios[i] = w->ios[--w->nios];
			return;
		}
	}
}

void xsk_io_remove(struct qworker *w, struct chain_io *io)
{
	struct rx_call c = { .io = io };

	xsk_call(w, io_remove_on_worker, &c);
}

/* A socket made by hand: its three ring mappings and its fd (none: 0). */
static void maps_close(struct xsk_map map[3], int *fd)
{
	for (int i = 0; i < 3; i++)
		if (map[i].addr)
			munmap(map[i].addr, map[i].size);
	memset(map, 0, 3 * sizeof(*map));
	if (*fd > 0)
		close(*fd);
	*fd = 0;
}

/* The hand-made TX socket of a port that came back, and its rings. */
static void own_close(struct port_q *pq)
{
	maps_close(pq->own_map, &pq->own_fd);
}

/* Map one ring of fd; the caller points the ring's fields into it. */
static char *map_ring(int fd, uint64_t pgoff, const struct xdp_ring_offset *o, size_t desc, uint32_t n,
		      struct xsk_map *m)
{
	m->size = o->desc + n * desc;
	m->addr = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
	if (m->addr == MAP_FAILED) {
		m->addr = NULL;
		return NULL;
	}
	return m->addr;
}

#define RING_POINT(r, base, o, n)                                       \
	do {                                                            \
		(r)->mask = (n) - 1;                                    \
		(r)->size = (n);                                        \
		(r)->producer = (uint32_t *)((base) + (o)->producer);   \
		(r)->consumer = (uint32_t *)((base) + (o)->consumer);   \
		(r)->flags = (uint32_t *)((base) + (o)->flags);         \
		(r)->ring = (base) + (o)->desc;                         \
		(r)->cached_prod = *(r)->producer;                      \
		(r)->cached_cons = *(r)->consumer;                      \
	} while (0)

/*
 * A port's sockets on a new netdev for one queue, all made before any is used
 * (xsk_port_prepare): its TX socket with its rings, and one RX socket for each
 * chain's RX socket on the port (rx_old[i] is replaced by rx_new[i]).
 */
struct port_new {
	int p;
	struct own_sock o;
	int ntx;
	struct tx_shard xtx[GEN_MAX_TX_SOCKS - 1];
	int nrx;
	struct rx_sock *rx_old[GEN_MAX_RX_SOCKS], *rx_new[GEN_MAX_RX_SOCKS];
};

/*
 * A TX socket with fill and completion rings on (ifindex, queue), sharing the
 * UMEM through pool_fd: a socket of another port (bound to another netdev) or
 * of another queue, so the kernel gives this one a buffer pool of its own
 * (hence its own rings). The copy or zero-copy mode and need_wakeup follow the
 * sharing socket.
 */
static int port_sock_open(struct own_sock *n, int ifindex, uint32_t q, int pool_fd)
{
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	uint32_t fill = GEN_FILL_SIZE, comp = GEN_COMP_SIZE, txn = GEN_RXTX_SIZE;
	struct sockaddr_xdp sxdp;
	char *f, *c, *t;

	n->fd = shared_socket(ifindex, q, pool_fd, &sxdp);
	if (n->fd < 0)
		return -errno;
	if (setsockopt(n->fd, SOL_XDP, XDP_UMEM_FILL_RING, &fill, sizeof(fill)) ||
	    setsockopt(n->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &comp, sizeof(comp)) ||
	    setsockopt(n->fd, SOL_XDP, XDP_TX_RING, &txn, sizeof(txn)) ||
	    getsockopt(n->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen))
		return -errno;
	f = map_ring(n->fd, XDP_UMEM_PGOFF_FILL_RING, &off.fr, sizeof(uint64_t), fill, &n->map[0]);
	c = map_ring(n->fd, XDP_UMEM_PGOFF_COMPLETION_RING, &off.cr, sizeof(uint64_t), comp, &n->map[1]);
	t = map_ring(n->fd, XDP_PGOFF_TX_RING, &off.tx, sizeof(struct xdp_desc), txn, &n->map[2]);
	if (!f || !c || !t)
		return -errno;
	RING_POINT(&n->fq, f, &off.fr, fill);
	n->fq.cached_cons += fill; /* a producer's view: free slots up to the consumer plus the size */
	RING_POINT(&n->cq, c, &off.cr, comp);
	RING_POINT(&n->tx, t, &off.tx, txn);
	n->tx.cached_cons += txn;
	if (bind(n->fd, (struct sockaddr *)&sxdp, sizeof(sxdp)))
		return -errno;
	return 0;
}

static void shards_close(struct tx_shard *x, uint32_t nextra)
{
	for (uint32_t i = 0; i < nextra; i++) {
		maps_close(x[i].o.map, &x[i].o.fd);
		x[i].unkicked = 0;
	}
}

/*
 * The nextra extra TX sockets of queue q, all or none: shard s on the port's
 * queue q + s * nq, each with a pool and rings of its own on the UMEM that
 * pool_fd's socket registered.
 */
static int shards_open(struct tx_shard *x, uint32_t nextra, int ifindex, uint32_t q, uint32_t nq, int pool_fd)
{
	for (uint32_t i = 0; i < nextra; i++) {
		int r = port_sock_open(&x[i].o, ifindex, q + (i + 1) * nq, pool_fd);

		if (r) {
			shards_close(x, i + 1);
			return r;
		}
	}
	return 0;
}

/* On the worker: the port's rings are the new socket's; the old ones come back for closing. */
static void port_new_on_worker(struct qworker *w, void *arg)
{
	struct port_new *n = arg;
	struct port_q *pq = &w->port[n->p];

	pq->own_fd = n->o.fd;
	memcpy(pq->own_map, n->o.map, sizeof(n->o.map));
	pq->fq = n->o.fq;
	pq->cq = n->o.cq;
	pq->tx = n->o.tx;
	pq->tx_fd = n->o.fd;
	pq->ntx = n->ntx;
	memcpy(pq->xtx, n->xtx, sizeof(n->xtx));
	if (pq->bal)
		memset(pq->bal, 0, sizeof(*pq->bal)); /* its sockets are new: every flow bucket is free */
	pq->in_fill = pq->in_tx = pq->tx_unkicked = 0; /* port_reclaim took every frame back */
	pq->reclaimed = false;
	STORE(&pq->gone, 0);
}

struct rx_swap {
	struct rx_sock *old, *new;
};

static void rx_swap_on_worker(struct qworker *w, void *arg)
{
	struct rx_swap *x = arg;

	for (int i = 0; i < w->nrx; i++) {
		if (w->rx[i] == x->old) {
			while (receive(w, x->old))
				;
			w->rx[i] = x->new;
		}
	}
	set_fill_targets(w);
}

/* Every kicker thread (tx_thread, tx_sockets) has finished every pass that could have begun before now. */
static void kicker_grace(struct qworker *w)
{
	for (int s = 0; s < GEN_MAX_TX_SOCKS; s++) {
		struct kicker *k = &w->kick[s];
		uint32_t p0;

		if (!k->running)
			continue;
		p0 = LOAD(&k->passes);
		wake_kick(&k->wake);
		while (LOAD(&k->passes) - p0 < 2) {
			wake_kick(&k->wake);
			nap();
		}
	}
}

#ifdef GEN_DEBUG
/*
 * A test override (gend-debug only): GEN_FAULT_REBIND_Q=Q[:N] makes the first
 * N (default 1) attempts to bind a returning port's sockets on queue Q fail
 * with EBUSY; GEN_FAULT_REBIND_Q=Q:/PATH makes them fail while PATH exists.
 * It fails as the bind of that queue's TX socket would. Q = xdp: the step
 * after the sockets moved fails instead, as attaching XDP would (rt.c).
 */
static struct {
	long q, n;
	char path[256];
} rebind_fault = { -1, 0, "" };

int xsk_fault_setup(char *err, size_t errlen)
{
	const char *v = getenv("GEN_FAULT_REBIND_Q");
	char *end;

	if (!v)
		return 0;
	if (!strncmp(v, "xdp", 3)) {
		rebind_fault.q = XSK_FAULT_XDP;
		end = (char *)v + 3;
	} else {
		rebind_fault.q = strtol(v, &end, 10);
	}
	rebind_fault.n = 1;
	if (end != v && end[0] == ':' && end[1] == '/') {
		snprintf(rebind_fault.path, sizeof(rebind_fault.path), "%s", end + 1);
		end += strlen(end);
	} else if (*end == ':') {
		rebind_fault.n = strtol(end + 1, &end, 10);
	}
	if (end == v || *end || rebind_fault.q < XSK_FAULT_XDP || rebind_fault.q == -1 || rebind_fault.n < 0) {
		snprintf(err, errlen, "GEN_FAULT_REBIND_Q='%s': expected Q, Q:COUNT or Q:/PATH, Q a queue or xdp", v);
		return -EINVAL;
	}
	return 0;
}

bool xsk_rebind_fault(long q)
{
	if (rebind_fault.q != q)
		return false;
	if (rebind_fault.path[0])
		return !access(rebind_fault.path, F_OK);
	if (rebind_fault.n <= 0)
		return false;
	rebind_fault.n--;
	return true;
}
#else
int xsk_fault_setup(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return 0;
}

bool xsk_rebind_fault(long q)
{
	(void)q;
	return false;
}
#endif

void xsk_port_unprepare(struct port_new *n)
{
	if (!n)
		return;
	for (int i = 0; i < n->nrx; i++)
		if (n->rx_new[i])
			rx_sock_close(n->rx_new[i]);
	shards_close(n->xtx, GEN_MAX_TX_SOCKS - 1);
	maps_close(n->o.map, &n->o.fd);
	free(n);
}

int xsk_port_prepare(struct qworker *w, int p, int ifindex, struct port_new **out, char *err, size_t errlen)
{
	struct port_new *n;
	int pool_fd = -1, r;
	bool injected, zc;

	*out = NULL;

	/* Its rings still hold frames until the worker has taken them back. */
	xsk_sync(w);
	if (!LOAD(&w->port[p].gone) || !w->port[p].reclaimed) {
		snprintf(err, errlen, "port '%s' queue %u: the old interface's rings are not taken back yet", w->ifname[p], w->q);
		return -EBUSY;
	}
	for (int k = 0; k < w->nports && pool_fd < 0; k++)
		if (k != p && !LOAD(&w->port[k].gone) && port_fd(&w->port[k]) >= 0)
			pool_fd = port_fd(&w->port[k]);
	if (pool_fd < 0) {
		snprintf(err, errlen, "port '%s' queue %u: no other port left to share the UMEM through; restart gend",
			 w->ifname[p], w->q);
		return -ENODEV;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "port '%s' queue %u: out of memory", w->ifname[p], w->q);
		return -ENOMEM;
	}
	n->p = p;
	n->o.fd = -1;
	injected = xsk_rebind_fault(w->q);
	r = injected ? -EBUSY : port_sock_open(&n->o, ifindex, w->q, pool_fd);
	if (r) {
		snprintf(err, errlen, "failed to bind the AF_XDP socket of '%s' (ifindex %d) queue %u: %s%s", w->ifname[p],
			 ifindex, w->q, strerror(-r), injected ? " (injected: GEN_FAULT_REBIND_Q)" : "");
		goto fail;
	}
	/*
	 * Its extra TX sockets again, where someone kicks them: their kicker
	 * threads run, or the worker and idle controllers kick what has none
	 * (tx_help). Where they cannot be bound, one (as at start).
	 */
	n->ntx = 1;
	zc = sock_zerocopy(n->o.fd);
	if (w->tx_sockets > 1 && (w->kick[1].running || w->tx_help) && !zc)
		n->ntx = shards_open(n->xtx, w->tx_sockets - 1, ifindex, w->q, w->nq, n->o.fd) ? 1 : (int)w->tx_sockets;
	if (!zc) {
		int fds[GEN_MAX_TX_SOCKS] = { n->o.fd };

		for (int s = 1; s < n->ntx; s++)
			fds[s] = n->xtx[s - 1].o.fd;
		port_budgets(w, fds, n->ntx);
	}
	/* Every chain's RX socket on p: its replacement on the new netdev. */
	for (int i = 0; i < w->nrx; i++) {
		struct rx_sock *s;
		int fd;

		if (w->rx[i]->port != p)
			continue;
		s = calloc(1, sizeof(*s));
		if (!s) {
			r = -ENOMEM;
			snprintf(err, errlen, "port '%s' queue %u: out of memory", w->ifname[p], w->q);
			goto fail;
		}
		fd = rx_sock_open(s, ifindex, w->q, n->o.fd);
		if (fd < 0) {
			r = fd;
			snprintf(err, errlen, "failed to bind AF_XDP socket on '%s' queue %u: %s", w->ifname[p], w->q,
				 strerror(-fd));
			free(s);
			goto fail;
		}
		s->io = w->rx[i]->io;
		s->port = p;
		s->cls_id = w->rx[i]->cls_id;
		n->rx_old[n->nrx] = w->rx[i];
		n->rx_new[n->nrx++] = s;
	}
	*out = n;
	return 0;
fail:
	xsk_port_unprepare(n);
	return r;
}

bool xsk_port_prepared_valid(const struct qworker *w, const struct port_new *n)
{
	int k = 0;

	for (int i = 0; i < w->nrx; i++) {
		int j;

		if (w->rx[i]->port != n->p)
			continue;
		for (j = 0; j < n->nrx; j++)
			if (n->rx_old[j] == w->rx[i] && n->rx_new[j]->io == w->rx[i]->io &&
			    n->rx_new[j]->cls_id == w->rx[i]->cls_id)
				break;
		if (j == n->nrx)
			return false;
		k++;
	}
	return k == n->nrx;
}

void xsk_port_commit(struct qworker *w, struct port_new *n)
{
	int p = n->p;

	/*
	 * The old socket and its rings go before the worker gets the new ones: a
	 * gone port's rings are touched by neither the worker (reclaimed, down)
	 * nor the kicker (gone) meanwhile, and libxdp unmaps through &pq->fq.
	 */
	kicker_grace(w);
	help_grace(w, true);
	if (w->port[p].tx_xsk)
		xsk_socket__delete(w->port[p].tx_xsk);
	w->port[p].tx_xsk = NULL;
	own_close(&w->port[p]);
	shards_close(w->port[p].xtx, GEN_MAX_TX_SOCKS - 1);
	w->port[p].ntx = 1;
	w->port[p].tx_fd = -1;
	xsk_call(w, port_new_on_worker, n);
	w->port[p].zerocopy = sock_zerocopy(n->o.fd);
	for (int i = 0; i < n->nrx; i++) {
		struct rx_swap x = { .old = n->rx_old[i], .new = n->rx_new[i] };

		xsk_call(w, rx_swap_on_worker, &x);
		sock_stats(x.old->fd, &w->retired);
		rx_sock_close(x.old);
	}
	help_grace(w, false);
	free(n);
}

int xsk_port_map(struct qworker *w, int p, char *err, size_t errlen)
{
	for (int i = 0; i < w->nrx; i++) {
		if (w->rx[i]->port != p)
			continue;
		if (cls_xsk_set(w->cls, w->rx[i]->cls_id, w->q, w->rx[i]->fd) < 0) {
			snprintf(err, errlen, "%s", cls_strerror(w->cls));
			return -EIO;
		}
	}
	return 0;
}

void xsk_worker_stop(struct qworker *w)
{
	if (!w->running) {
		STORE(&w->stop, 1);
		goto kicker;
	}
	/* Let sent frames complete so every frame is back before the UMEM goes. */
	for (int tries = 0; tries < 200; tries++) {
		bool busy = false;

		for (int p = 0; p < w->nports; p++)
			busy |= w->port[p].in_tx != 0;
		if (!busy)
			break;
		nap();
	}
	STORE(&w->stop, 1);
	wake_kick(&w->wake);
	pthread_join(w->thread, NULL);
	w->running = false;
kicker:
	help_grace(w, true); /* no controller kicks a socket from here on */
	for (int s = 0; s < GEN_MAX_TX_SOCKS; s++) {
		if (!w->kick[s].running)
			continue;
		wake_kick(&w->kick[s].wake);
		pthread_join(w->kick[s].thread, NULL);
		w->kick[s].running = false;
	}
}

void xsk_worker_fini(struct qworker *w, const struct backend_ops *be)
{
	for (int i = 0; i < w->nrx; i++)
		rx_sock_close(w->rx[i]);
	w->nrx = 0;
	for (int p = 0; p < w->nports; p++) {
		if (w->port[p].tx_xsk)
			xsk_socket__delete(w->port[p].tx_xsk);
		own_close(&w->port[p]);
		shards_close(w->port[p].xtx, GEN_MAX_TX_SOCKS - 1);
		free(w->port[p].bal);
		synth_free(w->port[p].synth);
	}
	if (w->umem)
		xsk_umem__delete(w->umem);
	if (w->area) {
		be->umem_detach(w->area);
		munmap(w->area, w->area_size);
	}
	free(w->free_frames);
	free(w->fill_owner);
	free(w->pfd);
	wake_fini(&w->wake);
	for (int s = 0; s < GEN_MAX_TX_SOCKS; s++)
		wake_fini(&w->kick[s].wake);
	memset(w, 0, sizeof(*w));
}

/* The kernel's counters of one AF_XDP socket added into sum (main thread). */
static void sock_stats(int fd, struct xdp_statistics *sum)
{
	struct xdp_statistics st;
	socklen_t len = sizeof(st);

	if (getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len))
		return;
	sum->rx_dropped += st.rx_dropped;
	sum->rx_invalid_descs += st.rx_invalid_descs;
	sum->rx_ring_full += st.rx_ring_full;
	sum->tx_invalid_descs += st.tx_invalid_descs;
}

/*
 * rx_fill_ring_empty_descs belongs to the buffer pool of a (port, queue), which
 * every socket there shares and reports alike: read it once, from the port's
 * TX socket. A frame that found the fill ring empty is counted again in the
 * rx_dropped of the socket it was for.
 */
uint64_t xsk_fill_empty(const struct qworker *w, int p)
{
	struct xdp_statistics st;
	socklen_t len = sizeof(st);

	if (port_fd(&w->port[p]) < 0 || getsockopt(port_fd(&w->port[p]), SOL_XDP, XDP_STATISTICS, &st, &len))
		return 0;
	return st.rx_fill_ring_empty_descs;
}

void xsk_read_io_stats(const struct qworker *w, const struct chain_io *io, struct xdp_statistics *sum)
{
	for (int i = 0; i < w->nrx; i++)
		if (w->rx[i]->io == io)
			sock_stats(w->rx[i]->fd, sum);
}

void xsk_read_stats(const struct qworker *w, struct xdp_statistics *sum)
{
	sum->rx_dropped += w->retired.rx_dropped;
	sum->rx_ring_full += w->retired.rx_ring_full;
	sum->rx_invalid_descs += w->retired.rx_invalid_descs;
	for (int i = 0; i < w->nrx; i++)
		sock_stats(w->rx[i]->fd, sum);
	for (int p = 0; p < w->nports; p++) {
		struct xdp_statistics st = { 0 };

		if (port_fd(&w->port[p]) < 0)
			continue;
		for (int s = 0; s < w->port[p].ntx; s++)
			sock_stats(shard_fd(&w->port[p], (uint32_t)s), &st);
		sum->tx_invalid_descs += st.tx_invalid_descs;
		sum->rx_fill_ring_empty_descs += xsk_fill_empty(w, p);
	}
}
