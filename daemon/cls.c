// SPDX-License-Identifier: GPL-2.0
/*
 * User-space half of the XDP classifier: see cls.h and bpf/README.md.
 */
#include "cls.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/membarrier.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "classifier.skel.h"
#include "cls_tab.h"

#define CLS_BPFFS "/sys/fs/bpf"
#define CLS_MAX_ATTACH 64
#define CLS_PROG_NAME "gen_cls"
#define CLS_IVAL_BYTES (GEN_CLS_SLOTS * 65536 * sizeof(uint64_t))

struct cls_attachment {
	int ifindex;
	uint32_t flags; /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
};

struct cls {
	struct classifier *skel;
	uint64_t *sport_ival, *dport_ival; /* gen_[sd]port_ival mapped: GEN_CLS_SLOTS * 65536 */
	char pin_dir[256];
	bool pinned;
	int ncpus;
	struct cls_attachment att[CLS_MAX_ATTACH];
	int natt;
	struct cls_tab *host, *host_old; /* the installed table and the one before, for synthetic ports */
	char err[256];
};

/* Record the one-line reason of a failure; returns r (a -errno) for `return cls_fail(...)`. */
__attribute__((format(printf, 3, 4))) static int cls_fail(struct cls *c, int r, const char *fmt, ...)
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

static int write_config(struct cls *c, const struct cls_config *cfg)
{
	uint32_t zero = 0;
	int r = bpf_map_update_elem(bpf_map__fd(c->skel->maps.gen_config), &zero, cfg, BPF_ANY);

	return r < 0 ? -errno : 0;
}

static int read_config(struct cls *c, struct cls_config *cfg)
{
	uint32_t zero = 0;
	int r = bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.gen_config), &zero, cfg);

	return r < 0 ? -errno : 0;
}

static uint64_t *map_array(int fd)
{
	void *p = mmap(NULL, CLS_IVAL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void unmap_arrays(struct cls *c)
{
	if (c->sport_ival)
		munmap(c->sport_ival, CLS_IVAL_BYTES);
	if (c->dport_ival)
		munmap(c->dport_ival, CLS_IVAL_BYTES);
	c->sport_ival = c->dport_ival = NULL;
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
	r = write_config(c, &cfg);
	if (r < 0) {
		cls_fail(c, r, "failed to initialise gen_config: %s", strerror(-r));
		goto fail;
	}
	c->sport_ival = map_array(bpf_map__fd(c->skel->maps.gen_sport_ival));
	c->dport_ival = map_array(bpf_map__fd(c->skel->maps.gen_dport_ival));
	if (!c->sport_ival || !c->dport_ival) {
		r = -errno;
		cls_fail(c, r, "failed to mmap the port interval maps: %s", strerror(-r));
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

int cls_map_fd(struct cls *c, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(c->skel->obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

const char *cls_strerror(struct cls *c)
{
	return c->err;
}

/* Name of the program with this id, "" if it vanished. */
static void prog_name_by_id(uint32_t id, char *name, size_t len)
{
	struct bpf_prog_info info = { 0 };
	uint32_t ilen = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	name[0] = '\0';
	if (fd < 0)
		return;
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) == 0)
		snprintf(name, len, "%s", info.name);
	close(fd);
}

static uint32_t our_prog_id(struct cls *c)
{
	struct bpf_prog_info info = { 0 };
	uint32_t ilen = sizeof(info);

	return bpf_obj_get_info_by_fd(cls_prog_fd(c), &info, &ilen) == 0 ? info.id : 0;
}

static struct cls_attachment *find_att(struct cls *c, int ifindex)
{
	for (int i = 0; i < c->natt; i++)
		if (c->att[i].ifindex == ifindex)
			return &c->att[i];
	return NULL;
}

int cls_attach(struct cls *c, int ifindex, bool native)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts);
	uint32_t mode = native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	uint32_t flags = mode, cur_id = 0, our_id;
	char nbuf[IF_NAMESIZE], pname[BPF_OBJ_NAME_LEN];
	int r, old_fd = -1;

	if (!find_att(c, ifindex) && c->natt == CLS_MAX_ATTACH)
		return cls_fail(c, -ENOSPC, "failed to attach XDP on '%s': more than %d interfaces", ifname(ifindex, nbuf),
				CLS_MAX_ATTACH);
	our_id = our_prog_id(c);
	if (!our_id)
		return cls_fail(c, -EIO, "failed to query our XDP program: %s", strerror(errno));

	r = bpf_xdp_query_id(ifindex, mode, &cur_id);
	if (r < 0)
		return cls_fail(c, r, "failed to query XDP on '%s': %s", ifname(ifindex, nbuf), strerror(-r));
	if (cur_id == our_id)
		goto remember;
	if (cur_id) {
		prog_name_by_id(cur_id, pname, sizeof(pname));
		if (strcmp(pname, CLS_PROG_NAME) != 0)
			return cls_fail(c, -EBUSY, "failed to attach XDP on '%s': program '%s' (id %u) is attached already",
					ifname(ifindex, nbuf), pname, cur_id);
		/* Our own program from a run that died: swap it, checking it is still that one. */
		old_fd = bpf_prog_get_fd_by_id(cur_id);
		if (old_fd < 0) {
			r = -errno;
			return cls_fail(c, r, "failed to attach XDP on '%s': %s", ifname(ifindex, nbuf), strerror(-r));
		}
		opts.old_prog_fd = old_fd;
		flags |= XDP_FLAGS_REPLACE;
	} else {
		flags |= XDP_FLAGS_UPDATE_IF_NOEXIST;
	}
	r = bpf_xdp_attach(ifindex, cls_prog_fd(c), flags, &opts);
	if (old_fd >= 0)
		close(old_fd);
	if (r < 0)
		return cls_fail(c, r, "failed to attach XDP (%s mode) on '%s': %s", native ? "native" : "skb",
				ifname(ifindex, nbuf), strerror(-r));
remember:
	if (!find_att(c, ifindex))
		c->att[c->natt++] = (struct cls_attachment){ .ifindex = ifindex, .flags = mode };
	else
		find_att(c, ifindex)->flags = mode;
	return 0;
}

int cls_detach(struct cls *c, int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = cls_prog_fd(c));
	struct cls_attachment *a = find_att(c, ifindex);
	char nbuf[IF_NAMESIZE];
	uint32_t cur_id = 0;
	int r;

	if (!a)
		return 0;
	if (bpf_xdp_query_id(ifindex, a->flags, &cur_id) == 0 && cur_id != our_prog_id(c)) {
		r = 0; /* replaced by someone since, or gone: nothing of ours is left there */
		goto forget;
	}
	/* REPLACE with the expected program: should it change under us, the kernel keeps the other one. */
	r = bpf_xdp_detach(ifindex, a->flags | XDP_FLAGS_REPLACE, &opts);
	if (r == -EEXIST || r == -ENODEV)
		r = 0; /* someone replaced it, or the interface is gone: nothing of ours is left */
	if (r < 0)
		return cls_fail(c, r, "failed to detach XDP from '%s': %s", ifname(ifindex, nbuf), strerror(-r));
forget:
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

/* ---- the Classification Table ---- */

static int validate(struct cls *c, const struct cls_rule *rules, int n)
{
	if (n < 0 || n > GEN_CLS_MAX_RULES)
		return cls_fail(c, -EINVAL, "%d rules: the classifier holds 0..%d", n, GEN_CLS_MAX_RULES);
	for (int i = 0; i < n; i++) {
		const struct cls_rule *r = &rules[i];
		const char *why = NULL;

		if (r->chain_id < 1 || r->chain_id >= GEN_MAX_CHAINS)
			why = "chain id outside 1..255";
		else if (r->src_len > 32 || r->dst_len > 32)
			why = "prefix length above 32";
		else if (r->proto < -1 || r->proto > 255)
			why = "protocol outside 0..255";
		else if (r->sport_lo > r->sport_hi || r->dport_lo > r->dport_hi)
			why = "port range with low above high";
		if (why)
			return cls_fail(c, -EINVAL, "rule %d (chain %u): %s", i, r->chain_id, why);
	}
	return 0;
}

/*
 * Delete every entry of one table slot from a hash or LPM map whose key holds
 * the slot as a __u32 at slot_off (collected first: deleting while walking
 * would restart the walk).
 */
static int map_clear_slot(int fd, size_t key_size, size_t slot_off, uint32_t slot, int cap)
{
	uint8_t key[64], next[64], *dead;
	int ndead = 0, r = 0;
	void *prev = NULL;

	if (key_size > sizeof(key))
		return -EINVAL;
	dead = calloc((size_t)cap, key_size);
	if (!dead)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		uint32_t s;

		memcpy(&s, next + slot_off, sizeof(s));
		if (s == slot && ndead < cap)
			memcpy(dead + (size_t)ndead++ * key_size, next, key_size);
		memcpy(key, next, key_size);
		prev = key;
	}
	for (int i = 0; i < ndead; i++)
		if (bpf_map_delete_elem(fd, dead + (size_t)i * key_size) < 0 && errno != ENOENT)
			r = -errno;
	free(dead);
	return r;
}

/* One LPM trie (src or dst) of one slot: the table's prefixes, keyed after the slot. */
static int fill_lpm(int fd, uint32_t slot, const struct cls_tab_lpm *l)
{
	struct cls_lpm_key key = { .slot = slot };
	int r;

	r = map_clear_slot(fd, sizeof(struct cls_lpm_key), offsetof(struct cls_lpm_key, slot), slot,
			   GEN_CLS_SLOTS * (GEN_CLS_MAX_RULES + 1));
	if (r < 0)
		return r;
	for (uint32_t len = 0; len <= 32; len++) {
		for (uint32_t k = l->start[len]; (l->lens >> len) & 1 && k < l->start[len] + l->count[len]; k++) {
			key.prefixlen = 32 + len;
			key.addr_be = htonl(l->net[k]);
			if (bpf_map_update_elem(fd, &key, &l->vec[k], BPF_ANY) < 0)
				return -errno;
		}
	}
	return 0;
}

/* Arrays: one syscall per table where the kernel has batch updates. */
static int update_batch(int fd, const uint32_t *keys, const void *vals, uint32_t n)
{
	struct bpf_map_info info = { 0 };
	uint32_t ilen = sizeof(info), done = 0;
	const char *v = vals;

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0)
		return -errno;
	while (done < n) {
		uint32_t count = n - done;

		if (bpf_map_update_batch(fd, keys + done, v + (size_t)done * info.value_size, &count, NULL) == 0) {
			done += count;
			continue;
		}
		if (errno != EINVAL && errno != EOPNOTSUPP && errno != 524 /* ENOTSUPP */)
			return -errno;
		for (; done < n; done++) /* no batch support: one by one */
			if (bpf_map_update_elem(fd, &keys[done], v + (size_t)done * info.value_size, BPF_ANY) < 0)
				return -errno;
	}
	return 0;
}

static int fill_proto(int fd, uint32_t slot, const struct cls_tab *t)
{
	uint32_t keys[256];

	for (int p = 0; p < 256; p++)
		keys[p] = slot * 256 + p;
	return update_batch(fd, keys, t->proto, 256);
}

/* A port field: port -> interval straight into the mapped array (the slot is inactive), then the vectors. */
static int fill_ports(uint64_t *ival_map, int vec_fd, uint32_t slot, const uint16_t *ival,
		      const struct cls_bitvec *vec, uint32_t nival)
{
	uint64_t *dst = ival_map + slot * 65536;
	uint32_t *keys = malloc(nival * sizeof(*keys));
	int r;

	if (!keys)
		return -ENOMEM;
	for (uint32_t p = 0; p < 65536; p++)
		dst[p] = ival[p];
	for (uint32_t k = 0; k < nival; k++)
		keys[k] = slot * GEN_CLS_MAX_IVALS + k;
	r = update_batch(vec_fd, keys, vec, nival);
	free(keys);
	return r;
}

static int fill_inport(int fd, uint32_t slot, const struct cls_tab *t)
{
	struct cls_inport_key key = { .slot = slot };
	int r;

	r = map_clear_slot(fd, sizeof(struct cls_inport_key), offsetof(struct cls_inport_key, slot), slot,
			   GEN_CLS_INPORT_MAX);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < t->ninport; i++) {
		key.ifindex = t->inport[i].ifindex;
		if (bpf_map_update_elem(fd, &key, &t->inport[i].v, BPF_ANY) < 0)
			return -errno;
	}
	return 0;
}

static int fill_rules(int fd, uint32_t slot, const struct cls_tab *t)
{
	uint32_t *keys = malloc(GEN_CLS_MAX_RULES * sizeof(*keys));
	int r;

	if (!keys)
		return -ENOMEM;
	for (int i = 0; i < GEN_CLS_MAX_RULES; i++)
		keys[i] = slot * GEN_CLS_MAX_RULES + i;
	r = update_batch(fd, keys, t->rules, GEN_CLS_MAX_RULES);
	free(keys);
	return r;
}

/*
 * Wait for an RCU grace period: XDP programs run inside RCU read-side sections
 * and MEMBARRIER_CMD_GLOBAL returns after synchronize_rcu(). Where that command
 * is refused (nohz_full kernels), sleep far longer than any one program run.
 */
static void wait_readers(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
		return;
	usleep(50 * 1000);
}

void cls_wait_readers(void)
{
	wait_readers();
}

int cls_set_rules(struct cls *c, const struct cls_rule *rules, int n)
{
	struct classifier *s = c->skel;
	struct cls_config cfg;
	struct cls_tab *t;
	uint32_t slot;
	int r;

	r = validate(c, rules, n);
	if (r < 0)
		return r;
	r = read_config(c, &cfg);
	if (r < 0)
		return cls_fail(c, r, "failed to read gen_config: %s", strerror(-r));
	slot = !(cfg.active & 1);

	t = cls_tab_build(rules, n);
	if (!t)
		return cls_fail(c, -ENOMEM, "out of memory for the classification table");
	/* Every packet now reads the other slot (wait_readers ran after the last flip). */
	if ((r = fill_rules(bpf_map__fd(s->maps.gen_rules), slot, t)) < 0 ||
	    (r = fill_lpm(bpf_map__fd(s->maps.gen_src), slot, &t->src)) < 0 ||
	    (r = fill_lpm(bpf_map__fd(s->maps.gen_dst), slot, &t->dst)) < 0 ||
	    (r = fill_proto(bpf_map__fd(s->maps.gen_proto), slot, t)) < 0 ||
	    (r = fill_ports(c->sport_ival, bpf_map__fd(s->maps.gen_sport_vec), slot, t->sport_ival, t->sport_vec,
			    t->nsport)) < 0 ||
	    (r = fill_ports(c->dport_ival, bpf_map__fd(s->maps.gen_dport_vec), slot, t->dport_ival, t->dport_vec,
			    t->ndport)) < 0 ||
	    (r = fill_inport(bpf_map__fd(s->maps.gen_inport), slot, t)) < 0) {
		cls_tab_free(t);
		return cls_fail(c, r, "failed to write classification table slot %u: %s", slot, strerror(-r));
	}

	/*
	 * Publish: a packet that reads the new `active` began after this grace
	 * period started, so it sees every write above, on any memory model (the
	 * program has no acquire load to pair with a release here).
	 */
	wait_readers();
	cfg.nrules[slot] = n;
	cfg.active = slot;
	r = write_config(c, &cfg);
	if (r < 0) {
		cls_tab_free(t);
		return cls_fail(c, r, "failed to switch the classification table: %s", strerror(-r));
	}
	/* The host copy flips with it; its previous readers were quiesced by the caller (cls.h). */
	cls_tab_free(c->host_old);
	c->host_old = c->host;
	__atomic_store_n(&c->host, t, __ATOMIC_RELEASE);
	/* Retire: the next reload rewrites the old slot, so let its last readers finish. */
	wait_readers();
	return 0;
}

const struct cls_tab *cls_host_table(struct cls *c)
{
	return __atomic_load_n(&c->host, __ATOMIC_ACQUIRE);
}

int cls_set_unmatched_drop(struct cls *c, bool drop)
{
	struct cls_config cfg;
	int r = read_config(c, &cfg);

	if (r == 0) {
		cfg.unmatched_drop = drop;
		r = write_config(c, &cfg);
	}
	if (r < 0)
		cls_fail(c, r, "failed to set the unmatched action: %s", strerror(-r));
	return r;
}

static int xsk_key(struct cls *c, uint32_t chain_id, uint32_t queue, uint32_t *key)
{
	if (chain_id < 1 || chain_id >= GEN_MAX_CHAINS || queue >= GEN_MAX_QUEUES)
		return cls_fail(c, -EINVAL, "XSKMAP key out of range: chain %u queue %u", chain_id, queue);
	*key = chain_id * GEN_MAX_QUEUES + queue;
	return 0;
}

int cls_xsk_set(struct cls *c, uint32_t chain_id, uint32_t queue, int xsk_fd)
{
	uint32_t key, fd = xsk_fd;
	int r = xsk_key(c, chain_id, queue, &key);

	if (r < 0)
		return r;
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.gen_xsks), &key, &fd, BPF_ANY) < 0) {
		r = -errno;
		return cls_fail(c, r, "failed to add the socket of chain %u queue %u to gen_xsks: %s", chain_id,
				queue, strerror(-r));
	}
	return 0;
}

int cls_xsk_clear(struct cls *c, uint32_t chain_id, uint32_t queue)
{
	uint32_t key;
	int r = xsk_key(c, chain_id, queue, &key);

	if (r < 0)
		return r;
	if (bpf_map_delete_elem(bpf_map__fd(c->skel->maps.gen_xsks), &key) < 0 && errno != ENOENT) {
		r = -errno;
		return cls_fail(c, r, "failed to remove chain %u queue %u from gen_xsks: %s", chain_id, queue,
				strerror(-r));
	}
	return 0;
}

int cls_set_fail(struct cls *c, uint32_t chain_id, bool closed)
{
	uint32_t v = closed ? CLS_FAIL_CLOSED : CLS_FAIL_OPEN;
	int r;

	if (chain_id < 1 || chain_id >= GEN_MAX_CHAINS)
		return cls_fail(c, -EINVAL, "chain id %u out of range for gen_fail", chain_id);
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.gen_fail), &chain_id, &v, BPF_ANY) < 0) {
		r = -errno;
		return cls_fail(c, r, "failed to set the fail mode of chain %u: %s", chain_id, strerror(-r));
	}
	return 0;
}

int cls_read_stats(struct cls *c, struct cls_stats *out)
{
	struct cls_counter *per = calloc(c->ncpus, sizeof(*per));
	int fd = bpf_map__fd(c->skel->maps.gen_stats), r = 0;

	if (!per)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	for (uint32_t k = 0; k < CLS_CNT_MAX; k++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &k, per) < 0) {
			r = -errno;
			cls_fail(c, r, "failed to read gen_stats[%u]: %s", k, strerror(-r));
			break;
		}
		for (int i = 0; i < c->ncpus; i++)
			sum += per[i].packets;
		if (k < GEN_MAX_CHAINS)
			out->matched[k] = sum;
		else if (k == CLS_CNT_UNMATCHED)
			out->unmatched = sum;
		else if (k == CLS_CNT_MALFORMED)
			out->malformed = sum;
		else if (k == CLS_CNT_NO_SOCKET)
			out->no_socket = sum;
		else if (k == CLS_CNT_FAIL_CLOSED)
			out->fail_closed = sum;
	}
	free(per);
	return r;
}

int cls_read_last(struct cls *c, int cpu, struct cls_last *out)
{
	struct cls_last *per;
	uint32_t zero = 0;
	int r = 0;

	if (cpu < 0 || cpu >= c->ncpus)
		return -EINVAL;
	per = calloc(c->ncpus, sizeof(*per));
	if (!per)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.gen_last), &zero, per) < 0)
		r = -errno;
	else
		*out = per[cpu];
	free(per);
	return r;
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
