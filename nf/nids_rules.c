// SPDX-License-Identifier: GPL-2.0
/*
 * nids rules: a Snort rules file -> the parsed rule set (struct nids_ruleset),
 * with the reasons rules were skipped and the options that have no effect here
 * (nids.md says which). nids_ac.c builds the automaton from it, nids_build.c
 * lays out the state blob.
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

void nids_counts_print(FILE *f, const char *title, struct nids_count_list *l)
{
	if (!l->n)
		return;
	qsort(l->v, l->n, sizeof(l->v[0]), count_cmp);
	fprintf(f, "%s:", title);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s %s=%u", i ? "," : "", l->v[i].name, l->v[i].n);
	fputc('\n', f);
}
