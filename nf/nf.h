/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The NF ABI: the one header every network function includes.
 *
 * NF code is compiled three ways from the same source: by the host compiler for
 * the cpu backend, by nvcc for the prebuilt SFC agent, and by NVRTC for agents
 * built at run time. It is therefore pure: no allocation, no libc, no logging.
 * An NF's tables and state live in ONE contiguous blob ("POD state") that starts
 * with struct nf_hdr; references inside the blob are byte offsets from its start,
 * never pointers, so the blob can be copied to GPU memory as it is.
 */
#ifndef GEN_NF_H
#define GEN_NF_H

#if defined(__CUDACC_RTC__)
#define NF_FN __device__ __forceinline__
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long long int64_t;
typedef unsigned long long uintptr_t;
#ifndef NULL
#define NULL 0
#endif
#elif defined(__CUDACC__)
#define NF_FN __host__ __device__ __forceinline__
#include <stdint.h>
#include <stddef.h>
#else
#define NF_FN static inline __attribute__((unused))
#include <stdint.h>
#include <stddef.h>
#endif

/*
 * A loop with a constant trip count that the GPU compilers unroll fully, so that
 * the arrays it indexes live in registers instead of a thread's stack; the host
 * compiler decides alone.
 */
#if defined(__CUDA_ARCH__) || defined(__CUDACC_RTC__)
#define NF_UNROLL _Pragma("unroll")
/* A short loop inlined at many places that the GPU compilers keep rolled (code size, registers). */
#define NF_NO_UNROLL _Pragma("unroll 1")
#else
#define NF_UNROLL
#define NF_NO_UNROLL
#endif

#include "nf_list.h"

/* C++ (nvcc, NVRTC) spells the C11 keyword static_assert. */
#if defined(__cplusplus) && !defined(_Static_assert)
#define _Static_assert static_assert
#endif

/* Verdicts returned by every NF and by the agent. */
enum nf_verdict {
	NF_PASS = 0,
	NF_DROP = 1,
	NF_VERDICT_MAX,
};

/* NF types: one per shipped NF (nf/nf_list.h). NF_T_CUSTOM is an NF compiled at run time. */
#define NF_ENUM_(NAME, name, head, tail, writes, binit) NF_T_##NAME,
enum nf_type {
	NF_T_NONE = 0,
	NF_LIST(NF_ENUM_)
	NF_T_CUSTOM,
	NF_T_MAX,
};
#undef NF_ENUM_

/*
 * A packet as every NF sees it. buf is the start of the frame (UMEM frame or GPU
 * staging slot); the packet occupies buf[off, off+len). An NF may move off down
 * (prepend, e.g. ESP tunnel) or change len, staying within [0, cap).
 * seq is the packet's index in its batch (unique within one agent launch).
 * now is the batch's time, ns since the Unix epoch, supplied by the host once
 * per batch (the same for every packet of it): NF code never reads a clock.
 * chain is the id of the chain the batch belongs to (0: none, e.g. a test).
 * batch_seq is what the backend reserved for this NF and this batch, before the
 * chain ran (nf_ops.seq_counter: ESP's sequence numbers): packet seq of the batch
 * owns number batch_seq + seq. 0 when nothing was reserved (an NF called
 * directly, one packet at a time): the NF then takes its number itself.
 */
struct nf_pkt {
	uint8_t *buf;
	uint32_t off;
	uint32_t len;
	uint32_t cap;
	uint32_t in_port;
	uint32_t seq;
	uint32_t chain;
	uint64_t now;
	uint64_t batch_seq;
};

/* Every state blob starts with this header. Counters are uint64_t, at counters_off. */
struct nf_hdr {
	uint32_t type;         /* enum nf_type */
	uint32_t size;         /* whole blob, bytes, multiple of 8 */
	uint32_t counters_off; /* byte offset of uint64_t counters[ncounters] */
	uint32_t ncounters;
};
_Static_assert(sizeof(struct nf_hdr) == 16, "nf_hdr crosses to the GPU");

#define NF_AT(hdr, off, type) ((type)((uint8_t *)(hdr) + (off)))
#define NF_COUNTERS(hdr) NF_AT(hdr, ((const struct nf_hdr *)(hdr))->counters_off, uint64_t *)

/* Atomic helpers that work for CPU threads and GPU threads alike. */
#if defined(__CUDA_ARCH__) || defined(__CUDACC_RTC__)
#define NF_ATOMIC_ADD64(p, v) atomicAdd((unsigned long long *)(p), (unsigned long long)(v))
#define NF_ATOMIC_CAS64(p, o, n) atomicCAS((unsigned long long *)(p), (unsigned long long)(o), (unsigned long long)(n))
#define NF_ATOMIC_CAS32(p, o, n) atomicCAS((unsigned int *)(p), (unsigned int)(o), (unsigned int)(n))
#define NF_ATOMIC_OR64(p, v) atomicOr((unsigned long long *)(p), (unsigned long long)(v))
#define NF_ATOMIC_LOAD64(p) (*(volatile unsigned long long *)(p))
#define NF_ATOMIC_MAX64(p, v) atomicMax((unsigned long long *)(p), (unsigned long long)(v))
/* Store v to *p after every earlier write of this thread is visible device-wide (a record's "published" mark). */
#define NF_STORE32_RELEASE(p, v) (__threadfence(), *(volatile unsigned int *)(p) = (unsigned int)(v))
#else
#define NF_ATOMIC_ADD64(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define NF_ATOMIC_CAS64(p, o, n) nf_cas64_((p), (o), (n))
#define NF_ATOMIC_CAS32(p, o, n) nf_cas32_((p), (o), (n))
#define NF_ATOMIC_OR64(p, v) __atomic_fetch_or((p), (v), __ATOMIC_RELAXED)
#define NF_ATOMIC_LOAD64(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define NF_ATOMIC_MAX64(p, v) nf_max64_((p), (v))
#define NF_STORE32_RELEASE(p, v) __atomic_store_n((p), (uint32_t)(v), __ATOMIC_RELEASE)
/* CAS returning the old value, like CUDA's atomicCAS. */
static inline uint64_t nf_cas64_(uint64_t *p, uint64_t o, uint64_t n)
{
	__atomic_compare_exchange_n(p, &o, n, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	return o;
}
static inline uint32_t nf_cas32_(uint32_t *p, uint32_t o, uint32_t n)
{
	__atomic_compare_exchange_n(p, &o, n, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	return o;
}
/* *p = max(*p, v), like CUDA's atomicMax. */
static inline void nf_max64_(uint64_t *p, uint64_t v)
{
	uint64_t o = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (o < v && !__atomic_compare_exchange_n(p, &o, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}
#endif

/*
 * NF_COUNT_ADD(p, v): add v to the counter word p of a blob (counters and
 * per-rule tallies alike; never a value NF code reads back).
 *
 * On the host, many cpu threads run one chain, and an atomic add per packet on
 * the same counter line moves that line from core to core for every packet (on
 * 16 cores nids ran 3x slower for it). A thread that runs a batch (the cpu
 * backend) opens a counter cache for the batch: NF_COUNT_ADD then adds into
 * the thread's own deltas, and nf_count_close() adds each delta to the blob
 * with one atomic when the batch ends, so the blob's counters are exact at
 * every batch boundary, which is when anyone reads them (state_read, genctl,
 * the parity tests). Without an open cache (tests and tools that call an NF
 * directly) it is the atomic add it always was. nvcc's host pass and the GPU
 * keep their atomics.
 */
#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
#define NF_COUNT_SLOTS 128 /* power of two; a chain's counters plus the rules that fired in a batch */
struct nf_count_cache {
	uint64_t *addr[NF_COUNT_SLOTS]; /* NULL: free */
	uint64_t delta[NF_COUNT_SLOTS];
	uint16_t used[NF_COUNT_SLOTS];  /* slots taken since the cache was opened, to flush */
	uint32_t nused;
};

/*
 * One per thread and per translation unit: the NF code that a backend runs is
 * inlined into the backend's own file, which opens and closes the cache there.
 */
static __thread struct nf_count_cache *nf_count_cur_ __attribute__((unused));

static inline __attribute__((unused)) void nf_count_add_(uint64_t *p, uint64_t v)
{
	struct nf_count_cache *c = nf_count_cur_;
	uintptr_t a = (uintptr_t)p;
	uint32_t s = (uint32_t)((a >> 3) ^ (a >> 11)) & (NF_COUNT_SLOTS - 1);

	if (!c) {
		__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
		return;
	}
	if (c->addr[s] != p) {
		/* Direct-mapped: a second counter on the slot pushes the first one's delta out. */
		if (c->addr[s])
			__atomic_fetch_add(c->addr[s], c->delta[s], __ATOMIC_RELAXED);
		else
			c->used[c->nused++] = (uint16_t)s;
		c->addr[s] = p;
		c->delta[s] = 0;
	}
	c->delta[s] += v;
}

/* Start caching this thread's counter adds in c (all slots free: zeroed, or as nf_count_close left it). */
static inline __attribute__((unused)) void nf_count_open(struct nf_count_cache *c)
{
	nf_count_cur_ = c;
}

/* Add every cached delta to its counter, free the slots, and count directly again. */
static inline __attribute__((unused)) void nf_count_close(struct nf_count_cache *c)
{
	for (uint32_t i = 0; i < c->nused; i++) {
		uint32_t s = c->used[i];
		if (c->delta[s])
			__atomic_fetch_add(c->addr[s], c->delta[s], __ATOMIC_RELAXED);
		c->addr[s] = NULL;
		c->delta[s] = 0;
	}
	c->nused = 0;
	nf_count_cur_ = NULL;
}
#define NF_COUNT_ADD(p, v) nf_count_add_((p), (uint64_t)(v))
#else
#define NF_COUNT_ADD(p, v) NF_ATOMIC_ADD64((p), (v))
#endif

#if defined(__CUDA_ARCH__)
/*
 * Warp-aggregated increments: the lanes of a warp that bump the same counter
 * together do it with one atomic (a warp of packets otherwise queues 32
 * same-address atomics at L2, several times per packet).
 */
static __device__ __forceinline__ void nf_count_warp(unsigned long long *p)
{
	unsigned int peers = __match_any_sync(__activemask(), (unsigned long long)(uintptr_t)p);

	if ((threadIdx.x & 31) == (unsigned int)(__ffs(peers) - 1))
		atomicAdd(p, (unsigned long long)__popc(peers));
}

/* Fetch-and-increment for a warp: one atomic takes consecutive values for every lane on p. */
static __device__ __forceinline__ unsigned long long nf_fetch_inc_warp(unsigned long long *p)
{
	unsigned int peers = __match_any_sync(__activemask(), (unsigned long long)(uintptr_t)p);
	unsigned int lane = threadIdx.x & 31, leader = (unsigned int)(__ffs(peers) - 1);
	unsigned long long base = 0;

	if (lane == leader)
		base = atomicAdd(p, (unsigned long long)__popc(peers));
	base = __shfl_sync(peers, base, (int)leader);
	return base + (unsigned long long)__popc(peers & ((1u << lane) - 1));
}
#define NF_COUNT(hdr, idx) nf_count_warp((unsigned long long *)&NF_COUNTERS(hdr)[(idx)])
#define NF_FETCH_INC64(p) nf_fetch_inc_warp((unsigned long long *)(p))
#else
#define NF_COUNT(hdr, idx) NF_COUNT_ADD(&NF_COUNTERS(hdr)[(idx)], 1)
#define NF_FETCH_INC64(p) NF_ATOMIC_ADD64((p), 1)
#endif

/* Byte order helpers (network data is big-endian; hosts and GPUs are little-endian). */
NF_FN uint16_t nf_get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
#if defined(__CUDA_ARCH__)
/*
 * Bytes p[0..3] as a big- or little-endian word, from aligned word loads and
 * one byte permute instead of four byte loads: L3 data behind a 14-byte
 * Ethernet header sits 2 bytes off a word boundary.
 */
static __device__ __forceinline__ uint32_t nf_word_at(const uint8_t *p, int big_endian)
{
	const uint32_t *a = (const uint32_t *)((uintptr_t)p & ~(uintptr_t)3);
	uint32_t sh = (uint32_t)((uintptr_t)p & 3);
	uint32_t lo = a[0], hi = sh ? a[1] : 0;
	uint32_t sel = big_endian ? (sh + 3) | (sh + 2) << 4 | (sh + 1) << 8 | sh << 12
				  : sh | (sh + 1) << 4 | (sh + 2) << 8 | (sh + 3) << 12;
	return __byte_perm(lo, hi, sel);
}
#endif

NF_FN uint32_t nf_get32(const uint8_t *p)
{
#if defined(__CUDA_ARCH__)
	return nf_word_at(p, 1);
#else
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
#endif
}

/* Bytes p[0..3] as a little-endian word (byte k in bits 8k..8k+7), any alignment. */
NF_FN uint32_t nf_load32le(const uint8_t *p)
{
#if defined(__CUDA_ARCH__)
	return nf_word_at(p, 0);
#else
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
#endif
}

/* High bit set in each byte of x that is zero, and in no other (exact, unlike the carry trick). */
NF_FN uint32_t nf_zero_bytes(uint32_t x)
{
	uint32_t t = ((x & 0x7f7f7f7fu) + 0x7f7f7f7fu) | x;
	return ~(t | 0x7f7f7f7fu);
}

NF_FN void nf_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
NF_FN void nf_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Ethernet / IPv4 constants shared by NFs. */
#define NF_ETH_HLEN 14
#define NF_ETH_P_IP 0x0800
#define NF_ETH_P_8021Q 0x8100
#define NF_IPPROTO_ICMP 1
#define NF_IPPROTO_TCP 6
#define NF_IPPROTO_UDP 17
#define NF_IPPROTO_ESP 50

/*
 * Locate the IPv4 header: returns its offset from buf (past Ethernet and one
 * optional 802.1Q tag), or 0 when the frame is not a well-formed IPv4 packet
 * (too short, IHL < 5, total length beyond the frame).
 */
NF_FN uint32_t nf_ipv4_off(const struct nf_pkt *p)
{
	const uint8_t *d = p->buf + p->off;
	uint32_t l3 = NF_ETH_HLEN;
	if (p->len < NF_ETH_HLEN + 20)
		return 0;
	uint16_t et = nf_get16(d + 12);
	if (et == NF_ETH_P_8021Q) {
		if (p->len < NF_ETH_HLEN + 4 + 20)
			return 0;
		et = nf_get16(d + 16);
		l3 += 4;
	}
	if (et != NF_ETH_P_IP)
		return 0;
	const uint8_t *ip = d + l3;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if ((ip[0] >> 4) != 4 || ihl < 20 || l3 + ihl > p->len)
		return 0;
	uint32_t tot = nf_get16(ip + 2);
	if (tot < ihl || l3 + tot > p->len)
		return 0;
	return p->off + l3;
}

/* RFC 1624 incremental update: HC' = ~(~HC + ~m + m'), on 16-bit words. */
NF_FN uint16_t nf_csum_update16(uint16_t hc, uint16_t old_w, uint16_t new_w)
{
	uint32_t s = (uint16_t)~hc + (uint16_t)~old_w + (uint32_t)new_w;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

#endif
