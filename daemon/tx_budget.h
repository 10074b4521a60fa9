/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How many frames one sendto() on a copy-mode AF_XDP socket may send.
 *
 * In copy mode the kernel builds and transmits an skb for each TX descriptor
 * inside sendto(), up to a budget per call, and answers EAGAIN while frames
 * remain, so the caller kicks again. The budget was fixed at 32 frames
 * (TX_BATCH_SIZE) until Linux 6.17; since then a socket may raise it, up to
 * its TX ring's size (XDP_MAX_TX_SKB_BUDGET). A larger budget sends the same
 * frames with fewer system calls. Zero-copy sockets ignore it: there the
 * driver takes the frames.
 */
#ifndef GEN_TX_BUDGET_H
#define GEN_TX_BUDGET_H

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif

/* The kernel's budget where a socket has not set one (and the only one before 6.17). */
#define GEN_KERNEL_TX_BATCH 32u
/*
 * [gen] tx_budget = auto: this many on TX sockets that have a kicker thread
 * (a thread that does nothing else), the kernel's 32 on those the port
 * worker and the chain controllers kick between their other work; and the
 * most tx_budget may be: gend's TX rings' size (dp.h).
 */
#define GEN_TX_BUDGET_AUTO 256u
#define GEN_TX_BUDGET_MAX 4096u

/*
 * Ask for a budget of want frames per sendto() on fd, whose TX ring holds ring
 * entries (want is brought into [32, ring]). Returns the budget in force:
 * what was asked, or 32 where the kernel refused (errno says why: ENOPROTOOPT
 * before 6.17).
 */
static inline uint32_t tx_budget_set(int fd, uint32_t want, uint32_t ring)
{
	unsigned int b = want > ring ? ring : want;

	if (b <= GEN_KERNEL_TX_BATCH)
		return GEN_KERNEL_TX_BATCH;
	if (setsockopt(fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &b, sizeof(b)))
		return GEN_KERNEL_TX_BATCH;
	return b;
}

#endif /* GEN_TX_BUDGET_H */
