// SPDX-License-Identifier: MIT
/*
 * bench_slab_ablate.c - bench_slab's inline slab loop (slab_inline.h) with
 * part of the pop taken out, for the breakdown of what a pair costs over
 * the floor.  Compiled twice by the Makefile:
 *
 *   -DABLATE=1   PCPUPOOL__NO_OWNER_MARK: the pop does not mark the
 *                element's owner (the daemon could not take back a dead
 *                process's elements);
 *   -DABLATE=2   PCPUPOOL__NO_OFFSET_CHECK: no owner mark, and the pop only
 *                checks that the offset is in range, not that it is an
 *                element's start (so no multiplication).
 *
 * The macros have to be set before pcpupool.h is first included, hence a
 * translation unit of its own, as bench_slab_nostats.c.  Neither is a way
 * to use pcpupool: they exist to put a number on what each safeguard costs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#if ABLATE == 1
#define PCPUPOOL__NO_OWNER_MARK 1
#define ABLATE_FN ablate_noowner_pairs
#elif ABLATE == 2
#define PCPUPOOL__NO_OFFSET_CHECK 1
#define ABLATE_FN ablate_nocheck_pairs
#else
#error "compile with -DABLATE=1 or -DABLATE=2"
#endif
#include "slab_inline.h"

/* slab_comps.c declares both. */
uint64_t ABLATE_FN(const struct slab_view *v, uint64_t pairs, uint64_t *refills);

BENCH_HOT_ALIGN uint64_t ABLATE_FN(const struct slab_view *v, uint64_t pairs,
				   uint64_t *refills)
{
	return slab_inline_pairs(v, pairs, refills);
}
