// SPDX-License-Identifier: GPL-2.0
/*
 * nids automaton: the case-folded content prefixes of a parsed rule set in a
 * trie, then a complete DFA over byte classes (see nids_ac.h, nids.md).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "nids_ac.h"

void nids_ac_free(struct nids_ac *a)
{
	free(a->child);
	free(a->sibling);
	free(a->label);
	free(a->pat);
	free(a->pat_trig);
	free(a->rule_trig);
	free(a->need);
	free(a->need_first);
	free(a->order);
	free(a->newid);
	free(a->fail);
	free(a->row);
	free(a->out_first);
	free(a->outs);
	memset(a, 0, sizeof(*a));
}

static uint32_t indexed_len(const struct nids_src_content *c, uint32_t plen)
{
	return c->len < plen ? c->len : plen;
}

/*
 * The content whose pattern triggers the rule: the longest indexed prefix, then
 * fast_pattern.
 */
int nids_trigger_of(const struct nids_src_rule *r, uint32_t plen)
{
	int best = -1;
	for (int k = 0; k < r->ncontents; k++) {
		const struct nids_src_content *c = &r->c[k];
		if (c->flags & NIDS_CF_NEGATED)
			continue;
		if (best < 0) {
			best = k;
			continue;
		}
		uint32_t l = indexed_len(c, plen), bl = indexed_len(&r->c[best], plen);
		if (l > bl || (l == bl && c->fast_pattern && !r->c[best].fast_pattern))
			best = k;
	}
	return best;
}

/* A short rule (no content of NIDS_INDEX_MIN bytes) with port keys is found by port. */
static bool by_port(const struct nids_src_rule *r, int trigger)
{
	return r->c[trigger].len < NIDS_INDEX_MIN && nids_port_keys(r, NULL, 0);
}

/*
 * The ports one side of a tcp/udp rule requires (the other side may be anything):
 * a positive list of single ports and short ranges, NIDS_MAX_KEYS values at most.
 * Destination side first. Writes them to keys (when not NULL); returns how many,
 * 0 when the rule has no such side.
 */
#define NIDS_MAX_KEYS 64
uint32_t nids_port_keys(const struct nids_src_rule *r, struct nids_port_key *keys, uint32_t ri)
{
	const struct nids_src_spec *sides[2] = { &r->dport, &r->sport };

	if (r->proto != NF_IPPROTO_TCP && r->proto != NF_IPPROTO_UDP)
		return 0;
	for (int i = 0; i < 2; i++) {
		const struct nids_src_spec *s = sides[i];
		uint32_t n = 0;
		bool ok = !s->neg && s->n > 0;
		for (int k = 0; ok && k < s->n; k++) {
			ok = !s->ports[k].neg && (uint32_t)(s->ports[k].hi - s->ports[k].lo) < NIDS_MAX_KEYS;
			n += s->ports[k].hi - s->ports[k].lo + 1u;
		}
		if (!ok || n > NIDS_MAX_KEYS)
			continue;
		n = 0;
		for (int k = 0; k < s->n; k++)
			for (uint32_t p = s->ports[k].lo; p <= s->ports[k].hi; p++) {
				/* Overlapping list elements: one key per port. */
				bool dup = false;
				for (int j = 0; j < k && !dup; j++)
					dup = p >= s->ports[j].lo && p <= s->ports[j].hi;
				if (dup)
					continue;
				if (keys)
					keys[n] = (struct nids_port_key){ .port = (uint16_t)p, .side = (uint8_t)i,
									  .proto = r->proto, .rule = ri,
									  .at = NIDS_AT_ANY };
				n++;
			}
		return n;
	}
	return 0;
}

int nids_key_cmp(const void *a, const void *b)
{
	const struct nids_port_key *x = a, *y = b;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Insert the folded prefix of c; returns its pattern id, or NIDS_NONE when out of memory. */
static uint32_t ac_insert(struct nids_ac *a, const struct nids_src_content *c)
{
	uint32_t s = 0, n = indexed_len(c, a->plen);

	for (uint32_t k = 0; k < n; k++) {
		uint8_t cl = a->class_of[c->bytes[k]];
		uint32_t t = a->child[s];
		while (t && a->label[t] != cl)
			t = a->sibling[t];
		if (!t) {
			if (a->nstates == a->cap)
				return NIDS_NONE; /* cap is the sum of all prefix lengths + 1 */
			t = a->nstates++;
			a->label[t] = cl;
			a->child[t] = 0;
			a->sibling[t] = a->child[s];
			a->pat[t] = NIDS_NONE;
			a->child[s] = t;
		}
		s = t;
	}
	if (a->pat[s] == NIDS_NONE)
		a->pat[s] = a->npatterns++;
	return a->pat[s];
}

/* Build the trie with prefixes of at most plen bytes. */
static int ac_trie(const struct nids_ruleset *rs, struct nids_ac *a, uint32_t plen)
{
	size_t total = 1, nneed = 0;

	a->plen = plen;
	a->nstates = 1;
	a->npatterns = 0;
	for (size_t i = 0; i < rs->n; i++)
		for (int k = 0; k < rs->rules[i].ncontents; k++) {
			total += indexed_len(&rs->rules[i].c[k], plen);
			nneed++;
		}
	free(a->child);
	free(a->sibling);
	free(a->label);
	free(a->pat);
	free(a->rule_trig);
	free(a->need);
	free(a->need_first);
	a->cap = (uint32_t)total;
	a->child = calloc(total, sizeof(uint32_t));
	a->sibling = calloc(total, sizeof(uint32_t));
	a->label = calloc(total, 1);
	a->pat = malloc(total * sizeof(uint32_t));
	a->rule_trig = calloc(rs->n + 1, sizeof(uint32_t));
	a->need = calloc(nneed + 1, sizeof(uint32_t));
	a->need_first = calloc(rs->n + 1, sizeof(uint32_t));
	if (!a->child || !a->sibling || !a->label || !a->pat || !a->rule_trig || !a->need || !a->need_first)
		return -ENOMEM;
	a->pat[0] = NIDS_NONE;
	uint32_t ni = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const struct nids_src_rule *r = &rs->rules[i];
		int t = nids_trigger_of(r, plen);
		a->need_first[i] = ni;
		if (by_port(r, t)) {
			a->rule_trig[i] = NIDS_NONE; /* found by port, not indexed */
			continue;
		}
		a->rule_trig[i] = ac_insert(a, &r->c[t]);
		if (a->rule_trig[i] == NIDS_NONE)
			return -ENOMEM;
		for (int k = 0; k < r->ncontents; k++) {
			const struct nids_src_content *c = &r->c[k];
			if (k == t || (c->flags & NIDS_CF_NEGATED) || c->len < NIDS_INDEX_MIN)
				continue;
			uint32_t p = ac_insert(a, c);
			if (p == NIDS_NONE)
				return -ENOMEM;
			bool dup = p == a->rule_trig[i];
			for (uint32_t j = a->need_first[i]; j < ni && !dup; j++)
				dup = a->need[j] == p;
			if (!dup)
				a->need[ni++] = p;
		}
	}
	a->need_first[rs->n] = ni;
	return 0;
}

/*
 * Complete DFA by breadth-first search: a missing edge of s on class c leads where
 * the failure state of s goes on c. Outputs of a state: its own pattern, then those
 * of its failure state. New ids: states without outputs first, then those with, each
 * group in BFS order (shallow states, which see most bytes, stay close together).
 */
static int ac_dfa(struct nids_ac *a)
{
	uint32_t n = a->nstates, nc = a->nclasses;

	a->order = calloc(n, sizeof(uint32_t));
	a->newid = calloc(n, sizeof(uint32_t));
	a->fail = calloc(n, sizeof(uint32_t));
	a->row = calloc((size_t)n * nc, sizeof(uint16_t));
	a->out_first = calloc(n + 1, sizeof(uint32_t));
	uint32_t *bfs = calloc(n, sizeof(uint32_t)), *cnt = calloc(n, sizeof(uint32_t));
	if (!a->order || !a->newid || !a->fail || !a->row || !a->out_first || !bfs || !cnt) {
		free(bfs);
		free(cnt);
		return -ENOMEM;
	}
	uint32_t head = 0, tail = 0;
	bfs[tail++] = 0;
	while (head < tail) {
		uint32_t s = bfs[head++];
		uint16_t *row = &a->row[(size_t)s * nc];
		if (s)
			memcpy(row, &a->row[(size_t)a->fail[s] * nc], nc * sizeof(uint16_t));
		for (uint32_t t = a->child[s]; t; t = a->sibling[t]) {
			a->fail[t] = s ? row[a->label[t]] : 0;
			row[a->label[t]] = (uint16_t)t;
			bfs[tail++] = t;
		}
	}
	/* Output counts in BFS order: a state's failure state comes earlier. */
	size_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = bfs[i];
		cnt[s] = (a->pat[s] != NIDS_NONE) + (s ? cnt[a->fail[s]] : 0);
		total += cnt[s];
	}
	a->outs = calloc(total + 1, sizeof(uint32_t));
	if (!a->outs) {
		free(bfs);
		free(cnt);
		return -ENOMEM;
	}
	/* out_first in old ids, laid out in BFS order so fail lists are written first. */
	uint32_t at = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = bfs[i], o = at;
		a->out_first[s] = o;
		if (a->pat[s] != NIDS_NONE)
			a->outs[at++] = a->pat[s];
		if (s) {
			uint32_t f = a->fail[s];
			memcpy(&a->outs[at], &a->outs[a->out_first[f]], cnt[f] * sizeof(uint32_t));
			at += cnt[f];
		}
	}
	a->nouts = at;
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		if (!cnt[bfs[i]])
			a->order[k++] = bfs[i];
	a->out_min = k;
	for (uint32_t i = 0; i < n; i++)
		if (cnt[bfs[i]])
			a->order[k++] = bfs[i];
	for (uint32_t i = 0; i < n; i++)
		a->newid[a->order[i]] = i;
	/* Reuse cnt for the output-state test while writing the blob. */
	free(a->fail);
	a->fail = cnt;
	free(bfs);
	return 0;
}

int nids_ac_build(const struct nids_ruleset *rs, struct nids_ac *a)
{
	bool used[256] = { 0 };
	int rc;

	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < rs->n; i++)
		for (int k = 0; k < rs->rules[i].ncontents; k++) {
			const struct nids_src_content *c = &rs->rules[i].c[k];
			if (c->flags & NIDS_CF_NEGATED)
				continue;
			for (uint32_t j = 0; j < indexed_len(c, NIDS_PATTERN_MAX); j++)
				used[nids_fold(c->bytes[j])] = true;
		}
	/* Class 0: every byte no pattern uses. Upper case shares its lower-case class. */
	a->nclasses = 1;
	for (int b = 0; b < 256; b++)
		if (used[b])
			a->class_of[b] = (uint8_t)a->nclasses++;
	for (int b = 'A'; b <= 'Z'; b++)
		a->class_of[b] = a->class_of[b + 32];
	/* 16-bit state ids: shorten the prefixes until the trie fits. */
	for (uint32_t plen = NIDS_PATTERN_MAX;; plen = plen * 3 / 4) {
		rc = ac_trie(rs, a, plen);
		if (rc)
			return rc;
		if (a->nstates < NIDS_MAX_STATES && a->npatterns <= NIDS_MAX_PATTERNS)
			break;
		if (plen <= 4)
			return -E2BIG;
	}
	a->pat_trig = calloc(a->npatterns + 1, sizeof(uint32_t));
	if (!a->pat_trig)
		return -ENOMEM;
	for (size_t i = 0; i < rs->n; i++)
		if (a->rule_trig[i] != NIDS_NONE)
			a->pat_trig[a->rule_trig[i]]++;
	return ac_dfa(a);
}
