// SPDX-License-Identifier: GPL-2.0
/*
 * chains.ini built: each [nf]'s state, and what a reload may keep. An NF whose
 * type, keys and referenced files are unchanged (its fingerprint) keeps its
 * running state; a chain whose definition is unchanged keeps running.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cfg.h"
#include "cfg_read.h"

/* ---- NF fingerprints: a changed key or a changed referenced file means a new state ---- */

static uint64_t fnv1a(uint64_t h, const void *d, size_t n)
{
	const uint8_t *b = d;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Content of a regular file the value names, if any: any key may name a file (routes, rules, source). */
static uint64_t file_hash(uint64_t h, const char *base_dir, const char *value)
{
	char path[PATH_MAX], buf[65536];
	struct stat st;
	ssize_t n;
	int fd;

	if (!value[0])
		return h;
	if (value[0] == '/' || !base_dir || !base_dir[0])
		snprintf(path, sizeof(path), "%s", value);
	else
		snprintf(path, sizeof(path), "%s/%s", base_dir, value);
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return h;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fnv1a(h, "unreadable", 10);
	h = fnv1a(h, &st.st_size, sizeof(st.st_size));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		h = fnv1a(h, buf, (size_t)n);
	if (n < 0)
		h = fnv1a(h, "unreadable", 10);
	close(fd);
	return h;
}

uint64_t cfg_nf_fingerprint(const struct cfg *c, const struct cfg_nf *nf)
{
	const uint64_t basis = 0xcbf29ce484222325ull;
	uint64_t fp = fnv1a(basis, nf->type, strlen(nf->type) + 1);

	/* Keys combine by addition: their order in the file does not matter. */
	for (int i = 0; i < nf->nkv; i++) {
		uint64_t h = fnv1a(basis, nf->kv[i].key, strlen(nf->kv[i].key) + 1);

		h = fnv1a(h, nf->kv[i].value, strlen(nf->kv[i].value) + 1);
		h = file_hash(h, c->base_dir, nf->kv[i].value);
		fp += mix64(h);
	}
	return fp;
}

/* ---- building NF states ---- */

int cfg_build_nfs(struct cfg *c, struct cfg *old, char *err, size_t errlen)
{
	struct cfg_err *errs = NULL;
	int nerrs = 0, rc = 0;
	bool oom = false;

	if (errlen)
		err[0] = '\0';
	/* Pass 1 builds what changed; nothing is taken from `old` unless everything built. */
	for (int i = 0; i < c->n_nfs; i++) {
		struct cfg_nf *nf = &c->nfs[i];
		const struct cfg_nf *o = old ? cfg_nf_find(old, nf->name) : NULL;
		struct nf_hdr *st = NULL;
		char e[1024] = "";
		char *text = NULL;
		int r;

		if (nf->state)
			continue;
		nf->reused = o && o->state && o->fingerprint == nf->fingerprint && o->nf_type == nf->nf_type;
		if (nf->reused)
			continue;
		struct nf_cfg nc = {
			.name = nf->name, .file = c->file, .line = nf->line,
			.kv = nf->kv, .nkv = nf->nkv, .base_dir = c->base_dir,
		};
		r = nf->ops ? nf->ops->build(&nc, &st, e, sizeof(e)) : -EINVAL;
		if (!r && (!st || st->type != nf->nf_type)) {
			free(st);
			st = NULL;
			r = -EPROTO;
			snprintf(e, sizeof(e), "%s:%d: nf '%s': builder returned a state of the wrong type",
				 c->file, nf->line, nf->name);
		}
		if (r) {
			if (!e[0])
				snprintf(e, sizeof(e), "%s:%d: nf '%s': %s", c->file, nf->line, nf->name, strerror(-r));
			text = strdup(e);
			cfg_errs_add(&errs, &nerrs, &oom, nf->line, text);
			if (!rc)
				rc = r;
			continue;
		}
		nf->state = st;
	}
	if (rc || oom) {
		for (int i = 0; i < c->n_nfs; i++) {
			if (!c->nfs[i].reused) {
				free(c->nfs[i].state);
				c->nfs[i].state = NULL;
			}
			c->nfs[i].reused = false;
		}
		cfg_errs_flush(errs, nerrs, false, err, errlen);
		return rc ? rc : -ENOMEM;
	}
	free(errs);
	for (int i = 0; i < c->n_nfs; i++) {
		struct cfg_nf *nf = &c->nfs[i];

		if (!nf->reused)
			continue;
		for (int j = 0; j < old->n_nfs; j++) {
			if (!strcmp(old->nfs[j].name, nf->name)) {
				nf->state = old->nfs[j].state;
				old->nfs[j].state = NULL;
				break;
			}
		}
	}
	return 0;
}

/* ---- comparisons ---- */

static const char *port_name(const struct cfg *c, int idx)
{
	return idx >= 1 && idx <= c->nports ? c->ports[idx - 1] : "";
}

static bool match_equal(const struct cfg *a, const struct cfg_match *x, const struct cfg *b,
			const struct cfg_match *y)
{
	return x->src == y->src && x->src_len == y->src_len && x->dst == y->dst && x->dst_len == y->dst_len &&
	       x->proto == y->proto && x->sport_lo == y->sport_lo && x->sport_hi == y->sport_hi &&
	       x->dport_lo == y->dport_lo && x->dport_hi == y->dport_hi &&
	       (x->in_port == 0) == (y->in_port == 0) &&
	       !strcmp(port_name(a, x->in_port), port_name(b, y->in_port));
}

bool cfg_chain_equal(const struct cfg *a, const struct cfg_chain *ca, const struct cfg *b,
		     const struct cfg_chain *cb)
{
	if (ca->id != cb->id || ca->nmatch != cb->nmatch || ca->nnfs != cb->nnfs || ca->gpu != cb->gpu ||
	    ca->priority != cb->priority || strcmp(port_name(a, ca->output), port_name(b, cb->output)) ||
	    ca->backend != cb->backend || ca->max_wait_us != cb->max_wait_us ||
	    ca->latency_target_us != cb->latency_target_us || ca->hybrid_pps != cb->hybrid_pps ||
	    ca->inflight != cb->inflight ||
	    ca->gpu_opts.mem != cb->gpu_opts.mem || ca->gpu_opts.mode != cb->gpu_opts.mode ||
	    ca->gpu_opts.agent != cb->gpu_opts.agent)
		return false;
	for (int i = 0; i < ca->nmatch; i++)
		if (!match_equal(a, &ca->match[i], b, &cb->match[i]))
			return false;
	for (int i = 0; i < ca->nnfs; i++) {
		const struct cfg_nf *x = &a->nfs[ca->nfs[i]], *y = &b->nfs[cb->nfs[i]];

		if (strcmp(x->name, y->name) || x->fingerprint != y->fingerprint)
			return false;
	}
	return true;
}
