// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "pin.h"
#include "rt.h"
#include "wake.h"

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int select_backend(struct rt *rt, const struct cfg *cfg, const char *override)
{
	enum cfg_backend want = cfg->backend;
	char why[128] = "";

	/* Only --backend overrides each chain's own `backend` (which [gen]'s fills in where a chain sets none). */
	if (override) {
		want = !strcmp(override, "gpu") ? CFG_BACKEND_GPU :
		       !strcmp(override, "cpu") ? CFG_BACKEND_CPU :
		       !strcmp(override, "hybrid") ? CFG_BACKEND_HYBRID : CFG_BACKEND_AUTO;
		rt->backend_override = want;
	}
	if (want == CFG_BACKEND_CPU) {
		rt->be = &backend_cpu;
		snprintf(rt->backend_why, sizeof(rt->backend_why), "cpu (configured)");
		return 0;
	}
	if (backend_gpu && gpu_backend_probe(why, sizeof(why)) == 0) {
		rt->be = backend_gpu;
		snprintf(rt->backend_why, sizeof(rt->backend_why), "%s (%s)",
			 want == CFG_BACKEND_HYBRID ? "hybrid: cpu at low load, gpu past the threshold" : "gpu", why);
		return 0;
	}
	if (!why[0])
		snprintf(why, sizeof(why), "built without CUDA");
	rt->be = &backend_cpu;
	snprintf(rt->backend_why, sizeof(rt->backend_why), "cpu (%s requested, no usable GPU: %s)",
		 cfg_backend_name(want), why);
	return 0;
}

/* Bit p set: the chain can receive on port p (0-based). */
static uint32_t chain_in_ports(const struct cfg *cfg, const struct cfg_chain *cc)
{
	uint32_t mask = 0;

	for (int m = 0; m < cc->nmatch; m++)
		mask |= cc->match[m].in_port ? 1u << (cc->match[m].in_port - 1) : (1u << cfg->nports) - 1;
	return mask;
}

static void chain_prog_from_cfg(const struct cfg *cfg, const struct cfg_chain *cc, struct chain_prog *prog)
{
	memset(prog, 0, sizeof(*prog));
	prog->n = (uint32_t)cc->nnfs;
	for (int i = 0; i < cc->nnfs; i++) {
		prog->type[i] = cfg->nfs[cc->nfs[i]].nf_type;
		prog->state[i] = cfg->nfs[cc->nfs[i]].state;
	}
	prog->mini_batch = cfg->mini_batch;
	prog->gpu = cc->gpu;
	prog->gpu_opts = cc->gpu_opts;
	prog->chain_id = cc->id;
}

/*
 * A version of the chain's program on the backend the chain asks for: its own
 * `backend` (cpu, or hybrid: a cpu side beside the GPU) within what [gen]
 * brought up; with --backend, that choice for every chain.
 */
static struct chain_ver *make_ver(struct rt *rt, const struct cfg *cfg, const struct cfg_chain *cc, char *err,
				  size_t errlen)
{
	enum cfg_backend want = rt->backend_override != CFG_BACKEND_MAX ? rt->backend_override : cc->backend;
	const struct backend_ops *be = want == CFG_BACKEND_CPU ? &backend_cpu : rt->be;
	struct chain_prog prog;
	struct chain_ver *v;

	chain_prog_from_cfg(cfg, cc, &prog);
	v = chain_ver_new(&prog, be, rt->workers, rt->nq, cc->output - 1, err, errlen);
	if (!v && errno == ENOTRECOVERABLE && be->fallback) {
		/* Its device is lost until gend restarts: the chain runs where a failed batch would. */
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		be = be->fallback;
		v = chain_ver_new(&prog, be, rt->workers, rt->nq, cc->output - 1, err, errlen);
		if (v)
			snprintf(v->fallback_why, sizeof(v->fallback_why), "%s", why);
	}
	if (!v)
		return NULL;
	if (want == CFG_BACKEND_HYBRID && be != &backend_cpu && chain_ver_add_cpu(v, rt->workers, rt->nq, err, errlen)) {
		chain_ver_free(v, rt->nq);
		errno = ENOMEM;
		return NULL;
	}
	v->max_wait_us = cc->max_wait_us;
	v->latency_target_us = cc->latency_target_us;
	v->hybrid_pps = cc->hybrid_pps;
	v->inflight = cc->inflight;
	return v;
}

static void chain_nf_names(const struct cfg *cfg, const struct cfg_chain *cc, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (int i = 0; i < cc->nnfs && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%s", i ? " " : "", cfg->nfs[cc->nfs[i]].name);
}

static int alloc_cls_id(struct rt *rt)
{
	for (int id = 1; id < GEN_MAX_CHAINS; id++) {
		if (!rt->id_used[id]) {
			rt->id_used[id] = 1;
			return id;
		}
	}
	return -ENOSPC;
}

static int cmp_chain_prio(const void *a, const void *b)
{
	const struct cfg_chain *x = *(const struct cfg_chain *const *)a, *y = *(const struct cfg_chain *const *)b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->order - y->order;
}

static struct rt_chain *find_chain(struct rt *rt, const char *name)
{
	for (int i = 0; i < rt->nchains; i++)
		if (!strcmp(rt->chains[i]->c.name, name))
			return rt->chains[i];
	return NULL;
}

/*
 * The Classification Table for cfg: chains by priority, their match lines in
 * order, each expanded per ingress port because a redirect reaches only a socket
 * bound to the netdev the packet came in on. ids come from the running chains.
 */
static int build_rules(struct rt *rt, const struct cfg *cfg, struct cls_rule *rules, int max, char *err,
		       size_t errlen)
{
	const struct cfg_chain *order[CFG_MAX_CHAINS];
	int n = 0;

	for (int i = 0; i < cfg->nchains; i++)
		order[i] = &cfg->chains[i];
	qsort(order, (size_t)cfg->nchains, sizeof(order[0]), cmp_chain_prio);
	for (int i = 0; i < cfg->nchains; i++) {
		const struct cfg_chain *cc = order[i];
		struct rt_chain *rc = find_chain(rt, cc->name);

		if (!rc)
			continue;
		for (int m = 0; m < cc->nmatch; m++) {
			const struct cfg_match *cm = &cc->match[m];

			for (int p = 0; p < cfg->nports; p++) {
				if (cm->in_port && cm->in_port != p + 1)
					continue;
				if (!rc->cls_id[p])
					continue;
				if (n >= max) {
					snprintf(err, errlen, "%s:%d: chain '%s': more than %d classifier rules in all (match lines x ingress ports)",
						 cfg->file, cm->line, cc->name, max);
					return -E2BIG;
				}
				rules[n++] = (struct cls_rule){
					.src = cm->src, .src_len = cm->src_len, .dst = cm->dst, .dst_len = cm->dst_len,
					.proto = cm->proto, .sport_lo = cm->sport_lo, .sport_hi = cm->sport_hi,
					.dport_lo = cm->dport_lo, .dport_hi = cm->dport_hi,
					.in_ifindex = (uint32_t)rt->ifindex[p], .chain_id = rc->cls_id[p],
				};
			}
		}
	}
	return n;
}

/* Each chain's fail mode under every id it has, before the table can send it anything. */
static int install_fail_modes(struct rt *rt, const struct cfg *cfg, char *err, size_t errlen)
{
	for (int i = 0; i < rt->nchains; i++) {
		const struct cfg_chain *cc = cfg_chain_find(cfg, rt->chains[i]->c.name);

		for (int p = 0; cc && p < GEN_MAX_PORTS; p++) {
			uint8_t id = rt->chains[i]->cls_id[p];

			if (id && cls_set_fail(rt->cls, id, cfg_chain_fail_closed(cfg, cc))) {
				snprintf(err, errlen, "chain '%s': %s", cc->name, cls_strerror(rt->cls));
				return -EIO;
			}
		}
	}
	return 0;
}

static int install_rules(struct rt *rt, const struct cfg *cfg, char *err, size_t errlen)
{
	static struct cls_rule rules[GEN_CLS_MAX_RULES];
	int n = build_rules(rt, cfg, rules, GEN_CLS_MAX_RULES, err, errlen), r;

	if (n < 0)
		return n;
	r = install_fail_modes(rt, cfg, err, errlen);
	if (r)
		return r;
	r = cls_set_rules(rt->cls, rules, n);
	if (r) {
		snprintf(err, errlen, "failed to install the classification table: %s", cls_strerror(rt->cls));
		return r;
	}
	/* Generators of synthetic ports read the host table once per burst: past a pass none holds the old one. */
	for (int q = 0; q < rt->nq; q++) {
		for (int p = 0; p < rt->nports; p++) {
			if (rt->workers[q].port[p].synth) {
				xsk_sync(&rt->workers[q]);
				break;
			}
		}
	}
	return 0;
}

/*
 * Out of the XSKMAP, its sockets and rings out of the workers, its controllers
 * stopped. The workers of the other chains only take each change between two
 * passes (xsk.c: xsk_call); nothing here pauses them.
 */
static void chain_unwire(struct rt *rt, struct rt_chain *rc)
{
	for (int q = 0; q < rt->nq; q++)
		for (int p = 0; p < GEN_MAX_PORTS; p++)
			if (rc->cls_id[p])
				cls_xsk_clear(rt->cls, rc->cls_id[p], (uint32_t)q);
	/* Redirects already under way land in its RX rings within an RCU grace period. */
	cls_wait_readers();
	for (int q = 0; q < rt->nq; q++)
		xsk_rx_remove(&rt->workers[q], &rc->c.io[q]);
	chain_stop(&rc->c);
	/* The worker sends what the controllers handed back (at most 1 s while TX rings are full). */
	for (int q = 0; q < rt->nq; q++) {
		for (int tries = 0; tries < 10000 && ring_count(&rc->c.io[q].out); tries++)
			sleep_us(100);
		xsk_io_remove(&rt->workers[q], &rc->c.io[q]);
	}
}

static int chain_add(struct rt *rt, const struct cfg *cfg, const struct cfg_chain *cc, char *err, size_t errlen)
{
	struct rt_chain *rc = calloc(1, sizeof(*rc));
	uint32_t ports = chain_in_ports(cfg, cc);
	struct chain_ver *v;
	int r;

	if (!rc)
		return -ENOMEM;
	rc->cc = cc;
	r = chain_init(&rc->c, cc->name, cc->id, rt->nq, cfg->max_batch, rt->workers);
	if (r) {
		snprintf(err, errlen, "chain '%s': out of memory for its rings", cc->name);
		free(rc);
		return r;
	}
	v = make_ver(rt, cfg, cc, err, errlen);
	if (!v) {
		r = -errno;
		chain_fini(&rc->c);
		free(rc);
		return r;
	}
	chain_nf_names(cfg, cc, v->nfs, sizeof(v->nfs));
	v->generation = rt->generation;
	r = chain_start(&rc->c, v);
	if (r) {
		snprintf(err, errlen, "chain '%s': cannot start its controller: %s", cc->name, strerror(-r));
		chain_ver_free(v, rt->nq);
		chain_fini(&rc->c);
		free(rc);
		return r;
	}
	for (int p = 0; p < cfg->nports; p++) {
		if (!(ports & (1u << p)))
			continue;
		r = alloc_cls_id(rt);
		if (r < 0) {
			snprintf(err, errlen, "chain '%s': out of classifier ids (255 chain x ingress port pairs)", cc->name);
			goto fail;
		}
		rc->cls_id[p] = (uint8_t)r;
	}
	for (int q = 0; q < rt->nq; q++) {
		struct qworker *w = &rt->workers[q];

		r = xsk_io_add(w, &rc->c.io[q]);
		for (int p = 0; !r && p < cfg->nports; p++) {
			if (!rc->cls_id[p])
				continue;
			r = xsk_rx_add(w, p, &rc->c.io[q], rc->cls_id[p], err, errlen);
			if (r >= 0 && !w->port[p].synth)
				r = cls_xsk_set(rt->cls, rc->cls_id[p], (uint32_t)q, r);
			if (r < 0)
				snprintf(err + strlen(err), errlen - strlen(err), "%s(chain '%s')", err[0] ? " " : "",
					 cc->name);
			else
				r = 0;
		}
		if (r)
			goto fail;
	}
	rc->live = true;
	rt->chains[rt->nchains++] = rc;
	return 0;
fail:
	/* Nothing classifies to it yet: unwinding drains nothing but its own rings. */
	chain_unwire(rt, rc);
	for (int p = 0; p < GEN_MAX_PORTS; p++)
		rt->id_used[rc->cls_id[p]] = 0;
	rt->id_used[0] = 0;
	chain_ver_free(rc->c.cur, rt->nq);
	chain_fini(&rc->c);
	free(rc);
	return r ? r : -EIO;
}

/* The table no longer sends it anything: drain what it holds, then free it. */
static void chain_remove(struct rt *rt, struct rt_chain *rc)
{
	chain_unwire(rt, rc);
	for (int p = 0; p < GEN_MAX_PORTS; p++)
		if (rc->cls_id[p])
			rt->id_used[rc->cls_id[p]] = 0;
	/* A controller left behind may still touch its rings and program: they stay allocated. */
	if (rc->c.abandoned)
		rt->abandoned++;
	else
		chain_ver_free(rc->c.cur, rt->nq);
	if (!rc->c.abandoned)
		chain_fini(&rc->c);
	for (int i = 0; i < rt->nchains; i++) {
		if (rt->chains[i] == rc) {
			memmove(&rt->chains[i], &rt->chains[i + 1], (size_t)(rt->nchains - i - 1) * sizeof(rc));
			rt->nchains--;
			break;
		}
	}
	if (!rc->c.abandoned)
		free(rc);
}

int rt_poll_faults(struct rt *rt, char *msg, size_t len)
{
	size_t o = 0;
	int n = 0;

	msg[0] = 0;
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		bool closed;

		if (rc->fail_reported || !__atomic_load_n(&rc->c.failed, __ATOMIC_ACQUIRE))
			continue;
		rc->fail_reported = true;
		/* No socket in the table: the classifier applies the fail mode from now on. */
		for (int q = 0; q < rt->nq; q++)
			for (int p = 0; p < GEN_MAX_PORTS; p++)
				if (rc->cls_id[p])
					cls_xsk_clear(rt->cls, rc->cls_id[p], (uint32_t)q);
		closed = cfg_chain_fail_closed(rt->cfg, rc->cc);
		if (o < len)
			o += (size_t)snprintf(msg + o, len - o, "%schain '%s' failed: %s; it fails %s (%s) until a reload",
					      n ? "\n" : "", rc->c.name, rc->c.fail_reason, closed ? "closed" : "open",
					      closed ? "its traffic is dropped" : "its traffic passes to the kernel");
		n++;
	}
	return n;
}

/*
 * How far the data-plane threads' polling may grow ([gen] spin_max_us, wake.h).
 * auto: GEN_SPIN_MAX_US_DEFAULT only where [gen] cpus gives every data-plane
 * thread (port workers, TX kickers, chain controllers) a CPU of its own;
 * threads that share a CPU, pinned or not, would poll through each other's
 * time, and through the rest of the box's. Again after each reload (chains,
 * and with them controllers, come and go).
 */
static void spin_max_update(struct rt *rt)
{
	const struct cfg *c = rt->cfg;
	uint32_t max = c->spin_max_us, threads = (uint32_t)(rt->nchains * rt->nq);

	if (c->spin_max_auto) {
		for (int q = 0; q < rt->nq; q++) {
			threads++;
			for (uint32_t s = 0; s < GEN_MAX_TX_SOCKS; s++)
				threads += rt->workers[q].kick[s].running;
		}
		max = c->ncpus && (uint32_t)c->ncpus >= threads ? c->spin_max_us : c->spin_us;
	}
	if (max < c->spin_us)
		max = c->spin_us;
	__atomic_store_n(&wake_spin_max_ns, max * 1000u, __ATOMIC_RELAXED);
}

/*
 * Who kicks a port's TX sockets. tx_thread = auto gives each a kicker thread
 * where a port has several TX sockets, but only where the data-plane threads
 * that makes (per queue the port worker, a controller per chain, a kicker per
 * TX socket) fit the CPUs: every one of them polls while it has work, and on
 * the H200 host 4 queues x 2 TX sockets on 12 CPUs (16 threads) forwarded
 * 48-72 % of the plain receiver, the workers kicking the first socket
 * themselves (12 threads) 56-79 % (test/bench/RESULTS.md, twenty-seventh run).
 * Where they do not fit, each queue keeps kicker threads only for the extra
 * sockets its share of the CPUs has room for after the worker and the
 * controllers; the first socket and the rest are kicked by the worker after
 * each pass and by the controllers whenever they are idle (tx_help): a
 * socket's transmit is serial in the kernel, so sockets, not threads, set
 * how many frames leave at once, and a controller of a light chain is
 * mostly idle.
 */
static enum cfg_tx_thread tx_thread_plan(struct rt *rt, const struct cfg *c)
{
	cpu_set_t set;

	rt->dp_threads = rt->nq * (1 + (c->nchains > 0 ? c->nchains : 1) + (int)(c->tx_sockets ? c->tx_sockets : 1));
	rt->dp_cpus = c->ncpus;
	if (!rt->dp_cpus) {
		pin_allowed(&set);
		rt->dp_cpus = CPU_COUNT(&set);
	}
	rt->tx_first_worker = c->tx_thread == CFG_TX_THREAD_AUTO && c->tx_sockets > 1 && rt->dp_cpus > 0 &&
			      rt->dp_threads > rt->dp_cpus;
	rt->tx_kickers = c->tx_sockets ? c->tx_sockets - 1 : 0;
	if (rt->tx_first_worker) {
		int per_queue = rt->dp_cpus / rt->nq, others = 1 + (c->nchains > 0 ? c->nchains : 1);

		rt->tx_kickers = per_queue > others ? (uint32_t)(per_queue - others) : 0;
		if (rt->tx_kickers > c->tx_sockets - 1)
			rt->tx_kickers = c->tx_sockets - 1;
	}
	return rt->tx_first_worker ? CFG_TX_THREAD_NO : c->tx_thread;
}

int rt_start(struct rt *rt, struct cfg *cfg, const char *backend_override, uint32_t nframes,
	     const char *pin_dir, char *err, size_t errlen)
{
	int r;

	memset(rt, 0, sizeof(*rt));
	rt->backend_override = CFG_BACKEND_MAX;
	{
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		rt->started = now.tv_sec;
	}
	rt->cfg = cfg;
	rt->nframes = nframes;
	rt->pin_dir = pin_dir;
	rt->nports = cfg->nports;
	rt->nq = cfg->queues;
	pin_setup(cfg->cpus, cfg->ncpus);
	__atomic_store_n(&wake_spin_ns, cfg->spin_us * 1000u, __ATOMIC_RELAXED); /* before any thread polls */
	__atomic_store_n(&wake_spin_max_ns, cfg->spin_us * 1000u, __ATOMIC_RELAXED); /* spin_max_update, once all run */
	select_backend(rt, cfg, backend_override);
	r = rt_check_capacity(cfg, err, errlen);
	if (!r)
		r = xsk_fault_setup(err, errlen);
	if (r)
		return r;
	for (int p = 0; p < cfg->nports; p++) {
		rt->ifindex[p] = synth_is_name(cfg->ports[p]) ? (int)SYNTH_IFINDEX(p) : (int)if_nametoindex(cfg->ports[p]);
		if (!rt->ifindex[p]) {
			snprintf(err, errlen, "%s: port %d: no interface named '%s'", cfg->file, p + 1, cfg->ports[p]);
			return -ENODEV;
		}
	}
	rt->cls = cls_open(pin_dir, err, errlen);
	if (!rt->cls)
		return -errno;
	r = cls_set_unmatched_drop(rt->cls, cfg->unmatched_drop);
	if (r) {
		snprintf(err, errlen, "failed to configure the classifier: %s", cls_strerror(rt->cls));
		return r;
	}
	rt->workers = calloc((size_t)rt->nq, sizeof(*rt->workers));
	if (!rt->workers)
		return -ENOMEM;
	enum cfg_tx_thread tx_thread = tx_thread_plan(rt, cfg);

	for (int q = 0; q < rt->nq; q++) {
		struct xsk_opts o = { .nframes = nframes, .bind = (enum xsk_bind)cfg->xdp_bind, .synth = &cfg->synth,
				      .cls = rt->cls, .tx_thread = tx_thread,
				      .tx_sockets = cfg->tx_sockets, .tx_budget = cfg->tx_budget, .tx_help = rt->tx_first_worker,
				      .tx_kickers = rt->tx_kickers, .demote = cfg->demote, .nqueues = (uint32_t)rt->nq };

		r = xsk_worker_init(&rt->workers[q], (uint32_t)q, cfg->ports, cfg->nports, &o, rt->be, err, errlen);
		if (r)
			return r;
	}
	for (int q = 0; q < rt->nq; q++) {
		r = xsk_worker_start(&rt->workers[q]);
		if (r) {
			snprintf(err, errlen, "cannot start the port worker of queue %d: %s", q, strerror(-r));
			return r;
		}
	}
	for (int i = 0; i < cfg->nchains; i++) {
		r = chain_add(rt, cfg, &cfg->chains[i], err, errlen);
		if (r)
			return r;
	}
	r = install_rules(rt, cfg, err, errlen);
	if (r)
		return r;
	for (int p = 0; p < cfg->nports; p++) {
		if (synth_is_name(cfg->ports[p]))
			continue;
		r = cls_attach(rt->cls, rt->ifindex[p], cfg->xdp_native);
		if (r) {
			snprintf(err, errlen, "failed to attach XDP (%s mode) on '%s': %s", cfg->xdp_native ? "native" : "skb",
				 cfg->ports[p], cls_strerror(rt->cls));
			return r;
		}
	}
	rt->attached = true;
	spin_max_update(rt);
	return 0;
}

/* Classifier rules and ids the new config needs, against what the table holds. */
int rt_check_capacity(const struct cfg *cfg, char *err, size_t errlen)
{
	int rules = 0, ids = 0;

	for (int i = 0; i < cfg->nchains; i++) {
		const struct cfg_chain *cc = &cfg->chains[i];
		uint32_t ports = chain_in_ports(cfg, cc);

		for (int m = 0; m < cc->nmatch; m++)
			rules += cc->match[m].in_port ? 1 : __builtin_popcount(ports);
		ids += __builtin_popcount(ports);
		if (rules > GEN_CLS_MAX_RULES) {
			snprintf(err, errlen, "%s:%d: chain '%s': more than %d classifier rules in all (match lines x ingress ports)",
				 cfg->file, cc->line, cc->name, GEN_CLS_MAX_RULES);
			return -E2BIG;
		}
	}
	if (ids > GEN_MAX_CHAINS - 1) {
		snprintf(err, errlen, "%s: %d (chain, ingress port) pairs; the classifier has %d ids", cfg->file, ids,
			 GEN_MAX_CHAINS - 1);
		return -E2BIG;
	}
	return 0;
}

static bool same_ports(const struct cfg *a, const struct cfg *b)
{
	if (a->nports != b->nports || a->queues != b->queues)
		return false;
	for (int p = 0; p < a->nports; p++)
		if (strcmp(a->ports[p], b->ports[p]))
			return false;
	return true;
}

static bool same_synth(const struct synth_cfg *a, const struct synth_cfg *b)
{
	/* The rate may change: the generators take it at once (rt_set_synth_rate). */
	return a->size == b->size && a->flows == b->flows && a->count == b->count && a->nproto == b->nproto &&
	       !memcmp(a->proto, b->proto, (size_t)a->nproto);
}

/* What a reload will apply: the new config (its NF states built) and new programs of changed chains. */
struct reload_plan {
	struct cfg *cfg;
	struct chain_ver *prepared[CFG_MAX_CHAINS]; /* by index in rt->chains; NULL: unchanged or leaving */
};

/* A reload that changed nothing: NF states taken over from the running config go back to it. */
static void reload_unbuild(struct cfg *old, struct cfg *cfg)
{
	for (int i = 0; i < cfg->n_nfs; i++) {
		const struct cfg_nf *on = cfg_nf_find(old, cfg->nfs[i].name);

		if (cfg->nfs[i].reused && on) {
			((struct cfg_nf *)on)->state = cfg->nfs[i].state;
			cfg->nfs[i].state = NULL;
		}
	}
}

/*
 * Everything that can fail, before anything changes: read and check the file,
 * build its NFs, and each changed chain's new program. Marks each running chain
 * live (stays) or not (leaves, and may come back anew). On failure nothing has
 * changed and err says why.
 */
static int reload_prepare(struct rt *rt, const char *path, struct reload_plan *pl, char *err, size_t errlen)
{
	struct cfg *old = rt->cfg, *cfg = NULL;
	int r;

	memset(pl, 0, sizeof(*pl));
	r = cfg_load(path, &cfg, err, errlen);
	if (r) {
		cfg_free(cfg);
		return r;
	}
	if (!same_ports(old, cfg)) {
		snprintf(err, errlen, "%s: [gen] ports and queues cannot change on reload; restart gend to change them",
			 cfg->file);
		cfg_free(cfg);
		return -EINVAL;
	}
	if (cfg->unmatched_drop != old->unmatched_drop || cfg->max_batch != old->max_batch ||
	    cfg->backend != old->backend || cfg->xdp_native != old->xdp_native ||
	    cfg->mini_batch != old->mini_batch || strcmp(cfg->control, old->control) ||
	    cfg->xdp_bind != old->xdp_bind || cfg->tx_thread != old->tx_thread ||
	    cfg->tx_sockets != old->tx_sockets || cfg->tx_budget != old->tx_budget || cfg->demote != old->demote || cfg->spin_us != old->spin_us || cfg->spin_max_auto != old->spin_max_auto ||
	    (!cfg->spin_max_auto && cfg->spin_max_us != old->spin_max_us) || !same_synth(&cfg->synth, &old->synth) || cfg->ncpus != old->ncpus ||
	    memcmp(cfg->cpus, old->cpus, (size_t)cfg->ncpus * sizeof(cfg->cpus[0]))) {
		snprintf(err, errlen, "%s: [gen] backend, unmatched, xdp_mode, xdp_bind, tx_thread, tx_sockets, tx_budget, demote, spin_us, spin_max_us, cpus, max_batch, "
			 "mini_batch, control and synth_* but synth_rate cannot change on reload; restart gend to change them",
			 cfg->file);
		cfg_free(cfg);
		return -EINVAL;
	}
	r = cfg_build_nfs(cfg, old, err, errlen);
	if (r) {
		cfg_free(cfg);
		return r;
	}
	r = rt_check_capacity(cfg, err, errlen);
	if (r)
		goto unbuild;
	for (int i = rt->nchains - 1; i >= 0; i--) {
		struct rt_chain *rc = rt->chains[i];
		const struct cfg_chain *nc = cfg_chain_find(cfg, rc->c.name);

		/*
		 * Removed, or its id or ingress ports changed: it leaves (and may come back
		 * anew). A failed chain always leaves and comes back: new controllers, new
		 * sockets in the classifier, and the NFs of this file.
		 */
		rc->live = nc && nc->id == rc->c.id && chain_in_ports(cfg, nc) == chain_in_ports(old, rc->cc) &&
			   !__atomic_load_n(&rc->c.failed, __ATOMIC_ACQUIRE);
		if (!rc->live || cfg_chain_equal(old, rc->cc, cfg, nc))
			continue;
		pl->prepared[i] = make_ver(rt, cfg, nc, err, errlen);
		if (!pl->prepared[i]) {
			r = errno ? -errno : -EIO;
			snprintf(err + strlen(err), errlen - strlen(err), " (chain '%s', %s:%d)", nc->name, cfg->file,
				 nc->line);
			for (int k = i + 1; k < rt->nchains; k++)
				chain_ver_free(pl->prepared[k], rt->nq);
			goto unbuild;
		}
		chain_nf_names(cfg, nc, pl->prepared[i]->nfs, sizeof(pl->prepared[i]->nfs));
		pl->prepared[i]->generation = rt->generation + 1;
	}
	pl->cfg = cfg;
	return 0;
unbuild:
	reload_unbuild(old, cfg);
	cfg_free(cfg);
	return r;
}

/*
 * Apply a prepared reload. Leaving chains go first: out of the table, then
 * drained. Changed chains take their new program at a batch boundary. Added
 * chains start, get their sockets, then enter the table. Untouched chains are
 * never paused. Fails as a whole (*applied false) only if the table cannot be
 * rewritten before anything left; a later failure (an added chain that cannot
 * start) is returned with the rest applied.
 */
static int reload_commit(struct rt *rt, struct reload_plan *pl, bool *applied, char *err, size_t errlen)
{
	struct cfg *old = rt->cfg, *cfg = pl->cfg;
	struct rt_chain *keep[CFG_MAX_CHAINS], *all[CFG_MAX_CHAINS];
	struct chain_ver *retired[CFG_MAX_CHAINS], *prepared[CFG_MAX_CHAINS];
	int nkeep = 0, nall = rt->nchains, nretired = 0, r;
	char err2[512];

	*applied = false;
	memcpy(all, rt->chains, sizeof(all[0]) * (size_t)nall);
	for (int i = 0; i < nall; i++) {
		if (all[i]->live) {
			prepared[nkeep] = pl->prepared[i];
			keep[nkeep++] = all[i];
		}
	}
	memcpy(rt->chains, keep, sizeof(keep[0]) * (size_t)nkeep);
	rt->nchains = nkeep;
	/* The old config's matches for the chains that stay: nothing new enters yet. */
	r = install_rules(rt, old, err, errlen);
	if (r) {
		memcpy(rt->chains, all, sizeof(all[0]) * (size_t)nall);
		rt->nchains = nall;
		for (int i = 0; i < nkeep; i++)
			chain_ver_free(prepared[i], rt->nq);
		return r;
	}
	*applied = true;
	for (int i = nall - 1; i >= 0; i--) {
		if (!all[i]->live) {
			rt->chains[rt->nchains++] = all[i]; /* chain_remove finds and drops it */
			chain_remove(rt, all[i]);
		}
	}
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];

		if (prepared[i])
			retired[nretired++] = chain_swap(&rc->c, prepared[i]);
		rc->cc = cfg_chain_find(cfg, rc->c.name);
	}
	r = 0;
	for (int i = 0; i < cfg->nchains; i++) {
		if (find_chain(rt, cfg->chains[i].name))
			continue;
		r = chain_add(rt, cfg, &cfg->chains[i], err, errlen);
		if (r)
			break;
	}
	if (install_rules(rt, cfg, err2, sizeof(err2)) && !r) {
		r = -EIO;
		snprintf(err, errlen, "%s", err2);
	}
	for (int i = 0; i < nretired; i++)
		chain_ver_free(retired[i], rt->nq);
	if (cfg->synth.rate != old->synth.rate)
		rt_set_synth_rate(rt, cfg->synth.rate);
	rt->cfg = cfg;
	cfg_free(old);
	rt->generation++;
	return r;
}

int rt_reload(struct rt *rt, const char *path, char *err, size_t errlen)
{
	struct reload_plan pl;
	char ports[1024];
	bool applied;
	int r;

	err[0] = 0;
	/* Ports by name and ifindex: one replaced by another netdev of its name is bound anew first. */
	rt_ports_resolve(rt, ports, sizeof(ports));
	r = reload_prepare(rt, path, &pl, err, errlen);
	if (!r) {
		r = reload_commit(rt, &pl, &applied, err, errlen);
		if (r && !applied) {
			reload_unbuild(rt->cfg, pl.cfg);
			cfg_free(pl.cfg);
		}
	}
	if (r) {
		rt->reloads_failed++;
		snprintf(rt->last_reload_error, sizeof(rt->last_reload_error), "%s", err);
		if (ports[0] && strlen(err) + 1 < errlen)
			snprintf(err + strlen(err), errlen - strlen(err), "\n%s", ports);
		return r;
	}
	rt->reloads_ok++;
	rt->last_reload_error[0] = 0;
	spin_max_update(rt);
	snprintf(err, errlen, "%s", ports);
	return 0;
}

bool rt_device_stuck(const struct rt *rt)
{
	const struct backend_ops *be[] = { rt->be, backend_gpu };

	for (size_t i = 0; i < sizeof(be) / sizeof(be[0]); i++)
		if (be[i] && be[i]->device_stuck && be[i]->device_stuck())
			return true;
	return false;
}

static void rebind_unpark(struct rt *rt, int p);

void rt_stop(struct rt *rt)
{
	if (rt->be && rt->be->shutdown)
		rt->be->shutdown();
	if (rt->cls)
		cls_detach_all(rt->cls);
	rt->attached = false;
	for (int p = 0; rt->workers && p < rt->nports; p++)
		rebind_unpark(rt, p);
	while (rt->nchains)
		chain_remove(rt, rt->chains[rt->nchains - 1]);
	for (int q = 0; rt->workers && q < rt->nq; q++) {
		xsk_worker_stop(&rt->workers[q]);
		xsk_worker_fini(&rt->workers[q], rt->be);
	}
	free(rt->workers);
	rt->workers = NULL;
	cls_close(rt->cls, true);
	rt->cls = NULL;
	cfg_free(rt->cfg);
	rt->cfg = NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Whether the netdev named name is up. SIOCGIFFLAGS has 16 bits of flags, so
 * not IFF_LOWER_UP (rtnetlink's test, link.c); IFF_RUNNING is up with a carrier.
 */
static bool netdev_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool up = false;

	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (!ioctl(fd, SIOCGIFFLAGS, &ifr))
		up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
	close(fd);
	return up;
}

/* What was made for a port's returning netdev and not used: freed. */
static void rebind_unpark(struct rt *rt, int p)
{
	for (int q = 0; q < rt->nq; q++) {
		xsk_port_unprepare(rt->rebind[p].ready[q]);
		rt->rebind[p].ready[q] = NULL;
	}
	rt->rebind[p].ready_ifindex = 0;
}

static const char *const rebind_why_names[] = { "on a link event", "on the retry timer", "on a port check" };

/*
 * Port p's netdev is gone and one of the same name is back as ifindex: the
 * port's sockets made anew on it on every queue (xsk_port_prepare, all before
 * any is used, then xsk_port_commit), XDP attached to it, the classification
 * table rebuilt with the new ifindex. The other ports and their chains carry
 * on meanwhile. A failure on one queue leaves every queue on the old netdev;
 * one after the sockets moved (XDP, rules) leaves them on the new one, and the
 * next attempt does only what is left. 0 with a line for the log in msg, or
 * -errno: the port stays gone, the attempt is due again (struct rt_rebind),
 * and msg holds a line only when the log has not said it yet.
 */
static int port_rebind(struct rt *rt, int p, int ifindex, bool up, enum rt_rebind_why why, char *msg, size_t len)
{
	struct rt_rebind *rb = &rt->rebind[p];
	char err[512] = "";
	int r = 0, q;
	int64_t delay;

	rb->attempts++;
	if (ifindex != rt->ifindex[p]) {
		for (q = 0; q < rt->nq; q++) {
			/* Sockets still on a netdev that came and went before: taken back like any gone port's. */
			xsk_port_state(&rt->workers[q], p, true, true);
			/* What the worker still held of the old netdev is back in the pool first (xsk.c: port_reclaim). */
			xsk_sync(&rt->workers[q]);
		}
		if (rb->ready_ifindex != ifindex)
			rebind_unpark(rt, p);
		rb->ready_ifindex = ifindex;
		for (q = 0; q < rt->nq && !r; q++) {
			if (rb->ready[q] && !xsk_port_prepared_valid(&rt->workers[q], rb->ready[q])) {
				xsk_port_unprepare(rb->ready[q]); /* the chains on p changed since */
				rb->ready[q] = NULL;
			}
			if (!rb->ready[q])
				r = xsk_port_prepare(&rt->workers[q], p, ifindex, &rb->ready[q], err, sizeof(err));
		}
		if (r)
			goto failed; /* every queue still on the old netdev; what was made waits for the next attempt */
		for (q = 0; q < rt->nq; q++) {
			xsk_port_commit(&rt->workers[q], rb->ready[q]);
			rb->ready[q] = NULL;
		}
		cls_detach(rt->cls, rt->ifindex[p]); /* the old netdev is gone: this only forgets it */
		rt->ifindex[p] = ifindex;
	}
	for (q = 0; q < rt->nq && !r; q++)
		r = xsk_port_map(&rt->workers[q], p, err, sizeof(err));
	if (!r && xsk_rebind_fault(XSK_FAULT_XDP)) {
		r = -EBUSY;
		snprintf(err, sizeof(err), "failed to attach XDP on '%s': %s (injected: GEN_FAULT_REBIND_Q)",
			 rt->cfg->ports[p], strerror(-r));
	}
	if (!r) {
		r = cls_attach(rt->cls, ifindex, rt->cfg->xdp_native);
		if (r)
			snprintf(err, sizeof(err), "%s", cls_strerror(rt->cls));
	}
	if (!r)
		r = install_rules(rt, rt->cfg, err, sizeof(err));
	if (r)
		goto failed;
	rt->port_state[p] = up ? RT_PORT_UP : RT_PORT_DOWN;
	for (q = 0; q < rt->nq; q++)
		xsk_port_state(&rt->workers[q], p, !up, false);
	snprintf(msg, len, "port %d '%s' is back as a new interface (ifindex %d): XDP attached, sockets bound, %s",
		 p + 1, rt->cfg->ports[p], ifindex, up ? "sending again" : "down until it is up");
	if (rb->attempts > 1)
		snprintf(msg + strlen(msg), len - strlen(msg), " (attempt %u, %s)", rb->attempts, rebind_why_names[why]);
	memset(rb, 0, sizeof(*rb));
	return 0;
failed:
	rb->pending = true;
	if (why == RT_REBIND_TIMER)
		rb->timer_tries++;
	delay = 1000LL << (rb->timer_tries < 6 ? rb->timer_tries : 6);
	rb->next_ms = now_ms() + (delay < 60000 ? delay : 60000);
	if (strcmp(rb->error, err)) {
		snprintf(rb->error, sizeof(rb->error), "%s", err);
		rb->said = 0;
	}
	msg[0] = 0;
	if (!(rb->said & 1u << why) || why == RT_REBIND_CHECK) {
		rb->said |= 1u << why;
		snprintf(msg, len, "port %d '%s' is back as a new interface (ifindex %d) but cannot be bound "
			 "(attempt %u, %s): %s; the port stays gone, tried again on its next link event, on a reload "
			 "and by the timer (next in %lld s)", p + 1, rt->cfg->ports[p], ifindex, rb->attempts,
			 rebind_why_names[why], err, (long long)(rb->next_ms - now_ms() + 999) / 1000);
	}
	return r;
}

/* One more line for the log in msg (o of len used, n lines so far). */
static void msg_add(char *msg, size_t len, size_t *o, int *n, const char *line)
{
	if (*o < len)
		*o += (size_t)snprintf(msg + *o, len - *o, "%s%s", *n ? "\n" : "", line);
	(*n)++;
}

int rt_rebind_retry(struct rt *rt, char *msg, size_t len)
{
	char line[768];
	size_t o = 0;
	int n = 0;

	msg[0] = 0;
	for (int p = 0; p < rt->nports; p++) {
		int idx;

		if (!rt->rebind[p].pending || now_ms() < rt->rebind[p].next_ms)
			continue;
		idx = (int)if_nametoindex(rt->cfg->ports[p]);
		if (!idx) { /* gone again: its next return is a link event */
			rebind_unpark(rt, p);
			rt->rebind[p].next_ms = now_ms() + 60000;
			continue;
		}
		port_rebind(rt, p, idx, netdev_up(rt->cfg->ports[p]), RT_REBIND_TIMER, line, sizeof(line));
		if (line[0])
			msg_add(msg, len, &o, &n, line);
	}
	return n > 0;
}

int rt_ports_resolve(struct rt *rt, char *msg, size_t len)
{
	char line[768];
	size_t o = 0;
	int n = 0;

	msg[0] = 0;
	for (int p = 0; p < rt->nports; p++) {
		int idx;

		if (rt->workers[0].port[p].synth)
			continue;
		idx = (int)if_nametoindex(rt->cfg->ports[p]);
		if ((idx == rt->ifindex[p] && !rt->rebind[p].pending) || (!idx && rt->port_state[p] == RT_PORT_GONE))
			continue;
		if (rt->port_state[p] != RT_PORT_GONE) {
			rt->port_state[p] = RT_PORT_GONE;
			for (int q = 0; q < rt->nq; q++)
				xsk_port_state(&rt->workers[q], p, true, true);
			snprintf(line, sizeof(line), "port %d '%s' is gone (found on a check: its netdev went unnoticed)",
				 p + 1, rt->cfg->ports[p]);
		}
		if (idx)
			port_rebind(rt, p, idx, netdev_up(rt->cfg->ports[p]), RT_REBIND_CHECK, line, sizeof(line));
		msg_add(msg, len, &o, &n, line);
	}
	return n;
}

int rt_link_event(struct rt *rt, const struct link_event *ev, char *msg, size_t len)
{
	for (int p = 0; p < rt->nports; p++) {
		enum rt_port_state st;

		if (rt->workers[0].port[p].synth)
			continue;
		if (ev->ifindex != rt->ifindex[p] || rt->rebind[p].pending) {
			/* Same name, new netdev (or one whose binding failed before): bind it anew. */
			if (!ev->gone && rt->port_state[p] == RT_PORT_GONE && !strcmp(ev->name, rt->cfg->ports[p])) {
				port_rebind(rt, p, ev->ifindex, ev->up, RT_REBIND_LINK, msg, len);
				return msg[0] != 0;
			}
			if (ev->ifindex == rt->ifindex[p])
				return 0;
			continue;
		}
		st = ev->gone ? RT_PORT_GONE : ev->up ? RT_PORT_UP : RT_PORT_DOWN;
		if (st == rt->port_state[p] || rt->port_state[p] == RT_PORT_GONE)
			return 0;
		rt->port_state[p] = st;
		for (int q = 0; q < rt->nq; q++)
			xsk_port_state(&rt->workers[q], p, st != RT_PORT_UP, st == RT_PORT_GONE);
		snprintf(msg, len, "port %d '%s' is %s%s", p + 1, rt->cfg->ports[p], rt_port_state_name(st),
			 st == RT_PORT_UP ? ": sending again" :
			 st == RT_PORT_DOWN ? ": frames for it are dropped until it is up" :
			 ": frames for it are dropped, the frames its rings held are back in the pool");
		return 1;
	}
	return 0;
}

void rt_set_synth_rate(struct rt *rt, uint64_t pps)
{
	for (int q = 0; q < rt->nq; q++)
		for (int p = 0; p < rt->nports; p++)
			if (rt->workers[q].port[p].synth)
				synth_set_rate(rt->workers[q].port[p].synth, pps);
}
