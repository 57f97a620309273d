// SPDX-License-Identifier: MIT
/*
 * bench_slab_nostats.c - bench_slab's out-of-line slab entry points built
 * with PCPUPOOL__NO_STATS, for the "pcpupool slab, stats off" competitor.
 *
 * The per-CPU statistics ride in the commit store of the pop and push
 * sections (pcpupool.h: the count word's ops field); PCPUPOOL__NO_STATS
 * makes that store leave ops alone, with the same instructions.  The macro
 * has to be set before pcpupool.h is first included, so this is a
 * translation unit of its own, linked into bench_slab.  The two functions
 * below are slab_comps.c's ool_slab_alloc()/ool_slab_free() token for
 * token: the only difference between the stats-on and the stats-off
 * competitor is the constant the commit adds.  Keep them in step.
 *
 * The slow paths (slab_alloc_slow, slab_free_slow, slab_low_check) live in
 * slab.o, which counts; the benchmark's steady state never reaches them, and
 * bench_slab checks after every stats-off sample that the counters did not
 * move.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define PCPUPOOL__NO_STATS 1
#include "bench_common.h"
#include "slab.h"

#include <stddef.h>

/* BENCH_OUT_OF_LINE, BENCH_HOT_ALIGN: bench_common.h, as slab_comps.c */

/* slab_comps.c declares these two the same way. */
void *nostats_slab_alloc(const struct slab_view *v);
void nostats_slab_free(const struct slab_view *v, void *p);

BENCH_OUT_OF_LINE BENCH_HOT_ALIGN void *nostats_slab_alloc(const struct slab_view *v)
{
	int refill_cpu;   /* the library sends the request here */

	return slab_alloc_elem(v, &refill_cpu);
}

BENCH_OUT_OF_LINE BENCH_HOT_ALIGN void nostats_slab_free(const struct slab_view *v, void *p)
{
	slab_free_elem(v, p);
}
