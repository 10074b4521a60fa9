// SPDX-License-Identifier: GPL-2.0
/* The firewall rules file: built into a classifier, or rejected with FILE:LINE. */
#include "firewall.h"
#include "fuzz.h"

static int load(const char *path, void *arg, char *err, size_t errlen)
{
	struct nf_hdr *st = NULL;
	int r = nf_fw_load(path, *(const uint32_t *)arg, &st, err, errlen);

	FUZZ_CHECK(r || (st && st->type == NF_T_FIREWALL), "loaded without a state");
	free(st);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t dflt = size & 1 ? FW_DENY : FW_ALLOW;

	fuzz_load_file(data, size, &dflt, load);
	return 0;
}
