/* SPDX-License-Identifier: GPL-2.0 */
/* l2_rewrite: set the Ethernet source and/or destination MAC. */
#ifndef GEN_NF_L2_REWRITE_H
#define GEN_NF_L2_REWRITE_H

#include "nf.h"

enum { L2RW_C_REWRITTEN, L2RW_C_RUNT, L2RW_C_MAX };

struct nf_l2_rewrite {
	struct nf_hdr hdr;
	uint8_t dst[6];
	uint8_t src[6];
	uint8_t set_dst;
	uint8_t set_src;
	uint8_t pad[2];
	uint64_t counters[L2RW_C_MAX];
};
_Static_assert(sizeof(struct nf_l2_rewrite) == 48, "l2_rewrite state crosses to the GPU");

NF_FN int nf_l2_rewrite_run(void *state, struct nf_pkt *p)
{
	struct nf_l2_rewrite *st = (struct nf_l2_rewrite *)state;
	uint8_t *d = p->buf + p->off;
	if (p->len < NF_ETH_HLEN) {
		NF_COUNT(&st->hdr, L2RW_C_RUNT);
		return NF_DROP;
	}
	for (int i = 0; i < 6; i++) {
		if (st->set_dst)
			d[i] = st->dst[i];
		if (st->set_src)
			d[6 + i] = st->src[i];
	}
	NF_COUNT(&st->hdr, L2RW_C_REWRITTEN);
	return NF_PASS;
}

#endif
