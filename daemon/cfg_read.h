/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading chains.ini into sections of keys, each with its line number, and the
 * error list every later check adds to. What the keys mean is the business of
 * cfg.c, cfg_gen.c and cfg_chain.c.
 */
#ifndef GEN_CFG_READ_H
#define GEN_CFG_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "../nf/registry.h"

enum cfg_sect_kind { CFG_SECT_GEN, CFG_SECT_NF, CFG_SECT_CHAIN };

struct cfg_sect {
	enum cfg_sect_kind kind;
	char *name;
	int line;
	struct nf_kv *kv;
	int nkv;
};

struct cfg_err {
	int line;
	int seq;      /* keeps insertion order among errors of one line */
	char *text;   /* the whole "FILE:LINE: reason" */
};

struct cfg_parser {
	const char *file;
	FILE *f;
	char *buf;
	size_t cap;
	int lineno;
	struct cfg_sect *sects;
	int nsects;
	int cur;      /* section receiving keys; -1 none yet, -2 a bad header (keys ignored) */
	struct cfg_err *errs;
	int nerrs;
	bool oom;
};

/*
 * Read path into p: its sections and keys (with lines), and an error for every
 * line that is not a section header, a key or a comment. 0 (errors, if any, in
 * p->errs), or -errno when the file cannot be opened. Free with cfg_parser_free().
 */
int cfg_read(struct cfg_parser *p, const char *path);
void cfg_parser_free(struct cfg_parser *p);

/* Add "FILE:LINE: message" to p's errors. */
__attribute__((format(printf, 3, 4)))
void cfg_perr(struct cfg_parser *p, int line, const char *fmt, ...);
/* Add a finished error text (NULL: out of memory) to a list. */
void cfg_errs_add(struct cfg_err **errs, int *nerrs, bool *oom, int line, char *text);
/* Write whole lines of the list into err (earliest line first when sort), and free it. */
void cfg_errs_flush(struct cfg_err *errs, int nerrs, bool sort, char *err, size_t errlen);
/* Split on spaces/tabs in place; returns the count, or -E2BIG beyond max. */
int cfg_split_ws(char *s, char **tok, int max);

#endif
