/* SPDX-License-Identifier: GPL-2.0 */
/*
 * [gen] cpus: the data-plane threads (port workers, TX kickers, chain
 * controllers) pinned one to a CPU of the list, in the order they start,
 * wrapping when there are more threads than CPUs. They poll while they have
 * work; unpinned, the scheduler may stack two on one CPU for a time slice,
 * which stalls a queue for milliseconds.
 */
#ifndef GEN_PIN_H
#define GEN_PIN_H

#include <stdint.h>

/* Before any data-plane thread starts; n = 0: threads stay unpinned. */
void pin_setup(const uint16_t *cpus, int n);
/* The calling thread takes the next CPU of the list; returns it, or -1 (no list, or the kernel refused). */
int pin_self(void);

#endif
