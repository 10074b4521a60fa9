/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The execution ABI: what a backend hands the SFC agent and what crosses to the
 * GPU with it. Defined once here and compiled by gcc (daemon, cpu backend), nvcc
 * (prebuilt agent) and NVRTC (fused agents, which get this file embedded).
 */
#ifndef GEN_NF_EXEC_H
#define GEN_NF_EXEC_H

#include "nf.h"

/*
 * One packet of a batch. addr is the UMEM offset of the packet's first byte,
 * len its length. The backend may move addr (within the same frame) and change
 * len, and sets verdict to NF_PASS or NF_DROP.
 */
struct gen_desc {
	uint64_t addr;
	uint32_t len;
	uint32_t verdict;
};
_Static_assert(sizeof(struct gen_desc) == 16, "gen_desc crosses to the GPU");

#define NF_CHAIN_MAX 16

/* One chain program as the agent sees it (the Agent Table entry): NF types and state addresses. */
struct nf_chain {
	uint32_t n;
	uint32_t pad;
	uint32_t type[NF_CHAIN_MAX];
	uint64_t state[NF_CHAIN_MAX]; /* struct nf_hdr * on the executing device */
};
_Static_assert(sizeof(struct nf_chain) == 8 + 4 * NF_CHAIN_MAX + 8 * NF_CHAIN_MAX, "nf_chain crosses to the GPU");

#endif
