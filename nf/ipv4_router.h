/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ipv4_router: longest-prefix-match forwarding on the IPv4 destination.
 *
 * Lookup is DIR-24-8: tbl24 has one 32-bit entry per /24 (2^24 entries, 64 MiB),
 * so any prefix up to /24 costs one memory read; a /24 that holds longer prefixes
 * points to a tbl8 group of 256 entries indexed by the last octet (two reads).
 * Entry encoding (tbl24 and tbl8 alike):
 *   0                      no route
 *   RT_GROUP | g           (tbl24 only) use tbl8 group g
 *   nh + 1                 next hop nh (index into the next-hop MAC table)
 * On a hit the Ethernet destination becomes the next hop's MAC (the source MAC is
 * kept) and the TTL is decremented with an RFC 1624 incremental checksum update.
 */
#ifndef GEN_NF_IPV4_ROUTER_H
#define GEN_NF_IPV4_ROUTER_H

#include "nf.h"
#include "ttl_dec.h"

enum {
	RT_C_FORWARDED,
	RT_C_NO_ROUTE,
	RT_C_TTL_EXPIRED,
	RT_C_NOT_IPV4,
	RT_C_MAX,
};

#define RT_TBL24_ENTRIES (1u << 24)
#define RT_TBL8_ENTRIES 256u
#define RT_GROUP 0x80000000u
/* Next hops are indexed by entry - 1, so they must stay below RT_GROUP - 1. */
#define RT_NH_MAX (1u << 20)

/* A next hop: its MAC padded to 8 bytes so the table is naturally aligned. */
struct nf_rt_nh {
	uint8_t mac[6];
	uint8_t pad[2];
};
_Static_assert(sizeof(struct nf_rt_nh) == 8, "next hop crosses to the GPU");

/*
 * The blob: this header, then (at the offsets it names) tbl24, the tbl8 groups
 * and the next-hop table. All offsets are from the start of the blob.
 */
struct nf_ipv4_router {
	struct nf_hdr hdr;
	uint32_t tbl24_off; /* uint32_t[RT_TBL24_ENTRIES] */
	uint32_t tbl8_off;  /* uint32_t[ntbl8 * RT_TBL8_ENTRIES] */
	uint32_t ntbl8;
	uint32_t nh_off;    /* struct nf_rt_nh[nnh] */
	uint32_t nnh;
	uint32_t nroutes;   /* for reports */
	uint64_t counters[RT_C_MAX];
};
_Static_assert(sizeof(struct nf_ipv4_router) == 72, "ipv4_router state crosses to the GPU");

/*
 * Longest-prefix match of dst (host byte order). Returns the next-hop index + 1,
 * or 0 when no route covers dst.
 */
NF_FN uint32_t nf_rt_lookup(const struct nf_ipv4_router *st, uint32_t dst)
{
	const uint32_t *tbl24 = NF_AT(st, st->tbl24_off, const uint32_t *);
	uint32_t e = tbl24[dst >> 8];
	if (e & RT_GROUP) {
		const uint32_t *tbl8 = NF_AT(st, st->tbl8_off, const uint32_t *);
		e = tbl8[(uint64_t)(e & ~RT_GROUP) * RT_TBL8_ENTRIES + (dst & 0xff)];
	}
	return e;
}

NF_FN int nf_ipv4_router_run(void *state, struct nf_pkt *p)
{
	struct nf_ipv4_router *st = (struct nf_ipv4_router *)state;
	uint32_t ip = nf_ipv4_off(p);
	if (!ip) {
		NF_COUNT(&st->hdr, RT_C_NOT_IPV4);
		return NF_DROP;
	}
	uint8_t *iph = p->buf + ip;
	uint32_t e = nf_rt_lookup(st, nf_get32(iph + 16));
	if (!e || e > st->nnh) {
		NF_COUNT(&st->hdr, RT_C_NO_ROUTE);
		return NF_DROP;
	}
	/* Checked before any byte changes: a dropped packet leaves untouched. */
	if (iph[8] <= 1) {
		NF_COUNT(&st->hdr, RT_C_TTL_EXPIRED);
		return NF_DROP;
	}
	nf_ipv4_ttl_dec(iph);
	const struct nf_rt_nh *nh = NF_AT(st, st->nh_off, const struct nf_rt_nh *) + (e - 1);
	uint8_t *eth = p->buf + p->off;
	for (int i = 0; i < 6; i++)
		eth[i] = nh->mac[i];
	NF_COUNT(&st->hdr, RT_C_FORWARDED);
	return NF_PASS;
}

#ifndef __CUDACC_RTC__
/* Host-side builder API (nf/ipv4_router_build.c), used by the `routes` loader and tests. */
struct nf_rt_route {
	uint32_t prefix; /* host byte order, host bits zero */
	uint32_t len;    /* 0..32 */
	uint32_t nh;     /* index into the next-hop table */
};
/*
 * Build a router blob from n routes over nnh next hops. A prefix listed twice
 * keeps its last next hop. Returns 0 or -errno (-EINVAL: bad route; -E2BIG: too
 * large); the blob is freed with free().
 */
int nf_rt_build(const struct nf_rt_route *routes, size_t n, const struct nf_rt_nh *nhs, uint32_t nnh,
		struct nf_hdr **ret_state);
/*
 * Parse a routes file ("PREFIX/LEN NEXTHOP_MAC" per line, # comments) and build.
 * On error returns -errno and writes "FILE:LINE: message" into err.
 */
int nf_rt_load(const char *path, struct nf_hdr **ret_state, char *err, size_t errlen);
#endif

#endif
