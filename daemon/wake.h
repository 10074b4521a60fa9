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
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
