/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Extras of the gpu backend beyond struct backend_ops (CUDA builds only).
 * Per-chain choices are read from the environment at chain_create():
 *   GEN_GPU_MEM=mapped|staged     packet memory (default mapped)
 *   GEN_GPU_MODE=rtc|pipeline     one kernel per batch, or one per NF
 *   GEN_GPU_FAULT_INJECT=N        the N-th submit of the process fails (tests)
 */
#ifndef GEN_BACKEND_GPU_H
#define GEN_BACKEND_GPU_H

#include "../daemon/backend.h"

enum gpu_mem { GPU_MEM_STAGED, GPU_MEM_MAPPED, GPU_MEM_MAX };
enum gpu_mode { GPU_MODE_RTC, GPU_MODE_PIPELINE, GPU_MODE_MAX };

/* "FILE:LINE: what: CUDA error" of the last failure, for the daemon's log. */
const char *gpu_backend_last_error(void);
/* "staged/rtc", "mapped/pipeline", ... */
const char *gpu_backend_describe(const struct backend_chain *bc);

#endif
