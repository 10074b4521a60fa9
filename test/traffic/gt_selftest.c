// SPDX-License-Identifier: GPL-2.0
/*
 * Offline check of the frame code: frames built for many option sets must
 * parse back to what was put in, carry checksums that a plain RFC 1071
 * implementation accepts, and fail verification after any single byte flip.
 */
#include "gt.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "selftest %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			failures++;                                             \
		}                                                               \
	} while (0)

/* Textbook RFC 1071: big-endian 16-bit words, end-around carry, complement. */
static uint16_t ref_csum(const uint8_t *pseudo, size_t plen, const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < plen; i += 2)
		sum += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void check_frame(const uint8_t *f, const struct gt_tmpl *t, const struct gt_send_opts *o,
			uint16_t sport, uint16_t dport, uint64_t seq, uint64_t ts, bool marked)
{
	struct gt_parsed p;
	enum gt_parse_result res = gt_parse(f, t->len, &p);
	const uint8_t *ip = f + t->l3_off, *l4 = f + t->l4_off;
	uint32_t seg = t->len - t->l4_off;
	uint8_t pseudo[12];

	CHECK(res == GT_P_OK, "len %u proto %d vlan %d marked %d: parse result %d", t->len,
	      o->proto, o->vlan, marked, res);
	CHECK(p.sport == sport && p.dport == dport, "ports %u/%u, want %u/%u", p.sport, p.dport,
	      sport, dport);
	CHECK(p.seq == seq && p.ts == (ts & GT_SEQ_MASK) && p.stream == o->stream,
	      "seq/ts/stream read back wrong");
	CHECK(!!(p.flags & GT_F_MARKED) == marked, "marked flag");
	CHECK(p.ttl == o->ttl && p.vlan == o->vlan, "ttl %u vlan %d", p.ttl, p.vlan);
	if (marked)
		CHECK(!memcmp(f + t->fill_off, o->payload, o->payload_len), "payload not in place");
	CHECK(ref_csum(NULL, 0, ip, GT_IP_LEN) == 0, "IPv4 header checksum rejected by reference");
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = (uint8_t)o->proto;
	pseudo[10] = (uint8_t)(seg >> 8);
	pseudo[11] = (uint8_t)seg;
	if (o->proto == IPPROTO_TCP || o->udp_csum)
		CHECK(ref_csum(pseudo, 12, l4, seg) == 0, "L4 checksum rejected by reference");
	else
		CHECK(l4[6] == 0 && l4[7] == 0, "UDP checksum should be 0 with --no-udp-csum");
	CHECK((uint32_t)((ip[2] << 8) | ip[3]) == t->len - t->l3_off, "IPv4 total length");
}

/*
 * Every single-byte change past the MAC addresses (and VLAN TCI) must be
 * caught; without a UDP checksum, every change in the fill still must be.
 */
static void check_flips(uint8_t *f, const struct gt_tmpl *t, const struct gt_send_opts *o,
			bool marked)
{
	uint32_t from = o->udp_csum ? 12 : t->fill_off + (marked ? o->payload_len : 0);
	struct gt_parsed p;

	for (uint32_t i = from; i < t->len; i++) {
		if (o->vlan >= 0 && (i == 14 || i == 15))
			continue; /* the VLAN TCI is covered by no checksum */
		f[i] ^= 0x5a;
		CHECK(gt_parse(f, t->len, &p) != GT_P_OK, "flip at byte %u of %u (proto %d) undetected",
		      i, t->len, o->proto);
		f[i] ^= 0x5a;
	}
}

static void run_case(struct gt_send_opts *o)
{
	static const uint32_t lens[] = { 60, 61, 64, 77, 128, 590, 1013, 1514 };
	uint8_t f[GT_FRAME_BUF];

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (int m = 0; m < 2; m++) {
			struct gt_tmpl t;
			uint32_t len = lens[li];
			uint64_t seq = 0xabcdef123ull * (li + 1) + (uint64_t)m;
			uint64_t ts = 0x123456789abcdull + li;
			uint64_t partial;

			if (m && !o->payload_len)
				continue;
			if (len < gt_min_frame(o, m ? o->payload_len : 0))
				len = gt_min_frame(o, m ? o->payload_len : 0);
			gt_tmpl_init(&t, o, len);
			partial = gt_build(f, &t, o, (uint16_t)(1000 + li), (uint16_t)(5000 + li), seq, m);
			gt_stamp(f, &t, o, partial, ts);
			check_frame(f, &t, o, (uint16_t)(1000 + li), (uint16_t)(5000 + li), seq, ts, m);
			check_flips(f, &t, o, m);
		}
	}
}

int gt_selftest(void)
{
	static const uint8_t payload[] = "/bin/sh\x90\x90\x90";
	struct gt_send_opts o = { 0 };
	uint8_t buf[64];

	o.flows = 1;
	o.ttl = 64;
	o.stream = 0xbeef;
	o.src_ip = htonl(0x0a000001);
	o.dst_ip = htonl(0xc0a80102);
	o.payload_every = 1;
	for (int proto = 0; proto < 2; proto++)
		for (int vlan = -1; vlan <= 100; vlan += 101)
			for (int pl = 0; pl < 2; pl++)
				for (int zero = 0; zero < 2; zero++)
					for (int csum = 0; csum < 2; csum++) {
						o.proto = proto ? IPPROTO_TCP : IPPROTO_UDP;
						o.vlan = vlan;
						o.payload_len = pl ? (uint32_t)sizeof(payload) - 1 : 0;
						memcpy(o.payload, payload, o.payload_len);
						o.fill_zero = zero;
						o.udp_csum = csum || proto;
						o.ttl = (uint8_t)(60 + proto + pl);
						run_case(&o);
					}

	/* The fill must differ between packets, and between streams. */
	{
		uint8_t a[64], b[64];

		gt_fill(a, sizeof(a), 1, 7, false);
		gt_fill(b, sizeof(b), 1, 8, false);
		CHECK(memcmp(a, b, sizeof(a)), "fill identical for seq 7 and 8");
		gt_fill(b, sizeof(b), 2, 7, false);
		CHECK(memcmp(a, b, sizeof(a)), "fill identical for streams 1 and 2");
		CHECK(gt_fill_check(a, sizeof(a), 1, 7, false) == sizeof(a), "fill_check rejects fill");
		a[37] ^= 1;
		CHECK(gt_fill_check(a, sizeof(a), 1, 7, false) == 37, "fill_check misplaces a flip");
	}
	/* A foreign frame (ARP) is ignored, not counted as corrupt. */
	{
		struct gt_parsed p;

		memset(buf, 0, sizeof(buf));
		buf[12] = 0x08;
		buf[13] = 0x06;
		CHECK(gt_parse(buf, 60, &p) == GT_P_FOREIGN, "ARP frame not foreign");
	}
	/* IMIX is 7:4:1. */
	{
		int n64 = 0, n594 = 0, n1518 = 0;

		for (int i = 0; i < GT_IMIX_CYCLE; i++) {
			n64 += gt_imix_sizes[i] == 64;
			n594 += gt_imix_sizes[i] == 594;
			n1518 += gt_imix_sizes[i] == 1518;
		}
		CHECK(n64 == 7 && n594 == 4 && n1518 == 1, "imix mix %d:%d:%d", n64, n594, n1518);
	}
	if (failures)
		fprintf(stderr, "selftest: %d failures\n", failures);
	else
		printf("selftest: ok\n");
	return failures ? -1 : 0;
}
