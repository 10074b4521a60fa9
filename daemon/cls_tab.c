// SPDX-License-Identifier: GPL-2.0
/*
 * Building the Classification Table (the bit-vector scheme of
 * bpf/classifier.bpf.c) and the host lookup over it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "cls.h"
#include "cls_tab.h"

static void bv_set(struct cls_bitvec *v, int bit)
{
	v->w[bit / 64] |= 1ull << (bit % 64);
}

static uint32_t prefix_mask(uint32_t len)
{
	return len ? ~0u << (32 - len) : 0;
}

static bool prefix_contains(uint32_t net, uint32_t len, uint32_t addr, uint32_t alen)
{
	return len <= alen && ((addr ^ net) & prefix_mask(len)) == 0;
}

struct prefix {
	uint32_t len, net;
};

static int cmp_prefix(const void *a, const void *b)
{
	const struct prefix *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->net < y->net ? -1 : x->net > y->net;
}

/*
 * Every distinct prefix plus /0, each with the vector of rules whose prefix
 * contains it: the longest match of an address is then exactly the set of rules
 * that contain the address.
 */
static int build_lpm(struct cls_tab_lpm *l, const struct cls_rule *rules, int n, bool dst)
{
	struct prefix *p = calloc((size_t)n + 1, sizeof(*p));
	uint32_t np = 0;

	if (!p)
		return -ENOMEM;
	p[np++] = (struct prefix){ 0, 0 };
	for (int i = 0; i < n; i++) {
		uint32_t len = dst ? rules[i].dst_len : rules[i].src_len;

		p[np++] = (struct prefix){ len, (dst ? rules[i].dst : rules[i].src) & prefix_mask(len) };
	}
	qsort(p, np, sizeof(*p), cmp_prefix);
	l->net = calloc(np, sizeof(*l->net));
	l->vec = calloc(np, sizeof(*l->vec));
	if (!l->net || !l->vec) {
		free(p);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < np; k++) {
		if (l->n && p[k].len == p[k - 1].len && p[k].net == p[k - 1].net)
			continue;
		if (!(l->lens & (1ull << p[k].len)))
			l->start[p[k].len] = l->n;
		l->lens |= 1ull << p[k].len;
		l->count[p[k].len]++;
		l->net[l->n] = p[k].net;
		for (int i = 0; i < n; i++) {
			uint32_t il = dst ? rules[i].dst_len : rules[i].src_len;
			uint32_t in = dst ? rules[i].dst : rules[i].src;

			if (prefix_contains(in & prefix_mask(il), il, p[k].net, p[k].len))
				bv_set(&l->vec[l->n], i);
		}
		l->n++;
	}
	free(p);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* A port field: cut 0..65535 at every rule's lo and hi+1 into elementary intervals
 * (no rule boundary inside one), one vector per interval, port -> interval. */
static int build_ports(uint16_t *ival, struct cls_bitvec **ret_vec, uint32_t *ret_n, const struct cls_rule *rules,
		       int n, bool dst)
{
	uint32_t *cuts = malloc((2 * (size_t)n + 1) * sizeof(*cuts));
	struct cls_bitvec *vec = calloc(GEN_CLS_MAX_IVALS, sizeof(*vec));
	uint32_t ncuts = 0, nival = 0;

	if (!cuts || !vec) {
		free(cuts);
		free(vec);
		return -ENOMEM;
	}
	cuts[ncuts++] = 0;
	for (int i = 0; i < n; i++) {
		uint32_t lo = dst ? rules[i].dport_lo : rules[i].sport_lo;
		uint32_t hi = dst ? rules[i].dport_hi : rules[i].sport_hi;

		cuts[ncuts++] = lo;
		if (hi < GEN_CLS_PORTS - 1)
			cuts[ncuts++] = hi + 1;
	}
	qsort(cuts, ncuts, sizeof(*cuts), cmp_u32);
	for (uint32_t i = 0; i < ncuts; i++)
		if (i == 0 || cuts[i] != cuts[nival - 1])
			cuts[nival++] = cuts[i];
	/* cuts[k] is the first port of interval k. */
	for (uint32_t k = 0; k < nival; k++) {
		for (int i = 0; i < n; i++) {
			uint32_t lo = dst ? rules[i].dport_lo : rules[i].sport_lo;
			uint32_t hi = dst ? rules[i].dport_hi : rules[i].sport_hi;

			if (lo <= cuts[k] && cuts[k] <= hi)
				bv_set(&vec[k], i);
		}
	}
	for (uint32_t p = 0, k = 0; p < GEN_CLS_PORTS; p++) {
		while (k + 1 < nival && cuts[k + 1] <= p)
			k++;
		ival[p] = (uint16_t)k;
	}
	free(cuts);
	*ret_vec = vec;
	*ret_n = nival;
	return 0;
}

/* The wildcard (ifindex 0) and one entry per distinct ingress ifindex. */
static int build_inport(struct cls_tab *t, const struct cls_rule *rules, int n)
{
	t->inport = calloc((size_t)n + 1, sizeof(*t->inport));
	if (!t->inport)
		return -ENOMEM;
	for (int p = -1; p < n; p++) {
		uint32_t ifx = p < 0 ? 0 : rules[p].in_ifindex;
		bool seen = p >= 0 && ifx == 0;

		for (int q = 0; q < p && !seen; q++)
			seen = rules[q].in_ifindex == ifx;
		if (seen)
			continue;
		t->inport[t->ninport].ifindex = ifx;
		for (int i = 0; i < n; i++)
			if (rules[i].in_ifindex == 0 || rules[i].in_ifindex == ifx)
				bv_set(&t->inport[t->ninport].v, i);
		t->ninport++;
	}
	return 0;
}

static void build_rules(struct cls_tab *t, const struct cls_rule *rules, int n)
{
	for (int i = 0; i < n; i++) {
		t->rules[i] = (struct cls_rule_val){
			.src_be = htonl(rules[i].src & prefix_mask(rules[i].src_len)),
			.dst_be = htonl(rules[i].dst & prefix_mask(rules[i].dst_len)),
			.src_len = (uint8_t)rules[i].src_len,
			.dst_len = (uint8_t)rules[i].dst_len,
			.proto = rules[i].proto < 0 ? GEN_CLS_PROTO_ANY : (uint16_t)rules[i].proto,
			.sport_lo = rules[i].sport_lo,
			.sport_hi = rules[i].sport_hi,
			.dport_lo = rules[i].dport_lo,
			.dport_hi = rules[i].dport_hi,
			.in_ifindex = rules[i].in_ifindex,
			.chain_id = rules[i].chain_id,
			.priority = (uint32_t)i,
		};
	}
}

struct cls_tab *cls_tab_build(const struct cls_rule *rules, int n)
{
	struct cls_tab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nrules = n;
	t->open = CLS_OPEN_SRC | CLS_OPEN_DST | CLS_OPEN_INPORT | CLS_OPEN_SPORT | CLS_OPEN_DPORT;
	for (int i = 0; i < n; i++) {
		if (rules[i].src_len)
			t->open &= ~(uint32_t)CLS_OPEN_SRC;
		if (rules[i].dst_len)
			t->open &= ~(uint32_t)CLS_OPEN_DST;
		if (rules[i].in_ifindex)
			t->open &= ~(uint32_t)CLS_OPEN_INPORT;
		if (rules[i].sport_lo || rules[i].sport_hi != 65535)
			t->open &= ~(uint32_t)CLS_OPEN_SPORT;
		if (rules[i].dport_lo || rules[i].dport_hi != 65535)
			t->open &= ~(uint32_t)CLS_OPEN_DPORT;
	}
	for (int p = 0; p < GEN_CLS_PROTOS; p++)
		for (int i = 0; i < n; i++)
			if (rules[i].proto < 0 || rules[i].proto == p)
				bv_set(&t->proto[p], i);
	build_rules(t, rules, n);
	if (build_lpm(&t->src, rules, n, false) || build_lpm(&t->dst, rules, n, true) ||
	    build_ports(t->sport_ival, &t->sport_vec, &t->nsport, rules, n, false) ||
	    build_ports(t->dport_ival, &t->dport_vec, &t->ndport, rules, n, true) || build_inport(t, rules, n)) {
		cls_tab_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void cls_tab_free(struct cls_tab *t)
{
	if (!t)
		return;
	free(t->src.net);
	free(t->src.vec);
	free(t->dst.net);
	free(t->dst.vec);
	free(t->sport_vec);
	free(t->dport_vec);
	free(t->inport);
	free(t);
}

/* ---- the host lookup: the accessors cls_lookup.h reads the table through ---- */

/* Longest prefix first; /0 is always present, so an address always finds a vector. */
static inline const struct cls_bitvec *tab_lpm(const struct cls_tab_lpm *l, uint32_t addr_be)
{
	uint32_t addr = ntohl(addr_be);
	uint64_t lens = l->lens;

	while (lens) {
		uint32_t len = 63 - (uint32_t)__builtin_clzll(lens), key = addr & prefix_mask(len);
		uint32_t lo = l->start[len], hi = lo + l->count[len];

		lens &= ~(1ull << len);
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;

			if (l->net[mid] == key)
				return &l->vec[mid];
			if (l->net[mid] < key)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return NULL;
}

static inline const struct cls_bitvec *tab_inport(const struct cls_tab *t, uint32_t ifindex)
{
	const struct cls_bitvec *any = NULL;

	for (uint32_t i = 0; i < t->ninport; i++) {
		if (t->inport[i].ifindex == ifindex)
			return &t->inport[i].v;
		if (t->inport[i].ifindex == 0)
			any = &t->inport[i].v;
	}
	return any;
}

#define CLS_FN static inline
#define CLS_TAB const struct cls_tab *
#define cls_tab_src(t, slot, a) tab_lpm(&(t)->src, a)
#define cls_tab_dst(t, slot, a) tab_lpm(&(t)->dst, a)
#define cls_tab_proto(t, slot, p) (&(t)->proto[p])
#define cls_tab_sport(t, slot, p) (&(t)->sport_vec[(t)->sport_ival[p]])
#define cls_tab_dport(t, slot, p) (&(t)->dport_vec[(t)->dport_ival[p]])
#define cls_tab_inport(t, slot, i) tab_inport(t, i)
#define cls_tab_rule(t, slot, r) (&(t)->rules[r])
/* Frames are only 2-aligned at the IPv4 header: no 4-byte alignment assumed. */
typedef struct iphdr __attribute__((aligned(1))) cls_host_iphdr;
#define CLS_IPHDR cls_host_iphdr
#include "bpf/cls_lookup.h"

enum cls_result cls_tab_classify(const struct cls_tab *t, void *frame, uint32_t len, uint32_t ifindex,
				 struct cls_fields *f, uint32_t *ret_rank, uint32_t *ret_chain)
{
	const struct cls_rule_val *rule = NULL;
	enum cls_result r = cls_lookup(t, 0, t->open, frame, (uint8_t *)frame + len, ifindex, f, ret_rank, &rule);

	if (r == CLS_MATCH)
		*ret_chain = rule->chain_id;
	return r;
}
