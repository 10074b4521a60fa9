// SPDX-License-Identifier: GPL-2.0
/*
 * chains.ini's [chain] sections: id, match lines, the NF list, output and the
 * per-chain keys; then the checks across chains (NF states one chain may not
 * share with another).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_keys.h"

static int parse_ipv4(const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = ntohl(a.s_addr);
	return 0;
}

/* A port by number (1-based) or interface name; 0 when it's neither. */
static int port_index(const struct cfg *c, const char *s)
{
	unsigned long v;

	if (!cfg_parse_ulong(s, 1, (unsigned long)c->nports, &v))
		return (int)v;
	for (int i = 0; i < c->nports; i++)
		if (!strcmp(c->ports[i], s))
			return i + 1;
	return 0;
}

static int parse_cidr(struct cfg_parser *p, int line, const char *key, const char *s, uint32_t *addr, uint32_t *len)
{
	char buf[32];
	char *slash;
	unsigned long l = 32;
	uint32_t mask;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (cfg_parse_ulong(slash + 1, 0, 32, &l))
			goto bad;
	}
	if (parse_ipv4(buf, addr))
		goto bad;
	*len = (uint32_t)l;
	mask = l ? ~0u << (32 - l) : 0;
	if (*addr & ~mask) {
		struct in_addr net = { .s_addr = htonl(*addr & mask) };
		char nbuf[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &net, nbuf, sizeof(nbuf));
		cfg_perr(p, line, "match %s '%s' has host bits set (did you mean %s/%lu?)", key, s, nbuf, l);
		return -EINVAL;
	}
	return 0;
bad:
	cfg_perr(p, line, "match %s '%s' is not an IPv4 address or CIDR (a.b.c.d[/len])", key, s);
	return -EINVAL;
}

static int parse_port_range(struct cfg_parser *p, int line, const char *key, const char *s, uint16_t *lo,
			    uint16_t *hi)
{
	char buf[16];
	char *dash;
	unsigned long a, b;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (cfg_parse_ulong(buf, 0, 65535, &a))
		goto bad;
	b = a;
	if (dash && cfg_parse_ulong(dash + 1, 0, 65535, &b))
		goto bad;
	if (b < a) {
		cfg_perr(p, line, "match %s '%s': range is backwards", key, s);
		return -EINVAL;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
bad:
	cfg_perr(p, line, "match %s '%s' is not a port or range N[-M] in 0..65535", key, s);
	return -EINVAL;
}

static int parse_proto(const char *s)
{
	static const char *const names[] = { "icmp", "tcp", "udp", NULL };
	static const int nums[] = { NF_IPPROTO_ICMP, NF_IPPROTO_TCP, NF_IPPROTO_UDP };
	unsigned long v;
	int i = cfg_pick(s, names);

	if (i >= 0)
		return nums[i];
	if (!cfg_parse_ulong(s, 0, 255, &v))
		return (int)v;
	return -1;
}

static void parse_match(struct cfg_parser *p, const struct cfg *c, const struct nf_kv *kv, struct cfg_match *m)
{
	static const char *const keys[] = { "src", "dst", "proto", "sport", "dport", "in", NULL };
	_cleanup_free_ char *copy = strdup(kv->value);
	char *tok[2 * 6 + 1];
	bool seen[6] = { false };
	bool ports = false;
	int n;

	*m = (struct cfg_match){ .proto = -1, .sport_hi = 65535, .dport_hi = 65535, .line = kv->line };
	if (!copy) {
		p->oom = true;
		return;
	}
	n = cfg_split_ws(copy, tok, 2 * 6 + 1);
	if (n == 1 && !strcmp(tok[0], "any"))
		return;
	if (n == 0) {
		cfg_perr(p, kv->line, "empty match (use 'match = any' to match every packet)");
		return;
	}
	if (n < 0) {
		cfg_perr(p, kv->line, "match has too many words (each of src dst proto sport dport in at most once)");
		return;
	}
	for (int i = 0; i < n; i += 2) {
		int k = cfg_pick(tok[i], keys);

		if (k < 0) {
			cfg_perr(p, kv->line, "unknown match key '%s' (expected src, dst, proto, sport, dport, in or any)",
			     tok[i]);
			return;
		}
		if (i + 1 == n) {
			cfg_perr(p, kv->line, "match key '%s' needs a value", tok[i]);
			return;
		}
		if (seen[k]) {
			cfg_perr(p, kv->line, "match key '%s' given twice in one line (use another match line for OR)",
			     tok[i]);
			return;
		}
		seen[k] = true;
		const char *v = tok[i + 1];

		switch (k) {
		case 0:
			parse_cidr(p, kv->line, "src", v, &m->src, &m->src_len);
			break;
		case 1:
			parse_cidr(p, kv->line, "dst", v, &m->dst, &m->dst_len);
			break;
		case 2:
			m->proto = parse_proto(v);
			if (m->proto < 0)
				cfg_perr(p, kv->line, "match proto '%s' is not tcp, udp, icmp or a number 0..255", v);
			break;
		case 3:
			ports = true;
			parse_port_range(p, kv->line, "sport", v, &m->sport_lo, &m->sport_hi);
			break;
		case 4:
			ports = true;
			parse_port_range(p, kv->line, "dport", v, &m->dport_lo, &m->dport_hi);
			break;
		case 5:
			m->in_port = port_index(c, v);
			if (!m->in_port)
				cfg_perr(p, kv->line, "match in '%s' is not a port number 1..%d or a name in ports", v,
				     c->nports);
			break;
		}
	}
	if (ports && m->proto >= 0 && m->proto != NF_IPPROTO_TCP && m->proto != NF_IPPROTO_UDP)
		cfg_perr(p, kv->line, "match sport/dport need proto tcp or udp (or no proto), got proto %d", m->proto);
}

static void load_nfs_list(struct cfg_parser *p, const struct cfg *c, struct cfg_chain *ch, const struct nf_kv *kv)
{
	_cleanup_free_ char *copy = strdup(kv->value);
	char *tok[CFG_MAX_CHAIN_NFS];
	int n;

	if (!copy) {
		p->oom = true;
		return;
	}
	n = cfg_split_ws(copy, tok, CFG_MAX_CHAIN_NFS);
	if (n < 0) {
		cfg_perr(p, kv->line, "chain '%s' has more than %d nfs", ch->name, CFG_MAX_CHAIN_NFS);
		return;
	}
	ch->nfs = calloc((size_t)n + 1, sizeof(*ch->nfs));
	if (!ch->nfs) {
		p->oom = true;
		return;
	}
	for (int i = 0; i < n; i++) {
		const struct cfg_nf *nf = cfg_nf_find(c, tok[i]);

		if (!nf)
			cfg_perr(p, kv->line, "chain '%s': no [nf %s] section", ch->name, tok[i]);
		else
			ch->nfs[ch->nnfs++] = (int)(nf - c->nfs);
	}
}

void cfg_load_chain(struct cfg_parser *p, struct cfg *c, struct cfg_sect *s)
{
	static const char *const known[] = { "id", "match", "nfs", "output", "gpu", "priority", "fail", "backend",
					     "max_wait_us", "latency_target_us", "hybrid_pps", "inflight", "gpu_mode",
					     "gpu_mem", "gpu_agent", NULL };
	struct cfg_chain *ch = &c->chains[c->nchains];
	const struct nf_kv *kv;
	unsigned long v;
	int nmatch = 0;

	*ch = (struct cfg_chain){ .line = s->line, .priority = CFG_PRIORITY_DEFAULT, .order = c->nchains,
				  .backend = c->backend, .max_wait_us = c->max_wait_us, .hybrid_pps = c->hybrid_pps,
				  .inflight = c->inflight, .gpu_opts = c->gpu_opts };
	ch->name = s->name;
	s->name = NULL;
	c->nchains++;
	cfg_check_keys(p, s, "[chain]", known, "match");

	if (!(kv = cfg_sect_get(s, "id"))) {
		cfg_perr(p, s->line, "chain '%s' needs 'id' (1..%d)", ch->name, CFG_MAX_CHAINS);
	} else if (cfg_parse_ulong(kv->value, 1, CFG_MAX_CHAINS, &v)) {
		cfg_perr(p, kv->line, "id must be an integer in 1..%d, got '%s'", CFG_MAX_CHAINS, kv->value);
	} else {
		ch->id = (uint32_t)v;
		for (int i = 0; i < c->nchains - 1; i++)
			if (c->chains[i].id == ch->id)
				cfg_perr(p, kv->line, "id %u is already used by chain '%s' (line %d)", ch->id,
				     c->chains[i].name, c->chains[i].line);
	}

	for (int i = 0; i < s->nkv; i++)
		nmatch += !strcmp(s->kv[i].key, "match");
	if (!nmatch)
		cfg_perr(p, s->line, "chain '%s' needs at least one 'match' (use 'match = any' for all traffic)",
		     ch->name);
	else if (nmatch > CFG_MAX_MATCH)
		cfg_perr(p, s->line, "chain '%s' has more than %d match lines", ch->name, CFG_MAX_MATCH);
	else if (!(ch->match = calloc((size_t)nmatch, sizeof(*ch->match))))
		p->oom = true;
	else
		for (int i = 0; i < s->nkv; i++)
			if (!strcmp(s->kv[i].key, "match"))
				parse_match(p, c, &s->kv[i], &ch->match[ch->nmatch++]);

	if ((kv = cfg_sect_get(s, "nfs")))
		load_nfs_list(p, c, ch, kv);

	if (!(kv = cfg_sect_get(s, "output")))
		cfg_perr(p, s->line, "chain '%s' needs 'output' (a port number or interface name)", ch->name);
	else if (!(ch->output = port_index(c, kv->value)))
		cfg_perr(p, kv->line, "output '%s' is not a port number 1..%d or a name in ports", kv->value,
		     c->nports);

	if (cfg_get_ulong(p, s, "gpu", 0, CFG_MAX_GPU, "a device index", "", &v))
		ch->gpu = (int)v;
	if (cfg_get_ulong(p, s, "priority", 0, CFG_PRIORITY_MAX, "an integer in", "", &v))
		ch->priority = (int)v;
	cfg_load_fail(p, s, &ch->fail);
	cfg_load_backend(p, s, &ch->backend);
	cfg_load_elastic(p, s, &ch->max_wait_us, &ch->latency_target_us, &ch->hybrid_pps, &ch->inflight);
	cfg_load_gpu_opts(p, s, &ch->gpu_opts, false);
}

/* ---- across chains ---- */

/*
 * Each GPU holds its own copy of an NF's state. For ipsec_esp that would mean two
 * sequence counters (reused numbers on the wire) or two replay windows, so one
 * SA may serve chains on one GPU only.
 */
static void check_gpu_sharing(struct cfg_parser *p, const struct cfg *c)
{
	for (int a = 0; a < c->nchains; a++) {
		for (int b = a + 1; b < c->nchains; b++) {
			const struct cfg_chain *x = &c->chains[a], *y = &c->chains[b];

			if (x->gpu == y->gpu)
				continue;
			for (int i = 0; i < x->nnfs; i++) {
				for (int j = 0; j < y->nnfs; j++) {
					const struct cfg_nf *nf = &c->nfs[x->nfs[i]];

					if (x->nfs[i] != y->nfs[j] || !nf->type || strcmp(nf->type, "ipsec_esp"))
						continue;
					cfg_perr(p, y->line, "chain '%s' (gpu %d) and chain '%s' (gpu %d) share ipsec_esp nf '%s': "
					     "an SA's sequence numbers and replay window must live on one GPU; give each GPU its own [nf]",
					     y->name, y->gpu, x->name, x->gpu, nf->name);
				}
			}
		}
	}
}

/*
 * A hybrid chain's NF states move between host memory and the GPU with the
 * chain: another chain using the same [nf] would keep a copy that no longer
 * sees its updates (and ESP would reuse sequence numbers).
 */
static void check_hybrid_sharing(struct cfg_parser *p, const struct cfg *c)
{
	for (int a = 0; a < c->nchains; a++) {
		for (int b = 0; b < c->nchains; b++) {
			const struct cfg_chain *x = &c->chains[a], *y = &c->chains[b];

			if (a == b || x->backend != CFG_BACKEND_HYBRID || (y->backend == CFG_BACKEND_HYBRID && b < a))
				continue;
			for (int i = 0; i < x->nnfs; i++) {
				for (int j = 0; j < y->nnfs; j++) {
					if (x->nfs[i] != y->nfs[j])
						continue;
					cfg_perr(p, (a > b ? x : y)->line, "chain '%s' (backend hybrid) and chain '%s' share nf '%s': "
					     "a hybrid chain carries its NF states between the host and the GPU; give it its own [nf]",
					     x->name, y->name, c->nfs[x->nfs[i]].name);
				}
			}
		}
	}
}

void cfg_check_chains(struct cfg_parser *p, const struct cfg *c)
{
	check_gpu_sharing(p, c);
	check_hybrid_sharing(p, c);
}
