/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One agent launch (struct gpu_launch) and the per-packet load/store both agent
 * kinds use: the prebuilt kernels (agent.cu, nvcc) and the fused agents that the
 * backend generates and compiles at run time (rtc.c, NVRTC). The launch struct is
 * passed by value from C, so its layout is fixed here once for gcc, nvcc and NVRTC.
 */
#ifndef GEN_GPU_LAUNCH_H
#define GEN_GPU_LAUNCH_H

#if defined(__CUDACC_RTC__)
/* NVRTC sees only the embedded NF headers: spell the descriptor out. */
#include "nf.h"
struct gen_desc {
	uint64_t addr;
	uint32_t len;
	uint32_t verdict;
};
static_assert(sizeof(struct gen_desc) == 16, "gen_desc crosses to the GPU");
#else
#include <stdint.h>
#include "../daemon/backend.h"
#endif

struct nf_chain;

/*
 * Packet i of the batch lives in the frame that descs[i].addr points into: at
 * pkt_base + (addr - addr % frame_size) when the UMEM is mapped, or in staging
 * slot i (pkt_base + i * stride, same offset in the slot) when staged. All
 * pointers are device pointers (mapped host memory included).
 */
struct gpu_launch {
	const struct nf_chain *chain; /* Agent Table entry, device memory */
	struct gen_desc *descs;
	uint8_t *pkt_base;
	uint32_t n;
	uint32_t frame_size;
	uint32_t mini_batch; /* packets per block */
	uint32_t staged;
	uint32_t stride; /* staged: bytes per slot, also the packets' cap */
	uint32_t pad;
};
#if defined(__cplusplus)
static_assert(sizeof(struct gpu_launch) == 48, "gpu_launch is a kernel parameter built by C code");
#else
_Static_assert(sizeof(struct gpu_launch) == 48, "gpu_launch is a kernel parameter built by C code");
#endif

#if defined(__CUDACC__)
static __device__ __forceinline__ void gpu_pkt_load(const struct gpu_launch &l, uint32_t i, struct nf_pkt *p,
						     uint64_t *base)
{
	uint64_t addr = l.descs[i].addr;
	uint32_t off = (uint32_t)(addr % l.frame_size);

	*base = addr - off;
	p->buf = l.staged ? l.pkt_base + (uint64_t)i * l.stride : l.pkt_base + *base;
	p->off = off;
	p->len = l.descs[i].len;
	p->cap = l.staged ? l.stride : l.frame_size;
	p->in_port = 0;
	p->seq = i;
	p->pad = 0;
}

static __device__ __forceinline__ void gpu_pkt_store(const struct gpu_launch &l, uint32_t i,
						      const struct nf_pkt *p, uint64_t base, uint32_t verdict)
{
	l.descs[i].addr = base + p->off;
	l.descs[i].len = p->len;
	l.descs[i].verdict = verdict;
}
#endif

#endif
