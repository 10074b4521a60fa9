// SPDX-License-Identifier: GPL-2.0
/*
 * The classifier's parse and lookup as the host builds them from the BPF
 * source (bpf/cls_lookup.h through daemon/cls_tab.c), against the plain C
 * reference (test/bpf/cls_ref.h) over one fixed rule set: any frame, any
 * ingress port, the same outcome, rule and ports. Input: byte 0 picks the
 * ingress ifindex (1..4), the rest is the frame.
 */
#include <arpa/inet.h>
#include <string.h>
#include "cls_tab.h"
#include "test/bpf/cls_ref.h"
#include "fuzz.h"

#define NRULES 256

static struct cls_rule rules[NRULES];
static struct cls_tab *tab;

static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)*s;
}

/* Overlapping rules over few values, so frames built by mutation hit their edges. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint32_t addrs[] = { 0x0a000001, 0x0a000101, 0x0a010001, 0xc0a80001, 0xc0a80081, 0x08080808 };
	static const uint16_t ports[] = { 0, 1, 22, 53, 80, 443, 1024, 8080, 65534, 65535 };
	static const int protos[] = { 6, 17, 1, 47 };
	uint64_t s = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < NRULES; i++) {
		struct cls_rule *r = &rules[i];
		uint16_t *lo[2] = { &r->sport_lo, &r->dport_lo }, *hi[2] = { &r->sport_hi, &r->dport_hi };

		r->src_len = rnd(&s) % 33;
		r->src = addrs[rnd(&s) % 6];
		r->dst_len = rnd(&s) % 3 ? 8 + rnd(&s) % 25 : 0;
		r->dst = addrs[rnd(&s) % 6];
		r->proto = rnd(&s) % 3 ? -1 : protos[rnd(&s) % 4];
		for (int k = 0; k < 2; k++) {
			uint32_t a = ports[rnd(&s) % 10], b = a + rnd(&s) % 2000;

			*lo[k] = rnd(&s) % 3 ? (uint16_t)a : 0;
			*hi[k] = rnd(&s) % 3 ? (uint16_t)(b > 65535 ? 65535 : b) : 65535;
		}
		r->in_ifindex = rnd(&s) % 4 ? 0 : 1 + rnd(&s) % 3;
		r->chain_id = 1 + rnd(&s) % 255;
	}
	tab = cls_tab_build(rules, NRULES);
	FUZZ_CHECK(tab, "cls_tab_build");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint32_t ifindex = 1 + data[0] % 4, len = (uint32_t)(size - 1), rank = ~0u, chain = 0;
	struct cls_fields f = { 0 };
	uint8_t *frame = malloc(len ? len : 1);

	FUZZ_CHECK(frame, "malloc");
	memcpy(frame, data + 1, len);
	enum cls_result got = cls_tab_classify(tab, frame, len, ifindex, &f, &rank, &chain);
	struct cls_ref_result want = cls_ref_classify(rules, NRULES, data + 1, len, ifindex);

	switch (want.v) {
	case CLS_REF_MATCH:
		FUZZ_CHECK(got == CLS_MATCH && rank == (uint32_t)want.rank && chain == rules[want.rank].chain_id,
			   "reference matched rule %d, host copy: result %d rule %u chain %u", want.rank, got, rank, chain);
		break;
	case CLS_REF_MISS:
		FUZZ_CHECK(got == CLS_MISS, "reference missed, host copy: result %d rule %u", got, rank);
		break;
	case CLS_REF_OTHER:
		FUZZ_CHECK(got == CLS_OTHER, "reference: not IPv4, host copy: result %d", got);
		break;
	case CLS_REF_MALFORMED:
		FUZZ_CHECK(got == CLS_MALFORMED, "reference: malformed, host copy: result %d", got);
		break;
	}
	if (want.v == CLS_REF_MATCH || want.v == CLS_REF_MISS)
		FUZZ_CHECK(ntohl(f.src_be) == want.src && ntohl(f.dst_be) == want.dst && f.proto == want.proto &&
			   f.sport == want.sport && f.dport == want.dport,
			   "fields differ: host %08x %08x %u %u/%u, reference %08x %08x %u %u/%u", ntohl(f.src_be),
			   ntohl(f.dst_be), f.proto, f.sport, f.dport, want.src, want.dst, want.proto, want.sport, want.dport);
	free(frame);
	return 0;
}
