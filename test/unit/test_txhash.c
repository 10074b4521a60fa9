// SPDX-License-Identifier: GPL-2.0
/*
 * Which of a port's TX sockets a frame leaves through ([gen] tx_sockets;
 * daemon/xsk.c). tx_flow_hash: every frame of a flow must hash alike, whatever
 * else differs in it (payload, TTL, IP ID, length, a VLAN tag); fragments of
 * one datagram alike between them; what is not IPv4 or IPv6 has no hash
 * (socket 0). tx_balance_pick: a flow keeps its socket while it sends, flows
 * spread evenly over the sockets even when they are few, and a bucket idle for
 * GEN_TX_IDLE_MS is freed and given again to the least used socket.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dp.h"

/* An Ethernet frame, optionally VLAN-tagged, with an IPv4 UDP/TCP header. */
static uint32_t v4(uint8_t *f, bool vlan, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport, uint16_t dport,
		   uint16_t frag, uint8_t ttl, uint16_t id)
{
	uint32_t o = 12;

	memset(f, 0, 128);
	if (vlan) {
		f[12] = 0x81, f[13] = 0x00, f[14] = 0x00, f[15] = 0x07;
		o = 16;
	}
	f[o] = 0x08, f[o + 1] = 0x00;
	o += 2;
	f[o] = 0x45;
	f[o + 4] = (uint8_t)(id >> 8), f[o + 5] = (uint8_t)id;
	f[o + 6] = (uint8_t)(frag >> 8), f[o + 7] = (uint8_t)frag;
	f[o + 8] = ttl;
	f[o + 9] = proto;
	for (int i = 0; i < 4; i++) {
		f[o + 12 + i] = (uint8_t)(src >> (24 - 8 * i));
		f[o + 16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	f[o + 20] = (uint8_t)(sport >> 8), f[o + 21] = (uint8_t)sport;
	f[o + 22] = (uint8_t)(dport >> 8), f[o + 23] = (uint8_t)dport;
	return o + 28;
}

/* The flow hash of an IP frame (asserted to have one). */
static uint32_t hash_of(const uint8_t *f, uint32_t len)
{
	uint32_t h = 0;

	cr_assert(tx_flow_hash(f, len, &h), "an IP frame of %u bytes has no flow hash", len);
	return h;
}

Test(txhash, a_flow_keeps_its_hash)
{
	uint8_t f[128];

	for (uint32_t flow = 0; flow < 200; flow++) {
		uint32_t src = 0x0a000001 + flow * 7919, len = v4(f, false, src, 0x0a0a0202, 17, 1024 + flow, 5001, 0, 64, 1);
		uint32_t h = hash_of(f, len);

		/* Another packet of the flow: other TTL, IP ID, payload and length; then VLAN-tagged. */
		len = v4(f, false, src, 0x0a0a0202, 17, 1024 + flow, 5001, 0, 63, 999);
		memset(f + len, 0xab, 40);
		cr_assert_eq(hash_of(f, len + 40), h, "flow %u", flow);
		len = v4(f, true, src, 0x0a0a0202, 17, 1024 + flow, 5001, 0, 64, 2);
		cr_assert_eq(hash_of(f, len), h, "flow %u behind a VLAN tag", flow);
		/* Another port, protocol or address is another flow. */
		cr_assert_neq(hash_of(f, v4(f, false, src, 0x0a0a0202, 17, 1024 + flow, 5002, 0, 64, 1)), h);
		cr_assert_neq(hash_of(f, v4(f, false, src, 0x0a0a0202, 6, 1024 + flow, 5001, 0, 64, 1)), h);
		cr_assert_neq(hash_of(f, v4(f, false, src + 1, 0x0a0a0202, 17, 1024 + flow, 5001, 0, 64, 1)), h);
	}
}

Test(txhash, fragments_of_a_datagram_hash_alike)
{
	uint8_t f[128];
	uint32_t same = 0;

	for (uint32_t flow = 0; flow < 64; flow++) {
		uint32_t src = 0xc0a80001 + flow;
		/* The first fragment (MF set) carries the UDP header; the next ones do not. */
		uint32_t first = hash_of(f, v4(f, false, src, 0x0a0a0202, 17, 4000, 53, 0x2000, 64, 7));
		uint32_t mid = hash_of(f, v4(f, false, src, 0x0a0a0202, 17, 0x1111, 0x2222, 0x2000 | 185, 64, 7));
		uint32_t last = hash_of(f, v4(f, false, src, 0x0a0a0202, 17, 0x3333, 0x4444, 370, 64, 7));

		cr_assert_eq(first, mid, "flow %u: the first fragment and the next hash apart", flow);
		cr_assert_eq(first, last, "flow %u: the first fragment and the last hash apart", flow);
		same += first == hash_of(f, v4(f, false, src, 0x0a0a0202, 17, 4000, 53, 0, 64, 7));
	}
	/* Whole datagrams hash their ports too, so they do not hash as their fragments do. */
	cr_assert_lt(same, 64);
}

Test(txhash, ipv6_and_the_rest)
{
	uint8_t f[128];
	uint32_t h[256];

	memset(f, 0, sizeof(f));
	f[12] = 0x86, f[13] = 0xdd, f[14] = 0x60, f[20] = 17;
	for (uint32_t i = 0; i < 256; i++) {
		f[14 + 8 + 15] = (uint8_t)i; /* the source address's last byte */
		h[i] = hash_of(f, 80);
		f[70] ^= 0xff; /* a payload byte, past the UDP header: the same hash */
		cr_assert_eq(hash_of(f, 80), h[i]);
		for (uint32_t j = 0; j < i; j++)
			cr_assert_neq(h[j], h[i], "IPv6 sources %u and %u hash alike", j, i);
	}
	/* ARP, and an IPv4 header cut short: no flow hash (socket 0). */
	uint32_t x;

	memset(f, 0, sizeof(f));
	f[12] = 0x08, f[13] = 0x06;
	for (uint32_t i = 14; i < 60; i++)
		f[i] = (uint8_t)(i * 37);
	cr_assert_not(tx_flow_hash(f, 60, &x));
	cr_assert_not(tx_flow_hash(f, v4(f, false, 1, 2, 17, 3, 4, 0, 64, 1) - 20, &x));
	cr_assert_not(tx_flow_hash(f, 10, &x));
}

/* Flows that differ only in their source port (one sender's), as tx_flow_hash has them. */
static uint32_t sender_flow(uint32_t i)
{
	uint8_t f[128];

	return hash_of(f, v4(f, false, 0x0a0a0101, 0x0a0a0202, 17, (uint16_t)(1024 + i), 5001, 0, 64, 1));
}

Test(txhash, few_flows_spread_evenly)
{
	/* The benches' 16 flows: straight hashing put 1, 10 and 5 of them on 3 sockets. */
	for (uint32_t n = 2; n <= GEN_MAX_TX_SOCKS; n++) {
		struct tx_balance *b = calloc(1, sizeof(*b));
		uint32_t cnt[GEN_MAX_TX_SOCKS] = { 0 };

		cr_assert(b);
		for (uint32_t rep = 0; rep < 3; rep++) /* each flow sends again and again, always to one socket */
			for (uint32_t i = 0; i < 16; i++) {
				uint32_t s = tx_balance_pick(b, sender_flow(i), n, 1000 + rep);

				cr_assert_lt(s, n);
				cnt[s] += rep == 0;
				cr_assert_eq(tx_balance_pick(b, sender_flow(i), n, 1000 + rep), s, "flow %u moved", i);
			}
		for (uint32_t s = 0; s < n; s++)
			cr_expect(cnt[s] >= 16 / n && cnt[s] <= (16 + n - 1) / n, "%u sockets: socket %u got %u of 16 flows", n, s,
				  cnt[s]);
		free(b);
	}
}

Test(txhash, many_flows_spread_evenly)
{
	for (uint32_t n = 2; n <= GEN_MAX_TX_SOCKS; n++) {
		struct tx_balance *b = calloc(1, sizeof(*b));
		uint32_t lo = ~0u, hi = 0;

		cr_assert(b);
		for (uint32_t i = 0; i < 20000; i++)
			tx_balance_pick(b, sender_flow(i), n, 5);
		/* Buckets, not flows, are balanced: every socket within one bucket of the others. */
		for (uint32_t s = 0; s < n; s++) {
			lo = b->used[s] < lo ? b->used[s] : lo;
			hi = b->used[s] > hi ? b->used[s] : hi;
		}
		cr_expect(hi - lo <= 1, "%u sockets: %u to %u buckets each", n, lo, hi);
		free(b);
	}
}

Test(txhash, a_busy_flow_stays_an_idle_one_moves)
{
	struct tx_balance *b = calloc(1, sizeof(*b));
	uint32_t t = 100000, busy = sender_flow(0), idle = sender_flow(1), s_busy, s_idle, n = 2;

	cr_assert(b);
	s_busy = tx_balance_pick(b, busy, n, t);
	s_idle = tx_balance_pick(b, idle, n, t);
	cr_assert_neq(s_busy, s_idle, "two flows on two sockets share one");
	/* The busy flow sends every millisecond for 10 s while 200 others come and go: it never moves. */
	for (uint32_t ms = 1; ms <= 10000; ms++) {
		cr_assert_eq(tx_balance_pick(b, busy, n, t + ms), s_busy, "the busy flow moved at %u ms", ms);
		if (ms % 50 == 0)
			tx_balance_pick(b, sender_flow(2 + ms / 50), n, t + ms);
		tx_balance_sweep(b, t + ms, 64);
	}
	/* The other first flow was idle all along: the sweep freed its bucket. */
	cr_assert_eq(b->sock[idle & (GEN_TX_BUCKETS - 1)], 0, "an idle bucket was kept");
	/* Within GEN_TX_IDLE_MS a flow keeps its socket however the load moved meanwhile. */
	struct tx_balance *c = calloc(1, sizeof(*c));

	cr_assert(c);
	s_idle = tx_balance_pick(c, idle, n, t);
	for (uint32_t i = 2; i < 40; i++) /* new flows: the other socket gets them until the counts are even */
		tx_balance_pick(c, sender_flow(i), n, t + GEN_TX_IDLE_MS);
	cr_assert_eq(tx_balance_pick(c, idle, n, t + GEN_TX_IDLE_MS), s_idle);
	free(b);
	free(c);
}

Test(txhash, a_bucket_waits_for_its_ring)
{
	/* Idle for longer than GEN_TX_IDLE_MS, but its last frame is still in its socket's ring: it stays. */
	struct tx_balance *b = calloc(1, sizeof(*b));
	uint32_t f = sender_flow(0), k = tx_bucket(f), s, t = 500;

	cr_assert(b);
	s = tx_balance_pick(b, f, 2, t);
	b->sent[k] = 41;  /* the frame went to ring position 40 */
	b->done[s] = 40;  /* the kernel has taken 40 frames of that ring: not this one */
	for (uint32_t i = 1; i < 30; i++) /* the other socket fills up with flows meanwhile... */
		tx_balance_pick(b, sender_flow(i), 2, t);
	t += 10 * GEN_TX_IDLE_MS;
	tx_balance_sweep(b, t, GEN_TX_BUCKETS);
	cr_assert_eq(b->sock[k], s + 1, "the sweep freed a bucket whose frame was still queued");
	cr_assert_eq(tx_balance_pick(b, f, 2, t), s, "a flow moved while its frame was still queued");
	/* Taken (done passes sent) and idle again: now the sweep frees it. */
	b->done[s] = 41;
	t += 10 * GEN_TX_IDLE_MS;
	tx_balance_sweep(b, t, GEN_TX_BUCKETS);
	cr_assert_eq(b->sock[k], 0, "an idle, drained bucket was kept");
	free(b);
}

Test(txhash, fewer_sockets_than_before)
{
	/* A port back with fewer TX sockets: a bucket on a socket it lost is given one it has. */
	struct tx_balance *b = calloc(1, sizeof(*b));
	uint32_t moved = 0;

	cr_assert(b);
	for (uint32_t i = 0; i < 64; i++)
		tx_balance_pick(b, sender_flow(i), 4, 7);
	for (uint32_t i = 0; i < 64; i++) {
		uint32_t s = tx_balance_pick(b, sender_flow(i), 2, 8);

		cr_assert_lt(s, 2, "flow %u on socket %u of 2", i, s);
		moved += s;
	}
	cr_assert_gt(moved, 0);
	free(b);
}
