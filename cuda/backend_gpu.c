// SPDX-License-Identifier: GPL-2.0
/*
 * The gpu backend: the SFC Starter's CUDA half. Per chain it keeps the Agent
 * Table entry (struct nf_chain with device state pointers) in device memory and
 * a ring of GPU_INFLIGHT_MAX slots, each with its own stream, so that batches
 * overlap (copies of one batch with the kernel of the previous one). How many
 * a chain keeps in flight is its caller's choice (gend: [chain] inflight).
 *
 * Packet memory, per chain (gpu_mem in chains.ini, struct gpu_opts):
 *   gather (default) - the UMEM is registered with cudaHostRegister(Mapped) in
 *            umem_attach; the agent's warps pull each packet (and the window
 *            its NFs may grow into) out of it with 16-byte loads into records
 *            in shared or device memory, run the chain there and write the
 *            packets back the same way (gpu_launch.h). A failed batch is rerun
 *            on the cpu only while no frame was written back (status word).
 *   staged - gather the frames into a pinned staging buffer, one
 *            slot per packet holding the packet at its own offset (so NFs keep
 *            their headroom to grow packets), async H2D, kernel, async D2H,
 *            scatter back into the UMEM frames when the batch completes. The
 *            UMEM is untouched until the batch succeeded, so a failed batch can
 *            be rerun on the cpu from pristine frames.
 *   mapped - the kernel works on the frames in place over PCIe (every NF
 *            byte access is a PCIe transaction: kept for comparison).
 * Execution (gpu_mode): rtc (default, one launch per batch) or pipeline
 * (one launch per NF, in stream order).
 * Agents (gpu_agent): in rtc mode a chain starts on the prebuilt (generic)
 * agent while its fused agent - the chain's NFs called directly, compiled by
 * NVRTC or taken from the cache (fused.c, rtc.c) - is built in the background;
 * submit() switches to it between two batches once it is loaded. A chain with a
 * custom NF has no generic agent: chain_create builds its fused agent first and
 * fails with the compiler's message when it does not compile.
 *
 * Built on the CUDA runtime, linked statically: libcudart loads libcuda.so.1
 * only at the first CUDA call, so a machine without a driver still runs gend
 * (gpu_backend_probe() then says why the gpu is not usable).
 */
#include <inttypes.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cuda_runtime_api.h>
#include "gpu_agent.h"
#include "backend_gpu.h"
#include "fused.h"
#include "rtc.h"
#include "../nf/registry.h"

/*
 * Slots a chain has, batches in flight at most, each on its own stream: small
 * batches leave most SMs idle, so several run side by side (gend keeps as many
 * as [chain] inflight says, gen-bench 12). GEN_GPU_INFLIGHT (test override,
 * 1..this) gives a chain fewer.
 */
#define GPU_INFLIGHT_MAX 16
/*
 * Staged slots are packed: a slot holds the frame from its start to the end of
 * the batch's longest packet plus this much room to grow (ESP adds < 64 bytes),
 * rounded to 64, or the whole frame. Contiguous slots make the copies 1-D:
 * per-row 2-D copies of a sparse frame layout ran at a fraction of PCIe speed.
 */
#define GPU_STAGE_SLACK 256
#define GPU_UMEM_MAX 64
/* Descriptor areas registered with descs_attach (gend: one per batch slot of each controller). */
#define GPU_DREG_MAX 1024
/* Devices whose stuck state is kept (device indexes above are never marked). */
#define GPU_DEV_MAX 64
/* How long a chain's teardown waits for its batches in flight before it leaves them running. */
#define GPU_TEARDOWN_WAIT_MS 2000
#define GPU_ERR_LEN 2048

/*
 * Every CUDA runtime call goes through this: 0, or -EIO with
 * "FILE:LINE: what: CUDA error" written to err (GPU_ERR_LEN bytes).
 */
#define CUDA_TRY(err, call, what)                                                           \
	({                                                                                  \
		cudaError_t e_ = (call);                                                    \
		e_ == cudaSuccess ? 0 : gpu_note_error(err, e_, what, __FILE__, __LINE__);  \
	})

struct gpu_state {
	const struct nf_hdr *host; /* key: host blob; chains sharing an [nf] share the copy */
	int dev;
	void *dptr;
	uint32_t size;
	int refs;
	struct gpu_state *next;
};

struct gpu_umem {
	void *host;
	size_t size;
};

struct gpu_slot {
	cudaStream_t stream;
	cudaEvent_t done;
	struct gen_desc *hdesc;  /* pinned, mapped */
	struct gen_desc *ddesc;  /* device view of hdesc (mapped) or device buffer (staged) */
	uint8_t *hstage;         /* staged: pinned, cap * frame_size */
	uint8_t *dstage;         /* staged: device */
	uint8_t *drec;           /* gather: device records, rec_bytes */
	size_t rec_bytes;
	uint32_t *hstatus;       /* gather: GPU_ST_* words, pinned and mapped */
	uint32_t *dstatus;
	bool inject_after;       /* fault injection: run the batch, then fail it */
	uint32_t cap;
	struct gen_desc *descs;  /* the caller's batch */
	uint32_t n;
	uint32_t stride;         /* staged: bytes per slot this batch */
	bool failed;
	bool zc;                 /* the device works on the caller's descs in place (descs_attach) */
	int64_t launched_ns;     /* CLOCK_MONOTONIC at submit, for the stuck check */
	cudaEvent_t t0, t1;      /* GEN_GPU_TRACE: around the launch (timing events) */
};

/* GEN_GPU_TRACE: what the chain's launches did, printed at chain_destroy. */
struct gpu_trace {
	cudaEvent_t ref;         /* recorded with the first traced launch */
	bool have_ref, ref_recorded;
	uint64_t launches, pkts;
	double sum_ms, min_ms, max_ms; /* t0 -> t1 of each launch */
	double first_ms, last_ms;      /* earliest t0, latest t1 (from ref) */
};

struct backend_chain {
	struct chain_prog prog;
	int dev;
	enum gpu_mem mem;
	enum gpu_mode mode;
	enum gpu_agent agent;
	bool custom;             /* has an NF that only the fused agent runs */
	uint32_t compile_timeout_s; /* most chain_create waits for a fused agent (0: the default) */
	struct fused_agent *fused;
	char fused_why[160];     /* why there is no fused agent */
	struct gpu_state *st[NF_CHAIN_MAX];
	struct nf_chain *dchain; /* Agent Table entry in device memory */
	uint8_t *umem;
	uint8_t *dumem;          /* mapped: device pointer of the UMEM */
	size_t umem_size;
	uint32_t frame_size;
	uint32_t win_head, win_tail; /* gather: the window the chain's NFs may grow into */
	uint32_t off_mask;       /* gather, win_head in a power-of-two frame: frame_size - 1 (gather_tail), else 0 */
	bool writes;             /* gather: some NF may change packet bytes */
	bool desc_copy;          /* GEN_GPU_DESC_COPY=1: copy descs even where they are attached */
	bool zc_last;            /* the last batch submitted had its descs worked on in place */
	uint32_t rec_pad;        /* GPU_REC_PAD_*: records' stride in shared memory (smem_stride) */
	bool smem_ok;            /* gather: records may go to shared memory */
	uint32_t edges;          /* gather: GPU_EDGES_* for staged windows (GEN_GPU_EDGES, opts_resolve) */
	int sms;                 /* multiprocessors of the device */
	uint32_t warps_per_sm;   /* rtc: resident warps a chain's launches aim for per SM (0: no cap) */
	int reconverge;          /* GPU_RECONVERGE_*: warps reconverge between NFs */
	uint32_t late_polls;     /* complete() found the oldest batch running: its clock is read every 256th */
	uint64_t overflows;      /* packets an NF moved out of their window (dropped) */
	cudaStream_t ctl;        /* state reads */
	struct gpu_slot slot[GPU_INFLIGHT_MAX];
	uint32_t depth;          /* slots used as the ring: GPU_INFLIGHT_MAX or GEN_GPU_INFLIGHT */
	uint32_t head, inflight;
	char err[GPU_ERR_LEN];   /* the last failure of its controller's calls (last_error) */
	struct gpu_trace *trace; /* GEN_GPU_TRACE set: launch timings */
};

/*
 * A descriptor area the device reads and writes in place. Entries are filled
 * under g.lock and published by their host pointer; submit() looks them up
 * without the lock.
 */
struct gpu_dreg {
	_Atomic(uint8_t *) host;
	size_t size;
	uint8_t *dev;
};

static struct {
	pthread_mutex_t lock;
	struct gpu_state *states;
	struct gpu_umem umem[GPU_UMEM_MAX];
	struct gpu_dreg dreg[GPU_DREG_MAX];
	_Atomic uint32_t ndreg; /* entries [0, ndreg) may be in use */
	_Atomic uint64_t submits;
	_Atomic bool stuck[GPU_DEV_MAX]; /* a kernel on the device never ended (see chain_free) */
	_Atomic bool lost[GPU_DEV_MAX];  /* a sticky error poisoned the device's context (lost_why set) */
	_Atomic bool lost_claim[GPU_DEV_MAX];
	char lost_why[GPU_DEV_MAX][256];
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Errors after which the context runs nothing more until the process ends (CUDA's "sticky" errors). */
static bool sticky(cudaError_t e)
{
	switch (e) {
	case cudaErrorIllegalAddress:
	case cudaErrorLaunchTimeout:
	case cudaErrorAssert:
	case cudaErrorHardwareStackError:
	case cudaErrorIllegalInstruction:
	case cudaErrorMisalignedAddress:
	case cudaErrorInvalidAddressSpace:
	case cudaErrorInvalidPc:
	case cudaErrorLaunchFailure:
	case cudaErrorECCUncorrectable:
		return true;
	default:
		return false;
	}
}

static int gpu_note_error(char *err, cudaError_t e, const char *what, const char *file, int line)
{
	int dev = -1;

	/* The backend never logs (only the top of the daemon does); the caller's buffer keeps it. */
	snprintf(err, GPU_ERR_LEN, "%s:%d: %s: %s", file, line, what, cudaGetErrorString(e));
	if (sticky(e) && cudaGetDevice(&dev) == cudaSuccess && dev >= 0 && dev < GPU_DEV_MAX) {
		bool was = false;

		if (atomic_compare_exchange_strong(&g.lost_claim[dev], &was, true)) {
			snprintf(g.lost_why[dev], sizeof(g.lost_why[dev]), "%s", err);
			atomic_store(&g.lost[dev], true);
		}
	}
	return -EIO;
}

static const char *gpu_last_error(struct backend_chain *bc)
{
	return bc->err;
}

/*
 * Resident warps per SM that an rtc chain's launches aim for together
 * (GEN_GPU_WARPS_PER_SM, test override; 0: one thread per packet, no cap).
 * A launch then needs only the records of its resident threads: device records
 * of large packets stay in L2 (1500 B, 16k batches: 9.5 -> 13.7 Mpps on the
 * H200); at 64 B the budget is neutral within run-to-run noise
 * (test/bench/RESULTS.md, the sweep).
 */
#define GPU_WARPS_PER_SM 16
/* Strides of gather records in shared memory (smem_stride). */
enum { GPU_REC_PAD_NONE = 0, GPU_REC_PAD_WORD = 4, GPU_REC_PAD_CHUNK = 16 };

/* A test or benchmark override: var as a number in [lo, hi], else def. */
static uint32_t env_u32(const char *var, uint32_t def, uint32_t lo, uint32_t hi)
{
	const char *v = getenv(var);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return def;
	n = strtoul(v, &end, 10);
	return *end || n < lo || n > hi ? def : (uint32_t)n;
}

/*
 * Whether a batch's warps reconverge between two NFs (gpu_nf_reconverge):
 * GEN_GPU_RECONVERGE=0 never, 1 always, auto (default) when the batch's
 * packets average GPU_RECONVERGE_MEAN bytes or more. Measured on the H200
 * (test/bench/RESULTS.md), fused paper chain, always against never: IMIX
 * +20 % at 4k batches and +3 % at 64k, 1500 B +1-9 %, 64 B -3-4 % (lanes of
 * one size that leave nids apart hide each other's waits in ESP).
 */
enum { GPU_RECONVERGE_NEVER, GPU_RECONVERGE_ALWAYS, GPU_RECONVERGE_AUTO };
#define GPU_RECONVERGE_NAMES { "0", "1", "auto", NULL }
/* GEN_GPU_EDGES, indexed by GPU_EDGES_* (gpu_launch.h). */
#define GPU_EDGES_NAMES { "window", "head", "zero", NULL }
#define GPU_RECONVERGE_MEAN 128

static uint32_t reconverge_for(const struct backend_chain *bc, uint64_t bytes, uint32_t n)
{
	if (bc->reconverge != GPU_RECONVERGE_AUTO)
		return bc->reconverge == GPU_RECONVERGE_ALWAYS;
	return n && bytes >= (uint64_t)GPU_RECONVERGE_MEAN * n;
}

/* Test override var, if set, picks *ret out of names; -EINVAL naming it when it names none. */
static int env_pick(const char *var, const char *const *names, int *ret, char *err, size_t errlen)
{
	const char *v = getenv(var);

	if (!v || !*v)
		return 0;
	for (int i = 0; names[i]; i++) {
		if (!strcmp(v, names[i])) {
			*ret = i;
			return 0;
		}
	}
	snprintf(err, errlen, "%s=%s: not one of the values cuda/README.md lists", var, v);
	return -EINVAL;
}

/*
 * The chain's settings: the program's (chains.ini), then the test and
 * benchmark overrides cuda/README.md lists, from the environment.
 */
static int opts_resolve(struct backend_chain *bc, const struct gpu_opts *o, char *err, size_t errlen)
{
	static const char *const mems[] = GPU_MEM_NAMES, *const modes[] = GPU_MODE_NAMES,
			  *const agents[] = GPU_AGENT_NAMES, *const recs[] = GPU_RECONVERGE_NAMES,
			  *const edges[] = GPU_EDGES_NAMES;
	int mem = o->mem, mode = o->mode, agent = o->agent, rec = GPU_RECONVERGE_AUTO, edge = GPU_EDGES_ZERO, r;
	const char *t = getenv("GEN_RTC_TIMEOUT");

	if ((r = env_pick("GEN_GPU_MEM", mems, &mem, err, errlen)) ||
	    (r = env_pick("GEN_GPU_MODE", modes, &mode, err, errlen)) ||
	    (r = env_pick("GEN_GPU_AGENT", agents, &agent, err, errlen)) ||
	    (r = env_pick("GEN_GPU_RECONVERGE", recs, &rec, err, errlen)) ||
	    (r = env_pick("GEN_GPU_EDGES", edges, &edge, err, errlen)))
		return r;
	if (mem >= GPU_MEM_MAX || mode >= GPU_MODE_MAX || agent >= GPU_AGENT_MAX) {
		snprintf(err, errlen, "gpu settings out of range (mem %d, mode %d, agent %d)", mem, mode, agent);
		return -EINVAL;
	}
	bc->mem = (enum gpu_mem)mem;
	bc->mode = (enum gpu_mode)mode;
	bc->agent = (enum gpu_agent)agent;
	bc->reconverge = rec;
	/* "head" and "window" keep every frame byte outside the packets, at the price of edge chunks read. */
	bc->edges = (uint32_t)edge;
	bc->compile_timeout_s = t && atoi(t) > 0 ? (uint32_t)atoi(t) : o->compile_timeout_s;
	return 0;
}

int gpu_backend_probe(char *why, size_t len)
{
	struct cudaDeviceProp prop;
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e == cudaErrorInsufficientDriver) {
		snprintf(why, len, "no CUDA driver (libcuda.so.1 missing or older than the CUDA runtime)");
		return -ENODEV;
	}
	if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) {
		snprintf(why, len, "no CUDA device");
		return -ENODEV;
	}
	if (e != cudaSuccess) {
		snprintf(why, len, "CUDA unusable: %s", cudaGetErrorString(e));
		return -ENODEV;
	}
	e = cudaSetDevice(0);
	if (e == cudaSuccess)
		e = cudaGetDeviceProperties(&prop, 0);
	if (e == cudaSuccess)
		e = gpu_agent_check();
	if (e != cudaSuccess) {
		snprintf(why, len, "CUDA device 0 unusable: %s", cudaGetErrorString(e));
		return -ENODEV;
	}
	snprintf(why, len, "%d CUDA device(s), device 0: %s (sm_%d%d)", n, prop.name, prop.major, prop.minor);
	return 0;
}

/* Whether a kernel on some device never ended (see chain_free). */
static bool any_stuck(void)
{
	for (int d = 0; d < GPU_DEV_MAX; d++)
		if (atomic_load(&g.stuck[d]))
			return true;
	return false;
}

static int gpu_umem_attach(void *umem, size_t size, uint32_t frame_size)
{
	char err[GPU_ERR_LEN];
	int r = -ENOSPC;

	pthread_mutex_lock(&g.lock);
	for (int i = 0; i < GPU_UMEM_MAX; i++) {
		if (g.umem[i].host)
			continue;
		/* Portable: the registration serves every device, chains may sit on any. */
		r = CUDA_TRY(err, cudaHostRegister(umem, size, cudaHostRegisterMapped | cudaHostRegisterPortable),
			     "cudaHostRegister(UMEM)");
		if (r)
			break;
		g.umem[i].host = umem;
		g.umem[i].size = size;
		break;
	}
	pthread_mutex_unlock(&g.lock);
	return r;
}

static void gpu_umem_detach(void *umem)
{
	char err[GPU_ERR_LEN];

	pthread_mutex_lock(&g.lock);
	for (int i = 0; i < GPU_UMEM_MAX; i++) {
		if (g.umem[i].host != umem)
			continue;
		/* A kernel that never ends may still read it; unregistering would wait for it (chain_free). */
		if (any_stuck())
			goto out;
		CUDA_TRY(err, cudaHostUnregister(umem), "cudaHostUnregister(UMEM)");
		g.umem[i].host = NULL;
	}
out:
	pthread_mutex_unlock(&g.lock);
}

static int gpu_descs_attach(void *p, size_t size)
{
	char err[GPU_ERR_LEN];
	uint8_t *dev = NULL;
	int r = -ENOSPC;

	pthread_mutex_lock(&g.lock);
	for (uint32_t i = 0; i < GPU_DREG_MAX; i++) {
		struct gpu_dreg *e = &g.dreg[i];

		if (atomic_load_explicit(&e->host, memory_order_relaxed))
			continue;
		r = CUDA_TRY(err, cudaHostRegister(p, size, cudaHostRegisterMapped | cudaHostRegisterPortable),
			     "cudaHostRegister(descs)");
		if (!r && (r = CUDA_TRY(err, cudaHostGetDevicePointer((void **)&dev, p, 0), "map descs")))
			cudaHostUnregister(p);
		if (r)
			break;
		e->size = size;
		e->dev = dev;
		atomic_store_explicit(&e->host, (uint8_t *)p, memory_order_release);
		if (atomic_load(&g.ndreg) < i + 1)
			atomic_store(&g.ndreg, i + 1);
		break;
	}
	pthread_mutex_unlock(&g.lock);
	return r;
}

static int gpu_descs_detach(void *p)
{
	char err[GPU_ERR_LEN];
	int r = -ENOENT;

	pthread_mutex_lock(&g.lock);
	for (uint32_t i = 0; i < GPU_DREG_MAX; i++) {
		struct gpu_dreg *e = &g.dreg[i];

		if (atomic_load_explicit(&e->host, memory_order_relaxed) != p)
			continue;
		/* A kernel that never ends may still write them: they stay registered, and the caller keeps them. */
		if (any_stuck()) {
			r = -EBUSY;
			break;
		}
		atomic_store_explicit(&e->host, NULL, memory_order_release);
		r = CUDA_TRY(err, cudaHostUnregister(p), "cudaHostUnregister(descs)");
		break;
	}
	pthread_mutex_unlock(&g.lock);
	return r;
}

/* The device address of descs[0, n) when they lie in an attached area, else NULL. */
static struct gen_desc *descs_dev(const struct gen_desc *descs, uint32_t n)
{
	static __thread uint32_t hint; /* a controller submits from the same few areas */
	const uint8_t *a = (const uint8_t *)descs, *b = (const uint8_t *)(descs + n);
	uint32_t m = atomic_load_explicit(&g.ndreg, memory_order_acquire);

	for (uint32_t k = 0; k < m; k++) {
		uint32_t i = (hint + k) % m;
		const uint8_t *h = atomic_load_explicit(&g.dreg[i].host, memory_order_acquire);

		if (h && a >= h && b <= h + g.dreg[i].size) {
			hint = i;
			return (struct gen_desc *)(g.dreg[i].dev + (a - h));
		}
	}
	return NULL;
}

static bool umem_registered(const void *umem, size_t size)
{
	bool ok = false;

	pthread_mutex_lock(&g.lock);
	for (int i = 0; i < GPU_UMEM_MAX; i++)
		ok |= g.umem[i].host == umem && g.umem[i].size >= size;
	pthread_mutex_unlock(&g.lock);
	return ok;
}

/* Device copy of a host blob on dev, shared by refcount. Called with g.lock held; NULL + errno, err. */
static struct gpu_state *state_get(const struct nf_hdr *host, int dev, char *err)
{
	struct gpu_state *s;

	for (s = g.states; s; s = s->next) {
		if (s->host == host && s->dev == dev) {
			s->refs++;
			return s;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->host = host;
	s->dev = dev;
	s->size = host->size;
	if (CUDA_TRY(err, cudaMalloc(&s->dptr, s->size), "cudaMalloc(NF state)"))
		goto out_free;
	if (CUDA_TRY(err, cudaMemcpy(s->dptr, host, s->size, cudaMemcpyHostToDevice), "upload NF state"))
		goto out_dfree;
	s->refs = 1;
	s->next = g.states;
	g.states = s;
	return s;
out_dfree:
	cudaFree(s->dptr);
out_free:
	free(s);
	errno = EIO;
	return NULL;
}

static void state_put(struct gpu_state *s)
{
	struct gpu_state **pp;

	if (!s || --s->refs > 0)
		return;
	for (pp = &g.states; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	cudaFree(s->dptr);
	free(s);
}

static void slot_free_bufs(struct gpu_slot *sl, enum gpu_mem mem)
{
	if (sl->hdesc)
		cudaFreeHost(sl->hdesc);
	if (mem == GPU_MEM_STAGED && sl->ddesc)
		cudaFree(sl->ddesc);
	if (sl->hstage)
		cudaFreeHost(sl->hstage);
	if (sl->dstage)
		cudaFree(sl->dstage);
	sl->hdesc = sl->ddesc = NULL;
	sl->hstage = sl->dstage = NULL;
	sl->cap = 0;
}

/* Stream-ordered on the slot's stream (the only one that uses them): no wait on the other slots' kernels. */
static void slot_free_recs(struct gpu_slot *sl)
{
	if (sl->drec)
		cudaFreeAsync(sl->drec, sl->stream);
	sl->drec = NULL;
	sl->rec_bytes = 0;
}

/*
 * Grow a slot to hold n packets. The slot is idle here (its batch completed).
 * A batch whose descriptors the kernel works on in place (descs_attach: all
 * of gend's) needs none of the slot's own, so gend's controllers never pin
 * memory here: cudaHostAlloc and cudaFreeHost take milliseconds, and the
 * first batch past a slot's size used to pay them on the data path, once per
 * slot, with the port's ring filling meanwhile.
 */
static int slot_reserve(struct backend_chain *bc, struct gpu_slot *sl, uint32_t n, bool copy)
{
	uint32_t cap = 1024;
	size_t fs = bc->frame_size;

	if (n <= sl->cap || (!copy && bc->mem != GPU_MEM_STAGED))
		return 0;
	while (cap < n)
		cap *= 2;
	slot_free_bufs(sl, bc->mem);
	if (CUDA_TRY(bc->err, cudaHostAlloc((void **)&sl->hdesc, cap * sizeof(struct gen_desc), cudaHostAllocMapped),
		     "cudaHostAlloc(descs)"))
		goto fail;
	if (bc->mem != GPU_MEM_STAGED) {
		if (CUDA_TRY(bc->err, cudaHostGetDevicePointer((void **)&sl->ddesc, sl->hdesc, 0), "map descs"))
			goto fail;
	} else {
		if (CUDA_TRY(bc->err, cudaMalloc((void **)&sl->ddesc, cap * sizeof(struct gen_desc)), "cudaMalloc(descs)") ||
		    CUDA_TRY(bc->err, cudaHostAlloc((void **)&sl->hstage, cap * fs, cudaHostAllocDefault),
			     "cudaHostAlloc(staging)") ||
		    CUDA_TRY(bc->err, cudaMalloc((void **)&sl->dstage, cap * fs), "cudaMalloc(staging)"))
			goto fail;
	}
	sl->cap = cap;
	return 0;
fail:
	slot_free_bufs(sl, bc->mem);
	return -ENOMEM;
}

/* Gather mode: device records for n packets of stride bytes (when they do not go to shared memory). */
static int slot_reserve_recs(struct backend_chain *bc, struct gpu_slot *sl, uint32_t n, uint32_t stride)
{
	size_t need = (size_t)n * stride, size = 1 << 20;

	if (need <= sl->rec_bytes)
		return 0;
	while (size < need)
		size *= 2;
	slot_free_recs(sl);
	if (CUDA_TRY(bc->err, cudaMallocAsync((void **)&sl->drec, size, sl->stream), "cudaMallocAsync(packet records)"))
		return -ENOMEM;
	sl->rec_bytes = size;
	return 0;
}

static bool dev_stuck(int dev)
{
	return dev >= 0 && dev < GPU_DEV_MAX && atomic_load(&g.stuck[dev]);
}

static int64_t gpu_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * True when a batch of bc is still running after wait_ms: its kernel does not
 * end (an NF that loops), and CUDA cannot abort one launch.
 */
static bool chain_stuck(struct backend_chain *bc, int wait_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int waited = 0;; waited += 10) {
		bool busy = false;

		for (int i = 0; i < GPU_INFLIGHT_MAX; i++)
			busy |= bc->slot[i].done && cudaEventQuery(bc->slot[i].done) == cudaErrorNotReady;
		if (!busy)
			return false;
		if (waited >= wait_ms)
			return true;
		nanosleep(&ts, NULL);
	}
}


/*
 * Free a chain's device resources. Never waits on a device where a kernel does
 * not end: cudaStreamSynchronize, cudaFree and cudaFreeHost would wait for it
 * forever and block gend's main thread (a reload, SIGTERM). Such a chain, and
 * every chain freed on that device afterwards, is left allocated instead; only
 * the process's end (destroying the context) reclaims it.
 */
static void chain_free(struct backend_chain *bc)
{
	cudaSetDevice(bc->dev);
	if (dev_stuck(bc->dev) || chain_stuck(bc, GPU_TEARDOWN_WAIT_MS)) {
		if (bc->dev >= 0 && bc->dev < GPU_DEV_MAX)
			atomic_store(&g.stuck[bc->dev], true);
		return;
	}
	for (int i = 0; i < GPU_INFLIGHT_MAX; i++) {
		struct gpu_slot *sl = &bc->slot[i];

		slot_free_recs(sl); /* on the stream, before it is synchronized and destroyed */
		if (sl->stream) {
			cudaStreamSynchronize(sl->stream);
			cudaStreamDestroy(sl->stream);
		}
		if (sl->done)
			cudaEventDestroy(sl->done);
		if (sl->t0)
			cudaEventDestroy(sl->t0);
		if (sl->t1)
			cudaEventDestroy(sl->t1);
		slot_free_bufs(sl, bc->mem);
		if (sl->hstatus)
			cudaFreeHost(sl->hstatus);
	}
	if (bc->ctl)
		cudaStreamDestroy(bc->ctl);
	if (bc->trace) {
		if (bc->trace->have_ref)
			cudaEventDestroy(bc->trace->ref);
		free(bc->trace);
	}
	fused_put(bc->fused); /* no batch of this chain is running any more */
	if (bc->dchain)
		cudaFree(bc->dchain);
	pthread_mutex_lock(&g.lock);
	for (uint32_t i = 0; i < NF_CHAIN_MAX; i++)
		state_put(bc->st[i]);
	pthread_mutex_unlock(&g.lock);
	free(bc);
}

/*
 * Pick the chain's agent. Returns 0 or -errno (bc->err says why): only a
 * chain that cannot run without its fused agent fails here.
 */
static int fused_attach(struct backend_chain *bc)
{
	char err[GPU_ERR_LEN] = "";
	bool sync = bc->custom || bc->agent == GPU_AGENT_FUSED;

	if (bc->custom && bc->agent == GPU_AGENT_GENERIC) {
		snprintf(bc->err, sizeof(bc->err),
			 "the chain has a custom NF, which only a fused agent runs (gpu_agent = generic)");
		return -EINVAL;
	}
	if (!sync && bc->agent == GPU_AGENT_GENERIC) {
		snprintf(bc->fused_why, sizeof(bc->fused_why), "fused off");
		return 0;
	}
	if (!sync && bc->mode == GPU_MODE_PIPELINE) {
		snprintf(bc->fused_why, sizeof(bc->fused_why), "pipeline mode");
		return 0;
	}
	bc->fused = fused_get(&bc->prog, bc->dev, sync, (int)bc->compile_timeout_s, err, sizeof(err));
	if (bc->fused)
		return 0;
	if (sync) {
		snprintf(bc->err, sizeof(bc->err), "%s", err);
		return errno ? -errno : -EIO;
	}
	/* The generic agent runs the chain; say why it will stay at that. */
	snprintf(bc->fused_why, sizeof(bc->fused_why), "%s", err);
	return 0;
}

/*
 * The window gather mode stages around each packet: what the chain's NFs may
 * prepend and append (nf/nf_list.h), summed; a custom NF may do anything within
 * its frame, so its chain (and pipeline mode, whose launches share the records)
 * stages whole-frame windows.
 */
static void chain_window(struct backend_chain *bc)
{
#define NF_GROW_(NAME, name, h, t, w, b) [NF_T_##NAME] = { h, t, w },
	static const struct {
		uint32_t head, tail, writes;
	} grow[NF_T_MAX] = { NF_LIST(NF_GROW_) };
#undef NF_GROW_
	const char *v = getenv("GEN_GPU_SMEM");

	bc->win_head = bc->win_tail = 0;
	bc->writes = false;
	for (uint32_t i = 0; i < bc->prog.n; i++) {
		uint32_t t = bc->prog.type[i];

		if (t == NF_T_CUSTOM || t >= NF_T_MAX || bc->mode == GPU_MODE_PIPELINE) {
			bc->win_head = bc->win_tail = bc->frame_size;
			bc->writes = true;
			break;
		}
		bc->win_head += grow[t].head;
		bc->win_tail += grow[t].tail;
		bc->writes |= grow[t].writes != 0;
	}
	bc->smem_ok = bc->mode == GPU_MODE_RTC && !(v && !strcmp(v, "0"));
	/* Packet offsets matter only where a head may not fit (gather_tail); a mask of 0 reads them all as 0. */
	bool pow2 = !(bc->frame_size & (bc->frame_size - 1));
	bc->off_mask = 0;
	if (bc->mem == GPU_MEM_GATHER && bc->win_head && bc->win_head < bc->frame_size && pow2)
		bc->off_mask = bc->frame_size - 1;
}

static struct backend_chain *gpu_chain_create(const struct chain_prog *prog, void *umem, size_t umem_size,
					      uint32_t frame_size, char *ret_err, size_t errlen)
{
	struct backend_chain *bc;
	struct nf_chain c = { 0 };
	int ndev = 0, err = -EIO;

	if (prog->n > NF_CHAIN_MAX || !frame_size || frame_size > GPU_FRAME_MAX || !umem) {
		if (ret_err)
			snprintf(ret_err, errlen, "bad chain: %u NFs (at most %d), frame size %u (at most %u), UMEM %p",
				 prog->n, NF_CHAIN_MAX, frame_size, GPU_FRAME_MAX, umem);
		errno = EINVAL;
		return NULL;
	}
	if (cudaGetDeviceCount(&ndev) != cudaSuccess || prog->gpu < 0 || prog->gpu >= ndev) {
		if (ret_err)
			snprintf(ret_err, errlen, "no CUDA device %d (%d present)", prog->gpu, ndev);
		errno = ENODEV;
		return NULL;
	}
	if (prog->gpu < GPU_DEV_MAX && atomic_load(&g.lost[prog->gpu])) {
		if (ret_err)
			snprintf(ret_err, errlen, "GPU %d is lost until gend restarts (%s)", prog->gpu,
				 g.lost_why[prog->gpu]);
		errno = ENOTRECOVERABLE;
		return NULL;
	}
	bc = calloc(1, sizeof(*bc));
	if (!bc) {
		if (ret_err)
			snprintf(ret_err, errlen, "out of memory for the chain");
		return NULL;
	}
	bc->prog = *prog;
	bc->dev = prog->gpu;
	bc->custom = rtc_needs_fused(prog);
	bc->umem = umem;
	bc->umem_size = umem_size;
	bc->frame_size = frame_size;
	err = opts_resolve(bc, &prog->gpu_opts, bc->err, sizeof(bc->err));
	if (err || (err = CUDA_TRY(bc->err, cudaSetDevice(bc->dev), "cudaSetDevice")))
		goto fail;

	pthread_mutex_lock(&g.lock);
	for (uint32_t i = 0; i < prog->n; i++) {
		bc->st[i] = state_get(prog->state[i], bc->dev, bc->err);
		if (!bc->st[i])
			break;
		c.type[i] = prog->type[i];
		c.state[i] = (uint64_t)(uintptr_t)bc->st[i]->dptr;
	}
	pthread_mutex_unlock(&g.lock);
	for (uint32_t i = 0; i < prog->n; i++) {
		if (!bc->st[i]) {
			err = -EIO;
			goto fail;
		}
	}
	c.n = prog->n;
	if ((err = CUDA_TRY(bc->err, cudaMalloc((void **)&bc->dchain, sizeof(c)), "cudaMalloc(agent table)")) ||
	    (err = CUDA_TRY(bc->err, cudaMemcpy(bc->dchain, &c, sizeof(c), cudaMemcpyHostToDevice),
			    "upload agent table")) ||
	    (err = CUDA_TRY(bc->err, cudaStreamCreateWithFlags(&bc->ctl, cudaStreamNonBlocking), "cudaStreamCreate")))
		goto fail;
	if (bc->mem != GPU_MEM_STAGED) {
		if (!umem_registered(umem, umem_size)) {
			snprintf(bc->err, sizeof(bc->err), "mapped packet memory needs umem_attach() first");
			err = -EINVAL;
			goto fail;
		}
		if ((err = CUDA_TRY(bc->err, cudaHostGetDevicePointer((void **)&bc->dumem, umem, 0), "map UMEM")))
			goto fail;
	}
	/* Batches in flight: GEN_GPU_INFLIGHT overrides (tests, benchmarks). */
	bc->depth = env_u32("GEN_GPU_INFLIGHT", GPU_INFLIGHT_MAX, 1, GPU_INFLIGHT_MAX);
	for (uint32_t i = 0; i < bc->depth; i++) {
		/* Non-blocking streams: never serialised behind the legacy default stream. */
		struct gpu_slot *sl = &bc->slot[i];

		if ((err = CUDA_TRY(bc->err, cudaStreamCreateWithFlags(&sl->stream, cudaStreamNonBlocking),
				    "cudaStreamCreate")) ||
		    (err = CUDA_TRY(bc->err, cudaEventCreateWithFlags(&sl->done, cudaEventDisableTiming),
				    "cudaEventCreate")) ||
		    (err = CUDA_TRY(bc->err, cudaHostAlloc((void **)&sl->hstatus, GPU_ST_MAX * sizeof(uint32_t),
							   cudaHostAllocMapped), "cudaHostAlloc(status)")) ||
		    (err = CUDA_TRY(bc->err, cudaHostGetDevicePointer((void **)&sl->dstatus, sl->hstatus, 0),
				    "map status")))
			goto fail;
	}
	const char *tr = getenv("GEN_GPU_TRACE");
	if (tr && *tr && strcmp(tr, "0")) {
		bc->trace = calloc(1, sizeof(*bc->trace));
		for (uint32_t i = 0; bc->trace && i < bc->depth; i++)
			if (cudaEventCreate(&bc->slot[i].t0) != cudaSuccess || cudaEventCreate(&bc->slot[i].t1) != cudaSuccess) {
				free(bc->trace);
				bc->trace = NULL;
			}
		if (bc->trace)
			bc->trace->have_ref = cudaEventCreate(&bc->trace->ref) == cudaSuccess;
	}
	err = CUDA_TRY(bc->err, cudaDeviceGetAttribute(&bc->sms, cudaDevAttrMultiProcessorCount, bc->dev), "SM count");
	if (err)
		goto fail;
	bc->warps_per_sm = env_u32("GEN_GPU_WARPS_PER_SM", GPU_WARPS_PER_SM, 0, 64);
	const char *dc = getenv("GEN_GPU_DESC_COPY");
	bc->desc_copy = dc && !strcmp(dc, "1");
	bc->rec_pad = env_u32("GEN_GPU_REC_PAD", GPU_REC_PAD_NONE, 0, 16);
	if (bc->rec_pad != GPU_REC_PAD_CHUNK && bc->rec_pad != GPU_REC_PAD_WORD)
		bc->rec_pad = GPU_REC_PAD_NONE;
	chain_window(bc);
	err = fused_attach(bc);
	if (err)
		goto fail;
	return bc;
fail:
	if (ret_err)
		snprintf(ret_err, errlen, "%s", bc->err);
	chain_free(bc);
	errno = -err;
	return NULL;
}

static void gpu_chain_destroy(struct backend_chain *bc)
{
	if (bc && bc->trace && bc->trace->launches) {
		struct gpu_trace *t = bc->trace;
		double span = t->last_ms - t->first_ms;

		fprintf(stderr,
			"gpu trace: %" PRIu64 " launches of %.0f packets: t0->t1 mean %.1f us (min %.1f, max %.1f); "
			"%.2f launches running on average; one launch every %.1f us\n",
			t->launches, (double)t->pkts / (double)t->launches, 1e3 * t->sum_ms / (double)t->launches,
			1e3 * t->min_ms, 1e3 * t->max_ms, span > 0 ? t->sum_ms / span : 0, 1e3 * span / (double)t->launches);
	}
	if (bc)
		chain_free(bc);
}

/* GEN_GPU_TRACE: the finished launch of slot sl into the chain's trace. */
static void trace_done(struct backend_chain *bc, struct gpu_slot *sl)
{
	struct gpu_trace *t = bc->trace;
	float a, b;

	if (cudaEventElapsedTime(&a, t->ref, sl->t0) != cudaSuccess ||
	    cudaEventElapsedTime(&b, t->ref, sl->t1) != cudaSuccess)
		return;
	if (!t->launches || a < t->first_ms)
		t->first_ms = a;
	if (!t->launches || b > t->last_ms)
		t->last_ms = b;
	if (!t->launches || b - a < t->min_ms)
		t->min_ms = b - a;
	if (b - a > t->max_ms)
		t->max_ms = b - a;
	t->sum_ms += b - a;
	t->launches++;
	t->pkts += sl->n;
}

/*
 * Fault injection for tests: GEN_GPU_FAULT_INJECT=N fails the N-th submit
 * (1-based, process-wide) before anything runs; N:after lets it run and then
 * fails it, as a fault late in the kernel would. Returns 0, 1 (before), 2 (after).
 */
static int fault_now(void)
{
	static long inject = -1;
	static bool after;
	uint64_t k = atomic_fetch_add(&g.submits, 1) + 1;

	if (inject < 0) {
		const char *v = getenv("GEN_GPU_FAULT_INJECT");
		char *end = NULL;

		inject = v ? strtol(v, &end, 10) : 0;
		after = end && !strcmp(end, ":after");
	}
	if (inject <= 0 || k != (uint64_t)inject)
		return 0;
	return after ? 2 : 1;
}

/* Gather into packed staging slots and queue the copy in. */
static cudaError_t stage_in(struct backend_chain *bc, struct gpu_slot *sl, const struct gen_desc *descs, uint32_t n)
{
	uint32_t fs = bc->frame_size, hi = 0, stride;
	cudaError_t e;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = (uint32_t)(descs[i].addr % fs);
		uint32_t end = off + descs[i].len;
		hi = end > hi ? end : hi;
	}
	stride = (hi + GPU_STAGE_SLACK + 63) & ~63u;
	if (stride >= fs || hi > fs)
		stride = fs;
	sl->stride = stride;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = (uint32_t)(descs[i].addr % fs);
		uint32_t len = descs[i].len;

		if (off + len > fs) /* a bad desc must not read past its frame */
			len = off < fs ? fs - off : 0;
		memcpy(sl->hstage + (size_t)i * stride + off, bc->umem + descs[i].addr, len);
	}
	e = cudaMemcpyAsync(sl->ddesc, sl->hdesc, n * sizeof(*descs), cudaMemcpyHostToDevice, sl->stream);
	if (e == cudaSuccess)
		e = cudaMemcpyAsync(sl->dstage, sl->hstage, (size_t)n * stride, cudaMemcpyHostToDevice, sl->stream);
	return e;
}

static cudaError_t stage_out(struct gpu_slot *sl, uint32_t n)
{
	cudaError_t e = cudaMemcpyAsync(sl->hdesc, sl->ddesc, n * sizeof(*sl->hdesc), cudaMemcpyDeviceToHost,
					sl->stream);

	if (e == cudaSuccess)
		e = cudaMemcpyAsync(sl->hstage, sl->dstage, (size_t)n * sl->stride, cudaMemcpyDeviceToHost, sl->stream);
	return e;
}

/*
 * The launch shape: one packet per thread, blocks of mini_batch packets (whole
 * warps, at most GPU_BLOCK_MAX), smaller when the batch is too small to give
 * every SM two blocks (a 1k-packet batch then spreads over 32 SMs instead of 4),
 * and small enough for the block's packet records (rec bytes each, 0: none) to
 * sit in shared memory when a warp's do.
 */
static struct gpu_grid grid_for(const struct backend_chain *bc, uint32_t n, uint32_t rec)
{
	uint32_t mb = bc->prog.mini_batch ? bc->prog.mini_batch : GEN_MINI_BATCH_DEFAULT;
	uint32_t t = (mb + 31) & ~31u, want = 2 * (uint32_t)(bc->sms > 0 ? bc->sms : 1);

	if (t > GPU_BLOCK_MAX)
		t = GPU_BLOCK_MAX;
	if (rec && 32 * rec <= GPU_SMEM_MAX && t * rec > GPU_SMEM_MAX)
		t = GPU_SMEM_MAX / rec & ~31u;
	while (t > 32 && (n + t - 1) / t < want)
		t -= 32;
	uint32_t blocks = (n + t - 1) / t;
	if (bc->mode == GPU_MODE_RTC && bc->warps_per_sm) {
		/*
		 * The rtc agent strides over the batch (gpu_agent_body), so a launch
		 * needs only the warps it should keep resident: the chain's budget,
		 * shared with the batches it already has in flight.
		 */
		uint64_t budget = (uint64_t)bc->warps_per_sm * (uint32_t)(bc->sms > 0 ? bc->sms : 1) * 32 / t;
		uint64_t cap = budget / (1 + bc->inflight);
		if (cap < 1)
			cap = 1;
		if (blocks > cap)
			blocks = (uint32_t)cap;
	}
	return (struct gpu_grid){ .blocks = blocks, .threads = t, .smem = 0 };
}

/*
 * Gather mode: the room staged after a batch's packets. An NF that finds less
 * headroom than its head may first move the packet up by as much (nf_list.h:
 * ESP), so the tail then grows by the chain's head; a batch whose packets all
 * have the head's room in front (min_off: the least offset in a frame, 0 when
 * off_mask is; gend's frames keep 256 bytes) stages only the tail proper: 44
 * bytes fewer a packet for ESP than before, read over PCIe and held in records.
 */
static uint32_t gather_tail(const struct backend_chain *bc, uint32_t min_off)
{
	if (bc->win_head >= bc->frame_size || min_off >= bc->win_head)
		return bc->win_tail;
	return bc->win_tail + bc->win_head;
}

/*
 * Gather mode, GPU_EDGES_HEAD: when every packet of the batch has the chain's
 * head of room in front (then gather_tail gave the tail proper), the agent
 * stages of the head only the chunk each packet's new start falls in: ESP at
 * 64 B reads 112 bytes a packet over PCIe instead of 144 (GPU_EDGES_ZERO: 64).
 */
static uint32_t gather_edges(const struct backend_chain *bc, uint32_t min_off)
{
	if (bc->edges != GPU_EDGES_HEAD)
		return bc->edges;
	return bc->win_head && bc->win_head < bc->frame_size && min_off >= bc->win_head ? GPU_EDGES_HEAD
											  : GPU_EDGES_WINDOW;
}

/* Gather mode: bytes per packet record for a batch whose longest packet is maxlen. */
static uint32_t gather_stride(const struct backend_chain *bc, uint32_t maxlen, uint32_t tail)
{
	uint64_t stride = ((uint64_t)maxlen + bc->win_head + tail + 32 + 15) & ~15ull;

	return stride > bc->frame_size ? bc->frame_size : (uint32_t)stride;
}

/*
 * The stride of records in shared memory. The lanes of a warp mostly touch the
 * same offset of their own records at once (the same header field, the same
 * payload word), so the stride decides how many of them share a bank: a
 * stride of an even number of 16-byte units puts 4 to 32 lanes on each bank
 * used (the paper chain's 224-byte records at 64 B: 8). GEN_GPU_REC_PAD (test
 * and benchmark override) picks GPU_REC_PAD_WORD, an odd number of 4-byte
 * words (every lane on a bank of its own; records are then 4-byte aligned and
 * the gather and write-back move them in words), or GPU_REC_PAD_CHUNK, an odd
 * number of 16-byte units (4 lanes a bank). Measured on the H200 (RESULTS.md,
 * twelfth run): the paper chain +5 % at 4k batches, nids alone 25 % slower;
 * so the default stays the stride as computed.
 */
static uint32_t smem_stride(const struct backend_chain *bc, uint32_t stride)
{
	if (bc->rec_pad == GPU_REC_PAD_WORD)
		return stride + 4;
	if (bc->rec_pad == GPU_REC_PAD_CHUNK && !(stride / 16 & 1))
		return stride + 16;
	return stride;
}

/*
 * The batch's longest packet, its bytes and the least offset of a packet in
 * its frame (addr & fmask, see off_mask); with copy, the
 * descriptors are copied into the slot's own (the kernel reads them over
 * PCIe), else the kernel works on the caller's in place.
 */
static uint32_t descs_in(struct gpu_slot *sl, const struct gen_desc *descs, uint32_t n, bool copy, uint32_t fmask,
			 uint64_t *bytes, uint32_t *min_off)
{
	uint32_t hi = 0, lo = fmask;
	uint64_t sum = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t o = (uint32_t)descs[i].addr & fmask;

		if (copy)
			sl->hdesc[i] = descs[i];
		hi = descs[i].len > hi ? descs[i].len : hi;
		lo = o < lo ? o : lo;
		sum += descs[i].len;
	}
	*bytes = sum;
	*min_off = lo;
	return hi;
}

/* Gather mode: record size for this batch, and where the records go. */
static int gather_setup(struct backend_chain *bc, struct gpu_slot *sl, uint32_t stride, uint32_t tail,
			struct gpu_launch *l, struct gpu_grid *gr)
{
	l->stride = stride;
	l->head = bc->win_head;
	l->tail = tail;
	l->writes = bc->writes;
	l->status = sl->dstatus;
	sl->hstatus[GPU_ST_TOUCHED] = 0;
	sl->hstatus[GPU_ST_OVERFLOW] = 0;
	if (bc->smem_ok && (uint64_t)gr->threads * smem_stride(bc, stride) <= GPU_SMEM_MAX) {
		l->smem = 1;
		l->stride = smem_stride(bc, stride);
		gr->smem = gr->threads * l->stride;
		return 0;
	}
	l->smem = 0;
	l->rec = NULL;
	if (slot_reserve_recs(bc, sl, gr->blocks * gr->threads, (uint32_t)stride))
		return -ENOMEM;
	l->rec = sl->drec;
	return 0;
}

static int gpu_submit(struct backend_chain *bc, struct gen_desc *descs, uint32_t n, uint64_t now)
{
	struct gpu_slot *sl;
	struct gpu_launch l;
	struct gpu_grid gr;
	uint32_t maxlen, stride;
	uint64_t bytes;
	int r, fault;

	if (bc->inflight == bc->depth)
		return -EBUSY;
	sl = &bc->slot[(bc->head + bc->inflight) % bc->depth];
	r = CUDA_TRY(bc->err, cudaSetDevice(bc->dev), "cudaSetDevice");
	if (r)
		return r;
	/* Staged batches keep their own copy: the scatter reads the descs as submitted beside the results. */
	struct gen_desc *zd = bc->mem != GPU_MEM_STAGED && !bc->desc_copy ? descs_dev(descs, n) : NULL;
	r = slot_reserve(bc, sl, n, !zd);
	if (r)
		return r;
	uint32_t min_off;
	maxlen = descs_in(sl, descs, n, !zd, bc->off_mask, &bytes, &min_off);
	uint32_t tail = gather_tail(bc, min_off);
	stride = bc->mem == GPU_MEM_GATHER ? gather_stride(bc, maxlen, tail) : 0;
	gr = grid_for(bc, n, bc->smem_ok ? smem_stride(bc, stride) : 0);
	l = (struct gpu_launch){
		.chain = bc->dchain,
		.descs = zd ? zd : sl->ddesc,
		.zc = zd != NULL,
		.pkt_base = bc->mem == GPU_MEM_STAGED ? sl->dstage : bc->dumem,
		.n = n,
		.frame_size = bc->frame_size,
		.mem = bc->mem == GPU_MEM_GATHER ? GPU_PKT_GATHER : bc->mem == GPU_MEM_STAGED ? GPU_PKT_STAGED : GPU_PKT_INPLACE,
		.chain_id = bc->prog.chain_id,
		.reconverge = reconverge_for(bc, bytes, n),
		.now = now,
	};
	if (bc->mem == GPU_MEM_GATHER) {
		r = gather_setup(bc, sl, stride, tail, &l, &gr);
		if (r)
			return r;
		l.edges = gather_edges(bc, min_off);
	}
	/*
	 * Numbers NFs spend per packet (ESP's sequence numbers) come from the host
	 * blobs here, in submit order: batches in flight may run in any order on
	 * the device, yet each batch's packets leave numbered after the previous
	 * batch's (the cpu backend reserves the same way, so packets match).
	 */
	nf_reserve(bc->prog.n < NF_CHAIN_MAX ? bc->prog.n : NF_CHAIN_MAX, bc->prog.state, n, l.batch_seq);
	sl->descs = descs;
	sl->n = n;
	sl->zc = zd != NULL;
	bc->zc_last = sl->zc;
	sl->failed = false;
	sl->inject_after = false;
	sl->launched_ns = gpu_mono_ns();
	bc->inflight++;
	fault = fault_now();
	if (fault == 1) {
		snprintf(bc->err, sizeof(bc->err), "injected fault (GEN_GPU_FAULT_INJECT)");
		sl->failed = true;
		return 0;
	}
	sl->inject_after = fault == 2;
	if (bc->mem == GPU_MEM_STAGED) {
		r = CUDA_TRY(bc->err, stage_in(bc, sl, descs, n), "copy batch to the GPU");
		l.stride = sl->stride;
	}
	if (!r && bc->trace) {
		if (bc->trace->have_ref && !bc->trace->ref_recorded)
			bc->trace->ref_recorded = cudaEventRecord(bc->trace->ref, sl->stream) == cudaSuccess;
		cudaEventRecord(sl->t0, sl->stream);
	}
	/* Read once: the whole batch runs on the agent chosen here. */
	bool fused = fused_ready(bc->fused) && (bc->mode == GPU_MODE_RTC || bc->custom);
	if (!r && fused)
		r = fused_launch(bc->fused, &l, &gr, sl->stream, bc->err, sizeof(bc->err));
	if (!r && !fused && bc->mode == GPU_MODE_RTC)
		r = CUDA_TRY(bc->err, gpu_agent_launch_rtc(&l, &gr, sl->stream), "launch SFC agent");
	for (uint32_t i = 0; !r && !fused && bc->mode == GPU_MODE_PIPELINE && i < bc->prog.n; i++)
		r = CUDA_TRY(bc->err, gpu_agent_launch_nf(&l, &gr, i, bc->prog.n - 1, sl->stream), "launch NF kernel");
	if (!r && bc->mem == GPU_MEM_STAGED)
		r = CUDA_TRY(bc->err, stage_out(sl, n), "copy batch from the GPU");
	if (!r && bc->trace)
		cudaEventRecord(sl->t1, sl->stream);
	if (!r)
		r = CUDA_TRY(bc->err, cudaEventRecord(sl->done, sl->stream), "cudaEventRecord");
	/* Once anything is queued the batch is ours: complete() hands it back with -EIO. */
	sl->failed = r != 0;
	return 0;
}

/* Copy the results of a staged batch back into its UMEM frames. */
static void scatter(struct backend_chain *bc, struct gpu_slot *sl)
{
	uint32_t fs = bc->frame_size;

	for (uint32_t i = 0; i < sl->n; i++) {
		struct gen_desc *d = &sl->hdesc[i];
		uint64_t base = sl->descs[i].addr - sl->descs[i].addr % fs;
		uint32_t off = (uint32_t)(d->addr - base);

		if (d->addr < base || (uint64_t)off + d->len > sl->stride) {
			/* An NF moved the packet out of its slot: never write outside the frame. */
			d->addr = sl->descs[i].addr;
			d->verdict = NF_DROP;
			continue;
		}
		memcpy(bc->umem + base + off, sl->hstage + (size_t)i * sl->stride + off, d->len);
	}
}

static int gpu_complete(struct backend_chain *bc, struct gen_desc **ret_descs, uint32_t *ret_n)
{
	struct gpu_slot *sl;
	cudaError_t e = cudaSuccess;
	bool failed;

	if (!bc->inflight)
		return 0;
	sl = &bc->slot[bc->head];
	if (!sl->failed) {
		e = cudaEventQuery(sl->done);
		if (e == cudaErrorNotReady) {
			/*
			 * A batch this late runs a kernel that may never end: from now on no
			 * teardown on this device waits for it (chain_free), whichever chain
			 * is torn down first.
			 */
			if ((++bc->late_polls & 255) == 0 && !dev_stuck(bc->dev) && bc->dev >= 0 && bc->dev < GPU_DEV_MAX &&
			    gpu_mono_ns() - sl->launched_ns > (int64_t)GPU_TEARDOWN_WAIT_MS * 1000000)
				atomic_store(&g.stuck[bc->dev], true);
			return 0;
		}
		if (e != cudaSuccess)
			gpu_note_error(bc->err, e, "batch failed on the GPU", __FILE__, __LINE__);
	}
	if (sl->inject_after && e == cudaSuccess)
		snprintf(bc->err, sizeof(bc->err), "injected fault after the batch ran (GEN_GPU_FAULT_INJECT)");
	failed = sl->failed || e != cudaSuccess || sl->inject_after;
	*ret_descs = sl->descs;
	*ret_n = sl->n;
	bc->head = (bc->head + 1) % bc->depth;
	bc->inflight--;
	if (bc->mem == GPU_MEM_GATHER && sl->hstatus)
		bc->overflows += __atomic_load_n(&sl->hstatus[GPU_ST_OVERFLOW], __ATOMIC_ACQUIRE);
	if (failed) {
		/* Gather mode writes frames only at the end of each warp's packets: a rerun is exact until then. */
		if (bc->mem != GPU_MEM_STAGED && !sl->failed &&
		    (bc->mem == GPU_MEM_MAPPED || __atomic_load_n(&sl->hstatus[GPU_ST_TOUCHED], __ATOMIC_ACQUIRE)))
			return -ESTALE;
		return -EIO;
	}
	cudaSetDevice(bc->dev);
	if (bc->trace && bc->trace->ref_recorded)
		trace_done(bc, sl);
	if (bc->mem == GPU_MEM_STAGED)
		scatter(bc, sl);
	if (!sl->zc)
		memcpy(sl->descs, sl->hdesc, sl->n * sizeof(*sl->descs));
	return 1;
}

/* State reads and writes come from the main thread: their errors stay out of bc->err, the controller's. */
static int gpu_state_read(struct backend_chain *bc, uint32_t i, void *dst, uint32_t off, uint32_t len)
{
	char err[GPU_ERR_LEN];

	if (i >= bc->prog.n)
		return -EINVAL;
	if ((uint64_t)off + len > bc->st[i]->size)
		return -ERANGE;
	return CUDA_TRY(err, cudaSetDevice(bc->dev), "cudaSetDevice") ?:
	       CUDA_TRY(err, cudaMemcpyAsync(dst, (uint8_t *)bc->st[i]->dptr + off, len, cudaMemcpyDeviceToHost, bc->ctl),
			"read NF state") ?:
	       CUDA_TRY(err, cudaStreamSynchronize(bc->ctl), "read NF state");
}

static int gpu_describe(struct backend_chain *bc, char *buf, size_t len)
{
	const char *zc = bc->zc_last ? ", descs in place" : "";
	char what[200];

	if (bc->fused)
		fused_describe(bc->fused, what, sizeof(what));
	else
		snprintf(what, sizeof(what), "generic agent (%s)", bc->fused_why);
	if (bc->overflows)
		snprintf(buf, len, "gpu %d: %s, %s%s, %llu packets left their window (dropped)", bc->dev, what,
			 gpu_backend_describe(bc), zc, (unsigned long long)bc->overflows);
	else
		snprintf(buf, len, "gpu %d: %s, %s%s", bc->dev, what, gpu_backend_describe(bc), zc);
	return 0;
}

static int gpu_state_write(struct backend_chain *bc, uint32_t i, const void *src, uint32_t off, uint32_t len)
{
	char err[GPU_ERR_LEN];

	if (i >= bc->prog.n)
		return -EINVAL;
	if ((uint64_t)off + len > bc->st[i]->size)
		return -ERANGE;
	return CUDA_TRY(err, cudaSetDevice(bc->dev), "cudaSetDevice") ?:
	       CUDA_TRY(err, cudaMemcpyAsync((uint8_t *)bc->st[i]->dptr + off, src, len, cudaMemcpyHostToDevice, bc->ctl),
			"write NF state") ?:
	       CUDA_TRY(err, cudaStreamSynchronize(bc->ctl), "write NF state");
}

int gpu_backend_fused_timing(const struct backend_chain *bc, double *ms, bool *cache_hit)
{
	return bc->fused ? fused_timing(bc->fused, ms, cache_hit) : -ENOENT;
}

static void gpu_shutdown(void)
{
	fused_shutdown();
}

static const struct backend_ops gpu_ops = {
	.name = "gpu",
	.umem_attach = gpu_umem_attach,
	.umem_detach = gpu_umem_detach,
	.descs_attach = gpu_descs_attach,
	.descs_detach = gpu_descs_detach,
	.chain_create = gpu_chain_create,
	.chain_destroy = gpu_chain_destroy,
	.submit = gpu_submit,
	.complete = gpu_complete,
	.state_read = gpu_state_read,
	.state_write = gpu_state_write,
	.describe = gpu_describe,
	.shutdown = gpu_shutdown,
	.device_stuck = any_stuck,
	.last_error = gpu_last_error,
	.max_inflight = GPU_INFLIGHT_MAX,
	.fallback = &backend_cpu,
};

const struct backend_ops *backend_gpu = &gpu_ops;

const char *gpu_backend_describe(const struct backend_chain *bc)
{
	static const char *const names[GPU_MEM_MAX][GPU_MODE_MAX] = {
		[GPU_MEM_STAGED] = { "staged/rtc", "staged/pipeline" },
		[GPU_MEM_MAPPED] = { "mapped/rtc", "mapped/pipeline" },
		[GPU_MEM_GATHER] = { "gather/rtc", "gather/pipeline" },
	};

	return names[bc->mem][bc->mode];
}
