// SPDX-License-Identifier: GPL-2.0
/* The ipv4_router routes file: loaded into a trie, or rejected with FILE:LINE. */
#include "ipv4_router.h"
#include "fuzz.h"

static int load(const char *path, void *arg, char *err, size_t errlen)
{
	struct nf_hdr *st = NULL;
	int r = nf_rt_load(path, &st, err, errlen);

	FUZZ_CHECK(r || (st && st->type == NF_T_IPV4_ROUTER), "loaded without a state");
	free(st);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_load_file(data, size, NULL, load);
	return 0;
}
