// SPDX-License-Identifier: GPL-2.0
/*
 * Flow expiry and IPFIX export (see flowexp.h).
 *
 * The daemon keeps, per flowmon slot, what it exported of the flow last (a
 * shadow): the NF's counters only grow, so a record carries the difference,
 * and the NF's packet path never waits for the exporter. Eviction writes the
 * slot: counters and times to zero, then the key to FM_TOMB, only for flows
 * idle for the idle timeout; a packet that races the eviction of its own flow
 * (it arrives after the timeout, during the sweep) may be lost to the counts.
 * A table shared by several chains is swept once, through the first of them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "backend.h"
#include "ctl.h"
#include "flowexp.h"
#include "rt.h"
#include "../nf/flowmon.h"

#define FX_SWEEP_NS 1000000000ull
#define FX_TEMPLATE_NS 10000000000ull /* templates are sent again this often (UDP: RFC 7011 8.4) */
#define FX_CHUNK 1024                 /* slots read at a time */
#define FX_MSG_MAX 1400

struct fx_shadow {
	uint64_t key;
	uint64_t packets, bytes, octets; /* exported so far */
	uint64_t start_ns;               /* start of the flow's next record */
};

struct fx_table {
	const struct nf_flowmon *blob; /* host blob: geometry */
	struct fx_shadow *sh;          /* one per slot */
	bool seen;
	struct fx_table *next;
};

void flowexp_init(struct flowexp *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->fd = -1;
	fx->domain = 1;
}

int flowexp_configure(struct flowexp *fx, uint32_t idle_s, uint32_t active_s, uint32_t addr, uint16_t port,
		      char *msg, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr) };
	int fd, e;

	fx->idle_ns = (uint64_t)idle_s * 1000000000ull;
	fx->active_ns = (uint64_t)active_s * 1000000000ull;
	if (fx->fd >= 0 && addr == fx->addr && port == fx->port)
		return 0;
	if (fx->fd >= 0)
		close(fx->fd);
	fx->fd = -1;
	fx->addr = addr;
	fx->port = port;
	fx->last_template_ns = 0; /* a new collector gets the template first */
	if (!port)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		e = errno;
		if (fd >= 0)
			close(fd);
		snprintf(msg, len, "cannot set up IPFIX export to %s:%u: %s; flows expire without export",
			 inet_ntoa(sa.sin_addr), port, strerror(e));
		return -e;
	}
	fx->fd = fd;
	return 0;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	return put16(put16(p, (uint16_t)(v >> 16)), (uint16_t)v);
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

/* The template's fields: IANA information element id and length, in record order. */
static const uint16_t fx_fields[][2] = {
	{ 8, 4 },   /* sourceIPv4Address */
	{ 12, 4 },  /* destinationIPv4Address */
	{ 7, 2 },   /* sourceTransportPort */
	{ 11, 2 },  /* destinationTransportPort */
	{ 4, 1 },   /* protocolIdentifier */
	{ 2, 8 },   /* packetDeltaCount */
	{ 1, 8 },   /* octetDeltaCount: IPv4 bytes */
	{ 352, 8 }, /* layer2OctetDeltaCount: frame bytes */
	{ 152, 8 }, /* flowStartMilliseconds */
	{ 153, 8 }, /* flowEndMilliseconds */
	{ 136, 1 }, /* flowEndReason */
};
#define FX_NFIELDS (sizeof(fx_fields) / sizeof(fx_fields[0]))

size_t flowexp_encode(uint8_t *buf, size_t len, const struct fx_record *r, uint32_t n, bool with_template,
		      uint32_t export_s, uint32_t seq, uint32_t domain)
{
	size_t need = 16 + (with_template ? 8 + 4 * FX_NFIELDS : 0) + (n ? 4 + (size_t)n * FX_RECORD_LEN : 0);
	uint8_t *p = buf;

	if (need > len || need > 65535)
		return 0;
	p = put16(p, 10); /* IPFIX */
	p = put16(p, (uint16_t)need);
	p = put32(p, export_s);
	p = put32(p, seq);
	p = put32(p, domain);
	if (with_template) {
		p = put16(p, 2); /* template set */
		p = put16(p, (uint16_t)(8 + 4 * FX_NFIELDS));
		p = put16(p, FX_TEMPLATE_ID);
		p = put16(p, (uint16_t)FX_NFIELDS);
		for (size_t i = 0; i < FX_NFIELDS; i++) {
			p = put16(p, fx_fields[i][0]);
			p = put16(p, fx_fields[i][1]);
		}
	}
	if (n) {
		p = put16(p, FX_TEMPLATE_ID);
		p = put16(p, (uint16_t)(4 + n * FX_RECORD_LEN));
		for (uint32_t i = 0; i < n; i++) {
			p = put32(p, r[i].src);
			p = put32(p, r[i].dst);
			p = put16(p, r[i].sport);
			p = put16(p, r[i].dport);
			*p++ = r[i].proto;
			p = put64(p, r[i].packets);
			p = put64(p, r[i].octets);
			p = put64(p, r[i].l2_octets);
			p = put64(p, r[i].start_ns / 1000000);
			p = put64(p, r[i].end_ns / 1000000);
			*p++ = r[i].reason;
		}
	}
	return (size_t)(p - buf);
}

static void fx_flush(struct flowexp *fx, uint64_t now)
{
	uint8_t buf[FX_MSG_MAX];
	bool tmpl = !fx->last_template_ns || now - fx->last_template_ns >= FX_TEMPLATE_NS;
	size_t n;

	if (fx->fd < 0 || (!fx->npend && !tmpl))
		return;
	n = flowexp_encode(buf, sizeof(buf), fx->pend, fx->npend, tmpl, (uint32_t)(now / 1000000000ull), fx->seq,
			   fx->domain);
	if (send(fx->fd, buf, n, MSG_DONTWAIT) == (ssize_t)n) {
		fx->messages++;
		fx->exported += fx->npend;
		if (tmpl)
			fx->last_template_ns = now;
	} else {
		fx->send_errors++;
	}
	/* The sequence counts records sent, lost or not: a collector sees the gap. */
	fx->seq += fx->npend;
	fx->npend = 0;
}

static void fx_emit(struct flowexp *fx, const struct nf_flow_slot *s, const struct fx_shadow *sh, uint8_t reason,
		    uint64_t now)
{
	struct fx_record *r;

	if (fx->fd < 0)
		return;
	r = &fx->pend[fx->npend++];
	*r = (struct fx_record){ .src = s->src, .dst = s->dst, .sport = s->sport, .dport = s->dport,
				 .proto = s->proto, .reason = reason, .packets = s->packets - sh->packets,
				 .octets = s->octets - sh->octets, .l2_octets = s->bytes - sh->bytes,
				 .start_ns = sh->start_ns, .end_ns = s->last };
	if (fx->npend == FX_MSG_RECORDS)
		fx_flush(fx, now);
}

/* Zero the slot's counts, then make it a tombstone (in this order: flowmon.h). */
static int fx_evict(struct gen_chain *c, uint32_t k, uint32_t off)
{
	static const uint8_t zero[sizeof(struct nf_flow_slot) - 8];
	const uint64_t tomb = FM_TOMB;
	int r = chain_state_write(c, k, zero, off + 8, sizeof(zero));

	return r ? r : chain_state_write(c, k, &tomb, off, 8);
}

static void sweep(struct flowexp *fx, struct fx_table *t, struct gen_chain *c, uint32_t k, uint64_t now, bool force)
{
	static struct nf_flow_slot chunk[FX_CHUNK];
	const struct nf_flowmon *hb = t->blob;

	for (uint32_t base = 0; base < hb->nslots; base += FX_CHUNK) {
		uint32_t n = hb->nslots - base < FX_CHUNK ? hb->nslots - base : FX_CHUNK;

		if (chain_state_read(c, k, chunk, hb->slots_off + base * (uint32_t)sizeof(*chunk), n * (uint32_t)sizeof(*chunk)))
			return;
		for (uint32_t j = 0; j < n; j++) {
			const struct nf_flow_slot *s = &chunk[j];
			struct fx_shadow *sh = &t->sh[base + j];
			uint32_t off = hb->slots_off + (base + j) * (uint32_t)sizeof(*s);
			bool moved;

			if (s->key == 0 || s->key == FM_TOMB || !s->last) {
				if (s->key != sh->key)
					sh->key = 0;
				continue; /* free, evicted, or claimed a moment ago */
			}
			if (sh->key != s->key)
				*sh = (struct fx_shadow){ .key = s->key, .start_ns = s->first ? s->first : s->last };
			moved = s->packets != sh->packets;
			/*
			 * A batch stamped after this sweep's clock read can leave last (or
			 * first) ahead of now: such a flow is busy, never idle (the unsigned
			 * difference would wrap and evict it).
			 */
			if (force || (s->last < now && now - s->last >= fx->idle_ns)) {
				if (moved)
					fx_emit(fx, s, sh, force ? FX_END_FORCED : FX_END_IDLE, now);
				if (!force && !fx_evict(c, k, off))
					fx->expired++;
				sh->key = 0;
			} else if (sh->start_ns < now && now - sh->start_ns >= fx->active_ns) {
				if (moved)
					fx_emit(fx, s, sh, FX_END_ACTIVE, now);
				*sh = (struct fx_shadow){ .key = s->key, .packets = s->packets, .bytes = s->bytes,
							  .octets = s->octets, .start_ns = now };
			}
		}
	}
}

static struct fx_table *table_of(struct flowexp *fx, const struct nf_flowmon *blob)
{
	struct fx_table *t;

	for (t = fx->tables; t; t = t->next)
		if (t->blob == blob)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->sh = calloc(blob->nslots, sizeof(*t->sh));
	if (!t->sh) {
		free(t);
		return NULL;
	}
	t->blob = blob;
	t->next = fx->tables;
	fx->tables = t;
	return t;
}

/* Tables no chain runs any more (a reload replaced them) are forgotten. */
static void drop_unseen(struct flowexp *fx)
{
	for (struct fx_table **pp = &fx->tables; *pp;) {
		struct fx_table *t = *pp;

		if (t->seen) {
			t->seen = false;
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		free(t->sh);
		free(t);
	}
}

void flowexp_poll(struct flowexp *fx, struct rt *rt, bool force)
{
	uint64_t now = backend_batch_time(); /* the clock batches are stamped with */

	if (!force && now - fx->last_sweep_ns < FX_SWEEP_NS)
		return;
	fx->last_sweep_ns = now;
	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		const struct chain_prog *prog = &rc->c.cur->prog;

		for (uint32_t k = 0; k < prog->n; k++) {
			struct fx_table *t;

			if (prog->type[k] != NF_T_FLOWMON)
				continue;
			t = table_of(fx, (const struct nf_flowmon *)prog->state[k]);
			if (!t || t->seen)
				continue;
			t->seen = true;
			sweep(fx, t, &rc->c, k, now, force);
		}
	}
	drop_unseen(fx);
	fx_flush(fx, now);
}

void flowexp_fini(struct flowexp *fx)
{
	while (fx->tables) {
		struct fx_table *t = fx->tables;

		fx->tables = t->next;
		free(t->sh);
		free(t);
	}
	if (fx->fd >= 0)
		close(fx->fd);
	fx->fd = -1;
}

void flowexp_print(const struct flowexp *fx, FILE *out, bool json)
{
	struct in_addr a = { htonl(fx->addr) };
	char to[32];

	snprintf(to, sizeof(to), "%s:%u", inet_ntoa(a), fx->port);
	if (json) {
		fprintf(out, "\"flows\":{\"idle_timeout\":%llu,\"active_timeout\":%llu,\"ipfix_collector\":",
			(unsigned long long)(fx->idle_ns / 1000000000ull), (unsigned long long)(fx->active_ns / 1000000000ull));
		ctl_json_str(out, fx->port ? to : "");
		fprintf(out, ",\"expired\":%llu,\"exported\":%llu,\"messages\":%llu,\"send_errors\":%llu}",
			(unsigned long long)fx->expired, (unsigned long long)fx->exported,
			(unsigned long long)fx->messages, (unsigned long long)fx->send_errors);
		return;
	}
	fprintf(out, "flows:        idle %llu s, active %llu s; %llu expired; IPFIX to %s: %llu records in %llu messages, "
		"%llu send errors\n", (unsigned long long)(fx->idle_ns / 1000000000ull),
		(unsigned long long)(fx->active_ns / 1000000000ull), (unsigned long long)fx->expired,
		fx->port ? to : "(none)", (unsigned long long)fx->exported, (unsigned long long)fx->messages,
		(unsigned long long)fx->send_errors);
}
