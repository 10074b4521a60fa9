/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sd_notify for the service manager (systemd/gen.service is Type=notify).
 * Every function returns >0 when a message was sent, 0 when not run under a
 * notify-aware manager (no NOTIFY_SOCKET), or -errno.
 */
#ifndef GEN_NOTIFY_H
#define GEN_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* READY=1, with STATUS= when status is not NULL: XDP attached, sockets bound, backend up. */
int notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC= (systemd 253+ requires it; older ones ignore it). */
int notify_reloading(void);
/* STATUS=...: one line shown by `systemctl status` (backend, packet rate). */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* WATCHDOG=1: send at least every notify_watchdog_usec() / 2. */
int notify_watchdog(void);
/*
 * The watchdog interval the manager asks for, in microseconds, in *ret_usec
 * (0 when none). Returns >0 when enabled, 0 when not, -errno on a bad environment.
 */
int notify_watchdog_usec(uint64_t *ret_usec);
/*
 * WATCHDOG=1 with EXTEND_TIMEOUT_USEC=usec: alive, and the start, reload or stop
 * in progress needs up to usec more than the unit's timeout.
 */
int notify_busy(uint64_t usec);
/*
 * The keeper: a thread that, between notify_busy_begin() and notify_busy_end(),
 * sends notify_busy() every interval_usec, so a long step of the main loop (a
 * compile during start or reload) neither starves the watchdog nor overruns the
 * unit's start/reload timeout. It stops feeding max_usec after the begin, so a
 * step that hangs still gets the service restarted. 0 or -errno.
 */
int notify_keeper_start(uint64_t interval_usec);
void notify_keeper_stop(void);
void notify_busy_begin(uint64_t max_usec);
void notify_busy_end(void);
/* STOPPING=1 */
int notify_stopping(void);

#endif
