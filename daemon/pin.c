// SPDX-License-Identifier: GPL-2.0
/* [gen] cpus: see pin.h. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include "cfg.h"
#include "pin.h"

static uint16_t pin_cpus[CFG_MAX_CPUS];
static int pin_n;
static unsigned int pin_next;

void pin_setup(const uint16_t *cpus, int n)
{
	if (n > CFG_MAX_CPUS)
		n = CFG_MAX_CPUS;
	memcpy(pin_cpus, cpus, (size_t)n * sizeof(*cpus));
	__atomic_store_n(&pin_next, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pin_n, n, __ATOMIC_RELEASE);
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
