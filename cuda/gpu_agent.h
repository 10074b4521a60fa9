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
#include "gpu_launch.h"

/*
 * Dynamic shared memory an agent block may take for its packet records: under
 * the 48 KiB a kernel gets without opting in, less the static tables (ESP: 3 KiB).
 */
#define GPU_SMEM_MAX (40 * 1024)

#ifdef __cplusplus
extern "C" {
#endif

/* Run to completion: ONE launch runs the whole chain on every packet. */
cudaError_t gpu_agent_launch_rtc(const struct gpu_launch *l, const struct gpu_grid *g, cudaStream_t s);
/*
 * Pipeline: one launch per NF; launch nf of the chain on the packets still
 * alive (nf 0 treats every packet as alive and sets the verdict; in gather mode
 * it stages the packets, and nf == last writes them back).
 */
cudaError_t gpu_agent_launch_nf(const struct gpu_launch *l, const struct gpu_grid *g, uint32_t nf, uint32_t last,
				cudaStream_t s);
/* Whether the agent kernels can be loaded on the current device (cubin or PTX JIT). */
cudaError_t gpu_agent_check(void);

#ifdef __cplusplus
}
#endif

#endif
