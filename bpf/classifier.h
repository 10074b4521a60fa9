/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ABI of the XDP classifier, shared by bpf/classifier.bpf.c and daemon/cls.c.
 * Every struct here is a BPF map key or value: its layout is the contract and
 * carries BTF names so `bpftool map dump pinned /sys/fs/bpf/gen/<map>` prints
 * fields by name. Fields are host byte order unless the name ends in _be.
 */
#ifndef GEN_BPF_CLASSIFIER_H
#define GEN_BPF_CLASSIFIER_H

#include <linux/types.h>

#define GEN_MAX_QUEUES 64  /* rx queues per port; XSKMAP key = chain * GEN_MAX_QUEUES + queue */
#define GEN_MAX_CHAINS 256 /* chain ids 1..255; 0 is never a chain */
#define GEN_CLS_MAX_RULES 1024
#define GEN_CLS_WORDS (GEN_CLS_MAX_RULES / 64)
/* Elementary intervals of one port field: at most two boundaries per rule. */
#define GEN_CLS_MAX_IVALS (2 * GEN_CLS_MAX_RULES + 1)
#define GEN_CLS_SLOTS 2 /* double buffer: the loader fills the inactive slot, then flips */
#define GEN_CLS_INPORT_MAX (GEN_CLS_SLOTS * (GEN_CLS_MAX_RULES + 1))
/*
 * In-ports below this ifindex are looked up in two arrays (ifindex -> entry,
 * entry -> vector: gen_inport_ix, gen_inport_vec), the rest in the gen_inport
 * hash. Entries per slot: one per distinct ifindex of the rules plus the
 * wildcard.
 */
#define GEN_CLS_INPORT_DIRECT 4096
#define GEN_CLS_INPORT_VECS (GEN_CLS_MAX_RULES + 1)
/*
 * A table whose rules name at most an in-port and a protocol (every address
 * and port open, CLS_DIRECT) also gets its winner for each (in-port entry,
 * protocol) precomputed, for the first GEN_CLS_DIRECT_ENTRIES entries:
 * gen_direct[(slot * GEN_CLS_DIRECT_ENTRIES + entry) * GEN_CLS_PROTOS + proto]
 * = rank + 1, 0 for no rule. One array read instead of the vectors' AND.
 */
#define GEN_CLS_DIRECT_ENTRIES 64
#define CLS_DIRECT_NONE 0xffffffffu /* the lookup's: no precomputed answer here */
#define GEN_CLS_PROTO_ANY 0xffffu
/* Slots per table slot of the direct-indexed maps: one per IP protocol number, one per L4 port. */
#define GEN_CLS_PROTOS 256
#define GEN_CLS_PORTS 65536

/* Per-CPU counter indices in gen_stats: 0..255 matched per chain id, then these. */
enum cls_counter_idx {
	CLS_CNT_UNMATCHED = GEN_MAX_CHAINS,
	CLS_CNT_MALFORMED,
	CLS_CNT_NO_SOCKET,
	CLS_CNT_FAIL_CLOSED, /* of no_socket: dropped because the chain fails closed */
	CLS_CNT_MAX,
};

/* What happened to the last packet a CPU saw (gen_last, per-CPU; for tests and operators). */
enum cls_verdict {
	CLS_V_NONE = 0,
	CLS_V_MATCHED,   /* rule matched and the XSKMAP held a socket: redirected */
	CLS_V_NO_SOCKET, /* rule matched but no socket for (chain, queue): passed */
	CLS_V_UNMATCHED, /* no rule, or not IPv4 */
	CLS_V_MALFORMED, /* truncated or invalid IPv4 */
	CLS_V_FAIL_CLOSED, /* rule matched, no socket, the chain fails closed: dropped */
};

/*
 * gen_fail[chain_id]: what a matched packet meets when (chain, queue) has no
 * socket: the chain failed, gend is restarting, or gend died with the program
 * still attached (a dead process's sockets leave the XSKMAP by themselves).
 */
enum cls_fail {
	CLS_FAIL_OPEN = 0,   /* XDP_PASS: the kernel's stack takes it */
	CLS_FAIL_CLOSED = 1, /* XDP_DROP */
};

/* One bit per rule, bit i = rule of priority rank i (0 wins). */
struct cls_bitvec {
	__u64 w[GEN_CLS_WORDS];
};

/* Bits of cls_config.open: fields that no rule of a table constrains. */
enum cls_open {
	CLS_OPEN_SRC = 1u << 0,
	CLS_OPEN_DST = 1u << 1,
	CLS_OPEN_INPORT = 1u << 2,
	CLS_OPEN_SPORT = 1u << 3, /* every rule takes source ports 0-65535 */
	CLS_OPEN_DPORT = 1u << 4,
	/*
	 * Not a field: set by the loader where source, destination and both
	 * ports are open and gen_direct holds the slot's winners (the host copy
	 * leaves it clear and takes the vectors: the same answers).
	 */
	CLS_DIRECT = 1u << 5,
};

/* gen_config[0] */
struct cls_config {
	__u32 active;         /* table slot packets use now (0 or 1); read once per packet */
	__u32 unmatched_drop; /* 1: unmatched and malformed packets are dropped, 0: passed */
	__u32 nrules[GEN_CLS_SLOTS];
	/*
	 * Per slot, enum cls_open: the lookups the program may skip. Written with
	 * the slot's table, before `active` names the slot.
	 */
	__u32 open[GEN_CLS_SLOTS];
};

/* gen_src / gen_dst LPM key: the slot occupies the first 32 bits of the match, so
 * prefixlen = 32 + prefix length and one trie holds both tables. */
struct cls_lpm_key {
	__u32 prefixlen;
	__u32 slot;
	__be32 addr_be;
};

/* gen_inport key; ifindex 0 is the wildcard vector used when the ifindex has no entry. */
struct cls_inport_key {
	__u32 slot;
	__u32 ifindex;
};

/* gen_rules[slot * GEN_CLS_MAX_RULES + rank]: the rule as the operator wrote it. */
struct cls_rule_val {
	__be32 src_be;
	__be32 dst_be;
	__u8 src_len;
	__u8 dst_len;
	__u16 proto; /* GEN_CLS_PROTO_ANY or 0..255 */
	__u16 sport_lo, sport_hi;
	__u16 dport_lo, dport_hi;
	__u32 in_ifindex; /* 0 = any */
	__u32 chain_id;
	__u32 priority;   /* rank inside its table, 0 wins */
};

/* gen_last: per-CPU record of the last decision. */
struct cls_last {
	__u32 verdict; /* enum cls_verdict */
	__u32 rule;    /* rank of the winning rule, or 0xffffffff */
	__u32 chain_id;
	__u32 xsk_key;
	__u32 slot;
	__u16 sport, dport; /* as classified (0 for non-first fragments) */
};

struct cls_counter {
	__u64 packets;
	__u64 bytes;
};

#ifndef __bpf__
_Static_assert(sizeof(struct cls_bitvec) == 128, "cls_bitvec is a BPF map value");
_Static_assert(sizeof(struct cls_config) == 24, "cls_config is a BPF map value");
_Static_assert(sizeof(struct cls_lpm_key) == 12, "cls_lpm_key is a BPF map key");
_Static_assert(sizeof(struct cls_inport_key) == 8, "cls_inport_key is a BPF map key");
_Static_assert(sizeof(struct cls_rule_val) == 32, "cls_rule_val is a BPF map value");
_Static_assert(sizeof(struct cls_last) == 24, "cls_last is a BPF map value");
_Static_assert(sizeof(struct cls_counter) == 16, "cls_counter is a BPF map value");
#endif

#endif /* GEN_BPF_CLASSIFIER_H */
