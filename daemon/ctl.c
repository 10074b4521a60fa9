// SPDX-License-Identifier: GPL-2.0
/*
 * Control socket server (driven by the daemon's event loop) and client (genctl).
 * The server never waits on a client: every connection is a small state machine
 * (read the request, answer it, write the reply) on one epoll set, stepped
 * only when its socket is ready, and dropped at its deadline. A slow, idle or
 * malicious client costs its own slot and nothing else; when every slot is
 * taken the oldest client still sending its request makes room. The same server
 * speaks HTTP for the metrics listener (metrics.c) through a struct ctl_proto.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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
	if (chmod(path, 0600) || listen(fd, SOMAXCONN)) {
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

int ctl_set_group(const char *path, gid_t gid)
{
	if (chown(path, (uid_t)-1, gid) || chmod(path, 0660))
		return -errno;
	return 0;
}

static const char usage_text[] =
	"expected: status | stats | chains | reload | metrics | sample | report NF WHAT | synth-rate PPS, optionally --json";

/* Parse the request and run the handler; the body goes to out. */
/* Commands that change what gend does: for root (or gend's own user) only. */
static bool mutating(const char *cmd)
{
	return !strcmp(cmd, "reload") || !strcmp(cmd, "synth-rate");
}

static int dispatch(char *line, const struct ctl_handlers *h, void *ctx, FILE *out, bool *json, bool read_only)
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

	if (read_only && mutating(tok[0])) {
		fprintf(out, "'%s' needs root: the control group may run status, stats, chains, metrics, sample "
			     "and report only", tok[0]);
		return -EPERM;
	}

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

/* ---- the server: every client a state machine on one epoll set ---- */

enum client_state { CLIENT_FREE, CLIENT_READ, CLIENT_WRITE };

struct ctl_client {
	int fd;
	bool read_only;    /* the peer is neither root nor gend's user: read-only commands */
	enum client_state state;
	int64_t deadline;  /* ms, CLOCK_MONOTONIC: the client is dropped after it */
	uint64_t seq;      /* accept order: the oldest reader is evicted first */
	size_t used;       /* request bytes so far */
	char req[CTL_REQUEST_MAX + 1];
	char *reply;       /* status line + body, malloc'd */
	size_t len, off;
};

struct ctl_server {
	int listen_fd, epfd, max;
	const struct ctl_proto *proto;
	void *arg;              /* the protocol's: for the control protocol, the server itself */
	const struct ctl_handlers *h;
	void *ctx;
	uint64_t next_seq;
	bool cur_read_only;     /* of the client whose request is being answered */
	struct ctl_stats st;
	struct ctl_client c[];
};

/* epoll data: the listening socket, else a client slot. */
#define EP_LISTEN UINT32_MAX

struct ctl_server *ctl_server_new_proto(int listen_fd, const struct ctl_proto *proto, void *arg, int max_clients)
{
	struct ctl_server *s;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = EP_LISTEN };

	if (max_clients < 1 || !proto->max_request || proto->max_request > CTL_REQUEST_MAX) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s) + (size_t)max_clients * sizeof(s->c[0]));
	if (!s)
		return NULL;
	s->listen_fd = listen_fd;
	s->max = max_clients;
	s->proto = proto;
	s->arg = arg;
	s->st.max_clients = (uint32_t)max_clients;
	for (int i = 0; i < max_clients; i++)
		s->c[i].fd = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, listen_fd, &ev)) {
		int e = errno;

		if (s->epfd >= 0)
			close(s->epfd);
		free(s);
		errno = e;
		return NULL;
	}
	return s;
}

static void client_close(struct ctl_server *s, struct ctl_client *c)
{
	close(c->fd); /* also leaves the epoll set */
	free(c->reply);
	c->fd = -1;
	c->reply = NULL;
	c->state = CLIENT_FREE;
	s->st.clients--;
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->max; i++)
		if (s->c[i].state != CLIENT_FREE)
			client_close(s, &s->c[i]);
	close(s->epfd);
	free(s);
}

int ctl_server_fd(const struct ctl_server *s)
{
	return s->epfd;
}

int ctl_server_timeout_ms(const struct ctl_server *s)
{
	int64_t now = ctl_now_ms(), best = -1;

	for (int i = 0; i < s->max; i++) {
		if (s->c[i].state == CLIENT_FREE)
			continue;
		int64_t left = s->c[i].deadline - now;

		if (left < 0)
			left = 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best > INT32_MAX ? INT32_MAX : (int)best;
}

void ctl_server_stats(const struct ctl_server *s, struct ctl_stats *ret)
{
	*ret = s->st;
}

/* ---- the control protocol: one line in; OK or ERR, then the body ---- */

static bool line_complete(const char *req, size_t len)
{
	return memchr(req, '\n', len) != NULL;
}

static int line_respond(void *arg, char *req, int err, FILE *reply)
{
	struct ctl_server *s = arg;
	char *body = NULL, *nl = strchr(req, '\n');
	size_t len = 0;
	bool json = false;
	FILE *out;
	int r = err;

	if (nl) {
		*nl = '\0';
		if (nl > req && nl[-1] == '\r')
			nl[-1] = '\0';
	}
	out = open_memstream(&body, &len);
	if (!out)
		return -ENOMEM;
	if (r == -EMSGSIZE)
		fprintf(out, "request longer than %d bytes", CTL_LINE_MAX);
	else
		r = dispatch(req, s->h, s->ctx, out, &json, s->cur_read_only);
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
	fputs(r ? "ERR\n" : "OK\n", reply);
	fwrite(body, 1, len, reply);
	if (len && body[len - 1] != '\n')
		fputc('\n', reply);
	free(body);
	return 0;
}

static const struct ctl_proto line_proto = {
	.max_request = CTL_LINE_MAX,
	.complete = line_complete,
	.eof_ends_request = true,
	.respond = line_respond,
};

struct ctl_server *ctl_server_new(int listen_fd, const struct ctl_handlers *h, void *ctx, int max_clients)
{
	struct ctl_server *s = ctl_server_new_proto(listen_fd, &line_proto, NULL, max_clients);

	if (s) {
		s->arg = s;
		s->h = h;
		s->ctx = ctx;
	}
	return s;
}

/* The protocol's reply to the request in c->req, into c->reply. */
static int build_reply(struct ctl_server *s, struct ctl_client *c, int err)
{
	FILE *out = open_memstream(&c->reply, &c->len);
	int r;

	if (!out)
		return -ENOMEM;
	s->cur_read_only = c->read_only;
	r = s->proto->respond(s->arg, c->req, err, out);
	if (fclose(out) && !r)
		r = -ENOMEM;
	c->off = 0;
	return r;
}

/* Send what the socket takes now: 1 when the reply is out, 0 when it waits, -errno. */
static int client_write(struct ctl_client *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->reply + c->off, c->len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		c->off += (size_t)n;
	}
	return 1;
}

/* Read what has arrived; once the request is whole, answer it and start the reply. 1: done, 0: wait, -errno. */
static int client_read(struct ctl_server *s, struct ctl_client *c)
{
	const struct ctl_proto *p = s->proto;
	int r = 0;

	for (;;) {
		ssize_t n = recv(c->fd, c->req + c->used, p->max_request - c->used, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		c->used += (size_t)n;
		c->req[c->used] = '\0';
		if (p->complete(c->req, c->used))
			break;
		if (n == 0) {
			if (!c->used || !p->eof_ends_request)
				return -ECONNRESET;
			break;
		}
		if (c->used == p->max_request) {
			r = -EMSGSIZE;
			break;
		}
	}
	r = build_reply(s, c, r);
	if (r)
		return r;
	s->st.requests++;
	c->state = CLIENT_WRITE;
	c->deadline = ctl_now_ms() + CTL_REPLY_TIMEOUT_MS;
	r = client_write(c);
	if (r == 0) {
		struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)(c - s->c) };

		if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev))
			return -errno;
	}
	return r;
}

/* A slot for a new client: a free one, else the oldest that has not finished its request. */
static struct ctl_client *free_slot(struct ctl_server *s)
{
	struct ctl_client *old = NULL;

	for (int i = 0; i < s->max; i++) {
		if (s->c[i].state == CLIENT_FREE)
			return &s->c[i];
		if (s->c[i].state == CLIENT_READ && (!old || s->c[i].seq < old->seq))
			old = &s->c[i];
	}
	if (old) {
		client_close(s, old);
		s->st.evicted++;
	}
	return old;
}

/* Root or gend's own user; anyone else reached the socket through its group. Unknown: not the owner. */
static bool peer_is_owner(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void accept_all(struct ctl_server *s)
{
	static const char busy[] = "ERR\nbusy: every control connection is sending a reply; try again\n";

	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ctl_client *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or EMFILE and the like: the rest stay in the backlog */
		}
		s->st.accepted++;
		c = free_slot(s);
		if (!c) {
			s->st.refused++;
			/* Best effort: it is refused whether or not the line gets through. */
			ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);

			(void)w;
			close(fd);
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(c - s->c) };

		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			s->st.refused++;
			continue;
		}
		*c = (struct ctl_client){ .fd = fd, .state = CLIENT_READ, .seq = s->next_seq++,
					  .read_only = !peer_is_owner(fd),
					  .deadline = ctl_now_ms() + CTL_SERVER_TIMEOUT_MS };
		s->st.clients++;
	}
}

int ctl_server_run(struct ctl_server *s)
{
	struct epoll_event ev[32];
	int n, done = 0;
	int64_t now;

	n = epoll_wait(s->epfd, ev, 32, 0);
	for (int i = 0; i < n; i++) {
		struct ctl_client *c;
		int r;

		if (ev[i].data.u32 == EP_LISTEN) {
			accept_all(s);
			continue;
		}
		c = &s->c[ev[i].data.u32];
		if (c->state == CLIENT_FREE)
			continue; /* evicted earlier in this round */
		r = c->state == CLIENT_READ ? client_read(s, c) : client_write(c);
		if (r) {
			if (r > 0) {
				s->st.served++;
				done++;
			}
			client_close(s, c);
		}
	}
	now = ctl_now_ms();
	for (int i = 0; i < s->max; i++) {
		if (s->c[i].state != CLIENT_FREE && s->c[i].deadline <= now) {
			client_close(s, &s->c[i]);
			s->st.timed_out++;
		}
	}
	return done;
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
