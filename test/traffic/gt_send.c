// SPDX-License-Identifier: GPL-2.0
/*
 * Sender. Each sender thread owns one socket and one GEN stream:
 *  - AF_PACKET raw socket, qdisc bypassed, frames handed over with
 *    sendmmsg() in bursts (the default);
 *  - AF_XDP (--afxdp): a TX-only xsk socket on one queue of the interface,
 *    frames written straight into its UMEM, one sendto() kick per burst;
 *  - XDP (--xdp-live): the kernel runs xdp_live.bpf.c on copies of one
 *    frame and sends each out of the interface (gt_live.c), no socket.
 * Frames are patched from pre-built templates; the timestamp and the L4
 * checksum are completed last, right before the hand-over.
 *
 * With --threads T, thread t sends stream (stream + t) with source ports
 * sport + t * flows ... sport + t * flows + flows - 1, its share of --count
 * and --rate, and its own sequence numbers from --first-seq: each stream's
 * sequence is dense and in order, so the receiver's per-stream accounting is
 * exactly that of T separate senders.
 */
#include "gt.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include "../../daemon/tx_budget.h"

#define GT_BATCH 64
#define GT_BURST_MAX 256 /* frames per hand-over with --afxdp --burst (AF_PACKET: GT_BATCH) */
#define GT_THREADS_MAX 64
#define GT_XDP_FRAME 2048 /* one UMEM chunk holds one frame (GT_FRAME_BUF) */
#define GT_XDP_TX_RING 2048

_Static_assert(GT_XDP_FRAME >= GT_FRAME_BUF, "a UMEM chunk holds a whole frame");

/* AF_XDP state of one sender thread. */
struct gt_xdp {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill; /* unused: TX only, but the UMEM needs one */
	struct xsk_ring_cons comp;
	struct xsk_ring_prod tx;
	uint8_t *area;
	size_t area_len;
	uint64_t *free_addr; /* stack of UMEM chunks not in flight */
	uint32_t n_free, n_frames;
	uint32_t budget; /* frames one sendto() may send (tx_budget.h) */
	int fd;
};

struct gt_sender {
	struct gt_send_opts o; /* this thread's copy: its stream, ports, count, rate */
	unsigned int idx;
	int queue;             /* AF_XDP queue, or -1 */
	pthread_t tid;
	/* [size class][marked] */
	struct gt_tmpl *tmpl[GT_IMIX_CYCLE][2];
	uint32_t n_dports;
	uint8_t bufs[GT_BATCH][GT_FRAME_BUF]; /* AF_PACKET only */
	uint8_t *dst[GT_BURST_MAX];           /* where frame i of the batch is built */
	uint64_t addr[GT_BURST_MAX];          /* its UMEM address (AF_XDP) */
	struct iovec iov[GT_BURST_MAX];
	struct mmsghdr msg[GT_BATCH];
	uint64_t partial[GT_BURST_MAX];
	struct gt_tmpl *used[GT_BURST_MAX];
	int fd;                /* AF_PACKET socket */
	struct gt_xdp x;
	uint64_t seq, bytes, errors, dropped, kicks;
	uint64_t t_end;
	double cpu_s;
	int err;
};

static pthread_barrier_t start_barrier;
static uint64_t start_ns;

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

/*
 * TX-only AF_XDP socket on one queue. No XDP program is needed (or loaded)
 * for transmitting; without XDP_COPY/XDP_ZEROCOPY the kernel takes zero-copy
 * where the driver has it and copy mode elsewhere (veth).
 */
static int open_xdp(struct gt_xdp *x, const char *ifname, int queue, uint32_t frames, uint32_t budget)
{
	struct xsk_umem_config ucfg = {
		.fill_size = 64,
		.comp_size = frames,
		.frame_size = GT_XDP_FRAME,
		.frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = 0,
		.tx_size = GT_XDP_TX_RING < frames ? GT_XDP_TX_RING : frames,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	int r;

	x->fd = -1;
	x->n_frames = frames;
	x->area_len = (size_t)frames * GT_XDP_FRAME;
	x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		return -errno;
	}
	x->free_addr = calloc(frames, sizeof(*x->free_addr));
	if (!x->free_addr)
		return -ENOMEM;
	for (uint32_t i = 0; i < frames; i++)
		x->free_addr[i] = (uint64_t)(frames - 1 - i) * GT_XDP_FRAME;
	x->n_free = frames;
	r = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fill, &x->comp, &ucfg);
	if (r) {
		x->umem = NULL;
		return r < 0 ? r : -r;
	}
	r = xsk_socket__create(&x->xsk, ifname, (uint32_t)queue, x->umem, NULL, &x->tx, &scfg);
	if (r) {
		x->xsk = NULL;
		return r < 0 ? r : -r;
	}
	x->fd = xsk_socket__fd(x->xsk);
	x->budget = GEN_KERNEL_TX_BATCH;
	if (budget > GEN_KERNEL_TX_BATCH) {
		/* A kernel that refuses it sends 32 a call: said here and in the JSON's tx_budget. */
		errno = 0;
		x->budget = tx_budget_set(x->fd, budget, scfg.tx_size);
		if (x->budget == GEN_KERNEL_TX_BATCH)
			fprintf(stderr, "gen-traffic: --tx-budget %u on '%s' queue %d refused (%s%s): 32 a sendto()\n",
				budget, ifname, queue, strerror(errno ? errno : EINVAL),
				errno == ENOPROTOOPT ? "; Linux 6.17 and later have it" : "");
	}
	return 0;
}

static void close_xdp(struct gt_xdp *x)
{
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area)
		munmap(x->area, x->area_len);
	free(x->free_addr);
	memset(x, 0, sizeof(*x));
}

/* Take back the chunks whose frames the kernel has finished with. */
static void xdp_reap(struct gt_xdp *x)
{
	uint32_t idx, n = xsk_ring_cons__peek(&x->comp, x->n_frames, &idx);

	for (uint32_t i = 0; i < n; i++)
		x->free_addr[x->n_free++] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
	if (n)
		xsk_ring_cons__release(&x->comp, n);
}

static uint32_t frame_len_for(const struct gt_send_opts *o, uint32_t size_fcs, bool marked)
{
	uint32_t len = size_fcs - 4, min = gt_min_frame(o, marked ? o->payload_len : 0);

	return len < min ? min : len;
}

static int make_templates(struct gt_sender *s)
{
	const struct gt_send_opts *o = &s->o;

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

/* Build the next n frames (seq first_seq + sent, ...) at s->dst[]; returns n. */
static unsigned int build_batch(struct gt_sender *s, unsigned int n)
{
	const struct gt_send_opts *o = &s->o;
	uint64_t now;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t seq = o->first_seq + s->seq + i;
		bool marked = o->payload_len && seq % o->payload_every == 0;
		struct gt_tmpl *t = s->tmpl[o->imix ? seq % GT_IMIX_CYCLE : 0][marked];
		uint16_t sport = (uint16_t)(o->sport + seq % o->flows);
		uint16_t dport = (uint16_t)(o->dport_lo + (seq / o->flows) % s->n_dports);

		s->partial[i] = gt_build(s->dst[i], t, o, sport, dport, seq, marked);
		s->used[i] = t;
		s->iov[i].iov_len = t->len;
	}
	now = gt_now_ns();
	for (unsigned int i = 0; i < n; i++)
		gt_stamp(s->dst[i], s->used[i], o, s->partial[i], now);
	return n;
}

/* Hand n built frames to the kernel; returns frames sent or -errno. */
static int send_batch(struct gt_sender *s, unsigned int n)
{
	unsigned int done = 0;

	while (done < n) {
		int r = sendmmsg(s->fd, s->msg + done, n - done, 0);

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

/* Point s->dst[0..n) at free UMEM chunks; returns how many it could (<= n). */
static unsigned int xdp_claim(struct gt_sender *s, unsigned int n)
{
	struct gt_xdp *x = &s->x;

	if (x->n_free < n)
		xdp_reap(x);
	if (n > x->n_free)
		n = x->n_free;
	for (unsigned int i = 0; i < n; i++) {
		s->addr[i] = x->free_addr[--x->n_free];
		s->dst[i] = x->area + s->addr[i];
	}
	return n;
}

/*
 * Queue n built frames on the TX ring and kick until the kernel has taken
 * them all. In copy mode one sendto() moves a bounded batch (32 frames on
 * current kernels) and says EAGAIN when frames remain; EBUSY means the device
 * refused one frame (veth: the peer's queue was full): it is counted as
 * dropped, not retried, so that every stream stays in order.
 */
static int xdp_send_batch(struct gt_sender *s, unsigned int n)
{
	struct gt_xdp *x = &s->x;
	uint32_t idx;

	if (xsk_ring_prod__reserve(&x->tx, n, &idx) != n)
		return -ENOSPC; /* cannot happen: the ring holds more than the chunks in flight */
	for (unsigned int i = 0; i < n; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);

		d->addr = s->addr[i];
		d->len = s->used[i]->len;
		s->bytes += d->len;
	}
	xsk_ring_prod__submit(&x->tx, n);
	for (;;) {
		int r;

		/* The kernel's consumer index: nothing left once it meets ours. */
		if (__atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE) == *x->tx.producer)
			break;
		s->kicks++;
		r = (int)sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
		if (r >= 0)
			continue;
		if (errno == EBUSY) {
			s->dropped++;
			continue;
		}
		if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
			/* The completion ring may be what is full. */
			xdp_reap(x);
			if (errno != EAGAIN)
				sched_yield();
			if (errno == EINTR && gt_stop)
				break;
			continue;
		}
		return -errno;
	}
	return (int)n;
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

static double thread_cpu_secs(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_alarm(int sig)
{
	(void)sig; /* only ends a BPF_PROG_RUN (EINTR) */
}

/*
 * --xdp-live: as few runs as can be, as each costs milliseconds to set up and
 * tear down (measured: about 25 ms on a 2-core VM, whatever its length). A
 * timer on this thread ends a run with a signal at the deadline, and at least
 * every second so that a stop is seen.
 */
static void run_live(struct gt_sender *s, uint64_t deadline)
{
	const struct gt_send_opts *o = &s->o;
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	struct itimerspec off = { 0 };
	timer_t tm;
	int r = 0;

	ev._sigev_un._tid = gettid(); /* sigev_notify_thread_id, which glibc 2.36 does not name */
	if (timer_create(CLOCK_MONOTONIC, &ev, &tm)) {
		s->err = -errno;
		fprintf(stderr, "gen-traffic: thread %u: no timer: %s\n", s->idx, strerror(errno));
		return;
	}
	while (!gt_stop) {
		uint64_t now = gt_now_ns(), left = deadline - now, before = s->seq;
		uint64_t n = o->count ? o->count - s->seq : 1u << 30;
		struct itimerspec it = { 0 };

		if (now >= deadline || !n)
			break;
		left = left < 1000000000ull ? left : 1000000000ull;
		it.it_value.tv_sec = (time_t)(left / 1000000000ull);
		it.it_value.tv_nsec = (long)(left % 1000000000ull);
		timer_settime(tm, 0, &it, NULL);
		r = gt_live_run(s->bufs[0], s->tmpl[0][0], o, &s->seq, n < (1u << 30) ? n : 1u << 30);
		timer_settime(tm, 0, &off, NULL);
		s->bytes += (s->seq - before) * s->tmpl[0][0]->len;
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "gen-traffic: XDP send on '%s' (thread %u) failed: %s\n", o->ifname, s->idx,
				strerror(-r));
			s->err = r;
			break;
		}
	}
	timer_delete(tm);
}

/* One sender thread: its socket is open, its templates built. */
static void *run_sender(void *arg)
{
	struct gt_sender *s = arg;
	const struct gt_send_opts *o = &s->o;
	uint64_t last, tokens, cap, deadline;
	uint32_t burst;
	int r;

	/* burst: frames per hand-over when paced, about one call per 50 us. */
	burst = o->burst;
	if (!burst)
		burst = o->rate ? (uint32_t)(o->rate / 20000) : GT_BATCH;
	burst = burst < 1 ? 1 : burst > (o->afxdp ? GT_BURST_MAX : GT_BATCH) ? (o->afxdp ? GT_BURST_MAX : GT_BATCH) : burst;
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
	pthread_barrier_wait(&start_barrier);
	last = start_ns;
	deadline = o->duration > 0 ? start_ns + (uint64_t)(o->duration * 1e9) : UINT64_MAX;
	if (o->xdp_live) {
		run_live(s, deadline);
		s->t_end = gt_now_ns();
		s->cpu_s = thread_cpu_secs();
		return NULL;
	}

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
		}
		if (o->afxdp) {
			n = xdp_claim(s, (unsigned int)n);
			if (!n) {
				/* Every chunk in flight: wait for completions. */
				sched_yield();
				continue;
			}
		}
		if (o->rate)
			tokens -= n * 1000000000ull;
		build_batch(s, (unsigned int)n);
		r = o->afxdp ? xdp_send_batch(s, (unsigned int)n) : send_batch(s, (unsigned int)n);
		if (r < 0) {
			fprintf(stderr, "gen-traffic: send on '%s' (thread %u) failed: %s\n",
				o->ifname, s->idx, strerror(-r));
			s->err = r;
			break;
		}
		s->seq += (uint64_t)r;
	}
	s->t_end = gt_now_ns();
	s->cpu_s = thread_cpu_secs();
	return NULL;
}

static const char *send_mode(const struct gt_send_opts *o)
{
	return o->xdp_live ? "xdp-live" : o->afxdp ? "afxdp" : "packet";
}

static void report(struct gt_sender **th, unsigned int nth, const struct gt_send_opts *o,
		   uint64_t elapsed_ns)
{
	double secs = (double)elapsed_ns / 1e9, cpu = gt_cpu_secs();
	uint64_t seq = 0, bytes = 0, retries = 0, dropped = 0, kicks = 0, sent;
	double pps, mbps, pps_cpu;
	char size[16];

	for (unsigned int t = 0; t < nth; t++) {
		seq += th[t]->seq;
		bytes += th[t]->bytes;
		retries += th[t]->errors;
		dropped += th[t]->dropped;
		kicks += th[t]->kicks;
	}
	/* Dropped frames used a sequence number but never left: not "sent". */
	sent = seq - dropped;
	pps = secs > 0 ? (double)sent / secs : 0;
	mbps = secs > 0 ? (double)(bytes + 4 * seq) * 8 / secs / 1e6 : 0;
	pps_cpu = cpu > 0 ? (double)sent / cpu : 0;
	if (o->imix)
		snprintf(size, sizeof(size), "\"imix\"");
	else
		snprintf(size, sizeof(size), "%u", th[0]->tmpl[0][0]->len + 4);
	if (o->json) {
		printf("{\"sent\":%llu,\"bytes\":%llu,\"duration_s\":%.6f,\"rate_pps\":%.0f,"
		       "\"rate_mbps\":%.1f,\"cpu_s\":%.3f,\"pps_per_cpu_s\":%.0f,\"retries\":%llu,"
		       "\"stream\":%u,\"proto\":\"%s\",\"size\":%s,\"mode\":\"%s\",\"threads\":%u,"
		       "\"tx_dropped\":%llu,",
		       (unsigned long long)sent, (unsigned long long)bytes, secs, pps, mbps, cpu,
		       pps_cpu, (unsigned long long)retries, o->stream,
		       o->proto == IPPROTO_TCP ? "tcp" : "udp", size, send_mode(o),
		       nth, (unsigned long long)dropped);
		if (o->afxdp)
			printf("\"kicks\":%llu,\"tx_budget\":%u,", (unsigned long long)kicks, th[0]->x.budget);
		printf("\"per_thread\":[");
		for (unsigned int t = 0; t < nth; t++)
			printf("%s{\"stream\":%u,\"queue\":%d,\"sent\":%llu,\"tx_dropped\":%llu,"
			       "\"cpu_s\":%.3f}", t ? "," : "", th[t]->o.stream, th[t]->queue,
			       (unsigned long long)(th[t]->seq - th[t]->dropped),
			       (unsigned long long)th[t]->dropped, th[t]->cpu_s);
		printf("]}\n");
	} else {
		printf("sent %llu packets (%llu bytes) in %.3f s: %.0f pps, %.1f Mbit/s"
		       " (FCS counted), stream %u, %llu send retries\n"
		       "cpu %.3f s: %.0f packets per cpu second\n",
		       (unsigned long long)sent, (unsigned long long)bytes, secs, pps, mbps,
		       o->stream, (unsigned long long)retries, cpu, pps_cpu);
		if (nth > 1 || o->afxdp || o->xdp_live || dropped)
			for (unsigned int t = 0; t < nth; t++)
				printf("  thread %u (%s): stream %u, queue %d, %llu sent, %llu dropped"
				       " by the device, cpu %.3f s\n", t,
				       send_mode(o), th[t]->o.stream, th[t]->queue,
				       (unsigned long long)(th[t]->seq - th[t]->dropped),
				       (unsigned long long)th[t]->dropped, th[t]->cpu_s);
	}
}

/* Split total into nth shares, the first (total % nth) one larger. */
static uint64_t share(uint64_t total, unsigned int nth, unsigned int t)
{
	return total / nth + (t < total % nth);
}

static int setup_sender(struct gt_sender *s, const struct gt_send_opts *o, unsigned int t,
			unsigned int nth)
{
	int r;

	s->o = *o;
	s->idx = t;
	s->fd = -1;
	s->queue = -1;
	s->o.stream = (uint16_t)(o->stream + t);
	s->o.sport = (uint16_t)(o->sport + t * o->flows);
	if (o->count)
		s->o.count = share(o->count, nth, t);
	if (o->rate)
		s->o.rate = share(o->rate, nth, t);
	s->n_dports = (uint32_t)o->dport_hi - o->dport_lo + 1;
	r = make_templates(s);
	if (r < 0)
		return r;
	for (int i = 0; i < GT_BATCH; i++) {
		s->dst[i] = s->bufs[i];
		s->iov[i].iov_base = s->bufs[i];
		s->msg[i].msg_hdr.msg_iov = &s->iov[i];
		s->msg[i].msg_hdr.msg_iovlen = 1;
	}
	if (o->xdp_live) {
		/* One frame, sequence number and time left to the program (the queue follows the CPU). */
		struct gt_tmpl *tm = s->tmpl[0][0];

		gt_stamp(s->bufs[0], tm, &s->o, gt_build(s->bufs[0], tm, &s->o, s->o.sport, o->dport_lo, 0, false), 0);
		return 0;
	}
	if (o->afxdp) {
		s->queue = (o->queue_base < 0 ? 0 : o->queue_base) + (int)t;
		r = open_xdp(&s->x, o->ifname, s->queue, o->xdp_frames, o->tx_budget);
		if (r < 0)
			fprintf(stderr, "gen-traffic: cannot open AF_XDP socket on '%s' queue %d: %s%s\n",
				o->ifname, s->queue, strerror(-r),
				r == -EINVAL ? " (does the interface have that many queues?)" : "");
		return r;
	}
	s->fd = open_tx(o->ifname);
	if (s->fd < 0) {
		fprintf(stderr, "gen-traffic: cannot open AF_PACKET socket on '%s': %s\n", o->ifname,
			strerror(-s->fd));
		return s->fd;
	}
	/* See pin_for(): the queue follows the CPU. */
	s->queue = o->queue_base >= 0 ? o->queue_base + (int)t : -1;
	return 0;
}

static void free_sender(struct gt_sender *s)
{
	if (!s)
		return;
	free_templates(s);
	close_xdp(&s->x);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

/*
 * The CPU thread t runs on, or -1. AF_PACKET cannot name a TX queue: with
 * the qdisc bypassed the kernel takes (sending CPU) modulo (TX queues) when
 * the device has no XPS map (veth has none), so --queue-base Q without
 * --afxdp pins thread t to CPU Q + t. --cpu C pins thread t to C + t.
 */
static int pin_for(const struct gt_send_opts *o, unsigned int t)
{
	if (o->cpu >= 0)
		return o->cpu + (int)t;
	if (!o->afxdp && o->queue_base >= 0)
		return o->queue_base + (int)t;
	/* --xdp-live: every thread on a CPU of its own (the program keeps its state per CPU). */
	return o->xdp_live ? (int)t : -1;
}

static void *pinned_sender(void *arg)
{
	struct gt_sender *s = arg;
	int cpu = pin_for(&s->o, s->idx), r;

	if (cpu >= 0 && (r = gt_pin_cpu(cpu)) < 0) {
		fprintf(stderr, "gen-traffic: cannot pin thread %u to cpu %d: %s\n", s->idx, cpu,
			strerror(-r));
		s->err = r;
		gt_stop = 1;
	}
	return run_sender(s);
}

int gt_send(const struct gt_send_opts *o)
{
	unsigned int nth = o->threads ? o->threads : 1;
	struct gt_sender *th[GT_THREADS_MAX] = { 0 };
	uint64_t end = 0;
	int r = 0;

	if (nth > GT_THREADS_MAX) {
		fprintf(stderr, "gen-traffic: --threads: at most %d\n", GT_THREADS_MAX);
		return -EINVAL;
	}
	if ((uint32_t)o->stream + nth - 1 > 0xffff ||
	    (uint64_t)o->sport + (uint64_t)nth * o->flows - 1 > 0xffff) {
		fprintf(stderr, "gen-traffic: --threads %u: streams %u.. or source ports %u.. "
			"would pass 65535\n", nth, o->stream, o->sport);
		return -EINVAL;
	}
	if ((o->count && o->count < nth) || (o->rate && o->rate < nth)) {
		fprintf(stderr, "gen-traffic: --count and --rate must be at least --threads (%u): "
			"they are shared out between the threads\n", nth);
		return -EINVAL;
	}
	if (o->xdp_live) {
		struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */

		sigaction(SIGALRM, &sa, NULL);
		if ((r = gt_live_open(o)) < 0)
			return r;
	}
	for (unsigned int t = 0; t < nth; t++) {
		th[t] = calloc(1, sizeof(*th[t]));
		if (!th[t]) {
			r = -ENOMEM;
			goto out;
		}
		r = setup_sender(th[t], o, t, nth);
		if (r < 0)
			goto out;
	}
	if (!o->imix && th[0]->tmpl[0][0]->len + 4 > o->size)
		fprintf(stderr, "gen-traffic: --size %u is below the minimum for these headers "
			"and the GEN header; sending %u B frames (FCS counted)\n",
			o->size, th[0]->tmpl[0][0]->len + 4);
	pthread_barrier_init(&start_barrier, NULL, nth);
	start_ns = gt_now_ns();
	/* Thread 0 is this thread, so one thread stays exactly the old sender. */
	for (unsigned int t = 1; t < nth; t++) {
		r = -pthread_create(&th[t]->tid, NULL, pinned_sender, th[t]);
		if (r < 0) {
			fprintf(stderr, "gen-traffic: cannot start thread %u: %s\n", t, strerror(-r));
			/* The barrier can no longer be met: start nothing, stop the others. */
			exit(1);
		}
	}
	/* Every thread reads start_ns after the barrier; set it as late as possible. */
	start_ns = gt_now_ns();
	pinned_sender(th[0]);
	for (unsigned int t = 1; t < nth; t++)
		pthread_join(th[t]->tid, NULL);
	pthread_barrier_destroy(&start_barrier);
	r = 0;
	for (unsigned int t = 0; t < nth; t++) {
		end = th[t]->t_end > end ? th[t]->t_end : end;
		if (th[t]->err)
			r = th[t]->err;
	}
	if (!r)
		report(th, nth, o, end - start_ns);
out:
	for (unsigned int t = 0; t < nth; t++)
		free_sender(th[t]);
	if (o->xdp_live)
		gt_live_close();
	return r;
}
