/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Extras of the gpu backend beyond struct backend_ops (CUDA builds only).
 * Each chain runs as its chain_prog's gpu_opts say (chains.ini's gpu_* keys);
 * the environment variables that override them for tests and benchmarks are
 * listed in one place, cuda/README.md ("Test and benchmark overrides").
 */
#ifndef GEN_BACKEND_GPU_H
#define GEN_BACKEND_GPU_H

#include <stdbool.h>
#include "../daemon/backend.h"

/* "staged/rtc", "mapped/pipeline", ... */
const char *gpu_backend_describe(const struct backend_chain *bc);

/*
 * Once the chain's fused agent is loaded: ms from chain_create to loaded, and
 * whether its CUBIN came from the cache; -EAGAIN before, -ENOENT without one.
 */
int gpu_backend_fused_timing(const struct backend_chain *bc, double *ms, bool *cache_hit);

#endif
