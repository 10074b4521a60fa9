// SPDX-License-Identifier: GPL-2.0
/*
 * chains.ini's values: strict parsers (the whole string or an error), key
 * lookups and checks within a section, and the keys [gen] and [chain] share
 * (backend, fail, the batcher's latency keys, gpu_*), [gen] giving the defaults.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_keys.h"

int cfg_parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *ret)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Unknown keys and repeats of non-repeatable keys are errors. */
void cfg_check_keys(struct cfg_parser *p, const struct cfg_sect *s, const char *what, const char *const *known,
		    const char *repeatable)
{
	for (int i = 0; i < s->nkv; i++) {
		const char *k = s->kv[i].key;
		bool ok = false;

		for (const char *const *kn = known; *kn; kn++)
			ok |= !strcmp(*kn, k);
		if (!ok) {
			cfg_perr(p, s->kv[i].line, "unknown key '%s' in %s", k, what);
			continue;
		}
		if (repeatable && !strcmp(repeatable, k))
			continue;
		for (int j = 0; j < i; j++) {
			if (!strcmp(s->kv[j].key, k)) {
				cfg_perr(p, s->kv[i].line, "duplicate key '%s' (first at line %d)", k, s->kv[j].line);
				break;
			}
		}
	}
}

const struct nf_kv *cfg_sect_get(const struct cfg_sect *s, const char *key)
{
	for (int i = 0; i < s->nkv; i++)
		if (!strcmp(s->kv[i].key, key))
			return &s->kv[i];
	return NULL;
}

bool cfg_get_ulong(struct cfg_parser *p, const struct cfg_sect *s, const char *key, unsigned long lo,
		   unsigned long hi, const char *unit, const char *note, unsigned long *ret)
{
	const struct nf_kv *kv = cfg_sect_get(s, key);

	if (!kv)
		return false;
	if (cfg_parse_ulong(kv->value, lo, hi, ret)) {
		cfg_perr(p, kv->line, "%s must be %s %lu..%lu%s, got '%s'", key, unit, lo, hi, note, kv->value);
		return false;
	}
	return true;
}

int cfg_pick(const char *v, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(v, names[i]))
			return i;
	return -1;
}

static const char *const backend_names[] = { "auto", "gpu", "cpu", "hybrid", NULL };
static const char *const gpu_mode_names[] = GPU_MODE_NAMES;
static const char *const gpu_mem_names[] = GPU_MEM_NAMES;
static const char *const gpu_agent_names[] = GPU_AGENT_NAMES;

const char *cfg_backend_name(enum cfg_backend b)
{
	return b < CFG_BACKEND_MAX ? backend_names[b] : "?";
}

int cfg_get_choice(struct cfg_parser *p, const struct cfg_sect *s, const char *key, const char *const *names)
{
	const struct nf_kv *kv = cfg_sect_get(s, key);
	char list[128];
	size_t used = 0;
	int i, n;

	if (!kv)
		return -1;
	if ((i = cfg_pick(kv->value, names)) >= 0)
		return i;
	for (n = 0; names[n]; n++)
		;
	list[0] = '\0';
	for (i = 0; i < n && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", !i ? "" : i == n - 1 ? " or " : ", ",
					 names[i]);
	cfg_perr(p, kv->line, "%s must be %s, got '%s'", key, list, kv->value);
	return -1;
}

void cfg_load_backend(struct cfg_parser *p, const struct cfg_sect *s, enum cfg_backend *ret)
{
	int i = cfg_get_choice(p, s, "backend", backend_names);

	if (i >= 0)
		*ret = (enum cfg_backend)i;
}

void cfg_load_fail(struct cfg_parser *p, const struct cfg_sect *s, enum cfg_fail *ret)
{
	int i = cfg_get_choice(p, s, "fail", (const char *const[]){ "closed", "open", NULL });

	if (i >= 0)
		*ret = i == 0 ? CFG_FAIL_CLOSED : CFG_FAIL_OPEN;
}

/*
 * The batcher's latency keys, hybrid's threshold and the batches kept in
 * flight, in [gen] (defaults) or a [chain]; a key left out keeps what *ret_
 * holds. target NULL: not allowed here.
 */
void cfg_load_elastic(struct cfg_parser *p, const struct cfg_sect *s, uint32_t *max_wait, uint32_t *target,
		      uint64_t *hybrid_pps, uint32_t *inflight)
{
	unsigned long v;

	if (cfg_get_ulong(p, s, "max_wait_us", 0, CFG_MAX_WAIT_US, "microseconds", " (0: no bound)", &v))
		*max_wait = (uint32_t)v;
	if (target && cfg_get_ulong(p, s, "latency_target_us", 0, CFG_MAX_WAIT_US, "microseconds", " (0: none)", &v))
		*target = (uint32_t)v;
	if (cfg_get_ulong(p, s, "hybrid_pps", 0, CFG_MAX_HYBRID_PPS, "packets per second",
			  " (0: by the measured cpu load)", &v))
		*hybrid_pps = v;
	if (cfg_get_ulong(p, s, "inflight", 1, CFG_INFLIGHT_MAX, "batches", "", &v))
		*inflight = (uint32_t)v;
}

/*
 * How the gpu backend runs chains, in [gen] (defaults) or a [chain]; a key left
 * out keeps what *o holds. The compile timeout only in [gen] (gen true).
 */
void cfg_load_gpu_opts(struct cfg_parser *p, const struct cfg_sect *s, struct gpu_opts *o, bool gen)
{
	unsigned long v;
	int i;

	if ((i = cfg_get_choice(p, s, "gpu_mode", gpu_mode_names)) >= 0)
		o->mode = (enum gpu_mode)i;
	if ((i = cfg_get_choice(p, s, "gpu_mem", gpu_mem_names)) >= 0)
		o->mem = (enum gpu_mem)i;
	if ((i = cfg_get_choice(p, s, "gpu_agent", gpu_agent_names)) >= 0)
		o->agent = (enum gpu_agent)i;
	if (gen && cfg_get_ulong(p, s, "gpu_compile_timeout", 1, CFG_MAX_COMPILE_TIMEOUT, "seconds", "", &v))
		o->compile_timeout_s = (uint32_t)v;
}
