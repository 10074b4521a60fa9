// SPDX-License-Identifier: GPL-2.0
/*
 * What gend writes into and reads from the loaded classifier's maps (cls.c
 * loads and attaches it): the Classification Table, installed in the inactive
 * slot and switched to atomically after an RCU grace period, the unmatched
 * action, the (chain, queue) XSKMAP, the chains' fail modes and the counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "classifier.skel.h"
#include "cls_priv.h"
#include "cls_tab.h"

int cls_config_write(struct cls *c, const struct cls_config *cfg)
{
	uint32_t zero = 0;
	int r = bpf_map_update_elem(bpf_map__fd(c->skel->maps.gen_config), &zero, cfg, BPF_ANY);

	return r < 0 ? -errno : 0;
}

int cls_config_read(struct cls *c, struct cls_config *cfg)
{
	uint32_t zero = 0;
	int r = bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.gen_config), &zero, cfg);

	return r < 0 ? -errno : 0;
}

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
	uint32_t keys[GEN_CLS_PROTOS];

	for (int p = 0; p < GEN_CLS_PROTOS; p++)
		keys[p] = slot * GEN_CLS_PROTOS + p;
	return update_batch(fd, keys, t->proto, GEN_CLS_PROTOS);
}

/* A port field: port -> interval straight into the mapped array (the slot is inactive), then the vectors. */
static int fill_ports(uint64_t *ival_map, int vec_fd, uint32_t slot, const uint16_t *ival,
		      const struct cls_bitvec *vec, uint32_t nival)
{
	uint64_t *dst = ival_map + slot * GEN_CLS_PORTS;
	uint32_t *keys = malloc(nival * sizeof(*keys));
	int r;

	if (!keys)
		return -ENOMEM;
	for (uint32_t p = 0; p < GEN_CLS_PORTS; p++)
		dst[p] = ival[p];
	for (uint32_t k = 0; k < nival; k++)
		keys[k] = slot * GEN_CLS_MAX_IVALS + k;
	r = update_batch(vec_fd, keys, vec, nival);
	free(keys);
	return r;
}

/*
 * The in-port entries: every one into the gen_inport hash (what ifindexes from
 * GEN_CLS_INPORT_DIRECT up find, and what bpftool shows), and for the ifindexes
 * below it, ifindex -> entry straight into the mapped gen_inport_ix (the
 * wildcard's entry, cls_tab's first, where an ifindex has none of its own),
 * entry -> vector into gen_inport_vec.
 */
static int fill_inport(int fd, uint64_t *ix_map, int vec_fd, uint32_t slot, const struct cls_tab *t)
{
	struct cls_inport_key key = { .slot = slot };
	uint64_t *ix = ix_map + (size_t)slot * GEN_CLS_INPORT_DIRECT;
	uint32_t keys[GEN_CLS_INPORT_VECS];
	struct cls_bitvec *vec;
	int r;

	if (!t->ninport || t->ninport > GEN_CLS_INPORT_VECS || t->inport[0].ifindex)
		return -EINVAL;
	r = map_clear_slot(fd, sizeof(struct cls_inport_key), offsetof(struct cls_inport_key, slot), slot,
			   GEN_CLS_INPORT_MAX);
	if (r < 0)
		return r;
	vec = malloc(t->ninport * sizeof(*vec));
	if (!vec)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->ninport; i++) {
		key.ifindex = t->inport[i].ifindex;
		if (bpf_map_update_elem(fd, &key, &t->inport[i].v, BPF_ANY) < 0) {
			free(vec);
			return -errno;
		}
		keys[i] = slot * GEN_CLS_INPORT_VECS + i;
		vec[i] = t->inport[i].v;
	}
	r = update_batch(vec_fd, keys, vec, t->ninport);
	free(vec);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < GEN_CLS_INPORT_DIRECT; i++)
		ix[i] = 0;
	for (uint32_t i = 1; i < t->ninport; i++)
		if (t->inport[i].ifindex < GEN_CLS_INPORT_DIRECT)
			ix[t->inport[i].ifindex] = i;
	return 0;
}

/*
 * Where only the in-port and the protocol can decide (every address and port
 * open) and the in-port entries all have rows: each (entry, protocol)'s winner
 * into the mapped gen_direct, the first set bit of the two vectors' AND, as the
 * program would find it. Returns whether the slot may take CLS_DIRECT.
 */
static bool fill_direct(uint64_t *direct_map, uint32_t slot, const struct cls_tab *t)
{
	const uint32_t need = CLS_OPEN_SRC | CLS_OPEN_DST | CLS_OPEN_SPORT | CLS_OPEN_DPORT;
	uint64_t *row = direct_map + (size_t)slot * GEN_CLS_DIRECT_ENTRIES * GEN_CLS_PROTOS;

	if ((t->open & need) != need || t->ninport > GEN_CLS_DIRECT_ENTRIES)
		return false;
	for (uint32_t e = 0; e < t->ninport; e++) {
		const struct cls_bitvec *vin = &t->inport[e].v;

		for (uint32_t p = 0; p < GEN_CLS_PROTOS; p++) {
			const struct cls_bitvec *vp = &t->proto[p];
			uint64_t win = 0;

			/* An open in-port has the wildcard alone, with every rule: the AND is the proto vector's, as in the program. */
			for (uint32_t i = 0; i < GEN_CLS_WORDS && !win; i++) {
				uint64_t w = vp->w[i] & vin->w[i];

				if (w)
					win = (uint64_t)i * 64 + (uint64_t)__builtin_ctzll(w) + 1;
			}
			row[(size_t)e * GEN_CLS_PROTOS + p] = win;
		}
	}
	return true;
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
	r = cls_config_read(c, &cfg);
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
	    (r = fill_inport(bpf_map__fd(s->maps.gen_inport), c->inport_ix, bpf_map__fd(s->maps.gen_inport_vec), slot,
			     t)) < 0) {
		cls_tab_free(t);
		return cls_fail(c, r, "failed to write classification table slot %u: %s", slot, strerror(-r));
	}

	/* The slot's open fields: no packet reads them until `active` names the slot. */
	cfg.open[slot] = t->open | (fill_direct(c->direct, slot, t) ? CLS_DIRECT : 0);
	r = cls_config_write(c, &cfg);
	if (r < 0) {
		cls_tab_free(t);
		return cls_fail(c, r, "failed to write classification table slot %u: %s", slot, strerror(-r));
	}
	/*
	 * Publish: a packet that reads the new `active` began after this grace
	 * period started, so it sees every write above, on any memory model (the
	 * program has no acquire load to pair with a release here). The write
	 * below copies `open` as it is, so a packet that sees the new `active`
	 * mid-copy still reads this slot's open fields.
	 */
	wait_readers();
	cfg.nrules[slot] = n;
	cfg.active = slot;
	r = cls_config_write(c, &cfg);
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
	int r = cls_config_read(c, &cfg);

	if (r == 0) {
		cfg.unmatched_drop = drop;
		r = cls_config_write(c, &cfg);
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
