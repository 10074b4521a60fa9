// SPDX-License-Identifier: GPL-2.0
/*
 * Every NF on hostile input, under AddressSanitizer + UBSan: random bytes,
 * headers truncated at every length, IP options, fragments, wrong total
 * lengths, bad checksums, zero-length frames. Each packet sits at the very end
 * of an exactly sized allocation (cap = off + len + the room the NF may use),
 * so a read or write past cap hits the redzone and aborts the test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent.h"
#include "registry.h"
#include "testlib.h"

static uint64_t rng_state = 0x5eedbad1;

static uint64_t rnd(void) { return tl_rnd(&rng_state); }

struct inst {
	const char *label;
	const char *type;
	struct nf_kv kv[8];
	int nkv;
	uint32_t headroom, tailroom; /* what the NF may grow into */
	int must_exist;              /* this tree's own NFs: a missing builder is a failure */
};

static char dir[] = "/tmp/gen-san-XXXXXX";

static void write_in_dir(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static void cleanup_dir(void)
{
	static const char *const names[] = { "r.routes", "f.rules", "n.rules" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* A well-formed Ethernet/[VLAN]/IPv4/L4 frame into f (>= 1600 bytes); returns its length. */
static uint32_t good_frame(uint8_t *f)
{
	static const uint8_t protos[] = { NF_IPPROTO_TCP, NF_IPPROTO_UDP, NF_IPPROTO_ICMP, NF_IPPROTO_ESP, 47 };
	int vlan = rnd() % 4 == 0;
	uint32_t l3 = NF_ETH_HLEN + (vlan ? 4 : 0), ihl = 20 + (rnd() % 3 == 0 ? 4 * (uint32_t)(rnd() % 11) : 0);
	uint32_t payload = (uint32_t)(rnd() % 4 ? rnd() % 96 : rnd() % 1400);
	uint32_t tot = ihl + 20 + payload;

	for (uint32_t i = 0; i < l3 + tot; i++)
		f[i] = (uint8_t)rnd();
	nf_put16(f + 12, vlan ? NF_ETH_P_8021Q : NF_ETH_P_IP);
	if (vlan)
		nf_put16(f + 16, NF_ETH_P_IP);
	uint8_t *ip = f + l3;
	ip[0] = (uint8_t)(0x40 | (ihl / 4));
	nf_put16(ip + 2, (uint16_t)tot);
	nf_put16(ip + 6, 0);
	ip[8] = (uint8_t)(rnd() % 4 ? 64 : rnd() % 3);
	ip[9] = protos[rnd() % 5];
	nf_put32(ip + 16, rnd() % 2 ? 0x0a000000 | (uint32_t)(rnd() & 0xffffff) : (uint32_t)rnd());
	uint32_t s = 0;
	nf_put16(ip + 10, 0);
	for (uint32_t i = 0; i < ihl; i += 2)
		s += nf_get16(ip + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	nf_put16(ip + 10, (uint16_t)~s);
	if (ip[9] == NF_IPPROTO_ESP)
		nf_put32(ip + ihl, 0x1001); /* the SPI the decrypt instance expects */
	return l3 + tot;
}

/* One hostile variant of a good frame; kind picks the damage. Returns the length. */
static uint32_t mangle(uint8_t *f, uint32_t len, int kind)
{
	uint32_t l3 = nf_get16(f + 12) == NF_ETH_P_8021Q ? 18 : 14;
	uint8_t *ip = f + l3;

	switch (kind) {
	case 0: /* random bytes, random length */
		len = (uint32_t)(rnd() % 200);
		for (uint32_t i = 0; i < len; i++)
			f[i] = (uint8_t)rnd();
		if (len >= 14 && rnd() % 2)
			nf_put16(f + 12, rnd() % 2 ? NF_ETH_P_IP : NF_ETH_P_8021Q);
		return len;
	case 1: /* truncated anywhere */
		return (uint32_t)(rnd() % (len + 1));
	case 2: /* total length too big, too small, below the header */
		nf_put16(ip + 2, (uint16_t)(rnd() % 3 == 0 ? rnd() : rnd() % 3 ? rnd() % 64 : len - l3 + 1 + rnd() % 8));
		return len;
	case 3: /* IHL anywhere in 0..15, version noise */
		ip[0] = (uint8_t)((rnd() % 4 ? 0x40 : (rnd() & 0xf0)) | (rnd() & 15));
		return len;
	case 4: /* fragments: MF, offsets, tiny last pieces */
		nf_put16(ip + 6, (uint16_t)rnd());
		return rnd() % 2 ? len : l3 + 20 + (uint32_t)(rnd() % 8);
	case 5: /* bad checksum */
		nf_put16(ip + 10, (uint16_t)rnd());
		return len;
	case 6: /* zero length */
		return 0;
	case 7: /* header bytes flipped at random */
		for (int i = 0; i < 4; i++)
			f[rnd() % (len < 64 ? len : 64)] ^= (uint8_t)(1u << (rnd() % 8));
		return len;
	default: /* left well formed */
		return len;
	}
}

static void run_one(const struct inst *in, struct nf_hdr *st, const uint8_t *frame, uint32_t len)
{
	uint32_t off = in->headroom, cap = in->headroom + len + in->tailroom;
	uint8_t *buf = malloc(cap ? cap : 1);

	cr_assert(buf);
	/* Headroom is filled with junk an NF must not trust. */
	for (uint32_t i = 0; i < off; i++)
		buf[i] = 0xa5;
	memcpy(buf + off, frame, len);
	struct nf_pkt p = { .buf = buf, .off = off, .len = len, .cap = cap };
	int v = nf_dispatch(st->type, st, &p);
	cr_assert(v == NF_PASS || v == NF_DROP, "%s: verdict %d", in->label, v);
	cr_assert((uint64_t)p.off + p.len <= p.cap, "%s: packet [%u,+%u) beyond cap %u", in->label, p.off, p.len, p.cap);
	free(buf);
}

Test(malformed, every_nf_survives, .init = NULL, .timeout = 600)
{
	struct inst insts[] = {
		{ "l2_rewrite", "l2_rewrite", { { "dst_mac", "02:00:00:00:00:09", 2 }, { "src_mac", "02:00:00:00:00:0a", 3 } }, 2, 0, 0, 1 },
		{ "ttl_dec", "ttl_dec", { { 0 } }, 0, 0, 0, 1 },
		{ "ipv4_router", "ipv4_router", { { "routes", "r.routes", 2 } }, 1, 0, 0, 1 },
		{ "firewall", "firewall", { { "rules", "f.rules", 2 }, { "default", "deny", 3 } }, 2, 0, 0, 1 },
		{ "flowmon", "flowmon", { { "flows", "64", 2 } }, 1, 0, 0, 1 },
		{ "nids", "nids", { { "rules", "n.rules", 2 }, { "action", "drop", 3 } }, 2, 0, 0, 0 },
		{ "ipsec_esp encrypt", "ipsec_esp",
		  { { "direction", "encrypt", 2 }, { "spi", "0x1001", 3 }, { "enc_key", "000102030405060708090a0b0c0d0e0f", 4 },
		    { "auth_key", "101112131415161718191a1b1c1d1e1f20212223", 5 }, { "tunnel_src", "192.0.2.1", 6 },
		    { "tunnel_dst", "192.0.2.2", 7 } }, 6, 128, 64, 0 },
		{ "ipsec_esp decrypt", "ipsec_esp",
		  { { "direction", "decrypt", 2 }, { "spi", "0x1001", 3 }, { "enc_key", "000102030405060708090a0b0c0d0e0f", 4 },
		    { "auth_key", "101112131415161718191a1b1c1d1e1f20212223", 5 }, { "tunnel_src", "192.0.2.1", 6 },
		    { "tunnel_dst", "192.0.2.2", 7 } }, 6, 0, 0, 0 },
	};
	const int per_nf = 20000;
	uint8_t *frame = malloc(2048);
	size_t total = 0;

	cr_assert(frame);
	cr_assert(mkdtemp(dir));
	write_in_dir("r.routes", "0.0.0.0/0 02:00:00:00:00:01\n10.0.0.0/8 02:00:00:00:00:02\n10.1.2.0/25 02:00:00:00:00:03\n"
				 "10.1.2.7/32 02:00:00:00:00:04\n");
	write_in_dir("f.rules", "allow proto tcp dst 10.0.0.0/8 dport 80-90\ndeny proto udp sport 53\nallow proto icmp\n"
				"allow src 10.0.0.0/8\n");
	write_in_dir("n.rules", "alert tcp any any -> any 80 (msg:\"probe\"; content:\"GET\"; sid:1000001; rev:1;)\n"
				"alert udp any any -> any any (msg:\"udp\"; content:\"|00 01|\"; sid:1000002; rev:1;)\n");

	for (size_t k = 0; k < sizeof(insts) / sizeof(insts[0]); k++) {
		const struct inst *in = &insts[k];
		const struct nf_ops *ops = nf_ops_find(in->type);
		struct nf_cfg cfg = { .name = in->label, .file = "san.ini", .line = 1, .kv = in->kv, .nkv = in->nkv, .base_dir = dir };
		struct nf_hdr *st = NULL;
		char err[512] = "";

		if (!ops) {
			cr_expect(!in->must_exist, "%s: no builder linked", in->type);
			cr_log_warn("%s: no builder linked in, skipped", in->type);
			continue;
		}
		int r = ops->build(&cfg, &st, err, sizeof(err));
		if (r) {
			cr_expect(!in->must_exist, "%s: build failed: %s", in->label, err);
			cr_log_warn("%s: build failed (%s), skipped", in->label, err);
			continue;
		}
		/* Every truncation length of a few good frames... */
		for (int g = 0; g < 8; g++) {
			uint32_t len = good_frame(frame);
			for (uint32_t l = 0; l <= len; l++, total++)
				run_one(in, st, frame, l);
		}
		/* ...then random damage of every kind. */
		for (int i = 0; i < per_nf; i++, total++) {
			uint32_t len = good_frame(frame);
			len = mangle(frame, len, (int)(rnd() % 9));
			if (rnd() % 8 == 0)
				len = mangle(frame, len < 14 ? 14 : len, (int)(rnd() % 9));
			run_one(in, st, frame, len);
		}
		uint64_t sum = 0;
		for (uint32_t c = 0; c < st->ncounters; c++)
			sum += NF_COUNTERS(st)[c];
		cr_log_info("%s: counters sum %llu", in->label, (unsigned long long)sum);
		free(st);
	}
	cr_log_info("%zu malformed cases run", total);
	cr_expect_geq(total, 100000);
	free(frame);
	cleanup_dir();
}
