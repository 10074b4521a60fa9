// SPDX-License-Identifier: GPL-2.0
/*
 * chains.ini validated: the sections cfg_read.c collected (keys with their
 * lines) become a struct cfg, every problem a "FILE:LINE: reason" line. This
 * file sets the defaults, takes the sections in order ([gen] in cfg_gen.c,
 * [nf] here, [chain] in cfg_chain.c), and frees and looks up the result;
 * cfg_build.c then builds the NF states.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_keys.h"

/* ---- [nf] sections ---- */

static void known_types(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t t = 1; t < NF_T_MAX; t++) {
		const struct nf_ops *o = nf_ops_by_type(t);
		int n;

		if (!o)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", o->type_name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static void load_nf(struct cfg_parser *p, struct cfg *c, struct cfg_sect *s)
{
	struct cfg_nf *nf = &c->nfs[c->n_nfs];
	const struct nf_kv *type = NULL;
	char known[256];

	*nf = (struct cfg_nf){ .line = s->line };
	nf->name = s->name;
	s->name = NULL;
	c->n_nfs++;
	for (int i = 0; i < s->nkv; i++) {
		if (strcmp(s->kv[i].key, "type"))
			continue;
		if (type)
			cfg_perr(p, s->kv[i].line, "duplicate key 'type' (first at line %d)", type->line);
		else
			type = &s->kv[i];
	}
	if (!type) {
		cfg_perr(p, s->line, "nf '%s' needs 'type'", nf->name);
		return;
	}
	nf->ops = nf_ops_find(type->value);
	if (!nf->ops) {
		known_types(known, sizeof(known));
		cfg_perr(p, type->line, "unknown nf type '%s' (known: %s)", type->value, known);
	} else {
		nf->nf_type = nf->ops->type;
	}
	if (!(nf->type = strdup(type->value))) {
		p->oom = true;
		return;
	}
	/* Every other key goes to the NF's builder, which rejects what it doesn't know. */
	nf->kv = calloc((size_t)s->nkv, sizeof(*nf->kv));
	if (!nf->kv && s->nkv) {
		p->oom = true;
		return;
	}
	for (int i = 0; i < s->nkv; i++) {
		if (&s->kv[i] == type || !strcmp(s->kv[i].key, "type"))
			continue;
		for (int j = 0; j < nf->nkv; j++)
			if (!strcmp(nf->kv[j].key, s->kv[i].key))
				cfg_perr(p, s->kv[i].line, "duplicate key '%s' (first at line %d)", s->kv[i].key,
				     nf->kv[j].line);
		nf->kv[nf->nkv++] = s->kv[i];
		s->kv[i].key = s->kv[i].value = NULL;
	}
	nf->fingerprint = cfg_nf_fingerprint(c, nf);
}

static int nf_index(const struct cfg *c, const char *name)
{
	for (int i = 0; i < c->n_nfs; i++)
		if (!strcmp(c->nfs[i].name, name))
			return i;
	return -1;
}

static char *dir_of(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	char *real;

	if (!copy)
		return NULL;
	/* Absolute, so relative paths keep working after the daemon changes directory. */
	real = realpath(dirname(copy), NULL);
	return real ? real : strdup(dirname(copy));
}

int cfg_load(const char *path, struct cfg **ret, char *err, size_t errlen)
{
	struct cfg_parser p;
	struct cfg *c;
	int r, nnf = 0, nch = 0, gen = -1;

	if (errlen)
		err[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->backend = CFG_BACKEND_AUTO;
	c->xdp_native = true;
	c->synth = (struct synth_cfg){ .size = 64, .flows = 16, .proto = { NF_IPPROTO_UDP }, .nproto = 1 };
	c->queues = 1;
	c->tx_sockets = 1;
	c->tx_budget = 0; /* auto */
	c->tx_thread = CFG_TX_THREAD_AUTO;
	c->demote = CFG_DEMOTE_AUTO;
	c->spin_us = GEN_SPIN_US_DEFAULT;
	c->spin_max_us = GEN_SPIN_MAX_US_DEFAULT;
	c->spin_max_auto = true;
	c->max_batch = 65536;
	c->inflight = CFG_INFLIGHT_DEFAULT;
	c->mini_batch = GEN_MINI_BATCH_DEFAULT;
	c->flow_idle_s = CFG_FLOW_IDLE_DEFAULT;
	c->flow_active_s = CFG_FLOW_ACTIVE_DEFAULT;
	c->file = strdup(path);
	c->base_dir = dir_of(path);
	if (!c->file || !c->base_dir) {
		cfg_free(c);
		return -ENOMEM;
	}

	r = cfg_read(&p, path);
	if (r) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		cfg_free(c);
		return r;
	}
	for (int i = 0; i < p.nsects; i++) {
		nnf += p.sects[i].kind == CFG_SECT_NF;
		nch += p.sects[i].kind == CFG_SECT_CHAIN;
		if (p.sects[i].kind == CFG_SECT_GEN)
			gen = i;
	}
	c->nfs = calloc((size_t)nnf + 1, sizeof(*c->nfs));
	c->chains = calloc((size_t)nch + 1, sizeof(*c->chains));
	if (!c->nfs || !c->chains)
		p.oom = true;

	if (p.oom)
		goto out;
	if (gen >= 0)
		cfg_load_gen(&p, c, &p.sects[gen]);
	else
		cfg_perr(&p, 1, "no [gen] section (it must list the ports)");
	if (!c->control && !(c->control = strdup(CFG_DEFAULT_CONTROL)))
		p.oom = true;
	if (!c->eve_log && !(c->eve_log = strdup(CFG_DEFAULT_EVE_LOG)))
		p.oom = true;
	for (int i = 0; i < p.nsects; i++) {
		if (p.sects[i].kind != CFG_SECT_NF)
			continue;
		if (c->n_nfs == CFG_MAX_NFS) {
			cfg_perr(&p, p.sects[i].line, "more than %d [nf] sections", CFG_MAX_NFS);
			break;
		}
		load_nf(&p, c, &p.sects[i]);
	}
	for (int i = 0; i < p.nsects; i++) {
		if (p.sects[i].kind != CFG_SECT_CHAIN)
			continue;
		if (c->nchains == CFG_MAX_CHAINS) {
			cfg_perr(&p, p.sects[i].line, "more than %d chains", CFG_MAX_CHAINS);
			break;
		}
		cfg_load_chain(&p, c, &p.sects[i]);
	}
	cfg_check_chains(&p, c);
out:
	cfg_parser_free(&p);
	if (p.oom) {
		cfg_errs_flush(p.errs, p.nerrs, false, err, 0);
		snprintf(err, errlen, "%s: out of memory", path);
		cfg_free(c);
		return -ENOMEM;
	}
	if (p.nerrs) {
		cfg_errs_flush(p.errs, p.nerrs, true, err, errlen);
		cfg_free(c);
		return -EINVAL;
	}
	free(p.errs);
	*ret = c;
	return 0;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_nfs; i++) {
		struct cfg_nf *nf = &c->nfs[i];

		for (int j = 0; j < nf->nkv; j++) {
			free((char *)nf->kv[j].key);
			free((char *)nf->kv[j].value);
		}
		free(nf->kv);
		free(nf->name);
		free(nf->type);
		free(nf->state);
	}
	free(c->nfs);
	for (int i = 0; i < c->nchains; i++) {
		free(c->chains[i].name);
		free(c->chains[i].match);
		free(c->chains[i].nfs);
	}
	free(c->chains);
	for (int i = 0; i < c->nports; i++)
		free(c->ports[i]);
	free(c->ports);
	free(c->control);
	free(c->eve_log);
	free(c->file);
	free(c->base_dir);
	free(c);
}

/* ---- lookups ---- */

bool cfg_chain_fail_closed(const struct cfg *c, const struct cfg_chain *cc)
{
	if (cc->fail != CFG_FAIL_UNSET)
		return cc->fail == CFG_FAIL_CLOSED;
	if (c->fail != CFG_FAIL_UNSET)
		return c->fail == CFG_FAIL_CLOSED;
	/* What guards traffic must not be routed around silently. */
	for (int i = 0; i < cc->nnfs; i++) {
		uint32_t t = c->nfs[cc->nfs[i]].nf_type;

		if (t == NF_T_NIDS || t == NF_T_FIREWALL || t == NF_T_IPSEC_ESP)
			return true;
	}
	return false;
}

const struct cfg_chain *cfg_chain_find(const struct cfg *c, const char *name)
{
	for (int i = 0; i < c->nchains; i++)
		if (!strcmp(c->chains[i].name, name))
			return &c->chains[i];
	return NULL;
}

const struct cfg_nf *cfg_nf_find(const struct cfg *c, const char *name)
{
	int i = nf_index(c, name);

	return i < 0 ? NULL : &c->nfs[i];
}
