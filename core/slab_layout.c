// SPDX-License-Identifier: MIT
/*
 * slab_layout.c - a pool's layout: computed from its geometry, formatted
 * by the daemon, validated by every process that maps it.
 * The design, invariants and memory-order pairings of the slab core are
 * described at the top of slab.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_impl.h"

#include <errno.h>
#include <string.h>


/* ------------------------------------------------------------------ */
/* layout                                                              */

/**
 * slab_layout() - compute the layout of a pool from its geometry.
 * @g: requested geometry.
 * @ret_hdr: filled with every size and offset (name and atomics zero).
 *
 * A pool on hugepages (g->huge_page_size SLAB_HUGE_PAGE) puts each area
 * on a page of its own, since a hugetlbfs file is mapped by whole pages
 * only: the header's page, the slabs from the next one, padded with zeros
 * to a page boundary, the metadata, the elements, and the file ends on a
 * page boundary.  The pad lets slab_view_map_inline() map the slabs alone,
 * by whole pages, for the inline sections (see there why a pad page is
 * safe for them).
 *
 * Context: any.
 * Return: 0, or -EINVAL for a geometry out of range, -EOVERFLOW when the
 * pool would not fit the address space.
 */
int slab_layout(const struct slab_geometry *g, struct slab_hdr *ret_hdr)
{
	struct slab_hdr h;
	uint64_t stride, align, page = 4096, huge;

	if (!g || g->nr_cpus == 0 || g->nr_cpus > SLAB_MAX_CPUS ||
	    g->slab_cap == 0 || g->slab_cap > SLAB_MAX_CAP ||
	    g->elem_size == 0 || g->elem_size > (UINT64_C(1) << 30) ||
	    g->max_elems == 0 || g->max_elems > SLAB_MAX_ELEMS ||
	    (g->huge_page_size != 0 && g->huge_page_size != SLAB_HUGE_PAGE))
		return -EINVAL;
	huge = g->huge_page_size;
	align = g->elem_align ? g->elem_align : 8;
	if ((align & (align - 1)) || align > page)
		return -EINVAL;
	if (align < 8)
		align = 8;   /* a stride of at least 8: see slab_view_init() */
	stride = ROUND_UP(g->elem_size, align);
	if (stride > UINT32_MAX)
		return -EOVERFLOW;

	memset(&h, 0, sizeof(h));
	h.magic = SLAB_MAGIC;
	h.layout_version = SLAB_LAYOUT_VERSION;
	h.hdr_size = SLAB_HDR_SIZE;
	h.nr_cpus = g->nr_cpus;
	h.slab_cap = g->slab_cap;
	/* each slab is one page: the sections find it with a shift, and a
	 * process can place what the hit path reads away from what it
	 * writes modulo 4096 (4K aliasing: a load whose bits 11:0 match a
	 * pending store's waits for it) */
	h.slab_stride = SLAB_STRIDE;
	h.elem_stride = (uint32_t)stride;
	h.elem_size = g->elem_size;
	h.elem_align = align;
	h.max_elems = g->max_elems;
	h.huge_page_size = (uint32_t)huge;
	if (huge) {
		h.slabs_off = huge;
		h.meta_off = h.slabs_off + ROUND_UP((uint64_t)h.nr_cpus * h.slab_stride, huge);
		page = huge;
	} else {
		h.slabs_off = SLAB_HDR_SIZE;
		h.meta_off = ROUND_UP(h.slabs_off + (uint64_t)h.nr_cpus * h.slab_stride,
				      SLAB_CACHELINE);
	}
	h.elems_off = ROUND_UP(h.meta_off + sizeof(struct slab_meta) * g->max_elems,
			       page);
	/* slots hold byte offsets from the first element in 32 bits */
	if (g->max_elems * stride > (UINT64_C(1) << 32))
		return -EOVERFLOW;
	h.map_size = ROUND_UP(h.elems_off + g->max_elems * stride, page);
	if (h.map_size > (UINT64_C(1) << 46))
		return -EOVERFLOW;
	*ret_hdr = h;
	return 0;
}

/**
 * slab_bytes_for() - file size that backs the first @nr_elems elements.
 * @h: a laid-out header.
 * @nr_elems: elements to back.
 *
 * Return: bytes, rounded to the pool's pages (its hugepages, if it has).
 */
size_t slab_bytes_for(const struct slab_hdr *h, uint64_t nr_elems)
{
	return ROUND_UP(h->elems_off + nr_elems * h->elem_stride,
			h->huge_page_size ? h->huge_page_size : 4096);
}

/**
 * slab_format() - initialise a fresh pool in memory that is already backed
 * at least up to slab_bytes_for(layout, 0).
 * @base: start of the mapping.
 * @layout: result of slab_layout().
 * @name: pool name (truncated to SLAB_NAME_MAX - 1).
 *
 * Context: daemon, before the memory is shared.
 * Return: 0 or -EINVAL.
 */
int slab_format(void *base, const struct slab_hdr *layout, const char *name)
{
	struct slab_hdr *h = base;
	char *p = base;

	if (!base || !layout || !name)
		return -EINVAL;
	memcpy(h, layout, sizeof(*h));
	h->magic = 0;
	memset(h->name, 0, sizeof(h->name));
	strncpy(h->name, name, sizeof(h->name) - 1);
	atomic_init(&h->nr_published, 0);
	atomic_init(&h->min_nr, 0);
	atomic_init(&h->state, SLAB_STATE_OK);
	atomic_init(&h->generation, 0);
	atomic_init(&h->spare, SLAB_LIST_EMPTY);
	atomic_init(&h->nr_nodes, 1);
	for (uint32_t k = 0; k < SLAB_MAX_NODES - 1; k++)
		atomic_init(&h->node_spare[k], SLAB_LIST_EMPTY);
	for (uint32_t c = 0; c < h->nr_cpus; c++) {
		struct slab *s = (struct slab *)(p + h->slabs_off + (size_t)c * h->slab_stride);

		memset(s, 0, offsetof(struct slab, slots));
		s->cw = 0;
		s->limit = h->slab_cap;
		s->low = 0;
		s->cap = h->slab_cap;
		atomic_init(&s->inbox, SLAB_LIST_EMPTY);
		atomic_init(&s->outbox, SLAB_LIST_EMPTY);
		atomic_init(&s->refill_pending, 0);
		atomic_init(&s->refill_requests, 0);
	}
	/* slab_meta needs no initialisation: owner 0 is what a fresh file
	 * reads, and next is only read within a list, whose pusher wrote it;
	 * so the metadata pages stay unallocated until elements are used */
	/* release: pairs with the acquire load of magic in slab_validate_hdr() */
	__atomic_store_n(&h->magic, SLAB_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/**
 * slab_validate_hdr() - check a header read from shared memory.
 * @h: the header (untrusted).
 * @file_size: size of the backing file, or 0 if unknown.
 *
 * Every offset is recomputed from the geometry and compared, so a header
 * that passes describes a layout this code would itself have produced.
 *
 * Return: 0, -EPROTO for a foreign or different-version object, -EUCLEAN
 * for an inconsistent one.
 */
int slab_validate_hdr(const struct slab_hdr *h, size_t file_size)
{
	struct slab_hdr want;
	struct slab_geometry g;

	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != SLAB_MAGIC ||
	    h->layout_version != SLAB_LAYOUT_VERSION || h->hdr_size != SLAB_HDR_SIZE)
		return -EPROTO;
	g.nr_cpus = h->nr_cpus;
	g.slab_cap = h->slab_cap;
	g.elem_size = h->elem_size;
	g.elem_align = h->elem_align;
	g.max_elems = h->max_elems;
	g.huge_page_size = h->huge_page_size;
	if (slab_layout(&g, &want) < 0)
		return -EUCLEAN;
	if (want.slab_stride != h->slab_stride || want.elem_stride != h->elem_stride ||
	    want.slabs_off != h->slabs_off || want.meta_off != h->meta_off ||
	    want.elems_off != h->elems_off || want.map_size != h->map_size)
		return -EUCLEAN;
	uint64_t pub = atomic_load_explicit(&h->nr_published, memory_order_acquire);
	if (pub > h->max_elems)
		return -EUCLEAN;
	if (file_size && file_size < slab_bytes_for(h, pub))
		return -EUCLEAN;
	return 0;
}
