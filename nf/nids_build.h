/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host side of the nids NF: Snort rule parser (nids_rules.c) and the state blob
 * compiler (nids_build.c, with the automaton of nids_ac.h).
 * The daemon uses it through nf_ops_nids; tests also use the parsed rule set
 * directly (to drive an independent reference matcher).
 */
#ifndef GEN_NF_NIDS_BUILD_H
#define GEN_NF_NIDS_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "nids.h"

/* One content as parsed; bytes are the pattern as written (not folded). */
struct nids_src_content {
	uint8_t *bytes;
	uint16_t len;
	uint16_t flags; /* NIDS_CF_* */
	int32_t offset, depth, distance, within;
	bool fast_pattern;
};

/* An address or port field: elements plus a whole-field negation. n = 0: any. */
struct nids_src_spec {
	uint8_t neg;
	uint16_t n;
	struct nids_addr *addrs;       /* address fields */
	struct nids_port_range *ports; /* port fields */
};

struct nids_src_rule {
	uint32_t sid, rev;
	int line; /* line in the rules file */
	char *msg;
	uint8_t proto; /* 0 ip, else IP protocol number */
	uint8_t flags; /* NIDS_RF_* */
	struct nids_src_spec src, sport, dst, dport;
	uint16_t ncontents;
	uint16_t anchor; /* the content marked fast_pattern, else the longest positive one */
	struct nids_src_content c[NIDS_MAX_CONTENTS];
};

/* A named count: a skip reason, or an option and the number of loaded rules using it. */
struct nids_count {
	char name[64];
	uint32_t n;
};

struct nids_count_list {
	struct nids_count *v;
	size_t n, cap;
};

struct nids_ruleset {
	struct nids_src_rule *rules; /* loaded rules */
	size_t n, cap;
	uint32_t seen;    /* rule lines (commented or not) */
	uint32_t skipped; /* seen - n */
	uint32_t commented; /* loaded rules that were commented out in the file */
	struct nids_count_list skip_reasons;
	struct nids_count_list ignored;     /* options with no effect here (see nids.md) */
	struct nids_count_list unsupported; /* conditions not evaluated: rule matches on contents+header */
};

/* Load every rule of a Snort rules file (commented-out rules included). */
int nids_ruleset_load(const char *path, struct nids_ruleset *rs, char *err, size_t errlen);
/* Parse one rule text (no leading '#'); 0, or -EINVAL with the skip reason in why. */
int nids_rule_parse(const char *text, struct nids_src_rule *r, char *why, size_t whylen,
		    struct nids_ruleset *rs_for_counts);
void nids_src_rule_free(struct nids_src_rule *r);
void nids_ruleset_free(struct nids_ruleset *rs);
/* "title: name=n, ..." most frequent first (sorts l); nothing when l is empty. */
void nids_counts_print(FILE *f, const char *title, struct nids_count_list *l);
/* Alert events the ring holds by default (`events =` of [nf]), and at most. */
#define NIDS_EVENTS_DEFAULT 4096u
#define NIDS_EVENTS_MAX (1u << 20)

/* Compile rs into a state blob (freed with free()), with an alert ring of NIDS_EVENTS_DEFAULT. */
int nids_compile(const struct nids_ruleset *rs, uint32_t action, struct nf_hdr **ret_state, char *err,
		 size_t errlen);
/* The same with a ring of `events` records (a power of two; 0: no ring, firings are only counted). */
int nids_compile_events(const struct nids_ruleset *rs, uint32_t action, uint32_t events,
			struct nf_hdr **ret_state, char *err, size_t errlen);
/* Load + compile a rules file. */
int nids_build_file(const char *path, uint32_t action, struct nf_hdr **ret_state, char *err, size_t errlen);
int nids_build_file_events(const char *path, uint32_t action, uint32_t events, struct nf_hdr **ret_state,
			   char *err, size_t errlen);

/* The load figures kept in the blob (host-only tail), followed by the text summary. */
struct nids_load_summary {
	uint32_t seen, loaded, skipped, commented;
	uint32_t patterns, states, out_states, classes, outputs, pattern_max;
	uint32_t dfa_bytes, ac_bytes, blob_bytes, full_dfa_kib;
	/* Rules without a content of NIDS_INDEX_MIN bytes: found by port, or indexed anyway. */
	uint32_t port_rules, port_keys, short_indexed;
};

const struct nids_load_summary *nids_summary(const struct nf_hdr *st);
const char *nids_summary_text(const struct nf_hdr *st);

#endif
