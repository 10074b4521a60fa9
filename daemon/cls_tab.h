/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Classification Table computed once on the host: cls.c writes it into the
 * XDP program's maps, and synthetic ports classify with it directly through the
 * same lookup source the XDP program is built from (bpf/cls_lookup.h).
 */
#ifndef GEN_DAEMON_CLS_TAB_H
#define GEN_DAEMON_CLS_TAB_H

#include <stdint.h>
#include "bpf/classifier.h"
#include "bpf/cls_lookup.h"

/* cls_rule (cls.h) without the loader: rules in priority order, host byte order. */
struct cls_rule;

/* One address field: every distinct prefix (and /0), with the vector of rules containing it. */
struct cls_tab_lpm {
	uint64_t lens;              /* bit l: some prefix of length l is present */
	uint32_t start[33], count[33]; /* per length: the range of net[]/vec[], sorted by net */
	uint32_t n;
	uint32_t *net;              /* host order, masked to its length */
	struct cls_bitvec *vec;
};

struct cls_tab_inport {
	uint32_t ifindex;           /* 0: the wildcard vector */
	struct cls_bitvec v;
};

struct cls_tab {
	int nrules;
	uint32_t open;              /* enum cls_open: fields no rule constrains */
	struct cls_tab_lpm src, dst;
	struct cls_bitvec proto[GEN_CLS_PROTOS];
	uint16_t sport_ival[GEN_CLS_PORTS], dport_ival[GEN_CLS_PORTS]; /* port -> elementary interval */
	struct cls_bitvec *sport_vec, *dport_vec;       /* interval -> vector */
	uint32_t nsport, ndport;
	struct cls_tab_inport *inport;
	uint32_t ninport;
	struct cls_rule_val rules[GEN_CLS_MAX_RULES];   /* zeroed past nrules: chain 0 is no chain */
};

/* Compute the table of rules[0..n) (validated by the caller). NULL + errno (ENOMEM). */
struct cls_tab *cls_tab_build(const struct cls_rule *rules, int n);
void cls_tab_free(struct cls_tab *t);

/*
 * Classify one frame as the XDP program would on a packet arriving on ifindex.
 * On CLS_MATCH, *ret_rank and *ret_chain are set; f is filled for MATCH and MISS.
 */
enum cls_result cls_tab_classify(const struct cls_tab *t, void *frame, uint32_t len, uint32_t ifindex,
				 struct cls_fields *f, uint32_t *ret_rank, uint32_t *ret_chain);

#endif /* GEN_DAEMON_CLS_TAB_H */
