// SPDX-License-Identifier: GPL-2.0
/*
 * tx_shard_of (daemon/xsk.c): which of a port's TX sockets a frame leaves
 * through ([gen] tx_sockets). Every frame of a flow must pick the same one,
 * whatever else differs in it (payload, TTL, IP ID, length, a VLAN tag);
 * fragments of one datagram must pick one socket between them; flows must
 * spread over all sockets; what is not IPv4 or IPv6 goes to socket 0.
 */
#include <criterion/criterion.h>
#include <stdint.h>
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

Test(txhash, a_flow_keeps_its_socket)
{
	uint8_t f[128];

	for (uint32_t n = 2; n <= GEN_MAX_TX_SOCKS; n++) {
		for (uint32_t flow = 0; flow < 200; flow++) {
			uint32_t src = 0x0a000001 + flow * 7919, len = v4(f, false, src, 0x0a0a0202, 17, 1024 + flow, 5001, 0, 64, 1);
			uint32_t s = tx_shard_of(f, len, n);

			cr_assert_lt(s, n);
			/* Another packet of the flow: other TTL, IP ID, payload and length; then VLAN-tagged. */
			len = v4(f, false, src, 0x0a0a0202, 17, 1024 + flow, 5001, 0, 63, 999);
			memset(f + len, 0xab, 40);
			cr_assert_eq(tx_shard_of(f, len + 40, n), s, "flow %u, %u sockets", flow, n);
			len = v4(f, true, src, 0x0a0a0202, 17, 1024 + flow, 5001, 0, 64, 2);
			cr_assert_eq(tx_shard_of(f, len, n), s, "flow %u behind a VLAN tag", flow);
		}
	}
}

Test(txhash, flows_spread_over_every_socket)
{
	uint8_t f[128];

	for (uint32_t n = 2; n <= GEN_MAX_TX_SOCKS; n++) {
		uint32_t cnt[GEN_MAX_TX_SOCKS] = { 0 };

		/* 4096 flows that differ only in their source port, as one sender's do. */
		for (uint32_t p = 0; p < 4096; p++)
			cnt[tx_shard_of(f, v4(f, false, 0x0a0a0101, 0x0a0a0202, 17, (uint16_t)(1024 + p), 5001, 0, 64, 1),
					n)]++;
		for (uint32_t s = 0; s < n; s++)
			cr_expect(cnt[s] > 4096 / n / 2 && cnt[s] < 4096 / n * 3 / 2, "%u sockets: socket %u got %u of 4096 flows",
				  n, s, cnt[s]);
	}
}

Test(txhash, fragments_of_a_datagram_share_a_socket)
{
	uint8_t f[128];
	uint32_t same = 0;

	for (uint32_t flow = 0; flow < 64; flow++) {
		uint32_t src = 0xc0a80001 + flow;
		/* The first fragment (MF set) carries the UDP header; the next ones do not. */
		uint32_t first = tx_shard_of(f, v4(f, false, src, 0x0a0a0202, 17, 4000, 53, 0x2000, 64, 7), 8);
		uint32_t mid = tx_shard_of(f, v4(f, false, src, 0x0a0a0202, 17, 0x1111, 0x2222, 0x2000 | 185, 64, 7), 8);
		uint32_t last = tx_shard_of(f, v4(f, false, src, 0x0a0a0202, 17, 0x3333, 0x4444, 370, 64, 7), 8);

		cr_assert_eq(first, mid, "flow %u: first fragment on %u, the next on %u", flow, first, mid);
		cr_assert_eq(first, last, "flow %u: first fragment on %u, the last on %u", flow, first, last);
		same += first == tx_shard_of(f, v4(f, false, src, 0x0a0a0202, 17, 4000, 53, 0, 64, 7), 8);
	}
	/* Whole datagrams hash their ports too, so they are not all where their fragments went. */
	cr_assert_lt(same, 64);
}

Test(txhash, ipv6_and_the_rest)
{
	uint8_t f[128];

	memset(f, 0, sizeof(f));
	f[12] = 0x86, f[13] = 0xdd, f[14] = 0x60, f[20] = 17;
	uint32_t s0 = tx_shard_of(f, 80, 4), c[4] = { 0 };

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t s;

		f[14 + 8 + 15] = (uint8_t)i; /* the source address's last byte */
		s = tx_shard_of(f, 80, 4);
		c[s]++;
		f[70] ^= 0xff; /* a payload byte, past the UDP header: the same socket */
		cr_assert_eq(tx_shard_of(f, 80, 4), s);
	}
	cr_assert(c[0] && c[1] && c[2] && c[3], "IPv6 flows on every socket: %u %u %u %u (first %u)", c[0], c[1], c[2], c[3],
		  s0);
	/* ARP, and an IPv4 header cut short: socket 0. */
	memset(f, 0, sizeof(f));
	f[12] = 0x08, f[13] = 0x06;
	for (uint32_t i = 14; i < 60; i++)
		f[i] = (uint8_t)(i * 37);
	cr_assert_eq(tx_shard_of(f, 60, 4), 0);
	cr_assert_eq(tx_shard_of(f, v4(f, false, 1, 2, 17, 3, 4, 0, 64, 1) - 20, 4), 0);
	cr_assert_eq(tx_shard_of(f, 10, 4), 0);
}
