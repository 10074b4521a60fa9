// SPDX-License-Identifier: GPL-2.0
/*
 * flowmon: threads hammer one table with known flows; per-flow totals must be
 * exact, a full table must account every packet either to a flow or to
 * insert_failed, and the report must list the busiest flows.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent.h"
#include "registry.h"

#define NTHREADS 4

struct flow {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint32_t len;  /* frame length of this flow's packets */
	uint32_t reps; /* packets per thread */
	uint8_t frame[128];
};

struct run {
	struct nf_flowmon *st;
	const struct flow *flows;
	uint32_t nflows;
	uint32_t seed;
	int verdict_bad;
};

static void make_flow(struct flow *fl, uint32_t i)
{
	uint8_t *f = fl->frame;

	memset(fl, 0, sizeof(*fl));
	fl->src = 0x0a000000 | i;
	fl->dst = 0xc0a80000 | (i * 7919u & 0xffff);
	fl->proto = i % 5 == 4 ? NF_IPPROTO_ICMP : i % 2 ? NF_IPPROTO_UDP : NF_IPPROTO_TCP;
	fl->sport = fl->proto == NF_IPPROTO_ICMP ? 0 : (uint16_t)(1024 + i);
	fl->dport = fl->proto == NF_IPPROTO_ICMP ? 0 : (uint16_t)(80 + i % 3);
	fl->len = 60 + i % 64;
	fl->reps = 200 + i % 100;
	nf_put16(f + 12, NF_ETH_P_IP);
	f[14] = 0x45;
	nf_put16(f + 16, (uint16_t)(fl->len - 14));
	f[22] = 64;
	f[23] = fl->proto;
	nf_put32(f + 26, fl->src);
	nf_put32(f + 30, fl->dst);
	if (fl->proto == NF_IPPROTO_ICMP) {
		/* Ports in the bytes where TCP/UDP would have them must be ignored. */
		nf_put16(f + 34, 0x0800);
		nf_put16(f + 36, 0x1234);
	} else {
		nf_put16(f + 34, fl->sport);
		nf_put16(f + 36, fl->dport);
	}
}

static void *hammer(void *arg)
{
	struct run *r = arg;
	uint32_t *left = calloc(r->nflows, sizeof(*left));
	uint64_t s = r->seed | 1, remaining = 0;

	for (uint32_t i = 0; i < r->nflows; i++) {
		left[i] = r->flows[i].reps;
		remaining += left[i];
	}
	/* Interleave flows randomly so threads race on claims and counters alike. */
	while (remaining) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		uint32_t i = (uint32_t)(s % r->nflows);
		while (!left[i])
			i = (i + 1) % r->nflows;
		uint8_t copy[128];
		memcpy(copy, r->flows[i].frame, r->flows[i].len);
		struct nf_pkt p = { .buf = copy, .off = 0, .len = r->flows[i].len, .cap = sizeof(copy) };
		if (nf_flowmon_run(r->st, &p) != NF_PASS)
			r->verdict_bad = 1;
		left[i]--;
		remaining--;
	}
	free(left);
	return NULL;
}

static void run_threads(struct nf_flowmon *st, const struct flow *flows, uint32_t n)
{
	pthread_t t[NTHREADS];
	struct run r[NTHREADS];

	for (int i = 0; i < NTHREADS; i++) {
		r[i] = (struct run){ st, flows, n, 0x9e3779b9u * (uint32_t)(i + 1), 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, hammer, &r[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		cr_expect(!r[i].verdict_bad, "flowmon must always pass");
	}
}

/* The slot holding fl, or NULL. */
static const struct nf_flow_slot *find(const struct nf_flowmon *st, const struct flow *fl)
{
	const struct nf_flow_slot *s = NF_AT(st, st->slots_off, const struct nf_flow_slot *);
	const struct nf_flow_slot *hit = NULL;

	for (uint32_t i = 0; i < st->nslots; i++) {
		if (s[i].key && s[i].src == fl->src && s[i].dst == fl->dst && s[i].sport == fl->sport &&
		    s[i].dport == fl->dport && s[i].proto == fl->proto) {
			cr_assert(!hit, "flow %08x->%08x held by two slots", fl->src, fl->dst);
			hit = &s[i];
		}
	}
	return hit;
}

static struct nf_flowmon *make_table(uint32_t flows)
{
	struct nf_hdr *h = NULL;

	cr_assert_eq(nf_fm_build(flows, &h), 0);
	return (struct nf_flowmon *)h;
}

Test(flowmon, concurrent_totals_exact)
{
	const uint32_t n = 3000;
	struct flow *flows = calloc(n, sizeof(*flows));
	struct nf_flowmon *st = make_table(8192);

	cr_assert(flows);
	for (uint32_t i = 0; i < n; i++)
		make_flow(&flows[i], i);
	run_threads(st, flows, n);
	cr_expect_eq(st->counters[FM_C_FLOWS], n);
	cr_expect_eq(st->counters[FM_C_INSERT_FAILED], 0);
	for (uint32_t i = 0; i < n; i++) {
		const struct nf_flow_slot *s = find(st, &flows[i]);
		cr_assert(s, "flow %u missing", i);
		cr_assert_eq(s->packets, (uint64_t)flows[i].reps * NTHREADS, "flow %u packets", i);
		cr_assert_eq(s->bytes, (uint64_t)flows[i].reps * NTHREADS * flows[i].len, "flow %u bytes", i);
	}
	free(st);
	free(flows);
}

Test(flowmon, full_table_accounts_every_packet)
{
	const uint32_t n = 200;
	struct flow *flows = calloc(n, sizeof(*flows));
	struct nf_flowmon *st = make_table(64);
	uint64_t failed = 0, placed = 0;

	cr_assert(flows);
	cr_assert_eq(st->nslots, 64);
	for (uint32_t i = 0; i < n; i++)
		make_flow(&flows[i], i);
	run_threads(st, flows, n);
	for (uint32_t i = 0; i < n; i++) {
		const struct nf_flow_slot *s = find(st, &flows[i]);
		if (s) {
			/* A flow that holds a slot was counted in full, whatever the races. */
			cr_expect_eq(s->packets, (uint64_t)flows[i].reps * NTHREADS, "flow %u", i);
			cr_expect_eq(s->bytes, (uint64_t)flows[i].reps * NTHREADS * flows[i].len, "flow %u", i);
			placed++;
		} else {
			failed += (uint64_t)flows[i].reps * NTHREADS;
		}
	}
	cr_expect_eq(placed, 64, "every slot taken");
	cr_expect_eq(st->counters[FM_C_FLOWS], placed);
	cr_expect_eq(st->counters[FM_C_INSERT_FAILED], failed, "every packet of a slotless flow counted");
	free(st);
	free(flows);
}

Test(flowmon, not_ipv4_and_fragments)
{
	struct nf_flowmon *st = make_table(16);
	struct flow fl;
	uint8_t f[128];

	make_flow(&fl, 2); /* TCP */
	memcpy(f, fl.frame, fl.len);
	struct nf_pkt p = { .buf = f, .len = fl.len, .cap = sizeof(f) };
	nf_put16(f + 12, 0x0806);
	cr_expect_eq(nf_flowmon_run(st, &p), NF_PASS);
	p.len = 10;
	cr_expect_eq(nf_flowmon_run(st, &p), NF_PASS);
	cr_expect_eq(st->counters[FM_C_NOT_IPV4], 2);
	cr_expect_eq(st->counters[FM_C_FLOWS], 0);

	/* A non-first fragment is the same flow with ports 0. */
	memcpy(f, fl.frame, fl.len);
	nf_put16(f + 20, 0x0010);
	p.len = fl.len;
	cr_expect_eq(nf_flowmon_run(st, &p), NF_PASS);
	fl.sport = fl.dport = 0;
	const struct nf_flow_slot *s = find(st, &fl);
	cr_assert(s, "fragment recorded with ports 0");
	cr_expect_eq(s->packets, 1);
	free(st);
}

Test(flowmon, report_and_config)
{
	const struct nf_ops *ops = nf_ops_find("flowmon");
	struct nf_hdr *h = NULL;
	char err[256], *buf = NULL;
	size_t len = 0;

	cr_assert(ops);
	struct nf_kv kv[] = { { "flows", "1000", 3 } };
	struct nf_cfg cfg = { .name = "fm", .file = "chains.ini", .line = 2, .kv = kv, .nkv = 1 };
	cr_assert_eq(ops->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);
	struct nf_flowmon *st = (struct nf_flowmon *)h;
	cr_expect_eq(st->nslots, 1024);

	struct flow fl[30];
	for (uint32_t i = 0; i < 30; i++) {
		make_flow(&fl[i], i);
		for (uint32_t k = 0; k < i + 1; k++) {
			uint8_t f[128];
			memcpy(f, fl[i].frame, fl[i].len);
			struct nf_pkt p = { .buf = f, .len = fl[i].len, .cap = sizeof(f) };
			nf_flowmon_run(st, &p);
		}
	}
	/* Flow 29 sent the most bytes (30 x 89), flow 28 next (29 x 88). */
	struct nf_flow_slot top[3];
	cr_assert_eq(nf_fm_top(st, top, 3), 3);
	cr_expect_eq(top[0].src, fl[29].src);
	cr_expect_eq(top[0].bytes, 30ull * fl[29].len);
	cr_expect_eq(top[1].src, fl[28].src);

	FILE *out = open_memstream(&buf, &len);
	cr_assert_eq(ops->report(h, "flows", out, true), 0);
	fclose(out);
	cr_expect(!strncmp(buf, "{\"capacity\":1024,\"active\":30,", 29), "%s", buf);
	cr_expect(strstr(buf, "\"src\":\"10.0.0.29\""), "%s", buf);
	cr_expect(strstr(buf, "]}\n"), "%s", buf);
	cr_expect(!strstr(buf, "\"src\":\"10.0.0.0\""), "only the top 20: %s", buf);
	free(buf);
	buf = NULL;
	out = open_memstream(&buf, &len);
	cr_assert_eq(ops->report(h, "flows", out, false), 0);
	cr_assert_eq(ops->report(h, "alerts", out, false), -ENOENT);
	fclose(out);
	cr_expect(strstr(buf, "10.0.0.29:0 ") && strstr(buf, "10.0.0.28:1052"), "%s", buf);
	free(buf);
	free(h);

	static const char *const bad[] = { "0", "abc", "-5", "16777217", "12x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kv[0].value = bad[i];
		h = NULL;
		cr_expect_eq(ops->build(&cfg, &h, err, sizeof(err)), -EINVAL, "flows = %s accepted", bad[i]);
		cr_expect(strstr(err, "chains.ini:3:"), "%s", err);
	}
	struct nf_kv kv2[] = { { "size", "10", 4 } };
	cfg.kv = kv2;
	cr_expect_eq(ops->build(&cfg, &h, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "chains.ini:4:"), "%s", err);
	/* Default size. */
	cfg.nkv = 0;
	cr_assert_eq(ops->build(&cfg, &h, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(((struct nf_flowmon *)h)->nslots, FM_FLOWS_DEFAULT);
	free(h);
}

/* Threads released together walk the same new flows in the same order: every claim races. */
struct race {
	struct nf_flowmon *st;
	const struct flow *flows;
	uint32_t n;
	pthread_barrier_t *bar;
};

static void *race_walk(void *arg)
{
	struct race *r = arg;
	uint8_t f[128];

	pthread_barrier_wait(r->bar);
	for (uint32_t i = 0; i < r->n; i++) {
		memcpy(f, r->flows[i].frame, r->flows[i].len);
		struct nf_pkt p = { .buf = f, .len = r->flows[i].len, .cap = sizeof(f) };
		nf_flowmon_run(r->st, &p);
	}
	return NULL;
}

Test(flowmon, racing_claims)
{
	const uint32_t n = 256;
	struct flow *flows = calloc(n, sizeof(*flows));
	pthread_barrier_t bar;

	cr_assert(flows);
	for (uint32_t i = 0; i < n; i++)
		make_flow(&flows[i], i);
	for (int round = 0; round < 200; round++) {
		struct nf_flowmon *st = make_table(512);
		pthread_t t[NTHREADS];
		struct race r = { st, flows, n, &bar };

		pthread_barrier_init(&bar, NULL, NTHREADS);
		for (int i = 0; i < NTHREADS; i++)
			cr_assert_eq(pthread_create(&t[i], NULL, race_walk, &r), 0);
		for (int i = 0; i < NTHREADS; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&bar);
		cr_assert_eq(st->counters[FM_C_FLOWS], n, "round %d: each flow claimed exactly once", round);
		for (uint32_t i = 0; i < n; i++) {
			const struct nf_flow_slot *s = find(st, &flows[i]);
			cr_assert(s && s->packets == NTHREADS && s->bytes == (uint64_t)NTHREADS * flows[i].len,
				  "round %d flow %u", round, i);
		}
		free(st);
	}
	free(flows);
}

static void send_one(struct nf_flowmon *st, const struct flow *fl, uint64_t now)
{
	struct nf_pkt p = { .buf = (uint8_t *)fl->frame, .len = fl->len, .cap = sizeof(fl->frame), .now = now };

	cr_assert_eq(nf_flowmon_run(st, &p), NF_PASS);
}

/*
 * first is the batch time of a flow's first packet, last of its latest (never
 * going back when an older batch comes late); octets count IPv4 bytes. A slot
 * made a tombstone (as the daemon evicts: counts zeroed, then the key) keeps
 * the flows probed past it reachable, and a new flow reuses it only after
 * looking through its whole window, so no flow is ever in two slots.
 */
Test(flowmon, times_octets_and_tombstones)
{
	struct nf_flowmon *st = make_table(16);
	struct nf_flow_slot *slots = NF_AT(st, st->slots_off, struct nf_flow_slot *);
	struct flow fl[40];
	uint32_t in = 0;

	for (uint32_t i = 0; i < 40; i++)
		make_flow(&fl[i], i);
	send_one(st, &fl[0], 1000);
	send_one(st, &fl[0], 3000);
	send_one(st, &fl[0], 2000); /* a batch of another queue, stamped earlier, done later */
	const struct nf_flow_slot *s = find(st, &fl[0]);
	cr_assert_not_null(s);
	cr_expect_eq(s->first, 1000);
	cr_expect_eq(s->last, 3000);
	cr_expect_eq(s->packets, 3);
	cr_expect_eq(s->bytes, 3 * fl[0].len);
	cr_expect_eq(s->octets, 3 * (fl[0].len - 14));

	/* Fill the table (16 slots, probe 16): every flow finds a slot until it is full. */
	for (uint32_t i = 1; i < 40; i++)
		send_one(st, &fl[i], 5000 + i);
	for (uint32_t i = 0; i < 40; i++)
		in += find(st, &fl[i]) != NULL;
	cr_assert_eq(in, 16);
	cr_assert_eq(st->counters[FM_C_INSERT_FAILED], 24);
	/* Evict every flow whose slot is at an even index. */
	for (uint32_t k = 0; k < 16; k += 2) {
		memset((uint8_t *)&slots[k] + 8, 0, sizeof(slots[k]) - 8);
		slots[k].key = FM_TOMB;
	}
	/* The flows left are all still found (counts go on in their slots). */
	for (uint32_t i = 0; i < 40; i++) {
		const struct nf_flow_slot *t = find(st, &fl[i]);
		uint64_t before = t ? t->packets : 0;

		if (!t)
			continue;
		send_one(st, &fl[i], 9000);
		cr_expect_eq(find(st, &fl[i]), t, "flow %u moved", i);
		cr_expect_eq(t->packets, before + 1);
	}
	/* New flows take the tombstones: 8 of them fit, each in exactly one slot, times from their batch. */
	uint32_t placed = 0;
	for (uint32_t i = 0; i < 40; i++) {
		if (find(st, &fl[i]))
			continue;
		send_one(st, &fl[i], 20000);
		send_one(st, &fl[i], 21000);
		const struct nf_flow_slot *t = find(st, &fl[i]);
		if (!t)
			continue;
		placed++;
		cr_expect_eq(t->packets, 2, "flow %u: counts of the evicted flow leaked in", i);
		cr_expect_eq(t->first, 20000);
		cr_expect_eq(t->last, 21000);
	}
	cr_expect_eq(placed, 8);
	for (uint32_t k = 0; k < 16; k++)
		cr_expect_neq(slots[k].key, FM_TOMB, "slot %u still a tombstone with flows waiting", k);
	/* The report counts the flows in the table now, and every claim since the start. */
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	cr_assert_eq(nf_ops_find("flowmon")->report(&st->hdr, "flows", out, true), 0);
	fclose(out);
	cr_expect(strstr(buf, "\"capacity\":16,\"active\":16,\"seen\":24,"), "%s", buf);
	free(buf);
	free(st);
}
