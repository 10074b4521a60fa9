/* SPDX-License-Identifier: GPL-2.0 */
/*
 * chains.ini: the daemon's configuration. cfg_load() parses and fully validates
 * a file (every error is one "FILE:LINE: reason" line); cfg_build_nfs() turns
 * each [nf NAME] into its state blob, reusing the running blob of an unchanged
 * NF so that counters, flow tables and sequence numbers survive a reload.
 */
#ifndef GEN_CFG_H
#define GEN_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../nf/nf.h"
#include "../nf/registry.h"
#include "backend.h"
#include "gen_limits.h"
#include "synth.h"

#define CFG_MAX_NFS 256
#define CFG_MAX_MATCH 64        /* match lines per chain */
#define CFG_MAX_MINI_BATCH 1024
#define CFG_MAX_MAX_BATCH (1u << 20)
#define CFG_MAX_GPU 63
#define CFG_PRIORITY_DEFAULT 1000 /* chains without `priority`; ties go to file order */
#define CFG_PRIORITY_MAX 65535
#define CFG_NAME_MAX 63          /* nf/chain names: [A-Za-z0-9_.-] */
#define CFG_MAX_WAIT_US 1000000    /* max_wait_us, latency_target_us: at most 1 s */
#define CFG_INFLIGHT_DEFAULT 12    /* inflight: batches a chain keeps on its backend at once */
#define CFG_INFLIGHT_MAX 16        /* ... at most (daemon/chain.c: SLOTS) */
#define CFG_MAX_HYBRID_PPS 1000000000ull
#define CFG_MAX_COMPILE_TIMEOUT 3600 /* gpu_compile_timeout, seconds */
#define CFG_DEFAULT_CONTROL "/run/gen/gen.sock"
#define CFG_DEFAULT_FILE "/etc/gen/chains.ini"

enum cfg_backend { CFG_BACKEND_AUTO, CFG_BACKEND_GPU, CFG_BACKEND_CPU, CFG_BACKEND_HYBRID, CFG_BACKEND_MAX };
/* `fail`: traffic of a chain with no live socket. Unset: by the chain's NFs (cfg_chain_fail_closed). */
enum cfg_fail { CFG_FAIL_UNSET, CFG_FAIL_CLOSED, CFG_FAIL_OPEN, CFG_FAIL_MAX };

/* One `match` line: pairs inside a line AND, lines of a chain OR. Host byte order. */
struct cfg_match {
	uint32_t src, src_len, dst, dst_len;     /* prefix length 0: any */
	int proto;                               /* -1 any */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi; /* 0..65535: any */
	int in_port;                             /* 1-based index into cfg->ports, 0 any */
	int line;
};

/* [nf NAME] */
struct cfg_nf {
	char *name, *type;
	int line;
	struct nf_kv *kv;                        /* every key except `type`, with lines */
	int nkv;
	const struct nf_ops *ops;                /* nf_ops_find(type) */
	uint32_t nf_type;                        /* enum nf_type, = ops->type */
	struct nf_hdr *state;                    /* built by cfg_build_nfs, else NULL */
	uint64_t fingerprint;                    /* type, keys and content of the files they name */
	bool reused;                             /* state came from the previous config */
};

/* [chain NAME] */
struct cfg_chain {
	char *name;
	int line;
	uint32_t id;                             /* 1..255, unique */
	struct cfg_match *match;                 /* at least one */
	int nmatch;
	int *nfs;                                /* indexes into cfg->nfs, in order; may be empty */
	int nnfs;
	int output;                              /* 1-based port index */
	int gpu;                                 /* device index */
	int priority;                            /* lower wins; CFG_PRIORITY_DEFAULT when unset */
	int order;                               /* position in the file: tie-break among equal priorities */
	enum cfg_fail fail;                      /* per-chain override of [gen] fail */
	/* Elasticity, with [gen]'s values filled in where the chain sets none. */
	enum cfg_backend backend;                /* `backend`: auto, gpu, cpu or hybrid */
	uint32_t max_wait_us;                    /* 0: no bound on the batch wait */
	uint32_t latency_target_us;              /* p99 target; 0: none */
	uint64_t hybrid_pps;                     /* hybrid: to the GPU above it; 0: by measured cpu load */
	uint32_t inflight;                       /* batches in flight at most (the backend may allow fewer) */
	struct gpu_opts gpu_opts;                /* gpu_mem, gpu_mode, gpu_agent; [gen]'s compile timeout */
};

#define CFG_DEFAULT_EVE_LOG "/var/log/gen/eve.json"
#define CFG_MAX_CPUS 256 /* [gen] cpus: CPUs in the list at most */
#define CFG_FLOW_IDLE_DEFAULT 15
#define CFG_FLOW_ACTIVE_DEFAULT 1800
#define CFG_FLOW_TIMEOUT_MAX 604800

struct cfg {
	char *file, *base_dir;                   /* base_dir: where relative paths resolve */
	char **ports;                            /* interface names; port N is ports[N-1] */
	int nports;
	enum cfg_backend backend;
	bool unmatched_drop;
	enum cfg_fail fail;                      /* [gen] fail; UNSET: closed for nids, firewall, ipsec_esp */
	bool xdp_native;
	int xdp_bind;                            /* enum xsk_bind: auto, zerocopy, copy */
	enum cfg_tx_thread tx_thread;            /* TX kicks on a thread of their own per queue */
	uint32_t tx_sockets;                     /* TX sockets per copy-mode port and queue */
	uint32_t tx_budget;                      /* frames per copy-mode sendto() asked of the kernel, 0: auto (tx_budget.h) */
	enum cfg_demote demote;                  /* frame lines read handed back to the shared cache */
	uint32_t spin_us;                        /* how long an idle data-plane thread polls before it blocks */
	uint32_t spin_max_us;                    /* how far that grows while its sleeps are cut short */
	bool spin_max_auto;                      /* spin_max_us = auto (rt.c: spin_max_update) */
	uint16_t cpus[CFG_MAX_CPUS];             /* [gen] cpus: data-plane threads pinned to these in turn */
	int ncpus;                               /* 0: no list, threads unpinned */
	struct synth_cfg synth;                  /* synth_* keys, for ports named synth:N */
	int queues;
	uint32_t max_batch, mini_batch;
	uint32_t max_wait_us;                    /* default of the chains' max_wait_us */
	uint64_t hybrid_pps;                     /* default of the chains' hybrid_pps */
	uint32_t inflight;                       /* default of the chains' inflight */
	struct gpu_opts gpu_opts;                /* defaults of the chains' gpu_* keys */
	char *control;
	uint32_t metrics_addr;                   /* metrics_listen: 127.0.0.0/8, host order */
	uint16_t metrics_port;                   /* 0: no HTTP metrics listener */
	char *eve_log;                           /* nids events: a file, "journal" or "off" */
	uint32_t flow_idle_s, flow_active_s;     /* flowmon: flows expire after these */
	uint32_t ipfix_addr;                     /* ipfix_collector, host order; port 0: no export */
	uint16_t ipfix_port;
	struct cfg_nf *nfs;
	int n_nfs;
	struct cfg_chain *chains;
	int nchains;
};

/*
 * Parse and validate `path` (syntax, ranges, references between sections,
 * duplicate ids and names, output ports, CIDRs, port ranges, NF types).
 * Returns 0 with *ret set, or -EINVAL (-errno when the file can't be read) with
 * the errors in err, one "FILE:LINE: reason" per line, earliest line first.
 */
int cfg_load(const char *path, struct cfg **ret, char *err, size_t errlen);

/* The fingerprint of nf's type, keys and the content of the files they name (cfg_build.c). */
uint64_t cfg_nf_fingerprint(const struct cfg *c, const struct cfg_nf *nf);

/*
 * Build every NF's state blob through its nf_ops->build (files such as routes
 * and rules are validated here, with their own FILE:LINE errors). An NF of
 * `old` (may be NULL) with the same name and fingerprint gives its blob instead:
 * ownership moves and old's pointer becomes NULL. On error nothing of `old` has
 * been taken and c holds no states. 0 or -errno with err.
 */
int cfg_build_nfs(struct cfg *c, struct cfg *old, char *err, size_t errlen);

/* Free c and the NF states it still owns. NULL is fine. */
void cfg_free(struct cfg *c);

/*
 * Whether a chain's data-path definition (id, matches, NFs by name and
 * fingerprint, output and in ports by interface name, gpu, priority, the
 * elasticity and gpu_* keys but the compile timeout) is the
 * same in both configs: such a chain keeps running across a reload.
 */
bool cfg_chain_equal(const struct cfg *a, const struct cfg_chain *ca, const struct cfg *b,
		     const struct cfg_chain *cb);

/*
 * Whether traffic of chain cc is dropped (closed) or passed to the kernel
 * (open) while the chain has no live socket: its [chain] fail, else [gen]
 * fail, else closed when it runs nids, firewall or ipsec_esp.
 */
bool cfg_chain_fail_closed(const struct cfg *c, const struct cfg_chain *cc);

/* Lookups; NULL when absent. */
const struct cfg_chain *cfg_chain_find(const struct cfg *c, const char *name);
const struct cfg_nf *cfg_nf_find(const struct cfg *c, const char *name);

const char *cfg_backend_name(enum cfg_backend b);

#endif
