// SPDX-License-Identifier: GPL-2.0
/*
 * ipv4_router: DIR-24-8 lookups against a plain linear longest-prefix scan on
 * random route sets, byte checks of forwarded packets (checksum recomputed from
 * scratch), drop reasons, and the routes-file parser's FILE:LINE errors.
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

static uint32_t mask_of(uint32_t len)
{
	return len ? ~0u << (32 - len) : 0;
}

/* The oracle: scan every route; longest wins, and a later duplicate wins its tie. */
static uint32_t linear_lpm(const struct nf_rt_route *r, size_t n, uint32_t a)
{
	int best_len = -1;
	uint32_t best = 0;

	for (size_t i = 0; i < n; i++)
		if ((a & mask_of(r[i].len)) == r[i].prefix && (int)r[i].len >= best_len) {
			best_len = (int)r[i].len;
			best = r[i].nh + 1;
		}
	return best;
}

static void random_nhs(struct nf_rt_nh *nhs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		memset(&nhs[i], 0, sizeof(nhs[i]));
		nhs[i].mac[0] = 0x02;
		nhs[i].mac[4] = (uint8_t)(i >> 8);
		nhs[i].mac[5] = (uint8_t)i;
	}
}

/*
 * Random routes: lengths spread over 0..32, half of them nested inside an earlier
 * route (so prefixes overlap at many depths), a few exact duplicates.
 */
static void random_routes(struct nf_rt_route *r, size_t n, uint32_t nnh, int with_default)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t len = (uint32_t)(rnd() % 33), a = (uint32_t)rnd();

		if (i && rnd() % 2) {
			const struct nf_rt_route *parent = &r[rnd() % i];

			if (len < parent->len)
				len = parent->len + (uint32_t)(rnd() % (33 - parent->len));
			a = parent->prefix | ((uint32_t)rnd() & ~mask_of(parent->len));
		}
		if (i && rnd() % 50 == 0) {
			r[i] = r[rnd() % i];
			r[i].nh = (uint32_t)(rnd() % nnh);
			continue;
		}
		r[i] = (struct nf_rt_route){ a & mask_of(len), len, (uint32_t)(rnd() % nnh) };
	}
	if (with_default)
		r[rnd() % n] = (struct nf_rt_route){ 0, 0, (uint32_t)(rnd() % nnh) };
}

/* An address near a random route (inside it, or just past its end), or uniform. */
static uint32_t random_addr(const struct nf_rt_route *r, size_t n)
{
	uint64_t c = rnd() % 4;

	if (c == 0 || !n)
		return (uint32_t)rnd();
	const struct nf_rt_route *x = &r[rnd() % n];
	uint32_t a = x->prefix | ((uint32_t)rnd() & ~mask_of(x->len));
	if (c == 3)
		a = x->prefix + (uint32_t)(~mask_of(x->len)) + 1 - (uint32_t)(rnd() % 3);
	return a;
}

Test(router, dir24_8_matches_linear_lpm)
{
	const size_t lookups_per_set = 125000;
	const int sets = 8;
	size_t total = 0;

	rng_state = 0x5eed0001;
	for (int s = 0; s < sets; s++) {
		size_t n = 50 + rnd() % 400;
		uint32_t nnh = 1 + (uint32_t)(rnd() % 64);
		struct nf_rt_route *r = calloc(n, sizeof(*r));
		struct nf_rt_nh nhs[64];
		struct nf_hdr *h = NULL;

		cr_assert(r);
		random_nhs(nhs, nnh);
		random_routes(r, n, nnh, s % 2);
		cr_assert_eq(nf_rt_build(r, n, nhs, nnh, &h), 0, "set %d: build failed", s);
		const struct nf_ipv4_router *st = (const struct nf_ipv4_router *)h;
		for (size_t i = 0; i < lookups_per_set; i++) {
			uint32_t a = random_addr(r, n);
			uint32_t want = linear_lpm(r, n, a), got = nf_rt_lookup(st, a);

			if (got != want)
				cr_assert_fail("set %d (%zu routes): %u.%u.%u.%u -> nh %u, linear LPM says %u", s, n,
					       a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, got, want);
		}
		total += lookups_per_set;
		free(h);
		free(r);
	}
	cr_assert_geq(total, 1000000);
}

Test(router, edge_prefixes)
{
	struct nf_rt_nh nhs[4];
	struct nf_rt_route r[] = {
		{ 0, 0, 0 },                   /* default */
		{ 0x0a000000, 8, 1 },          /* 10/8 */
		{ 0x0a0a0a0a, 32, 2 },         /* 10.10.10.10/32 */
		{ 0x0a0a0a00, 25, 3 },         /* 10.10.10.0/25 */
		{ 0xffffffff, 32, 3 },
		{ 0x0a000000, 8, 2 },          /* duplicate: replaces nh 1 */
	};
	struct nf_hdr *h = NULL;

	random_nhs(nhs, 4);
	cr_assert_eq(nf_rt_build(r, 6, nhs, 4, &h), 0);
	const struct nf_ipv4_router *st = (const struct nf_ipv4_router *)h;
	cr_expect_eq(nf_rt_lookup(st, 0x01020304), 1);
	cr_expect_eq(nf_rt_lookup(st, 0x0a010101), 3);
	cr_expect_eq(nf_rt_lookup(st, 0x0a0a0a0a), 3);
	cr_expect_eq(nf_rt_lookup(st, 0x0a0a0a0b), 4);
	cr_expect_eq(nf_rt_lookup(st, 0x0a0a0a7f), 4);
	cr_expect_eq(nf_rt_lookup(st, 0x0a0a0a80), 3, "past the /25: back to 10/8");
	cr_expect_eq(nf_rt_lookup(st, 0xffffffff), 4);
	cr_expect_eq(nf_rt_lookup(st, 0xfffffffe), 1);
	cr_expect_eq(st->ntbl8, 2, "one tbl8 group per /24 holding a longer prefix");
	free(h);

	/* Host bits set and out-of-range next hops are refused. */
	struct nf_rt_route bad1 = { 0x0a000001, 8, 0 }, bad2 = { 0, 0, 4 }, bad3 = { 0, 33, 0 };
	cr_expect_eq(nf_rt_build(&bad1, 1, nhs, 4, &h), -EINVAL);
	cr_expect_eq(nf_rt_build(&bad2, 1, nhs, 4, &h), -EINVAL);
	cr_expect_eq(nf_rt_build(&bad3, 1, nhs, 4, &h), -EINVAL);

	/* No routes: every lookup misses. */
	cr_assert_eq(nf_rt_build(NULL, 0, nhs, 4, &h), 0);
	cr_expect_eq(nf_rt_lookup((const struct nf_ipv4_router *)h, 0x0a000001), 0);
	free(h);
}

/* Second, independent oracle for large tables: per-length sorted arrays, longest first. */
struct by_len {
	uint64_t *keys; /* prefix << 32 | nh+1, sorted, deduplicated (last wins) */
	size_t n;
};

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a >> 32, y = *(const uint64_t *)b >> 32;
	return x < y ? -1 : x > y;
}

static int u64_full_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t by_len_lookup(const struct by_len *t, uint32_t a)
{
	for (int len = 32; len >= 0; len--) {
		uint64_t k = (uint64_t)(a & mask_of((uint32_t)len)) << 32;
		const uint64_t *hit = bsearch(&k, t[len].keys, t[len].n, sizeof(uint64_t), u64_cmp);
		if (hit)
			return (uint32_t)*hit;
	}
	return 0;
}

Test(router, scale_500k_routes, .timeout = 120)
{
	const size_t n = 500000;
	const uint32_t nnh = 1000;
	struct nf_rt_route *r = calloc(n, sizeof(*r));
	struct nf_rt_nh *nhs = calloc(nnh, sizeof(*nhs));
	struct by_len t[33] = { 0 };
	struct nf_hdr *h = NULL;

	cr_assert(r && nhs);
	rng_state = 0x5eed0500;
	random_nhs(nhs, nnh);
	/* Internet-like mix: mostly /16../24, some /25../32, a few short ones. */
	for (size_t i = 0; i < n; i++) {
		uint64_t c = rnd() % 100;
		uint32_t len = c < 60 ? 24 : c < 85 ? 16 + (uint32_t)(rnd() % 8) : c < 95 ? 25 + (uint32_t)(rnd() % 8)
									    : 1 + (uint32_t)(rnd() % 15);
		r[i] = (struct nf_rt_route){ (uint32_t)rnd() & mask_of(len), len, (uint32_t)(rnd() % nnh) };
	}
	cr_assert_eq(nf_rt_build(r, n, nhs, nnh, &h), 0);
	const struct nf_ipv4_router *st = (const struct nf_ipv4_router *)h;
	cr_log_info("500k routes: %u unique, %u tbl8 groups, blob %u bytes (%.1f MiB)", st->nroutes, st->ntbl8,
		    h->size, h->size / 1048576.0);

	for (size_t i = 0; i < n; i++)
		t[r[i].len].n++;
	for (int l = 0; l <= 32; l++) {
		t[l].keys = malloc((t[l].n + 1) * sizeof(uint64_t));
		cr_assert(t[l].keys);
		t[l].n = 0;
	}
	/* Sorting (prefix, index) pairs puts duplicates in file order: keep the last. */
	for (size_t i = 0; i < n; i++)
		t[r[i].len].keys[t[r[i].len].n++] = (uint64_t)r[i].prefix << 32 | (uint32_t)i;
	for (int l = 0; l <= 32; l++) {
		size_t m = 0;

		qsort(t[l].keys, t[l].n, sizeof(uint64_t), u64_full_cmp);
		for (size_t i = 0; i < t[l].n; i++) {
			uint64_t k = (t[l].keys[i] & 0xffffffff00000000ull) | (r[(uint32_t)t[l].keys[i]].nh + 1);

			if (m && t[l].keys[m - 1] >> 32 == k >> 32)
				m--;
			t[l].keys[m++] = k;
		}
		t[l].n = m;
	}
	for (size_t i = 0; i < 1000000; i++) {
		uint32_t a = random_addr(r, n);
		uint32_t want = by_len_lookup(t, a), got = nf_rt_lookup(st, a);

		if (got != want)
			cr_assert_fail("%u.%u.%u.%u -> nh %u, per-length oracle says %u", a >> 24, (a >> 16) & 255,
				       (a >> 8) & 255, a & 255, got, want);
	}
	for (int l = 0; l <= 32; l++)
		free(t[l].keys);
	free(h);
	free(nhs);
	free(r);
}

/* Build one Ethernet + IPv4 + UDP frame; returns its length. */
static uint32_t make_udp(uint8_t *f, uint32_t dst, uint8_t ttl, int vlan, int opt_words)
{
	uint32_t l3 = NF_ETH_HLEN + (vlan ? 4 : 0), ihl = 20 + 4 * (uint32_t)opt_words;
	uint32_t tot = ihl + 8 + 18;

	memset(f, 0, l3 + tot);
	for (int i = 0; i < 6; i++) {
		f[i] = 0xaa;
		f[6 + i] = (uint8_t)(0x10 + i);
	}
	if (vlan) {
		nf_put16(f + 12, NF_ETH_P_8021Q);
		nf_put16(f + 14, 42);
		nf_put16(f + 16, NF_ETH_P_IP);
	} else {
		nf_put16(f + 12, NF_ETH_P_IP);
	}
	uint8_t *ip = f + l3;
	ip[0] = (uint8_t)(0x40 | (ihl / 4));
	nf_put16(ip + 2, (uint16_t)tot);
	nf_put16(ip + 4, (uint16_t)rnd());
	ip[8] = ttl;
	ip[9] = NF_IPPROTO_UDP;
	nf_put32(ip + 12, (uint32_t)rnd());
	nf_put32(ip + 16, dst);
	for (uint32_t i = 20; i < ihl; i++)
		ip[i] = (uint8_t)rnd();
	uint32_t s = 0;
	for (uint32_t i = 0; i < ihl; i += 2)
		s += nf_get16(ip + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	nf_put16(ip + 10, (uint16_t)~s);
	for (uint32_t i = ihl; i < tot; i++)
		ip[i] = (uint8_t)rnd();
	return l3 + tot;
}

/* The header checksum recomputed from scratch (field treated as zero). */
static uint16_t ip_csum(const uint8_t *ip)
{
	uint32_t ihl = (uint32_t)(ip[0] & 15) * 4, s = 0;

	for (uint32_t i = 0; i < ihl; i += 2)
		if (i != 10)
			s += nf_get16(ip + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static struct nf_hdr *small_router(void)
{
	struct nf_rt_nh nhs[2] = { { { 0x02, 0, 0, 0, 0, 0x01 }, { 0 } }, { { 0x02, 0, 0, 0, 0, 0x02 }, { 0 } } };
	struct nf_rt_route r[] = { { 0x0a000000, 8, 0 }, { 0xc0a80100, 24, 1 } };
	struct nf_hdr *h = NULL;

	cr_assert_eq(nf_rt_build(r, 2, nhs, 2, &h), 0);
	return h;
}

Test(router, rewrites_mac_ttl_checksum)
{
	struct nf_hdr *h = small_router();
	struct nf_ipv4_router *st = (struct nf_ipv4_router *)h;
	uint8_t f[256], orig[256];

	rng_state = 0x5eed0002;
	for (int i = 0; i < 20000; i++) {
		int vlan = i % 3 == 0, opts = (int)(rnd() % 11);
		uint8_t ttl = (uint8_t)(2 + rnd() % 254);
		uint32_t dst = i % 2 ? 0x0a000000 | (uint32_t)(rnd() & 0xffffff) : 0xc0a80100 | (uint32_t)(rnd() & 255);
		uint32_t len = make_udp(f, dst, ttl, vlan, opts);
		uint32_t l3 = NF_ETH_HLEN + (vlan ? 4 : 0);
		struct nf_pkt p = { .buf = f, .off = 0, .len = len, .cap = sizeof(f) };

		memcpy(orig, f, len);
		cr_assert_eq(nf_ipv4_router_run(st, &p), NF_PASS);
		cr_assert_eq(p.len, len);
		cr_assert_eq(f[5], i % 2 ? 0x01 : 0x02, "destination MAC is the next hop's");
		cr_assert(!memcmp(f, i % 2 ? "\x02\0\0\0\0\x01" : "\x02\0\0\0\0\x02", 6));
		cr_assert(!memcmp(f + 6, orig + 6, 6), "source MAC kept");
		cr_assert_eq(f[l3 + 8], ttl - 1);
		cr_assert_eq(nf_get16(f + l3 + 10), ip_csum(f + l3), "incremental checksum %04x != from scratch %04x",
			     nf_get16(f + l3 + 10), ip_csum(f + l3));
		/* Nothing else moved. */
		cr_assert(!memcmp(f + 12, orig + 12, l3 + 8 - 12));
		cr_assert(!memcmp(f + l3 + 9, orig + l3 + 9, 1));
		cr_assert(!memcmp(f + l3 + 12, orig + l3 + 12, len - l3 - 12));
	}
	cr_expect_eq(st->counters[RT_C_FORWARDED], 20000);
	free(h);
}

/*
 * A hybrid move or device swap copies only what packets write (nf_ops.live):
 * for the router its counters, not the 64 MiB FIB. Packets of every verdict,
 * then the built blob with only the spans copied in equals the live one.
 */
Test(router, live_spans_are_what_packets_write)
{
	struct nf_hdr *h = small_router(), *built = tl_blob_dup(h);
	struct nf_ipv4_router *st = (struct nf_ipv4_router *)h;
	uint8_t f[256];
	struct nf_pkt p = { .buf = f, .cap = sizeof(f) };
	uint64_t differs, bytes;

	cr_assert_not_null(built);
	rng_state = 0x5eed0004;
	for (int i = 0; i < 1000; i++) {
		uint32_t dst = i % 3 == 0 ? 0x0b000001 : 0x0a000000 | (uint32_t)(rnd() & 0xffffff);

		p.len = make_udp(f, dst, (uint8_t)(i % 5), i % 7 == 0, 0);
		if (i % 11 == 0)
			nf_put16(f + 12, 0x0806);
		nf_ipv4_router_run(st, &p);
	}
	cr_assert_gt(st->counters[RT_C_FORWARDED], 0);
	cr_assert_gt(st->counters[RT_C_NO_ROUTE] * st->counters[RT_C_TTL_EXPIRED] * st->counters[RT_C_NOT_IPV4], 0);
	bytes = tl_live_cover(built, h, &differs);
	cr_expect_eq(differs, UINT64_MAX, "byte %lu of %u written by packets is not in a live span",
		     (unsigned long)differs, h->size);
	cr_expect_eq(bytes, RT_C_MAX * sizeof(uint64_t), "%lu bytes handed over of a %u-byte blob",
		     (unsigned long)bytes, h->size);
	free(built);
	free(h);
}

Test(router, drops_with_reasons)
{
	struct nf_hdr *h = small_router();
	struct nf_ipv4_router *st = (struct nf_ipv4_router *)h;
	uint8_t f[256], orig[256];
	uint32_t len;
	struct nf_pkt p = { .buf = f, .cap = sizeof(f) };

	rng_state = 0x5eed0003;
	/* TTL 1 and 0 expire; the packet is left untouched. */
	for (int ttl = 0; ttl <= 1; ttl++) {
		len = make_udp(f, 0x0a010203, (uint8_t)ttl, 0, 0);
		memcpy(orig, f, len);
		p.len = len;
		cr_expect_eq(nf_ipv4_router_run(st, &p), NF_DROP);
		cr_expect(!memcmp(f, orig, len));
	}
	/* No route. */
	len = make_udp(f, 0x0b000001, 64, 0, 0);
	memcpy(orig, f, len);
	p.len = len;
	cr_expect_eq(nf_ipv4_router_run(st, &p), NF_DROP);
	cr_expect(!memcmp(f, orig, len));
	/* Not IPv4: ARP, a runt, a bad version, a total length beyond the frame. */
	len = make_udp(f, 0x0a010203, 64, 0, 0);
	nf_put16(f + 12, 0x0806);
	p.len = len;
	cr_expect_eq(nf_ipv4_router_run(st, &p), NF_DROP);
	len = make_udp(f, 0x0a010203, 64, 0, 0);
	p.len = 20;
	cr_expect_eq(nf_ipv4_router_run(st, &p), NF_DROP);
	f[14] = 0x65;
	p.len = len;
	cr_expect_eq(nf_ipv4_router_run(st, &p), NF_DROP);
	len = make_udp(f, 0x0a010203, 64, 0, 0);
	nf_put16(f + 16, (uint16_t)(len - 14 + 1));
	p.len = len;
	cr_expect_eq(nf_ipv4_router_run(st, &p), NF_DROP);

	cr_expect_eq(st->counters[RT_C_TTL_EXPIRED], 2);
	cr_expect_eq(st->counters[RT_C_NO_ROUTE], 1);
	cr_expect_eq(st->counters[RT_C_NOT_IPV4], 4);
	cr_expect_eq(st->counters[RT_C_FORWARDED], 0);
	free(h);
}

/* Write text to a fresh file in dir; returns its path (static buffer per slot). */
static const char *write_file(const char *dir, const char *name, const char *text)
{
	static char path[2][512];
	static int slot;
	char *p = path[slot++ % 2];
	FILE *f;

	snprintf(p, 512, "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert(f, "cannot write %s", p);
	fputs(text, f);
	fclose(f);
	return p;
}

static int build_with(const char *dir, const char *routes_value, char *err, size_t errlen, struct nf_hdr **h)
{
	struct nf_kv kv[] = { { "routes", routes_value, 7 } };
	struct nf_cfg cfg = { .name = "r1", .file = "chains.ini", .line = 6, .kv = kv, .nkv = 1, .base_dir = dir };

	return nf_ops_find("ipv4_router")->build(&cfg, h, err, errlen);
}

Test(router, routes_file_and_errors)
{
	char dir[] = "/tmp/gen-router-XXXXXX";
	char err[512] = "";
	struct nf_hdr *h = NULL;

	cr_assert(mkdtemp(dir));
	cr_assert(nf_ops_find("ipv4_router"));
	write_file(dir, "ok.routes",
		   "# comment\n\n10.0.0.0/8 02:00:00:00:00:01   # trailing comment\n"
		   "192.168.1.0/24\t02:00:00:00:00:02\n0.0.0.0/0 02:00:00:00:00:01\n");
	cr_assert_eq(build_with(dir, "ok.routes", err, sizeof(err), &h), 0, "%s", err);
	struct nf_ipv4_router *st = (struct nf_ipv4_router *)h;
	cr_expect_eq(st->nroutes, 3);
	cr_expect_eq(st->nnh, 2, "identical next-hop MACs share one entry");
	cr_expect_eq(nf_rt_lookup(st, 0xc0a80105), 2);
	cr_expect_eq(nf_rt_lookup(st, 0x08080808), 1);
	free(h);

	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
		{ "10.0.0.0/8 02:00:00:00:00:01\n10.0.0.1/8 02:00:00:00:00:01\n", "bad.routes:2: '10.0.0.1/8': host bits" },
		{ "\n\n10.0.0.0/33 02:00:00:00:00:01\n", "bad.routes:3: '10.0.0.0/33': prefix length" },
		{ "10.0.0/8 02:00:00:00:00:01\n", "bad.routes:1: '10.0.0/8': not an IPv4" },
		{ "10.0.0.0 02:00:00:00:00:01\n", "bad.routes:1: '10.0.0.0': expected PREFIX/LEN" },
		{ "# x\n10.0.0.0/8 02:00:00:00:01\n", "bad.routes:2: '02:00:00:00:01' is not a MAC" },
		{ "10.0.0.0/8 02:00:00:00:00:01 extra\n", "bad.routes:1: expected" },
		{ "10.0.0.0/8\n", "bad.routes:1: expected" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *path = write_file(dir, "bad.routes", bad[i].text);

		h = NULL;
		err[0] = 0;
		cr_expect_eq(build_with(dir, "bad.routes", err, sizeof(err), &h), -EINVAL, "case %zu accepted", i);
		cr_expect(strstr(err, bad[i].want), "case %zu: got '%s', want '%s'", i, err, bad[i].want);
		cr_expect(!strncmp(err, dir, strlen(dir)), "error names the routes file: '%s'", err);
		unlink(path);
	}

	/* A missing file names chains.ini's line of the `routes` key. */
	cr_expect_eq(build_with(dir, "nope.routes", err, sizeof(err), &h), -ENOENT);
	cr_expect(strstr(err, "chains.ini:7:"), "%s", err);

	/* Unknown key and missing key. */
	struct nf_kv kv[] = { { "routes", "ok.routes", 7 }, { "route", "x", 8 } };
	struct nf_cfg cfg = { .name = "r1", .file = "chains.ini", .line = 6, .kv = kv, .nkv = 2, .base_dir = dir };
	cr_expect_eq(nf_ops_find("ipv4_router")->build(&cfg, &h, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "chains.ini:8:") && strstr(err, "route"), "%s", err);
	cfg.nkv = 0;
	cr_expect_eq(nf_ops_find("ipv4_router")->build(&cfg, &h, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "chains.ini:6:") && strstr(err, "routes"), "%s", err);

	unlink(write_file(dir, "ok.routes", ""));
	rmdir(dir);
}
