// SPDX-License-Identifier: GPL-2.0
/*
 * What genctl and the log show of the running daemon: status, stats, chains,
 * NF reports, samples and metrics' sources. Reads counters only; changes
 * nothing (rt.c builds and reloads).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include "ctl.h"
#include "pin.h"
#include "rt.h"

static void chain_sums(const struct rt_chain *rc, uint64_t *rx, uint64_t *tx, uint64_t *drop)
{
	*rx = *tx = *drop = 0;
	for (int q = 0; q < rc->c.nq; q++) {
		*rx += __atomic_load_n(&rc->c.io[q].rx_packets, __ATOMIC_RELAXED);
		*tx += __atomic_load_n(&rc->c.io[q].tx_packets, __ATOMIC_RELAXED);
		*drop += chain_io_dropped(&rc->c.io[q]);
	}
}

/* A chain's drops over its queues, by reason: JSON keys dropped_ring_full, dropped_verdict, dropped_tx_full. */
static void print_drops_by_json(const struct rt_chain *rc, FILE *out)
{
	uint64_t d[CHAIN_IO_DROP_MAX] = { 0 };

	for (int q = 0; q < rc->c.nq; q++)
		for (int i = 0; i < CHAIN_IO_DROP_MAX; i++)
			d[i] += __atomic_load_n(&rc->c.io[q].drop[i], __ATOMIC_RELAXED);
	fprintf(out, ",\"dropped_ring_full\":%lu,\"dropped_verdict\":%lu,\"dropped_tx_full\":%lu",
		(unsigned long)d[CHAIN_IO_DROP_RING_FULL], (unsigned long)d[CHAIN_IO_DROP_VERDICT],
		(unsigned long)d[CHAIN_IO_DROP_TX_FULL]);
}

static const char *const port_state_names[RT_PORT_STATE_MAX] = { "up", "down", "gone" };

const char *rt_port_state_name(enum rt_port_state st)
{
	return st < RT_PORT_STATE_MAX ? port_state_names[st] : "?";
}

uint64_t rt_rx_total(const struct rt *rt)
{
	uint64_t sum = 0, rx, tx, drop;

	for (int i = 0; i < rt->nchains; i++) {
		chain_sums(rt->chains[i], &rx, &tx, &drop);
		sum += rx;
	}
	return sum;
}

/* Counters of port p's generators over every queue (port p synthetic). */
static void synth_sums(const struct rt *rt, int p, struct synth_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int q = 0; q < rt->nq; q++) {
		const struct synth_port *sp = rt->workers[q].port[p].synth;
		const struct synth_stats *st;

		if (!sp)
			continue;
		st = synth_stats(sp);
		sum->generated += __atomic_load_n(&st->generated, __ATOMIC_RELAXED);
		sum->unmatched += __atomic_load_n(&st->unmatched, __ATOMIC_RELAXED);
		sum->malformed += __atomic_load_n(&st->malformed, __ATOMIC_RELAXED);
		sum->no_socket += __atomic_load_n(&st->no_socket, __ATOMIC_RELAXED);
		sum->missed += __atomic_load_n(&st->missed, __ATOMIC_RELAXED);
		for (int c = 0; c < GEN_MAX_CHAINS; c++)
			sum->matched[c] += __atomic_load_n(&st->matched[c], __ATOMIC_RELAXED);
	}
}

/* The classifier's counters with the synthetic ports' host classification added. */
static void all_cls_stats(struct rt *rt, struct cls_stats *st)
{
	struct synth_stats ss;

	cls_read_stats(rt->cls, st);
	for (int p = 0; p < rt->nports; p++) {
		if (!rt->workers[0].port[p].synth)
			continue;
		synth_sums(rt, p, &ss);
		st->unmatched += ss.unmatched;
		st->malformed += ss.malformed;
		st->no_socket += ss.no_socket;
		for (int c = 0; c < GEN_MAX_CHAINS; c++)
			st->matched[c] += ss.matched[c];
	}
}

static const char *port_mode(const struct rt *rt, int p)
{
	const struct port_q *pq = &rt->workers[0].port[p];

	return pq->synth ? "synthetic" : pq->zerocopy ? "zero-copy" : "copy";
}

void rt_port_drops(const struct rt *rt, int p, struct rt_port_drops *d)
{
	memset(d, 0, sizeof(*d));
	for (int q = 0; q < rt->nq; q++) {
		d->down_drops += __atomic_load_n(&rt->workers[q].port[p].down_drops, __ATOMIC_RELAXED);
		d->frames_back += __atomic_load_n(&rt->workers[q].port[p].frames_back, __ATOMIC_RELAXED);
		d->fill_ring_empty += xsk_fill_empty(&rt->workers[q], p);
	}
	/* A gone port has no counters left to read: what it had is gone with it. */
	if (rt->port_state[p] != RT_PORT_GONE)
		link_stats(rt->ifindex[p], &d->kernel);
}

uint64_t rt_port_tx_frames(const struct rt *rt, int p, int s)
{
	uint64_t sum = 0;

	for (int q = 0; q < rt->nq; q++)
		sum += __atomic_load_n(&rt->workers[q].port[p].shard_frames[s], __ATOMIC_RELAXED);
	return sum;
}

void rt_chain_xsk_drops(const struct rt_chain *rc, const struct rt *rt, struct xdp_statistics *xs)
{
	memset(xs, 0, sizeof(*xs));
	for (int q = 0; q < rt->nq; q++)
		xsk_read_io_stats(&rt->workers[q], &rc->c.io[q], xs);
}

static void print_ports(struct rt *rt, FILE *out, bool json)
{
	struct synth_stats ss;
	struct rt_port_drops d;

	for (int p = 0; p < rt->nports; p++) {
		bool synth = rt->workers[0].port[p].synth;

		if (synth)
			synth_sums(rt, p, &ss);
		else
			rt_port_drops(rt, p, &d);
		if (json) {
			fprintf(out, "%s{\"name\":", p ? "," : "");
			ctl_json_str(out, rt->cfg->ports[p]);
			fprintf(out, ",\"mode\":\"%s\",\"state\":\"%s\"", port_mode(rt, p),
				port_state_names[rt->port_state[p]]);
			if (!synth)
				fprintf(out, ",\"ifindex\":%d,\"down_drops\":%lu,\"frames_back\":%lu,\"fill_ring_empty\":%lu,"
					"\"kernel\":{\"rx_packets\":%lu,\"rx_dropped\":%lu,\"rx_errors\":%lu,\"rx_missed\":%lu,"
					"\"tx_packets\":%lu,\"tx_dropped\":%lu,\"tx_errors\":%lu}", rt->ifindex[p],
					(unsigned long)d.down_drops, (unsigned long)d.frames_back, (unsigned long)d.fill_ring_empty,
					(unsigned long)d.kernel.rx_packets, (unsigned long)d.kernel.rx_dropped,
					(unsigned long)d.kernel.rx_errors, (unsigned long)d.kernel.rx_missed,
					(unsigned long)d.kernel.tx_packets, (unsigned long)d.kernel.tx_dropped,
					(unsigned long)d.kernel.tx_errors);
			if (!synth) {
				fprintf(out, ",\"tx_sockets\":%d,\"tx_socket_frames\":[", rt->workers[0].port[p].ntx);
				for (int s = 0; s < rt->workers[0].port[p].ntx; s++)
					fprintf(out, "%s%lu", s ? "," : "", (unsigned long)rt_port_tx_frames(rt, p, s));
				fprintf(out, "],\"rebind_attempts\":%u,\"rebind_error\":", rt->rebind[p].attempts);
				ctl_json_str(out, rt->rebind[p].error);
			}
			if (synth)
				fprintf(out, ",\"generated\":%lu,\"unmatched\":%lu,\"malformed\":%lu,\"no_socket\":%lu,"
					"\"missed\":%lu", (unsigned long)ss.generated, (unsigned long)ss.unmatched,
					(unsigned long)ss.malformed, (unsigned long)ss.no_socket, (unsigned long)ss.missed);
			fprintf(out, "}");
		} else if (synth) {
			fprintf(out, "port %d:       %s synthetic: generated %lu, unmatched %lu, malformed %lu, no socket %lu, "
				"missed %lu\n", p + 1, rt->cfg->ports[p], (unsigned long)ss.generated,
				(unsigned long)ss.unmatched, (unsigned long)ss.malformed, (unsigned long)ss.no_socket,
				(unsigned long)ss.missed);
		} else {
			char ntx[32] = "";

			if (rt->workers[0].port[p].ntx > 1)
				snprintf(ntx, sizeof(ntx), " (%d TX sockets)", rt->workers[0].port[p].ntx);
			fprintf(out, "port %d:       %s AF_XDP %s mode%s, %s; drops: kernel rx %lu (missed %lu, errors %lu), "
				"tx %lu (errors %lu), fill ring empty %lu, while down %lu\n", p + 1, rt->cfg->ports[p],
				port_mode(rt, p), ntx, port_state_names[rt->port_state[p]], (unsigned long)d.kernel.rx_dropped,
				(unsigned long)d.kernel.rx_missed, (unsigned long)d.kernel.rx_errors,
				(unsigned long)d.kernel.tx_dropped, (unsigned long)d.kernel.tx_errors,
				(unsigned long)d.fill_ring_empty, (unsigned long)d.down_drops);
			if (rt->rebind[p].pending)
				fprintf(out, "              a netdev of its name is back, binding it failed (%u attempts): %s\n",
					rt->rebind[p].attempts, rt->rebind[p].error);
		}
	}
}

static const char *const tx_thread_names[] = CFG_TX_THREAD_NAMES;

/* Whether the ports' first TX socket is kicked by a kicker thread (else by the port worker). */
static bool first_kick_thread(const struct rt *rt)
{
	return rt->nq > 0 && rt->workers[0].kick[0].running;
}

/* Kicker threads per queue, the first socket's included. */
static uint32_t kicker_threads(const struct rt *rt)
{
	uint32_t n = 0;

	for (int s = 0; rt->nq > 0 && s < GEN_MAX_TX_SOCKS; s++)
		n += rt->workers[0].kick[s].running;
	return n;
}

/* [gen] tx_budget as configured: auto or the number. */
static const char *tx_budget_cfg(const struct rt *rt, char *buf, size_t len)
{
	if (!rt->cfg->tx_budget)
		return "auto";
	snprintf(buf, len, "%u", rt->cfg->tx_budget);
	return buf;
}

/* Frames one copy-mode sendto() sends (every queue asks alike): on sockets with a kicker thread, and the others. */
static void tx_budget_line(const struct rt *rt, FILE *out)
{
	const struct qworker *w = rt->nq > 0 ? &rt->workers[0] : NULL;
	char b[16];

	if (!w)
		return;
	if (w->tx_budget_err)
		fprintf(out, "tx budget:    %u frames a copy-mode sendto(), the kernel's: it refused [gen] tx_budget = %s (%s%s)\n",
			w->tx_budget_shared, tx_budget_cfg(rt, b, sizeof(b)), strerror(w->tx_budget_err),
			w->tx_budget_err == ENOPROTOOPT ? "; Linux 6.17 and later have it" : "");
	else if (w->tx_budget_threaded == w->tx_budget_shared || !w->tx_any_threaded)
		fprintf(out, "tx budget:    %u frames a copy-mode sendto() ([gen] tx_budget = %s%s)\n", w->tx_budget_shared,
			tx_budget_cfg(rt, b, sizeof(b)),
			w->tx_budget_threaded != w->tx_budget_shared ? "; no TX socket has a kicker thread" : "");
	else
		fprintf(out, "tx budget:    %u frames a copy-mode sendto() on TX sockets with a kicker thread, %u on those the "
			"port worker and chain controllers kick ([gen] tx_budget = %s)\n", w->tx_budget_threaded,
			w->tx_budget_shared, tx_budget_cfg(rt, b, sizeof(b)));
}

static int count_failed(const struct rt *rt)
{
	int n = 0;

	for (int i = 0; i < rt->nchains; i++)
		n += __atomic_load_n(&rt->chains[i]->c.failed, __ATOMIC_ACQUIRE) != 0;
	return n;
}

void rt_print_status(struct rt *rt, FILE *out, bool json)
{
	struct cls_stats st = { 0 };
	uint32_t accounted = 0, nframes = 0;

	struct xdp_statistics xs = { 0 };
	struct timespec now;
	long uptime;
	char rest[256], tb[16];
	uint32_t spin_max = __atomic_load_n(&wake_spin_max_ns, __ATOMIC_RELAXED) / 1000u; /* spin_max_us in effect */

	clock_gettime(CLOCK_MONOTONIC, &now);
	uptime = (long)(now.tv_sec - rt->started);
	all_cls_stats(rt, &st);
	for (int q = 0; q < rt->nq; q++) {
		nframes += rt->workers[q].nframes;
		accounted += rt->workers[q].accounting_errors ? 1 : 0;
		xsk_read_stats(&rt->workers[q], &xs);
	}
	if (json) {
		fprintf(out, "{\"backend\":");
		ctl_json_str(out, rt->be->name);
		fprintf(out, ",\"backend_reason\":");
		ctl_json_str(out, rt->backend_why);
		fprintf(out, ",\"config\":");
		ctl_json_str(out, rt->cfg->file);
		fprintf(out, ",\"uptime_s\":%ld,\"rx_pps\":%.0f", uptime, rt->pps);
		fprintf(out, ",\"generation\":%u,\"reloads_ok\":%lu,\"reloads_failed\":%lu,\"last_reload_error\":",
			rt->generation, (unsigned long)rt->reloads_ok, (unsigned long)rt->reloads_failed);
		ctl_json_str(out, rt->last_reload_error);
		fprintf(out, ",\"chains\":%d,\"queues\":%d,\"frames\":%u,\"ports\":[", rt->nchains, rt->nq, nframes);
		for (int p = 0; p < rt->nports; p++) {
			fprintf(out, "%s", p ? "," : "");
			ctl_json_str(out, rt->cfg->ports[p]);
		}
		fprintf(out, "],\"port_modes\":[");
		print_ports(rt, out, true);
		fprintf(out, "],\"tx_budget\":\"%s\",\"tx_budget_threaded\":%u,\"tx_budget_shared\":%u,\"tx_budget_error\":",
			tx_budget_cfg(rt, tb, sizeof(tb)), rt->nq > 0 ? rt->workers[0].tx_budget_threaded : GEN_KERNEL_TX_BATCH,
			rt->nq > 0 ? rt->workers[0].tx_budget_shared : GEN_KERNEL_TX_BATCH);
		ctl_json_str(out, rt->nq > 0 && rt->workers[0].tx_budget_err ? strerror(rt->workers[0].tx_budget_err) : "");
		fprintf(out, ",\"umem_hugepages\":%s,\"demote\":%s,\"spin_us\":%u,\"spin_max_us\":%u,"
			"\"tx_thread\":\"%s\",\"tx_first_socket\":\"%s\",\"tx_kicker_threads\":%u,\"tx_help\":%s,"
			"\"dp_threads\":%d,\"dp_cpus\":%d,\"cpus\":[",
			rt->workers[0].hugepages ? "true" : "false", rt->workers[0].demote ? "true" : "false",
			rt->cfg->spin_us, spin_max, tx_thread_names[rt->cfg->tx_thread], first_kick_thread(rt) ? "thread" : "worker",
			kicker_threads(rt), rt->nq > 0 && rt->workers[0].tx_help ? "true" : "false", rt->dp_threads, rt->dp_cpus);
		for (int i = 0; i < rt->cfg->ncpus; i++)
			fprintf(out, "%s%u", i ? "," : "", rt->cfg->cpus[i]);
		pin_rest_str(rest, sizeof(rest));
		fprintf(out, "],\"cpus_other_threads\":");
		ctl_json_str(out, rest);
		fprintf(out, ",\"failed_chains\":%d,\"abandoned_chains\":%u", count_failed(rt), rt->abandoned);
		fprintf(out, ",\"xdp\":{\"unmatched\":%lu,\"malformed\":%lu,\"no_socket\":%lu,\"fail_closed\":%lu},"
			"\"xsk\":{\"rx_dropped\":%llu,\"rx_ring_full\":%llu,\"rx_fill_ring_empty\":%llu,"
			"\"rx_invalid_descs\":%llu,\"tx_invalid_descs\":%llu},\"frame_accounting_errors\":%u}\n",
			(unsigned long)st.unmatched, (unsigned long)st.malformed, (unsigned long)st.no_socket,
			(unsigned long)st.fail_closed, xs.rx_dropped, xs.rx_ring_full, xs.rx_fill_ring_empty_descs, xs.rx_invalid_descs,
			xs.tx_invalid_descs, accounted);
		return;
	}
	fprintf(out, "backend:      %s\n", rt->backend_why);
	fprintf(out, "uptime:       %ld s; receiving %.0f packets/s\n", uptime, rt->pps);
	fprintf(out, "config:       %s (generation %u; reloads %lu ok, %lu rejected)\n", rt->cfg->file,
		rt->generation, (unsigned long)rt->reloads_ok, (unsigned long)rt->reloads_failed);
	if (rt->last_reload_error[0])
		fprintf(out, "last reload:  %s\n", rt->last_reload_error);
	fprintf(out, "ports:       ");
	for (int p = 0; p < rt->nports; p++)
		fprintf(out, " %d=%s", p + 1, rt->cfg->ports[p]);
	fprintf(out, "\nqueues:       %d (%u UMEM frames of %u B, %s)\n", rt->nq, nframes, GEN_FRAME_SIZE,
		rt->workers[0].hugepages ? "2 MiB hugepages" : "normal pages");
	print_ports(rt, out, false);
	tx_budget_line(rt, out);
	fprintf(out, "demote:       %s\n", rt->workers[0].demote ? "on (frame lines read go back to the shared cache)" : "off");
	fprintf(out, "tx kicks:     each port's first TX socket by %s ([gen] tx_thread = %s%s)",
		first_kick_thread(rt) ? "a thread of its own" : "its port worker",
		tx_thread_names[rt->cfg->tx_thread], rt->tx_first_worker ? ": more threads than CPUs" : "");
	if (rt->cfg->tx_sockets > 1) /* what auto weighed */
		fprintf(out, "; %d data-plane threads with a kicker per TX socket, %d CPUs", rt->dp_threads, rt->dp_cpus);
	fputc('\n', out);
	if (rt->nq > 0 && rt->workers[0].tx_help)
		fprintf(out, "              per queue %u kicker thread(s) for the extra TX sockets; the port worker and "
			"idle chain controllers kick the first and %u more\n", kicker_threads(rt),
			rt->cfg->tx_sockets - 1 - kicker_threads(rt));
	if (spin_max > rt->cfg->spin_us)
		fprintf(out, "spin:         %u us, up to %u us while its sleeps are cut short (an idle data-plane "
			"thread polls that long, then blocks)\n", rt->cfg->spin_us, spin_max);
	else
		fprintf(out, "spin:         %u us (an idle data-plane thread polls that long, then blocks)\n",
			rt->cfg->spin_us);
	fprintf(out, "cpus:        ");
	for (int i = 0; i < rt->cfg->ncpus; i++)
		fprintf(out, " %u", rt->cfg->cpus[i]);
	pin_rest_str(rest, sizeof(rest));
	if (!rt->cfg->ncpus)
		fprintf(out, " not pinned\n");
	else if (strcmp(rest, "-"))
		fprintf(out, " (data-plane threads pinned, one each in turn; gend's other threads on %s)\n", rest);
	else
		fprintf(out, " (data-plane threads pinned, one each in turn; no CPU left for gend's other threads)\n");
	fprintf(out, "chains:       %d (%d failed)\n", rt->nchains, count_failed(rt));
	fprintf(out, "xdp:          unmatched %lu, malformed %lu, no socket %lu (fail closed: dropped %lu)\n",
		(unsigned long)st.unmatched, (unsigned long)st.malformed, (unsigned long)st.no_socket,
		(unsigned long)st.fail_closed);
	fprintf(out, "af_xdp:       rx dropped %llu, rx ring full %llu, fill ring empty %llu, invalid rx/tx %llu/%llu\n",
		xs.rx_dropped, xs.rx_ring_full, xs.rx_fill_ring_empty_descs, xs.rx_invalid_descs, xs.tx_invalid_descs);
	if (accounted)
		fprintf(out, "frames:       ACCOUNTING ERRORS on %u queue(s)\n", accounted);
}

static void chain_batch(const struct rt_chain *rc, uint32_t *last, double *avg)
{
	uint64_t b = __atomic_load_n(&rc->c.batches, __ATOMIC_RELAXED);
	uint64_t p = __atomic_load_n(&rc->c.batch_pkts, __ATOMIC_RELAXED);

	*last = __atomic_load_n(&rc->c.batch_last, __ATOMIC_RELAXED);
	*avg = b ? (double)p / (double)b : 0.0;
}

/* A chain's batcher and placement as its controllers last published them. */
struct elastic_view {
	const char *placement;
	bool hybrid;
	uint64_t switches, early_closes, wait_overruns, target_misses;
	uint32_t ring, ring_out, batch_limit, depth;
	bool target_missed;
	uint64_t win_p50_ns, win_p99_ns; /* the worst queue's last 10 ms window */
};

#define LOAD_R(p) __atomic_load_n((p), __ATOMIC_RELAXED)

static void elastic_view(struct rt_chain *rc, struct elastic_view *e)
{
	struct gen_chain *c = &rc->c;

	memset(e, 0, sizeof(*e));
	e->placement = chain_placement(c);
	e->hybrid = c->cur->hybrid;
	e->switches = LOAD_R(&c->switches);
	e->early_closes = LOAD_R(&c->early_closes);
	e->wait_overruns = LOAD_R(&c->wait_overruns);
	e->target_misses = LOAD_R(&c->target_misses);
	e->batch_limit = LOAD_R(&c->ctl[0].batch_limit);
	e->depth = LOAD_R(&c->ctl[0].depth);
	for (int q = 0; q < c->nq; q++) {
		uint64_t p50 = LOAD_R(&c->ctl[q].win_p50_ns), p99 = LOAD_R(&c->ctl[q].win_p99_ns);

		e->ring += ring_count(&c->io[q].in);
		e->ring_out += ring_count(&c->io[q].out);
		e->target_missed |= LOAD_R(&c->ctl[q].target_missed) != 0;
		e->win_p50_ns = p50 > e->win_p50_ns ? p50 : e->win_p50_ns;
		e->win_p99_ns = p99 > e->win_p99_ns ? p99 : e->win_p99_ns;
	}
}

/* Latency since the start: quantiles and the histogram's non-empty buckets as [upper bound ns, packets]. */
static void print_latency_json(struct rt_chain *rc, FILE *out)
{
	uint64_t h[CHAIN_LAT_BUCKETS];
	bool first = true;

	for (int b = 0; b < CHAIN_LAT_BUCKETS; b++)
		h[b] = LOAD_R(&rc->c.lat_hist[b]);
	fprintf(out, ",\"latency_us\":{\"p50\":%.1f,\"p95\":%.1f,\"p99\":%.1f,\"p999\":%.1f},\"latency_hist\":[",
		chain_lat_quantile(h, 0.5) / 1e3, chain_lat_quantile(h, 0.95) / 1e3, chain_lat_quantile(h, 0.99) / 1e3,
		chain_lat_quantile(h, 0.999) / 1e3);
	for (int b = 0; b < CHAIN_LAT_BUCKETS; b++) {
		if (!h[b])
			continue;
		fprintf(out, "%s[%lu,%lu]", first ? "" : ",", (unsigned long)chain_lat_bucket_ns(b), (unsigned long)h[b]);
		first = false;
	}
	fprintf(out, "]");
}

static void print_elastic_json(struct rt_chain *rc, const struct elastic_view *e, FILE *out)
{
	const struct chain_ver *v = rc->c.cur;

	fprintf(out, ",\"placement\":\"%s\",\"hybrid\":%s,\"switches\":%lu,\"ring\":%u,\"ring_out\":%u,"
		"\"batch_limit\":%u,\"depth\":%u,"
		"\"max_wait_us\":%u,\"early_closes\":%lu,\"wait_overruns\":%lu,\"latency_target_us\":%u,"
		"\"target_met\":%s,\"target_misses\":%lu,\"window_p50_us\":%.1f,\"window_p99_us\":%.1f,"
		"\"handovers\":%lu,\"handover_bytes\":%lu,\"handover_us_last\":%.1f",
		e->placement, e->hybrid ? "true" : "false", (unsigned long)e->switches, e->ring, e->ring_out,
		e->batch_limit, e->depth, v->max_wait_us, (unsigned long)e->early_closes, (unsigned long)e->wait_overruns, v->latency_target_us,
		e->target_missed ? "false" : "true", (unsigned long)e->target_misses, e->win_p50_ns / 1e3,
		e->win_p99_ns / 1e3, (unsigned long)LOAD_R(&rc->c.handovers), (unsigned long)LOAD_R(&rc->c.handover_bytes),
		LOAD_R(&rc->c.handover_ns_last) / 1e3);
}

static void print_nf_counters(struct rt *rt, struct rt_chain *rc, FILE *out, bool json)
{
	struct chain_ver *v = rc->c.cur;

	for (uint32_t i = 0; i < v->prog.n; i++) {
		const struct nf_hdr *h = v->prog.state[i];
		const struct nf_ops *ops = nf_ops_by_type(h->type);
		uint64_t ctr[64] = { 0 };
		uint32_t n = h->ncounters < 64 ? h->ncounters : 64;
		const char *name = rt->cfg->nfs[rc->cc->nfs[i]].name;

		chain_state_read(&rc->c, i, ctr, h->counters_off, n * 8);
		/* Other queues' device copies are the same blob on the cpu backend; gpu shares per device. */
		if (json) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			ctl_json_str(out, name);
			fprintf(out, ",\"type\":");
			ctl_json_str(out, ops ? ops->type_name : "?");
			fprintf(out, ",\"counters\":{");
			for (uint32_t k = 0; k < n; k++) {
				fprintf(out, "%s", k ? "," : "");
				ctl_json_str(out, ops && ops->counter_names ? ops->counter_names[k] : "?");
				fprintf(out, ":%lu", (unsigned long)ctr[k]);
			}
			fprintf(out, "}}");
		} else {
			fprintf(out, "    nf %-12s", name);
			for (uint32_t k = 0; k < n && k < 12; k++)
				fprintf(out, " %s=%lu", ops && ops->counter_names ? ops->counter_names[k] : "?",
					(unsigned long)ctr[k]);
			fprintf(out, "\n");
		}
	}
}

/*
 * Each queue's port worker: the time its passes that moved frames took, those
 * passes, and the frames they took in. A reader takes two samples: busy_ns over
 * the time between them near 1e9 a second says the worker is the limit, and
 * frames over passes how much each pass took in (a NIC's ring or a generator
 * that waits on the worker hands over whole bursts).
 */
static void print_workers(struct rt *rt, FILE *out, bool json)
{
	if (json)
		fprintf(out, ",\"workers\":[");
	for (int q = 0; q < rt->nq; q++) {
		const struct qworker *w = &rt->workers[q];
		uint64_t busy = LOAD_R(&w->busy_ns), passes = LOAD_R(&w->busy_passes), in = LOAD_R(&w->frames_in);
		uint64_t left = LOAD_R(&w->frames_left_out), sleeps = LOAD_R(&w->sleeps);
		uint32_t spin = LOAD_R(&w->spin_ns);
		uint64_t missed = 0, stalls = LOAD_R(&w->no_frame_passes);
		struct xsk_frames_where fw;
		int cpu = LOAD_R(&w->cpu);
		uint64_t moves = LOAD_R(&w->cpu_moves);
		bool synth = false;

		xsk_frames_where(w, &fw);
		for (int p = 0; p < w->nports; p++)
			if (w->port[p].synth) {
				missed += LOAD_R(&synth_stats(w->port[p].synth)->missed);
				synth = true;
			}
		if (json) {
			fprintf(out, "%s{\"queue\":%d,\"busy_ns\":%lu,\"busy_passes\":%lu,\"frames_in\":%lu,"
				"\"frames_left_out\":%lu,\"sleeps\":%lu,\"frames_held\":%u,\"frames_fill\":%u,"
				"\"frames_tx\":%u,\"frames_free\":%u,\"frames\":%u,\"cpu\":%d,\"cpu_moves\":%lu,"
				"\"spin_window_us\":%u,\"tx_help_kicks\":%lu,\"tx_kicks\":%lu",
				q ? "," : "", q, (unsigned long)busy, (unsigned long)passes, (unsigned long)in,
				(unsigned long)left, (unsigned long)sleeps, fw.chains, fw.fill, fw.tx, fw.free, w->nframes,
				cpu, (unsigned long)moves, spin / 1000, (unsigned long)LOAD_R(&w->help_kicks),
				(unsigned long)LOAD_R(&w->tx_kicks));
			if (synth)
				fprintf(out, ",\"synth_missed\":%lu,\"no_frame_passes\":%lu", (unsigned long)missed,
					(unsigned long)stalls);
			fprintf(out, "}");
			continue;
		}
		fprintf(out,
			"port worker %d: %.3f s in %lu passes that moved frames, %.1f frames taken in a pass, "
			"%.1f left waiting in the chains' out rings after it; slept %lu times (polling %u us first); "
			"%u of %u frames held by the chains, %u in fill rings or RX, %u in TX rings or awaiting "
			"completion, %u free; on CPU %d, moved %lu times",
			q, busy / 1e9, (unsigned long)passes, passes ? (double)in / (double)passes : 0.0,
			passes ? (double)left / (double)passes : 0.0, (unsigned long)sleeps, spin / 1000, fw.chains, w->nframes,
			fw.fill, fw.tx, fw.free, cpu, (unsigned long)moves);
		fprintf(out, "; %lu TX kicks (copy-mode sendto() calls)", (unsigned long)LOAD_R(&w->tx_kicks));
		if (w->tx_help)
			fprintf(out, ", %lu by idle controllers", (unsigned long)LOAD_R(&w->help_kicks));
		if (synth)
			fprintf(out, "; synthetic frames missed %lu, passes that found no free frame %lu",
				(unsigned long)missed, (unsigned long)stalls);
		fprintf(out, "\n");
	}
	if (json)
		fprintf(out, "]");
}

void rt_print_stats(struct rt *rt, FILE *out, bool json)
{
	struct cls_stats st = { 0 };

	all_cls_stats(rt, &st);
	if (json)
		fprintf(out, "{\"generation\":%u,\"backend\":\"%s\",\"unmatched\":%lu,\"malformed\":%lu,\"chains\":[",
			rt->generation, rt->be->name, (unsigned long)st.unmatched, (unsigned long)st.malformed);
	else
		fprintf(out, "%-16s %4s %12s %12s %10s %10s %10s  %s\n", "chain", "id", "rx_packets", "tx_packets",
			"dropped", "batch_last", "batch_avg", "backend");
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		uint64_t rx, tx, drop, matched = 0;
		uint32_t last;
		double avg;
		const char *be = __atomic_load_n(&rc->c.backend_name, __ATOMIC_ACQUIRE);
		struct elastic_view e;
		struct xdp_statistics xs;

		chain_sums(rc, &rx, &tx, &drop);
		chain_batch(rc, &last, &avg);
		rt_chain_xsk_drops(rc, rt, &xs);
		for (int p = 0; p < GEN_MAX_PORTS; p++)
			if (rc->cls_id[p])
				matched += st.matched[rc->cls_id[p]];
		if (json) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			ctl_json_str(out, rc->c.name);
			fprintf(out, ",\"id\":%u,\"rx_packets\":%lu,\"tx_packets\":%lu,\"dropped\":%lu,\"batch_last\":%u,"
				"\"batch_avg\":%.1f,\"batch_max\":%u,\"batches\":%lu,\"xdp_matched\":%lu,\"backend\":\"%s\","
				"\"backend_fallbacks\":%lu,\"backend_lost\":%lu,\"failed\":%s,\"fail_dropped\":%lu,"
				"\"xsk_rx_dropped\":%llu,\"xsk_rx_ring_full\":%llu",
				rc->c.id, (unsigned long)rx, (unsigned long)tx, (unsigned long)drop, last, avg,
				__atomic_load_n(&rc->c.batch_max, __ATOMIC_RELAXED),
				(unsigned long)__atomic_load_n(&rc->c.batches, __ATOMIC_RELAXED), (unsigned long)matched, be,
				(unsigned long)__atomic_load_n(&rc->c.fallbacks, __ATOMIC_RELAXED),
				(unsigned long)__atomic_load_n(&rc->c.backend_lost, __ATOMIC_RELAXED),
				__atomic_load_n(&rc->c.failed, __ATOMIC_ACQUIRE) ? "true" : "false",
				(unsigned long)__atomic_load_n(&rc->c.fail_dropped, __ATOMIC_RELAXED), xs.rx_dropped,
				xs.rx_ring_full);
			print_drops_by_json(rc, out);
			fprintf(out, ",\"backend_error\":");
			ctl_json_str(out, chain_backend_error(&rc->c));
			elastic_view(rc, &e);
			print_elastic_json(rc, &e, out);
			print_latency_json(rc, out);
			fprintf(out, ",\"nfs\":[");
			print_nf_counters(rt, rc, out, true);
			fprintf(out, "],\"rx_per_queue\":[");
			for (int q = 0; q < rc->c.nq; q++)
				fprintf(out, "%s%lu", q ? "," : "",
					(unsigned long)__atomic_load_n(&rc->c.io[q].rx_packets, __ATOMIC_RELAXED));
			fprintf(out, "]}");
		} else {
			fprintf(out, "%-16s %4u %12lu %12lu %10lu %10u %10.1f  %s%s%s%s%s%s\n", rc->c.name, rc->c.id,
				(unsigned long)rx, (unsigned long)tx, (unsigned long)drop, last, avg, be,
				rc->c.backend_failed ? " (fell back after a backend error" : "",
				rc->c.backend_failed && chain_backend_error(&rc->c)[0] ? ": " : "",
				rc->c.backend_failed ? chain_backend_error(&rc->c) : "", rc->c.backend_failed ? ")" : "",
				__atomic_load_n(&rc->c.failed, __ATOMIC_ACQUIRE) ? " FAILED" : "");
			elastic_view(rc, &e);
			fprintf(out, "    latency p50 %.1f us p99 %.1f us (last 10 ms); batch limit %u, depth %u, ring %u, "
				"done not yet sent %u", e.win_p50_ns / 1e3, e.win_p99_ns / 1e3, e.batch_limit, e.depth, e.ring,
				e.ring_out);
			if (rc->c.cur->latency_target_us)
				fprintf(out, "; target %u us %s", rc->c.cur->latency_target_us, e.target_missed ? "MISSED" : "met");
			if (e.hybrid)
				fprintf(out, "; hybrid on %s, %lu moves (last hand-over %.1f us)", e.placement,
					(unsigned long)e.switches, LOAD_R(&rc->c.handover_ns_last) / 1e3);
			fprintf(out, "\n    dropped before it: af_xdp rx dropped %llu, rx ring full %llu\n", xs.rx_dropped,
				xs.rx_ring_full);
			print_nf_counters(rt, rc, out, false);
		}
	}
	if (json)
		fprintf(out, "]");
	print_workers(rt, out, json);
	if (json)
		fprintf(out, "}\n");
}

void rt_print_chains(struct rt *rt, FILE *out, bool json)
{
	if (json)
		fprintf(out, "[");
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		const struct cfg_chain *cc = rc->cc;
		struct chain_ver *v = rc->c.cur;
		bool failed = __atomic_load_n(&rc->c.failed, __ATOMIC_ACQUIRE), closed = cfg_chain_fail_closed(rt->cfg, cc);
		char agent[160];

		snprintf(agent, sizeof(agent), "%s", v->be->name);
		if (v->be->describe)
			v->be->describe(v->bc[0], agent, sizeof(agent));

		if (json) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			ctl_json_str(out, rc->c.name);
			fprintf(out, ",\"id\":%u,\"priority\":%d,\"output\":", rc->c.id, cc->priority);
			ctl_json_str(out, rt->cfg->ports[cc->output - 1]);
			fprintf(out, ",\"gpu\":%d,\"generation\":%u,\"nfs\":", cc->gpu, rc->c.cur->generation);
			ctl_json_str(out, rc->c.cur->nfs);
			fprintf(out, ",\"matches\":%d", cc->nmatch);
			fprintf(out, ",\"agent\":");
			ctl_json_str(out, agent);
			fprintf(out, ",\"placement\":\"%s\",\"hybrid\":%s,\"switches\":%lu,\"max_wait_us\":%u,"
				"\"latency_target_us\":%u,\"inflight\":%u", chain_placement(&rc->c), v->hybrid ? "true" : "false",
				(unsigned long)LOAD_R(&rc->c.switches), v->max_wait_us, v->latency_target_us, v->inflight);
			fprintf(out, ",\"state\":\"%s\",\"fail\":\"%s\",\"fail_reason\":", failed ? "failed" : "running",
				closed ? "closed" : "open");
			ctl_json_str(out, failed ? rc->c.fail_reason : "");
			fprintf(out, "}");
		} else {
			fprintf(out, "%-16s id %-3u prio %-5d out %-10s gpu %d  nfs: %s  [%s]  fail %s", rc->c.name,
				rc->c.id, cc->priority, rt->cfg->ports[cc->output - 1], cc->gpu,
				rc->c.cur->nfs[0] ? rc->c.cur->nfs : "(empty)", agent, closed ? "closed" : "open");
			if (v->hybrid)
				fprintf(out, "  hybrid: on %s, %lu moves", chain_placement(&rc->c),
					(unsigned long)LOAD_R(&rc->c.switches));
			else
				fprintf(out, "  on %s", chain_placement(&rc->c));
			fprintf(out, "\n");
			if (failed)
				fprintf(out, "    FAILED: %s\n", rc->c.fail_reason);
		}
	}
	if (json)
		fprintf(out, "]\n");
}

int rt_report(struct rt *rt, const char *nf, const char *what, FILE *out, bool json)
{
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		struct chain_ver *v = rc->c.cur;

		for (uint32_t k = 0; k < v->prog.n; k++) {
			const struct nf_hdr *h = v->prog.state[k];
			const struct nf_ops *ops = nf_ops_by_type(h->type);
			struct nf_hdr *copy;
			int r;

			if (strcmp(rt->cfg->nfs[rc->cc->nfs[k]].name, nf))
				continue;
			if (!ops || !ops->report)
				return -ENOTSUP;
			/* Read the live blob (device copy on gpu) so the report is current. */
			copy = aligned_alloc(64, h->size);
			if (!copy)
				return -ENOMEM;
			r = chain_state_read(&rc->c, k, copy, 0, h->size);
			if (!r)
				r = ops->report(copy, what, out, json);
			free(copy);
			return r;
		}
	}
	return -ENOENT;
}

void rt_print_sample(struct rt *rt, FILE *out)
{
	fprintf(out, "{\"t_ns\":%lu,\"chains\":[", (unsigned long)spin_now_ns());
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		uint64_t rx, tx, drop;
		struct elastic_view e;

		chain_sums(rc, &rx, &tx, &drop);
		elastic_view(rc, &e);
		fprintf(out, "%s{\"name\":", i ? "," : "");
		ctl_json_str(out, rc->c.name);
		fprintf(out, ",\"rx_packets\":%lu,\"tx_packets\":%lu,\"dropped\":%lu,\"batch_last\":%u,\"batches\":%lu,"
			"\"batch_pkts\":%lu,\"backend_lost\":%lu,\"failed\":%s,\"fail_dropped\":%lu",
			(unsigned long)rx, (unsigned long)tx, (unsigned long)drop, LOAD_R(&rc->c.batch_last),
			(unsigned long)LOAD_R(&rc->c.batches), (unsigned long)LOAD_R(&rc->c.batch_pkts),
			(unsigned long)LOAD_R(&rc->c.backend_lost), __atomic_load_n(&rc->c.failed, __ATOMIC_ACQUIRE) ? "true" : "false",
			(unsigned long)LOAD_R(&rc->c.fail_dropped));
		print_drops_by_json(rc, out);
		print_elastic_json(rc, &e, out);
		fprintf(out, "}");
	}
	fprintf(out, "]");
	print_workers(rt, out, true);
	fprintf(out, "}\n");
}

void rt_poll_events(struct rt *rt, void (*say)(int prio, const char *msg))
{
	char msg[512];

	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		struct elastic_view e;

		elastic_view(rc, &e);
		if (rc->c.cur->latency_target_us && e.target_missed != (rc->target_missed_said != 0)) {
			if (e.target_missed)
				snprintf(msg, sizeof(msg), "chain '%s' misses its p99 latency target of %u us: p99 %.0f us "
					 "(batch limit %u, depth %u, %u packets waiting)", rc->c.name,
					 rc->c.cur->latency_target_us, e.win_p99_ns / 1e3, e.batch_limit, e.depth, e.ring);
			else
				snprintf(msg, sizeof(msg), "chain '%s' meets its p99 latency target of %u us again (p99 %.0f us)",
					 rc->c.name, rc->c.cur->latency_target_us, e.win_p99_ns / 1e3);
			say(e.target_missed ? LOG_WARNING : LOG_INFO, msg);
			rc->target_missed_said = e.target_missed;
		}
		if (e.switches != rc->switches_said && pthread_mutex_trylock(&rc->c.place_lock) == 0) {
			snprintf(msg, sizeof(msg), "chain '%s' (hybrid) now runs on %s: %s (%lu moves; NF state handed "
				 "over in %.1f us, %lu bytes in all moves)", rc->c.name, e.placement, rc->c.move_reason,
				 (unsigned long)e.switches, LOAD_R(&rc->c.handover_ns_last) / 1e3,
				 (unsigned long)LOAD_R(&rc->c.handover_bytes));
			pthread_mutex_unlock(&rc->c.place_lock);
			say(LOG_INFO, msg);
			rc->switches_said = e.switches;
		}
		if (rc->c.cur->fallback_why[0] && !rc->fallback_said) {
			snprintf(msg, sizeof(msg), "chain '%s' runs on the %s backend until gend restarts: %s",
				 rc->c.name, rc->c.cur->be->name, rc->c.cur->fallback_why);
			say(LOG_WARNING, msg);
			rc->fallback_said = true;
		}
		if (__atomic_load_n(&rc->c.backend_failed, __ATOMIC_ACQUIRE) && !rc->fallback_said &&
		    __atomic_load_n(&rc->c.backend_err_set, __ATOMIC_ACQUIRE)) {
			snprintf(msg, sizeof(msg), "chain '%s' fell back from the %s backend to %s: %s", rc->c.name,
				 rc->c.cur->be->name, rc->c.backend_name, rc->c.backend_error);
			say(LOG_WARNING, msg);
			rc->fallback_said = true;
		}
	}
}
