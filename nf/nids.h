/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nids: signature matching on Snort rules.
 *
 * Per packet: locate the IPv4 payload and (when the header is complete) the L4
 * payload, run one Aho-Corasick scan over the case-folded IP payload, and for each
 * anchor pattern seen (the one content per rule that the automaton indexes) verify
 * the rules anchored on it: header (proto, addresses, ports, direction) and then
 * every content with its positional modifiers, by a backtracking search over the
 * rule's payload. A rule fires at most once per packet; its counter is bumped.
 * action=alert passes every packet, action=drop drops a packet that fired a rule.
 *
 * Automaton layout (why: a 256-wide uint32 DFA row per state costs 1 KiB a state,
 * tens of MiB for the community rules, far beyond any cache): bytes are first
 * mapped to classes (case folded; every byte that no pattern uses shares class 0),
 * states up to NIDS_DENSE_DEPTH get a dense row of fully resolved transitions
 * (the root and its children carry nearly all the traffic), deeper states keep
 * only their trie edges, sorted, packed (next << 8 | class), plus a failure link.
 * See nf/nids.md for the figures.
 *
 * The state is one blob: struct nf_nids followed by the tables it names by offset.
 */
#ifndef GEN_NF_NIDS_H
#define GEN_NF_NIDS_H

#include "nf.h"

#define NIDS_MAX_CONTENTS 32
#define NIDS_DENSE_DEPTH 2
/* Distinct anchor patterns at most: one bit each per packet ("seen"), on the stack. */
#define NIDS_MAX_PATTERNS 16384
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
};

/*
 * One automaton state. Dense states: trans is the index of their row in the
 * dense table (row * nclasses). Sparse states: trans is the first of nedges
 * packed edges (next << 8 | class), sorted by class.
 */
struct nids_state {
	uint32_t fail;
	uint32_t trans;
	uint16_t nedges;
	uint16_t dense;
	uint16_t pattern; /* ordinal of the anchor pattern ending here (when nanchor) */
	uint16_t nanchor; /* rules anchored on the pattern spelled by this state */
	uint32_t anchor;  /* index of the first in the anchors table */
	uint32_t dict;    /* nearest suffix state with anchors, or NIDS_NONE */
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
	uint32_t nstates;
	uint32_t nclasses;
	uint32_t ndense;
	uint32_t nedges;
	uint32_t rules_off;    /* struct nids_rule[nrules] */
	uint32_t contents_off; /* struct nids_content[] */
	uint32_t ports_off;    /* struct nids_port_range[] */
	uint32_t addrs_off;    /* struct nids_addr[] */
	uint32_t states_off;   /* struct nids_state[nstates] */
	uint32_t dense_off;    /* uint32_t[ndense * nclasses] */
	uint32_t edges_off;    /* uint32_t[nedges] */
	uint32_t anchors_off;  /* uint32_t rule indexes */
	uint32_t alerts_off;   /* uint64_t[nrules]: firings per rule */
	/* Host-only tail, for reports; the device never reads it. */
	uint32_t info_off;     /* struct nids_rule_info[nrules] */
	uint32_t load_report;  /* offset of struct nids_load_summary + its text */
	uint32_t ac_bytes;     /* bytes of states + dense + edges + anchors */
	uint32_t npatterns;    /* distinct anchor patterns, <= NIDS_MAX_PATTERNS */
	uint8_t class_of[256]; /* byte -> class, case folded */
	uint64_t counters[NIDS_C_MAX];
};
_Static_assert(sizeof(struct nids_spec) == 8, "nids_spec crosses to the GPU");
_Static_assert(sizeof(struct nids_port_range) == 8, "nids_port_range crosses to the GPU");
_Static_assert(sizeof(struct nids_addr) == 12, "nids_addr crosses to the GPU");
_Static_assert(sizeof(struct nids_content) == 24, "nids_content crosses to the GPU");
_Static_assert(sizeof(struct nids_rule) == 44, "nids_rule crosses to the GPU");
_Static_assert(sizeof(struct nids_state) == 24, "nids_state crosses to the GPU");
_Static_assert(sizeof(struct nids_rule_info) == 16, "nids_rule_info is part of the blob");
_Static_assert(sizeof(struct nf_nids) == 16 + 20 * 4 + 256 + 8 * NIDS_C_MAX, "nf_nids crosses to the GPU");

/* What one packet offers the rules. */
struct nids_view {
	const uint8_t *l3; /* IP payload */
	uint32_t l3_len;
	const uint8_t *l4; /* L4 payload, when has_l4 */
	uint32_t l4_len;
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t has_l4;
};

NF_FN uint8_t nids_fold(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

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
	v->proto = ip[9];
	v->sport = v->dport = 0;
	v->l4 = v->l3;
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
	v->l4 = l4 + hl;
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
 */
NF_FN int32_t nids_find(const uint8_t *buf, int32_t from, int32_t end, const uint8_t *pat, uint32_t len,
			int nocase, uint32_t *budget)
{
	for (int32_t p = from; p + (int32_t)len <= end; p++) {
		uint32_t i = 0;
		if (nocase) {
			while (i < len && nids_fold(buf[p + i]) == nids_fold(pat[i]))
				i++;
		} else {
			while (i < len && buf[p + i] == pat[i])
				i++;
		}
		if (i == len)
			return p;
		if (*budget <= i + 1) {
			*budget = 0;
			return -2;
		}
		*budget -= i + 1;
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
	int32_t next[NIDS_MAX_CONTENTS + 1]; /* next start to try for content k */
	int32_t cur[NIDS_MAX_CONTENTS + 1];  /* cursor on entry to content k */
	uint32_t budget = NIDS_VERIFY_BUDGET;
	int32_t n = r->ncontents, k = 0, L = (int32_t)len;

	if (n > NIDS_MAX_CONTENTS)
		return 0;
	next[0] = 0;
	cur[0] = 0;
	while (k < n) {
		const struct nids_content *c = &cs[k];
		const uint8_t *pat = NF_AT(st, c->bytes, const uint8_t *);
		int32_t ws, we, p;
		int ok;

		nids_window(c, cur[k], L, &ws, &we);
		if (next[k] > ws)
			ws = next[k];
		p = nids_find(buf, ws, we, pat, c->len, c->flags & NIDS_CF_NOCASE, &budget);
		if (p == -2)
			return -1;
		if (c->flags & NIDS_CF_NEGATED) {
			ok = p < 0;
			cur[k + 1] = cur[k];
		} else {
			ok = p >= 0;
			next[k] = p + 1;
			cur[k + 1] = p + (int32_t)c->len;
		}
		if (ok) {
			k++;
			next[k] = 0;
			continue;
		}
		/* Backtrack to the latest positive content: it tries its next occurrence. */
		k--;
		while (k >= 0 && (cs[k].flags & NIDS_CF_NEGATED))
			k--;
		if (k < 0)
			return 0;
	}
	return 1;
}

/* One automaton step from state s on byte class c. */
NF_FN uint32_t nids_step(const struct nf_nids *st, const struct nids_state *S, const uint32_t *dense,
			 const uint32_t *edges, uint32_t s, uint32_t c)
{
	for (;;) {
		const struct nids_state *x = &S[s];
		if (x->dense)
			return dense[x->trans + c];
		/* Sparse: edges sorted by class; binary search. */
		uint32_t lo = x->trans, hi = x->trans + x->nedges;
		while (lo < hi) {
			uint32_t mid = (lo + hi) >> 1;
			uint32_t ec = edges[mid] & 0xff;
			if (ec == c)
				return edges[mid] >> 8;
			if (ec < c)
				lo = mid + 1;
			else
				hi = mid;
		}
		s = x->fail;
	}
}

NF_FN int nf_nids_run(void *state, struct nf_pkt *p)
{
	struct nf_nids *st = (struct nf_nids *)state;
	struct nids_view v;
	const struct nids_state *S = NF_AT(st, st->states_off, const struct nids_state *);
	const uint32_t *dense = NF_AT(st, st->dense_off, const uint32_t *);
	const uint32_t *edges = NF_AT(st, st->edges_off, const uint32_t *);
	const uint32_t *anchors = NF_AT(st, st->anchors_off, const uint32_t *);
	const struct nids_rule *rules = NF_AT(st, st->rules_off, const struct nids_rule *);
	uint64_t *alerts = NF_AT(st, st->alerts_off, uint64_t *);
	uint64_t seen[NIDS_MAX_PATTERNS / 64];
	uint32_t fired = 0, s = 0;

	NF_COUNT(&st->hdr, NIDS_C_PACKETS);
	if (!nids_view_init(p, &v)) {
		NF_COUNT(&st->hdr, NIDS_C_NOT_INSPECTED);
		return NF_PASS;
	}
	NF_COUNT(&st->hdr, NIDS_C_INSPECTED);
	if (!v.has_l4)
		NF_COUNT(&st->hdr, NIDS_C_NO_L4);

	for (uint32_t w = 0; w < (st->npatterns + 63) / 64; w++)
		seen[w] = 0;
	/* One scan over the IP payload serves ip rules and (its suffix) L4 rules. */
	for (uint32_t i = 0; i < v.l3_len; i++) {
		s = nids_step(st, S, dense, edges, s, st->class_of[v.l3[i]]);
		uint32_t o = S[s].nanchor ? s : S[s].dict;
		for (; o != NIDS_NONE; o = S[o].dict) {
			/* Each anchor is handled once per packet: rules verify the whole payload. */
			uint32_t pat = S[o].pattern;
			uint64_t bit = 1ull << (pat & 63);
			if (seen[pat >> 6] & bit)
				continue;
			seen[pat >> 6] |= bit;
			for (uint32_t a = 0; a < S[o].nanchor; a++) {
				uint32_t ri = anchors[S[o].anchor + a];
				const struct nids_rule *r = &rules[ri];
				if (!nids_header_match(st, r, &v))
					continue;
				int m = r->proto ? nids_verify(st, r, v.l4, v.l4_len) : nids_verify(st, r, v.l3, v.l3_len);
				if (m < 0)
					NF_COUNT(&st->hdr, NIDS_C_VERIFY_ABORTED);
				if (m > 0) {
					NF_ATOMIC_ADD64(&alerts[ri], 1);
					fired++;
				}
			}
		}
	}
	if (!fired)
		return NF_PASS;
	NF_ATOMIC_ADD64(&NF_COUNTERS(&st->hdr)[NIDS_C_ALERTS], fired);
	NF_COUNT(&st->hdr, NIDS_C_ALERT_PACKETS);
	if (st->action == NIDS_ACT_DROP) {
		NF_COUNT(&st->hdr, NIDS_C_DROPPED);
		return NF_DROP;
	}
	return NF_PASS;
}

#endif
