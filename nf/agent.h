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
#include "exec.h"
#include "l2_rewrite.h"
#include "ttl_dec.h"
#include "ipv4_router.h"
#include "nids.h"
#include "ipsec_esp.h"
#include "firewall.h"
#include "flowmon.h"
#include "custom.h"

#define NF_DISPATCH_(NAME, name, head, tail, writes, binit) \
	case NF_T_##NAME:                                  \
		return nf_##name##_run(st, p);

NF_FN int nf_dispatch(uint32_t type, void *st, struct nf_pkt *p)
{
	switch (type) {
	NF_LIST(NF_DISPATCH_)
	case NF_T_CUSTOM:
		return nf_custom_run(st, p);
	default:
		return NF_DROP;
	}
}
#undef NF_DISPATCH_

#if defined(__CUDACC__)
/*
 * Block set-up on the GPU: NFs with hot read-only tables (binit in nf_list.h)
 * copy them into shared memory once per block, for the first NF of their type
 * in the chain. Every thread of the block calls this, then syncs.
 */
#define NF_BINIT_ONE_(NAME, name, head, tail, writes, binit) \
	if (binit && type == NF_T_##NAME) {                  \
		NF_BINIT_CALL_##binit(name, st);             \
		return;                                      \
	}
#define NF_BINIT_CALL_0(name, st)
#define NF_BINIT_CALL_1(name, st) nf_##name##_block_init(st)
static __device__ __forceinline__ void nf_block_init_type(uint32_t type, void *st)
{
	NF_LIST(NF_BINIT_ONE_)
}
#undef NF_BINIT_ONE_

static __device__ __forceinline__ void nf_block_init_one(uint32_t type, void *st)
{
	nf_block_init_type(type, st);
	__syncthreads();
}

static __device__ __forceinline__ void nf_block_init(const struct nf_chain *c)
{
	uint32_t done = 0; /* types staged already (bit per type): the first NF of each type only */

	for (uint32_t i = 0; i < c->n && i < NF_CHAIN_MAX; i++) {
		if (c->type[i] < 32 && !(done & (1u << c->type[i]))) {
			done |= 1u << c->type[i];
			nf_block_init_type(c->type[i], (void *)(uintptr_t)c->state[i]);
		}
	}
	__syncthreads();
}
#endif

/*
 * Run every NF of the chain on p; stop at the first DROP. bseq[i] is what the
 * backend reserved for NF i and this batch (nf_pkt.batch_seq), or bseq is NULL.
 */
NF_FN int nf_agent_run(const struct nf_chain *c, const uint64_t *bseq, struct nf_pkt *p)
{
	for (uint32_t i = 0; i < c->n && i < NF_CHAIN_MAX; i++) {
		p->batch_seq = bseq ? bseq[i] : 0;
		if (nf_dispatch(c->type[i], (void *)(uintptr_t)c->state[i], p) != NF_PASS)
			return NF_DROP;
	}
	return NF_PASS;
}

#endif
