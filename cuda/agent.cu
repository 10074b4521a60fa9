// SPDX-License-Identifier: GPL-2.0
/*
 * The SFC agent kernels. Each block takes one mini-batch of packets, one packet
 * per thread (threads loop when mini_batch exceeds the block size), and runs the
 * very same nf_agent_run()/nf_dispatch() that the cpu backend runs, so both
 * backends produce byte-identical packets and verdicts.
 */
/* The NF headers are C11; this file is CUDA C++. */
#define _Static_assert static_assert
#include "gpu_agent.h"

#define GPU_BLOCK_MAX 1024u

/* The Agent Table entry is read by every thread: keep one copy per block in shared memory. */
static __device__ __forceinline__ void chain_to_shared(const struct nf_chain *g, struct nf_chain *s)
{
	const uint32_t *src = (const uint32_t *)g;
	uint32_t *dst = (uint32_t *)s;

	for (uint32_t k = threadIdx.x; k < sizeof(*s) / 4; k += blockDim.x)
		dst[k] = src[k];
	__syncthreads();
}

__global__ void gen_agent_rtc(struct gpu_launch l)
{
	__shared__ struct nf_chain chain;

	chain_to_shared(l.chain, &chain);
	uint32_t first = blockIdx.x * l.mini_batch;
	for (uint32_t j = threadIdx.x; j < l.mini_batch; j += blockDim.x) {
		uint32_t i = first + j;
		struct nf_pkt p;
		uint64_t base;

		if (i >= l.n)
			break;
		gpu_pkt_load(l, i, &p, &base);
		uint32_t v = (uint32_t)nf_agent_run(&chain, &p);
		gpu_pkt_store(l, i, &p, base, v);
	}
}

__global__ void gen_agent_nf(struct gpu_launch l, uint32_t nf)
{
	uint32_t first = blockIdx.x * l.mini_batch;
	uint32_t type = l.chain->type[nf];
	void *st = (void *)(uintptr_t)l.chain->state[nf];

	for (uint32_t j = threadIdx.x; j < l.mini_batch; j += blockDim.x) {
		uint32_t i = first + j;
		struct nf_pkt p;
		uint64_t base;

		if (i >= l.n)
			break;
		if (nf > 0 && l.descs[i].verdict != NF_PASS)
			continue;
		gpu_pkt_load(l, i, &p, &base);
		uint32_t v = nf_dispatch(type, st, &p) == NF_PASS ? NF_PASS : NF_DROP;
		gpu_pkt_store(l, i, &p, base, v);
	}
}

static void grid_of(const struct gpu_launch *l, dim3 *grid, dim3 *block)
{
	uint32_t mb = l->mini_batch ? l->mini_batch : 256;

	*grid = dim3((l->n + mb - 1) / mb);
	*block = dim3(mb < GPU_BLOCK_MAX ? mb : GPU_BLOCK_MAX);
}

extern "C" cudaError_t gpu_agent_launch_rtc(const struct gpu_launch *l, cudaStream_t s)
{
	dim3 grid, block;
	struct gpu_launch a = *l;

	if (!a.n)
		return cudaSuccess;
	if (!a.mini_batch)
		a.mini_batch = 256;
	grid_of(&a, &grid, &block);
	gen_agent_rtc<<<grid, block, 0, s>>>(a);
	return cudaGetLastError();
}

extern "C" cudaError_t gpu_agent_launch_nf(const struct gpu_launch *l, uint32_t nf, cudaStream_t s)
{
	dim3 grid, block;
	struct gpu_launch a = *l;

	if (!a.n)
		return cudaSuccess;
	if (!a.mini_batch)
		a.mini_batch = 256;
	grid_of(&a, &grid, &block);
	gen_agent_nf<<<grid, block, 0, s>>>(a, nf);
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
