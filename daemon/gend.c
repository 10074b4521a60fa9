// SPDX-License-Identifier: GPL-2.0
/*
 * gend: the GEN daemon. Loads chains.ini, brings up the XDP classifier, the
 * AF_XDP port workers and one SFC controller per chain, then serves the control
 * socket, reloads and signals from one event loop.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "ctl.h"
#include "demote.h"
#include "events.h"
#include "flowexp.h"
#include "metrics.h"
#include "notify.h"
#include "rt.h"

static int verbose;

__attribute__((format(printf, 2, 3))) static void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > LOG_INFO && !verbose)
		return;
	/* Under systemd the "<N>" prefix sets the journal priority. */
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Log each line of a multi-line error. */
static void log_lines(int prio, const char *msg)
{
	char buf[4096], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", msg);
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		log_msg(prio, "%s", l);
}

static void say(int prio, const char *msg)
{
	log_msg(prio, "%s", msg);
}

/*
 * libbpf's and libxdp's messages, one level lower than they call them: their
 * warnings are often expected (libxdp falling back to a lone program, libbpf
 * skipping a section), so warnings become notices and infos debug lines; their
 * debug output (every verifier step) shows with -v -v only.
 */
static void lib_log(int level, bool is_debug, const char *fmt, va_list ap)
{
	char buf[4096];

	if (is_debug && verbose < 2)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_lines(level, buf);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	lib_log(level == LIBBPF_WARN ? LOG_NOTICE : LOG_DEBUG, level == LIBBPF_DEBUG, fmt, ap);
	return 0;
}

static int libxdp_log(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	lib_log(level == LIBXDP_WARN ? LOG_NOTICE : LOG_DEBUG, level == LIBXDP_DEBUG, fmt, ap);
	return 0;
}

/*
 * The control group: members may run genctl's read-only commands. Group "gen"
 * when it exists, or the one GEN_CONTROL_GROUP names (empty: none, root only).
 */
static void share_control(const char *path)
{
	const char *name = getenv("GEN_CONTROL_GROUP");
	bool asked = name != NULL;
	struct group *gr;
	int r;

	if (!name)
		name = "gen";
	if (!*name)
		return;
	gr = getgrnam(name);
	if (!gr) {
		log_msg(asked ? 4 : 7, "control socket %s: no group '%s', so root only", path, name);
		return;
	}
	r = ctl_set_group(path, gr->gr_gid);
	if (r < 0)
		log_msg(LOG_WARNING, "cannot open the control socket %s to group '%s': %s%s; root only", path, name,
			strerror(-r), r == -EPERM ? " (needs CAP_CHOWN)" : "");
	else
		log_msg(LOG_INFO, "control socket %s: group '%s' may run read-only commands", path, name);
}

/* A crash leaves a backtrace in the journal: frames as binary+offset for addr2line. */
static void fatal_signal(int sig)
{
	void *frames[64];
	int n = backtrace(frames, 64);
	char msg[64];
	int len = snprintf(msg, sizeof(msg), "gend: fatal signal %d, backtrace:\n", sig);

	if (write(STDERR_FILENO, msg, (size_t)len) < 0)
		_exit(128 + sig);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	raise(sig); /* reset to its default action by the guard: a core dump where enabled */
}

/* A fault inside a chain's batch fails that chain only (daemon/guard.h); any other is fatal. */
static void install_crash_handler(void)
{
	void *warm[1];
	int r;

	backtrace(warm, 1); /* loads libgcc now, not inside the handler */
	r = guard_install(fatal_signal);
	if (r)
		log_msg(LOG_WARNING, "cannot start the NF watchdog: %s; a looping NF will not be cut short", strerror(-r));
}

static void usage(FILE *out)
{
	fprintf(out, "usage: gend [-c FILE] [-f] [--backend auto|gpu|cpu|hybrid] [--frames N] [-v]\n"
		     "       gend --check [-c] FILE\n"
		     "       gend --version\n"
		     "  -c, --config FILE   configuration (default %s)\n"
		     "  -f, --foreground    stay in the foreground (always the case under systemd)\n"
		     "      --check         validate FILE (and the files it names) and exit\n"
		     "      --backend B     override [gen] backend\n"
		     "      --frames N      UMEM frames per queue (default 16384)\n"
		     "  -v, --verbose       more logging (twice: libbpf and libxdp debug output too)\n"
		     "  -V, --version       print the version and exit\n",
		CFG_DEFAULT_FILE);
}

/* The backends this binary carries: a cpu-only build says so. */
static void print_version(void)
{
#ifdef GEN_HAVE_CUDA
	printf("gend %s (backends: cpu gpu)\n", GEN_VERSION);
#else
	printf("gend %s (backends: cpu)\n", GEN_VERSION);
#endif
}

struct gend {
	struct rt rt;
	struct ctl_server *ctl, *http; /* control socket; metrics listener or NULL */
	const char *config;
	uint64_t last_rx;
	struct timespec last_ts;
	double pps;
	struct events ev;     /* nids alert events */
	struct flowexp fx;    /* flow expiry and IPFIX export */
	int64_t last_ev_ms;
};

/* How often the alert rings are drained (flows are swept once a second). */
#define GEND_EVENTS_MS 200

/* The running config's eve_log, flow timeouts and collector; a problem is logged, never fatal. */
static void events_setup(struct gend *g)
{
	const struct cfg *c = g->rt.cfg;
	char msg[512];

	if (events_configure(&g->ev, c->eve_log, msg, sizeof(msg)))
		log_msg(LOG_WARNING, "%s", msg);
	if (flowexp_configure(&g->fx, c->flow_idle_s, c->flow_active_s, c->ipfix_addr, c->ipfix_port, msg, sizeof(msg)))
		log_msg(LOG_WARNING, "%s", msg);
}

/* Off the packet path: drain the alert rings, sweep the flow tables. */
static void events_run(struct gend *g, bool final)
{
	events_poll(&g->ev, &g->rt);
	flowexp_poll(&g->fx, &g->rt, final);
	g->last_ev_ms = ctl_now_ms();
}

static void set_status(struct gend *g)
{
	notify_status("backend %s; %.0f pps; %d chains; generation %u", g->rt.be->name, g->pps, g->rt.nchains,
		      g->rt.generation);
}

static void poll_faults(struct gend *g)
{
	char msg[4096];

	if (rt_poll_faults(&g->rt, msg, sizeof(msg)))
		log_lines(LOG_ERR, msg);
}

static void on_link(const struct link_event *ev, void *ctx)
{
	char msg[256];

	if (rt_link_event(&((struct gend *)ctx)->rt, ev, msg, sizeof(msg)))
		log_msg(LOG_WARNING, "%s", msg);
}

static void tick(struct gend *g)
{
	char msg[2048];
	struct timespec now;
	uint64_t rx = rt_rx_total(&g->rt);
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - g->last_ts.tv_sec) + (double)(now.tv_nsec - g->last_ts.tv_nsec) / 1e9;
	if (dt > 0)
		g->pps = (double)(rx - g->last_rx) / dt;
	g->rt.pps = g->pps;
	g->last_rx = rx;
	g->last_ts = now;
	rt_poll_events(&g->rt, say);
	set_status(g);
	notify_watchdog();
	poll_faults(g);
	if (rt_rebind_retry(&g->rt, msg, sizeof(msg)))
		log_lines(LOG_WARNING, msg);
}

/*
 * The longest one start or reload may keep the main loop busy while the keeper
 * feeds the watchdog: above each compile's own limit (custom NFs: at most 90 s),
 * so a hung step is still caught, 100 s later plus WatchdogSec.
 */
#define GEN_STEP_MAX_USEC (100 * 1000000ull)

static int do_reload(struct gend *g, FILE *out)
{
	char err[4096];
	int r;

	notify_reloading();
	notify_busy_begin(GEN_STEP_MAX_USEC);
	events_poll(&g->ev, &g->rt); /* a replaced nids takes its ring with it */
	log_msg(LOG_INFO, "reloading %s", g->config);
	r = rt_reload(&g->rt, g->config, err, sizeof(err));
	if (r) {
		log_msg(LOG_ERR, "reload rejected, the running chains keep running:");
		log_lines(LOG_ERR, err);
		if (out)
			fprintf(out, "%s\n", err);
	} else {
		log_lines(LOG_WARNING, err); /* ports found replaced, if any */
		events_setup(g); /* the eve file is reopened on every reload (logrotate) */
		log_msg(LOG_INFO, "reload applied: generation %u, %d chains", g->rt.generation, g->rt.nchains);
		if (out && err[0])
			fprintf(out, "%s\n", err);
		if (out)
			fprintf(out, "reload applied: generation %u, %d chains\n", g->rt.generation, g->rt.nchains);
	}
	notify_busy_end();
	notify_ready(NULL);
	set_status(g);
	return r;
}

/* The control server's own figures: a line of `status`, a member of `status --json`. */
static void print_ctl_stats(const struct gend *g, FILE *out, bool json)
{
	struct ctl_stats st;

	ctl_server_stats(g->ctl, &st);
	if (json)
		fprintf(out, "\"control\":{\"clients\":%u,\"max_clients\":%u,\"requests\":%llu,\"served\":%llu,"
			"\"timed_out\":%llu,\"evicted\":%llu,\"refused\":%llu}", st.clients, st.max_clients,
			(unsigned long long)st.requests, (unsigned long long)st.served, (unsigned long long)st.timed_out,
			(unsigned long long)st.evicted, (unsigned long long)st.refused);
	else
		fprintf(out, "control:      %u of %u clients; %llu requests, %llu timed out, %llu evicted, %llu refused\n",
			st.clients, st.max_clients, (unsigned long long)st.requests, (unsigned long long)st.timed_out,
			(unsigned long long)st.evicted, (unsigned long long)st.refused);
}

static int h_status(void *ctx, FILE *out, bool json)
{
	struct gend *g = ctx;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!json) {
		rt_print_status(&g->rt, out, false);
		print_ctl_stats(g, out, false);
		events_print(&g->ev, out, false);
		flowexp_print(&g->fx, out, false);
		return 0;
	}
	/* The runtime's object, with "control" added as its last member. */
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	rt_print_status(&g->rt, f, true);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	if (!len || buf[len - 1] != '}') {
		free(buf);
		return -EPROTO;
	}
	fwrite(buf, 1, len - 1, out);
	fputc(',', out);
	print_ctl_stats(g, out, true);
	fputc(',', out);
	events_print(&g->ev, out, true);
	fputc(',', out);
	flowexp_print(&g->fx, out, true);
	fputs("}\n", out);
	free(buf);
	return 0;
}

static int h_stats(void *ctx, FILE *out, bool json)
{
	rt_print_stats(&((struct gend *)ctx)->rt, out, json);
	return 0;
}

static int h_chains(void *ctx, FILE *out, bool json)
{
	rt_print_chains(&((struct gend *)ctx)->rt, out, json);
	return 0;
}

static int h_metrics(void *ctx, FILE *out, bool json)
{
	struct gend *g = ctx;
	struct ctl_stats st;

	metrics_print(&g->rt, out);
	ctl_server_stats(g->ctl, &st);
	fprintf(out, "# HELP gen_control_clients Control socket connections open now.\n"
		     "# TYPE gen_control_clients gauge\ngen_control_clients %u\n", st.clients);
	fprintf(out, "# HELP gen_control_dropped_total Control connections closed without a reply, by reason.\n"
		     "# TYPE gen_control_dropped_total counter\n"
		     "gen_control_dropped_total{reason=\"timeout\"} %llu\n"
		     "gen_control_dropped_total{reason=\"evicted\"} %llu\n"
		     "gen_control_dropped_total{reason=\"refused\"} %llu\n",
		(unsigned long long)st.timed_out, (unsigned long long)st.evicted, (unsigned long long)st.refused);
	fprintf(out, "# HELP gen_eve_events_total NIDS alert events drained from the rings, by outcome.\n"
		     "# TYPE gen_eve_events_total counter\n"
		     "gen_eve_events_total{outcome=\"written\"} %llu\n"
		     "gen_eve_events_total{outcome=\"unwritten\"} %llu\n"
		     "gen_eve_events_total{outcome=\"incomplete\"} %llu\n",
		(unsigned long long)g->ev.written, (unsigned long long)g->ev.unwritten, (unsigned long long)g->ev.skipped);
	fprintf(out, "# HELP gen_flows_expired_total Flows evicted from flowmon tables after their idle timeout.\n"
		     "# TYPE gen_flows_expired_total counter\ngen_flows_expired_total %llu\n"
		     "# HELP gen_ipfix_records_total Flow records sent to the IPFIX collector.\n"
		     "# TYPE gen_ipfix_records_total counter\ngen_ipfix_records_total %llu\n"
		     "# HELP gen_ipfix_send_errors_total IPFIX messages that could not be sent.\n"
		     "# TYPE gen_ipfix_send_errors_total counter\ngen_ipfix_send_errors_total %llu\n",
		(unsigned long long)g->fx.expired, (unsigned long long)g->fx.exported,
		(unsigned long long)g->fx.send_errors);
	return 0;
}

static int h_reload(void *ctx, FILE *out, bool json)
{
	return do_reload(ctx, out);
}

static int h_report(void *ctx, const char *nf, const char *what, FILE *out, bool json)
{
	int r = rt_report(&((struct gend *)ctx)->rt, nf, what, out, json);

	if (r == -ENOENT)
		fprintf(out, "no running NF named '%s' has a '%s' report\n", nf, what);
	else if (r == -ENOTSUP)
		fprintf(out, "NF '%s' has no reports\n", nf);
	return r;
}

static int h_sample(void *ctx, FILE *out, bool json)
{
	rt_print_sample(&((struct gend *)ctx)->rt, out);
	return 0;
}

static int h_synth_rate(void *ctx, const char *arg, FILE *out, bool json)
{
	struct gend *g = ctx;
	bool synth = false;
	char *end;
	unsigned long long pps;

	errno = 0;
	pps = strtoull(arg, &end, 10);
	if (errno || *end || arg[0] < '0' || arg[0] > '9' || pps > 1000000000ull) {
		fprintf(out, "synth-rate: '%s' is not packets per second 0..1000000000 (0: as fast as possible)", arg);
		return -EINVAL;
	}
	for (int p = 0; p < g->rt.nports; p++)
		synth |= synth_is_name(g->rt.cfg->ports[p]);
	if (!synth) {
		fprintf(out, "synth-rate: no synthetic port (ports = synth:N) is configured");
		return -ENODEV;
	}
	rt_set_synth_rate(&g->rt, pps);
	fprintf(out, "synthetic ports: %llu packets/s per port and queue\n", pps);
	return 0;
}

static const struct ctl_handlers handlers = {
	.status = h_status,
	.stats = h_stats,
	.chains = h_chains,
	.reload = h_reload,
	.metrics = h_metrics,
	.report = h_report,
	.sample = h_sample,
	.synth_rate = h_synth_rate,
};

/*
 * Inline ESP keys in a file others can read are readable by every user of the
 * host: a warning, not an error, so an existing set-up keeps loading.
 */
static void warn_inline_keys(const struct cfg *cfg, const char *path)
{
	struct stat st;

	if (stat(path, &st) || !(st.st_mode & S_IROTH))
		return;
	for (int i = 0; i < cfg->n_nfs; i++) {
		const struct cfg_nf *nf = &cfg->nfs[i];

		for (int k = 0; k < nf->nkv; k++) {
			if (strcmp(nf->kv[k].key, "enc_key") && strcmp(nf->kv[k].key, "auth_key"))
				continue;
			fprintf(stderr, "%s:%d: warning: inline %s of nf '%s' in a file readable by others (mode %04o); "
				"chmod 0640 the file, or move the key to %s_file (root-only)\n", path, nf->kv[k].line,
				nf->kv[k].key, nf->name, (unsigned)(st.st_mode & 07777), nf->kv[k].key);
		}
	}
}

static int check_only(const char *path)
{
	char err[8192];
	struct cfg *cfg = NULL;
	int r = cfg_load(path, &cfg, err, sizeof(err));

	if (!r)
		r = rt_check_capacity(cfg, err, sizeof(err));
	if (!r)
		r = cfg_build_nfs(cfg, NULL, err, sizeof(err));
	if (r) {
		fprintf(stderr, "%s\n", err);
		cfg_free(cfg);
		return 1;
	}
	warn_inline_keys(cfg, path);
	printf("%s: OK (%d ports, %d NFs, %d chains)\n", path, cfg->nports, cfg->n_nfs, cfg->nchains);
	cfg_free(cfg);
	return 0;
}

/*
 * The queues netdev ifindex (named ifname) has for AF_XDP sockets, the fewer
 * of its RX and TX queues: from ethtool's channels, else from sysfs where
 * sysfs shows this network namespace's device; 0 where unknown.
 */
static uint32_t netdev_queues(const char *ifname, int ifindex)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr = { 0 };
	uint32_t rx = 0, tx = 0;
	char path[64];
	struct dirent *e;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1, idx;
	DIR *d;
	FILE *f;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	if (fd >= 0) {
		r = ioctl(fd, SIOCETHTOOL, &ifr);
		close(fd);
	}
	if (!r) {
		rx = ch.combined_count + ch.rx_count;
		tx = ch.combined_count + ch.tx_count;
		return rx < tx ? rx : tx;
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/ifindex", ifname);
	if (!(f = fopen(path, "re")))
		return 0;
	r = fscanf(f, "%d", &idx) == 1 && idx == ifindex;
	fclose(f);
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	if (!r || !(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		rx += !strncmp(e->d_name, "rx-", 3);
		tx += !strncmp(e->d_name, "tx-", 3);
	}
	closedir(d);
	return rx < tx ? rx : tx;
}

/*
 * A copy-mode port with one TX socket a queue: its transmit runs inside the
 * sendto() that kicks the socket, one core at a time per queue; say what
 * tx_sockets would give it (its queues allowing).
 */
static void tx_sockets_hint(const struct rt *rt, int p)
{
	uint32_t k = netdev_queues(rt->cfg->ports[p], rt->ifindex[p]) / (uint32_t)rt->nq;

	if (k > GEN_MAX_TX_SOCKS)
		k = GEN_MAX_TX_SOCKS;
	if (k >= 2)
		log_msg(LOG_INFO, "port %d '%s': one TX socket per queue, and copy-mode transmit is serial per socket: "
			"the port has the queues for tx_sockets = %u ([gen]), which spreads it over as many", p + 1,
			rt->cfg->ports[p], k);
	else
		log_msg(LOG_INFO, "port %d '%s': one TX socket per queue, and copy-mode transmit is serial per socket: "
			"tx_sockets = N ([gen]) spreads it over N where the port has N x %d queues", p + 1,
			rt->cfg->ports[p], rt->nq);
}

/* How the UMEM and the sockets came up, where that fell back from the better choice. */
static void log_data_path(const struct rt *rt)
{
	if (rt->workers[0].hugepages)
		log_msg(LOG_INFO, "UMEM on 2 MiB hugepages");
	else
		log_msg(LOG_NOTICE, "UMEM on normal pages: no 2 MiB hugepages free (vm.nr_hugepages)");
	log_msg(LOG_INFO, "frame lines read by the port workers and TX kickers: %s ([gen] demote = %s%s)",
		rt->workers[0].demote ? "demoted to the shared cache" : "left in their caches",
		(const char *const[])CFG_DEMOTE_NAMES[rt->cfg->demote],
		rt->cfg->demote == CFG_DEMOTE_AUTO ? (demote_supported() ? "; the CPU has CLDEMOTE" : "; the CPU lacks CLDEMOTE") : "");
	log_msg(LOG_INFO, "idle data-plane threads poll %u us before they block, up to %u us while sleeps are cut short "
		"([gen] spin_us, spin_max_us)", rt->cfg->spin_us,
		__atomic_load_n(&wake_spin_max_ns, __ATOMIC_RELAXED) / 1000u);
	for (int p = 0; p < rt->nports; p++) {
		const struct port_q *pq = &rt->workers[0].port[p];

		if (pq->synth)
			log_msg(LOG_INFO, "port %d '%s': synthetic", p + 1, rt->cfg->ports[p]);
		else if (!pq->zerocopy && rt->cfg->xdp_bind == XSK_BIND_AUTO)
			log_msg(LOG_NOTICE, "port %d '%s': no AF_XDP zero-copy in its driver, copy mode", p + 1, rt->cfg->ports[p]);
		else
			log_msg(LOG_INFO, "port %d '%s': AF_XDP %s mode", p + 1, rt->cfg->ports[p], pq->zerocopy ? "zero-copy" : "copy");
		if (pq->ntx > 1)
			log_msg(LOG_INFO, "port %d '%s': %d TX sockets per queue (queues 0..%d)", p + 1, rt->cfg->ports[p],
				pq->ntx, rt->nq * pq->ntx - 1);
		else if (pq->ntx_err)
			log_msg(LOG_NOTICE, "port %d '%s': one TX socket per queue: tx_sockets = %u needs %u queues on it "
				"(tx_sockets x queues), and binding the extra ones failed: %s", p + 1, rt->cfg->ports[p],
				rt->cfg->tx_sockets, rt->cfg->tx_sockets * (uint32_t)rt->nq, strerror(pq->ntx_err));
		else if (!pq->synth && !pq->zerocopy)
			tx_sockets_hint(rt, p);
		if (pq->synth)
			continue;
		if (cls_attach_shared(rt->cls, rt->ifindex[p]) == 1)
			log_msg(LOG_INFO, "port %d '%s': gen_cls in libxdp's dispatcher (priority 10): other XDP programs may "
				"share the port", p + 1, rt->cfg->ports[p]);
		else
			log_msg(LOG_NOTICE, "port %d '%s': gen_cls attached alone, without libxdp's dispatcher (the kernel lacks "
				"BPF_PROG_TYPE_EXT, LIBXDP_SKIP_DISPATCHER is set, or a crashed run's lone gen_cls was "
				"replaced in place): no other XDP program can share the port", p + 1, rt->cfg->ports[p]);
	}
	if (rt->nq > 0 && rt->workers[0].tx_budget_err)
		log_msg(LOG_NOTICE, "copy-mode TX sends the kernel's 32 frames a sendto(): it refused [gen] tx_budget (%s%s)",
			strerror(rt->workers[0].tx_budget_err),
			rt->workers[0].tx_budget_err == ENOPROTOOPT ? "; Linux 6.17 and later have it" : "");
	else if (rt->nq > 0 && rt->cfg->tx_budget > GEN_KERNEL_TX_BATCH)
		log_msg(LOG_INFO, "copy-mode TX sends up to %u frames a sendto() ([gen] tx_budget)", rt->cfg->tx_budget);
	else if (rt->nq > 0 && !rt->cfg->tx_budget && rt->workers[0].tx_any_threaded)
		log_msg(LOG_INFO, "copy-mode TX sends up to %u frames a sendto() on TX sockets with a kicker thread, %u on "
			"those the port worker and chain controllers kick ([gen] tx_budget = auto)",
			rt->workers[0].tx_budget_threaded, rt->workers[0].tx_budget_shared);
	/*
	 * Every data-plane thread polls while it has work: with more of them than
	 * CPUs, more TX sockets made veth slower (8 queues with 3 sockets on 16
	 * CPUs, test/bench/RESULTS.md). tx_thread = auto then keeps kicker
	 * threads only for the sockets the CPUs have room for (rt.c: tx_thread_plan).
	 */
	int ntx = 1;

	for (int p = 0; p < rt->nports; p++)
		ntx = rt->workers[0].port[p].ntx > ntx ? rt->workers[0].port[p].ntx : ntx;
	if (ntx > 1 && rt->dp_threads > rt->dp_cpus) {
		char how[160];

		if (rt->tx_first_worker)
			snprintf(how, sizeof(how), "tx_thread = auto: per queue kicker threads for %u of the %d extra TX "
				 "sockets; the port worker and idle chain controllers kick the others", rt->tx_kickers, ntx - 1);
		else
			snprintf(how, sizeof(how), "each TX socket has a kicker thread");
		log_msg(LOG_NOTICE, "queues = %d, tx_sockets = %d: %d data-plane threads with a TX kicker per socket (per "
			"queue a port worker, a controller per chain and %d kickers) on %d CPUs%s; %s; past the CPUs more "
			"kicker threads are slower, not faster", rt->nq, ntx, rt->dp_threads, ntx, rt->dp_cpus,
			rt->cfg->ncpus ? " ([gen] cpus)" : "", how);
	}
}

static int run(struct gend *g, const char *backend, uint32_t frames)
{
	char err[8192] = "", control[256];
	struct cfg *cfg = NULL;
	sigset_t mask;
	int sfd, tfd, cfd, mfd = -1, lfd, r;
	uint64_t wd_usec = 0;
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGPIPE);
	/* Blocked before any thread starts, so only the event loop sees them. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	/* Fed at half the watchdog interval; without a watchdog it only extends the start and reload timeouts. */
	if (notify_watchdog_usec(&wd_usec) <= 0 || !wd_usec)
		wd_usec = 0;
	r = notify_keeper_start(wd_usec ? wd_usec / 2 : 5000000);
	if (r)
		log_msg(LOG_WARNING, "cannot start the watchdog keeper: %s; a long compile may outlive the watchdog", strerror(-r));
	notify_busy_begin(GEN_STEP_MAX_USEC);
	r = cfg_load(g->config, &cfg, err, sizeof(err));
	if (!r)
		r = cfg_build_nfs(cfg, NULL, err, sizeof(err));
	if (r) {
		log_lines(LOG_ERR, err);
		cfg_free(cfg);
		notify_keeper_stop();
		return 1;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	r = rt_start(&g->rt, cfg, backend, frames, CLS_PIN_DIR, err, sizeof(err));
	if (r) {
		log_lines(LOG_ERR, err[0] ? err : strerror(-r));
		rt_stop(&g->rt);
		return 1;
	}
	log_msg(LOG_INFO, "backend: %s", g->rt.backend_why);
	log_data_path(&g->rt);
	events_init(&g->ev);
	flowexp_init(&g->fx);
	events_setup(g);
	cfd = ctl_open(g->rt.cfg->control);
	if (cfd < 0) {
		log_msg(LOG_ERR, "failed to open the control socket %s: %s", g->rt.cfg->control, strerror(-cfd));
		rt_stop(&g->rt);
		return 1;
	}
	share_control(g->rt.cfg->control);
	if (g->rt.cfg->metrics_port) {
		struct in_addr a = { htonl(g->rt.cfg->metrics_addr) };

		mfd = metrics_http_open(g->rt.cfg->metrics_addr, g->rt.cfg->metrics_port);
		if (mfd < 0) {
			log_msg(LOG_ERR, "failed to listen for metrics on %s:%u: %s", inet_ntoa(a), g->rt.cfg->metrics_port,
				strerror(-mfd));
			ctl_close(cfd, g->rt.cfg->control);
			rt_stop(&g->rt);
			return 1;
		}
		log_msg(LOG_INFO, "metrics on http://%s:%u/metrics", inet_ntoa(a), g->rt.cfg->metrics_port);
	}
	lfd = link_open();
	if (lfd < 0)
		log_msg(LOG_WARNING, "cannot watch interfaces (rtnetlink): %s; a port that goes away is not noticed", strerror(-lfd));
	g->ctl = ctl_server_new(cfd, &handlers, g, CTL_MAX_CLIENTS);
	if (g->ctl && mfd >= 0)
		g->http = metrics_http_server(mfd, &g->rt);
	if (!g->ctl || (mfd >= 0 && !g->http)) {
		log_msg(LOG_ERR, "failed to set up the control server: %s", strerror(errno));
		ctl_server_free(g->ctl);
		ctl_close(cfd, g->rt.cfg->control);
		if (mfd >= 0)
			close(mfd);
		if (lfd >= 0)
			close(lfd);
		rt_stop(&g->rt);
		return 1;
	}
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (wd_usec && wd_usec < 2000000) {
		its.it_interval.tv_sec = 0;
		its.it_interval.tv_nsec = (long)(wd_usec / 2 * 1000);
		its.it_value = its.it_interval;
	}
	timerfd_settime(tfd, 0, &its, NULL);
	clock_gettime(CLOCK_MONOTONIC, &g->last_ts);
	log_msg(LOG_INFO, "gend ready: %d ports, %d queues, %d chains, control socket %s", g->rt.nports, g->rt.nq,
		g->rt.nchains, g->rt.cfg->control);
	notify_busy_end();
	notify_ready(NULL);
	set_status(g);

	for (;;) {
		/* No metrics listener or no interface watch: fd -1, which poll ignores. */
		struct pollfd pfd[5] = { { sfd, POLLIN, 0 }, { ctl_server_fd(g->ctl), POLLIN, 0 }, { tfd, POLLIN, 0 },
					 { g->http ? ctl_server_fd(g->http) : -1, POLLIN, 0 }, { lfd, POLLIN, 0 } };
		struct signalfd_siginfo si;
		uint64_t ticks;
		int wait = ctl_server_timeout_ms(g->ctl), hwait = g->http ? ctl_server_timeout_ms(g->http) : -1;

		if (hwait >= 0 && (wait < 0 || hwait < wait))
			wait = hwait;
		if (wait < 0 || wait > GEND_EVENTS_MS)
			wait = GEND_EVENTS_MS;
		/* Wakes for a client's deadline too, so one that sends nothing is dropped on time. */
		if (poll(pfd, 5, wait) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[2].revents & POLLIN) {
			if (read(tfd, &ticks, sizeof(ticks)) > 0)
				tick(g);
		}
		if (ctl_now_ms() - g->last_ev_ms >= GEND_EVENTS_MS)
			events_run(g, false);
		if (pfd[1].revents)
			poll_faults(g); /* what a client reads of a failed chain already holds in XDP */
		ctl_server_run(g->ctl);
		if (g->http)
			ctl_server_run(g->http);
		if ((pfd[4].revents & POLLIN) && (r = link_read(lfd, on_link, g)) < 0) {
			char msg[1024];

			log_msg(LOG_WARNING, "reading interface events: %s; checking every port", strerror(-r));
			if (rt_ports_resolve(&g->rt, msg, sizeof(msg)))
				log_lines(LOG_WARNING, msg);
		}
		if (pfd[0].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP) {
				do_reload(g, NULL);
			} else if (si.ssi_signo == SIGUSR1) {
				char msg[512];

				events_poll(&g->ev, &g->rt);
				if (events_reopen(&g->ev, msg, sizeof(msg)))
					log_msg(LOG_WARNING, "%s", msg);
				else if (g->ev.sink == EV_FILE)
					log_msg(LOG_INFO, "reopened %s", g->ev.path);
			} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				log_msg(LOG_INFO, "signal %d: draining chains and detaching", si.ssi_signo);
				break;
			}
		}
	}
	notify_stopping();
	events_run(g, true); /* the last alerts, and every flow still in a table (forced end) */
	events_fini(&g->ev);
	flowexp_fini(&g->fx);
	snprintf(control, sizeof(control), "%s", g->rt.cfg->control);
	rt_stop(&g->rt);
	ctl_server_free(g->ctl);
	ctl_server_free(g->http);
	ctl_close(cfd, control);
	if (mfd >= 0)
		close(mfd);
	if (lfd >= 0)
		close(lfd);
	close(tfd);
	close(sfd);
	notify_keeper_stop();
	if (rt_device_stuck(&g->rt)) {
		/* exit() would run the GPU runtime's teardown, which may wait for that kernel. */
		log_msg(LOG_INFO, "gend stopped cleanly (a GPU kernel that never ended is left to the driver)");
		fflush(NULL);
		_exit(0);
	}
	log_msg(LOG_INFO, "gend stopped cleanly");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'C' },
		{ "backend", required_argument, NULL, 'b' },
		{ "frames", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	static struct gend g;
	const char *backend = NULL;
	bool check = false, foreground = false;
	unsigned long frames = 16384;
	int o;

	g.config = CFG_DEFAULT_FILE;
	while ((o = getopt_long(argc, argv, "c:fvhV", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			g.config = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'C':
			check = true;
			break;
		case 'b':
			if (strcmp(optarg, "auto") && strcmp(optarg, "gpu") && strcmp(optarg, "cpu") && strcmp(optarg, "hybrid")) {
				fprintf(stderr, "gend: --backend must be auto, gpu, cpu or hybrid, not '%s'\n", optarg);
				return 2;
			}
			backend = optarg;
			break;
		case 'F':
			frames = strtoul(optarg, NULL, 10);
			if (frames < 1024 || frames > (1u << 20)) {
				fprintf(stderr, "gend: --frames must be 1024..1048576\n");
				return 2;
			}
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			print_version();
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* `gend --check FILE` reads as operators type it; the same as -c FILE. */
	if (check && optind == argc - 1)
		g.config = argv[optind++];
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check)
		return check_only(g.config);
	/* Timer slack bounds the idle back-off of the workers and controllers. */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	if (!foreground && !getenv("NOTIFY_SOCKET") && daemon(0, 1)) {
		fprintf(stderr, "gend: cannot daemonize: %s\n", strerror(errno));
		return 1;
	}
	install_crash_handler(); /* after the fork: it starts the watchdog thread */
	libbpf_set_print(libbpf_log);
	libxdp_set_print(libxdp_log);
	return run(&g, backend, (uint32_t)frames);
}
