// SPDX-License-Identifier: GPL-2.0
/*
 * The shared test helpers themselves: where tests find the source tree (so a
 * build copied to another directory or machine still finds its data), and the
 * generator, hex and checksum helpers against known values.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testlib.h"

static char fake[64];

/* A directory that looks like a source tree: nf/gen_nf.h and one data file. */
static void fake_tree(void)
{
	char p[256];
	FILE *f;

	snprintf(fake, sizeof(fake), "/tmp/gen_testlib_XXXXXX");
	cr_assert(mkdtemp(fake));
	snprintf(p, sizeof(p), "%s/nf", fake);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/sub", fake);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/nf/gen_nf.h", fake);
	f = fopen(p, "w");
	cr_assert(f);
	fputs("/* fake */\n", f);
	fclose(f);
}

static void rm_tree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake);
	if (fake[0] && system(cmd))
		cr_log_warn("could not remove %s", fake);
	unsetenv("GEN_SOURCE_DIR");
	unsetenv("GEN_NF_INCLUDE");
}

TestSuite(testlib_source, .init = fake_tree, .fini = rm_tree);

Test(testlib_source, environment_wins)
{
	char path[PATH_MAX];

	setenv("GEN_SOURCE_DIR", fake, 1);
	cr_assert_str_eq(tl_source_dir(), fake);
	cr_assert_eq(tl_source_path("nf/gen_nf.h", path, sizeof(path)), 0);
	cr_assert_eq(tl_source_path("etc/gen/nf/dscp_marker.c", path, sizeof(path)), -ENOENT, "%s", path);
	/* Custom NFs then compile against its nf/. */
	unsetenv("GEN_NF_INCLUDE");
	cr_assert_eq(tl_nf_include_from_source(), 0);
	snprintf(path, sizeof(path), "%s/nf", fake);
	cr_assert_str_eq(getenv("GEN_NF_INCLUDE"), path);
	/* Named but not a source tree: no guessing past it. */
	setenv("GEN_SOURCE_DIR", "/nonexistent", 1);
	cr_assert_null(tl_source_dir());
	cr_assert_eq(tl_source_path("nf/gen_nf.h", path, sizeof(path)), -ENOENT);
	cr_assert(strstr(path, "GEN_SOURCE_DIR"), "%s", path);
}

Test(testlib_source, working_directory_before_the_configured_tree)
{
	char sub[128], was[PATH_MAX];

	unsetenv("GEN_SOURCE_DIR");
	cr_assert(getcwd(was, sizeof(was)));
	snprintf(sub, sizeof(sub), "%s/sub", fake);
	cr_assert_eq(chdir(sub), 0);
	const char *got = tl_source_dir();
	cr_assert(chdir(was) == 0);
	cr_assert_str_eq(got, fake, "found %s", got ? got : "(null)");
}

Test(testlib, generator_hex_and_checksum)
{
	uint64_t s = 1;
	uint8_t b[4];

	/* xorshift64* from state 1: the first output is 0x47e4ce4b896cdd1d (Python, from the recurrence). */
	cr_assert_eq(tl_rnd(&s), 0x47e4ce4b896cdd1dull);
	cr_assert_eq(tl_unhex("00ff7Ea1", b, 4), 0);
	cr_assert(b[0] == 0x00 && b[1] == 0xff && b[2] == 0x7e && b[3] == 0xa1);
	cr_assert_eq(tl_unhex("00f", b, 2), -EINVAL);
	cr_assert_eq(tl_unhex("zz00", b, 2), -EINVAL);
	/* RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2. */
	static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	cr_assert_eq(tl_csum_fold(rfc, sizeof(rfc)), 0xddf2);
	cr_assert_eq(tl_csum(rfc, sizeof(rfc)), (uint16_t)~0xddf2);
	/* An IPv4 header with its checksum in place sums to 0xffff (a well-known worked example). */
	static const uint8_t ip[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
					0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	cr_assert_eq(tl_csum_fold(ip, 20), 0xffff);
	/* Odd length: the tail byte is the high half of a word. */
	static const uint8_t odd[] = { 0x12, 0x34, 0x56 };
	cr_assert_eq(tl_csum_fold(odd, 3), 0x1234 + 0x5600);
}
