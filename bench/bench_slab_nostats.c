// SPDX-License-Identifier: MIT
/*
 * bench_slab_nostats.c - bench_slab's out-of-line slab entry points built
 * with SLAB_NO_STATS, for the "pcpupool slab, stats off" competitor.
 *
 * slab.h's per-CPU `allocs`/`frees` counters are one instruction in each
 * rseq section (SLAB_STAT_INC); SLAB_NO_STATS compiles them out.  The
 * macro has to be set before slab.h is first included, so this is a
 * translation unit of its own, linked into bench_slab.  The two functions
 * below are bench_slab.c's ool_slab_alloc()/ool_slab_free() (and their slow
 * path) token for token: the only difference between the stats-on and the
 * stats-off competitor must be the two counter increments.  Keep them in
 * step when either side changes.
 *
 * The slow paths (slab_alloc_slow, slab_free_slow, slab_low_check) live in
 * slab.o, which counts; the benchmark's steady state never reaches them, and
 * bench_slab checks after every stats-off sample that the counters did not
 * move.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define SLAB_NO_STATS 1
#include "bench_common.h"
#include "slab.h"

#include <stddef.h>

/* BENCH_OUT_OF_LINE, BENCH_HOT_ALIGN: bench_common.h, as bench_slab.c */
#define likely(x) __builtin_expect(!!(x), 1)

/* bench_slab.c declares these two the same way. */
void *nostats_slab_alloc(const struct slab_view *v);
void nostats_slab_free(const struct slab_view *v, void *p);

static BENCH_OUT_OF_LINE void *nostats_slab_alloc_slow(const struct slab_view *v,
						       uint32_t idx, uint32_t left,
						       struct slab *s)
{
	if (idx != SLAB_NIL) {
		(void)slab_low_check(v, s, left);   /* the library sends here */
		return slab_elem(v, idx);
	}
	struct slab_alloc_res r = slab_alloc_slow(v, left);
	return r.idx == SLAB_NIL ? NULL : slab_elem(v, r.idx);
}

BENCH_OUT_OF_LINE BENCH_HOT_ALIGN void *nostats_slab_alloc(const struct slab_view *v)
{
	uint32_t left;
	struct slab *s;
	uint32_t idx = slab_pop(v, &left, &s);

	if (likely(idx != SLAB_NIL && left >= s->low))
		return slab_elem(v, idx);
	return nostats_slab_alloc_slow(v, idx, left, s);
}

BENCH_OUT_OF_LINE BENCH_HOT_ALIGN void nostats_slab_free(const struct slab_view *v, void *p)
{
	uint32_t idx = slab_index_of(v, p);

	if (likely(idx != SLAB_NIL))
		slab_free(v, idx);
}
