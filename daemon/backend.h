/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The SFC Starter's interface: a backend takes batches of frame descriptors and
 * returns verdicts (and rewritten frames, in place in the UMEM). The controller
 * knows nothing else about the backend; cpu and gpu both sit behind this.
 */
#ifndef GEN_BACKEND_H
#define GEN_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../nf/exec.h"

/* A chain program: the NF instances a chain runs, in order (host state blobs). */
struct chain_prog {
	uint32_t n;
	uint32_t type[16];
	struct nf_hdr *state[16]; /* host blobs; shared across chains using the same [nf] */
	uint32_t mini_batch;
	int gpu;                  /* device index for gpu backends */
	uint32_t chain_id;        /* nf_pkt.chain of its packets (0: none) */
};

struct backend_chain; /* opaque, one per (chain, program version) */

struct backend_ops {
	const char *name;
	/* Called once per UMEM (one per queue) before any chain is created. */
	int (*umem_attach)(void *umem, size_t size, uint32_t frame_size);
	void (*umem_detach)(void *umem);
	/* Upload the program (state blobs) and set up streams; NULL + errno on failure. */
	struct backend_chain *(*chain_create)(const struct chain_prog *prog, void *umem, size_t umem_size,
					      uint32_t frame_size);
	void (*chain_destroy)(struct backend_chain *bc);
	/*
	 * Start one batch. descs stays owned by the caller until complete() hands it
	 * back. now is the batch's time (ns since the epoch, CLOCK_REALTIME): every
	 * packet's nf_pkt.now, so that NF state never depends on which device ran
	 * the batch or when. Returns 0, or -EBUSY when the backend's in-flight slots are full,
	 * or another -errno on failure (the batch was not taken).
	 */
	int (*submit)(struct backend_chain *bc, struct gen_desc *descs, uint32_t n, uint64_t now);
	/*
	 * Non-blocking: if the oldest in-flight batch is done, return 1 and its descs
	 * and count; 0 if none is done; -errno if it failed, with descs/n still
	 * returned. Batches complete in submit order. The error says what the
	 * caller may do with the failed batch:
	 *   -EIO     the descs and every byte of their frames are as submitted: the
	 *            batch may be rerun elsewhere (the cpu backend) and each NF then
	 *            runs exactly once on each packet;
	 *   -ESTALE  some frames may already hold NF output (a fault after the
	 *            backend began writing packets back): a rerun could apply an NF
	 *            twice, so the caller drops the batch and counts it.
	 */
	int (*complete)(struct backend_chain *bc, struct gen_desc **ret_descs, uint32_t *ret_n);
	/* Read bytes [off, off+len) of NF i's live state blob (counters, tables) into dst. */
	int (*state_read)(struct backend_chain *bc, uint32_t i, void *dst, uint32_t off, uint32_t len);
	/* Write bytes [off, off+len) of NF i's live state blob (hand-over when a chain moves device). */
	int (*state_write)(struct backend_chain *bc, uint32_t i, const void *src, uint32_t off, uint32_t len);
	/* Optional: one line on what runs the chain (e.g. "fused agent, cached"), for genctl. */
	int (*describe)(struct backend_chain *bc, char *buf, size_t len);
	/* Optional: quiesce background work (agent builds) before the daemon tears down. */
	void (*shutdown)(void);
	/* Max batches in flight per chain (1 for cpu). */
	uint32_t max_inflight;
};

extern const struct backend_ops backend_cpu;
/* Set only in builds with CUDA; probe it with gpu_backend_probe(). */
extern const struct backend_ops *backend_gpu;
/* The GPU backend's last failure in words (NVRTC log lines as FILE:LINE: ...), or "". */
const char *gpu_backend_last_error(void);
/* 0 if a usable GPU is present, else -errno with a one-line reason in why. */
int gpu_backend_probe(char *why, size_t len);

/* Run one batch on the host: the cpu backend's body, also the GPU's fallback. */
void backend_cpu_run(const struct chain_prog *prog, uint8_t *umem, uint32_t frame_size,
		     struct gen_desc *descs, uint32_t n, uint64_t now);
/* The time a batch is stamped with: CLOCK_REALTIME in ns. */
uint64_t backend_batch_time(void);

#endif
