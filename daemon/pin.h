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

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Before any data-plane thread starts; n = 0: threads stay unpinned. With a
 * list, the first call also moves gend's other threads (main, control, the
 * GPU runtime's, and every one they start later) off the listed CPUs, onto
 * the rest of the CPUs gend was allowed, where any are left: a busy-polling
 * port worker then shares its CPU with nothing of gend's.
 */
void pin_setup(const uint16_t *cpus, int n);
/* The CPUs gend was allowed before pin_setup narrowed its other threads (what a cpus list may name). */
void pin_allowed(cpu_set_t *set);
/* The CPUs gend's other threads were kept on, as a list ("-" when they were not narrowed). */
void pin_rest_str(char *buf, size_t len);
/* The calling thread takes the next CPU of the list; returns it, or -1 (no list, or the kernel refused). */
int pin_self(void);

#endif
