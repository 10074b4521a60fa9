/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SFC controllers: one thread per (chain, queue) runs the Adaptive Batcher
 * (take every waiting packet, up to max_batch, when a batch slot is free), hands
 * the batch to the SFC Starter (a backend), and returns verdicts to the port
 * worker of its queue. A flow stays on one queue (RSS, or one generator), and
 * each controller keeps its queue's order, so per-flow order holds in a chain;
 * the queues of a chain no longer wait on one thread.
 */
#ifndef GEN_CHAIN_H
#define GEN_CHAIN_H

#include "dp.h"
#include "guard.h"

/*
 * Latency: histogram buckets of 2^CHAIN_LAT_SUB per power of two of
 * nanoseconds (8: at most 12.5 % wide, so a p95 or p99 and a ratio of two of
 * them read to within that), up to 2^42 ns.
 */
#define CHAIN_LAT_SUB 3
#define CHAIN_LAT_BUCKETS (40 << CHAIN_LAT_SUB)

/* One version of a chain's program: swapped in at a batch boundary. */
struct chain_ver {
	struct chain_prog prog;
	struct backend_chain *bc[GEN_MAX_QUEUES];
	const struct backend_ops *be;
	/* backend = hybrid: the backend's fallback (the cpu) runs the chain at low load (chain_ver_add_cpu). */
	struct backend_chain *cpu_bc[GEN_MAX_QUEUES];
	bool hybrid;
	uint32_t max_wait_us;       /* 0: the batcher takes whatever waits whenever a slot is free */
	uint32_t latency_target_us; /* 0: no p99 target */
	uint64_t hybrid_pps;        /* hybrid: the load for the GPU; 0: by measured cpu load */
	uint32_t inflight;          /* batches in flight at most (the backend may allow fewer); 0: every slot */
	int out_port;          /* 0-based */
	char nfs[256];         /* NF names, for display */
	uint32_t generation;
	/* Made on the backend's fallback because its device is lost (backend.h, ENOTRECOVERABLE): why. */
	char fallback_why[256];
};

/* The controller of one queue of a chain. */
struct chain_ctl {
	struct gen_chain *c;
	int q;
	struct wake wake;        /* it sleeps on it when idle; its port worker kicks it */
	pthread_t thread;
	bool running;
	int paused;              /* at a batch boundary, nothing in flight, waiting for resume */
	struct guard guard;      /* its batches' fault containment */
	int exited;              /* its thread left the loop (chain_stop) */

	/* Published by the controller at the end of each 10 ms window (atomically). */
	uint64_t win_p50_ns, win_p99_ns; /* sojourn (arrival in the ring to verdict) of the window's packets */
	uint32_t batch_limit;            /* what the batcher takes at most now (latency target) */
	uint32_t depth;                  /* batches in flight the batcher keeps without max_wait's push */
	int target_missed;               /* the target has been missed for 100 ms (and not met since) */
	uint64_t busy_ns;                /* time in the cpu backend (hybrid's load measure) */
	uint64_t cpu_pkts;               /* packets run on the cpu backend */
};

struct gen_chain {
	char name[64];
	uint32_t id;
	int nq;
	struct chain_io io[GEN_MAX_QUEUES];
	uint32_t max_batch;
	struct qworker *workers; /* array of nq */

	struct chain_ver *cur;   /* changed by the main thread only while every controller is paused */
	struct chain_ctl ctl[GEN_MAX_QUEUES];
	int pause_req; /* controllers stop at their next batch boundary */
	int stop;   /* drain everything, then exit */

	/* Statistics, written by the controllers (atomically: one per queue). */
	uint64_t batches;
	uint64_t batch_pkts;
	uint32_t batch_last;
	uint32_t batch_max;
	uint64_t fallbacks;     /* batches rerun on the backend's fallback after a backend error */
	uint64_t backend_lost;  /* packets of failed batches that could not be rerun (dropped) */
	int backend_failed;     /* the chain moved to its backend's fallback */
	int backend_err_claim;  /* the first failed batch's controller takes it, then writes backend_error */
	int backend_err_set;    /* set after backend_error is written */
	char backend_error[192]; /* the backend's words on its first failed batch (last_error) */
	const char *backend_name;
	uint64_t handovers;     /* NF states copied to a new device at a swap */
	uint64_t handover_bytes; /* bytes those copies moved (only what packets write: nf_ops.live) */
	uint64_t handover_ns_last; /* how long the last hand-over held the chain's controllers */

	/*
	 * Fault containment: an NF that crashed or overran its budget, or a batch
	 * the backend never finished, fails the chain. From then on its controllers
	 * drop what reaches them (counted in fail_dropped) and run nothing; the
	 * main thread takes its sockets out of the classifier (rt_poll_faults), so
	 * its traffic meets the chain's fail mode. Only a reload brings it back.
	 */
	int fail_claim;          /* the first controller to fail takes it, then writes the reason */
	int failed;              /* set after fail_reason is written */
	char fail_reason[192];
	uint64_t fail_dropped;
	bool abandoned;          /* a controller did not stop in time: nothing of it may be freed */
	/* Elasticity (chain.c's batcher and placement). */
	pthread_mutex_t place_lock; /* one placement change or program swap at a time */
	int move_req;           /* the controllers stop at a batch boundary: the chain moves */
	int on_cpu;             /* hybrid: on the cpu side now */
	uint64_t switches;      /* hybrid moves, both ways */
	char move_reason[96];   /* why the last move, written under place_lock */
	uint64_t early_closes;  /* batches closed by max_wait_us into a spare slot */
	uint64_t wait_overruns; /* batches whose oldest packet waited past max_wait_us */
	uint64_t target_misses; /* 10 ms windows whose p99 was above latency_target_us */
	uint64_t lat_hist[CHAIN_LAT_BUCKETS]; /* every packet's sojourn since the start */
};

int chain_init(struct gen_chain *c, const char *name, uint32_t id, int nq, uint32_t max_batch,
	       struct qworker *workers);
int chain_start(struct gen_chain *c, struct chain_ver *v);
/*
 * Install a new program at a batch boundary of every controller; returns the
 * old one. A controller that reaches no boundary in CHAIN_WAIT_MS (a hybrid
 * move in progress included) fails the chain, and v itself comes back
 * (nothing was swapped).
 */
struct chain_ver *chain_swap(struct gen_chain *c, struct chain_ver *v);
/*
 * Stop: process everything already received, then join, waiting CHAIN_WAIT_MS
 * at most per controller. -ETIMEDOUT: one did not stop; c->abandoned is set
 * and the chain's memory (rings, versions) must never be freed.
 */
int chain_stop(struct gen_chain *c);
/* Mark the chain failed with a reason (the first reason wins). */
void chain_fail(struct gen_chain *c, const char *why);

/* How long the main thread waits for a controller: longer than any batch the guard lets run. */
#define CHAIN_WAIT_MS (GUARD_WALL_MS + 2000)
/* How long a batch may stay on a device before the chain fails. */
#define CHAIN_DEVICE_MS 2000
/* How long a reader of NF state waits for a move or swap in progress. */
#define CHAIN_READ_WAIT_MS 100
void chain_fini(struct gen_chain *c);

struct chain_ver *chain_ver_new(const struct chain_prog *prog, const struct backend_ops *be,
				struct qworker *workers, int nq, int out_port, char *err, size_t errlen);
void chain_ver_free(struct chain_ver *v, int nq);
/* Make v hybrid: its backend's fallback (the cpu) beside it. 0, or -errno with err. */
int chain_ver_add_cpu(struct chain_ver *v, struct qworker *workers, int nq, char *err, size_t errlen);

/* Where the chain runs now: "cpu" or its backend's name (placement of a hybrid chain). */
const char *chain_placement(struct gen_chain *c);
/* The backend's words on the chain's first failed batch, "" if none failed. */
const char *chain_backend_error(struct gen_chain *c);
/*
 * Tests only (NULL in gend): a controller calls it with its queue between
 * taking a batch and submitting it, to widen that window.
 */
extern void (*chain_test_taken)(int q);
/*
 * Read NF i's live state, wherever the chain runs now (a move waits for it).
 * -EBUSY: a move or swap held the chain CHAIN_READ_WAIT_MS (dst is untouched).
 */
int chain_state_read(struct gen_chain *c, uint32_t i, void *dst, uint32_t off, uint32_t len);
/*
 * Write bytes of NF i's live state while the chain runs (the daemon's side of
 * the alert rings and of flow eviction: words the NFs only read, or slots no
 * packet has touched for a timeout). -EBUSY as chain_state_read.
 */
int chain_state_write(struct gen_chain *c, uint32_t i, const void *src, uint32_t off, uint32_t len);
/* Upper bound in ns of latency bucket b; the bucket of a sojourn of ns. */
uint64_t chain_lat_bucket_ns(int b);
int chain_lat_bucket(uint64_t ns);
/* The q-quantile (0..1) of a histogram of n packets, in ns (0 when empty). */
uint64_t chain_lat_quantile(const uint64_t *hist, double q);

#endif
