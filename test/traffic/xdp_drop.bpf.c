// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmarks' cheap receiver: counts every frame (and its bytes) on the
 * CPU that receives it and drops it. gen-xsk-sink --xdp-drop loads it in
 * native mode and sums the per-CPU counters.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct drop_count {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_count);
} drop_count SEC(".maps");

SEC("xdp")
int xdp_drop_count(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct drop_count *c = bpf_map_lookup_elem(&drop_count, &zero);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
