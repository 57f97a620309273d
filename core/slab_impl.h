/* SPDX-License-Identifier: MIT */
/*
 * slab_impl.h - what the slab core's own files share and nothing else
 * includes: the bound on published elements, the list internals the
 * client's spare take reuses, the slow paths' rseq sections, test hooks.
 */
#ifndef PCPUPOOL_SLAB_IMPL_H
#define PCPUPOOL_SLAB_IMPL_H

#include "slab.h"

#define ROUND_UP(x, a) (((x) + (a) - 1) / (a) * (a))

/* Points where tests/unit/test_races.c, which compiles the core with
 * SLAB_TEST_HOOKS, plays another process at the worst moment. */
#ifdef SLAB_TEST_HOOKS
void slab_test_hook(const char *where);
#define SLAB_HOOK(where) slab_test_hook(where)
#else
#define SLAB_HOOK(where) ((void)0)
#endif

/* How many elements may appear in a slab or list: indices below this.
 * The daemon counts them in its own memory; a client reads the header's
 * count, which any attached process may forge, so it is bounded by the
 * max_elems this view was built with: the file backs the whole mapping
 * (the daemon sizes it at creation and seals it against shrinking), so
 * every index below that is safe to touch, if not always meaningful. */
static inline uint64_t slab_published(const struct slab_view *v)
{
	uint64_t n;

	if (v->own_published)
		return *v->own_published;
	/* acquire: pairs with the daemon's release store after it published
	 * new elements (daemon pool growth) */
	n = atomic_load_explicit(&v->hdr->nr_published, memory_order_acquire);
	return n < v->max_elems ? n : v->max_elems;
}

/* slab_list.c */
uint64_t slab_list_take_word(const struct slab_view *v, _Atomic uint64_t *box);
void slab_chain_put_back(const struct slab_view *v, _Atomic uint64_t *box,
			 uint32_t head, uint32_t len);

/* slab_rseq.c: the result of slab_rseq_pop() */
enum { SLAB_POP_OK, SLAB_POP_EMPTY, SLAB_POP_NOCPU, SLAB_POP_DISCARDED };
int slab_rseq_pop(const struct slab_view *v, uint32_t *ret_idx, uint32_t *ret_left,
		  struct slab **ret_slab);
uint32_t slab_rseq_splice(const struct slab_view *v, const uint32_t *buf, uint32_t n,
			  struct slab **ret_slab);
uint32_t slab_rseq_spill(const struct slab_view *v, uint32_t *buf, uint32_t max,
			 struct slab **ret_slab);

#endif /* PCPUPOOL_SLAB_IMPL_H */
