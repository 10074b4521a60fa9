/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Metrics in the Prometheus text exposition format (version 0.0.4): per chain,
 * queue, port and NF counters of a running gend, for `genctl metrics` and for an
 * optional HTTP listener on a loopback address ([gen] metrics_listen). Like the
 * control socket, the listener is driven by the daemon's event loop and serves
 * one client at a time within a deadline.
 */
#ifndef GEN_METRICS_H
#define GEN_METRICS_H

#include <stdint.h>
#include <stdio.h>

struct rt;
struct ctl_server;

#define METRICS_MAX_CLIENTS 16 /* scrapers served at once */

/* Write every metric of rt to out. */
void metrics_print(struct rt *rt, FILE *out);

/* Listen on addr:port (host order). A non-blocking, close-on-exec fd, or -errno. */
int metrics_http_open(uint32_t addr, uint16_t port);

/*
 * A server (ctl.h) on listen_fd answering GET /metrics (or /) with
 * metrics_print(rt); anything else gets 404 or 405. Each scraper has the
 * control socket's deadlines, and a slow one delays only itself. NULL + errno.
 */
struct ctl_server *metrics_http_server(int listen_fd, struct rt *rt);

#endif
