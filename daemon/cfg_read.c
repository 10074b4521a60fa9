// SPDX-License-Identifier: GPL-2.0
/*
 * chains.ini as text: sections, keys and their line numbers (libinih does the
 * tokenizing).
 *
 * inih (as packaged) does not pass line numbers to the handler, so lines are fed
 * to it through our own reader, which counts them, strips leading whitespace
 * (indentation is allowed and never turns into a continuation line), strips
 * inline '#'/';' comments and records section headers itself (inih says nothing
 * about empty sections). Errors are collected with their line and reported
 * earliest first, one "FILE:LINE: reason" per line.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg.h"
#include "cfg_read.h"

#define CUR_NONE (-1)
#define CUR_BAD (-2)

void cfg_errs_add(struct cfg_err **errs, int *nerrs, bool *oom, int line, char *text)
{
	struct cfg_err *n;

	if (!text) {
		*oom = true;
		return;
	}
	n = realloc(*errs, (size_t)(*nerrs + 1) * sizeof(**errs));
	if (!n) {
		free(text);
		*oom = true;
		return;
	}
	*errs = n;
	n[*nerrs] = (struct cfg_err){ .line = line, .seq = *nerrs, .text = text };
	(*nerrs)++;
}

void cfg_perr(struct cfg_parser *p, int line, const char *fmt, ...)
{
	char *msg = NULL, *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg && asprintf(&text, "%s:%d: %s", p->file, line, msg) < 0)
		text = NULL;
	free(msg);
	cfg_errs_add(&p->errs, &p->nerrs, &p->oom, line, text);
}

static bool line_has_error(const struct cfg_parser *p, int line)
{
	for (int i = 0; i < p->nerrs; i++)
		if (p->errs[i].line == line)
			return true;
	return false;
}

static int err_cmp(const void *a, const void *b)
{
	const struct cfg_err *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq - y->seq;
}

void cfg_errs_flush(struct cfg_err *errs, int nerrs, bool sort, char *err, size_t errlen)
{
	size_t used = 0;

	if (sort)
		qsort(errs, (size_t)nerrs, sizeof(*errs), err_cmp);
	if (errlen)
		err[0] = '\0';
	for (int i = 0; i < nerrs; i++) {
		size_t need = strlen(errs[i].text) + (used ? 1 : 0);

		if (errlen && used + need < errlen) {
			snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "", errs[i].text);
			used += need;
		}
		free(errs[i].text);
	}
	free(errs);
}

int cfg_split_ws(char *s, char **tok, int max)
{
	int n = 0;

	for (char *t = strtok(s, " \t"); t; t = strtok(NULL, " \t")) {
		if (n == max)
			return -E2BIG;
		tok[n++] = t;
	}
	return n;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > CFG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* ---- the line reader and inih handler ---- */

static void section_start(struct cfg_parser *p, char *s)
{
	char *end = strchr(s, ']');
	char *tok[3];
	enum cfg_sect_kind kind;
	struct cfg_sect *n;
	int ntok;

	p->cur = CUR_BAD;
	if (!end) {
		cfg_perr(p, p->lineno, "section header without ']'");
		return;
	}
	for (const char *t = end + 1; *t; t++) {
		if (!isspace((unsigned char)*t)) {
			cfg_perr(p, p->lineno, "unexpected text after ']'");
			return;
		}
	}
	*end = '\0';
	ntok = cfg_split_ws(s + 1, tok, 3);
	if (ntok == 1 && !strcmp(tok[0], "gen")) {
		kind = CFG_SECT_GEN;
	} else if (ntok == 2 && !strcmp(tok[0], "nf")) {
		kind = CFG_SECT_NF;
	} else if (ntok == 2 && !strcmp(tok[0], "chain")) {
		kind = CFG_SECT_CHAIN;
	} else {
		cfg_perr(p, p->lineno, "unknown section '[%s]' (expected [gen], [nf NAME] or [chain NAME])",
		     ntok > 0 ? tok[0] : "");
		return;
	}
	if (kind != CFG_SECT_GEN && !valid_name(tok[1])) {
		cfg_perr(p, p->lineno, "%s name '%s' must be 1..%d characters of A-Z a-z 0-9 _ . -",
		     tok[0], tok[1], CFG_NAME_MAX);
		return;
	}
	for (int i = 0; i < p->nsects; i++) {
		const struct cfg_sect *o = &p->sects[i];

		if (o->kind != kind || (kind != CFG_SECT_GEN && strcmp(o->name, tok[1])))
			continue;
		if (kind == CFG_SECT_GEN)
			cfg_perr(p, p->lineno, "duplicate [gen] section (first at line %d)", o->line);
		else
			cfg_perr(p, p->lineno, "duplicate [%s %s] (first at line %d)", tok[0], tok[1], o->line);
		return;
	}
	n = realloc(p->sects, (size_t)(p->nsects + 1) * sizeof(*n));
	if (!n) {
		p->oom = true;
		return;
	}
	p->sects = n;
	n = &p->sects[p->nsects];
	*n = (struct cfg_sect){ .kind = kind, .line = p->lineno };
	n->name = strdup(kind == CFG_SECT_GEN ? "gen" : tok[1]);
	if (!n->name) {
		p->oom = true;
		return;
	}
	p->cur = p->nsects++;
}

/* Inline comments: '#' or ';' at the start of the line or after whitespace. */
static void strip_comment(char *s)
{
	for (char *t = s; *t; t++) {
		if ((*t == '#' || *t == ';') && (t == s || t[-1] == ' ' || t[-1] == '\t')) {
			*t = '\0';
			return;
		}
	}
}

static char *ini_read_line(char *str, int num, void *stream)
{
	struct cfg_parser *p = stream;
	ssize_t n = getline(&p->buf, &p->cap, p->f);
	char *s;

	if (n < 0)
		return NULL;
	p->lineno++;
	if (memchr(p->buf, '\0', (size_t)n))
		cfg_perr(p, p->lineno, "NUL byte in line");
	while (n > 0 && (p->buf[n - 1] == '\n' || p->buf[n - 1] == '\r'))
		p->buf[--n] = '\0';
	s = p->buf;
	if (p->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	while (*s == ' ' || *s == '\t')
		s++;
	strip_comment(s);
	if (strlen(s) + 3 > (size_t)num) {
		cfg_perr(p, p->lineno, "line longer than %d characters", num - 3);
		s = "";
	}
	if (*s == '[')
		section_start(p, s);
	/* Hand inih a line it can't misread: no indentation, no comment, and our header check done. */
	snprintf(str, (size_t)num, "%s\n", *s == '[' ? "" : s);
	return str;
}

static int ini_on_key(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parser *p = user;
	struct cfg_sect *s;
	struct nf_kv *kv;

	(void)section;
	if (p->cur == CUR_NONE) {
		cfg_perr(p, p->lineno, "'%s' outside a section (start with [gen], [nf NAME] or [chain NAME])", name);
		return 1;
	}
	if (p->cur == CUR_BAD)
		return 1;
	s = &p->sects[p->cur];
	kv = realloc(s->kv, (size_t)(s->nkv + 1) * sizeof(*kv));
	if (!kv) {
		p->oom = true;
		return 1;
	}
	s->kv = kv;
	kv[s->nkv] = (struct nf_kv){ .key = strdup(name), .value = strdup(value), .line = p->lineno };
	if (!kv[s->nkv].key || !kv[s->nkv].value)
		p->oom = true;
	s->nkv++;
	return 1;
}

void cfg_parser_free(struct cfg_parser *p)
{
	for (int i = 0; i < p->nsects; i++) {
		struct cfg_sect *s = &p->sects[i];

		for (int j = 0; j < s->nkv; j++) {
			free((char *)s->kv[j].key);
			free((char *)s->kv[j].value);
		}
		free(s->kv);
		free(s->name);
	}
	free(p->sects);
	free(p->buf);
}

int cfg_read(struct cfg_parser *p, const char *path)
{
	int r;

	*p = (struct cfg_parser){ .file = path, .cur = CUR_NONE };
	p->f = fopen(path, "re");
	if (!p->f)
		return -errno;
	r = ini_parse_stream(ini_read_line, p, ini_on_key, p);
	fclose(p->f);
	p->f = NULL;
	if (r > 0 && !line_has_error(p, r))
		cfg_perr(p, r, "expected 'key = value', '[section]' or a comment");
	else if (r < 0)
		p->oom = true;
	return 0;
}
