/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface events from rtnetlink (RTMGRP_LINK): the main loop reads them and
 * hands each to rt_link_event(), which marks ports down or up.
 */
#ifndef GEN_LINK_H
#define GEN_LINK_H

#include <stdbool.h>
#include <stdint.h>

struct link_event {
	int ifindex;
	char name[32];
	bool gone; /* RTM_DELLINK */
	bool up;   /* IFF_UP and IFF_LOWER_UP */
};

/* A non-blocking netlink socket subscribed to link changes; -errno on failure. */
int link_open(void);
/* A netdev's own counters (IFLA_STATS64): what the kernel dropped before or after gend. */
struct link_stats {
	uint64_t rx_packets, rx_dropped, rx_errors, rx_missed;
	uint64_t tx_packets, tx_dropped, tx_errors;
};

/* Read what is pending and call fn for each link message; 0 or -errno. */
int link_read(int fd, void (*fn)(const struct link_event *ev, void *ctx), void *ctx);

/* The counters of ifindex in gend's network namespace; 0 or -errno (-ENOENT: no such netdev). */
int link_stats(int ifindex, struct link_stats *st);

#endif
