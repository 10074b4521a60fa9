/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ttl_guard: drop IPv4 packets whose TTL is below params[0], counting them.
 * Frames that are not IPv4 pass untouched.
 *
 *   [nf guard]
 *   type = custom
 *   source = nf/ttl_guard.c
 *   params = 5
 */
#include <gen_nf.h>

struct ttl_guard_state {
	uint32_t params[8];  /* params[0]: the lowest TTL let through */
	uint64_t too_low;    /* dropped: TTL < params[0] */
	uint64_t passed;     /* IPv4 with TTL >= params[0] */
	uint64_t not_ipv4;   /* passed without a look */
};

NF_FN int ttl_guard(struct ttl_guard_state *st, struct nf_pkt *p)
{
	const uint8_t *ip = gen_nf_ipv4(p);

	if (!ip) {
		NF_ATOMIC_ADD64(&st->not_ipv4, 1);
		return NF_PASS;
	}
	if (ip[8] < st->params[0]) {
		NF_ATOMIC_ADD64(&st->too_low, 1);
		return NF_DROP;
	}
	NF_ATOMIC_ADD64(&st->passed, 1);
	return NF_PASS;
}

GEN_NF(ttl_guard, struct ttl_guard_state);
