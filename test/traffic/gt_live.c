// SPDX-License-Identifier: GPL-2.0
/*
 * The XDP sender (--xdp-live): the kernel's BPF_PROG_RUN in live-frame mode
 * (BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18+) runs xdp_live.bpf.c on `repeat`
 * copies of one frame and transmits each copy out of the interface, the way
 * xdp-trafficgen (xdp-tools) sends. No socket, no skb: on veth the frame
 * goes straight to the peer's XDP receive path, so one core offers several
 * times what an AF_XDP copy-mode sender does.
 *
 * Each sender thread is pinned to its own CPU and owns that CPU's slot in
 * the program's map; on veth the peer's receive queue is the sending CPU
 * modulo its number of queues.
 */
#include "gt.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "obj_path.h"
#include "xdp_live.h"

static struct bpf_object *live_obj;
static int live_prog_fd = -1, live_map_fd = -1;
static unsigned int live_ifindex;

/* Open and load the object with only program `name` (and the map); its fd, or -errno. */
static int load(const char *obj_path, const char *name)
{
	char path[4096];
	struct bpf_program *prog, *p;
	struct bpf_map *map;
	int r, ncpu = libbpf_num_possible_cpus();

	if (!obj_path) {
		r = obj_next_to_self(path, sizeof(path), XLIVE_OBJ);
		if (r) {
			fprintf(stderr, "gen-traffic: cannot find %s next to this binary: %s (use --xdp-obj)\n",
				XLIVE_OBJ, strerror(-r));
			return r;
		}
		obj_path = path;
	}
	live_obj = bpf_object__open_file(obj_path, NULL);
	if (!live_obj) {
		r = -errno;
		fprintf(stderr, "gen-traffic: cannot open %s: %s\n", obj_path, strerror(-r));
		return r;
	}
	prog = bpf_object__find_program_by_name(live_obj, name);
	map = bpf_object__find_map_by_name(live_obj, XLIVE_MAP);
	if (!prog || !map || ncpu <= 0) {
		fprintf(stderr, "gen-traffic: %s has no program '%s' or no map '%s'\n", obj_path, name, XLIVE_MAP);
		gt_live_close();
		return -ENOENT;
	}
	bpf_object__for_each_program(p, live_obj)
		bpf_program__set_autoload(p, p == prog);
	bpf_map__set_max_entries(map, (uint32_t)ncpu);
	r = bpf_object__load(live_obj);
	if (r) {
		fprintf(stderr, "gen-traffic: cannot load %s: %s\n", obj_path, strerror(-r));
		gt_live_close();
		return r;
	}
	live_map_fd = bpf_map__fd(map);
	return bpf_program__fd(prog);
}

static int ifindex_of(const char *ifname)
{
	live_ifindex = if_nametoindex(ifname);
	if (!live_ifindex) {
		int r = -errno;

		fprintf(stderr, "gen-traffic: no interface '%s': %s\n", ifname, strerror(-r));
		return r;
	}
	return 0;
}

int gt_live_open(const struct gt_send_opts *o)
{
	int r = ifindex_of(o->ifname);

	if (r)
		return r;
	r = load(o->xdp_obj, XLIVE_PROG);
	if (r < 0)
		return r;
	live_prog_fd = r;
	return 0;
}

void gt_live_close(void)
{
	bpf_object__close(live_obj);
	live_obj = NULL;
	live_prog_fd = live_map_fd = -1;
}

/* The receiver's pass-through program on ifname, native mode; not over another one. */
int gt_live_pass_attach(const char *ifname, const char *obj)
{
	int r = ifindex_of(ifname);

	if (r)
		return r;
	r = load(obj, XLIVE_PASS_PROG);
	if (r < 0)
		return r;
	live_prog_fd = r;
	r = bpf_xdp_attach((int)live_ifindex, live_prog_fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (r) {
		fprintf(stderr, "gen-traffic: cannot attach the XDP pass-through program to '%s': %s\n", ifname,
			strerror(-r));
		gt_live_close();
	}
	return r;
}

/* Only ours: a program attached since by someone else stays. */
void gt_live_pass_detach(void)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = live_prog_fd);

	if (live_prog_fd < 0)
		return;
	bpf_xdp_detach((int)live_ifindex, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &opts);
	gt_live_close();
}

/*
 * Send n copies of frame (a built frame of template t, sequence fields
 * aside) from this thread's CPU, numbered o->first_seq + *sent on; adds the
 * frames the program ran to *sent. 0, or -errno (-EINTR: a signal ended the
 * run early, *sent still exact).
 */
int gt_live_run(const uint8_t *frame, const struct gt_tmpl *t, const struct gt_send_opts *o,
		uint64_t *sent, uint64_t n)
{
	struct xdp_md ctx = { .data_end = t->len, .ingress_ifindex = live_ifindex };
	struct live_slot slot = {
		.seq = o->first_seq + *sent,
		.flows = o->flows,
		.sport0 = o->sport,
		.l4_off = (uint16_t)t->l4_off,
		.gen_off = (uint16_t)t->gen_off,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = t->len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = (uint32_t)n, .batch_size = 64,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
	int cpu = sched_getcpu(), r, run_r;
	uint32_t key = (uint32_t)cpu;

	if (cpu < 0)
		return -errno;
	if (bpf_map_update_elem(live_map_fd, &key, &slot, BPF_ANY))
		return -errno;
	run_r = bpf_prog_test_run_opts(live_prog_fd, &opts);
	run_r = run_r < 0 ? -errno : 0;
	r = bpf_map_lookup_elem(live_map_fd, &key, &slot) ? -errno : 0;
	if (!r)
		*sent = slot.seq - o->first_seq;
	return run_r ? run_r : r;
}
