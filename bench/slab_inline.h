/* SPDX-License-Identifier: MIT */
/*
 * slab_inline.h - bench_slab's timed loop over the slab's inline hit path:
 * pcpupool__pop() and pcpupool__push() as pcpupool.h's inline
 * pcpupool_alloc() and pcpupool_free() use them (given glibc's
 * __rseq_offset, no compiler barriers), the library's slow paths
 * (slab_alloc_slow(), slab_free_miss()) behind them.
 *
 * Included by slab_comps.c, and by bench_slab_ablate.c, which compiles it
 * with the owner mark or the offset check taken out of the pop for the
 * breakdown: whatever pcpupool.h was told before it was first included
 * is what these functions run.  Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_SLAB_INLINE_H
#define PCPUPOOL_BENCH_SLAB_INLINE_H

#include "bench_common.h"
#include "slab.h"

#ifdef SLAB_HAVE_RSEQ
static inline __attribute__((always_inline)) void *
inline_slab_alloc(const struct slab_view *v, int *ret_refill_cpu)
{
	void *p;

	*ret_refill_cpu = -1;
	if (__builtin_expect(pcpupool__pop(slab_fast(v), __rseq_offset, &p), 1))
		return p;
	struct slab_alloc_res r = slab_alloc_slow(v);
	*ret_refill_cpu = r.refill_cpu;
	return r.idx == SLAB_NIL ? NULL : slab_elem(v, r.idx);
}

static inline __attribute__((always_inline)) void
inline_slab_free(const struct slab_view *v, void *p)
{
	if (__builtin_expect(pcpupool__push(slab_fast(v), __rseq_offset, p,
					    (uint32_t)(uintptr_t)p), 1))
		return;
	slab_free_miss(v, p);
}
#else
#define inline_slab_alloc slab_alloc_elem
#define inline_slab_free  slab_free_elem
#endif

/* @pairs alloc+free pairs, each writing one byte of its element through a
 * volatile pointer; *refills counts the allocations that asked for a
 * refill.  Returns the number of failed allocations. */
static inline __attribute__((always_inline)) uint64_t
slab_inline_pairs(const struct slab_view *v, uint64_t pairs, uint64_t *refills)
{
	uint64_t bad = 0, asked = 0;

	for (uint64_t i = 0; i < pairs; i++) {
		int refill_cpu;
		void *p = inline_slab_alloc(v, &refill_cpu);

		if (__builtin_expect(!p, 0)) {
			bad++;
			continue;
		}
		if (__builtin_expect(refill_cpu >= 0, 0))
			asked++;
		*(volatile uint8_t *)p = (uint8_t)i;
		inline_slab_free(v, p);
	}
	*refills += asked;
	return bad;
}

#endif /* PCPUPOOL_BENCH_SLAB_INLINE_H */
