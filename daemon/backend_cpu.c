// SPDX-License-Identifier: GPL-2.0
/*
 * The cpu backend: the chain's NFs run to completion on the controller thread,
 * from the same NF source the GPU agent is built from. Batches complete at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "backend.h"
#include "../nf/agent.h"

struct backend_chain {
	struct chain_prog prog;
	struct nf_chain chain;
	uint8_t *umem;
	uint32_t frame_size;
	struct gen_desc *done;   /* the one batch "in flight" (already processed) */
	uint32_t done_n;
	bool busy;
};

static void chain_fill(struct nf_chain *c, const struct chain_prog *prog)
{
	memset(c, 0, sizeof(*c));
	c->n = prog->n;
	for (uint32_t i = 0; i < prog->n && i < NF_CHAIN_MAX; i++) {
		c->type[i] = prog->type[i];
		c->state[i] = (uint64_t)(uintptr_t)prog->state[i];
	}
}

static void run_chain(const struct nf_chain *c, uint8_t *umem, uint32_t frame_size, struct gen_desc *descs,
		      uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t base = descs[i].addr - descs[i].addr % frame_size;
		struct nf_pkt p = {
			.buf = umem + base,
			.off = (uint32_t)(descs[i].addr - base),
			.len = descs[i].len,
			.cap = frame_size,
			.seq = i,
		};

		descs[i].verdict = nf_agent_run(c, &p);
		descs[i].addr = base + p.off;
		descs[i].len = p.len;
	}
}

void backend_cpu_run(const struct chain_prog *prog, uint8_t *umem, uint32_t frame_size,
		     struct gen_desc *descs, uint32_t n)
{
	struct nf_chain c;

	chain_fill(&c, prog);
	run_chain(&c, umem, frame_size, descs, n);
}

static int cpu_umem_attach(void *umem, size_t size, uint32_t frame_size)
{
	return 0;
}

static void cpu_umem_detach(void *umem)
{
}

static struct backend_chain *cpu_chain_create(const struct chain_prog *prog, void *umem, size_t umem_size,
					      uint32_t frame_size)
{
	struct backend_chain *bc = calloc(1, sizeof(*bc));

	if (!bc)
		return NULL;
	bc->prog = *prog;
	chain_fill(&bc->chain, prog);
	bc->umem = umem;
	bc->frame_size = frame_size;
	return bc;
}

static void cpu_chain_destroy(struct backend_chain *bc)
{
	free(bc);
}

static int cpu_submit(struct backend_chain *bc, struct gen_desc *descs, uint32_t n)
{
	if (bc->busy)
		return -EBUSY;
	run_chain(&bc->chain, bc->umem, bc->frame_size, descs, n);
	bc->done = descs;
	bc->done_n = n;
	bc->busy = true;
	return 0;
}

static int cpu_complete(struct backend_chain *bc, struct gen_desc **ret_descs, uint32_t *ret_n)
{
	if (!bc->busy)
		return 0;
	*ret_descs = bc->done;
	*ret_n = bc->done_n;
	bc->busy = false;
	return 1;
}

static int cpu_state_read(struct backend_chain *bc, uint32_t i, void *dst, uint32_t off, uint32_t len)
{
	const struct nf_hdr *h;

	if (i >= bc->prog.n)
		return -EINVAL;
	h = bc->prog.state[i];
	if ((uint64_t)off + len > h->size)
		return -ERANGE;
	memcpy(dst, (const uint8_t *)h + off, len);
	return 0;
}

static int cpu_state_write(struct backend_chain *bc, uint32_t i, const void *src, uint32_t off, uint32_t len)
{
	struct nf_hdr *h;

	if (i >= bc->prog.n)
		return -EINVAL;
	h = bc->prog.state[i];
	if ((uint64_t)off + len > h->size)
		return -ERANGE;
	memmove((uint8_t *)h + off, src, len);
	return 0;
}

const struct backend_ops backend_cpu = {
	.name = "cpu",
	.umem_attach = cpu_umem_attach,
	.umem_detach = cpu_umem_detach,
	.chain_create = cpu_chain_create,
	.chain_destroy = cpu_chain_destroy,
	.submit = cpu_submit,
	.complete = cpu_complete,
	.state_read = cpu_state_read,
	.state_write = cpu_state_write,
	.max_inflight = 1,
};

#ifndef GEN_HAVE_CUDA
const struct backend_ops *backend_gpu;

const char *gpu_backend_last_error(void)
{
	return "";
}

int gpu_backend_probe(char *why, size_t len)
{
	snprintf(why, len, "built without CUDA");
	return -ENODEV;
}
#endif
