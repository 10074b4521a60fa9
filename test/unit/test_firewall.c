// SPDX-License-Identifier: GPL-2.0
/*
 * firewall: random rule sets are written as rules-file text, loaded through the
 * registry, and checked on random packets against a naive first-match scan over
 * the test's own rule records; plus counters, fragments and parser errors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent.h"
#include "registry.h"
#include "testlib.h"

static uint64_t rng_state;

static uint64_t rnd(void) { return tl_rnd(&rng_state); }

/* The test's own view of a rule: -1 means any. */
struct t_rule {
	int deny;
	int proto;
	int64_t src, dst; /* address, or -1 */
	int src_len, dst_len;
	int sport_lo, sport_hi, dport_lo, dport_hi; /* -1: any */
};

struct t_pkt {
	uint32_t src, dst;
	int proto;
	int sport, dport; /* as the ACL must see them (0 when not applicable) */
};

static const uint32_t addr_pool[] = { 0x0a000001, 0x0a000102, 0x0a00ff03, 0xc0a80101, 0xc0a801fe, 0x08080808, 0xac100001 };
static const int port_pool[] = { 0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65535 };
static const int proto_pool[] = { NF_IPPROTO_TCP, NF_IPPROTO_UDP, NF_IPPROTO_ICMP, 47 };

static uint32_t mask_of(int len)
{
	return len ? ~0u << (32 - len) : 0;
}

static uint32_t pick_addr(void)
{
	uint32_t a = addr_pool[rnd() % (sizeof(addr_pool) / sizeof(addr_pool[0]))];
	return rnd() % 4 ? a : a ^ (uint32_t)(1u << (rnd() % 32));
}

static int pick_port(void)
{
	return rnd() % 4 ? port_pool[rnd() % (sizeof(port_pool) / sizeof(port_pool[0]))] : (int)(rnd() % 65536);
}

/* specific: most fields set and long prefixes, so first matches sit deep in big sets. */
static void random_rule(struct t_rule *r, int specific)
{
	uint64_t any_odds = specific ? 8 : 2;

	memset(r, 0, sizeof(*r));
	r->deny = (int)(rnd() % 2);
	r->proto = rnd() % (specific ? 4 : 3) == 0 ? proto_pool[rnd() % 4] : -1;
	if (specific && rnd() % 2)
		r->proto = proto_pool[rnd() % 2];
	r->src = -1;
	r->dst = -1;
	if (rnd() % any_odds) {
		r->src_len = specific ? 16 + (int)(rnd() % 17) : (int)(rnd() % 33);
		r->src = pick_addr() & mask_of(r->src_len);
	}
	if (rnd() % any_odds) {
		r->dst_len = specific ? 16 + (int)(rnd() % 17) : (int)(rnd() % 33);
		r->dst = pick_addr() & mask_of(r->dst_len);
	}
	r->sport_lo = r->sport_hi = r->dport_lo = r->dport_hi = -1;
	if (r->proto == -1 || r->proto == NF_IPPROTO_TCP || r->proto == NF_IPPROTO_UDP) {
		if (rnd() % 3 == 0) {
			int a = pick_port(), b = rnd() % 2 ? a : pick_port();
			r->sport_lo = a < b ? a : b;
			r->sport_hi = a < b ? b : a;
		}
		if (rnd() % 2) {
			int a = pick_port(), b = rnd() % 2 ? a : pick_port();
			r->dport_lo = a < b ? a : b;
			r->dport_hi = a < b ? b : a;
		}
	}
}

static void fprint_addr(FILE *f, const char *kw, int64_t a, int len)
{
	if (a < 0) {
		if (rnd() % 2)
			fprintf(f, " %s any", kw);
		return;
	}
	fprintf(f, " %s %u.%u.%u.%u", kw, (uint32_t)(a >> 24), (uint32_t)(a >> 16) & 255, (uint32_t)(a >> 8) & 255,
		(uint32_t)a & 255);
	if (len != 32 || rnd() % 2)
		fprintf(f, "/%d", len);
}

static void fprint_ports(FILE *f, const char *kw, int lo, int hi)
{
	if (lo < 0) {
		if (rnd() % 2)
			fprintf(f, " %s any", kw);
	} else if (lo == hi && rnd() % 2) {
		fprintf(f, " %s %d", kw, lo);
	} else {
		fprintf(f, " %s %d-%d", kw, lo, hi);
	}
}

/* One rule as text, fields in a random order. */
static void fprint_rule(FILE *f, const struct t_rule *r)
{
	int order[5] = { 0, 1, 2, 3, 4 };

	for (int i = 4; i > 0; i--) {
		int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	fprintf(f, "%s", r->deny ? "deny" : "allow");
	for (int i = 0; i < 5; i++) {
		switch (order[i]) {
		case 0:
			if (r->proto == NF_IPPROTO_TCP)
				fprintf(f, " proto tcp");
			else if (r->proto == NF_IPPROTO_UDP)
				fprintf(f, " proto udp");
			else if (r->proto == NF_IPPROTO_ICMP)
				fprintf(f, " proto icmp");
			else if (r->proto >= 0)
				fprintf(f, " proto %d", r->proto);
			else if (rnd() % 2)
				fprintf(f, " proto any");
			break;
		case 1:
			fprint_addr(f, "src", r->src, r->src_len);
			break;
		case 2:
			fprint_addr(f, "dst", r->dst, r->dst_len);
			break;
		case 3:
			fprint_ports(f, "sport", r->sport_lo, r->sport_hi);
			break;
		case 4:
			fprint_ports(f, "dport", r->dport_lo, r->dport_hi);
			break;
		}
	}
	fprintf(f, "%s\n", rnd() % 4 ? "" : "   # note");
}

/* The oracle: first rule that matches, else the default. *depth: rules scanned. */
static int naive_deny(const struct t_rule *r, size_t n, const struct t_pkt *p, int dflt_deny, size_t *depth)
{
	for (size_t i = 0; i < n; i++) {
		*depth += 1;
		if (r[i].proto >= 0 && r[i].proto != p->proto)
			continue;
		if (r[i].src >= 0 && (p->src & mask_of(r[i].src_len)) != (uint32_t)r[i].src)
			continue;
		if (r[i].dst >= 0 && (p->dst & mask_of(r[i].dst_len)) != (uint32_t)r[i].dst)
			continue;
		if (r[i].sport_lo >= 0 && (p->sport < r[i].sport_lo || p->sport > r[i].sport_hi))
			continue;
		if (r[i].dport_lo >= 0 && (p->dport < r[i].dport_lo || p->dport > r[i].dport_hi))
			continue;
		return r[i].deny;
	}
	return dflt_deny;
}

/*
 * A random packet into f, its expected ACL view into tp; returns the frame length.
 * Non-first fragments and L4 headers cut short by the IP total length see ports 0.
 */
static uint32_t random_packet(uint8_t *f, struct t_pkt *tp)
{
	int vlan = rnd() % 5 == 0, opts = rnd() % 4 == 0 ? (int)(rnd() % 11) : 0;
	uint32_t l3 = NF_ETH_HLEN + (vlan ? 4 : 0), ihl = 20 + 4 * (uint32_t)opts;
	int frag = rnd() % 8 == 0, short_l4 = rnd() % 16 == 0;
	uint32_t l4len = short_l4 ? (uint32_t)(rnd() % 4) : 8 + (uint32_t)(rnd() % 40);
	uint32_t tot = ihl + l4len;
	int sport = pick_port(), dport = pick_port();

	tp->proto = rnd() % 8 ? proto_pool[rnd() % 2] : proto_pool[rnd() % 4];
	tp->src = pick_addr();
	tp->dst = pick_addr();
	memset(f, 0, l3 + tot + 8);
	nf_put16(f + 12, vlan ? NF_ETH_P_8021Q : NF_ETH_P_IP);
	if (vlan)
		nf_put16(f + 16, NF_ETH_P_IP);
	uint8_t *ip = f + l3;
	ip[0] = (uint8_t)(0x40 | (ihl / 4));
	nf_put16(ip + 2, (uint16_t)tot);
	if (frag)
		nf_put16(ip + 6, (uint16_t)(1 + rnd() % 0x1fff) | (rnd() % 2 ? 0x2000 : 0));
	else if (rnd() % 4 == 0)
		nf_put16(ip + 6, 0x2000); /* first fragment: ports present */
	ip[8] = 64;
	ip[9] = (uint8_t)tp->proto;
	nf_put32(ip + 12, tp->src);
	nf_put32(ip + 16, tp->dst);
	for (uint32_t i = 0; i < l4len; i++)
		ip[ihl + i] = (uint8_t)rnd();
	if (l4len >= 4) {
		nf_put16(ip + ihl, (uint16_t)sport);
		nf_put16(ip + ihl + 2, (uint16_t)dport);
	}
	int ports = (tp->proto == NF_IPPROTO_TCP || tp->proto == NF_IPPROTO_UDP) && !frag && l4len >= 4;
	tp->sport = ports ? sport : 0;
	tp->dport = ports ? dport : 0;
	/* Trailing Ethernet padding beyond the IP total length must not be read as ports. */
	return l3 + tot + (short_l4 ? 8 : 0);
}

static struct nf_hdr *load(const char *dir, const char *rules_value, const char *dflt, char *err, size_t errlen, int *rc)
{
	struct nf_kv kv[] = { { "rules", rules_value, 11 }, { "default", dflt, 12 } };
	struct nf_cfg cfg = { .name = "fw", .file = "chains.ini", .line = 10, .kv = kv, .nkv = dflt ? 2 : 1, .base_dir = dir };
	struct nf_hdr *h = NULL;

	cr_assert(nf_ops_find("firewall"));
	*rc = nf_ops_find("firewall")->build(&cfg, &h, err, errlen);
	return h;
}

Test(firewall, matches_naive_first_match)
{
	char dir[] = "/tmp/gen-fw-XXXXXX", path[256], err[512] = "";
	uint8_t f[256];
	size_t checked = 0;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/acl.rules", dir);
	rng_state = 0x5eedf001;
	for (int set = 0; set < 12; set++) {
		size_t n = set == 0 ? 0 : set < 4 ? 1 + rnd() % 10 : 1 + rnd() % 1000;
		struct t_rule *r = calloc(n + 1, sizeof(*r));
		int dflt_deny = (int)(rnd() % 2), rc;
		FILE *fp = fopen(path, "w");

		cr_assert(r && fp);
		fprintf(fp, "# random set %d\n", set);
		for (size_t i = 0; i < n; i++) {
			random_rule(&r[i], set >= 6);
			fprint_rule(fp, &r[i]);
		}
		fclose(fp);
		struct nf_hdr *h = load(dir, "acl.rules", dflt_deny ? "deny" : "allow", err, sizeof(err), &rc);
		cr_assert_eq(rc, 0, "set %d: %s", set, err);
		struct nf_firewall *st = (struct nf_firewall *)h;
		cr_assert_eq(st->nrules, n);
		uint64_t want_denied = 0, want_allowed = 0;
		size_t depth = 0;
		for (int i = 0; i < 10000; i++) {
			struct t_pkt tp;
			uint32_t len = random_packet(f, &tp);
			struct nf_pkt p = { .buf = f, .off = 0, .len = len, .cap = sizeof(f) };
			int want = naive_deny(r, n, &tp, dflt_deny, &depth);
			int got = nf_firewall_run(st, &p);

			if (got != (want ? NF_DROP : NF_PASS))
				cr_assert_fail("set %d (%zu rules) packet %d: proto %d %08x:%d -> %08x:%d: got %s, oracle %s",
					       set, n, i, tp.proto, tp.src, tp.sport, tp.dst, tp.dport,
					       got == NF_PASS ? "pass" : "drop", want ? "deny" : "allow");
			want_denied += want;
			want_allowed += !want;
			checked++;
		}
		cr_log_info("set %d: %zu rules, first match after %.1f rules on average", set, n, depth / 10000.0);
		cr_expect_eq(st->counters[FW_C_DENIED], want_denied);
		cr_expect_eq(st->counters[FW_C_ALLOWED], want_allowed);
		free(h);
		free(r);
	}
	cr_assert_geq(checked, 100000);
	unlink(path);
	rmdir(dir);
}

Test(firewall, non_ipv4_follows_default)
{
	char dir[] = "/tmp/gen-fw-XXXXXX", path[256], err[512] = "";
	uint8_t f[64] = { 0 };
	int rc;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.rules", dir);
	FILE *fp = fopen(path, "w");
	cr_assert(fp);
	fprintf(fp, "deny\n");
	fclose(fp);
	for (int d = 0; d < 2; d++) {
		struct nf_hdr *h = load(dir, "a.rules", d ? "deny" : "allow", err, sizeof(err), &rc);
		cr_assert_eq(rc, 0, "%s", err);
		struct nf_firewall *st = (struct nf_firewall *)h;
		nf_put16(f + 12, 0x86dd);
		struct nf_pkt p = { .buf = f, .len = sizeof(f), .cap = sizeof(f) };
		cr_expect_eq(nf_firewall_run(st, &p), d ? NF_DROP : NF_PASS);
		p.len = 0;
		cr_expect_eq(nf_firewall_run(st, &p), d ? NF_DROP : NF_PASS);
		cr_expect_eq(st->counters[FW_C_NOT_IPV4], 2);
		cr_expect_eq(st->counters[FW_C_ALLOWED] + st->counters[FW_C_DENIED], 0);
		free(h);
	}
	/* Without `default`, the policy is allow. */
	struct nf_hdr *h = load(dir, "a.rules", NULL, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect_eq(((struct nf_firewall *)h)->dflt, FW_ALLOW);
	free(h);
	unlink(path);
	rmdir(dir);
}

Test(firewall, parser_errors_name_file_and_line)
{
	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
		{ "allow\npermit proto tcp\n", ":2: a rule starts with allow or deny" },
		{ "deny proto tcpx\n", ":1: proto must be" },
		{ "deny proto 256\n", ":1: proto must be" },
		{ "# c\n\ndeny src 10.0.0.1/8\n", ":3: host bits" },
		{ "deny dst 10.0.0.0/40\n", ":1: prefix length" },
		{ "deny dst 10.0.0\n", ":1: not an IPv4" },
		{ "deny dport 80-22\n", ":1: port range is reversed" },
		{ "deny dport 65536\n", ":1: ports must be" },
		{ "deny sport -1\n", ":1: ports must be" },
		{ "deny proto icmp dport 80\n", ":1: ports need proto tcp, udp or any" },
		{ "deny src any src any\n", ":1: field given twice" },
		{ "deny dst\n", ":1: field without a value" },
		{ "deny from 10.0.0.0/8\n", ":1: unknown field" },
	};
	char dir[] = "/tmp/gen-fw-XXXXXX", path[256], err[512];
	int rc;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bad.rules", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *fp = fopen(path, "w");
		cr_assert(fp);
		fputs(bad[i].text, fp);
		fclose(fp);
		err[0] = 0;
		struct nf_hdr *h = load(dir, "bad.rules", "deny", err, sizeof(err), &rc);
		cr_expect_eq(rc, -EINVAL, "case %zu accepted", i);
		cr_expect(!h);
		cr_expect(!strncmp(err, path, strlen(path)) && strstr(err, bad[i].want), "case %zu: got '%s', want '%s%s'",
			  i, err, path, bad[i].want);
	}
	/* chains.ini errors: bad default, unknown key, missing rules, missing file. */
	struct nf_hdr *h = load(dir, "bad.rules", "block", err, sizeof(err), &rc);
	cr_expect(rc == -EINVAL && strstr(err, "chains.ini:12:"), "%s", err);
	h = load(dir, "missing.rules", "deny", err, sizeof(err), &rc);
	cr_expect(rc == -ENOENT && strstr(err, "chains.ini:11:"), "%s", err);
	struct nf_kv kv[] = { { "rule", "x", 13 } };
	struct nf_cfg cfg = { .name = "fw", .file = "chains.ini", .line = 10, .kv = kv, .nkv = 1, .base_dir = dir };
	cr_expect_eq(nf_ops_find("firewall")->build(&cfg, &h, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "chains.ini:13:"), "%s", err);
	cfg.nkv = 0;
	cr_expect_eq(nf_ops_find("firewall")->build(&cfg, &h, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "chains.ini:10:") && strstr(err, "rules"), "%s", err);
	unlink(path);
	rmdir(dir);
}

Test(firewall, shipped_example_parses)
{
	struct nf_hdr *h = NULL;
	char err[512];

	char path[4096];

	cr_assert_eq(tl_source_path("etc/gen/firewall.example", path, sizeof(path)), 0, "%s: not found", path);
	cr_assert_eq(nf_fw_load(path, FW_DENY, &h, err, sizeof(err)), 0, "%s", err);
	cr_expect_gt(((struct nf_firewall *)h)->nrules, 0);
	free(h);
}
