// SPDX-License-Identifier: GPL-2.0
/* sd_notify: the exact datagrams that reach NOTIFY_SOCKET, and the watchdog interval. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "notify.h"

static char dir[64], path[128];
static int fd = -1;

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };

	snprintf(dir, sizeof(dir), "/tmp/gen-test-notify-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	cr_assert_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
}

static void teardown(void)
{
	close(fd);
	unlink(path);
	rmdir(dir);
}

TestSuite(notify, .init = setup, .fini = teardown);

/* Next datagram as a string. */
static const char *next(void)
{
	static char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	cr_assert_gt(n, 0, "no datagram arrived");
	buf[n] = '\0';
	return buf;
}

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

Test(notify, exact_messages)
{
	cr_assert_gt(notify_ready("backend cpu, 0 pps"), 0);
	cr_assert_str_eq(next(), "READY=1\nSTATUS=backend cpu, 0 pps");
	cr_assert_gt(notify_ready(NULL), 0);
	cr_assert_str_eq(next(), "READY=1");
	cr_assert_gt(notify_status("backend %s, %d pps", "gpu", 1234), 0);
	cr_assert_str_eq(next(), "STATUS=backend gpu, 1234 pps");
	cr_assert_gt(notify_status("two\nlines"), 0);
	cr_assert_str_eq(next(), "STATUS=two lines", "a newline can't inject another field");
	cr_assert_gt(notify_ready("x\nWATCHDOG=1"), 0);
	cr_assert_str_eq(next(), "READY=1\nSTATUS=x WATCHDOG=1");
	cr_assert_gt(notify_watchdog(), 0);
	cr_assert_str_eq(next(), "WATCHDOG=1");
	cr_assert_gt(notify_stopping(), 0);
	cr_assert_str_eq(next(), "STOPPING=1");
}

Test(notify, reloading_carries_monotonic_time)
{
	uint64_t before = mono_usec(), after, t;
	const char *m;

	cr_assert_gt(notify_reloading(), 0);
	after = mono_usec();
	m = next();
	cr_assert_eq(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%" SCNu64, &t), 1, "%s", m);
	cr_assert(t >= before && t <= after, "%" PRIu64 " not in [%" PRIu64 ", %" PRIu64 "]", t, before, after);
	char want[64];
	snprintf(want, sizeof(want), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, t);
	cr_assert_str_eq(m, want, "nothing else in the message");
}

Test(notify, watchdog_interval)
{
	char pid[32];
	uint64_t usec = 42;

	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	cr_assert_eq(notify_watchdog_usec(&usec), 0);
	cr_assert_eq(usec, 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_USEC", "3000000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	cr_assert_gt(notify_watchdog_usec(&usec), 0);
	cr_assert_eq(usec, 3000000);
	/* Meant for another process (e.g. inherited by a child): not ours. */
	setenv("WATCHDOG_PID", "1", 1);
	cr_assert_eq(notify_watchdog_usec(&usec), 0);
	cr_assert_eq(usec, 0);
	/* A malformed value is an error, not a silent 0 interval. */
	setenv("WATCHDOG_PID", pid, 1);
	setenv("WATCHDOG_USEC", "soon", 1);
	cr_assert_lt(notify_watchdog_usec(&usec), 0);
	cr_assert_eq(usec, 0);
}

Test(notify, without_a_manager_nothing_is_sent)
{
	unsetenv("NOTIFY_SOCKET");
	cr_assert_eq(notify_ready("x"), 0);
	cr_assert_eq(notify_watchdog(), 0);
	cr_assert_eq(notify_reloading(), 0);
	struct timeval tv = { .tv_usec = 100000 };
	char buf[8];
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_lt(recv(fd, buf, sizeof(buf), 0), 0, "no datagram");
}

/* Datagrams that arrive within ms milliseconds, with their arrival times (usec). */
static int collect(int ms, uint64_t *at, int max)
{
	struct timeval tv = { .tv_usec = 20000 };
	uint64_t end = mono_usec() + (uint64_t)ms * 1000;
	char buf[256];
	int n = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (mono_usec() < end) {
		ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);

		if (r <= 0)
			continue;
		buf[r] = '\0';
		cr_assert_str_eq(buf, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=300000", "keeper sent '%s'", buf);
		if (n < max)
			at[n] = mono_usec();
		n++;
	}
	return n;
}

Test(notify, keeper_feeds_while_busy_and_only_within_its_bound)
{
	uint64_t at[64], t0;
	int n;

	cr_assert_eq(notify_keeper_start(100000), 0);
	cr_assert_eq(collect(300, at, 64), 0, "idle: nothing sent");
	t0 = mono_usec();
	notify_busy_begin(10000000);
	n = collect(1000, at, 64);
	cr_assert(n >= 8 && n <= 12, "%d messages in 1 s at a 100 ms interval", n);
	cr_assert_lt(at[0] - t0, 50000, "the first one goes out at once");
	for (int i = 1; i < n; i++)
		cr_assert_lt(at[i] - at[i - 1], 200000, "gap %d: %" PRIu64 " us", i, at[i] - at[i - 1]);
	notify_busy_end();
	cr_assert_leq(collect(300, at, 64), 1, "nothing after the end (one may have been in flight)");
	/* A step that never ends: fed only for its bound, then the watchdog may fire. */
	notify_busy_begin(350000);
	n = collect(1000, at, 64);
	cr_assert(n >= 3 && n <= 5, "%d messages within a 350 ms bound", n);
	notify_busy_end();
	notify_keeper_stop();
}
