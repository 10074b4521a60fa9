/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One agent launch (struct gpu_launch) and the agent body that both agent kinds
 * run: the prebuilt kernels (agent.cu, nvcc) and the fused agents that the
 * backend generates and compiles at run time (rtc.c, NVRTC). The launch struct
 * is passed by value from C, so its layout is fixed here once for gcc, nvcc and
 * NVRTC; the descriptor and Agent Table layouts come from nf/exec.h.
 *
 * Packet memory (gpu_launch.mem):
 *   GPU_PKT_GATHER  each warp pulls its 32 packets out of the mapped UMEM with
 *                   16-byte loads into per-thread records (shared memory when
 *                   they fit, else device memory), the NFs work on the records,
 *                   and the warp writes each packet back with 16-byte stores.
 *                   PCIe sees the packet bytes once each way, in full lines.
 *   GPU_PKT_INPLACE the NFs work on the frames in place through the mapped UMEM
 *                   (every NF byte access crosses PCIe).
 *   GPU_PKT_STAGED  the host gathered the frames into device slots; the NFs work
 *                   there and the host scatters the result.
 */
#ifndef GEN_GPU_LAUNCH_H
#define GEN_GPU_LAUNCH_H

#include "exec.h"

enum gpu_pkt_mem { GPU_PKT_GATHER = 0, GPU_PKT_INPLACE = 1, GPU_PKT_STAGED = 2 };

/* Gather mode: head + tail room up to this is gathered with every packet (gpu_pkt_load). */
#define GPU_GATHER_WINDOW_MAX 256
/* Threads per block at most (8 warps): __launch_bounds__ of every agent kernel. */
#define GPU_BLOCK_MAX 256
/* Blocks per SM the register budget is sized for: 65536 / (256 * 4) = 64 registers. */
#define GPU_BLOCKS_PER_SM 4

/* gpu_launch.status[]: written by the agent, read by the backend after the batch. */
enum {
	GPU_ST_TOUCHED,  /* nonzero once any frame of the batch was written back */
	GPU_ST_OVERFLOW, /* packets an NF moved outside their staged window (dropped) */
	GPU_ST_MAX,
};

/*
 * Packet i of the batch lives in the frame that descs[i].addr points into: at
 * pkt_base + (addr - addr % frame_size) (gather, inplace), or in staging slot i
 * (pkt_base + i * stride, same offset in the slot) when staged. All pointers are
 * device pointers (mapped host memory included).
 */
struct gpu_launch {
	const struct nf_chain *chain; /* Agent Table entry, device memory */
	struct gen_desc *descs;
	uint8_t *pkt_base;
	uint8_t *rec;      /* gather: device records (stride bytes each), unused when smem */
	uint32_t *status;  /* gather: GPU_ST_* words in mapped host memory */
	uint32_t n;
	uint32_t frame_size;
	uint32_t mem;      /* enum gpu_pkt_mem */
	uint32_t stride;   /* staged: bytes per slot (the packets' cap); gather: bytes per record */
	uint32_t head;     /* gather: bytes of the frame staged before the packet (NFs may prepend) */
	uint32_t tail;     /* gather: bytes staged after it (NFs may append) */
	uint32_t writes;   /* gather: the chain may change packet bytes (else nothing is written back) */
	uint32_t smem;     /* gather: records in dynamic shared memory, blockDim.x * stride bytes */
	uint32_t chain_id; /* the chain's id (nf_pkt.chain) */
	uint32_t reconverge; /* the warp reconverges between two NFs (gpu_nf_reconverge) */
	uint32_t zc;       /* descs is the caller's array (descs_attach): storing one may be visible to the host */
	uint32_t edges;    /* gather: GPU_EDGES_*, what a staged window gathers beside the packet (gpu_pkt_load) */
	uint64_t now;      /* the batch's time (nf_pkt.now), ns since the epoch */
	/* What the host reserved for NF i and this batch (nf_pkt.batch_seq; nf/registry.h: nf_reserve). */
	uint64_t batch_seq[NF_CHAIN_MAX];
};

/* Largest frame the agents take: a packet's window and chunk bounds travel as 16-bit halves (struct gpu_pkt). */
#define GPU_FRAME_MAX 65535u

/*
 * gpu_launch.edges: what a staged window (head + tail room around the packet,
 * GPU_GATHER_WINDOW_MAX) gathers beside the packet, and what the write-back
 * puts in the bytes of a grown packet's edge chunks that lie outside it.
 *   GPU_EDGES_WINDOW  the whole window; those bytes keep the frame's
 *   GPU_EDGES_HEAD    of the head only the chunk the new start falls in, when
 *                     every packet of the batch has the head's room in front;
 *                     those bytes keep the frame's
 *   GPU_EDGES_ZERO    the packet's own chunks only; those bytes (never part of
 *                     a packet: the room a grown packet's first and last
 *                     chunks share with it) are written as zeros. ESP at 64 B
 *                     reads 4 chunks over PCIe instead of 7, and no edge chunk
 *                     from another host line (RESULTS.md, twenty-second run).
 * Every packet byte is the same in all three (the NFs write what they prepend
 * or append before they read it: nf_list.h).
 */
#define GPU_EDGES_WINDOW 0u
#define GPU_EDGES_HEAD 1u
#define GPU_EDGES_ZERO 2u
#if defined(__cplusplus)
static_assert(sizeof(struct gpu_launch) == 96 + 8 * NF_CHAIN_MAX, "gpu_launch is a kernel parameter built by C code");
#else
_Static_assert(sizeof(struct gpu_launch) == 96 + 8 * NF_CHAIN_MAX, "gpu_launch is a kernel parameter built by C code");
#endif

/* Launch shape, chosen by the backend (backend_gpu.c: grid_for). */
struct gpu_grid {
	uint32_t blocks;
	uint32_t threads; /* per block: whole warps, at most GPU_BLOCK_MAX */
	uint32_t smem;    /* dynamic shared memory per block, bytes */
};

#if defined(__CUDACC__)
#define GPU_FULL 0xffffffffu

/* The frame window [w0, w1) a packet at [off, off+len) is staged with: 16-aligned, inside the frame. */
static __device__ __forceinline__ void gpu_window(const struct gpu_launch &l, uint32_t off, uint32_t len,
						  uint32_t *w0, uint32_t *w1)
{
	uint32_t fs = l.frame_size;
	uint64_t hi = (uint64_t)off + len + l.tail + 15;

	*w0 = off > l.head ? (off - l.head) & ~15u : 0;
	*w1 = hi < fs ? (uint32_t)hi & ~15u : fs;
}

/*
 * The lane k that owns the warp's chunk f: the smallest whose inclusive prefix
 * incl_k (the warp's scan of the lanes' chunk counts n) exceeds f; *first is
 * the warp-wide index of k's first chunk.
 */
static __device__ __forceinline__ uint32_t gpu_chunk_owner(uint32_t incl, uint32_t n, uint32_t f, uint32_t *first)
{
	uint32_t k = 0;

	for (uint32_t step = 16; step; step >>= 1) {
		uint32_t v = __shfl_sync(GPU_FULL, incl, k + step - 1);
		if (v <= f)
			k += step;
	}
	*first = __shfl_sync(GPU_FULL, incl - n, k);
	return k;
}

static __device__ __forceinline__ uint32_t gpu_warp_scan(uint32_t v)
{
	uint32_t lane = threadIdx.x & 31;

	for (uint32_t d = 1; d < 32; d <<= 1) {
		uint32_t u = __shfl_up_sync(GPU_FULL, v, d);
		if (lane >= d)
			v += u;
	}
	return v;
}

/*
 * A 16-byte chunk into or out of a record: records in shared memory may be only
 * 4-byte aligned (backend_gpu.c: smem_stride), and are then moved in words.
 */
static __device__ __forceinline__ void gpu_rec_put16(uint8_t *p, uint4 v)
{
	if (!((uintptr_t)p & 15)) {
		*(uint4 *)p = v;
		return;
	}
	uint32_t *w = (uint32_t *)p;
	w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
}

static __device__ __forceinline__ uint4 gpu_rec_get16(const uint8_t *p)
{
	if (!((uintptr_t)p & 15))
		return *(const uint4 *)p;
	const uint32_t *w = (const uint32_t *)p;
	return make_uint4(w[0], w[1], w[2], w[3]);
}

/* No edge chunk (gpu_pkt.ge). */
#define GPU_NO_EDGE 0xffffffffu

/*
 * The warp copies every lane's chunks from the UMEM frame at src (its byte 0)
 * to dst (frame byte x at dst + x): the one at frame offset e unless that is
 * GPU_NO_EDGE, then [c0, c0 + 16 * nchunks), lanes striding over the warp's
 * chunks so that consecutive lanes load consecutive 16-byte pieces of one
 * packet. All 32 lanes must call it.
 */
static __device__ __forceinline__ void gpu_warp_gather(const uint8_t *src, uint8_t *dst, uint32_t c0, uint32_t nchunks,
						       uint32_t e)
{
	uint32_t lane = threadIdx.x & 31;
	bool edge = e != GPU_NO_EDGE;
	uint32_t incl = gpu_warp_scan(nchunks + edge);
	uint32_t total = __shfl_sync(GPU_FULL, incl, 31);
	/* Chunk j of the lane is at cx + 16 * j, or at e for j = 0 when it has an edge chunk. */
	uint32_t cx = edge ? c0 - 16 : c0;

	for (uint32_t base = 0; base < total; base += 32) {
		uint32_t f = base + lane;
		uint32_t first, k = gpu_chunk_owner(incl, nchunks + edge, f, &first);
		uint32_t x = __shfl_sync(GPU_FULL, cx, k), ke = __shfl_sync(GPU_FULL, e, k);
		const uint8_t *s = (const uint8_t *)__shfl_sync(GPU_FULL, (unsigned long long)src, k);
		uint8_t *d = (uint8_t *)__shfl_sync(GPU_FULL, (unsigned long long)dst, k);

		if (f < total) {
			x = f == first && ke != GPU_NO_EDGE ? ke : x + 16 * (f - first);
			gpu_rec_put16(d + x, __ldcs((const uint4 *)(s + x)));
		}
	}
}

/* Byte j of the chunk from b when j is in [lo1, hi1) or [lo2, hi2), else from a. */
static __device__ __forceinline__ uint4 gpu_merge16(uint4 a, uint4 b, int32_t lo1, int32_t hi1, int32_t lo2,
						    int32_t hi2)
{
	uint32_t w[4] = { b.x, b.y, b.z, b.w }, o[4] = { a.x, a.y, a.z, a.w };

	for (int32_t j = 0; j < 4; j++) {
		uint32_t m = 0;
		for (int32_t q = 0; q < 4; q++) {
			int32_t byte = 4 * j + q;
			if ((byte >= lo1 && byte < hi1) || (byte >= lo2 && byte < hi2))
				m |= 0xffu << (8 * q);
		}
		w[j] = (w[j] & m) | (o[j] & ~m);
	}
	return make_uint4(w[0], w[1], w[2], w[3]);
}

/*
 * The warp writes every lane's packet [o, o + len) back to its frame in whole
 * 16-byte chunks. Bytes of the first and last chunk outside the packet keep what
 * the frame holds, unless they were staged (then the record has them, changed
 * by an NF as the cpu would have changed the frame, or not): [g0, g1) and the
 * chunk at ge (GPU_NO_EDGE: none) were. With zero, those bytes are written as
 * zeros instead of read from the frame (GPU_EDGES_ZERO). All lanes call it.
 */
static __device__ __forceinline__ void gpu_warp_scatter(uint8_t *frame, const uint8_t *rec, uint32_t o, uint32_t len,
							uint32_t g0, uint32_t g1, uint32_t ge, bool zero)
{
	uint32_t lane = threadIdx.x & 31;
	uint32_t c0 = o & ~15u, c1 = (o + len + 15) & ~15u;
	uint32_t nchunks = len ? (c1 - c0) / 16 : 0;
	uint32_t incl = gpu_warp_scan(nchunks);
	uint32_t total = __shfl_sync(GPU_FULL, incl, 31);

	for (uint32_t base = 0; base < total; base += 32) {
		uint32_t f = base + lane;
		uint32_t first, k = gpu_chunk_owner(incl, nchunks, f, &first);
		uint32_t ko = __shfl_sync(GPU_FULL, o, k), kend = ko + __shfl_sync(GPU_FULL, len, k);
		uint32_t kg0 = __shfl_sync(GPU_FULL, g0, k), kg1 = __shfl_sync(GPU_FULL, g1, k);
		uint32_t kge = __shfl_sync(GPU_FULL, ge, k);
		uint8_t *fr = (uint8_t *)__shfl_sync(GPU_FULL, (unsigned long long)frame, k);
		const uint8_t *r = (const uint8_t *)__shfl_sync(GPU_FULL, (unsigned long long)rec, k);

		if (f >= total)
			continue;
		uint32_t x = (ko & ~15u) + 16 * (f - first);
		uint4 v = gpu_rec_get16(r + x);
		bool partial = x < ko || x + 16 > kend;
		if (partial && !(x >= kg0 && x + 16 <= kg1) && x != kge) {
			/* An edge chunk not wholly staged: bytes neither in the packet nor staged stay the frame's (zero: 0). */
			int32_t sx = (int32_t)x;
			uint4 old = zero ? make_uint4(0, 0, 0, 0) : *(const uint4 *)(fr + x);
			v = gpu_merge16(old, v, (int32_t)ko - sx, (int32_t)kend - sx, (int32_t)kg0 - sx, (int32_t)kg1 - sx);
		}
		*(uint4 *)(fr + x) = v;
	}
}

/* The block's progress in marking the batch touched: 0 not yet, 1 under way, 2 done. */
static __device__ __forceinline__ int *gpu_touch_word(void)
{
	__shared__ int w;
	return &w;
}

/* Every kernel that writes frames back calls this before its first __syncthreads(). */
static __device__ __forceinline__ void gpu_block_begin(void)
{
	if (threadIdx.x == 0)
		*gpu_touch_word() = 0;
}

/*
 * Before a warp's first frame write: the status word says frames may have
 * changed, visibly to the host, so that a batch that fails later is not rerun.
 * One system-wide fence per block, by the first warp to get here (it overlaps
 * the other warps' NF work); later warps wait for it, then order their writes
 * after it.
 */
static __device__ __forceinline__ void gpu_mark_touched(const struct gpu_launch &l)
{
	volatile int *w = gpu_touch_word();

	if (atomicCAS((int *)w, 0, 1) == 0) {
		*(volatile uint32_t *)&l.status[GPU_ST_TOUCHED] = 1;
		__threadfence_system();
		atomicExch((int *)w, 2);
		return;
	}
	while (*w != 2)
		;
	__threadfence_block();
}

/* What one thread knows of its packet while the chain runs on it. */
struct gpu_pkt {
	struct nf_pkt p;
	uint64_t base;   /* UMEM offset of the frame */
	uint32_t w01;    /* gather: the staged window [w0, w1): w0 | w1 << 16 (gpu_w0, gpu_w1) */
	uint32_t g01;    /* gather: the chunks copied in, [g0, g1): g0 | g1 << 16 (gpu_g0, gpu_g1) */
	uint32_t ge;     /* gather: and this one (the head's edge), or GPU_NO_EDGE */
	uint8_t *rec;    /* gather: the record (frame byte x at rec + x - w0) */
	uint32_t verdict_in; /* the descriptor's verdict as loaded (pipeline: an earlier NF's) */
	bool live;       /* i < n */
};

/* The packed chunk bounds: one register through the NFs where two were. */
static __device__ __forceinline__ uint32_t gpu_g0(const struct gpu_pkt *k) { return k->g01 & 0xffffu; }
static __device__ __forceinline__ uint32_t gpu_g1(const struct gpu_pkt *k) { return k->g01 >> 16; }
static __device__ __forceinline__ uint32_t gpu_w0(const struct gpu_pkt *k) { return k->w01 & 0xffffu; }
static __device__ __forceinline__ uint32_t gpu_w1(const struct gpu_pkt *k) { return k->w01 >> 16; }

/* Load descriptor i and locate the packet; gather mode stages it (all 32 lanes call this). */
static __device__ __forceinline__ void gpu_pkt_load(const struct gpu_launch &l, uint32_t i, uint8_t *rec,
						    struct gpu_pkt *k, bool gather)
{
	uint32_t off = 0, len = 0;

	k->live = i < l.n;
	if (k->live) {
		struct gen_desc d = l.descs[i];
		off = (uint32_t)(d.addr % l.frame_size);
		len = d.len;
		k->base = d.addr - off;
		k->verdict_in = d.verdict;
	} else {
		k->base = 0;
		k->verdict_in = NF_DROP;
	}
	k->p.off = off;
	k->p.len = len;
	k->p.in_port = 0;
	k->p.seq = i;
	k->p.chain = l.chain_id;
	k->p.now = l.now;
	k->p.batch_seq = 0; /* set per NF by the chain's loop */
	if (l.mem != GPU_PKT_GATHER) {
		k->p.buf = l.mem == GPU_PKT_STAGED ? l.pkt_base + (uint64_t)i * l.stride : l.pkt_base + k->base;
		k->p.cap = l.mem == GPU_PKT_STAGED ? l.stride : l.frame_size;
		return;
	}
	uint32_t g0, g1, w0, w1;

	gpu_window(l, off, len, &w0, &w1);
	k->w01 = w0 | w1 << 16;
	g0 = off & ~15u;
	g1 = (uint32_t)((uint64_t)off + len + 15) & ~15u;
	if (g1 > l.frame_size)
		g1 = l.frame_size;
	if (l.head + l.tail <= GPU_GATHER_WINDOW_MAX && l.edges != GPU_EDGES_ZERO) {
		/*
		 * The chain may move the packet's edges into its window: gather the
		 * whole window with the packet, in the same round trip, so that the
		 * write-back never has to read an edge chunk back over PCIe first (a
		 * dependent read at the end of the chain: ncu put 26-42 % of all
		 * stall samples on it). Chains that may use the whole frame (custom
		 * NFs, pipeline) still read edges back when they must. With
		 * GPU_EDGES_ZERO only the packet's chunks come: the write-back puts
		 * zeros where an edge chunk holds neither packet nor staged bytes.
		 */
		g0 = w0;
		g1 = w1;
	}
	k->ge = GPU_NO_EDGE;
	if (l.edges == GPU_EDGES_HEAD && off >= l.head && g0 == w0) {
		/*
		 * Every packet has the head's room in front, and the NFs write the
		 * bytes they prepend before they read them (nf_list.h), so of the
		 * head only the chunk the packet's new start falls in need be here,
		 * for the write-back's sake; none when that start is a chunk's
		 * first byte. For ESP at 64 B: 7 chunks read instead of 9.
		 */
		uint32_t c0 = off & ~15u, s = off - l.head;

		if (c0 > w0) {
			g0 = c0;
			if (s & 15) {
				if (w0 + 16 == c0)
					g0 = w0;
				else
					k->ge = w0;
			}
		}
	}
	if (!k->live || g1 < g0) {
		g1 = g0;
		k->ge = GPU_NO_EDGE;
	}
	k->g01 = g0 | g1 << 16;
	k->rec = rec;
	k->p.buf = rec - w0;
	k->p.cap = l.frame_size;
	if (gather) {
		gpu_warp_gather(l.pkt_base + k->base, k->p.buf, gpu_g0(k), (gpu_g1(k) - gpu_g0(k)) / 16, k->ge);
		__syncwarp();
	}
}

/* Write the verdict and (gather mode) the packet back; all 32 lanes call this. */
static __device__ __forceinline__ void gpu_pkt_store(const struct gpu_launch &l, uint32_t i, struct gpu_pkt *k,
						     uint32_t verdict, bool scatter)
{
	if (l.mem == GPU_PKT_GATHER && scatter) {
		if (k->live && (k->p.off < gpu_w0(k) || (uint64_t)k->p.off + k->p.len > gpu_w1(k))) {
			/* The NF left its declared window: its bytes are not all here. Never write it. */
			atomicAdd(&l.status[GPU_ST_OVERFLOW], 1u);
			verdict = NF_DROP;
			k->p.off = gpu_g0(k) > gpu_w0(k) ? gpu_g0(k) : gpu_w0(k);
			k->p.len = 0;
		}
		uint32_t wlen = l.writes && k->live ? k->p.len : 0;
		__syncwarp();
		if (__any_sync(GPU_FULL, wlen != 0 || (l.zc && l.writes && k->live)) && (threadIdx.x & 31) == 0)
			gpu_mark_touched(l);
		__syncwarp();
		gpu_warp_scatter(l.pkt_base + k->base, k->p.buf, k->p.off, wlen, gpu_g0(k), gpu_g1(k), k->ge,
				 l.edges == GPU_EDGES_ZERO && l.head + l.tail <= GPU_GATHER_WINDOW_MAX);
	} else if (l.mem == GPU_PKT_GATHER && l.zc && l.writes) {
		/*
		 * A pipeline launch before the last stores descriptors that may have
		 * moved (addr, len) into the caller's array: after that a rerun would
		 * not start from the batch as submitted.
		 */
		__syncwarp();
		if (__any_sync(GPU_FULL, k->live) && (threadIdx.x & 31) == 0)
			gpu_mark_touched(l);
		__syncwarp();
	}
	if (k->live) {
		struct gen_desc d;
		d.addr = k->base + k->p.off;
		d.len = k->p.len;
		d.verdict = verdict;
		l.descs[i] = d;
	}
}

/*
 * The launch's reservations into shared memory (bs[NF_CHAIN_MAX]), for loops
 * that index them by a run-time NF number; constant indices, so the kernel
 * parameter is read where it lies. Every thread calls this, then syncs.
 */
static __device__ __forceinline__ void gpu_batch_seq_to_shared(const struct gpu_launch &l, uint64_t *bs)
{
	if (threadIdx.x == 0) {
#pragma unroll
		for (uint32_t i = 0; i < NF_CHAIN_MAX; i++)
			bs[i] = l.batch_seq[i];
	}
}

/*
 * The record of the thread in launch slot t (blockIdx.x * blockDim.x +
 * threadIdx.x): shared memory when the launch says so, else record t of the
 * launch's device records (one per thread of the grid, reused as it loops).
 */
static __device__ __forceinline__ uint8_t *gpu_rec_of(const struct gpu_launch &l, uint32_t t)
{
	extern __shared__ uint4 gpu_smem_recs[];

	if (l.smem)
		return (uint8_t *)gpu_smem_recs + (size_t)threadIdx.x * l.stride;
	return l.rec + (uint64_t)t * l.stride;
}

/*
 * Between two NFs of a chain, when the launch says so: the lanes in live (those
 * running the chain) wait for each other, so that the next NF starts with the
 * whole warp. Without it, lanes that left an NF by different paths (nids' rule
 * checks, packets of other sizes) may run the next NF in separate groups, one
 * after the other: ncu counted 13.5 of 32 lanes per AES instruction after nids
 * (fused paper chain, 1500 B), 18.2 with it. With 64-byte packets only the
 * groups instead hide each other's memory waits, and waiting costs more than
 * it saves (the backend decides per batch: backend_gpu.c, reconverge_for).
 */
static __device__ __forceinline__ void gpu_nf_reconverge(const struct gpu_launch &l, uint32_t live)
{
	if (l.reconverge)
		__syncwarp(live);
}

/*
 * The SFC agent: one packet per thread at a time, the chain run to completion
 * on it by run(p, live) (the generic dispatch loop, or a fused chain's direct
 * calls; live: the warp's lanes that run it, for gpu_nf_reconverge).
 * The grid may be smaller than the batch (grid_for caps the warps a launch keeps
 * resident): each block then strides over the batch a block-width at a time,
 * reusing its records. Blocks are whole warps; a thread past the batch's end
 * still takes part in its warp's copies.
 */
template <typename Run>
static __device__ __forceinline__ void gpu_agent_body(const struct gpu_launch &l, Run run)
{
	uint32_t t = blockIdx.x * blockDim.x + threadIdx.x, step = gridDim.x * blockDim.x;
	uint8_t *rec = gpu_rec_of(l, t);
	struct gpu_pkt k;

	gpu_block_begin();
	__syncthreads();
	for (uint32_t base = blockIdx.x * blockDim.x; base < l.n; base += step) {
		uint32_t i = base + threadIdx.x;

		gpu_pkt_load(l, i, rec, &k, true);
		uint32_t v = NF_DROP, live = __ballot_sync(GPU_FULL, k.live);
		if (k.live)
			v = (uint32_t)run(&k.p, live) == NF_PASS ? NF_PASS : NF_DROP;
		gpu_pkt_store(l, i, &k, v, true);
		/* The next packets' gather overwrites records this warp's scatter read. */
		__syncwarp();
	}
}
#endif

#endif
