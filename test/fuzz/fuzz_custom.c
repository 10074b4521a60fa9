// SPDX-License-Identifier: GPL-2.0
/*
 * The custom-NF loader's checks, short of running a compiler: the [nf] keys
 * (parse_opts), the compiler output turned into one FILE:LINE message
 * (first_error_line), and the source path read back from a blob
 * (nf_custom_source). The builder's statics are reached by including it.
 * Input: byte 0 picks the check, the rest is its text or blob.
 */
#include "../../nf/custom_build.c"
#include "fuzz.h"

static void keys(const char *text)
{
	struct nf_kv kv[16];
	char *copy = strdup(text), *save = NULL, err[512] = "";
	int n = 0, line = 0;
	struct custom_opts o;

	FUZZ_CHECK(copy, "strdup");
	for (char *l = strtok_r(copy, "\n", &save); l && n < 16; l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');

		if (!eq)
			continue;
		*eq = '\0';
		kv[n] = (struct nf_kv){ .key = l, .value = eq + 1, .line = n + 2 };
		n++;
	}
	struct nf_cfg cfg = { .name = "x", .file = "fuzz.ini", .line = 1, .kv = kv, .nkv = n, .base_dir = "/nonexistent" };
	if (parse_opts(&cfg, &o, &line, err, sizeof(err))) {
		FUZZ_CHECK(!strncmp(err, "fuzz.ini:", 9), "error without FILE:LINE: '%s'", err);
	} else {
		FUZZ_CHECK(o.source && o.source[0], "no source");
		FUZZ_CHECK(o.state_size >= 1 && o.state_size <= NF_CUSTOM_STATE_MAX, "state_size %u", o.state_size);
		FUZZ_CHECK(o.nparams <= GEN_NF_PARAMS_MAX && o.nparams * 4 <= o.state_size, "nparams %u", o.nparams);
		FUZZ_CHECK(o.timeout_s >= 1 && o.timeout_s <= CUSTOM_TIMEOUT_MAX, "timeout %d", o.timeout_s);
	}
	free(copy);
}

static void compiler_output(const char *text)
{
	char line[512];

	line[0] = 'x';
	first_error_line(text, "/etc/gen/nf/my.c", line, sizeof(line));
	FUZZ_CHECK(memchr(line, '\0', sizeof(line)), "unterminated");
	FUZZ_CHECK(!strchr(line, '\n'), "more than one line: '%s'", line);
}

static void blob(const uint8_t *data, size_t size)
{
	size_t n = size < sizeof(struct nf_custom) ? sizeof(struct nf_custom) : size;
	struct nf_hdr *h = aligned_alloc(64, (n + 63) & ~(size_t)63);

	FUZZ_CHECK(h, "alloc");
	memset(h, 0, (n + 63) & ~(size_t)63);
	memcpy(h, data, size);
	if (h->size > n)
		h->size = (uint32_t)n; /* the allocation is what the header claims */
	const char *s = nf_custom_source(h);
	if (s)
		FUZZ_CHECK(s >= (const char *)h && s + strlen(s) < (const char *)h + h->size, "source out of the blob");
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 3 == 2) {
		blob(data + 1, size - 1);
		return 0;
	}
	char *text = strndup((const char *)data + 1, size - 1);

	FUZZ_CHECK(text, "strndup");
	if (data[0] % 3 == 0)
		keys(text);
	else
		compiler_output(text);
	free(text);
	return 0;
}
