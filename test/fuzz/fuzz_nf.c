// SPDX-License-Identifier: GPL-2.0
/*
 * Every NF on arbitrary frames. Input: byte 0 picks the NF (>= 0x80: all of
 * them in a row, as one chain), bytes 1 and 2 the headroom and tailroom the
 * frame gets, the rest is the frame. The frame ends its allocation exactly at
 * cap, so a byte touched past it is an ASan report.
 */
#include <string.h>
#include <sys/stat.h>
#include "agent.h"
#include "registry.h"
#include "fuzz.h"

#define ESP_KEYS { "spi", "0x1001", 3 }, { "enc_key", "000102030405060708090a0b0c0d0e0f", 4 }, \
	{ "auth_key", "101112131415161718191a1b1c1d1e1f20212223", 5 }, { "tunnel_src", "192.0.2.1", 6 }, \
	{ "tunnel_dst", "192.0.2.2", 7 }

static const struct {
	const char *type;
	struct nf_kv kv[6];
	int nkv;
} insts[] = {
	{ "l2_rewrite", { { "dst_mac", "02:00:00:00:00:09", 2 }, { "src_mac", "02:00:00:00:00:0a", 3 } }, 2 },
	{ "ttl_dec", { { 0 } }, 0 },
	{ "ipv4_router", { { "routes", "r.routes", 2 } }, 1 },
	{ "firewall", { { "rules", "f.rules", 2 }, { "default", "deny", 3 } }, 2 },
	{ "flowmon", { { "flows", "64", 2 } }, 1 },
	{ "nids", { { "rules", "n.rules", 2 }, { "action", "drop", 3 } }, 2 },
	{ "ipsec_esp", { { "direction", "encrypt", 2 }, ESP_KEYS }, 6 },
	{ "ipsec_esp", { { "direction", "decrypt", 2 }, ESP_KEYS }, 6 },
};
#define NINST (sizeof(insts) / sizeof(insts[0]))

static struct nf_hdr *states[NINST];

static void put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	FUZZ_CHECK(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/gen-fuzz-nf-XXXXXX", path[300];

	FUZZ_CHECK(mkdtemp(dir), "mkdtemp");
	put(dir, "r.routes", "0.0.0.0/0 02:00:00:00:00:01\n10.0.0.0/8 02:00:00:00:00:02\n10.1.2.0/25 02:00:00:00:00:03\n");
	put(dir, "f.rules", "allow proto tcp dst 10.0.0.0/8 dport 80-90\ndeny proto udp sport 53\nallow proto icmp\n");
	put(dir, "n.rules", "alert tcp any any -> any 80 (msg:\"a\"; content:\"GET\"; nocase; sid:1; rev:1;)\n"
			    "alert udp any any -> any any (msg:\"b\"; content:\"|00 01|\"; offset:2; depth:8; sid:2; rev:1;)\n"
			    "alert ip any any -> any any (msg:\"c\"; content:\"abc\"; content:\"xyz\"; distance:1; within:9; sid:3;)\n");
	for (size_t i = 0; i < NINST; i++) {
		const struct nf_ops *ops = nf_ops_find(insts[i].type);
		struct nf_cfg cfg = { .name = insts[i].type, .file = "fuzz.ini", .line = 1, .kv = insts[i].kv,
				      .nkv = insts[i].nkv, .base_dir = dir };
		char err[512] = "";

		FUZZ_CHECK(ops, "no builder for %s", insts[i].type);
		FUZZ_CHECK(!ops->build(&cfg, &states[i], err, sizeof(err)), "%s: %s", insts[i].type, err);
	}
	static const char *const names[] = { "r.routes", "f.rules", "n.rules" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint32_t head = data[1], tail = data[2], len = (uint32_t)(size - 3), cap = head + len + tail;
	size_t first = data[0] & 0x80 ? 0 : data[0] % NINST, last = data[0] & 0x80 ? NINST : first + 1;
	uint8_t *buf = malloc(cap ? cap : 1);

	FUZZ_CHECK(buf, "malloc");
	memset(buf, 0xa5, head); /* junk an NF must not trust */
	memcpy(buf + head, data + 3, len);
	struct nf_pkt p = { .buf = buf, .off = head, .len = len, .cap = cap };
	for (size_t i = first; i < last; i++) {
		int v = nf_dispatch(states[i]->type, states[i], &p);

		FUZZ_CHECK(v == NF_PASS || v == NF_DROP, "%s: verdict %d", insts[i].type, v);
		FUZZ_CHECK((uint64_t)p.off + p.len <= p.cap, "%s: [%u,+%u) beyond cap %u", insts[i].type, p.off, p.len,
			   p.cap);
		if (v == NF_DROP)
			break;
	}
	free(buf);
	return 0;
}
