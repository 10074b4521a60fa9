// SPDX-License-Identifier: GPL-2.0
/*
 * router_lookup ROUTES_FILE: load a routes file into the ipv4_router tables and
 * print "ADDR MAC" (or "ADDR none") for each IPv4 address read from stdin, one
 * per line. Used to compare the NF's lookup with the kernel FIB.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ipv4_router.h"

int main(int argc, char **argv)
{
	struct nf_hdr *h = NULL;
	char err[512], line[128];
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s ROUTES_FILE < addresses\n", argv[0]);
		return 2;
	}
	r = nf_rt_load(argv[1], &h, err, sizeof(err));
	if (r) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	const struct nf_ipv4_router *st = (const struct nf_ipv4_router *)h;
	while (fgets(line, sizeof(line), stdin)) {
		struct in_addr a;

		line[strcspn(line, " \t\r\n")] = 0;
		if (!line[0])
			continue;
		if (inet_pton(AF_INET, line, &a) != 1) {
			fprintf(stderr, "'%s' is not an IPv4 address\n", line);
			free(h);
			return 1;
		}
		uint32_t e = nf_rt_lookup(st, ntohl(a.s_addr));
		if (!e) {
			printf("%s none\n", line);
			continue;
		}
		const uint8_t *m = NF_AT(st, st->nh_off, const struct nf_rt_nh *)[e - 1].mac;
		printf("%s %02x:%02x:%02x:%02x:%02x:%02x\n", line, m[0], m[1], m[2], m[3], m[4], m[5]);
	}
	free(h);
	return 0;
}
