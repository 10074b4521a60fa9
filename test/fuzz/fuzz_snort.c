// SPDX-License-Identifier: GPL-2.0
/*
 * The Snort rule parser and the automaton compiler of nids: a rules file is
 * compiled, or rejected with a message naming the file. A compiled set then
 * scans a frame made of the input bytes, so the automaton meets its own patterns.
 */
#include "agent.h"
#include "nids_build.h"
#include "fuzz.h"

static void scan(struct nf_hdr *st, const uint8_t *data, size_t size)
{
	size_t len = 14 + 20 + 8 + (size > 1400 ? 1400 : size);
	uint8_t *buf = calloc(1, len);

	if (!buf)
		return;
	nf_put16(buf + 12, NF_ETH_P_IP);
	buf[14] = 0x45;
	nf_put16(buf + 16, (uint16_t)(len - 14));
	buf[14 + 8] = 64;
	buf[14 + 9] = (uint8_t)(size & 1 ? NF_IPPROTO_TCP : NF_IPPROTO_UDP);
	if (size & 1)
		buf[34 + 12] = 0x50; /* TCP data offset 5 */
	nf_put16(buf + 36, 80);
	memcpy(buf + 42, data, len - 42);
	struct nf_pkt p = { .buf = buf, .off = 0, .len = (uint32_t)len, .cap = (uint32_t)len };
	int v = nf_dispatch(st->type, st, &p);

	FUZZ_CHECK(v == NF_PASS || v == NF_DROP, "verdict %d", v);
	free(buf);
}

struct input {
	const uint8_t *data;
	size_t size;
};

static int load(const char *path, void *arg, char *err, size_t errlen)
{
	const struct input *in = arg;
	struct nf_hdr *st = NULL;
	int r = nids_build_file(path, in->size & 2 ? NIDS_ACT_DROP : NIDS_ACT_ALERT, &st, err, errlen);

	if (!r) {
		FUZZ_CHECK(st && st->type == NF_T_NIDS, "no state");
		FUZZ_CHECK(nids_summary(st)->loaded > 0, "compiled without rules");
		scan(st, in->data, in->size);
	}
	free(st);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	fuzz_load_file(data, size, &in, load);
	return 0;
}
