// SPDX-License-Identifier: GPL-2.0
/*
 * Control socket server (driven by the daemon's event loop) and client (genctl).
 * The server serves one client at a time to completion: requests are one short
 * line, replies are written from memory, and every wait has a deadline, so a
 * stuck or malicious client delays the daemon by CTL_SERVER_TIMEOUT_MS at most.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "ctl.h"

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ __attribute__((cleanup(closep)))

static void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ __attribute__((cleanup(freep)))

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!path[0] || strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the absolute deadline (ms, CLOCK_MONOTONIC). */
int ctl_wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - ctl_now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Send all of buf; each chunk must make progress within timeout_ms. MSG_NOSIGNAL: no SIGPIPE. */
int ctl_send_all(int fd, const char *buf, size_t len, int timeout_ms)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			int r = ctl_wait_fd(fd, POLLOUT, ctl_now_ms() + timeout_ms);
			if (r)
				return r;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	char *dir, *p;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	/* Walk down from the root creating what is missing, 0755 as a RuntimeDirectory would be. */
	for (p = dir + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(dir, 0755) && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* A socket file exists at path: is anybody listening on it? */
static int socket_is_live(const struct sockaddr_un *sa)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa)))
		return 1;
	/* EAGAIN: a live listener with a full backlog. */
	return errno == ECONNREFUSED || errno == ENOENT ? 0 : 1;
}

int ctl_open(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, r;

	r = make_addr(path, &sa);
	if (r)
		return r;
	r = mkdir_parents(path);
	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		if (r != -EADDRINUSE)
			goto fail;
		if (lstat(path, &st) || !S_ISSOCK(st.st_mode)) {
			r = -EEXIST; /* never remove something that isn't a socket */
			goto fail;
		}
		r = socket_is_live(&sa);
		if (r) {
			r = r > 0 ? -EADDRINUSE : r;
			goto fail;
		}
		if (unlink(path) && errno != ENOENT) {
			r = -errno;
			goto fail;
		}
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			r = -errno;
			goto fail;
		}
	}
	/* Nobody can connect before listen(), so tightening the mode here leaves no window. */
	if (chmod(path, 0600) || listen(fd, 16)) {
		r = -errno;
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

void ctl_close(int listen_fd, const char *path)
{
	if (listen_fd >= 0)
		close(listen_fd);
	if (path)
		unlink(path);
}

/* Read one request line (without '\n') before the deadline. */
static int read_request(int fd, char *line, size_t len, int64_t deadline)
{
	size_t used = 0;

	for (;;) {
		ssize_t n;
		int r = ctl_wait_fd(fd, POLLIN, deadline);

		if (r)
			return r;
		n = recv(fd, line + used, len - 1 - used, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		used += (size_t)n;
		line[used] = '\0';
		char *nl = memchr(line, '\n', used);
		if (nl) {
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			return 0;
		}
		if (n == 0)
			return used ? 0 : -ECONNRESET; /* a last line without '\n' is fine */
		if (used == len - 1)
			return -EMSGSIZE;
	}
}

static const char usage_text[] =
	"expected: status | stats | chains | reload | metrics | sample | report NF WHAT | synth-rate PPS, optionally --json";

/* Parse the request and run the handler; the body goes to out. */
static int dispatch(char *line, const struct ctl_handlers *h, void *ctx, FILE *out, bool *json)
{
	char *tok[4];
	int n = 0;

	*json = false;
	for (char *t = strtok(line, " \t"); t; t = strtok(NULL, " \t")) {
		if (!strcmp(t, "--json")) {
			*json = true;
			continue;
		}
		if (n == 4) {
			fprintf(out, "too many words; %s", usage_text);
			return -EINVAL;
		}
		tok[n++] = t;
	}
	if (n == 0) {
		fprintf(out, "empty request; %s", usage_text);
		return -EINVAL;
	}
	int (*simple)(void *, FILE *, bool) = NULL;

	if (!strcmp(tok[0], "status"))
		simple = h->status;
	else if (!strcmp(tok[0], "stats"))
		simple = h->stats;
	else if (!strcmp(tok[0], "chains"))
		simple = h->chains;
	else if (!strcmp(tok[0], "reload"))
		simple = h->reload;
	else if (!strcmp(tok[0], "metrics"))
		simple = h->metrics;
	else if (!strcmp(tok[0], "sample"))
		simple = h->sample;
	else if (!strcmp(tok[0], "synth-rate")) {
		if (n != 2) {
			fprintf(out, "usage: synth-rate PPS");
			return -EINVAL;
		}
		if (!h->synth_rate) {
			fprintf(out, "'synth-rate' is not supported");
			return -EOPNOTSUPP;
		}
		return h->synth_rate(ctx, tok[1], out, *json);
	} else if (!strcmp(tok[0], "report")) {
		if (n != 3) {
			fprintf(out, "usage: report NF WHAT");
			return -EINVAL;
		}
		if (!h->report) {
			fprintf(out, "'report' is not supported");
			return -EOPNOTSUPP;
		}
		return h->report(ctx, tok[1], tok[2], out, *json);
	} else {
		fprintf(out, "unknown command '%s'; %s", tok[0], usage_text);
		return -EINVAL;
	}
	if (n != 1) {
		fprintf(out, "'%s' takes no arguments", tok[0]);
		return -EINVAL;
	}
	if (!simple) {
		fprintf(out, "'%s' is not supported", tok[0]);
		return -EOPNOTSUPP;
	}
	return simple(ctx, out, *json);
}

static int serve(int fd, const struct ctl_handlers *h, void *ctx)
{
	char line[CTL_LINE_MAX + 1];
	char *body = NULL;
	size_t len = 0;
	bool json = false;
	FILE *out;
	int r, rr;

	r = read_request(fd, line, sizeof(line), ctl_now_ms() + CTL_SERVER_TIMEOUT_MS);
	if (r == -ETIMEDOUT || r == -ECONNRESET)
		return r;
	out = open_memstream(&body, &len);
	if (!out)
		return -ENOMEM;
	if (r == -EMSGSIZE)
		fprintf(out, "request longer than %d bytes", CTL_LINE_MAX);
	else if (r)
		fprintf(out, "cannot read the request: %s", strerror(-r));
	else
		r = dispatch(line, h, ctx, out, &json);
	if (r && !ftell(out)) {
		if (json) {
			fputs("{\"error\":", out);
			ctl_json_str(out, strerror(-r));
			fputc('}', out);
		} else {
			fputs(strerror(-r), out);
		}
	}
	if (fclose(out)) {
		free(body);
		return -ENOMEM;
	}
	rr = ctl_send_all(fd, r ? "ERR\n" : "OK\n", r ? 4 : 3, CTL_SERVER_TIMEOUT_MS);
	if (!rr && len)
		rr = ctl_send_all(fd, body, len, CTL_SERVER_TIMEOUT_MS);
	if (!rr && len && body[len - 1] != '\n')
		rr = ctl_send_all(fd, "\n", 1, CTL_SERVER_TIMEOUT_MS);
	free(body);
	return rr;
}

int ctl_handle(int listen_fd, const struct ctl_handlers *h, void *ctx)
{
	_cleanup_close_ int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return serve(fd, h, ctx);
}

int ctl_request_timeout(const char *path, const char *cmd, FILE *out, int timeout_ms)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	char head[8];
	size_t hlen = 0;
	bool have_status = false;
	int status = 0, r;

	r = make_addr(path, &sa);
	if (r)
		return r;
	if (strchr(cmd, '\n') || strlen(cmd) >= CTL_LINE_MAX)
		return -EINVAL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Bounds connect() too when the daemon's backlog is full. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	{
		_cleanup_free_ char *req = NULL;

		if (asprintf(&req, "%s\n", cmd) < 0)
			return -ENOMEM;
		r = ctl_send_all(fd, req, strlen(req), timeout_ms);
		if (r)
			return r;
	}
	for (;;) {
		char buf[16384];
		ssize_t n;

		r = ctl_wait_fd(fd, POLLIN, ctl_now_ms() + timeout_ms);
		if (r)
			return r;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return have_status ? status : -EPROTO;
		char *p = buf;
		size_t left = (size_t)n;

		/* The status line: OK or ERR, then the body verbatim. */
		while (!have_status && left) {
			char c = *p++;

			left--;
			if (c != '\n') {
				if (hlen == sizeof(head) - 1)
					return -EPROTO;
				head[hlen++] = c;
				continue;
			}
			head[hlen] = '\0';
			if (!strcmp(head, "OK"))
				status = 0;
			else if (!strcmp(head, "ERR"))
				status = 1;
			else
				return -EPROTO;
			have_status = true;
		}
		if (left && fwrite(p, 1, left, out) != left)
			return -EIO;
	}
}

int ctl_request(const char *path, const char *cmd, FILE *out)
{
	return ctl_request_timeout(path, cmd, out, CTL_CLIENT_TIMEOUT_MS);
}

void ctl_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; s && *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\b':
			fputs("\\b", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

void ctl_json_key(FILE *out, const char *key)
{
	ctl_json_str(out, key);
	fputc(':', out);
}
