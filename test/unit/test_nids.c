// SPDX-License-Identifier: GPL-2.0
/*
 * nids NF against expectations and against a naive reference matcher written
 * here: rule by rule, every content searched position by position with full
 * backtracking, headers checked from the test's own knowledge of each frame.
 */
#include <criterion/criterion.h>
#include "testlib.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nids_build.h"
#include "registry.h"

/* The Snort community rules (shared data): testlib.h finds them; tests skip without them, except in CI. */
#define COMMUNITY tl_community_rules(NULL)


/* ---- frames ------------------------------------------------------------------- */

struct pk {
	uint16_t ethertype; /* 0: IPv4 */
	uint8_t proto;
	uint8_t tcp_opt_words; /* extra 32-bit words of TCP options */
	uint16_t frag;          /* IPv4 fragment offset field */
	uint32_t sa, da;
	uint16_t sp, dp;
	const uint8_t *pay;
	uint32_t plen;
};

/* Frame as the NF sees it; also where the test says the payloads are. */
struct frame {
	uint8_t buf[2048];
	uint32_t len;
	const uint8_t *l3;
	uint32_t l3_len;
	const uint8_t *l4;
	uint32_t l4_len;
	int has_l4;
};

static uint64_t rnd_state = 0x2545f491;
static uint32_t rnd(void) { return (uint32_t)(tl_rnd(&rnd_state) >> 32); }

static void mk_frame(struct frame *f, const struct pk *k)
{
	uint8_t *d = f->buf, *ip = d + 14, *l4 = ip + 20;
	uint32_t hl = 0;

	memset(d, 0, 14);
	d[12] = k->ethertype ? k->ethertype >> 8 : 0x08;
	d[13] = k->ethertype ? k->ethertype & 0xff : 0x00;
	if (k->proto == 6)
		hl = 20 + 4u * k->tcp_opt_words;
	else if (k->proto == 17 || k->proto == 1)
		hl = 8;
	memset(l4, 0, hl);
	if (k->proto == 6 || k->proto == 17) {
		l4[0] = k->sp >> 8;
		l4[1] = k->sp & 0xff;
		l4[2] = k->dp >> 8;
		l4[3] = k->dp & 0xff;
	}
	if (k->proto == 6) {
		l4[12] = (uint8_t)((hl / 4) << 4);
		for (uint32_t i = 20; i < hl; i++)
			l4[i] = (uint8_t)rnd();
	}
	if (k->proto == 1)
		l4[0] = 8;
	memcpy(l4 + hl, k->pay, k->plen);
	uint32_t tot = 20 + hl + k->plen;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = tot >> 8;
	ip[3] = tot & 0xff;
	ip[6] = k->frag >> 8;
	ip[7] = k->frag & 0xff;
	ip[8] = 64;
	ip[9] = k->proto;
	for (int i = 0; i < 4; i++) {
		ip[12 + i] = (uint8_t)(k->sa >> (24 - 8 * i));
		ip[16 + i] = (uint8_t)(k->da >> (24 - 8 * i));
	}
	f->len = 14 + tot;
	f->l3 = l4;
	f->l3_len = hl + k->plen;
	f->l4 = l4 + hl;
	f->l4_len = k->plen;
	f->has_l4 = (k->proto == 6 || k->proto == 17 || k->proto == 1) && !(k->frag & 0x1fff);
}

/* ---- reference matcher ----------------------------------------------------------- */

static int o_byte_eq(uint8_t a, uint8_t b, int nocase)
{
	if (nocase && a >= 'A' && a <= 'Z')
		a += 32;
	if (nocase && b >= 'A' && b <= 'Z')
		b += 32;
	return a == b;
}

static int o_at(const uint8_t *b, long p, const struct nids_src_content *c)
{
	for (long i = 0; i < c->len; i++)
		if (!o_byte_eq(b[p + i], c->bytes[i], c->flags & NIDS_CF_NOCASE))
			return 0;
	return 1;
}

/* Contents k.. match with the previous positive match ending at cursor. */
static int o_match(const struct nids_src_rule *r, int k, long cursor, const uint8_t *b, long len)
{
	if (k == r->ncontents)
		return 1;
	const struct nids_src_content *c = &r->c[k];
	long lo, hi;
	if (c->flags & (NIDS_CF_DISTANCE | NIDS_CF_WITHIN)) {
		lo = cursor + ((c->flags & NIDS_CF_DISTANCE) ? c->distance : 0);
		hi = (c->flags & NIDS_CF_WITHIN) ? lo + c->within : len;
	} else {
		lo = (c->flags & NIDS_CF_OFFSET) ? c->offset : 0;
		hi = (c->flags & NIDS_CF_DEPTH) ? lo + c->depth : len;
	}
	lo = lo < 0 ? 0 : lo;
	hi = hi > len ? len : hi;
	if (c->flags & NIDS_CF_NEGATED) {
		for (long p = lo; p + c->len <= hi; p++)
			if (o_at(b, p, c))
				return 0;
		return o_match(r, k + 1, cursor, b, len);
	}
	for (long p = lo; p + c->len <= hi; p++)
		if (o_at(b, p, c) && o_match(r, k + 1, p + c->len, b, len))
			return 1;
	return 0;
}

static int o_spec(const struct nids_src_spec *s, uint32_t v, int port)
{
	int pos = 0, inpos = 0, inneg = 0;
	for (int i = 0; i < s->n; i++) {
		int in, neg;
		if (port) {
			in = v >= s->ports[i].lo && v <= s->ports[i].hi;
			neg = s->ports[i].neg;
		} else {
			in = (v & s->addrs[i].mask) == s->addrs[i].net;
			neg = s->addrs[i].neg;
		}
		if (neg)
			inneg |= in;
		else {
			pos = 1;
			inpos |= in;
		}
	}
	int m = s->n == 0 || ((!pos || inpos) && !inneg);
	return s->neg ? !m : m;
}

static int o_dir(const struct nids_src_rule *r, const struct pk *k, int swap)
{
	uint32_t sa = swap ? k->da : k->sa, da = swap ? k->sa : k->da;
	uint16_t sp = swap ? k->dp : k->sp, dp = swap ? k->sp : k->dp;
	int ports = r->proto == 6 || r->proto == 17;
	return o_spec(&r->src, sa, 0) && o_spec(&r->dst, da, 0) &&
	       (!ports || (o_spec(&r->sport, sp, 1) && o_spec(&r->dport, dp, 1)));
}

/* Folded copies for a quick necessary test (each positive content occurs somewhere). */
static uint8_t *fold_dup(const uint8_t *s, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i];
	return d;
}

struct oracle {
	const struct nids_ruleset *rs;
	uint8_t **folded; /* per content, flattened: rule i content k at folded[i * MAX + k] */
};

static void oracle_init(struct oracle *o, const struct nids_ruleset *rs)
{
	o->rs = rs;
	o->folded = calloc(rs->n * NIDS_MAX_CONTENTS, sizeof(uint8_t *));
	for (size_t i = 0; i < rs->n; i++)
		for (int k = 0; k < rs->rules[i].ncontents; k++)
			o->folded[i * NIDS_MAX_CONTENTS + k] = fold_dup(rs->rules[i].c[k].bytes, rs->rules[i].c[k].len);
}

static void oracle_fini(struct oracle *o)
{
	for (size_t i = 0; i < o->rs->n * NIDS_MAX_CONTENTS; i++)
		free(o->folded[i]);
	free(o->folded);
}

/* Fill fired[i] for every rule the packet fires; returns how many. */
static int oracle_run(const struct oracle *o, const struct pk *k, const struct frame *f, uint8_t *fired)
{
	int n = 0;
	uint8_t *f3 = fold_dup(f->l3, f->l3_len), *f4 = f3 + (f->l4 - f->l3);

	memset(fired, 0, o->rs->n);
	if (k->ethertype)
		goto out;
	for (size_t i = 0; i < o->rs->n; i++) {
		const struct nids_src_rule *r = &o->rs->rules[i];
		const uint8_t *b = f->l3, *fb = f3;
		long len = f->l3_len;
		if (r->proto) {
			if (r->proto != k->proto || !f->has_l4)
				continue;
			b = f->l4;
			fb = f4;
			len = f->l4_len;
		}
		if (!o_dir(r, k, 0) && !((r->flags & NIDS_RF_BIDIR) && o_dir(r, k, 1)))
			continue;
		int possible = 1;
		for (int c = 0; c < r->ncontents && possible; c++) {
			const struct nids_src_content *ct = &r->c[c];
			if (ct->flags & NIDS_CF_NEGATED)
				continue;
			possible = memmem(fb, (size_t)len, o->folded[i * NIDS_MAX_CONTENTS + c], ct->len) != NULL;
		}
		if (possible && o_match(r, 0, 0, b, len)) {
			fired[i] = 1;
			n++;
		}
	}
out:
	free(f3);
	return n;
}

/* Rules the NF fired on this frame: the per-rule counters that moved. */
static int nf_fired(struct nf_hdr *h, uint64_t *snap, struct frame *f, uint8_t *fired, int *verdict)
{
	struct nf_nids *st = (struct nf_nids *)h;
	uint64_t *al = NF_AT(st, st->alerts_off, uint64_t *);
	struct nf_pkt p = { .buf = f->buf, .off = 0, .len = f->len, .cap = sizeof(f->buf) };
	int n = 0;

	*verdict = nf_nids_run(h, &p);
	for (uint32_t i = 0; i < st->nrules; i++) {
		fired[i] = (uint8_t)(al[i] - snap[i]);
		cr_assert(fired[i] <= 1, "rule %u fired %u times on one packet", i, fired[i]);
		n += fired[i];
		snap[i] = al[i];
	}
	return n;
}

/* ---- packet generators -------------------------------------------------------------- */

static void random_fill(uint8_t *b, uint32_t n)
{
	/* Mix of text-like and binary bytes, so partial matches are common. */
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 /.:=&?%-_\r\n";
	int text = rnd() & 1;
	for (uint32_t i = 0; i < n; i++)
		b[i] = text ? (uint8_t)alpha[rnd() % (sizeof(alpha) - 1)] : (uint8_t)rnd();
}

static uint16_t pick_port(const struct nids_src_spec *s)
{
	if (s->n && !s->neg && !s->ports[0].neg && (rnd() % 4))
		return (uint16_t)(s->ports[0].lo + rnd() % (s->ports[0].hi - s->ports[0].lo + 1u));
	return (uint16_t)rnd();
}

static uint32_t pick_addr(const struct nids_src_spec *s)
{
	if (s->n && !s->neg && !s->addrs[0].neg && (rnd() % 4))
		return s->addrs[0].net | (rnd() & ~s->addrs[0].mask);
	return rnd();
}

static void random_header(struct pk *k)
{
	uint32_t x = rnd() % 100;
	memset(k, 0, sizeof(*k));
	k->proto = x < 80 ? 6 : x < 90 ? 17 : x < 97 ? 1 : 47;
	k->tcp_opt_words = (rnd() % 4 == 0) ? (uint8_t)(rnd() % 11) : 0;
	k->frag = (rnd() % 200 == 0) ? 0x0100 : 0;
	k->sa = rnd();
	k->da = rnd();
	k->sp = (uint16_t)rnd();
	k->dp = (rnd() & 1) ? 80 : (uint16_t)rnd();
}

static uint32_t random_len(void)
{
	uint32_t x = rnd() % 100;
	return x < 50 ? rnd() % 128 : x < 90 ? 128 + rnd() % 384 : 512 + rnd() % 948;
}

/* A payload built to hold rule r's positive contents where its modifiers ask. */
static void constructed(const struct nids_src_rule *r, struct pk *k, uint8_t *pay)
{
	long cursor = 0, maxend = 0;

	random_header(k);
	if (r->proto)
		k->proto = r->proto;
	k->frag = 0;
	int swap = (r->flags & NIDS_RF_BIDIR) && (rnd() & 1);
	uint32_t sa = pick_addr(&r->src), da = pick_addr(&r->dst);
	uint16_t sp = pick_port(&r->sport), dp = pick_port(&r->dport);
	k->sa = swap ? da : sa;
	k->da = swap ? sa : da;
	k->sp = swap ? dp : sp;
	k->dp = swap ? sp : dp;
	random_fill(pay, 1460);
	for (int i = 0; i < r->ncontents; i++) {
		const struct nids_src_content *c = &r->c[i];
		long lo, hi;
		if (c->flags & NIDS_CF_NEGATED)
			continue;
		if (c->flags & NIDS_CF_RELATIVE) {
			lo = cursor + c->distance;
			hi = (c->flags & NIDS_CF_WITHIN) ? lo + c->within : lo + c->len + 16;
		} else {
			lo = c->offset;
			hi = (c->flags & NIDS_CF_DEPTH) ? lo + c->depth : lo + c->len + 64;
		}
		if (lo < 0)
			lo = 0;
		long room = hi - lo - c->len;
		long p = lo + (room > 0 ? (long)(rnd() % (uint32_t)(room + 1)) : 0);
		if (p + c->len > 1460)
			break;
		for (int j = 0; j < c->len; j++) {
			uint8_t b = c->bytes[j];
			if ((c->flags & NIDS_CF_NOCASE) && (rnd() & 1) && b >= 'a' && b <= 'z')
				b -= 32;
			else if ((c->flags & NIDS_CF_NOCASE) && (rnd() & 1) && b >= 'A' && b <= 'Z')
				b += 32;
			pay[p + j] = b;
		}
		cursor = p + c->len;
		if (cursor > maxend)
			maxend = cursor;
	}
	k->plen = (uint32_t)maxend + (rnd() % 3 ? rnd() % 64 : 0);
	if (k->plen > 1460)
		k->plen = 1460;
	k->pay = pay;
}

/* ---- comparison driver ------------------------------------------------------------- */

struct cmp_stats {
	long packets, nf_alerts, oracle_alerts, target_hits;
};

static void compare_run(const struct nids_ruleset *rs, long npkts, int construct, uint32_t seed, struct cmp_stats *cs)
{
	struct nf_hdr *h;
	char err[512];
	struct oracle o;
	uint8_t *want = malloc(rs->n), *got = malloc(rs->n);
	uint64_t *snap = calloc(rs->n, 8);
	uint8_t pay[1460];

	rnd_state = seed;
	cr_assert_eq(nids_compile(rs, NIDS_ACT_ALERT, &h, err, sizeof(err)), 0, "%s", err);
	oracle_init(&o, rs);
	memset(cs, 0, sizeof(*cs));
	for (long n = 0; n < npkts; n++) {
		struct pk k;
		struct frame f;
		size_t target = rnd() % rs->n;
		if (construct) {
			constructed(&rs->rules[target], &k, pay);
		} else {
			random_header(&k);
			k.plen = random_len();
			random_fill(pay, k.plen);
			k.pay = pay;
		}
		mk_frame(&f, &k);
		int v, nw = oracle_run(&o, &k, &f, want), ng = nf_fired(h, snap, &f, got, &v);
		cs->nf_alerts += ng;
		cs->oracle_alerts += nw;
		cs->target_hits += construct && want[target];
		cr_assert_eq(v, NF_PASS);
		for (size_t i = 0; i < rs->n; i++)
			cr_assert_eq(got[i], want[i], "packet %ld (proto %u, %u payload bytes): sid %u line %d nf=%u oracle=%u",
				     n, k.proto, k.plen, rs->rules[i].sid, rs->rules[i].line, got[i], want[i]);
		cs->packets++;
	}
	struct nf_nids *st = (struct nf_nids *)h;
	cr_assert_eq(st->counters[NIDS_C_VERIFY_ABORTED], 0);
	cr_assert_eq(st->counters[NIDS_C_PACKETS], (uint64_t)npkts);
	cr_assert_eq(st->counters[NIDS_C_ALERTS], (uint64_t)cs->nf_alerts);
	oracle_fini(&o);
	free(h);
	free(want);
	free(got);
	free(snap);
}

static struct nids_ruleset community;

static void load_community(void)
{
	char err[512];

	tl_require_community_rules();
	cr_assert_eq(nids_ruleset_load(COMMUNITY, &community, err, sizeof(err)), 0, "%s", err);
	cr_assert_gt(community.n, 3000);
}

static void free_community(void) { nids_ruleset_free(&community); }

TestSuite(nids_community_oracle, .init = load_community, .fini = free_community, .timeout = 900);

Test(nids_community_oracle, random_payloads_a)
{
	struct cmp_stats cs;
	compare_run(&community, 30000, 0, 0x1234567, &cs);
	cr_log_info("random A: %ld packets, %ld alerts (identical)\n", cs.packets, cs.nf_alerts);
}

Test(nids_community_oracle, random_payloads_b)
{
	struct cmp_stats cs;
	compare_run(&community, 30000, 0, 0x89abcdef, &cs);
	cr_log_info("random B: %ld packets, %ld alerts (identical)\n", cs.packets, cs.nf_alerts);
}

Test(nids_community_oracle, constructed_payloads_a)
{
	struct cmp_stats cs;
	compare_run(&community, 25000, 1, 0x5eed, &cs);
	cr_log_info("constructed A: %ld packets, %ld alerts, chosen rule fired in %ld\n", cs.packets, cs.nf_alerts,
		    cs.target_hits);
	/* The construction must work most of the time, or this test proves little. */
	cr_assert_gt(cs.target_hits, cs.packets / 2);
}

Test(nids_community_oracle, constructed_payloads_b)
{
	struct cmp_stats cs;
	compare_run(&community, 25000, 1, 0xfeed, &cs);
	cr_log_info("constructed B: %ld packets, %ld alerts, chosen rule fired in %ld\n", cs.packets, cs.nf_alerts,
		    cs.target_hits);
	cr_assert_gt(cs.target_hits, cs.packets / 2);
}

/* ---- hand-written rules -------------------------------------------------------------- */

static const char hand_rules[] =
	"# hand-written rules, one per feature\n"
	"alert tcp any any -> any 80 (msg:\"plain\"; content:\"attack\"; sid:1001;)\n"
	"alert tcp any any -> any any (msg:\"nocase\"; content:\"EvIl\"; nocase; sid:1002;)\n"
	"alert tcp any any -> any any (msg:\"hex\"; content:\"|de ad|be|ef|\"; sid:1003;)\n"
	"alert tcp any any -> any any (msg:\"offset depth\"; content:\"GET\"; offset:2; depth:5; sid:1004;)\n"
	"alert tcp any any -> any any (msg:\"distance within\"; content:\"abc\"; content:\"xyz\"; distance:2; within:5; sid:1005;)\n"
	"alert tcp any any -> any any (msg:\"negated\"; content:\"login\"; content:!\"guest\"; distance:0; sid:1006;)\n"
	"alert udp any any -> any 53 (msg:\"udp\"; content:\"|07|example\"; sid:1007;)\n"
	"alert icmp any any -> any any (msg:\"icmp\"; content:\"ping-me\"; sid:1008;)\n"
	"alert ip any any -> any any (msg:\"ip\"; content:\"ipword\"; sid:1009;)\n"
	"alert tcp 10.0.0.0/8 any -> ![192.168.0.0/16] [1000:2000,!1500] (msg:\"header\"; content:\"hdr\"; sid:1010;)\n"
	"alert tcp any any <> any 7000 (msg:\"bidir\"; content:\"both\"; sid:1011;)\n"
	"alert tcp any any -> any any (msg:\"backtrack\"; content:\"ab\"; content:\"cd\"; distance:0; within:3; sid:1012;)\n"
	"alert tcp any any -> any any (msg:\"escapes\"; content:\"a\\\"b\\;c\"; sid:1013;)\n"
	"# alert tcp any any -> any any (msg:\"commented\"; content:\"commented-rule\"; sid:1014;)\n"
	"# alert is what this line talks about, it is not a rule\n"
	"alert tcp any any -> any any (msg:\"no content\"; flow:established; sid:1015;)\n"
	"alert tcp any any -> any any (msg:\"pcre\"; content:\"pcreword\"; pcre:\"/x;y/\"; sid:1016;)\n"
	"alert tcp any any -> any any (msg:\"noalert\"; content:\"setbit\"; flowbits:set,x; flowbits:noalert; sid:1017;)\n"
	"alert tcp any any -> any any (msg:\"case\"; content:\"CaSe\"; sid:1018;)\n"
	"alert tcp any any -> any any (msg:\"neg distance\"; content:\"qzz\"; content:\"zzk\"; distance:-2; within:4; sid:1019;)\n"
	"alert tcp any any -> any any (msg:\"http\"; content:\"/cgi-bin/\"; http_uri; fast_pattern:only; sid:1020;)\n"
	"alert tcp any any -> any any (msg:\"negated first\"; content:!\"safe\"; content:\"danger\"; sid:1021;)\n"
	"alert tcp any any -> any [21,2100:2101,21] (msg:\"short, by port\"; content:\"|0a|\"; sid:1022;)\n"
	"alert udp any 5353 <> any any (msg:\"short, by port, bidir\"; content:\"q\"; sid:1023;)\n"
	"alert tcp any any -> any any (msg:\"longer than the indexed prefix\"; content:\"0123456789+-=_~!LONG-TAIL\"; sid:1024;)\n"
	"alert tcp any any -> any 2200 (msg:\"short, anchored\"; content:\"|16 03|\"; depth:2; sid:1025;)\n"
	"alert tcp any any -> any 2201 (msg:\"short, anchored, nocase\"; content:\"Hi\"; nocase; offset:3; depth:2; sid:1026;)\n"
	"alert udp any 2202 -> any any (msg:\"short, relative first\"; content:\"ok\"; distance:2; within:2; sid:1027;)\n"
	"alert tcp any any -> any 2203 (msg:\"short, two positions\"; content:\"zq\"; depth:3; sid:1028;)\n"
	"alert tcp 10.0.0.0/8 any -> any 2204 (msg:\"short, by port, with an address\"; content:\"|aa|\"; sid:1029;)\n"
	"alert tcp any 2205 -> any 2206 (msg:\"short, by port, both sides\"; content:\"|bb|\"; sid:1030;)\n"
	"alert tcp any any -> any 2208 (msg:\"short, by port, nocase anywhere\"; content:\"zZ\"; nocase; sid:1031;)\n";

static char hand_dir[] = "/tmp/gen-nids-XXXXXX";
static char hand_path[256];

static void hand_setup(void)
{
	cr_assert_not_null(mkdtemp(hand_dir));
	snprintf(hand_path, sizeof(hand_path), "%s/local.rules", hand_dir);
	FILE *f = fopen(hand_path, "w");
	cr_assert_not_null(f);
	fputs(hand_rules, f);
	fclose(f);
}

static void hand_teardown(void)
{
	unlink(hand_path);
	rmdir(hand_dir);
}

TestSuite(nids_hand, .init = hand_setup, .fini = hand_teardown);

static uint32_t count_of(const struct nids_count_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return l->v[i].n;
	return 0;
}

Test(nids_hand, load_counts)
{
	struct nids_ruleset rs;
	char err[512];

	cr_assert_eq(nids_ruleset_load(hand_path, &rs, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(rs.seen, 31);
	cr_expect_eq(rs.n, 29);
	cr_expect_eq(rs.skipped, 2);
	cr_expect_eq(rs.commented, 1);
	cr_expect_eq(count_of(&rs.skip_reasons, "no content"), 1);
	cr_expect_eq(count_of(&rs.skip_reasons, "flowbits:noalert (never alerts)"), 1);
	cr_expect_eq(count_of(&rs.unsupported, "pcre"), 1);
	cr_expect_eq(count_of(&rs.ignored, "http_uri"), 1);
	/* The escaped content decodes to the 5 bytes a"b;c. */
	for (size_t i = 0; i < rs.n; i++)
		if (rs.rules[i].sid == 1013)
			cr_expect(rs.rules[i].c[0].len == 5 && !memcmp(rs.rules[i].c[0].bytes, "a\"b;c", 5));
	nids_ruleset_free(&rs);
}

struct hand_case {
	const char *name;
	uint8_t proto;
	uint32_t sa, da;
	uint16_t sp, dp;
	const char *pay;
	int plen; /* -1: strlen */
	uint32_t want[4];
};

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))
static const struct hand_case cases[] = {
	{ "plain", 6, 1, 2, 1234, 80, "xx attack yy", -1, { 1001 } },
	{ "plain wrong port", 6, 1, 2, 1234, 81, "attack", -1, { 0 } },
	{ "nocase", 6, 1, 2, 1, 2, "this is eViL", -1, { 1002 } },
	{ "hex", 6, 1, 2, 1, 2, "\xde\xad" "be\xef", 5, { 1003 } },
	{ "offset depth in", 6, 1, 2, 1, 2, "xxGET", -1, { 1004 } },
	{ "depth exceeded", 6, 1, 2, 1, 2, "xxxxxGET", -1, { 0 } },
	{ "before offset", 6, 1, 2, 1, 2, "GETxx", -1, { 0 } },
	{ "distance within", 6, 1, 2, 1, 2, "abc..xyz", -1, { 1005 } },
	{ "distance too short", 6, 1, 2, 1, 2, "abcxyz", -1, { 0 } },
	{ "within exceeded", 6, 1, 2, 1, 2, "abc.....xyz", -1, { 0 } },
	{ "negated absent", 6, 1, 2, 1, 2, "login admin", -1, { 1006 } },
	{ "negated present", 6, 1, 2, 1, 2, "login guest", -1, { 0 } },
	{ "negated before cursor", 6, 1, 2, 1, 2, "guest login", -1, { 1006 } },
	{ "udp", 17, 1, 2, 5000, 53, "\x07" "example", -1, { 1007 } },
	{ "udp rule on tcp", 6, 1, 2, 5000, 53, "\x07" "example", -1, { 0 } },
	{ "icmp", 1, 1, 2, 0, 0, "ping-me", -1, { 1008 } },
	{ "ip rule on tcp", 6, 1, 2, 1, 2, "ipword", -1, { 1009 } },
	{ "ip rule on other proto", 47, 1, 2, 0, 0, "ipword", -1, { 1009 } },
	{ "header match", 6, IP(10, 1, 2, 3), IP(172, 16, 0, 1), 9, 1200, "hdr", -1, { 1010 } },
	{ "header excluded port", 6, IP(10, 1, 2, 3), IP(172, 16, 0, 1), 9, 1500, "hdr", -1, { 0 } },
	{ "header negated dst", 6, IP(10, 1, 2, 3), IP(192, 168, 1, 1), 9, 1200, "hdr", -1, { 0 } },
	{ "header wrong src", 6, IP(11, 0, 0, 1), IP(172, 16, 0, 1), 9, 1200, "hdr", -1, { 0 } },
	{ "bidir forward", 6, 1, 2, 1234, 7000, "both", -1, { 1011 } },
	{ "bidir reverse", 6, 1, 2, 7000, 1234, "both", -1, { 1011 } },
	{ "bidir neither", 6, 1, 2, 7001, 1234, "both", -1, { 0 } },
	{ "backtrack", 6, 1, 2, 1, 2, "abxxab.cd", -1, { 1012 } },
	{ "escapes", 6, 1, 2, 1, 2, "a\"b;c", -1, { 1013 } },
	{ "commented rule", 6, 1, 2, 1, 2, "commented-rule", -1, { 1014 } },
	{ "pcre not evaluated", 6, 1, 2, 1, 2, "pcreword", -1, { 1016 } },
	{ "noalert skipped", 6, 1, 2, 1, 2, "setbit", -1, { 0 } },
	{ "case sensitive hit", 6, 1, 2, 1, 2, "CaSe", -1, { 1018 } },
	{ "case sensitive miss", 6, 1, 2, 1, 2, "case CASE", -1, { 0 } },
	{ "negative distance", 6, 1, 2, 1, 2, "qzzk", -1, { 1019 } },
	{ "negative distance miss", 6, 1, 2, 1, 2, "qzz zzk", -1, { 0 } },
	{ "http_uri on raw payload", 6, 1, 2, 1, 2, "GET /cgi-bin/x", -1, { 1020 } },
	{ "negated first absent", 6, 1, 2, 1, 2, "danger", -1, { 1021 } },
	{ "negated first present", 6, 1, 2, 1, 2, "danger safe", -1, { 0 } },
	{ "several", 6, 1, 2, 1, 80, "attack EVIL CaSe", -1, { 1001, 1002, 1018 } },
	{ "empty payload", 6, 1, 2, 1, 80, "", 0, { 0 } },
	{ "short by port", 6, 1, 2, 1, 2100, "x\ny", -1, { 1022 } },
	{ "short by port, both ports keys", 6, 1, 2, 21, 2101, "\n", -1, { 1022 } },
	{ "short by port, same port", 6, 1, 2, 21, 21, "\n", -1, { 1022 } },
	{ "short by port, key on the wrong side", 6, 1, 2, 21, 22, "\n", -1, { 0 } },
	{ "short by port, udp", 17, 1, 2, 1, 21, "\n", -1, { 0 } },
	{ "short bidir forward", 17, 1, 2, 5353, 9, "q", -1, { 1023 } },
	{ "short bidir reverse", 17, 1, 2, 9, 5353, "xqx", -1, { 1023 } },
	{ "short bidir case", 17, 1, 2, 9, 5353, "Q", -1, { 0 } },
	{ "long content", 6, 1, 2, 1, 2, "..0123456789+-=_~!LONG-TAIL", -1, { 1024 } },
	{ "long content, prefix only", 6, 1, 2, 1, 2, "0123456789+-=_~!LONG-TAI", -1, { 0 } },
	{ "long content, case", 6, 1, 2, 1, 2, "0123456789+-=_~!long-tail", -1, { 0 } },
	/* Port keys pass over rules by protocol, payload length and anchored first byte (nids_key_skip). */
	{ "anchored", 6, 1, 2, 1, 2200, "\x16\x03zz", -1, { 1025 } },
	{ "anchored, moved", 6, 1, 2, 1, 2200, "z\x16\x03", -1, { 0 } },
	{ "anchored, second byte", 6, 1, 2, 1, 2200, "\x16\x04", -1, { 0 } },
	{ "anchored, too short", 6, 1, 2, 1, 2200, "\x16", -1, { 0 } },
	{ "anchored, udp", 17, 1, 2, 1, 2200, "\x16\x03", -1, { 0 } },
	{ "anchored nocase", 6, 1, 2, 1, 2201, "abchI", -1, { 1026 } },
	{ "anchored nocase, upper", 6, 1, 2, 1, 2201, "abcHix", -1, { 1026 } },
	{ "anchored nocase, moved", 6, 1, 2, 1, 2201, "abhix", -1, { 0 } },
	{ "relative first", 17, 1, 2, 2202, 9, "xxok", -1, { 1027 } },
	{ "relative first, moved", 17, 1, 2, 2202, 9, "xokk", -1, { 0 } },
	{ "relative first, too short", 17, 1, 2, 2202, 9, "xxo", -1, { 0 } },
	{ "two positions, first", 6, 1, 2, 1, 2203, "zqx", -1, { 1028 } },
	{ "two positions, second", 6, 1, 2, 1, 2203, "xzq", -1, { 1028 } },
	{ "two positions, past depth", 6, 1, 2, 1, 2203, "xxzq", -1, { 0 } },
	/* A key is the rule's whole header only when its addresses and other port are any (hdr_any). */
	{ "keyed, address in", 6, IP(10, 1, 1, 1), 2, 1, 2204, "\xaa", -1, { 1029 } },
	{ "keyed, address out", 6, IP(11, 1, 1, 1), 2, 1, 2204, "\xaa", -1, { 0 } },
	{ "keyed both sides", 6, 1, 2, 2205, 2206, "\xbb", -1, { 1030 } },
	{ "keyed both sides, other port wrong", 6, 1, 2, 2205, 2207, "\xbb", -1, { 0 } },
	{ "keyed both sides, other port wrong too", 6, 1, 2, 2204, 2206, "\xbb", -1, { 0 } },
	/* An unanchored first content: its first byte must occur somewhere (NIDS_AT_SCAN, either case for nocase). */
	{ "first byte anywhere, upper", 6, 1, 2, 1, 2208, "xxxxZZ", -1, { 1031 } },
	{ "first byte anywhere, lower", 6, 1, 2, 1, 2208, "zzxxxx", -1, { 1031 } },
	{ "first byte anywhere, last bytes", 6, 1, 2, 1, 2208, "xxxxxxxzZ", -1, { 1031 } },
	{ "first byte nowhere", 6, 1, 2, 1, 2208, "xxxxxxxx", -1, { 0 } },
};

Test(nids_hand, expected_alerts)
{
	struct nf_hdr *h;
	char err[512];
	struct nids_ruleset rs;

	cr_assert_eq(nids_ruleset_load(hand_path, &rs, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(nids_compile(&rs, NIDS_ACT_ALERT, &h, err, sizeof(err)), 0, "%s", err);
	uint64_t *snap = calloc(rs.n, 8);
	uint8_t *got = malloc(rs.n);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct hand_case *hc = &cases[c];
		struct pk k = { .proto = hc->proto, .sa = hc->sa, .da = hc->da, .sp = hc->sp, .dp = hc->dp,
				.pay = (const uint8_t *)hc->pay, .plen = hc->plen < 0 ? (uint32_t)strlen(hc->pay) : (uint32_t)hc->plen };
		struct frame f;
		int v, nwant = 0;
		mk_frame(&f, &k);
		nf_fired(h, snap, &f, got, &v);
		cr_expect_eq(v, NF_PASS, "%s", hc->name);
		for (int j = 0; j < 4 && hc->want[j]; j++)
			nwant++;
		for (size_t i = 0; i < rs.n; i++) {
			int want = 0;
			for (int j = 0; j < nwant; j++)
				want |= rs.rules[i].sid == hc->want[j];
			cr_expect_eq(got[i], want, "case '%s': sid %u fired=%u expected=%d", hc->name, rs.rules[i].sid,
				     got[i], want);
		}
	}
	free(snap);
	free(got);
	free(h);
	nids_ruleset_free(&rs);
}

/* Packets stitched from the hand rules' contents: many anchors per packet. */
Test(nids_hand, oracle_on_stitched_payloads)
{
	struct nids_ruleset rs;
	char err[512];
	struct cmp_stats cs;

	cr_assert_eq(nids_ruleset_load(hand_path, &rs, err, sizeof(err)), 0, "%s", err);
	struct nf_hdr *h;
	cr_assert_eq(nids_compile(&rs, NIDS_ACT_ALERT, &h, err, sizeof(err)), 0, "%s", err);
	struct oracle o;
	oracle_init(&o, &rs);
	uint8_t *want = malloc(rs.n), *got = malloc(rs.n);
	uint64_t *snap = calloc(rs.n, 8);
	uint8_t pay[1460];
	long many_anchor_pkts = 0;
	memset(&cs, 0, sizeof(cs));
	rnd_state = 77;
	for (int n = 0; n < 20000; n++) {
		struct pk k;
		uint32_t len = 0, pieces = rnd() % 40;
		random_header(&k);
		if (rnd() & 1)
			k.dp = (uint16_t[]){ 80, 53, 7000, 1200, 21, 2101, 5353 }[rnd() % 7];
		if (rnd() % 4 == 0)
			k.sp = (uint16_t[]){ 21, 2100, 5353, 7000 }[rnd() % 4];
		if (rnd() % 3 == 0)
			k.sa = IP(10, 0, 0, rnd() % 256);
		for (uint32_t i = 0; i < pieces && len < 1400; i++) {
			const struct nids_src_rule *r = &rs.rules[rnd() % rs.n];
			const struct nids_src_content *c = &r->c[rnd() % r->ncontents];
			uint32_t gap = rnd() % 4;
			random_fill(pay + len, gap);
			len += gap;
			for (int j = 0; j < c->len && len < 1460; j++)
				pay[len++] = (rnd() % 8) ? c->bytes[j] : (uint8_t)(c->bytes[j] ^ 0x20);
		}
		k.pay = pay;
		k.plen = len;
		struct frame f;
		mk_frame(&f, &k);
		int v, nw = oracle_run(&o, &k, &f, want), ng = nf_fired(h, snap, &f, got, &v);
		many_anchor_pkts += pieces > 16;
		cs.nf_alerts += ng;
		cs.oracle_alerts += nw;
		for (size_t i = 0; i < rs.n; i++)
			cr_assert_eq(got[i], want[i], "stitched packet %d: sid %u nf=%u oracle=%u", n, rs.rules[i].sid,
				     got[i], want[i]);
	}
	cr_assert_gt(cs.nf_alerts, 20000);
	cr_assert_gt(many_anchor_pkts, 1000);
	oracle_fini(&o);
	free(want);
	free(got);
	free(snap);
	free(h);
	nids_ruleset_free(&rs);
}

/*
 * Long payloads are scanned in interleaved lanes that start pattern_max bytes early:
 * a content at every position of payloads of several lengths (so across every cut)
 * must fire exactly its rule.
 */
Test(nids_hand, every_position_every_length)
{
	static const char pat[] = "0123456789+-=_~!LONG-TAIL";
	const uint32_t lens[] = { 25, 60, 100, 129, 255, 256, 300, 1000, 1460 };
	struct nids_ruleset rs;
	struct nf_hdr *h;
	char err[512];
	uint8_t pay[1460];
	long packets = 0;

	cr_assert_eq(nids_ruleset_load(hand_path, &rs, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(nids_compile(&rs, NIDS_ACT_ALERT, &h, err, sizeof(err)), 0, "%s", err);
	uint64_t *snap = calloc(rs.n, 8);
	uint8_t *got = malloc(rs.n);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (uint32_t at = 0; at + sizeof(pat) - 1 <= lens[li]; at++) {
			struct pk k = { .proto = 6, .sa = 1, .da = 2, .sp = 1, .dp = 2, .pay = pay, .plen = lens[li] };
			struct frame f;
			int v;
			memset(pay, '.', lens[li]);
			memcpy(pay + at, pat, sizeof(pat) - 1);
			mk_frame(&f, &k);
			nf_fired(h, snap, &f, got, &v);
			for (size_t i = 0; i < rs.n; i++)
				cr_assert_eq(got[i], rs.rules[i].sid == 1024, "payload %u bytes, content at %u: sid %u fired=%u",
					     lens[li], at, rs.rules[i].sid, got[i]);
			packets++;
		}
	}
	cr_assert_gt(packets, 3000);
	free(snap);
	free(got);
	free(h);
	nids_ruleset_free(&rs);
}

Test(nids_hand, non_ipv4_and_malformed_pass)
{
	struct nf_hdr *h;
	char err[512];
	cr_assert_eq(nids_build_file(hand_path, NIDS_ACT_DROP, &h, err, sizeof(err)), 0, "%s", err);
	struct nf_nids *st = (struct nf_nids *)h;
	struct pk k = { .ethertype = 0x0806, .proto = 6, .pay = (const uint8_t *)"attack", .plen = 6, .dp = 80 };
	struct frame f;
	mk_frame(&f, &k);
	struct nf_pkt p = { .buf = f.buf, .len = f.len, .cap = sizeof(f.buf) };
	cr_expect_eq(nf_nids_run(h, &p), NF_PASS);
	/* IPv4 total length beyond the frame. */
	k.ethertype = 0;
	mk_frame(&f, &k);
	p.len = f.len - 3;
	cr_expect_eq(nf_nids_run(h, &p), NF_PASS);
	/* Runt. */
	p.len = 20;
	cr_expect_eq(nf_nids_run(h, &p), NF_PASS);
	cr_expect_eq(st->counters[NIDS_C_NOT_INSPECTED], 3);
	cr_expect_eq(st->counters[NIDS_C_PACKETS], 3);
	cr_expect_eq(st->counters[NIDS_C_ALERTS], 0);
	/* Truncated TCP header: only ip rules may fire; "attack" is a tcp rule. */
	k.plen = 0;
	mk_frame(&f, &k);
	f.buf[14 + 20 + 12] = 0xf0; /* data offset 60 > segment */
	p.len = f.len;
	cr_expect_eq(nf_nids_run(h, &p), NF_PASS);
	cr_expect_eq(st->counters[NIDS_C_NO_L4], 1);
	free(h);
}

Test(nids_hand, drop_action_and_reports)
{
	const struct nf_ops *ops = nf_ops_find("nids");
	cr_assert_not_null(ops);
	cr_assert_eq(ops->type, NF_T_NIDS);
	struct nf_kv kv[] = { { "rules", "local.rules", 3 }, { "action", "drop", 4 } };
	struct nf_cfg cfg = { .name = "ids", .file = "chains.ini", .line = 2, .kv = kv, .nkv = 2, .base_dir = hand_dir };
	struct nf_hdr *h = NULL;
	char err[512] = "";
	cr_assert_eq(ops->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);

	struct pk k = { .proto = 6, .sa = 1, .da = 2, .sp = 1, .dp = 80, .pay = (const uint8_t *)"an attack", .plen = 9 };
	struct frame f;
	mk_frame(&f, &k);
	struct nf_pkt p = { .buf = f.buf, .len = f.len, .cap = sizeof(f.buf) };
	cr_expect_eq(nf_nids_run(h, &p), NF_DROP);
	cr_expect_eq(nf_nids_run(h, &p), NF_DROP);
	k.pay = (const uint8_t *)"harmless";
	k.plen = 8;
	mk_frame(&f, &k);
	p.len = f.len;
	cr_expect_eq(nf_nids_run(h, &p), NF_PASS);
	struct nf_nids *st = (struct nf_nids *)h;
	cr_expect_eq(st->counters[NIDS_C_DROPPED], 2);
	cr_expect_str_eq(ops->counter_names[NIDS_C_DROPPED], "dropped");

	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	cr_assert_eq(ops->report(h, "alerts", out, false), 0);
	cr_assert_eq(ops->report(h, "alerts", out, true), 0);
	cr_assert_eq(ops->report(h, "load", out, false), 0);
	cr_assert_eq(ops->report(h, "load", out, true), 0);
	cr_assert_eq(ops->report(h, "nonsense", out, true), -ENOENT);
	fclose(out);
	cr_expect_not_null(strstr(buf, "sid:1001 rev:0 count:2 msg:\"plain\""), "%s", buf);
	cr_expect_not_null(strstr(buf, "{\"alerts\":[{\"sid\":1001,\"rev\":0,\"count\":2,\"msg\":\"plain\"}],\"total\":2}"), "%s", buf);
	cr_expect_not_null(strstr(buf, "rules: 31 seen, 29 loaded"), "%s", buf);
	cr_expect_not_null(strstr(buf, "\"seen\":31,\"loaded\":29,\"skipped\":2"), "%s", buf);
	/* 1022, 1023 and 1025-1031 have no content of NIDS_INDEX_MIN bytes but name their ports. */
	cr_expect_not_null(strstr(buf, "\"port_rules\":9,\"port_keys\":11,"), "%s", buf);
	free(buf);
	free(h);

	/* Errors name FILE:LINE. */
	kv[1].value = "block";
	cr_expect_neq(ops->build(&cfg, &h, err, sizeof(err)), 0);
	cr_expect_str_eq(err, "chains.ini:4: action 'block' is not alert or drop");
	kv[1].value = "alert";
	kv[0].value = "missing.rules";
	cr_expect_eq(ops->build(&cfg, &h, err, sizeof(err)), -ENOENT);
	cr_expect_not_null(strstr(err, "chains.ini:3: nf 'ids': "), "%s", err);
	struct nf_kv bad[] = { { "rules", "local.rules", 3 }, { "colour", "red", 5 } };
	cfg.kv = bad;
	cr_expect_neq(ops->build(&cfg, &h, err, sizeof(err)), 0);
	cr_expect_not_null(strstr(err, "chains.ini:5: unknown key 'colour'"), "%s", err);
}

/* ---- the cpu backend's group scan ------------------------------------------------------ */

/*
 * Rules whose 4-byte contents occur at almost every position of payloads
 * made of A, B and C: eight packets' one-lane scans reach more output states
 * than the group scan notes before handing them on, and some payloads see
 * more than NIDS_SEEN_LIST distinct patterns (the range rescans).
 */
static void dense_rules(char *path, size_t len)
{
	snprintf(path, len, "%s/dense.rules", hand_dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 81; i++) {
		char c[5] = { "ABC"[i % 3], "ABC"[i / 3 % 3], "ABC"[i / 9 % 3], "ABC"[i / 27 % 3], 0 };
		fprintf(f, "alert udp any any -> any any (msg:\"%s\"; content:\"%s\"; content:\"%c%c%c\"; sid:%d;)\n", c, c,
			"ABC"[i % 3], 'A', 'A', 3000 + i);
	}
	fclose(f);
}

/*
 * nf_nids_run_batch (payloads under 4 x pattern_max scanned eight at a time)
 * against nf_nids_run packet by packet on a copy of the blob: same verdicts,
 * and every byte of the blob (counters, per-rule alert counts) the same.
 */
Test(nids_hand, batch_group_scan_identical_to_one_by_one)
{
	enum { N = 203 };
	char path[300], err[512] = "";
	struct nf_kv kv[] = { { "rules", path, 3 }, { "action", "drop", 4 } };
	struct nf_cfg cfg = { .name = "ids", .file = "chains.ini", .line = 2, .kv = kv, .nkv = 2, .base_dir = hand_dir };
	struct nf_hdr *h = NULL;
	static struct frame fa[N], fb[N];
	struct nf_pkt pa[N], *pk[N];
	int va[N];
	uint8_t pay[120];

	dense_rules(path, sizeof(path));
	cr_assert_eq(nf_ops_find("nids")->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);
	struct nf_hdr *twin = malloc(h->size);
	cr_assert_not_null(twin);
	memcpy(twin, h, h->size);
	for (int i = 0; i < N; i++) {
		/* Mostly one-lane payloads of different lengths, runs of one letter, a few long ones. */
		uint32_t plen = i % 17 == 0 ? 64 + rnd() % 50 : 36 + rnd() % 20; /* one lane: 8 + plen < 64 */
		for (uint32_t b = 0; b < plen; b++)
			pay[b] = i % 5 == 0 ? 'A' : (uint8_t)"ABC"[rnd() % 3];
		struct pk k = { .proto = 17, .sa = rnd(), .da = rnd(), .sp = 1000, .dp = 80, .pay = pay, .plen = plen };
		mk_frame(&fa[i], &k);
		fb[i] = fa[i];
		pa[i] = (struct nf_pkt){ .buf = fa[i].buf, .len = fa[i].len, .cap = sizeof(fa[i].buf) };
		pk[i] = &pa[i];
	}
	nf_nids_run_batch(h, pk, va, N);
	uint32_t dropped = 0;
	for (int i = 0; i < N; i++) {
		struct nf_pkt p = { .buf = fb[i].buf, .len = fb[i].len, .cap = sizeof(fb[i].buf) };
		cr_assert_eq(va[i], nf_nids_run(twin, &p), "packet %d: verdict", i);
		dropped += va[i] == NF_DROP;
	}
	cr_assert_arr_eq(h, twin, h->size, "the blobs differ (counters or alert counts)");
	cr_assert_gt(dropped, N / 2, "the payloads should fire rules (%u of %d)", dropped, N);
	free(twin);
	free(h);
	unlink(path);
}

/* Does pat[0, n) occur in b[0, len)? */
static int has_bytes(const uint8_t *b, uint32_t len, const char *pat, uint32_t n)
{
	for (uint32_t i = 0; i + n <= len; i++)
		if (!memcmp(b + i, pat, n))
			return 1;
	return 0;
}

/*
 * Payloads that see more than NIDS_SEEN_LIST distinct patterns take the range
 * rescans: each dense rule must still fire exactly on the packets that hold
 * both its contents (counted here with memcmp), no more and no fewer.
 */
Test(nids_hand, range_rescans_fire_exactly_the_matching_rules)
{
	enum { N = 64, R = 81 };
	char path[300], err[512] = "";
	struct nf_kv kv[] = { { "rules", path, 3 } };
	struct nf_cfg cfg = { .name = "ids", .file = "chains.ini", .line = 2, .kv = kv, .nkv = 1, .base_dir = hand_dir };
	struct nf_hdr *h = NULL;
	static struct frame f;
	uint64_t want[R] = { 0 };
	uint8_t pay[160];
	int ranged = 0;

	dense_rules(path, sizeof(path));
	cr_assert_eq(nf_ops_find("nids")->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);
	struct nf_nids *st = (struct nf_nids *)h;
	cr_assert_eq(st->nrules, R);
	for (int i = 0; i < N; i++) {
		uint32_t plen = 60 + rnd() % 100, seen = 0;
		for (uint32_t b = 0; b < plen; b++)
			pay[b] = (uint8_t)"ABC"[rnd() % 3];
		for (int r = 0; r < R; r++) {
			char c[4] = { "ABC"[r % 3], "ABC"[r / 3 % 3], "ABC"[r / 9 % 3], "ABC"[r / 27 % 3] };
			char t[3] = { c[0], 'A', 'A' };
			seen += has_bytes(pay, plen, c, 4);
			want[r] += has_bytes(pay, plen, c, 4) && has_bytes(pay, plen, t, 3);
		}
		ranged += seen > NIDS_SEEN_LIST;
		struct pk k = { .proto = 17, .sa = rnd(), .da = rnd(), .sp = 1000, .dp = 80, .pay = pay, .plen = plen };
		mk_frame(&f, &k);
		struct nf_pkt p = { .buf = f.buf, .len = f.len, .cap = sizeof(f.buf) };
		cr_assert_eq(nf_nids_run(h, &p), NF_PASS);
	}
	cr_assert_gt(ranged, N / 4, "too few payloads take the range rescans (%d of %d)", ranged, N);
	const struct nids_rule_info *info = NF_AT(st, st->info_off, const struct nids_rule_info *);
	const uint64_t *got = NF_AT(st, st->alerts_off, const uint64_t *);
	for (uint32_t ri = 0; ri < st->nrules; ri++) {
		uint32_t r = info[ri].sid - 3000;
		cr_assert_lt(r, (uint32_t)R);
		cr_expect_eq(got[ri], want[r], "sid %u: %llu firings, %llu packets hold both contents", info[ri].sid,
			     (unsigned long long)got[ri], (unsigned long long)want[r]);
	}
	free(h);
	unlink(path);
}

/* ---- alert events ------------------------------------------------------------------------ */

/* A hand case's packet (a source under 256 is 10.0.0.x). */
static struct pk case_pk(const struct hand_case *hc)
{
	return (struct pk){ .proto = hc->proto, .sa = hc->sa + 0x0a000000u * (hc->sa < 256), .da = hc->da,
			    .sp = hc->sp, .dp = hc->dp, .pay = (const uint8_t *)hc->pay,
			    .plen = hc->plen < 0 ? (uint32_t)strlen(hc->pay) : (uint32_t)hc->plen };
}

/*
 * Every firing of the hand cases becomes one record in the alert ring, in
 * firing order on the host: rule (its sid), 5-tuple, chain and batch time as
 * the packet had them. A ring too small for them counts the rest in
 * events_lost and takes records again once the reader moved its tail.
 */
Test(nids_hand, alert_events_match_the_packets)
{
	struct nids_ruleset rs;
	struct nf_hdr *h;
	char err[512];
	uint32_t want_sid[256], want_src[256], want_dport[256], nwant = 0;
	uint64_t want_ts[256];

	cr_assert_eq(nids_ruleset_load(hand_path, &rs, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(nids_compile_events(&rs, NIDS_ACT_ALERT, 16, &h, err, sizeof(err)), 0, "%s", err);
	struct nf_nids *st = (struct nf_nids *)h;
	struct nids_ring *ring = NF_AT(st, st->ring_off, struct nids_ring *);
	const struct nids_alert *rec = NF_AT(st, ring->recs_off, const struct nids_alert *);
	const struct nids_rule_info *info = NF_AT(st, st->info_off, const struct nids_rule_info *);
	cr_assert_neq(st->ring_off, 0);
	cr_assert_eq(ring->size, 16);

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct hand_case *hc = &cases[c];
		struct pk k = case_pk(hc);
		struct frame f;
		uint64_t before = st->counters[NIDS_C_ALERTS];

		mk_frame(&f, &k);
		struct nf_pkt p = { .buf = f.buf, .len = f.len, .cap = sizeof(f.buf), .chain = 7,
				    .now = 1764547200123456789ull + c * 1000 };
		nf_nids_run(h, &p);
		/* Which sids fired, in rule order (the order verification finds them need not be). */
		for (uint64_t i = before; i < st->counters[NIDS_C_ALERTS]; i++) {
			want_src[nwant] = k.sa;
			want_dport[nwant] = (k.proto == 6 || k.proto == 17) ? k.dp : 0;
			want_ts[nwant] = p.now;
			want_sid[nwant++] = 0;
		}
		for (int j = 0, at = nwant - (int)(st->counters[NIDS_C_ALERTS] - before); j < 4 && hc->want[j]; j++)
			want_sid[at + j] = hc->want[j];
	}
	cr_assert_gt(nwant, 16, "the hand cases fire more rules than the ring holds");
	cr_expect_eq(ring->head, 16);
	cr_expect_eq(st->counters[NIDS_C_EVENTS_LOST], nwant - 16);
	for (uint32_t i = 0; i < 16; i++) {
		const struct nids_alert *a = &rec[i];
		int sid_ok = 0;

		cr_expect_eq(a->seq, i + 1, "record %u published", i);
		cr_expect_eq(a->ts, want_ts[i], "record %u: time", i);
		cr_expect_eq(a->src, want_src[i], "record %u: source", i);
		cr_expect_eq(a->dport, want_dport[i], "record %u: destination port", i);
		cr_expect_eq(a->chain, 7);
		/* A case with several sids may record them in any order: the sid is one of its case's. */
		for (uint32_t j = 0; j < nwant; j++)
			sid_ok |= want_ts[j] == a->ts && want_sid[j] == info[a->rule].sid;
		cr_expect(sid_ok, "record %u: sid %u is not one the packet fired", i, info[a->rule].sid);
	}
	/* The reader took 10: that much room again, and the records go on at 16. */
	ring->tail = 10;
	struct pk k = { .proto = 6, .sa = IP(10, 9, 8, 7), .da = IP(192, 0, 2, 1), .sp = 40000, .dp = 80,
			.pay = (const uint8_t *)"an attack", .plen = 9 };
	struct frame f;
	mk_frame(&f, &k);
	struct nf_pkt p = { .buf = f.buf, .len = f.len, .cap = sizeof(f.buf), .chain = 2, .now = 42 };
	for (int i = 0; i < 12; i++)
		nf_nids_run(h, &p);
	cr_expect_eq(ring->head, 26);
	cr_expect_eq(st->counters[NIDS_C_EVENTS_LOST], nwant - 16 + 2);
	const struct nids_alert *a = &rec[16 % 16];
	cr_expect_eq(a->seq, 17);
	cr_expect_eq(info[a->rule].sid, 1001);
	cr_expect_eq(a->src, IP(10, 9, 8, 7));
	cr_expect_eq(a->dst, IP(192, 0, 2, 1));
	cr_expect_eq(a->sport, 40000);
	cr_expect_eq(a->dport, 80);
	cr_expect_eq(a->proto, 6);
	cr_expect_eq(a->ts, 42);
	free(h);

	/* events = 0: no ring, firings are counted only. */
	cr_assert_eq(nids_compile_events(&rs, NIDS_ACT_ALERT, 0, &h, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(((struct nf_nids *)h)->ring_off, 0);
	nf_nids_run(h, &p);
	cr_expect_eq(((struct nf_nids *)h)->counters[NIDS_C_ALERTS], 1);
	cr_expect_eq(((struct nf_nids *)h)->counters[NIDS_C_EVENTS_LOST], 0);
	free(h);
	nids_ruleset_free(&rs);
}

/*
 * A hybrid move or device swap copies only what packets write (nf_ops.live):
 * counters, firings per rule, the alert ring and its records, not the rules
 * and automaton. After every hand case (more firings than the ring holds) and
 * a reader's tail, the built blob with only the spans copied in equals the
 * live one.
 */
Test(nids_hand, live_spans_are_what_packets_write)
{
	struct nids_ruleset rs;
	struct nf_hdr *h, *built;
	char err[512];
	uint64_t differs, bytes;

	cr_assert_eq(nids_ruleset_load(hand_path, &rs, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(nids_compile_events(&rs, NIDS_ACT_ALERT, 16, &h, err, sizeof(err)), 0, "%s", err);
	built = tl_blob_dup(h);
	cr_assert_not_null(built);
	struct nf_nids *st = (struct nf_nids *)h;
	for (int round = 0; round < 2; round++)
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			struct pk k = case_pk(&cases[c]);
			struct frame f;

			mk_frame(&f, &k);
			struct nf_pkt p = { .buf = f.buf, .len = f.len, .cap = sizeof(f.buf), .chain = 3, .now = 99 + c };
			nf_nids_run(h, &p);
			if (round == 0 && c == 0)
				NF_AT(st, st->ring_off, struct nids_ring *)->tail = 1; /* the reader took one */
		}
	cr_assert_gt(st->counters[NIDS_C_EVENTS_LOST], 0, "the ring did not fill");
	bytes = tl_live_cover(built, h, &differs);
	cr_expect_eq(differs, UINT64_MAX, "byte %lu of %u written by packets is not in a live span",
		     (unsigned long)differs, h->size);
	cr_expect_lt(bytes * 4, h->size, "%lu bytes handed over of a %u-byte blob", (unsigned long)bytes, h->size);
	free(built);
	free(h);
	nids_ruleset_free(&rs);
}

Test(nids_hand, events_key)
{
	const struct nf_ops *ops = nf_ops_find("nids");
	struct nf_kv kv[] = { { "rules", "local.rules", 3 }, { "events", "64", 4 } };
	struct nf_cfg cfg = { .name = "ids", .file = "chains.ini", .line = 2, .kv = kv, .nkv = 2, .base_dir = hand_dir };
	struct nf_hdr *h = NULL;
	char err[512] = "";

	cr_assert_eq(ops->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(NF_AT(h, ((struct nf_nids *)h)->ring_off, struct nids_ring *)->size, 64);
	free(h);
	kv[1].value = "100";
	cr_expect_eq(ops->build(&cfg, &h, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "chains.ini:4: nf 'ids': events must be 0 (none) or a power of two up to 1048576, not '100'");
}
