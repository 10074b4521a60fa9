/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C interface of the SFC agent kernels (agent.cu) for the gpu backend
 * (backend_gpu.c). Kept free of CUDA C++ so the backend stays plain C.
 */
#ifndef GEN_GPU_AGENT_H
#define GEN_GPU_AGENT_H

#include <stdint.h>
#include <cuda_runtime_api.h>
#include "../nf/agent.h"
#include "../daemon/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One launch. Packet i of the batch lives in the frame that descs[i].addr points
 * into: at pkt_base + (addr - addr % frame_size) when the UMEM is mapped, or in
 * staging slot i (pkt_base + i * stride, same offset in the slot) when staged.
 * All pointers are device pointers (mapped host memory included).
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
};

/* Run to completion: ONE launch runs the whole chain on every packet. */
cudaError_t gpu_agent_launch_rtc(const struct gpu_launch *l, cudaStream_t s);
/*
 * Pipeline: one launch per NF; launch nf of the chain on the packets still
 * alive (nf 0 treats every packet as alive and sets the verdict).
 */
cudaError_t gpu_agent_launch_nf(const struct gpu_launch *l, uint32_t nf, cudaStream_t s);
/* Whether the agent kernels can be loaded on the current device (cubin or PTX JIT). */
cudaError_t gpu_agent_check(void);

#ifdef __cplusplus
}
#endif

#endif
