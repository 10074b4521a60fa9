/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loader of the XDP classifier (bpf/classifier.bpf.c): loads the program and
 * its maps, pins the maps, attaches/detaches, installs the Classification
 * Table with an atomic switch, manages the (chain, queue) XSKMAP and reads the
 * counters. Single-threaded: the caller serializes calls on one struct cls.
 */
#ifndef GEN_DAEMON_CLS_H
#define GEN_DAEMON_CLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bpf/classifier.h"

#define CLS_PIN_DIR "/sys/fs/bpf/gen"

/* One rule; host byte order. The array order handed to cls_set_rules is the priority. */
struct cls_rule {
	uint32_t src, src_len, dst, dst_len; /* prefix; len 0 = any */
	int proto;                           /* -1 any, else 0..255 */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi; /* 0-65535 = any */
	uint32_t in_ifindex;                 /* 0 = any */
	uint32_t chain_id;                   /* 1..255 */
};

struct cls_stats {
	uint64_t matched[GEN_MAX_CHAINS]; /* by chain id, whether or not a socket took it */
	uint64_t unmatched, malformed, no_socket;
	uint64_t fail_closed; /* of no_socket: dropped by the chain's fail mode */
};

struct cls;
struct cls_tab;

/*
 * Load the program and maps and pin the maps under pin_dir (created; stale pins
 * of a crashed run replaced; bpffs mounted on /sys/fs/bpf when missing).
 * pin_dir NULL: nothing is pinned. NULL + errno on failure; err gets one line.
 */
struct cls *cls_open(const char *pin_dir, char *err, size_t errlen);

/*
 * Attach to ifindex (native or skb mode) through libxdp: in its multi-program
 * dispatcher where the kernel allows it (other programs keep running after ours,
 * on XDP_PASS), alone elsewhere. A gen_cls left there by a crashed run is
 * replaced; a foreign program attached alone (no dispatcher) is not (-EBUSY).
 * The attachment outlives the process (pinned by libxdp); cls_detach ends it.
 */
int cls_attach(struct cls *c, int ifindex, bool native);
/* 1: our copy on ifindex runs in libxdp's dispatcher (other programs may share the port); 0: alone; -ENOENT. */
int cls_attach_shared(struct cls *c, int ifindex);
/* Id of the program that runs for us on ifindex (our copy in the dispatcher), 0 if none. */
uint32_t cls_attached_id(struct cls *c, int ifindex);
/* Detach our program from one interface / all interfaces we attached, only
 * where it is still ours. Returns 0 or the first -errno. */
int cls_detach(struct cls *c, int ifindex);
int cls_detach_all(struct cls *c);

/* Install rules[0..n) (index = priority, 0 wins), atomically; n <= GEN_CLS_MAX_RULES.
 * Returns when no packet can still see the previous table. -EINVAL names the rule in err. */
int cls_set_rules(struct cls *c, const struct cls_rule *rules, int n);
int cls_set_unmatched_drop(struct cls *c, bool drop);

/*
 * The installed table as host data, for classifying frames of synthetic ports
 * (NULL before the first cls_set_rules). A reader loads it once per burst; the
 * caller of cls_set_rules must make sure no reader still holds the table before
 * the previous one before it calls cls_set_rules again (one flip is kept alive).
 */
const struct cls_tab *cls_host_table(struct cls *c);

int cls_xsk_set(struct cls *c, uint32_t chain_id, uint32_t queue, int xsk_fd);
int cls_xsk_clear(struct cls *c, uint32_t chain_id, uint32_t queue);
/* Wait for an RCU grace period: every XDP program run (and redirect) begun before it has ended. */
void cls_wait_readers(void);
/* What a packet of chain_id meets while (chain, queue) has no socket: dropped (closed) or passed. */
int cls_set_fail(struct cls *c, uint32_t chain_id, bool closed);

/* Counters summed over CPUs. */
int cls_read_stats(struct cls *c, struct cls_stats *out);
/* The last decision taken on one CPU (for tests and diagnostics). */
int cls_read_last(struct cls *c, int cpu, struct cls_last *out);

/* detach_all, then unpin (and rmdir pin_dir) if unpin, then free. NULL is fine. */
void cls_close(struct cls *c, bool unpin);

int cls_prog_fd(struct cls *c);
/* The last error message of c (one line, empty if none). */
const char *cls_strerror(struct cls *c);

#endif /* GEN_DAEMON_CLS_H */
