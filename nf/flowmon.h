/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flowmon: per-flow packet and byte counters keyed by the IPv4 5-tuple.
 *
 * The table is a fixed array of slots with open addressing (linear probing,
 * at most `probe` slots per lookup). It is updated concurrently by CPU threads
 * and GPU threads without locks:
 *   - a slot's `key` word is its claim: 0 is free, anything else is the 64-bit
 *     hash of the flow that owns it. A new flow takes a free slot with one
 *     64-bit CAS; the loser of a race re-reads the winner's key and either
 *     shares the slot (same flow) or probes on.
 *   - packets and bytes are 64-bit atomic adds; last is an atomic max of the
 *     batch times (nf_pkt.now) of its packets, first the claimer's batch time.
 *   - the tuple words are written once by the claimer and read only by reports.
 * Flows are told apart by their 64-bit hash: two distinct flows share a slot only
 * on a full 64-bit collision. The NF never evicts: the daemon does (idle and
 * active timeouts, daemon/flowexp.c), by zeroing an expired flow's counters and
 * then setting its key to FM_TOMB. A tombstone keeps the probe chains of the
 * flows behind it intact, and a new flow reuses the first one in its window once
 * it has looked through the whole window for itself. A packet whose probe window
 * is full of other flows is counted in insert_failed and passes uncounted per
 * flow. flowmon never drops: every packet passes.
 */
#ifndef GEN_NF_FLOWMON_H
#define GEN_NF_FLOWMON_H

#include "nf.h"

enum {
	FM_C_FLOWS,         /* slots claimed */
	FM_C_INSERT_FAILED, /* packets of flows that found no slot */
	FM_C_NOT_IPV4,
	FM_C_MAX,
};

#define FM_FLOWS_DEFAULT 65536u
#define FM_FLOWS_MAX (1u << 24)
#define FM_PROBE 32u
/* The key of a slot whose flow was evicted: no hash has this value. */
#define FM_TOMB 0xffffffffffffffffull

struct nf_flow_slot {
	uint64_t key; /* 0 free, FM_TOMB evicted, else the flow hash */
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t pad[3];
	uint64_t packets;
	uint64_t bytes;  /* frame bytes, Ethernet header included */
	uint64_t first;  /* batch time of its first packet, ns since the epoch */
	uint64_t last;   /* batch time of its latest packet */
	uint64_t octets; /* IPv4 bytes (total length): IPFIX octetDeltaCount */
};
_Static_assert(sizeof(struct nf_flow_slot) == 64, "flow slot crosses to the GPU");

struct nf_flowmon {
	struct nf_hdr hdr;
	uint32_t slots_off; /* struct nf_flow_slot[nslots] */
	uint32_t nslots;    /* power of two */
	uint32_t probe;     /* max slots visited per packet */
	uint32_t pad;
	uint64_t counters[FM_C_MAX];
};
_Static_assert(sizeof(struct nf_flowmon) == 56, "flowmon state crosses to the GPU");

/* Mix the tuple into a 64-bit hash that is never 0 (0 marks a free slot). */
NF_FN uint64_t nf_fm_hash(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto)
{
	uint64_t h = ((uint64_t)src << 32 | dst) * 0x9e3779b97f4a7c15ull;
	h ^= ((uint64_t)sport << 24 | (uint64_t)dport << 8 | proto) + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 32;
	return h && h != FM_TOMB ? h : 1;
}

NF_FN void nf_fm_add(struct nf_flow_slot *s, uint32_t len, uint32_t octets, uint64_t now)
{
	NF_ATOMIC_ADD64(&s->packets, 1);
	NF_ATOMIC_ADD64(&s->bytes, len);
	NF_ATOMIC_ADD64(&s->octets, octets);
	/* Most packets of a batch find last set already: no atomic then. */
	if (NF_ATOMIC_LOAD64(&s->last) < now)
		NF_ATOMIC_MAX64(&s->last, now);
}

/*
 * Account a packet of len frame bytes and octets IPv4 bytes at batch time now
 * to the flow; returns the slot, or NULL when the probe window holds only other
 * flows. The flow is looked for up to the first free slot; a new flow takes the
 * first free slot or tombstone of its window.
 */
NF_FN struct nf_flow_slot *nf_fm_account(struct nf_flowmon *st, uint32_t src, uint32_t dst, uint16_t sport,
					 uint16_t dport, uint8_t proto, uint32_t len, uint32_t octets, uint64_t now)
{
	struct nf_flow_slot *slots = NF_AT(st, st->slots_off, struct nf_flow_slot *);
	uint64_t h = nf_fm_hash(src, dst, sport, dport, proto);
	uint32_t mask = st->nslots - 1, i, at = st->probe;

	for (i = 0; i < st->probe; i++) {
		struct nf_flow_slot *s = &slots[(uint32_t)(h + i) & mask];
		uint64_t k = NF_ATOMIC_LOAD64(&s->key);
		if (k == h) {
			nf_fm_add(s, len, octets, now);
			return s;
		}
		if ((k == 0 || k == FM_TOMB) && at == st->probe)
			at = i;
		if (k == 0)
			break;
	}
	for (i = at; i < st->probe; i++) {
		struct nf_flow_slot *s = &slots[(uint32_t)(h + i) & mask];
		uint64_t k = NF_ATOMIC_LOAD64(&s->key);
		if (k == 0 || k == FM_TOMB) {
			uint64_t o = NF_ATOMIC_CAS64(&s->key, k, h);
			if (o == k) {
				s->src = src;
				s->dst = dst;
				s->sport = sport;
				s->dport = dport;
				s->proto = proto;
				s->first = now;
				NF_COUNT(&st->hdr, FM_C_FLOWS);
			}
			k = o == k ? h : o;
		}
		if (k == h) {
			nf_fm_add(s, len, octets, now);
			return s;
		}
	}
	return NULL;
}

NF_FN int nf_flowmon_run(void *state, struct nf_pkt *p)
{
	struct nf_flowmon *st = (struct nf_flowmon *)state;
	uint32_t ip = nf_ipv4_off(p);
	if (!ip) {
		NF_COUNT(&st->hdr, FM_C_NOT_IPV4);
		return NF_PASS;
	}
	const uint8_t *iph = p->buf + ip;
	uint32_t ihl = (uint32_t)(iph[0] & 0x0f) * 4;
	uint32_t tot = nf_get16(iph + 2);
	uint8_t proto = iph[9];
	uint16_t sport = 0, dport = 0;
	/* Same rule as the firewall: ports only for TCP/UDP first fragments that carry them. */
	if ((proto == NF_IPPROTO_TCP || proto == NF_IPPROTO_UDP) && (nf_get16(iph + 6) & 0x1fff) == 0 &&
	    ihl + 4 <= tot) {
		sport = nf_get16(iph + ihl);
		dport = nf_get16(iph + ihl + 2);
	}
	if (!nf_fm_account(st, nf_get32(iph + 12), nf_get32(iph + 16), sport, dport, proto, p->len, tot, p->now))
		NF_COUNT(&st->hdr, FM_C_INSERT_FAILED);
	return NF_PASS;
}

#ifndef __CUDACC_RTC__
/* Host-side builder API (nf/flowmon_build.c): a blob of at least `flows` slots (rounded up to 2^k). */
int nf_fm_build(uint32_t flows, struct nf_hdr **ret_state);
/*
 * Copy the up to max busiest live flows (by bytes, then packets) of st into
 * out; returns how many.
 */
uint32_t nf_fm_top(const struct nf_flowmon *st, struct nf_flow_slot *out, uint32_t max);
#endif

#endif
