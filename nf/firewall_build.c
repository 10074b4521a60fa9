// SPDX-License-Identifier: GPL-2.0
/*
 * Host builder for firewall: the rules-file parser.
 *
 * Grammar, one rule per line ('#' starts a comment):
 *   rule   := action { field }
 *   action := allow | deny
 *   field  := proto (tcp|udp|icmp|any|0..255)
 *           | src (CIDR|any)   | dst (CIDR|any)
 *           | sport (PORTS|any) | dport (PORTS|any)
 *   CIDR   := A.B.C.D[/LEN]  (host bits must be zero)
 *   PORTS  := N | N-M        (0..65535, N <= M)
 * Fields come in any order, each at most once; a missing field means any.
 * Ports only make sense with proto tcp, udp or any.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "registry.h"
#include "firewall.h"

static int fw_parse_u(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*ret = strtoul(s, &end, 10);
	return (*end || errno || *ret > max) ? -EINVAL : 0;
}

static int fw_parse_cidr(const char *s, uint32_t *ret_addr, uint32_t *ret_mask, const char **why)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len = 32;
	struct in_addr a;

	if (!strcmp(s, "any")) {
		*ret_addr = 0;
		*ret_mask = 0;
		return 0;
	}
	if (alen >= sizeof(addr)) {
		*why = "not an IPv4 address";
		return -EINVAL;
	}
	memcpy(addr, s, alen);
	addr[alen] = 0;
	if (inet_pton(AF_INET, addr, &a) != 1) {
		*why = "not an IPv4 address";
		return -EINVAL;
	}
	if (slash && fw_parse_u(slash + 1, 32, &len)) {
		*why = "prefix length must be 0..32";
		return -EINVAL;
	}
	uint32_t mask = len ? ~0u << (32 - len) : 0, ip = ntohl(a.s_addr);
	if (ip & ~mask) {
		*why = "host bits set beyond the prefix length";
		return -EINVAL;
	}
	*ret_addr = ip;
	*ret_mask = mask;
	return 0;
}

static int fw_parse_ports(const char *s, uint16_t *lo, uint16_t *hi, const char **why)
{
	char buf[32];
	const char *dash = strchr(s, '-');
	unsigned long a, b;

	if (!strcmp(s, "any")) {
		*lo = 0;
		*hi = 65535;
		return 0;
	}
	if (strlen(s) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", s);
	if (dash)
		buf[dash - s] = 0;
	if (fw_parse_u(buf, 65535, &a))
		goto bad;
	b = a;
	if (dash && fw_parse_u(dash + 1, 65535, &b))
		goto bad;
	if (a > b) {
		*why = "port range is reversed";
		return -EINVAL;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
bad:
	*why = "ports must be N, N-M (0..65535) or any";
	return -EINVAL;
}

int nf_fw_parse_line(const char *line, struct nf_fw_rule *r, const char **why)
{
	static const char *const fields[] = { "proto", "src", "dst", "sport", "dport" };
	char copy[1024], *save = NULL, *tok;
	unsigned int seen = 0;

	if (strlen(line) >= sizeof(copy)) {
		*why = "line too long";
		return -EINVAL;
	}
	snprintf(copy, sizeof(copy), "%s", line);
	tok = strtok_r(copy, " \t\r\n", &save);
	if (!tok)
		return 1;
	memset(r, 0, sizeof(*r));
	r->proto = FW_PROTO_ANY;
	r->sport_hi = r->dport_hi = 65535;
	if (!strcmp(tok, "allow")) {
		r->action = FW_ALLOW;
	} else if (!strcmp(tok, "deny")) {
		r->action = FW_DENY;
	} else {
		*why = "a rule starts with allow or deny";
		return -EINVAL;
	}
	while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
		unsigned int f;
		char *val;

		for (f = 0; f < 5 && strcmp(tok, fields[f]); f++)
			;
		if (f == 5) {
			*why = "unknown field (expected proto, src, dst, sport or dport)";
			return -EINVAL;
		}
		if (seen & (1u << f)) {
			*why = "field given twice";
			return -EINVAL;
		}
		seen |= 1u << f;
		val = strtok_r(NULL, " \t\r\n", &save);
		if (!val) {
			*why = "field without a value";
			return -EINVAL;
		}
		switch (f) {
		case 0: {
			unsigned long n;

			if (!strcmp(val, "any"))
				r->proto = FW_PROTO_ANY;
			else if (!strcmp(val, "tcp"))
				r->proto = NF_IPPROTO_TCP;
			else if (!strcmp(val, "udp"))
				r->proto = NF_IPPROTO_UDP;
			else if (!strcmp(val, "icmp"))
				r->proto = NF_IPPROTO_ICMP;
			else if (!fw_parse_u(val, 255, &n))
				r->proto = (uint16_t)n;
			else {
				*why = "proto must be tcp, udp, icmp, any or 0..255";
				return -EINVAL;
			}
			break;
		}
		case 1:
			if (fw_parse_cidr(val, &r->src, &r->src_mask, why))
				return -EINVAL;
			break;
		case 2:
			if (fw_parse_cidr(val, &r->dst, &r->dst_mask, why))
				return -EINVAL;
			break;
		case 3:
			if (fw_parse_ports(val, &r->sport_lo, &r->sport_hi, why))
				return -EINVAL;
			break;
		case 4:
			if (fw_parse_ports(val, &r->dport_lo, &r->dport_hi, why))
				return -EINVAL;
			break;
		}
	}
	int has_ports = r->sport_lo || r->sport_hi != 65535 || r->dport_lo || r->dport_hi != 65535;
	if (has_ports && r->proto != FW_PROTO_ANY && r->proto != NF_IPPROTO_TCP && r->proto != NF_IPPROTO_UDP) {
		*why = "ports need proto tcp, udp or any";
		return -EINVAL;
	}
	return 0;
}

int nf_fw_build(const struct nf_fw_rule *rules, uint32_t n, uint32_t dflt, struct nf_hdr **ret_state)
{
	size_t rules_off = (sizeof(struct nf_firewall) + 63) & ~(size_t)63;
	struct nf_hdr *h;

	if (n > FW_RULES_MAX)
		return -E2BIG;
	if (dflt != FW_ALLOW && dflt != FW_DENY)
		return -EINVAL;
	h = nf_blob_alloc(NF_T_FIREWALL, rules_off + (size_t)n * sizeof(*rules),
			  offsetof(struct nf_firewall, counters), FW_C_MAX);
	if (!h)
		return -errno;
	struct nf_firewall *st = (struct nf_firewall *)h;
	st->rules_off = (uint32_t)rules_off;
	st->nrules = n;
	st->dflt = dflt;
	if (n)
		memcpy(NF_AT(st, rules_off, struct nf_fw_rule *), rules, n * sizeof(*rules));
	*ret_state = h;
	return 0;
}

int nf_fw_load(const char *path, uint32_t dflt, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	struct nf_fw_rule *rules = NULL;
	uint32_t n = 0;
	size_t cap = 0;
	struct nf_lines in;
	char *line;
	int r = nf_lines_open(&in, path, "rules", err, errlen);

	if (r)
		return r;
	while ((line = nf_lines_next(&in))) {
		struct nf_fw_rule rule;
		const char *why = "";

		r = nf_fw_parse_line(line, &rule, &why);
		if (r == 1) {
			r = 0;
			continue;
		}
		if (r) {
			snprintf(err, errlen, "%s:%d: %s", path, in.lineno, why);
			goto out;
		}
		if (n == FW_RULES_MAX) {
			snprintf(err, errlen, "%s:%d: more than %u rules", path, in.lineno, FW_RULES_MAX);
			r = -E2BIG;
			goto out;
		}
		void *q = nf_grow(rules, &cap, n, sizeof(*rules), 64);
		if (!q) {
			snprintf(err, errlen, "%s:%d: out of memory", path, in.lineno);
			r = -ENOMEM;
			goto out;
		}
		rules = q;
		rule.line = (uint32_t)in.lineno;
		rules[n++] = rule;
	}
	r = nf_fw_build(rules, n, dflt, ret_state);
	if (r)
		snprintf(err, errlen, "%s: cannot build the rule table: %s", path, strerror(-r));
out:
	nf_lines_close(&in);
	free(rules);
	return r;
}

static int firewall_build(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen)
{
	static const char *const known[] = { "rules", "default", NULL };
	uint32_t dflt = FW_ALLOW;
	char path[4096];
	const char *v;
	int line, r;

	r = nf_cfg_check_keys(cfg, known, err, errlen);
	if (r)
		return r;
	v = nf_cfg_get(cfg, "default", &line);
	if (v) {
		if (!strcmp(v, "allow")) {
			dflt = FW_ALLOW;
		} else if (!strcmp(v, "deny")) {
			dflt = FW_DENY;
		} else {
			snprintf(err, errlen, "%s:%d: nf '%s': default must be allow or deny, not '%s'", cfg->file, line,
				 cfg->name, v);
			return -EINVAL;
		}
	}
	v = nf_cfg_get(cfg, "rules", &line);
	if (!v || !*v) {
		snprintf(err, errlen, "%s:%d: nf '%s': firewall needs 'rules = FILE'", cfg->file, line, cfg->name);
		return -EINVAL;
	}
	r = nf_fw_load(nf_cfg_path(cfg, v, path, sizeof(path)), dflt, ret_state, err, errlen);
	if (r == -ENOENT || r == -EACCES)
		snprintf(err, errlen, "%s:%d: nf '%s': cannot open rules file '%s': %s", cfg->file, line, cfg->name,
			 path, strerror(-r));
	return r;
}

static const char *const fw_counters[] = { "allowed", "denied", "not_ipv4" };
_Static_assert(sizeof(fw_counters) / sizeof(fw_counters[0]) == FW_C_MAX, "one name per counter");

const struct nf_ops nf_ops_firewall = {
	.type_name = "firewall",
	.type = NF_T_FIREWALL,
	.build = firewall_build,
	.counter_names = fw_counters,
};
