// SPDX-License-Identifier: GPL-2.0
/*
 * The cache of run-time compiled code (nf/rtcache.c), shared by custom NFs and
 * fused GPU agents: which directories and entries it trusts, how it writes an
 * entry, and what its keys depend on.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "nf/rtcache.h"

static char base[64];

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/gen_rtcache_XXXXXX");
	cr_assert(mkdtemp(base), "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s'; rm -rf '%s'", base, base);
	if (system(cmd))
		cr_log_warn("could not remove %s", base);
}

static int dir_of(const char *sub, mode_t mode, char *dir, size_t len, char *why, size_t whylen)
{
	char d[128];

	snprintf(d, sizeof(d), "%s/%s", base, sub);
	if (mode) {
		cr_assert_eq(mkdir(d, 0700), 0);
		cr_assert_eq(chmod(d, mode), 0);
	}
	setenv("GEN_CACHE_DIR", d, 1);
	return rtcache_dir(dir, len, why, whylen);
}

TestSuite(rtcache, .init = setup, .fini = teardown);

Test(rtcache, directory_policy)
{
	char dir[256], why[512];
	struct stat st;

	/* Missing: created 0700. */
	cr_assert_eq(dir_of("new", 0, dir, sizeof(dir), why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700);
	/* Writable by group or others: refused, naming the directory and the variable. */
	cr_assert_eq(dir_of("group", 0770, dir, sizeof(dir), why, sizeof(why)), -EPERM);
	cr_assert(strstr(why, "/group'") && strstr(why, "GEN_CACHE_DIR"), "%s", why);
	cr_assert_eq(dir_of("world", 0777, dir, sizeof(dir), why, sizeof(why)), -EPERM);
	/* Not a directory. */
	char f[128];
	snprintf(f, sizeof(f), "%s/file", base);
	close(open(f, O_CREAT | O_WRONLY, 0600));
	setenv("GEN_CACHE_DIR", f, 1);
	cr_assert_eq(rtcache_dir(dir, sizeof(dir), why, sizeof(why)), -EPERM);
	/* Cannot be created. */
	snprintf(f, sizeof(f), "%s/file/sub", base);
	setenv("GEN_CACHE_DIR", f, 1);
	cr_assert_lt(rtcache_dir(dir, sizeof(dir), why, sizeof(why)), 0);
	cr_assert(strstr(why, "cannot create cache directory"), "%s", why);
}

Test(rtcache, entries_written_whole_and_read_only)
{
	char dir[256], why[512], path[512];
	struct stat st;

	cr_assert_eq(dir_of("c", 0700, dir, sizeof(dir), why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(rtcache_path(dir, "abc", "bin", path, sizeof(path)), 0);
	cr_assert_not(rtcache_entry_ok(path), "a missing entry was taken");
	cr_assert_eq(rtcache_write(path, "head", 4, "data", 4), 0);
	cr_assert(rtcache_entry_ok(path));
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0400);
	cr_assert_eq(st.st_size, 8);
	char buf[9] = "";
	int fd = open(path, O_RDONLY);
	cr_assert_eq(read(fd, buf, 8), 8);
	close(fd);
	cr_assert_str_eq(buf, "headdata");
	/* No temporary file is left behind. */
	char tmp[600];
	cr_assert_eq(rtcache_tmp_path(path, tmp, sizeof(tmp)), 0);
	cr_assert_neq(access(tmp, F_OK), 0);

	/* Writable by others, empty, or a link: not used. */
	cr_assert_eq(chmod(path, 0602), 0);
	cr_assert_not(rtcache_entry_ok(path));
	cr_assert_eq(chmod(path, 0400), 0);
	char link[600];
	snprintf(link, sizeof(link), "%s/link.bin", dir);
	cr_assert_eq(symlink(path, link), 0);
	cr_assert_not(rtcache_entry_ok(link), "a symbolic link was trusted");
	snprintf(path, sizeof(path), "%s/empty.bin", dir);
	close(open(path, O_CREAT | O_WRONLY, 0400));
	cr_assert_not(rtcache_entry_ok(path));
}

static void key_of(const char *a, const char *b, char *hex)
{
	struct rtcache_key k;

	cr_assert_eq(rtcache_key_init(&k, "test-v1"), 0);
	rtcache_key_add_str(&k, "a", a);
	rtcache_key_add_str(&k, "b", b);
	cr_assert_eq(rtcache_key_end(&k, hex), 0);
	cr_assert_eq(strlen(hex), 64);
}

Test(rtcache, keys_are_field_exact)
{
	char k1[RTCACHE_KEY_LEN], k2[RTCACHE_KEY_LEN], k3[RTCACHE_KEY_LEN];

	key_of("ab", "c", k1);
	key_of("a", "bc", k2);
	key_of("ab", "c", k3);
	cr_assert_str_neq(k1, k2, "moving a byte between fields kept the key");
	cr_assert_str_eq(k1, k3);
	/* SHA-256 of tagged, length-prefixed fields, hex: a known value pins the format. */
	struct rtcache_key k;
	char hex[RTCACHE_KEY_LEN];
	cr_assert_eq(rtcache_key_init(&k, ""), 0);
	cr_assert_eq(rtcache_key_end(&k, hex), 0);
	/* The tag "kind" with its NUL, the length 0 as 8 bytes, no data (sha256 by Python's hashlib). */
	cr_assert_str_eq(hex, "13c69a8c900670afe5e294ade13ffcf3fe695a64198637f5edb5c9fa4afb305b");
}
