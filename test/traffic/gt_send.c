// SPDX-License-Identifier: GPL-2.0
/*
 * Sender: AF_PACKET raw socket, qdisc bypassed, frames handed over with
 * sendmmsg() in bursts. Frames are patched from pre-built templates; the
 * timestamp and the L4 checksum are completed last, right before the send.
 */
#include "gt.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GT_BATCH 64

struct gt_sender {
	const struct gt_send_opts *o;
	/* [size class][marked] */
	struct gt_tmpl *tmpl[GT_IMIX_CYCLE][2];
	uint32_t n_dports;
	uint8_t bufs[GT_BATCH][GT_FRAME_BUF];
	struct iovec iov[GT_BATCH];
	struct mmsghdr msg[GT_BATCH];
	uint64_t partial[GT_BATCH];
	struct gt_tmpl *used[GT_BATCH];
	uint64_t seq, bytes, errors;
};

static int open_tx(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int fd, one = 1, sndbuf = 4 << 20, r;

	r = gt_ifindex(ifname, NULL);
	if (r < 0)
		return r;
	sll.sll_ifindex = r;
	/* Protocol 0: this socket never receives, so it costs the rx path nothing. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0 ||
	    (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0 &&
	     setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static uint32_t frame_len_for(const struct gt_send_opts *o, uint32_t size_fcs, bool marked)
{
	uint32_t len = size_fcs - 4, min = gt_min_frame(o, marked ? o->payload_len : 0);

	return len < min ? min : len;
}

static int make_templates(struct gt_sender *s)
{
	const struct gt_send_opts *o = s->o;

	for (int c = 0; c < GT_IMIX_CYCLE; c++) {
		uint32_t size = o->imix ? gt_imix_sizes[c] : o->size;

		for (int m = 0; m < 2; m++) {
			uint32_t len = frame_len_for(o, size, m);

			/* Reuse an identical layout instead of building it twice. */
			for (int p = 0; p < c && !s->tmpl[c][m]; p++)
				if (s->tmpl[p][m]->len == len)
					s->tmpl[c][m] = s->tmpl[p][m];
			if (s->tmpl[c][m])
				continue;
			s->tmpl[c][m] = calloc(1, sizeof(struct gt_tmpl));
			if (!s->tmpl[c][m])
				return -ENOMEM;
			gt_tmpl_init(s->tmpl[c][m], o, len);
		}
	}
	return 0;
}

static void free_templates(struct gt_sender *s)
{
	for (int c = 0; c < GT_IMIX_CYCLE; c++)
		for (int m = 0; m < 2; m++) {
			struct gt_tmpl *t = s->tmpl[c][m];

			if (!t)
				continue;
			/* Shared layouts appear several times: free each once. */
			for (int cc = c; cc < GT_IMIX_CYCLE; cc++)
				if (s->tmpl[cc][m] == t)
					s->tmpl[cc][m] = NULL;
			free(t);
		}
}

/* Build the next n frames (seq first_seq + sent, ...); returns n. */
static unsigned int build_batch(struct gt_sender *s, unsigned int n)
{
	const struct gt_send_opts *o = s->o;
	uint64_t now;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t seq = o->first_seq + s->seq + i;
		bool marked = o->payload_len && seq % o->payload_every == 0;
		struct gt_tmpl *t = s->tmpl[o->imix ? seq % GT_IMIX_CYCLE : 0][marked];
		uint16_t sport = (uint16_t)(o->sport + seq % o->flows);
		uint16_t dport = (uint16_t)(o->dport_lo + (seq / o->flows) % s->n_dports);

		s->partial[i] = gt_build(s->bufs[i], t, o, sport, dport, seq, marked);
		s->used[i] = t;
		s->iov[i].iov_len = t->len;
	}
	now = gt_now_ns();
	for (unsigned int i = 0; i < n; i++)
		gt_stamp(s->bufs[i], s->used[i], o, s->partial[i], now);
	return n;
}

/* Hand n built frames to the kernel; returns frames sent or -errno. */
static int send_batch(struct gt_sender *s, int fd, unsigned int n)
{
	unsigned int done = 0;

	while (done < n) {
		int r = sendmmsg(fd, s->msg + done, n - done, 0);

		if (r < 0) {
			if (errno == EINTR && gt_stop)
				break;
			if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) {
				/* veth backlog full: back off a little, keep the frames. */
				s->errors++;
				if (errno != EINTR)
					sched_yield();
				continue;
			}
			return -errno;
		}
		for (int i = 0; i < r; i++)
			s->bytes += s->iov[done + i].iov_len;
		done += (unsigned int)r;
	}
	return (int)done;
}

static void pace_wait(uint64_t wait_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(wait_ns / 1000000000ull),
		.tv_nsec = (long)(wait_ns % 1000000000ull),
	};

	/* Oversleeping is harmless: the bucket banks up to 20 ms of tokens. */
	nanosleep(&ts, NULL);
}

static void report(const struct gt_sender *s, uint64_t elapsed_ns)
{
	const struct gt_send_opts *o = s->o;
	double secs = (double)elapsed_ns / 1e9, cpu = gt_cpu_secs();
	double pps = secs > 0 ? (double)s->seq / secs : 0;
	double mbps = secs > 0 ? (double)(s->bytes + 4 * s->seq) * 8 / secs / 1e6 : 0;
	double pps_cpu = cpu > 0 ? (double)s->seq / cpu : 0;
	char size[16];

	if (o->imix)
		snprintf(size, sizeof(size), "\"imix\"");
	else
		snprintf(size, sizeof(size), "%u", s->tmpl[0][0]->len + 4);
	if (o->json) {
		printf("{\"sent\":%llu,\"bytes\":%llu,\"duration_s\":%.6f,\"rate_pps\":%.0f,"
		       "\"rate_mbps\":%.1f,\"cpu_s\":%.3f,\"pps_per_cpu_s\":%.0f,\"retries\":%llu,"
		       "\"stream\":%u,\"proto\":\"%s\",\"size\":%s}\n",
		       (unsigned long long)s->seq, (unsigned long long)s->bytes, secs, pps, mbps, cpu,
		       pps_cpu, (unsigned long long)s->errors, o->stream,
		       o->proto == IPPROTO_TCP ? "tcp" : "udp", size);
	} else {
		printf("sent %llu packets (%llu bytes) in %.3f s: %.0f pps, %.1f Mbit/s"
		       " (FCS counted), stream %u, %llu send retries\n"
		       "cpu %.3f s: %.0f packets per cpu second\n",
		       (unsigned long long)s->seq, (unsigned long long)s->bytes, secs, pps, mbps,
		       o->stream, (unsigned long long)s->errors, cpu, pps_cpu);
	}
}

int gt_send(const struct gt_send_opts *o)
{
	struct gt_sender *s;
	uint64_t t0, last, tokens, cap, deadline, end;
	uint32_t burst;
	int fd, r = 0;

	if (o->cpu >= 0 && (r = gt_pin_cpu(o->cpu)) < 0) {
		fprintf(stderr, "gen-traffic: cannot pin to cpu %d: %s\n", o->cpu, strerror(-r));
		return r;
	}
	fd = open_tx(o->ifname);
	if (fd < 0) {
		fprintf(stderr, "gen-traffic: cannot open AF_PACKET socket on '%s': %s\n",
			o->ifname, strerror(-fd));
		return fd;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->o = o;
	s->n_dports = (uint32_t)o->dport_hi - o->dport_lo + 1;
	r = make_templates(s);
	if (r < 0)
		goto out;
	if (!o->imix && s->tmpl[0][0]->len + 4 > o->size)
		fprintf(stderr, "gen-traffic: --size %u is below the minimum for these headers "
			"and the GEN header; sending %u B frames (FCS counted)\n",
			o->size, s->tmpl[0][0]->len + 4);
	for (int i = 0; i < GT_BATCH; i++) {
		s->iov[i].iov_base = s->bufs[i];
		s->msg[i].msg_hdr.msg_iov = &s->iov[i];
		s->msg[i].msg_hdr.msg_iovlen = 1;
	}

	/* burst: frames per sendmmsg() when paced, about one call per 50 us. */
	burst = o->burst;
	if (!burst)
		burst = o->rate ? (uint32_t)(o->rate / 20000) : GT_BATCH;
	burst = burst < 1 ? 1 : burst > GT_BATCH ? GT_BATCH : burst;
	/*
	 * Token bucket in nano-packets (rate of them per ns). It banks 20 ms of
	 * traffic (at least two bursts, at most 512 frames: the veth backlog
	 * holds 1000) so that waking up late on a busy machine does not lower
	 * the rate; a longer stall is not made up for.
	 */
	cap = o->rate / 50 < 512 ? o->rate / 50 : 512;
	cap = cap > 2 * burst ? cap : 2 * burst;
	cap *= 1000000000ull;
	tokens = (uint64_t)burst * 1000000000ull;
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	t0 = last = gt_now_ns();
	deadline = o->duration > 0 ? t0 + (uint64_t)(o->duration * 1e9) : UINT64_MAX;

	while (!gt_stop) {
		uint64_t now = gt_now_ns();
		uint64_t n = o->rate ? GT_BATCH : burst, want = burst;

		if (now >= deadline)
			break;
		if (o->count && o->count - s->seq < n)
			n = o->count - s->seq;
		if (!n)
			break;
		if (o->rate) {
			uint64_t dt = now - last;

			if (dt > 1000000000ull)
				dt = 1000000000ull;
			last = now;
			tokens += dt * o->rate;
			if (tokens > cap)
				tokens = cap;
			if (want > n)
				want = n;
			if (tokens < want * 1000000000ull) {
				uint64_t wait = (want * 1000000000ull - tokens + o->rate - 1) / o->rate;

				pace_wait(wait < deadline - now ? wait : deadline - now);
				continue;
			}
			if (tokens / 1000000000ull < n)
				n = tokens / 1000000000ull;
			tokens -= n * 1000000000ull;
		}
		build_batch(s, (unsigned int)n);
		r = send_batch(s, fd, (unsigned int)n);
		if (r < 0) {
			fprintf(stderr, "gen-traffic: send on '%s' failed: %s\n", o->ifname,
				strerror(-r));
			goto out;
		}
		s->seq += (uint64_t)r;
	}
	end = gt_now_ns();
	report(s, end - t0);
	r = 0;
out:
	free_templates(s);
	free(s);
	close(fd);
	return r;
}
