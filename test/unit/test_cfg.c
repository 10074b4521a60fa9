// SPDX-License-Identifier: GPL-2.0
/* chains.ini: a full round trip, defaults, NF state reuse, chain diffs, and FILE:LINE on bad files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cfg.h"
#include "../nf/l2_rewrite.h"
#include "testlib.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/gen-test-cfg-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(cfg, .init = setup, .fini = teardown);

/* Write `text` to dir/name; returns the path (static buffer per call site is enough). */
static const char *put(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
	return path;
}

static struct cfg *load_ok(const char *text)
{
	char path[128], err[2048];
	struct cfg *c = NULL;
	int r = cfg_load(put("ok.ini", text, path, sizeof(path)), &c, err, sizeof(err));

	cr_assert_eq(r, 0, "cfg_load: %d: %s", r, err);
	cr_assert_not_null(c);
	return c;
}

static const char full[] =
	"# comment line\n"
	"; another\n"
	"[gen]\n"
	"ports = eth-a   eth-b eth-c   # three ports\n"
	"backend = cpu\n"
	"unmatched = drop\n"
	"xdp_mode = skb\n"
	"queues = 4\n"
	"tx_sockets = 3\n"
	"tx_thread = no\n"
	"demote = no\n"
	"max_batch = 4096\n"
	"mini_batch = 128\n"
	"gpu_mode = pipeline\n"
	"control = /tmp/x/gen.sock\n"
	"[nf ttl]\n"
	"  type = ttl_dec\n"
	"[nf rw]\n"
	"type = l2_rewrite\n"
	"dst_mac = 02:00:00:00:00:02\n"
	"src_mac = 02:00:00:00:00:12 ; inline\n"
	"\n"
	"[chain web]\n"
	"id = 7\n"
	"match = proto tcp dport 80 src 10.1.0.0/16\n"
	"match = dst 192.168.1.1 sport 1000-2000 in eth-b proto 17\n"
	"nfs = ttl rw\n"
	"output = eth-c\n"
	"gpu = 2\n"
	"priority = 5\n"
	"[chain all]\n"
	"id = 255\n"
	"match = any\n"
	"output = 1\n";

Test(cfg, full_round_trip)
{
	struct cfg *c = load_ok(full);
	const struct cfg_chain *w, *a;
	const struct cfg_match *m;

	cr_assert_eq(c->nports, 3);
	cr_assert_str_eq(c->ports[0], "eth-a");
	cr_assert_str_eq(c->ports[2], "eth-c");
	cr_assert_eq(c->backend, CFG_BACKEND_CPU);
	cr_assert(c->unmatched_drop);
	cr_assert(!c->xdp_native);
	cr_assert_eq(c->queues, 4);
	cr_assert_eq(c->tx_sockets, 3);
	cr_assert_eq(c->tx_thread, CFG_TX_THREAD_NO);
	cr_assert_eq(c->demote, CFG_DEMOTE_NO);
	cr_assert_eq(c->max_batch, 4096);
	cr_assert_eq(c->mini_batch, 128);
	cr_assert_eq(c->gpu_opts.mode, GPU_MODE_PIPELINE);
	cr_assert_str_eq(c->control, "/tmp/x/gen.sock");
	cr_assert_str_eq(c->base_dir, dir);

	cr_assert_eq(c->n_nfs, 2);
	cr_assert_str_eq(c->nfs[0].name, "ttl");
	cr_assert_str_eq(c->nfs[0].type, "ttl_dec");
	cr_assert_eq(c->nfs[0].nf_type, NF_T_TTL_DEC);
	cr_assert_eq(c->nfs[0].nkv, 0, "type is not passed on");
	cr_assert_eq(c->nfs[0].line, 16);
	cr_assert_eq(c->nfs[1].nkv, 2);
	cr_assert_str_eq(c->nfs[1].kv[1].key, "src_mac");
	cr_assert_str_eq(c->nfs[1].kv[1].value, "02:00:00:00:00:12", "inline comment stripped");
	cr_assert_eq(c->nfs[1].kv[1].line, 21);

	cr_assert_eq(c->nchains, 2);
	w = cfg_chain_find(c, "web");
	cr_assert_not_null(w);
	cr_assert_eq(w->id, 7);
	cr_assert_eq(w->line, 23);
	cr_assert_eq(w->nmatch, 2);
	m = &w->match[0];
	cr_assert_eq(m->proto, 6);
	cr_assert_eq(m->dport_lo, 80);
	cr_assert_eq(m->dport_hi, 80);
	cr_assert_eq(m->sport_lo, 0);
	cr_assert_eq(m->sport_hi, 65535);
	cr_assert_eq(m->src, 0x0a010000);
	cr_assert_eq(m->src_len, 16);
	cr_assert_eq(m->dst_len, 0);
	cr_assert_eq(m->in_port, 0);
	cr_assert_eq(m->line, 25);
	m = &w->match[1];
	cr_assert_eq(m->dst, 0xc0a80101);
	cr_assert_eq(m->dst_len, 32);
	cr_assert_eq(m->sport_lo, 1000);
	cr_assert_eq(m->sport_hi, 2000);
	cr_assert_eq(m->in_port, 2);
	cr_assert_eq(m->proto, 17);
	cr_assert_eq(w->nnfs, 2);
	cr_assert_eq(w->nfs[0], 0);
	cr_assert_eq(w->nfs[1], 1);
	cr_assert_eq(w->output, 3);
	cr_assert_eq(w->gpu, 2);
	cr_assert_eq(w->priority, 5);
	cr_assert_eq(w->order, 0);

	a = cfg_chain_find(c, "all");
	cr_assert_eq(a->id, 255);
	cr_assert_eq(a->nmatch, 1);
	cr_assert_eq(a->match[0].proto, -1);
	cr_assert_eq(a->match[0].src_len, 0);
	cr_assert_eq(a->match[0].dport_hi, 65535);
	cr_assert_eq(a->nnfs, 0, "an empty chain is allowed");
	cr_assert_eq(a->output, 1);
	cr_assert_eq(a->priority, CFG_PRIORITY_DEFAULT);
	cr_assert_eq(a->order, 1);
	cr_assert_null(cfg_chain_find(c, "nope"));

	cr_assert_eq(cfg_chain_equal(c, w, c, w), true);
	cr_assert_eq(cfg_chain_equal(c, w, c, a), false);
	cfg_free(c);
}

Test(cfg, defaults)
{
	struct cfg *c = load_ok("[gen]\nports = veth0\n");

	cr_assert_eq(c->backend, CFG_BACKEND_AUTO);
	cr_assert(!c->unmatched_drop);
	cr_assert(c->xdp_native);
	cr_assert_eq(c->queues, 1);
	cr_assert_eq(c->tx_sockets, 1);
	cr_assert_eq(c->tx_thread, CFG_TX_THREAD_AUTO);
	cr_assert_eq(c->demote, CFG_DEMOTE_AUTO);
	cr_assert_eq(c->spin_us, 20);
	cr_assert_eq(c->max_batch, 65536);
	cr_assert_eq(c->mini_batch, 256);
	cr_assert_eq(c->gpu_opts.mode, GPU_MODE_RTC);
	cr_assert_eq(c->gpu_opts.mem, GPU_MEM_GATHER);
	cr_assert_eq(c->gpu_opts.agent, GPU_AGENT_AUTO);
	cr_assert_eq(c->gpu_opts.compile_timeout_s, 0);
	cr_assert_str_eq(c->control, "/run/gen/gen.sock");
	cr_assert_eq(c->n_nfs, 0);
	cr_assert_eq(c->nchains, 0);
	cfg_free(c);
}

Test(cfg, spin_us)
{
	struct cfg *c = load_ok("[gen]\nports = veth0\nspin_us = 250\n");

	cr_assert_eq(c->spin_us, 250);
	cfg_free(c);
	c = load_ok("[gen]\nports = veth0\nspin_us = 0\n");
	cr_assert_eq(c->spin_us, 0, "0: the shortest polling");
	cfg_free(c);
}

Test(cfg, tx_budget)
{
	struct cfg *c = load_ok("[gen]\nports = veth0\n");

	cr_assert_eq(c->tx_budget, 0, "auto (0), the default: the plan decides per TX socket");
	cfg_free(c);
	c = load_ok("[gen]\nports = veth0\ntx_budget = auto\n");
	cr_assert_eq(c->tx_budget, 0);
	cfg_free(c);
	c = load_ok("[gen]\nports = veth0\ntx_budget = 4096\n");
	cr_assert_eq(c->tx_budget, 4096, "up to the TX ring's size");
	cfg_free(c);
	c = load_ok("[gen]\nports = veth0\ntx_budget = 32\n");
	cr_assert_eq(c->tx_budget, 32, "32: the kernel's own, nothing asked");
	cfg_free(c);
}

Test(cfg, missing_file)
{
	char err[256];
	struct cfg *c = NULL;
	char path[128];

	snprintf(path, sizeof(path), "%s/absent.ini", dir);
	cr_assert_eq(cfg_load(path, &c, err, sizeof(err)), -ENOENT);
	cr_assert_null(c);
	cr_assert(strstr(err, path), "%s", err);
}

struct bad_case {
	const char *text;
	int line;
	const char *reason; /* a substring of the first error */
};

#define GEN "[gen]\nports = a b\n"           /* lines 1-2 */
#define NFS "[nf t]\ntype = ttl_dec\n"      /* lines 3-4 after GEN */
#define CH "[chain c]\nid = 1\nmatch = any\noutput = 2\n" /* lines 5-8 after GEN NFS */

static const struct bad_case bad[] = {
	{ "[gen]\nports = a\nbackend = fast\n", 3, "backend must be auto, gpu, cpu or hybrid" },
	{ "[gen]\nports = a\nmax_wait_us = -1\n", 3, "max_wait_us must be microseconds" },
	{ "[gen]\nports = a\nhybrid_pps = lots\n", 3, "hybrid_pps must be packets per second" },
	{ "[gen]\nports = a\ninflight = 0\n", 3, "inflight must be batches 1..16" },
	{ "[gen]\nports = a\ntx_budget = 16\n", 3, "tx_budget must be auto or an integer in 32..4096" },
	{ "[gen]\nports = a\ntx_budget = 8192\n", 3, "tx_budget must be auto or an integer in 32..4096" },
	{ "[gen]\nports = a\ntx_budget = lots\n", 3, "tx_budget must be auto or an integer in 32..4096" },
	{ "[gen]\nports = a\ncpus = 3-1\n", 3, "cpus must list CPUs and ranges like 2-5,8, got '3-1'" },
	{ "[gen]\nports = a\ncpus = 0,,1\n", 3, "cpus must list CPUs and ranges" },
	{ "[gen]\nports = a\ncpus = 0-\n", 3, "cpus must list CPUs and ranges" },
	{ "[gen]\nports = a\ncpus = all\n", 3, "cpus must list CPUs and ranges" },
	{ "[gen]\nports = a\ncpus = 1023\n", 3, "cpus: CPU 1023 is not one gend may run on" },
	{ "[gen]\nports = a\ncpus = 99999\n", 3, "cpus must list CPUs and ranges" },
	{ GEN NFS CH "inflight = 17\n", 9, "inflight must be batches 1..16" },
	{ "[gen]\nports = a\neve_log = eve.json\n", 3, "eve_log must be an absolute path, journal or off" },
	{ "[gen]\nports = a\nflow_idle_timeout = 0\n", 3, "flow_idle_timeout must be seconds 1..604800" },
	{ "[gen]\nports = a\nflow_active_timeout = 1h\n", 3, "flow_active_timeout must be seconds 1..604800" },
	{ "[gen]\nports = a\nipfix_collector = 192.0.2.9\n", 3, "ipfix_collector must be IPV4ADDRESS:PORT" },
	{ "[gen]\nports = a\nipfix_collector = collector:4739\n", 3, "ipfix_collector must be an IPv4 address" },
	{ "[gen]\nports = a\nlatency_target_us = 10\n", 3, "unknown key 'latency_target_us' in [gen]" },
	{ "[gen]\nports = a\n[chain c]\nid = 1\nmatch = any\noutput = 1\nlatency_target_us = 2000000\n", 7,
	  "latency_target_us must be microseconds 0..1000000" },
	{ "[gen]\nports = a\n[chain c]\nid = 1\nmatch = any\noutput = 1\nbackend = gpu2\n", 7, "backend must be" },
	{ "[gen]\nports = a\n[nf f]\ntype = flowmon\n[chain c]\nid = 1\nmatch = any\nnfs = f\noutput = 1\n"
	  "backend = hybrid\n[chain d]\nid = 2\nmatch = any\nnfs = f\noutput = 1\n", 11,
	  "chain 'c' (backend hybrid) and chain 'd' share nf 'f'" },
	{ "ports = a\n", 1, "outside a section" },
	{ "[gen\nports = a\n", 1, "without ']'" },
	{ "[gen] x\nports = a\n", 1, "after ']'" },
	{ "[global]\n", 1, "unknown section" },
	{ "[nf]\n", 1, "unknown section" },
	{ "[nf a b]\n", 1, "unknown section" },
	{ GEN "[nf bad/name]\ntype = ttl_dec\n", 3, "nf name 'bad/name'" },
	{ GEN "[gen]\n", 3, "duplicate [gen]" },
	{ GEN "just words\n", 3, "expected 'key = value'" },
	{ "\n\n[chain c]\nid = 1\nmatch = any\noutput = 1\n", 1, "no [gen] section" },
	{ "[gen]\nbackend = cpu\n", 1, "needs 'ports'" },
	{ "[gen]\nports =\n", 2, "ports is empty" },
	{ "[gen]\nports = a a\n", 2, "listed twice" },
	{ "[gen]\nports = averyveryverylongname\n", 2, "longer than 15" },
	{ "[gen]\nports = 12\n", 2, "all digits" },
	{ GEN "backend = tpu\n", 3, "backend must be" },
	{ GEN "unmatched = reject\n", 3, "unmatched must be" },
	{ GEN "xdp_mode = hw\n", 3, "xdp_mode must be" },
	{ GEN "gpu_mode = fast\n", 3, "gpu_mode must be" },
	{ GEN "gpu_mem = pinned\n", 3, "gpu_mem must be gather, mapped or staged" },
	{ GEN "gpu_agent = jit\n", 3, "gpu_agent must be auto, generic or fused" },
	{ GEN "gpu_compile_timeout = 0\n", 3, "gpu_compile_timeout must be seconds 1..3600" },
	{ GEN "gpu_compile_timeout = 3601\n", 3, "gpu_compile_timeout must be" },
	{ GEN "[chain c]\nid = 1\nmatch = any\noutput = 1\ngpu_mem = x\n", 7, "gpu_mem must be" },
	{ GEN "[chain c]\nid = 1\nmatch = any\noutput = 1\ngpu_compile_timeout = 5\n", 7,
	  "unknown key 'gpu_compile_timeout'" },
	{ GEN "queues = 0\n", 3, "queues must be" },
	{ GEN "queues = 65\n", 3, "queues must be" },
	{ GEN "queues = 2x\n", 3, "queues must be" },
	{ GEN "queues = -1\n", 3, "queues must be" },
	{ GEN "tx_sockets = 0\n", 3, "tx_sockets must be an integer in 1..8" },
	{ GEN "tx_sockets = 9\n", 3, "tx_sockets must be an integer in 1..8" },
	{ GEN "tx_thread = maybe\n", 3, "tx_thread must be no, yes or auto" },
	{ GEN "demote = always\n", 3, "demote must be auto, yes or no" },
	{ GEN "spin_us = 1000001\n", 3, "spin_us must be an integer in 0..1000000" },
	{ GEN "spin_us = 5ms\n", 3, "spin_us must be" },
	{ GEN "mini_batch = 2048\n", 3, "mini_batch must be" },
	{ GEN "max_batch = 100\n", 3, "smaller than mini_batch" },
	{ GEN "\nmini_batch = 512\nmax_batch = 256\n", 5, "smaller than mini_batch" },
	{ GEN "max_batch = 99999999\n", 3, "max_batch must be" },
	{ GEN "control = gen.sock\n", 3, "absolute path" },
	{ GEN "colour = blue\n", 3, "unknown key 'colour' in [gen]" },
	{ GEN "queues = 2\nqueues = 3\n", 4, "duplicate key 'queues' (first at line 3)" },
	{ GEN "[nf x]\n", 3, "needs 'type'" },
	{ GEN "[nf x]\ntype = teleport\n", 4, "unknown nf type 'teleport'" },
	{ GEN "[nf x]\ntype = ttl_dec\ntype = ttl_dec\n", 5, "duplicate key 'type'" },
	{ GEN "[nf x]\ntype = l2_rewrite\ndst_mac = 02:00:00:00:00:01\ndst_mac = 02:00:00:00:00:02\n", 6,
	  "duplicate key 'dst_mac'" },
	{ GEN NFS "[nf t]\ntype = ttl_dec\n", 5, "duplicate [nf t] (first at line 3)" },
	{ GEN NFS CH "[chain c]\nid = 2\nmatch = any\noutput = 1\n", 9, "duplicate [chain c]" },
	{ GEN NFS "[chain c]\nmatch = any\noutput = 1\n", 5, "needs 'id'" },
	{ GEN NFS "[chain c]\nid = 0\nmatch = any\noutput = 1\n", 6, "id must be" },
	{ GEN NFS "[chain c]\nid = 256\nmatch = any\noutput = 1\n", 6, "id must be" },
	{ GEN NFS CH "[chain d]\nid = 1\nmatch = any\noutput = 1\n", 10, "id 1 is already used by chain 'c' (line 5)" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\n", 5, "at least one 'match'" },
	{ GEN NFS "[chain c]\nid = 1\nmatch = any\n", 5, "needs 'output'" },
	{ GEN NFS "[chain c]\nid = 1\nmatch = any\noutput = 3\n", 8, "output '3'" },
	{ GEN NFS "[chain c]\nid = 1\nmatch = any\noutput = eth9\n", 8, "output 'eth9'" },
	{ GEN NFS "[chain c]\nid = 1\nmatch = any\noutput = 1\nnfs = t u\n", 9, "no [nf u] section" },
	{ GEN NFS "[chain c]\nid = 1\nmatch = any\noutput = 1\nnfs = t t t t t t t t t t t t t t t t t\n", 9,
	  "more than 16 nfs" },
	{ GEN NFS "[chain c]\nid = 1\nmatch = any\noutput = 1\ngpu = 64\n", 9, "gpu must be" },
	{ GEN NFS "[chain c]\nid = 1\nmatch = any\noutput = 1\npriority = 70000\n", 9, "priority must be" },
	{ GEN NFS "[chain c]\nid = 1\nmatch = any\noutput = 1\nmtu = 9000\n", 9, "unknown key 'mtu' in [chain]" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch =\n", 8, "empty match" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = port 80\n", 8, "unknown match key 'port'" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = dport\n", 8, "needs a value" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = dport 80 dport 81\n", 8, "given twice" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = dport 70000\n", 8, "not a port or range" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = dport 90-80\n", 8, "backwards" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = sport 1-\n", 8, "not a port or range" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = src 10.0.0.0/33\n", 8, "not an IPv4 address" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = src 10.0.0/8\n", 8, "not an IPv4 address" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = dst 10.0.0.1/8\n", 8, "did you mean 10.0.0.0/8" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = proto sctpx\n", 8, "match proto 'sctpx'" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = proto 256\n", 8, "match proto '256'" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = proto icmp dport 1\n", 8, "need proto tcp or udp" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = in 3\n", 8, "match in '3'" },
	{ GEN NFS "[chain c]\nid = 1\noutput = 1\nmatch = any\nmatch = dport 1 x\n", 9, "unknown match key 'x'" },
	{ GEN "[nf e]\ntype = ipsec_esp\n[chain c]\nid = 1\nmatch = any\noutput = 1\nnfs = e\n"
	      "[chain d]\nid = 2\nmatch = any\noutput = 1\nnfs = e\ngpu = 1\n", 10, "share ipsec_esp nf 'e'" },
};

Test(cfg, bad_files_name_file_and_line)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[128], err[2048], want[192];
		struct cfg *c = NULL;
		int r;

		put("bad.ini", bad[i].text, path, sizeof(path));
		r = cfg_load(path, &c, err, sizeof(err));
		cr_assert_eq(r, -EINVAL, "case %zu: expected -EINVAL, got %d (%s)", i, r, err);
		cr_assert_null(c, "case %zu", i);
		snprintf(want, sizeof(want), "%s:%d: ", path, bad[i].line);
		cr_assert_eq(strncmp(err, want, strlen(want)), 0, "case %zu: want '%s...', got '%s'", i, want, err);
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		cr_assert_not_null(strstr(err, bad[i].reason), "case %zu: want '%s' in '%s'", i, bad[i].reason, err);
	}
}

Test(cfg, all_errors_in_line_order)
{
	char path[128], err[2048];
	struct cfg *c = NULL;
	/* The syntax error (line 6) comes from inih at the end of parsing; it still sorts into place. */
	const char *text = "[gen]\nports = a\nqueues = 0\n[chain c]\nid = 1\nnonsense\nmatch = dport x\noutput = 9\n";
	char *l2, *l3;

	put("multi.ini", text, path, sizeof(path));
	cr_assert_eq(cfg_load(path, &c, err, sizeof(err)), -EINVAL);
	l2 = strchr(err, '\n');
	cr_assert_not_null(l2, "%s", err);
	l3 = strchr(l2 + 1, '\n');
	cr_assert_not_null(l3, "%s", err);
	char want[160];
	snprintf(want, sizeof(want), "%s:3: ", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	snprintf(want, sizeof(want), "\n%s:6: ", path);
	cr_assert_eq(strncmp(l2, want, strlen(want)), 0, "%s", err);
	snprintf(want, sizeof(want), "\n%s:7: ", path);
	cr_assert_eq(strncmp(l3, want, strlen(want)), 0, "%s", err);
	snprintf(want, sizeof(want), "%s:8: output '9'", path);
	cr_assert_not_null(strstr(err, want), "%s", err);

	/* A tiny buffer gets whole lines only (here none fits), never half a line. */
	char small[8];
	cr_assert_eq(cfg_load(path, &c, small, sizeof(small)), -EINVAL);
	cr_assert_str_eq(small, "");
}

Test(cfg, long_line_is_an_error)
{
	char path[128], err[1024], text[600];
	struct cfg *c = NULL;

	snprintf(text, sizeof(text), "[gen]\nports = a\n[nf x]\ntype = l2_rewrite\ndst_mac = 02:00:00:00:00:01%*s\n",
		 400, "x");
	put("long.ini", text, path, sizeof(path));
	cr_assert_eq(cfg_load(path, &c, err, sizeof(err)), -EINVAL);
	char want[160];
	snprintf(want, sizeof(want), "%s:5: line longer than", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
}

Test(cfg, build_reuse_and_rebuild)
{
	static const char a[] = "[gen]\nports = p1 p2\n"
				"[nf ttl]\ntype = ttl_dec\n"
				"[nf rw]\ntype = l2_rewrite\ndst_mac = 02:00:00:00:00:02\n"
				"[chain c]\nid = 1\nmatch = any\nnfs = ttl rw\noutput = 2\n";
	static const char b[] = "[gen]\nports = p1 p2\n"
				"[nf ttl]\ntype = ttl_dec\n"
				"[nf rw]\ntype = l2_rewrite\ndst_mac = 02:00:00:00:00:03\n"
				"[chain c]\nid = 1\nmatch = any\nnfs = ttl rw\noutput = 2\n";
	char err[1024];
	struct cfg *c1 = load_ok(a), *c2, *c3;
	struct nf_hdr *ttl_state, *rw_state;

	cr_assert_eq(cfg_build_nfs(c1, NULL, err, sizeof(err)), 0, "%s", err);
	ttl_state = c1->nfs[0].state;
	rw_state = c1->nfs[1].state;
	cr_assert_not_null(ttl_state);
	cr_assert_eq(rw_state->type, NF_T_L2_REWRITE);
	cr_assert_eq(((struct nf_l2_rewrite *)rw_state)->dst[5], 2);
	NF_COUNTERS(ttl_state)[0] = 42; /* live counter that must survive */

	/* Same file again: every state moves over. */
	c2 = load_ok(a);
	cr_assert_eq(cfg_build_nfs(c2, c1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c2->nfs[0].state, ttl_state);
	cr_assert_eq(c2->nfs[1].state, rw_state);
	cr_assert(c2->nfs[0].reused);
	cr_assert_null(c1->nfs[0].state);
	cr_assert_null(c1->nfs[1].state);
	cr_assert_eq(NF_COUNTERS(c2->nfs[0].state)[0], 42);
	cr_assert(cfg_chain_equal(c1, &c1->chains[0], c2, &c2->chains[0]));
	cfg_free(c1);

	/* rw changed: ttl is kept, rw rebuilt, the chain is different. */
	c3 = load_ok(b);
	cr_assert_eq(cfg_build_nfs(c3, c2, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c3->nfs[0].state, ttl_state);
	cr_assert_neq(c3->nfs[1].state, NULL);
	cr_assert(!c3->nfs[1].reused);
	cr_assert_eq(((struct nf_l2_rewrite *)c3->nfs[1].state)->dst[5], 3);
	cr_assert_not_null(c2->nfs[1].state, "a state not taken stays with the old config");
	cr_assert(!cfg_chain_equal(c2, &c2->chains[0], c3, &c3->chains[0]));
	cfg_free(c2);
	cfg_free(c3);
}

Test(cfg, failed_build_takes_nothing)
{
	static const char good[] = "[gen]\nports = p1\n[nf ttl]\ntype = ttl_dec\n"
				   "[nf rw]\ntype = l2_rewrite\ndst_mac = 02:00:00:00:00:02\n";
	/* The builder rejects the MAC; cfg_load can't know, the builder reports FILE:LINE. */
	static const char bad_mac[] = "[gen]\nports = p1\n[nf ttl]\ntype = ttl_dec\n"
				      "[nf rw]\ntype = l2_rewrite\ndst_mac = 02:00:00:00:00\n"
				      "[nf rw2]\ntype = l2_rewrite\nbogus = 1\n";
	char err[1024], want[160];
	struct cfg *c1 = load_ok(good), *c2;
	struct nf_hdr *ttl_state;

	cr_assert_eq(cfg_build_nfs(c1, NULL, err, sizeof(err)), 0, "%s", err);
	ttl_state = c1->nfs[0].state;
	c2 = load_ok(bad_mac);
	cr_assert_eq(cfg_build_nfs(c2, c1, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s/ok.ini:7: dst_mac", dir);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	snprintf(want, sizeof(want), "\n%s/ok.ini:10: unknown key 'bogus'", dir);
	cr_assert_not_null(strstr(err, want), "both errors reported: %s", err);
	cr_assert_eq(c1->nfs[0].state, ttl_state, "the running state stays where it was");
	for (int i = 0; i < c2->n_nfs; i++)
		cr_assert_null(c2->nfs[i].state);
	cfg_free(c2);
	cfg_free(c1);
}

Test(cfg, fingerprint_follows_referenced_files)
{
	char path[128];
	static const char text[] = "[gen]\nports = p1\n[nf r]\ntype = l2_rewrite\nsrc_mac = table.txt\n";
	struct cfg *c1, *c2, *c3, *c4;

	put("table.txt", "one\n", path, sizeof(path));
	c1 = load_ok(text);
	c2 = load_ok(text);
	cr_assert_eq(c1->nfs[0].fingerprint, c2->nfs[0].fingerprint);
	put("table.txt", "two\n", path, sizeof(path));
	c3 = load_ok(text);
	cr_assert_neq(c1->nfs[0].fingerprint, c3->nfs[0].fingerprint, "file content is part of the fingerprint");
	/* Key order does not matter; values do. */
	c4 = load_ok("[gen]\nports = p1\n[nf r]\nsrc_mac = table.txt\ntype = l2_rewrite\n");
	cr_assert_eq(c3->nfs[0].fingerprint, c4->nfs[0].fingerprint);
	cfg_free(c1);
	cfg_free(c2);
	cfg_free(c3);
	cfg_free(c4);
}

Test(cfg, chain_equal_by_interface_name)
{
	static const char a[] = "[gen]\nports = p1 p2\n[nf t]\ntype = ttl_dec\n"
				"[chain c]\nid = 1\nmatch = in p1 dport 80\nnfs = t\noutput = p2\n"
				"[chain d]\nid = 2\nmatch = any\noutput = 1\n";
	/* Ports swapped, a comment added, chain d changed: c is still the same chain. */
	static const char b[] = "[gen]\nports = p2 p1\n# new comment\n[nf t]\ntype = ttl_dec\n"
				"[chain c]\nid = 1\nmatch = in 2 dport 80\nnfs = t\noutput = 1\n"
				"[chain d]\nid = 2\nmatch = any\noutput = 1\n";
	struct cfg *x = load_ok(a), *y = load_ok(b);

	cr_assert(cfg_chain_equal(x, cfg_chain_find(x, "c"), y, cfg_chain_find(y, "c")));
	cr_assert(!cfg_chain_equal(x, cfg_chain_find(x, "d"), y, cfg_chain_find(y, "d")),
		  "output 1 is p1 in one file and p2 in the other");
	cfg_free(x);
	cfg_free(y);
}

Test(cfg, shipped_example_loads_and_builds)
{
	char err[2048];
	struct cfg *c = NULL;
	char path[4096];

	cr_assert_eq(tl_source_path("etc/gen/chains.ini", path, sizeof(path)), 0, "%s: not found", path);
	int r = cfg_load(path, &c, err, sizeof(err));

	cr_assert_eq(r, 0, "%s", err);
	cr_assert_eq(cfg_build_nfs(c, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c->nports, 2);
	cr_assert_str_eq(c->ports[0], "gen-in");
	cr_assert_str_eq(c->ports[1], "gen-out");
	cr_assert_geq(c->nchains, 2);
	cfg_free(c);
}

/* A referenced file (routes): unchanged means reuse, changed means rebuild, bad means its own FILE:LINE. */
Test(cfg, routes_file_drives_reuse_and_errors)
{
	static const char text[] = "[gen]\nports = p1 p2\n[nf r]\ntype = ipv4_router\nroutes = routes.conf\n"
				   "[chain c]\nid = 1\nmatch = any\nnfs = r\noutput = 2\n";
	char rpath[128], err[1024], want[192];
	struct cfg *c1, *c2, *c3, *c4;

	if (!nf_ops_find("ipv4_router"))
		cr_skip_test("ipv4_router is not built in");
	put("routes.conf", "10.0.0.0/8 02:00:00:00:00:01\n", rpath, sizeof(rpath));
	c1 = load_ok(text);
	cr_assert_eq(cfg_build_nfs(c1, NULL, err, sizeof(err)), 0, "%s", err);
	struct nf_hdr *st = c1->nfs[0].state;

	c2 = load_ok(text);
	cr_assert_eq(cfg_build_nfs(c2, c1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c2->nfs[0].state, st, "same routes file: the table is kept");
	cr_assert(cfg_chain_equal(c1, &c1->chains[0], c2, &c2->chains[0]));

	put("routes.conf", "10.0.0.0/8 02:00:00:00:00:01\n192.168.0.0/16 02:00:00:00:00:02\n", rpath, sizeof(rpath));
	c3 = load_ok(text);
	cr_assert_eq(cfg_build_nfs(c3, c2, err, sizeof(err)), 0, "%s", err);
	cr_assert(!c3->nfs[0].reused, "routes changed: rebuilt");
	cr_assert_not_null(c3->nfs[0].state);
	cr_assert(!cfg_chain_equal(c2, &c2->chains[0], c3, &c3->chains[0]), "a chain whose NF changed is not equal");

	put("routes.conf", "10.0.0.0/8 02:00:00:00:00:01\n\n10.1.0.0/16 nonsense\n", rpath, sizeof(rpath));
	c4 = load_ok(text);
	cr_assert_lt(cfg_build_nfs(c4, c3, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s:3: ", rpath);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "want '%s...', got '%s'", want, err);
	cr_assert_not_null(c3->nfs[0].state, "a rejected reload leaves the running table alone");
	cfg_free(c1);
	cfg_free(c2);
	cfg_free(c3);
	cfg_free(c4);
}

/*
 * [gen] gives the defaults of the gpu_* keys, a chain overrides mem, mode and
 * agent; they reach the chain (a change restarts it on reload), the compile
 * timeout only from [gen] and without restarting chains.
 */
Test(cfg, gpu_keys)
{
	struct cfg *c = load_ok("[gen]\nports = a\ngpu_mem = staged\ngpu_mode = pipeline\ngpu_agent = generic\n"
				"gpu_compile_timeout = 120\n"
				"[chain x]\nid = 1\nmatch = any\noutput = 1\n"
				"[chain y]\nid = 2\nmatch = any\noutput = 1\ngpu_mem = mapped\ngpu_mode = rtc\n"
				"gpu_agent = fused\n");
	const struct cfg_chain *x = cfg_chain_find(c, "x"), *y = cfg_chain_find(c, "y");
	struct cfg *d;

	cr_assert_eq(x->gpu_opts.mem, GPU_MEM_STAGED);
	cr_assert_eq(x->gpu_opts.mode, GPU_MODE_PIPELINE);
	cr_assert_eq(x->gpu_opts.agent, GPU_AGENT_GENERIC);
	cr_assert_eq(x->gpu_opts.compile_timeout_s, 120);
	cr_assert_eq(y->gpu_opts.mem, GPU_MEM_MAPPED);
	cr_assert_eq(y->gpu_opts.mode, GPU_MODE_RTC);
	cr_assert_eq(y->gpu_opts.agent, GPU_AGENT_FUSED);
	cr_assert_eq(y->gpu_opts.compile_timeout_s, 120);

	d = load_ok("[gen]\nports = a\ngpu_mem = staged\ngpu_mode = pipeline\ngpu_agent = generic\n"
		    "gpu_compile_timeout = 30\n"
		    "[chain x]\nid = 1\nmatch = any\noutput = 1\n"
		    "[chain y]\nid = 2\nmatch = any\noutput = 1\ngpu_mem = mapped\ngpu_agent = fused\n");
	cr_assert(cfg_chain_equal(c, x, d, cfg_chain_find(d, "x")), "the compile timeout restarts no chain");
	cr_assert(!cfg_chain_equal(c, y, d, cfg_chain_find(d, "y")), "y's gpu_mode went from rtc to pipeline");
	cfg_free(d);
	cfg_free(c);
}

/* [gen] cpus: CPUs this process may run on, in the order listed; a CPU twice is an error on its line. */
Test(cfg, cpus_list)
{
	cpu_set_t set;
	int have[2], n = 0;
	char text[160], err[2048], path[128];
	struct cfg *c;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			have[n++] = i;
	cr_assert_gt(n, 0);
	c = load_ok("[gen]\nports = a\n");
	cr_assert_eq(c->ncpus, 0, "no cpus key: threads unpinned");
	cfg_free(c);
	if (n == 2)
		snprintf(text, sizeof(text), "[gen]\nports = a\ncpus = %d , %d-%d\n", have[1], have[0], have[0]);
	else
		snprintf(text, sizeof(text), "[gen]\nports = a\ncpus = %d-%d\n", have[0], have[0]);
	c = load_ok(text);
	cr_assert_eq(c->ncpus, n);
	cr_assert_eq(c->cpus[0], n == 2 ? have[1] : have[0], "listed order kept");
	if (n == 2)
		cr_assert_eq(c->cpus[1], have[0]);
	cfg_free(c);
	snprintf(text, sizeof(text), "[gen]\nports = a\n\ncpus = %d,%d\n", have[0], have[0]);
	cr_assert_eq(cfg_load(put("twice.ini", text, path, sizeof(path)), &c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, ":4: cpus: CPU ") && strstr(err, "is listed twice"), "%s", err);
}

/* [gen] gives the defaults of the elasticity keys; a chain overrides them; a reload sees a change. */
Test(cfg, elastic_keys)
{
	struct cfg *c = load_ok("[gen]\nports = a\nbackend = hybrid\nmax_wait_us = 300\nhybrid_pps = 1000000\n"
				"[chain x]\nid = 1\nmatch = any\noutput = 1\n"
				"[chain y]\nid = 2\nmatch = any\noutput = 1\nbackend = cpu\nmax_wait_us = 0\n"
				"latency_target_us = 500\nhybrid_pps = 7\ninflight = 12\n");
	const struct cfg_chain *x = cfg_chain_find(c, "x"), *y = cfg_chain_find(c, "y");

	cr_assert_eq(c->backend, CFG_BACKEND_HYBRID);
	cr_assert_eq(x->backend, CFG_BACKEND_HYBRID);
	cr_assert_eq(x->max_wait_us, 300);
	cr_assert_eq(x->latency_target_us, 0);
	cr_assert_eq(x->hybrid_pps, 1000000);
	cr_assert_eq(y->backend, CFG_BACKEND_CPU);
	cr_assert_eq(y->max_wait_us, 0);
	cr_assert_eq(y->latency_target_us, 500);
	cr_assert_eq(y->hybrid_pps, 7);
	cr_assert_eq(x->inflight, CFG_INFLIGHT_DEFAULT);
	cr_assert_eq(y->inflight, 12);
	cr_assert_eq(cfg_chain_equal(c, x, c, x), true);
	cr_assert_eq(cfg_chain_equal(c, x, c, y), false);

	struct cfg *d = load_ok("[gen]\nports = a\nbackend = hybrid\nmax_wait_us = 400\nhybrid_pps = 1000000\n"
				"[chain x]\nid = 1\nmatch = any\noutput = 1\n");
	cr_assert_eq(cfg_chain_equal(c, x, d, cfg_chain_find(d, "x")), false, "a new [gen] default changes the chain");
	cfg_free(d);
	d = load_ok("[gen]\nports = a\nbackend = hybrid\nmax_wait_us = 300\nhybrid_pps = 1000000\ninflight = 4\n"
		    "[chain x]\nid = 1\nmatch = any\noutput = 1\n");
	cr_assert_eq(cfg_chain_find(d, "x")->inflight, 4);
	cr_assert_eq(cfg_chain_equal(c, x, d, cfg_chain_find(d, "x")), false, "[gen] inflight changes the chain");
	cfg_free(d);
	cfg_free(c);
}

Test(cfg, events_and_flow_export_keys)
{
	struct cfg *c = load_ok("[gen]\nports = a\n");

	cr_assert_str_eq(c->eve_log, "/var/log/gen/eve.json");
	cr_assert_eq(c->flow_idle_s, 15);
	cr_assert_eq(c->flow_active_s, 1800);
	cr_assert_eq(c->ipfix_port, 0);
	cfg_free(c);
	c = load_ok("[gen]\nports = a\neve_log = journal\nflow_idle_timeout = 5\nflow_active_timeout = 60\n"
		    "ipfix_collector = 192.0.2.9:4739\n");
	cr_assert_str_eq(c->eve_log, "journal");
	cr_assert_eq(c->flow_idle_s, 5);
	cr_assert_eq(c->flow_active_s, 60);
	cr_assert_eq(c->ipfix_addr, 0xc0000209);
	cr_assert_eq(c->ipfix_port, 4739);
	cfg_free(c);
}
