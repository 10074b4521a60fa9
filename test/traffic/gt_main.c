// SPDX-License-Identifier: GPL-2.0
/* gen-traffic command line: send, recv, selftest. */
#include "gt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

volatile int gt_stop;

uint64_t gt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double gt_cpu_secs(void)
{
	struct rusage ru;

	/* On veth the receive side's softirq work mostly runs inside the
	 * sender's system calls, so the sender's figure includes it. */
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int gt_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

int gt_ifindex(const char *ifname, uint8_t ret_mac[6])
{
	struct ifreq ifr = { 0 };
	unsigned int idx = if_nametoindex(ifname);
	int fd, r = 0;

	if (!idx)
		return -errno;
	if (!ret_mac)
		return (int)idx;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		r = -errno;
	else
		memcpy(ret_mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return r < 0 ? r : (int)idx;
}

static void on_signal(int sig)
{
	(void)sig;
	gt_stop = 1;
}

void gt_install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a blocked poll()/sendmmsg() must return to see the flag. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gen-traffic send -i|--dev IFNAME [options]\n"
		"       gen-traffic recv -i|--dev IFNAME [options]\n"
		"       gen-traffic selftest\n"
		"send: --src-mac MAC --dst-mac MAC --src IP --dst IP --sport N --dport N[-M]\n"
		"      --flows N --proto udp|tcp --rate PPS --burst N --count N --duration SEC\n"
		"      --size BYTES (FCS counted, 64..1518) | --imix, --vlan ID, --ttl N\n"
		"      --payload-hex HEX --payload-every K --stream ID --first-seq N\n"
		"      --fill random|zero"
		" --no-udp-csum --cpu N --json\n"
		"      --threads N --queue-base Q --afxdp --xdp-frames N --tx-budget N --xdp-live --xdp-obj PATH\n"
		"recv: --duration SEC --count N --idle SEC --expect N --ready-file PATH --dump FILE\n"
		"      --ring-frames N --cpu N --xdp-pass --xdp-obj PATH --json\n"
		"See test/traffic/README.md.\n");
}

/* Strict unsigned parse: the whole string, in [lo, hi]. */
static int parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "gen-traffic: --%s: '%s' is not a number in %llu..%llu\n", opt, s,
			(unsigned long long)lo, (unsigned long long)hi);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_secs(const char *opt, const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e9) {
		fprintf(stderr, "gen-traffic: --%s: '%s' is not a number of seconds\n", opt, s);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_mac(const char *opt, const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		goto bad;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			goto bad;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
bad:
	fprintf(stderr, "gen-traffic: --%s: '%s' is not a MAC address\n", opt, s);
	return -EINVAL;
}

static int parse_ip(const char *opt, const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "gen-traffic: --%s: '%s' is not an IPv4 address\n", opt, s);
		return -EINVAL;
	}
	*ret = a.s_addr;
	return 0;
}

static int parse_hex(const char *s, uint8_t *out, uint32_t *ret_len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > GT_PAYLOAD_MAX || !n) {
		fprintf(stderr, "gen-traffic: --payload-hex: need an even number of hex digits, "
			"1..%d bytes\n", GT_PAYLOAD_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1])) {
			fprintf(stderr, "gen-traffic: --payload-hex: bad hex digit at offset %zu\n",
				2 * i);
			return -EINVAL;
		}
		out[i] = (uint8_t)b;
	}
	*ret_len = (uint32_t)(n / 2);
	return 0;
}

enum {
	O_SRC_MAC = 256, O_DST_MAC, O_SRC, O_DST, O_SPORT, O_DPORT, O_FLOWS, O_PROTO, O_RATE,
	O_BURST, O_COUNT, O_DURATION, O_SIZE, O_IMIX, O_VLAN, O_TTL, O_PAYLOAD_HEX,
	O_PAYLOAD_EVERY, O_STREAM, O_FILL, O_NO_UDP_CSUM, O_CPU, O_JSON, O_IDLE, O_EXPECT,
	O_READY_FILE, O_DUMP, O_RING_FRAMES, O_FIRST_SEQ, O_THREADS, O_QUEUE_BASE, O_AFXDP,
	O_XDP_FRAMES, O_XDP_LIVE, O_XDP_OBJ, O_XDP_PASS, O_TX_BUDGET,
};

static const struct option send_long[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "dev", required_argument, NULL, 'i' },
	{ "src-mac", required_argument, NULL, O_SRC_MAC },
	{ "dst-mac", required_argument, NULL, O_DST_MAC },
	{ "src", required_argument, NULL, O_SRC },
	{ "dst", required_argument, NULL, O_DST },
	{ "sport", required_argument, NULL, O_SPORT },
	{ "dport", required_argument, NULL, O_DPORT },
	{ "flows", required_argument, NULL, O_FLOWS },
	{ "proto", required_argument, NULL, O_PROTO },
	{ "rate", required_argument, NULL, O_RATE },
	{ "burst", required_argument, NULL, O_BURST },
	{ "count", required_argument, NULL, O_COUNT },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "size", required_argument, NULL, O_SIZE },
	{ "imix", no_argument, NULL, O_IMIX },
	{ "vlan", required_argument, NULL, O_VLAN },
	{ "ttl", required_argument, NULL, O_TTL },
	{ "payload-hex", required_argument, NULL, O_PAYLOAD_HEX },
	{ "payload-every", required_argument, NULL, O_PAYLOAD_EVERY },
	{ "stream", required_argument, NULL, O_STREAM },
	{ "first-seq", required_argument, NULL, O_FIRST_SEQ },
	{ "fill", required_argument, NULL, O_FILL },
	{ "no-udp-csum", no_argument, NULL, O_NO_UDP_CSUM },
	{ "cpu", required_argument, NULL, O_CPU },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "queue-base", required_argument, NULL, O_QUEUE_BASE },
	{ "afxdp", no_argument, NULL, O_AFXDP },
	{ "xdp-frames", required_argument, NULL, O_XDP_FRAMES },
	{ "tx-budget", required_argument, NULL, O_TX_BUDGET },
	{ "xdp-live", no_argument, NULL, O_XDP_LIVE },
	{ "xdp-obj", required_argument, NULL, O_XDP_OBJ },
	{ "json", no_argument, NULL, O_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int parse_send(int argc, char **argv, struct gt_send_opts *o)
{
	static const uint8_t def_dst[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	uint64_t v;
	int c, r = 0;

	memset(o, 0, sizeof(*o));
	memcpy(o->dst_mac, def_dst, 6);
	inet_pton(AF_INET, "10.0.0.1", &o->src_ip);
	inet_pton(AF_INET, "10.0.1.1", &o->dst_ip);
	o->sport = 1024;
	o->flows = 1;
	o->dport_lo = o->dport_hi = 5000;
	o->proto = IPPROTO_UDP;
	o->size = 64;
	o->vlan = -1;
	o->ttl = 64;
	o->payload_every = 1;
	o->stream = 1;
	o->udp_csum = true;
	o->cpu = -1;
	o->threads = 1;
	o->queue_base = -1;
	o->xdp_frames = 4096;

	while (!r && (c = getopt_long(argc, argv, "i:h", send_long, NULL)) != -1) {
		switch (c) {
		case 'i': o->ifname = optarg; break;
		case O_SRC_MAC: r = parse_mac("src-mac", optarg, o->src_mac); o->have_src_mac = true; break;
		case O_DST_MAC: r = parse_mac("dst-mac", optarg, o->dst_mac); break;
		case O_SRC: r = parse_ip("src", optarg, &o->src_ip); break;
		case O_DST: r = parse_ip("dst", optarg, &o->dst_ip); break;
		case O_SPORT: r = parse_u64("sport", optarg, 0, 65535, &v); o->sport = (uint16_t)v; break;
		case O_DPORT: {
			char *dash = strchr(optarg, '-');

			if (dash) {
				*dash = '\0';
				r = parse_u64("dport", optarg, 0, 65535, &v);
				o->dport_lo = (uint16_t)v;
				if (!r)
					r = parse_u64("dport", dash + 1, o->dport_lo, 65535, &v);
				o->dport_hi = (uint16_t)v;
			} else {
				r = parse_u64("dport", optarg, 0, 65535, &v);
				o->dport_lo = o->dport_hi = (uint16_t)v;
			}
			break;
		}
		case O_FLOWS: r = parse_u64("flows", optarg, 1, 65536, &v); o->flows = (uint32_t)v; break;
		case O_PROTO:
			if (!strcmp(optarg, "udp")) {
				o->proto = IPPROTO_UDP;
			} else if (!strcmp(optarg, "tcp")) {
				o->proto = IPPROTO_TCP;
			} else {
				fprintf(stderr, "gen-traffic: --proto: '%s' is not udp or tcp\n", optarg);
				r = -EINVAL;
			}
			break;
		case O_RATE: r = parse_u64("rate", optarg, 0, 100000000, &o->rate); break;
		case O_BURST: r = parse_u64("burst", optarg, 1, 256, &v); o->burst = (uint32_t)v; break;
		case O_TX_BUDGET: r = parse_u64("tx-budget", optarg, 32, 4096, &v); o->tx_budget = (uint32_t)v; break;
		case O_COUNT: r = parse_u64("count", optarg, 1, GT_SEQ_MASK, &o->count); break;
		case O_DURATION: r = parse_secs("duration", optarg, &o->duration); break;
		case O_SIZE: r = parse_u64("size", optarg, 64, 1518, &v); o->size = (uint32_t)v; break;
		case O_IMIX: o->imix = true; break;
		case O_VLAN: r = parse_u64("vlan", optarg, 0, 4095, &v); o->vlan = (int)v; break;
		case O_TTL: r = parse_u64("ttl", optarg, 0, 255, &v); o->ttl = (uint8_t)v; break;
		case O_PAYLOAD_HEX: r = parse_hex(optarg, o->payload, &o->payload_len); break;
		case O_PAYLOAD_EVERY: r = parse_u64("payload-every", optarg, 1, UINT64_MAX, &o->payload_every); break;
		case O_STREAM: r = parse_u64("stream", optarg, 0, 65535, &v); o->stream = (uint16_t)v; break;
		case O_FIRST_SEQ: r = parse_u64("first-seq", optarg, 0, GT_SEQ_MASK, &o->first_seq); break;
		case O_FILL:
			if (!strcmp(optarg, "zero") || !strcmp(optarg, "random")) {
				o->fill_zero = optarg[0] == 'z';
			} else {
				fprintf(stderr, "gen-traffic: --fill: '%s' is not random or zero\n", optarg);
				r = -EINVAL;
			}
			break;
		case O_NO_UDP_CSUM: o->udp_csum = false; break;
		case O_CPU: r = parse_u64("cpu", optarg, 0, 4095, &v); o->cpu = (int)v; break;
		case O_THREADS: r = parse_u64("threads", optarg, 1, 64, &v); o->threads = (uint32_t)v; break;
		case O_QUEUE_BASE: r = parse_u64("queue-base", optarg, 0, 4095, &v); o->queue_base = (int)v; break;
		case O_AFXDP: o->afxdp = true; break;
		case O_XDP_FRAMES:
			r = parse_u64("xdp-frames", optarg, 128, 1u << 18, &v);
			if (!r && (v & (v - 1))) {
				fprintf(stderr, "gen-traffic: --xdp-frames: %llu is not a power of two\n",
					(unsigned long long)v);
				r = -EINVAL;
			}
			o->xdp_frames = (uint32_t)v;
			break;
		case O_XDP_LIVE: o->xdp_live = true; break;
		case O_XDP_OBJ: o->xdp_obj = optarg; break;
		case O_JSON: o->json = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (r)
		return r;
	if (o->xdp_live) {
		/* The program writes the sequence number, time and source port of each copy, nothing else. */
		const char *no = o->afxdp ? "--afxdp" : o->imix ? "--imix" : o->proto != IPPROTO_UDP ? "--proto tcp" : o->rate ? "--rate (it sends as fast as it can)" :
				 o->payload_len ? "--payload-hex" : o->dport_hi != o->dport_lo ? "--dport LO-HI" : NULL;

		if (no) {
			fprintf(stderr, "gen-traffic send: --xdp-live sends copies of one UDP frame: not with %s\n", no);
			return -EINVAL;
		}
		o->udp_csum = false; /* the copies' fields change and nothing recomputes it */
		o->fill_zero = true; /* the fill would follow the sequence number */
	}
	if (!o->afxdp && (o->tx_budget || o->burst > 64)) {
		fprintf(stderr, "gen-traffic send: %s needs --afxdp (an AF_PACKET burst is at most 64)\n",
			o->tx_budget ? "--tx-budget" : "--burst over 64");
		return -EINVAL;
	}
	if (o->cpu >= 0 && o->queue_base >= 0 && !o->afxdp) {
		fprintf(stderr, "gen-traffic send: --queue-base without --afxdp pins the threads "
			"(the kernel picks the queue from the CPU): it cannot go with --cpu\n");
		return -EINVAL;
	}
	if (optind != argc || !o->ifname) {
		fprintf(stderr, "gen-traffic send: %s\n",
			o->ifname ? "unexpected argument" : "-i IFNAME is required");
		return -EINVAL;
	}
	return 0;
}

static const struct option recv_long[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "dev", required_argument, NULL, 'i' },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "count", required_argument, NULL, O_COUNT },
	{ "idle", required_argument, NULL, O_IDLE },
	{ "expect", required_argument, NULL, O_EXPECT },
	{ "ready-file", required_argument, NULL, O_READY_FILE },
	{ "dump", required_argument, NULL, O_DUMP },
	{ "ring-frames", required_argument, NULL, O_RING_FRAMES },
	{ "cpu", required_argument, NULL, O_CPU },
	{ "xdp-pass", no_argument, NULL, O_XDP_PASS },
	{ "xdp-obj", required_argument, NULL, O_XDP_OBJ },
	{ "json", no_argument, NULL, O_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int parse_recv(int argc, char **argv, struct gt_recv_opts *o)
{
	uint64_t v;
	int c, r = 0;

	memset(o, 0, sizeof(*o));
	o->expect = -1;
	o->ring_frames = 16384;
	o->cpu = -1;
	while (!r && (c = getopt_long(argc, argv, "i:h", recv_long, NULL)) != -1) {
		switch (c) {
		case 'i': o->ifname = optarg; break;
		case O_DURATION: r = parse_secs("duration", optarg, &o->duration); break;
		case O_COUNT: r = parse_u64("count", optarg, 1, UINT64_MAX, &o->count); break;
		case O_IDLE: r = parse_secs("idle", optarg, &o->idle); break;
		case O_EXPECT: r = parse_u64("expect", optarg, 0, INT64_MAX, &v); o->expect = (int64_t)v; break;
		case O_READY_FILE: o->ready_file = optarg; break;
		case O_DUMP: o->dump = optarg; break;
		case O_RING_FRAMES: r = parse_u64("ring-frames", optarg, 512, 1u << 20, &v); o->ring_frames = (uint32_t)v; break;
		case O_CPU: r = parse_u64("cpu", optarg, 0, 4095, &v); o->cpu = (int)v; break;
		case O_XDP_PASS: o->xdp_pass = true; break;
		case O_XDP_OBJ: o->xdp_obj = optarg; break;
		case O_JSON: o->json = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (r)
		return r;
	if (optind != argc || !o->ifname) {
		fprintf(stderr, "gen-traffic recv: %s\n",
			o->ifname ? "unexpected argument" : "-i IFNAME is required");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int r;

	/* Line-buffered even into a pipe: scripts read the report as it comes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "send")) {
		struct gt_send_opts o;

		if (parse_send(argc - 1, argv + 1, &o))
			return 2;
		if (!o.have_src_mac && (r = gt_ifindex(o.ifname, o.src_mac)) < 0) {
			fprintf(stderr, "gen-traffic: interface '%s': %s\n", o.ifname, strerror(-r));
			return 1;
		}
		gt_install_signals();
		return gt_send(&o) ? 1 : 0;
	}
	if (!strcmp(cmd, "recv")) {
		struct gt_recv_opts o;

		if (parse_recv(argc - 1, argv + 1, &o))
			return 2;
		gt_install_signals();
		return gt_recv(&o) ? 1 : 0;
	}
	if (!strcmp(cmd, "selftest"))
		return gt_selftest() ? 1 : 0;
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
