// SPDX-License-Identifier: GPL-2.0
/* The idle data-plane threads' polling budget (wake.h), [gen] spin_us in ns. */
#include "wake.h"

uint32_t wake_spin_ns = WAKE_SPIN_NS;
/* [gen] spin_max_us in ns: how far a thread's window grows (wake.h: spin_slept). */
uint32_t wake_spin_max_ns = WAKE_SPIN_MAX_NS;
