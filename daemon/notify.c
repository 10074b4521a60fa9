// SPDX-License-Identifier: GPL-2.0
/* sd_notify wrappers: message formats in one place, status text kept to one line. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include "notify.h"

/* A newline inside STATUS= would start another field of the message. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int notify_ready(const char *status)
{
	char *s;
	int r;

	if (!status)
		return sd_notify(0, "READY=1");
	s = strdup(status);
	if (!s)
		return -ENOMEM;
	one_line(s);
	r = sd_notifyf(0, "READY=1\nSTATUS=%s", s);
	free(s);
	return r;
}

int notify_reloading(void)
{
	struct timespec ts;

	/* systemd 253+ matches the reload to this timestamp (Type=notify-reload); 252 ignores it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
			  (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
}

int notify_status(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	one_line(s);
	r = sd_notifyf(0, "STATUS=%s", s);
	free(s);
	return r;
}

int notify_watchdog(void)
{
	return sd_notify(0, "WATCHDOG=1");
}

int notify_busy(uint64_t usec)
{
	return sd_notifyf(0, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
}

int notify_watchdog_usec(uint64_t *ret_usec)
{
	uint64_t usec = 0;
	int r = sd_watchdog_enabled(0, &usec);

	*ret_usec = r > 0 ? usec : 0;
	return r;
}

int notify_stopping(void)
{
	return sd_notify(0, "STOPPING=1");
}

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool running, stop, busy;
	uint64_t interval_usec;
	uint64_t until_usec; /* CLOCK_MONOTONIC: no feeding past it */
} keeper = { .mu = PTHREAD_MUTEX_INITIALIZER };

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void *keeper_main(void *arg)
{
	pthread_mutex_lock(&keeper.mu);
	while (!keeper.stop) {
		uint64_t now = mono_usec();

		if (keeper.busy && now < keeper.until_usec) {
			uint64_t next = now + keeper.interval_usec;
			struct timespec ts = { (time_t)(next / 1000000u), (long)(next % 1000000u) * 1000 };

			pthread_mutex_unlock(&keeper.mu);
			/* Three intervals of extension: two more messages may be late before it runs out. */
			notify_busy(3 * keeper.interval_usec);
			pthread_mutex_lock(&keeper.mu);
			while (!keeper.stop && keeper.busy && mono_usec() < next)
				pthread_cond_timedwait(&keeper.cv, &keeper.mu, &ts);
		} else {
			pthread_cond_wait(&keeper.cv, &keeper.mu);
		}
	}
	pthread_mutex_unlock(&keeper.mu);
	return NULL;
}

int notify_keeper_start(uint64_t interval_usec)
{
	pthread_condattr_t ca;
	int r;

	if (keeper.running || !interval_usec)
		return -EINVAL;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&keeper.cv, &ca);
	pthread_condattr_destroy(&ca);
	keeper.interval_usec = interval_usec;
	keeper.stop = keeper.busy = false;
	r = pthread_create(&keeper.th, NULL, keeper_main, NULL);
	if (r) {
		pthread_cond_destroy(&keeper.cv);
		return -r;
	}
	keeper.running = true;
	return 0;
}

void notify_keeper_stop(void)
{
	if (!keeper.running)
		return;
	pthread_mutex_lock(&keeper.mu);
	keeper.stop = true;
	pthread_cond_signal(&keeper.cv);
	pthread_mutex_unlock(&keeper.mu);
	pthread_join(keeper.th, NULL);
	pthread_cond_destroy(&keeper.cv);
	keeper.running = false;
}

void notify_busy_begin(uint64_t max_usec)
{
	pthread_mutex_lock(&keeper.mu);
	keeper.busy = true;
	keeper.until_usec = mono_usec() + max_usec;
	if (keeper.running)
		pthread_cond_signal(&keeper.cv);
	pthread_mutex_unlock(&keeper.mu);
}

void notify_busy_end(void)
{
	pthread_mutex_lock(&keeper.mu);
	keeper.busy = false;
	if (keeper.running)
		pthread_cond_signal(&keeper.cv);
	pthread_mutex_unlock(&keeper.mu);
}
