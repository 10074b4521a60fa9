/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gend's sizes and limits in one place. Where another side fixes a number too
 * (the XDP classifier's maps, the NF execution ABI), it is taken from that
 * side's header and the two are checked against each other here.
 */
#ifndef GEN_LIMITS_H
#define GEN_LIMITS_H

#include <stdint.h>
/* exec.h first: through nf.h it spells _Static_assert for C++ (nvcc). */
#include "../nf/exec.h"        /* NF_CHAIN_MAX: NFs in an Agent Table entry */
#include "../bpf/classifier.h" /* GEN_MAX_QUEUES, GEN_MAX_CHAINS: the XSKMAP's shape */

/* Ports (netdevs or synthetic) of one gend; sets of ports are uint32_t bit masks. */
#define GEN_MAX_PORTS 16
/* TX sockets per copy-mode port and queue ([gen] tx_sockets). */
#define GEN_MAX_TX_SOCKS 8
/*
 * [gen] tx_thread (in its choices' order): who kicks a copy-mode port's first
 * TX socket (the others always have kicker threads): the port worker, inline
 * (no); a kicker thread per queue, for every port (yes); that thread for ports
 * with several TX sockets where gend's data-plane threads fit the CPUs, and the
 * worker for the rest (auto).
 */
enum cfg_tx_thread { CFG_TX_THREAD_NO, CFG_TX_THREAD_YES, CFG_TX_THREAD_AUTO };
#define CFG_TX_THREAD_NAMES { "no", "yes", "auto", NULL }
/*
 * [gen] demote (in its choices' order): whether the port workers and TX kickers
 * hand the lines of the frames they read back to the shared cache
 * (daemon/demote.h): where the CPU has CLDEMOTE (auto), always, never.
 */
enum cfg_demote { CFG_DEMOTE_AUTO, CFG_DEMOTE_YES, CFG_DEMOTE_NO };
#define CFG_DEMOTE_NAMES { "auto", "yes", "no", NULL }

/* [gen] spin_us: how long an idle data-plane thread polls before it blocks (wake.h). */
#define GEN_SPIN_US_DEFAULT 20u
#define GEN_SPIN_US_MAX 1000000u
/* [gen] spin_max_us: how far a thread's polling grows while its sleeps are cut short (wake.h). */
#define GEN_SPIN_MAX_US_DEFAULT 200u
/* Packets per mini-batch (one GPU block each) when chains.ini does not say. */
#define GEN_MINI_BATCH_DEFAULT 256

/* What chains.ini may ask for. */
#define CFG_MAX_PORTS GEN_MAX_PORTS
#define CFG_MAX_QUEUES GEN_MAX_QUEUES      /* rx queues per port */
#define CFG_MAX_CHAINS (GEN_MAX_CHAINS - 1) /* chain ids are 1..255; 0 is never a chain */
#define CFG_MAX_CHAIN_NFS NF_CHAIN_MAX

_Static_assert(GEN_MAX_PORTS <= 32, "port sets are 32-bit masks");
_Static_assert(CFG_MAX_CHAINS < GEN_MAX_CHAINS, "gen_fail, gen_stats and the XSKMAP index chain ids below GEN_MAX_CHAINS");
_Static_assert(CFG_MAX_CHAINS <= UINT8_MAX, "classifier rules carry chain ids 1..255");
_Static_assert((uint64_t)GEN_MAX_CHAINS * GEN_MAX_QUEUES <= UINT32_MAX, "XSKMAP key = chain * GEN_MAX_QUEUES + queue");
_Static_assert(CFG_MAX_CHAIN_NFS == NF_CHAIN_MAX, "a chain's NFs fill one Agent Table entry");

#endif
