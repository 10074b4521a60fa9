/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host side of the NF ABI: how `[nf NAME]` sections become state blobs.
 * Each NF provides one `const struct nf_ops nf_ops_<type>` in nf/<type>_build.c.
 */
#ifndef GEN_NF_REGISTRY_H
#define GEN_NF_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "nf.h"

/* One `key = value` line of an `[nf NAME]` section, with where it came from. */
struct nf_kv {
	const char *key;
	const char *value;
	int line;
};

/* An `[nf NAME]` section. `type` is already consumed by the registry lookup. */
struct nf_cfg {
	const char *name;     /* instance name */
	const char *file;     /* chains.ini path, for FILE:LINE errors */
	int line;             /* line of the [nf NAME] header */
	const struct nf_kv *kv;
	int nkv;
	const char *base_dir; /* directory of chains.ini: relative paths resolve here */
};

/* Bytes [off, off + len) of a state blob. */
struct nf_span {
	uint32_t off;
	uint32_t len;
};
#define NF_SPANS_MAX 8

struct nf_ops {
	const char *type_name; /* the `type =` value */
	uint32_t type;         /* enum nf_type */
	/*
	 * Validate cfg and build the state blob (aligned_alloc(64, ...), freed with
	 * free()). On error return -errno and write one "FILE:LINE: message" into err.
	 * Unknown keys are errors.
	 */
	int (*build)(const struct nf_cfg *cfg, struct nf_hdr **ret_state, char *err, size_t errlen);
	/* Names of the uint64 counters at hdr->counters_off, ncounters of them. */
	const char *const *counter_names;
	/*
	 * Optional: extra per-NF report for genctl (alerts per sid, top flows, ...).
	 * `what` selects the report ("alerts", "flows"); returns 0 or -ENOENT.
	 */
	int (*report)(const struct nf_hdr *st, const char *what, FILE *out, bool json);
	/*
	 * Optional: the blob's counter of numbers the NF spends one per packet (ESP
	 * encrypt: seq_last, the last sequence number handed out), or NULL.
	 * A backend reserves each batch's numbers from the HOST blob before the
	 * chain runs (nf_reserve), in submit order, whatever device runs the batch;
	 * the NF numbers packet k of the batch first + k. A state hand-over into
	 * the host blob never moves the counter back (nf_reserve_keep).
	 */
	uint64_t *(*seq_counter)(struct nf_hdr *st);
	/*
	 * Optional: the byte ranges of the blob that running packets write (its
	 * counters, what the NF records as packets pass), at most NF_SPANS_MAX;
	 * returns how many. The rest (tables built from the config) is the same on
	 * every device. A hand-over to another device copies only these; NULL: the
	 * whole blob.
	 */
	uint32_t (*live)(const struct nf_hdr *st, struct nf_span out[NF_SPANS_MAX]);
};

/* The ops for a `type =` value, or NULL. */
const struct nf_ops *nf_ops_find(const char *type_name);
/* The ops for an enum nf_type, or NULL. */
const struct nf_ops *nf_ops_by_type(uint32_t type);
/*
 * What of blob st a hand-over to another device must copy (nf_ops.live), at
 * most NF_SPANS_MAX spans inside the blob; the whole blob when the NF says
 * nothing or says something that does not fit.
 */
uint32_t nf_live_spans(const struct nf_hdr *st, struct nf_span out[NF_SPANS_MAX]);

/*
 * Reserve n numbers of each of a chain's NFs that spend them (nf_ops.seq_counter)
 * from their host blobs: first[i] is NF i's first number, 0 when it has none.
 * Thread-safe (one atomic per such NF): chains and queues sharing a blob get
 * disjoint ranges.
 */
void nf_reserve(uint32_t nnf, struct nf_hdr *const *state, uint32_t n, uint64_t *first);
/* The blob's counter of reserved numbers (0 for NFs without one). */
uint64_t nf_reserved(const struct nf_hdr *h);
/* After bytes were written into the host blob h: the counter never goes below before. */
void nf_reserve_keep(struct nf_hdr *h, uint64_t before);

/*
 * A table file an NF's builder reads line by line (firewall rules, routes):
 * each line comes with any '#' comment cut, and lineno says which line it was.
 */
struct nf_lines {
	FILE *f;
	char *line;
	size_t cap;
	int lineno;
};

/* Open path; what names the file in the error ("rules", "routes"). 0, or -errno with err set. */
int nf_lines_open(struct nf_lines *l, const char *path, const char *what, char *err, size_t errlen);
/* The next line, comment cut, or NULL at the end of the file. */
char *nf_lines_next(struct nf_lines *l);
void nf_lines_close(struct nf_lines *l);

/*
 * Room for element n of arr (*cap elements of size bytes; doubled when full,
 * first when empty): the array to use from now on, or NULL when out of memory
 * (arr is then still the caller's, unchanged).
 */
void *nf_grow(void *arr, size_t *cap, size_t n, size_t size, size_t first);

/* Helpers shared by builders. */
const char *nf_cfg_get(const struct nf_cfg *cfg, const char *key, int *ret_line);
/* Resolve a possibly relative path against cfg->base_dir into buf. */
const char *nf_cfg_path(const struct nf_cfg *cfg, const char *path, char *buf, size_t len);
/* Parse "aa:bb:cc:dd:ee:ff"; 0 or -EINVAL. */
int nf_parse_mac(const char *s, uint8_t mac[6]);
/* -EINVAL with "FILE:LINE: unknown key" when cfg has a key not in the NULL-terminated known[]. */
int nf_cfg_check_keys(const struct nf_cfg *cfg, const char *const *known, char *err, size_t errlen);
/* Allocate a zeroed blob of `size` (rounded up to 8) with its header filled in. */
struct nf_hdr *nf_blob_alloc(uint32_t type, size_t size, uint32_t counters_off, uint32_t ncounters);

#endif
