// SPDX-License-Identifier: GPL-2.0
/*
 * The cpu backend's batch path (daemon/backend_cpu.c) against the agent's
 * packet-by-packet loop (nf_agent_run), which is what the GPU runs: the
 * paper chain (router, nids with the community rules, ESP encrypt) on the
 * same packets from copies of the same state blobs. Verdicts, packet bytes
 * and every byte of every blob (counters, per-rule alert counts, sequence
 * numbers) must be equal; then several threads at once must leave counters
 * that are the exact sum of their batches.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/backend.h"
#include "nf/agent.h"
#include "nf/registry.h"
#include "test/bench/pktgen.h"
#include "testlib.h"

/* The time every batch here is stamped with (nf_pkt.now): a fixed one, the same on every backend. */
#define GEN_TEST_NOW 1764547200000000000ull

#define NPKT 3000 /* several chunks of the backend, the last one partial */

static struct nf_hdr *build_nf(const char *type, const struct nf_kv *kv, int nkv)
{
	char err[512] = "";
	struct nf_hdr *h = tl_nf_build(type, kv, nkv, "/tmp", err, sizeof(err));

	cr_assert_not_null(h, "%s: %s", type, err);
	return h;
}

/* The paper chain with nids in `action` mode; a route file of its own in /tmp. */
static void paper_chain(struct chain_prog *p, const char *action)
{
	char routes[] = "/tmp/gen-test-cpu-routes-XXXXXX";
	const char *rules = tl_require_community_rules();
	int fd = mkstemp(routes);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "10.0.0.0/8 02:00:00:00:00:01\n192.168.0.0/16 02:00:00:00:00:03\n172.16.0.0/12 02:00:00:00:00:04\n");
	fclose(f);
	struct nf_kv rt[] = { { "routes", routes, 2 } };
	struct nf_kv ids[] = { { "rules", rules, 2 }, { "action", action, 3 } };
	struct nf_kv esp[] = { { "direction", "encrypt", 2 },
			       { "spi", "0x1001", 3 },
			       { "enc_key", "000102030405060708090a0b0c0d0e0f", 4 },
			       { "auth_key", "101112131415161718191a1b1c1d1e1f20212223", 5 },
			       { "tunnel_src", "192.0.2.1", 6 },
			       { "tunnel_dst", "192.0.2.2", 7 },
			       { "mtu", "1400", 8 } }; /* some IMIX packets are too big: ESP drops them */

	memset(p, 0, sizeof(*p));
	p->n = 3;
	p->type[0] = NF_T_IPV4_ROUTER;
	p->state[0] = build_nf("ipv4_router", rt, 1);
	p->type[1] = NF_T_NIDS;
	p->state[1] = build_nf("nids", ids, 2);
	p->type[2] = NF_T_IPSEC_ESP;
	p->state[2] = build_nf("ipsec_esp", esp, 7);
	unlink(routes);
}

/* A second program over copies of p's blobs, as they are now. */
static void prog_copy(struct chain_prog *to, const struct chain_prog *p)
{
	*to = *p;
	for (uint32_t i = 0; i < p->n; i++) {
		to->state[i] = malloc(p->state[i]->size);
		cr_assert_not_null(to->state[i]);
		memcpy(to->state[i], p->state[i], p->state[i]->size);
	}
}

static void prog_free(struct chain_prog *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		free(p->state[i]);
}

static void prog_assert_same(const struct chain_prog *a, const struct chain_prog *b, const char *what)
{
	for (uint32_t i = 0; i < a->n; i++) {
		const uint64_t *ca = NF_COUNTERS(a->state[i]), *cb = NF_COUNTERS(b->state[i]);
		for (uint32_t c = 0; c < a->state[i]->ncounters; c++)
			cr_assert_eq(ca[c], cb[c], "%s: nf %u counter %u: %lu vs %lu", what, i, c, (unsigned long)ca[c],
				     (unsigned long)cb[c]);
		cr_assert_arr_eq(a->state[i], b->state[i], a->state[i]->size, "%s: nf %u's blob differs", what, i);
	}
}

static const char *const contents[] = { "EVILPAYLOAD", "/etc/passwd", "cmd.exe", "USER root", "SITE EXEC" };

/* Packets of `mode` size in umem (NPKT frames) and their descriptors. */
static void traffic(uint8_t *umem, struct gen_desc *d, int mode, uint64_t seed)
{
	struct pktgen g = { .rng = seed | 1, .contents = contents, .ncontents = 5 };

	pktgen_batch(&g, umem, d, NPKT, mode);
}

/* nf_agent_run on each packet, as the GPU agent and the earlier cpu backend ran them. */
static void one_by_one(const struct chain_prog *p, uint8_t *umem, struct gen_desc *d, uint32_t n)
{
	struct nf_chain c = { .n = p->n };
	uint64_t bseq[NF_CHAIN_MAX];

	for (uint32_t i = 0; i < p->n; i++) {
		c.type[i] = p->type[i];
		c.state[i] = (uint64_t)(uintptr_t)p->state[i];
	}
	nf_reserve(p->n, p->state, n, bseq); /* as a backend reserves a batch's numbers */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t base = d[i].addr - d[i].addr % PKTGEN_FRAME;
		struct nf_pkt pk = { .buf = umem + base, .off = (uint32_t)(d[i].addr - base), .len = d[i].len,
				     .cap = PKTGEN_FRAME, .seq = i, .now = GEN_TEST_NOW };
		d[i].verdict = (uint32_t)nf_agent_run(&c, bseq, &pk);
		d[i].addr = base + pk.off;
		d[i].len = pk.len;
	}
}

static void batch_vs_one_by_one(const char *action, int mode)
{
	size_t bytes = (size_t)NPKT * PKTGEN_FRAME;
	uint8_t *ua = malloc(bytes), *ub = malloc(bytes);
	struct gen_desc *da = calloc(NPKT, sizeof(*da)), *db = calloc(NPKT, sizeof(*db));
	struct chain_prog pa, pb;
	uint32_t pass = 0;

	cr_assert(ua && ub && da && db);
	paper_chain(&pa, action);
	prog_copy(&pb, &pa);
	for (int round = 0; round < 2; round++) {
		memset(ua, 0, bytes);
		traffic(ua, da, mode, 0x9e3779b97f4a7c15ull + (uint64_t)round);
		memcpy(ub, ua, bytes);
		memcpy(db, da, NPKT * sizeof(*da));
		backend_cpu_run(&pa, ua, PKTGEN_FRAME, da, NPKT, GEN_TEST_NOW);
		one_by_one(&pb, ub, db, NPKT);
		for (uint32_t i = 0; i < NPKT; i++) {
			cr_assert_eq(da[i].verdict, db[i].verdict, "%s round %d packet %u: verdict", action, round, i);
			cr_assert(da[i].addr == db[i].addr && da[i].len == db[i].len, "%s round %d packet %u: geometry",
				  action, round, i);
			pass += da[i].verdict == NF_PASS;
		}
		cr_assert_arr_eq(ua, ub, bytes, "%s round %d: packet bytes differ", action, round);
		prog_assert_same(&pa, &pb, action);
	}
	/* The traffic exercised what it should: rules fired, every NF dropped some, most passed. */
	const uint64_t *ids = NF_COUNTERS(pa.state[1]), *esp = NF_COUNTERS(pa.state[2]);
	cr_assert_gt(ids[NIDS_C_ALERTS], 0);
	cr_assert_gt(pass, NPKT / 2);
	cr_assert_lt(pass, 2 * NPKT);
	/* A packet an NF dropped reaches no later NF: ESP saw exactly what nids passed. */
	uint64_t ids_passed = ids[NIDS_C_PACKETS] - ids[NIDS_C_DROPPED];
	cr_assert_eq(esp[ESP_C_ENCRYPTED] + esp[ESP_C_TOO_BIG] + esp[ESP_C_NOT_IPV4] + esp[ESP_C_SEQ_OVERFLOW],
		     ids_passed);
	prog_free(&pb);
	prog_free(&pa);
	free(ua);
	free(ub);
	free(da);
	free(db);
}

Test(cpu_backend, paper_chain_64B_same_as_one_by_one, .timeout = 120)
{
	batch_vs_one_by_one("drop", 64);
	batch_vs_one_by_one("alert", 64);
}

Test(cpu_backend, paper_chain_imix_same_as_one_by_one, .timeout = 120)
{
	batch_vs_one_by_one("drop", PKTGEN_IMIX);
}

struct worker {
	const struct chain_prog *p;
	uint8_t *umem;
	struct gen_desc *d;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	/* Batches of 500: the counters are flushed 6 times per thread. */
	for (uint32_t b = 0; b < NPKT; b += 500)
		backend_cpu_run(w->p, w->umem, PKTGEN_FRAME, w->d + b, 500, GEN_TEST_NOW);
	return NULL;
}

/*
 * Four threads run the chain at once, each on its own copy of the same
 * packets; one thread runs them once on a second copy of the blobs. Every
 * counter of the shared blobs is then four times the single run's.
 */
Test(cpu_backend, counters_exact_across_threads, .timeout = 120)
{
	enum { T = 4 };
	size_t bytes = (size_t)NPKT * PKTGEN_FRAME;
	struct chain_prog pa, pb;
	struct worker w[T];
	pthread_t tid[T];
	uint8_t *u1 = malloc(bytes);
	struct gen_desc *d1 = calloc(NPKT, sizeof(*d1));

	paper_chain(&pa, "drop");
	prog_copy(&pb, &pa);
	memset(u1, 0, bytes);
	traffic(u1, d1, 64, 77);
	for (int t = 0; t < T; t++) {
		w[t] = (struct worker){ .p = &pa, .umem = malloc(bytes), .d = malloc(NPKT * sizeof(*d1)) };
		memcpy(w[t].umem, u1, bytes);
		memcpy(w[t].d, d1, NPKT * sizeof(*d1));
	}
	for (int t = 0; t < T; t++)
		cr_assert_eq(pthread_create(&tid[t], NULL, worker_main, &w[t]), 0);
	backend_cpu_run(&pb, u1, PKTGEN_FRAME, d1, NPKT, GEN_TEST_NOW);
	for (int t = 0; t < T; t++)
		pthread_join(tid[t], NULL);
	for (uint32_t i = 0; i < pa.n; i++) {
		const uint64_t *ca = NF_COUNTERS(pa.state[i]), *cb = NF_COUNTERS(pb.state[i]);
		for (uint32_t c = 0; c < pa.state[i]->ncounters; c++)
			cr_assert_eq(ca[c], T * cb[c], "nf %u counter %u: %lu, expected %d x %lu", i, c,
				     (unsigned long)ca[c], T, (unsigned long)cb[c]);
	}
	/* The per-rule alert counts (a region of the blob, not the counters) add up too. */
	const struct nf_nids *ia = (const struct nf_nids *)pa.state[1], *ib = (const struct nf_nids *)pb.state[1];
	const uint64_t *aa = (const uint64_t *)((const uint8_t *)ia + ia->alerts_off);
	const uint64_t *ab = (const uint64_t *)((const uint8_t *)ib + ib->alerts_off);
	uint64_t fired = 0;
	for (uint32_t r = 0; r < ia->nrules; r++) {
		cr_assert_eq(aa[r], T * ab[r], "rule %u (sid %u)", r, NF_AT(ia, ia->rules_off, const struct nids_rule *)[r].sid);
		fired += ab[r];
	}
	cr_assert_gt(fired, 0);
	cr_assert_eq(NF_COUNTERS(pb.state[1])[NIDS_C_ALERTS], fired);
	/* Every thread's batches reserved their own numbers: seq_last counts every packet of them. */
	cr_assert_eq(((const struct nf_ipsec_esp *)pa.state[2])->seq_last, (uint64_t)T * NPKT);
	for (int t = 0; t < T; t++) {
		free(w[t].umem);
		free(w[t].d);
	}
	free(u1);
	free(d1);
	prog_free(&pb);
	prog_free(&pa);
}
