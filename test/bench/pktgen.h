/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Synthetic traffic in a fake UMEM, shared by the GPU parity tests and gen-bench.
 * Frame i holds packet i at PKTGEN_HEADROOM (XDP's headroom), so NFs that grow
 * packets (ESP tunnel) have room in front, as in a real AF_XDP UMEM.
 */
#ifndef GEN_PKTGEN_H
#define GEN_PKTGEN_H

#include <stdint.h>
#include <string.h>
#include "../../daemon/backend.h"

#define PKTGEN_HEADROOM 256
#define PKTGEN_FRAME 2048

/* Size modes: a fixed wire size (64..1514), or one of these. */
enum { PKTGEN_RANDOM = -1, PKTGEN_IMIX = -2 };

struct pktgen {
	uint64_t rng;
	const char *const *contents; /* strings planted in some payloads (nids) */
	int ncontents;
};

static inline uint32_t pktgen_rand(struct pktgen *g)
{
	/* xorshift64*: deterministic per seed, good enough for traffic. */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return (uint32_t)((g->rng * 2685821657736338717ull) >> 32);
}

static inline uint32_t pktgen_size(struct pktgen *g, int mode)
{
	if (mode > 0)
		return (uint32_t)mode;
	if (mode == PKTGEN_IMIX) {
		uint32_t r = pktgen_rand(g) % 12; /* 7:4:1 */
		return r < 7 ? 64 : r < 11 ? 594 : 1514;
	}
	return 64 + pktgen_rand(g) % (1514 - 64 + 1);
}

static inline uint16_t pktgen_csum(const uint8_t *p, uint32_t n)
{
	uint32_t s = 0;

	for (uint32_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Write one Ethernet frame of `size` bytes at d (size >= 60). */
static inline void pktgen_frame(struct pktgen *g, uint8_t *d, uint32_t size)
{
	static const uint32_t dsts[] = { 0x0a000001, 0x0a010203, 0x0a01ff07, 0xc0a80105, 0xc0a80242, 0xac100001,
					 0x08080808, 0x0a7f0001 };
	uint32_t r = pktgen_rand(g), l3 = 14;
	uint8_t *ip;

	for (int i = 0; i < 12; i++)
		d[i] = (uint8_t)pktgen_rand(g);
	d[0] &= 0xfe;
	if (r % 16 == 0) { /* some 802.1Q */
		d[12] = 0x81, d[13] = 0x00, d[14] = 0, d[15] = 7;
		l3 = 18;
	}
	if (r % 61 == 1) { /* some non-IPv4 (ARP-like) */
		d[l3 - 2] = 0x08, d[l3 - 1] = 0x06;
		for (uint32_t i = l3; i < size; i++)
			d[i] = (uint8_t)pktgen_rand(g);
		return;
	}
	d[l3 - 2] = 0x08, d[l3 - 1] = 0x00;
	ip = d + l3;
	uint32_t tot = size - l3;
	uint32_t pr = pktgen_rand(g) % 10;
	uint8_t proto = pr < 5 ? 6 : pr < 9 ? 17 : 1;
	uint32_t src = (pktgen_rand(g) % 4 == 0 ? 0xc0a80000 : 0x0a000000) | (pktgen_rand(g) & 0xffff);
	uint32_t dst = dsts[pktgen_rand(g) % 8] + (pktgen_rand(g) % 4 == 0 ? pktgen_rand(g) % 256 : 0);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
	ip[4] = (uint8_t)pktgen_rand(g), ip[5] = (uint8_t)pktgen_rand(g);
	ip[8] = (uint8_t)(pktgen_rand(g) % 20 == 0 ? 1 : 2 + pktgen_rand(g) % 62); /* some expire */
	ip[9] = proto;
	for (int i = 0; i < 4; i++) {
		ip[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		ip[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	ip[10] = ip[11] = 0;
	uint16_t c = pktgen_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	uint8_t *l4 = ip + 20;
	uint32_t l4len = tot - 20, hl = proto == 6 ? 20 : 8;
	static const uint16_t ports[] = { 80, 443, 22, 53, 8080, 25, 1234, 5060 };
	for (uint32_t i = 0; i < l4len; i += 4) {
		uint32_t w = pktgen_rand(g);
		memcpy(l4 + i, &w, l4len - i < 4 ? l4len - i : 4);
	}
	if (proto != 1 && l4len >= hl) {
		uint16_t sp = (uint16_t)(1024 + pktgen_rand(g) % 60000), dp = ports[pktgen_rand(g) % 8];
		if (pktgen_rand(g) & 1) {
			uint16_t t = sp;
			sp = dp, dp = t;
		}
		l4[0] = (uint8_t)(sp >> 8), l4[1] = (uint8_t)sp, l4[2] = (uint8_t)(dp >> 8), l4[3] = (uint8_t)dp;
		if (proto == 6)
			l4[12] = 0x50, l4[13] = 0x18;
		else
			l4[4] = (uint8_t)(l4len >> 8), l4[5] = (uint8_t)l4len;
	}
	/* Plant a known content in some payloads so signature NFs fire. */
	if (g->ncontents && l4len > hl && pktgen_rand(g) % 4 == 0) {
		const char *s = g->contents[pktgen_rand(g) % g->ncontents];
		uint32_t sl = (uint32_t)strlen(s);
		if (sl <= l4len - hl) {
			uint32_t at = hl + pktgen_rand(g) % (l4len - hl - sl + 1);
			memcpy(l4 + at, s, sl);
		}
	}
}

/* Fill n frames of umem and their descriptors, each packet at headroom bytes into its frame. */
static inline void pktgen_batch_at(struct pktgen *g, uint8_t *umem, struct gen_desc *descs, uint32_t n, int mode,
				   uint32_t headroom)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t size = pktgen_size(g, mode);
		uint64_t addr = (uint64_t)i * PKTGEN_FRAME + headroom;

		pktgen_frame(g, umem + addr, size);
		descs[i] = (struct gen_desc){ .addr = addr, .len = size, .verdict = 0xffffffffu };
	}
}

/* Fill n frames of umem and their descriptors, at XDP's headroom. */
static inline void pktgen_batch(struct pktgen *g, uint8_t *umem, struct gen_desc *descs, uint32_t n, int mode)
{
	pktgen_batch_at(g, umem, descs, n, mode, PKTGEN_HEADROOM);
}

#endif
