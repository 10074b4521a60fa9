// SPDX-License-Identifier: GPL-2.0
/* sd_notify wrappers: message formats in one place, status text kept to one line. */
#include <errno.h>
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
