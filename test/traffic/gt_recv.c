// SPDX-License-Identifier: GPL-2.0
/*
 * Receiver: AF_PACKET with a TPACKET_V3 rx ring. Latency is taken from the
 * kernel's receive timestamp of each frame (CLOCK_REALTIME, mapped onto
 * CLOCK_MONOTONIC), so it measures the path up to the ring, not how soon this
 * process got to see it: V3 hands frames over a block at a time, and the
 * reader naps between ring scans instead of sleeping in poll(). With no
 * sleeper on the socket the sending side is spared one wake-up per packet
 * (a tenth of its time on veth), and V3's per-block bookkeeping spares it
 * V2's per-frame cache misses on slots this reader just touched.
 */
#include "gt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GT_RING_BLOCK (1u << 18)
/* A block not full after this long is handed over anyway (ms). */
#define GT_RING_TOV_MS 2
/* Duplicate detection remembers this many sequence numbers behind the highest. */
#define GT_WIN_BITS (1u << 20)

/* Latency histogram: exact below 64 ns, then 64 linear steps per power of two. */
#define GT_LAT_SUB 64
#define GT_LAT_BUCKETS ((48 - 5) * GT_LAT_SUB)

/* The first gaps in a stream's sequence are kept to report where loss fell. */
#define GT_GAPS 8

struct gt_stream {
	uint64_t received, distinct, duplicates, reordered, hi;
	uint64_t *win;
	uint64_t gap[GT_GAPS][2]; /* [first, last] missing when seen, in order; later arrivals may fill them */
	uint32_t ngaps;
};

struct gt_stats {
	uint64_t received, corrupt, marked, reasons[GT_P_MAX];
	uint64_t vlan_tagged;
	int vlan_first;
	uint64_t size_min, size_max, size_sum, size_hist[7];
	uint8_t ttl_min, ttl_max;
	bool have_first;
	uint8_t first_src[6], first_dst[6];
	uint64_t first_ns, last_ns;
	uint64_t lat[GT_LAT_BUCKETS], lat_max, lat_n;
	uint64_t dports[65536];
	struct gt_stream *streams[65536];
	uint64_t ring_drops;
	uint64_t foreign, foreign_ipv4; /* frames in the ring that were not ours (IPv4 ones apart) */
};

static const char *const size_names[7] = {
	"64", "65-127", "128-255", "256-511", "512-1023", "1024-1518", "1519+",
};

static unsigned int lat_bucket(uint64_t v)
{
	unsigned int e;

	if (v < GT_LAT_SUB)
		return (unsigned int)v;
	e = 63u - (unsigned int)__builtin_clzll(v);
	if (e > 47)
		return GT_LAT_BUCKETS - 1;
	return (e - 5) * GT_LAT_SUB + (unsigned int)((v >> (e - 6)) & (GT_LAT_SUB - 1));
}

/* Middle of bucket b in ns. */
static double lat_value(unsigned int b)
{
	unsigned int e, sub;

	if (b < GT_LAT_SUB)
		return b;
	e = b / GT_LAT_SUB + 5;
	sub = b % GT_LAT_SUB;
	return (double)((1ull << e) + ((uint64_t)sub << (e - 6))) + (double)(1ull << (e - 6)) / 2;
}

static double lat_pct(const struct gt_stats *st, double p)
{
	uint64_t want, acc = 0;

	if (!st->lat_n)
		return 0;
	want = (uint64_t)(p * (double)st->lat_n + 0.999999);
	if (want < 1)
		want = 1;
	for (unsigned int b = 0; b < GT_LAT_BUCKETS; b++) {
		acc += st->lat[b];
		if (acc >= want) {
			double v = lat_value(b);

			return v > (double)st->lat_max ? (double)st->lat_max : v;
		}
	}
	return (double)st->lat_max;
}

static unsigned int size_class(uint64_t fcs_len)
{
	static const uint64_t lim[6] = { 64, 127, 255, 511, 1023, 1518 };

	for (unsigned int i = 0; i < 6; i++)
		if (fcs_len <= lim[i])
			return i;
	return 6;
}

static inline bool win_test_set(uint64_t *w, uint64_t seq)
{
	uint64_t i = seq & (GT_WIN_BITS - 1), m = 1ull << (i & 63);
	bool was = w[i >> 6] & m;

	w[i >> 6] |= m;
	return was;
}

static inline void win_clear(uint64_t *w, uint64_t seq)
{
	uint64_t i = seq & (GT_WIN_BITS - 1);

	w[i >> 6] &= ~(1ull << (i & 63));
}

static int stream_account(struct gt_stats *st, uint16_t id, uint64_t seq)
{
	struct gt_stream *s = st->streams[id];

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->win = calloc(GT_WIN_BITS / 64, sizeof(uint64_t));
		if (!s->win) {
			free(s);
			return -ENOMEM;
		}
		st->streams[id] = s;
		s->received = s->distinct = 1;
		s->hi = seq;
		win_test_set(s->win, seq);
		return 0;
	}
	s->received++;
	if (seq > s->hi + 1 && s->ngaps < GT_GAPS) {
		s->gap[s->ngaps][0] = s->hi + 1;
		s->gap[s->ngaps++][1] = seq - 1;
	}
	if (seq > s->hi) {
		if (seq - s->hi >= GT_WIN_BITS)
			memset(s->win, 0, GT_WIN_BITS / 8);
		else
			for (uint64_t q = s->hi + 1; q < seq; q++)
				win_clear(s->win, q);
		win_clear(s->win, seq);
		win_test_set(s->win, seq);
		s->hi = seq;
		s->distinct++;
	} else if (s->hi - seq >= GT_WIN_BITS) {
		/* Too old to tell a duplicate: count it as a late original. */
		s->reordered++;
		s->distinct++;
	} else if (win_test_set(s->win, seq)) {
		s->duplicates++;
	} else {
		s->reordered++;
		s->distinct++;
	}
	return 0;
}

/* --dump: one line per verified packet, for tests that check packets one by one. */
static FILE *dump_file;

static void dump_packet(const uint8_t *f, const struct gt_parsed *p)
{
	uint32_t l3 = (f[12] == 0x81 && f[13] == 0x00) ? 18 : 14;
	const uint8_t *m = p->src_mac;

	fprintf(dump_file, "%u %llu %u %u %02x:%02x:%02x:%02x:%02x:%02x %u\n", p->stream, (unsigned long long)p->seq,
		p->ttl, f[l3 + 1], m[0], m[1], m[2], m[3], m[4], m[5], p->sport);
}

static int account(struct gt_stats *st, const struct tpacket3_hdr *h, const uint8_t *f,
		   int64_t real_to_mono)
{
	uint64_t now = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec - (uint64_t)real_to_mono;
	struct gt_parsed p;
	enum gt_parse_result res = gt_parse(f, h->tp_snaplen, &p);
	uint64_t fcs_len;
	int vlan;

	if (res == GT_P_FOREIGN) {
		st->foreign++;
		if (h->tp_snaplen >= GT_ETH_LEN && f[12] == 0x08 && f[13] == 0x00)
			st->foreign_ipv4++;
		return 0;
	}
	if (h->tp_snaplen != h->tp_len && res == GT_P_OK)
		res = GT_P_BAD_HDR; /* truncated by the ring: cannot verify */
	st->received++;
	st->reasons[res]++;
	if (!st->first_ns)
		st->first_ns = now;
	st->last_ns = now;
	/* The kernel moves a VLAN tag out of the frame into the ring header. */
	vlan = p.vlan;
	fcs_len = (uint64_t)h->tp_len + 4;
	if (h->tp_status & TP_STATUS_VLAN_VALID) {
		vlan = h->hv1.tp_vlan_tci & 0xfff;
		fcs_len += GT_VLAN_LEN;
	}
	if (res != GT_P_OK) {
		st->corrupt++;
		return 0;
	}
	if (dump_file)
		dump_packet(f, &p);
	if (vlan >= 0) {
		if (!st->vlan_tagged)
			st->vlan_first = vlan;
		st->vlan_tagged++;
	}
	if (!st->have_first) {
		st->have_first = true;
		memcpy(st->first_src, p.src_mac, 6);
		memcpy(st->first_dst, p.dst_mac, 6);
		st->ttl_min = st->ttl_max = p.ttl;
		st->size_min = st->size_max = fcs_len;
	}
	if (p.ttl < st->ttl_min)
		st->ttl_min = p.ttl;
	if (p.ttl > st->ttl_max)
		st->ttl_max = p.ttl;
	if (fcs_len < st->size_min)
		st->size_min = fcs_len;
	if (fcs_len > st->size_max)
		st->size_max = fcs_len;
	st->size_sum += fcs_len;
	st->size_hist[size_class(fcs_len)]++;
	st->dports[p.dport]++;
	if (p.flags & GT_F_MARKED)
		st->marked++;
	{
		/* Both clocks are CLOCK_MONOTONIC; the wire keeps the low 48 bits. */
		uint64_t lat = (now - p.ts) & GT_SEQ_MASK;

		/* Slightly "negative" when the clock mapping is off by more than
		 * the path delay: call it zero rather than 2^48 ns. */
		if (lat > GT_SEQ_MASK / 2)
			lat = 0;

		st->lat[lat_bucket(lat)]++;
		st->lat_n++;
		if (lat > st->lat_max)
			st->lat_max = lat;
	}
	return stream_account(st, p.stream, p.seq);
}

static void fmt_mac(char *out, const uint8_t *m)
{
	sprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

struct gt_totals {
	uint64_t distinct, duplicates, reordered, n_streams;
	int64_t lost;
	double secs, pps;
};

static int64_t stream_lost(const struct gt_stream *s)
{
	return (int64_t)(s->hi + 1 - s->distinct);
}

static void totals(const struct gt_stats *st, const struct gt_recv_opts *o, struct gt_totals *t)
{
	int64_t lost = 0;

	memset(t, 0, sizeof(*t));
	for (unsigned int id = 0; id < 65536; id++) {
		const struct gt_stream *s = st->streams[id];

		if (!s)
			continue;
		t->n_streams++;
		t->distinct += s->distinct;
		t->duplicates += s->duplicates;
		t->reordered += s->reordered;
		lost += stream_lost(s);
	}
	t->lost = o->expect >= 0 ? o->expect - (int64_t)t->distinct : lost;
	t->secs = st->last_ns > st->first_ns ? (double)(st->last_ns - st->first_ns) / 1e9 : 0;
	t->pps = t->secs > 0 ? (double)(st->received - 1) / t->secs : 0;
}

static void report_json(const struct gt_stats *st, const struct gt_recv_opts *o)
{
	struct gt_totals t;
	char src[18] = "", dst[18] = "";
	bool first = true;

	totals(st, o, &t);
	if (st->have_first) {
		fmt_mac(src, st->first_src);
		fmt_mac(dst, st->first_dst);
	}
	printf("{\"received\":%llu,\"lost\":%lld,\"duplicates\":%llu,\"reordered\":%llu,"
	       "\"corrupt\":%llu,\"marked\":%llu,",
	       (unsigned long long)st->received, (long long)t.lost,
	       (unsigned long long)t.duplicates, (unsigned long long)t.reordered,
	       (unsigned long long)st->corrupt, (unsigned long long)st->marked);
	printf("\"corrupt_by\":{\"header\":%llu,\"ip_csum\":%llu,\"l4_csum\":%llu,\"fill\":%llu},",
	       (unsigned long long)st->reasons[GT_P_BAD_HDR],
	       (unsigned long long)st->reasons[GT_P_BAD_IP_CSUM],
	       (unsigned long long)st->reasons[GT_P_BAD_L4_CSUM],
	       (unsigned long long)st->reasons[GT_P_BAD_FILL]);
	printf("\"ring_drops\":%llu,\"foreign\":{\"all\":%llu,\"ipv4\":%llu},", (unsigned long long)st->ring_drops,
	       (unsigned long long)st->foreign, (unsigned long long)st->foreign_ipv4);
	printf("\"latency_us\":{\"p50\":%.1f,\"p95\":%.1f,\"p99\":%.1f,\"max\":%.1f},",
	       lat_pct(st, 0.50) / 1e3, lat_pct(st, 0.95) / 1e3, lat_pct(st, 0.99) / 1e3,
	       (double)st->lat_max / 1e3);
	printf("\"streams\":[");
	for (unsigned int id = 0; id < 65536; id++) {
		const struct gt_stream *s = st->streams[id];

		if (!s)
			continue;
		printf("%s{\"id\":%u,\"received\":%llu,\"lost\":%lld,\"duplicates\":%llu,"
		       "\"reordered\":%llu,\"highest_seq\":%llu,\"gaps\":[",
		       first ? "" : ",", id, (unsigned long long)s->received,
		       (long long)stream_lost(s), (unsigned long long)s->duplicates,
		       (unsigned long long)s->reordered, (unsigned long long)s->hi);
		for (uint32_t g = 0; g < s->ngaps; g++)
			printf("%s[%llu,%llu]", g ? "," : "", (unsigned long long)s->gap[g][0],
			       (unsigned long long)s->gap[g][1]);
		printf("]}");
		first = false;
	}
	printf("],\"dports\":{");
	first = true;
	for (unsigned int d = 0; d < 65536; d++) {
		if (!st->dports[d])
			continue;
		printf("%s\"%u\":%llu", first ? "" : ",", d, (unsigned long long)st->dports[d]);
		first = false;
	}
	printf("},\"sizes\":{\"min\":%llu,\"max\":%llu,\"avg\":%.1f",
	       (unsigned long long)st->size_min, (unsigned long long)st->size_max,
	       st->received - st->corrupt ? (double)st->size_sum / (double)(st->received - st->corrupt)
					  : 0.0);
	for (unsigned int i = 0; i < 7; i++)
		printf(",\"%s\":%llu", size_names[i], (unsigned long long)st->size_hist[i]);
	printf("},\"ttl\":{\"min\":%u,\"max\":%u},", st->ttl_min, st->ttl_max);
	printf("\"first\":{\"src_mac\":\"%s\",\"dst_mac\":\"%s\"},", src, dst);
	printf("\"vlan\":{\"tagged\":%llu,\"id\":%d},", (unsigned long long)st->vlan_tagged,
	       st->vlan_tagged ? st->vlan_first : -1);
	printf("\"duration_s\":%.6f,\"rate_pps\":%.0f,\"cpu_s\":%.3f}\n", t.secs, t.pps,
	       gt_cpu_secs());
}

static void report_text(const struct gt_stats *st, const struct gt_recv_opts *o)
{
	struct gt_totals t;
	char src[18] = "-", dst[18] = "-";

	totals(st, o, &t);
	if (st->have_first) {
		fmt_mac(src, st->first_src);
		fmt_mac(dst, st->first_dst);
	}
	printf("received %llu, lost %lld%s, duplicates %llu, reordered %llu, corrupt %llu"
	       " (header %llu, ip csum %llu, l4 csum %llu, fill %llu), marked %llu\n",
	       (unsigned long long)st->received, (long long)t.lost,
	       o->expect >= 0 ? " (vs --expect)" : "", (unsigned long long)t.duplicates,
	       (unsigned long long)t.reordered, (unsigned long long)st->corrupt,
	       (unsigned long long)st->reasons[GT_P_BAD_HDR],
	       (unsigned long long)st->reasons[GT_P_BAD_IP_CSUM],
	       (unsigned long long)st->reasons[GT_P_BAD_L4_CSUM],
	       (unsigned long long)st->reasons[GT_P_BAD_FILL], (unsigned long long)st->marked);
	printf("rate %.0f pps over %.3f s, ring drops %llu, cpu %.3f s\n", t.pps, t.secs,
	       (unsigned long long)st->ring_drops, gt_cpu_secs());
	printf("latency us: p50 %.1f p95 %.1f p99 %.1f max %.1f\n", lat_pct(st, 0.50) / 1e3,
	       lat_pct(st, 0.95) / 1e3, lat_pct(st, 0.99) / 1e3, (double)st->lat_max / 1e3);
	for (unsigned int id = 0; id < 65536; id++) {
		const struct gt_stream *s = st->streams[id];

		if (s)
			printf("stream %u: received %llu lost %lld duplicates %llu reordered %llu"
			       " highest seq %llu\n",
			       id, (unsigned long long)s->received, (long long)stream_lost(s),
			       (unsigned long long)s->duplicates, (unsigned long long)s->reordered,
			       (unsigned long long)s->hi);
	}
	printf("dports:");
	for (unsigned int d = 0, shown = 0; d < 65536; d++) {
		if (!st->dports[d])
			continue;
		if (shown++ == 32) {
			printf(" ...");
			break;
		}
		printf(" %u=%llu", d, (unsigned long long)st->dports[d]);
	}
	printf("\nsizes (FCS counted): min %llu max %llu;", (unsigned long long)st->size_min,
	       (unsigned long long)st->size_max);
	for (unsigned int i = 0; i < 7; i++)
		if (st->size_hist[i])
			printf(" %s=%llu", size_names[i], (unsigned long long)st->size_hist[i]);
	printf("\nttl min %u max %u; first frame %s -> %s", st->ttl_min, st->ttl_max, src, dst);
	if (st->vlan_tagged)
		printf("; vlan %d on %llu frames", st->vlan_first,
		       (unsigned long long)st->vlan_tagged);
	printf("\n");
}

static void free_stats(struct gt_stats *st)
{
	for (unsigned int id = 0; id < 65536; id++)
		if (st->streams[id]) {
			free(st->streams[id]->win);
			free(st->streams[id]);
		}
	free(st);
}

static int open_rx(const struct gt_recv_opts *o, void **ret_ring, size_t *ret_size,
		   struct tpacket_req3 *req)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd, v = TPACKET_V3, one = 1, r;
	void *ring;

	r = gt_ifindex(o->ifname, NULL);
	if (r < 0)
		return r;
	sll.sll_ifindex = r;
	/* Protocol 0 until bound: nothing from other interfaces lands in the ring. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		return -errno;
	/* ring_frames counts full-size (2 KiB) frames; small ones pack tighter. */
	req->tp_block_size = GT_RING_BLOCK;
	req->tp_frame_size = 2048;
	req->tp_block_nr = (uint32_t)(((uint64_t)o->ring_frames * 2048 + GT_RING_BLOCK - 1) /
				      GT_RING_BLOCK);
	req->tp_frame_nr = req->tp_block_nr * (GT_RING_BLOCK / 2048);
	req->tp_retire_blk_tov = GT_RING_TOV_MS;
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_RX_RING, req, sizeof(*req)) < 0)
		goto fail;
	/* Frames this namespace sends itself (ARP, ICMP errors) are not ours. */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	*ret_size = (size_t)req->tp_block_size * req->tp_block_nr;
	ring = mmap(NULL, *ret_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
	if (ring == MAP_FAILED)
		ring = mmap(NULL, *ret_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		r = -errno;
		munmap(ring, *ret_size);
		close(fd);
		return r;
	}
	*ret_ring = ring;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

/*
 * Account the frames of a block the kernel handed over, stopping at count
 * (0: no limit). Returns 1 when count was reached, 0, or -errno.
 */
static int drain_block(struct gt_stats *st, struct tpacket_block_desc *bd, int64_t offset,
		       uint64_t count)
{
	const uint8_t *p = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;

	for (uint32_t i = 0; i < bd->hdr.bh1.num_pkts; i++) {
		const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)p;
		int r = account(st, h, p + h->tp_mac, offset);

		if (r < 0)
			return r;
		if (count && st->received >= count)
			return 1;
		p += h->tp_next_offset;
	}
	return 0;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns, read between two monotonic samples. */
static int64_t real_to_mono(void)
{
	int64_t best = 0;
	uint64_t best_gap = UINT64_MAX;

	for (int i = 0; i < 3; i++) {
		struct timespec r;
		uint64_t a = gt_now_ns(), b, real;

		clock_gettime(CLOCK_REALTIME, &r);
		b = gt_now_ns();
		real = (uint64_t)r.tv_sec * 1000000000ull + (uint64_t)r.tv_nsec;
		if (b - a < best_gap) {
			best_gap = b - a;
			best = (int64_t)(real - (a + (b - a) / 2));
		}
	}
	return best;
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int gt_recv(const struct gt_recv_opts *o)
{
	struct tpacket_req3 req = { 0 };
	struct tpacket_stats_v3 kst;
	socklen_t kst_len = sizeof(kst);
	struct gt_stats *st;
	uint64_t start, deadline, idle_ns;
	size_t ring_size = 0;
	uint32_t idx = 0;
	int64_t offset;
	uint64_t offset_at;
	void *ring = NULL;
	int fd, r = 0;

	if (o->cpu >= 0 && (r = gt_pin_cpu(o->cpu)) < 0) {
		fprintf(stderr, "gen-traffic: cannot pin to cpu %d: %s\n", o->cpu, strerror(-r));
		return r;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	fd = open_rx(o, &ring, &ring_size, &req);
	if (fd < 0) {
		fprintf(stderr, "gen-traffic: cannot open AF_PACKET rx ring on '%s': %s\n",
			o->ifname, strerror(-fd));
		free(st);
		return fd;
	}
	if (o->dump && !(dump_file = fopen(o->dump, "w"))) {
		fprintf(stderr, "gen-traffic: cannot write dump file '%s': %s\n", o->dump, strerror(errno));
		return -errno;
	}
	if (o->xdp_pass && (r = gt_live_pass_attach(o->ifname, o->xdp_obj)) < 0)
		goto out;
	if (o->ready_file && (r = touch(o->ready_file)) < 0) {
		fprintf(stderr, "gen-traffic: cannot create ready file '%s': %s\n", o->ready_file,
			strerror(-r));
		goto out;
	}
	start = gt_now_ns();
	deadline = o->duration > 0 ? start + (uint64_t)(o->duration * 1e9) : UINT64_MAX;
	idle_ns = o->idle > 0 ? (uint64_t)(o->idle * 1e9) : 0;

	offset = real_to_mono();
	offset_at = start;
	while (!gt_stop) {
		struct tpacket_block_desc *bd =
			(struct tpacket_block_desc *)((uint8_t *)ring + (size_t)idx * GT_RING_BLOCK);
		uint64_t now;

		if (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) {
			r = drain_block(st, bd, offset, o->count);
			__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
			idx = idx + 1 == req.tp_block_nr ? 0 : idx + 1;
			if (r < 0) {
				fprintf(stderr, "gen-traffic: out of memory for stream state\n");
				goto out;
			}
			if (r > 0)
				break;
			continue;
		}
		now = gt_now_ns();
		if (now >= deadline)
			break;
		if (idle_ns && now - (st->last_ns > start ? st->last_ns : start) >= idle_ns)
			break;
		if (now - offset_at > 1000000000ull) {
			/* Follow clock steps; slewing moves both clocks alike. */
			offset = real_to_mono();
			offset_at = now;
		}
		{
			/* Nap briefly while traffic flows, longer when idle. */
			uint64_t quiet = now - (st->last_ns > start ? st->last_ns : start);
			struct timespec nap = { .tv_nsec = quiet < 20000000 ? 50000 : 1000000 };

			nanosleep(&nap, NULL);
		}
	}
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &kst, &kst_len) == 0)
		st->ring_drops = kst.tp_drops;
	if (o->json)
		report_json(st, o);
	else
		report_text(st, o);
	fflush(stdout);
	r = 0;
out:
	if (o->xdp_pass)
		gt_live_pass_detach();
	if (dump_file)
		fclose(dump_file);
	dump_file = NULL;
	munmap(ring, ring_size);
	close(fd);
	free_stats(st);
	return r;
}
