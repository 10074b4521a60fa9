// SPDX-License-Identifier: GPL-2.0
/*
 * GEN XDP classifier: parse Eth[/802.1Q]/IPv4/L4, find the highest-priority
 * rule of the Classification Table and redirect the frame to the AF_XDP socket
 * of (chain, rx queue).
 *
 * Lookup is the bit-vector scheme: rules sorted by priority own bits 0..N-1.
 * Each header field maps to the 1024-bit vector of rules that admit its value
 * (src, dst: LPM tries; proto: array; sport, dport: port -> elementary
 * interval -> vector; in-port: hash with a wildcard entry). AND of the six
 * vectors, first set bit = winner. Per packet that is a fixed 10 map lookups
 * (config, src, dst, proto, 2 x sport, 2 x dport, in-port, rule; one more when
 * the in-port falls back to the wildcard) + 16 word ANDs + one ctz, whatever N.
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
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "classifier.h"

#define VLAN_HLEN 4
#define IP_OFFSET_MASK 0x1fff

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
	__uint(max_entries, GEN_CLS_SLOTS * 256);
	__type(key, __u32);
	__type(value, struct cls_bitvec);
} gen_proto SEC(".maps");

/* mmapable: the loader writes a slot's 65536 entries in place. __u64 because
 * array elements are 8-byte strided; the mapping then is a plain __u64[]. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * 65536);
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_CLS_SLOTS * GEN_CLS_MAX_RULES);
	__type(key, __u32);
	__type(value, struct cls_rule_val);
} gen_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, GEN_MAX_CHAINS * GEN_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} gen_xsks SEC(".maps");

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

struct pkt_fields {
	__be32 src_be, dst_be;
	__u16 sport, dport;
	__u8 proto;
};

enum parse_result { PARSE_IPV4, PARSE_OTHER, PARSE_MALFORMED };

static __always_inline void count(__u32 idx, __u64 bytes)
{
	struct cls_counter *c = bpf_map_lookup_elem(&gen_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline void note(__u32 verdict, __u32 rule, __u32 chain, __u32 key, __u32 slot,
				 const struct pkt_fields *f)
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

/* No ctz instruction in BPF: binary search, six steps. */
static __always_inline __u32 ctz64(__u64 x)
{
	__u32 n = 0;

	if (!(x & 0xffffffffull)) { n += 32; x >>= 32; }
	if (!(x & 0xffffull)) { n += 16; x >>= 16; }
	if (!(x & 0xffull)) { n += 8; x >>= 8; }
	if (!(x & 0xfull)) { n += 4; x >>= 4; }
	if (!(x & 0x3ull)) { n += 2; x >>= 2; }
	if (!(x & 0x1ull)) n += 1;
	return n;
}

static __always_inline enum parse_result parse(void *data, void *data_end, struct pkt_fields *f)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u16 proto;
	__u32 off, ihl_len, tot_len, frame_l3;
	__u8 *l4;

	if ((void *)(eth + 1) > data_end)
		return PARSE_MALFORMED;
	proto = eth->h_proto;
	off = sizeof(*eth);
	if (proto == bpf_htons(ETH_P_8021Q)) {
		__be16 *inner = data + off + 2;

		if ((void *)(inner + 1) > data_end)
			return PARSE_MALFORMED;
		proto = *inner;
		off += VLAN_HLEN;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return PARSE_OTHER;

	ip = data + off;
	if ((void *)(ip + 1) > data_end)
		return PARSE_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_MALFORMED;
	ihl_len = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	frame_l3 = (__u32)(data_end - (void *)ip);
	if (tot_len < ihl_len || tot_len > frame_l3)
		return PARSE_MALFORMED;

	f->src_be = ip->saddr;
	f->dst_be = ip->daddr;
	f->proto = ip->protocol;
	f->sport = 0;
	f->dport = 0;
	if (ip->frag_off & bpf_htons(IP_OFFSET_MASK))
		return PARSE_IPV4; /* non-first fragment: no L4 header, ports 0 */

	/* ihl_len <= 60 (4-bit field), which keeps the verifier's range bounded. */
	l4 = (__u8 *)ip + (ihl_len & 0x3c);
	switch (ip->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP: {
		__u32 need = ip->protocol == IPPROTO_TCP ? 20 : 8;

		/* tot_len <= frame already proves the bytes are there; the verifier
		 * still wants a literal bound on the packet pointer. */
		if (ihl_len + need > tot_len || (void *)(l4 + 8) > data_end)
			return PARSE_MALFORMED;
		if (need == 20 && (void *)(l4 + 20) > data_end)
			return PARSE_MALFORMED;
		f->sport = ((__u16)l4[0] << 8) | l4[1];
		f->dport = ((__u16)l4[2] << 8) | l4[3];
		break;
	}
	case IPPROTO_ICMP:
		if (ihl_len + 8 > tot_len || (void *)(l4 + 8) > data_end)
			return PARSE_MALFORMED;
		break;
	default:
		break;
	}
	return PARSE_IPV4;
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
	struct pkt_fields f = {};
	struct cls_lpm_key lk = {};
	struct cls_inport_key ik = {};
	struct cls_bitvec *vs, *vd, *vp, *vsp, *vdp, *vin;
	struct cls_config *cfg;
	struct cls_rule_val *rule;
	__u32 zero = 0, slot, idx, rank = 0, key;
	__u64 *ival;
	__u64 w = 0;
	enum parse_result pr;
	int i, act;

	cfg = bpf_map_lookup_elem(&gen_config, &zero);
	if (!cfg)
		return XDP_PASS;
	/* The one read of the slot for this packet; every lookup below uses it. */
	slot = *(volatile __u32 *)&cfg->active & 1;

	pr = parse(data, data_end, &f);
	if (pr == PARSE_MALFORMED)
		return unmatched(cfg, CLS_CNT_MALFORMED, CLS_V_MALFORMED, slot, bytes);
	if (pr == PARSE_OTHER)
		return unmatched(cfg, CLS_CNT_UNMATCHED, CLS_V_UNMATCHED, slot, bytes);

	lk.slot = slot;
	lk.prefixlen = 64;
	lk.addr_be = f.src_be;
	vs = bpf_map_lookup_elem(&gen_src, &lk);
	lk.addr_be = f.dst_be;
	vd = bpf_map_lookup_elem(&gen_dst, &lk);
	idx = slot * 256 + f.proto;
	vp = bpf_map_lookup_elem(&gen_proto, &idx);

	idx = slot * 65536 + f.sport;
	ival = bpf_map_lookup_elem(&gen_sport_ival, &idx);
	if (!ival)
		goto miss;
	idx = slot * GEN_CLS_MAX_IVALS + (__u32)*ival;
	vsp = bpf_map_lookup_elem(&gen_sport_vec, &idx);

	idx = slot * 65536 + f.dport;
	ival = bpf_map_lookup_elem(&gen_dport_ival, &idx);
	if (!ival)
		goto miss;
	idx = slot * GEN_CLS_MAX_IVALS + (__u32)*ival;
	vdp = bpf_map_lookup_elem(&gen_dport_vec, &idx);

	ik.slot = slot;
	ik.ifindex = ctx->ingress_ifindex;
	vin = bpf_map_lookup_elem(&gen_inport, &ik);
	if (!vin) {
		ik.ifindex = 0;
		vin = bpf_map_lookup_elem(&gen_inport, &ik);
	}
	if (!vs || !vd || !vp || !vsp || !vdp || !vin)
		goto miss;

	for (i = 0; i < GEN_CLS_WORDS; i++) {
		w = vs->w[i] & vd->w[i] & vp->w[i] & vsp->w[i] & vdp->w[i] & vin->w[i];
		if (w)
			break;
	}
	if (!w)
		goto miss;
	rank = (__u32)i * 64 + ctz64(w);

	idx = slot * GEN_CLS_MAX_RULES + (rank & (GEN_CLS_MAX_RULES - 1));
	rule = bpf_map_lookup_elem(&gen_rules, &idx);
	if (!rule || rule->chain_id == 0 || rule->chain_id >= GEN_MAX_CHAINS)
		goto miss;

	key = rule->chain_id * GEN_MAX_QUEUES + ctx->rx_queue_index;
	if (ctx->rx_queue_index >= GEN_MAX_QUEUES)
		act = XDP_PASS;
	else
		act = bpf_redirect_map(&gen_xsks, key, XDP_PASS);
	count(rule->chain_id, bytes);
	if (act == XDP_REDIRECT) {
		note(CLS_V_MATCHED, rank, rule->chain_id, key, slot, &f);
	} else {
		count(CLS_CNT_NO_SOCKET, bytes);
		note(CLS_V_NO_SOCKET, rank, rule->chain_id, key, slot, &f);
	}
	return act;

miss:
	count(CLS_CNT_UNMATCHED, bytes);
	note(CLS_V_UNMATCHED, 0xffffffffu, 0, 0, slot, &f);
	return cfg->unmatched_drop ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
