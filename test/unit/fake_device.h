/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the controller tests (test_chain.c, test_elastic.c) share around their
 * fake backends: a "device" copy of each NF state blob per (host blob, device),
 * shared by the chains and queues on it as the GPU's are, so that a state not
 * handed over shows; the UMEM stubs; NF instances built from keys; and the
 * UDP test frame whose source address carries (queue, flow).
 */
#ifndef GEN_TEST_FAKE_DEVICE_H
#define GEN_TEST_FAKE_DEVICE_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "chain.h"
#include "../../nf/registry.h"
#include "test/bench/pktgen.h"

#define FAKE_DEV_COPIES 16

static inline uint64_t fake_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct {
	pthread_mutex_t lock;
	struct { const struct nf_hdr *host; int dev; struct nf_hdr *copy; int refs; } st[FAKE_DEV_COPIES];
} fake_dev = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The copy of host on device dev: made from the host blob at the first use, then shared. */
static inline struct nf_hdr *fake_dev_copy(const struct nf_hdr *host, int dev)
{
	struct nf_hdr *r = NULL;
	int i;

	pthread_mutex_lock(&fake_dev.lock);
	for (i = 0; i < FAKE_DEV_COPIES && !r; i++) {
		if (fake_dev.st[i].refs && fake_dev.st[i].host == host && fake_dev.st[i].dev == dev) {
			fake_dev.st[i].refs++;
			r = fake_dev.st[i].copy;
		}
	}
	for (i = 0; i < FAKE_DEV_COPIES && !r; i++) {
		if (fake_dev.st[i].refs)
			continue;
		fake_dev.st[i].host = host;
		fake_dev.st[i].dev = dev;
		fake_dev.st[i].copy = aligned_alloc(64, (host->size + 63) / 64 * 64);
		memcpy(fake_dev.st[i].copy, host, host->size);
		fake_dev.st[i].refs = 1;
		r = fake_dev.st[i].copy;
	}
	pthread_mutex_unlock(&fake_dev.lock);
	cr_assert(r, "more than %d device copies", FAKE_DEV_COPIES);
	return r;
}

static inline void fake_dev_put(const struct nf_hdr *copy)
{
	pthread_mutex_lock(&fake_dev.lock);
	for (int i = 0; i < FAKE_DEV_COPIES; i++) {
		if (fake_dev.st[i].refs && fake_dev.st[i].copy == copy && !--fake_dev.st[i].refs) {
			free(fake_dev.st[i].copy);
			memset(&fake_dev.st[i], 0, sizeof(fake_dev.st[i]));
		}
	}
	pthread_mutex_unlock(&fake_dev.lock);
}

/* The program's states swapped for their copies on dev; and given back. */
static inline void fake_dev_prog_get(struct chain_prog *p, int dev)
{
	for (uint32_t i = 0; i < p->n; i++)
		p->state[i] = fake_dev_copy(p->state[i], dev);
}

static inline void fake_dev_prog_put(const struct chain_prog *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		fake_dev_put(p->state[i]);
}

/*
 * state_read and state_write of a fake whose struct backend_chain has the
 * program on the device as `prog`: expand after that struct.
 */
#define FAKE_DEVICE_STATE_OPS()                                                                              \
	static int fake_state_read(struct backend_chain *bc, uint32_t i, void *dst, uint32_t off, uint32_t len) \
	{                                                                                                    \
		memcpy(dst, (uint8_t *)bc->prog.state[i] + off, len);                                        \
		return 0;                                                                                    \
	}                                                                                                    \
	static int fake_state_write(struct backend_chain *bc, uint32_t i, const void *src, uint32_t off,    \
				    uint32_t len)                                                            \
	{                                                                                                    \
		memcpy((uint8_t *)bc->prog.state[i] + off, src, len);                                        \
		return 0;                                                                                    \
	}

static inline int fake_umem_attach(void *umem, size_t size, uint32_t frame_size)
{
	return 0;
}

static inline void fake_umem_detach(void *umem)
{
}

/* An NF instance of type from its keys (nf_kv lines as in a chains.ini). */
static inline struct nf_hdr *build_nf(const char *type, const struct nf_kv *kv, int nkv)
{
	const struct nf_ops *ops = nf_ops_find(type);
	struct nf_cfg cfg = { .name = type, .file = "test.ini", .line = 1, .kv = kv, .nkv = nkv };
	struct nf_hdr *h = NULL;
	char err[256];

	cr_assert(ops);
	cr_assert_eq(ops->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);
	return h;
}

/* A len-byte UDP/IPv4 frame 10.q.0.flow:1024+flow -> 10.255.0.1:5001, TTL 64, zero payload. */
static inline void fake_udp_frame(uint8_t *p, uint32_t len, int q, uint32_t flow)
{
	uint8_t *ip = p + 14, *udp = ip + 20;
	uint16_t sum;

	memset(p, 0, len);
	memcpy(p, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
	ip[0] = 0x45;
	ip[3] = (uint8_t)(len - 14);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, (uint8_t[]){ 10, (uint8_t)q, 0, (uint8_t)flow }, 4);
	memcpy(ip + 16, (uint8_t[]){ 10, 255, 0, 1 }, 4);
	sum = pktgen_csum(ip, 20);
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
	udp[0] = 0x04, udp[1] = (uint8_t)flow, udp[2] = 0x13, udp[3] = 0x89;
	udp[5] = (uint8_t)(len - 34);
}

#endif
