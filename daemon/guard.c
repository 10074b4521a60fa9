// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "guard.h"

#define GUARD_SIG SIGUSR2
#define GUARD_TICK_MS 50
#define GUARD_ALTSTACK (64 * 1024)

static void (*guard_fatal)(int sig);
static __thread struct guard *guard_self;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct guard *guard_list;
static pthread_t guard_wd;

static void guard_signal(int sig, siginfo_t *si, void *uc)
{
	struct guard *g = guard_self;

	(void)uc;
	/* The watchdog's signal ends only the batch it was meant for. */
	if (g && __atomic_load_n(&g->armed, __ATOMIC_RELAXED) &&
	    (sig != GUARD_SIG || __atomic_load_n(&g->kill_seq, __ATOMIC_ACQUIRE) == g->seq)) {
		__atomic_store_n(&g->armed, 0, __ATOMIC_RELAXED);
		g->sig = sig;
		g->addr = sig == GUARD_SIG ? NULL : si->si_addr;
		siglongjmp(g->jb, 1);
	}
	if (sig == GUARD_SIG)
		return; /* late: that batch finished on its own */
	signal(sig, SIG_DFL);
	if (guard_fatal)
		guard_fatal(sig);
	raise(sig);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts))
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A batch that made no progress between two looks and ran over its budget is cut short. */
static void guard_check(struct guard *g)
{
	uint64_t seq = __atomic_load_n(&g->seq, __ATOMIC_ACQUIRE);
	int64_t cpu, wall;

	if (!__atomic_load_n(&g->armed, __ATOMIC_RELAXED)) { /* the controller's, read from the watchdog */
		g->wd_seen = false;
		return;
	}
	cpu = clock_ns(g->cpu_clock);
	wall = clock_ns(CLOCK_MONOTONIC);
	if (!g->wd_seen || seq != g->wd_seq) {
		g->wd_seen = true;
		g->wd_seq = seq;
		g->wd_cpu0 = cpu;
		g->wd_wall0 = wall;
		return;
	}
	if (cpu - g->wd_cpu0 < (int64_t)GUARD_BUDGET_MS * 1000000 && wall - g->wd_wall0 < (int64_t)GUARD_WALL_MS * 1000000)
		return;
	__atomic_store_n(&g->kill_seq, seq, __ATOMIC_RELEASE);
	pthread_kill(g->thread, GUARD_SIG);
	/* Measure afresh: if the signal cannot get through, it is sent again a budget later. */
	g->wd_cpu0 = cpu;
	g->wd_wall0 = wall;
}

static void *guard_watchdog(void *arg)
{
	struct timespec ts = { 0, GUARD_TICK_MS * 1000000L };
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "gen-watchdog");
	for (;;) {
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&guard_lock);
		for (struct guard *g = guard_list; g; g = g->next)
			guard_check(g);
		pthread_mutex_unlock(&guard_lock);
	}
	return NULL;
}

int guard_install(void (*fatal)(int sig))
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, GUARD_SIG };
	struct sigaction sa = { .sa_sigaction = guard_signal };
	sigset_t all, old;
	int r;

	guard_fatal = fatal;
	/* NODEFER: the handler leaves by siglongjmp without restoring a mask (sigsetjmp(.., 0) is cheap). */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -errno;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&guard_wd, NULL, guard_watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pthread_detach(guard_wd);
	return 0;
}

int guard_thread_init(struct guard *g)
{
	stack_t ss = { 0 };

	memset(g, 0, sizeof(*g));
	g->thread = pthread_self();
	if (pthread_getcpuclockid(g->thread, &g->cpu_clock))
		g->cpu_clock = CLOCK_MONOTONIC;
	/* A fault from a runaway recursion needs a stack to be handled on. */
	g->altstack = malloc(GUARD_ALTSTACK);
	if (g->altstack) {
		ss.ss_sp = g->altstack;
		ss.ss_size = GUARD_ALTSTACK;
		sigaltstack(&ss, NULL);
	}
	guard_self = g;
	pthread_mutex_lock(&guard_lock);
	g->next = guard_list;
	guard_list = g;
	pthread_mutex_unlock(&guard_lock);
	return 0;
}

void guard_thread_fini(struct guard *g)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	pthread_mutex_lock(&guard_lock);
	for (struct guard **p = &guard_list; *p; p = &(*p)->next) {
		if (*p == g) {
			*p = g->next;
			break;
		}
	}
	pthread_mutex_unlock(&guard_lock);
	guard_self = NULL;
	if (g->altstack) {
		sigaltstack(&ss, NULL);
		free(g->altstack);
		g->altstack = NULL;
	}
}

void guard_arm(struct guard *g)
{
	__atomic_store_n(&g->seq, g->seq + 1, __ATOMIC_RELEASE);
	g->sig = 0;
	__atomic_store_n(&g->armed, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void guard_leave(struct guard *g)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&g->armed, 0, __ATOMIC_RELAXED);
}

void guard_describe(const struct guard *g, char *buf, size_t len)
{
	if (g->sig == GUARD_SIG)
		snprintf(buf, len, "a batch ran over its budget (%d ms of CPU or %d ms in all): an NF loops or blocks",
			 GUARD_BUDGET_MS, GUARD_WALL_MS);
	else
		snprintf(buf, len, "an NF crashed: %s at address %p", strsignal(g->sig), g->addr);
}
