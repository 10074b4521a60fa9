// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <net/if.h>
#include <linux/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include "link.h"

int link_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void parse_link(struct nlmsghdr *nh, struct link_event *ev)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = (int)IFLA_PAYLOAD(nh);

	memset(ev, 0, sizeof(*ev));
	ev->ifindex = ifi->ifi_index;
	ev->gone = nh->nlmsg_type == RTM_DELLINK;
	ev->up = (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_LOWER_UP);
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_IFNAME)
			snprintf(ev->name, sizeof(ev->name), "%.*s", (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
}

int link_read(int fd, void (*fn)(const struct link_event *ev, void *ctx), void *ctx)
{
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct link_event ev;
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK)
				continue;
			parse_link(nh, &ev);
			fn(&ev, ctx);
		}
	}
}

int link_stats(int ifindex, struct link_stats *st)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct timeval tv = { 0, 200 * 1000 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), r = -ENOENT;
	ssize_t n;

	memset(st, 0, sizeof(*st));
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, &req, sizeof(req), 0) < 0 || (n = recv(fd, buf, sizeof(buf), 0)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	close(fd);
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
		struct ifinfomsg *ifi = NLMSG_DATA(nh);
		int len = (int)IFLA_PAYLOAD(nh);

		if (nh->nlmsg_type == NLMSG_ERROR)
			return ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
		if (nh->nlmsg_type != RTM_NEWLINK || ifi->ifi_index != ifindex)
			continue;
		for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
			struct rtnl_link_stats64 s64;

			if (a->rta_type != IFLA_STATS64 || RTA_PAYLOAD(a) < sizeof(s64))
				continue;
			memcpy(&s64, RTA_DATA(a), sizeof(s64));
			st->rx_packets = s64.rx_packets;
			st->rx_dropped = s64.rx_dropped;
			st->rx_errors = s64.rx_errors;
			st->rx_missed = s64.rx_missed_errors;
			st->tx_packets = s64.tx_packets;
			st->tx_dropped = s64.tx_dropped;
			st->tx_errors = s64.tx_errors;
			r = 0;
		}
	}
	return r;
}
