// SPDX-License-Identifier: GPL-2.0
/* [gen] cpus: see pin.h. */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include "cfg.h"
#include "pin.h"

static uint16_t pin_cpus[CFG_MAX_CPUS];
static int pin_n;
static unsigned int pin_next;
/* Set once, by the first pin_setup with a list that leaves other CPUs: gend's mask before, and the rest. */
static cpu_set_t pin_before, pin_rest;
static bool pin_narrowed;

/* Every thread of gend now on rest (threads started later inherit it from their starter). */
static void narrow_threads(const cpu_set_t *rest)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid > 0)
			sched_setaffinity(tid, sizeof(*rest), rest);
	}
	closedir(d);
}

void pin_setup(const uint16_t *cpus, int n)
{
	if (n > CFG_MAX_CPUS)
		n = CFG_MAX_CPUS;
	memcpy(pin_cpus, cpus, (size_t)n * sizeof(*cpus));
	__atomic_store_n(&pin_next, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pin_n, n, __ATOMIC_RELEASE);
	if (n && !pin_narrowed && !sched_getaffinity(0, sizeof(pin_before), &pin_before)) {
		pin_rest = pin_before;
		for (int i = 0; i < n; i++)
			CPU_CLR(cpus[i], &pin_rest);
		if (CPU_COUNT(&pin_rest)) {
			narrow_threads(&pin_rest);
			pin_narrowed = true;
		}
	}
}

void pin_allowed(cpu_set_t *set)
{
	if (pin_narrowed)
		*set = pin_before;
	else if (sched_getaffinity(0, sizeof(*set), set))
		CPU_ZERO(set);
}

void pin_rest_str(char *buf, size_t len)
{
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	if (!pin_narrowed) {
		snprintf(buf, len, "-");
		return;
	}
	for (int c = 0; c < CPU_SETSIZE && o < len; c++) {
		int e = c;

		if (!CPU_ISSET(c, &pin_rest))
			continue;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &pin_rest))
			e++;
		o += (size_t)snprintf(buf + o, len - o, e > c ? "%s%d-%d" : "%s%d", o ? "," : "", c, e);
		c = e;
	}
}

int pin_self(void)
{
	int n = __atomic_load_n(&pin_n, __ATOMIC_ACQUIRE), cpu, r;
	cpu_set_t set;
	char name[16] = "";

	if (!n)
		return -1;
	cpu = pin_cpus[__atomic_fetch_add(&pin_next, 1, __ATOMIC_RELAXED) % (unsigned int)n];
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (r) {
		pthread_getname_np(pthread_self(), name, sizeof(name));
		fprintf(stderr, "gend: thread %s: cannot pin to CPU %d ([gen] cpus): %s\n", name, cpu, strerror(r));
		return -1;
	}
	return cpu;
}
