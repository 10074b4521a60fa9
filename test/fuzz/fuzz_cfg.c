// SPDX-License-Identifier: GPL-2.0
/* chains.ini: any file is either loaded or rejected with an error message. */
#include <string.h>
#include "cfg.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[4096] = "";
	struct cfg *c = NULL;
	int fd = fuzz_file(data, size, path, sizeof(path));
	int r;

	if (fd < 0)
		return 0;
	r = cfg_load(path, &c, err, sizeof(err));
	if (r) {
		FUZZ_CHECK(!c, "a rejected file left a config");
		FUZZ_CHECK(!strncmp(err, path, strlen(path)), "the error does not name the file: '%s'", err);
	} else {
		FUZZ_CHECK(c, "loaded without a config");
		cfg_free(c);
	}
	close(fd);
	return 0;
}
