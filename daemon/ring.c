// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include "ring.h"

int ring_init(struct ring *r, uint32_t size)
{
	uint32_t s = 1;

	while (s < size)
		s <<= 1;
	memset(r, 0, sizeof(*r));
	r->slot = calloc(s, sizeof(*r->slot));
	if (!r->slot)
		return -ENOMEM;
	r->size = s;
	r->mask = s - 1;
	return 0;
}

void ring_fini(struct ring *r)
{
	free(r->slot);
	r->slot = NULL;
}
