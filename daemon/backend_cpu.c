// SPDX-License-Identifier: GPL-2.0
/*
 * The cpu backend: the chain's NFs run to completion on the controller thread,
 * from the same NF source the GPU agent is built from. Batches complete at once.
 * Counters are added up per thread and written to the blobs once per batch, and
 * the chain runs NF by NF over chunks of the batch, so that ESP takes a chunk's
 * sequence numbers with one atomic: with many threads on one chain, per-packet
 * atomics on shared lines were the limit, not the NFs' work.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "backend.h"
#include "../nf/agent.h"
#include "../nf/registry.h"

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

/* Packets one pass of the chain takes: each NF runs over all of them before the next NF
 * (64 frames of 1500 bytes stay in L2 from one NF to the next). */
#define CPU_CHUNK 64

/*
 * NF i over the packets pk[0, n) still in the chain: verdicts into v. ESP
 * takes them as one batch (one atomic for the sequence numbers, two packets'
 * crypto interleaved), nids scans short payloads several at a time; the
 * others run one by one, the switch out of the loop.
 */
#define CPU_NF_LOOP_(NAME, name, head, tail, writes, binit)            \
	case NF_T_##NAME:                                             \
		if (NF_T_##NAME == NF_T_IPSEC_ESP) {                  \
			nf_ipsec_esp_run_batch(st, pk, v, n);         \
			return;                                       \
		}                                                     \
		if (NF_T_##NAME == NF_T_NIDS) {                       \
			nf_nids_run_batch(st, pk, v, n);              \
			return;                                       \
		}                                                     \
		for (uint32_t k = 0; k < n; k++)                      \
			v[k] = nf_##name##_run(st, pk[k]);            \
		return;

static void cpu_nf_run(uint32_t type, void *st, struct nf_pkt *const *pk, int *v, uint32_t n)
{
	switch (type) {
	NF_LIST(CPU_NF_LOOP_)
	default:
		for (uint32_t k = 0; k < n; k++)
			v[k] = nf_dispatch(type, st, pk[k]);
		return;
	}
}
#undef CPU_NF_LOOP_

/* Start of the frame that holds addr: a mask for the usual power-of-two frames (a 64-bit divide costs ~40 cycles). */
static inline uint64_t frame_base(uint64_t addr, uint32_t frame_size)
{
	if (!(frame_size & (frame_size - 1)))
		return addr & ~(uint64_t)(frame_size - 1);
	return addr - addr % frame_size;
}

/*
 * The chain NF by NF over chunks of the batch, with the verdicts and packet
 * semantics of nf_agent_run() per packet: each NF sees the packets every
 * earlier NF passed, in batch order, and a packet dropped stops there. NFs'
 * shared state sees the same order of packets as packet-by-packet would
 * (ESP's sequence numbers, flowmon's claims), except that a state blob used
 * twice in one chain sees the chunk twice in a row rather than interleaved.
 */
static void run_chunk(const struct nf_chain *c, const uint64_t *bseq, uint8_t *umem, uint32_t frame_size,
		      struct gen_desc *descs, uint32_t first, uint32_t n, uint32_t chain_id, uint64_t now)
{
	struct nf_pkt pkt[CPU_CHUNK], *live[CPU_CHUNK];
	uint32_t at[CPU_CHUNK]; /* live[k] is packet first + at[k] */
	int v[CPU_CHUNK];
	uint32_t nlive = n;

	for (uint32_t i = 0; i < n; i++) {
		struct gen_desc *d = &descs[first + i];
		uint64_t base = frame_base(d->addr, frame_size);

		pkt[i] = (struct nf_pkt){
			.buf = umem + base,
			.off = (uint32_t)(d->addr - base),
			.len = d->len,
			.cap = frame_size,
			.seq = first + i,
			.chain = chain_id,
			.now = now,
		};
		live[i] = &pkt[i];
		at[i] = i;
		d->verdict = NF_PASS;
		/*
		 * The chunk's headers load in parallel here rather than one miss per
		 * packet in the first NF. Not for a chain without NFs: nothing reads
		 * them, and the copy of the line it would bring here only makes the
		 * port worker's next write to that frame wait for it to be taken back.
		 */
		if (c->n)
			__builtin_prefetch(umem + d->addr);
	}
	for (uint32_t f = 0; f < c->n && f < NF_CHAIN_MAX && nlive; f++) {
		uint32_t kept = 0;

		for (uint32_t k = 0; k < nlive; k++)
			live[k]->batch_seq = bseq[f];
		cpu_nf_run(c->type[f], (void *)(uintptr_t)c->state[f], live, v, nlive);
		for (uint32_t k = 0; k < nlive; k++) {
			if (v[k] != NF_PASS) {
				descs[first + at[k]].verdict = NF_DROP;
				continue;
			}
			live[kept] = live[k];
			at[kept++] = at[k];
		}
		nlive = kept;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct gen_desc *d = &descs[first + i];

		d->addr = (uint64_t)(pkt[i].buf - umem) + pkt[i].off;
		d->len = pkt[i].len;
	}
}

/* Each thread's counter deltas for the batch it runs (nf.h: NF_COUNT_ADD), flushed at its end. */
static __thread struct nf_count_cache cpu_counts;

/*
 * The batch's numbers (ESP's sequence numbers) are reserved here, for the whole
 * batch and before any NF runs, as the GPU backend does at submit: packet i of
 * the batch gets the same number on either backend.
 */
static void run_chain(const struct nf_chain *c, uint8_t *umem, uint32_t frame_size, struct gen_desc *descs,
		      uint32_t n, uint32_t chain_id, uint64_t now)
{
	struct nf_hdr *st[NF_CHAIN_MAX];
	uint64_t bseq[NF_CHAIN_MAX];
	uint32_t nnf = c->n < NF_CHAIN_MAX ? c->n : NF_CHAIN_MAX;

	for (uint32_t f = 0; f < nnf; f++)
		st[f] = (struct nf_hdr *)(uintptr_t)c->state[f];
	nf_reserve(nnf, st, n, bseq);
	nf_count_open(&cpu_counts);
	for (uint32_t i = 0; i < n; i += CPU_CHUNK)
		run_chunk(c, bseq, umem, frame_size, descs, i, n - i < CPU_CHUNK ? n - i : CPU_CHUNK, chain_id, now);
	nf_count_close(&cpu_counts);
}

void backend_cpu_run(const struct chain_prog *prog, uint8_t *umem, uint32_t frame_size,
		     struct gen_desc *descs, uint32_t n, uint64_t now)
{
	struct nf_chain c;

	chain_fill(&c, prog);
	run_chain(&c, umem, frame_size, descs, n, prog->chain_id, now);
}

uint64_t backend_batch_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cpu_umem_attach(void *umem, size_t size, uint32_t frame_size)
{
	return 0;
}

static void cpu_umem_detach(void *umem)
{
}

static struct backend_chain *cpu_chain_create(const struct chain_prog *prog, void *umem, size_t umem_size,
					      uint32_t frame_size, char *err, size_t errlen)
{
	struct backend_chain *bc = calloc(1, sizeof(*bc));

	if (!bc) {
		if (err)
			snprintf(err, errlen, "out of memory for the chain");
		return NULL;
	}
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

static int cpu_submit(struct backend_chain *bc, struct gen_desc *descs, uint32_t n, uint64_t now)
{
	if (bc->busy)
		return -EBUSY;
	run_chain(&bc->chain, bc->umem, bc->frame_size, descs, n, bc->prog.chain_id, now);
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
	/*
	 * A plain copy. A read while the chain runs (events, flow export,
	 * metrics) races with the NFs' atomic counter adds (ThreadSanitizer says
	 * so); on x86 an aligned counter is read whole either way. Word-wise
	 * atomic loads copied 9 GB/s against memcpy's 36 on the dev VM, and the
	 * hybrid hand-over copies the live state through here with the chain
	 * quiet, so the copy stays memcpy.
	 */
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
	uint64_t reserved = nf_reserved(h);
	memmove((uint8_t *)h + off, src, len);
	/* A copy from a device never takes back numbers reserved here (nf_ops.seq_counter). */
	nf_reserve_keep(h, reserved);
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

int gpu_backend_probe(char *why, size_t len)
{
	snprintf(why, len, "built without CUDA");
	return -ENODEV;
}
#endif
