/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Extras of the gpu backend beyond struct backend_ops (CUDA builds only).
 * Per-chain choices are read from the environment at chain_create():
 *   GEN_GPU_MEM=gather|mapped|staged  packet memory (default gather): see gpu_launch.h
 *   GEN_GPU_SMEM=0                gather records in device memory even where shared memory fits
 *   GEN_GPU_MODE=rtc|pipeline     one kernel per batch, or one per NF
 *   GEN_GPU_FAULT_INJECT=N[:after] the N-th submit of the process fails (tests): before
 *                                 anything runs, or, with :after, once the batch ran
 *   GEN_GPU_AGENT=auto|generic|fused  auto: the generic agent until the chain's fused
 *                                 agent is built in the background; generic: never build
 *                                 one; fused: build it in chain_create, fail without it
 *   GEN_RTC_TIMEOUT=S             limit of a compile chain_create waits for (default 60)
 *   GEN_CACHE_DIR=DIR             CUBIN cache (default /var/cache/gen)
 *   GEN_NVRTC=LIB                 the NVRTC library to load (only that one)
 */
#ifndef GEN_BACKEND_GPU_H
#define GEN_BACKEND_GPU_H

#include <stdbool.h>
#include "../daemon/backend.h"

enum gpu_mem { GPU_MEM_STAGED, GPU_MEM_MAPPED, GPU_MEM_GATHER, GPU_MEM_MAX };
enum gpu_mode { GPU_MODE_RTC, GPU_MODE_PIPELINE, GPU_MODE_MAX };
enum gpu_agent { GPU_AGENT_AUTO, GPU_AGENT_GENERIC, GPU_AGENT_FUSED, GPU_AGENT_MAX };

/* "FILE:LINE: what: CUDA error" of the last failure, for the daemon's log. */
const char *gpu_backend_last_error(void);
/* "staged/rtc", "mapped/pipeline", ... */
const char *gpu_backend_describe(const struct backend_chain *bc);

/*
 * Once the chain's fused agent is loaded: ms from chain_create to loaded, and
 * whether its CUBIN came from the cache; -EAGAIN before, -ENOENT without one.
 */
int gpu_backend_fused_timing(const struct backend_chain *bc, double *ms, bool *cache_hit);

#endif
