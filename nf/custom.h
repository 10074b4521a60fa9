/* SPDX-License-Identifier: GPL-2.0 */
/*
 * custom: an NF compiled at run time from one C file (`[nf NAME] type = custom`,
 * `source = FILE`); the author's side is nf/gen_nf.h, the builder nf/custom_build.c.
 *
 * The blob, like every NF state, is POD and self-contained (offsets, no pointers
 * the GPU would follow):
 *
 *   offset  field
 *   0       struct nf_hdr      type NF_T_CUSTOM, counters_off 16, ncounters 3
 *   16      passed, dropped, no_code (uint64 counters, CUSTOM_C_*)
 *   40      host_fn            the dlsym'd gen_nf_entry (host address; meaningless on a GPU)
 *   48      src_hash           64-bit content hash of the source file (nf_custom_hash)
 *   56      state_off          always NF_CUSTOM_STATE_OFF (128)
 *   60      state_size         declared bytes (chains.ini `state_size`)
 *   64      src_off, src_len   absolute source path after the state area; src_len counts
 *                              its terminating NUL (path[src_len - 1] == 0)
 *   72      nparams, abi       `params =` count; GEN_NF_ABI_VERSION it was built for
 *   128     state area         state_size bytes, params as uint32 at its start
 *   src_off path
 */
#ifndef GEN_NF_CUSTOM_H
#define GEN_NF_CUSTOM_H

#include "nf.h"

enum { CUSTOM_C_PASSED, CUSTOM_C_DROPPED, CUSTOM_C_NO_CODE, CUSTOM_C_MAX };

#define NF_CUSTOM_STATE_OFF 128u
#define NF_CUSTOM_STATE_MAX (1u << 20)
#define NF_CUSTOM_STATE_DEFAULT 256u

struct nf_custom {
	struct nf_hdr hdr;
	uint64_t passed;   /* verdicts NF_PASS */
	uint64_t dropped;  /* verdicts NF_DROP (any non-PASS value counts as DROP) */
	uint64_t no_code;  /* dropped because the running agent lacks this NF's code */
	uint64_t host_fn;  /* int (*)(void *state, struct nf_pkt *) in gend's address space */
	uint64_t src_hash;
	uint32_t state_off;
	uint32_t state_size;
	uint32_t src_off;
	uint32_t src_len;
	uint32_t nparams;
	uint32_t abi;
};
_Static_assert(sizeof(struct nf_custom) == 80, "nf_custom crosses to the GPU");
_Static_assert(sizeof(struct nf_custom) <= NF_CUSTOM_STATE_OFF, "state area overlaps the header");

/* The author's state area. */
NF_FN void *nf_custom_state(struct nf_custom *c) { return (uint8_t *)c + c->state_off; }

/*
 * Count an entry's verdict and normalise it. A fused (NVRTC) agent calls the
 * author's entry itself and passes the result through this, so the cpu and gpu
 * backends count alike:
 *   v = nf_custom_account(c, gen_nf_entry_<ID>(nf_custom_state(c), p));
 */
NF_FN int nf_custom_account(struct nf_custom *c, int v)
{
	if (v == NF_PASS) {
		NF_COUNT(&c->hdr, CUSTOM_C_PASSED);
		return NF_PASS;
	}
	NF_COUNT(&c->hdr, CUSTOM_C_DROPPED);
	return NF_DROP;
}

/*
 * The dispatch the prebuilt agents use (nf/agent.h). On the host: call the
 * loaded shared object. On a GPU there is no code for a custom NF in a prebuilt
 * agent: the packet is dropped and counted in no_code (a chain with a custom NF
 * must run an agent built by NVRTC around the NF's source).
 */
NF_FN int nf_custom_run(void *state, struct nf_pkt *p)
{
	struct nf_custom *c = (struct nf_custom *)state;
#if !defined(__CUDA_ARCH__) && !defined(__CUDACC_RTC__)
	if (c->host_fn) {
		int (*fn)(void *, struct nf_pkt *) = (int (*)(void *, struct nf_pkt *))(uintptr_t)c->host_fn;
		return nf_custom_account(c, fn(nf_custom_state(c), p));
	}
#endif
	NF_COUNT(&c->hdr, CUSTOM_C_NO_CODE);
	return NF_DROP;
}

#if !defined(__CUDACC_RTC__)
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/*
 * Host-only helpers (nf/custom_build.c), for the gpu backend that builds fused
 * agents around custom NFs.
 */
/* The absolute source path the blob was built from, or NULL if h is not a custom blob. */
const char *nf_custom_source(const struct nf_hdr *h);
/*
 * Read the blob's source into a malloc'ed NUL-terminated buffer, checking that
 * its content still hashes to src_hash (the code the cpu backend runs); 0,
 * -ESTALE when the file changed since the build, or -errno.
 */
int nf_custom_read_source(const struct nf_hdr *h, char **ret_text, size_t *ret_len);
/* The content hash stored in src_hash: the first 8 bytes of SHA-256(data), big-endian. */
uint64_t nf_custom_hash(const void *data, size_t len);
/* The directory holding gen_nf.h that the builder uses (-I for NVRTC too), or NULL. */
const char *nf_custom_include_dir(void);
#ifdef __cplusplus
}
#endif
#endif

#endif
