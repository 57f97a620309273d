// SPDX-License-Identifier: MIT
/*
 * view.c - e2e_pool_view() (e2e.h): a pool's shared memory seen through
 * the slab core, for the integration tests that link the core's objects
 * (test_corrupt, test_reclaim).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "e2e.h"
#include "slab.h"

void e2e_pool_view(struct pcpupool *pool, struct slab_view *v, uint32_t owner)
{
	char *base = e2e_pool_base(pool);

	assert_int_equal(slab_view_init(v, base, ((struct slab_hdr *)base)->map_size, owner), 0);
}
