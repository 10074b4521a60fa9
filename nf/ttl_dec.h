/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ttl_dec: decrement the IPv4 TTL with an RFC 1624 incremental checksum update;
 * drop at expiry. Non-IPv4 frames pass untouched (counted).
 */
#ifndef GEN_NF_TTL_DEC_H
#define GEN_NF_TTL_DEC_H

#include "nf.h"

enum { TTL_C_FORWARDED, TTL_C_EXPIRED, TTL_C_NOT_IPV4, TTL_C_MAX };

struct nf_ttl_dec {
	struct nf_hdr hdr;
	uint64_t counters[TTL_C_MAX];
};
_Static_assert(sizeof(struct nf_ttl_dec) == 40, "ttl_dec state crosses to the GPU");

/* Decrement TTL at buf[ip]; returns NF_DROP when the TTL would expire. */
NF_FN int nf_ipv4_ttl_dec(uint8_t *ip)
{
	if (ip[8] <= 1)
		return NF_DROP;
	uint16_t old_w = nf_get16(ip + 8);
	ip[8]--;
	nf_put16(ip + 10, nf_csum_update16(nf_get16(ip + 10), old_w, nf_get16(ip + 8)));
	return NF_PASS;
}

NF_FN int nf_ttl_dec_run(void *state, struct nf_pkt *p)
{
	struct nf_ttl_dec *st = (struct nf_ttl_dec *)state;
	uint32_t ip = nf_ipv4_off(p);
	if (!ip) {
		NF_COUNT(&st->hdr, TTL_C_NOT_IPV4);
		return NF_PASS;
	}
	if (nf_ipv4_ttl_dec(p->buf + ip) != NF_PASS) {
		NF_COUNT(&st->hdr, TTL_C_EXPIRED);
		return NF_DROP;
	}
	NF_COUNT(&st->hdr, TTL_C_FORWARDED);
	return NF_PASS;
}

#endif
