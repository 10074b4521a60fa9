// SPDX-License-Identifier: GPL-2.0
/*
 * The XDP classifier on crafted frames through bpf_prog_test_run_opts, checked
 * against hand-worked expectations and against a linear-scan oracle. Needs
 * bpf(): skips with a message where the kernel refuses it.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "cls.h"
#include "cls_tab.h"
#include "cls_ref.h"
#include "cls_priv.h"

#define ANY_PORTS 0, 65535, 0, 65535
#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

static int test_cpu = -1;

/* Load the classifier (no pins) and stay on one CPU so gen_last is ours to read. */
static struct cls *open_or_skip(void)
{
	char err[256];
	struct cls *c;
	cpu_set_t set;

	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof(set), &set);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set)) {
			test_cpu = i;
			break;
		}
	CPU_ZERO(&set);
	CPU_SET(test_cpu, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0);
	c = cls_open(NULL, err, sizeof(err));
	if (!c && (errno == EPERM || errno == EACCES || errno == ENOSYS))
		cr_skip_test("bpf() not permitted here (%s): run as root with CAP_BPF", err);
	cr_assert_not_null(c, "cls_open: %s", err);
	return c;
}

/* Enter a private network namespace with a veth pair va/vb (4 rx queues each);
 * it dies with this test's process, so nothing is left behind. */
static void private_netns(int *va, int *vb)
{
	if (unshare(CLONE_NEWNET) < 0)
		cr_skip_test("cannot create a network namespace: %s", strerror(errno));
	cr_assert_eq(system("ip link add va numrxqueues 4 numtxqueues 4 type veth peer name vb "
			    "numrxqueues 4 numtxqueues 4 && ip link set lo up && ip link set va up && "
			    "ip link set vb up"),
		     0);
	*va = if_nametoindex("va");
	*vb = if_nametoindex("vb");
	cr_assert(*va > 0 && *vb > 0);
}

/*
 * In-ports for the randomised tests: lo, va, vb, and a second veth pair with
 * ifindexes from GEN_CLS_INPORT_DIRECT up, which the program looks up in the
 * gen_inport hash rather than the arrays. Rules may name the first IF_RULES;
 * the last (vi) never has an entry of its own, so it always falls back to the
 * wildcard through the hash. Returns how many there are.
 */
#define IF_POOL 5
#define IF_RULES 4
#define IF_HIGH GEN_CLS_INPORT_DIRECT
static int if_pool(int ifs[IF_POOL])
{
	char cmd[256];

	private_netns(&ifs[1], &ifs[2]);
	snprintf(cmd, sizeof(cmd),
		 "ip link add vh index %d numrxqueues 4 numtxqueues 4 type veth peer name vi index %d "
		 "numrxqueues 4 numtxqueues 4 && ip link set vh up && ip link set vi up",
		 IF_HIGH + 904, IF_HIGH + 905);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	ifs[0] = 1;
	ifs[3] = (int)if_nametoindex("vh");
	ifs[4] = (int)if_nametoindex("vi");
	cr_assert(ifs[3] == IF_HIGH + 904 && ifs[4] == IF_HIGH + 905);
	return IF_POOL;
}

struct pkt {
	int vlan;            /* 1: one 802.1Q tag */
	uint16_t ethertype;  /* 0: IPv4 */
	uint8_t proto;
	uint32_t src, dst;   /* host order */
	uint16_t sport, dport;
	int opt_words;       /* IPv4 options, 32-bit words */
	uint16_t frag;       /* frag_off field, host order (flags | offset) */
	int payload;
	int no_l4;           /* 1: no L4 header bytes (a non-first fragment may be that short) */
};

static uint16_t csum(const uint8_t *p, int len)
{
	uint32_t s = 0;

	for (int i = 0; i + 1 < len; i += 2)
		s += (p[i] << 8) | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s;
}

/* Build an Ethernet frame; returns its length. */
static int build(uint8_t *b, const struct pkt *p)
{
	int off = 12, ip, l4len = 0, iplen;
	uint16_t et = p->ethertype ? p->ethertype : ETH_P_IP;

	memset(b, 0, 2048);
	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	if (p->vlan) {
		b[off++] = 0x81;
		b[off++] = 0x00;
		b[off++] = 0x00;
		b[off++] = 0x2a; /* VID 42 */
	}
	b[off++] = et >> 8;
	b[off++] = et & 0xff;
	if (et != ETH_P_IP) {
		memset(b + off, 0x60, 40); /* enough to look like a header of something */
		return off + 40;
	}
	ip = off;
	iplen = 20 + 4 * p->opt_words;
	switch (p->proto) {
	case IPPROTO_TCP: l4len = 20; break;
	case IPPROTO_UDP: l4len = 8; break;
	case IPPROTO_ICMP: l4len = 8; break;
	default: l4len = 0;
	}
	if (p->no_l4)
		l4len = 0;
	b[ip] = 0x40 | (iplen / 4);
	b[ip + 2] = (iplen + l4len + p->payload) >> 8;
	b[ip + 3] = (iplen + l4len + p->payload) & 0xff;
	b[ip + 6] = p->frag >> 8;
	b[ip + 7] = p->frag & 0xff;
	b[ip + 8] = 64;
	b[ip + 9] = p->proto;
	for (int i = 0; i < 4; i++) {
		b[ip + 12 + i] = p->src >> (24 - 8 * i);
		b[ip + 16 + i] = p->dst >> (24 - 8 * i);
	}
	memset(b + ip + 20, 1, 4 * p->opt_words); /* NOP options */
	b[ip + 10] = 0;
	b[ip + 11] = 0;
	uint16_t s = csum(b + ip, iplen);
	b[ip + 10] = s >> 8;
	b[ip + 11] = s & 0xff;
	off = ip + iplen;
	if (l4len && (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP)) {
		b[off] = p->sport >> 8;
		b[off + 1] = p->sport & 0xff;
		b[off + 2] = p->dport >> 8;
		b[off + 3] = p->dport & 0xff;
		if (p->proto == IPPROTO_TCP)
			b[off + 12] = 5 << 4;
	} else if (l4len && p->proto == IPPROTO_ICMP) {
		b[off] = 8; /* echo request */
	}
	off += l4len;
	memset(b + off, 0xab, p->payload);
	return off + p->payload;
}

/* Run the program once on a frame; returns the XDP action. */
static int run_on(struct cls *c, const uint8_t *frame, int len, int ifindex, int rxq)
{
	uint8_t out[2048];
	struct xdp_md ctx = { .data_end = len, .ingress_ifindex = ifindex, .rx_queue_index = rxq };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);

	if (ifindex) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	int r = bpf_prog_test_run_opts(cls_prog_fd(c), &o);
	cr_assert_eq(r, 0, "test run of a %d-byte frame: %s", len, strerror(errno));
	return o.retval;
}

static int run_pkt(struct cls *c, const struct pkt *p)
{
	uint8_t b[2048];

	return run_on(c, b, build(b, p), 0, 0);
}

static struct cls_last last(struct cls *c)
{
	struct cls_last l;

	cr_assert_eq(cls_read_last(c, test_cpu, &l), 0);
	return l;
}

static struct cls_stats stats(struct cls *c)
{
	struct cls_stats s;

	cr_assert_eq(cls_read_stats(c, &s), 0);
	return s;
}

static struct cls_rule rule(uint32_t src, uint32_t slen, uint32_t dst, uint32_t dlen, int proto, uint16_t slo,
			    uint16_t shi, uint16_t dlo, uint16_t dhi, uint32_t in, uint32_t chain)
{
	return (struct cls_rule){ src, slen, dst, dlen, proto, slo, shi, dlo, dhi, in, chain };
}

/* Which rule the program chose for p, or -1 (checks the verdict is consistent). */
static int chosen(struct cls *c, const struct pkt *p)
{
	int act = run_pkt(c, p);
	struct cls_last l = last(c);

	if (l.verdict == CLS_V_NO_SOCKET) {
		cr_assert_eq(act, XDP_PASS);
		return l.rule;
	}
	cr_assert_eq(l.verdict, CLS_V_UNMATCHED, "verdict %u", l.verdict);
	return -1;
}

Test(bpf, proto_prefix_port_match)
{
	struct cls *c = open_or_skip();
	struct cls_rule r[] = {
		rule(IP(10, 0, 0, 0), 8, IP(192, 168, 1, 0), 24, IPPROTO_TCP, 0, 65535, 80, 80, 0, 1),
		rule(IP(10, 1, 0, 0), 16, 0, 0, IPPROTO_UDP, 1000, 2000, 53, 53, 0, 2),
		rule(0, 0, IP(8, 8, 8, 8), 32, IPPROTO_ICMP, ANY_PORTS, 0, 3),
		rule(0, 0, 0, 0, 6, 0, 65535, 443, 444, 0, 4),
	};
	struct pkt tcp = { .proto = IPPROTO_TCP, .src = IP(10, 9, 9, 9), .dst = IP(192, 168, 1, 7), .sport = 5555,
			   .dport = 80, .payload = 10 };
	struct pkt udp = { .proto = IPPROTO_UDP, .src = IP(10, 1, 2, 3), .dst = IP(1, 2, 3, 4), .sport = 1500,
			   .dport = 53 };
	struct pkt icmp = { .proto = IPPROTO_ICMP, .src = IP(1, 1, 1, 1), .dst = IP(8, 8, 8, 8) };
	struct pkt p;

	cr_assert_eq(cls_set_rules(c, r, 4), 0, "%s", cls_strerror(c));
	cr_expect_eq(chosen(c, &tcp), 0);
	cr_expect_eq(last(c).chain_id, 1);
	cr_expect_eq(last(c).dport, 80);
	cr_expect_eq(chosen(c, &udp), 1);
	cr_expect_eq(chosen(c, &icmp), 2);
	p = tcp, p.dport = 81;
	cr_expect_eq(chosen(c, &p), -1, "dport outside the range");
	p = tcp, p.dport = 444;
	cr_expect_eq(chosen(c, &p), 3, "proto 6 any prefix");
	p = tcp, p.dst = IP(192, 168, 2, 7);
	cr_expect_eq(chosen(c, &p), -1, "dst outside /24");
	p = tcp, p.src = IP(11, 0, 0, 1);
	cr_expect_eq(chosen(c, &p), -1, "src outside /8");
	p = udp, p.sport = 999;
	cr_expect_eq(chosen(c, &p), -1, "sport below range");
	p = udp, p.sport = 2000;
	cr_expect_eq(chosen(c, &p), 1, "sport at the range's top");
	p = udp, p.src = IP(10, 2, 0, 1);
	cr_expect_eq(chosen(c, &p), -1, "src outside /16");
	p = udp, p.proto = IPPROTO_TCP;
	cr_expect_eq(chosen(c, &p), -1, "proto mismatch");
	p = icmp, p.dst = IP(8, 8, 8, 9);
	cr_expect_eq(chosen(c, &p), -1, "dst /32");

	struct cls_stats s = stats(c);
	cr_expect_eq(s.matched[1], 1);
	cr_expect_eq(s.matched[2], 2);
	cr_expect_eq(s.matched[3], 1);
	cr_expect_eq(s.matched[4], 1);
	cr_expect_eq(s.no_socket, 5);
	cr_expect_eq(s.unmatched, 7);
	cr_expect_eq(s.malformed, 0);
	cls_close(c, false);
}

Test(bpf, priority_overlap)
{
	struct cls *c = open_or_skip();
	struct cls_rule a = rule(IP(10, 0, 0, 0), 8, 0, 0, -1, ANY_PORTS, 0, 7);
	struct cls_rule b = rule(IP(10, 1, 0, 0), 16, 0, 0, IPPROTO_TCP, 0, 65535, 80, 80, 0, 9);
	struct cls_rule ab[] = { a, b }, ba[] = { b, a };
	struct pkt p = { .proto = IPPROTO_TCP, .src = IP(10, 1, 1, 1), .dst = IP(1, 1, 1, 1), .sport = 1, .dport = 80 };

	cr_assert_eq(cls_set_rules(c, ab, 2), 0);
	cr_expect_eq(chosen(c, &p), 0);
	cr_expect_eq(last(c).chain_id, 7);
	cr_assert_eq(cls_set_rules(c, ba, 2), 0);
	cr_expect_eq(chosen(c, &p), 0);
	cr_expect_eq(last(c).chain_id, 9);
	p.dport = 81;
	cr_expect_eq(chosen(c, &p), 1, "only the broad rule admits dport 81");
	cr_expect_eq(last(c).chain_id, 7);
	cls_close(c, false);
}

Test(bpf, in_port)
{
	int ifs[IF_POOL];
	struct cls *c = open_or_skip();
	uint8_t f[2048];
	struct pkt p = { .proto = IPPROTO_UDP, .src = IP(10, 0, 0, 1), .dst = IP(10, 0, 0, 2), .sport = 1, .dport = 2 };
	int len = build(f, &p), va, vb, vh, vi;

	if_pool(ifs);
	va = ifs[1], vb = ifs[2], vh = ifs[3], vi = ifs[4];
	struct cls_rule r[] = {
		rule(0, 0, 0, 0, -1, ANY_PORTS, va, 11),
		rule(0, 0, 0, 0, -1, ANY_PORTS, vb, 12),
		rule(0, 0, 0, 0, -1, ANY_PORTS, vh, 14),
		rule(0, 0, 0, 0, IPPROTO_UDP, ANY_PORTS, 0, 13),
	};
	cr_assert_eq(cls_set_rules(c, r, 4), 0);
	run_on(c, f, len, va, 0);
	cr_expect_eq(last(c).chain_id, 11);
	run_on(c, f, len, vb, 2);
	cr_expect_eq(last(c).chain_id, 12);
	cr_expect_eq(last(c).xsk_key, 12 * GEN_MAX_QUEUES + 2, "XSKMAP key = chain * 64 + rx queue");
	run_on(c, f, len, 1, 0);
	cr_expect_eq(last(c).chain_id, 13, "lo falls to the wildcard rule");
	/* From ifindex GEN_CLS_INPORT_DIRECT up the in-port comes from the hash. */
	run_on(c, f, len, vh, 1);
	cr_expect_eq(last(c).chain_id, 14, "ifindex %d: its own rule (gen_inport hash)", vh);
	run_on(c, f, len, vi, 0);
	cr_expect_eq(last(c).chain_id, 13, "ifindex %d: the wildcard through the hash", vi);
	p.proto = IPPROTO_TCP;
	len = build(f, &p);
	run_on(c, f, len, 1, 0);
	cr_expect_eq(last(c).verdict, CLS_V_UNMATCHED);
	run_on(c, f, len, vi, 0);
	cr_expect_eq(last(c).verdict, CLS_V_UNMATCHED, "no wildcard rule admits TCP");
	run_on(c, f, len, vh, 0);
	cr_expect_eq(last(c).chain_id, 14);
	/* Reloads without va's rule: va's array entry goes back to the wildcard, in
	 * the other slot and then in the one that held va's entry. */
	p.proto = IPPROTO_UDP;
	len = build(f, &p);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(cls_set_rules(c, r + 1, 3), 0);
		run_on(c, f, len, va, 0);
		cr_expect_eq(last(c).chain_id, 13, "va after its rule went (reload %d): the wildcard", i + 1);
	}
	cls_close(c, false);
}

/*
 * A matched packet whose (chain, queue) has no socket meets the chain's fail
 * mode: dropped when it fails closed, passed when open; never passed by the
 * redirect's fallback, and independent of the unmatched action.
 */
Test(bpf, fail_mode_without_socket)
{
	struct cls *c = open_or_skip();
	struct pkt p = { .proto = IPPROTO_UDP, .src = 1, .dst = 2, .sport = 3, .dport = 4 };
	struct cls_rule r[] = {
		rule(0, 0, 0, 0, IPPROTO_UDP, 3, 3, 0, 65535, 0, 21),
		rule(0, 0, 0, 0, IPPROTO_UDP, 5, 5, 0, 65535, 0, 22),
	};
	struct cls_stats before, after;
	uint8_t f[2048];
	int len = build(f, &p);

	cr_assert_eq(cls_set_rules(c, r, 2), 0);
	before = stats(c);
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_PASS, "fail open is the map's default");
	cr_expect_eq(last(c).verdict, CLS_V_NO_SOCKET);
	cr_assert_eq(cls_set_fail(c, 21, true), 0, "%s", cls_strerror(c));
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_DROP, "chain 21 fails closed");
	cr_expect_eq(last(c).verdict, CLS_V_FAIL_CLOSED);
	cr_assert_eq(cls_set_unmatched_drop(c, true), 0);
	p.sport = 5;
	len = build(f, &p);
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_PASS, "chain 22 fails open whatever unmatched says");
	cr_expect_eq(last(c).chain_id, 22);
	cr_assert_eq(cls_set_fail(c, 21, false), 0);
	p.sport = 3;
	len = build(f, &p);
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_PASS, "chain 21 back to open");
	after = stats(c);
	cr_expect_eq(after.no_socket - before.no_socket, 4);
	cr_expect_eq(after.fail_closed - before.fail_closed, 1);
	cr_expect_eq(cls_set_fail(c, 0, true), -EINVAL, "chain 0");
	cr_expect_eq(cls_set_fail(c, GEN_MAX_CHAINS, true), -EINVAL, "chain 256");
	cls_close(c, false);
}

/* Every strict prefix of a valid frame is malformed and takes the unmatched action. */
static void truncations(struct cls *c, const struct pkt *p, int act)
{
	uint8_t f[2048];
	int len = build(f, p);
	struct cls_stats before = stats(c), after;

	cr_assert_eq(run_on(c, f, len, 0, 0), XDP_PASS);
	cr_assert_eq(last(c).verdict, CLS_V_NO_SOCKET, "the whole frame matches");
	for (int n = ETH_HLEN; n < len; n++) {
		cr_expect_eq(run_on(c, f, n, 0, 0), act, "%d of %d bytes", n, len);
		cr_expect_eq(last(c).verdict, CLS_V_MALFORMED, "%d of %d bytes", n, len);
	}
	after = stats(c);
	cr_expect_eq(after.malformed - before.malformed, (uint64_t)(len - ETH_HLEN));
	cr_expect_eq(after.unmatched, before.unmatched, "malformed frames are not also counted unmatched");
}

Test(bpf, truncated_frames)
{
	struct cls *c = open_or_skip();
	struct cls_rule any = rule(0, 0, 0, 0, -1, ANY_PORTS, 0, 1);
	struct pkt tcp = { .proto = IPPROTO_TCP, .src = 1, .dst = 2, .sport = 3, .dport = 4 };
	struct pkt udp = { .proto = IPPROTO_UDP, .src = 1, .dst = 2, .sport = 3, .dport = 4, .vlan = 1 };
	struct pkt icmp = { .proto = IPPROTO_ICMP, .src = 1, .dst = 2, .opt_words = 3 };

	cr_assert_eq(cls_set_rules(c, &any, 1), 0);
	truncations(c, &tcp, XDP_PASS);
	truncations(c, &udp, XDP_PASS);
	truncations(c, &icmp, XDP_PASS);
	cr_assert_eq(cls_set_unmatched_drop(c, true), 0);
	truncations(c, &tcp, XDP_DROP);
	truncations(c, &udp, XDP_DROP);
	cls_close(c, false);
}

Test(bpf, malformed_headers)
{
	struct cls *c = open_or_skip();
	struct cls_rule any = rule(0, 0, 0, 0, -1, ANY_PORTS, 0, 1);
	struct pkt p = { .proto = IPPROTO_TCP, .src = 1, .dst = 2, .sport = 3, .dport = 4, .payload = 20 };
	uint8_t f[2048];
	int len;

	cr_assert_eq(cls_set_rules(c, &any, 1), 0);
	cr_assert_eq(cls_set_unmatched_drop(c, true), 0);
	len = build(f, &p);
	f[14] = 0x65; /* version 6 under ethertype IPv4 */
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_DROP);
	cr_expect_eq(last(c).verdict, CLS_V_MALFORMED);
	len = build(f, &p);
	f[14] = 0x44; /* IHL 4 */
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_DROP);
	cr_expect_eq(last(c).verdict, CLS_V_MALFORMED);
	len = build(f, &p);
	f[16] = 0, f[17] = 19; /* total length below the header */
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_DROP);
	cr_expect_eq(last(c).verdict, CLS_V_MALFORMED);
	len = build(f, &p);
	f[16] = 0, f[17] = 30; /* TCP header cut by total length, though the frame holds it */
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_DROP);
	cr_expect_eq(last(c).verdict, CLS_V_MALFORMED);
	len = build(f, &p);
	f[16] = 0, f[17] = 40; /* exact: header + TCP, trailing bytes are padding */
	cr_expect_eq(run_on(c, f, len, 0, 0), XDP_PASS);
	cr_expect_eq(last(c).verdict, CLS_V_NO_SOCKET);
	cr_expect_eq(stats(c).malformed, 4);
	cls_close(c, false);
}

Test(bpf, ip_options_fragments_vlan)
{
	struct cls *c = open_or_skip();
	struct cls_rule r[] = {
		rule(0, 0, 0, 0, IPPROTO_UDP, 0, 65535, 4789, 4789, 0, 1),
		rule(0, 0, 0, 0, IPPROTO_UDP, 0, 0, 0, 0, 0, 2), /* what a non-first fragment looks like */
	};
	struct pkt p = { .proto = IPPROTO_UDP, .src = 5, .dst = 6, .sport = 1234, .dport = 4789, .payload = 100 };
	struct pkt q;

	cr_assert_eq(cls_set_rules(c, r, 2), 0);
	for (int w = 0; w <= 10; w++) {
		q = p, q.opt_words = w;
		cr_expect_eq(chosen(c, &q), 0, "%d option words", w);
		cr_expect_eq(last(c).sport, 1234, "%d option words", w);
	}
	q = p, q.frag = 0x2000; /* MF, offset 0: first fragment, ports present */
	cr_expect_eq(chosen(c, &q), 0);
	q = p, q.frag = 0x2000 | 100; /* MF, offset 800: no L4 header */
	cr_expect_eq(chosen(c, &q), 1);
	cr_expect_eq(last(c).sport, 0);
	cr_expect_eq(last(c).dport, 0);
	q = p, q.frag = 185, q.payload = 3, q.no_l4 = 1; /* last fragment, shorter than a UDP header: fine */
	cr_expect_eq(chosen(c, &q), 1);
	q = p, q.vlan = 1;
	cr_expect_eq(chosen(c, &q), 0, "802.1Q tagged");
	q = p, q.vlan = 1, q.opt_words = 2, q.frag = 0x4000; /* DF */
	cr_expect_eq(chosen(c, &q), 0, "tagged with options and DF");
	cls_close(c, false);
}

Test(bpf, non_ipv4_unmatched)
{
	struct cls *c = open_or_skip();
	struct cls_rule any = rule(0, 0, 0, 0, -1, ANY_PORTS, 0, 1);
	struct pkt v6 = { .ethertype = ETH_P_IPV6 }, arp = { .ethertype = ETH_P_ARP };
	struct pkt v6tag = { .ethertype = ETH_P_IPV6, .vlan = 1 };

	cr_assert_eq(cls_set_rules(c, &any, 1), 0);
	cr_expect_eq(run_pkt(c, &v6), XDP_PASS);
	cr_expect_eq(last(c).verdict, CLS_V_UNMATCHED);
	cr_expect_eq(run_pkt(c, &arp), XDP_PASS);
	cr_expect_eq(run_pkt(c, &v6tag), XDP_PASS);
	cr_assert_eq(cls_set_unmatched_drop(c, true), 0);
	cr_expect_eq(run_pkt(c, &v6), XDP_DROP);
	cr_expect_eq(run_pkt(c, &arp), XDP_DROP);
	cr_assert_eq(cls_set_rules(c, &any, 1), 0);
	cr_expect_eq(run_pkt(c, &v6), XDP_DROP, "a reload keeps the unmatched action");
	struct cls_stats s = stats(c);
	cr_expect_eq(s.unmatched, 6);
	cr_expect_eq(s.matched[1], 0);
	cls_close(c, false);
}

Test(bpf, rules_1024_last_matches)
{
	struct cls *c = open_or_skip();
	struct cls_rule *r = calloc(GEN_CLS_MAX_RULES, sizeof(*r));
	struct pkt p = { .proto = IPPROTO_TCP, .src = IP(172, 16, 0, 1), .dst = IP(172, 17, 0, 1), .sport = 40000,
			 .dport = 8080 };

	for (int i = 0; i < GEN_CLS_MAX_RULES - 1; i++) /* each misses p in exactly one field */
		switch (i % 5) {
		case 0: r[i] = rule(IP(10, i >> 8, i & 255, 0), 24, 0, 0, -1, ANY_PORTS, 0, 1 + i % 200); break;
		case 1: r[i] = rule(0, 0, IP(11, i >> 8, i & 255, 0), 24, -1, ANY_PORTS, 0, 1 + i % 200); break;
		case 2: r[i] = rule(0, 0, 0, 0, IPPROTO_UDP, ANY_PORTS, 0, 1 + i % 200); break;
		case 3: r[i] = rule(0, 0, 0, 0, -1, i, i, 0, 65535, 0, 1 + i % 200); break;
		case 4: r[i] = rule(0, 0, 0, 0, -1, 0, 65535, i, i + 1, 0, 1 + i % 200); break;
		}
	r[GEN_CLS_MAX_RULES - 1] = rule(IP(172, 16, 0, 0), 12, IP(172, 17, 0, 0), 16, IPPROTO_TCP, 40000, 40000,
					8000, 8100, 0, 255);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(cls_set_rules(c, r, GEN_CLS_MAX_RULES), 0, "%s", cls_strerror(c));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_log_info("cls_set_rules(1024 rules): %.1f ms", (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	cr_expect_eq(chosen(c, &p), GEN_CLS_MAX_RULES - 1);
	cr_expect_eq(last(c).chain_id, 255);
	p.dport = 8101;
	cr_expect_eq(chosen(c, &p), -1);
	cr_expect_eq(cls_set_rules(c, r, GEN_CLS_MAX_RULES + 1), -EINVAL, "more than the table holds");
	free(r);
	cls_close(c, false);
}

Test(bpf, rejects_bad_rules)
{
	struct cls *c = open_or_skip();
	struct cls_rule bad[] = {
		rule(0, 0, 0, 0, -1, ANY_PORTS, 0, 0),
		rule(0, 33, 0, 0, -1, ANY_PORTS, 0, 1),
		rule(0, 0, 0, 0, 256, ANY_PORTS, 0, 1),
		rule(0, 0, 0, 0, -1, 10, 9, 0, 65535, 0, 1),
		rule(0, 0, 0, 0, -1, ANY_PORTS, 0, 256),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(cls_set_rules(c, &bad[i], 1), -EINVAL, "bad rule %zu accepted", i);
		cr_expect(strstr(cls_strerror(c), "rule 0") != NULL, "%s", cls_strerror(c));
	}
	cls_close(c, false);
}

/* ---- atomic table switch ---- */

struct switch_run {
	struct cls *c;
	atomic_bool stop;
	long runs;
};

static void *hammer(void *arg)
{
	struct switch_run *s = arg;
	struct pkt p = { .proto = IPPROTO_TCP, .src = IP(10, 0, 0, 1), .dst = 1, .sport = 1, .dport = 80 };
	uint8_t f[2048];
	int len = build(f, &p);
	/* repeat 1: on this kernel a repeated run costs tens of ms per call, which
	 * would leave the reload windows unobserved. */
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = len, .repeat = 1);

	while (!atomic_load(&s->stop)) {
		if (bpf_prog_test_run_opts(cls_prog_fd(s->c), &o) == 0)
			s->runs++;
	}
	return NULL;
}

/*
 * Installs tabs[0], then flips through tabs[1..n-1, 0, ...] 150 times while a
 * second thread runs the program on one packet; returns the counters and the
 * number of packets run.
 */
struct tab {
	const struct cls_rule *r;
	int n;
};

static struct cls_stats switch_under_traffic(struct cls *c, const struct tab *tabs, int ntabs, long *runs)
{
	struct switch_run s = { .c = c };
	pthread_t th;
	cpu_set_t all;

	CPU_ZERO(&all);
	for (int i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &all);
	sched_setaffinity(0, sizeof(all), &all); /* reader and writer may run side by side */
	cr_assert_eq(cls_set_rules(c, tabs[0].r, tabs[0].n), 0);
	cr_assert_eq(pthread_create(&th, NULL, hammer, &s), 0);
	for (int i = 1; i <= 150; i++)
		cr_assert_eq(cls_set_rules(c, tabs[i % ntabs].r, tabs[i % ntabs].n), 0, "%s", cls_strerror(c));
	atomic_store(&s.stop, true);
	pthread_join(th, NULL);
	*runs = s.runs;
	return stats(c);
}

/*
 * T1 sends p to chain 1 by rule 0, T2 to chain 2 by rule 1. A packet mixing
 * the two tables' vectors gets an empty AND, and one mixing vectors with the
 * other rules array lands on chain 5: both would show in the counters.
 */
Test(bpf, atomic_table_switch, .timeout = 60)
{
	struct cls *c = open_or_skip();
	struct cls_rule t1[] = {
		rule(IP(10, 0, 0, 0), 8, 0, 0, IPPROTO_TCP, 0, 65535, 80, 80, 0, 1),
		rule(IP(20, 0, 0, 0), 8, 0, 0, IPPROTO_UDP, 0, 65535, 1000, 1000, 0, 5),
	};
	struct cls_rule t2[] = {
		rule(IP(20, 0, 0, 0), 8, 0, 0, IPPROTO_UDP, 0, 65535, 1000, 1000, 0, 5),
		rule(IP(10, 0, 0, 0), 8, 0, 0, IPPROTO_TCP, 0, 65535, 80, 80, 0, 2),
	};
	struct tab tabs[] = { { t2, 2 }, { t1, 2 } };
	long runs;
	struct cls_stats st = switch_under_traffic(c, tabs, 2, &runs);

	cr_log_info("atomic switch: 150 flips, %ld packets: chain 1 %lu, chain 2 %lu", runs,
		    (unsigned long)st.matched[1], (unsigned long)st.matched[2]);
	cr_expect_eq(st.matched[5], 0, "a packet saw the rules of one table with vectors of the other");
	cr_expect_eq(st.unmatched, 0, "a packet saw vectors of both tables");
	cr_expect_eq(st.matched[1] + st.matched[2], (uint64_t)runs);
	cr_expect_gt(st.matched[1], 0);
	cr_expect_gt(st.matched[2], 0);
	cls_close(c, false);
}

/*
 * The lookups a table leaves open (gen_config.open) flip with the table: three
 * tables in turn over two slots, so that a slot's previous open fields always
 * belong to another table. T1 and T3 constrain no source address (its lookup
 * is skipped); T2 does, with rule 0 (30/8) that the hammer's packet (from
 * 10.0.0.1) fails and rule 1 (chain 3) that it matches. A packet that read
 * T2's vectors with T1's or T3's open fields would skip the source and land on
 * chain 2.
 */
Test(bpf, open_fields_switch_with_table, .timeout = 60)
{
	struct cls *c = open_or_skip();
	struct cls_rule t1[] = { rule(0, 0, 0, 0, IPPROTO_TCP, 0, 65535, 80, 80, 0, 1) };
	struct cls_rule t2[] = {
		rule(IP(30, 0, 0, 0), 8, 0, 0, IPPROTO_TCP, 0, 65535, 80, 80, 0, 2),
		rule(0, 0, 0, 0, IPPROTO_TCP, 0, 65535, 80, 80, 0, 3),
	};
	struct cls_rule t3[] = { rule(0, 0, 0, 0, IPPROTO_TCP, 0, 65535, 0, 65535, 0, 4) };
	struct tab tabs[] = { { t1, 1 }, { t2, 2 }, { t3, 1 } };
	long runs;
	struct cls_stats st = switch_under_traffic(c, tabs, 3, &runs);

	cr_log_info("open fields switch: 150 flips, %ld packets: chains 1 %lu, 3 %lu, 4 %lu", runs,
		    (unsigned long)st.matched[1], (unsigned long)st.matched[3], (unsigned long)st.matched[4]);
	cr_expect_eq(st.matched[2], 0, "a packet read T2's vectors with another table's open fields");
	cr_expect_eq(st.unmatched, 0);
	cr_expect_eq(st.matched[1] + st.matched[3] + st.matched[4], (uint64_t)runs);
	cr_expect(st.matched[1] > 0 && st.matched[3] > 0 && st.matched[4] > 0);
	cls_close(c, false);
}

/* ---- random rule sets against a linear scan ---- */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* Few distinct values, so rules overlap and packets hit their edges. */
static const uint32_t addr_pool[] = { IP(10, 0, 0, 1), IP(10, 0, 1, 1), IP(10, 1, 0, 1), IP(192, 168, 0, 1),
				      IP(192, 168, 0, 129), IP(8, 8, 8, 8) };
static const uint16_t port_pool[] = { 0, 1, 22, 53, 80, 443, 1024, 8080, 65534, 65535 };
static const int proto_pool[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 47 };

static uint32_t rnd_addr(void)
{
	uint32_t a = addr_pool[rnd() % 6];

	return rnd() % 4 ? a : a ^ (rnd() & 0xffff);
}

static void rnd_range(uint16_t *lo, uint16_t *hi)
{
	uint32_t a = port_pool[rnd() % 10], b;

	switch (rnd() % 4) {
	case 0: *lo = 0, *hi = 65535; return;
	case 1: *lo = *hi = a; return;
	default:
		b = a + rnd() % 2000;
		*lo = a;
		*hi = b > 65535 ? 65535 : b;
	}
}

static struct cls_rule rnd_rule(int nif, const int *ifs)
{
	struct cls_rule r = { 0 };

	r.src_len = rnd() % 3 ? (uint32_t[]){ 0, 8, 16, 24, 25, 32 }[rnd() % 6] : rnd() % 33;
	r.src = rnd_addr();
	r.dst_len = rnd() % 3 ? (uint32_t[]){ 0, 8, 16, 24, 25, 32 }[rnd() % 6] : rnd() % 33;
	r.dst = rnd_addr();
	r.proto = rnd() % 3 ? -1 : proto_pool[rnd() % 4];
	rnd_range(&r.sport_lo, &r.sport_hi);
	rnd_range(&r.dport_lo, &r.dport_hi);
	r.in_ifindex = rnd() % 4 ? 0 : ifs[rnd() % nif];
	r.chain_id = 1 + rnd() % 255;
	/* Every rule pins at least one address to a /8 or longer, or with 1024 rules
	 * nearly every packet would match one of the first few. */
	if (r.src_len < 8 && r.dst_len < 8)
		r.dst_len = 8 + rnd() % 25;
	return r;
}

static bool in_prefix(uint32_t a, uint32_t net, uint32_t len)
{
	return len == 0 || ((a ^ net) >> (32 - len)) == 0;
}

static int oracle(const struct cls_rule *r, int n, const struct pkt *p, int ifindex)
{
	bool l4 = (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) && !(p->frag & 0x1fff);
	uint16_t sp = l4 ? p->sport : 0, dp = l4 ? p->dport : 0;

	for (int i = 0; i < n; i++)
		if (in_prefix(p->src, r[i].src, r[i].src_len) && in_prefix(p->dst, r[i].dst, r[i].dst_len) &&
		    (r[i].proto < 0 || r[i].proto == p->proto) && r[i].sport_lo <= sp && sp <= r[i].sport_hi &&
		    r[i].dport_lo <= dp && dp <= r[i].dport_hi && (!r[i].in_ifindex || r[i].in_ifindex == (uint32_t)ifindex))
			return i;
	return -1;
}

Test(bpf, random_rules_vs_linear_scan, .timeout = 300)
{
	int ifs[IF_POOL];
	struct cls *c = open_or_skip();
	struct cls_rule *r = calloc(GEN_CLS_MAX_RULES, sizeof(*r));
	long matched = 0, total = 0, unmatched = 0;
	uint8_t f[2048];

	if_pool(ifs);
	for (int set = 0; set < 6; set++) {
		int n = set == 0 ? GEN_CLS_MAX_RULES : 200 + rnd() % (GEN_CLS_MAX_RULES - 199);

		for (int i = 0; i < n; i++)
			r[i] = rnd_rule(IF_RULES, ifs);
		cr_assert_eq(cls_set_rules(c, r, n), 0, "%s", cls_strerror(c));
		for (int k = 0; k < 2500; k++) {
			struct pkt p = { .proto = proto_pool[rnd() % 4], .src = rnd_addr(), .dst = rnd_addr() };

			if (rnd() % 3 == 0)
				rnd() % 2 ? (p.src = rnd()) : (p.dst = rnd());
			int ifx = ifs[rnd() % IF_POOL], want, got;
			struct cls_last l;

			p.sport = rnd() % 2 ? port_pool[rnd() % 10] + rnd() % 3 : rnd() & 0xffff;
			p.dport = rnd() % 2 ? port_pool[rnd() % 10] + rnd() % 3 : rnd() & 0xffff;
			if (rnd() % 8 == 0)
				p.frag = 0x2000 | (rnd() % 2 ? 0 : 1 + rnd() % 100);
			p.opt_words = rnd() % 6 == 0 ? rnd() % 11 : 0;
			p.vlan = rnd() % 5 == 0;
			want = oracle(r, n, &p, ifx);
			run_on(c, f, build(f, &p), ifx, ifx == 1 ? 0 : rnd() % 4); /* lo has one queue */
			l = last(c);
			got = l.verdict == CLS_V_NO_SOCKET ? (int)l.rule : -1;
			cr_assert_eq(got, want, "set %d (%d rules) packet %d: program chose %d, linear scan %d", set, n,
				     k, got, want);
			if (want >= 0)
				cr_assert_eq(l.chain_id, r[want].chain_id);
			total++;
			want >= 0 ? matched++ : unmatched++;
		}
	}
	struct cls_stats s = stats(c);
	uint64_t sum = 0;
	for (int i = 0; i < GEN_MAX_CHAINS; i++)
		sum += s.matched[i];
	cr_expect_eq(sum, (uint64_t)matched);
	cr_expect_eq(s.unmatched, (uint64_t)unmatched);
	cr_expect_gt(matched, total / 10, "too few matches to test anything: %ld of %ld", matched, total);
	cr_expect_gt(unmatched, total / 20, "too few misses: %ld of %ld", unmatched, total);
	cr_log_info("linear-scan oracle: %ld packets, %ld matched, all agree", total, matched);
	free(r);
	cls_close(c, false);
}

/*
 * Frame f (len bytes, packet p) from in-port ifx through the program and the
 * host copy t, each against the linear scan of the n rules r; the scan's
 * choice (-1: none). what names the table in a failure.
 */
static int both_vs_scan(struct cls *c, const struct cls_tab *t, const struct cls_rule *r, int n, uint8_t *f,
			int len, const struct pkt *p, int ifx, const char *what)
{
	int want = oracle(r, n, p, ifx), got;
	uint32_t rank = ~0u, chain = 0;
	struct cls_fields fl = { 0 };
	enum cls_result hr = cls_tab_classify(t, f, (uint32_t)len, (uint32_t)ifx, &fl, &rank, &chain);
	struct cls_last l;

	run_on(c, f, len, ifx, ifx == 1 ? 0 : rnd() % 4);
	l = last(c);
	got = l.verdict == CLS_V_NO_SOCKET ? (int)l.rule : -1;
	cr_assert_eq(got, want, "%s, in-port %d, proto %d: program chose %d, linear scan %d", what, ifx, p->proto, got,
		     want);
	cr_assert_eq(hr == CLS_MATCH ? (int)rank : -1, want, "%s: host copy chose %d, linear scan %d", what,
		     hr == CLS_MATCH ? (int)rank : -1, want);
	return want;
}

/*
 * Tables that leave fields open: every rule of a set leaves a chosen subset of
 * {source, destination, in-port, source port, destination port} open, and in
 * half the sets one rule (any of them) constrains one of those fields after
 * all, so the table must not skip it. The program and the host copy both
 * against the linear scan.
 */
Test(bpf, open_fields_vs_linear_scan, .timeout = 300)
{
	int ifs[IF_POOL];
	struct cls *c = open_or_skip();
	struct cls_rule *r = calloc(GEN_CLS_MAX_RULES, sizeof(*r));
	long matched = 0, total = 0, skipped[5] = { 0 }, almost = 0, direct = 0, direct_due = 0;
	const uint32_t l34 = CLS_OPEN_SRC | CLS_OPEN_DST | CLS_OPEN_SPORT | CLS_OPEN_DPORT;
	uint8_t f[2048];

	if_pool(ifs);
	for (int set = 0; set < 62; set++) {
		uint32_t openm = 1 + (uint32_t)set % 31; /* every non-empty subset, in turn */
		int n = set % 3 == 0 ? 1 + (int)(rnd() % 8) : 16 + (int)(rnd() % 300), back = -1;

		for (int i = 0; i < n; i++) {
			r[i] = rnd_rule(IF_RULES, ifs);
			if (openm & CLS_OPEN_SRC)
				r[i].src_len = 0;
			if (openm & CLS_OPEN_DST)
				r[i].dst_len = 0;
			if (openm & CLS_OPEN_INPORT)
				r[i].in_ifindex = 0;
			if (openm & CLS_OPEN_SPORT)
				r[i].sport_lo = 0, r[i].sport_hi = 65535;
			if (openm & CLS_OPEN_DPORT)
				r[i].dport_lo = 0, r[i].dport_hi = 65535;
		}
		if (set % 2) { /* one rule, anywhere, constrains an open field after all */
			back = (int)(rnd() % (uint32_t)n);
			if (openm & CLS_OPEN_SRC)
				r[back].src_len = 8 + rnd() % 25;
			else if (openm & CLS_OPEN_DST)
				r[back].dst_len = 8 + rnd() % 25;
			else if (openm & CLS_OPEN_INPORT)
				r[back].in_ifindex = (uint32_t)ifs[1 + rnd() % (IF_RULES - 1)];
			else if (openm & CLS_OPEN_SPORT)
				r[back].sport_lo = r[back].sport_hi = port_pool[rnd() % 10];
			else
				r[back].dport_lo = r[back].dport_hi = port_pool[rnd() % 10];
			almost++;
		}
		cr_assert_eq(cls_set_rules(c, r, n), 0, "%s", cls_strerror(c));
		const struct cls_tab *t = cls_host_table(c);

		cr_assert_not_null(t);
		for (int b = 0; b < 5; b++)
			skipped[b] += (t->open >> b) & 1;
		/* Only the in-port and the protocol left to decide: the program reads their winner from gen_direct. */
		struct cls_config cfg;

		cr_assert_eq(cls_config_read(c, &cfg), 0);
		cr_assert_eq(!!(cfg.open[cfg.active & 1] & CLS_DIRECT), (t->open & l34) == l34,
			     "set %d: open %#x in the program, %#x in the host copy", set, cfg.open[cfg.active & 1],
			     t->open);
		cr_assert_eq(t->open & CLS_DIRECT, 0, "the host copy takes the vectors");
		direct += !!(cfg.open[cfg.active & 1] & CLS_DIRECT);
		direct_due += (t->open & l34) == l34;
		char what[96];

		snprintf(what, sizeof(what), "set %d (open %#x, %d rules, rule %d closes one)", set, openm, n, back);
		for (int k = 0; k < 750; k++) {
			struct pkt p = { .proto = proto_pool[rnd() % 4], .src = rnd_addr(), .dst = rnd_addr() };
			int ifx = ifs[rnd() % IF_POOL];

			p.sport = rnd() % 2 ? port_pool[rnd() % 10] + rnd() % 3 : rnd() & 0xffff;
			p.dport = rnd() % 2 ? port_pool[rnd() % 10] + rnd() % 3 : rnd() & 0xffff;
			if (back >= 0 && rnd() % 2) { /* aim at the rule that closes the field */
				p.src = r[back].src ^ (rnd() % 3 ? 0 : rnd());
				p.dst = r[back].dst ^ (rnd() % 3 ? 0 : rnd());
			}
			total++;
			matched += both_vs_scan(c, t, r, n, f, build(f, &p), &p, ifx, what) >= 0;
		}
	}
	cr_expect(skipped[0] > 0 && skipped[1] > 0 && skipped[2] > 0 && skipped[3] > 0 && skipped[4] > 0,
		  "no table skipped some field: %ld %ld %ld %ld %ld", skipped[0], skipped[1], skipped[2], skipped[3],
		  skipped[4]);
	cr_expect_gt(matched, total / 10, "too few matches to test anything: %ld of %ld", matched, total);
	cr_expect_gt(direct, 0, "no table took the precomputed in-port x protocol winners");
	cr_log_info("open fields: %ld packets over 62 sets (%ld with one rule closing a field, %ld/%ld through "
		    "gen_direct), %ld matched, all agree", total, almost, direct, direct_due, matched);
	free(r);
	cls_close(c, false);
}

/*
 * gend's usual table: rules that name only an in-port (or none) and a protocol
 * (or any), so the program reads each (in-port, protocol)'s winner from
 * gen_direct, and from ifindex 4096 up (vh, vi) the vectors. Program and host
 * copy against the linear scan, on every in-port of the pool.
 */
Test(bpf, direct_in_port_proto_vs_linear_scan, .timeout = 300)
{
	int ifs[IF_POOL];
	struct cls *c = open_or_skip();
	struct cls_rule *r = calloc(GEN_CLS_MAX_RULES, sizeof(*r));
	long matched = 0, total = 0;
	uint8_t f[2048];

	if_pool(ifs);
	for (int set = 0; set < 24; set++) {
		int n = set % 4 == 0 ? 1 + (int)(rnd() % 4) : 8 + (int)(rnd() % 400);
		struct cls_config cfg;

		for (int i = 0; i < n; i++) {
			r[i] = rnd_rule(IF_RULES, ifs);
			r[i].src_len = r[i].dst_len = 0;
			r[i].sport_lo = r[i].dport_lo = 0;
			r[i].sport_hi = r[i].dport_hi = 65535;
			r[i].in_ifindex = rnd() % 3 ? (uint32_t)ifs[rnd() % IF_RULES] : 0;
		}
		cr_assert_eq(cls_set_rules(c, r, n), 0, "%s", cls_strerror(c));
		cr_assert_eq(cls_config_read(c, &cfg), 0);
		cr_assert(cfg.open[cfg.active & 1] & CLS_DIRECT, "set %d: open %#x: gen_direct not taken", set,
			  cfg.open[cfg.active & 1]);
		const struct cls_tab *t = cls_host_table(c);
		char what[48];

		snprintf(what, sizeof(what), "set %d (%d rules)", set, n);
		for (int k = 0; k < 600; k++) {
			struct pkt p = { .proto = proto_pool[rnd() % 4], .src = rnd_addr(), .dst = rnd_addr(),
					 .sport = rnd() & 0xffff, .dport = rnd() & 0xffff };
			int ifx = ifs[rnd() % IF_POOL];

			total++;
			matched += both_vs_scan(c, t, r, n, f, build(f, &p), &p, ifx, what) >= 0;
		}
	}
	cr_expect_gt(matched, total / 4, "too few matches to test anything: %ld of %ld", matched, total);
	cr_expect_lt(matched, total, "every packet matched: the misses went untested");
	cr_log_info("in-port x protocol tables: %ld packets over 24 sets through gen_direct, %ld matched, all agree",
		    total, matched);
	free(r);
	cls_close(c, false);
}

/* ---- the host copy (synthetic ports) against the program, same frames ---- */

/* A random frame: mostly valid, some cut short, some with a broken header or another ethertype. */
static int rnd_frame(uint8_t *f, struct pkt *p)
{
	int len;

	*p = (struct pkt){ .proto = proto_pool[rnd() % 4], .src = rnd_addr(), .dst = rnd_addr() };
	if (rnd() % 3 == 0)
		rnd() % 2 ? (p->src = rnd()) : (p->dst = rnd());
	p->sport = rnd() % 2 ? port_pool[rnd() % 10] + rnd() % 3 : rnd() & 0xffff;
	p->dport = rnd() % 2 ? port_pool[rnd() % 10] + rnd() % 3 : rnd() & 0xffff;
	if (rnd() % 8 == 0)
		p->frag = 0x2000 | (rnd() % 2 ? 0 : 1 + rnd() % 100);
	p->opt_words = rnd() % 6 == 0 ? rnd() % 11 : 0;
	p->vlan = rnd() % 5 == 0;
	p->payload = rnd() % 4 == 0 ? rnd() % 64 : 0;
	if (rnd() % 40 == 0)
		p->ethertype = rnd() % 2 ? ETH_P_ARP : ETH_P_IPV6;
	len = build(f, p);
	switch (rnd() % 20) {
	case 0: return ETH_HLEN + rnd() % (len - ETH_HLEN); /* cut short */
	case 1: f[ETH_HLEN + 4 * p->vlan] ^= 1u << (rnd() % 8); return len; /* version / IHL */
	case 2: f[ETH_HLEN + 4 * p->vlan + 3] ^= 1u << (rnd() % 8); return len; /* total length */
	default: return len;
	}
}

Test(bpf, host_copy_matches_program, .timeout = 300)
{
	int ifs[IF_POOL];
	struct cls *c = open_or_skip();
	struct cls_rule *r = calloc(GEN_CLS_MAX_RULES, sizeof(*r));
	long seen[4] = { 0 };
	uint8_t f[2048];

	if_pool(ifs);
	for (int set = 0; set < 6; set++) {
		int n = set == 0 ? 1 : set == 1 ? GEN_CLS_MAX_RULES : 1 + rnd() % GEN_CLS_MAX_RULES;

		for (int i = 0; i < n; i++)
			r[i] = rnd_rule(IF_RULES, ifs);
		if (set == 0)
			r[0] = rule(0, 0, 0, 0, IPPROTO_UDP, ANY_PORTS, 0, 7);
		cr_assert_eq(cls_set_rules(c, r, n), 0, "%s", cls_strerror(c));
		const struct cls_tab *t = cls_host_table(c);

		cr_assert_not_null(t);
		for (int k = 0; k < 3000; k++) {
			struct pkt p;
			struct cls_fields fl = { 0 };
			int len = rnd_frame(f, &p), ifx = ifs[rnd() % IF_POOL];
			uint32_t rank = ~0u, chain = 0;
			enum cls_result hr = cls_tab_classify(t, f, (uint32_t)len, (uint32_t)ifx, &fl, &rank, &chain);
			struct cls_last l;

			run_on(c, f, len, ifx, ifx == 1 ? 0 : rnd() % 4);
			l = last(c);
			seen[hr]++;
			switch (hr) {
			case CLS_MATCH:
				cr_assert_eq(l.verdict, CLS_V_NO_SOCKET, "set %d packet %d: host matched rule %u, program verdict %u",
					     set, k, rank, l.verdict);
				cr_assert_eq(l.rule, rank, "set %d packet %d: host rule %u, program rule %u", set, k, rank, l.rule);
				cr_assert_eq(l.chain_id, chain);
				break;
			case CLS_MISS:
			case CLS_OTHER:
				cr_assert_eq(l.verdict, CLS_V_UNMATCHED, "set %d packet %d: host missed, program verdict %u rule %u",
					     set, k, l.verdict, l.rule);
				break;
			case CLS_MALFORMED:
				cr_assert_eq(l.verdict, CLS_V_MALFORMED, "set %d packet %d (%d B): host malformed, program verdict %u",
					     set, k, len, l.verdict);
				break;
			}
			if (hr == CLS_MATCH || hr == CLS_MISS)
				cr_assert(l.sport == fl.sport && l.dport == fl.dport, "set %d packet %d: ports %u/%u vs %u/%u", set,
					  k, fl.sport, fl.dport, l.sport, l.dport);
		}
	}
	cr_expect(seen[CLS_MATCH] > 1000 && seen[CLS_MISS] > 500 && seen[CLS_MALFORMED] > 100 && seen[CLS_OTHER] > 50,
		  "too little of each outcome to compare: match %ld miss %ld other %ld malformed %ld", seen[CLS_MATCH],
		  seen[CLS_MISS], seen[CLS_OTHER], seen[CLS_MALFORMED]);
	cr_log_info("host copy vs program: match %ld, miss %ld, other %ld, malformed %ld, all agree", seen[CLS_MATCH],
		    seen[CLS_MISS], seen[CLS_OTHER], seen[CLS_MALFORMED]);
	free(r);
	cls_close(c, false);
}

/* ---- the program against the plain C reference (cls_ref.h), random and mutated frames ---- */

/* Damage a frame the way a hostile or broken sender would; returns the new length. */
static int mutate(uint8_t *f, int len, int cap)
{
	int vlan = len >= 18 && f[12] == 0x81 && f[13] == 0x00, l3 = ETH_HLEN + 4 * vlan;

	switch (rnd() % 12) {
	case 0: /* random bytes, random length */
		len = (int)(rnd() % 128);
		for (int i = 0; i < len; i++)
			f[i] = (uint8_t)rnd();
		if (len >= 14 && rnd() % 2)
			f[12] = 0x08, f[13] = rnd() % 4 ? 0x00 : 0x06;
		return len;
	case 1: /* bits flipped anywhere in the headers */
		for (int i = 1 + rnd() % 4; i > 0 && len; i--)
			f[rnd() % (len < 64 ? len : 64)] ^= (uint8_t)(1u << (rnd() % 8));
		return len;
	case 2: /* cut anywhere */
		return (int)(rnd() % (len + 1));
	case 3: /* version and IHL */
		if (len > l3)
			f[l3] = (uint8_t)rnd();
		return len;
	case 4: /* total length */
		if (len > l3 + 3)
			f[l3 + 2] = (uint8_t)(rnd() % 3 ? 0 : rnd()), f[l3 + 3] = (uint8_t)rnd();
		return len;
	case 5: /* fragment offset and flags */
		if (len > l3 + 7)
			f[l3 + 6] = (uint8_t)rnd(), f[l3 + 7] = (uint8_t)(rnd() % 2 ? 0 : rnd());
		return len;
	case 6: /* protocol */
		if (len > l3 + 9)
			f[l3 + 9] = (uint8_t)(rnd() % 2 ? (uint32_t[]){ 1, 6, 17, 47 }[rnd() % 4] : rnd());
		return len;
	case 7: /* trailing junk beyond total length */
		while (len < cap && rnd() % 8)
			f[len++] = (uint8_t)rnd();
		return len;
	case 8: /* a VLAN tag, or a second one */
		if (len + 4 <= cap && len >= 12) {
			memmove(f + 16, f + 12, (size_t)len - 12);
			f[12] = 0x81, f[13] = 0x00, f[14] = (uint8_t)rnd(), f[15] = (uint8_t)rnd();
			len += 4;
		}
		return len;
	default:
		return len;
	}
}

static const char *const ref_names[] = { "match", "miss", "not IPv4", "malformed" };

Test(bpf, program_vs_reference_1024_rules, .timeout = 600)
{
	/* CI runs 200000; GEN_CLS_REF_PACKETS=1000000 (and GEN_CLS_REF_SEED=N for other rules) locally. */
	const char *env = getenv("GEN_CLS_REF_PACKETS"), *seed = getenv("GEN_CLS_REF_SEED");
	long want_n = env ? atol(env) : 200000, seen[4] = { 0 };
	int ifs[IF_POOL];
	struct cls *c = open_or_skip();
	struct cls_rule *r = calloc(GEN_CLS_MAX_RULES, sizeof(*r));
	uint8_t f[2048];
	struct timespec t0, t1;

	cr_assert(want_n > 0, "GEN_CLS_REF_PACKETS=%s", env);
	if (seed)
		rng = strtoull(seed, NULL, 0) | 1;
	if_pool(ifs);
	for (int i = 0; i < GEN_CLS_MAX_RULES; i++)
		r[i] = rnd_rule(IF_RULES, ifs);
	cr_assert_eq(cls_set_rules(c, r, GEN_CLS_MAX_RULES), 0, "%s", cls_strerror(c));
	const struct cls_tab *t = cls_host_table(c);

	cr_assert_not_null(t);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long k = 0; k < want_n; k++) {
		struct pkt p;
		int len = rnd_frame(f, &p), ifx = ifs[rnd() % IF_POOL];

		for (int m = rnd() % 3; m > 0; m--)
			len = mutate(f, len, (int)sizeof(f));
		if (len < ETH_HLEN)
			len = ETH_HLEN; /* the kernel runs no XDP test on less */
		struct cls_ref_result want = cls_ref_classify(r, GEN_CLS_MAX_RULES, f, (uint32_t)len, (uint32_t)ifx);
		int act = run_on(c, f, len, ifx, ifx == 1 ? 0 : rnd() % 4);
		struct cls_last l = last(c);
		struct cls_fields fl = { 0 };
		uint32_t rank = ~0u, chain = 0;
		enum cls_result hr = cls_tab_classify(t, f, (uint32_t)len, (uint32_t)ifx, &fl, &rank, &chain);

		seen[want.v]++;
		switch (want.v) {
		case CLS_REF_MATCH:
			cr_assert(l.verdict == CLS_V_NO_SOCKET && l.rule == (uint32_t)want.rank &&
				  l.chain_id == r[want.rank].chain_id,
				  "packet %ld (%d B): reference rule %d chain %u, program verdict %u rule %u chain %u", k, len,
				  want.rank, r[want.rank].chain_id, l.verdict, l.rule, l.chain_id);
			cr_assert(hr == CLS_MATCH && rank == (uint32_t)want.rank && chain == r[want.rank].chain_id,
				  "packet %ld: reference rule %d, host copy %d rule %u", k, want.rank, hr, rank);
			break;
		case CLS_REF_MISS:
		case CLS_REF_OTHER:
			cr_assert(l.verdict == CLS_V_UNMATCHED && act == XDP_PASS,
				  "packet %ld (%d B): reference %s, program verdict %u rule %u action %d", k, len,
				  ref_names[want.v], l.verdict, l.rule, act);
			cr_assert_eq(hr, want.v == CLS_REF_MISS ? CLS_MISS : CLS_OTHER, "packet %ld: host copy %d", k, hr);
			break;
		case CLS_REF_MALFORMED:
			cr_assert(l.verdict == CLS_V_MALFORMED && act == XDP_PASS,
				  "packet %ld (%d B): reference malformed, program verdict %u action %d", k, len, l.verdict, act);
			cr_assert_eq(hr, CLS_MALFORMED, "packet %ld: host copy %d", k, hr);
			break;
		}
		if (want.v <= CLS_REF_MISS)
			cr_assert(l.sport == want.sport && l.dport == want.dport, "packet %ld: ports %u/%u, reference %u/%u",
				  k, l.sport, l.dport, want.sport, want.dport);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_expect(seen[CLS_REF_MATCH] > want_n / 10 && seen[CLS_REF_MISS] > want_n / 50 &&
		  seen[CLS_REF_OTHER] > want_n / 500 && seen[CLS_REF_MALFORMED] > want_n / 20,
		  "too little of each outcome: match %ld miss %ld other %ld malformed %ld", seen[0], seen[1], seen[2],
		  seen[3]);
	cr_log_info("program vs reference, 1024 rules: %ld packets in %.1f s (match %ld, miss %ld, not IPv4 %ld, "
		    "malformed %ld), all agree", want_n, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		    seen[0], seen[1], seen[2], seen[3]);
	free(r);
	cls_close(c, false);
}

/* ---- a real AF_XDP socket in the XSKMAP: redirect ---- */

Test(bpf, redirect_to_socket)
{
	int va, vb;
	struct cls *c = open_or_skip();
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	size_t sz = 64 * 4096;
	void *area;
	struct xsk_socket_config cfg = { .rx_size = 64, .tx_size = 64,
					 .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
					 .bind_flags = XDP_COPY };
	struct cls_rule r = rule(0, 0, 0, 0, IPPROTO_UDP, ANY_PORTS, 0, 3);
	struct pkt p = { .proto = IPPROTO_UDP, .src = 1, .dst = 2, .sport = 3, .dport = 4 };
	uint8_t f[2048];
	int len = build(f, &p);

	private_netns(&va, &vb);
	area = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(area, MAP_FAILED);
	cr_assert_eq(xsk_umem__create(&umem, area, sz, &fq, &cq, NULL), 0);
	int e = xsk_socket__create(&xsk, "va", 1, umem, &rx, &tx, &cfg);
	cr_assert_eq(e, 0, "AF_XDP socket on va queue 1: %s", strerror(-e));
	cr_assert_eq(cls_set_rules(c, &r, 1), 0);
	cr_assert_eq(cls_xsk_set(c, 3, 1, xsk_socket__fd(xsk)), 0, "%s", cls_strerror(c));
	cr_expect_eq(run_on(c, f, len, va, 1), XDP_REDIRECT);
	cr_expect_eq(last(c).verdict, CLS_V_MATCHED);
	cr_expect_eq(run_on(c, f, len, va, 0), XDP_PASS, "no socket on queue 0");
	cr_expect_eq(last(c).verdict, CLS_V_NO_SOCKET);
	cr_assert_eq(cls_xsk_clear(c, 3, 1), 0);
	cr_assert_eq(cls_xsk_clear(c, 3, 1), 0, "clearing twice is fine");
	cr_expect_eq(run_on(c, f, len, va, 1), XDP_PASS);
	struct cls_stats s = stats(c);
	cr_expect_eq(s.matched[3], 3);
	cr_expect_eq(s.no_socket, 2);
	cr_expect_eq(cls_xsk_set(c, 0, 1, xsk_socket__fd(xsk)), -EINVAL, "chain 0");
	cr_expect_eq(cls_xsk_set(c, 3, GEN_MAX_QUEUES, xsk_socket__fd(xsk)), -EINVAL, "queue 64");
	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
	munmap(area, sz);
	cls_close(c, false);
}

/* ---- attach / detach ---- */

static int foreign_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = XDP_PASS }, /* r0 = XDP_PASS */
		{ .code = 0x95 },                                /* exit */
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "other_xdp", "GPL", insns, 2, NULL);

	cr_assert_geq(fd, 0, "load a foreign XDP program: %s", strerror(errno));
	return fd;
}

static uint32_t xdp_id(int ifindex, uint32_t mode)
{
	uint32_t id = 0;

	cr_assert_eq(bpf_xdp_query_id(ifindex, mode, &id), 0);
	return id;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);

	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

/* Whether program id runs on ifindex: in libxdp's dispatcher there, or attached alone. */
static bool runs_on(int ifindex, uint32_t id)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;
	bool found = false;

	if (!mp || libxdp_get_error(mp))
		return false;
	if (xdp_multiprog__is_legacy(mp))
		found = xdp_program__id(xdp_multiprog__main_prog(mp)) == id;
	while (!found && (p = xdp_multiprog__next_prog(p, mp)))
		found = xdp_program__id(p) == id;
	xdp_multiprog__close(mp);
	return id && found;
}

Test(bpf, attach_detach_leaves_others)
{
	int va, vb;
	struct cls *c = open_or_skip(), *c2;
	char err[256];
	int other = foreign_prog();
	uint32_t id, id2;

	private_netns(&va, &vb);
	cr_assert_eq(bpf_xdp_attach(vb, other, XDP_FLAGS_DRV_MODE, NULL), 0);
	cr_assert_eq(cls_attach(c, va, true), 0, "%s", cls_strerror(c));
	id = cls_attached_id(c, va);
	cr_expect(runs_on(va, id), "our copy (id %u) is not on va", id);
	cr_expect_neq(id, prog_id(cls_prog_fd(c)), "the attached copy is not the test-run program");
	cr_expect_eq(cls_attach(c, va, true), 0, "attaching twice is idempotent");
	cr_expect_eq(cls_attached_id(c, va), id, "attaching twice keeps the program");
	cr_expect_eq(cls_attach(c, vb, true), -EBUSY, "must not replace a foreign program");
	cr_expect(strstr(cls_strerror(c), "'vb'") != NULL, "message names the interface: %s", cls_strerror(c));
	cr_expect_eq(xdp_id(vb, XDP_FLAGS_DRV_MODE), prog_id(other));

	/* A second instance (a restarted daemon) takes over va from the first. */
	c2 = cls_open(NULL, err, sizeof(err));
	cr_assert_not_null(c2, "%s", err);
	cr_assert_eq(cls_attach(c2, va, true), 0, "%s", cls_strerror(c2));
	id2 = cls_attached_id(c2, va);
	cr_expect(runs_on(va, id2), "the new instance's copy is not on va");
	cr_expect_not(runs_on(va, id), "the old instance's copy is still on va");
	/* The first one's detach must not remove the second's program. */
	cr_expect_eq(cls_detach_all(c), 0);
	cr_expect(runs_on(va, id2));
	cls_close(c2, false); /* detaches */
	cr_expect_eq(xdp_id(va, XDP_FLAGS_DRV_MODE), 0, "the dispatcher goes with the last program");
	cr_expect_eq(xdp_id(vb, XDP_FLAGS_DRV_MODE), prog_id(other), "the foreign program stays");

	/* A lone gen_cls (an older gend, or libxdp without a dispatcher) is replaced too. */
	cr_assert_eq(bpf_xdp_attach(va, cls_prog_fd(c), XDP_FLAGS_DRV_MODE, NULL), 0);
	c2 = cls_open(NULL, err, sizeof(err));
	cr_assert_not_null(c2, "%s", err);
	cr_assert_eq(cls_attach(c2, va, true), 0, "over a lone gen_cls: %s", cls_strerror(c2));
	cr_expect(runs_on(va, cls_attached_id(c2, va)));
	cr_expect_not(runs_on(va, prog_id(cls_prog_fd(c))));
	cls_close(c2, false);

	cr_assert_eq(cls_attach(c, va, false), 0, "skb mode: %s", cls_strerror(c));
	cr_expect(runs_on(va, cls_attached_id(c, va)));
	cr_expect_neq(xdp_id(va, XDP_FLAGS_SKB_MODE), 0);
	cls_close(c, false);
	cr_expect_eq(xdp_id(va, XDP_FLAGS_SKB_MODE), 0);
	close(other);
}

/* ---- pins and bpftool ---- */

Test(bpf, pinned_maps_dump_named_fields)
{
	struct cls *c = open_or_skip(), *c2;
	char dir[64], cmd[256], err[256], line[512];
	struct cls_rule r = rule(IP(10, 1, 0, 0), 16, 0, 0, IPPROTO_TCP, 0, 65535, 443, 443, 0, 77);
	bool chain = false, src_len = false, dport = false, in = false, prio = false, proto = false;
	struct stat st;
	FILE *out;

	cls_close(c, false);
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/gen-test-%d", getpid());
	c = cls_open(dir, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	/* A crashed run leaves pins: a new instance replaces them. */
	c2 = cls_open(dir, err, sizeof(err));
	cr_assert_not_null(c2, "reopen over stale pins: %s", err);
	cls_close(c, false);
	c = c2;
	cr_assert_eq(cls_set_rules(c, &r, 1), 0);

	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/gen_rules 2>&1", dir);
	out = popen(cmd, "r");
	cr_assert_not_null(out);
	while (fgets(line, sizeof(line), out)) {
		chain |= strstr(line, "\"chain_id\": 77") != NULL;
		src_len |= strstr(line, "\"src_len\": 16") != NULL;
		dport |= strstr(line, "\"dport_lo\": 443") != NULL;
		proto |= strstr(line, "\"proto\": 6") != NULL;
		in |= strstr(line, "\"in_ifindex\"") != NULL;
		prio |= strstr(line, "\"priority\"") != NULL;
	}
	cr_expect_eq(pclose(out), 0, "%s failed", cmd);
	cr_expect(chain && src_len && dport && proto && in && prio, "bpftool did not print named fields");

	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/gen_config 2>&1 | grep -q '\"unmatched_drop\"'", dir);
	cr_expect_eq(system(cmd), 0, "gen_config fields by name");
	cls_close(c, true);
	cr_expect_neq(stat(dir, &st), 0, "%s still exists after unpin", dir);
}
