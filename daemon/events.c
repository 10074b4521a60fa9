// SPDX-License-Identifier: GPL-2.0
/*
 * NIDS alert events: drain the alert rings, write Suricata EVE lines.
 *
 * A ring is read through the chain's live state (the GPU's copy on the gpu
 * backend): the header, then the records from tail to head. A record counts
 * once its seq says it is complete; those are read a second time, after seq
 * was seen, so that no byte of them can predate it (a copy engine reads the
 * bytes of one copy in no promised order), then tail moves past them. A
 * record that stays incomplete for EV_STUCK_NS (its batch failed between the
 * reservation and the write) is skipped and counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-journal.h>
#include "backend.h"
#include "ctl.h"
#include "events.h"
#include "rt.h"
#include "../nf/nids.h"

#define EV_STUCK_NS 2000000000ull
#define EV_CHUNK 1024 /* records read at a time */

void events_init(struct events *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->fd = -1;
}

static int ev_open(struct events *ev, char *msg, size_t len)
{
	char dir[PATH_MAX], *slash;
	int fd;

	if (ev->fd >= 0)
		close(ev->fd);
	ev->fd = -1;
	ev->open_errno = 0;
	if (ev->sink != EV_FILE)
		return 0;
	/* The directory one level up is made when missing (the unit's LogsDirectory makes /var/log/gen). */
	snprintf(dir, sizeof(dir), "%s", ev->path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) && errno != EEXIST)
			goto fail;
	}
	fd = open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		goto fail;
	ev->fd = fd;
	return 0;
fail:
	ev->open_errno = errno;
	snprintf(msg, len, "cannot open eve_log %s: %s; nids alert events are counted, not written", ev->path,
		 strerror(ev->open_errno));
	return -ev->open_errno;
}

int events_configure(struct events *ev, const char *eve_log, char *msg, size_t len)
{
	if (!eve_log || !strcmp(eve_log, "off"))
		ev->sink = EV_OFF;
	else if (!strcmp(eve_log, "journal"))
		ev->sink = EV_JOURNAL;
	else
		ev->sink = EV_FILE;
	snprintf(ev->path, sizeof(ev->path), "%s", ev->sink == EV_FILE ? eve_log : "");
	return ev_open(ev, msg, len);
}

int events_reopen(struct events *ev, char *msg, size_t len)
{
	return ev_open(ev, msg, len);
}

void events_fini(struct events *ev)
{
	if (ev->fd >= 0)
		close(ev->fd);
	ev->fd = -1;
}

static const char *proto_name(uint8_t proto, char *buf)
{
	switch (proto) {
	case NF_IPPROTO_TCP:
		return "TCP";
	case NF_IPPROTO_UDP:
		return "UDP";
	case NF_IPPROTO_ICMP:
		return "ICMP";
	default:
		sprintf(buf, "%u", proto);
		return buf;
	}
}

/* A rule's msg as written in the rules file, with Snort's escapes (\" \; \\) undone. */
static const char *unescape(const char *msg, char *buf, size_t len)
{
	size_t n = 0;

	for (; *msg && n + 1 < len; msg++) {
		if (*msg == '\\' && msg[1])
			msg++;
		buf[n++] = *msg;
	}
	buf[n] = '\0';
	return buf;
}

int events_format(char *buf, size_t len, uint64_t ts, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		  uint8_t proto, uint32_t sid, uint32_t rev, const char *msg, bool blocked, const char *chain,
		  const char *nf)
{
	char when[64], zone[8], sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN], pn[4], text[1024];
	struct in_addr a;
	time_t sec = (time_t)(ts / 1000000000ull);
	struct tm tm;
	FILE *f;
	long n;

	/* Suricata's form: local time, microseconds, the zone as +hhmm. */
	localtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(zone, sizeof(zone), "%z", &tm);
	a.s_addr = htonl(src);
	inet_ntop(AF_INET, &a, sa, sizeof(sa));
	a.s_addr = htonl(dst);
	inet_ntop(AF_INET, &a, da, sizeof(da));
	f = fmemopen(buf, len, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\"timestamp\":\"%s.%06u%s\",\"event_type\":\"alert\",\"src_ip\":\"%s\",", when,
		(unsigned)(ts / 1000 % 1000000), zone, sa);
	if (proto == NF_IPPROTO_TCP || proto == NF_IPPROTO_UDP)
		fprintf(f, "\"src_port\":%u,\"dest_ip\":\"%s\",\"dest_port\":%u,", sport, da, dport);
	else
		fprintf(f, "\"dest_ip\":\"%s\",", da);
	fprintf(f, "\"proto\":\"%s\",\"chain\":", proto_name(proto, pn));
	ctl_json_str(f, chain);
	fprintf(f, ",\"alert\":{\"action\":\"%s\",\"gid\":1,\"signature_id\":%u,\"rev\":%u,\"signature\":",
		blocked ? "blocked" : "allowed", sid, rev);
	ctl_json_str(f, unescape(msg, text, sizeof(text)));
	fprintf(f, ",\"category\":\"\",\"severity\":3},\"gen\":{\"chain\":");
	ctl_json_str(f, chain);
	fprintf(f, ",\"nf\":");
	ctl_json_str(f, nf);
	fprintf(f, "}}");
	n = ftell(f);
	if (fclose(f) || n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return (int)n;
}

/* Write one event to the sink; false when it could not be written. */
static bool ev_write(struct events *ev, char *line, int n, uint32_t sid)
{
	if (ev->sink == EV_JOURNAL)
		return sd_journal_send("MESSAGE=%s", line, "PRIORITY=4", "SYSLOG_IDENTIFIER=gend", "GEN_EVENT=alert",
				       "GEN_SID=%u", sid, NULL) == 0;
	if (ev->fd < 0)
		return false;
	line[n] = '\n';
	return write(ev->fd, line, (size_t)n + 1) == n + 1;
}

static const char *chain_name_of(struct rt *rt, uint8_t id, const char *dflt)
{
	for (int i = 0; i < rt->nchains; i++)
		if (rt->chains[i]->c.id == id)
			return rt->chains[i]->c.name;
	return dflt;
}

static struct ev_stuck *stuck_of(struct events *ev, const void *blob)
{
	struct ev_stuck *free_one = &ev->stuck[0];

	for (size_t i = 0; i < sizeof(ev->stuck) / sizeof(ev->stuck[0]); i++) {
		if (ev->stuck[i].blob == blob)
			return &ev->stuck[i];
		if (!ev->stuck[i].blob)
			free_one = &ev->stuck[i];
	}
	return free_one;
}

/* Records [from, from + n) of the ring into out (n <= EV_CHUNK, wrapping). */
static int read_recs(struct gen_chain *c, uint32_t k, const struct nids_ring *r, uint64_t from, uint32_t n,
		     struct nids_alert *out)
{
	uint32_t at = (uint32_t)(from & (r->size - 1)), first = n < r->size - at ? n : r->size - at;
	int e;

	e = chain_state_read(c, k, out, r->recs_off + at * (uint32_t)sizeof(*out), first * (uint32_t)sizeof(*out));
	if (!e && first < n)
		e = chain_state_read(c, k, out + first, r->recs_off, (n - first) * (uint32_t)sizeof(*out));
	return e;
}

/* Drain NF k (nids) of chain rc: every complete record, in ring order. */
static uint64_t drain_one(struct events *ev, struct rt *rt, struct rt_chain *rc, uint32_t k)
{
	const struct nf_nids *hb = (const struct nf_nids *)rc->c.cur->prog.state[k];
	const struct nids_rule_info *info = NF_AT(hb, hb->info_off, const struct nids_rule_info *);
	const char *nf = rt->cfg->nfs[rc->cc->nfs[k]].name;
	struct nids_alert recs[EV_CHUNK];
	struct nids_ring r;
	uint64_t taken = 0;
	char line[2048];

	if (chain_state_read(&rc->c, k, &r, hb->ring_off, sizeof(r)) || !r.size || r.head - r.tail > r.size)
		return 0;
	while (r.tail != r.head) {
		uint32_t n = r.head - r.tail < EV_CHUNK ? (uint32_t)(r.head - r.tail) : EV_CHUNK, done = 0;

		if (read_recs(&rc->c, k, &r, r.tail, n, recs))
			break;
		while (done < n && recs[done].seq == (uint32_t)(r.tail + done + 1))
			done++;
		if (!done) {
			/* The oldest is not complete yet: wait for it, within reason. */
			struct ev_stuck *s = stuck_of(ev, hb);
			uint64_t now = backend_batch_time(); /* the clock batches are stamped with */

			if (s->blob != hb || s->idx != r.tail) {
				*s = (struct ev_stuck){ hb, r.tail, now };
				break;
			}
			if (now - s->since_ns < EV_STUCK_NS)
				break;
			ev->skipped++;
			s->blob = NULL;
			r.tail++;
			chain_state_write(&rc->c, k, &r.tail, hb->ring_off + offsetof(struct nids_ring, tail), 8);
			continue;
		}
		/* Read again what seq said is complete: now every byte is at least as new as seq. */
		if (read_recs(&rc->c, k, &r, r.tail, done, recs))
			break;
		for (uint32_t i = 0; i < done; i++) {
			const struct nids_alert *a = &recs[i];
			const struct nids_rule_info *ri = a->rule < hb->nrules ? &info[a->rule] : NULL;
			int len = events_format(line, sizeof(line) - 1, a->ts, a->src, a->sport, a->dst, a->dport, a->proto,
						ri ? ri->sid : 0, ri ? ri->rev : 0,
						ri ? (const char *)hb + ri->msg : "", hb->action == NIDS_ACT_DROP,
						chain_name_of(rt, a->chain, rc->c.name), nf);

			if (ev->sink != EV_OFF && len > 0 && ev_write(ev, line, len, ri ? ri->sid : 0))
				ev->written++;
			else
				ev->unwritten++;
		}
		r.tail += done;
		taken += done;
		if (chain_state_write(&rc->c, k, &r.tail, hb->ring_off + offsetof(struct nids_ring, tail), 8))
			break;
	}
	return taken;
}

uint64_t events_poll(struct events *ev, struct rt *rt)
{
	uint64_t n = 0;

	for (int i = 0; i < rt->nchains; i++) {
		struct rt_chain *rc = rt->chains[i];
		const struct chain_prog *prog = &rc->c.cur->prog;

		for (uint32_t k = 0; k < prog->n; k++)
			if (prog->type[k] == NF_T_NIDS && ((const struct nf_nids *)prog->state[k])->ring_off)
				n += drain_one(ev, rt, rc, k);
	}
	return n;
}

void events_print(const struct events *ev, FILE *out, bool json)
{
	const char *to = ev->sink == EV_OFF ? "off" : ev->sink == EV_JOURNAL ? "journal" : ev->path;

	if (json) {
		fprintf(out, "\"eve\":{\"to\":");
		ctl_json_str(out, to);
		fprintf(out, ",\"open\":%s,\"error\":", ev->sink != EV_FILE || ev->fd >= 0 ? "true" : "false");
		ctl_json_str(out, ev->open_errno ? strerror(ev->open_errno) : "");
		fprintf(out, ",\"written\":%llu,\"unwritten\":%llu,\"skipped\":%llu}", (unsigned long long)ev->written,
			(unsigned long long)ev->unwritten, (unsigned long long)ev->skipped);
		return;
	}
	fprintf(out, "alert events: %s%s%s; %llu written, %llu not written, %llu incomplete skipped\n", to,
		ev->open_errno ? ": " : "", ev->open_errno ? strerror(ev->open_errno) : "",
		(unsigned long long)ev->written, (unsigned long long)ev->unwritten, (unsigned long long)ev->skipped);
}
