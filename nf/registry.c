// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry.h"

/* Every shipped NF (nf/nf_list.h); each defines its ops in nf/<name>_build.c. */
#define NF_OPS_DECL_(NAME, name, head, tail, writes, binit) extern const struct nf_ops nf_ops_##name;
#define NF_OPS_REF_(NAME, name, head, tail, writes, binit) &nf_ops_##name,
NF_LIST(NF_OPS_DECL_)
extern const struct nf_ops nf_ops_custom;

static const struct nf_ops *const all_ops[] = {
	NF_LIST(NF_OPS_REF_)
	&nf_ops_custom,
};
#undef NF_OPS_DECL_
#undef NF_OPS_REF_

const struct nf_ops *nf_ops_find(const char *type_name)
{
	for (size_t i = 0; i < sizeof(all_ops) / sizeof(all_ops[0]); i++)
		if (!strcmp(all_ops[i]->type_name, type_name))
			return all_ops[i];
	return NULL;
}

const struct nf_ops *nf_ops_by_type(uint32_t type)
{
	for (size_t i = 0; i < sizeof(all_ops) / sizeof(all_ops[0]); i++)
		if (all_ops[i]->type == type)
			return all_ops[i];
	return NULL;
}

static uint64_t *reserve_ctr(const struct nf_hdr *h)
{
	const struct nf_ops *o = h ? nf_ops_by_type(h->type) : NULL;

	return o && o->seq_counter ? o->seq_counter((struct nf_hdr *)h) : NULL;
}

void nf_reserve(uint32_t nnf, struct nf_hdr *const *state, uint32_t n, uint64_t *first)
{
	for (uint32_t i = 0; i < nnf; i++) {
		uint64_t *c = reserve_ctr(state[i]);

		first[i] = c && n ? __atomic_fetch_add(c, n, __ATOMIC_RELAXED) + 1 : 0;
	}
}

uint64_t nf_reserved(const struct nf_hdr *h)
{
	const uint64_t *c = reserve_ctr(h);

	return c ? __atomic_load_n(c, __ATOMIC_RELAXED) : 0;
}

void nf_reserve_keep(struct nf_hdr *h, uint64_t before)
{
	uint64_t *c = reserve_ctr(h);
	uint64_t now = c ? __atomic_load_n(c, __ATOMIC_RELAXED) : 0;

	/* A racing reserve between the write and here only moves it up: the CAS keeps the larger. */
	while (c && now < before && !__atomic_compare_exchange_n(c, &now, before, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

const char *nf_cfg_get(const struct nf_cfg *cfg, const char *key, int *ret_line)
{
	const char *v = NULL;

	/* Last one wins, as in the rest of chains.ini. */
	for (int i = 0; i < cfg->nkv; i++) {
		if (!strcmp(cfg->kv[i].key, key)) {
			v = cfg->kv[i].value;
			if (ret_line)
				*ret_line = cfg->kv[i].line;
		}
	}
	if (!v && ret_line)
		*ret_line = cfg->line;
	return v;
}

const char *nf_cfg_path(const struct nf_cfg *cfg, const char *path, char *buf, size_t len)
{
	if (path[0] == '/' || !cfg->base_dir || !cfg->base_dir[0])
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "%s/%s", cfg->base_dir, path);
	return buf;
}

int nf_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

uint32_t nf_live_spans(const struct nf_hdr *st, struct nf_span out[NF_SPANS_MAX])
{
	const struct nf_ops *ops = nf_ops_by_type(st->type);
	uint32_t n = ops && ops->live ? ops->live(st, out) : 0;

	if (n > NF_SPANS_MAX)
		n = 0;
	for (uint32_t i = 0; i < n; i++)
		if ((uint64_t)out[i].off + out[i].len > st->size) {
			n = 0; /* a span outside the blob: trust none of them */
			break;
		}
	if (!n) {
		out[0] = (struct nf_span){ 0, st->size };
		n = 1;
	}
	return n;
}

struct nf_hdr *nf_blob_alloc(uint32_t type, size_t size, uint32_t counters_off, uint32_t ncounters)
{
	size_t sz = (size + 63) & ~(size_t)63;
	struct nf_hdr *h;

	if (sz > UINT32_MAX) {
		errno = E2BIG;
		return NULL;
	}
	h = aligned_alloc(64, sz);
	if (!h)
		return NULL;
	memset(h, 0, sz);
	h->type = type;
	h->size = (uint32_t)sz;
	h->counters_off = counters_off;
	h->ncounters = ncounters;
	return h;
}

int nf_cfg_check_keys(const struct nf_cfg *cfg, const char *const *known, char *err, size_t errlen)
{
	for (int i = 0; i < cfg->nkv; i++) {
		int ok = 0;

		for (const char *const *k = known; *k; k++)
			ok |= !strcmp(*k, cfg->kv[i].key);
		if (!ok) {
			snprintf(err, errlen, "%s:%d: unknown key '%s' for nf '%s'", cfg->file,
				 cfg->kv[i].line, cfg->kv[i].key, cfg->name);
			return -EINVAL;
		}
	}
	return 0;
}

int nf_lines_open(struct nf_lines *l, const char *path, const char *what, char *err, size_t errlen)
{
	*l = (struct nf_lines){ 0 };
	l->f = fopen(path, "re");
	if (!l->f) {
		int r = -errno;

		snprintf(err, errlen, "%s: cannot open %s file: %s", path, what, strerror(-r));
		return r;
	}
	return 0;
}

char *nf_lines_next(struct nf_lines *l)
{
	char *hash;

	if (getline(&l->line, &l->cap, l->f) < 0)
		return NULL;
	l->lineno++;
	hash = strchr(l->line, '#');
	if (hash)
		*hash = 0;
	return l->line;
}

void nf_lines_close(struct nf_lines *l)
{
	if (l->f)
		fclose(l->f);
	free(l->line);
	*l = (struct nf_lines){ 0 };
}

void *nf_grow(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t nc;
	void *q;

	if (n < *cap)
		return arr;
	nc = *cap ? *cap * 2 : first;
	q = realloc(arr, nc * size);
	if (q)
		*cap = nc;
	return q;
}
