/* SPDX-License-Identifier: GPL-2.0 */
/* flowmon: placeholder until the NF lands; drops everything so it cannot be mistaken for working. */
#ifndef GEN_NF_FLOWMON_H
#define GEN_NF_FLOWMON_H
#include "nf.h"
NF_FN int nf_flowmon_run(void *state, struct nf_pkt *p)
{
	(void)state;
	(void)p;
	return NF_DROP;
}
#endif
