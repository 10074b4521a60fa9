// SPDX-License-Identifier: GPL-2.0
/*
 * Prometheus text exposition of gend's counters, and the loopback HTTP listener
 * that serves it. Names follow Prometheus conventions: a gen_ prefix, a unit,
 * _total on counters; placement and backend are labels of *_info metrics so
 * that counters keep one series across a move to another backend or GPU.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_xdp.h>
#include "backend.h"
#include "ctl.h"
#include "metrics.h"
#include "rt.h"

/* A label value: backslash, double quote and newline escaped. */
static void label(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void print_daemon(struct rt *rt, FILE *out)
{
	struct timespec now;

	family(out, "gen_info", "gauge", "Version and backend of the running gend (always 1).");
	fprintf(out, "gen_info{version=\"%s\",backend=", GEN_VERSION);
	label(out, rt->be->name);
	fprintf(out, "} 1\n");
	family(out, "gen_config_generation", "gauge", "Configuration generation in force (0 at start, +1 per applied reload).");
	fprintf(out, "gen_config_generation %u\n", rt->generation);
	family(out, "gen_reloads_total", "counter", "Reloads by outcome.");
	fprintf(out, "gen_reloads_total{result=\"applied\"} %lu\n", (unsigned long)rt->reloads_ok);
	fprintf(out, "gen_reloads_total{result=\"rejected\"} %lu\n", (unsigned long)rt->reloads_failed);
	clock_gettime(CLOCK_MONOTONIC, &now);
	family(out, "gen_uptime_seconds", "gauge", "Seconds since gend started.");
	fprintf(out, "gen_uptime_seconds %ld\n", (long)(now.tv_sec - rt->started));
}

static void print_chain_info(struct rt *rt, FILE *out)
{
	family(out, "gen_chain_info", "gauge", "Chains in force with their placement (always 1).");
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		const char *be = __atomic_load_n(&rc->c.backend_name, __ATOMIC_ACQUIRE);

		fprintf(out, "gen_chain_info{chain=");
		label(out, rc->c.name);
		fprintf(out, ",id=\"%u\",backend=", rc->c.id);
		label(out, be ? be : rt->be->name);
		fprintf(out, ",gpu=\"%d\",output=", rc->cc->gpu);
		label(out, rt->cfg->ports[rc->cc->output - 1]);
		fprintf(out, ",nfs=");
		label(out, rc->c.cur->nfs);
		fprintf(out, "} 1\n");
	}
}

/* One chain-level counter or gauge: `name{chain="..."} value` for every chain. */
#define PER_CHAIN(out, rt, metric, fmt, expr)                                      \
	for (int i_ = 0; i_ < (rt)->nchains; i_++) {                             \
		struct rt_chain *rc = (rt)->chains[i_];                          \
		fprintf(out, metric "{chain=");                                  \
		label(out, rc->c.name);                                          \
		fprintf(out, "} " fmt "\n", expr);                               \
	}

static void print_chains(struct rt *rt, FILE *out)
{
	static const char *const dir[] = { "in", "out" };

	print_chain_info(rt, out);
	family(out, "gen_chain_packets_total", "counter",
	       "Packets a chain received from its port worker (in) and handed back to be sent (out), per queue.");
	for (int d = 0; d < 2; d++) {
		for (int i = 0; i < rt->nchains; i++) {
			struct rt_chain *rc = rt->chains[i];

			for (int q = 0; q < rc->c.nq; q++) {
				const struct chain_io *io = &rc->c.io[q];

				fprintf(out, "gen_chain_packets_total{chain=");
				label(out, rc->c.name);
				fprintf(out, ",queue=\"%d\",direction=\"%s\"} %lu\n", q, dir[d],
					(unsigned long)ld64(d ? &io->tx_packets : &io->rx_packets));
			}
		}
	}
	family(out, "gen_chain_dropped_packets_total", "counter",
	       "Packets of a chain dropped by its port worker, per queue and reason: its inbox was full, "
	       "a DROP verdict, or a PASS its output port could not take (TX ring full, port down).");
	for (int i = 0; i < rt->nchains; i++) {
		static const char *const why[CHAIN_IO_DROP_MAX] = { "ring_full", "verdict", "tx_full" };
		struct rt_chain *rc = rt->chains[i];

		for (int q = 0; q < rc->c.nq; q++) {
			for (int r = 0; r < CHAIN_IO_DROP_MAX; r++) {
				fprintf(out, "gen_chain_dropped_packets_total{chain=");
				label(out, rc->c.name);
				fprintf(out, ",queue=\"%d\",reason=\"%s\"} %lu\n", q, why[r],
					(unsigned long)ld64(&rc->c.io[q].drop[r]));
			}
		}
	}
	family(out, "gen_chain_drops_total", "counter",
	       "Packets a chain dropped, by reason: a DROP verdict (an NF's, or a failed chain's; the sum of "
	       "gen_chain_dropped_packets_total's verdict over queues), or a failed backend batch that could not be rerun.");
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		uint64_t verdict = 0;

		for (int q = 0; q < rc->c.nq; q++)
			verdict += ld64(&rc->c.io[q].drop[CHAIN_IO_DROP_VERDICT]);
		fprintf(out, "gen_chain_drops_total{chain=");
		label(out, rc->c.name);
		fprintf(out, ",reason=\"nf_verdict\"} %lu\n", (unsigned long)verdict);
		fprintf(out, "gen_chain_drops_total{chain=");
		label(out, rc->c.name);
		fprintf(out, ",reason=\"backend_lost\"} %lu\n", (unsigned long)ld64(&rc->c.backend_lost));
	}
	family(out, "gen_chain_xsk_drops_total", "counter",
	       "Packets for a chain the kernel dropped at its AF_XDP sockets, by reason: rx_dropped (no free frame: "
	       "the fill ring was empty, or too long) and rx_ring_full (its RX ring was full).");
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		struct xdp_statistics xs;

		rt_chain_xsk_drops(rc, rt, &xs);
		fprintf(out, "gen_chain_xsk_drops_total{chain=");
		label(out, rc->c.name);
		fprintf(out, ",reason=\"rx_dropped\"} %llu\n", xs.rx_dropped);
		fprintf(out, "gen_chain_xsk_drops_total{chain=");
		label(out, rc->c.name);
		fprintf(out, ",reason=\"rx_ring_full\"} %llu\n", xs.rx_ring_full);
	}
	family(out, "gen_chain_batches_total", "counter", "Batches a chain ran.");
	PER_CHAIN(out, rt, "gen_chain_batches_total", "%lu", (unsigned long)ld64(&rc->c.batches));
	family(out, "gen_chain_batch_packets_total", "counter",
	       "Packets in a chain's batches (divided by gen_chain_batches_total: the mean batch size).");
	PER_CHAIN(out, rt, "gen_chain_batch_packets_total", "%lu", (unsigned long)ld64(&rc->c.batch_pkts));
	family(out, "gen_chain_batch_last_packets", "gauge", "Size of a chain's last batch.");
	PER_CHAIN(out, rt, "gen_chain_batch_last_packets", "%u",
		  __atomic_load_n(&rc->c.batch_last, __ATOMIC_RELAXED));
	family(out, "gen_chain_batch_max_packets", "gauge", "Largest batch a chain has run.");
	PER_CHAIN(out, rt, "gen_chain_batch_max_packets", "%u", __atomic_load_n(&rc->c.batch_max, __ATOMIC_RELAXED));
	family(out, "gen_chain_backend_fallbacks_total", "counter",
	       "Batches rerun on the cpu backend after a backend error.");
	PER_CHAIN(out, rt, "gen_chain_backend_fallbacks_total", "%lu", (unsigned long)ld64(&rc->c.fallbacks));
}

static void print_xdp(struct rt *rt, FILE *out)
{
	struct cls_stats st = { 0 };

	if (!rt->cls || cls_read_stats(rt->cls, &st))
		return;
	family(out, "gen_xdp_packets_total", "counter",
	       "Decisions of the XDP classifier on the ports that are interfaces, by result.");
	fprintf(out, "gen_xdp_packets_total{result=\"unmatched\"} %lu\n", (unsigned long)st.unmatched);
	fprintf(out, "gen_xdp_packets_total{result=\"malformed\"} %lu\n", (unsigned long)st.malformed);
	fprintf(out, "gen_xdp_packets_total{result=\"no_socket\"} %lu\n", (unsigned long)st.no_socket);
	family(out, "gen_chain_xdp_matched_packets_total", "counter",
	       "Packets the XDP classifier matched to a chain, whether or not a socket took them.");
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		uint64_t m = 0;

		for (int p = 0; p < GEN_MAX_PORTS; p++)
			if (rc->cls_id[p])
				m += st.matched[rc->cls_id[p]];
		fprintf(out, "gen_chain_xdp_matched_packets_total{chain=");
		label(out, rc->c.name);
		fprintf(out, "} %lu\n", (unsigned long)m);
	}
}

/* A counter of each queue's port worker: the uint64_t at off in struct qworker. */
static void worker_counter(struct rt *rt, FILE *out, const char *name, const char *help, size_t off)
{
	family(out, name, "counter", help);
	for (int q = 0; q < rt->nq; q++)
		fprintf(out, "%s{queue=\"%d\"} %lu\n", name, q,
			(unsigned long)__atomic_load_n((const uint64_t *)((const char *)&rt->workers[q] + off),
						       __ATOMIC_RELAXED));
}

static void print_ports(struct rt *rt, FILE *out)
{
	family(out, "gen_port_info", "gauge", "Ports with their interface and AF_XDP mode (always 1).");
	for (int p = 0; p < rt->nports; p++) {
		const struct port_q *pq = &rt->workers[0].port[p];

		fprintf(out, "gen_port_info{port=\"%d\",name=", p + 1);
		label(out, rt->cfg->ports[p]);
		fprintf(out, ",mode=\"%s\"} 1\n", pq->synth ? "synthetic" : pq->zerocopy ? "zero-copy" : "copy");
	}
	family(out, "gen_port_tx_socket_frames_total", "counter",
	       "Frames a port's TX sockets were given, by socket (more than one with [gen] tx_sockets).");
	for (int p = 0; p < rt->nports; p++) {
		if (rt->workers[0].port[p].synth)
			continue;
		for (int s = 0; s < rt->workers[0].port[p].ntx; s++) {
			fprintf(out, "gen_port_tx_socket_frames_total{port=\"%d\",name=", p + 1);
			label(out, rt->cfg->ports[p]);
			fprintf(out, ",socket=\"%d\"} %lu\n", s, (unsigned long)rt_port_tx_frames(rt, p, s));
		}
	}
	family(out, "gen_port_drops_total", "counter",
	       "Packets a port dropped outside the chains, by counter: the netdev's own (kernel_rx_dropped, "
	       "kernel_rx_missed, kernel_rx_errors, kernel_tx_dropped, kernel_tx_errors), AF_XDP fill_ring_empty, "
	       "and frames for it dropped while it was down.");
	for (int p = 0; p < rt->nports; p++) {
		static const char *const what[] = { "kernel_rx_dropped", "kernel_rx_missed", "kernel_rx_errors",
						    "kernel_tx_dropped", "kernel_tx_errors", "fill_ring_empty", "down" };
		struct rt_port_drops d;
		uint64_t v[7];

		if (rt->workers[0].port[p].synth)
			continue;
		rt_port_drops(rt, p, &d);
		v[0] = d.kernel.rx_dropped, v[1] = d.kernel.rx_missed, v[2] = d.kernel.rx_errors;
		v[3] = d.kernel.tx_dropped, v[4] = d.kernel.tx_errors, v[5] = d.fill_ring_empty, v[6] = d.down_drops;
		for (int k = 0; k < 7; k++)
			fprintf(out, "gen_port_drops_total{port=\"%d\",counter=\"%s\"} %lu\n", p + 1, what[k],
				(unsigned long)v[k]);
	}
	family(out, "gen_queue_xsk_events_total", "counter",
	       "AF_XDP socket statistics of a queue, summed over its sockets and those closed before (rx_fill_ring_empty once per port).");
	for (int q = 0; q < rt->nq; q++) {
		struct xdp_statistics xs = { 0 };

		xsk_read_stats(&rt->workers[q], &xs);
		fprintf(out, "gen_queue_xsk_events_total{queue=\"%d\",event=\"rx_dropped\"} %llu\n", q, xs.rx_dropped);
		fprintf(out, "gen_queue_xsk_events_total{queue=\"%d\",event=\"rx_ring_full\"} %llu\n", q, xs.rx_ring_full);
		fprintf(out, "gen_queue_xsk_events_total{queue=\"%d\",event=\"rx_fill_ring_empty\"} %llu\n", q,
			xs.rx_fill_ring_empty_descs);
		fprintf(out, "gen_queue_xsk_events_total{queue=\"%d\",event=\"rx_invalid_descs\"} %llu\n", q,
			xs.rx_invalid_descs);
	}
	family(out, "gen_worker_busy_seconds_total", "counter",
	       "Time a queue's port worker spent in passes that moved frames (its rate near 1: the worker is the limit).");
	for (int q = 0; q < rt->nq; q++)
		fprintf(out, "gen_worker_busy_seconds_total{queue=\"%d\"} %.9f\n", q,
			__atomic_load_n(&rt->workers[q].busy_ns, __ATOMIC_RELAXED) / 1e9);
	worker_counter(rt, out, "gen_worker_busy_passes_total", "A queue's port worker's passes that moved frames.",
		       offsetof(struct qworker, busy_passes));
	worker_counter(rt, out, "gen_worker_frames_left_out_total",
		       "Frames left waiting in the chains' out rings after each of a queue's port worker's passes that "
		       "moved frames, summed (over busy passes near 0: done frames go straight back).",
		       offsetof(struct qworker, frames_left_out));
	worker_counter(rt, out, "gen_worker_sleeps_total",
		       "Times a queue's port worker blocked after polling [gen] spin_us without finding work.",
		       offsetof(struct qworker, sleeps));
	worker_counter(rt, out, "gen_worker_cpu_moves_total",
		       "Times a queue's port worker was found on another CPU than at its previous pass (0 when pinned).",
		       offsetof(struct qworker, cpu_moves));
	worker_counter(rt, out, "gen_worker_frames_in_total",
		       "Frames a queue's port worker took in (received, or generated on a synthetic port).",
		       offsetof(struct qworker, frames_in));
	family(out, "gen_worker_frames", "gauge",
	       "A queue's UMEM frames by where they are: in the chains, in fill rings or taken for RX, in TX rings "
	       "or awaiting completion, free (a sample; the four add up to the queue's frames when idle).");
	for (int q = 0; q < rt->nq; q++) {
		struct xsk_frames_where fw;

		xsk_frames_where(&rt->workers[q], &fw);
		fprintf(out, "gen_worker_frames{queue=\"%d\",where=\"chains\"} %u\n", q, fw.chains);
		fprintf(out, "gen_worker_frames{queue=\"%d\",where=\"fill\"} %u\n", q, fw.fill);
		fprintf(out, "gen_worker_frames{queue=\"%d\",where=\"tx\"} %u\n", q, fw.tx);
		fprintf(out, "gen_worker_frames{queue=\"%d\",where=\"free\"} %u\n", q, fw.free);
	}
}

/* Each NF instance once (chains may share one), its counters by the names in its nf_ops. */
static void print_nfs(struct rt *rt, FILE *out)
{
	bool seen[CFG_MAX_NFS] = { false };

	family(out, "gen_nf_events_total", "counter", "Counters of each NF instance, named by the NF (see gen-nf(7)).");
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		struct chain_ver *v = rc->c.cur;

		for (uint32_t k = 0; k < v->prog.n && (int)k < rc->cc->nnfs; k++) {
			int idx = rc->cc->nfs[k];
			const struct nf_hdr *h = v->prog.state[k];
			const struct nf_ops *ops = nf_ops_by_type(h->type);
			uint64_t ctr[64] = { 0 };
			uint32_t n = h->ncounters < 64 ? h->ncounters : 64;

			if (seen[idx] || !ops || !ops->counter_names)
				continue;
			seen[idx] = true;
			chain_state_read(&rc->c, k, ctr, h->counters_off, n * 8);
			for (uint32_t j = 0; j < n; j++) {
				fprintf(out, "gen_nf_events_total{nf=");
				label(out, rt->cfg->nfs[idx].name);
				fprintf(out, ",type=");
				label(out, ops->type_name);
				fprintf(out, ",counter=");
				label(out, ops->counter_names[j]);
				fprintf(out, "} %lu\n", (unsigned long)ctr[j]);
			}
		}
	}
}

void metrics_print(struct rt *rt, FILE *out)
{
	print_daemon(rt, out);
	print_chains(rt, out);
	print_xdp(rt, out);
	print_ports(rt, out);
	print_nfs(rt, out);
}

int metrics_http_open(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr) };
	int one = 1, fd, r;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, SOMAXCONN)) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* ---- HTTP/1.0 on the control server's event loop (ctl.c) ---- */

static bool head_complete(const char *req, size_t len)
{
	return strstr(req, "\r\n\r\n") || strstr(req, "\n\n");
}

static void http_reply(FILE *out, const char *status, const char *body, size_t len)
{
	fprintf(out, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, len);
	fwrite(body, 1, len, out);
}

/* GET /metrics (or /): every metric; anything else 404 or 405; a head too long or cut short: no reply. */
static int http_respond(void *arg, char *req, int err, FILE *out)
{
	char *body = NULL;
	size_t len = 0;
	FILE *m;

	if (err)
		return err;
	if (strncmp(req, "GET ", 4)) {
		http_reply(out, "405 Method Not Allowed", "only GET\n", 9);
		return 0;
	}
	if (strncmp(req + 4, "/metrics ", 9) && strncmp(req + 4, "/ ", 2)) {
		http_reply(out, "404 Not Found", "see /metrics\n", 13);
		return 0;
	}
	m = open_memstream(&body, &len);
	if (!m)
		return -ENOMEM;
	metrics_print(arg, m);
	if (fclose(m)) {
		free(body);
		return -ENOMEM;
	}
	http_reply(out, "200 OK", body, len);
	free(body);
	return 0;
}

static const struct ctl_proto http_proto = {
	.max_request = 2047,
	.complete = head_complete,
	.respond = http_respond,
};

struct ctl_server *metrics_http_server(int listen_fd, struct rt *rt)
{
	return ctl_server_new_proto(listen_fd, &http_proto, rt, METRICS_MAX_CLIENTS);
}
