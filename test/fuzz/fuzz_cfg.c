// SPDX-License-Identifier: GPL-2.0
/* chains.ini: any file is either loaded or rejected with an error naming it. */
#include "cfg.h"
#include "fuzz.h"

static int load(const char *path, void *arg, char *err, size_t errlen)
{
	struct cfg *c = NULL;
	int r = cfg_load(path, &c, err, errlen);

	FUZZ_CHECK(!r == !!c, "cfg_load returned %d with config %p", r, (void *)c);
	cfg_free(c);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_load_file(data, size, NULL, load);
	return 0;
}
