// SPDX-License-Identifier: GPL-2.0
/* Host builder for ipv4_router: routes file parser and DIR-24-8 table construction. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry.h"
#include "ipv4_router.h"

struct rt_sorted {
	uint32_t prefix;
	uint32_t len;
	uint32_t nh;
	uint32_t idx; /* position in the input: a later duplicate wins */
};

static int rt_cmp(const void *a, const void *b)
{
	const struct rt_sorted *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint32_t rt_mask(uint32_t len)
{
	return len ? ~0u << (32 - len) : 0;
}

int nf_rt_build(const struct nf_rt_route *routes, size_t n, const struct nf_rt_nh *nhs, uint32_t nnh,
		struct nf_hdr **ret_state)
{
	struct rt_sorted *rs;
	uint8_t *seen24 = NULL;
	size_t m = 0, ngroups = 0;
	int r = 0;

	if (nnh > RT_NH_MAX || n > UINT32_MAX)
		return -E2BIG;
	rs = malloc((n ? n : 1) * sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (routes[i].len > 32 || (routes[i].prefix & ~rt_mask(routes[i].len)) || routes[i].nh >= nnh) {
			r = -EINVAL;
			goto out;
		}
		rs[i] = (struct rt_sorted){ routes[i].prefix, routes[i].len, routes[i].nh, (uint32_t)i };
	}
	/*
	 * Shorter prefixes first, so a longer one simply overwrites the entries it
	 * covers; prefixes of one length are disjoint, which bounds the fill work at
	 * 2^24 entries per length whatever the route count.
	 */
	qsort(rs, n, sizeof(*rs), rt_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && rs[m - 1].len == rs[i].len && rs[m - 1].prefix == rs[i].prefix)
			rs[m - 1] = rs[i];
		else
			rs[m++] = rs[i];
	}

	/* One tbl8 group per /24 that holds a longer prefix. */
	seen24 = calloc(RT_TBL24_ENTRIES / 8, 1);
	if (!seen24) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m; i++) {
		uint32_t k = rs[i].prefix >> 8;

		if (rs[i].len > 24 && !(seen24[k / 8] & (1u << (k % 8)))) {
			seen24[k / 8] |= (uint8_t)(1u << (k % 8));
			ngroups++;
		}
	}

	size_t tbl24_off = (sizeof(struct nf_ipv4_router) + 63) & ~(size_t)63;
	size_t tbl8_off = tbl24_off + (size_t)RT_TBL24_ENTRIES * 4;
	size_t nh_off = tbl8_off + ngroups * RT_TBL8_ENTRIES * 4;
	size_t size = nh_off + (size_t)nnh * sizeof(struct nf_rt_nh);
	if (size > UINT32_MAX - 64) {
		r = -E2BIG;
		goto out;
	}
	struct nf_hdr *h = nf_blob_alloc(NF_T_IPV4_ROUTER, size, offsetof(struct nf_ipv4_router, counters), RT_C_MAX);
	if (!h) {
		r = -errno;
		goto out;
	}
	struct nf_ipv4_router *st = (struct nf_ipv4_router *)h;
	st->tbl24_off = (uint32_t)tbl24_off;
	st->tbl8_off = (uint32_t)tbl8_off;
	st->ntbl8 = (uint32_t)ngroups;
	st->nh_off = (uint32_t)nh_off;
	st->nnh = nnh;
	st->nroutes = (uint32_t)m;
	if (nnh)
		memcpy(NF_AT(st, nh_off, struct nf_rt_nh *), nhs, nnh * sizeof(*nhs));

	uint32_t *tbl24 = NF_AT(st, tbl24_off, uint32_t *);
	uint32_t *tbl8 = NF_AT(st, tbl8_off, uint32_t *);
	uint32_t next_group = 0;
	for (size_t i = 0; i < m; i++) {
		uint32_t v = rs[i].nh + 1;

		if (rs[i].len <= 24) {
			uint32_t first = rs[i].prefix >> 8, count = 1u << (24 - rs[i].len);

			for (uint32_t j = 0; j < count; j++)
				tbl24[first + j] = v;
			continue;
		}
		uint32_t *e24 = &tbl24[rs[i].prefix >> 8];
		if (!(*e24 & RT_GROUP)) {
			/* The group inherits whatever shorter route covered the /24. */
			uint32_t *g = tbl8 + (size_t)next_group * RT_TBL8_ENTRIES;

			for (uint32_t j = 0; j < RT_TBL8_ENTRIES; j++)
				g[j] = *e24;
			*e24 = RT_GROUP | next_group++;
		}
		uint32_t *g = tbl8 + (size_t)(*e24 & ~RT_GROUP) * RT_TBL8_ENTRIES;
		uint32_t first = rs[i].prefix & 0xff, count = 1u << (32 - rs[i].len);
		for (uint32_t j = 0; j < count; j++)
			g[first + j] = v;
	}
	*ret_state = h;
out:
	free(seen24);
	free(rs);
	return r;
}

/* "A.B.C.D/LEN" with the host bits zero; 0 or a message in why. */
static int rt_parse_prefix(const char *s, uint32_t *ret_prefix, uint32_t *ret_len, const char **why)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	char *end;

	if (!slash || slash == s || (size_t)(slash - s) >= sizeof(addr)) {
		*why = "expected PREFIX/LEN";
		return -EINVAL;
	}
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = 0;
	if (inet_pton(AF_INET, addr, &a) != 1) {
		*why = "not an IPv4 address";
		return -EINVAL;
	}
	if (!isdigit((unsigned char)slash[1])) {
		*why = "prefix length is not a number";
		return -EINVAL;
	}
	unsigned long len = strtoul(slash + 1, &end, 10);
	if (*end || len > 32) {
		*why = "prefix length must be 0..32";
		return -EINVAL;
	}
	uint32_t p = ntohl(a.s_addr);
	if (p & ~rt_mask((uint32_t)len)) {
		*why = "host bits set beyond the prefix length";
		return -EINVAL;
	}
	*ret_prefix = p;
	*ret_len = (uint32_t)len;
	return 0;
}

int nf_rt_load(const char *path, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	struct nf_rt_route *routes = NULL;
	struct nf_rt_nh *nhs = NULL;
	size_t n = 0, cap = 0;
	uint32_t nnh = 0;
	size_t nh_cap = 0;
	struct nf_lines in;
	char *line;
	int r = nf_lines_open(&in, path, "routes", err, errlen);

	if (r)
		return r;
	while ((line = nf_lines_next(&in))) {
		char tok[3][64];
		const char *why = NULL;
		uint8_t mac[6];
		uint32_t prefix, len;
		int nt;

		nt = sscanf(line, "%63s %63s %63s", tok[0], tok[1], tok[2]);
		if (nt <= 0)
			continue;
		if (nt != 2) {
			snprintf(err, errlen, "%s:%d: expected 'PREFIX/LEN NEXTHOP_MAC'", path, in.lineno);
			r = -EINVAL;
			goto out;
		}
		if (rt_parse_prefix(tok[0], &prefix, &len, &why)) {
			snprintf(err, errlen, "%s:%d: '%s': %s", path, in.lineno, tok[0], why);
			r = -EINVAL;
			goto out;
		}
		if (nf_parse_mac(tok[1], mac)) {
			snprintf(err, errlen, "%s:%d: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", path, in.lineno, tok[1]);
			r = -EINVAL;
			goto out;
		}
		/* Next hops are few: a linear search keeps the table free of duplicates. */
		uint32_t nh;
		for (nh = 0; nh < nnh && memcmp(nhs[nh].mac, mac, 6); nh++)
			;
		if (nh == nnh) {
			if (nnh == RT_NH_MAX) {
				snprintf(err, errlen, "%s:%d: more than %u distinct next hops", path, in.lineno, RT_NH_MAX);
				r = -E2BIG;
				goto out;
			}
			void *q = nf_grow(nhs, &nh_cap, nnh, sizeof(*nhs), 16);
			if (!q)
				goto out_nomem;
			nhs = q;
			memset(&nhs[nnh], 0, sizeof(nhs[nnh]));
			memcpy(nhs[nnh].mac, mac, 6);
			nnh++;
		}
		void *q = nf_grow(routes, &cap, n, sizeof(*routes), 1024);
		if (!q)
			goto out_nomem;
		routes = q;
		routes[n++] = (struct nf_rt_route){ prefix, len, nh };
	}
	r = nf_rt_build(routes, n, nhs, nnh, ret_state);
	if (r)
		snprintf(err, errlen, "%s: cannot build the route table: %s", path, strerror(-r));
	goto out;
out_nomem:
	r = -ENOMEM;
	snprintf(err, errlen, "%s:%d: out of memory", path, in.lineno);
out:
	nf_lines_close(&in);
	free(routes);
	free(nhs);
	return r;
}

static int ipv4_router_build(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	static const char *const known[] = { "routes", NULL };
	char path[4096];
	const char *v;
	int line, r;

	r = nf_cfg_check_keys(cfg, known, err, errlen);
	if (r)
		return r;
	v = nf_cfg_get(cfg, "routes", &line);
	if (!v || !*v) {
		snprintf(err, errlen, "%s:%d: nf '%s': ipv4_router needs 'routes = FILE'", cfg->file, line, cfg->name);
		return -EINVAL;
	}
	r = nf_rt_load(nf_cfg_path(cfg, v, path, sizeof(path)), ret_state, err, errlen);
	if (r == -ENOENT || r == -EACCES)
		snprintf(err, errlen, "%s:%d: nf '%s': cannot open routes file '%s': %s", cfg->file, line, cfg->name,
			 path, strerror(-r));
	return r;
}

static int ipv4_router_report(const struct nf_hdr *h, const char *what, FILE *out, bool json)
{
	const struct nf_ipv4_router *st = (const struct nf_ipv4_router *)h;

	if (strcmp(what, "routes"))
		return -ENOENT;
	if (json)
		fprintf(out, "{\"routes\":%u,\"next_hops\":%u,\"tbl8_groups\":%u,\"bytes\":%u}\n", st->nroutes,
			st->nnh, st->ntbl8, st->hdr.size);
	else
		fprintf(out, "routes %u, next hops %u, tbl8 groups %u, table %u bytes\n", st->nroutes, st->nnh,
			st->ntbl8, st->hdr.size);
	return 0;
}

static const char *const rt_counters[] = { "forwarded", "no_route", "ttl_expired", "not_ipv4" };
_Static_assert(sizeof(rt_counters) / sizeof(rt_counters[0]) == RT_C_MAX, "one name per counter");

/* Packets write only the counters: the FIB (64 MiB of tbl24) stays where it was built. */
static uint32_t ipv4_router_live(const struct nf_hdr *st, struct nf_span out[NF_SPANS_MAX])
{
	out[0] = (struct nf_span){ st->counters_off, st->ncounters * (uint32_t)sizeof(uint64_t) };
	return 1;
}

const struct nf_ops nf_ops_ipv4_router = {
	.type_name = "ipv4_router",
	.type = NF_T_IPV4_ROUTER,
	.build = ipv4_router_build,
	.counter_names = rt_counters,
	.report = ipv4_router_report,
	.live = ipv4_router_live,
};
