// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <net/if.h>
#include <linux/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
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
