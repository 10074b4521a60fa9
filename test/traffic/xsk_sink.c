// SPDX-License-Identifier: GPL-2.0
/*
 * gen-xsk-sink: the plain AF_XDP receiver that gend's veth figures are held
 * against. One socket and one thread per queue, libxdp's default redirect
 * program, every frame back to the fill ring as soon as it is counted; nothing
 * else. Prints one JSON object: {"queues":N,"received":R,"seconds":S,"pps":P}.
 *
 * With --xdp-drop, the benchmarks' receiver behind gend instead: xdp_drop.bpf.o
 * attached in native mode, counting per CPU and dropping every frame, so what
 * the receiving side costs is one XDP program run (no socket, no IP stack; on
 * veth, a frame that came as an skb with less than XDP_PACKET_HEADROOM is
 * first copied into a page for XDP). With --tc-drop, the same counting at tc
 * ingress (clsact): the skb is dropped as it is, no copy. The
 * counters are read every 10 ms. The window opens at the first reading that
 * finds XDROP_OPEN more frames than the one before (traffic, not a stray
 * neighbour solicitation) and closes after SECONDS, on SIGINT/SIGTERM, or once
 * nothing has arrived for --idle MS (default 500; 0: never); pps is the
 * window's frames over the time from its first reading to its last change.
 * Prints {"mode":"xdp-drop" (or "tc-drop"),...,"pps":P}; "total" and "bytes"
 * count everything since the program was attached.
 *
 * With --fwd IN OUT, the plain AF_XDP forwarder: per queue, frames received
 * on IN's queue go out of OUT's queue as they are (one socket when IN is OUT,
 * else a TX-only socket on OUT sharing the UMEM), each kicked with sendto() as
 * copy mode needs, and back to the fill ring once the completion ring says
 * so. What any AF_XDP forwarder pays on that path, with nothing in between:
 * the ceiling of gend's forwarding. Prints {"mode":"fwd",...,"forwarded":F,
 * "pps":P}, P from frames completed. With TXSOCKS > 1 (IN other than OUT),
 * as gend's [gen] tx_sockets: TXSOCKS - 1 more TX-only sockets per queue q
 * on OUT's queues q + s * QUEUES, each with its own fill and completion rings
 * and a kicker thread, frames spread by their UDP/TCP source port.
 *
 * Environment (benchmark diagnostics): GEN_SINK_TOUCH=1 reads each received
 * packet's bytes before giving the frame back (=2 also writes its first byte);
 * GEN_SINK_DEMOTE=1 then demotes the lines it read, and --fwd's the lines its
 * sendto() copied out (daemon/demote.h), as gend does with [gen] demote;
 * GEN_SINK_TX_BUDGET=N asks N frames a sendto() of every TX socket, as gend's
 * [gen] tx_budget does (daemon/tx_budget.h).
 *
 * usage: gen-xsk-sink IFNAME QUEUES SECONDS [copy|zerocopy]
 *        gen-xsk-sink --fwd IN OUT QUEUES SECONDS [TXSOCKS]
 *        gen-xsk-sink --xdp-drop|--tc-drop IFNAME SECONDS [--obj PATH] [--idle MS]
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>
#include "../../daemon/demote.h"
#include "../../daemon/tx_budget.h"
#include "obj_path.h"
#include "xdp_drop.h"

#define SINK_FRAMES 8192u
#define SINK_FRAME 4096u
#define SINK_RING 4096u
#define SINK_BURST 256u
#define SINK_TXSOCKS 8

/* --fwd with TXSOCKS > 1: one more TX-only socket on OUT and the thread that kicks it. */
struct sink_tx {
	struct xsk_socket *xsk;
	struct xsk_ring_prod tx, fq; /* fq: its own fill ring (unused) */
	struct xsk_ring_cons cq;
	pthread_t thread;
};

struct sink_q {
	const char *ifname;
	const char *out;          /* --fwd: the interface frames leave by, else NULL */
	uint32_t q;
	uint16_t bind;
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq, rx;
	struct xsk_socket *txs;   /* --fwd to another interface: its TX-only socket */
	struct xsk_ring_prod tx, txfq; /* txfq: that socket's own fill ring (unused) */
	struct xsk_ring_cons *tcq, txcq;
	uint32_t ntx, nq;         /* TX sockets in use (1 + extra), queues */
	struct sink_tx extra[SINK_TXSOCKS - 1];
	pthread_t thread;
	uint64_t received, forwarded;
	uint64_t touched;         /* GEN_SINK_TOUCH: the sum of the bytes read, so the reads stay */
	int err;
};

static volatile int stop;
static int touch; /* GEN_SINK_TOUCH, see sink_run() */
static int demote; /* GEN_SINK_DEMOTE: demote.h, on every line this process or its sendto() read */
static uint32_t tx_budget; /* GEN_SINK_TX_BUDGET: frames a sendto() on each TX socket (tx_budget.h), 0: the kernel's */

/*
 * GEN_SINK_TX_BUDGET on a TX socket. A kernel that refuses it sends 32 a
 * call: said on stderr, and tx_budget (in the JSON) falls back to 32.
 */
static int sink_budget(struct xsk_socket *x)
{
	if (tx_budget <= GEN_KERNEL_TX_BATCH)
		return 0;
	errno = 0;
	if (tx_budget_set(xsk_socket__fd(x), tx_budget, SINK_RING) == GEN_KERNEL_TX_BATCH) {
		fprintf(stderr, "gen-xsk-sink: GEN_SINK_TX_BUDGET=%u refused (%s): 32 a sendto()\n", tx_budget,
			strerror(errno ? errno : EINVAL));
		tx_budget = GEN_KERNEL_TX_BATCH;
	}
	return 0;
}

#define XDROP_OBJ "xdp_drop.bpf.o"
#define XDROP_TC_PRIO 1
#define XDROP_POLL_NS (10 * 1000 * 1000)
#define XDROP_IDLE_MS 500 /* default of --idle */
/* As the first traffic may take: the sender may need a while to start. */
#define XDROP_FIRST_MS 10000
/* Frames within one reading that open the window: 6400 per second. */
#define XDROP_OPEN 64

static volatile sig_atomic_t xdrop_signal;

static void xdrop_on_signal(int sig)
{
	xdrop_signal = sig;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Sum of every CPU's counters. */
static int xdrop_read(int map_fd, struct drop_count *per_cpu, int ncpu, struct drop_count *sum)
{
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(map_fd, &zero, per_cpu))
		return -errno;
	*sum = (struct drop_count){ 0 };
	for (int i = 0; i < ncpu; i++) {
		sum->packets += per_cpu[i].packets;
		sum->bytes += per_cpu[i].bytes;
	}
	return 0;
}

/*
 * The measuring loop, once the program is attached: wait for traffic,
 * then follow the counters until SECONDS, idleness or a signal.
 */
static int xdrop_measure(int map_fd, double secs, long idle_ms, const char *mode, const char *ifname)
{
	int ncpu = libbpf_num_possible_cpus();
	struct timespec nap = { 0, XDROP_POLL_NS };
	struct drop_count *per_cpu, c = { 0 }, prev = { 0 }, first = { 0 }, last = { 0 };
	double t0 = 0, tlast = 0, t, tstart = now_s();
	int r;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	while (!xdrop_signal) {
		r = xdrop_read(map_fd, per_cpu, ncpu, &c);
		if (r)
			goto out;
		t = now_s();
		if (!t0 && c.packets - prev.packets >= XDROP_OPEN) {
			t0 = tlast = t;
			first = last = c;
		} else if (t0 && c.packets != last.packets) {
			tlast = t;
			last = c;
		}
		if (!t0 && (t - tstart) * 1000 >= XDROP_FIRST_MS)
			break; /* no traffic: reported as such */
		if (t0 && (t - t0 >= secs || (idle_ms && (t - tlast) * 1000 >= (double)idle_ms)))
			break;
		prev = c;
		nanosleep(&nap, NULL);
	}
	/* A last reading: what arrived since the previous one counts in the total. */
	r = xdrop_read(map_fd, per_cpu, ncpu, &c);
	if (r)
		goto out;
	printf("{\"mode\":\"%s\",\"ifname\":\"%s\",\"received\":%lu,\"total\":%lu,\"bytes\":%lu,"
	       "\"seconds\":%.3f,\"pps\":%.0f%s}\n",
	       mode, ifname, (unsigned long)(last.packets - first.packets), (unsigned long)c.packets, (unsigned long)c.bytes,
	       tlast - t0, tlast > t0 ? (double)(last.packets - first.packets) / (tlast - t0) : 0.0,
	       xdrop_signal ? ",\"signal\":true" : "");
	fflush(stdout);
out:
	free(per_cpu);
	return r;
}

#define XDROP_USAGE "usage: gen-xsk-sink --xdp-drop|--tc-drop IFNAME SECONDS [--obj PATH] [--idle MS]\n"

/* Where the counting program sits: native XDP, or tc ingress (clsact). */
struct xdrop_hook {
	bool tc;
	unsigned int ifindex;
	int prog_fd;
	bool made_clsact; /* the clsact qdisc is ours: removed on detach */
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
};

static int xdrop_attach(struct xdrop_hook *h)
{
	int r;

	if (!h->tc)
		return bpf_xdp_attach((int)h->ifindex, h->prog_fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	h->hook = (struct bpf_tc_hook){ .sz = sizeof(h->hook), .ifindex = (int)h->ifindex,
					.attach_point = BPF_TC_INGRESS };
	r = bpf_tc_hook_create(&h->hook);
	if (r && r != -EEXIST)
		return r;
	h->made_clsact = !r;
	/* Without BPF_TC_F_REPLACE: a filter already at this handle and priority is an error, not replaced. */
	h->opts = (struct bpf_tc_opts){ .sz = sizeof(h->opts), .prog_fd = h->prog_fd, .handle = 1,
					.priority = XDROP_TC_PRIO };
	r = bpf_tc_attach(&h->hook, &h->opts);
	if (r && h->made_clsact) {
		h->hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&h->hook);
	}
	return r;
}

/* Only our program: one attached since by someone else stays. */
static int xdrop_detach(struct xdrop_hook *h)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, xopts, .old_prog_fd = h->prog_fd);
	LIBBPF_OPTS(bpf_tc_opts, topts, .handle = 1, .priority = XDROP_TC_PRIO);
	int r;

	if (!h->tc)
		return bpf_xdp_detach((int)h->ifindex, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &xopts);
	r = bpf_tc_detach(&h->hook, &topts);
	if (!r && h->made_clsact) {
		/* Both attach points: libbpf removes the qdisc itself only then (one alone is flushed). */
		h->hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		r = bpf_tc_hook_destroy(&h->hook);
	}
	return r;
}

/* gen-xsk-sink --xdp-drop|--tc-drop IFNAME SECONDS [--obj PATH] [--idle MS] */
static int xdrop_main(int argc, char **argv)
{
	struct xdrop_hook h = { .tc = !strcmp(argv[1], "--tc-drop") };
	struct sigaction sa = { .sa_handler = xdrop_on_signal };
	char path[4096];
	const char *ifname, *obj_path = NULL, *prog_name = h.tc ? XDROP_TC_PROG : XDROP_PROG;
	struct bpf_object *obj;
	struct bpf_program *prog, *p;
	struct bpf_map *map;
	long idle_ms = XDROP_IDLE_MS;
	double secs;
	char *end;
	int r, rc = 1;

	if (argc < 4 || argc % 2) {
		fprintf(stderr, XDROP_USAGE);
		return 2;
	}
	ifname = argv[2];
	secs = strtod(argv[3], &end);
	if (*end || end == argv[3] || !(secs > 0)) {
		fprintf(stderr, "gen-xsk-sink: SECONDS '%s' is not a positive number\n", argv[3]);
		return 2;
	}
	for (int i = 4; i < argc; i += 2) {
		if (!strcmp(argv[i], "--obj")) {
			obj_path = argv[i + 1];
		} else if (!strcmp(argv[i], "--idle")) {
			idle_ms = strtol(argv[i + 1], &end, 10);
			if (*end || end == argv[i + 1] || idle_ms < 0) {
				fprintf(stderr, "gen-xsk-sink: --idle '%s' is not a number of milliseconds\n", argv[i + 1]);
				return 2;
			}
		} else {
			fprintf(stderr, "gen-xsk-sink: unknown option '%s'\n" XDROP_USAGE, argv[i]);
			return 2;
		}
	}
	if (!obj_path) {
		r = obj_next_to_self(path, sizeof(path), XDROP_OBJ);
		if (r) {
			fprintf(stderr, "gen-xsk-sink: cannot find %s next to this binary: %s (use --obj)\n", XDROP_OBJ,
				strerror(-r));
			return 1;
		}
		obj_path = path;
	}
	h.ifindex = if_nametoindex(ifname);
	if (!h.ifindex) {
		fprintf(stderr, "gen-xsk-sink: no interface '%s': %s\n", ifname, strerror(errno));
		return 1;
	}
	obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		fprintf(stderr, "gen-xsk-sink: cannot open %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, prog_name);
	map = bpf_object__find_map_by_name(obj, XDROP_MAP);
	if (!prog || !map) {
		fprintf(stderr, "gen-xsk-sink: %s has no program '%s' or no map '%s'\n", obj_path, prog_name, XDROP_MAP);
		goto close;
	}
	/* The object holds both receivers: only the one asked for is loaded. */
	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, p == prog);
	r = bpf_object__load(obj);
	if (r) {
		fprintf(stderr, "gen-xsk-sink: cannot load %s: %s\n", obj_path, strerror(-r));
		goto close;
	}
	h.prog_fd = bpf_program__fd(prog);
	/* Detached on every way out below; a signal before that only ends the wait early. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = xdrop_attach(&h);
	if (r) {
		fprintf(stderr, "gen-xsk-sink: cannot attach %s to %s %s: %s%s\n", prog_name, ifname,
			h.tc ? "at tc ingress" : "in native XDP mode", strerror(-r),
			r == -EBUSY || r == -EEXIST ? (h.tc ? " (another tc filter has its priority)" :
						       " (another XDP program is attached)") : "");
		goto close;
	}
	printf("{\"ready\":true}\n");
	fflush(stdout);
	r = xdrop_measure(bpf_map__fd(map), secs, idle_ms, h.tc ? "tc-drop" : "xdp-drop", ifname);
	if (r)
		fprintf(stderr, "gen-xsk-sink: cannot read the counters of %s: %s\n", XDROP_MAP, strerror(-r));
	else
		rc = 0;
	r = xdrop_detach(&h);
	if (r) {
		fprintf(stderr, "gen-xsk-sink: cannot detach %s from %s: %s\n", prog_name, ifname, strerror(-r));
		rc = 1;
	}
close:
	bpf_object__close(obj);
	return rc;
}

static int sink_open(struct sink_q *s)
{
	struct xsk_umem_config uc = { .fill_size = SINK_RING, .comp_size = SINK_RING, .frame_size = SINK_FRAME };
	struct xsk_socket_config sc = { .rx_size = SINK_RING, .tx_size = SINK_RING, .bind_flags = s->bind };
	uint32_t idx;
	int r;

	s->area = mmap(NULL, (size_t)SINK_FRAMES * SINK_FRAME, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (s->area == MAP_FAILED)
		return -errno;
	r = xsk_umem__create(&s->umem, s->area, (uint64_t)SINK_FRAMES * SINK_FRAME, &s->fq, &s->cq, &uc);
	if (r)
		return r;
	if (s->out && !strcmp(s->out, s->ifname)) {
		/* Forwarding back out of the same queue: one socket with both rings. */
		s->tcq = &s->cq;
		r = xsk_socket__create(&s->xsk, s->ifname, s->q, s->umem, &s->rx, &s->tx, &sc);
		if (r || (r = sink_budget(s->xsk)))
			return r;
	} else {
		r = xsk_socket__create(&s->xsk, s->ifname, s->q, s->umem, &s->rx, NULL, &sc);
		if (r)
			return r;
	}
	if (s->out && strcmp(s->out, s->ifname)) {
		/* TX only: no program on OUT, its own fill and completion rings on the shared UMEM. */
		struct xsk_socket_config tc = { .tx_size = SINK_RING, .bind_flags = s->bind,
						.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD };

		s->tcq = &s->txcq;
		r = xsk_socket__create_shared(&s->txs, s->out, s->q, s->umem, NULL, &s->tx, &s->txfq, &s->txcq, &tc);
		if (r || (r = sink_budget(s->txs)))
			return r;
	}
	for (uint32_t k = 1; k < s->ntx; k++) {
		struct xsk_socket_config tc = { .tx_size = SINK_RING, .bind_flags = s->bind,
						.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD };
		struct sink_tx *x = &s->extra[k - 1];

		r = xsk_socket__create_shared(&x->xsk, s->out, s->q + k * s->nq, s->umem, NULL, &x->tx, &x->fq, &x->cq,
					      &tc);
		if (r || (r = sink_budget(x->xsk)))
			return r;
	}
	if (xsk_ring_prod__reserve(&s->fq, SINK_RING, &idx) != SINK_RING)
		return -ENOSPC;
	for (uint32_t i = 0; i < SINK_RING; i++)
		*xsk_ring_prod__fill_addr(&s->fq, idx + i) = (uint64_t)i * SINK_FRAME;
	xsk_ring_prod__submit(&s->fq, SINK_RING);
	return 0;
}

/* Frames OUT has sent (on one completion ring) go back to the fill ring. */
static void fwd_reap_one(struct sink_q *s, struct xsk_ring_cons *cq)
{
	uint32_t cidx, fidx, n = xsk_ring_cons__peek(cq, SINK_BURST, &cidx);

	if (!n)
		return;
	while (xsk_ring_prod__reserve(&s->fq, n, &fidx) != n)
		;
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&s->fq, fidx + i) = *xsk_ring_cons__comp_addr(cq, cidx + i);
	xsk_ring_prod__submit(&s->fq, n);
	xsk_ring_cons__release(cq, n);
	__atomic_store_n(&s->forwarded, s->forwarded + n, __ATOMIC_RELAXED);
}

static void fwd_reap(struct sink_q *s)
{
	fwd_reap_one(s, s->tcq);
	for (uint32_t k = 1; k < s->ntx; k++)
		fwd_reap_one(s, &s->extra[k - 1].cq);
}

/* The TX ring of socket k (0: the queue's own). */
static struct xsk_ring_prod *fwd_ring(struct sink_q *s, uint32_t k)
{
	return k ? &s->extra[k - 1].tx : &s->tx;
}

/* Which socket a frame leaves by: its IPv4 UDP/TCP source port, else 0. */
static uint32_t fwd_pick(const struct sink_q *s, const uint8_t *f, uint32_t len)
{
	if (s->ntx < 2 || len < 38 || f[12] != 0x08 || f[13] != 0x00)
		return 0;
	return (uint32_t)(f[14 + (f[14] & 15) * 4] << 8 | f[15 + (f[14] & 15) * 4]) % s->ntx;
}

/* sendto() on a TX socket; with GEN_SINK_DEMOTE the lines of the frames it copied out are demoted (demote.h). */
static ssize_t fwd_send(const struct sink_q *s, int fd, struct xsk_ring_prod *tx)
{
	return demote_sendto(fd, tx, s->area, demote);
}

/* An extra TX socket's kicker. */
struct fwd_kick {
	struct sink_q *s;
	uint32_t k;
};

static void *fwd_kick_run(void *arg)
{
	struct fwd_kick *fk = arg;
	struct sink_tx *x = &fk->s->extra[fk->k - 1];
	int fd = xsk_socket__fd(x->xsk);
	struct timespec nap = { 0, 20 * 1000 };

	while (!stop) {
		if (__atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE) == __atomic_load_n(x->tx.producer, __ATOMIC_ACQUIRE)) {
			nanosleep(&nap, NULL);
			continue;
		}
		if (fwd_send(fk->s, fd, &x->tx) < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
			break;
	}
	free(fk);
	return NULL;
}

/* --fwd: each received frame out of OUT as it is. */
static void *fwd_run(void *arg)
{
	struct sink_q *s = arg;
	int txfd = xsk_socket__fd(s->txs ? s->txs : s->xsk);
	struct pollfd pfd = { .fd = xsk_socket__fd(s->xsk), .events = POLLIN };

	while (!stop) {
		uint32_t ridx, tidx, n = xsk_ring_cons__peek(&s->rx, SINK_BURST, &ridx);

		if (n && s->ntx > 1) {
			/* One frame at a time to its socket's ring (each holds every frame in circulation). */
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *in = xsk_ring_cons__rx_desc(&s->rx, ridx + i);
				struct xsk_ring_prod *tx = fwd_ring(s, fwd_pick(s, (const uint8_t *)s->area + in->addr, in->len));
				struct xdp_desc *o;

				if (demote)
					demote_line((const uint8_t *)s->area + in->addr);

				while (xsk_ring_prod__reserve(tx, 1, &tidx) != 1)
					fwd_reap(s);
				o = xsk_ring_prod__tx_desc(tx, tidx);
				o->addr = in->addr;
				o->len = in->len;
				o->options = 0;
				xsk_ring_prod__submit(tx, 1);
			}
			xsk_ring_cons__release(&s->rx, n);
			__atomic_store_n(&s->received, s->received + n, __ATOMIC_RELAXED);
		} else if (n) {
			/* The ring holds every frame in circulation (SINK_RING): room is certain. */
			while (xsk_ring_prod__reserve(&s->tx, n, &tidx) != n)
				fwd_reap(s);
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *in = xsk_ring_cons__rx_desc(&s->rx, ridx + i);
				struct xdp_desc *o = xsk_ring_prod__tx_desc(&s->tx, tidx + i);

				o->addr = in->addr;
				o->len = in->len;
				o->options = 0;
			}
			xsk_ring_prod__submit(&s->tx, n);
			xsk_ring_cons__release(&s->rx, n);
			__atomic_store_n(&s->received, s->received + n, __ATOMIC_RELAXED);
		}
		/* Copy mode sends at most 32 frames a call (GEN_SINK_TX_BUDGET's): kick until the kernel has taken them. */
		for (int k = 0; k < (int)SINK_BURST / 32 + 1; k++) {
			if (__atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE) == *s->tx.producer)
				break;
			if (fwd_send(s, txfd, &s->tx) < 0 && errno != EAGAIN && errno != EBUSY &&
			    errno != ENOBUFS)
				break;
		}
		fwd_reap(s);
		if (!n && xsk_ring_prod__needs_wakeup(&s->fq))
			poll(&pfd, 1, 1);
	}
	return NULL;
}

static void *sink_run(void *arg)
{
	struct sink_q *s = arg;
	struct pollfd pfd = { .fd = xsk_socket__fd(s->xsk), .events = POLLIN };

	while (!stop) {
		uint32_t ridx, fidx, n = xsk_ring_cons__peek(&s->rx, SINK_BURST, &ridx);

		if (!n) {
			if (xsk_ring_prod__needs_wakeup(&s->fq))
				poll(&pfd, 1, 1);
			continue;
		}
		/*
		 * GEN_SINK_TOUCH=1 reads each frame's bytes, =2 also writes its first
		 * byte, before giving it back: what a receiver that looks at (or
		 * rewrites) its packets leaves in its core's cache for the sender's
		 * core to take back when it copies the next frame in.
		 */
		if (touch)
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *d = xsk_ring_cons__rx_desc(&s->rx, ridx + i);
				uint8_t *f = (uint8_t *)s->area + d->addr;
				uint32_t sum = 0;

				for (uint32_t k = 0; k < d->len; k++)
					sum += f[k];
				if (touch > 1)
					*(volatile uint8_t *)f = (uint8_t)sum;
				s->touched += sum;
				if (demote)
					demote_range(f, d->len);
			}
		/* Each received frame goes straight back to the fill ring. */
		while (xsk_ring_prod__reserve(&s->fq, n, &fidx) != n)
			;
		for (uint32_t i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&s->fq, fidx + i) = xsk_ring_cons__rx_desc(&s->rx, ridx + i)->addr &
								       ~(uint64_t)(SINK_FRAME - 1);
		xsk_ring_prod__submit(&s->fq, n);
		xsk_ring_cons__release(&s->rx, n);
		__atomic_store_n(&s->received, s->received + n, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1, nap = { 0, 100 * 1000 * 1000 };
	struct sink_q *qs;
	uint32_t nq, ntx = 1;
	double secs, el;
	uint64_t total = 0, start = 0;
	uint16_t bind = XDP_USE_NEED_WAKEUP;
	const char *ifname, *out = NULL, *mode = NULL;

	if (argc > 1 && (!strcmp(argv[1], "--xdp-drop") || !strcmp(argv[1], "--tc-drop")))
		return xdrop_main(argc, argv);
	touch = getenv("GEN_SINK_TOUCH") ? atoi(getenv("GEN_SINK_TOUCH")) : 0;
	demote = getenv("GEN_SINK_DEMOTE") ? atoi(getenv("GEN_SINK_DEMOTE")) : 0;
	tx_budget = getenv("GEN_SINK_TX_BUDGET") ? (uint32_t)atoi(getenv("GEN_SINK_TX_BUDGET")) : 0;
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "--fwd")) {
		ifname = argv[2];
		out = argv[3];
		nq = (uint32_t)atoi(argv[4]);
		secs = atof(argv[5]);
		ntx = argc == 7 ? (uint32_t)atoi(argv[6]) : 1;
		if (!ntx || ntx > SINK_TXSOCKS || (ntx > 1 && !strcmp(ifname, out))) {
			fprintf(stderr, "gen-xsk-sink: TXSOCKS must be 1..%d, and above 1 only with IN other than OUT\n",
				SINK_TXSOCKS);
			return 2;
		}
	} else if ((argc == 4 || argc == 5) && strcmp(argv[1], "--fwd")) {
		ifname = argv[1];
		nq = (uint32_t)atoi(argv[2]);
		secs = atof(argv[3]);
		mode = argc > 4 ? argv[4] : NULL;
	} else {
		fprintf(stderr, "usage: gen-xsk-sink IFNAME QUEUES SECONDS [copy|zerocopy]\n"
				"       gen-xsk-sink --fwd IN OUT QUEUES SECONDS [TXSOCKS]\n"
				"       gen-xsk-sink --xdp-drop|--tc-drop IFNAME SECONDS [--obj PATH] [--idle MS]\n");
		return 2;
	}
	if (mode)
		bind |= !strcmp(mode, "zerocopy") ? XDP_ZEROCOPY : XDP_COPY;
	qs = calloc(nq, sizeof(*qs));
	if (!qs || !nq)
		return 2;
	for (uint32_t q = 0; q < nq; q++) {
		int r;

		qs[q] = (struct sink_q){ .ifname = ifname, .out = out, .q = q, .bind = bind, .ntx = ntx, .nq = nq };
		r = sink_open(&qs[q]);
		if (r) {
			fprintf(stderr, "gen-xsk-sink: queue %u of %s%s%s: %s\n", q, ifname, out ? " -> " : "",
				out ? out : "", strerror(-r));
			return 1;
		}
		pthread_create(&qs[q].thread, NULL, out ? fwd_run : sink_run, &qs[q]);
		for (uint32_t k = 1; k < ntx; k++) {
			struct fwd_kick *fk = malloc(sizeof(*fk));

			if (!fk)
				return 1;
			*fk = (struct fwd_kick){ &qs[q], k };
			pthread_create(&qs[q].extra[k - 1].thread, NULL, fwd_kick_run, fk);
		}
	}
	/* Ready: the sender may start. The window opens at the first frame. */
	printf("{\"ready\":true}\n");
	fflush(stdout);
	/* Nothing within 10 s: the window opens anyway and reports what it saw. */
	for (int tries = 0; tries < 100; tries++) {
		start = 0;
		for (uint32_t q = 0; q < nq; q++)
			start += __atomic_load_n(out ? &qs[q].forwarded : &qs[q].received, __ATOMIC_RELAXED);
		if (start)
			break;
		nanosleep(&nap, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	} while (el < secs);
	for (uint32_t q = 0; q < nq; q++)
		total += __atomic_load_n(out ? &qs[q].forwarded : &qs[q].received, __ATOMIC_RELAXED);
	stop = 1;
	for (uint32_t q = 0; q < nq; q++) {
		pthread_join(qs[q].thread, NULL);
		for (uint32_t k = 1; k < ntx; k++) {
			pthread_join(qs[q].extra[k - 1].thread, NULL);
			xsk_socket__delete(qs[q].extra[k - 1].xsk);
		}
		if (qs[q].txs)
			xsk_socket__delete(qs[q].txs);
		xsk_socket__delete(qs[q].xsk);
		xsk_umem__delete(qs[q].umem);
	}
	if (out)
		printf("{\"mode\":\"fwd\",\"in\":\"%s\",\"out\":\"%s\",\"queues\":%u,\"tx_sockets\":%u,\"tx_budget\":%u,"
		       "\"forwarded\":%lu,\"seconds\":%.3f,\"pps\":%.0f}\n", ifname, out, nq, ntx,
		       tx_budget > GEN_KERNEL_TX_BATCH ? tx_budget : GEN_KERNEL_TX_BATCH,
		       (unsigned long)(total - start), el, (double)(total - start) / el);
	else
		printf("{\"queues\":%u,\"received\":%lu,\"seconds\":%.3f,\"pps\":%.0f}\n", nq,
		       (unsigned long)(total - start), el, (double)(total - start) / el);
	return 0;
}
