/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dscp_marker: set the DSCP of every IPv4 packet to params[0] (0..63), keeping
 * the ECN bits, with an RFC 1624 incremental header checksum update. Frames that
 * are not IPv4 pass untouched; a DSCP above 63 marks nothing (counted).
 *
 *   [nf mark_ef]
 *   type = custom
 *   source = nf/dscp_marker.c
 *   params = 46
 */
#include <gen_nf.h>

struct dscp_marker_state {
	uint32_t params[8];  /* params[0]: the DSCP to set */
	uint64_t marked;     /* TOS byte rewritten */
	uint64_t unchanged;  /* already carried that DSCP */
	uint64_t not_ipv4;
	uint64_t bad_param;  /* params[0] > 63: left alone */
};

NF_FN int dscp_marker(struct dscp_marker_state *st, struct nf_pkt *p)
{
	uint8_t *ip = gen_nf_ipv4(p);
	uint32_t dscp = st->params[0];

	if (!ip) {
		NF_ATOMIC_ADD64(&st->not_ipv4, 1);
		return NF_PASS;
	}
	if (dscp > 63) {
		NF_ATOMIC_ADD64(&st->bad_param, 1);
		return NF_PASS;
	}
	uint8_t tos = (uint8_t)((dscp << 2) | (ip[1] & 0x03));
	if (tos == ip[1]) {
		NF_ATOMIC_ADD64(&st->unchanged, 1);
		return NF_PASS;
	}
	/* The TOS byte shares its checksum word with version/IHL (bytes 0-1). */
	uint16_t old_w = nf_get16(ip);
	ip[1] = tos;
	nf_put16(ip + 10, nf_csum_update16(nf_get16(ip + 10), old_w, nf_get16(ip)));
	NF_ATOMIC_ADD64(&st->marked, 1);
	return NF_PASS;
}

GEN_NF(dscp_marker, struct dscp_marker_state);
