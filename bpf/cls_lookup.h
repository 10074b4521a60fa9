/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The classifier's parse and lookup, one source for two compilers: clang -target
 * bpf builds it into the XDP program (classifier.bpf.c), gcc into the daemon's
 * host copy (daemon/cls_tab.c) that classifies frames of synthetic ports. Both
 * must decide alike on every frame; test/bpf/test_classifier.c checks that.
 *
 * The includer says how a table is read, by defining before the #include:
 *   CLS_FN                      qualifiers of the functions here
 *   CLS_TAB                     type of the table handle passed through
 *   cls_tab_src(t, slot, a_be)  const struct cls_bitvec * for a source address, or NULL
 *   cls_tab_dst(t, slot, a_be)  the same for the destination
 *   cls_tab_proto(t, slot, p)   for an IP protocol
 *   cls_tab_sport(t, slot, p)   for a source port (port -> interval -> vector)
 *   cls_tab_dport(t, slot, p)   for a destination port
 *   cls_tab_inport(t, slot, i)  for an ingress ifindex (falling back to the wildcard 0)
 *   cls_tab_rule(t, slot, r)    const struct cls_rule_val * of rank r, or NULL
 * and may define, for tables with CLS_DIRECT in open:
 *   cls_tab_direct(t, slot, i, p)  rank + 1 of the winner for ingress ifindex i
 *                               and protocol p, 0 for none, CLS_DIRECT_NONE
 *                               where it has no answer (the vectors decide)
 * Without CLS_FN only the types are declared (for headers that pass results on).
 * Parse policy and the lookup scheme are described in classifier.bpf.c.
 */
#ifndef GEN_BPF_CLS_LOOKUP_H
#define GEN_BPF_CLS_LOOKUP_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include "classifier.h"

#define CLS_VLAN_HLEN 4
#define CLS_IP_OFFSET_MASK 0x1fff

struct cls_fields {
	__be32 src_be, dst_be;
	__u16 sport, dport;
	__u8 proto;
};

enum cls_parse_result { CLS_PARSE_IPV4, CLS_PARSE_OTHER, CLS_PARSE_MALFORMED };

/* What a lookup decided; rank and rule are set only for CLS_MATCH. */
enum cls_result { CLS_MATCH, CLS_MISS, CLS_OTHER, CLS_MALFORMED };

#endif /* GEN_BPF_CLS_LOOKUP_H */

#if defined(CLS_FN) && !defined(GEN_BPF_CLS_LOOKUP_FNS)
#define GEN_BPF_CLS_LOOKUP_FNS

/* The IPv4 header type: a host includer reads it through a 1-aligned typedef,
 * since after 14 bytes of Ethernet it sits 2 bytes off a 4-byte boundary. */
#ifndef CLS_IPHDR
#define CLS_IPHDR struct iphdr
#endif

/* No ctz instruction in BPF: binary search, six steps. */
CLS_FN __u32 cls_ctz64(__u64 x)
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

CLS_FN enum cls_parse_result cls_parse(void *data, void *data_end, struct cls_fields *f)
{
	struct ethhdr *eth = data;
	CLS_IPHDR *ip;
	__u16 proto;
	__u32 off, ihl_len, tot_len, frame_l3;
	__u8 *l4;

	if ((void *)(eth + 1) > data_end)
		return CLS_PARSE_MALFORMED;
	proto = eth->h_proto;
	off = sizeof(*eth);
	if (proto == bpf_htons(ETH_P_8021Q)) {
		__be16 *inner = (__be16 *)((__u8 *)data + off + 2);

		if ((void *)(inner + 1) > data_end)
			return CLS_PARSE_MALFORMED;
		proto = *inner;
		off += CLS_VLAN_HLEN;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return CLS_PARSE_OTHER;

	ip = (CLS_IPHDR *)((__u8 *)data + off);
	if ((void *)(ip + 1) > data_end)
		return CLS_PARSE_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return CLS_PARSE_MALFORMED;
	ihl_len = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	frame_l3 = (__u32)((__u8 *)data_end - (__u8 *)ip);
	if (tot_len < ihl_len || tot_len > frame_l3)
		return CLS_PARSE_MALFORMED;

	f->src_be = ip->saddr;
	f->dst_be = ip->daddr;
	f->proto = ip->protocol;
	f->sport = 0;
	f->dport = 0;
	if (ip->frag_off & bpf_htons(CLS_IP_OFFSET_MASK))
		return CLS_PARSE_IPV4; /* non-first fragment: no L4 header, ports 0 */

	/* ihl_len <= 60 (4-bit field), which keeps the verifier's range bounded. */
	l4 = (__u8 *)ip + (ihl_len & 0x3c);
	switch (ip->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP: {
		__u32 need = ip->protocol == IPPROTO_TCP ? 20 : 8;

		/* tot_len <= frame already proves the bytes are there; the verifier
		 * still wants a literal bound on the packet pointer. */
		if (ihl_len + need > tot_len || (void *)(l4 + 8) > data_end)
			return CLS_PARSE_MALFORMED;
		if (need == 20 && (void *)(l4 + 20) > data_end)
			return CLS_PARSE_MALFORMED;
		f->sport = ((__u16)l4[0] << 8) | l4[1];
		f->dport = ((__u16)l4[2] << 8) | l4[3];
		break;
	}
	case IPPROTO_ICMP:
		if (ihl_len + 8 > tot_len || (void *)(l4 + 8) > data_end)
			return CLS_PARSE_MALFORMED;
		break;
	default:
		break;
	}
	return CLS_PARSE_IPV4;
}

/*
 * Parse the frame and find the highest-priority rule that admits it: the AND of
 * six vectors, first set bit. f is filled for CLS_MATCH and CLS_MISS. open
 * (enum cls_open) names the fields that no rule of the table constrains: such
 * a field admits every rule whatever its value, so its vector is all of them
 * and the AND does not need it; the proto vector, already in the AND, stands
 * in, and the lookup is skipped. The address tries are the costly ones; the
 * ports' and in-port's are two array reads each. Most tables leave some of
 * them open (gend's always name the in-port).
 */
CLS_FN enum cls_result cls_lookup(CLS_TAB t, __u32 slot, __u32 open, void *data, void *data_end, __u32 ifindex,
				  struct cls_fields *f, __u32 *ret_rank, const struct cls_rule_val **ret_rule)
{
	const struct cls_bitvec *vs, *vd, *vp, *vsp, *vdp, *vin;
	const struct cls_rule_val *rule;
	enum cls_parse_result pr;
	__u64 w = 0;
	__u32 rank;
	int i;

	pr = cls_parse(data, data_end, f);
	if (pr == CLS_PARSE_MALFORMED)
		return CLS_MALFORMED;
	if (pr == CLS_PARSE_OTHER)
		return CLS_OTHER;

#ifdef cls_tab_direct
	/* Only the in-port and the protocol decide: their winner, precomputed (classifier.h). */
	if (open & CLS_DIRECT) {
		__u32 d = cls_tab_direct(t, slot, ifindex, f->proto);

		if (d != CLS_DIRECT_NONE) {
			if (!d)
				return CLS_MISS;
			rank = d - 1;
			goto found;
		}
	}
#endif
	vp = cls_tab_proto(t, slot, f->proto);
	vs = open & CLS_OPEN_SRC ? vp : cls_tab_src(t, slot, f->src_be);
	vd = open & CLS_OPEN_DST ? vp : cls_tab_dst(t, slot, f->dst_be);
	vsp = open & CLS_OPEN_SPORT ? vp : cls_tab_sport(t, slot, f->sport);
	if (!vsp)
		return CLS_MISS;
	vdp = open & CLS_OPEN_DPORT ? vp : cls_tab_dport(t, slot, f->dport);
	if (!vdp)
		return CLS_MISS;
	vin = open & CLS_OPEN_INPORT ? vp : cls_tab_inport(t, slot, ifindex);
	if (!vs || !vd || !vp || !vin)
		return CLS_MISS;

	for (i = 0; i < GEN_CLS_WORDS; i++) {
		w = vs->w[i] & vd->w[i] & vp->w[i] & vsp->w[i] & vdp->w[i] & vin->w[i];
		if (w)
			break;
	}
	if (!w)
		return CLS_MISS;
	rank = (__u32)i * 64 + cls_ctz64(w);
#ifdef cls_tab_direct
found:
#endif
	rule = cls_tab_rule(t, slot, rank & (GEN_CLS_MAX_RULES - 1));
	if (!rule || rule->chain_id == 0 || rule->chain_id >= GEN_MAX_CHAINS)
		return CLS_MISS;
	*ret_rank = rank;
	*ret_rule = rule;
	return CLS_MATCH;
}

#endif /* CLS_FN */
