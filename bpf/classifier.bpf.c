// SPDX-License-Identifier: GPL-2.0
/*
 * GEN XDP classifier: parse Eth[/802.1Q]/IPv4/L4, find the highest-priority
 * rule of the Classification Table and redirect the frame to the AF_XDP socket
 * of (chain, rx queue).
 *
 * Lookup is the bit-vector scheme: rules sorted by priority own bits 0..N-1.
 * Each header field maps to the 1024-bit vector of rules that admit its value
 * (src, dst: LPM tries; proto: array; sport, dport: port -> elementary
 * interval -> vector; in-port: ifindex -> entry -> vector in two arrays below
 * ifindex 4096, else a hash with a wildcard entry). AND of the six
 * vectors, first set bit = winner. Per packet that is at most 11 map lookups
 * (config, src, dst, proto, 2 x sport, 2 x dport, 2 x in-port, rule; the
 * hash's wildcard fallback is one more) + 16 word ANDs + one ctz, whatever N.
 * The source, destination and in-port lookups (the LPM tries are most of the
 * cost) are skipped where no rule of the table constrains that field
 * (gen_config.open; cls_lookup.h says why the result is the same). Where
 * every address and port is open, the winner of each (in-port, protocol) is
 * precomputed (gen_direct, CLS_DIRECT) and read instead of the vectors.
 *
 * Two table slots: a packet reads gen_config.active once and uses only that
 * slot, so a reload (fill the inactive slot, then flip) is seen whole or not at
 * all.
 *
 * Parse policy: a non-first fragment has no L4 header and is classified with
 * sport = dport = 0. Bad version, IHL < 5, total length below the header or
 * beyond the frame, or an L4 header (TCP 20, UDP 8, ICMP 8 bytes) cut by the
 * frame or by total length count as malformed and then take the unmatched
 * action (pass or drop, gen_config.unmatched_drop). Non-IPv4 frames (ARP, IPv6,
 * a second VLAN tag) take the unmatched path.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "classifier.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cls_config);
} gen_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GEN_CLS_SLOTS * (GEN_CLS_MAX_RULES + 1));
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cls_lpm_key);
	__type(value, struct cls_bitvec);
} gen_src SEC(".maps"), gen_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * GEN_CLS_PROTOS);
	__type(key, __u32);
	__type(value, struct cls_bitvec);
} gen_proto SEC(".maps");

/* mmapable: the loader writes a slot's GEN_CLS_PORTS entries in place. __u64 because
 * array elements are 8-byte strided; the mapping then is a plain __u64[]. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * GEN_CLS_PORTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} gen_sport_ival SEC(".maps"), gen_dport_ival SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * GEN_CLS_MAX_IVALS);
	__type(key, __u32);
	__type(value, struct cls_bitvec);
} gen_sport_vec SEC(".maps"), gen_dport_vec SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GEN_CLS_INPORT_MAX);
	__type(key, struct cls_inport_key);
	__type(value, struct cls_bitvec);
} gen_inport SEC(".maps");

/* The in-ports below GEN_CLS_INPORT_DIRECT: ifindex -> entry (mmapable, written
 * in place like the port intervals; the wildcard's entry where the ifindex has
 * none), entry -> vector. Two array reads, which the verifier inlines, instead
 * of a hash call (about 10 ns a packet where every rule names its in-port). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * GEN_CLS_INPORT_DIRECT);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} gen_inport_ix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * GEN_CLS_INPORT_VECS);
	__type(key, __u32);
	__type(value, struct cls_bitvec);
} gen_inport_vec SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * GEN_CLS_MAX_RULES);
	__type(key, __u32);
	__type(value, struct cls_rule_val);
} gen_rules SEC(".maps");

/* (in-port entry, protocol) -> rank + 1 of the winner, for CLS_DIRECT tables
 * (classifier.h; mmapable, written in place like gen_inport_ix). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * GEN_CLS_DIRECT_ENTRIES * GEN_CLS_PROTOS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} gen_direct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, GEN_MAX_CHAINS * GEN_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} gen_xsks SEC(".maps");

/* enum cls_fail per chain id; set before the chain gets sockets, kept after they go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_MAX_CHAINS);
	__type(key, __u32);
	__type(value, __u32);
} gen_fail SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLS_CNT_MAX);
	__type(key, __u32);
	__type(value, struct cls_counter);
} gen_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cls_last);
} gen_last SEC(".maps");

static __always_inline const struct cls_bitvec *lpm(void *map, __u32 slot, __be32 addr_be)
{
	struct cls_lpm_key k = { .prefixlen = 64, .slot = slot, .addr_be = addr_be };

	return bpf_map_lookup_elem(map, &k);
}

static __always_inline const struct cls_bitvec *port_vec(void *ival_map, void *vec_map, __u32 slot, __u16 port)
{
	__u32 idx = slot * GEN_CLS_PORTS + port;
	__u64 *ival = bpf_map_lookup_elem(ival_map, &idx);

	if (!ival)
		return NULL;
	idx = slot * GEN_CLS_MAX_IVALS + (__u32)*ival;
	return bpf_map_lookup_elem(vec_map, &idx);
}

/* An in-port's entry below GEN_CLS_INPORT_DIRECT (the wildcard's where it has none of its own). */
static __always_inline const __u64 *inport_entry(__u32 slot, __u32 ifindex)
{
	__u32 idx = slot * GEN_CLS_INPORT_DIRECT + ifindex;

	return bpf_map_lookup_elem(&gen_inport_ix, &idx);
}

static __always_inline const struct cls_bitvec *inport_vec(__u32 slot, __u32 ifindex)
{
	struct cls_inport_key k = { .slot = slot, .ifindex = ifindex };
	const struct cls_bitvec *v;

	if (ifindex < GEN_CLS_INPORT_DIRECT) {
		const __u64 *ix = inport_entry(slot, ifindex);
		__u32 idx;

		if (!ix)
			return NULL;
		idx = slot * GEN_CLS_INPORT_VECS + (__u32)*ix;
		v = bpf_map_lookup_elem(&gen_inport_vec, &idx);
		/*
		 * Keeps this call apart from the hash's below: clang merged the two
		 * into one call site, whose map then differs by path, and the
		 * verifier inlines an array lookup only where its map is one (the
		 * merged call cost 8 ns more than the hash alone, gen-cls-speed).
		 */
		asm volatile("" : "+r"(v));
		return v;
	}
	v = bpf_map_lookup_elem(&gen_inport, &k);

	if (v)
		return v;
	k.ifindex = 0;
	return bpf_map_lookup_elem(&gen_inport, &k);
}

static __always_inline const struct cls_bitvec *proto_vec(__u32 slot, __u8 proto)
{
	__u32 idx = slot * GEN_CLS_PROTOS + proto;

	return bpf_map_lookup_elem(&gen_proto, &idx);
}

static __always_inline const struct cls_rule_val *rule_val(__u32 slot, __u32 rank)
{
	__u32 idx = slot * GEN_CLS_MAX_RULES + rank;

	return bpf_map_lookup_elem(&gen_rules, &idx);
}

/* The winner of a CLS_DIRECT table for an in-port below GEN_CLS_INPORT_DIRECT with an entry that has a row. */
static __always_inline __u32 direct_rank(__u32 slot, __u32 ifindex, __u8 proto)
{
	const __u64 *ix, *d;
	__u32 idx;

	if (ifindex >= GEN_CLS_INPORT_DIRECT)
		return CLS_DIRECT_NONE;
	ix = inport_entry(slot, ifindex);
	if (!ix || *ix >= GEN_CLS_DIRECT_ENTRIES)
		return CLS_DIRECT_NONE;
	idx = (slot * GEN_CLS_DIRECT_ENTRIES + (__u32)*ix) * GEN_CLS_PROTOS + proto;
	d = bpf_map_lookup_elem(&gen_direct, &idx);
	return d ? (__u32)*d : CLS_DIRECT_NONE;
}

/* The tables are the maps above: the handle carries nothing. */
#define CLS_FN static __always_inline
#define CLS_TAB void *
#define cls_tab_src(t, slot, a) ((void)(t), lpm(&gen_src, slot, a))
#define cls_tab_dst(t, slot, a) lpm(&gen_dst, slot, a)
#define cls_tab_proto(t, slot, p) proto_vec(slot, p)
#define cls_tab_sport(t, slot, p) port_vec(&gen_sport_ival, &gen_sport_vec, slot, p)
#define cls_tab_dport(t, slot, p) port_vec(&gen_dport_ival, &gen_dport_vec, slot, p)
#define cls_tab_inport(t, slot, i) inport_vec(slot, i)
#define cls_tab_rule(t, slot, r) rule_val(slot, r)
#define cls_tab_direct(t, slot, i, p) direct_rank(slot, i, p)
#include "cls_lookup.h"

static __always_inline void count(__u32 idx, __u64 bytes)
{
	struct cls_counter *c = bpf_map_lookup_elem(&gen_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/*
 * gen_last, the last decision of each CPU, serves tests and debugging and costs
 * a map lookup and seven stores per packet: only the build with GEN_CLS_NOTE
 * (gend-debug, the classifier tests) writes it, as Cilium compiles its debug
 * notifications in only on request. The map exists either way.
 */
#ifdef GEN_CLS_NOTE
static __always_inline void note(__u32 verdict, __u32 rule, __u32 chain, __u32 key, __u32 slot,
				 const struct cls_fields *f)
{
	__u32 zero = 0;
	struct cls_last *l = bpf_map_lookup_elem(&gen_last, &zero);

	if (l) {
		l->verdict = verdict;
		l->rule = rule;
		l->chain_id = chain;
		l->xsk_key = key;
		l->slot = slot;
		l->sport = f ? f->sport : 0;
		l->dport = f ? f->dport : 0;
	}
}
#else
static __always_inline void note(__u32 verdict, __u32 rule, __u32 chain, __u32 key, __u32 slot,
				 const struct cls_fields *f)
{
	(void)verdict, (void)rule, (void)chain, (void)key, (void)slot, (void)f;
}
#endif

static __always_inline int fails_closed(__u32 chain_id)
{
	__u32 *v = bpf_map_lookup_elem(&gen_fail, &chain_id);

	return v && *v == CLS_FAIL_CLOSED;
}

static __always_inline int unmatched(const struct cls_config *cfg, __u32 cnt, __u32 verdict,
				     __u32 slot, __u64 bytes)
{
	count(cnt, bytes);
	note(verdict, 0xffffffffu, 0, 0, slot, 0);
	return cfg->unmatched_drop ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int gen_cls(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct cls_fields f = {};
	const struct cls_rule_val *rule = NULL;
	struct cls_config *cfg;
	__u32 zero = 0, slot, open, rank = 0, key;
	enum cls_result res;
	int act;

	cfg = bpf_map_lookup_elem(&gen_config, &zero);
	if (!cfg)
		return XDP_PASS;
	/* The one read of the slot for this packet; every lookup below uses it. */
	slot = *(volatile __u32 *)&cfg->active & 1;
	open = cfg->open[slot];

	res = cls_lookup(NULL, slot, open, data, data_end, ctx->ingress_ifindex, &f, &rank, &rule);
	if (res == CLS_MALFORMED)
		return unmatched(cfg, CLS_CNT_MALFORMED, CLS_V_MALFORMED, slot, bytes);
	if (res == CLS_OTHER)
		return unmatched(cfg, CLS_CNT_UNMATCHED, CLS_V_UNMATCHED, slot, bytes);
	if (res != CLS_MATCH || !rule)
		goto miss;

	key = rule->chain_id * GEN_MAX_QUEUES + ctx->rx_queue_index;
	/* The fallback is XDP_ABORTED, never a pass by accident: the chain's fail mode decides below. */
	if (ctx->rx_queue_index >= GEN_MAX_QUEUES)
		act = XDP_ABORTED;
	else
		act = bpf_redirect_map(&gen_xsks, key, XDP_ABORTED);
	count(rule->chain_id, bytes);
	if (act == XDP_REDIRECT) {
		note(CLS_V_MATCHED, rank, rule->chain_id, key, slot, &f);
		return act;
	}
	count(CLS_CNT_NO_SOCKET, bytes);
	if (fails_closed(rule->chain_id)) {
		count(CLS_CNT_FAIL_CLOSED, bytes);
		note(CLS_V_FAIL_CLOSED, rank, rule->chain_id, key, slot, &f);
		return XDP_DROP;
	}
	note(CLS_V_NO_SOCKET, rank, rule->chain_id, key, slot, &f);
	return XDP_PASS;

miss:
	count(CLS_CNT_UNMATCHED, bytes);
	note(CLS_V_UNMATCHED, 0xffffffffu, 0, 0, slot, &f);
	return cfg->unmatched_drop ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
