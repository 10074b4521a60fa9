/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Flow expiry and IPFIX export: the main loop sweeps every flowmon table
 * (through the chain's live state, the GPU's copy included) once a second.
 * A flow idle for flow_idle_timeout is exported and evicted (its slot becomes
 * a tombstone, nf/flowmon.h); one active for flow_active_timeout since its
 * last export is exported again with the counts since then (delta counts) and
 * stays. Records go to ipfix_collector as IPFIX (RFC 7011) over UDP: a
 * template set, then data sets of the standard information elements.
 */
#ifndef GEN_FLOWEXP_H
#define GEN_FLOWEXP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rt;

/* flowEndReason (RFC 7011 / IANA IE 136). */
enum { FX_END_IDLE = 1, FX_END_ACTIVE = 2, FX_END_FORCED = 4 };

/* One exported flow, before encoding. Times are ns since the epoch. */
struct fx_record {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t reason;
	uint64_t packets, octets, l2_octets;
	uint64_t start_ns, end_ns;
};

/* The record layout of the template the exporter sends (template id 256). */
#define FX_TEMPLATE_ID 256
#define FX_RECORD_LEN 54
/* Records per message: the message stays under 1400 bytes. */
#define FX_MSG_RECORDS 24

struct fx_table;

struct flowexp {
	uint64_t idle_ns, active_ns;
	uint32_t addr;      /* collector, host order; port 0: none */
	uint16_t port;
	int fd;             /* UDP socket connected to the collector, or -1 */
	uint32_t domain;    /* observation domain id */
	uint32_t seq;       /* data records sent (the header's sequence number) */
	uint64_t last_template_ns;
	uint64_t last_sweep_ns;
	struct fx_record pend[FX_MSG_RECORDS];
	uint32_t npend;
	struct fx_table *tables;
	/* Figures for genctl status. */
	uint64_t expired, exported, messages, send_errors;
};

void flowexp_init(struct flowexp *fx);
/* The running config's timeouts and collector; 0 or -errno with a line for the log in msg. */
int flowexp_configure(struct flowexp *fx, uint32_t idle_s, uint32_t active_s, uint32_t addr, uint16_t port,
		      char *msg, size_t len);
/* Sweep when a second has passed since the last sweep (force: now, every flow ends: shutdown). */
void flowexp_poll(struct flowexp *fx, struct rt *rt, bool force);
void flowexp_fini(struct flowexp *fx);
void flowexp_print(const struct flowexp *fx, FILE *out, bool json);
/*
 * Encode one IPFIX message of records r[0, n) into buf (template set first when
 * with_template), export time and sequence number as given. Returns its length.
 */
size_t flowexp_encode(uint8_t *buf, size_t len, const struct fx_record *r, uint32_t n, bool with_template,
		      uint32_t export_s, uint32_t seq, uint32_t domain);

#endif
