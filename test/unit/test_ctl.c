// SPDX-License-Identifier: GPL-2.0
/* Control socket: a real server on a temp socket with fake handlers, the client, and genctl's exit codes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "ctl.h"

static char dir[64], sock_path[128];
static int listen_fd = -1;
static pthread_t server;
static volatile bool stop;
static struct ctl_server *srv;
static int srv_max = CTL_MAX_CLIENTS;

static int fake_status(void *ctx, FILE *out, bool json)
{
	fprintf(out, json ? "{\"backend\":\"cpu\"}" : "backend: cpu\nports: 2\n");
	return 0;
}

static int fake_stats(void *ctx, FILE *out, bool json)
{
	fprintf(out, "json=%d", json);
	return 0;
}

static int fake_reload(void *ctx, FILE *out, bool json)
{
	fprintf(out, "/etc/gen/chains.ini:7: id must be an integer in 1..255, got 'x'\n");
	return -EINVAL;
}

static int fake_report(void *ctx, const char *nf, const char *what, FILE *out, bool json)
{
	if (strcmp(what, "alerts"))
		return -ENOENT; /* no body: the server writes strerror */
	fprintf(out, "nf=%s what=%s json=%d ctx=%s\n", nf, what, json, (const char *)ctx);
	return 0;
}

static int fake_big(void *ctx, FILE *out, bool json)
{
	for (int i = 0; i < 200000; i++)
		fprintf(out, "line %d of a big report\n", i);
	return 0;
}

static struct ctl_handlers handlers = {
	.status = fake_status,
	.stats = fake_stats,
	.reload = fake_reload,
	.report = fake_report,
	/* .chains left NULL: refused */
};

/* The daemon's loop in miniature: poll the server's fd up to its next deadline, then step it. */
static void *serve_loop(void *arg)
{
	while (!stop) {
		int t = ctl_server_timeout_ms(srv);
		struct pollfd p = { .fd = ctl_server_fd(srv), .events = POLLIN };

		poll(&p, 1, t < 0 || t > 50 ? 50 : t);
		ctl_server_run(srv);
	}
	return NULL;
}

static void setup(void)
{
	umask(022);
	snprintf(dir, sizeof(dir), "/tmp/gen-test-ctl-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/run/gen.sock", dir);
}

static void start_server(void)
{
	listen_fd = ctl_open(sock_path);
	cr_assert_geq(listen_fd, 0, "ctl_open: %s", strerror(-listen_fd));
	srv = ctl_server_new(listen_fd, &handlers, "ctx-ok", srv_max);
	cr_assert_not_null(srv);
	stop = false;
	cr_assert_eq(pthread_create(&server, NULL, serve_loop, NULL), 0);
}

static void teardown(void)
{
	char cmd[128];

	if (listen_fd >= 0) {
		stop = true;
		pthread_join(server, NULL);
		ctl_server_free(srv);
		srv = NULL;
		ctl_close(listen_fd, sock_path);
		listen_fd = -1;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(ctl, .init = setup, .fini = teardown, .timeout = 30);

/* Run a request, return the rc and the body in buf. */
static int ask(const char *cmd, char *buf, size_t len, int timeout_ms)
{
	FILE *f = fmemopen(buf, len, "w");
	int r;

	cr_assert_not_null(f);
	r = ctl_request_timeout(sock_path, cmd, f, timeout_ms);
	fputc('\0', f);
	fclose(f);
	buf[len - 1] = '\0';
	return r;
}

Test(ctl, ok_err_and_arguments)
{
	char buf[4096];

	start_server();
	cr_assert_eq(ask("status", buf, sizeof(buf), 5000), 0);
	cr_assert_str_eq(buf, "backend: cpu\nports: 2\n");
	cr_assert_eq(ask("status --json", buf, sizeof(buf), 5000), 0);
	cr_assert_str_eq(buf, "{\"backend\":\"cpu\"}\n", "a newline is added to a body without one");
	cr_assert_eq(ask("--json stats", buf, sizeof(buf), 5000), 0);
	cr_assert_str_eq(buf, "json=1\n");
	cr_assert_eq(ask("reload", buf, sizeof(buf), 5000), 1);
	cr_assert_str_eq(buf, "/etc/gen/chains.ini:7: id must be an integer in 1..255, got 'x'\n");
	cr_assert_eq(ask("report ids alerts", buf, sizeof(buf), 5000), 0);
	cr_assert_str_eq(buf, "nf=ids what=alerts json=0 ctx=ctx-ok\n");
	cr_assert_eq(ask("report ids flows", buf, sizeof(buf), 5000), 1);
	cr_assert_str_eq(buf, "No such file or directory\n");
	cr_assert_eq(ask("report ids flows --json", buf, sizeof(buf), 5000), 1);
	cr_assert_str_eq(buf, "{\"error\":\"No such file or directory\"}\n");
	cr_assert_eq(ask("report ids", buf, sizeof(buf), 5000), 1);
	cr_assert(strstr(buf, "usage: report NF WHAT"), "%s", buf);
	cr_assert_eq(ask("chains", buf, sizeof(buf), 5000), 1);
	cr_assert(strstr(buf, "not supported"), "%s", buf);
	cr_assert_eq(ask("explode", buf, sizeof(buf), 5000), 1);
	cr_assert(strstr(buf, "unknown command 'explode'"), "%s", buf);
	cr_assert_eq(ask("status now", buf, sizeof(buf), 5000), 1);
	cr_assert(strstr(buf, "takes no arguments"), "%s", buf);
	cr_assert_eq(ask("", buf, sizeof(buf), 5000), 1);
	cr_assert(strstr(buf, "empty request"), "%s", buf);
}

Test(ctl, socket_mode_and_parent_dir)
{
	struct stat st;
	char parent[128];

	start_server();
	cr_assert_eq(stat(sock_path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "socket mode %o", st.st_mode & 07777);
	snprintf(parent, sizeof(parent), "%s/run", dir);
	cr_assert_eq(stat(parent, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0755, "dir mode %o", st.st_mode & 07777);
	int fl = fcntl(listen_fd, F_GETFL);
	cr_assert(fl & O_NONBLOCK);
	cr_assert(fcntl(listen_fd, F_GETFD) & FD_CLOEXEC);
}

Test(ctl, run_without_client_does_nothing)
{
	listen_fd = ctl_open(sock_path);
	cr_assert_geq(listen_fd, 0);
	srv = ctl_server_new(listen_fd, &handlers, NULL, 4);
	cr_assert_not_null(srv);
	cr_assert_eq(ctl_server_run(srv), 0);
	cr_assert_eq(ctl_server_timeout_ms(srv), -1, "no client, no deadline");
	ctl_server_free(srv);
	srv = NULL;
	ctl_close(listen_fd, sock_path);
	listen_fd = -1;
	cr_assert_eq(access(sock_path, F_OK), -1, "ctl_close removes the socket");
}

static double elapsed(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, sock_path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	return fd;
}

static struct ctl_stats server_stats(void)
{
	struct ctl_stats st;

	ctl_server_stats(srv, &st);
	return st;
}

static void *drip_loop(void *arg)
{
	int fd = *(int *)arg;

	for (int i = 0; i < 30; i++) {
		if (send(fd, "s", 1, MSG_NOSIGNAL) < 0)
			break;
		usleep(100000);
	}
	return NULL;
}

Test(ctl, silent_client_times_out_on_the_server)
{
	struct timespec t0;
	char buf[64];
	int fd;

	start_server();
	fd = raw_connect();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Meanwhile others are served at once. */
	cr_assert_eq(ask("status", buf, sizeof(buf), 500), 0);
	cr_assert(elapsed(&t0) < 0.5);
	cr_assert_eq(recv(fd, buf, sizeof(buf), 0), 0, "the server closed without replying");
	double s = elapsed(&t0);
	cr_assert(s >= 0.9 && s < 3.0, "server dropped the silent client after %.2f s", s);
	close(fd);

	/* A slow drip is bounded by the same deadline, not per byte. (A thread, not a
	 * child: a child would hold a copy of the server's end of the connection.) */
	pthread_t drip;
	int dfd = raw_connect();

	cr_assert_eq(pthread_create(&drip, NULL, drip_loop, &dfd), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Closed with the drip unread: end of file or a reset, never a reply. */
	cr_assert_leq(recv(dfd, buf, sizeof(buf), 0), 0, "the server closed without replying");
	s = elapsed(&t0);
	cr_assert(s < 2.0, "server waited %.2f s", s);
	pthread_join(drip, NULL);
	close(dfd);
	cr_assert_eq(server_stats().timed_out, 2);
}

Test(ctl, unanswering_server_times_out_on_the_client)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec t0;
	char buf[128];
	int fd, r;

	/* Listening but never accepting: connect succeeds, no reply ever comes. */
	mkdir(dir, 0755);
	strcpy(sa.sun_path, sock_path);
	snprintf(buf, sizeof(buf), "%s/run", dir);
	mkdir(buf, 0755);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = ask("status", buf, sizeof(buf), 300);
	cr_assert_eq(r, -ETIMEDOUT, "got %d", r);
	cr_assert(elapsed(&t0) < 2.0);
	close(fd);
}

Test(ctl, stale_live_and_foreign_files)
{
	char buf[256], other[160];
	int fd, r;

	/* Nobody there at all. */
	cr_assert_eq(ask("status", buf, sizeof(buf), 1000), -ENOENT);
	/* A stale socket (its daemon died without cleaning up): clients are refused, ctl_open replaces it. */
	fd = ctl_open(sock_path);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(access(sock_path, F_OK), 0);
	cr_assert_eq(ask("status", buf, sizeof(buf), 1000), -ECONNREFUSED);
	start_server();
	cr_assert_eq(ask("status", buf, sizeof(buf), 5000), 0);
	/* A live one is never taken over. */
	r = ctl_open(sock_path);
	cr_assert_eq(r, -EADDRINUSE, "got %d", r);
	cr_assert_eq(ask("status", buf, sizeof(buf), 5000), 0, "the running server is untouched");
	/* Something that is not a socket is never removed. */
	snprintf(other, sizeof(other), "%s/run/not-a-socket", dir);
	FILE *f = fopen(other, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(ctl_open(other), -EEXIST);
	cr_assert_eq(access(other, F_OK), 0);
}

Test(ctl, overlong_request_and_client_that_leaves)
{
	char buf[4096], big[CTL_LINE_MAX + 100];
	int fd;

	handlers.chains = fake_big;
	start_server();
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	fd = raw_connect();
	cr_assert_eq(send(fd, big, strlen(big), 0), (ssize_t)strlen(big));
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(!strncmp(buf, "ERR\nrequest longer than", 23), "%s", buf);
	close(fd);

	/* Asks for a big reply and hangs up at once: no SIGPIPE, and the server carries on. */
	fd = raw_connect();
	cr_assert_eq(send(fd, "chains\n", 7, 0), 7);
	close(fd);
	usleep(300000);
	cr_assert_eq(ask("status", buf, sizeof(buf), 5000), 0);
	cr_assert_str_eq(buf, "backend: cpu\nports: 2\n");
	handlers.chains = NULL;
}

Test(ctl, big_reply_arrives_whole)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	handlers.chains = fake_big;
	start_server();
	f = open_memstream(&body, &len);
	cr_assert_eq(ctl_request(sock_path, "chains", f), 0);
	fclose(f);
	cr_assert_eq(strncmp(body, "line 0 of", 9), 0);
	cr_assert_not_null(strstr(body, "line 199999 of a big report\n"));
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += body[i] == '\n';
	cr_assert_eq(lines, 200000);
	free(body);
	handlers.chains = NULL;
}

/* A connected socket that never sends: connect without blocking, retrying while the backlog is full. */
static int idle_connect(double deadline_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec t0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	cr_assert_geq(fd, 0);
	strcpy(sa.sun_path, sock_path);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno != EAGAIN || elapsed(&t0) > deadline_s) {
			close(fd);
			return -1;
		}
		usleep(1000);
	}
	return fd;
}

Test(ctl, idle_clients_do_not_stall_status)
{
	enum { N = 200 };
	int fds[N], connected = 0;
	struct timespec t0;
	char buf[256];

	start_server();
	for (int i = 0; i < N; i++) {
		fds[i] = idle_connect(0.5);
		connected += fds[i] >= 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = ask("status", buf, sizeof(buf), 3000);
	double s = elapsed(&t0);
	cr_assert_eq(r, 0, "status with %d idle clients connected: %d (%s)", connected, r, strerror(-r));
	cr_assert_str_eq(buf, "backend: cpu\nports: 2\n");
	cr_assert(s < 0.5, "status took %.3f s with %d idle clients", s, connected);
	cr_assert_eq(connected, N, "only %d of %d idle clients could connect", connected, N);
	struct ctl_stats st = server_stats();
	cr_assert_leq(st.clients, CTL_MAX_CLIENTS);
	cr_assert_geq(st.evicted, N - CTL_MAX_CLIENTS, "idle clients beyond the cap make room: %llu evicted",
		      (unsigned long long)st.evicted);
	cr_log_info("status answered in %.1f ms beside %d idle clients (%u held, %llu evicted)", s * 1e3, connected,
		    st.clients, (unsigned long long)st.evicted);
	for (int i = 0; i < N; i++)
		close(fds[i]);
}

/* Every slot busy sending a big reply to a client that does not read: the next one is refused at once. */
Test(ctl, clients_beyond_the_cap_are_refused_and_counted)
{
	enum { MAX = 4 };
	int fds[MAX], fd;
	char buf[256];
	ssize_t n;

	handlers.chains = fake_big;
	srv_max = MAX;
	start_server();
	for (int i = 0; i < MAX; i++) {
		fds[i] = raw_connect();
		cr_assert_eq(send(fds[i], "chains\n", 7, 0), 7);
	}
	while (server_stats().requests < MAX)
		usleep(10000);
	fd = raw_connect();
	n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(!strncmp(buf, "ERR\nbusy", 8), "%s", buf);
	close(fd);
	struct ctl_stats st = server_stats();
	cr_assert_eq(st.refused, 1);
	cr_assert_eq(st.clients, MAX);
	/* Once they hang up, the server answers again. */
	for (int i = 0; i < MAX; i++)
		close(fds[i]);
	usleep(200000);
	cr_assert_eq(ask("status", buf, sizeof(buf), 2000), 0);
	handlers.chains = NULL;
	srv_max = CTL_MAX_CLIENTS;
}

Test(ctl, json_string_escaping)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	ctl_json_key(f, "k\"ey");
	ctl_json_str(f, "a\\b\n\t\x01\x1f\x7f é /");
	fputc(',', f);
	ctl_json_str(f, "");
	fputc(',', f);
	ctl_json_str(f, NULL);
	fclose(f);
	cr_assert_str_eq(s, "\"k\\\"ey\":\"a\\\\b\\n\\t\\u0001\\u001f\\u007f é /\",\"\",\"\"");
	free(s);
}

/* genctl itself: its exit codes are part of the interface (systemd's ExecReload uses them). */
static int run_genctl(const char *args, char *out, size_t len)
{
	char cmd[512];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/daemon/genctl -s '%s' %s 2>&1", GEN_BINARY_DIR, sock_path, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	st = pclose(p);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

Test(ctl, genctl_exit_codes)
{
	char out[4096];

	if (access(GEN_BINARY_DIR "/daemon/genctl", X_OK))
		cr_skip_test("genctl is not built");
	cr_assert_eq(run_genctl("status", out, sizeof(out)), 3, "%s", out);
	cr_assert(strstr(out, sock_path) && strstr(out, "is gend running"), "%s", out);
	start_server();
	cr_assert_eq(run_genctl("status", out, sizeof(out)), 0, "%s", out);
	cr_assert_str_eq(out, "backend: cpu\nports: 2\n");
	cr_assert_eq(run_genctl("--json stats", out, sizeof(out)), 0, "%s", out);
	cr_assert_str_eq(out, "json=1\n");
	cr_assert_eq(run_genctl("alerts ids", out, sizeof(out)), 0, "%s", out);
	cr_assert_str_eq(out, "nf=ids what=alerts json=0 ctx=ctx-ok\n");
	cr_assert_eq(run_genctl("reload", out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "chains.ini:7:"), "%s", out);
	cr_assert_eq(run_genctl("flows", out, sizeof(out)), 2, "%s", out);
	cr_assert_eq(run_genctl("frobnicate", out, sizeof(out)), 2, "%s", out);
	cr_assert_eq(run_genctl("", out, sizeof(out)), 2, "%s", out);
	cr_assert_eq(run_genctl("--bogus status", out, sizeof(out)), 2, "%s", out);
}
