// SPDX-License-Identifier: GPL-2.0
/*
 * agent-src NF...: print the fused agent source that gend would generate for a
 * chain of these shipped NF types (cuda/rtc.c: rtc_generate), for compiling
 * offline (test/bench/agent_res.sh). Custom NFs need their state: not here.
 */
#include <stdio.h>
#include <string.h>
#include "rtc.h"
#include "../nf/nf.h"

/* The key hashes the embedded headers; the source does not depend on them. */
const struct rtc_header rtc_headers[1];
const unsigned rtc_nheaders = 0;

#define NF_NAME_(NAME, name, head, tail, writes, binit) [NF_T_##NAME] = #name,
static const char *const names[NF_T_MAX] = { NF_LIST(NF_NAME_) };
#undef NF_NAME_

int main(int argc, char **argv)
{
	struct chain_prog p = { 0 };
	struct rtc_src src;
	char err[1024];

	if (argc < 2 || argc - 1 > 16) {
		fprintf(stderr, "usage: agent-src NF... (1 to 16 of:");
		for (int t = 0; t < NF_T_MAX; t++)
			if (names[t] && t != NF_T_CUSTOM)
				fprintf(stderr, " %s", names[t]);
		fprintf(stderr, ")\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int t;

		for (t = 0; t < NF_T_MAX; t++)
			if (names[t] && t != NF_T_CUSTOM && !strcmp(names[t], argv[i]))
				break;
		if (t == NF_T_MAX) {
			fprintf(stderr, "agent-src: argument %d: '%s' is not a shipped NF type\n", i, argv[i]);
			return 2;
		}
		p.type[p.n++] = (uint32_t)t;
	}
	if (rtc_generate(&p, 90, &src, err, sizeof(err))) {
		fprintf(stderr, "agent-src: %s\n", err);
		return 1;
	}
	fwrite(src.text, 1, src.len, stdout);
	rtc_src_free(&src);
	return 0;
}
