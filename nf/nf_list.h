/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one list of shipped NF types. Everything that enumerates NFs is generated
 * from it: the type enum (nf.h), the dispatch switch (agent.h), the builders'
 * registry (registry.c), the fused agent's source (cuda/rtc.c) and the packet
 * window the gpu agent stages (cuda/gpu_launch.h). Adding an NF is one line
 * here plus its own nf/<name>.h and nf/<name>_build.c.
 *
 * X(NAME, name, head, tail, writes, binit):
 *   NAME   the enum suffix (NF_T_NAME)
 *   name   the file stem: nf/<name>.h defines nf_<name>_run(), nf/<name>_build.c
 *          defines nf_ops_<name>
 *   head   most bytes the NF may prepend to a packet (moves off down); it writes
 *          every byte it prepends before it reads it, and never reads the
 *          frame in front of the packet otherwise (the gpu backend stages
 *          none of it by default: cuda/gpu_launch.h, GPU_EDGES_*)
 *   tail   most bytes it may append past the packet's end, or use beyond it,
 *          each written before it is read, when the packet has head bytes of
 *          room in front of it; with less,
 *          the NF may first move the packet up by at most head bytes (the gpu
 *          backend then stages head + tail past the end: gather_tail)
 *   writes 1 when it may change packet bytes, 0 when it only reads them
 *   binit  1 when nf/<name>.h has nf_<name>_block_init(state): on the GPU, every
 *          thread of an agent block calls it once for the chain's first NF of the
 *          type, before the packets, to stage read-only tables in shared memory
 * The order fixes the enum values: append only.
 */
#ifndef GEN_NF_LIST_H
#define GEN_NF_LIST_H

/* ESP tunnel encapsulation: outer IPv4 + ESP header + IV before, pad (< 16) + trailer (2) +
 * ICV (12) after (and, with less than 44 bytes of headroom, the whole packet moved up by 44). */
#define NF_ESP_GROW_HEAD 44
#define NF_ESP_GROW_TAIL 32

#define NF_LIST(X)                                                      \
	X(L2_REWRITE, l2_rewrite, 0, 0, 1, 0)                           \
	X(TTL_DEC, ttl_dec, 0, 0, 1, 0)                                 \
	X(IPV4_ROUTER, ipv4_router, 0, 0, 1, 0)                         \
	X(NIDS, nids, 0, 0, 0, 1)                                       \
	X(IPSEC_ESP, ipsec_esp, NF_ESP_GROW_HEAD, NF_ESP_GROW_TAIL, 1, 1) \
	X(FIREWALL, firewall, 0, 0, 0, 0)                               \
	X(FLOWMON, flowmon, 0, 0, 0, 0)

#endif
