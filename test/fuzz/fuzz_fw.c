// SPDX-License-Identifier: GPL-2.0
/* The firewall rules file: built into a classifier, or rejected with FILE:LINE. */
#include <string.h>
#include "firewall.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[1024] = "";
	struct nf_hdr *st = NULL;
	int fd = fuzz_file(data, size, path, sizeof(path));
	int r;

	if (fd < 0)
		return 0;
	r = nf_fw_load(path, size & 1 ? FW_DENY : FW_ALLOW, &st, err, sizeof(err));
	if (r)
		FUZZ_CHECK(!strncmp(err, path, strlen(path)), "the error does not name the file: '%s'", err);
	else
		FUZZ_CHECK(st && st->type == NF_T_FIREWALL, "no state");
	free(st);
	close(fd);
	return 0;
}
