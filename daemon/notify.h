/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sd_notify for the service manager (systemd/gen.service is Type=notify).
 * Every function returns >0 when a message was sent, 0 when not run under a
 * notify-aware manager (no NOTIFY_SOCKET), or -errno.
 */
#ifndef GEN_NOTIFY_H
#define GEN_NOTIFY_H

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
/* STOPPING=1 */
int notify_stopping(void);

#endif
