// SPDX-License-Identifier: GPL-2.0
/*
 * Custom NFs (type = custom): the two shipped examples built by the host compiler
 * and run on crafted packets (checksums recomputed from scratch as the oracle),
 * the object cache, every safety rule with its FILE:LINE, params placement,
 * reload through cfg, and the same sources through NVRTC.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "registry.h"
#include "agent.h"
#include "custom.h"
#include "gen_nf.h"
#include "cfg.h"
#include "testlib.h"

#define INI "/etc/gen/chains.ini"

static char dir[64];      /* per test: sources in dir/src, objects in dir/cache */
static char srcdir[128];

static void setup(void)
{
	char p[160];

	snprintf(dir, sizeof(dir), "/tmp/gen-custom-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(srcdir, sizeof(srcdir), "%s/src", dir);
	cr_assert_eq(mkdir(srcdir, 0755), 0);
	snprintf(p, sizeof(p), "%s/cache", dir);
	setenv("GEN_CACHE_DIR", p, 1);
	unsetenv("GEN_CC");
	/* gen_nf.h from the source tree, wherever this build sits (testlib.h). */
	unsetenv("GEN_NF_INCLUDE");
	cr_assert_eq(tl_nf_include_from_source(), 0, "no source tree found: set GEN_SOURCE_DIR");
}

static void teardown(void)
{
	char cmd[192];

	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s'; rm -rf '%s'", dir, dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(custom, .init = setup, .fini = teardown);

static void put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert(fputs(text, f) >= 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0);
}

/* Put text at srcdir/name (mode 0644); returns the path. */
static const char *src_file(const char *name, const char *text, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", srcdir, name);
	put(path, text, 0644);
	return path;
}

/* Copy a shipped example into srcdir. */
static void example(const char *name)
{
	char from[PATH_MAX], to[PATH_MAX], cmd[3 * PATH_MAX + 64];

	char rel[128];

	snprintf(rel, sizeof(rel), "etc/gen/nf/%s", name);
	cr_assert_eq(tl_source_path(rel, from, sizeof(from)), 0, "%s: not found", from);
	snprintf(to, sizeof(to), "%s/%s", srcdir, name);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0644 '%s'", from, to, to);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/*
 * Build a custom NF from "key=value" strings; the Nth kv sits on line 11 + N
 * of a pretend chains.ini whose directory is dir (so "src/x.c" resolves).
 */
static int build_kv(struct nf_hdr **st, char *err, size_t errlen, const char *const *kvs)
{
	struct nf_kv kv[8];
	char keys[8][32];
	int n = 0;

	for (; kvs[n]; n++) {
		const char *eq = strchr(kvs[n], '=');

		cr_assert(eq && eq - kvs[n] < 32);
		memcpy(keys[n], kvs[n], (size_t)(eq - kvs[n]));
		keys[n][eq - kvs[n]] = '\0';
		kv[n] = (struct nf_kv){ .key = keys[n], .value = eq + 1, .line = 11 + n };
	}
	struct nf_cfg cfg = { .name = "mine", .file = INI, .line = 10, .kv = kv, .nkv = n, .base_dir = dir };
	const struct nf_ops *ops = nf_ops_find("custom");

	cr_assert_not_null(ops);
	cr_assert_eq(ops->type, NF_T_CUSTOM);
	err[0] = '\0';
	*st = NULL;
	return ops->build(&cfg, st, err, errlen);
}

#define BUILD(st, err, ...) build_kv((st), (err), sizeof(err), (const char *const[]){ __VA_ARGS__, NULL })

static struct nf_custom *build_ok(const char *const *kvs)
{
	char err[1024];
	struct nf_hdr *st;
	int r = build_kv(&st, err, sizeof(err), kvs);

	cr_assert_eq(r, 0, "build: %d: %s", r, err);
	cr_assert_not_null(st);
	cr_assert_eq(st->type, NF_T_CUSTOM);
	return (struct nf_custom *)st;
}

#define BUILD_OK(...) build_ok((const char *const[]){ __VA_ARGS__, NULL })

/* Expect a failed build whose error starts with INI:line: and contains `what`. */
#define EXPECT_FAIL(line, what, ...)                                                                     \
	do {                                                                                             \
		char err_[1024], pre_[64];                                                               \
		struct nf_hdr *st_;                                                                      \
		int r_ = BUILD(&st_, err_, __VA_ARGS__);                                                 \
		cr_assert_lt(r_, 0, "build should fail (%s)", what);                                     \
		cr_assert_null(st_);                                                                     \
		snprintf(pre_, sizeof(pre_), INI ":%d: nf 'mine': ", (line));                            \
		cr_assert(!strncmp(err_, pre_, strlen(pre_)), "error should start with '%s': %s", pre_, err_); \
		cr_assert_not_null(strstr(err_, what), "error should say '%s': %s", what, err_);          \
	} while (0)

/* ---- packets ---- */

/* Ethernet [+ 802.1Q] + IPv4 (ihl words) + 8 bytes of UDP-ish payload at buf+off; returns the length. */
static uint32_t mk_ipv4(uint8_t *buf, uint32_t off, bool vlan, unsigned ihl, uint8_t tos, uint8_t ttl)
{
	uint8_t *d = buf + off;
	uint32_t l3 = vlan ? 18 : 14, len = l3 + ihl * 4 + 8;

	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(0x5a ^ i * 7);
	d[12] = vlan ? 0x81 : 0x08;
	d[13] = 0x00;
	if (vlan) {
		d[16] = 0x08;
		d[17] = 0x00;
	}
	uint8_t *ip = d + l3;
	ip[0] = (uint8_t)(0x40 | ihl);
	ip[1] = tos;
	ip[2] = 0;
	ip[3] = (uint8_t)(ihl * 4 + 8);
	ip[8] = ttl;
	ip[9] = 17;
	ip[10] = ip[11] = 0;
	uint16_t c = tl_csum(ip, ihl * 4);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	return len;
}

static struct nf_pkt pkt(uint8_t *buf, uint32_t off, uint32_t len, uint32_t cap)
{
	return (struct nf_pkt){ .buf = buf, .off = off, .len = len, .cap = cap };
}

/* Run one packet through a one-NF chain, exactly as the cpu backend does. */
static int run_chain(struct nf_custom *c, struct nf_pkt *p)
{
	struct nf_chain ch = { .n = 1 };

	ch.type[0] = NF_T_CUSTOM;
	ch.state[0] = (uint64_t)(uintptr_t)c;
	return nf_agent_run(&ch, NULL, p);
}

/* ---- the examples ---- */

struct ttl_guard_view {
	uint32_t params[8];
	uint64_t too_low, passed, not_ipv4;
};

Test(custom, ttl_guard_drops_low_ttl)
{
	example("ttl_guard.c");
	struct nf_custom *c = BUILD_OK("source=src/ttl_guard.c", "params=5");
	struct ttl_guard_view *v = nf_custom_state(c);
	static const uint8_t ttls[] = { 0, 1, 4, 5, 6, 64, 255 };
	uint8_t buf[512], ref[512];
	unsigned drops = 0, passes = 0;

	cr_assert_eq(v->params[0], 5);
	for (size_t i = 0; i < sizeof(ttls); i++) {
		for (int vlan = 0; vlan < 2; vlan++) {
			uint32_t len = mk_ipv4(buf, 64, vlan, 5 + (unsigned)i % 3, 0, ttls[i]);
			struct nf_pkt p = pkt(buf, 64, len, sizeof(buf));

			memcpy(ref, buf, sizeof(buf));
			int verdict = run_chain(c, &p);
			cr_assert_eq(verdict, ttls[i] < 5 ? NF_DROP : NF_PASS, "ttl %u vlan %d", ttls[i], vlan);
			cr_assert_eq(memcmp(ref, buf, sizeof(buf)), 0, "ttl_guard must not write the packet");
			cr_assert_eq(p.len, len);
			if (verdict == NF_DROP)
				drops++;
			else
				passes++;
		}
	}
	/* ARP: not IPv4, passes untouched. */
	memset(buf, 0, sizeof(buf));
	buf[12] = 0x08;
	buf[13] = 0x06;
	struct nf_pkt arp = pkt(buf, 0, 60, sizeof(buf));
	cr_assert_eq(run_chain(c, &arp), NF_PASS);

	cr_assert_eq(v->too_low, drops);
	cr_assert_eq(v->passed, passes);
	cr_assert_eq(v->not_ipv4, 1);
	cr_assert_eq(c->passed, passes + 1);
	cr_assert_eq(c->dropped, drops);
	cr_assert_eq(c->no_code, 0);
	free(c);
}

struct dscp_view {
	uint32_t params[8];
	uint64_t marked, unchanged, not_ipv4, bad_param;
};

Test(custom, dscp_marker_rewrites_tos_and_checksum)
{
	example("dscp_marker.c");
	struct nf_custom *c = BUILD_OK("source=src/dscp_marker.c", "params=46");
	struct dscp_view *v = nf_custom_state(c);
	uint8_t buf[512], ref[512];
	unsigned marked = 0, unchanged = 0;

	srand(7);
	for (int i = 0; i < 400; i++) {
		bool vlan = i & 1;
		unsigned ihl = 5 + (unsigned)(rand() % 11);
		uint8_t tos = (uint8_t)rand();
		if (i % 10 == 0)
			tos = (uint8_t)(46 << 2 | (tos & 3)); /* already marked */
		uint32_t off = (uint32_t)(rand() % 128);
		uint32_t len = mk_ipv4(buf, off, vlan, ihl, tos, (uint8_t)rand());
		/* Random bytes in the header, so every checksum word differs. */
		uint8_t *ip = buf + off + (vlan ? 18 : 14);
		for (unsigned k = 4; k < ihl * 4; k++)
			if (k != 8 && k != 10 && k != 11)
				ip[k] = (uint8_t)rand();
		ip[10] = ip[11] = 0;
		uint16_t c0 = tl_csum(ip, ihl * 4);
		ip[10] = (uint8_t)(c0 >> 8);
		ip[11] = (uint8_t)c0;

		memcpy(ref, buf, sizeof(buf));
		uint8_t *rip = ref + (ip - buf);
		rip[1] = (uint8_t)(46 << 2 | (tos & 3));
		rip[10] = rip[11] = 0;
		uint16_t c1 = tl_csum(rip, ihl * 4);
		rip[10] = (uint8_t)(c1 >> 8);
		rip[11] = (uint8_t)c1;

		struct nf_pkt p = pkt(buf, off, len, sizeof(buf));
		cr_assert_eq(run_chain(c, &p), NF_PASS);
		cr_assert_eq(memcmp(ref, buf, sizeof(buf)), 0, "packet %d (tos %#x ihl %u vlan %d) differs", i, tos, ihl, vlan);
		cr_assert_eq(tl_csum(ip, ihl * 4), 0, "header no longer sums to 0xffff");
		if (tos >> 2 == 46)
			unchanged++;
		else
			marked++;
	}
	cr_assert_eq(v->marked, marked);
	cr_assert_eq(v->unchanged, unchanged);
	cr_assert_eq(c->passed, 400);
	free(c);

	/* DSCP out of range: nothing written. */
	c = BUILD_OK("source=src/dscp_marker.c", "params=64");
	v = nf_custom_state(c);
	uint32_t len = mk_ipv4(buf, 0, false, 5, 0x11, 9);
	memcpy(ref, buf, sizeof(buf));
	struct nf_pkt p = pkt(buf, 0, len, sizeof(buf));
	cr_assert_eq(run_chain(c, &p), NF_PASS);
	cr_assert_eq(memcmp(ref, buf, sizeof(buf)), 0);
	cr_assert_eq(v->bad_param, 1);
	free(c);
}

/* Truncated and damaged frames, each in a buffer of exactly its size (ASan builds catch any overrun). */
Test(custom, examples_survive_malformed_frames)
{
	example("ttl_guard.c");
	example("dscp_marker.c");
	struct nf_custom *nfs[2] = {
		BUILD_OK("source=src/ttl_guard.c", "params=3"),
		BUILD_OK("source=src/dscp_marker.c", "params=10"),
	};
	uint8_t good[128];

	srand(11);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 3000; i++) {
			uint32_t glen = mk_ipv4(good, 0, i & 1, 5 + (unsigned)(i % 11), (uint8_t)rand(), (uint8_t)rand());
			uint32_t len = (uint32_t)rand() % (glen + 1);
			uint8_t *b = malloc(len ? len : 1), *ref = malloc(len ? len : 1);

			cr_assert(b && ref);
			memcpy(b, good, len);
			for (int f = rand() % 4; f > 0 && len; f--)
				b[rand() % len] ^= (uint8_t)(1u << (rand() % 8));
			memcpy(ref, b, len);
			struct nf_pkt p = pkt(b, 0, len, len);
			int v = run_chain(nfs[k], &p);
			cr_assert(v == NF_PASS || v == NF_DROP);
			cr_assert(p.off == 0 && p.len == len);
			/* Only the TOS byte and the checksum may change, and only by dscp_marker. */
			for (uint32_t j = 0; j < len; j++) {
				uint32_t l3 = len > 12 && ref[12] == 0x81 ? 18 : 14;
				bool may = k == 1 && (j == l3 + 1 || j == l3 + 10 || j == l3 + 11);
				cr_assert(b[j] == ref[j] || may, "nf %d frame %d byte %u changed", k, i, j);
			}
			free(b);
			free(ref);
		}
		free(nfs[k]);
	}
}

/* ---- the blob ---- */

Test(custom, params_state_and_source_in_blob)
{
	char path[PATH_MAX], real[PATH_MAX], *text = NULL;
	size_t len = 0;

	example("ttl_guard.c");
	struct nf_custom *c = BUILD_OK("source=src/ttl_guard.c", "state_size=1000", "params=1 2 0xffffffff 7");
	const uint32_t *s = nf_custom_state(c);

	cr_assert_eq(c->state_off, NF_CUSTOM_STATE_OFF);
	cr_assert_eq((uintptr_t)s % GEN_NF_STATE_ALIGN, 0);
	cr_assert_eq(c->state_size, 1000);
	cr_assert_eq(c->nparams, 4);
	cr_assert_eq(c->abi, GEN_NF_ABI_VERSION);
	cr_assert_eq(s[0], 1);
	cr_assert_eq(s[1], 2);
	cr_assert_eq(s[2], 0xffffffffu);
	cr_assert_eq(s[3], 7);
	for (unsigned i = 4; i < 1000 / 4; i++)
		cr_assert_eq(s[i], 0, "state word %u not zeroed", i);
	cr_assert_eq(c->hdr.counters_off, offsetof(struct nf_custom, passed));
	cr_assert_eq(c->hdr.ncounters, CUSTOM_C_MAX);
	cr_assert_geq(c->hdr.size, c->src_off + c->src_len);
	cr_assert_eq(c->hdr.size % 8, 0);
	cr_assert_neq(c->host_fn, 0);

	snprintf(path, sizeof(path), "%s/ttl_guard.c", srcdir);
	cr_assert_not_null(realpath(path, real));
	cr_assert_str_eq(nf_custom_source(&c->hdr), real);
	cr_assert_eq(c->src_len, strlen(real) + 1);
	cr_assert_eq(nf_custom_read_source(&c->hdr, &text, &len), 0);
	cr_assert_eq(c->src_hash, nf_custom_hash(text, len));
	/* The oracle: the first 8 bytes of SHA-256 by the sha256sum tool. */
	char cmd[PATH_MAX + 64], hex[17] = "";
	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", real);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%16s", hex), 1);
	pclose(f);
	cr_assert_eq(c->src_hash, strtoull(hex, NULL, 16), "%016llx vs %s", (unsigned long long)c->src_hash, hex);
	free(text);

	/* Edited after the build: the GPU side must not compile different code. */
	FILE *a = fopen(real, "a");
	cr_assert_not_null(a);
	fputs("/* edited */\n", a);
	fclose(a);
	cr_assert_eq(nf_custom_read_source(&c->hdr, &text, &len), -ESTALE);

	struct nf_hdr other = { .type = NF_T_TTL_DEC, .size = 16 };
	cr_assert_null(nf_custom_source(&other));
	free(c);
}

Test(custom, prebuilt_gpu_agent_drops_without_code)
{
	example("ttl_guard.c");
	struct nf_custom *c = BUILD_OK("source=src/ttl_guard.c", "params=0");
	uint8_t buf[256];
	uint32_t len = mk_ipv4(buf, 0, false, 5, 0, 64);
	struct nf_pkt p = pkt(buf, 0, len, sizeof(buf));

	/* What a GPU copy looks like to the dispatch: no host code. */
	c->host_fn = 0;
	cr_assert_eq(run_chain(c, &p), NF_DROP);
	cr_assert_eq(c->no_code, 1);
	cr_assert_eq(c->passed + c->dropped, 0);
	free(c);
}

/* ---- the cache ---- */

/* A compiler wrapper that counts its runs in dir/cc.count. */
static void counting_cc(char *cc, size_t len)
{
	char text[512];

	snprintf(cc, len, "%s/counting-cc", dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho run >> '%s/cc.count'\nexec cc \"$@\"\n", dir);
	put(cc, text, 0755);
	setenv("GEN_CC", cc, 1);
}

static int cc_runs(void)
{
	char p[128], line[16];
	int n = 0;

	snprintf(p, sizeof(p), "%s/cc.count", dir);
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

Test(custom, cache_hit_skips_the_compiler)
{
	char cc[128], path[PATH_MAX];

	counting_cc(cc, sizeof(cc));
	example("ttl_guard.c");
	struct nf_custom *a = BUILD_OK("source=src/ttl_guard.c", "params=3");
	cr_assert_eq(cc_runs(), 1);
	struct nf_custom *b = BUILD_OK("source=src/ttl_guard.c", "params=9");
	cr_assert_eq(cc_runs(), 1, "same source, same flags: the cached object must be used");
	cr_assert_eq(a->host_fn, b->host_fn, "one object, loaded once");
	cr_assert_eq(((uint32_t *)nf_custom_state(b))[0], 9, "params are per instance");

	/* A different declared size is a different compile (the static assert depends on it). */
	struct nf_custom *c = BUILD_OK("source=src/ttl_guard.c", "state_size=4096");
	cr_assert_eq(cc_runs(), 2);

	/* A changed source is a different object, and the new code runs. */
	src_file("ttl_guard.c",
		 "#include <gen_nf.h>\nstruct s { uint32_t params[8]; };\n"
		 "NF_FN int f(struct s *st, struct nf_pkt *p) { return NF_DROP; }\nGEN_NF(f, struct s);\n",
		 path, sizeof(path));
	struct nf_custom *d = BUILD_OK("source=src/ttl_guard.c");
	cr_assert_eq(cc_runs(), 3);
	uint8_t buf[128];
	struct nf_pkt p = pkt(buf, 0, mk_ipv4(buf, 0, false, 5, 0, 64), sizeof(buf));
	cr_assert_eq(run_chain(d, &p), NF_DROP);
	cr_assert_eq(run_chain(a, &p), NF_PASS, "the old object keeps running its own code");

	/* The cache holds only objects owned by us and writable by nobody else. */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "test $(find '%s/cache' -name '*.so' -perm /022 | wc -l) = 0 && "
		 "test $(find '%s/cache' -name '*.so' | wc -l) = 3 && test $(stat -c %%a '%s/cache') = 700",
		 dir, dir, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(a);
	free(b);
	free(c);
	free(d);
}

Test(custom, unsafe_cache_dir_rejected)
{
	char p[128];

	example("ttl_guard.c");
	snprintf(p, sizeof(p), "%s/opencache", dir);
	cr_assert_eq(mkdir(p, 0777), 0);
	cr_assert_eq(chmod(p, 0777), 0);
	setenv("GEN_CACHE_DIR", p, 1);
	EXPECT_FAIL(11, "cache directory", "source=src/ttl_guard.c");
}

/* ---- safety rules ---- */

Test(custom, world_writable_source_rejected)
{
	char path[PATH_MAX];

	example("ttl_guard.c");
	snprintf(path, sizeof(path), "%s/ttl_guard.c", srcdir);
	cr_assert_eq(chmod(path, 0646), 0);
	EXPECT_FAIL(12, "writable by group or others", "params=1", "source=src/ttl_guard.c");
	cr_assert_eq(chmod(path, 0664), 0);
	EXPECT_FAIL(11, "writable by group or others", "source=src/ttl_guard.c");
}

Test(custom, group_writable_directory_rejected)
{
	example("ttl_guard.c");
	cr_assert_eq(chmod(srcdir, 0775), 0);
	EXPECT_FAIL(11, "directory", "source=src/ttl_guard.c");
	/* Sticky does not excuse the file's own directory. */
	cr_assert_eq(chmod(srcdir, 01777), 0);
	EXPECT_FAIL(11, "writable by group or others", "source=src/ttl_guard.c");
	/* An ancestor above it that is open to others is just as bad. */
	cr_assert_eq(chmod(srcdir, 0755), 0);
	cr_assert_eq(chmod(dir, 0757), 0);
	EXPECT_FAIL(11, "writable by group or others", "source=src/ttl_guard.c");
	cr_assert_eq(chmod(dir, 0700), 0);
	struct nf_custom *c = BUILD_OK("source=src/ttl_guard.c");
	free(c);
}

Test(custom, foreign_owner_rejected)
{
	char path[PATH_MAX];

	if (geteuid() != 0) {
		cr_skip_test("ownership rules need root to chown a file to another user");
		return;
	}
	example("ttl_guard.c");
	snprintf(path, sizeof(path), "%s/ttl_guard.c", srcdir);
	cr_assert_eq(chown(path, 65534, 65534), 0);
	EXPECT_FAIL(11, "owned by uid 65534", "source=src/ttl_guard.c");
	cr_assert_eq(chown(path, 0, 0), 0);
	cr_assert_eq(chown(srcdir, 65534, 0), 0);
	EXPECT_FAIL(11, "owned by uid 65534", "source=src/ttl_guard.c");
	cr_assert_eq(chown(srcdir, 0, 0), 0);
}

Test(custom, compile_error_reports_compiler_line)
{
	char path[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 32];

	src_file("bad.c",
		 "#include <gen_nf.h>\n"
		 "struct s { uint32_t params[8]; };\n"
		 "NF_FN int f(struct s *st, struct nf_pkt *p)\n"
		 "{\n"
		 "\treturn no_such_thing;\n"
		 "}\n"
		 "GEN_NF(f, struct s);\n",
		 path, sizeof(path));
	cr_assert_not_null(realpath(path, real));
	snprintf(want, sizeof(want), "%s:5:", real);
	EXPECT_FAIL(13, want, "state_size=64", "params=1", "source=src/bad.c");
	EXPECT_FAIL(11, "no_such_thing", "source=src/bad.c");
	EXPECT_FAIL(11, "error:", "source=src/bad.c");
}

Test(custom, missing_gen_nf_rejected)
{
	char path[PATH_MAX];

	src_file("noentry.c",
		 "#include <gen_nf.h>\nstruct s { uint32_t params[8]; };\n"
		 "NF_FN int f(struct s *st, struct nf_pkt *p) { return NF_PASS; }\n"
		 "int g(void *st, struct nf_pkt *p) { return f(st, p); }\n",
		 path, sizeof(path));
	EXPECT_FAIL(11, "no entry point", "source=src/noentry.c");
	EXPECT_FAIL(11, "GEN_NF(", "source=src/noentry.c");
}

Test(custom, state_larger_than_declared_rejected)
{
	char path[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 32];

	src_file("big.c",
		 "#include <gen_nf.h>\n"
		 "struct big { uint32_t params[8]; uint8_t table[300]; };\n"
		 "NF_FN int f(struct big *st, struct nf_pkt *p) { return st->table[0] ? NF_PASS : NF_DROP; }\n"
		 "GEN_NF(f, struct big);\n",
		 path, sizeof(path));
	cr_assert_not_null(realpath(path, real));
	snprintf(want, sizeof(want), "%s:4:", real);
	EXPECT_FAIL(11, want, "source=src/big.c");
	EXPECT_FAIL(11, "exceeds the declared state_size", "source=src/big.c", "state_size=331");
	struct nf_custom *c = BUILD_OK("source=src/big.c", "state_size=332");
	free(c);
	/* Over-aligned state: the area is only 64-byte aligned. */
	src_file("align.c",
		 "#include <gen_nf.h>\n"
		 "struct a { uint32_t params[8]; } __attribute__((aligned(128)));\n"
		 "NF_FN int f(struct a *st, struct nf_pkt *p) { return NF_PASS; }\n"
		 "GEN_NF(f, struct a);\n",
		 path, sizeof(path));
	EXPECT_FAIL(11, "64-byte alignment", "source=src/align.c", "state_size=128");
}

static bool process_alive(pid_t pid)
{
	char p[64], st[256];
	bool alive = false;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return false;
	if (fgets(st, sizeof(st), f)) {
		const char *rp = strrchr(st, ')');
		alive = rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
	}
	fclose(f);
	return alive;
}

Test(custom, compile_timeout_kills_the_compiler)
{
	char cc[128], text[256], pidfile[128], pidtxt[32] = "";

	example("ttl_guard.c");
	snprintf(cc, sizeof(cc), "%s/slow-cc", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/slow.pid", dir);
	/* The shell forks sleep: the whole process group must go, not just the shell. */
	snprintf(text, sizeof(text), "#!/bin/sh\nsleep 30 &\necho $! > '%s'\nwait\n", pidfile);
	put(cc, text, 0755);
	setenv("GEN_CC", cc, 1);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	EXPECT_FAIL(12, "compile timed out after 1 s", "compile_timeout=1", "source=src/ttl_guard.c");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert(s >= 0.9 && s < 5, "took %.2f s", s);

	FILE *f = fopen(pidfile, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(pidtxt, sizeof(pidtxt), f));
	fclose(f);
	pid_t pid = (pid_t)atoi(pidtxt);
	cr_assert_gt(pid, 0);
	/* The orphaned sleep is reparented: dead once gone or a zombie its new parent has yet to reap. */
	for (int i = 0; i < 300 && process_alive(pid); i++)
		usleep(10000);
cr_assert(!process_alive(pid), "compiler's child %d survived the timeout", pid);
}

Test(custom, missing_compiler_rejected)
{
	example("ttl_guard.c");
	setenv("GEN_CC", "/nonexistent/gen-no-cc", 1);
	EXPECT_FAIL(11, "no C compiler found ('/nonexistent/gen-no-cc'): custom NFs need one on the cpu backend",
		    "source=src/ttl_guard.c");
	setenv("GEN_CC", "gen-no-such-compiler-in-path", 1);
	EXPECT_FAIL(11, "no C compiler found ('gen-no-such-compiler-in-path')", "source=src/ttl_guard.c");
}

Test(custom, bad_keys_rejected)
{
	example("ttl_guard.c");
	EXPECT_FAIL(10, "custom needs source", "params=1");
	EXPECT_FAIL(12, "No such file", "params=1", "source=src/nope.c");
	EXPECT_FAIL(12, "state_size", "source=src/ttl_guard.c", "state_size=0");
	EXPECT_FAIL(12, "state_size", "source=src/ttl_guard.c", "state_size=1048577");
	EXPECT_FAIL(12, "state_size", "source=src/ttl_guard.c", "state_size=-4");
	EXPECT_FAIL(12, "more than 8 params", "source=src/ttl_guard.c", "params=1 2 3 4 5 6 7 8 9");
	EXPECT_FAIL(12, "'x1' is not an unsigned 32-bit", "source=src/ttl_guard.c", "params=1 x1");
	EXPECT_FAIL(12, "'4294967296' is not", "source=src/ttl_guard.c", "params=4294967296");
	EXPECT_FAIL(13, "need state_size >= 12", "source=src/ttl_guard.c", "state_size=8", "params=1 2 3");
	EXPECT_FAIL(12, "compile_timeout", "source=src/ttl_guard.c", "compile_timeout=0");

	char err[512];
	struct nf_hdr *st;
	cr_assert_eq(BUILD(&st, err, "source=src/ttl_guard.c", "colour=blue"), -EINVAL);
	cr_assert_not_null(strstr(err, INI ":12: unknown key 'colour'"), "%s", err);
}

/* ---- through the config: FILE:LINE from chains.ini, and reload keeps unchanged blobs ---- */

static const char ini_text[] =
	"[gen]\n"
	"ports = a b\n"
	"backend = cpu\n"
	"\n"
	"[nf guard]\n"
	"type = custom\n"
	"source = src/ttl_guard.c\n"
	"params = 10\n"
	"\n"
	"[chain c]\n"
	"id = 1\n"
	"match = proto udp\n"
	"nfs = guard\n"
	"output = 2\n";

static struct cfg *load_built(const char *ini, int want)
{
	char err[2048];
	struct cfg *c = NULL;

	cr_assert_eq(cfg_load(ini, &c, err, sizeof(err)), 0, "%s", err);
	int r = cfg_build_nfs(c, NULL, err, sizeof(err));
	cr_assert_eq(r, want, "cfg_build_nfs: %d: %s", r, err);
	return c;
}

Test(custom, config_errors_and_reload)
{
	char ini[128], path[PATH_MAX], err[2048];

	example("ttl_guard.c");
	snprintf(ini, sizeof(ini), "%s/chains.ini", dir);
	put(ini, ini_text, 0644);
	struct cfg *old = load_built(ini, 0);
	const struct cfg_nf *nf = cfg_nf_find(old, "guard");
	cr_assert_not_null(nf);
	struct nf_custom *blob = (struct nf_custom *)nf->state;
	cr_assert_eq(((uint32_t *)nf_custom_state(blob))[0], 10);

	/* Unchanged source: the reload hands over the same blob (counters and all). */
	struct cfg *next = NULL;
	cr_assert_eq(cfg_load(ini, &next, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg_build_nfs(next, old, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq((void *)cfg_nf_find(next, "guard")->state, (void *)blob);
	cfg_free(old);
	old = next;

	/* A broken edit: rejected with both places, the running blob untouched. */
	src_file("ttl_guard.c", "#include <gen_nf.h>\nint x = ;\n", path, sizeof(path));
	next = NULL;
	cr_assert_eq(cfg_load(ini, &next, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(cfg_build_nfs(next, old, err, sizeof(err)), 0);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "%s:7: nf 'guard': ", ini);
	cr_assert_not_null(strstr(err, want), "want '%s' in: %s", want, err);
	cr_assert_not_null(strstr(err, "ttl_guard.c:2:"), "%s", err);
	cr_assert_eq((void *)cfg_nf_find(old, "guard")->state, (void *)blob);
	cfg_free(next);
	cfg_free(old);
}

/* ---- NVRTC: the same files compile into a fused agent ---- */

typedef int (*nvrtc_create_fn)(void **prog, const char *src, const char *name, int nheaders,
			       const char *const *headers, const char *const *include_names);
typedef int (*nvrtc_compile_fn)(void *prog, int nopts, const char *const *opts);
typedef int (*nvrtc_log_size_fn)(void *prog, size_t *size);
typedef int (*nvrtc_log_fn)(void *prog, char *log);
typedef int (*nvrtc_destroy_fn)(void **prog);

static void *open_nvrtc(void)
{
	static const char *const names[] = {
		"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12",
		"/usr/local/cuda/lib64/libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so.13",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
	}
	return NULL;
}

/* Compile src with NVRTC; returns its result code and the log (caller frees). */
static int nvrtc_compile(void *lib, const char *src, char **ret_log)
{
	nvrtc_create_fn create = (nvrtc_create_fn)dlsym(lib, "nvrtcCreateProgram");
	nvrtc_compile_fn compile = (nvrtc_compile_fn)dlsym(lib, "nvrtcCompileProgram");
	nvrtc_log_size_fn log_size = (nvrtc_log_size_fn)dlsym(lib, "nvrtcGetProgramLogSize");
	nvrtc_log_fn get_log = (nvrtc_log_fn)dlsym(lib, "nvrtcGetProgramLog");
	nvrtc_destroy_fn destroy = (nvrtc_destroy_fn)dlsym(lib, "nvrtcDestroyProgram");
	const char *opts[] = { "-I" GEN_SOURCE_DIR "/nf", "--std=c++17", "-default-device" };
	void *prog = NULL;
	size_t n = 0;

	cr_assert(create && compile && log_size && get_log && destroy, "libnvrtc lacks an expected symbol");
	cr_assert_eq(create(&prog, src, "fused_probe.cu", 0, NULL, NULL), 0);
	int rc = compile(prog, 3, opts);
	*ret_log = NULL;
	if (!log_size(prog, &n) && n > 1) {
		*ret_log = calloc(1, n + 1);
		if (*ret_log)
			get_log(prog, *ret_log);
	}
	destroy(&prog);
	return rc;
}

/* The shape a fused agent takes: gen_nf.h at global scope, each distinct source in its own namespace. */
static const char fused_fmt[] =
	"#include \"custom.h\"\n"
	"#include \"gen_nf.h\"\n"
	"#define GEN_NF_ID 0\n#define GEN_NF_DECLARED_SIZE %u\n"
	"namespace gen_nf_src0 {\n#include \"" GEN_SOURCE_DIR "/etc/gen/nf/ttl_guard.c\"\n}\n"
	"#undef GEN_NF_ID\n#undef GEN_NF_DECLARED_SIZE\n"
	"#define GEN_NF_ID 1\n#define GEN_NF_DECLARED_SIZE 256\n"
	"namespace gen_nf_src1 {\n#include \"" GEN_SOURCE_DIR "/etc/gen/nf/dscp_marker.c\"\n}\n"
	"#undef GEN_NF_ID\n#undef GEN_NF_DECLARED_SIZE\n"
	"extern \"C\" __global__ void k(struct nf_custom *a, struct nf_custom *b, uint8_t *frames,\n"
	"                              uint32_t frame_size, uint32_t *lens, uint32_t *verdicts, uint32_t n)\n"
	"{\n"
	"	uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;\n"
	"	if (i >= n)\n"
	"		return;\n"
	"	struct nf_pkt p;\n"
	"	p.buf = frames + (uint64_t)i * frame_size;\n"
	"	p.off = 0;\n"
	"	p.len = lens[i];\n"
	"	p.cap = frame_size;\n"
	"	p.in_port = 0;\n"
	"	p.seq = i;\n"
	"	p.chain = 0;\n"
	"	p.now = 0;\n"
	"	uint32_t v = nf_custom_account(a, gen_nf_src0::gen_nf_entry_0(nf_custom_state(a), &p));\n"
	"	if (v == NF_PASS)\n"
	"		v = nf_custom_account(b, gen_nf_src1::gen_nf_entry_1(nf_custom_state(b), &p));\n"
	"	verdicts[i] = v;\n"
	"}\n";

Test(custom, examples_compile_with_nvrtc)
{
	void *lib = open_nvrtc();
	char src[sizeof(fused_fmt) + 32], *log = NULL;

	if (!lib) {
		cr_skip_test("libnvrtc not loadable (tried libnvrtc.so[.13|.12] and /usr/local/cuda/lib64): %s", dlerror());
		return;
	}
	snprintf(src, sizeof(src), fused_fmt, 256u);
	int rc = nvrtc_compile(lib, src, &log);
	cr_expect_eq(rc, 0, "NVRTC failed on the examples:\n%s", log ? log : "(no log)");
	if (!rc && log && strstr(log, "warning"))
		cr_log_warn("NVRTC warnings:\n%s", log);
	free(log);

	/* The state-size check fires under NVRTC too. */
	snprintf(src, sizeof(src), fused_fmt, 16u);
	rc = nvrtc_compile(lib, src, &log);
	cr_expect_neq(rc, 0, "a state larger than declared must not compile");
	cr_expect(log && strstr(log, "exceeds the declared state_size"), "log: %s", log ? log : "(none)");
	free(log);
	/* libnvrtc stays loaded: unloading it strands its C++ runtime's pool (a leak to LSan). */
}
