// SPDX-License-Identifier: GPL-2.0
/*
 * gen-xsk-sink: the plain AF_XDP receiver that gend's veth figures are held
 * against. One socket and one thread per queue, libxdp's default redirect
 * program, every frame back to the fill ring as soon as it is counted; nothing
 * else. Prints one JSON object: {"queues":N,"received":R,"seconds":S,"pps":P}.
 * usage: gen-xsk-sink IFNAME QUEUES SECONDS [copy|zerocopy]
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#define SINK_FRAMES 8192u
#define SINK_FRAME 4096u
#define SINK_RING 4096u
#define SINK_BURST 256u

struct sink_q {
	const char *ifname;
	uint32_t q;
	uint16_t bind;
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq, rx;
	pthread_t thread;
	uint64_t received;
	int err;
};

static volatile int stop;

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
	r = xsk_socket__create(&s->xsk, s->ifname, s->q, s->umem, &s->rx, NULL, &sc);
	if (r)
		return r;
	if (xsk_ring_prod__reserve(&s->fq, SINK_RING, &idx) != SINK_RING)
		return -ENOSPC;
	for (uint32_t i = 0; i < SINK_RING; i++)
		*xsk_ring_prod__fill_addr(&s->fq, idx + i) = (uint64_t)i * SINK_FRAME;
	xsk_ring_prod__submit(&s->fq, SINK_RING);
	return 0;
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
	uint32_t nq;
	double secs, el;
	uint64_t total = 0, start = 0;
	uint16_t bind = XDP_USE_NEED_WAKEUP;

	if (argc < 4) {
		fprintf(stderr, "usage: gen-xsk-sink IFNAME QUEUES SECONDS [copy|zerocopy]\n");
		return 2;
	}
	nq = (uint32_t)atoi(argv[2]);
	secs = atof(argv[3]);
	if (argc > 4)
		bind |= !strcmp(argv[4], "zerocopy") ? XDP_ZEROCOPY : XDP_COPY;
	qs = calloc(nq, sizeof(*qs));
	if (!qs || !nq)
		return 2;
	for (uint32_t q = 0; q < nq; q++) {
		int r;

		qs[q] = (struct sink_q){ .ifname = argv[1], .q = q, .bind = bind };
		r = sink_open(&qs[q]);
		if (r) {
			fprintf(stderr, "gen-xsk-sink: queue %u of %s: %s\n", q, argv[1], strerror(-r));
			return 1;
		}
		pthread_create(&qs[q].thread, NULL, sink_run, &qs[q]);
	}
	/* Ready: the sender may start. The window opens at the first frame. */
	printf("{\"ready\":true}\n");
	fflush(stdout);
	/* Nothing within 10 s: the window opens anyway and reports what it saw. */
	for (int tries = 0; tries < 100; tries++) {
		start = 0;
		for (uint32_t q = 0; q < nq; q++)
			start += __atomic_load_n(&qs[q].received, __ATOMIC_RELAXED);
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
		total += __atomic_load_n(&qs[q].received, __ATOMIC_RELAXED);
	stop = 1;
	for (uint32_t q = 0; q < nq; q++) {
		pthread_join(qs[q].thread, NULL);
		xsk_socket__delete(qs[q].xsk);
		xsk_umem__delete(qs[q].umem);
	}
	printf("{\"queues\":%u,\"received\":%lu,\"seconds\":%.3f,\"pps\":%.0f}\n", nq, (unsigned long)(total - start), el,
	       (double)(total - start) / el);
	return 0;
}
