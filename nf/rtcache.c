// SPDX-License-Identifier: GPL-2.0
/* The cache of run-time compiled code; the policy is in rtcache.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "rtcache.h"

int rtcache_dir(char *dir, size_t len, char *why, size_t whylen)
{
	const char *e = getenv("GEN_CACHE_DIR");
	struct stat st;

	if ((size_t)snprintf(dir, len, "%s", e && e[0] ? e : RTCACHE_DIR_DEFAULT) >= len) {
		snprintf(why, whylen, "cache directory '%s' (GEN_CACHE_DIR): name too long", e);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		int r = -errno;

		snprintf(why, whylen, "cannot create cache directory '%s': %s (set GEN_CACHE_DIR)", dir,
			 strerror(-r));
		return r;
	}
	if (stat(dir, &st)) {
		int r = -errno;

		snprintf(why, whylen, "cannot stat cache directory '%s': %s", dir, strerror(-r));
		return r;
	}
	/* A planted entry would run as gend just like a planted source. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(why, whylen, "cache directory '%s' must be a directory owned by uid %u and "
			 "writable by no one else (set GEN_CACHE_DIR)", dir, (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

int rtcache_key_init(struct rtcache_key *k, const char *kind)
{
	k->failed = false;
	k->ctx = EVP_MD_CTX_new();
	if (!k->ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(k->ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(k->ctx);
		k->ctx = NULL;
		return -EIO;
	}
	rtcache_key_add(k, "kind", kind, strlen(kind));
	return 0;
}

void rtcache_key_add(struct rtcache_key *k, const char *tag, const void *data, size_t len)
{
	uint64_t n = len;

	if (!k->ctx)
		return;
	if (!EVP_DigestUpdate(k->ctx, tag, strlen(tag) + 1) || !EVP_DigestUpdate(k->ctx, &n, sizeof(n)) ||
	    !EVP_DigestUpdate(k->ctx, data, len))
		k->failed = true;
}

void rtcache_key_add_str(struct rtcache_key *k, const char *tag, const char *s)
{
	rtcache_key_add(k, tag, s, strlen(s));
}

int rtcache_key_end(struct rtcache_key *k, char *hex)
{
	uint8_t md[32];
	unsigned int n = 0;
	int r = 0;

	hex[0] = '\0';
	if (!k->ctx)
		return -ENOMEM;
	if (k->failed || !EVP_DigestFinal_ex(k->ctx, md, &n) || n != sizeof(md))
		r = -EIO;
	EVP_MD_CTX_free(k->ctx);
	k->ctx = NULL;
	if (r)
		return r;
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int rtcache_path(const char *dir, const char *key, const char *ext, char *path, size_t len)
{
	return (size_t)snprintf(path, len, "%s/%s.%s", dir, key, ext) < len ? 0 : -ENAMETOOLONG;
}

bool rtcache_entry_ok(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH)) && st.st_size > 0;
}

int rtcache_tmp_path(const char *path, char *tmp, size_t len)
{
	return (size_t)snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid()) < len ? 0 : -ENAMETOOLONG;
}

int rtcache_commit(const char *tmp, const char *path, mode_t mode)
{
	if (chmod(tmp, mode) || rename(tmp, path)) {
		int r = -errno;

		unlink(tmp);
		return r;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int rtcache_write(const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
	char tmp[4096];
	int fd, r;

	r = rtcache_tmp_path(path, tmp, sizeof(tmp));
	if (r)
		return r;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, a, alen);
	if (!r)
		r = write_all(fd, b, blen);
	if (close(fd) && !r)
		r = -errno;
	if (r) {
		unlink(tmp);
		return r;
	}
	return rtcache_commit(tmp, path, 0400);
}
