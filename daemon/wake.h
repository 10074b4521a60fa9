/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sleep and wake-up between the data-plane threads. A consumer with nothing to
 * do announces that it sleeps, checks once more, and blocks on an eventfd; a
 * producer writes the eventfd only when the consumer announced sleep. Under load
 * nobody sleeps, so the per-packet path makes no system call; when idle, a packet
 * wakes its thread at once instead of waiting out a timer.
 */
#ifndef GEN_WAKE_H
#define GEN_WAKE_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "gen_limits.h"

/*
 * How long an idle data-plane thread polls before it blocks ([gen] spin_us,
 * default WAKE_SPIN_NS; set by gend before the threads start). Polling instead
 * of timed naps: a 2 us nanosleep costs a syscall and a timer, sleeps longer
 * than asked, and each nap delays the frames' way back to the fill ring.
 * Bounded, so a lightly loaded or oversubscribed box does not spend its cores
 * polling. Longer: fewer sleeps under bursty traffic, each of which the next
 * frame's producer pays for with a wake-up (on veth, the sending core).
 */
#define WAKE_SPIN_NS (GEN_SPIN_US_DEFAULT * 1000u)
#define WAKE_SPIN_MAX_NS (GEN_SPIN_MAX_US_DEFAULT * 1000u)
extern uint32_t wake_spin_ns, wake_spin_max_ns;

/*
 * A thread's polling window: spin_us, grown while its sleeps keep being cut
 * short by a wake-up, up to spin_max_us (spin_slept).
 */
struct spin {
	uint64_t until;
	unsigned int n;
	uint32_t win; /* ns; 0 until the first sleep: spin_us */
};

/* A window within [spin_us, spin_max_us], in ns (at most 10^9 each). */
static inline uint32_t spin_clamp(uint32_t w)
{
	uint32_t base = __atomic_load_n(&wake_spin_ns, __ATOMIC_RELAXED);
	uint32_t max = __atomic_load_n(&wake_spin_max_ns, __ATOMIC_RELAXED);

	if (max < base)
		max = base;
	return w < base ? base : w > max ? max : w;
}

static inline uint32_t spin_window(const struct spin *s)
{
	return spin_clamp(s->win);
}

static inline uint64_t spin_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Work was found: the next idle stretch starts a fresh budget. */
static inline void spin_reset(struct spin *s)
{
	s->n = 0;
}

/*
 * Nothing to do: poll once more (true) or, past the budget, give up (false: the
 * caller blocks). Yields now and then for a box with more threads than cores.
 */
static inline bool spin_again(struct spin *s)
{
	if (s->n++ == 0) {
		s->until = spin_now_ns() + spin_window(s);
		return true;
	}
	if (s->n % 64 == 0) {
		if (spin_now_ns() > s->until) {
			s->n = 0;
			return false;
		}
		sched_yield();
		return true;
	}
	__builtin_ia32_pause();
	return true;
}

/*
 * After a block of slept_ns, ended by a wake-up (woken) or by its timeout.
 * Woken within spin_max_us: a longer poll would have found the work without
 * the wake-up, which its producer paid for (an eventfd write; for an RX
 * socket, the receiving core's wake-up of this thread, on veth the sender's):
 * the window doubles, up to spin_max_us. Slept longer, or timed out: it
 * halves, down to spin_us. So a thread polls through the gaps of bursty
 * traffic and still blocks when idle (the kernel's guest halt-polling adapts
 * its window alike).
 */
static inline void spin_slept(struct spin *s, uint64_t slept_ns, bool woken)
{
	uint32_t w = spin_window(s);

	s->win = spin_clamp(woken && slept_ns <= __atomic_load_n(&wake_spin_max_ns, __ATOMIC_RELAXED) ? 2 * w : w / 2);
}

struct wake {
	int fd;
	int sleeping;
};

static inline int wake_init(struct wake *w)
{
	w->sleeping = 0;
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return w->fd < 0 ? -errno : 0;
}

static inline void wake_fini(struct wake *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* Producer, after publishing work. */
static inline void wake_kick(struct wake *w)
{
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->sleeping, __ATOMIC_SEQ_CST) && write(w->fd, &one, sizeof(one)) < 0)
		return; /* counter saturated: the consumer is awake anyway */
}

/* Consumer: announce sleep; the caller must check for work once more before blocking. */
static inline void wake_prepare(struct wake *w)
{
	__atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Consumer: awake again; clear the eventfd. */
static inline void wake_done(struct wake *w)
{
	uint64_t v;

	__atomic_store_n(&w->sleeping, 0, __ATOMIC_SEQ_CST);
	if (read(w->fd, &v, sizeof(v)) < 0)
		return; /* nothing was written: fine */
}

#endif
