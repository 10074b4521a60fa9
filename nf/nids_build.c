// SPDX-License-Identifier: GPL-2.0
/*
 * nids builder: Snort rules file -> parsed rule set -> one state blob holding the
 * rule table and the Aho-Corasick automaton (layout in nids.h, choices in nids.md).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry.h"
#include "nids_build.h"

/* ---- small helpers ---------------------------------------------------------- */

static void count_add(struct nids_count_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->v[i].name, name)) {
			l->v[i].n++;
			return;
		}
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct nids_count *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return; /* counts are informative; losing one is not an error */
		l->v = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
	l->v[l->n].n = 1;
	l->n++;
}

static int count_cmp(const void *a, const void *b)
{
	const struct nids_count *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->name, y->name);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static int parse_int(const char *s, int32_t *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *trim(end) || v < -65535 || v > 65535)
		return -EINVAL;
	*ret = (int32_t)v;
	return 0;
}

static int why(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- header ----------------------------------------------------------------- */

/* Split a field list "[a,b,[c]]" body into elements at top-level commas. */
static int split_list(char *s, char **elems, int max)
{
	int n = 0, depth = 0;
	char *start = s;

	for (char *p = s;; p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']')
			depth--;
		if ((*p == ',' && depth == 0) || !*p) {
			int end = !*p;
			*p = 0;
			if (n == max)
				return -1;
			elems[n++] = trim(start);
			if (end)
				break;
			start = p + 1;
		}
	}
	return n;
}

static int parse_addr_elem(const char *s, struct nids_addr *a)
{
	unsigned int b[4], len = 32;
	char tail = 0;
	int k = sscanf(s, "%u.%u.%u.%u/%u%c", &b[0], &b[1], &b[2], &b[3], &len, &tail);

	if (k < 4 || k == 6 || b[0] > 255 || b[1] > 255 || b[2] > 255 || b[3] > 255 || len > 32)
		return -EINVAL;
	if (k == 4 && strchr(s, '/'))
		return -EINVAL;
	a->mask = len ? ~0u << (32 - len) : 0;
	a->net = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) & a->mask;
	return 0;
}

static int parse_port_elem(const char *s, struct nids_port_range *r)
{
	const char *colon = strchr(s, ':');
	char *end;
	long lo = 0, hi = 65535;

	if (!colon) {
		lo = hi = strtol(s, &end, 10);
		if (end == s || *end)
			return -EINVAL;
	} else {
		if (colon != s) {
			lo = strtol(s, &end, 10);
			if (end != colon)
				return -EINVAL;
		}
		if (colon[1]) {
			hi = strtol(colon + 1, &end, 10);
			if (*end)
				return -EINVAL;
		}
	}
	if (lo < 0 || hi > 65535 || lo > hi)
		return -EINVAL;
	r->lo = (uint16_t)lo;
	r->hi = (uint16_t)hi;
	return 0;
}

/*
 * Address or port field. Variables ($HOME_NET, $HTTP_PORTS, ...) are not defined
 * here, so they stand for "any": a variable element makes the whole positive part
 * unconstrained; a negated variable or a negated field holding one is dropped.
 */
static int parse_spec(char *s, bool is_port, struct nids_src_spec *sp)
{
	char *elems[64];
	int n, k = 0;
	bool any_var = false;

	memset(sp, 0, sizeof(*sp));
	s = trim(s);
	while (*s == '!') {
		sp->neg ^= 1;
		s = trim(s + 1);
	}
	if (*s == '[') {
		size_t l = strlen(s);
		if (s[l - 1] != ']')
			return -EINVAL;
		s[l - 1] = 0;
		s++;
	}
	n = split_list(s, elems, 64);
	if (n < 0)
		return -EINVAL;
	if (is_port)
		sp->ports = calloc((size_t)n, sizeof(*sp->ports));
	else
		sp->addrs = calloc((size_t)n, sizeof(*sp->addrs));
	if (n && !sp->ports && !sp->addrs)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		char *e = elems[i];
		uint8_t neg = 0;
		while (*e == '!') {
			neg ^= 1;
			e = trim(e + 1);
		}
		if (!strcmp(e, "any") || *e == '$') {
			if (!neg)
				any_var = true;
			continue;
		}
		if (*e == '[')
			return -EINVAL; /* nested lists: not supported */
		int r = is_port ? parse_port_elem(e, &sp->ports[k]) : parse_addr_elem(e, &sp->addrs[k]);
		if (r)
			return r;
		if (is_port)
			sp->ports[k].neg = neg;
		else
			sp->addrs[k].neg = neg;
		k++;
	}
	if (any_var) {
		/* Positive part is "any": keep only the exclusions. */
		int j = 0;
		for (int i = 0; i < k; i++) {
			if (is_port && sp->ports[i].neg)
				sp->ports[j++] = sp->ports[i];
			else if (!is_port && sp->addrs[i].neg)
				sp->addrs[j++] = sp->addrs[i];
		}
		k = j;
		if (sp->neg && !k) {
			/* "!any" or "!$VAR": an unknown set; not enforced. */
			sp->neg = 0;
		}
	}
	sp->n = (uint16_t)k;
	return 0;
}

static void spec_free(struct nids_src_spec *sp)
{
	free(sp->addrs);
	free(sp->ports);
	sp->addrs = NULL;
	sp->ports = NULL;
}

/* ---- options ------------------------------------------------------------------ */

/* Options that change nothing in a stateless raw-payload matcher (nids.md says why). */
static const char *const ignored_opts[] = {
	"msg", "sid", "rev", "gid", "classtype", "reference", "metadata", "priority",
	"flow", "flowbits", "fast_pattern", "rawbytes", "detection_filter", "threshold", "tag",
	"http_uri", "http_raw_uri", "http_header", "http_raw_header", "http_client_body",
	"http_method", "http_cookie", "http_raw_cookie", "http_stat_code", "http_stat_msg",
	"http_encode", "file_data", "pkt_data", NULL,
};

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (!strcmp(*l, s))
			return true;
	return false;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a content value: [!] "text with |hex| and \escapes". */
static int parse_content(const char *v, struct nids_src_content *c, char *w, size_t wl)
{
	uint8_t buf[2048];
	size_t n = 0;
	bool hex = false;
	const char *p = v;

	memset(c, 0, sizeof(*c));
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '!') {
		c->flags |= NIDS_CF_NEGATED;
		p++;
		while (isspace((unsigned char)*p))
			p++;
	}
	if (*p++ != '"')
		return why(w, wl, "bad content: not quoted");
	for (;; p++) {
		if (!*p)
			return why(w, wl, "bad content: unterminated");
		if (n >= sizeof(buf))
			return why(w, wl, "bad content: too long");
		if (hex) {
			if (*p == '|') {
				hex = false;
			} else if (!isspace((unsigned char)*p)) {
				int h = hexval(p[0]), l = p[1] ? hexval(p[1]) : -1;
				if (h < 0 || l < 0)
					return why(w, wl, "bad content: hex");
				buf[n++] = (uint8_t)(h << 4 | l);
				p++;
			}
			continue;
		}
		if (*p == '"')
			break;
		if (*p == '|') {
			hex = true;
		} else if (*p == '\\') {
			if (!p[1])
				return why(w, wl, "bad content: escape");
			buf[n++] = (uint8_t)*++p;
		} else {
			buf[n++] = (uint8_t)*p;
		}
	}
	while (isspace((unsigned char)*++p))
		;
	if (*p)
		return why(w, wl, "bad content: text after the closing quote");
	if (!n)
		return why(w, wl, "bad content: empty");
	c->bytes = malloc(n);
	if (!c->bytes)
		return -ENOMEM;
	memcpy(c->bytes, buf, n);
	c->len = (uint16_t)n;
	return 0;
}

static char *unquote(const char *v)
{
	size_t l = strlen(v);
	if (l >= 2 && v[0] == '"' && v[l - 1] == '"')
		return strndup(v + 1, l - 2);
	return strdup(v);
}

static bool rule_has(char seen[][40], int nseen, const char *name)
{
	for (int i = 0; i < nseen; i++)
		if (!strcmp(seen[i], name))
			return true;
	return false;
}

/* Apply a positional modifier to content c. */
static int apply_modifier(struct nids_src_content *c, const char *name, const char *val, char *w, size_t wl)
{
	int32_t x;

	if (parse_int(val, &x))
		return why(w, wl, "byte_extract variable in %s", name);
	if (!strcmp(name, "offset")) {
		c->offset = x;
		c->flags |= NIDS_CF_OFFSET;
	} else if (!strcmp(name, "depth")) {
		c->depth = x;
		c->flags |= NIDS_CF_DEPTH;
	} else if (!strcmp(name, "distance")) {
		c->distance = x;
		c->flags |= NIDS_CF_DISTANCE | NIDS_CF_RELATIVE;
	} else {
		c->within = x;
		c->flags |= NIDS_CF_WITHIN | NIDS_CF_RELATIVE;
	}
	return 0;
}

static int parse_options(char *s, struct nids_src_rule *r, char *w, size_t wl, char seen[][40], int *nseen,
			 bool *noalert)
{
	char *p = s;

	while (*p) {
		char *name, *val = NULL;
		bool q = false;

		while (isspace((unsigned char)*p) || *p == ';')
			p++;
		if (!*p)
			break;
		name = p;
		while (*p && *p != ':' && *p != ';')
			p++;
		if (*p == ':') {
			*p++ = 0;
			val = p;
			/* Value ends at the first ';' outside quotes; backslash escapes one char. */
			for (; *p; p++) {
				if (*p == '\\' && p[1]) {
					p++;
					continue;
				}
				if (*p == '"')
					q = !q;
				else if (*p == ';' && !q)
					break;
			}
			if (!*p)
				return why(w, wl, "option '%s' not terminated by ';'", trim(name));
			*p++ = 0;
			val = trim(val);
		} else if (*p == ';') {
			*p++ = 0;
		} else {
			return why(w, wl, "option '%s' not terminated by ';'", trim(name));
		}
		name = trim(name);

		struct nids_src_content *last = r->ncontents ? &r->c[r->ncontents - 1] : NULL;
		if (!strcmp(name, "content")) {
			if (!val)
				return why(w, wl, "content without value");
			if (r->ncontents == NIDS_MAX_CONTENTS)
				return why(w, wl, "more than %d contents", NIDS_MAX_CONTENTS);
			int rc = parse_content(val, &r->c[r->ncontents], w, wl);
			if (rc)
				return rc;
			r->ncontents++;
			continue;
		}
		if (!strcmp(name, "uricontent") || !strcmp(name, "protected_content"))
			return why(w, wl, "%s not supported", name);
		if (!strcmp(name, "offset") || !strcmp(name, "depth") || !strcmp(name, "distance") ||
		    !strcmp(name, "within")) {
			if (!last)
				return why(w, wl, "%s before any content", name);
			if (!val)
				return why(w, wl, "%s without value", name);
			int rc = apply_modifier(last, name, val, w, wl);
			if (rc)
				return rc;
			continue;
		}
		if (!strcmp(name, "nocase")) {
			if (!last)
				return why(w, wl, "nocase before any content");
			last->flags |= NIDS_CF_NOCASE;
			continue;
		}
		if (!strcmp(name, "msg") && val) {
			free(r->msg);
			r->msg = unquote(val);
		} else if (!strcmp(name, "sid") && val) {
			r->sid = (uint32_t)strtoul(val, NULL, 10);
		} else if (!strcmp(name, "rev") && val) {
			r->rev = (uint32_t)strtoul(val, NULL, 10);
		} else if (!strcmp(name, "fast_pattern") && last) {
			last->fast_pattern = true;
		} else if (!strcmp(name, "flowbits") && val && strstr(val, "noalert")) {
			*noalert = true;
		}
		if (*nseen < 64 && !rule_has(seen, *nseen, name))
			snprintf(seen[(*nseen)++], 40, "%s", name);
	}
	return 0;
}

static void rule_free_fields(struct nids_src_rule *r)
{
	for (int i = 0; i < r->ncontents; i++)
		free(r->c[i].bytes);
	free(r->msg);
	spec_free(&r->src);
	spec_free(&r->sport);
	spec_free(&r->dst);
	spec_free(&r->dport);
}

void nids_src_rule_free(struct nids_src_rule *r)
{
	rule_free_fields(r);
	memset(r, 0, sizeof(*r));
}

static int parse_proto(const char *s)
{
	if (!strcmp(s, "tcp"))
		return NF_IPPROTO_TCP;
	if (!strcmp(s, "udp"))
		return NF_IPPROTO_UDP;
	if (!strcmp(s, "icmp"))
		return NF_IPPROTO_ICMP;
	if (!strcmp(s, "ip"))
		return 0;
	return -1;
}

int nids_rule_parse(const char *text, struct nids_src_rule *r, char *w, size_t wl, struct nids_ruleset *rs)
{
	char *dup = strdup(text), *tok[8], *save = NULL, *open, *close;
	char seen[64][40];
	int nseen = 0, ntok = 0, rc;
	bool noalert = false;

	memset(r, 0, sizeof(*r));
	if (!dup)
		return -ENOMEM;
	open = strchr(dup, '(');
	close = strrchr(dup, ')');
	if (!open || !close || close < open) {
		rc = why(w, wl, "malformed: no option list");
		goto out;
	}
	*open = 0;
	*close = 0;
	for (char *t = strtok_r(dup, " \t", &save); t && ntok < 8; t = strtok_r(NULL, " \t", &save))
		tok[ntok++] = t;
	if (ntok != 7) {
		rc = why(w, wl, "malformed header");
		goto out;
	}
	if (!strcmp(tok[0], "pass")) {
		rc = why(w, wl, "pass rule");
		goto out;
	}
	int proto = parse_proto(tok[1]);
	if (proto < 0) {
		rc = why(w, wl, "protocol '%s' not supported", tok[1]);
		goto out;
	}
	r->proto = (uint8_t)proto;
	if (!strcmp(tok[4], "<>"))
		r->flags |= NIDS_RF_BIDIR;
	else if (strcmp(tok[4], "->")) {
		rc = why(w, wl, "malformed header: direction '%s'", tok[4]);
		goto out;
	}
	if (parse_spec(tok[2], false, &r->src) || parse_spec(tok[5], false, &r->dst)) {
		rc = why(w, wl, "unsupported address");
		goto out;
	}
	if (parse_spec(tok[3], true, &r->sport) || parse_spec(tok[6], true, &r->dport)) {
		rc = why(w, wl, "unsupported port");
		goto out;
	}
	rc = parse_options(open + 1, r, w, wl, seen, &nseen, &noalert);
	if (rc)
		goto out;
	if (noalert) {
		rc = why(w, wl, "flowbits:noalert (never alerts)");
		goto out;
	}
	if (!r->ncontents) {
		rc = why(w, wl, "no content");
		goto out;
	}
	int best = -1;
	for (int i = 0; i < r->ncontents; i++) {
		struct nids_src_content *c = &r->c[i];
		bool rel = c->flags & NIDS_CF_RELATIVE, abs = c->flags & (NIDS_CF_OFFSET | NIDS_CF_DEPTH);
		if (rel && abs) {
			rc = why(w, wl, "content mixes offset/depth with distance/within");
			goto out;
		}
		if (((c->flags & NIDS_CF_DEPTH) && c->depth < c->len) ||
		    ((c->flags & NIDS_CF_WITHIN) && c->within < c->len)) {
			rc = why(w, wl, "depth/within shorter than its content");
			goto out;
		}
		if (c->flags & NIDS_CF_NEGATED)
			continue;
		if (best < 0 || (c->fast_pattern && !r->c[best].fast_pattern) ||
		    (c->fast_pattern == r->c[best].fast_pattern && c->len > r->c[best].len))
			best = i;
	}
	if (best < 0) {
		rc = why(w, wl, "only negated contents");
		goto out;
	}
	r->anchor = (uint16_t)best;
	if (rs) {
		for (int i = 0; i < nseen; i++) {
			if (!strcmp(seen[i], "flowbits") && noalert)
				continue;
			count_add(in_list(ignored_opts, seen[i]) ? &rs->ignored : &rs->unsupported, seen[i]);
		}
	}
	rc = 0;
out:
	free(dup);
	if (rc)
		rule_free_fields(r);
	return rc;
}

/* ---- file ----------------------------------------------------------------------- */

static const char *const rule_actions[] = { "alert", "log", "pass", "drop", "reject", "sdrop", NULL };

/* Is s (a comment's text) a commented-out rule: "<action> <proto> ..."? */
static bool looks_like_rule(const char *s)
{
	char a[16], p[16];

	if (sscanf(s, "%15s %15s", a, p) != 2)
		return false;
	return in_list(rule_actions, a) && parse_proto(p) >= 0;
}

static int rs_push(struct nids_ruleset *rs, const struct nids_src_rule *r)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct nids_src_rule *v = realloc(rs->rules, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rs->rules = v;
		rs->cap = cap;
	}
	rs->rules[rs->n++] = *r;
	return 0;
}

int nids_ruleset_load(const char *path, struct nids_ruleset *rs, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *acc = NULL;
	size_t cap = 0, acc_len = 0;
	int lineno = 0, start = 0, rc = 0;
	ssize_t got;

	memset(rs, 0, sizeof(*rs));
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		char *s = trim(line);
		size_t l = strlen(s);
		/* Backslash at the end continues the rule on the next line. */
		bool cont = l && s[l - 1] == '\\';
		if (cont)
			s[--l] = 0;
		if (!acc_len)
			start = lineno;
		char *grown = realloc(acc, acc_len + l + 2);
		if (!grown) {
			rc = -ENOMEM;
			break;
		}
		acc = grown;
		memcpy(acc + acc_len, s, l + 1);
		acc_len += l;
		if (cont) {
			acc[acc_len++] = ' ';
			acc[acc_len] = 0;
			continue;
		}
		char *text = acc;
		bool commented = false;
		acc_len = 0;
		if (*text == '#') {
			text = trim(text + 1);
			if (!looks_like_rule(text))
				continue;
			commented = true;
		} else if (!*text) {
			continue;
		}
		struct nids_src_rule r;
		char w[128];
		rs->seen++;
		if (nids_rule_parse(text, &r, w, sizeof(w), rs)) {
			rs->skipped++;
			count_add(&rs->skip_reasons, w);
			continue;
		}
		r.line = start;
		rs->commented += commented;
		rc = rs_push(rs, &r);
		if (rc) {
			nids_src_rule_free(&r);
			break;
		}
	}
	free(line);
	free(acc);
	fclose(f);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		nids_ruleset_free(rs);
	}
	return rc;
}

void nids_ruleset_free(struct nids_ruleset *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		rule_free_fields(&rs->rules[i]);
	free(rs->rules);
	free(rs->skip_reasons.v);
	free(rs->ignored.v);
	free(rs->unsupported.v);
	memset(rs, 0, sizeof(*rs));
}

/* ---- automaton ------------------------------------------------------------------ */

/*
 * Indexed patterns: the case-folded prefix (at most plen bytes) of every positive
 * content at least NIDS_INDEX_MIN bytes long, and of each rule's trigger content
 * whatever its length. Equal prefixes share one pattern id.
 */
struct ac_build {
	uint32_t nclasses;
	uint8_t class_of[256];
	uint32_t plen;       /* prefix length cap actually used */
	uint32_t nstates, cap;
	uint32_t *child;     /* trie: first child */
	uint32_t *sibling;   /* trie: next sibling */
	uint8_t *label;      /* class of the edge into the state */
	uint32_t *pat;       /* pattern ending at the state, or NIDS_NONE */
	uint32_t npatterns;
	uint32_t *pat_trig;  /* per pattern: rules it triggers */
	uint32_t *rule_trig; /* rule -> trigger pattern */
	uint32_t *need;      /* flattened per-rule lists of the other indexed patterns */
	uint32_t *need_first; /* rule -> first need entry; [n] = total */
	/* Complete DFA, filled by ac_dfa(). */
	uint32_t *order;     /* BFS order: new id -> old id */
	uint32_t *newid;     /* old id -> new id */
	uint32_t *fail;
	uint16_t *row;       /* old ids: nstates * nclasses next states (old ids) */
	uint32_t *out_first; /* old ids: first entry in outs; [nstates] = total */
	uint32_t *outs;      /* pattern ids reported by each state (own, then its fail state's) */
	uint32_t nouts, out_min;
};

static void ac_free(struct ac_build *a)
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
static int trigger_of(const struct nids_src_rule *r, uint32_t plen)
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

static uint32_t port_keys(const struct nids_src_rule *r, struct nids_port_key *keys, uint32_t ri);

/* A short rule (no content of NIDS_INDEX_MIN bytes) with port keys is found by port. */
static bool by_port(const struct nids_src_rule *r, int trigger)
{
	return r->c[trigger].len < NIDS_INDEX_MIN && port_keys(r, NULL, 0);
}

/*
 * The ports one side of a tcp/udp rule requires (the other side may be anything):
 * a positive list of single ports and short ranges, NIDS_MAX_KEYS values at most.
 * Destination side first. Writes them to keys (when not NULL); returns how many,
 * 0 when the rule has no such side.
 */
#define NIDS_MAX_KEYS 64
static uint32_t port_keys(const struct nids_src_rule *r, struct nids_port_key *keys, uint32_t ri)
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
					keys[n] = (struct nids_port_key){ .port = (uint16_t)p, .side = (uint16_t)i,
									  .rule = ri };
				n++;
			}
		return n;
	}
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct nids_port_key *x = a, *y = b;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Insert the folded prefix of c; returns its pattern id, or NIDS_NONE when out of memory. */
static uint32_t ac_insert(struct ac_build *a, const struct nids_src_content *c)
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
static int ac_trie(const struct nids_ruleset *rs, struct ac_build *a, uint32_t plen)
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
		int t = trigger_of(r, plen);
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
static int ac_dfa(struct ac_build *a)
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

static int ac_build(const struct nids_ruleset *rs, struct ac_build *a)
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

static void summary_lines(FILE *f, const char *title, struct nids_count_list *l)
{
	if (!l->n)
		return;
	qsort(l->v, l->n, sizeof(l->v[0]), count_cmp);
	fprintf(f, "%s:", title);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s %s=%u", i ? "," : "", l->v[i].name, l->v[i].n);
	fputc('\n', f);
}

int nids_compile(const struct nids_ruleset *rs, uint32_t action, struct nf_hdr **ret_state, char *err,
		 size_t errlen)
{
	return nids_compile_events(rs, action, NIDS_EVENTS_DEFAULT, ret_state, err, errlen);
}

int nids_compile_events(const struct nids_ruleset *rs_in, uint32_t action, uint32_t events,
			struct nf_hdr **ret_state, char *err, size_t errlen)
{
	struct nids_ruleset rs = *rs_in; /* count lists get sorted for the summary */
	struct ac_build a;
	struct nids_load_summary sum = { 0 };
	size_t ncontents = 0, nbytes = 0, nports = 0, naddrs = 0, nmsg = 0;
	char *text = NULL;
	size_t text_len = 0;
	int rc;

	rc = ac_build(&rs, &a);
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
			sum.port_keys += port_keys(&rs.rules[i], NULL, 0);
		} else if (rs.rules[i].c[trigger_of(&rs.rules[i], a.plen)].len < NIDS_INDEX_MIN) {
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
				  (sum.port_keys ? 65537 * 4 : 0));
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
	summary_lines(f, "skipped", &rs.skip_reasons);
	summary_lines(f, "not evaluated (rule matches on contents and header)", &rs.unsupported);
	summary_lines(f, "ignored", &rs.ignored);
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
			nk += port_keys(&rs.rules[i], K + nk, (uint32_t)i);
	qsort(K, nk, sizeof(*K), key_cmp);
	st->nkeys = nk;
	if (port_idx_off) {
		uint32_t *PI = NF_AT(st, port_idx_off, uint32_t *), k = 0;

		for (uint32_t p = 0; p <= 65536; p++) {
			while (k < nk && K[k].port < p)
				k++;
			PI[p] = k;
		}
		st->port_idx_off = port_idx_off;
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
	ac_free(&a);
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

const struct nf_ops nf_ops_nids = {
	.type_name = "nids",
	.type = NF_T_NIDS,
	.build = nids_build,
	.counter_names = nids_counter_names,
	.report = nids_report,
};
