/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the counting receivers of xdp_drop.bpf.c keep per CPU, and
 * gen-xsk-sink reads back and sums: the one definition for both sides.
 */
#ifndef GEN_XDP_DROP_H
#define GEN_XDP_DROP_H

#include <linux/types.h>

#define XDROP_MAP "drop_count"
#define XDROP_PROG "xdp_drop_count"
#define XDROP_TC_PROG "tc_drop_count"

/* The value of the map's one slot, on each CPU. */
struct drop_count {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct drop_count) == 16, "drop_count is a map value: its size is the ABI");

#endif
