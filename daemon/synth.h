/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Synthetic ports (`ports = synth:0 ...`): like DPDK's null and ring ports, a
 * port worker generates frames straight into its UMEM, classifies them with the
 * host copy of the XDP classifier and hands them to the chains exactly as it
 * hands received frames; frames sent out of a synthetic port are returned at
 * once. The rings, controllers, backends and forwarder run unchanged, without
 * a NIC's or a veth's per-packet cost: the host path measured on its own.
 */
#ifndef GEN_SYNTH_H
#define GEN_SYNTH_H

#include <stdbool.h>
#include <stdint.h>
#include "bpf/classifier.h"

#define SYNTH_PREFIX "synth:"
#define SYNTH_MAX_FLOWS 16384
#define SYNTH_MAX_PROTOS 3
/* What the classifier sees as a synthetic port's ingress ifindex (`match = in PORT`). */
#define SYNTH_IFINDEX(port) (0x40000000u + (uint32_t)(port))

/* [gen] synth_* keys: one generator per (synthetic port, queue). */
struct synth_cfg {
	uint32_t size;     /* frame size on the wire, FCS included (64..1518); 0 = IMIX 7:4:1 of 64/594/1518 */
	uint32_t flows;    /* flows per (port, queue) */
	uint64_t rate;     /* packets per second per (port, queue); 0 = as fast as possible */
	uint64_t count;    /* frames per (port, queue), then it stops; 0 = no end */
	uint8_t proto[SYNTH_MAX_PROTOS]; /* flow i uses proto[i % nproto] */
	int nproto;
};

/* Counters of one generator; written by its port worker only. */
struct synth_stats {
	uint64_t generated;
	uint64_t unmatched; /* no rule: XDP would pass them to the stack; here they are dropped */
	uint64_t malformed;
	uint64_t no_socket; /* a rule matched but the chain takes nothing on this port */
	/*
	 * Frames the rate asked for that were not written in time: more than 1 ms
	 * of the rate (and at least SYNTH_IN_FLIGHT frames) was due, because the
	 * queue had no free frame or its port worker was busy elsewhere: what a
	 * NIC counts as rx_missed.
	 */
	uint64_t missed;
	uint64_t matched[GEN_MAX_CHAINS]; /* by classifier chain id */
};

struct synth_port;
struct qworker;
struct chain_io;

bool synth_is_name(const char *port);
/* A generator for (port, q). NULL + errno. */
struct synth_port *synth_new(const struct synth_cfg *c, int port, uint32_t q);
void synth_free(struct synth_port *s);
/* While the worker is paused: frames classified to cls_id go to io (NULL: to nobody). */
void synth_route(struct synth_port *s, uint32_t cls_id, struct chain_io *io);
void synth_unroute(struct synth_port *s, const struct chain_io *io);
const struct synth_stats *synth_stats(const struct synth_port *s);
/* Any thread: change the rate (packets/s; 0: as fast as possible); the generator takes it at its next burst. */
void synth_set_rate(struct synth_port *s, uint64_t pps);
/* Port worker: whether its synth_count frames are all out (nothing more to generate). */
bool synth_done(const struct synth_port *s);
/* Port worker: generate, classify and hand over one burst on port p; returns frames moved. */
uint32_t synth_rx(struct qworker *w, int p);

#endif
