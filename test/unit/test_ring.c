// SPDX-License-Identifier: GPL-2.0
#include <criterion/criterion.h>
#include <pthread.h>
#include "ring.h"

Test(ring, fifo_and_bounds)
{
	struct ring r;
	struct gen_desc in[10], out[10];

	cr_assert_eq(ring_init(&r, 5), 0);
	cr_assert_eq(r.size, 8);
	for (int i = 0; i < 10; i++)
		in[i] = (struct gen_desc){ .addr = (uint64_t)i * 4096, .len = (uint32_t)i };
	cr_assert_eq(ring_push(&r, in, 10), 8, "a full ring takes no more than its size");
	cr_assert_eq(ring_count(&r), 8);
	cr_assert_eq(ring_pop(&r, out, 3), 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(out[i].addr, in[i].addr);
	cr_assert_eq(ring_push(&r, in + 8, 2), 2);
	cr_assert_eq(ring_pop(&r, out, 10), 7);
	cr_assert_eq(out[6].len, 9);
	cr_assert_eq(ring_pop(&r, out, 1), 0);
	ring_fini(&r);
}

#define N_MSGS 2000000u
static struct ring shared;

static void *producer(void *arg)
{
	uint64_t next = 0;
	struct gen_desc burst[32];

	while (next < N_MSGS) {
		uint32_t n = 0;
		for (; n < 32 && next + n < N_MSGS; n++)
			burst[n] = (struct gen_desc){ .addr = next + n };
		uint32_t done = ring_push(&shared, burst, n);
		next += done;
	}
	return NULL;
}

Test(ring, spsc_threads_keep_order)
{
	pthread_t t;
	uint64_t expect = 0;
	struct gen_desc burst[64];

	cr_assert_eq(ring_init(&shared, 1024), 0);
	pthread_create(&t, NULL, producer, NULL);
	while (expect < N_MSGS) {
		uint32_t n = ring_pop(&shared, burst, 64);
		for (uint32_t i = 0; i < n; i++, expect++)
			cr_assert_eq(burst[i].addr, expect, "descriptor %lu out of order", (unsigned long)expect);
	}
	pthread_join(t, NULL);
	ring_fini(&shared);
}
