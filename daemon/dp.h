/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The data plane's shared objects: per-queue port workers (xsk_) that own every
 * AF_XDP ring of their queue, and per-chain SFC controllers (chain_) that batch.
 * They meet only in struct chain_io: two SPSC descriptor rings per (chain, queue).
 */
#ifndef GEN_DP_H
#define GEN_DP_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>
#include "backend.h"
#include "gen_limits.h"
#include "ring.h"
#include "synth.h"
#include "tx_budget.h"
#include "wake.h"

struct cls;

#define GEN_FRAME_SIZE 4096u

/* The start of the UMEM frame an address (a packet at some offset in it) lies in. */
static inline uint64_t frame_base(uint64_t addr)
{
	return addr & ~(uint64_t)(GEN_FRAME_SIZE - 1);
}

/* Frames moved per ring per worker pass: as many as the synthetic generator makes. */
#define GEN_BURST 256u
#define GEN_FILL_SIZE 4096u
#define GEN_COMP_SIZE 4096u
#define GEN_RXTX_SIZE 4096u
_Static_assert(GEN_TX_BUDGET_MAX == GEN_RXTX_SIZE, "[gen] tx_budget goes up to the TX ring's size");
/*
 * A port's completion rings are read at most once per GEN_REAP_NS of a busy
 * worker (xsk.c: drain_completions). In copy mode the kernel writes a
 * completion ring's producer once per frame, from the core that sent it and
 * with interrupts off; each read from the worker's core takes that line away,
 * so polling it in every pass makes each of those writes wait for the line.
 * 0 reads them in every pass.
 */
#ifndef GEN_REAP_NS
#define GEN_REAP_NS 4000u
#endif

/* Arrival marks: after a push, the ring's head and the time (for the batcher's wait and latency). */
#define CHAIN_IO_MARKS 256u
struct io_mark {
	uint32_t head;
	uint32_t pad;
	uint64_t ns;
};

/* Why the port worker dropped a chain's frame (chain_io.drop[] index). */
enum chain_io_drop {
	CHAIN_IO_DROP_RING_FULL, /* the chain's inbox refused it */
	CHAIN_IO_DROP_VERDICT,   /* a DROP verdict (an NF's, or a failed chain's) */
	CHAIN_IO_DROP_TX_FULL,   /* a PASS the output port could not take: TX ring full, or port down */
	CHAIN_IO_DROP_MAX,
};

/* Per (chain, queue): the controller's inbox and outbox, and counters. */
struct chain_io {
	struct ring in;  /* worker -> controller: received frames */
	struct ring out; /* controller -> worker: frames with verdicts */
	uint64_t rx_packets; /* written by the worker */
	uint64_t tx_packets; /* written by the worker */
	uint64_t drop[CHAIN_IO_DROP_MAX]; /* written by the worker, per reason */
	/*
	 * Written by the worker: passes in which its input had frames for the
	 * queue's chains but no room to take them (a synthetic generator at its
	 * cap of frames in the chains, as a NIC ring would be full). The latency
	 * target reads it as "short of throughput" (chain.c: adapt_to_target).
	 */
	uint64_t stalls;
	int out_port;        /* 0-based; read by the worker when it drains `out` */
	struct wake *chain_wake; /* the controller's: kicked after pushing to `in` */
	struct wake *worker_wake; /* the worker's: kicked after pushing to `out` */
	/*
	 * The queue's worker where some of its TX sockets have no kicker thread
	 * (qworker.tx_help), else NULL: the controller kicks those when idle
	 * (xsk_help_kick). Set by the worker when it takes the io.
	 */
	struct qworker *kick_help;
	struct io_mark mark[CHAIN_IO_MARKS]; /* written by the producer of `in` */
	uint32_t nmark;
};

/* Frames of io the worker dropped, all reasons. */
static inline uint64_t chain_io_dropped(const struct chain_io *io)
{
	uint64_t n = 0;

	for (int i = 0; i < CHAIN_IO_DROP_MAX; i++)
		n += __atomic_load_n(&io->drop[i], __ATOMIC_RELAXED);
	return n;
}

/* The worker (io's only writer) counts n drops for why. */
static inline void chain_io_drop(struct chain_io *io, enum chain_io_drop why, uint32_t n)
{
	__atomic_store_n(&io->drop[why], io->drop[why] + n, __ATOMIC_RELAXED);
}

/*
 * The producer of io->in, after a push: packets up to the ring's head arrived
 * by now. One clock read per burst; the controller reads the marks back to know
 * how long its oldest packet has waited and each packet's latency.
 */
static inline void chain_io_mark(struct chain_io *io)
{
	uint32_t k = io->nmark;
	struct io_mark *m = &io->mark[k % CHAIN_IO_MARKS];

	__atomic_store_n(&m->head, __atomic_load_n(&io->in.head, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	__atomic_store_n(&m->ns, spin_now_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&io->nmark, k + 1, __ATOMIC_RELEASE);
}

/* One AF_XDP socket that receives one chain's packets on one (port, queue). */
struct rx_sock {
	int fd;
	void *map;
	size_t map_size;
	struct xsk_ring_cons rx;
	struct chain_io *io;
	int port;
	uint32_t cls_id;      /* its key in the XSKMAP, with the queue */
	struct rx_sock *next; /* on the list of sockets being closed */
};

/* A mapped ring of a socket made by hand. */
struct xsk_map {
	void *addr;
	size_t size;
};

/* An AF_XDP socket made by hand with fill, completion and TX rings: a buffer pool of its own on the UMEM. */
struct own_sock {
	int fd;
	struct xsk_map map[3]; /* fill, completion, TX */
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq;
};

/* One (port, queue): its fill/completion rings, and a TX-only socket. */
struct port_q {
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	struct xsk_socket *tx_xsk;
	struct xsk_ring_prod tx;
	int tx_fd;
	bool has_rings;
	uint32_t fill_target; /* frames this port's fill ring should hold */
	uint32_t in_fill; /* frames in the fill ring or in the kernel's hands for RX */
	uint32_t in_tx;   /* frames in the TX ring or awaiting completion */
	uint32_t tx_unkicked; /* frames submitted since the last sendto() kick */
	uint64_t reap_ns; /* when the worker last read the completion rings (GEN_REAP_NS) */
	struct synth_port *synth; /* a synthetic port: no sockets, no rings above */
	bool zerocopy;    /* the socket is bound in zero-copy mode */
	/*
	 * Set by the main thread from rtnetlink (xsk_port_state): while down, frames
	 * for it are dropped at once and its fill ring gets nothing; once gone, the
	 * worker takes back every frame its rings still hold (xsk.c: port_reclaim).
	 */
	int down;
	int gone;
	bool reclaimed;    /* the worker has taken back what the gone port held */
	uint64_t down_drops; /* frames for it dropped while it was down or gone */
	uint64_t frames_back; /* frames taken back from its rings when it went */
	/*
	 * Once its netdev came back as a new one (xsk_port_commit): the TX socket
	 * with its own fill and completion rings, made by hand (tx_xsk is NULL).
	 */
	int own_fd;
	struct xsk_map own_map[3]; /* fill, completion, TX */
	/*
	 * [gen] tx_sockets = N on a copy-mode port: N - 1 more sockets for TX,
	 * shard s of queue q bound to the port's queue q + s * queues, each with a
	 * buffer pool, fill and completion ring of its own (sockets sharing a pool
	 * serialise every frame's transmit and completion on the pool's lock), and
	 * each kicked by a kicker thread of its own, so that the kernel's
	 * per-frame copy-mode transmit runs on N cores. A frame goes to the socket
	 * its flow's bucket is given (tx_balance_pick), which keeps each flow's
	 * order and the flows spread evenly over the sockets. Shard 0
	 * is the port's own socket and rings above. Nothing is received on the
	 * extra queues (no fill frames, no XSKMAP entry).
	 */
	int ntx;          /* TX sockets in use on this port: 1 + the extra ones */
	int ntx_err;      /* why the extra ones could not be bound (errno), 0 when they were or none were asked */
	struct tx_shard {
		struct own_sock o;
		uint32_t unkicked;
	} xtx[GEN_MAX_TX_SOCKS - 1];
	uint64_t shard_frames[GEN_MAX_TX_SOCKS]; /* frames put on each TX socket's ring (worker; read relaxed) */
	/*
	 * Per TX socket without a kicker thread (qworker.tx_help): held by whoever
	 * kicks it, the worker or an idle controller; the others pass it by.
	 */
	uint32_t kick_lock[GEN_MAX_TX_SOCKS];
	struct tx_balance *bal; /* which socket each flow bucket leaves through (tx_sockets > 1) */
};

#define GEN_MAX_RX_SOCKS 1024
#define GEN_MAX_IOS 256

/* The queue's frames: in the chains, in fill rings or RX, in TX rings or awaiting completion, free. */
struct xsk_frames_where {
	uint32_t chains, fill, tx, free;
};

/* Per queue: one UMEM shared by every port and chain on it, and its worker. */
struct qworker {
	uint32_t q;
	int nports;
	char ifname[GEN_MAX_PORTS][32];
	struct port_q port[GEN_MAX_PORTS];
	void *area;
	size_t area_size;
	uint32_t nframes;
	bool hugepages;   /* the UMEM sits on 2 MiB pages */
	struct xsk_umem *umem;     /* NULL when every port is synthetic */
	struct cls *cls;  /* the host copy of the classifier, for synthetic ports */
	uint64_t *free_frames;
	uint32_t nfree;
	uint8_t *fill_owner;  /* per frame: 1 + the port whose fill ring holds it, 0 when none */
	uint32_t lost;        /* frames a gone port's kernel side kept: written off, never reused */
	uint32_t in_chains; /* handed to controllers, not yet back (genctl stats: frames_held) */
	struct xsk_frames_where seen; /* the worker's counts after its last pass, for other threads (atomic) */

	/* Changed only by the worker, some on behalf of the main thread (xsk.c: xsk_call). */
	struct rx_sock *rx[GEN_MAX_RX_SOCKS];
	int nrx;
	struct chain_io *ios[GEN_MAX_IOS];
	int nios;

	struct wake wake;
	struct pollfd *pfd;  /* wake fd + every RX socket: what an idle worker sleeps on */

	/*
	 * The TX kicker: copy-mode AF_XDP transmits inside sendto(), and on veth the
	 * receiving side's softirq runs there too, so the kick costs more than the
	 * rest of the loop; it runs on its own thread, the worker only fills the
	 * TX ring. It touches nothing of the worker's but sendto() on TX sockets.
	 * With [gen] tx_thread = yes for every port; with auto (the default) for
	 * the ports that have more than one TX socket (tx_sockets), whose other
	 * sockets have kickers anyway: the worker then sends nothing itself.
	 */
	enum cfg_tx_thread tx_thread;
	uint32_t tx_sockets;  /* [gen] tx_sockets: TX sockets per copy-mode port */
	/*
	 * Frames one sendto() sends on this queue's copy-mode TX sockets
	 * (tx_budget.h): on those with a kicker thread (tx_budget_threaded) and
	 * on those the port worker and idle controllers kick (tx_budget_shared).
	 * [gen] tx_budget N for both; auto: 256 and 32. Where the kernel refused
	 * the first socket asked, both 32 and tx_budget_err says why. Set before
	 * the threads start; a port's sockets made later are asked the same.
	 */
	uint32_t tx_budget_threaded, tx_budget_shared;
	int tx_budget_err;
	bool tx_any_threaded; /* some copy-mode TX socket of the queue has a kicker thread (set up at start) */
	bool demote;          /* [gen] demote resolved: the lines of frames sent and of headers read (demote.h) */
	uint32_t nq;          /* gend's queues: shard s of this queue binds to port queue q + s * nq */
	/* kick[0]: shard 0's kicker (tx_thread); kick[s]: TX shard s's on every port (tx_sockets > s). */
	struct kicker {
		struct qworker *w;
		uint32_t s;
		struct wake wake;
		pthread_t thread;
		bool running;
		uint32_t passes; /* the kicker's passes, for a grace period before its ports' rings change */
	} kick[GEN_MAX_TX_SOCKS];
	int npfd;
	/*
	 * [gen] tx_thread = auto where the data-plane threads with a kicker per
	 * TX socket would outnumber the CPUs (rt.c: tx_thread_plan): only the
	 * extra sockets 1..tx_kickers get kicker threads; the first socket and
	 * those past tx_kickers are kicked by the worker after each pass and by
	 * the queue's chain controllers whenever they are idle (tx_help), so that
	 * more sockets transmit at once than there are threads that only kick.
	 */
	uint32_t tx_kickers;
	bool tx_help;
	uint32_t helping;    /* controllers inside xsk_help_kick */
	uint32_t help_block; /* set while a port's sockets change: no controller kicks */
	uint64_t help_kicks; /* sendto() calls controllers made (atomic) */
	/* sendto() calls on the queue's copy-mode TX sockets, by anyone (atomic; a line of its own). */
	uint64_t tx_kicks __attribute__((aligned(64)));
	char tx_kicks_pad[56];

	pthread_t thread;
	bool running;
	int stop;
	/* One change at a time from the main thread: fn and arg, then call_seq; the worker acks. */
	void (*call_fn)(struct qworker *w, void *arg);
	void *call_arg;
	uint32_t call_seq;
	uint32_t call_ack;
	uint64_t accounting_errors;
	struct xdp_statistics retired; /* main thread: kernel counters of RX sockets closed so far */
	/*
	 * The worker's load, written by it, read by stats: the passes that moved
	 * frames, the time they took, and the frames they took in (received or
	 * generated). busy_ns over wall time is the share of the worker's core that
	 * went to work rather than polling: near 1, the port worker is the limit.
	 */
	uint64_t busy_passes, busy_ns, frames_in;
	/*
	 * Summed over those passes: the frames still waiting in the chains' out
	 * rings when the pass had given back what it would (forward). Over
	 * busy_passes near 0, what a chain finishes is gone within a pass; in
	 * the thousands, done frames wait on this worker (its TX rings are full,
	 * or its give-back falls behind) instead of feeding its ports.
	 */
	uint64_t frames_left_out;
	/*
	 * The CPU the worker's last pass that moved frames ran on, and how many
	 * times that changed: an unpinned worker the scheduler moves shows it
	 * (`cpus` in [gen] pins it; -1 before its first such pass).
	 */
	int32_t cpu;
	uint64_t cpu_moves;
	/* Passes in which a synthetic port with a rate found no free frame: the chains held them all. */
	uint64_t no_frame_passes;
	/*
	 * Times the worker blocked ([gen] spin_us of polling found nothing): each
	 * costs whoever hands it the next frame a wake-up (a copy-mode RX socket's
	 * producer, on veth the sending core, in its softirq).
	 */
	uint64_t sleeps;
	/* Its polling window now, ns ([gen] spin_us, grown up to spin_max_us: wake.h). */
	uint32_t spin_ns;
	/* The start of the current pass (CLOCK_MONOTONIC ns), for what the pass does at most so often. */
	uint64_t pass_ns;
};

enum xsk_bind { XSK_BIND_AUTO, XSK_BIND_ZEROCOPY, XSK_BIND_COPY, XSK_BIND_MAX };

/* What a port worker is built from besides its port names. */
struct xsk_opts {
	uint32_t nframes;
	enum xsk_bind bind;
	const struct synth_cfg *synth; /* for ports named synth:N */
	enum cfg_tx_thread tx_thread;  /* who kicks each port's first TX socket */
	uint32_t tx_sockets;           /* TX sockets per copy-mode port and queue, 1..GEN_MAX_TX_SOCKS */
	uint32_t tx_budget;            /* [gen] tx_budget: frames per copy-mode sendto() asked of the kernel, 0: auto */
	bool tx_help;                  /* tx_thread_plan: kicker threads for the extra sockets 1..tx_kickers only */
	uint32_t tx_kickers;
	enum cfg_demote demote;        /* [gen] demote */
	uint32_t nqueues;              /* gend's queues (the extra TX sockets' port queues follow them) */
	struct cls *cls;
};

/*
 * A frame's flow, for the choice of its TX socket on a port with several
 * ([gen] tx_sockets): a hash of its IPv4 or IPv6 addresses, protocol and, where
 * the datagram is whole, TCP/UDP ports, behind at most one VLAN tag, so that
 * every frame of a flow hashes alike; fragments hash on addresses and protocol
 * alone, as RSS does. False for anything else (it goes to socket 0). The frame
 * is read as it leaves, after its NFs: an ESP tunnel's frames all hash alike.
 */
bool tx_flow_hash(const uint8_t *f, uint32_t len, uint32_t *hash);

/*
 * Flow buckets to TX sockets. Hashing n flows straight onto the sockets leaves
 * them uneven when there are few (16 flows on 3 sockets: 1, 10 and 5), and the
 * busiest socket then caps the port. Instead a bucket (GEN_TX_BUCKETS of them,
 * by hash) is given, when a frame first uses it, to the socket that has the
 * fewest buckets in use, and keeps it while its frames keep coming; a bucket
 * that carried nothing for GEN_TX_IDLE_MS, and whose last frame the kernel has
 * taken from its socket's TX ring, is freed (tx_balance_sweep) and may be given
 * another socket next time. A flow therefore never changes socket while it
 * sends, and never while a frame of it waits in a ring: its order holds. Times
 * are coarse milliseconds; ring positions are the rings' free-running indexes.
 */
#define GEN_TX_BUCKETS 4096u
#define GEN_TX_IDLE_MS 64u
struct tx_balance {
	uint8_t sock[GEN_TX_BUCKETS];  /* 1 + the bucket's socket; 0: free */
	uint32_t seen[GEN_TX_BUCKETS]; /* when the bucket last carried a frame */
	uint32_t sent[GEN_TX_BUCKETS]; /* its socket's TX ring position just past the bucket's last frame */
	uint32_t done[GEN_MAX_TX_SOCKS]; /* each socket's TX ring consumer position, as the caller last read it */
	uint32_t used[GEN_MAX_TX_SOCKS]; /* buckets given to each socket */
	uint32_t cursor;                 /* the next bucket tx_balance_sweep looks at */
};
static inline uint32_t tx_bucket(uint32_t hash)
{
	return hash & (GEN_TX_BUCKETS - 1);
}
/*
 * The socket (0..n-1) of a frame of flow hash at time now_ms; the caller then
 * sets sent[tx_bucket(hash)] to the ring position past the frame.
 */
uint32_t tx_balance_pick(struct tx_balance *b, uint32_t hash, uint32_t n, uint32_t now_ms);
/* Frees the idle, drained buckets among the next count. */
void tx_balance_sweep(struct tx_balance *b, uint32_t now_ms, uint32_t count);

int xsk_worker_init(struct qworker *w, uint32_t q, char **ports, int nports, const struct xsk_opts *o,
		    const struct backend_ops *be, char *err, size_t errlen);
int xsk_worker_start(struct qworker *w);
void xsk_worker_stop(struct qworker *w);
void xsk_worker_fini(struct qworker *w, const struct backend_ops *be);
/*
 * Return once the worker has finished the pass it was in: whatever it read
 * before (the host classification table, a route) it no longer holds.
 */
void xsk_sync(struct qworker *w);
/*
 * The main thread changes what a worker serves with the calls below. The slow
 * parts (creating or closing a socket) run on the caller's thread; the worker
 * only takes the change between two passes (xsk_call), so the other chains on
 * it are never paused.
 *
 * Make io receive what the classifier gives chain cls_id on `port`: an RX
 * socket (returns its fd, for the XSKMAP), or on a synthetic port a route
 * (returns 0). -errno on failure.
 */
int xsk_rx_add(struct qworker *w, int port, struct chain_io *io, uint32_t cls_id, char *err, size_t errlen);
/* Remove every RX socket of io, moving frames still in their RX rings to io->in. */
void xsk_rx_remove(struct qworker *w, struct chain_io *io);
/* Make the worker drain / stop draining io->out. */
int xsk_io_add(struct qworker *w, struct chain_io *io);
/*
 * An idle controller's turn at its queue's TX sockets that have no kicker
 * thread (qworker.tx_help): one sendto() on each that holds frames the kernel
 * has not taken and that no other thread is kicking. The sendto() calls made.
 */
uint32_t xsk_help_kick(struct qworker *w);
void xsk_io_remove(struct qworker *w, struct chain_io *io);
/*
 * Main thread. Kernel-side AF_XDP counters of every socket of the queue (and of
 * those closed before), added into sum; rx_fill_ring_empty_descs once per port.
 */
void xsk_read_stats(const struct qworker *w, struct xdp_statistics *sum);
/* Those of io's RX sockets only: what the kernel dropped on the way to one chain. */
void xsk_read_io_stats(const struct qworker *w, const struct chain_io *io, struct xdp_statistics *sum);
/* Frames that found port p's fill ring empty on this queue (each also in some socket's rx_dropped). */
uint64_t xsk_fill_empty(const struct qworker *w, int p);
/* Hand n received frames to a chain's inbox; what its ring refuses is dropped and recycled. */
void xsk_deliver(struct qworker *w, struct chain_io *io, const struct gen_desc *d, uint32_t n);
/* Main thread: port p went down or came back up, or its netdev is gone. */
void xsk_port_state(struct qworker *w, int p, bool down, bool gone);
/*
 * Main thread: port p's netdev is gone (its rings taken back) and one of the
 * same name is back as ifindex. A returning port is bound in two steps so that
 * a failure on one queue leaves every queue as it was:
 * - xsk_port_prepare makes this queue's sockets on the new netdev (a TX socket
 *   sharing the UMEM through another port's socket, with fill and completion
 *   rings of its own, and one RX socket per chain's RX socket on p) and uses
 *   none of them. NULL with the reason in err: nothing changed.
 * - xsk_port_commit (cannot fail) closes the old netdev's sockets and hands
 *   the new ones to the worker; xsk_port_map then puts the chains' new RX
 *   sockets into the classifier's XSKMAP (again, idempotent).
 * What a prepare made may wait for the next attempt on the same netdev while
 * another queue fails (a closed socket keeps its queue busy a while in the
 * kernel): xsk_port_prepared_valid says whether it still matches the chains'
 * RX sockets on p. xsk_port_unprepare frees it.
 * The port stays marked down until xsk_port_state says otherwise.
 */
struct port_new;
int xsk_port_prepare(struct qworker *w, int p, int ifindex, struct port_new **n, char *err, size_t errlen);
bool xsk_port_prepared_valid(const struct qworker *w, const struct port_new *n);
void xsk_port_unprepare(struct port_new *n);
void xsk_port_commit(struct qworker *w, struct port_new *n);
int xsk_port_map(struct qworker *w, int p, char *err, size_t errlen);
/* gend-debug's test overrides from the environment (xsk.c: GEN_FAULT_REBIND_Q), read once at start. */
int xsk_fault_setup(char *err, size_t errlen);
/* Whether that override makes this attempt fail: on queue q, or at XSK_FAULT_XDP (false but in gend-debug). */
#define XSK_FAULT_XDP (-2L)
bool xsk_rebind_fault(long q);
/*
 * Where a queue's frames are, as the worker left them at the end of its last
 * pass (it sleeps only after a pass): for any thread (genctl stats, metrics).
 */
void xsk_frames_where(const struct qworker *w, struct xsk_frames_where *f);

#endif
