/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The loaded classifier as cls.c (load, pins, attach) and cls_maps.c (the
 * maps' contents) share it. Not for other users: they have cls.h.
 */
#ifndef GEN_DAEMON_CLS_PRIV_H
#define GEN_DAEMON_CLS_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <xdp/libxdp.h>
#include "cls.h"

#define CLS_MAX_ATTACH 64

struct cls_attachment {
	int ifindex;
	enum xdp_attach_mode mode;
	struct bpf_object *obj;     /* our copy for this interface, maps shared with the skeleton */
	struct xdp_program *xprog;  /* its libxdp handle */
	bool shared;                /* in libxdp's dispatcher (else attached alone) */
};

struct cls {
	struct classifier *skel;
	uint64_t *sport_ival, *dport_ival; /* gen_[sd]port_ival mapped: GEN_CLS_SLOTS * GEN_CLS_PORTS */
	uint64_t *inport_ix;               /* gen_inport_ix mapped: GEN_CLS_SLOTS * GEN_CLS_INPORT_DIRECT */
	uint64_t *direct;                  /* gen_direct mapped: GEN_CLS_SLOTS * GEN_CLS_DIRECT_ENTRIES * GEN_CLS_PROTOS */
	char pin_dir[256];
	bool pinned;
	int ncpus;
	struct cls_attachment att[CLS_MAX_ATTACH];
	int natt;
	struct cls_tab *host, *host_old; /* the installed table and the one before, for synthetic ports */
	char err[256];
};

/* Record the one-line reason of a failure; returns r (a -errno) for `return cls_fail(...)`. */
__attribute__((format(printf, 3, 4)))
int cls_fail(struct cls *c, int r, const char *fmt, ...);

/* gen_config[0], the table switch and the unmatched action (cls_maps.c). 0 or -errno. */
int cls_config_write(struct cls *c, const struct cls_config *cfg);
int cls_config_read(struct cls *c, struct cls_config *cfg);

#endif
