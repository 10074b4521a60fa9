/* SPDX-License-Identifier: GPL-2.0 */
/* Where the test tools find their BPF objects: next to the running binary. */
#ifndef GEN_TRAFFIC_OBJ_PATH_H
#define GEN_TRAFFIC_OBJ_PATH_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* DIR_OF_THIS_BINARY/name into dst; 0 or -errno. */
static inline int obj_next_to_self(char *dst, size_t len, const char *name)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	if ((size_t)snprintf(dst, len, "%s/%s", self, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

#endif
