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
#include "gen_limits.h"

/*
 * How the gpu backend runs a chain: chains.ini's gpu_mem, gpu_mode, gpu_agent
 * and gpu_compile_timeout ([gen], per-chain where the man page says so). Zero
 * is each default. cuda/README.md describes the values, and the environment
 * variables that override them for tests and benchmarks.
 */
enum gpu_mem { GPU_MEM_GATHER, GPU_MEM_MAPPED, GPU_MEM_STAGED, GPU_MEM_MAX };
enum gpu_mode { GPU_MODE_RTC, GPU_MODE_PIPELINE, GPU_MODE_MAX };
enum gpu_agent { GPU_AGENT_AUTO, GPU_AGENT_GENERIC, GPU_AGENT_FUSED, GPU_AGENT_MAX };
/* Their names, in enum order (for `static const char *const x[] = GPU_MEM_NAMES;`). */
#define GPU_MEM_NAMES { "gather", "mapped", "staged", NULL }
#define GPU_MODE_NAMES { "rtc", "pipeline", NULL }
#define GPU_AGENT_NAMES { "auto", "generic", "fused", NULL }
struct gpu_opts {
	enum gpu_mem mem;          /* packet memory: gather, mapped or staged */
	enum gpu_mode mode;        /* rtc: one launch per batch; pipeline: one per NF */
	enum gpu_agent agent;      /* auto: generic until the fused agent is built */
	uint32_t compile_timeout_s; /* most a chain_create waits for a fused agent; 0: 60 */
};

/* A chain program: the NF instances a chain runs, in order (host state blobs). */
struct chain_prog {
	uint32_t n;
	uint32_t type[16];
	struct nf_hdr *state[16]; /* host blobs; shared across chains using the same [nf] */
	uint32_t mini_batch;
	int gpu;                  /* device index for gpu backends */
	struct gpu_opts gpu_opts; /* read by gpu backends at chain_create */
	uint32_t chain_id;        /* nf_pkt.chain of its packets (0: none) */
};

struct backend_chain; /* opaque, one per (chain, program version) */

struct backend_ops {
	const char *name;
	/* Called once per UMEM (one per queue) before any chain is created. */
	int (*umem_attach)(void *umem, size_t size, uint32_t frame_size);
	void (*umem_detach)(void *umem);
	/*
	 * Optional: [p, p + size) holds descriptor arrays that the caller passes to
	 * submit(). The backend may then work on them in place: the device reads
	 * the descs and writes its results into them, with no copy in submit() or
	 * complete() (arrays outside any attached area are copied as before). Call
	 * before the arrays are used. descs_detach(p) once no batch uses them;
	 * nonzero when it could not (a device still runs a kernel that never
	 * ended): the caller must then never free them.
	 */
	int (*descs_attach)(void *p, size_t size);
	int (*descs_detach)(void *p);
	/*
	 * Upload the program (state blobs) and set up streams. NULL + errno on
	 * failure, with what failed in err (a compiler's FILE:LINE lines may
	 * follow on lines of their own); err may be NULL.
	 */
	/*
	 * errno ENOTRECOVERABLE: the device can run nothing until the process
	 * restarts (a fault poisoned its context); the caller may make the chain
	 * on the fallback instead.
	 */
	struct backend_chain *(*chain_create)(const struct chain_prog *prog, void *umem, size_t umem_size,
					      uint32_t frame_size, char *err, size_t errlen);
	void (*chain_destroy)(struct backend_chain *bc);
	/*
	 * Start one batch. descs stays owned by the caller until complete() hands it
	 * back. now is the batch's time (ns since the epoch, CLOCK_REALTIME): every
	 * packet's nf_pkt.now, so that NF state never depends on which device ran
	 * the batch or when. Returns 0, or -EBUSY when the backend's in-flight slots
	 * are full (submit it again once a batch completed), or another -errno on
	 * failure. On any error the batch was not taken: the descs and their frames
	 * are untouched, and the caller may run it elsewhere (the fallback).
	 */
	int (*submit)(struct backend_chain *bc, struct gen_desc *descs, uint32_t n, uint64_t now);
	/*
	 * Non-blocking: if the oldest in-flight batch is done, return 1 and its descs
	 * and count; 0 if none is done; -errno if it failed, with descs/n still
	 * returned. Batches complete in submit order. The error says what the
	 * caller may do with the failed batch:
	 *   -EIO     the descs and every byte of their frames are as submitted
	 *            (descs worked on in place may hold a verdict, which a rerun
	 *            sets anew): the batch may be rerun elsewhere (the fallback)
	 *            and each NF then runs exactly once on each packet;
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
	/*
	 * Optional: true when a device still runs a kernel that never ended (an NF
	 * that loops). The process must then end without the runtime's teardown at
	 * exit, which could wait for that kernel; the driver reclaims the device.
	 */
	bool (*device_stuck)(void);
	/*
	 * The chain's last failure in words ("FILE:LINE: what: error"), "" if none:
	 * per chain, so controllers of different chains never share it. Optional.
	 */
	const char *(*last_error)(struct backend_chain *bc);
	/* Max batches in flight per chain (1 for cpu). */
	uint32_t max_inflight;
	/*
	 * Where the controller runs what this backend cannot, or NULL: a backend
	 * that runs each batch within submit() (complete() then hands it back at
	 * once), on the controller's thread, from the host state blobs of the
	 * chain_prog. Batches that fail with -EIO (or are refused by submit) are
	 * rerun there, and the chain stays there until a reload; a hybrid chain
	 * runs there at low load. The NF state of a failed backend is not carried
	 * over at such a fallback (the device may no longer answer): the fallback
	 * continues from the host blobs as last written (chain_create's upload, or
	 * the last hand-over of a move). Numbers NFs spend per packet (ESP's
	 * sequence numbers) are the exception: every backend reserves them from
	 * the host blobs for each batch (nf/registry.h: nf_reserve), so the
	 * fallback never reuses one the device already sent.
	 */
	const struct backend_ops *fallback;
};

extern const struct backend_ops backend_cpu;
/* Set only in builds with CUDA; probe it with gpu_backend_probe(). */
extern const struct backend_ops *backend_gpu;
/* 0 if a usable GPU is present, else -errno with a one-line reason in why. */
int gpu_backend_probe(char *why, size_t len);

/* Run one batch on the host: the cpu backend's body (tests and benchmarks call it directly). */
void backend_cpu_run(const struct chain_prog *prog, uint8_t *umem, uint32_t frame_size,
		     struct gen_desc *descs, uint32_t n, uint64_t now);
/* The time a batch is stamped with: CLOCK_REALTIME in ns. */
uint64_t backend_batch_time(void);

#endif
