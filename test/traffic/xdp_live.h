/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gen-traffic's XDP sender (--xdp-live): what xdp_live.bpf.c reads per CPU and
 * gt_live.c writes before each run: the one definition for both sides.
 */
#ifndef GEN_XDP_LIVE_H
#define GEN_XDP_LIVE_H

#include <linux/types.h>

#define XLIVE_OBJ "xdp_live.bpf.o"
#define XLIVE_PROG "xdp_live_tx"
#define XLIVE_PASS_PROG "xdp_live_pass"
#define XLIVE_MAP "live_slots"
#define XLIVE_OFF_MASK 0x7f /* the offsets below fit in the first 128 bytes */

/*
 * One sender thread's state, in the slot of the CPU it is pinned to. The
 * program runs only on that CPU for that thread (BPF_PROG_RUN keeps the task
 * there), so the slot needs no atomics; the thread reads `seq` back to learn
 * exactly how many frames the program ran.
 */
struct live_slot {
	__u64 seq;      /* next sequence number of the thread's stream */
	__u32 flows;    /* source ports sport0 .. sport0 + flows - 1, round robin */
	__u16 sport0;
	__u16 l4_off;   /* UDP header */
	__u16 gen_off;  /* GEN header */
	__u16 pad[3];
};
_Static_assert(sizeof(struct live_slot) == 24, "live_slot is a map value: its size is the ABI");

#endif
