/* SPDX-License-Identifier: GPL-2.0 */
/* nids: placeholder until the NF lands; drops everything so it cannot be mistaken for working. */
#ifndef GEN_NF_NIDS_H
#define GEN_NF_NIDS_H
#include "nf.h"
NF_FN int nf_nids_run(void *state, struct nf_pkt *p)
{
	(void)state;
	(void)p;
	return NF_DROP;
}
#endif
