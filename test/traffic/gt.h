/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gen-traffic: the packet generator and checker used by the demo, the
 * end-to-end tests and the benchmarks.
 *
 * Every frame it sends carries a GEN header as the first bytes of the L4
 * payload, then (optionally) a user payload, then a deterministic fill derived
 * from (stream, seq) so the receiver can verify each byte without state.
 */
#ifndef GEN_TRAFFIC_GT_H
#define GEN_TRAFFIC_GT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GT_ETH_LEN 14
#define GT_VLAN_LEN 4
#define GT_IP_LEN 20
#define GT_UDP_LEN 8
#define GT_TCP_LEN 20
#define GT_FRAME_MIN 60   /* Ethernet minimum without the 4-byte FCS */
#define GT_FRAME_MAX 1514 /* 1500 MTU + Ethernet header, no FCS */
#define GT_FRAME_BUF 2048

/*
 * The GEN header, big endian on the wire. It is 18 bytes so that a minimum
 * 60-byte Ethernet/IPv4/UDP frame (64 B on the wire with FCS) carries it
 * whole: 60 - 14 - 20 - 8 = 18. Sequence numbers and timestamps are
 * therefore 48 bits on the wire: 2^48 packets per stream, and the low 48 bits
 * of CLOCK_MONOTONIC in ns (latency is computed modulo 2^48 ns, about 78 h).
 */
struct gt_hdr {
	uint8_t magic[2];
	uint8_t stream[2];
	uint8_t seq[6];
	uint8_t ts[6];
	uint8_t flags;
	uint8_t mark_len; /* user payload bytes right after this header */
};
_Static_assert(sizeof(struct gt_hdr) == 18, "GEN header is 18 bytes on the wire");

#define GT_MAGIC0 0xE6
#define GT_MAGIC1 0x4E
#define GT_F_MARKED (1u << 0)    /* carries the --payload-hex bytes */
#define GT_F_FILL_ZERO (1u << 1) /* fill is zeros instead of the pseudo-random pattern */
#define GT_F_KNOWN (GT_F_MARKED | GT_F_FILL_ZERO)
#define GT_SEQ_MASK ((1ull << 48) - 1)
#define GT_PAYLOAD_MAX 255 /* mark_len is one byte */

/* IMIX: 7:4:1 of these frame sizes (no FCS; 64/594/1518 with FCS). */
#define GT_IMIX_CYCLE 12
extern const uint16_t gt_imix_sizes[GT_IMIX_CYCLE];

struct gt_send_opts {
	const char *ifname;
	bool json;
	uint8_t src_mac[6], dst_mac[6];
	bool have_src_mac;
	uint32_t src_ip, dst_ip; /* network order */
	uint16_t sport;
	uint32_t flows;
	uint16_t dport_lo, dport_hi;
	int proto; /* IPPROTO_UDP or IPPROTO_TCP */
	uint64_t rate;     /* packets per second, 0 = as fast as possible */
	uint32_t burst;    /* 0 = pick from the rate */
	uint64_t count;    /* 0 = unlimited */
	double duration;   /* seconds, 0 = unlimited */
	uint32_t size;     /* frame size without FCS, or 0 with imix */
	bool imix;
	int vlan;          /* -1 = untagged */
	uint8_t ttl;
	uint8_t payload[GT_PAYLOAD_MAX];
	uint32_t payload_len;
	uint64_t payload_every;
	uint16_t stream;
	uint64_t first_seq;
	bool udp_csum;
	bool fill_zero;
	int cpu;           /* -1 = no pinning; with threads, thread t gets cpu + t */
	uint32_t threads;  /* sender threads, each with its own socket, stream and flows */
	int queue_base;    /* -1 = unset; thread t sends on TX queue queue_base + t */
	bool afxdp;        /* AF_XDP socket instead of AF_PACKET */
	uint32_t xdp_frames; /* UMEM frames per AF_XDP socket */
	uint32_t tx_budget;  /* --tx-budget: frames per sendto() (0: the kernel's 32) */
	bool xdp_live;     /* BPF_PROG_RUN live frames (gt_live.c) instead of a socket */
	const char *xdp_obj; /* xdp_live.bpf.o, or NULL: next to the binary */
};

struct gt_recv_opts {
	const char *ifname;
	bool json;
	double duration, idle;
	uint64_t count;
	int64_t expect; /* -1 = judge loss per stream from the highest seq */
	const char *ready_file;
	const char *dump;       /* per-packet lines: stream seq ttl tos src_mac sport */
	uint32_t ring_frames;
	int cpu;
	bool xdp_pass;       /* attach xdp_live.bpf.o's pass-through program while receiving */
	const char *xdp_obj; /* NULL: next to the binary */
};

/* One frame layout: the headers of a given size, pre-built once. */
struct gt_tmpl {
	uint8_t buf[GT_FRAME_BUF];
	uint32_t len;      /* frame length */
	uint32_t l3_off;   /* IPv4 header */
	uint32_t l4_off;   /* UDP/TCP header */
	uint32_t gen_off;  /* GEN header */
	uint32_t fill_off; /* first byte after the GEN header */
	uint64_t pseudo_sum; /* L4 pseudo-header, unfolded */
};

/* What the receiver reads out of one frame. */
struct gt_parsed {
	uint32_t wire_len;   /* frame bytes seen */
	int vlan;            /* -1 = untagged (inline tag only) */
	uint8_t ttl, proto;
	uint16_t sport, dport;
	uint16_t stream;
	uint64_t seq, ts;
	uint8_t flags, mark_len;
	const uint8_t *src_mac, *dst_mac;
};

enum gt_parse_result {
	GT_P_OK = 0,
	GT_P_FOREIGN,    /* not a GEN frame: ignored */
	GT_P_BAD_HDR,    /* GEN magic but impossible header or lengths */
	GT_P_BAD_IP_CSUM,
	GT_P_BAD_L4_CSUM,
	GT_P_BAD_FILL,
	GT_P_MAX,
};

/* Classify and verify one frame; fills ret for everything but GT_P_FOREIGN. */
enum gt_parse_result gt_parse(const uint8_t *f, uint32_t len, struct gt_parsed *ret);

/* Patch-ready frame for packet (flow, dport, seq); returns the frame length. */
void gt_tmpl_init(struct gt_tmpl *t, const struct gt_send_opts *o, uint32_t len);
uint32_t gt_min_frame(const struct gt_send_opts *o, uint32_t payload_len);

/*
 * Write packet seq of the template into dst (ports, GEN header, payload,
 * fill) with the timestamp left zero; returns the unfolded L4 checksum sum
 * that gt_stamp() completes once the send time is known.
 */
uint64_t gt_build(uint8_t *dst, const struct gt_tmpl *t, const struct gt_send_opts *o,
		  uint16_t sport, uint16_t dport, uint64_t seq, bool marked);
void gt_stamp(uint8_t *dst, const struct gt_tmpl *t, const struct gt_send_opts *o,
	      uint64_t partial, uint64_t ts_ns);

/* Internet checksum helpers. */
uint64_t gt_csum_add(uint64_t sum, const void *data, size_t len);
uint16_t gt_csum_fold(uint64_t sum);

/* The fill bytes for (stream, seq) at byte offsets [0, len) of the fill. */
void gt_fill(uint8_t *dst, size_t len, uint16_t stream, uint64_t seq, bool zero);
/* Index of the first byte that differs from the fill, or len if none. */
size_t gt_fill_check(const uint8_t *p, size_t len, uint16_t stream, uint64_t seq,
		     bool zero);

static inline void gt_put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t gt_get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

uint64_t gt_now_ns(void);
/* CPU seconds used by this process, kernel time included. */
double gt_cpu_secs(void);
int gt_pin_cpu(int cpu);
int gt_ifindex(const char *ifname, uint8_t ret_mac[6]);
extern volatile int gt_stop;
void gt_install_signals(void);

int gt_send(const struct gt_send_opts *o);
int gt_recv(const struct gt_recv_opts *o);
int gt_selftest(void);

/* The XDP sender and the receiver's pass-through program (gt_live.c). */
int gt_live_open(const struct gt_send_opts *o);
void gt_live_close(void);
int gt_live_run(const uint8_t *frame, const struct gt_tmpl *t, const struct gt_send_opts *o,
		uint64_t *sent, uint64_t n);
int gt_live_pass_attach(const char *ifname, const char *obj);
void gt_live_pass_detach(void);

#endif
