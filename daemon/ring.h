/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Lock-free single-producer single-consumer ring of frame descriptors.
 * Descriptors move in bursts: one acquire load and one release store per burst,
 * never a lock or a system call.
 */
#ifndef GEN_RING_H
#define GEN_RING_H

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"

struct ring {
	alignas(64) uint32_t head;  /* written by the producer */
	alignas(64) uint32_t tail;  /* written by the consumer */
	alignas(64) uint32_t mask;
	uint32_t size;
	struct gen_desc *slot;
};

/* size is rounded up to a power of two. 0 or -ENOMEM. */
int ring_init(struct ring *r, uint32_t size);
void ring_fini(struct ring *r);

static inline uint32_t ring_count(const struct ring *r)
{
	return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
}

/* Producer: append up to n descriptors; returns how many were taken. */
static inline uint32_t ring_push(struct ring *r, const struct gen_desc *d, uint32_t n)
{
	uint32_t head = r->head;
	uint32_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	uint32_t room = r->size - (head - tail);

	if (n > room)
		n = room;
	for (uint32_t i = 0; i < n; i++)
		r->slot[(head + i) & r->mask] = d[i];
	__atomic_store_n(&r->head, head + n, __ATOMIC_RELEASE);
	return n;
}

/* Consumer: take up to n descriptors; returns how many. */
static inline uint32_t ring_pop(struct ring *r, struct gen_desc *d, uint32_t n)
{
	uint32_t tail = r->tail;
	uint32_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	uint32_t avail = head - tail;

	if (n > avail)
		n = avail;
	for (uint32_t i = 0; i < n; i++)
		d[i] = r->slot[(tail + i) & r->mask];
	__atomic_store_n(&r->tail, tail + n, __ATOMIC_RELEASE);
	return n;
}

#endif
