/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cache of code compiled at run time: custom NFs built by the host compiler
 * (nf/custom_build.c) and fused GPU agents built by NVRTC (cuda/rtc.c). One
 * directory, one trust policy, files named by the SHA-256 of what went in.
 *
 * gend runs what it finds there with all its privileges, so:
 * - The directory is $GEN_CACHE_DIR, else /var/cache/gen, created 0700 when
 *   missing. It must be a directory owned by gend's user and writable by no
 *   one else; otherwise it is refused and the build fails, naming it and why.
 *   It is never silently bypassed.
 * - An entry is used only when it is a non-empty regular file owned by gend's
 *   user and writable by no one else; any other file under its name is removed
 *   and rebuilt.
 * - An entry is written to a temporary file in the same directory, made
 *   read-only and renamed into place: a reader never sees half a file, and a
 *   crash leaves at most a temporary file.
 * - Keys are SHA-256 over tagged, length-prefixed fields, so moving bytes from
 *   one field to the next changes the key.
 */
#ifndef GEN_NF_RTCACHE_H
#define GEN_NF_RTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RTCACHE_DIR_DEFAULT "/var/cache/gen"
/* A key: 64 hex digits and the NUL. */
#define RTCACHE_KEY_LEN 65

/*
 * The cache directory, checked (and created when missing): 0 with its path in
 * dir, or -errno with a message in why that names the directory.
 */
int rtcache_dir(char *dir, size_t len, char *why, size_t whylen);

/* A key being computed: rtcache_key_init(), any rtcache_key_add(), rtcache_key_end(). */
struct rtcache_key {
	void *ctx;
	bool failed;
};

/* Start a key; kind names the format of the entries (change it when that changes). */
int rtcache_key_init(struct rtcache_key *k, const char *kind);
void rtcache_key_add(struct rtcache_key *k, const char *tag, const void *data, size_t len);
void rtcache_key_add_str(struct rtcache_key *k, const char *tag, const char *s);
/* Finish the key into hex (RTCACHE_KEY_LEN bytes); 0, or -EIO/-ENOMEM (then hex is ""). */
int rtcache_key_end(struct rtcache_key *k, char *hex);

/* dir/KEY.ext; -ENAMETOOLONG when it does not fit. */
int rtcache_path(const char *dir, const char *key, const char *ext, char *path, size_t len);
/* Whether the entry at path may be used (see above). */
bool rtcache_entry_ok(const char *path);
/* Where to write path's content before rtcache_commit(): beside it, unique to this process. */
int rtcache_tmp_path(const char *path, char *tmp, size_t len);
/* Make tmp read-only (mode) and rename it to path; on failure tmp is removed. 0 or -errno. */
int rtcache_commit(const char *tmp, const char *path, mode_t mode);
/* Write the entry path from two pieces (a header and the data; either may be empty). 0 or -errno. */
int rtcache_write(const char *path, const void *a, size_t alen, const void *b, size_t blen);

#endif
