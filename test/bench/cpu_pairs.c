// SPDX-License-Identifier: GPL-2.0
/*
 * gen-cpu-pairs: which CPUs slow a given CPU down when they are busy. A guest
 * may not show which of its virtual CPUs share a physical core (SMT siblings)
 * or what else they share; the veth benchmarks put the sender on CPU 0 and
 * gend's threads on others, so a busy neighbour that costs CPU 0 speed shows
 * as gend being slower, whatever gend does.
 *
 *   gen-cpu-pairs [REF] [MS] [ROUNDS]
 *
 * On CPU REF (default 0), a loop of four independent integer chains runs for
 * MS ms (default 200) alone, then once with the same loop spinning on each
 * other CPU in turn. Prints, per CPU, the reference loop's rate with that CPU
 * busy as a share of its rate alone (the best of ROUNDS, default 3, each).
 * Near 100 %: independent cores; near 50-70 %: the two share a core. A figure,
 * not a test.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile int spin_stop;
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* Four independent xorshift chains: keeps a core's integer units busy. */
static uint64_t work(uint64_t iters)
{
	uint64_t a = 1, b = 2, c = 3, d = 4;

	for (uint64_t i = 0; i < iters; i++) {
		a ^= a << 13, a ^= a >> 7, a ^= a << 17;
		b ^= b << 13, b ^= b >> 7, b ^= b << 17;
		c ^= c << 13, c ^= c >> 7, c ^= c << 17;
		d ^= d << 13, d ^= d >> 7, d ^= d << 17;
	}
	return a + b + c + d;
}

/* Iterations a second of the loop on this thread, over ms. */
static double rate(unsigned int ms)
{
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)ms * 1000000ull, n = 0, t;

	do {
		sink += work(4096);
		n += 4096;
		t = now_ns();
	} while (t < end);
	return (double)n * 1e9 / (double)(t - t0);
}

static void *spinner(void *arg)
{
	int cpu = (int)(intptr_t)arg;

	if (pin(cpu))
		return NULL;
	while (!spin_stop)
		sink += work(4096);
	return NULL;
}

int main(int argc, char **argv)
{
	int ref = argc > 1 ? atoi(argv[1]) : 0;
	unsigned int ms = argc > 2 ? (unsigned int)atoi(argv[2]) : 200;
	int rounds = argc > 3 ? atoi(argv[3]) : 3;
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	double alone = 0;

	if (ref < 0 || ref >= ncpu || !ms || rounds < 1 || pin(ref)) {
		fprintf(stderr, "usage: gen-cpu-pairs [REF 0..%d] [MS > 0] [ROUNDS > 0]\n", ncpu - 1);
		return 2;
	}
	for (int r = 0; r < rounds; r++) {
		double x = rate(ms);

		alone = x > alone ? x : alone;
	}
	printf("CPU %d alone: %.1f M loop iterations a second (best of %d x %u ms)\n", ref, alone / 1e6, rounds, ms);
	for (int k = 0; k < ncpu; k++) {
		double best = 0;
		pthread_t th;

		if (k == ref)
			continue;
		for (int r = 0; r < rounds; r++) {
			double x;

			spin_stop = 0;
			if (pthread_create(&th, NULL, spinner, (void *)(intptr_t)k)) {
				perror("pthread_create");
				return 1;
			}
			x = rate(ms);
			spin_stop = 1;
			pthread_join(th, NULL);
			best = x > best ? x : best;
		}
		printf("CPU %d busy: CPU %d at %.0f %% of its rate alone\n", k, ref, 100.0 * best / alone);
	}
	return 0;
}
