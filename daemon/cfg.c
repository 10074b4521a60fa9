// SPDX-License-Identifier: GPL-2.0
/*
 * chains.ini validated: the sections cfg_read.c collected (keys with their
 * lines) become a struct cfg, every problem a "FILE:LINE: reason" line;
 * cfg_build.c then builds the NF states.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "cfg.h"
#include "cfg_read.h"

static void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ __attribute__((cleanup(freep)))

/* ---- small parsers, all strict: the whole string or an error ---- */

static int parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *ret)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_ipv4(const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = ntohl(a.s_addr);
	return 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* What the kernel accepts as a netdev name, minus all-digit names (they'd read as port numbers). */
static const char *ifname_problem(const char *s)
{
	size_t n = strlen(s);

	if (n >= IFNAMSIZ)
		return "is longer than 15 characters";
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return "is not a valid interface name";
	if (synth_is_name(s))
		return all_digits(s + strlen(SYNTH_PREFIX)) && s[strlen(SYNTH_PREFIX)] ? NULL :
		       "is not a synthetic port (synth:N, N a number)";
	if (strpbrk(s, "/:"))
		return "contains '/' or ':'";
	if (all_digits(s))
		return "is all digits (ambiguous with a port number)";
	return NULL;
}

/* ---- section validation ---- */

/* Unknown keys and repeats of non-repeatable keys are errors. */
static void check_keys(struct cfg_parser *p, const struct cfg_sect *s, const char *what, const char *const *known,
		       const char *repeatable)
{
	for (int i = 0; i < s->nkv; i++) {
		const char *k = s->kv[i].key;
		bool ok = false;

		for (const char *const *kn = known; *kn; kn++)
			ok |= !strcmp(*kn, k);
		if (!ok) {
			cfg_perr(p, s->kv[i].line, "unknown key '%s' in %s", k, what);
			continue;
		}
		if (repeatable && !strcmp(repeatable, k))
			continue;
		for (int j = 0; j < i; j++) {
			if (!strcmp(s->kv[j].key, k)) {
				cfg_perr(p, s->kv[i].line, "duplicate key '%s' (first at line %d)", k, s->kv[j].line);
				break;
			}
		}
	}
}

static const struct nf_kv *sect_get(const struct cfg_sect *s, const char *key)
{
	for (int i = 0; i < s->nkv; i++)
		if (!strcmp(s->kv[i].key, key))
			return &s->kv[i];
	return NULL;
}

static int pick(const char *v, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(v, names[i]))
			return i;
	return -1;
}

static const char *const backend_names[] = { "auto", "gpu", "cpu", "hybrid", NULL };
static const char *const gpu_mode_names[] = GPU_MODE_NAMES;
static const char *const gpu_mem_names[] = GPU_MEM_NAMES;
static const char *const gpu_agent_names[] = GPU_AGENT_NAMES;

const char *cfg_backend_name(enum cfg_backend b)
{
	return b < CFG_BACKEND_MAX ? backend_names[b] : "?";
}

static void load_ports(struct cfg_parser *p, struct cfg *c, const struct nf_kv *kv)
{
	_cleanup_free_ char *copy = strdup(kv->value);
	char *tok[CFG_MAX_PORTS];
	int n;

	if (!copy) {
		p->oom = true;
		return;
	}
	n = cfg_split_ws(copy, tok, CFG_MAX_PORTS);
	if (n < 0) {
		cfg_perr(p, kv->line, "more than %d ports", CFG_MAX_PORTS);
		return;
	}
	if (n == 0) {
		cfg_perr(p, kv->line, "ports is empty (list the interface names, space separated)");
		return;
	}
	c->ports = calloc((size_t)n, sizeof(*c->ports));
	if (!c->ports) {
		p->oom = true;
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *why = ifname_problem(tok[i]);

		if (why)
			cfg_perr(p, kv->line, "port %d: interface name '%s' %s", i + 1, tok[i], why);
		for (int j = 0; j < i; j++)
			if (!strcmp(tok[i], tok[j]))
				cfg_perr(p, kv->line, "port '%s' listed twice", tok[i]);
		c->ports[c->nports] = strdup(tok[i]);
		if (!c->ports[c->nports])
			p->oom = true;
		else
			c->nports++;
	}
}

/* synth_proto: a list among udp, tcp, icmp; flow i takes the (i mod n)-th. */
static void load_synth_proto(struct cfg_parser *p, struct cfg *c, const struct nf_kv *kv)
{
	_cleanup_free_ char *copy = strdup(kv->value);
	char *tok[SYNTH_MAX_PROTOS + 1];
	int n;

	if (!copy) {
		p->oom = true;
		return;
	}
	n = cfg_split_ws(copy, tok, SYNTH_MAX_PROTOS);
	if (n <= 0) {
		cfg_perr(p, kv->line, "synth_proto must list 1 to %d of udp, tcp, icmp", SYNTH_MAX_PROTOS);
		return;
	}
	for (int i = 0; i < n; i++) {
		int v = !strcmp(tok[i], "udp") ? NF_IPPROTO_UDP : !strcmp(tok[i], "tcp") ? NF_IPPROTO_TCP :
			!strcmp(tok[i], "icmp") ? NF_IPPROTO_ICMP : -1;

		if (v < 0) {
			cfg_perr(p, kv->line, "synth_proto: '%s' is not udp, tcp or icmp", tok[i]);
			return;
		}
		c->synth.proto[i] = (uint8_t)v;
	}
	c->synth.nproto = n;
}

/* The synthetic ports' generator: synth_size, synth_flows, synth_rate, synth_count, synth_proto. */
static void load_synth(struct cfg_parser *p, struct cfg *c, const struct cfg_sect *s)
{
	const struct nf_kv *kv;
	unsigned long v;

	if ((kv = sect_get(s, "synth_size"))) {
		if (!strcmp(kv->value, "imix"))
			c->synth.size = 0;
		else if (parse_ulong(kv->value, 64, 1518, &v))
			cfg_perr(p, kv->line, "synth_size must be imix or a frame size 64..1518 (bytes on the wire), got '%s'",
			     kv->value);
		else
			c->synth.size = (uint32_t)v;
	}
	if ((kv = sect_get(s, "synth_flows"))) {
		if (parse_ulong(kv->value, 1, SYNTH_MAX_FLOWS, &v))
			cfg_perr(p, kv->line, "synth_flows must be an integer in 1..%d, got '%s'", SYNTH_MAX_FLOWS, kv->value);
		else
			c->synth.flows = (uint32_t)v;
	}
	if ((kv = sect_get(s, "synth_rate"))) {
		if (parse_ulong(kv->value, 0, 1000000000ul, &v))
			cfg_perr(p, kv->line, "synth_rate must be packets per second 0..1000000000 (0: as fast as possible), got '%s'",
			     kv->value);
		else
			c->synth.rate = v;
	}
	if ((kv = sect_get(s, "synth_count"))) {
		if (parse_ulong(kv->value, 0, ULONG_MAX, &v))
			cfg_perr(p, kv->line, "synth_count must be a number of frames (0: no end), got '%s'", kv->value);
		else
			c->synth.count = v;
	}
	if ((kv = sect_get(s, "synth_proto")))
		load_synth_proto(p, c, kv);
}

/*
 * metrics_listen = 127.x.y.z:PORT. Loopback only: the page tells anyone who can
 * reach it the host's traffic figures, and gend has no authentication.
 */
static void load_metrics_listen(struct cfg_parser *p, struct cfg *c, const struct nf_kv *kv)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(kv->value, ':');
	struct in_addr a;
	unsigned long port;

	if (!colon || (size_t)(colon - kv->value) >= sizeof(host) || parse_ulong(colon + 1, 1, 65535, &port)) {
		cfg_perr(p, kv->line, "metrics_listen must be ADDRESS:PORT (e.g. 127.0.0.1:9469), got '%s'", kv->value);
		return;
	}
	memcpy(host, kv->value, (size_t)(colon - kv->value));
	host[colon - kv->value] = '\0';
	if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
		cfg_perr(p, kv->line, "metrics_listen must be a loopback IPv4 address (127.0.0.0/8), got '%s'", host);
		return;
	}
	c->metrics_addr = ntohl(a.s_addr);
	c->metrics_port = (uint16_t)port;
}

/* eve_log = PATH | journal | off; ipfix_collector = A.B.C.D:PORT; flow_*_timeout = seconds. */
static void load_events(struct cfg_parser *p, struct cfg *c, const struct cfg_sect *s)
{
	const struct nf_kv *kv;
	unsigned long v;

	if ((kv = sect_get(s, "eve_log"))) {
		if (kv->value[0] != '/' && strcmp(kv->value, "journal") && strcmp(kv->value, "off"))
			cfg_perr(p, kv->line, "eve_log must be an absolute path, journal or off, got '%s'", kv->value);
		else if (!(c->eve_log = strdup(kv->value)))
			p->oom = true;
	}
	if ((kv = sect_get(s, "flow_idle_timeout"))) {
		if (parse_ulong(kv->value, 1, CFG_FLOW_TIMEOUT_MAX, &v))
			cfg_perr(p, kv->line, "flow_idle_timeout must be seconds 1..%u, got '%s'", CFG_FLOW_TIMEOUT_MAX, kv->value);
		else
			c->flow_idle_s = (uint32_t)v;
	}
	if ((kv = sect_get(s, "flow_active_timeout"))) {
		if (parse_ulong(kv->value, 1, CFG_FLOW_TIMEOUT_MAX, &v))
			cfg_perr(p, kv->line, "flow_active_timeout must be seconds 1..%u, got '%s'", CFG_FLOW_TIMEOUT_MAX,
			     kv->value);
		else
			c->flow_active_s = (uint32_t)v;
	}
	if ((kv = sect_get(s, "ipfix_collector"))) {
		char host[INET_ADDRSTRLEN];
		const char *colon = strrchr(kv->value, ':');
		struct in_addr a;

		if (!colon || (size_t)(colon - kv->value) >= sizeof(host) || parse_ulong(colon + 1, 1, 65535, &v)) {
			cfg_perr(p, kv->line, "ipfix_collector must be IPV4ADDRESS:PORT (e.g. 192.0.2.9:4739), got '%s'", kv->value);
			return;
		}
		memcpy(host, kv->value, (size_t)(colon - kv->value));
		host[colon - kv->value] = '\0';
		if (inet_pton(AF_INET, host, &a) != 1) {
			cfg_perr(p, kv->line, "ipfix_collector must be an IPv4 address and a port, got '%s'", kv->value);
			return;
		}
		c->ipfix_addr = ntohl(a.s_addr);
		c->ipfix_port = (uint16_t)v;
	}
}

static enum cfg_fail load_fail(struct cfg_parser *p, const struct nf_kv *kv)
{
	static const char *const names[] = { "closed", "open", NULL };
	int i = pick(kv->value, names);

	if (i < 0) {
		cfg_perr(p, kv->line, "fail must be closed or open, got '%s'", kv->value);
		return CFG_FAIL_UNSET;
	}
	return i == 0 ? CFG_FAIL_CLOSED : CFG_FAIL_OPEN;
}

/*
 * The batcher's latency keys and hybrid's threshold, in [gen] (defaults) or a
 * [chain]; a key left out keeps what *ret_ holds. target NULL: not allowed here.
 */
static void load_elastic(struct cfg_parser *p, const struct cfg_sect *s, uint32_t *max_wait, uint32_t *target,
			 uint64_t *hybrid_pps)
{
	const struct nf_kv *kv;
	unsigned long v;

	if ((kv = sect_get(s, "max_wait_us"))) {
		if (parse_ulong(kv->value, 0, CFG_MAX_WAIT_US, &v))
			cfg_perr(p, kv->line, "max_wait_us must be microseconds 0..%u (0: no bound), got '%s'", CFG_MAX_WAIT_US,
			     kv->value);
		else
			*max_wait = (uint32_t)v;
	}
	if (target && (kv = sect_get(s, "latency_target_us"))) {
		if (parse_ulong(kv->value, 0, CFG_MAX_WAIT_US, &v))
			cfg_perr(p, kv->line, "latency_target_us must be microseconds 0..%u (0: none), got '%s'",
			     CFG_MAX_WAIT_US, kv->value);
		else
			*target = (uint32_t)v;
	}
	if ((kv = sect_get(s, "hybrid_pps"))) {
		if (parse_ulong(kv->value, 0, CFG_MAX_HYBRID_PPS, &v))
			cfg_perr(p, kv->line, "hybrid_pps must be packets per second 0..%llu (0: by the measured cpu load), got '%s'",
			     CFG_MAX_HYBRID_PPS, kv->value);
		else
			*hybrid_pps = v;
	}
}

/*
 * How the gpu backend runs chains, in [gen] (defaults) or a [chain]; a key left
 * out keeps what *o holds. The compile timeout only in [gen] (gen true).
 */
static void load_gpu_opts(struct cfg_parser *p, const struct cfg_sect *s, struct gpu_opts *o, bool gen)
{
	const struct nf_kv *kv;
	unsigned long v;
	int i;

	if ((kv = sect_get(s, "gpu_mode"))) {
		if ((i = pick(kv->value, gpu_mode_names)) < 0)
			cfg_perr(p, kv->line, "gpu_mode must be rtc or pipeline, got '%s'", kv->value);
		else
			o->mode = (enum gpu_mode)i;
	}
	if ((kv = sect_get(s, "gpu_mem"))) {
		if ((i = pick(kv->value, gpu_mem_names)) < 0)
			cfg_perr(p, kv->line, "gpu_mem must be gather, mapped or staged, got '%s'", kv->value);
		else
			o->mem = (enum gpu_mem)i;
	}
	if ((kv = sect_get(s, "gpu_agent"))) {
		if ((i = pick(kv->value, gpu_agent_names)) < 0)
			cfg_perr(p, kv->line, "gpu_agent must be auto, generic or fused, got '%s'", kv->value);
		else
			o->agent = (enum gpu_agent)i;
	}
	if (gen && (kv = sect_get(s, "gpu_compile_timeout"))) {
		if (parse_ulong(kv->value, 1, CFG_MAX_COMPILE_TIMEOUT, &v))
			cfg_perr(p, kv->line, "gpu_compile_timeout must be seconds 1..%d, got '%s'", CFG_MAX_COMPILE_TIMEOUT,
			     kv->value);
		else
			o->compile_timeout_s = (uint32_t)v;
	}
}

static void load_gen(struct cfg_parser *p, struct cfg *c, const struct cfg_sect *s)
{
	static const char *const known[] = { "ports", "backend", "unmatched", "xdp_mode", "queues",
					     "max_batch", "mini_batch", "gpu_mode", "control", "xdp_bind",
					     "synth_size", "synth_flows", "synth_rate", "synth_count", "synth_proto",
					     "tx_thread", "metrics_listen", "fail", "max_wait_us", "hybrid_pps",
					     "gpu_mem", "gpu_agent", "gpu_compile_timeout", "eve_log", "flow_idle_timeout",
					     "flow_active_timeout", "ipfix_collector", NULL };
	const struct nf_kv *kv, *kv_max;
	unsigned long v;
	int i;

	check_keys(p, s, "[gen]", known, NULL);
	kv = sect_get(s, "ports");
	if (kv)
		load_ports(p, c, kv);
	else
		cfg_perr(p, s->line, "[gen] needs 'ports' (the interface names, space separated)");
	if ((kv = sect_get(s, "backend"))) {
		if ((i = pick(kv->value, backend_names)) < 0)
			cfg_perr(p, kv->line, "backend must be auto, gpu, cpu or hybrid, got '%s'", kv->value);
		else
			c->backend = (enum cfg_backend)i;
	}
	load_elastic(p, s, &c->max_wait_us, NULL, &c->hybrid_pps);
	if ((kv = sect_get(s, "unmatched"))) {
		static const char *const names[] = { "pass", "drop", NULL };

		if ((i = pick(kv->value, names)) < 0)
			cfg_perr(p, kv->line, "unmatched must be pass or drop, got '%s'", kv->value);
		else
			c->unmatched_drop = i == 1;
	}
	if ((kv = sect_get(s, "fail")))
		c->fail = load_fail(p, kv);
	if ((kv = sect_get(s, "xdp_mode"))) {
		static const char *const names[] = { "native", "skb", NULL };

		if ((i = pick(kv->value, names)) < 0)
			cfg_perr(p, kv->line, "xdp_mode must be native or skb, got '%s'", kv->value);
		else
			c->xdp_native = i == 0;
	}
	if ((kv = sect_get(s, "xdp_bind"))) {
		static const char *const names[] = { "auto", "zerocopy", "copy", NULL };

		if ((i = pick(kv->value, names)) < 0)
			cfg_perr(p, kv->line, "xdp_bind must be auto, zerocopy or copy, got '%s'", kv->value);
		else
			c->xdp_bind = i;
	}
	if ((kv = sect_get(s, "tx_thread"))) {
		static const char *const names[] = { "no", "yes", NULL };

		if ((i = pick(kv->value, names)) < 0)
			cfg_perr(p, kv->line, "tx_thread must be no or yes, got '%s'", kv->value);
		else
			c->tx_thread = i == 1;
	}
	load_synth(p, c, s);
	load_gpu_opts(p, s, &c->gpu_opts, true);
	if ((kv = sect_get(s, "queues"))) {
		if (parse_ulong(kv->value, 1, CFG_MAX_QUEUES, &v))
			cfg_perr(p, kv->line, "queues must be an integer in 1..%d, got '%s'", CFG_MAX_QUEUES, kv->value);
		else
			c->queues = (int)v;
	}
	if ((kv = sect_get(s, "mini_batch"))) {
		if (parse_ulong(kv->value, 1, CFG_MAX_MINI_BATCH, &v))
			cfg_perr(p, kv->line, "mini_batch must be an integer in 1..%d, got '%s'", CFG_MAX_MINI_BATCH,
			     kv->value);
		else
			c->mini_batch = (uint32_t)v;
	}
	if ((kv_max = sect_get(s, "max_batch"))) {
		if (parse_ulong(kv_max->value, 1, CFG_MAX_MAX_BATCH, &v))
			cfg_perr(p, kv_max->line, "max_batch must be an integer in 1..%u, got '%s'", CFG_MAX_MAX_BATCH,
			     kv_max->value);
		else
			c->max_batch = (uint32_t)v;
	}
	if (c->max_batch < c->mini_batch) {
		kv = kv_max ? kv_max : sect_get(s, "mini_batch");
		cfg_perr(p, kv ? kv->line : s->line, "max_batch (%u) is smaller than mini_batch (%u)", c->max_batch,
		     c->mini_batch);
	}
	if ((kv = sect_get(s, "control"))) {
		if (kv->value[0] != '/')
			cfg_perr(p, kv->line, "control must be an absolute path, got '%s'", kv->value);
		else if (strlen(kv->value) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			cfg_perr(p, kv->line, "control path is longer than %zu characters",
			     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		else if (!(c->control = strdup(kv->value)))
			p->oom = true;
	}
	if ((kv = sect_get(s, "metrics_listen")))
		load_metrics_listen(p, c, kv);
	load_events(p, c, s);
}

static void known_types(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t t = 1; t < NF_T_MAX; t++) {
		const struct nf_ops *o = nf_ops_by_type(t);
		int n;

		if (!o)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", o->type_name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static void load_nf(struct cfg_parser *p, struct cfg *c, struct cfg_sect *s)
{
	struct cfg_nf *nf = &c->nfs[c->n_nfs];
	const struct nf_kv *type = NULL;
	char known[256];

	*nf = (struct cfg_nf){ .line = s->line };
	nf->name = s->name;
	s->name = NULL;
	c->n_nfs++;
	for (int i = 0; i < s->nkv; i++) {
		if (strcmp(s->kv[i].key, "type"))
			continue;
		if (type)
			cfg_perr(p, s->kv[i].line, "duplicate key 'type' (first at line %d)", type->line);
		else
			type = &s->kv[i];
	}
	if (!type) {
		cfg_perr(p, s->line, "nf '%s' needs 'type'", nf->name);
		return;
	}
	nf->ops = nf_ops_find(type->value);
	if (!nf->ops) {
		known_types(known, sizeof(known));
		cfg_perr(p, type->line, "unknown nf type '%s' (known: %s)", type->value, known);
	} else {
		nf->nf_type = nf->ops->type;
	}
	if (!(nf->type = strdup(type->value))) {
		p->oom = true;
		return;
	}
	/* Every other key goes to the NF's builder, which rejects what it doesn't know. */
	nf->kv = calloc((size_t)s->nkv, sizeof(*nf->kv));
	if (!nf->kv && s->nkv) {
		p->oom = true;
		return;
	}
	for (int i = 0; i < s->nkv; i++) {
		if (&s->kv[i] == type || !strcmp(s->kv[i].key, "type"))
			continue;
		for (int j = 0; j < nf->nkv; j++)
			if (!strcmp(nf->kv[j].key, s->kv[i].key))
				cfg_perr(p, s->kv[i].line, "duplicate key '%s' (first at line %d)", s->kv[i].key,
				     nf->kv[j].line);
		nf->kv[nf->nkv++] = s->kv[i];
		s->kv[i].key = s->kv[i].value = NULL;
	}
	nf->fingerprint = cfg_nf_fingerprint(c, nf);
}

static int nf_index(const struct cfg *c, const char *name)
{
	for (int i = 0; i < c->n_nfs; i++)
		if (!strcmp(c->nfs[i].name, name))
			return i;
	return -1;
}

/* A port by number (1-based) or interface name; 0 when it's neither. */
static int port_index(const struct cfg *c, const char *s)
{
	unsigned long v;

	if (!parse_ulong(s, 1, (unsigned long)c->nports, &v))
		return (int)v;
	for (int i = 0; i < c->nports; i++)
		if (!strcmp(c->ports[i], s))
			return i + 1;
	return 0;
}

static int parse_cidr(struct cfg_parser *p, int line, const char *key, const char *s, uint32_t *addr, uint32_t *len)
{
	char buf[32];
	char *slash;
	unsigned long l = 32;
	uint32_t mask;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (parse_ulong(slash + 1, 0, 32, &l))
			goto bad;
	}
	if (parse_ipv4(buf, addr))
		goto bad;
	*len = (uint32_t)l;
	mask = l ? ~0u << (32 - l) : 0;
	if (*addr & ~mask) {
		struct in_addr net = { .s_addr = htonl(*addr & mask) };
		char nbuf[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &net, nbuf, sizeof(nbuf));
		cfg_perr(p, line, "match %s '%s' has host bits set (did you mean %s/%lu?)", key, s, nbuf, l);
		return -EINVAL;
	}
	return 0;
bad:
	cfg_perr(p, line, "match %s '%s' is not an IPv4 address or CIDR (a.b.c.d[/len])", key, s);
	return -EINVAL;
}

static int parse_port_range(struct cfg_parser *p, int line, const char *key, const char *s, uint16_t *lo,
			    uint16_t *hi)
{
	char buf[16];
	char *dash;
	unsigned long a, b;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (parse_ulong(buf, 0, 65535, &a))
		goto bad;
	b = a;
	if (dash && parse_ulong(dash + 1, 0, 65535, &b))
		goto bad;
	if (b < a) {
		cfg_perr(p, line, "match %s '%s': range is backwards", key, s);
		return -EINVAL;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
bad:
	cfg_perr(p, line, "match %s '%s' is not a port or range N[-M] in 0..65535", key, s);
	return -EINVAL;
}

static int parse_proto(const char *s)
{
	static const char *const names[] = { "icmp", "tcp", "udp", NULL };
	static const int nums[] = { NF_IPPROTO_ICMP, NF_IPPROTO_TCP, NF_IPPROTO_UDP };
	unsigned long v;
	int i = pick(s, names);

	if (i >= 0)
		return nums[i];
	if (!parse_ulong(s, 0, 255, &v))
		return (int)v;
	return -1;
}

static void parse_match(struct cfg_parser *p, const struct cfg *c, const struct nf_kv *kv, struct cfg_match *m)
{
	static const char *const keys[] = { "src", "dst", "proto", "sport", "dport", "in", NULL };
	_cleanup_free_ char *copy = strdup(kv->value);
	char *tok[2 * 6 + 1];
	bool seen[6] = { false };
	bool ports = false;
	int n;

	*m = (struct cfg_match){ .proto = -1, .sport_hi = 65535, .dport_hi = 65535, .line = kv->line };
	if (!copy) {
		p->oom = true;
		return;
	}
	n = cfg_split_ws(copy, tok, 2 * 6 + 1);
	if (n == 1 && !strcmp(tok[0], "any"))
		return;
	if (n == 0) {
		cfg_perr(p, kv->line, "empty match (use 'match = any' to match every packet)");
		return;
	}
	if (n < 0) {
		cfg_perr(p, kv->line, "match has too many words (each of src dst proto sport dport in at most once)");
		return;
	}
	for (int i = 0; i < n; i += 2) {
		int k = pick(tok[i], keys);

		if (k < 0) {
			cfg_perr(p, kv->line, "unknown match key '%s' (expected src, dst, proto, sport, dport, in or any)",
			     tok[i]);
			return;
		}
		if (i + 1 == n) {
			cfg_perr(p, kv->line, "match key '%s' needs a value", tok[i]);
			return;
		}
		if (seen[k]) {
			cfg_perr(p, kv->line, "match key '%s' given twice in one line (use another match line for OR)",
			     tok[i]);
			return;
		}
		seen[k] = true;
		const char *v = tok[i + 1];

		switch (k) {
		case 0:
			parse_cidr(p, kv->line, "src", v, &m->src, &m->src_len);
			break;
		case 1:
			parse_cidr(p, kv->line, "dst", v, &m->dst, &m->dst_len);
			break;
		case 2:
			m->proto = parse_proto(v);
			if (m->proto < 0)
				cfg_perr(p, kv->line, "match proto '%s' is not tcp, udp, icmp or a number 0..255", v);
			break;
		case 3:
			ports = true;
			parse_port_range(p, kv->line, "sport", v, &m->sport_lo, &m->sport_hi);
			break;
		case 4:
			ports = true;
			parse_port_range(p, kv->line, "dport", v, &m->dport_lo, &m->dport_hi);
			break;
		case 5:
			m->in_port = port_index(c, v);
			if (!m->in_port)
				cfg_perr(p, kv->line, "match in '%s' is not a port number 1..%d or a name in ports", v,
				     c->nports);
			break;
		}
	}
	if (ports && m->proto >= 0 && m->proto != NF_IPPROTO_TCP && m->proto != NF_IPPROTO_UDP)
		cfg_perr(p, kv->line, "match sport/dport need proto tcp or udp (or no proto), got proto %d", m->proto);
}

static void load_nfs_list(struct cfg_parser *p, const struct cfg *c, struct cfg_chain *ch, const struct nf_kv *kv)
{
	_cleanup_free_ char *copy = strdup(kv->value);
	char *tok[CFG_MAX_CHAIN_NFS];
	int n;

	if (!copy) {
		p->oom = true;
		return;
	}
	n = cfg_split_ws(copy, tok, CFG_MAX_CHAIN_NFS);
	if (n < 0) {
		cfg_perr(p, kv->line, "chain '%s' has more than %d nfs", ch->name, CFG_MAX_CHAIN_NFS);
		return;
	}
	ch->nfs = calloc((size_t)n + 1, sizeof(*ch->nfs));
	if (!ch->nfs) {
		p->oom = true;
		return;
	}
	for (int i = 0; i < n; i++) {
		int idx = nf_index(c, tok[i]);

		if (idx < 0)
			cfg_perr(p, kv->line, "chain '%s': no [nf %s] section", ch->name, tok[i]);
		else
			ch->nfs[ch->nnfs++] = idx;
	}
}

static void load_chain(struct cfg_parser *p, struct cfg *c, struct cfg_sect *s)
{
	static const char *const known[] = { "id", "match", "nfs", "output", "gpu", "priority", "fail", "backend",
					     "max_wait_us", "latency_target_us", "hybrid_pps", "gpu_mode", "gpu_mem",
					     "gpu_agent", NULL };
	struct cfg_chain *ch = &c->chains[c->nchains];
	const struct nf_kv *kv;
	unsigned long v;
	int nmatch = 0, b;

	*ch = (struct cfg_chain){ .line = s->line, .priority = CFG_PRIORITY_DEFAULT, .order = c->nchains,
				  .backend = c->backend, .max_wait_us = c->max_wait_us, .hybrid_pps = c->hybrid_pps,
				  .gpu_opts = c->gpu_opts };
	ch->name = s->name;
	s->name = NULL;
	c->nchains++;
	check_keys(p, s, "[chain]", known, "match");

	if (!(kv = sect_get(s, "id"))) {
		cfg_perr(p, s->line, "chain '%s' needs 'id' (1..%d)", ch->name, CFG_MAX_CHAINS);
	} else if (parse_ulong(kv->value, 1, CFG_MAX_CHAINS, &v)) {
		cfg_perr(p, kv->line, "id must be an integer in 1..%d, got '%s'", CFG_MAX_CHAINS, kv->value);
	} else {
		ch->id = (uint32_t)v;
		for (int i = 0; i < c->nchains - 1; i++)
			if (c->chains[i].id == ch->id)
				cfg_perr(p, kv->line, "id %u is already used by chain '%s' (line %d)", ch->id,
				     c->chains[i].name, c->chains[i].line);
	}

	for (int i = 0; i < s->nkv; i++)
		nmatch += !strcmp(s->kv[i].key, "match");
	if (!nmatch)
		cfg_perr(p, s->line, "chain '%s' needs at least one 'match' (use 'match = any' for all traffic)",
		     ch->name);
	else if (nmatch > CFG_MAX_MATCH)
		cfg_perr(p, s->line, "chain '%s' has more than %d match lines", ch->name, CFG_MAX_MATCH);
	else if (!(ch->match = calloc((size_t)nmatch, sizeof(*ch->match))))
		p->oom = true;
	else
		for (int i = 0; i < s->nkv; i++)
			if (!strcmp(s->kv[i].key, "match"))
				parse_match(p, c, &s->kv[i], &ch->match[ch->nmatch++]);

	if ((kv = sect_get(s, "nfs")))
		load_nfs_list(p, c, ch, kv);

	if (!(kv = sect_get(s, "output")))
		cfg_perr(p, s->line, "chain '%s' needs 'output' (a port number or interface name)", ch->name);
	else if (!(ch->output = port_index(c, kv->value)))
		cfg_perr(p, kv->line, "output '%s' is not a port number 1..%d or a name in ports", kv->value,
		     c->nports);

	if ((kv = sect_get(s, "gpu"))) {
		if (parse_ulong(kv->value, 0, CFG_MAX_GPU, &v))
			cfg_perr(p, kv->line, "gpu must be a device index 0..%d, got '%s'", CFG_MAX_GPU, kv->value);
		else
			ch->gpu = (int)v;
	}
	if ((kv = sect_get(s, "priority"))) {
		if (parse_ulong(kv->value, 0, CFG_PRIORITY_MAX, &v))
			cfg_perr(p, kv->line, "priority must be an integer in 0..%d, got '%s'", CFG_PRIORITY_MAX,
			     kv->value);
		else
			ch->priority = (int)v;
	}
	if ((kv = sect_get(s, "fail")))
		ch->fail = load_fail(p, kv);
	if ((kv = sect_get(s, "backend"))) {
		if ((b = pick(kv->value, backend_names)) < 0)
			cfg_perr(p, kv->line, "backend must be auto, gpu, cpu or hybrid, got '%s'", kv->value);
		else
			ch->backend = (enum cfg_backend)b;
	}
	load_elastic(p, s, &ch->max_wait_us, &ch->latency_target_us, &ch->hybrid_pps);
	load_gpu_opts(p, s, &ch->gpu_opts, false);
}

static char *dir_of(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	char *real;

	if (!copy)
		return NULL;
	/* Absolute, so relative paths keep working after the daemon changes directory. */
	real = realpath(dirname(copy), NULL);
	return real ? real : strdup(dirname(copy));
}

/*
 * Each GPU holds its own copy of an NF's state. For ipsec_esp that would mean two
 * sequence counters (reused numbers on the wire) or two replay windows, so one
 * SA may serve chains on one GPU only.
 */
static void check_gpu_sharing(struct cfg_parser *p, const struct cfg *c)
{
	for (int a = 0; a < c->nchains; a++) {
		for (int b = a + 1; b < c->nchains; b++) {
			const struct cfg_chain *x = &c->chains[a], *y = &c->chains[b];

			if (x->gpu == y->gpu)
				continue;
			for (int i = 0; i < x->nnfs; i++) {
				for (int j = 0; j < y->nnfs; j++) {
					const struct cfg_nf *nf = &c->nfs[x->nfs[i]];

					if (x->nfs[i] != y->nfs[j] || !nf->type || strcmp(nf->type, "ipsec_esp"))
						continue;
					cfg_perr(p, y->line, "chain '%s' (gpu %d) and chain '%s' (gpu %d) share ipsec_esp nf '%s': "
					     "an SA's sequence numbers and replay window must live on one GPU; give each GPU its own [nf]",
					     y->name, y->gpu, x->name, x->gpu, nf->name);
				}
			}
		}
	}
}

/*
 * A hybrid chain's NF states move between host memory and the GPU with the
 * chain: another chain using the same [nf] would keep a copy that no longer
 * sees its updates (and ESP would reuse sequence numbers).
 */
static void check_hybrid_sharing(struct cfg_parser *p, const struct cfg *c)
{
	for (int a = 0; a < c->nchains; a++) {
		for (int b = 0; b < c->nchains; b++) {
			const struct cfg_chain *x = &c->chains[a], *y = &c->chains[b];

			if (a == b || x->backend != CFG_BACKEND_HYBRID || (y->backend == CFG_BACKEND_HYBRID && b < a))
				continue;
			for (int i = 0; i < x->nnfs; i++) {
				for (int j = 0; j < y->nnfs; j++) {
					if (x->nfs[i] != y->nfs[j])
						continue;
					cfg_perr(p, (a > b ? x : y)->line, "chain '%s' (backend hybrid) and chain '%s' share nf '%s': "
					     "a hybrid chain carries its NF states between the host and the GPU; give it its own [nf]",
					     x->name, y->name, c->nfs[x->nfs[i]].name);
				}
			}
		}
	}
}

int cfg_load(const char *path, struct cfg **ret, char *err, size_t errlen)
{
	struct cfg_parser p;
	struct cfg *c;
	int r, nnf = 0, nch = 0, gen = -1;

	if (errlen)
		err[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->backend = CFG_BACKEND_AUTO;
	c->xdp_native = true;
	c->synth = (struct synth_cfg){ .size = 64, .flows = 16, .proto = { NF_IPPROTO_UDP }, .nproto = 1 };
	c->queues = 1;
	c->max_batch = 65536;
	c->mini_batch = GEN_MINI_BATCH_DEFAULT;
	c->flow_idle_s = CFG_FLOW_IDLE_DEFAULT;
	c->flow_active_s = CFG_FLOW_ACTIVE_DEFAULT;
	c->file = strdup(path);
	c->base_dir = dir_of(path);
	if (!c->file || !c->base_dir) {
		cfg_free(c);
		return -ENOMEM;
	}

	r = cfg_read(&p, path);
	if (r) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		cfg_free(c);
		return r;
	}
	for (int i = 0; i < p.nsects; i++) {
		nnf += p.sects[i].kind == CFG_SECT_NF;
		nch += p.sects[i].kind == CFG_SECT_CHAIN;
		if (p.sects[i].kind == CFG_SECT_GEN)
			gen = i;
	}
	c->nfs = calloc((size_t)nnf + 1, sizeof(*c->nfs));
	c->chains = calloc((size_t)nch + 1, sizeof(*c->chains));
	if (!c->nfs || !c->chains)
		p.oom = true;

	if (p.oom)
		goto out;
	if (gen >= 0)
		load_gen(&p, c, &p.sects[gen]);
	else
		cfg_perr(&p, 1, "no [gen] section (it must list the ports)");
	if (!c->control && !(c->control = strdup(CFG_DEFAULT_CONTROL)))
		p.oom = true;
	if (!c->eve_log && !(c->eve_log = strdup(CFG_DEFAULT_EVE_LOG)))
		p.oom = true;
	for (int i = 0; i < p.nsects; i++) {
		if (p.sects[i].kind != CFG_SECT_NF)
			continue;
		if (c->n_nfs == CFG_MAX_NFS) {
			cfg_perr(&p, p.sects[i].line, "more than %d [nf] sections", CFG_MAX_NFS);
			break;
		}
		load_nf(&p, c, &p.sects[i]);
	}
	for (int i = 0; i < p.nsects; i++) {
		if (p.sects[i].kind != CFG_SECT_CHAIN)
			continue;
		if (c->nchains == CFG_MAX_CHAINS) {
			cfg_perr(&p, p.sects[i].line, "more than %d chains", CFG_MAX_CHAINS);
			break;
		}
		load_chain(&p, c, &p.sects[i]);
	}
	check_gpu_sharing(&p, c);
	check_hybrid_sharing(&p, c);
out:
	cfg_parser_free(&p);
	if (p.oom) {
		cfg_errs_flush(p.errs, p.nerrs, false, err, 0);
		snprintf(err, errlen, "%s: out of memory", path);
		cfg_free(c);
		return -ENOMEM;
	}
	if (p.nerrs) {
		cfg_errs_flush(p.errs, p.nerrs, true, err, errlen);
		cfg_free(c);
		return -EINVAL;
	}
	free(p.errs);
	*ret = c;
	return 0;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_nfs; i++) {
		struct cfg_nf *nf = &c->nfs[i];

		for (int j = 0; j < nf->nkv; j++) {
			free((char *)nf->kv[j].key);
			free((char *)nf->kv[j].value);
		}
		free(nf->kv);
		free(nf->name);
		free(nf->type);
		free(nf->state);
	}
	free(c->nfs);
	for (int i = 0; i < c->nchains; i++) {
		free(c->chains[i].name);
		free(c->chains[i].match);
		free(c->chains[i].nfs);
	}
	free(c->chains);
	for (int i = 0; i < c->nports; i++)
		free(c->ports[i]);
	free(c->ports);
	free(c->control);
	free(c->eve_log);
	free(c->file);
	free(c->base_dir);
	free(c);
}

/* ---- lookups ---- */

bool cfg_chain_fail_closed(const struct cfg *c, const struct cfg_chain *cc)
{
	if (cc->fail != CFG_FAIL_UNSET)
		return cc->fail == CFG_FAIL_CLOSED;
	if (c->fail != CFG_FAIL_UNSET)
		return c->fail == CFG_FAIL_CLOSED;
	/* What guards traffic must not be routed around silently. */
	for (int i = 0; i < cc->nnfs; i++) {
		uint32_t t = c->nfs[cc->nfs[i]].nf_type;

		if (t == NF_T_NIDS || t == NF_T_FIREWALL || t == NF_T_IPSEC_ESP)
			return true;
	}
	return false;
}

const struct cfg_chain *cfg_chain_find(const struct cfg *c, const char *name)
{
	for (int i = 0; i < c->nchains; i++)
		if (!strcmp(c->chains[i].name, name))
			return &c->chains[i];
	return NULL;
}

const struct cfg_nf *cfg_nf_find(const struct cfg *c, const char *name)
{
	int i = nf_index(c, name);

	return i < 0 ? NULL : &c->nfs[i];
}
