// SPDX-License-Identifier: GPL-2.0
/*
 * User-space half of the XDP classifier: see cls.h and bpf/README.md. This file
 * loads the program and its maps, pins the maps, attaches and detaches the
 * program per interface; cls_maps.c writes and reads the maps' contents.
 */
#include "cls.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "classifier.skel.h"
#include "cls_priv.h"
#include "cls_tab.h"

#define CLS_BPFFS "/sys/fs/bpf"
#define CLS_PROG_NAME "gen_cls"
#define CLS_IVAL_BYTES (GEN_CLS_SLOTS * GEN_CLS_PORTS * sizeof(uint64_t))

/* Programs of lower priority run first in libxdp's dispatcher: gen goes before the default 50. */
#define CLS_RUN_PRIO 10

static struct cls_attachment *find_att(struct cls *c, int ifindex)
{
	for (int i = 0; i < c->natt; i++)
		if (c->att[i].ifindex == ifindex)
			return &c->att[i];
	return NULL;
}

int cls_fail(struct cls *c, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return r;
}

static const char *ifname(int ifindex, char buf[IF_NAMESIZE])
{
	if (!if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "#%d", ifindex);
	return buf;
}

static int mount_bpffs_if_needed(const char *pin_dir)
{
	struct statfs st;

	if (strncmp(pin_dir, CLS_BPFFS "/", strlen(CLS_BPFFS) + 1) != 0)
		return 0; /* the caller chose another place: it is theirs to mount */
	if (statfs(CLS_BPFFS, &st) < 0)
		return -errno;
	if (st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", CLS_BPFFS, "bpf", 0, "mode=0700") < 0)
		return -errno;
	return 0;
}

static int pin_maps(struct cls *c, const char *pin_dir)
{
	struct bpf_map *map;
	char path[512];
	int r;

	r = mount_bpffs_if_needed(pin_dir);
	if (r < 0)
		return cls_fail(c, r, "failed to mount bpffs on %s: %s", CLS_BPFFS, strerror(-r));
	if (mkdir(pin_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		return cls_fail(c, r, "failed to create %s: %s", pin_dir, strerror(-r));
	}
	snprintf(c->pin_dir, sizeof(c->pin_dir), "%s", pin_dir);
	bpf_object__for_each_map(map, c->skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
		/* A pin left by a crashed run belongs to dead maps: replace it. */
		if (unlink(path) < 0 && errno != ENOENT) {
			r = -errno;
			return cls_fail(c, r, "failed to remove stale pin %s: %s", path, strerror(-r));
		}
		r = bpf_map__pin(map, path);
		if (r < 0)
			return cls_fail(c, r, "failed to pin %s: %s", path, strerror(-r));
	}
	c->pinned = true;
	return 0;
}

static void unpin_maps(struct cls *c)
{
	struct bpf_map *map;
	char path[512];

	if (!c->pinned)
		return;
	bpf_object__for_each_map(map, c->skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", c->pin_dir, bpf_map__name(map));
		bpf_map__unpin(map, path);
	}
	rmdir(c->pin_dir); /* fails harmlessly if someone else keeps files there */
	c->pinned = false;
}

#define CLS_INPORT_IX_BYTES ((size_t)GEN_CLS_SLOTS * GEN_CLS_INPORT_DIRECT * sizeof(uint64_t))
#define CLS_DIRECT_BYTES ((size_t)GEN_CLS_SLOTS * GEN_CLS_DIRECT_ENTRIES * GEN_CLS_PROTOS * sizeof(uint64_t))

static uint64_t *map_array(int fd, size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void unmap_arrays(struct cls *c)
{
	if (c->sport_ival)
		munmap(c->sport_ival, CLS_IVAL_BYTES);
	if (c->dport_ival)
		munmap(c->dport_ival, CLS_IVAL_BYTES);
	if (c->inport_ix)
		munmap(c->inport_ix, CLS_INPORT_IX_BYTES);
	if (c->direct)
		munmap(c->direct, CLS_DIRECT_BYTES);
	c->sport_ival = c->dport_ival = c->inport_ix = c->direct = NULL;
}

struct cls *cls_open(const char *pin_dir, char *err, size_t errlen)
{
	struct cls *c;
	struct cls_config cfg = { 0 };
	int r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		r = c->ncpus ? c->ncpus : -EINVAL;
		cls_fail(c, r, "cannot count possible CPUs: %s", strerror(-r));
		goto fail;
	}
	c->skel = classifier__open();
	if (!c->skel) {
		r = -errno;
		cls_fail(c, r, "failed to open the classifier BPF object: %s", strerror(-r));
		goto fail;
	}
	r = classifier__load(c->skel);
	if (r < 0) {
		cls_fail(c, r, "failed to load the classifier into the kernel: %s%s", strerror(-r),
			 r == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
		goto fail;
	}
	r = cls_config_write(c, &cfg);
	if (r < 0) {
		cls_fail(c, r, "failed to initialise gen_config: %s", strerror(-r));
		goto fail;
	}
	c->sport_ival = map_array(bpf_map__fd(c->skel->maps.gen_sport_ival), CLS_IVAL_BYTES);
	c->dport_ival = map_array(bpf_map__fd(c->skel->maps.gen_dport_ival), CLS_IVAL_BYTES);
	c->inport_ix = map_array(bpf_map__fd(c->skel->maps.gen_inport_ix), CLS_INPORT_IX_BYTES);
	c->direct = map_array(bpf_map__fd(c->skel->maps.gen_direct), CLS_DIRECT_BYTES);
	if (!c->sport_ival || !c->dport_ival || !c->inport_ix || !c->direct) {
		r = -errno;
		cls_fail(c, r, "failed to mmap the port interval, in-port and direct maps: %s", strerror(-r));
		goto fail;
	}
	if (pin_dir) {
		r = pin_maps(c, pin_dir);
		if (r < 0)
			goto fail;
	}
	if (err && errlen)
		err[0] = '\0';
	return c;
fail:
	if (err && errlen)
		snprintf(err, errlen, "%s", c->err);
	unmap_arrays(c);
	if (c->skel) {
		unpin_maps(c);
		classifier__destroy(c->skel);
	}
	free(c);
	errno = -r;
	return NULL;
}

int cls_prog_fd(struct cls *c)
{
	return bpf_program__fd(c->skel->progs.gen_cls);
}

const char *cls_strerror(struct cls *c)
{
	return c->err;
}

/*
 * ---- attach ----
 *
 * Each interface gets its own copy of the program, opened from the embedded
 * object with every map taken from the skeleton's, and handed to libxdp: where
 * the kernel allows it libxdp loads the copy as an extension of its multi-program
 * dispatcher (other XDP programs then share the port, `xdp-loader status` lists
 * them), elsewhere it attaches the copy alone. The skeleton's own program stays
 * an XDP program for bpf_prog_test_run. libxdp pins the dispatcher's links under
 * /sys/fs/bpf/xdp, so the attachment outlives gend: after a crash the copy keeps
 * running on the maps it holds, whose XSKMAP entries left with the dead sockets,
 * and every chain's traffic meets the chain's fail mode (bpf/README.md).
 */

static struct bpf_object *copy_open(struct cls *c)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = CLS_PROG_NAME);
	const void *elf;
	struct bpf_object *obj;
	struct bpf_map *m, *mine;
	size_t sz;
	int r;

	elf = classifier__elf_bytes(&sz);
	obj = bpf_object__open_mem(elf, sz, &oo);
	if (!obj)
		return NULL;
	bpf_object__for_each_map(m, obj) {
		mine = bpf_object__find_map_by_name(c->skel->obj, bpf_map__name(m));
		r = mine ? bpf_map__reuse_fd(m, bpf_map__fd(mine)) : -ENOENT;
		if (r < 0) {
			bpf_object__close(obj);
			errno = -r;
			return NULL;
		}
	}
	return obj;
}

/* 0 for a usable pointer from libxdp, else why not (-ENOENT when it gave NULL without a reason). */
static int xdp_ptr_err(const void *p)
{
	long e = libxdp_get_error(p);

	return e ? (int)e : p ? 0 : -ENOENT;
}

static void att_free(struct cls_attachment *a)
{
	xdp_program__close(a->xprog);
	bpf_object__close(a->obj);
	a->xprog = NULL;
	a->obj = NULL;
}

/*
 * A lone gen_cls (left by a run without a dispatcher: this kernel has none, or
 * an older gend) is swapped for our copy in one step (XDP_FLAGS_REPLACE), so no
 * packet meets the interface without a classifier; the attachment stays lone.
 * A lone foreign program is left alone: -EBUSY.
 */
static int replace_lone(struct cls *c, struct cls_attachment *n, struct xdp_multiprog *mp)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
	struct xdp_program *old = xdp_multiprog__main_prog(mp);
	uint32_t flags = n->mode == XDP_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	char nbuf[IF_NAMESIZE];
	int r, fd;

	if (strcmp(xdp_program__name(old), CLS_PROG_NAME) != 0)
		return cls_fail(c, -EBUSY, "program '%s' (id %u) is attached to '%s' already, without a dispatcher",
				xdp_program__name(old), xdp_program__id(old), ifname(n->ifindex, nbuf));
	r = bpf_object__load(n->obj);
	if (r < 0)
		return cls_fail(c, r, "failed to load a copy of the classifier: %s", strerror(-r));
	fd = fcntl(bpf_program__fd(bpf_object__find_program_by_name(n->obj, CLS_PROG_NAME)), F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return cls_fail(c, -errno, "failed to duplicate a program fd: %s", strerror(errno));
	n->xprog = xdp_program__from_fd(fd);
	r = xdp_ptr_err(n->xprog);
	if (r) {
		n->xprog = NULL;
		close(fd);
		return cls_fail(c, r, "failed to hand the classifier to libxdp: %s", strerror(-r));
	}
	opts.old_prog_fd = xdp_program__fd(old);
	r = bpf_xdp_attach(n->ifindex, fd, flags | XDP_FLAGS_REPLACE, &opts);
	if (r < 0)
		return cls_fail(c, r, "failed to replace the stale gen_cls (id %u) on '%s': %s", xdp_program__id(old),
				ifname(n->ifindex, nbuf), strerror(-r));
	return 0;
}

/* Through libxdp, into the dispatcher (or alone where the kernel has none). */
static int attach_new(struct cls *c, struct cls_attachment *n)
{
	int r;

	n->xprog = xdp_program__create(&(struct xdp_program_opts){ .sz = sizeof(struct xdp_program_opts),
								   .obj = n->obj, .prog_name = CLS_PROG_NAME });
	r = xdp_ptr_err(n->xprog);
	if (r) {
		n->xprog = NULL;
		return cls_fail(c, r, "failed to prepare the classifier for libxdp: %s", strerror(-r));
	}
	xdp_program__set_run_prio(n->xprog, CLS_RUN_PRIO);
	r = xdp_program__attach(n->xprog, n->ifindex, n->mode, 0);
	if (r < 0)
		return cls_fail(c, r, "%s", strerror(-r));
	return 0;
}

/*
 * gen_cls programs in the dispatcher: another gend's, or a crashed run's. They
 * are detached once our copy runs, so that every packet meets one classifier
 * or the other (either is right: a dead run's sockets have left its XSKMAP).
 */
static int remove_stale(struct cls *c, int ifindex, enum xdp_attach_mode mode, struct xdp_multiprog *mp)
{
	struct xdp_program *p = NULL;
	char nbuf[IF_NAMESIZE];

	while ((p = xdp_multiprog__next_prog(p, mp))) {
		int r;

		if (strcmp(xdp_program__name(p), CLS_PROG_NAME) != 0)
			continue;
		r = xdp_program__detach(p, ifindex, mode, 0);
		if (r < 0 && r != -ENOENT)
			return cls_fail(c, r, "failed to remove the stale gen_cls (id %u) from '%s': %s",
					xdp_program__id(p), ifname(ifindex, nbuf), strerror(-r));
	}
	return 0;
}

static bool in_dispatcher(int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	bool shared;

	if (xdp_ptr_err(mp))
		return false;
	shared = !xdp_multiprog__is_legacy(mp);
	xdp_multiprog__close(mp);
	return shared;
}

int cls_attach(struct cls *c, int ifindex, bool native)
{
	enum xdp_attach_mode mode = native ? XDP_MODE_NATIVE : XDP_MODE_SKB;
	struct cls_attachment *a = find_att(c, ifindex), n = { .ifindex = ifindex, .mode = mode };
	struct xdp_multiprog *mp;
	char nbuf[IF_NAMESIZE];
	int r;

	if (a && a->mode == mode && xdp_program__is_attached(a->xprog, ifindex) == mode)
		return 0;
	if (!a && c->natt == CLS_MAX_ATTACH)
		return cls_fail(c, -ENOSPC, "failed to attach XDP on '%s': more than %d interfaces", ifname(ifindex, nbuf),
				CLS_MAX_ATTACH);
	if (a) { /* ours, but gone or in the other mode: start afresh */
		r = cls_detach(c, ifindex);
		if (r < 0)
			return r;
	}
	n.obj = copy_open(c);
	if (!n.obj)
		return cls_fail(c, -errno, "failed to open a copy of the classifier: %s", strerror(errno));

	mp = xdp_multiprog__get_from_ifindex(ifindex);
	r = xdp_ptr_err(mp);
	if (r)
		mp = NULL;
	if (r == -ENOENT)
		r = attach_new(c, &n);
	else if (r)
		cls_fail(c, r, "failed to query XDP on '%s': %s%s", ifname(ifindex, nbuf), strerror(-r),
			 r == -EPERM ? " (opening the programs already there needs CAP_SYS_ADMIN)" : "");
	else if (xdp_multiprog__is_legacy(mp))
		r = replace_lone(c, &n, mp);
	else
		r = attach_new(c, &n);
	if (r < 0) {
		att_free(&n);
		goto out;
	}
	n.shared = in_dispatcher(ifindex);
	c->att[c->natt++] = n;
	if (mp && !xdp_multiprog__is_legacy(mp))
		r = remove_stale(c, ifindex, mode, mp);
out:
	if (mp)
		xdp_multiprog__close(mp);
	return r;
}

int cls_attach_shared(struct cls *c, int ifindex)
{
	struct cls_attachment *a = find_att(c, ifindex);

	return a ? a->shared : -ENOENT;
}

uint32_t cls_attached_id(struct cls *c, int ifindex)
{
	struct cls_attachment *a = find_att(c, ifindex);

	return a ? xdp_program__id(a->xprog) : 0;
}

int cls_detach(struct cls *c, int ifindex)
{
	struct cls_attachment *a = find_att(c, ifindex);
	char nbuf[IF_NAMESIZE];
	int r = 0;

	if (!a)
		return 0;
	/* libxdp removes our copy by its id only: replaced since, or the interface gone, it finds nothing of ours. */
	r = xdp_program__detach(a->xprog, ifindex, a->mode, 0);
	if (r == -ENOENT || r == -ENODEV)
		r = 0;
	if (r < 0)
		return cls_fail(c, r, "failed to detach XDP from '%s': %s", ifname(ifindex, nbuf), strerror(-r));
	att_free(a);
	*a = c->att[--c->natt];
	return 0;
}

int cls_detach_all(struct cls *c)
{
	int first = 0;

	for (int i = c->natt - 1; i >= 0; i--) {
		int r = cls_detach(c, c->att[i].ifindex);

		if (r < 0 && !first)
			first = r;
	}
	return first;
}

void cls_close(struct cls *c, bool unpin)
{
	if (!c)
		return;
	cls_detach_all(c);
	if (unpin)
		unpin_maps(c);
	unmap_arrays(c);
	classifier__destroy(c->skel);
	cls_tab_free(c->host);
	cls_tab_free(c->host_old);
	free(c);
}
