// SPDX-License-Identifier: GPL-2.0
/* Loading the Snort community rules: counts checked against the file itself. */
#include <criterion/criterion.h>
#include "testlib.h"
#include <unistd.h>
#include <stdlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nids_build.h"
#include "registry.h"

/* The Snort community rules (shared data): testlib.h finds them; tests skip without them, except in CI. */
#define COMMUNITY tl_community_rules(NULL)


struct file_counts {
	uint32_t rules, commented, without_content, noalert;
};

/* Count rule lines with plain string tests, independent of the parser. */
static struct file_counts count_file(void)
{
	struct file_counts fc = { 0 };
	FILE *f = fopen(COMMUNITY, "r");
	char *line = NULL;
	size_t cap = 0;

	cr_assert_not_null(f, "cannot open %s", COMMUNITY);
	while (getline(&line, &cap, f) >= 0) {
		const char *s = line;
		int commented = 0;
		if (!strncmp(s, "# ", 2)) {
			s += 2;
			commented = 1;
		}
		if (strncmp(s, "alert ", 6))
			continue;
		fc.rules++;
		fc.commented += commented;
		if (strstr(s, "flowbits:noalert"))
			fc.noalert++;
		else if (!strstr(s, "content:"))
			fc.without_content++;
	}
	free(line);
	fclose(f);
	return fc;
}

static uint32_t count_of(const struct nids_count_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return l->v[i].n;
	return 0;
}

Test(nids_community, load_counts)
{
	struct file_counts fc;
	struct nids_ruleset rs;
	char err[512];

	tl_require_community_rules();
	fc = count_file();

	cr_assert_eq(nids_ruleset_load(COMMUNITY, &rs, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(rs.seen, fc.rules, "parser saw %u rules, the file has %u", rs.seen, fc.rules);
	cr_expect_eq(rs.n + rs.skipped, rs.seen);
	cr_expect_eq(count_of(&rs.skip_reasons, "no content"), fc.without_content);
	cr_expect_eq(count_of(&rs.skip_reasons, "flowbits:noalert (never alerts)"), fc.noalert);
	/* Commented-out rules are most of the file and must load. */
	cr_expect_gt(rs.commented, fc.commented * 9 / 10);
	cr_expect_gt(rs.n, fc.rules * 9 / 10 - fc.without_content - fc.noalert);
	cr_expect_gt(count_of(&rs.unsupported, "pcre"), 500);
	cr_log_info("community.rules: %u rule lines (%u commented), %zu loaded, %u skipped\n", fc.rules,
		    fc.commented, rs.n, rs.skipped);
	nids_ruleset_free(&rs);
}

Test(nids_community, build_and_report)
{
	const struct nf_ops *ops = nf_ops_find("nids");
	cr_assert_not_null(ops);
	/* A path relative to chains.ini's directory, as an operator writes it (skips first where the rules are not laid out). */
	char base[4096];
	snprintf(base, sizeof(base), "%s", tl_require_community_rules());
	char *cut = strstr(base, "/snort-community/community.rules");
	cr_assert_not_null(cut, "the community rules are not at .../snort-community/community.rules: %s", base);
	*cut = '\0';
	struct nf_kv kv[] = { { "rules", "snort-community/community.rules", 7 } };
	struct nf_cfg cfg = { .name = "ids", .file = "chains.ini", .line = 6, .kv = kv, .nkv = 1,
			      .base_dir = base };
	struct nf_hdr *h = NULL;
	char err[512] = "";

	cr_assert_eq(ops->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);
	const struct nids_load_summary *s = nids_summary(h);
	struct file_counts fc = count_file();
	cr_expect_eq(s->seen, fc.rules);
	cr_expect_eq(s->loaded + s->skipped, s->seen);
	cr_expect_gt(s->states, 1000);
	/* Dense DFA: one uint16_t next state per (state, byte class). */
	cr_expect_lt(s->states, 65536u);
	cr_expect_eq(s->dfa_bytes, s->states * s->classes * 2);
	cr_expect_lt(s->classes, 256u);
	/* Fits the L2 of an H100 (50 MB) with room for packets; a 256-wide uint32 DFA would not. */
	cr_expect_lt(s->ac_bytes, 24u << 20, "automaton of %u bytes", s->ac_bytes);
	cr_expect_lt(s->ac_bytes, s->full_dfa_kib * 1024u / 2);
	cr_expect_gt(s->patterns, 3000, "every content of at least %u bytes is indexed", NIDS_INDEX_MIN);
	cr_expect_eq(h->size, s->blob_bytes);

	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	cr_assert_eq(ops->report(h, "load", out, false), 0);
	fclose(out);
	char want[64];
	snprintf(want, sizeof(want), "%u loaded", s->loaded);
	cr_expect_not_null(strstr(buf, want), "%s", buf);
	cr_log_info("%s", buf);
	free(buf);
	free(h);
}
