/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A plain C reference of the classifier: parse the frame byte by byte and scan
 * the rules in priority order. It shares nothing with bpf/cls_lookup.h but the
 * rule struct and the parse policy written in bpf/classifier.bpf.c, so the XDP
 * program (bpf_prog_test_run), its host copy and this scan can be compared on
 * the same frames: test/bpf/test_classifier.c and test/fuzz/fuzz_cls.c.
 */
#ifndef GEN_TEST_CLS_REF_H
#define GEN_TEST_CLS_REF_H

#include <stdbool.h>
#include <stdint.h>
#include "daemon/cls.h"

enum cls_ref_verdict { CLS_REF_MATCH, CLS_REF_MISS, CLS_REF_OTHER, CLS_REF_MALFORMED };

struct cls_ref_result {
	enum cls_ref_verdict v;
	int rank;               /* CLS_REF_MATCH: index of the first rule that admits the frame */
	uint32_t src, dst;      /* host order; MATCH and MISS */
	uint16_t sport, dport;
	uint8_t proto;
};

static inline uint16_t cls_ref_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t cls_ref_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline bool cls_ref_in_prefix(uint32_t a, uint32_t net, uint32_t len)
{
	return len == 0 || ((a ^ net) >> (32 - len)) == 0;
}

/* Parse f[0..len) as arriving on ifindex and find the first of rules[0..n) that admits it. */
static inline struct cls_ref_result cls_ref_classify(const struct cls_rule *rules, int n, const uint8_t *f,
						     uint32_t len, uint32_t ifindex)
{
	struct cls_ref_result r = { .v = CLS_REF_MALFORMED, .rank = -1 };
	uint32_t l3 = 14, ihl, tot;
	uint16_t type;

	if (len < 14)
		return r;
	type = cls_ref_be16(f + 12);
	if (type == 0x8100) {
		if (len < 18)
			return r;
		type = cls_ref_be16(f + 16);
		l3 = 18;
	}
	if (type != 0x0800) {
		r.v = CLS_REF_OTHER;
		return r;
	}
	if (len - l3 < 20 || f[l3] >> 4 != 4 || (f[l3] & 15) < 5)
		return r;
	ihl = (f[l3] & 15) * 4u;
	tot = cls_ref_be16(f + l3 + 2);
	if (tot < ihl || tot > len - l3)
		return r;
	r.proto = f[l3 + 9];
	r.src = cls_ref_be32(f + l3 + 12);
	r.dst = cls_ref_be32(f + l3 + 16);
	/* A non-first fragment carries no L4 header: ports 0. */
	if (!(cls_ref_be16(f + l3 + 6) & 0x1fff)) {
		uint32_t need = r.proto == 6 ? 20 : r.proto == 17 || r.proto == 1 ? 8 : 0;

		if (ihl + need > tot)
			return r;
		if (r.proto == 6 || r.proto == 17) {
			r.sport = cls_ref_be16(f + l3 + ihl);
			r.dport = cls_ref_be16(f + l3 + ihl + 2);
		}
	}
	r.v = CLS_REF_MISS;
	for (int i = 0; i < n; i++) {
		const struct cls_rule *u = &rules[i];

		if (cls_ref_in_prefix(r.src, u->src, u->src_len) && cls_ref_in_prefix(r.dst, u->dst, u->dst_len) &&
		    (u->proto < 0 || u->proto == r.proto) && u->sport_lo <= r.sport && r.sport <= u->sport_hi &&
		    u->dport_lo <= r.dport && r.dport <= u->dport_hi && (!u->in_ifindex || u->in_ifindex == ifindex)) {
			r.v = CLS_REF_MATCH;
			r.rank = i;
			break;
		}
	}
	return r;
}

#endif
