// SPDX-License-Identifier: GPL-2.0
/*
 * gen-traffic --xdp-live: the program BPF_PROG_RUN runs on every copy of the
 * sender's frame (BPF_F_TEST_XDP_LIVE_FRAMES). It writes the per-packet fields
 * into the GEN header (sequence number, send time) and the flow's source port,
 * then returns XDP_TX, which the kernel turns into a redirect out of the
 * interface the frame is said to arrive on: the sender's side of the veth.
 * The UDP checksum is zero (none), so nothing else changes. A recycled frame
 * may hold the last copy's fields or the original ones: every field written
 * here is written whole, so either is fine.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdp_live.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs at load */
	__type(key, __u32);
	__type(value, struct live_slot);
} live_slots SEC(".maps");

static __always_inline void put_be(__u8 *p, __u64 v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (__u8)v;
}

SEC("xdp")
int xdp_live_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 cpu = bpf_get_smp_processor_id();
	struct live_slot *s = bpf_map_lookup_elem(&live_slots, &cpu);
	__u8 *l4, *gen;
	__u64 seq;

	if (!s)
		return XDP_ABORTED;
	l4 = (__u8 *)data + (s->l4_off & XLIVE_OFF_MASK);
	gen = (__u8 *)data + (s->gen_off & XLIVE_OFF_MASK);
	if ((void *)(l4 + 2) > end || (void *)(gen + 16) > end)
		return XDP_ABORTED;
	seq = s->seq++;
	put_be(l4, s->sport0 + (s->flows > 1 ? (__u32)(seq % s->flows) : 0), 2);
	put_be(gen + 4, seq, 6);
	put_be(gen + 10, bpf_ktime_get_ns(), 6);
	return XDP_TX;
}

/*
 * gen-traffic recv --xdp-pass: veth hands frames sent by XDP (a redirect, or
 * --xdp-live) only to a peer that runs XDP or GRO; this program lets the
 * receiver's veth take them and passes each one on to the stack.
 */
SEC("xdp")
int xdp_live_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
