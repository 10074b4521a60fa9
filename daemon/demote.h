/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hand a frame's cache lines back to the shared cache once this core is done
 * with them.
 *
 * In copy mode the kernel writes each received packet into its UMEM frame on
 * the core that receives it (on veth: the sender's core, in its softirq).
 * Where a line of that frame still sits in another core's private cache
 * (gend read the packet's headers there, or the kernel's copy-mode TX copied
 * it out there), that write first has to take the line back from that core.
 * CLDEMOTE (x86, Tremont and Sapphire Rapids onwards) moves a line from this
 * core's L1/L2 to the shared L3, where the next writer finds it without
 * asking another core. It is a hint: it changes no data, and processors
 * without it run it as a NOP (it sits in the reserved-NOP opcode space), as
 * do the other architectures here, where this compiles to nothing.
 *
 * Measured on veth (test/bench/RESULTS.md, twenty-third run): with 4 TX
 * sockets a frame's first line is read on two cores, the port worker's (the
 * hash) and a kicker's (the copy). Demoting on both halved what the sender's
 * core paid in the lock after its copy (about 110 to 55 ns a frame); demoting
 * on either alone moved nothing. [gen] demote turns it on or off.
 *
 * The same holds for the rings the receiving core shares with the port
 * worker: it reads the fill ring's addresses that the worker wrote, and
 * writes RX descriptors into lines the worker read one lap of the ring
 * before. The worker demotes each ring line once it has written or read
 * its last entry, and the index it moved.
 */
#ifndef GEN_DEMOTE_H
#define GEN_DEMOTE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <xdp/xsk.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#define GEN_CACHE_LINE 64

static inline void demote_line(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	/* cldemote m8, spelled as bytes (NP 0F 1C /0) for assemblers that lack the mnemonic. */
	__asm__ volatile(".byte 0x0f, 0x1c, 0x00" : : "a"(p) : "memory");
#else
	(void)p;
#endif
}

/* Whether this CPU has CLDEMOTE (CPUID leaf 7, ECX bit 25), where [gen] demote = auto uses it. */
static inline bool demote_supported(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;

	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 25));
#else
	return false;
#endif
}

/* Every line that holds a byte of [p, p + len). */
static inline void demote_range(const void *p, uint32_t len)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(GEN_CACHE_LINE - 1), end = (uintptr_t)p + len;

	for (; a < end; a += GEN_CACHE_LINE)
		demote_line((const void *)a);
}

/*
 * Entries [idx, idx + n) of a ring of entries esz bytes wide at base (mask =
 * entries - 1), just written or read by this core: each line whose last
 * entry is among them, so that a line the other side still fills is left
 * alone, and then the line of the index this core moved.
 */
static inline void demote_ring(const void *base, uint32_t mask, uint32_t esz, uint32_t idx, uint32_t n,
			       const uint32_t *index)
{
	uint32_t per_line = GEN_CACHE_LINE / esz, i = 0;

	/* The first entry that ends a line; then every per_line-th (the ring's bytes are whole lines). */
	while (i < n && i < per_line &&
	       (((uintptr_t)base + (uintptr_t)((idx + i) & mask) * esz + esz) & (GEN_CACHE_LINE - 1)))
		i++;
	for (; i < n; i += per_line)
		demote_line((const uint8_t *)base + (size_t)((idx + i) & mask) * esz);
	demote_line(index);
}

/*
 * After a sendto() on a copy-mode TX socket whose ring's consumer stood at c0
 * before it: the lines of the frames the kernel took (and copied out on this
 * core), at area + addr. A slot the producer refills meanwhile only points the
 * hint at another frame.
 */
static inline void demote_tx_taken(const void *area, struct xsk_ring_prod *tx, uint32_t c0)
{
	uint32_t c1 = __atomic_load_n(tx->consumer, __ATOMIC_ACQUIRE);

	for (uint32_t i = c0; i != c1 && i - c0 <= tx->size; i++) {
		const struct xdp_desc *x = xsk_ring_prod__tx_desc(tx, i);

		demote_range((const uint8_t *)area + __atomic_load_n(&x->addr, __ATOMIC_RELAXED),
			     __atomic_load_n(&x->len, __ATOMIC_RELAXED));
	}
}

/*
 * Kick copy-mode TX socket fd (ring tx, UMEM at area): the kernel copies the
 * frames it takes out on this core; with demote, their lines are handed back
 * (demote_tx_taken). sendto()'s result, errno as it left it.
 */
static inline ssize_t demote_sendto(int fd, struct xsk_ring_prod *tx, const void *area, bool demote)
{
	uint32_t c0 = demote ? __atomic_load_n(tx->consumer, __ATOMIC_ACQUIRE) : 0;
	ssize_t r = sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
	int e = errno;

	if (demote)
		demote_tx_taken(area, tx, c0);
	errno = e;
	return r;
}

#endif /* GEN_DEMOTE_H */
