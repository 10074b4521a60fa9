/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket: a Unix stream socket (default /run/gen/gen.sock, mode
 * 0600). A client sends one line `COMMAND [ARGS] [--json]\n`; the daemon answers
 * `OK\n` or `ERR\n`, then the body, then closes. Commands: status, stats,
 * chains, reload, metrics (Prometheus text), and `report NF WHAT` (per-NF reports: nids alerts, flowmon
 * flows), sample (one line of the chains' batcher state, for `genctl stats --watch`) and
 * `synth-rate PPS` (the synthetic ports' rate, for benchmarks). The server side is driven by the daemon's event loop.
 */
#ifndef GEN_CTL_H
#define GEN_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CTL_LINE_MAX 512            /* longest request line */
#define CTL_SERVER_TIMEOUT_MS 1000  /* a client must send its request within this */
#define CTL_REPLY_TIMEOUT_MS 10000  /* ...and take its whole reply within this */
#define CTL_MAX_CLIENTS 64          /* connections served at once */
#define CTL_REQUEST_MAX 2048        /* the longest request any protocol of the server takes */
#define CTL_CLIENT_TIMEOUT_MS 300000 /* reload waits for the new config to be built and applied */

/* Each writes its body to `out` and returns 0 (OK) or -errno (ERR). NULL: command refused. */
struct ctl_handlers {
	int (*status)(void *ctx, FILE *out, bool json);
	int (*stats)(void *ctx, FILE *out, bool json);
	int (*chains)(void *ctx, FILE *out, bool json);
	int (*reload)(void *ctx, FILE *out, bool json); /* blocks until applied or rejected */
	int (*metrics)(void *ctx, FILE *out, bool json); /* Prometheus text exposition format */
	int (*report)(void *ctx, const char *nf, const char *what, FILE *out, bool json);
	int (*sample)(void *ctx, FILE *out, bool json); /* one JSON line: the chains' elastic state now */
	int (*synth_rate)(void *ctx, const char *pps, FILE *out, bool json); /* step the synthetic ports' rate */
};

/*
 * Create the listening socket at path (parent directory made 0755 if missing;
 * a stale socket nobody answers on is replaced; a live one is -EADDRINUSE).
 * Returns a non-blocking, close-on-exec fd, or -errno.
 */
int ctl_open(const char *path);

/*
 * Open the socket at path to group gid (group-owned, mode 0660): its members
 * may connect, and the server lets any peer that is neither root nor gend's
 * own user run only the read-only commands (not reload, synth-rate). 0 or -errno
 * (chown to a group gend is not in needs CAP_CHOWN).
 */
int ctl_set_group(const char *path, gid_t gid);

/* Close the listening fd and remove the socket file. */
void ctl_close(int listen_fd, const char *path);

/* What the server has seen since it started; `clients` is the number connected now. */
struct ctl_stats {
	uint64_t accepted;  /* connections taken from the backlog */
	uint64_t requests;  /* request lines run */
	uint64_t served;    /* replies sent whole */
	uint64_t timed_out; /* dropped at their deadline */
	uint64_t evicted;   /* dropped before their request was whole, to make room for a new client */
	uint64_t refused;   /* turned away: every slot was sending a reply */
	uint32_t clients, max_clients;
};

/* What the server speaks: how a request ends and how it is answered. */
struct ctl_proto {
	size_t max_request;    /* bytes, at most CTL_REQUEST_MAX */
	bool (*complete)(const char *req, size_t len); /* req[0..len) holds a whole request */
	bool eof_ends_request; /* a request cut short by the client's shutdown is still answered */
	/*
	 * Write the whole reply for req (NUL-terminated, writable) to out; err is 0,
	 * or -EMSGSIZE when max_request bytes came without a whole request. A
	 * negative return drops the client without a reply.
	 */
	int (*respond)(void *arg, char *req, int err, FILE *out);
};

/*
 * The server side, for an event loop: poll ctl_server_fd() for POLLIN with a
 * timeout of at most ctl_server_timeout_ms(), then call ctl_server_run(), which
 * never blocks. Handlers run inside ctl_server_run(). NULL + errno on failure.
 */
struct ctl_server *ctl_server_new(int listen_fd, const struct ctl_handlers *h, void *ctx, int max_clients);
/* The same server for another protocol (arg is passed to proto->respond). */
struct ctl_server *ctl_server_new_proto(int listen_fd, const struct ctl_proto *proto, void *arg, int max_clients);
void ctl_server_free(struct ctl_server *s);
int ctl_server_fd(const struct ctl_server *s);
/* Milliseconds until the next client deadline, -1 with no client connected. */
int ctl_server_timeout_ms(const struct ctl_server *s);
/* Accept, read, run and write whatever is ready, drop clients past their deadline: replies completed. */
int ctl_server_run(struct ctl_server *s);
void ctl_server_stats(const struct ctl_server *s, struct ctl_stats *ret);

/*
 * Client: send `cmd` (one line, without the newline), copy the reply body to
 * out. Returns 0 on OK, 1 on ERR, -errno when the daemon can't be reached or the
 * reply is cut short (-ETIMEDOUT after timeout_ms without data).
 */
int ctl_request(const char *path, const char *cmd, FILE *out);
int ctl_request_timeout(const char *path, const char *cmd, FILE *out, int timeout_ms);

/* Deadline helpers, shared with the HTTP metrics listener. Times are CLOCK_MONOTONIC ms. */
int64_t ctl_now_ms(void);
/* Wait for events on fd until the absolute deadline: 0, -ETIMEDOUT or -errno. */
int ctl_wait_fd(int fd, short events, int64_t deadline);
/* Send all of buf, each chunk within timeout_ms, without SIGPIPE: 0 or -errno. */
int ctl_send_all(int fd, const char *buf, size_t len, int timeout_ms);

/* JSON helpers for handlers: a quoted, escaped string; `"key":` with that escaping. */
void ctl_json_str(FILE *out, const char *s);
void ctl_json_key(FILE *out, const char *key);

#endif
