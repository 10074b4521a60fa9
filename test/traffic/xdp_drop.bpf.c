// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmarks' cheap receivers: count every frame (and its bytes) on the
 * CPU that receives it and drop it. gen-xsk-sink --xdp-drop attaches the XDP
 * one in native mode, --tc-drop the tc one at clsact ingress; either way it
 * sums the per-CPU counters.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "xdp_drop.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_count);
} drop_count SEC(".maps");

static __always_inline void count(__u64 bytes)
{
	__u32 zero = 0;
	struct drop_count *c = bpf_map_lookup_elem(&drop_count, &zero);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

SEC("xdp")
int xdp_drop_count(struct xdp_md *ctx)
{
	count(ctx->data_end - ctx->data);
	return XDP_DROP;
}

/* At tc ingress the frame's Ethernet header is in skb->len. */
SEC("tc")
int tc_drop_count(struct __sk_buff *skb)
{
	count(skb->len);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
