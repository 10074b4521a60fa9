// SPDX-License-Identifier: GPL-2.0
/*
 * gen-membw: the host's memory bandwidth, the ceiling of what gen-bench's frame
 * restores and the GPU's DMA share when batches span more than the caches.
 *
 *   gen-membw [MIB] [THREADS] [SECONDS]
 *
 * Over a buffer of MIB MiB (default 2048, gen-bench's frames at 64k batches),
 * cut in one part per thread, prints GB/s for: read (sum of 16-byte words),
 * write (memset), copy (memcpy from the other half of the part) and, where the
 * CPU has SSE2, write with streaming stores. A figure, not a test.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { M_READ, M_WRITE, M_COPY, M_NT, M_N };
static const char *const mname[M_N] = { "read", "write", "copy", "write-nt" };

struct part {
	uint8_t *p;
	size_t len;
	int mode;
	double secs;
	uint64_t bytes, sink;
	pthread_t t;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
	struct part *w = arg;
	double t0 = now();
	size_t half = w->len / 2;

	do {
		switch (w->mode) {
		case M_READ: {
			const uint64_t *q = (const uint64_t *)w->p;
			uint64_t a = 0, b = 0;
			for (size_t i = 0; i < w->len / 8; i += 2) {
				a += q[i];
				b ^= q[i + 1];
			}
			w->sink += a + b;
			w->bytes += w->len;
			break;
		}
		case M_WRITE:
			memset(w->p, (int)w->bytes, w->len);
			w->bytes += w->len;
			break;
		case M_COPY: /* counts the bytes read plus those written */
			memcpy(w->p + half, w->p, half);
			w->bytes += 2 * half;
			break;
		case M_NT:
#ifdef __SSE2__
			for (size_t i = 0; i < w->len; i += 16)
				_mm_stream_si128((__m128i *)(w->p + i), _mm_set1_epi32((int)i));
			_mm_sfence();
#else
			memset(w->p, 1, w->len);
#endif
			w->bytes += w->len;
			break;
		}
	} while (now() - t0 < w->secs);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 2048;
	int nt = argc > 2 ? atoi(argv[2]) : 16;
	double secs = argc > 3 ? atof(argv[3]) : 1.0;
	size_t len = mib << 20;

	if (!mib || nt < 1 || nt > 1024 || secs <= 0) {
		fprintf(stderr, "usage: gen-membw [MIB] [THREADS] [SECONDS]\n");
		return 2;
	}
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED) {
		perror("gen-membw: mmap");
		return 1;
	}
	memset(buf, 0x5a, len); /* every page faulted in and written before the clock */
	struct part *w = calloc((size_t)nt, sizeof(*w));
	if (!w)
		return 1;
	size_t each = len / (size_t)nt & ~(size_t)4095;
	printf("gen-membw: %zu MiB, %d threads, %.1f s per mode\n", mib, nt, secs);
	for (int m = 0; m < M_N; m++) {
		uint64_t bytes = 0;
		double t0 = now();
		for (int i = 0; i < nt; i++) {
			w[i] = (struct part){ .p = buf + (size_t)i * each, .len = each, .mode = m, .secs = secs };
			if (pthread_create(&w[i].t, NULL, run, &w[i])) {
				perror("gen-membw: pthread_create");
				return 1;
			}
		}
		for (int i = 0; i < nt; i++) {
			pthread_join(w[i].t, NULL);
			bytes += w[i].bytes;
		}
		printf("%-9s %7.1f GB/s\n", mname[m], bytes / (now() - t0) / 1e9);
	}
	return 0;
}
