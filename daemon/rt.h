/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The running daemon: classifier, port workers and chains built from a config,
 * and the diff that a reload applies to them. Only the main thread calls rt_.
 */
#ifndef GEN_RT_H
#define GEN_RT_H

#include <stdio.h>
#include <time.h>
#include "cfg.h"
#include "chain.h"
#include "cls.h"
#include "link.h"

enum rt_port_state { RT_PORT_UP, RT_PORT_DOWN, RT_PORT_GONE, RT_PORT_STATE_MAX };

/* What tried to bind a returning port (port_rebind): a failure is logged once per kind and error. */
enum rt_rebind_why { RT_REBIND_LINK, RT_REBIND_TIMER, RT_REBIND_CHECK };

/*
 * A port whose netdev came back (same name, new ifindex) but could not be
 * bound to it: the port stays gone (every queue on the old netdev, or every
 * queue on the new one with XDP or the rules not there yet), and binding is
 * tried again on the netdev's next link event, on a reload and by the main
 * loop's timer (rt_rebind_retry): 1 s after a failure, then after 2, 4 ... 60 s
 * as the timer's own attempts fail.
 */
struct rt_rebind {
	bool pending;
	uint32_t attempts;     /* since the netdev came back */
	uint32_t timer_tries;  /* of those, the timer's: its next one waits 1 s << timer_tries, 60 s at most */
	uint32_t said;         /* the kinds (1 << why) whose failure the log showed with this error */
	int64_t next_ms;       /* CLOCK_MONOTONIC ms of the next timed attempt */
	char error[256];
	/* The queues whose sockets on ready_ifindex were made while another failed: kept for the next attempt. */
	struct port_new *ready[GEN_MAX_QUEUES];
	int ready_ifindex;
};

struct rt_chain {
	struct gen_chain c;
	const struct cfg_chain *cc;          /* in rt->cfg */
	uint8_t cls_id[GEN_MAX_PORTS];       /* classifier id per ingress port, 0 = none */
	bool live;
	bool fail_reported;                  /* its failure was logged and its sockets left the table */
	int target_missed_said; /* what the log last said of its latency target */
	uint64_t switches_said;
	bool fallback_said;     /* its backend fallback was logged */
};

struct rt {
	struct cfg *cfg;
	struct cls *cls;
	const struct backend_ops *be;
	enum cfg_backend backend_override; /* gend --backend, CFG_BACKEND_MAX: none */
	char backend_why[256];
	int ifindex[GEN_MAX_PORTS];
	enum rt_port_state port_state[GEN_MAX_PORTS]; /* from rtnetlink (rt_link_event) */
	struct rt_rebind rebind[GEN_MAX_PORTS];
	int nports;
	struct qworker *workers;
	int nq;
	uint32_t nframes;
	struct rt_chain *chains[CFG_MAX_CHAINS];
	int nchains;
	uint8_t id_used[GEN_MAX_CHAINS];
	uint32_t generation;
	uint64_t reloads_ok, reloads_failed;
	char last_reload_error[1024];
	const char *pin_dir;
	bool attached;
	time_t started;   /* CLOCK_MONOTONIC seconds at start */
	double pps;       /* packets received per second, kept by the main loop */
	uint32_t abandoned; /* chains whose controller did not stop in time (memory kept) */
	/* At start: the data-plane threads with a TX kicker per socket, the CPUs for them
	 * ([gen] cpus, else gend's), and whether tx_thread = auto left the first socket to the worker;
	 * then (tx_help) the extra sockets 1..tx_kickers have kicker threads, the others are kicked
	 * by the worker and the idle controllers (dp.h: qworker.tx_help). */
	int dp_threads, dp_cpus;
	bool tx_first_worker;
	uint32_t tx_kickers;
};

/* Bring everything up from a loaded config (NF states built). Takes ownership of cfg. */
int rt_start(struct rt *rt, struct cfg *cfg, const char *backend_override, uint32_t nframes,
	     const char *pin_dir, char *err, size_t errlen);
/* Whether cfg fits the classifier (rules, ids); -E2BIG with FILE:LINE otherwise. */
int rt_check_capacity(const struct cfg *cfg, char *err, size_t errlen);
/*
 * Apply a new config file as a diff. 0, or -errno with FILE:LINE errors in err;
 * nothing changes then. Ports are resolved first (rt_ports_resolve): on
 * success err holds a line for each port that changed, or is empty.
 */
int rt_reload(struct rt *rt, const char *path, char *err, size_t errlen);
/*
 * Ports by name and ifindex, for when rtnetlink messages were missed: a netdev
 * gone unnoticed is marked gone; one replaced by another of the same name is
 * bound anew (XDP, sockets, rules). Returns how many ports changed, a line
 * each in msg for the log.
 */
int rt_ports_resolve(struct rt *rt, char *msg, size_t len);
/* Drain every chain, detach our XDP programs, remove our pins, free everything. */
void rt_stop(struct rt *rt);
/* A device still runs a kernel that never ended: end with _exit (backend.h, device_stuck). */
bool rt_device_stuck(const struct rt *rt);

/*
 * Chains that failed since the last call (daemon/guard.h): their sockets leave
 * the classifier, so their traffic meets their fail mode. Returns how many,
 * with one line each in msg for the log.
 */
int rt_poll_faults(struct rt *rt, char *msg, size_t len);

/*
 * An interface changed (rtnetlink): a port whose netdev went down or away is
 * marked so, its frames stop being queued to it and, once gone, come back to
 * the pool. Returns 1 with a line for the log in msg when a port changed state.
 */
int rt_link_event(struct rt *rt, const struct link_event *ev, char *msg, size_t len);
/*
 * The main loop's timer: ports whose binding failed and whose next attempt is
 * due (struct rt_rebind) are tried again. Returns 1 with lines for the log in
 * msg when there is something to say.
 */
int rt_rebind_retry(struct rt *rt, char *msg, size_t len);

/* rt_show.c: what genctl and the log show. */
const char *rt_port_state_name(enum rt_port_state st);
/* A port's drops outside the chains: the kernel's own counters, AF_XDP fill ring empty, while down. */
struct rt_port_drops {
	struct link_stats kernel;
	uint64_t fill_ring_empty, down_drops, frames_back;
};
void rt_port_drops(const struct rt *rt, int p, struct rt_port_drops *d);
/* Frames put on TX socket s of port p (s < its tx_sockets), all queues. */
uint64_t rt_port_tx_frames(const struct rt *rt, int p, int s);
/* What the kernel dropped at a chain's own AF_XDP sockets (rx_dropped, rx_ring_full). */
void rt_chain_xsk_drops(const struct rt_chain *rc, const struct rt *rt, struct xdp_statistics *xs);
/* Totals for the rate shown in STATUS=. */
uint64_t rt_rx_total(const struct rt *rt);

void rt_print_status(struct rt *rt, FILE *out, bool json);
void rt_print_stats(struct rt *rt, FILE *out, bool json);
void rt_print_chains(struct rt *rt, FILE *out, bool json);
/* One sample of every chain's elastic state, one JSON line (genctl stats --watch). */
void rt_print_sample(struct rt *rt, FILE *out);
/* Set every synthetic generator's rate (packets/s per port and queue; 0: as fast as possible). */
void rt_set_synth_rate(struct rt *rt, uint64_t pps);
/* Changes worth a log line since the last call (targets missed or met again, hybrid moves). */
void rt_poll_events(struct rt *rt, void (*say)(int prio, const char *msg));
int rt_report(struct rt *rt, const char *nf, const char *what, FILE *out, bool json);

#endif
