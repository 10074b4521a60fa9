/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host side of the nids NF: the Aho-Corasick automaton over the rules' content
 * prefixes, built from a parsed rule set, before nids_build.c lays it out in
 * the state blob (layout in nids.h, choices in nids.md).
 */
#ifndef GEN_NF_NIDS_AC_H
#define GEN_NF_NIDS_AC_H

#include <stdint.h>
#include "nids_build.h"

/*
 * Indexed patterns: the case-folded prefix (at most plen bytes) of every positive
 * content at least NIDS_INDEX_MIN bytes long, and of each rule's trigger content
 * whatever its length. Equal prefixes share one pattern id.
 */
struct nids_ac {
	uint32_t nclasses;
	uint8_t class_of[256];
	uint32_t plen;       /* prefix length cap actually used */
	uint32_t nstates, cap;
	uint32_t *child;     /* trie: first child */
	uint32_t *sibling;   /* trie: next sibling */
	uint8_t *label;      /* class of the edge into the state */
	uint32_t *pat;       /* pattern ending at the state, or NIDS_NONE */
	uint32_t npatterns;
	uint32_t *pat_trig;  /* per pattern: rules it triggers */
	uint32_t *rule_trig; /* rule -> trigger pattern */
	uint32_t *need;      /* flattened per-rule lists of the other indexed patterns */
	uint32_t *need_first; /* rule -> first need entry; [n] = total */
	/* Complete DFA, filled by ac_dfa(). */
	uint32_t *order;     /* BFS order: new id -> old id */
	uint32_t *newid;     /* old id -> new id */
	uint32_t *fail;
	uint16_t *row;       /* old ids: nstates * nclasses next states (old ids) */
	uint32_t *out_first; /* old ids: first entry in outs; [nstates] = total */
	uint32_t *outs;      /* pattern ids reported by each state (own, then its fail state's) */
	uint32_t nouts, out_min;
};

/* Build the automaton of rs; 0, -ENOMEM, or -E2BIG when it cannot fit 16-bit ids. Free with nids_ac_free(). */
int nids_ac_build(const struct nids_ruleset *rs, struct nids_ac *a);
void nids_ac_free(struct nids_ac *a);
/* The content whose pattern triggers r: the longest indexed prefix, then fast_pattern. */
int nids_trigger_of(const struct nids_src_rule *r, uint32_t plen);
/*
 * The port keys of a short rule found by port (see nids_ac.c); written to keys
 * when not NULL. Returns how many, 0 when the rule has none.
 */
uint32_t nids_port_keys(const struct nids_src_rule *r, struct nids_port_key *keys, uint32_t ri);
/* qsort order of port keys: by port, then rule. */
int nids_key_cmp(const void *a, const void *b);

#endif
