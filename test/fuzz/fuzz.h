/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the fuzz targets: the libFuzzer entry points, an input as a file
 * (the loaders take paths) and a check that aborts, so a broken property is a
 * crash the fuzzer keeps like any other.
 */
#ifndef GEN_FUZZ_H
#define GEN_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                   \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			abort();                                                \
		}                                                               \
	} while (0)

/*
 * data as a file at path (a memfd seen through /proc/self/fd, so no disk).
 * Returns the fd to close afterwards, or -1.
 */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t len)
{
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

/*
 * Give data to a loader that takes a path, as a file. A rejection must say
 * which file at the start of its message (FILE:LINE or FILE: ...). Returns
 * what load returned (-EIO when the file could not be made).
 */
static inline int fuzz_load_file(const uint8_t *data, size_t size, void *arg,
				 int (*loader)(const char *path, void *arg, char *err, size_t errlen))
{
	char path[64], err[4096] = "";
	int fd = fuzz_file(data, size, path, sizeof(path)), r;

	if (fd < 0)
		return -EIO;
	r = loader(path, arg, err, sizeof(err));
	if (r)
		FUZZ_CHECK(!strncmp(err, path, strlen(path)), "the error does not name the file: '%s'", err);
	close(fd);
	return r;
}

#endif
