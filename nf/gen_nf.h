/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gen_nf.h: the one header a custom NF includes (`[nf NAME] type = custom`).
 *
 * A custom NF is ONE C file, compiled at run time: by the host compiler into a
 * shared object for the cpu backend, and by NVRTC into a fused SFC agent for the
 * gpu backend. It may use only what nf.h provides (no libc, no allocation, no
 * logging), exactly like the shipped NFs:
 *
 *   #include <gen_nf.h>
 *
 *   struct my_state {
 *           uint32_t params[8];  // `params =` of chains.ini land here
 *           uint64_t seen;
 *   };
 *
 *   NF_FN int my_nf(struct my_state *st, struct nf_pkt *p)
 *   {
 *           NF_ATOMIC_ADD64(&st->seen, 1);
 *           return NF_PASS;       // or NF_DROP
 *   }
 *
 *   GEN_NF(my_nf, struct my_state);
 *
 * The state area handed to the entry is `state_size` bytes (chains.ini key,
 * default 256), 64-byte aligned, zeroed, with `params` written as uint32 at its
 * start. It is shared by every thread (CPU) or every GPU thread running the
 * chain: update it with the NF_ATOMIC_* helpers. See gen-nf(7).
 *
 * What GEN_NF(entry, type) expands to:
 *
 * - host compiler (cpu backend), built with -DGEN_NF_DECLARED_SIZE=N:
 *     _Static_assert(sizeof(type) <= GEN_NF_DECLARED_SIZE, ...);
 *     _Static_assert(_Alignof(type) <= GEN_NF_STATE_ALIGN, ...);
 *     int gen_nf_entry(void *state, struct nf_pkt *p);          // exported
 *     const uint32_t gen_nf_state_sizeof = sizeof(type);         // exported
 *     const uint32_t gen_nf_abi = GEN_NF_ABI_VERSION;            // exported
 *
 * - NVRTC or nvcc (__CUDACC__), where the generator of the fused agent defines
 *   GEN_NF_ID (a decimal number) and GEN_NF_DECLARED_SIZE before including the file:
 *     static_assert(sizeof(type) <= GEN_NF_DECLARED_SIZE, ...);
 *     static_assert(alignof(type) <= GEN_NF_STATE_ALIGN, ...);
 *     NF_FN int gen_nf_entry_<GEN_NF_ID>(void *state, struct nf_pkt *p);
 *   (NF_FN is `__device__ __forceinline__` under NVRTC.) Nothing is exported:
 *   the agent calls the entry directly, so it inlines into the chain's loop.
 */
#ifndef GEN_NF_AUTHOR_H
#define GEN_NF_AUTHOR_H

#include "nf.h"

/* Bumped whenever the meaning of gen_nf_entry, the state area or nf_pkt changes. */
#define GEN_NF_ABI_VERSION 2u
/* The state area's alignment in the blob; a state type may not ask for more. */
#define GEN_NF_STATE_ALIGN 64
/* How many `params =` values exist; they are uint32 at the start of the state. */
#define GEN_NF_PARAMS_MAX 8

#define GEN_NF_PASTE2_(a, b) a##b
#define GEN_NF_PASTE(a, b) GEN_NF_PASTE2_(a, b)

#if defined(__CUDACC__)
/* Device side: one entry per distinct source, named by GEN_NF_ID. */
#define GEN_NF(entry, type)                                                                    \
	static_assert(sizeof(type) <= GEN_NF_DECLARED_SIZE,                                    \
		      "GEN_NF: sizeof(" #type ") exceeds the declared state_size");            \
	static_assert(alignof(type) <= GEN_NF_STATE_ALIGN,                                     \
		      "GEN_NF: " #type " needs more than 64-byte alignment");                  \
	NF_FN int GEN_NF_PASTE(gen_nf_entry_, GEN_NF_ID)(void *gen_nf_state_, struct nf_pkt *gen_nf_p_) \
	{                                                                                      \
		return entry((type *)gen_nf_state_, gen_nf_p_);                                \
	}
#else
/* Host side: three exported symbols the loader looks up with dlsym. */
#define GEN_NF_EXPORT_ __attribute__((visibility("default"), used))
#define GEN_NF(entry, type)                                                                    \
	_Static_assert(sizeof(type) <= GEN_NF_DECLARED_SIZE,                                   \
		       "GEN_NF: sizeof(" #type ") exceeds the declared state_size");           \
	_Static_assert(_Alignof(type) <= GEN_NF_STATE_ALIGN,                                   \
		       "GEN_NF: " #type " needs more than 64-byte alignment");                 \
	GEN_NF_EXPORT_ int gen_nf_entry(void *gen_nf_state_, struct nf_pkt *gen_nf_p_);        \
	GEN_NF_EXPORT_ int gen_nf_entry(void *gen_nf_state_, struct nf_pkt *gen_nf_p_)         \
	{                                                                                      \
		return entry((type *)gen_nf_state_, gen_nf_p_);                                \
	}                                                                                      \
	GEN_NF_EXPORT_ const uint32_t gen_nf_state_sizeof = (uint32_t)sizeof(type);            \
	GEN_NF_EXPORT_ const uint32_t gen_nf_abi = GEN_NF_ABI_VERSION
#endif

/*
 * Small helpers for authors, on top of nf.h (nf_ipv4_off, nf_get16/32,
 * nf_put16/32, nf_csum_update16, NF_ATOMIC_*).
 */

/* The first byte of the packet. */
NF_FN uint8_t *gen_nf_data(struct nf_pkt *p) { return p->buf + p->off; }

/* The IPv4 header, or NULL when the frame is not well-formed IPv4 (see nf_ipv4_off). */
NF_FN uint8_t *gen_nf_ipv4(struct nf_pkt *p)
{
	uint32_t off = nf_ipv4_off(p);
	return off ? p->buf + off : NULL;
}

#endif
