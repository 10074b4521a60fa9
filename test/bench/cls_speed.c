// SPDX-License-Identifier: GPL-2.0
/*
 * gen-cls-speed: the XDP classifier's cost a packet, through
 * bpf_prog_test_run_opts with a repeat count (the kernel times the runs), for
 * a few table shapes, beside a program that only returns XDP_PASS (what a
 * test run costs by itself). Frames are 64-byte UDP arriving on a veth of a
 * private network namespace (the classifier reads ingress_ifindex and the
 * rx queue from the context, which the kernel checks against a real device).
 * The shipped classifier (no gen_last notes), the host's kernel, one CPU.
 *
 *   gen-cls-speed [-r REPEAT] [-n ROUNDS]
 *
 * Prints, per table, the best and the median ns a packet over the rounds and
 * the figure less the empty program's. A benchmark: it prints, asserts nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cls.h"

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))
#define MAX_ROUNDS 64

static int va, vb;

/* A program that returns XDP_PASS: the test run's own cost. */
static int pass_prog(void)
{
	struct bpf_insn insn[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "gen_pass", "GPL", insn, 2, NULL);
}

/* ns a run of fd on frame f, arriving on ifindex, rx queue 0. */
static double run_ns(int fd, const uint8_t *f, int len, int ifindex, unsigned repeat)
{
	struct xdp_md ctx = { .data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (uint32_t)len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &o) < 0) {
		fprintf(stderr, "gen-cls-speed: test run: %s\n", strerror(errno));
		exit(1);
	}
	return (double)o.duration;
}

/* A 64-byte Ethernet/IPv4/UDP frame (no FCS: 60 bytes), 10.0.0.1:1000 -> 10.0.0.2:2000. */
static int udp_frame(uint8_t *f)
{
	static const uint8_t h[] = {
		2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,		 /* Ethernet */
		0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, /* IPv4, 46 bytes */
		0x03, 0xe8, 0x07, 0xd0, 0, 26, 0, 0,			 /* UDP 1000 -> 2000 */
	};

	memset(f, 0, 60);
	memcpy(f, h, sizeof(h));
	return 60;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void measure(const char *what, int fd, const uint8_t *f, int len, unsigned repeat, int rounds, double base)
{
	double t[MAX_ROUNDS];

	for (int i = 0; i < rounds; i++)
		t[i] = run_ns(fd, f, len, va, repeat);
	qsort(t, (size_t)rounds, sizeof(t[0]), cmp_d);
	printf("%-44s best %6.1f  median %6.1f ns a packet", what, t[0], t[rounds / 2]);
	if (base >= 0)
		printf("  (%5.1f over the empty program)", t[rounds / 2] - base);
	printf("\n");
}

static struct cls_rule any_rule(uint32_t in, uint32_t chain)
{
	return (struct cls_rule){ .proto = -1, .sport_hi = 65535, .dport_hi = 65535, .in_ifindex = in, .chain_id = chain };
}

int main(int argc, char **argv)
{
	unsigned repeat = 1000000;
	int rounds = 9, opt, pfd;
	char err[256];
	struct cls *c;
	struct cls_rule r[GEN_CLS_MAX_RULES];
	uint8_t f[128];
	int len;
	double base;

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		if (opt == 'r')
			repeat = (unsigned)strtoul(optarg, NULL, 0);
		else if (opt == 'n')
			rounds = atoi(optarg);
		else {
			fprintf(stderr, "usage: gen-cls-speed [-r REPEAT] [-n ROUNDS]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || !repeat) {
		fprintf(stderr, "gen-cls-speed: -n 1..%d, -r at least 1\n", MAX_ROUNDS);
		return 2;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "gen-cls-speed: a private network namespace: %s (run as root)\n", strerror(errno));
		return 1;
	}
	if (system("ip link add va type veth peer name vb && ip link set va up && ip link set vb up") != 0) {
		fprintf(stderr, "gen-cls-speed: cannot create the veth pair (needs iproute2)\n");
		return 1;
	}
	va = (int)if_nametoindex("va");
	vb = (int)if_nametoindex("vb");
	c = cls_open(NULL, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "gen-cls-speed: %s\n", err);
		return 1;
	}
	pfd = pass_prog();
	if (pfd < 0) {
		fprintf(stderr, "gen-cls-speed: the empty program: %s\n", strerror(errno));
		return 1;
	}
	len = udp_frame(f);
	printf("gen-cls-speed: %u runs a round, %d rounds, one CPU, 64 B UDP on a veth (ifindex %d)\n", repeat,
	       rounds, va);
	for (int i = 0; i < 3; i++)
		run_ns(pfd, f, len, va, repeat); /* warm up */
	measure("empty program (XDP_PASS)", pfd, f, len, repeat, rounds, -1);
	{
		double t[MAX_ROUNDS];

		for (int i = 0; i < rounds; i++)
			t[i] = run_ns(pfd, f, len, va, repeat);
		qsort(t, (size_t)rounds, sizeof(t[0]), cmp_d);
		base = t[rounds / 2];
	}

	/* gend's table for one chain on two ports: one rule per ingress port. */
	r[0] = any_rule((uint32_t)va, 1);
	r[1] = any_rule((uint32_t)vb, 2);
	if (cls_set_rules(c, r, 2))
		goto bad;
	measure("gend's table: a rule per ingress port", cls_prog_fd(c), f, len, repeat, rounds, base);

	r[0] = any_rule(0, 1);
	if (cls_set_rules(c, r, 1))
		goto bad;
	measure("one rule, any port (in-port lookup skipped)", cls_prog_fd(c), f, len, repeat, rounds, base);

	/* An in-port with no entry of its own: the wildcard fallback. */
	r[0] = any_rule((uint32_t)vb, 1);
	r[1] = any_rule(0, 2);
	if (cls_set_rules(c, r, 2))
		goto bad;
	measure("in-port falls back to the wildcard", cls_prog_fd(c), f, len, repeat, rounds, base);

	/* Prefixes on both addresses: the two LPM tries. */
	r[0] = any_rule((uint32_t)va, 1);
	r[0].src = IP4(10, 0, 0, 0), r[0].src_len = 24;
	r[0].dst = IP4(10, 0, 0, 0), r[0].dst_len = 8;
	if (cls_set_rules(c, r, 1))
		goto bad;
	measure("src and dst prefixes, a rule per port", cls_prog_fd(c), f, len, repeat, rounds, base);

	/* 1024 rules, only the last admits the packet: all 16 words ANDed. */
	for (int i = 0; i < GEN_CLS_MAX_RULES - 1; i++) {
		r[i] = any_rule((uint32_t)va, 1 + (uint32_t)i % 200);
		r[i].dport_lo = r[i].dport_hi = (uint16_t)(3000 + i);
	}
	r[GEN_CLS_MAX_RULES - 1] = any_rule((uint32_t)va, 7);
	if (cls_set_rules(c, r, GEN_CLS_MAX_RULES))
		goto bad;
	measure("1024 rules, the last one matches", cls_prog_fd(c), f, len, repeat, rounds, base);
	cls_close(c, false);
	close(pfd);
	(void)vb;
	return 0;
bad:
	fprintf(stderr, "gen-cls-speed: rules: %s\n", cls_strerror(c));
	return 1;
}
