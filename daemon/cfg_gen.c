// SPDX-License-Identifier: GPL-2.0
/*
 * chains.ini's [gen] section: ports, backend and data-path defaults, the
 * synthetic ports' generator, control socket, metrics and event export.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include "cfg_keys.h"
#include "pin.h"
#include "tx_budget.h"

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

	if ((kv = cfg_sect_get(s, "synth_size"))) {
		if (!strcmp(kv->value, "imix"))
			c->synth.size = 0;
		else if (cfg_parse_ulong(kv->value, 64, 1518, &v))
			cfg_perr(p, kv->line, "synth_size must be imix or a frame size 64..1518 (bytes on the wire), got '%s'",
			     kv->value);
		else
			c->synth.size = (uint32_t)v;
	}
	if (cfg_get_ulong(p, s, "synth_flows", 1, SYNTH_MAX_FLOWS, "an integer in", "", &v))
		c->synth.flows = (uint32_t)v;
	if (cfg_get_ulong(p, s, "synth_rate", 0, 1000000000ul, "packets per second", " (0: as fast as possible)", &v))
		c->synth.rate = v;
	if ((kv = cfg_sect_get(s, "synth_count"))) {
		if (cfg_parse_ulong(kv->value, 0, ULONG_MAX, &v))
			cfg_perr(p, kv->line, "synth_count must be a number of frames (0: no end), got '%s'", kv->value);
		else
			c->synth.count = v;
	}
	if ((kv = cfg_sect_get(s, "synth_proto")))
		load_synth_proto(p, c, kv);
}

/* One CPU number of a cpus list at *s (advanced past it), or -1. */
static long cpu_num(const char **s)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)**s))
		return -1;
	errno = 0;
	v = strtoul(*s, &end, 10);
	if (errno || v >= CPU_SETSIZE)
		return -1;
	*s = end;
	return (long)v;
}

/*
 * cpus: CPUs and ranges, comma-separated (2-5,8), each one gend may run on
 * (online and in its affinity mask when the file is read), none twice.
 */
static void load_cpus(struct cfg_parser *p, struct cfg *c, const struct nf_kv *kv)
{
	cpu_set_t allowed, seen;
	bool have;
	const char *s = kv->value;

	pin_allowed(&allowed); /* gend's own mask: its other threads may have been kept off the list since */
	have = CPU_COUNT(&allowed) > 0;

	CPU_ZERO(&seen);
	c->ncpus = 0;
	for (;;) {
		long a, b;

		while (*s == ' ')
			s++;
		a = b = cpu_num(&s);
		if (a >= 0 && *s == '-') {
			s++;
			b = cpu_num(&s);
		}
		if (a < 0 || b < a)
			break;
		for (long v = a; v <= b; v++) {
			if (have && !CPU_ISSET(v, &allowed)) {
				cfg_perr(p, kv->line, "cpus: CPU %ld is not one gend may run on (offline, or outside its affinity mask)",
					 v);
				c->ncpus = 0;
				return;
			}
			if (CPU_ISSET(v, &seen)) {
				cfg_perr(p, kv->line, "cpus: CPU %ld is listed twice", v);
				c->ncpus = 0;
				return;
			}
			if (c->ncpus == CFG_MAX_CPUS) {
				cfg_perr(p, kv->line, "cpus: more than %d CPUs", CFG_MAX_CPUS);
				c->ncpus = 0;
				return;
			}
			CPU_SET(v, &seen);
			c->cpus[c->ncpus++] = (uint16_t)v;
		}
		while (*s == ' ')
			s++;
		if (!*s)
			return;
		if (*s++ != ',')
			break;
	}
	cfg_perr(p, kv->line, "cpus must list CPUs and ranges like 2-5,8, got '%s'", kv->value);
	c->ncpus = 0;
}

/* HOST:PORT (at the last ':'), PORT 1..65535: 0 with host and *port set, or -EINVAL. */
static int split_host_port(const char *s, char host[INET_ADDRSTRLEN], unsigned long *port)
{
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= INET_ADDRSTRLEN || cfg_parse_ulong(colon + 1, 1, 65535, port))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	return 0;
}

/*
 * metrics_listen = 127.x.y.z:PORT. Loopback only: the page tells anyone who can
 * reach it the host's traffic figures, and gend has no authentication.
 */
static void load_metrics_listen(struct cfg_parser *p, struct cfg *c, const struct nf_kv *kv)
{
	char host[INET_ADDRSTRLEN];
	struct in_addr a;
	unsigned long port;

	if (split_host_port(kv->value, host, &port)) {
		cfg_perr(p, kv->line, "metrics_listen must be ADDRESS:PORT (e.g. 127.0.0.1:9469), got '%s'", kv->value);
		return;
	}
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

	if ((kv = cfg_sect_get(s, "eve_log"))) {
		if (kv->value[0] != '/' && strcmp(kv->value, "journal") && strcmp(kv->value, "off"))
			cfg_perr(p, kv->line, "eve_log must be an absolute path, journal or off, got '%s'", kv->value);
		else if (!(c->eve_log = strdup(kv->value)))
			p->oom = true;
	}
	if (cfg_get_ulong(p, s, "flow_idle_timeout", 1, CFG_FLOW_TIMEOUT_MAX, "seconds", "", &v))
		c->flow_idle_s = (uint32_t)v;
	if (cfg_get_ulong(p, s, "flow_active_timeout", 1, CFG_FLOW_TIMEOUT_MAX, "seconds", "", &v))
		c->flow_active_s = (uint32_t)v;
	if ((kv = cfg_sect_get(s, "ipfix_collector"))) {
		char host[INET_ADDRSTRLEN];
		struct in_addr a;

		if (split_host_port(kv->value, host, &v)) {
			cfg_perr(p, kv->line, "ipfix_collector must be IPV4ADDRESS:PORT (e.g. 192.0.2.9:4739), got '%s'", kv->value);
			return;
		}
		if (inet_pton(AF_INET, host, &a) != 1) {
			cfg_perr(p, kv->line, "ipfix_collector must be an IPv4 address and a port, got '%s'", kv->value);
			return;
		}
		c->ipfix_addr = ntohl(a.s_addr);
		c->ipfix_port = (uint16_t)v;
	}
}

void cfg_load_gen(struct cfg_parser *p, struct cfg *c, const struct cfg_sect *s)
{
	static const char *const known[] = { "ports", "backend", "unmatched", "xdp_mode", "queues",
					     "max_batch", "mini_batch", "gpu_mode", "control", "xdp_bind",
					     "synth_size", "synth_flows", "synth_rate", "synth_count", "synth_proto",
					     "tx_thread", "tx_sockets", "tx_budget", "demote", "spin_us", "spin_max_us", "cpus", "metrics_listen", "fail", "max_wait_us", "hybrid_pps", "inflight",
					     "gpu_mem", "gpu_agent", "gpu_compile_timeout", "eve_log", "flow_idle_timeout",
					     "flow_active_timeout", "ipfix_collector", NULL };
	const struct nf_kv *kv;
	unsigned long v;
	int i;

	cfg_check_keys(p, s, "[gen]", known, NULL);
	kv = cfg_sect_get(s, "ports");
	if (kv)
		load_ports(p, c, kv);
	else
		cfg_perr(p, s->line, "[gen] needs 'ports' (the interface names, space separated)");
	cfg_load_backend(p, s, &c->backend);
	cfg_load_elastic(p, s, &c->max_wait_us, NULL, &c->hybrid_pps, &c->inflight);
	if ((i = cfg_get_choice(p, s, "unmatched", (const char *const[]){ "pass", "drop", NULL })) >= 0)
		c->unmatched_drop = i == 1;
	cfg_load_fail(p, s, &c->fail);
	if ((i = cfg_get_choice(p, s, "xdp_mode", (const char *const[]){ "native", "skb", NULL })) >= 0)
		c->xdp_native = i == 0;
	if ((i = cfg_get_choice(p, s, "xdp_bind", (const char *const[]){ "auto", "zerocopy", "copy", NULL })) >= 0)
		c->xdp_bind = i;
	if ((i = cfg_get_choice(p, s, "tx_thread", (const char *const[])CFG_TX_THREAD_NAMES)) >= 0)
		c->tx_thread = (enum cfg_tx_thread)i;
	if (cfg_get_ulong(p, s, "tx_sockets", 1, GEN_MAX_TX_SOCKS, "an integer in", "", &v))
		c->tx_sockets = (uint32_t)v;
	kv = cfg_sect_get(s, "tx_budget");
	if (kv && strcmp(kv->value, "auto") &&
	    cfg_get_ulong(p, s, "tx_budget", GEN_KERNEL_TX_BATCH, GEN_TX_BUDGET_MAX, "auto or an integer in", "", &v))
		c->tx_budget = (uint32_t)v;
	if ((i = cfg_get_choice(p, s, "demote", (const char *const[])CFG_DEMOTE_NAMES)) >= 0)
		c->demote = (enum cfg_demote)i;
	if (cfg_get_ulong(p, s, "spin_us", 0, GEN_SPIN_US_MAX, "an integer in", "", &v))
		c->spin_us = (uint32_t)v;
	kv = cfg_sect_get(s, "spin_max_us");
	if (kv && strcmp(kv->value, "auto") &&
	    cfg_get_ulong(p, s, "spin_max_us", 0, GEN_SPIN_US_MAX, "auto or an integer in", "", &v)) {
		c->spin_max_us = (uint32_t)v;
		c->spin_max_auto = false;
	}
	if ((kv = cfg_sect_get(s, "cpus")))
		load_cpus(p, c, kv);
	load_synth(p, c, s);
	cfg_load_gpu_opts(p, s, &c->gpu_opts, true);
	if (cfg_get_ulong(p, s, "queues", 1, CFG_MAX_QUEUES, "an integer in", "", &v))
		c->queues = (int)v;
	if (cfg_get_ulong(p, s, "mini_batch", 1, CFG_MAX_MINI_BATCH, "an integer in", "", &v))
		c->mini_batch = (uint32_t)v;
	if (cfg_get_ulong(p, s, "max_batch", 1, CFG_MAX_MAX_BATCH, "an integer in", "", &v))
		c->max_batch = (uint32_t)v;
	if (c->max_batch < c->mini_batch) {
		if (!(kv = cfg_sect_get(s, "max_batch")))
			kv = cfg_sect_get(s, "mini_batch");
		cfg_perr(p, kv ? kv->line : s->line, "max_batch (%u) is smaller than mini_batch (%u)", c->max_batch,
		     c->mini_batch);
	}
	if ((kv = cfg_sect_get(s, "control"))) {
		if (kv->value[0] != '/')
			cfg_perr(p, kv->line, "control must be an absolute path, got '%s'", kv->value);
		else if (strlen(kv->value) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			cfg_perr(p, kv->line, "control path is longer than %zu characters",
			     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		else if (!(c->control = strdup(kv->value)))
			p->oom = true;
	}
	if ((kv = cfg_sect_get(s, "metrics_listen")))
		load_metrics_listen(p, c, kv);
	load_events(p, c, s);
}
