// SPDX-License-Identifier: GPL-2.0
/*
 * Synthetic ports: see synth.h. Frame k of (port P, queue Q) belongs to flow
 * f = k mod flows and is Ethernet 02:00:00:5e:P:Q -> 02:00:00:00:00:02, IPv4
 * 10.Q.(f/256).(f%256) -> 10.255.P.1, TTL 64, then UDP or TCP 1024+f -> 5001, or
 * ICMP echo; its payload starts with gen-traffic's 18-byte header (stream
 * (Q * flows + f) mod 65536, per-flow sequence number, CLOCK_MONOTONIC time) so
 * test/traffic's receiver checks order and latency of frames a chain sends out
 * of a real port; the rest of the frame is zeros. Checksums are valid (UDP: none).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/in.h>
#include "cls.h"
#include "cls_tab.h"
#include "dp.h"
#include "synth.h"

#define SYNTH_BURST 256u
/*
 * Frames written, then classified, at a time: the written lines must still be
 * in L1 when the classifier reads them. Frames land in 32 of L1's 64 sets (see
 * frame_offset()), so a whole 256-frame burst is 8 lines a set, as many as
 * some L1s have ways, besides the stack, templates and tables.
 */
#define SYNTH_CHUNK 32u
/*
 * Frames of a queue a generator running as fast as it can (no rate) lets the
 * chains hold: more only adds cache misses on frames written long ago, as the
 * chains drain a longer backlog at the same rate. A generator with a rate is a
 * NIC instead: it takes every frame the queue has free, as a NIC fills frames
 * while the fill ring has them, so a backlog waits in the chains' rings with
 * its arrival time written, and is counted in their latency.
 */
#define SYNTH_IN_FLIGHT 2048u
#define SYNTH_HDR_MAX 80u  /* Ethernet + IPv4 + TCP + the 18-byte stream header */
#define SYNTH_GT_LEN 18u
#define SYNTH_GT_FILL_ZERO 2u /* gen-traffic's GT_F_FILL_ZERO: the bytes after the header are zeros */
#define SYNTH_IMIX_CYCLE 12

/* IMIX 7:4:1, the same order as gen-traffic's. */
static const uint16_t imix_sizes[SYNTH_IMIX_CYCLE] = { 64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 64, 594 };

/* One (flow, size): the header bytes and where the per-packet fields go. */
struct synth_tmpl {
	uint8_t hdr[SYNTH_HDR_MAX];
	uint16_t hlen, len;   /* header bytes to copy; frame length (no FCS) */
	uint16_t gt_off;      /* offset of the stream header */
	uint16_t csum_off;    /* L4 checksum to patch, 0 = none (UDP) */
	uint32_t csum_base;   /* unfolded sum of the checksummed bytes with seq = ts = 0 */
};

struct synth_port {
	struct synth_cfg cfg;
	uint32_t ifindex;
	uint32_t nsizes;          /* templates per flow: 1, or 3 for IMIX */
	uint8_t size_of[SYNTH_IMIX_CYCLE]; /* IMIX step -> template */
	uint32_t cycle;           /* 1 or SYNTH_IMIX_CYCLE */
	struct synth_tmpl *tmpl;  /* [flow * nsizes + size] */
	uint64_t *seq;            /* next sequence number per flow */
	uint32_t next_flow, next_step;
	uint32_t chunk;           /* frames written before they are classified (GEN_SYNTH_CHUNK) */
	double tokens;
	uint64_t last_ns;
	struct chain_io *route[GEN_MAX_CHAINS];
	struct synth_stats st;
};

bool synth_is_name(const char *port)
{
	return !strncmp(port, SYNTH_PREFIX, strlen(SYNTH_PREFIX));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t sum16(const uint8_t *p, uint32_t len)
{
	uint32_t s = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The low 48 bits of v, big-endian: two stores rather than six. */
static void put48(uint8_t *p, uint64_t v)
{
	uint64_t be = htobe64(v << 16);

	memcpy(p, &be, 6);
}

/* sum16() of what put48(v) writes, without reading it back. */
static uint32_t sum48(uint64_t v)
{
	return (uint32_t)((v >> 32) & 0xffff) + (uint32_t)((v >> 16) & 0xffff) + (uint32_t)(v & 0xffff);
}

static void make_tmpl(struct synth_tmpl *t, const struct synth_port *s, int port, uint32_t q, uint32_t flow,
		      uint32_t wire)
{
	uint8_t proto = s->cfg.proto[flow % (uint32_t)s->cfg.nproto], *h = t->hdr, *ip = h + 14, *l4 = ip + 20;
	uint32_t l4len = proto == IPPROTO_TCP ? 20 : 8, len = wire - 4, seg;
	static const uint8_t dmac[6] = { 2, 0, 0, 0, 0, 2 };

	memset(t, 0, sizeof(*t));
	t->hlen = (uint16_t)(14 + 20 + l4len + SYNTH_GT_LEN);
	if (len < t->hlen)
		len = t->hlen; /* TCP at 64 B: the stream header still fits whole */
	t->len = (uint16_t)len;
	t->gt_off = (uint16_t)(14 + 20 + l4len);
	memcpy(h, dmac, 6);
	memcpy(h + 6, (uint8_t[]){ 2, 0, 0, 0x5e, (uint8_t)port, (uint8_t)q }, 6);
	put16(h + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, len - 14);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, (uint8_t[]){ 10, (uint8_t)q, (uint8_t)(flow >> 8), (uint8_t)flow }, 4);
	memcpy(ip + 16, (uint8_t[]){ 10, 255, (uint8_t)port, 1 }, 4);
	put16(ip + 10, fold(sum16(ip, 20)));
	seg = len - 34;
	if (proto == IPPROTO_ICMP) {
		l4[0] = 8; /* echo request */
		put16(l4 + 4, flow);
	} else {
		put16(l4, 1024 + flow);
		put16(l4 + 2, 5001);
		if (proto == IPPROTO_UDP)
			put16(l4 + 4, seg);
		else
			l4[12] = 5 << 4, l4[13] = 0x10, put16(l4 + 14, 65535); /* ACK, window */
	}
	h[t->gt_off] = 0xE6;
	h[t->gt_off + 1] = 0x4E;
	put16(h + t->gt_off + 2, (q * s->cfg.flows + flow) & 0xffff);
	h[t->gt_off + 16] = SYNTH_GT_FILL_ZERO;
	if (proto == IPPROTO_UDP)
		return;
	/* The zeros after the header add nothing to the sum. */
	t->csum_off = (uint16_t)(34 + (proto == IPPROTO_TCP ? 16 : 2));
	t->csum_base = sum16(l4, l4len + SYNTH_GT_LEN);
	if (proto == IPPROTO_TCP)
		t->csum_base += sum16(ip + 12, 8) + proto + seg;
}

/* GEN_SYNTH_CHUNK=N (1..SYNTH_BURST) overrides SYNTH_CHUNK, to measure the effect. */
static uint32_t synth_chunk(void)
{
	const char *v = getenv("GEN_SYNTH_CHUNK");
	unsigned long n = v ? strtoul(v, NULL, 10) : 0;

	return n >= 1 && n <= SYNTH_BURST ? (uint32_t)n : SYNTH_CHUNK;
}

struct synth_port *synth_new(const struct synth_cfg *c, int port, uint32_t q)
{
	struct synth_port *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cfg = *c;
	s->ifindex = SYNTH_IFINDEX(port);
	s->nsizes = c->size ? 1 : 3;
	s->cycle = c->size ? 1 : SYNTH_IMIX_CYCLE;
	for (int k = 0; k < SYNTH_IMIX_CYCLE; k++)
		s->size_of[k] = imix_sizes[k] == 64 ? 0 : imix_sizes[k] == 594 ? 1 : 2;
	s->tmpl = calloc((size_t)c->flows * s->nsizes, sizeof(*s->tmpl));
	s->seq = calloc(c->flows, sizeof(*s->seq));
	if (!s->tmpl || !s->seq) {
		synth_free(s);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t f = 0; f < c->flows; f++) {
		if (c->size) {
			make_tmpl(&s->tmpl[f], s, port, q, f, c->size);
			continue;
		}
		make_tmpl(&s->tmpl[f * 3], s, port, q, f, 64);
		make_tmpl(&s->tmpl[f * 3 + 1], s, port, q, f, 594);
		make_tmpl(&s->tmpl[f * 3 + 2], s, port, q, f, 1518);
	}
	s->chunk = synth_chunk();
	s->last_ns = now_ns();
	return s;
}

void synth_free(struct synth_port *s)
{
	if (!s)
		return;
	free(s->tmpl);
	free(s->seq);
	free(s);
}

void synth_route(struct synth_port *s, uint32_t cls_id, struct chain_io *io)
{
	if (cls_id < GEN_MAX_CHAINS)
		s->route[cls_id] = io;
}

void synth_unroute(struct synth_port *s, const struct chain_io *io)
{
	for (int i = 0; i < GEN_MAX_CHAINS; i++)
		if (s->route[i] == io)
			s->route[i] = NULL;
}

const struct synth_stats *synth_stats(const struct synth_port *s)
{
	return &s->st;
}

void synth_set_rate(struct synth_port *s, uint64_t pps)
{
	__atomic_store_n(&s->cfg.rate, pps, __ATOMIC_RELAXED);
}

/* synth.h */
bool synth_done(const struct synth_port *s)
{
	return s->cfg.count && s->st.generated >= s->cfg.count;
}

/* Frames the rate allows now, at most want. */
static uint32_t budget(struct synth_port *s, uint32_t want, uint64_t now)
{
	uint64_t rate = __atomic_load_n(&s->cfg.rate, __ATOMIC_RELAXED);
	double cap;

	if (s->cfg.count && s->st.generated + want > s->cfg.count)
		want = (uint32_t)(s->cfg.count - s->st.generated);
	if (s->cfg.count && !want) {
		/* Done: nothing more is asked for, so nothing is missed. */
		s->tokens = 0;
		s->last_ns = now;
		return 0;
	}
	if (!rate) {
		s->last_ns = now;
		return want;
	}
	s->tokens += (double)(now - s->last_ns) * (double)rate / 1e9;
	s->last_ns = now;
	/* At most 1 ms of backlog not yet written, and never less than SYNTH_IN_FLIGHT frames. */
	cap = rate / 1000.0 > SYNTH_IN_FLIGHT ? rate / 1000.0 : SYNTH_IN_FLIGHT;
	if (s->tokens > cap) {
		__atomic_store_n(&s->st.missed, s->st.missed + (uint64_t)(s->tokens - cap), __ATOMIC_RELAXED);
		s->tokens = cap;
	}
	if (s->tokens < want)
		want = (uint32_t)s->tokens;
	s->tokens -= want;
	return want;
}

/* Write the next frame into buf; returns its length. */
static uint32_t make_frame(struct synth_port *s, uint8_t *buf, uint64_t ts)
{
	uint32_t flow = s->next_flow, step = s->next_step;
	const struct synth_tmpl *t = &s->tmpl[flow * s->nsizes + s->size_of[step]];
	uint64_t seq = s->seq[flow]++;
	uint8_t *gt = buf + t->gt_off;

	if (++s->next_flow == s->cfg.flows)
		s->next_flow = 0;
	if (++s->next_step == s->cycle)
		s->next_step = 0;
	memcpy(buf, t->hdr, t->hlen);
	if (t->len > t->hlen)
		memset(buf + t->hlen, 0, t->len - t->hlen);
	put48(gt + 4, seq);
	put48(gt + 10, ts);
	if (t->csum_off)
		put16(buf + t->csum_off, fold(t->csum_base + sum48(seq) + sum48(ts))); /* = sum16(gt + 4, 12) */
	return t->len;
}

/*
 * Where a frame's packet starts: frames are 4 KiB apart, so packets at the same
 * offset in each would all fall into the same few cache sets and miss in L1 and
 * L2 whenever more than a few hundred are in flight; 32 offsets 64 B apart
 * spread them (a NIC's fixed headroom has that problem, the generator need not).
 * The offset must not follow the frame number's low bits alone: on hugepages
 * the frame number's low bits are also the physical address's bits 12-16, so
 * the L2 set (bits 6-16) would repeat every 32 frames (32 sets for all frames;
 * measured 17-26 % slower than normal pages). Adding the next five bits makes
 * every 1024 consecutive frames land in distinct L2 sets, and consecutive
 * frames still in distinct L1 sets.
 */
static uint64_t frame_offset(uint64_t base)
{
	uint64_t k = base / GEN_FRAME_SIZE;

	return ((k + (k >> 5)) % 32) * 64;
}

static void count(uint64_t *c)
{
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

/*
 * Classify d[c0..c1) and append the frames a chain takes to d[0..nd) (nd <= c0,
 * so nothing not yet read is overwritten), handing a run over when the chain
 * changes; returns the new nd. The rest go back to the free frames.
 */
static uint32_t classify(struct qworker *w, struct synth_port *s, const struct cls_tab *t, struct gen_desc *d,
			 uint32_t c0, uint32_t c1, uint32_t nd, struct chain_io **cur)
{
	for (uint32_t i = c0; i < c1; i++) {
		uint64_t addr = d[i].addr;
		uint32_t len = d[i].len, rank, chain;
		struct cls_fields f;
		enum cls_result r = cls_tab_classify(t, (uint8_t *)w->area + addr, len, s->ifindex, &f, &rank, &chain);
		struct chain_io *io = r == CLS_MATCH ? s->route[chain] : NULL;

		if (r == CLS_MATCH)
			count(&s->st.matched[chain]);
		if (!io) {
			count(r == CLS_MATCH ? &s->st.no_socket : r == CLS_MALFORMED ? &s->st.malformed : &s->st.unmatched);
			w->free_frames[w->nfree++] = frame_base(addr);
			continue;
		}
		if (io != *cur && nd) {
			xsk_deliver(w, *cur, d, nd); /* d[0..nd) only: nd <= i, the frames past i are not touched */
			nd = 0;
		}
		*cur = io;
		d[nd++] = (struct gen_desc){ .addr = addr, .len = len };
	}
	return nd;
}

uint32_t synth_rx(struct qworker *w, int p)
{
	struct synth_port *s = w->port[p].synth;
	const struct cls_tab *t = w->cls ? cls_host_table(w->cls) : NULL;
	struct gen_desc d[SYNTH_BURST];
	struct chain_io *cur = NULL;
	uint64_t now = now_ns();
	bool paced = __atomic_load_n(&s->cfg.rate, __ATOMIC_RELAXED) != 0;
	uint32_t n, nd = 0;

	if (!t) {
		s->last_ns = now; /* no table yet: nothing would be classified, and nothing is asked for */
		return 0;
	}
	/* Room: every free frame with a rate (a NIC), at most SYNTH_IN_FLIGHT in the chains without. */
	n = w->nfree;
	if (!paced) {
		uint32_t room = w->in_chains < SYNTH_IN_FLIGHT ? SYNTH_IN_FLIGHT - w->in_chains : 0;

		n = n < room ? n : room;
	}
	if (!n) {
		/* The chains are behind: the rate's tokens pile up (past 1 ms they count as missed). */
		if (paced) {
			for (int i = 0; i < w->nios; i++)
				__atomic_store_n(&w->ios[i]->stalls, w->ios[i]->stalls + 1, __ATOMIC_RELAXED);
			count(&w->no_frame_passes);
		}
		return 0;
	}
	n = budget(s, n < SYNTH_BURST ? n : SYNTH_BURST, now);
	/*
	 * Write a chunk of the burst, then classify it, as a NIC's DMA and then
	 * XDP would. Classifying each frame right after writing it made the
	 * parse's 8-byte read of the addresses (bytes 26-33) wait for the two
	 * 32-byte stores of the header copy it straddles to reach the cache (no
	 * store forwarding across two stores): two thirds of the classifier's
	 * time. A chunk, not the whole burst, so that what was written is still
	 * in L1 when it is read back whatever the burst's size.
	 */
	for (uint32_t c0 = 0; c0 < n; c0 += s->chunk) {
		uint32_t c1 = n - c0 < s->chunk ? n : c0 + s->chunk;

		for (uint32_t i = c0; i < c1; i++) {
			uint64_t base = w->free_frames[--w->nfree], addr = base + frame_offset(base);

			d[i] = (struct gen_desc){ .addr = addr, .len = make_frame(s, (uint8_t *)w->area + addr, now) };
		}
		nd = classify(w, s, t, d, c0, c1, nd, &cur);
	}
	if (nd)
		xsk_deliver(w, cur, d, nd);
	__atomic_store_n(&s->st.generated, s->st.generated + n, __ATOMIC_RELAXED);
	return n;
}
