// SPDX-License-Identifier: GPL-2.0
/*
 * nids builder: the rules file (parsed by nids_rules.c) and its automaton
 * (nids_ac.c) laid out in one state blob (layout in nids.h, choices in nids.md),
 * and the NF's nf_ops.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry.h"
#include "nids_ac.h"
#include "nids_build.h"

/* ---- blob ----------------------------------------------------------------------- */

struct layout {
	size_t at;
};

static uint32_t take(struct layout *l, size_t bytes, size_t align)
{
	size_t off = (l->at + align - 1) & ~(align - 1);
	l->at = off + bytes;
	return (uint32_t)off;
}

static size_t spec_elems(const struct nids_src_spec *s) { return s->n; }

static void put_spec(struct nf_nids *st, const struct nids_src_spec *in, struct nids_spec *out, bool port,
		     uint32_t *nports, uint32_t *naddrs)
{
	out->n = in->n;
	out->neg = in->neg;
	if (port) {
		out->off = *nports;
		memcpy(NF_AT(st, st->ports_off, struct nids_port_range *) + *nports, in->ports,
		       in->n * sizeof(*in->ports));
		*nports += in->n;
	} else {
		out->off = *naddrs;
		memcpy(NF_AT(st, st->addrs_off, struct nids_addr *) + *naddrs, in->addrs, in->n * sizeof(*in->addrs));
		*naddrs += in->n;
	}
}

int nids_compile(const struct nids_ruleset *rs, uint32_t action, struct nf_hdr **ret_state, char *err,
		 size_t errlen)
{
	return nids_compile_events(rs, action, NIDS_EVENTS_DEFAULT, ret_state, err, errlen);
}

/*
 * What a packet must show for key k's rule to have a chance (see struct
 * nids_port_key), from the rule's first content as verification will search it
 * (nids_window with the cursor at 0). A negated first content gives no bound.
 */
static void key_filter(const struct nf_nids *st, struct nids_port_key *k)
{
	const struct nids_rule *r = NF_AT(st, st->rules_off, const struct nids_rule *) + k->rule;
	const struct nids_content *c = NF_AT(st, st->contents_off, const struct nids_content *) + r->content;
	int32_t s, e;

	/*
	 * Addresses and the other side's ports "any": a packet whose port on the
	 * key's side is the key's (a tcp/udp packet with an L4 header: the protocol
	 * test is the key's own) matches the header in its first direction.
	 */
	const struct nids_spec *other = k->side ? &r->dport : &r->sport;
	k->hdr_any = !r->src.n && !r->src.neg && !r->dst.n && !r->dst.neg && !other->n && !other->neg;
	k->need_len = 0;
	k->at = NIDS_AT_ANY;
	if (!r->ncontents || (c->flags & NIDS_CF_NEGATED) || !c->len)
		return;
	/* The window verification searches, on a payload longer than any: [s, e), e = INT32_MAX when unbounded. */
	nids_window(c, 0, INT32_MAX, &s, &e);
	/* A match starts at p >= s and ends by the payload's end: at least s + len bytes. */
	k->need_len = (uint16_t)((int64_t)s + c->len > 65535 ? 65535 : s + c->len);
	/*
	 * A window exactly as long as the content: one start position, whose first
	 * byte is tested. Otherwise the host looks for the first byte anywhere in
	 * the payload (a superset of the window: absent there, absent in it).
	 */
	const uint8_t *pat = NF_AT(st, c->bytes, const uint8_t *);
	k->at_fold = (c->flags & NIDS_CF_NOCASE) ? 1 : 0;
	k->at_byte = k->at_fold ? nids_fold(pat[0]) : pat[0];
	k->at = (int64_t)e - s == c->len && s < (int32_t)NIDS_AT_SCAN ? (uint16_t)s : NIDS_AT_SCAN;
}

int nids_compile_events(const struct nids_ruleset *rs_in, uint32_t action, uint32_t events,
			struct nf_hdr **ret_state, char *err, size_t errlen)
{
	struct nids_ruleset rs = *rs_in; /* count lists get sorted for the summary */
	struct nids_ac a;
	struct nids_load_summary sum = { 0 };
	size_t ncontents = 0, nbytes = 0, nports = 0, naddrs = 0, nmsg = 0;
	char *text = NULL;
	size_t text_len = 0;
	int rc;

	rc = nids_ac_build(&rs, &a);
	if (rc == -E2BIG) {
		snprintf(err, errlen, "nids: automaton over %u states or %u patterns even with 4-byte prefixes",
			 NIDS_MAX_STATES - 1, NIDS_MAX_PATTERNS);
		goto out;
	}
	if (rc) {
		snprintf(err, errlen, "nids: out of memory building the automaton");
		goto out;
	}
	for (size_t i = 0; i < rs.n; i++) {
		const struct nids_src_rule *r = &rs.rules[i];
		ncontents += r->ncontents;
		for (int k = 0; k < r->ncontents; k++)
			nbytes += r->c[k].len;
		nports += spec_elems(&r->sport) + spec_elems(&r->dport);
		naddrs += spec_elems(&r->src) + spec_elems(&r->dst);
		nmsg += (r->msg ? strlen(r->msg) : 0) + 1;
	}
	uint32_t nout_states = a.nstates - a.out_min, nneed = a.need_first[rs.n];
	for (size_t i = 0; i < rs.n; i++) {
		if (a.rule_trig[i] == NIDS_NONE) {
			sum.port_rules++;
			sum.port_keys += nids_port_keys(&rs.rules[i], NULL, 0);
		} else if (rs.rules[i].c[nids_trigger_of(&rs.rules[i], a.plen)].len < NIDS_INDEX_MIN) {
			sum.short_indexed++;
		}
	}
	size_t dfa_bytes = (size_t)a.nstates * a.nclasses * 2;

	sum.seen = rs.seen;
	sum.loaded = (uint32_t)rs.n;
	sum.skipped = rs.skipped;
	sum.commented = rs.commented;
	sum.patterns = a.npatterns;
	sum.states = a.nstates;
	sum.out_states = nout_states;
	sum.classes = a.nclasses;
	sum.outputs = a.nouts;
	sum.pattern_max = a.plen;
	sum.dfa_bytes = (uint32_t)dfa_bytes;
	sum.ac_bytes = (uint32_t)(dfa_bytes + (nout_states + 1) * 4 + a.nouts * 2 + (a.npatterns + 1) * 4 +
				  rs.n * 4 + nneed * 2 + 256 + sum.port_keys * sizeof(struct nids_port_key) +
				  (sum.port_keys ? 65537 * 4 + 65536 / 8 : 0));
	sum.full_dfa_kib = (uint32_t)((uint64_t)a.nstates * 256 * 4 / 1024);

	struct layout l = { sizeof(struct nf_nids) };
	uint32_t rules_off = take(&l, rs.n * sizeof(struct nids_rule), 8);
	uint32_t contents_off = take(&l, ncontents * sizeof(struct nids_content), 8);
	uint32_t bytes_off = take(&l, nbytes, 8);
	uint32_t ports_off = take(&l, nports * sizeof(struct nids_port_range), 8);
	uint32_t addrs_off = take(&l, naddrs * sizeof(struct nids_addr), 8);
	uint32_t dfa_off = take(&l, dfa_bytes, 64);
	uint32_t out_off = take(&l, (nout_states + 1) * 4, 8);
	uint32_t out_pat_off = take(&l, a.nouts * 2, 8);
	uint32_t trig_off = take(&l, (a.npatterns + 1) * 4, 8);
	uint32_t trig_rules_off = take(&l, rs.n * 4, 8);
	uint32_t need_off = take(&l, nneed * 2, 8);
	uint32_t keys_off = take(&l, sum.port_keys * sizeof(struct nids_port_key), 8);
	uint32_t port_idx_off = sum.port_keys ? take(&l, 65537 * 4, 8) : 0;
	uint32_t port_bits_off = sum.port_keys ? take(&l, 65536 / 8, 64) : 0;
	uint32_t alerts_off = take(&l, rs.n * 8, 64);
	uint32_t ring_off = events ? take(&l, sizeof(struct nids_ring) + (size_t)events * sizeof(struct nids_alert), 64) : 0;
	uint32_t info_off = take(&l, rs.n * sizeof(struct nids_rule_info), 8);
	uint32_t msg_off = take(&l, nmsg, 1);

	/* Summary text (goes last in the blob). */
	FILE *f = open_memstream(&text, &text_len);
	if (!f) {
		rc = -errno;
		goto out;
	}
	fprintf(f, "rules: %u seen, %u loaded (%u of them commented out in the file), %u skipped\n", sum.seen,
		sum.loaded, sum.commented, sum.skipped);
	nids_counts_print(f, "skipped", &rs.skip_reasons);
	nids_counts_print(f, "not evaluated (rule matches on contents and header)", &rs.unsupported);
	nids_counts_print(f, "ignored", &rs.ignored);
	fprintf(f,
		"automaton: %u patterns (content prefixes of at most %u bytes), %u states (%u with outputs), "
		"%u byte classes, dense uint16 DFA %u bytes, automaton %u bytes in all "
		"(a 256-wide uint32 DFA would take %u KiB)\n",
		sum.patterns, sum.pattern_max, sum.states, sum.out_states, sum.classes, sum.dfa_bytes, sum.ac_bytes,
		sum.full_dfa_kib);
	fprintf(f,
		"short rules (no content of %u bytes): %u found by port (%u port keys), %u indexed on their "
		"longest content\n",
		NIDS_INDEX_MIN, sum.port_rules, sum.port_keys, sum.short_indexed);
	fclose(f);
	uint32_t load_off = take(&l, sizeof(sum) + text_len + 1, 8);
	sum.blob_bytes = (uint32_t)((l.at + 63) & ~(size_t)63);

	if (l.at > UINT32_MAX) {
		rc = -E2BIG;
		snprintf(err, errlen, "nids: state blob too large");
		goto out;
	}
	struct nf_hdr *h = nf_blob_alloc(NF_T_NIDS, l.at, offsetof(struct nf_nids, counters), NIDS_C_MAX);
	if (!h) {
		rc = -errno;
		snprintf(err, errlen, "nids: cannot allocate %zu bytes of state", l.at);
		goto out;
	}
	struct nf_nids *st = (struct nf_nids *)h;
	st->action = action;
	st->nrules = (uint32_t)rs.n;
	st->nstates = a.nstates;
	st->nclasses = a.nclasses;
	st->out_min = a.out_min;
	st->npatterns = a.npatterns;
	st->pattern_max = a.plen;
	st->rules_off = rules_off;
	st->contents_off = contents_off;
	st->ports_off = ports_off;
	st->addrs_off = addrs_off;
	st->dfa_off = dfa_off;
	st->out_off = out_off;
	st->out_pat_off = out_pat_off;
	st->trig_off = trig_off;
	st->trig_rules_off = trig_rules_off;
	st->need_off = need_off;
	st->keys_off = keys_off;
	st->alerts_off = alerts_off;
	st->ring_off = ring_off;
	if (ring_off) {
		struct nids_ring *ring = NF_AT(st, ring_off, struct nids_ring *);

		ring->size = events;
		ring->recs_off = ring_off + (uint32_t)sizeof(struct nids_ring);
	}
	st->info_off = info_off;
	st->load_report = load_off;
	st->ac_bytes = sum.ac_bytes;
	memcpy(st->class_of, a.class_of, 256);

	/* Rules, contents, specs, infos. */
	uint32_t ci = 0, bi = bytes_off, pi = 0, ai = 0, mi = msg_off;
	struct nids_rule *R = NF_AT(st, rules_off, struct nids_rule *);
	struct nids_content *C = NF_AT(st, contents_off, struct nids_content *);
	struct nids_rule_info *I = NF_AT(st, info_off, struct nids_rule_info *);
	uint16_t *N = NF_AT(st, need_off, uint16_t *);
	for (size_t i = 0; i < rs.n; i++) {
		const struct nids_src_rule *r = &rs.rules[i];
		R[i].sid = r->sid;
		R[i].content = ci;
		R[i].ncontents = r->ncontents;
		R[i].proto = r->proto;
		R[i].flags = r->flags;
		R[i].need = a.need_first[i];
		R[i].nneed = (uint16_t)(a.need_first[i + 1] - a.need_first[i]);
		for (uint32_t j = a.need_first[i]; j < a.need_first[i + 1]; j++)
			N[j] = (uint16_t)a.need[j];
		put_spec(st, &r->src, &R[i].src, false, &pi, &ai);
		put_spec(st, &r->dst, &R[i].dst, false, &pi, &ai);
		put_spec(st, &r->sport, &R[i].sport, true, &pi, &ai);
		put_spec(st, &r->dport, &R[i].dport, true, &pi, &ai);
		for (int k = 0; k < r->ncontents; k++, ci++) {
			const struct nids_src_content *c = &r->c[k];
			C[ci] = (struct nids_content){ .bytes = bi, .len = c->len, .flags = c->flags,
						       .offset = c->offset, .depth = c->depth,
						       .distance = c->distance, .within = c->within };
			memcpy((uint8_t *)st + bi, c->bytes, c->len);
			bi += c->len;
		}
		I[i] = (struct nids_rule_info){ .sid = r->sid, .rev = r->rev, .msg = mi, .line = (uint32_t)r->line };
		size_t ml = r->msg ? strlen(r->msg) : 0;
		if (ml)
			memcpy((uint8_t *)st + mi, r->msg, ml);
		mi += (uint32_t)ml + 1;
	}

	/* Triggers: rules grouped by trigger pattern. */
	uint32_t *TF = NF_AT(st, trig_off, uint32_t *);
	uint32_t *TR = NF_AT(st, trig_rules_off, uint32_t *);
	uint32_t run = 0;
	for (uint32_t p = 0; p < a.npatterns; p++) {
		TF[p] = run;
		run += a.pat_trig[p];
	}
	TF[a.npatterns] = run;
	for (uint32_t p = 0; p < a.npatterns; p++)
		a.pat_trig[p] = TF[p];
	for (size_t i = 0; i < rs.n; i++)
		if (a.rule_trig[i] != NIDS_NONE)
			TR[a.pat_trig[a.rule_trig[i]]++] = (uint32_t)i;

	/* Short rules found by port. */
	struct nids_port_key *K = NF_AT(st, keys_off, struct nids_port_key *);
	uint32_t nk = 0;
	for (size_t i = 0; i < rs.n; i++)
		if (a.rule_trig[i] == NIDS_NONE)
			nk += nids_port_keys(&rs.rules[i], K + nk, (uint32_t)i);
	for (uint32_t k = 0; k < nk; k++)
		key_filter(st, &K[k]);
	qsort(K, nk, sizeof(*K), nids_key_cmp);
	st->nkeys = nk;
	if (port_idx_off) {
		uint32_t *PI = NF_AT(st, port_idx_off, uint32_t *), k = 0;

		for (uint32_t p = 0; p <= 65536; p++) {
			while (k < nk && K[k].port < p)
				k++;
			PI[p] = k;
		}
		st->port_idx_off = port_idx_off;
		uint32_t *PB = NF_AT(st, port_bits_off, uint32_t *);
		for (uint32_t q = 0; q < nk; q++)
			PB[K[q].port >> 5] |= 1u << (K[q].port & 31);
		st->port_bits_off = port_bits_off;
	}

	/* DFA rows and output lists, in new ids. */
	uint16_t *D = NF_AT(st, dfa_off, uint16_t *);
	uint32_t *OF = NF_AT(st, out_off, uint32_t *);
	uint16_t *OP = NF_AT(st, out_pat_off, uint16_t *);
	uint32_t oi = 0;
	for (uint32_t n = 0; n < a.nstates; n++) {
		uint32_t s = a.order[n];
		const uint16_t *row = &a.row[(size_t)s * a.nclasses];
		uint16_t *drow = &D[(size_t)n * a.nclasses];
		for (uint32_t c = 0; c < a.nclasses; c++)
			drow[c] = (uint16_t)a.newid[row[c]];
		if (n < a.out_min)
			continue;
		OF[n - a.out_min] = oi;
		for (uint32_t j = 0; j < a.fail[s]; j++) {
			uint32_t p = a.outs[a.out_first[s] + j];
			OP[oi++] = (uint16_t)(p | (TF[p] != TF[p + 1] ? NIDS_OUT_TRIG : 0));
		}
	}
	OF[nout_states] = oi;
	memcpy((uint8_t *)st + load_off, &sum, sizeof(sum));
	memcpy((uint8_t *)st + load_off + sizeof(sum), text, text_len + 1);
	*ret_state = h;
	rc = 0;
out:
	free(text);
	nids_ac_free(&a);
	return rc;
}

int nids_build_file(const char *path, uint32_t action, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	return nids_build_file_events(path, action, NIDS_EVENTS_DEFAULT, ret_state, err, errlen);
}

int nids_build_file_events(const char *path, uint32_t action, uint32_t events, struct nf_hdr **ret_state,
			   char *err, size_t errlen)
{
	struct nids_ruleset rs;
	int rc = nids_ruleset_load(path, &rs, err, errlen);

	if (rc)
		return rc;
	if (!rs.n) {
		snprintf(err, errlen, "%s: no rule loaded (%u seen, all skipped)", path, rs.seen);
		nids_ruleset_free(&rs);
		return -EINVAL;
	}
	rc = nids_compile_events(&rs, action, events, ret_state, err, errlen);
	nids_ruleset_free(&rs);
	return rc;
}

const struct nids_load_summary *nids_summary(const struct nf_hdr *h)
{
	const struct nf_nids *st = (const struct nf_nids *)h;
	return NF_AT(st, st->load_report, const struct nids_load_summary *);
}

const char *nids_summary_text(const struct nf_hdr *h)
{
	return (const char *)(nids_summary(h) + 1);
}

/* ---- nf_ops --------------------------------------------------------------------- */

static int nids_build(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	static const char *const known[] = { "rules", "action", "events", NULL };
	char path[4096], inner[4096 + 256]; /* room for the path in a message */
	uint32_t action = NIDS_ACT_ALERT, events = NIDS_EVENTS_DEFAULT;
	const char *v;
	int line, rc;

	rc = nf_cfg_check_keys(cfg, known, err, errlen);
	if (rc)
		return rc;
	v = nf_cfg_get(cfg, "action", &line);
	if (v) {
		if (!strcmp(v, "drop"))
			action = NIDS_ACT_DROP;
		else if (strcmp(v, "alert")) {
			snprintf(err, errlen, "%s:%d: action '%s' is not alert or drop", cfg->file, line, v);
			return -EINVAL;
		}
	}
	v = nf_cfg_get(cfg, "events", &line);
	if (v) {
		char *end;
		unsigned long n;

		errno = 0;
		n = isdigit((unsigned char)*v) ? strtoul(v, &end, 10) : 1;
		if (!isdigit((unsigned char)*v) || *end || errno || n > NIDS_EVENTS_MAX || (n & (n - 1))) {
			snprintf(err, errlen, "%s:%d: nf '%s': events must be 0 (none) or a power of two up to %u, not '%s'",
				 cfg->file, line, cfg->name, NIDS_EVENTS_MAX, v);
			return -EINVAL;
		}
		events = (uint32_t)n;
	}
	v = nf_cfg_get(cfg, "rules", &line);
	if (!v) {
		snprintf(err, errlen, "%s:%d: nf '%s': nids needs rules = FILE", cfg->file, cfg->line, cfg->name);
		return -EINVAL;
	}
	nf_cfg_path(cfg, v, path, sizeof(path));
	rc = nids_build_file_events(path, action, events, ret_state, inner, sizeof(inner));
	if (rc)
		snprintf(err, errlen, "%s:%d: nf '%s': %s", cfg->file, line, cfg->name, inner);
	return rc;
}

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static int nids_report(const struct nf_hdr *h, const char *what, FILE *out, bool json)
{
	const struct nf_nids *st = (const struct nf_nids *)h;
	const uint64_t *alerts = NF_AT(st, st->alerts_off, const uint64_t *);
	const struct nids_rule_info *I = NF_AT(st, st->info_off, const struct nids_rule_info *);

	if (!strcmp(what, "load")) {
		const struct nids_load_summary *s = nids_summary(h);
		if (!json) {
			fputs(nids_summary_text(h), out);
			return 0;
		}
		fprintf(out,
			"{\"seen\":%u,\"loaded\":%u,\"skipped\":%u,\"commented\":%u,\"patterns\":%u,"
			"\"pattern_max\":%u,\"states\":%u,\"out_states\":%u,\"classes\":%u,\"outputs\":%u,"
			"\"dfa_bytes\":%u,\"ac_bytes\":%u,\"blob_bytes\":%u,\"port_rules\":%u,"
			"\"port_keys\":%u,\"short_indexed\":%u,\"summary\":",
			s->seen, s->loaded, s->skipped, s->commented, s->patterns, s->pattern_max, s->states,
			s->out_states, s->classes, s->outputs, s->dfa_bytes, s->ac_bytes, s->blob_bytes,
			s->port_rules, s->port_keys, s->short_indexed);
		json_str(out, nids_summary_text(h));
		fputs("}\n", out);
		return 0;
	}
	if (strcmp(what, "alerts"))
		return -ENOENT;
	uint64_t total = 0;
	int first = 1;
	if (json)
		fputs("{\"alerts\":[", out);
	for (uint32_t i = 0; i < st->nrules; i++) {
		uint64_t n = NF_ATOMIC_LOAD64((uint64_t *)&alerts[i]);
		if (!n)
			continue;
		total += n;
		const char *msg = NF_AT(st, I[i].msg, const char *);
		if (json) {
			fprintf(out, "%s{\"sid\":%u,\"rev\":%u,\"count\":%llu,\"msg\":", first ? "" : ",", I[i].sid,
				I[i].rev, (unsigned long long)n);
			json_str(out, msg);
			fputc('}', out);
		} else {
			fprintf(out, "sid:%u rev:%u count:%llu msg:\"%s\"\n", I[i].sid, I[i].rev,
				(unsigned long long)n, msg);
		}
		first = 0;
	}
	if (json)
		fprintf(out, "],\"total\":%llu}\n", (unsigned long long)total);
	else
		fprintf(out, "total alerts: %llu\n", (unsigned long long)total);
	return 0;
}

static const char *const nids_counter_names[] = {
	"packets", "inspected", "not_inspected", "no_l4", "alerts", "alert_packets", "dropped", "verify_aborted",
	"events_lost",
};
_Static_assert(sizeof(nids_counter_names) / sizeof(nids_counter_names[0]) == NIDS_C_MAX, "counter names");

/*
 * Packets write the counters, the firings per rule and the alert ring (its
 * head, the tail its reader moves, the records): the rules, automaton and
 * indexes (12 MiB with the community rules) stay where they were built.
 */
static uint32_t nids_live(const struct nf_hdr *h, struct nf_span out[NF_SPANS_MAX])
{
	const struct nf_nids *st = (const struct nf_nids *)h;
	uint32_t n = 0;

	out[n++] = (struct nf_span){ h->counters_off, h->ncounters * (uint32_t)sizeof(uint64_t) };
	out[n++] = (struct nf_span){ st->alerts_off, st->nrules * (uint32_t)sizeof(uint64_t) };
	if (st->ring_off) {
		const struct nids_ring *r = NF_AT(st, st->ring_off, const struct nids_ring *);

		out[n++] = (struct nf_span){ st->ring_off, (uint32_t)sizeof(*r) };
		out[n++] = (struct nf_span){ r->recs_off, r->size * (uint32_t)sizeof(struct nids_alert) };
	}
	return n;
}

const struct nf_ops nf_ops_nids = {
	.type_name = "nids",
	.type = NF_T_NIDS,
	.build = nids_build,
	.counter_names = nids_counter_names,
	.report = nids_report,
	.live = nids_live,
};
