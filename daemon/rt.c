// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ctl.h"
#include "rt.h"

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
	/* The GPU backend reads its agent mode when a chain is created. */
	setenv("GEN_GPU_MODE", cfg->gpu_mode == CFG_GPU_PIPELINE ? "pipeline" : "rtc", 1);
	rt->nframes = nframes;
	rt->pin_dir = pin_dir;
	rt->nports = cfg->nports;
	rt->nq = cfg->queues;
	select_backend(rt, cfg, backend_override);
	r = rt_check_capacity(cfg, err, errlen);
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
	for (int q = 0; q < rt->nq; q++) {
		struct xsk_opts o = { .nframes = nframes, .bind = (enum xsk_bind)cfg->xdp_bind, .synth = &cfg->synth,
				      .cls = rt->cls, .tx_thread = cfg->tx_thread };

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

int rt_reload(struct rt *rt, const char *path, char *err, size_t errlen)
{
	struct cfg *old = rt->cfg, *cfg = NULL;
	struct chain_ver *retired[CFG_MAX_CHAINS], *prepared[CFG_MAX_CHAINS];
	int nretired = 0, r;

	err[0] = 0;
	r = cfg_load(path, &cfg, err, errlen);
	if (r)
		goto reject;
	if (!same_ports(old, cfg)) {
		snprintf(err, errlen, "%s: [gen] ports and queues cannot change on reload; restart gend to change them",
			 cfg->file);
		r = -EINVAL;
		goto reject;
	}
	if (cfg->unmatched_drop != old->unmatched_drop || cfg->max_batch != old->max_batch ||
	    cfg->backend != old->backend || cfg->xdp_native != old->xdp_native ||
	    cfg->mini_batch != old->mini_batch || cfg->gpu_mode != old->gpu_mode || strcmp(cfg->control, old->control) ||
	    cfg->xdp_bind != old->xdp_bind || cfg->tx_thread != old->tx_thread || !same_synth(&cfg->synth, &old->synth)) {
		snprintf(err, errlen, "%s: [gen] backend, unmatched, xdp_mode, xdp_bind, tx_thread, max_batch, mini_batch, "
			 "gpu_mode, control and synth_* but synth_rate cannot change on reload; restart gend to change them", cfg->file);
		r = -EINVAL;
		goto reject;
	}
	r = cfg_build_nfs(cfg, old, err, errlen);
	if (r)
		goto reject;

	/*
	 * Prepare everything that can fail before anything changes: a rejected
	 * reload leaves every chain as it was.
	 */
	r = rt_check_capacity(cfg, err, errlen);
	if (r)
		goto reject_built;
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
		prepared[i] = NULL;
		if (!rc->live || cfg_chain_equal(old, rc->cc, cfg, nc))
			continue;
		prepared[i] = make_ver(rt, cfg, nc, err, errlen);
		if (!prepared[i]) {
			r = errno ? -errno : -EIO;
			snprintf(err + strlen(err), errlen - strlen(err), " (chain '%s', %s:%d)", nc->name, cfg->file,
				 nc->line);
			for (int k = i + 1; k < rt->nchains; k++)
				chain_ver_free(prepared[k], rt->nq);
			goto reject_built;
		}
		chain_nf_names(cfg, nc, prepared[i]->nfs, sizeof(prepared[i]->nfs));
		prepared[i]->generation = rt->generation + 1;
	}

	/* Leaving chains: out of the table first (built from the chains that stay), then drained. */
	{
		struct rt_chain *keep[CFG_MAX_CHAINS], *all[CFG_MAX_CHAINS];
		struct chain_ver *prep_all[CFG_MAX_CHAINS];
		int nkeep = 0, nall = rt->nchains;

		memcpy(all, rt->chains, sizeof(all[0]) * (size_t)nall);
		memcpy(prep_all, prepared, sizeof(prep_all[0]) * (size_t)nall);
		for (int i = 0; i < nall; i++) {
			if (all[i]->live) {
				prepared[nkeep] = prep_all[i];
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
			goto reject_built;
		}
		for (int i = nall - 1; i >= 0; i--) {
			if (!all[i]->live) {
				rt->chains[rt->nchains++] = all[i]; /* chain_remove finds and drops it */
				chain_remove(rt, all[i]);
			}
		}
	}
	/* Changed chains get their new program at their next batch boundary. */
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		const struct cfg_chain *nc = cfg_chain_find(cfg, rc->c.name);

		if (prepared[i])
			retired[nretired++] = chain_swap(&rc->c, prepared[i]);
		rc->cc = nc;
	}
	/* Added chains start, get sockets, then enter the table. */
	for (int i = 0; i < cfg->nchains; i++) {
		if (find_chain(rt, cfg->chains[i].name))
			continue;
		r = chain_add(rt, cfg, &cfg->chains[i], err, errlen);
		if (r)
			break;
	}
	{
		char err2[512];
		int r2 = install_rules(rt, cfg, err2, sizeof(err2));

		if (r2 && !r) {
			r = r2;
			snprintf(err, errlen, "%s", err2);
		}
	}
	for (int i = 0; i < nretired; i++)
		chain_ver_free(retired[i], rt->nq);
	if (cfg->synth.rate != old->synth.rate)
		rt_set_synth_rate(rt, cfg->synth.rate);
	rt->cfg = cfg;
	cfg_free(old);
	rt->generation++;
	if (r) {
		rt->reloads_failed++;
		snprintf(rt->last_reload_error, sizeof(rt->last_reload_error), "%s", err);
		return r;
	}
	rt->reloads_ok++;
	rt->last_reload_error[0] = 0;
	return 0;
reject_built:
	/* States taken over from `old` went back? cfg_build_nfs moved them: return them. */
	for (int i = 0; i < cfg->n_nfs; i++) {
		const struct cfg_nf *on = cfg_nf_find(old, cfg->nfs[i].name);

		if (cfg->nfs[i].reused && on) {
			((struct cfg_nf *)on)->state = cfg->nfs[i].state;
			cfg->nfs[i].state = NULL;
		}
	}
reject:
	cfg_free(cfg);
	rt->reloads_failed++;
	snprintf(rt->last_reload_error, sizeof(rt->last_reload_error), "%s", err);
	return r ? r : -EINVAL;
}

void rt_stop(struct rt *rt)
{
	if (rt->be && rt->be->shutdown)
		rt->be->shutdown();
	if (rt->cls)
		cls_detach_all(rt->cls);
	rt->attached = false;
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

static void chain_sums(const struct rt_chain *rc, uint64_t *rx, uint64_t *tx, uint64_t *drop)
{
	*rx = *tx = *drop = 0;
	for (int q = 0; q < rc->c.nq; q++) {
		*rx += __atomic_load_n(&rc->c.io[q].rx_packets, __ATOMIC_RELAXED);
		*tx += __atomic_load_n(&rc->c.io[q].tx_packets, __ATOMIC_RELAXED);
		*drop += __atomic_load_n(&rc->c.io[q].dropped, __ATOMIC_RELAXED);
	}
}

static const char *const port_state_names[RT_PORT_STATE_MAX] = { "up", "down", "gone" };

int rt_link_event(struct rt *rt, const struct link_event *ev, char *msg, size_t len)
{
	for (int p = 0; p < rt->nports; p++) {
		enum rt_port_state st;

		if (rt->workers[0].port[p].synth)
			continue;
		if (ev->ifindex != rt->ifindex[p]) {
			/* Same name, new netdev: the old one's sockets and UMEM rings cannot move to it. */
			if (!ev->gone && rt->port_state[p] == RT_PORT_GONE && !strcmp(ev->name, rt->cfg->ports[p])) {
				snprintf(msg, len, "port %d '%s' is back as a new interface (ifindex %d): restart gend to bind it",
					 p + 1, ev->name, ev->ifindex);
				return 1;
			}
			continue;
		}
		st = ev->gone ? RT_PORT_GONE : ev->up ? RT_PORT_UP : RT_PORT_DOWN;
		if (st == rt->port_state[p] || rt->port_state[p] == RT_PORT_GONE)
			return 0;
		rt->port_state[p] = st;
		for (int q = 0; q < rt->nq; q++)
			xsk_port_state(&rt->workers[q], p, st != RT_PORT_UP, st == RT_PORT_GONE);
		snprintf(msg, len, "port %d '%s' is %s%s", p + 1, rt->cfg->ports[p], port_state_names[st],
			 st == RT_PORT_UP ? ": sending again" :
			 st == RT_PORT_DOWN ? ": frames for it are dropped until it is up" :
			 ": frames for it are dropped, the frames its rings held are back in the pool");
		return 1;
	}
	return 0;
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

static void print_ports(struct rt *rt, FILE *out, bool json)
{
	struct synth_stats ss;

	for (int p = 0; p < rt->nports; p++) {
		bool synth = rt->workers[0].port[p].synth;

		if (synth)
			synth_sums(rt, p, &ss);
		if (json) {
			fprintf(out, "%s{\"name\":", p ? "," : "");
			ctl_json_str(out, rt->cfg->ports[p]);
			fprintf(out, ",\"mode\":\"%s\",\"state\":\"%s\"", port_mode(rt, p),
				port_state_names[rt->port_state[p]]);
			if (!synth) {
				uint64_t drops = 0, back = 0;

				for (int q = 0; q < rt->nq; q++) {
					drops += __atomic_load_n(&rt->workers[q].port[p].down_drops, __ATOMIC_RELAXED);
					back += __atomic_load_n(&rt->workers[q].port[p].frames_back, __ATOMIC_RELAXED);
				}
				fprintf(out, ",\"down_drops\":%lu,\"frames_back\":%lu", (unsigned long)drops,
					(unsigned long)back);
			}
			if (synth)
				fprintf(out, ",\"generated\":%lu,\"unmatched\":%lu,\"malformed\":%lu,\"no_socket\":%lu",
					(unsigned long)ss.generated, (unsigned long)ss.unmatched, (unsigned long)ss.malformed,
					(unsigned long)ss.no_socket);
			fprintf(out, "}");
		} else if (synth) {
			fprintf(out, "port %d:       %s synthetic: generated %lu, unmatched %lu, malformed %lu, no socket %lu\n",
				p + 1, rt->cfg->ports[p], (unsigned long)ss.generated, (unsigned long)ss.unmatched,
				(unsigned long)ss.malformed, (unsigned long)ss.no_socket);
		} else {
			fprintf(out, "port %d:       %s AF_XDP %s mode, %s\n", p + 1, rt->cfg->ports[p], port_mode(rt, p),
				port_state_names[rt->port_state[p]]);
		}
	}
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
		fprintf(out, "],\"umem_hugepages\":%s", rt->workers[0].hugepages ? "true" : "false");
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
	uint32_t ring, batch_limit, depth;
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

	fprintf(out, ",\"placement\":\"%s\",\"hybrid\":%s,\"switches\":%lu,\"ring\":%u,\"batch_limit\":%u,\"depth\":%u,"
		"\"max_wait_us\":%u,\"early_closes\":%lu,\"wait_overruns\":%lu,\"latency_target_us\":%u,"
		"\"target_met\":%s,\"target_misses\":%lu,\"window_p50_us\":%.1f,\"window_p99_us\":%.1f",
		e->placement, e->hybrid ? "true" : "false", (unsigned long)e->switches, e->ring, e->batch_limit, e->depth,
		v->max_wait_us, (unsigned long)e->early_closes, (unsigned long)e->wait_overruns, v->latency_target_us,
		e->target_missed ? "false" : "true", (unsigned long)e->target_misses, e->win_p50_ns / 1e3,
		e->win_p99_ns / 1e3);
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

		chain_sums(rc, &rx, &tx, &drop);
		chain_batch(rc, &last, &avg);
		for (int p = 0; p < GEN_MAX_PORTS; p++)
			if (rc->cls_id[p])
				matched += st.matched[rc->cls_id[p]];
		if (json) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			ctl_json_str(out, rc->c.name);
			fprintf(out, ",\"id\":%u,\"rx_packets\":%lu,\"tx_packets\":%lu,\"dropped\":%lu,\"batch_last\":%u,"
				"\"batch_avg\":%.1f,\"batch_max\":%u,\"batches\":%lu,\"xdp_matched\":%lu,\"backend\":\"%s\","
				"\"backend_fallbacks\":%lu,\"backend_lost\":%lu,\"failed\":%s,\"fail_dropped\":%lu",
				rc->c.id, (unsigned long)rx, (unsigned long)tx, (unsigned long)drop, last, avg,
				rc->c.batch_max, (unsigned long)rc->c.batches, (unsigned long)matched, be,
				(unsigned long)rc->c.fallbacks, (unsigned long)rc->c.backend_lost,
				__atomic_load_n(&rc->c.failed, __ATOMIC_ACQUIRE) ? "true" : "false",
				(unsigned long)__atomic_load_n(&rc->c.fail_dropped, __ATOMIC_RELAXED));
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
			fprintf(out, "%-16s %4u %12lu %12lu %10lu %10u %10.1f  %s%s%s\n", rc->c.name, rc->c.id,
				(unsigned long)rx, (unsigned long)tx, (unsigned long)drop, last, avg, be,
				rc->c.backend_failed ? " (fell back after a backend error)" : "",
				__atomic_load_n(&rc->c.failed, __ATOMIC_ACQUIRE) ? " FAILED" : "");
			elastic_view(rc, &e);
			fprintf(out, "    latency p50 %.1f us p99 %.1f us (last 10 ms); batch limit %u, depth %u, ring %u",
				e.win_p50_ns / 1e3, e.win_p99_ns / 1e3, e.batch_limit, e.depth, e.ring);
			if (rc->c.cur->latency_target_us)
				fprintf(out, "; target %u us %s", rc->c.cur->latency_target_us, e.target_missed ? "MISSED" : "met");
			if (e.hybrid)
				fprintf(out, "; hybrid on %s, %lu moves", e.placement, (unsigned long)e.switches);
			fprintf(out, "\n");
			print_nf_counters(rt, rc, out, false);
		}
	}
	if (json)
		fprintf(out, "]}\n");
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
				"\"latency_target_us\":%u", chain_placement(&rc->c), v->hybrid ? "true" : "false",
				(unsigned long)LOAD_R(&rc->c.switches), v->max_wait_us, v->latency_target_us);
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
		print_elastic_json(rc, &e, out);
		fprintf(out, "}");
	}
	fprintf(out, "]}\n");
}

void rt_set_synth_rate(struct rt *rt, uint64_t pps)
{
	for (int q = 0; q < rt->nq; q++)
		for (int p = 0; p < rt->nports; p++)
			if (rt->workers[q].port[p].synth)
				synth_set_rate(rt->workers[q].port[p].synth, pps);
}

void rt_poll_events(struct rt *rt, void (*say)(int prio, const char *msg))
{
	char msg[256];

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
			say(e.target_missed ? 4 : 6, msg);
			rc->target_missed_said = e.target_missed;
		}
		if (e.switches != rc->switches_said) {
			snprintf(msg, sizeof(msg), "chain '%s' (hybrid) now runs on %s (%lu moves)", rc->c.name, e.placement,
				 (unsigned long)e.switches);
			say(6, msg);
			rc->switches_said = e.switches;
		}
	}
}
