/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fused agents on a device: built off the packet path by one background thread
 * (rtc.c: generate, NVRTC or cache), loaded with the CUDA driver API (entry
 * points taken from the runtime, so libcuda stays as optional as before), shared
 * by every chain of the same program on the same device (refcounted).
 */
#ifndef GEN_FUSED_H
#define GEN_FUSED_H

#include <stdbool.h>
#include <stddef.h>
#include <cuda_runtime_api.h>
#include "gpu_launch.h"
#include "../daemon/backend.h"

enum fused_state { FUSED_PENDING, FUSED_READY, FUSED_FAILED, FUSED_STATE_MAX };

struct fused_agent;

/*
 * The fused agent of prog on device dev, new or shared. sync: wait until it is
 * loaded (at most timeout_s; it is then built first, before queued ones) and
 * fail if it is not; else it is built in the background and fused_ready() says
 * when it can run. NULL + errno with err set when no fused agent can be had
 * (no NVRTC, no driver entry points, source not readable, or - sync - compile
 * error: NVRTC's log, FILE:LINE: lines).
 */
struct fused_agent *fused_get(const struct chain_prog *prog, int dev, bool sync, int timeout_s, char *err,
			      size_t errlen);
void fused_put(struct fused_agent *a);
/* Stop building: drop queued builds, wait for the one in progress. */
void fused_shutdown(void);
/* Loaded and launchable: once true it stays true. */
bool fused_ready(const struct fused_agent *a);
/* Launch the fused agent on one batch (same grid as the prebuilt rtc agent). 0 or -EIO with err set. */
int fused_launch(struct fused_agent *a, const struct gpu_launch *l, const struct gpu_grid *g, cudaStream_t s, char *err,
		 size_t errlen);
/* "fused agent (cache hit, 3 ms)", "generic agent (fused compiling)", ... */
void fused_describe(const struct fused_agent *a, char *buf, size_t len);
/* ms from fused_get() to loaded, and whether the CUBIN came from the cache; -EAGAIN while not ready. */
int fused_timing(const struct fused_agent *a, double *ms, bool *cache_hit);

#endif
