/* SPDX-License-Identifier: GPL-2.0 */
/* ipv4_router: placeholder until the NF lands; drops everything so it cannot be mistaken for working. */
#ifndef GEN_NF_IPV4_ROUTER_H
#define GEN_NF_IPV4_ROUTER_H
#include "nf.h"
NF_FN int nf_ipv4_router_run(void *state, struct nf_pkt *p)
{
	(void)state;
	(void)p;
	return NF_DROP;
}
#endif
