/* SPDX-License-Identifier: GPL-2.0 */
/*
 * firewall: an ordered 5-tuple ACL, first match wins, else the default policy.
 *
 * Matching is a linear scan over compact 32-byte rules. On the GPU every thread
 * of a warp walks the same rule array in the same order, so each rule is one
 * broadcast read shared by the warp; the scan ends at the first hit. This keeps
 * ~1000 rules affordable without a decision structure that would have to be
 * rebuilt and validated on every reload.
 *
 * Packets are reduced to (proto, src, dst, sport, dport). Ports are 0 unless the
 * packet is TCP or UDP, is not a non-first fragment, and carries the 4 port bytes
 * inside its IPv4 total length. Frames that are not well-formed IPv4 follow the
 * default policy and are counted in not_ipv4 only.
 */
#ifndef GEN_NF_FIREWALL_H
#define GEN_NF_FIREWALL_H

#include "nf.h"

enum {
	FW_C_ALLOWED,
	FW_C_DENIED,
	FW_C_NOT_IPV4,
	FW_C_MAX,
};

#define FW_PROTO_ANY 0x100u
#define FW_ALLOW 0u
#define FW_DENY 1u
#define FW_RULES_MAX 65536u

struct nf_fw_rule {
	uint32_t src;      /* host byte order, already masked */
	uint32_t src_mask;
	uint32_t dst;
	uint32_t dst_mask;
	uint16_t sport_lo, sport_hi;
	uint16_t dport_lo, dport_hi;
	uint16_t proto;    /* 0..255 or FW_PROTO_ANY */
	uint16_t action;   /* FW_ALLOW or FW_DENY */
	uint32_t line;     /* rules-file line, for reports */
};
_Static_assert(sizeof(struct nf_fw_rule) == 32, "firewall rule crosses to the GPU");

struct nf_firewall {
	struct nf_hdr hdr;
	uint32_t rules_off; /* struct nf_fw_rule[nrules] */
	uint32_t nrules;
	uint32_t dflt;      /* FW_ALLOW or FW_DENY */
	uint32_t pad;
	uint64_t counters[FW_C_MAX];
};
_Static_assert(sizeof(struct nf_firewall) == 56, "firewall state crosses to the GPU");

/* The fields the ACL looks at. */
struct nf_fw_key {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint16_t proto;
};

/* Fill k from the IPv4 header at ip (offset from buf); see the port rule above. */
NF_FN void nf_fw_key_of(const struct nf_pkt *p, uint32_t ip, struct nf_fw_key *k)
{
	const uint8_t *iph = p->buf + ip;
	uint32_t ihl = (uint32_t)(iph[0] & 0x0f) * 4;
	uint32_t tot = nf_get16(iph + 2);
	uint32_t frag_off = nf_get16(iph + 6) & 0x1fff;

	k->src = nf_get32(iph + 12);
	k->dst = nf_get32(iph + 16);
	k->proto = iph[9];
	k->sport = 0;
	k->dport = 0;
	/* nf_ipv4_off() guarantees ihl <= tot and that tot bytes lie inside the frame. */
	if ((k->proto == NF_IPPROTO_TCP || k->proto == NF_IPPROTO_UDP) && frag_off == 0 && ihl + 4 <= tot) {
		k->sport = nf_get16(iph + ihl);
		k->dport = nf_get16(iph + ihl + 2);
	}
}

NF_FN int nf_fw_rule_match(const struct nf_fw_rule *r, const struct nf_fw_key *k)
{
	return (r->proto == FW_PROTO_ANY || r->proto == k->proto) && (k->src & r->src_mask) == r->src &&
	       (k->dst & r->dst_mask) == r->dst && k->sport >= r->sport_lo && k->sport <= r->sport_hi &&
	       k->dport >= r->dport_lo && k->dport <= r->dport_hi;
}

/* The action for k: the first matching rule's, else the default. */
NF_FN uint32_t nf_fw_classify(const struct nf_firewall *st, const struct nf_fw_key *k)
{
	const struct nf_fw_rule *r = NF_AT(st, st->rules_off, const struct nf_fw_rule *);
	for (uint32_t i = 0; i < st->nrules; i++)
		if (nf_fw_rule_match(&r[i], k))
			return r[i].action;
	return st->dflt;
}

NF_FN int nf_firewall_run(void *state, struct nf_pkt *p)
{
	struct nf_firewall *st = (struct nf_firewall *)state;
	struct nf_fw_key k;
	uint32_t ip = nf_ipv4_off(p);

	if (!ip) {
		NF_COUNT(&st->hdr, FW_C_NOT_IPV4);
		return st->dflt == FW_ALLOW ? NF_PASS : NF_DROP;
	}
	nf_fw_key_of(p, ip, &k);
	if (nf_fw_classify(st, &k) == FW_ALLOW) {
		NF_COUNT(&st->hdr, FW_C_ALLOWED);
		return NF_PASS;
	}
	NF_COUNT(&st->hdr, FW_C_DENIED);
	return NF_DROP;
}

#ifndef __CUDACC_RTC__
/*
 * Host-side builder API (nf/firewall_build.c). Parse a rules file and build the
 * blob with default action dflt; on error -errno and "FILE:LINE: message" in err.
 */
int nf_fw_load(const char *path, uint32_t dflt, struct nf_hdr **ret_state, char *err, size_t errlen);
/* Build from rules already parsed (tests); -E2BIG beyond FW_RULES_MAX. */
int nf_fw_build(const struct nf_fw_rule *rules, uint32_t n, uint32_t dflt, struct nf_hdr **ret_state);
/* Parse one rule line (no comment); 0, 1 for a blank line, or -EINVAL with a message in why. */
int nf_fw_parse_line(const char *line, struct nf_fw_rule *r, const char **why);
#endif

#endif
