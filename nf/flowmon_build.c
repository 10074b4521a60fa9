// SPDX-License-Identifier: GPL-2.0
/* Host builder and report for flowmon. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry.h"
#include "flowmon.h"

#define FM_REPORT_TOP 20

int nf_fm_build(uint32_t flows, struct nf_hdr **ret_state)
{
	size_t slots_off = (sizeof(struct nf_flowmon) + 63) & ~(size_t)63;
	uint32_t n = 16;
	struct nf_hdr *h;

	if (flows > FM_FLOWS_MAX)
		return -E2BIG;
	while (n < flows)
		n <<= 1;
	h = nf_blob_alloc(NF_T_FLOWMON, slots_off + (size_t)n * sizeof(struct nf_flow_slot),
			  offsetof(struct nf_flowmon, counters), FM_C_MAX);
	if (!h)
		return -errno;
	struct nf_flowmon *st = (struct nf_flowmon *)h;
	st->slots_off = (uint32_t)slots_off;
	st->nslots = n;
	st->probe = n < FM_PROBE ? n : FM_PROBE;
	*ret_state = h;
	return 0;
}

static int fm_cmp(const void *a, const void *b)
{
	const struct nf_flow_slot *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->packets != y->packets)
		return x->packets > y->packets ? -1 : 1;
	return 0;
}

uint32_t nf_fm_top(const struct nf_flowmon *st, struct nf_flow_slot *out, uint32_t max)
{
	const struct nf_flow_slot *slots = NF_AT(st, st->slots_off, const struct nf_flow_slot *);
	struct nf_flow_slot *all;
	uint32_t n = 0;

	all = malloc((size_t)st->nslots * sizeof(*all));
	if (!all)
		return 0;
	for (uint32_t i = 0; i < st->nslots; i++)
		if (slots[i].key && slots[i].key != FM_TOMB)
			all[n++] = slots[i];
	qsort(all, n, sizeof(*all), fm_cmp);
	if (n > max)
		n = max;
	memcpy(out, all, (size_t)n * sizeof(*all));
	free(all);
	return n;
}

static const char *fm_ip(uint32_t a, char *buf)
{
	struct in_addr in = { .s_addr = htonl(a) };

	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

static int flowmon_report(const struct nf_hdr *h, const char *what, FILE *out, bool json)
{
	const struct nf_flowmon *st = (const struct nf_flowmon *)h;
	struct nf_flow_slot top[FM_REPORT_TOP];
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];
	uint32_t n;

	const struct nf_flow_slot *slots = NF_AT(st, st->slots_off, const struct nf_flow_slot *);
	uint64_t live = 0;

	if (strcmp(what, "flows"))
		return -ENOENT;
	/* Flows in the table now: claimed, not evicted (the counter counts every claim since the start). */
	for (uint32_t i = 0; i < st->nslots; i++)
		live += slots[i].key && slots[i].key != FM_TOMB;
	n = nf_fm_top(st, top, FM_REPORT_TOP);
	if (json) {
		fprintf(out, "{\"capacity\":%u,\"active\":%" PRIu64 ",\"seen\":%" PRIu64 ",\"insert_failed\":%" PRIu64
			",\"top\":[", st->nslots, live, st->counters[FM_C_FLOWS], st->counters[FM_C_INSERT_FAILED]);
		for (uint32_t i = 0; i < n; i++)
			fprintf(out,
				"%s{\"proto\":%u,\"src\":\"%s\",\"sport\":%u,\"dst\":\"%s\",\"dport\":%u,"
				"\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
				i ? "," : "", top[i].proto, fm_ip(top[i].src, s), top[i].sport, fm_ip(top[i].dst, d),
				top[i].dport, top[i].packets, top[i].bytes);
		fprintf(out, "]}\n");
		return 0;
	}
	fprintf(out, "%" PRIu64 " flows in %u slots (%" PRIu64 " seen), %" PRIu64 " packets found no slot\n", live,
		st->nslots, st->counters[FM_C_FLOWS], st->counters[FM_C_INSERT_FAILED]);
	fprintf(out, "%-5s %-21s %-21s %12s %14s\n", "PROTO", "SOURCE", "DESTINATION", "PACKETS", "BYTES");
	for (uint32_t i = 0; i < n; i++) {
		char sa[32], da[32];

		snprintf(sa, sizeof(sa), "%s:%u", fm_ip(top[i].src, s), top[i].sport);
		snprintf(da, sizeof(da), "%s:%u", fm_ip(top[i].dst, d), top[i].dport);
		fprintf(out, "%-5u %-21s %-21s %12" PRIu64 " %14" PRIu64 "\n", top[i].proto, sa, da, top[i].packets,
			top[i].bytes);
	}
	return 0;
}

static int flowmon_build(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	static const char *const known[] = { "flows", NULL };
	unsigned long flows = FM_FLOWS_DEFAULT;
	const char *v;
	int line, r;

	r = nf_cfg_check_keys(cfg, known, err, errlen);
	if (r)
		return r;
	v = nf_cfg_get(cfg, "flows", &line);
	if (v) {
		char *end;

		errno = 0;
		flows = isdigit((unsigned char)*v) ? strtoul(v, &end, 10) : 0;
		if (!isdigit((unsigned char)*v) || *end || errno || flows < 1 || flows > FM_FLOWS_MAX) {
			snprintf(err, errlen, "%s:%d: nf '%s': flows must be 1..%u, not '%s'", cfg->file, line,
				 cfg->name, FM_FLOWS_MAX, v);
			return -EINVAL;
		}
	}
	r = nf_fm_build((uint32_t)flows, ret_state);
	if (r)
		snprintf(err, errlen, "%s:%d: nf '%s': cannot allocate %lu flow slots: %s", cfg->file, cfg->line,
			 cfg->name, flows, strerror(-r));
	return r;
}

static const char *const fm_counters[] = { "flows", "insert_failed", "not_ipv4" };
_Static_assert(sizeof(fm_counters) / sizeof(fm_counters[0]) == FM_C_MAX, "one name per counter");

const struct nf_ops nf_ops_flowmon = {
	.type_name = "flowmon",
	.type = NF_T_FLOWMON,
	.build = flowmon_build,
	.counter_names = fm_counters,
	.report = flowmon_report,
};
