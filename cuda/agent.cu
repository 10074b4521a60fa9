// SPDX-License-Identifier: GPL-2.0
/*
 * The prebuilt SFC agent kernels: gen_agent_rtc runs the whole chain on each
 * packet (one launch per batch), gen_agent_nf one NF (pipeline mode, one launch
 * per NF). Both run the agent body of gpu_launch.h around the very same
 * nf_agent_run()/nf_dispatch() that the cpu backend runs, so both backends
 * produce byte-identical packets and verdicts.
 */
/* The NF headers are C11; this file is CUDA C++. */
#define _Static_assert static_assert
#include "gpu_agent.h"

/* The Agent Table entry is read by every thread: keep one copy per block in shared memory. */
static __device__ __forceinline__ void chain_to_shared(const struct nf_chain *g, struct nf_chain *s)
{
	const uint32_t *src = (const uint32_t *)g;
	uint32_t *dst = (uint32_t *)s;

	for (uint32_t k = threadIdx.x; k < sizeof(*s) / 4; k += blockDim.x)
		dst[k] = src[k];
	__syncthreads();
}

/*
 * nf_agent_run() for a warp: the same NFs in the same order, stopping at the
 * first that does not pass, with the warp reconverged between two NFs.
 */
static __device__ __forceinline__ int gpu_agent_run(const struct gpu_launch &l, const struct nf_chain *c,
						    const uint64_t *bseq, struct nf_pkt *p, uint32_t live)
{
	int v = NF_PASS;

	for (uint32_t i = 0; i < c->n && i < NF_CHAIN_MAX; i++) {
		if (i)
			gpu_nf_reconverge(l, live);
		if (v == NF_PASS) {
			p->batch_seq = bseq[i];
			v = nf_dispatch(c->type[i], (void *)(uintptr_t)c->state[i], p) == NF_PASS ? NF_PASS : NF_DROP;
		}
	}
	return v;
}

__global__ void __launch_bounds__(GPU_BLOCK_MAX, GPU_BLOCKS_PER_SM) gen_agent_rtc(struct gpu_launch l)
{
	__shared__ struct nf_chain chain;
	__shared__ uint64_t bseq[NF_CHAIN_MAX];

	gpu_batch_seq_to_shared(l, bseq);
	chain_to_shared(l.chain, &chain);
	nf_block_init(&chain);
	gpu_agent_body(l, [&](struct nf_pkt *p, uint32_t live) { return gpu_agent_run(l, &chain, bseq, p, live); });
}

/*
 * NF nf of the chain on the packets still alive. In gather mode the first NF's
 * launch stages the packets into device records, which the later launches work
 * on, and the last one writes them back.
 */
__global__ void __launch_bounds__(GPU_BLOCK_MAX, GPU_BLOCKS_PER_SM) gen_agent_nf(struct gpu_launch l, uint32_t nf,
										 uint32_t last)
{
	__shared__ struct nf_chain chain;
	__shared__ uint64_t bseq[NF_CHAIN_MAX];
	uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
	struct gpu_pkt k;

	gpu_block_begin();
	gpu_batch_seq_to_shared(l, bseq);
	chain_to_shared(l.chain, &chain);
	nf_block_init_one(chain.type[nf], (void *)(uintptr_t)chain.state[nf]);
	gpu_pkt_load(l, i, l.rec + (uint64_t)i * l.stride, &k, nf == 0);
	uint32_t vin = nf > 0 ? k.verdict_in : NF_PASS, v = vin;
	k.p.batch_seq = bseq[nf];
	if (k.live && vin == NF_PASS)
		v = nf_dispatch(chain.type[nf], (void *)(uintptr_t)chain.state[nf], &k.p) == NF_PASS ? NF_PASS : NF_DROP;
	gpu_pkt_store(l, i, &k, v, nf == last);
}

extern "C" cudaError_t gpu_agent_launch_rtc(const struct gpu_launch *l, const struct gpu_grid *g, cudaStream_t s)
{
	if (!l->n)
		return cudaSuccess;
	gen_agent_rtc<<<g->blocks, g->threads, g->smem, s>>>(*l);
	return cudaGetLastError();
}

extern "C" cudaError_t gpu_agent_launch_nf(const struct gpu_launch *l, const struct gpu_grid *g, uint32_t nf,
					   uint32_t last, cudaStream_t s)
{
	if (!l->n)
		return cudaSuccess;
	gen_agent_nf<<<g->blocks, g->threads, g->smem, s>>>(*l, nf, last);
	return cudaGetLastError();
}

extern "C" cudaError_t gpu_agent_check(void)
{
	struct cudaFuncAttributes fa;
	cudaError_t e = cudaFuncGetAttributes(&fa, gen_agent_rtc);

	if (e == cudaSuccess)
		e = cudaFuncGetAttributes(&fa, gen_agent_nf);
	return e;
}
