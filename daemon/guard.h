/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault containment for NF code on a controller thread (daemon/README.md,
 * "Fault containment"). A controller arms its guard around each batch; a
 * SIGSEGV, SIGBUS, SIGILL or SIGFPE raised in the armed region, or a batch
 * that burns more than its CPU budget (the watchdog thread then signals the
 * controller), unwinds to the point where the batch began, and the chain is
 * marked failed. A fault outside an armed region is a bug of gend itself and
 * stays fatal.
 */
#ifndef GEN_GUARD_H
#define GEN_GUARD_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* CPU time one batch may take before it is cut short. */
#define GUARD_BUDGET_MS 1000
/* Wall time an armed batch may take whatever its CPU use (an NF blocked in a syscall). */
#define GUARD_WALL_MS 10000

struct guard {
	sigjmp_buf jb;
	volatile sig_atomic_t armed;
	uint64_t seq;        /* batches begun; the watchdog's notion of progress */
	uint64_t kill_seq;   /* the batch the watchdog cut short */
	pthread_t thread;
	clockid_t cpu_clock;
	void *altstack;
	/* What ended the last armed batch: signal and faulting address. */
	int sig;
	void *addr;
	/* The watchdog's view. */
	uint64_t wd_seq;
	int64_t wd_cpu0, wd_wall0;
	bool wd_seen;
	struct guard *next;
};

/*
 * Install the handlers of the fault signals and of the watchdog's signal.
 * fatal runs for a fault outside an armed region (the signal is then reset
 * to its default action and raised again). Starts the watchdog thread.
 */
int guard_install(void (*fatal)(int sig));

/* On the controller thread: an alternate signal stack, and registration with the watchdog. */
int guard_thread_init(struct guard *g);
void guard_thread_fini(struct guard *g);

/*
 * Around a batch, in the function that runs it:
 *
 *	if (sigsetjmp(g->jb, 0)) {
 *		... cut short: g->sig says why ...
 *	}
 *	guard_arm(g);
 *	... run the batch ...
 *	guard_leave(g);
 *
 * Locals changed between the arm and the jump back must be volatile.
 */
void guard_arm(struct guard *g);
void guard_leave(struct guard *g);

/* One line on why the batch ended ("NF crashed: SIGSEGV at 0x0", "batch ran over 1000 ms of CPU"). */
void guard_describe(const struct guard *g, char *buf, size_t len);

#endif
