/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nids: signature matching on Snort rules.
 *
 * Per packet: locate the IPv4 payload and (when the header is complete) the L4
 * payload, run one Aho-Corasick scan over the case-folded IP payload that lists
 * every indexed pattern seen (a short list; see struct nids_scan for payloads that
 * hold more patterns than it has room for), then, for each trigger pattern seen, take
 * the rules it triggers: a rule is verified only when all its indexed contents were
 * seen and its header (proto, addresses, ports, direction) matches; verification
 * checks every content with its positional modifiers by a backtracking search over
 * the rule's payload. A rule fires at most once per packet; its counter is bumped.
 * action=alert passes every packet, action=drop drops a packet that fired a rule.
 *
 * Automaton layout: a complete DFA (no failure links at run time) over byte classes
 * (case folded; every byte that no pattern uses shares class 0) with 16-bit state
 * ids, one dense row per state: each payload byte costs one class lookup and one
 * table load. States are numbered so that those with outputs come last: "s >=
 * out_min" tells a match without touching memory. Patterns are case-folded prefixes
 * of at most pattern_max bytes of the rules' contents (verification re-checks whole
 * contents exactly), which bounds the automaton's depth: the payload can be cut in
 * lanes scanned in an interleaved loop, each lane starting pattern_max - 1 bytes early.
 * See nf/nids.md for the figures.
 *
 * The state is one blob: struct nf_nids followed by the tables it names by offset.
 */
#ifndef GEN_NF_NIDS_H
#define GEN_NF_NIDS_H

#include "nf.h"

#define NIDS_MAX_CONTENTS 32
/* Distinct indexed patterns at most (ids fit in 14 bits: NIDS_OUT_TRIG is bit 15). */
#define NIDS_MAX_PATTERNS 16384
/* DFA state ids are uint16_t. */
#define NIDS_MAX_STATES 65536
/* Longest pattern prefix indexed (the builder shortens it when states would not fit). */
#ifndef NIDS_PATTERN_MAX
#define NIDS_PATTERN_MAX 16
#endif
/*
 * Contents shorter than this are not indexed (one- to three-byte patterns would make
 * a large share of payload bytes hit an output state), unless they are the longest
 * content of a rule: such a "short" rule is found through the ports its header
 * requires (struct nids_port_key) when it has them, else indexed anyway.
 */
#ifndef NIDS_INDEX_MIN
#define NIDS_INDEX_MIN 4
#endif
/* Distinct patterns one packet's list holds; past that the packet is rescanned by id range. */
#define NIDS_SEEN_LIST 32
/* Pattern ids one rescan covers (a bitmap of this many bits). */
#define NIDS_RANGE 1024
/*
 * On the GPU (sm_70 on) a rescan's bitmap is not part of struct nids_scan,
 * where it would take 128 bytes of every thread's stack for a rare case, but
 * one of NIDS_RANGE_SLOTS per block in shared memory: a thread takes its
 * warp's slot under the slot's lock for the rescans (nids_range_lock).
 */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
#define NIDS_RANGE_SHARED 1
#else
#define NIDS_RANGE_SHARED 0
#endif
/* Slots: one per warp of a block of up to 256 threads; bigger blocks share them. */
#define NIDS_RANGE_SLOTS 8
/*
 * Long payloads are scanned as NIDS_LANES interleaved lanes (shorter ones: fewer).
 * A GPU thread has no out-of-order core to overlap its table loads: it gets more
 * lanes. The lane count changes only the order patterns are found in, never the
 * set, the rules checked or the counters (see struct nids_scan).
 */
#ifndef NIDS_LANES
#if defined(__CUDA_ARCH__)
#define NIDS_LANES 8
#else
#define NIDS_LANES 4
#endif
#endif
/* out_pat entries: pattern id, and this bit when the pattern triggers rules. */
#define NIDS_OUT_TRIG 0x8000u
/* Byte comparisons one rule verification may spend before it gives up (counted). */
#define NIDS_VERIFY_BUDGET (1u << 18)
#define NIDS_NONE 0xffffffffu

enum {
	NIDS_C_PACKETS,
	NIDS_C_INSPECTED,
	NIDS_C_NOT_INSPECTED, /* not IPv4, malformed or truncated IPv4 */
	NIDS_C_NO_L4,         /* non-first fragment or truncated L4 header: only ip rules apply */
	NIDS_C_ALERTS,        /* rule firings */
	NIDS_C_ALERT_PACKETS, /* packets with at least one firing */
	NIDS_C_DROPPED,
	NIDS_C_VERIFY_ABORTED, /* verification hit NIDS_VERIFY_BUDGET: treated as no match */
	NIDS_C_EVENTS_LOST,    /* firings not recorded as events: the alert ring was full */
	NIDS_C_MAX,
};

enum nids_action { NIDS_ACT_ALERT = 0, NIDS_ACT_DROP = 1 };

/* Content flags. */
#define NIDS_CF_NOCASE (1u << 0)
#define NIDS_CF_NEGATED (1u << 1)
#define NIDS_CF_RELATIVE (1u << 2) /* has distance and/or within */
#define NIDS_CF_OFFSET (1u << 3)
#define NIDS_CF_DEPTH (1u << 4)
#define NIDS_CF_DISTANCE (1u << 5)
#define NIDS_CF_WITHIN (1u << 6)

/* Rule flags. */
#define NIDS_RF_BIDIR (1u << 0)

/* Address or port constraint: n elements at off (in the addrs or ports table). */
struct nids_spec {
	uint32_t off;
	uint16_t n;
	uint8_t neg; /* the whole spec is negated */
	uint8_t pad;
};

struct nids_port_range {
	uint16_t lo;
	uint16_t hi;
	uint8_t neg; /* element excluded from the list */
	uint8_t pad[3];
};

struct nids_addr {
	uint32_t net; /* host order, already masked */
	uint32_t mask;
	uint8_t neg;
	uint8_t pad[3];
};

struct nids_content {
	uint32_t bytes; /* offset of the pattern bytes in the blob */
	uint16_t len;
	uint16_t flags; /* NIDS_CF_* */
	int32_t offset;
	int32_t depth;
	int32_t distance;
	int32_t within;
};

struct nids_rule {
	uint32_t sid;
	uint32_t content; /* index of the first of ncontents in the contents table */
	uint16_t ncontents;
	uint8_t proto; /* 0 = ip (any), else the IP protocol */
	uint8_t flags; /* NIDS_RF_* */
	struct nids_spec src, sport, dst, dport;
	uint32_t need;  /* index of the first of nneed pattern ids in the need table */
	uint16_t nneed; /* indexed contents: all must have been seen before verifying */
	uint16_t pad;
};

/*
 * A short rule and one of the ports that one side of its header requires, with
 * what a packet must show for the rule to have a chance, so that most keys are
 * passed over without reading the rule (nids_key_skip): its protocol, the L4
 * payload length its first content needs, and, when that content must start at
 * one fixed position, its first byte there.
 */
struct nids_port_key {
	uint16_t port;
	uint8_t side;      /* 0: the rule's destination port list, 1: its source port list */
	uint8_t proto;     /* the rule's protocol (tcp or udp) */
	uint32_t rule;
	uint16_t need_len; /* the first content cannot match in fewer L4 payload bytes (0: no bound) */
	uint16_t at;       /* the one position the first content can start at, NIDS_AT_SCAN or NIDS_AT_ANY */
	uint8_t at_byte;   /* the content's first byte (there), case-folded when at_fold */
	uint8_t at_fold;
	uint8_t hdr_any;   /* the rule's addresses and other port are "any": the key's port is its whole header */
	uint8_t pad;
};
#define NIDS_AT_ANY 0xffffu  /* no byte test */
#define NIDS_AT_SCAN 0xfffeu /* at_byte must occur in the L4 payload (tested on the host only) */

/*
 * The alert ring: one fixed-size event per firing, written by whoever runs the
 * NF (cpu threads, GPU threads) and drained by the daemon off the packet path.
 * A writer reserves index h by CAS on head while h - tail < size (else it
 * counts NIDS_C_EVENTS_LOST and goes on: nothing waits), fills record h % size
 * and then publishes it by storing seq = h + 1 (low 32 bits). The reader copies
 * published records, then moves tail past them; tail is the only word of the
 * ring the reader writes.
 */
struct nids_ring {
	uint64_t head; /* next index to reserve */
	uint64_t tail; /* first index not yet drained */
	uint32_t size; /* records, a power of two */
	uint32_t recs_off; /* struct nids_alert[size], from the blob start */
	uint64_t pad;
};

struct nids_alert {
	uint64_t ts;    /* the batch's time, ns since the epoch (nf_pkt.now) */
	uint32_t rule;  /* rule index: sid, rev and msg are in the host tail */
	uint32_t src, dst;
	uint16_t sport, dport; /* 0 unless tcp or udp with an L4 header */
	uint8_t proto;
	uint8_t chain;  /* nf_pkt.chain */
	uint16_t pad;
	uint32_t seq;   /* index + 1 once the record is complete */
};

/* Host-only rule details, for reports. */
struct nids_rule_info {
	uint32_t sid;
	uint32_t rev;
	uint32_t msg; /* offset of a NUL-terminated string in the blob */
	uint32_t line;
};

struct nf_nids {
	struct nf_hdr hdr;
	uint32_t action;
	uint32_t nrules;
	uint32_t nstates;     /* DFA states, < NIDS_MAX_STATES; state 0 is the start */
	uint32_t nclasses;    /* byte classes: a DFA row has nclasses entries */
	uint32_t out_min;     /* states >= out_min have outputs */
	uint32_t npatterns;   /* distinct indexed patterns, <= NIDS_MAX_PATTERNS */
	uint32_t pattern_max; /* longest pattern (prefix) indexed: the automaton's depth */
	uint32_t rules_off;    /* struct nids_rule[nrules] */
	uint32_t contents_off; /* struct nids_content[] */
	uint32_t ports_off;    /* struct nids_port_range[] */
	uint32_t addrs_off;    /* struct nids_addr[] */
	uint32_t dfa_off;      /* uint16_t[nstates * nclasses]: next state */
	uint32_t out_off;      /* uint32_t[nstates - out_min + 1]: first out_pat entry of each output state */
	uint32_t out_pat_off;  /* uint16_t[]: pattern id | NIDS_OUT_TRIG */
	uint32_t trig_off;     /* uint32_t[npatterns + 1]: first trig_rules entry of each pattern */
	uint32_t trig_rules_off; /* uint32_t[nrules]: rules grouped by trigger pattern */
	uint32_t need_off;     /* uint16_t[]: pattern ids per rule */
	uint32_t keys_off;     /* struct nids_port_key[nkeys], sorted by port */
	uint32_t nkeys;
	uint32_t alerts_off;   /* uint64_t[nrules]: firings per rule */
	/* Host-only tail, for reports; the device never reads it. */
	uint32_t info_off;     /* struct nids_rule_info[nrules] */
	uint32_t load_report;  /* offset of struct nids_load_summary + its text */
	uint32_t ac_bytes;     /* bytes of the automaton tables (dfa, outputs, triggers, needs) */
	uint32_t port_idx_off; /* uint32_t[65537]: first keys[] entry with port >= p (0: none, search) */
	uint32_t ring_off;     /* struct nids_ring, then its records (0: no events) */
	uint32_t port_bits_off; /* uint32_t[2048]: bit p set when port p has keys (with port_idx_off) */
	uint8_t class_of[256]; /* byte -> class, case folded */
	uint64_t counters[NIDS_C_MAX];
};
_Static_assert(sizeof(struct nids_spec) == 8, "nids_spec crosses to the GPU");
_Static_assert(sizeof(struct nids_port_range) == 8, "nids_port_range crosses to the GPU");
_Static_assert(sizeof(struct nids_addr) == 12, "nids_addr crosses to the GPU");
_Static_assert(sizeof(struct nids_content) == 24, "nids_content crosses to the GPU");
_Static_assert(sizeof(struct nids_rule) == 52, "nids_rule crosses to the GPU");
_Static_assert(sizeof(struct nids_port_key) == 16, "nids_port_key crosses to the GPU");
_Static_assert(sizeof(struct nids_rule_info) == 16, "nids_rule_info is part of the blob");
_Static_assert(sizeof(struct nids_ring) == 32, "nids_ring crosses to the GPU");
_Static_assert(sizeof(struct nids_alert) == 32, "nids_alert crosses to the GPU");
_Static_assert(sizeof(struct nf_nids) == 16 + 26 * 4 + 256 + 8 * NIDS_C_MAX, "nf_nids crosses to the GPU");

/* What one packet offers the rules. */
struct nids_view {
	const uint8_t *l3; /* IP payload */
	uint32_t l3_len;
	uint32_t l4_len;   /* L4 payload: the last l4_len bytes of the IP payload, when has_l4 (nids_l4) */
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t has_l4;
	uint32_t chain; /* for events: the packet's chain and batch time */
	uint64_t now;
};

/* The L4 payload of a view that has one (no pointer of its own: one less thing to keep in registers). */
NF_FN const uint8_t *nids_l4(const struct nids_view *v)
{
	return v->l3 + (v->l3_len - v->l4_len);
}

NF_FN uint8_t nids_fold(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

#if defined(__CUDACC__)
/* The byte classes, read once per payload byte, in shared memory (one nids instance per block). */
struct nids_smem {
	const void *owner;
	uint8_t class_of[256];
#if NIDS_RANGE_SHARED
	int range_lock[NIDS_RANGE_SLOTS];
	uint64_t range_bits[NIDS_RANGE_SLOTS][NIDS_RANGE / 64];
#endif
};
static __shared__ struct nids_smem nids_sm;

/* Every thread of the block calls this for the chain's first nids, then syncs. */
static __device__ __forceinline__ void nf_nids_block_init(void *state)
{
	const struct nf_nids *st = (const struct nf_nids *)state;
	const uint32_t *src = (const uint32_t *)st->class_of;
	uint32_t *dst = (uint32_t *)nids_sm.class_of;

	for (uint32_t k = threadIdx.x; k < 64; k += blockDim.x)
		dst[k] = src[k];
	if (threadIdx.x == 0)
		nids_sm.owner = st;
#if NIDS_RANGE_SHARED
	if (threadIdx.x < NIDS_RANGE_SLOTS)
		nids_sm.range_lock[threadIdx.x] = 0;
#endif
}
#endif

#if NIDS_RANGE_SHARED
#define NIDS_RANGE_SLOT ((threadIdx.x >> 5) & (NIDS_RANGE_SLOTS - 1))
/* The rescans' bitmap of sc. */
#define NIDS_BITS(sc) (nids_sm.range_bits[NIDS_RANGE_SLOT])

/*
 * Take the warp's slot. Lanes of one warp may wait for each other here: from
 * sm_70 on, a waiting lane does not keep the lane holding the lock from
 * running (independent thread scheduling).
 */
static __device__ __forceinline__ void nids_range_lock(void)
{
	while (atomicCAS(&nids_sm.range_lock[NIDS_RANGE_SLOT], 0, 1))
		;
	__threadfence_block();
}

static __device__ __forceinline__ void nids_range_unlock(void)
{
	__threadfence_block();
	atomicExch(&nids_sm.range_lock[NIDS_RANGE_SLOT], 0);
}
#else
#define NIDS_BITS(sc) ((sc)->u.bits)
#endif

NF_FN const uint8_t *nids_classes(const struct nf_nids *st)
{
#if defined(__CUDA_ARCH__)
	if (nids_sm.owner == (const void *)st)
		return nids_sm.class_of;
#endif
	return st->class_of;
}

/* Fill v from p; 0 when the packet is not inspectable IPv4. */
NF_FN int nids_view_init(const struct nf_pkt *p, struct nids_view *v)
{
	uint32_t ipo = nf_ipv4_off(p);
	if (!ipo)
		return 0;
	const uint8_t *ip = p->buf + ipo;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	uint32_t tot = nf_get16(ip + 2);
	v->l3 = ip + ihl;
	v->l3_len = tot - ihl;
	v->saddr = nf_get32(ip + 12);
	v->daddr = nf_get32(ip + 16);
	v->chain = p->chain;
	v->now = p->now;
	v->proto = ip[9];
	v->sport = v->dport = 0;
	v->l4_len = 0;
	v->has_l4 = 0;
	if (nf_get16(ip + 6) & 0x1fff)
		return 1; /* non-first fragment: no L4 header here */
	const uint8_t *l4 = v->l3;
	uint32_t n = v->l3_len, hl;
	if (v->proto == NF_IPPROTO_TCP) {
		if (n < 20)
			return 1;
		hl = (uint32_t)(l4[12] >> 4) * 4;
		if (hl < 20 || hl > n)
			return 1;
		v->sport = nf_get16(l4);
		v->dport = nf_get16(l4 + 2);
	} else if (v->proto == NF_IPPROTO_UDP) {
		if (n < 8)
			return 1;
		hl = 8;
		v->sport = nf_get16(l4);
		v->dport = nf_get16(l4 + 2);
	} else if (v->proto == NF_IPPROTO_ICMP) {
		if (n < 8)
			return 1;
		hl = 8;
	} else {
		return 1;
	}
	v->l4_len = n - hl;
	v->has_l4 = 1;
	return 1;
}

NF_FN int nids_port_match(const struct nf_nids *st, const struct nids_spec *s, uint16_t port)
{
	if (!s->n)
		return !s->neg;
	const struct nids_port_range *r = NF_AT(st, st->ports_off, const struct nids_port_range *) + s->off;
	int any_pos = 0, hit_pos = 0, hit_neg = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		int in = port >= r[i].lo && port <= r[i].hi;
		if (r[i].neg) {
			hit_neg |= in;
		} else {
			any_pos = 1;
			hit_pos |= in;
		}
	}
	int m = (!any_pos || hit_pos) && !hit_neg;
	return s->neg ? !m : m;
}

NF_FN int nids_addr_match(const struct nf_nids *st, const struct nids_spec *s, uint32_t a)
{
	if (!s->n)
		return !s->neg;
	const struct nids_addr *r = NF_AT(st, st->addrs_off, const struct nids_addr *) + s->off;
	int any_pos = 0, hit_pos = 0, hit_neg = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		int in = (a & r[i].mask) == r[i].net;
		if (r[i].neg) {
			hit_neg |= in;
		} else {
			any_pos = 1;
			hit_pos |= in;
		}
	}
	int m = (!any_pos || hit_pos) && !hit_neg;
	return s->neg ? !m : m;
}

NF_FN int nids_dir_match(const struct nf_nids *st, const struct nids_rule *r, uint32_t sa, uint16_t sp,
			 uint32_t da, uint16_t dp, int ports)
{
	if (!nids_addr_match(st, &r->src, sa) || !nids_addr_match(st, &r->dst, da))
		return 0;
	if (ports && (!nids_port_match(st, &r->sport, sp) || !nids_port_match(st, &r->dport, dp)))
		return 0;
	return 1;
}

NF_FN int nids_header_match(const struct nf_nids *st, const struct nids_rule *r, const struct nids_view *v)
{
	if (r->proto) {
		if (r->proto != v->proto || !v->has_l4)
			return 0;
	}
	int ports = r->proto == NF_IPPROTO_TCP || r->proto == NF_IPPROTO_UDP;
	if (nids_dir_match(st, r, v->saddr, v->sport, v->daddr, v->dport, ports))
		return 1;
	return (r->flags & NIDS_RF_BIDIR) && nids_dir_match(st, r, v->daddr, v->dport, v->saddr, v->sport, ports);
}

/*
 * First position p in [from, end - len] where pat occurs in buf, or -1.
 * *budget counts byte comparisons down; at 0 the search stops (returns -2).
 * Positions whose first byte differs cost one comparison and no inner loop.
 */
NF_FN int32_t nids_find(const uint8_t *buf, int32_t from, int32_t end, const uint8_t *pat, uint32_t len,
			int nocase, uint32_t *budget)
{
	uint8_t f0 = pat[0], f1 = pat[0];
	if (nocase) {
		f0 = nids_fold(f0);
		f1 = (f0 >= 'a' && f0 <= 'z') ? (uint8_t)(f0 - 32) : f0;
	}
	uint32_t r0 = 0x01010101u * f0, r1 = 0x01010101u * f1;
	for (int32_t p = from; p + (int32_t)len <= end; p++) {
		/* Four positions at a time while none starts with the first byte (same budget). */
		while (p + 3 + (int32_t)len <= end && *budget > 4) {
			uint32_t w = nf_load32le(buf + p);
			if (nf_zero_bytes(w ^ r0) | nf_zero_bytes(w ^ r1))
				break;
			*budget -= 4;
			p += 4;
		}
		if (p + (int32_t)len > end)
			break;
		uint8_t b = buf[p];
		if (b != f0 && b != f1) {
			if (!--*budget)
				return -2;
			continue;
		}
		uint32_t i = 1;
		if (nocase) {
			while (i < len && nids_fold(buf[p + i]) == nids_fold(pat[i]))
				i++;
		} else {
			while (i < len && buf[p + i] == pat[i])
				i++;
		}
		if (i == len)
			return p;
		if (*budget <= i) {
			*budget = 0;
			return -2;
		}
		*budget -= i;
	}
	return -1;
}

/* Search window [*ws, *we) of content c given the cursor (end of the previous match). */
NF_FN void nids_window(const struct nids_content *c, int32_t cursor, int32_t len, int32_t *ws, int32_t *we)
{
	int64_t s, e;
	if (c->flags & NIDS_CF_RELATIVE) {
		s = (int64_t)cursor + c->distance;
		e = (c->flags & NIDS_CF_WITHIN) ? s + c->within : len;
	} else {
		s = c->offset;
		e = (c->flags & NIDS_CF_DEPTH) ? s + c->depth : len;
	}
	if (s < 0)
		s = 0;
	if (e > len)
		e = len;
	*ws = (int32_t)(s > len ? len : s);
	*we = (int32_t)e;
}

/*
 * Do all contents of rule r match buf[0, len) (Snort semantics, see nids.md)?
 * Positive contents choose a match position each, in rule order; a relative
 * content searches from the end of the previous positive match. When a later
 * content fails, earlier ones move on to their next occurrence (backtracking).
 * A negated content holds when no occurrence lies in its window; it moves no cursor.
 * Returns 1 match, 0 no match, -1 budget exhausted.
 */
NF_FN int nids_verify(const struct nf_nids *st, const struct nids_rule *r, const uint8_t *buf, uint32_t len)
{
	const struct nids_content *cs = NF_AT(st, st->contents_off, const struct nids_content *) + r->content;
	/*
	 * Positions inside an IPv4 payload (< 65536): 16 bits keep a GPU thread's
	 * stack small. The cursor on entry to content k is kept only for the
	 * current k: a backtrack recomputes it from the latest positive content
	 * before k (the end of its match: next - 1 + len), 0 when there is none.
	 */
	uint16_t next[NIDS_MAX_CONTENTS]; /* next start to try for content k */
	uint16_t cur = 0;                 /* cursor on entry to content k */
	uint32_t budget = NIDS_VERIFY_BUDGET;
	int32_t n = r->ncontents, k = 0, L = (int32_t)len;

	if (n > NIDS_MAX_CONTENTS || len > 65535)
		return 0;
	next[0] = 0;
	while (k < n) {
		const struct nids_content *c = &cs[k];
		const uint8_t *pat = NF_AT(st, c->bytes, const uint8_t *);
		int32_t ws, we, p;
		int ok;

		nids_window(c, cur, L, &ws, &we);
		if ((int32_t)next[k] > ws)
			ws = next[k];
		p = nids_find(buf, ws, we, pat, c->len, c->flags & NIDS_CF_NOCASE, &budget);
		if (p == -2)
			return -1;
		if (c->flags & NIDS_CF_NEGATED) {
			ok = p < 0;
		} else {
			ok = p >= 0;
			next[k] = (uint16_t)(p + 1);
			if (ok)
				cur = (uint16_t)(p + (int32_t)c->len);
		}
		if (ok) {
			k++;
			if (k < n)
				next[k] = 0;
			continue;
		}
		/* Backtrack to the latest positive content: it tries its next occurrence. */
		k--;
		while (k >= 0 && (cs[k].flags & NIDS_CF_NEGATED))
			k--;
		if (k < 0)
			return 0;
		int32_t j = k - 1;
		while (j >= 0 && (cs[j].flags & NIDS_CF_NEGATED))
			j--;
		cur = j < 0 ? 0 : (uint16_t)(next[j] - 1 + cs[j].len);
	}
	return 1;
}

NF_FN uint32_t nids_ctz64(uint64_t b)
{
#if defined(__CUDA_ARCH__)
	return (uint32_t)(__ffsll((long long)b) - 1);
#else
	return (uint32_t)__builtin_ctzll(b);
#endif
}

/*
 * Per-packet match state, small enough for a GPU thread's registers and a few
 * hundred bytes of stack (a bitmap of every pattern was 2 KiB, zeroed per packet).
 * List mode: the distinct patterns seen, in the order found, each with its
 * NIDS_OUT_TRIG flag; almost every packet holds a handful. A packet with more
 * than NIDS_SEEN_LIST is scanned again once per range of NIDS_RANGE pattern ids
 * (range mode: a bitmap of that range), so that every trigger seen is taken
 * exactly once; a rule's other indexed contents outside the range then count as
 * seen (they are a prefilter: verification checks every content).
 */
struct nids_scan {
	union {
		uint16_t list[NIDS_SEEN_LIST];
#if !NIDS_RANGE_SHARED
		uint64_t bits[NIDS_RANGE / 64]; /* range mode (GPU: NIDS_BITS) */
#endif
	} u;
	uint32_t n;      /* list mode: distinct patterns seen (may exceed the list) */
	uint32_t lo, hi; /* range mode: pattern ids [lo, hi); hi == 0 in list mode */
};

NF_FN int nids_seen(const struct nids_scan *sc, uint32_t pat)
{
	if (sc->hi) {
		if (pat < sc->lo || pat >= sc->hi)
			return 1;
		pat -= sc->lo;
		return (int)((NIDS_BITS(sc)[pat >> 6] >> (pat & 63)) & 1);
	}
	NF_NO_UNROLL
	for (uint32_t k = 0; k < sc->n && k < NIDS_SEEN_LIST; k++)
		if ((sc->u.list[k] & ~NIDS_OUT_TRIG) == pat)
			return 1;
	return 0;
}

/* Note the patterns that output state s (>= out_min) reports. */
NF_FN void nids_outputs(const struct nf_nids *st, struct nids_scan *sc, uint32_t s)
{
	const uint32_t *of = NF_AT(st, st->out_off, const uint32_t *);
	const uint16_t *op = NF_AT(st, st->out_pat_off, const uint16_t *);
	uint32_t o = s - st->out_min;
	for (uint32_t j = of[o]; j < of[o + 1]; j++) {
		uint32_t e = op[j], pat = e & ~NIDS_OUT_TRIG;
		if (sc->hi) {
			if (pat >= sc->lo && pat < sc->hi)
				NIDS_BITS(sc)[(pat - sc->lo) >> 6] |= 1ull << ((pat - sc->lo) & 63);
			continue;
		}
		if (sc->n > NIDS_SEEN_LIST || nids_seen(sc, pat))
			continue;
		if (sc->n < NIDS_SEEN_LIST)
			sc->u.list[sc->n] = (uint16_t)e;
		sc->n++;
	}
}

/*
 * Scan buf[0, len) and note every indexed pattern that occurs. A payload is cut in
 * nl lanes stepped in one loop, so that their table loads overlap instead of each
 * waiting for the previous one; lane k reports matches ending in [k * part,
 * (k + 1) * part) after a warm-up over the pattern_max - 1 bytes before it: the DFA
 * state at position e is the longest suffix of buf[..e] that is a trie path, at
 * most pattern_max bytes, so it starts inside the warm-up at the earliest and the
 * lane reaches the same state as one scan from 0 would. Matches ending inside a
 * warm-up are lane k - 1's.
 */
NF_FN uint32_t nids_scan_lanes(const struct nf_nids *st, struct nids_scan *sc, const uint8_t *buf, uint32_t len,
			       const uint32_t nl)
{
	const uint16_t *dfa = NF_AT(st, st->dfa_off, const uint16_t *);
	const uint8_t *cls = nids_classes(st);
	uint32_t nc = st->nclasses, omin = st->out_min;
	uint32_t part = len / nl, warm = st->pattern_max - 1;
	uint32_t s[NIDS_LANES];

	for (uint32_t k = 0; k < nl; k++)
		s[k] = 0;
	for (uint32_t n = 0; n < warm; n++)
		for (uint32_t k = 1; k < nl; k++)
			s[k] = dfa[s[k] * nc + cls[buf[k * part - warm + n]]];
	for (uint32_t n = 0; n < part; n++) {
		for (uint32_t k = 0; k < nl; k++)
			s[k] = dfa[s[k] * nc + cls[buf[k * part + n]]];
		for (uint32_t k = 0; k < nl; k++)
			if (s[k] >= omin)
				nids_outputs(st, sc, s[k]);
	}
	/* The last lane goes on over the remainder. */
	uint32_t s0 = s[nl - 1];
	for (uint32_t i = nl * part; i < len; i++) {
		s0 = dfa[s0 * nc + cls[buf[i]]];
		if (s0 >= omin)
			nids_outputs(st, sc, s0);
	}
	return s0;
}

NF_FN void nids_scan_payload(const struct nf_nids *st, struct nids_scan *sc, const uint8_t *buf, uint32_t len)
{
	/* A lane shorter than twice its warm-up saves little. */
	uint32_t w2 = 2 * st->pattern_max;
	if (len >= NIDS_LANES * w2)
		nids_scan_lanes(st, sc, buf, len, NIDS_LANES);
#if NIDS_LANES > 4
	else if (len >= 4 * w2)
		nids_scan_lanes(st, sc, buf, len, 4);
#endif
	else if (len >= 2 * w2)
		nids_scan_lanes(st, sc, buf, len, 2);
	else
		nids_scan_lanes(st, sc, buf, len, 1);
}

/* Record a firing of rule ri on packet v in the alert ring, or count it lost when the ring is full. */
NF_FN void nids_event(struct nf_nids *st, const struct nids_view *v, uint32_t ri)
{
	struct nids_ring *r = NF_AT(st, st->ring_off, struct nids_ring *);
	uint64_t h = NF_ATOMIC_LOAD64(&r->head);

	for (;;) {
		if (h - NF_ATOMIC_LOAD64(&r->tail) >= r->size) {
			NF_COUNT(&st->hdr, NIDS_C_EVENTS_LOST);
			return;
		}
		uint64_t o = NF_ATOMIC_CAS64(&r->head, h, h + 1);
		if (o == h)
			break;
		h = o;
	}
	struct nids_alert *a = NF_AT(st, r->recs_off, struct nids_alert *) + (h & (r->size - 1));
	a->ts = v->now;
	a->rule = ri;
	a->src = v->saddr;
	a->dst = v->daddr;
	a->sport = v->sport;
	a->dport = v->dport;
	a->proto = v->proto;
	a->chain = (uint8_t)v->chain;
	a->pad = 0;
	NF_STORE32_RELEASE(&a->seq, (uint32_t)(h + 1));
}

/*
 * Rule ri: header (unless the caller knows it matches), then contents. Returns 1
 * when it fires (counted, and an event when the NF keeps them).
 */
NF_FN uint32_t nids_check_rule(struct nf_nids *st, const struct nids_view *v, uint32_t ri, int hdr_known)
{
	const struct nids_rule *r = NF_AT(st, st->rules_off, const struct nids_rule *) + ri;
	if (!hdr_known && !nids_header_match(st, r, v))
		return 0;
	int m = r->proto ? nids_verify(st, r, nids_l4(v), v->l4_len) : nids_verify(st, r, v->l3, v->l3_len);
	if (m < 0)
		NF_COUNT(&st->hdr, NIDS_C_VERIFY_ABORTED);
	if (m <= 0)
		return 0;
	NF_COUNT_ADD(NF_AT(st, st->alerts_off, uint64_t *) + ri, 1);
	if (st->ring_off)
		nids_event(st, v, ri);
	return 1;
}

/*
 * The rules triggered by pattern pat: those whose other indexed contents were
 * seen too. The tables are found from the blob's offsets where they are used,
 * not held as pointers through each rule's check (on the GPU, registers).
 */
NF_FN uint32_t nids_check_trigger(struct nf_nids *st, const struct nids_scan *sc, const struct nids_view *v,
				  uint32_t pat)
{
	const uint32_t *tf = NF_AT(st, st->trig_off, const uint32_t *);
	uint32_t fired = 0, t1 = tf[pat + 1];

	for (uint32_t t = tf[pat]; t < t1; t++) {
		uint32_t ri = NF_AT(st, st->trig_rules_off, const uint32_t *)[t];
		const struct nids_rule *r = NF_AT(st, st->rules_off, const struct nids_rule *) + ri;
		if (r->proto && (r->proto != v->proto || !v->has_l4))
			continue;
		const uint16_t *need = NF_AT(st, st->need_off, const uint16_t *) + r->need;
		uint32_t k = 0, nn = r->nneed;
		for (; k < nn; k++)
			if (!nids_seen(sc, need[k]))
				break;
		if (k == nn)
			fired += nids_check_rule(st, v, ri, 0);
	}
	return fired;
}

NF_FN int nids_port_has_keys(const struct nf_nids *st, uint16_t port)
{
	return (int)((NF_AT(st, st->port_bits_off, const uint32_t *)[port >> 5] >> (port & 31)) & 1);
}

/*
 * Whether the port-keyed checks use hdr_any. The host does (nids alone and the
 * paper chain on 16 cores: +3 to +5 %); the GPU does not: its spill stores grew
 * 310 -> 346 bytes with it, and the H200 measured no gain (RESULTS.md).
 */
#ifndef NIDS_HDR_ANY
#if defined(__CUDA_ARCH__)
#define NIDS_HDR_ANY 0
#else
#define NIDS_HDR_ANY 1
#endif
#endif

/*
 * A key whose rule cannot fire on v: another protocol, too short an L4 payload
 * for the rule's first content, or the wrong byte where that content must start
 * (or, NIDS_AT_SCAN, its first byte nowhere in the payload). Each is a test the
 * rule's own check would fail without counting anything (the header's protocol;
 * a first content with no position left, or whose first byte no position
 * offers, which verification gives up on without a budget-sized search), so
 * skipping changes no verdict or counter. *scan caches the last NIDS_AT_SCAN
 * answer for this packet: (byte | fold << 8) << 1 | found, -1 when none.
 */
NF_FN int nids_key_skip(const struct nids_port_key *k, const struct nids_view *v, int32_t *scan)
{
	if (k->proto != v->proto || v->l4_len < k->need_len)
		return 1;
	if (k->at == NIDS_AT_ANY)
		return 0;
	if (k->at == NIDS_AT_SCAN) {
#if defined(__CUDA_ARCH__)
		return 0;
#else
		int32_t q = (int32_t)(k->at_byte | (uint32_t)k->at_fold << 8);
		if (*scan < 0 || (*scan >> 1) != q) {
			/* The byte as a one-byte pattern: inside the budget for any IPv4 payload. */
			uint32_t budget = NIDS_VERIFY_BUDGET;
			*scan = q << 1 | (nids_find(nids_l4(v), 0, (int32_t)v->l4_len, &k->at_byte, 1, k->at_fold, &budget) >= 0);
		}
		return !(*scan & 1);
#endif
	}
	uint8_t b = nids_l4(v)[k->at];
	return (k->at_fold ? nids_fold(b) : b) != k->at_byte;
}

/*
 * Short rules keyed on port. When other (the packet's other port, second lookup)
 * is also among a rule's keys, the first lookup took the rule already: skip it.
 */
NF_FN uint32_t nids_check_port(struct nf_nids *st, const struct nids_view *v, uint16_t port, int second,
			       uint16_t other)
{
	const struct nids_rule *rules = NF_AT(st, st->rules_off, const struct nids_rule *);
	const struct nids_port_key *key = NF_AT(st, st->keys_off, const struct nids_port_key *);
	uint32_t lo = 0, hi = st->nkeys, fired = 0;

	if (st->port_idx_off) {
		/*
		 * Most ports have no keys: an 8 KiB bitmap (cache-resident) says so
		 * before the 256 KiB index is touched. Then one load for where the
		 * port's keys start (a binary search is ~12 dependent loads).
		 */
		if (!nids_port_has_keys(st, port))
			return 0;
		lo = NF_AT(st, st->port_idx_off, const uint32_t *)[port];
	} else {
		while (lo < hi) {
			uint32_t mid = (lo + hi) >> 1;
			if (key[mid].port < port)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	int32_t scan = -1;
	for (; lo < st->nkeys && key[lo].port == port; lo++) {
		if (nids_key_skip(&key[lo], v, &scan))
			continue;
		const struct nids_rule *r = &rules[key[lo].rule];
		if (second && nids_port_match(st, key[lo].side ? &r->sport : &r->dport, other))
			continue;
		/* The first lookup is by source port: a key on the rule's source list (side 1) is its whole header. */
		fired += nids_check_rule(st, v, key[lo].rule, NIDS_HDR_ANY && key[lo].hdr_any && key[lo].side == !second);
	}
	return fired;
}

/* The GPU checks port-keyed rules warp-cooperatively (1) or one lane per packet (0). */
#ifndef NIDS_WARP_PORTS
#define NIDS_WARP_PORTS 1
#endif

#if defined(__CUDA_ARCH__)
/*
 * Lane L's packet view, for the lanes of mask m (all of which call this), on
 * a warp whose packets share chain and now (the batch's): those are the
 * caller's own, which keeps two fewer copies live through the rule checks.
 * Lengths (an IPv4 payload's fit in 16 bits), ports, protocol and has_l4
 * travel packed two to a word: the caller's loop then keeps the packed words
 * of its own view, not the fields (each a register held through every rule
 * check, where the agents run out of registers).
 */
static __device__ __forceinline__ void nids_view_of_lane(unsigned int m, const struct nids_view *v, int L,
							 struct nids_view *w)
{
	w->l3 = (const uint8_t *)__shfl_sync(m, (unsigned long long)(uintptr_t)v->l3, L);
	uint32_t lens = __shfl_sync(m, v->l3_len << 16 | v->l4_len, L);
	w->saddr = __shfl_sync(m, v->saddr, L);
	w->daddr = __shfl_sync(m, v->daddr, L);
	uint32_t ports = __shfl_sync(m, (uint32_t)v->sport << 16 | v->dport, L);
	uint32_t proto = __shfl_sync(m, (uint32_t)v->proto << 8 | v->has_l4, L);
	w->l3_len = lens >> 16;
	w->l4_len = lens & 0xffff;
	w->sport = (uint16_t)(ports >> 16);
	w->dport = (uint16_t)ports;
	w->proto = (uint8_t)(proto >> 8);
	w->has_l4 = (uint8_t)proto;
	w->chain = v->chain;
	w->now = v->now;
}

/* Whether the packets of the lanes of m share chain and now (the agents run one batch per launch: always). */
static __device__ __forceinline__ int nids_warp_same_batch(unsigned int m, const struct nids_view *v)
{
	int L = __ffs(m) - 1;

	return __all_sync(m, v->chain == __shfl_sync(m, v->chain, L) &&
				     v->now == __shfl_sync(m, (unsigned long long)v->now, L));
}

/* The keys of port in the index: how many, the first at *k0 (0 and 0 when the bitmap has none). */
static __device__ __forceinline__ uint32_t nids_port_keys(const struct nf_nids *st, uint16_t port, uint32_t *k0)
{
	const uint32_t *idx = NF_AT(st, st->port_idx_off, const uint32_t *);

	*k0 = 0;
	if (!nids_port_has_keys(st, port))
		return 0;
	*k0 = idx[port];
	return idx[port + 1] - *k0;
}

/*
 * The port-keyed short rules of a warp's packets, spread over its lanes: one
 * packet at a time, its keyed rules (source port's, then destination port's) go
 * round the active lanes, and the firings are summed back to the packet's lane.
 * A lane whose port keys many rules no longer keeps the other 31 idle. The rules
 * checked, their counters and each packet's firings are those of the one-lane
 * loop (nids_check_port), which the cpu runs. Every active lane calls this;
 * has_ports says whether the lane's packet is tcp or udp with an L4 header.
 * m is the active lanes' mask; their packets must share chain and now
 * (nids_view_of_lane).
 */
static __device__ __forceinline__ uint32_t nids_check_ports_warp(struct nf_nids *st, unsigned int m,
								 const struct nids_view *v, int has_ports)
{
	uint32_t lane = threadIdx.x & 31, rank = __popc(m & ((1u << lane) - 1)), nact = __popc(m);
	uint32_t k0, mine = 0;
	int want = has_ports && (nids_port_keys(st, v->sport, &k0) || nids_port_keys(st, v->dport, &k0));

	for (unsigned int work = __ballot_sync(m, want); work; work &= work - 1) {
		int L = __ffs(work) - 1;
		struct nids_view w;
		nids_view_of_lane(m, v, L, &w);
		/*
		 * Lane L's keys, looked up again (the lines the ballot's lookup just
		 * read): four words held through the loop took stack in every agent.
		 */
		uint32_t la0, lb0, n1 = nids_port_keys(st, w.sport, &la0);
		uint32_t n = n1 + nids_port_keys(st, w.dport, &lb0);
		uint32_t f = 0;
		for (uint32_t j = rank; j < n; j += nact) {
			uint32_t k = j < n1 ? la0 + j : lb0 + (j - n1);
			struct nids_port_key key = NF_AT(st, st->keys_off, const struct nids_port_key *)[k];
			int32_t scan = -1;
			if (nids_key_skip(&key, &w, &scan))
				continue;
			const struct nids_rule *r = NF_AT(st, st->rules_off, const struct nids_rule *) + key.rule;
			/* The second lookup skips rules the first one took (their keyed side admits the source port too). */
			if (j >= n1 && nids_port_match(st, key.side ? &r->sport : &r->dport, w.sport))
				continue;
			f += nids_check_rule(st, &w, key.rule, NIDS_HDR_ANY && key.hdr_any && key.side == (j < n1));
		}
#if __CUDA_ARCH__ >= 800
		f = __reduce_add_sync(m, f);
#else
		uint32_t sum = 0;
		for (unsigned int b = m; b; b &= b - 1)
			sum += __shfl_sync(m, f, __ffs(b) - 1);
		f = sum;
#endif
		if ((int)lane == L)
			mine = f;
	}
	return mine;
}
#endif

/* Range mode: the first pattern id >= from in [sc->lo, sc->hi) that was seen, else sc->hi. */
NF_FN uint32_t nids_next_seen(const struct nids_scan *sc, uint32_t from)
{
	for (uint32_t x = from - sc->lo; x < NIDS_RANGE; x = (x | 63) + 1) {
		uint64_t b = NIDS_BITS(sc)[x >> 6] >> (x & 63);
		if (b)
			return sc->lo + x + nids_ctz64(b);
	}
	return sc->hi;
}

/* Payloads with more distinct patterns than the list holds: one scan per range of pattern ids. */
NF_FN uint32_t nids_scan_ranges(struct nf_nids *st, struct nids_scan *sc, const struct nids_view *v)
{
	const uint32_t *tf = NF_AT(st, st->trig_off, const uint32_t *);
	uint32_t fired = 0;

	for (uint32_t lo = 0; lo < st->npatterns; lo += NIDS_RANGE) {
		sc->lo = lo;
		sc->hi = lo + NIDS_RANGE;
		for (uint32_t w = 0; w < NIDS_RANGE / 64; w++)
			NIDS_BITS(sc)[w] = 0;
		nids_scan_payload(st, sc, v->l3, v->l3_len);
		/* The seen patterns in id order; only the id is held through a trigger's rules. */
		for (uint32_t pat = nids_next_seen(sc, lo); pat < sc->hi; pat = nids_next_seen(sc, pat + 1))
			if (pat < st->npatterns && tf[pat] != tf[pat + 1])
				fired += nids_check_trigger(st, sc, v, pat);
	}
	return fired;
}

/*
 * The NF on one packet; pre, when not NULL, is the scan of the packet's IP
 * payload done already (the host's batch path scans several packets at once),
 * else the packet is scanned here.
 */
NF_FN int nids_run_scanned(struct nf_nids *st, struct nf_pkt *p, const struct nids_scan *pre)
{
	struct nids_view v;
	struct nids_scan sc;
	uint32_t fired = 0;

	NF_COUNT(&st->hdr, NIDS_C_PACKETS);
	if (!nids_view_init(p, &v)) {
		NF_COUNT(&st->hdr, NIDS_C_NOT_INSPECTED);
		return NF_PASS;
	}
	NF_COUNT(&st->hdr, NIDS_C_INSPECTED);
	if (!v.has_l4)
		NF_COUNT(&st->hdr, NIDS_C_NO_L4);

	sc.n = 0;
	sc.lo = sc.hi = 0;
	/* One scan over the IP payload serves ip rules and (its suffix) L4 rules. */
	if (pre)
		sc = *pre;
	else
		nids_scan_payload(st, &sc, v.l3, v.l3_len);
	if (sc.n <= NIDS_SEEN_LIST) {
		for (uint32_t t = 0; t < sc.n; t++)
			if (sc.u.list[t] & NIDS_OUT_TRIG)
				fired += nids_check_trigger(st, &sc, &v, sc.u.list[t] & ~NIDS_OUT_TRIG);
	} else {
#if NIDS_RANGE_SHARED
		nids_range_lock();
		fired += nids_scan_ranges(st, &sc, &v);
		nids_range_unlock();
#else
		fired += nids_scan_ranges(st, &sc, &v);
#endif
	}
	/* Short rules: a port key narrows them down; keyed rules are tcp or udp. */
	int has_ports = v.has_l4 && (v.proto == NF_IPPROTO_TCP || v.proto == NF_IPPROTO_UDP);
#if defined(__CUDA_ARCH__)
	unsigned int act = __activemask();
	if (NIDS_WARP_PORTS && st->nkeys && st->port_idx_off && nids_warp_same_batch(act, &v))
		fired += nids_check_ports_warp(st, act, &v, has_ports);
	else
#endif
	if (st->nkeys && has_ports) {
		fired += nids_check_port(st, &v, v.sport, 0, 0);
		fired += nids_check_port(st, &v, v.dport, 1, v.sport);
	}
	if (!fired)
		return NF_PASS;
	NF_COUNT_ADD(&NF_COUNTERS(&st->hdr)[NIDS_C_ALERTS], fired);
	NF_COUNT(&st->hdr, NIDS_C_ALERT_PACKETS);
	if (st->action == NIDS_ACT_DROP) {
		NF_COUNT(&st->hdr, NIDS_C_DROPPED);
		return NF_DROP;
	}
	return NF_PASS;
}

NF_FN int nf_nids_run(void *state, struct nf_pkt *p)
{
	return nids_run_scanned((struct nf_nids *)state, p, NULL);
}

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
/* Packets whose scans the host runs side by side. */
#define NIDS_GROUP 8

/* Output states a group scan notes before it hands them to nids_outputs. */
#define NIDS_GROUP_EV 256

/* The noted output states in the order they were reached: (packet << 16) | state. */
static inline __attribute__((unused)) void nids_group_flush(const struct nf_nids *st, struct nids_scan *sc,
							    const uint32_t *ev, uint32_t ne)
{
	for (uint32_t e = 0; e < ne; e++)
		nids_outputs(st, &sc[ev[e] >> 16], ev[e] & 0xffff);
}

/*
 * The one-lane scans (nids_scan_lanes with nl = 1) of up to NIDS_GROUP
 * payloads in one loop: each DFA step waits for the table load of the step
 * before, and a 64-byte packet's 30-byte payload is too short for lanes of
 * its own, so the steps of several packets fill each other's waits. An
 * output state is only noted in the step (a store and an add, no branch) and
 * handed to nids_outputs every few steps: a call in the step made the
 * compiler keep the eight states in memory, and each step then waited for a
 * store and a reload on top of the table load. Each packet's outputs still
 * reach nids_outputs in the order its own scan finds them. While every
 * packet has bytes left the step needs no length checks.
 */
/* Packet k's DFA step at byte i, its state noted when it has outputs; then room for the next step's notes. */
#define NIDS_GROUP_STEP(k)                                                                         \
	do {                                                                                       \
		s[k] = dfa[s[k] * nc + cls[buf[k][i]]];                                            \
		ev[ne] = ((k) << 16) | s[k];                                                       \
		ne += s[k] >= omin;                                                                \
	} while (0)
#define NIDS_GROUP_FLUSH_FULL()                                                                    \
	do {                                                                                       \
		if (ne > NIDS_GROUP_EV - NIDS_GROUP) {                                             \
			nids_group_flush(st, sc, ev, ne);                                          \
			ne = 0;                                                                    \
		}                                                                                  \
	} while (0)
static inline __attribute__((unused)) void nids_scan_group(const struct nf_nids *st, struct nids_scan *sc,
							   const uint8_t *const *buf, const uint32_t *len,
							   uint32_t n, uint32_t maxlen)
{
	const uint16_t *dfa = NF_AT(st, st->dfa_off, const uint16_t *);
	const uint8_t *cls = st->class_of;
	uint32_t nc = st->nclasses, omin = st->out_min;
	uint32_t s[NIDS_GROUP], ev[NIDS_GROUP_EV], ne = 0, minlen = maxlen, i = 0;

	for (uint32_t k = 0; k < NIDS_GROUP; k++)
		s[k] = 0;
	for (uint32_t k = 0; k < n; k++)
		minlen = len[k] < minlen ? len[k] : minlen;
	if (n == NIDS_GROUP) {
		for (; i < minlen; i++) {
#pragma GCC unroll 8
			for (uint32_t k = 0; k < NIDS_GROUP; k++)
				NIDS_GROUP_STEP(k);
			NIDS_GROUP_FLUSH_FULL();
		}
	}
	for (; i < maxlen; i++) {
		for (uint32_t k = 0; k < n; k++)
			if (i < len[k])
				NIDS_GROUP_STEP(k);
		NIDS_GROUP_FLUSH_FULL();
	}
	nids_group_flush(st, sc, ev, ne);
}
#undef NIDS_GROUP_STEP
#undef NIDS_GROUP_FLUSH_FULL

/*
 * The cpu backend's entry: nf_nids_run on packets pk[0, n), verdicts into v,
 * the same verdicts and counters. Payloads short enough for a one-lane scan
 * are scanned NIDS_GROUP at a time (nids_scan_group); longer ones already
 * overlap their own lanes and are scanned by nids_run_scanned itself.
 */
static inline __attribute__((unused)) void nf_nids_run_batch(void *state, struct nf_pkt *const *pk, int *v,
							     uint32_t n)
{
	struct nf_nids *st = (struct nf_nids *)state;

	for (uint32_t b = 0; b < n; b += NIDS_GROUP) {
		uint32_t g = n - b < NIDS_GROUP ? n - b : NIDS_GROUP, m = 0, maxlen = 0;
		struct nids_scan sc[NIDS_GROUP];
		const struct nids_scan *pre[NIDS_GROUP];
		const uint8_t *buf[NIDS_GROUP];
		uint32_t len[NIDS_GROUP];

		for (uint32_t k = 0; k < g; k++) {
			struct nids_view vw;
			pre[k] = NULL;
			/* nids_scan_payload scans these with one lane. */
			if (!nids_view_init(pk[b + k], &vw) || vw.l3_len >= 4 * st->pattern_max)
				continue;
			sc[m].n = 0;
			sc[m].lo = sc[m].hi = 0;
			buf[m] = vw.l3;
			len[m] = vw.l3_len;
			maxlen = vw.l3_len > maxlen ? vw.l3_len : maxlen;
			pre[k] = &sc[m++];
		}
		if (m)
			nids_scan_group(st, sc, buf, len, m, maxlen);
		for (uint32_t k = 0; k < g; k++)
			v[b + k] = nids_run_scanned(st, pk[b + k], pre[k]);
	}
}
#endif

#endif
