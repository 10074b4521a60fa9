/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The SFC agent body: run a chain's NFs in order on one packet, to completion.
 * The cpu backend calls nf_agent_run() per packet; the GPU SFC agent kernel calls
 * the same function per thread. Dispatch is a switch on the NF type so the one
 * source compiles under gcc, nvcc and NVRTC.
 */
#ifndef GEN_NF_AGENT_H
#define GEN_NF_AGENT_H

#include "nf.h"
#include "l2_rewrite.h"
#include "ttl_dec.h"
#include "ipv4_router.h"
#include "nids.h"
#include "ipsec_esp.h"
#include "firewall.h"
#include "flowmon.h"
#include "custom.h"

#define NF_CHAIN_MAX 16

/* One chain program as the agent sees it: NF types and their state addresses. */
struct nf_chain {
	uint32_t n;
	uint32_t pad;
	uint32_t type[NF_CHAIN_MAX];
	uint64_t state[NF_CHAIN_MAX]; /* struct nf_hdr * on the executing device */
};
_Static_assert(sizeof(struct nf_chain) == 8 + 4 * NF_CHAIN_MAX + 8 * NF_CHAIN_MAX,
	       "nf_chain crosses to the GPU");

NF_FN int nf_dispatch(uint32_t type, void *st, struct nf_pkt *p)
{
	switch (type) {
	case NF_T_L2_REWRITE:
		return nf_l2_rewrite_run(st, p);
	case NF_T_TTL_DEC:
		return nf_ttl_dec_run(st, p);
	case NF_T_IPV4_ROUTER:
		return nf_ipv4_router_run(st, p);
	case NF_T_NIDS:
		return nf_nids_run(st, p);
	case NF_T_IPSEC_ESP:
		return nf_ipsec_esp_run(st, p);
	case NF_T_FIREWALL:
		return nf_firewall_run(st, p);
	case NF_T_FLOWMON:
		return nf_flowmon_run(st, p);
	case NF_T_CUSTOM:
		return nf_custom_run(st, p);
	default:
		return NF_DROP;
	}
}

/* Run every NF of the chain on p; stop at the first DROP. */
NF_FN int nf_agent_run(const struct nf_chain *c, struct nf_pkt *p)
{
	for (uint32_t i = 0; i < c->n && i < NF_CHAIN_MAX; i++) {
		if (nf_dispatch(c->type[i], (void *)(uintptr_t)c->state[i], p) != NF_PASS)
			return NF_DROP;
	}
	return NF_PASS;
}

#endif
