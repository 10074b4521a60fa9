/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the loaders of chains.ini's sections share (cfg.c, cfg_gen.c,
 * cfg_chain.c; cfg_keys.c): strict value parsers, key lookups and checks
 * within a section, the keys both [gen] and [chain] take, and each section's
 * loader. Every problem goes to the parser's error list (cfg_perr).
 */
#ifndef GEN_CFG_KEYS_H
#define GEN_CFG_KEYS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include "cfg.h"
#include "cfg_read.h"

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ __attribute__((cleanup(freep)))

/* A decimal in lo..hi, the whole string; -EINVAL otherwise. */
int cfg_parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *ret);
/* The index of v in the NULL-terminated names, or -1. */
int cfg_pick(const char *v, const char *const *names);
/* The first key named key in s, or NULL. */
const struct nf_kv *cfg_sect_get(const struct cfg_sect *s, const char *key);
/*
 * key, when s has it, as an integer in lo..hi: true with *ret set. A bad value
 * is the error "KEY must be UNIT LO..HI[NOTE], got 'VALUE'"; absent or bad: false.
 */
bool cfg_get_ulong(struct cfg_parser *p, const struct cfg_sect *s, const char *key, unsigned long lo,
		   unsigned long hi, const char *unit, const char *note, unsigned long *ret);
/* Unknown keys, and repeats of any key but `repeatable` (may be NULL), are errors. */
void cfg_check_keys(struct cfg_parser *p, const struct cfg_sect *s, const char *what, const char *const *known,
		    const char *repeatable);

/*
 * key, when s has it, as one of names (NULL-terminated): its index. A value not
 * among them is the error "KEY must be A, B or C, got 'VALUE'"; absent or bad: -1.
 */
int cfg_get_choice(struct cfg_parser *p, const struct cfg_sect *s, const char *key, const char *const *names);

/* Keys of [gen] (the defaults) and [chain]; absent or bad, *ret is left as it is. */
void cfg_load_backend(struct cfg_parser *p, const struct cfg_sect *s, enum cfg_backend *ret);
void cfg_load_fail(struct cfg_parser *p, const struct cfg_sect *s, enum cfg_fail *ret);
void cfg_load_elastic(struct cfg_parser *p, const struct cfg_sect *s, uint32_t *max_wait, uint32_t *target,
		      uint64_t *hybrid_pps, uint32_t *inflight);
void cfg_load_gpu_opts(struct cfg_parser *p, const struct cfg_sect *s, struct gpu_opts *o, bool gen);

/* [gen] into c (cfg_gen.c). */
void cfg_load_gen(struct cfg_parser *p, struct cfg *c, const struct cfg_sect *s);
/* The next [chain] into c->chains[c->nchains]; c's [gen] and [nf] are loaded (cfg_chain.c). */
void cfg_load_chain(struct cfg_parser *p, struct cfg *c, struct cfg_sect *s);
/* What chains may not share between them (cfg_chain.c). */
void cfg_check_chains(struct cfg_parser *p, const struct cfg *c);

#endif
