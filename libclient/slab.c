// SPDX-License-Identifier: MIT
/*
 * slab.c - layout, slow paths and daemon-side operations of the slab core.
 * The design, invariants and memory-order pairings are described at the
 * top of slab.h; the hit path itself is inline there.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <time.h>
#include <unistd.h>

#define ROUND_UP(x, a) (((x) + (a) - 1) / (a) * (a))

/* Points where tests/test_races.c, which compiles this file with
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
static uint64_t published(const struct slab_view *v)
{
	uint64_t n;

	if (v->own_published)
		return *v->own_published;
	/* acquire: pairs with the daemon's release store after it published
	 * new elements (daemon pool growth) */
	n = atomic_load_explicit(&v->hdr->nr_published, memory_order_acquire);
	return n < v->max_elems ? n : v->max_elems;
}

/* ------------------------------------------------------------------ */
/* layout                                                              */

/**
 * slab_layout() - compute the layout of a pool from its geometry.
 * @g: requested geometry.
 * @ret_hdr: filled with every size and offset (name and atomics zero).
 *
 * Context: any.
 * Return: 0, or -EINVAL for a geometry out of range, -EOVERFLOW when the
 * pool would not fit the address space.
 */
int slab_layout(const struct slab_geometry *g, struct slab_hdr *ret_hdr)
{
	struct slab_hdr h;
	uint64_t stride, align, page = 4096;

	if (!g || g->nr_cpus == 0 || g->nr_cpus > SLAB_MAX_CPUS ||
	    g->slab_cap == 0 || g->slab_cap > SLAB_MAX_CAP ||
	    g->elem_size == 0 || g->elem_size > (UINT64_C(1) << 30) ||
	    g->max_elems == 0 || g->max_elems > SLAB_MAX_ELEMS)
		return -EINVAL;
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
	h.slabs_off = SLAB_HDR_SIZE;
	h.meta_off = ROUND_UP(h.slabs_off + (uint64_t)h.nr_cpus * h.slab_stride,
			      SLAB_CACHELINE);
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
 * Return: bytes, page-rounded.
 */
size_t slab_bytes_for(const struct slab_hdr *h, uint64_t nr_elems)
{
	return ROUND_UP(h->elems_off + nr_elems * h->elem_stride, 4096);
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

/**
 * slab_rseq_available() - whether glibc registered rseq for this process.
 *
 * Return: true when rseq sections can be used.
 */
bool slab_rseq_available(void)
{
#ifdef SLAB_HAVE_RSEQ
	return __rseq_size >= 20;  /* cpu_id_start, cpu_id, rseq_cs, flags */
#else
	return false;
#endif
}

/**
 * slab_view_init_hdr() - build a process's view of a mapped pool from a
 * copy of its header.
 * @v: view to fill.
 * @base: mapping of the whole pool (hdr->map_size bytes).
 * @hdr: a copy of the header at @base that slab_validate_hdr() passed: the
 *       view is built from it alone, so a process that rewrites the shared
 *       header meanwhile cannot make the view inconsistent.
 * @mapped: bytes mapped at @base.
 * @owner: id written into slab_meta.owner by this process's pops (non-zero).
 *
 * Its inline sections (pcpupool.h) have no pages until
 * slab_view_map_inline(): a view for them to run on must have been
 * through it (the daemon's and the slab tests' need not).
 *
 * Context: any thread; not signal-safe.
 * Return: 0, or -EINVAL when @mapped is smaller than the pool.
 */
int slab_view_init_hdr(struct slab_view *v, void *base, const struct slab_hdr *hdr,
		       size_t mapped, uint32_t owner)
{
	const struct slab_hdr h = *hdr;

	if (!v || !base)
		return -EINVAL;
	if (mapped < h.map_size)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	v->hdr = base;
	v->slabs = (char *)base + h.slabs_off;
	v->elems = (char *)base + h.elems_off;
	v->meta = (struct slab_meta *)((char *)base + h.meta_off);
	v->slab_stride = h.slab_stride;
	v->elem_stride = h.elem_stride;
	v->nr_cpus = h.nr_cpus;
	v->slab_cap = h.slab_cap;
	v->max_elems = (uint32_t)h.max_elems;
	v->max_off = (uint32_t)((h.max_elems - 1) * h.elem_stride);
	v->div = slab_div(h.elem_stride);
	/* div * stride = 2^64 + e, 1 <= e <= stride: see
	 * PCPUPOOL__CHECK_OFF_TO() */
	v->bound = (h.max_elems - 1) * (v->div * h.elem_stride);
	v->owner = owner;
	v->map_size = h.map_size;
#ifdef SLAB_HAVE_RSEQ
	v->rseq_off = (intptr_t)__rseq_offset;
	v->rseq_cpus = slab_rseq_available() ? h.nr_cpus : 0;
#endif
	return 0;
}

/**
 * slab_view_init() - slab_view_init_hdr() on a copy of the header at
 * @base, validated here.
 *
 * Return: 0, or the slab_validate_hdr() error, or -EINVAL.
 */
int slab_view_init(struct slab_view *v, void *base, size_t mapped, uint32_t owner)
{
	struct slab_hdr h;
	int r;

	if (!v || !base)
		return -EINVAL;
	memcpy(&h, base, sizeof(h));
	r = slab_validate_hdr(&h, 0);
	return r < 0 ? r : slab_view_init_hdr(v, base, &h, mapped, owner);
}

/* The inline sections' pages for a view whose slabs they may not use: a
 * zero page, read-only, for every CPU id they accept and the one after (a
 * count, limit and low of 0 send both sections to the library).  One
 * mapping for the whole process, made on first need (retried if it
 * failed) and never unmapped: only address space until a section reads
 * it. */
static char *no_slabs;
static pthread_mutex_t no_slabs_lock = PTHREAD_MUTEX_INITIALIZER;

/* Bytes of an inline view's pages. */
#define INLINE_PAGES_LEN ((size_t)PCPUPOOL__SLABS_PAGES * SLAB_STRIDE)

/* INLINE_PAGES_LEN bytes of read-only zeros (address space only), or NULL. */
static char *zero_pages_map(void)
{
	void *m = mmap(NULL, INLINE_PAGES_LEN, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

static char *no_slabs_get(void)
{
	char *z;

	pthread_mutex_lock(&no_slabs_lock);
	if (!no_slabs)
		no_slabs = zero_pages_map();
	z = no_slabs;
	pthread_mutex_unlock(&no_slabs_lock);
	return z;
}

/**
 * slab_view_map_inline() - give a client's view the pages its inline
 * sections use.
 * @v: a view slab_view_init() built on a slab_map() mapping.
 * @fd: the pool's memfd.
 *
 * The inline sections of pcpupool.h check a CPU id against the constant
 * PCPUPOOL__MAX_CPUS, not against the pool's count of slabs, which would
 * be one more load of the handle in each (see PCPUPOOL__SECTION_ENTER_TO).
 * So they need a page for every id (and the one after, which the pop's
 * masked count can reach): this maps the pool's slabs again at the start
 * of a region of PCPUPOOL__SLABS_PAGES pages, the rest read-only zeros,
 * and has the whole library reach the slabs there.  Only where the
 * sections can work: rseq registered, and the first element on a 4 GiB
 * boundary (the inline free stores an element address's low half).
 * Elsewhere (this library built without sections, rseq not registered),
 * or if that mapping fails, they get the process's zero pages and leave
 * for the library at every call: a client's handle never has no pages.
 *
 * Context: any thread; not signal-safe.
 * Return: 1 when the inline sections are on, 0 when they send everything
 * to the library, -ENOMEM when the address space has no room for their
 * pages (the view must not be handed to inline code then).
 */
int slab_view_map_inline(struct slab_view *v, int fd)
{
	if (v->inline_slabs)
		return v->inline_map != NULL;
#ifdef SLAB_HAVE_RSEQ
	char *m;

	if (!v->rseq_cpus || ((uintptr_t)v->elems & UINT32_MAX) != 0 ||
	    v->nr_cpus > PCPUPOOL__MAX_CPUS)
		goto off;
	m = zero_pages_map();
	if (!m)
		goto off;
	if (mmap(m, (size_t)v->nr_cpus * SLAB_STRIDE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, (off_t)(v->slabs - (char *)v->hdr)) == MAP_FAILED) {
		munmap(m, INLINE_PAGES_LEN);
		goto off;
	}
	v->inline_map = m;
	v->slabs = m;
	v->inline_slabs = m;
	v->abi2_cpus = v->rseq_cpus;
	return 1;
off:
#else
	(void)fd;
#endif
	v->inline_slabs = no_slabs_get();
	return v->inline_slabs ? 0 : -ENOMEM;
}

/**
 * slab_view_fini() - unmap what slab_view_map_inline() mapped.
 * @v: the view; its pool's mapping is the caller's.
 */
void slab_view_fini(struct slab_view *v)
{
	if (v->inline_map)
		munmap(v->inline_map, INLINE_PAGES_LEN);
	v->inline_map = NULL;
	v->inline_slabs = NULL;
	v->abi2_cpus = 0;
}

/**
 * slab_map() - map a pool's shared object read-write, its first element
 * on a 4 GiB boundary if the address space allows.
 * @fd: the pool's memfd.
 * @map_size: bytes to map (the header's map_size, checked by the caller).
 *
 * The inline pcpupool_free() of pcpupool.h stores an element's address's
 * low 32 bits as its offset, which is right only in a mapping whose first
 * element is 2^32-aligned; slab_view_map_inline() lets the inline sections
 * run on a view only then.  So this reserves 4 GiB more than the pool, maps
 * the pool inside at the aligned place and gives the rest back.  Where
 * that fails (an address-space limit), it maps the pool anywhere: the
 * pool works, through the library's entry points.  The header is read
 * with pread() for its elements' offset: a lie there only costs the
 * alignment, which slab_view_init() checks on the mapping itself.
 *
 * Context: any thread; not signal-safe.
 * Return: the mapping, or MAP_FAILED with errno set.
 */
void *slab_map(int fd, size_t map_size)
{
	const size_t align = (size_t)1 << 32;
	struct slab_hdr h;
	size_t elems_off = 0, len;
	char *res, *at;

	if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && h.magic == SLAB_MAGIC &&
	    h.elems_off < map_size && h.elems_off % 4096 == 0)
		elems_off = (size_t)h.elems_off;
	if (map_size > SIZE_MAX - align)
		goto anywhere;
	len = map_size + align;
	res = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		goto anywhere;
	at = (char *)((((uintptr_t)res + elems_off + align - 1) & ~(uintptr_t)(align - 1)) -
		      elems_off);
	if (mmap(at, map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		int e = errno;

		munmap(res, len);
		errno = e;
		return MAP_FAILED;
	}
	if (at > res)
		munmap(res, (size_t)(at - res));
	if (at + map_size < res + len)
		munmap(at + map_size, (size_t)(res + len - (at + map_size)));
	return at;
anywhere:
	return mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

/* ------------------------------------------------------------------ */
/* lists                                                               */

/* Link idx[0..n) into a chain through meta.next; the tail is left for
 * the caller to link. */
static void chain_link(const struct slab_view *v, const uint32_t *idx, uint32_t n)
{
	/* an element on a list belongs to nobody (owner 0): see "Ownership"
	 * in slab.h; the store shares the 8 bytes the link is written to */
	for (uint32_t i = 0; i < n; i++) {
		atomic_store_explicit(&v->meta[idx[i]].owner, 0, memory_order_relaxed);
		if (i + 1 < n)
			atomic_store_explicit(&v->meta[idx[i]].next, idx[i + 1],
					      memory_order_relaxed);
	}
}

/* Attempts at a list word before giving up: each failed one means the
 * word changed, which honest pushers do a few times at most in a row; a
 * process that rewrites the word without end must not hold the daemon (or
 * another client) in the loop for ever. */
#define SLAB_CAS_TRIES 100000u

/* Push a linked chain {head..tail, n} onto @box.  Return 0, or -EBUSY when
 * the word kept changing (the chain is still the caller's). */
static int chain_push(const struct slab_view *v, _Atomic uint64_t *box,
		      uint32_t head, uint32_t tail, uint32_t n)
{
	uint64_t old = atomic_load_explicit(box, memory_order_relaxed);

	for (uint32_t tries = 0; tries < SLAB_CAS_TRIES; tries++) {
		atomic_store_explicit(&v->meta[tail].next, slab_list_head(old),
				      memory_order_relaxed);
		/* release: publishes the links and the elements' contents;
		 * pairs with the acquire exchange in slab_list_take() and
		 * list_take_word() */
		if (atomic_compare_exchange_weak_explicit(
			    box, &old, slab_list_word(head, slab_list_len(old) + n),
			    memory_order_release, memory_order_relaxed))
			return 0;
	}
	return -EBUSY;
}

/**
 * slab_list_push() - push elements onto an inbox or outbox.
 * @v: pool view.
 * @box: &slab->inbox or &slab->outbox.
 * @idx: element indices (caller-owned, bounds-checked).
 * @n: how many; 0 is a no-op.
 *
 * Context: async-signal-safe, lock-free; any process.
 * Return: 0, -EINVAL for an index past the pool, or -EBUSY when the list
 * word kept changing under SLAB_CAS_TRIES attempts (a process rewriting
 * it): the elements are still the caller's.
 */
int slab_list_push(const struct slab_view *v, _Atomic uint64_t *box,
		   const uint32_t *idx, uint32_t n)
{
	if (n == 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (idx[i] >= v->max_elems)
			return -EINVAL;
	slab_tsan_release(v);
	chain_link(v, idx, n);
	return chain_push(v, box, idx[0], idx[n - 1], n);
}

static uint64_t list_take_word(const struct slab_view *v, _Atomic uint64_t *box)
{
	/* acquire: pairs with the release CAS in chain_push() */
	uint64_t w = atomic_exchange_explicit(box, SLAB_LIST_EMPTY, memory_order_acquire);

	/* the chain may have been pushed by another process (through the
	 * daemon), which ThreadSanitizer cannot see: tell it */
	slab_tsan_acquire(v);
	return w;
}

/* The link of an element chain_walk() took: not an index, so that the
 * walk knows an element it meets again (a loop in a corrupt chain). */
#define SLAB_WALKED (SLAB_NIL - 1)

/* Walk up to @max elements of the chain starting at @head (length @len)
 * into @buf.  Return the number walked, or -EUCLEAN if the chain leaves
 * the published elements, ends early, is longer than the pool or meets an
 * element twice. *ret_rest is the head of what was not walked (SLAB_NIL if
 * all).  The chain is ours (taken off its list): each element walked has
 * its link replaced by SLAB_WALKED, as it leaves the chain anyway. */
static int chain_walk(const struct slab_view *v, uint32_t head, uint32_t len,
		      uint32_t *buf, uint32_t max, uint32_t *ret_rest)
{
	uint64_t pub = published(v);
	uint32_t n = 0, cur = head;

	if (len > pub)
		return -EUCLEAN;
	while (n < len && n < max) {
		if (cur >= pub)
			return -EUCLEAN;
		uint32_t next = atomic_load_explicit(&v->meta[cur].next, memory_order_relaxed);
		if (next == SLAB_WALKED)
			return -EUCLEAN;   /* met again: a loop */
		atomic_store_explicit(&v->meta[cur].next, SLAB_WALKED, memory_order_relaxed);
		buf[n++] = cur;
		/* taken off a list: ours now, in case we die holding it */
		atomic_store_explicit(&v->meta[cur].owner, v->owner, memory_order_relaxed);
		cur = next;
	}
	if (n == len && cur != SLAB_NIL)
		return -EUCLEAN;   /* longer than it says: a loop or a lie */
	*ret_rest = cur;
	return (int)n;
}

/* Put back an unwalked chain {head, len} whose tail is unknown: install it
 * if the box is empty (the common case); otherwise take what is there,
 * append it to our chain by walking it (it is the short one: it was pushed
 * since we took), and try again. */
static void chain_put_back(const struct slab_view *v, _Atomic uint64_t *box,
			   uint32_t head, uint32_t len)
{
	slab_tsan_release(v);
	SLAB_HOOK("put_back");
	/* each round takes a chain someone pushed meanwhile, so our chain
	 * grows and the bound on its length ends the loop; the cap on rounds
	 * is for a word rewritten without end */
	for (uint32_t round = 0; len && round < SLAB_CAS_TRIES; round++) {
		uint64_t empty = SLAB_LIST_EMPTY;

		/* release: as in chain_push() */
		if (atomic_compare_exchange_strong_explicit(
			    box, &empty, slab_list_word(head, len),
			    memory_order_release, memory_order_relaxed))
			return;
		uint64_t w = list_take_word(v, box);
		uint32_t oh = slab_list_head(w), ol = slab_list_len(w), t = oh;
		/* read after the take: the daemon publishes new elements before
		 * it pushes them, and the take's acquire sees that */
		uint64_t pub = published(v);

		if (ol == 0) {
			if (oh == SLAB_NIL)
				continue;   /* taken meanwhile: empty again */
			return;             /* {head, 0}: not a list; ours is lost */
		}
		if ((uint64_t)len + ol > pub)
			t = SLAB_NIL;   /* longer than the pool: corrupt */
		/* find the tail of the other chain, bounded by its length
		 * (and so by the pool's size) */
		for (uint32_t i = 1; i < ol && t < pub; i++)
			t = atomic_load_explicit(&v->meta[t].next, memory_order_relaxed);
		if (t >= pub) {
			/* corrupt: put it back for the daemon to find (and
			 * quarantine the pool); ours is lost with the pool */
			empty = SLAB_LIST_EMPTY;
			atomic_compare_exchange_strong_explicit(box, &empty, w,
								memory_order_relaxed,
								memory_order_relaxed);
			return;
		}
		atomic_store_explicit(&v->meta[t].next, head, memory_order_relaxed);
		head = oh;
		len += ol;
	}
}

/**
 * slab_list_take() - take up to @max elements from an inbox or outbox.
 * @v: pool view.
 * @box: the list word.
 * @buf: receives the indices.
 * @max: capacity of @buf; what does not fit is put back on @box.
 * @ret_n: number of indices written to @buf.
 *
 * Context: async-signal-safe, lock-free; any process.
 * Return: 0, or -EUCLEAN if the list is corrupt (then *ret_n holds what was
 * read before the corruption and the rest of the list is dropped).
 */
int slab_list_take(const struct slab_view *v, _Atomic uint64_t *box,
		   uint32_t *buf, uint32_t max, uint32_t *ret_n)
{
	uint64_t w = list_take_word(v, box);
	uint32_t len = slab_list_len(w), rest;
	int n;

	*ret_n = 0;
	if (len == 0)
		return 0;
	n = chain_walk(v, slab_list_head(w), len, buf, max, &rest);
	if (n < 0)
		return n;
	*ret_n = (uint32_t)n;
	if ((uint32_t)n < len)
		chain_put_back(v, box, rest, len - (uint32_t)n);
	return 0;
}

/**
 * slab_chain_take() - take a whole list, to walk it with slab_chain_next().
 * @v: pool view.
 * @box: the list word.
 * @ret_chain: receives the list's head and length (length 0: empty).
 *
 * For the daemon, which walks what it takes to the end and so never puts
 * anything back: the work of a take is bounded by the list's length, and
 * that by the published elements, whatever a client writes meanwhile.
 *
 * Context: async-signal-safe, lock-free; any process.
 */
void slab_chain_take(const struct slab_view *v, _Atomic uint64_t *box,
		     struct slab_chain *ret_chain)
{
	uint64_t w = list_take_word(v, box);

	ret_chain->head = slab_list_head(w);
	ret_chain->len = slab_list_len(w);
}

/**
 * slab_chain_next() - the next elements of a chain slab_chain_take() took.
 * @v: pool view.
 * @ch: the chain; advanced past what is returned.
 * @buf: receives the indices.
 * @max: capacity of @buf (at least 1).
 * @ret_n: number of indices written to @buf (0 once @ch is empty).
 *
 * Return: 0, or -EUCLEAN if the chain is corrupt (it leaves the published
 * elements, ends early, is longer than it says or loops): then nothing is
 * returned and the rest of the chain is dropped (ch->len is 0).
 */
int slab_chain_next(const struct slab_view *v, struct slab_chain *ch, uint32_t *buf,
		    uint32_t max, uint32_t *ret_n)
{
	uint32_t rest;
	int n;

	*ret_n = 0;
	if (ch->len == 0)
		return 0;
	n = chain_walk(v, ch->head, ch->len, buf, max, &rest);
	if (n < 0) {
		ch->len = 0;
		return n;
	}
	ch->head = rest;
	ch->len -= (uint32_t)n;
	*ret_n = (uint32_t)n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* rseq sections used by the slow paths                                */

#ifdef SLAB_HAVE_RSEQ
/* The sections below enter like the hit path's (pcpupool.h), with the view
 * as the struct pcpupool_fast it starts with, but check the CPU against
 * rseq_cpus, which does not depend on the elements' alignment; leaving for
 * "slow" means rseq cannot be used here.  They read the view's second line
 * too, which their "memory" clobber covers. */

enum { POP_OK, POP_EMPTY, POP_NOCPU, POP_DISCARDED };

/* Pop the top of the current CPU's slab whatever its low watermark; a top
 * slot that is not an element's start is dropped instead (committed as a
 * count - 1 that is no operation).  *ret_left: the count after the pop. */
static int rseq_pop(const struct slab_view *v, uint32_t *ret_idx, uint32_t *ret_left,
		    struct slab **ret_slab)
{
	uint64_t delta, cnt, idx;
	uintptr_t slab;

	__asm__ goto(
		PCPUPOOL__SECTION_ENTER
		"movq (%%rcx), %%r10\n\t"              /* count word */
		"movzwl %%r10w, %%edi\n\t"             /* count */
		"testl %%edi, %%edi\n\t"
		"jz %l[empty]\n\t"
		"cmpl %c[v_cap](%[f]), %%edi\n\t"      /* past the capacity: corrupt, */
		"ja %l[empty]\n\t"                     /* the daemon's sweep reports it */
		"movq $0xffff, %%r9\n\t"               /* a pop (see pcpupool.h) */
		"movl 188(%%rcx,%%rdi,4), %%eax\n\t"   /* slots[count - 1] */
		PCPUPOOL__CHECK_OFF_TO("6f")
		PCPUPOOL__POP_MARK_OWNER
		"jmp 7f\n\t"
		"6:\n\t"
		"movq $-1, %%r9\n\t"                   /* not an element: drop it */
		"7:\n\t"
		"subl $1, %%edi\n\t"
		"addq %%r9, %%r10\n\t"
		"movq %%r10, (%%rcx)\n\t"              /* commit */
		"2:\n\t"
		"movq %%rdx, %[idx]\n\t"
		"movq %%r9, %[delta]\n\t"
		"movq %%rdi, %[cnt]\n\t"
		"movq %%rcx, %[slab]\n\t"
		: [idx] "=m"(idx), [delta] "=m"(delta), [cnt] "=m"(cnt), [slab] "=m"(slab)
		: SLAB_SECTION_OPERANDS(v),
		  [v_cap] "i"(offsetof(struct slab_view, slab_cap)), PCPUPOOL__ELEM_OPERANDS
		: "rax", "rcx", "rdx", "rsi", "rdi", "r9", "r10", "memory", "cc"
		: slow, empty);
	*ret_slab = (struct slab *)slab;
	*ret_left = (uint32_t)cnt;
	if (delta != 0xffff) {
		atomic_fetch_add_explicit(&((struct slab *)slab)->discarded, 1,
					  memory_order_relaxed);
		return POP_DISCARDED;
	}
	*ret_idx = (uint32_t)idx;
	return POP_OK;
slow:
	return POP_NOCPU;
empty:
	return POP_EMPTY;
}

/* Copy buf[0..n) (element offsets) above the current CPU's count, as many
 * as fit below cap, and commit count += k.  Returns k (0 with *ret_slab
 * NULL when rseq is not usable here). */
static uint32_t rseq_splice(const struct slab_view *v, const uint32_t *buf,
			    uint32_t n, struct slab **ret_slab)
{
	uint32_t k;
	uintptr_t slab, tmp, tmp2;

	__asm__ __volatile__(
		PCPUPOOL__SECTION_ENTER_TO("5f")
		"movq (%%rcx), %%r10\n\t"             /* count word */
		"movl %c[v_cap](%[f]), %%edx\n\t"     /* cap */
		"movzwl %%r10w, %%edi\n\t"            /* count */
		"cmpl %%edx, %%edi\n\t"               /* count > cap: corrupt */
		"ja 6f\n\t"
		"subl %%edi, %%edx\n\t"               /* room = cap - count */
		"cmpl %[n], %%edx\n\t"
		"cmoval %[n], %%edx\n\t"              /* k = min(room, n) */
		"xorl %%r8d, %%r8d\n\t"
		"8:\n\t"
		"cmpl %%edx, %%r8d\n\t"
		"jae 9f\n\t"
		"movl (%[buf],%%r8,4), %%eax\n\t"
		"leaq (%%rdi,%%r8), %%r9\n\t"
		"movl %%eax, 192(%%rcx,%%r9,4)\n\t"   /* slots[count + i] */
		"addl $1, %%r8d\n\t"
		"jmp 8b\n\t"
		"9:\n\t"
		"addq %%rdx, %%r10\n\t"
		"movq %%r10, (%%rcx)\n\t"             /* commit: count += k */
		"2:\n\t"
		"jmp 7f\n\t"
		"6:\n\t"
		"xorl %%edx, %%edx\n\t"
		"jmp 7f\n\t"
		"5:\n\t"
		"xorl %%edx, %%edx\n\t"
		"xorl %%ecx, %%ecx\n\t"
		"7:\n\t"
		: "=&d"(k), "=&c"(slab), "=&a"(tmp), "=&D"(tmp2)
		: SLAB_SECTION_OPERANDS(v), [buf] "r"(buf), [n] "r"(n),
		  [v_cap] "i"(offsetof(struct slab_view, slab_cap))
		: "rsi", "r8", "r9", "r10", "memory", "cc");
	(void)tmp; (void)tmp2;
	*ret_slab = (struct slab *)slab;
	return k;
}

/* Move the top of the current CPU's slab down to limit/2 (at most @max
 * slots) into buf (as offsets), marking each element ours; commit count -=
 * k.  Returns k; *ret_slab is the slab (NULL when rseq is not usable
 * here). */
static uint32_t rseq_spill(const struct slab_view *v, uint32_t *buf, uint32_t max,
			   struct slab **ret_slab)
{
	uint32_t k;
	uintptr_t slab, tmp, tmp2;

	__asm__ __volatile__(
		PCPUPOOL__SECTION_ENTER_TO("5f")
		"movq (%%rcx), %%r10\n\t"             /* count word */
		"movl 8(%%rcx), %%esi\n\t"            /* limit */
		"shrl $1, %%esi\n\t"                  /* target = limit / 2 */
		"movzwl %%r10w, %%edi\n\t"            /* count */
		"cmpl %c[v_cap](%[f]), %%edi\n\t"     /* count > cap: corrupt */
		"ja 6f\n\t"
		"subl %%esi, %%edi\n\t"               /* k = count - target */
		"jbe 6f\n\t"
		"cmpl %[max], %%edi\n\t"
		"cmoval %[max], %%edi\n\t"            /* k = min(k, max) */
		"subq %%rdi, %%r10\n\t"               /* the new count word */
		"movzwl %%r10w, %%esi\n\t"            /* the new count */
		"xorl %%r8d, %%r8d\n\t"
		"8:\n\t"
		"cmpl %%edi, %%r8d\n\t"
		"jae 9f\n\t"
		"leaq (%%rsi,%%r8), %%r9\n\t"
		"movl 192(%%rcx,%%r9,4), %%eax\n\t"
		"movl %%eax, (%[buf],%%r8,4)\n\t"
		PCPUPOOL__CHECK_OFF_TO("10f")          /* index, if an element's start */
		"movq %c[f_meta](%[f]), %%rax\n\t"
		"movl %c[f_owner](%[f]), %%r9d\n\t"
		"movl %%r9d, 4(%%rax,%%rdx,8)\n\t"    /* spilled: owner = us */
		"10:\n\t"
		"addl $1, %%r8d\n\t"
		"jmp 8b\n\t"
		"9:\n\t"
		"movq %%r10, (%%rcx)\n\t"             /* commit: count -= k */
		"2:\n\t"
		"movl %%edi, %%edx\n\t"
		"jmp 7f\n\t"
		"6:\n\t"
		"xorl %%edx, %%edx\n\t"
		"jmp 7f\n\t"
		"5:\n\t"
		"xorl %%edx, %%edx\n\t"
		"xorl %%ecx, %%ecx\n\t"
		"7:\n\t"
		: "=&d"(k), "=&c"(slab), "=&a"(tmp), "=&D"(tmp2)
		: SLAB_SECTION_OPERANDS(v), [buf] "r"(buf), [max] "r"(max),
		  [v_cap] "i"(offsetof(struct slab_view, slab_cap)), PCPUPOOL__ELEM_OPERANDS
		: "rsi", "r8", "r9", "r10", "memory", "cc");
	(void)tmp; (void)tmp2;
	*ret_slab = (struct slab *)slab;
	return k;
}
#else
enum { POP_OK, POP_EMPTY, POP_NOCPU, POP_DISCARDED };
static int rseq_pop(const struct slab_view *v, uint32_t *ret_idx, uint32_t *ret_left,
		    struct slab **ret_slab)
{
	(void)v; (void)ret_idx; (void)ret_left;
	*ret_slab = NULL;
	return POP_NOCPU;
}
static uint32_t rseq_splice(const struct slab_view *v, const uint32_t *buf,
			    uint32_t n, struct slab **ret_slab)
{
	(void)v; (void)buf; (void)n;
	*ret_slab = NULL;
	return 0;
}
static uint32_t rseq_spill(const struct slab_view *v, uint32_t *buf, uint32_t max,
			   struct slab **ret_slab)
{
	(void)v; (void)buf; (void)max;
	*ret_slab = NULL;
	return 0;
}
#endif

/* ------------------------------------------------------------------ */
/* client slow paths                                                   */

/**
 * slab_current_cpu() - the slab index for the calling thread.
 * @v: pool view.
 *
 * rseq's cpu_id where registered, else sched_getcpu() (vDSO), folded into
 * the pool's CPU range.
 *
 * Context: async-signal-safe.
 * Return: a slab index below v->nr_cpus.
 */
int slab_current_cpu(const struct slab_view *v)
{
	int cpu = -1;

#ifdef SLAB_HAVE_RSEQ
	if (v->rseq_cpus) {
		/* struct rseq's cpu_id, at thread pointer + __rseq_offset */
		uint32_t id;
		__asm__ __volatile__("movl %%fs:4(%1), %0" : "=r"(id) : "r"(v->rseq_off));
		cpu = (int)id;
	}
#endif
	if (cpu < 0)
		cpu = sched_getcpu();
	if (cpu < 0)
		cpu = 0;
	return (int)((uint32_t)cpu % v->nr_cpus);
}

static int slab_index(const struct slab_view *v, const struct slab *s)
{
	return (int)(((const char *)s - v->slabs) / v->slab_stride);
}

/* CLOCK_MONOTONIC in ns (the daemon's clock too). */
uint64_t slab_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);   /* vDSO: no syscall, signal-safe */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Raise @s's request flag for a message: true if the caller sends it,
 * false if one is already on its way (coalesced).  A flag raised quietly
 * (slab_request_quiet()) is taken over: the reserve needs more than the
 * poll's pace now. */
static bool slab_request(const struct slab_view *v, struct slab *s)
{
	(void)v;
	/* seq_cst: orders this exchange after the level we read and before
	 * the request; pairs with the daemon's store of 0 in
	 * slab_claim_request(), which it makes before reading levels */
	uint32_t old = atomic_exchange_explicit(&s->refill_pending, SLAB_REQ_SENT,
						memory_order_seq_cst);

	if (old == SLAB_REQ_SENT) {
		atomic_fetch_add_explicit(&s->refill_coalesced, 1, memory_order_relaxed);
		return false;
	}
	if (old == 0)
		atomic_store_explicit(&s->pending_since_ns, slab_now_ns(), memory_order_relaxed);
	atomic_fetch_add_explicit(&s->refill_requests, 1, memory_order_relaxed);
	return true;
}

/* A request the spare has already covered: raise the flag quietly, and
 * send nothing while the daemon polls the flags.  True if the caller
 * must send after all (the daemon does not poll).
 *
 * The daemon stops polling by storing 0 and then reading every flag
 * (slab_poll_set(), slab_request_raised()); this side raises the flag and
 * then reads polling, both seq_cst, so at least one of the two sees the
 * other and no request is left unserved. */
static bool slab_request_quiet(const struct slab_view *v, struct slab *s)
{
	uint32_t none = 0;

	if (!atomic_compare_exchange_strong_explicit(&s->refill_pending, &none, SLAB_REQ_QUIET,
						     memory_order_seq_cst,
						     memory_order_relaxed)) {
		atomic_fetch_add_explicit(&s->refill_coalesced, 1, memory_order_relaxed);
		return false;
	}
	atomic_store_explicit(&s->pending_since_ns, slab_now_ns(), memory_order_relaxed);
	if (atomic_load_explicit(&v->hdr->polling, memory_order_seq_cst)) {
		atomic_fetch_add_explicit(&s->refill_quiet, 1, memory_order_relaxed);
		return false;
	}
	return slab_request(v, s);
}

/**
 * slab_low_check() - a pop left @left elements in @s, below its low
 * watermark: decide whether this caller sends the refill request.
 * @v: pool view.
 * @s: the slab.
 * @left: its count after the pop.
 *
 * Context: async-signal-safe, lock-free.
 * Return: the CPU to request a refill for, or -1 (inbox still holds a
 * reserve, or a request is already pending).
 */
int slab_low_check(const struct slab_view *v, struct slab *s, uint32_t left)
{
	if (left >= s->low ||
	    slab_list_len(atomic_load_explicit(&s->inbox, memory_order_relaxed)))
		return -1;
	return slab_low_refill(v, (uint32_t)slab_index(v, s), left);
}

/* Move the whole spare list onto CPU @c's inbox: one exchange takes it,
 * and it goes onto the inbox as it is (the inbox is empty when a reserve
 * crosses its watermark, so that is one more exchange; else the inbox's
 * chain is walked and put in front).  Nothing walks the spare here: the
 * inbox's taker checks it.  Off both lists it belongs to nobody for those
 * few instructions, like any list in a take (see "Ownership" in slab.h).
 * Return: how many. */
static uint32_t take_spare(const struct slab_view *v, uint32_t c)
{
	uint64_t w;

	if (slab_list_len(atomic_load_explicit(&v->hdr->spare, memory_order_relaxed)) == 0)
		return 0;
	w = list_take_word(v, &v->hdr->spare);
	if (slab_list_len(w) == 0)
		return 0;
	chain_put_back(v, &slab_of(v, c)->inbox, slab_list_head(w), slab_list_len(w));
	atomic_fetch_add_explicit(&slab_of(v, c)->from_spare, slab_list_len(w),
				  memory_order_relaxed);
	return slab_list_len(w);
}

/**
 * slab_low_refill() - CPU @c's reserve is down to @level, under its low
 * watermark: refill it from the spare at once (all of it: up to min_nr
 * elements), and raise the CPU's request so the daemon restocks the spare
 * (and covers whatever the spare could not).
 * @v: pool view.
 * @c: slab index.
 * @level: the reserve's level.
 *
 * When the spare brought the reserve back to its watermark, the request
 * is raised quietly: while the daemon polls, its next poll serves it and
 * nothing is sent.
 *
 * Context: async-signal-safe, lock-free, no syscall.
 * Return: @c if the caller must send the request, -1 if one is pending or
 * left to the daemon's poll.
 */
int slab_low_refill(const struct slab_view *v, uint32_t c, uint32_t level)
{
	uint32_t min_nr = atomic_load_explicit(&v->hdr->min_nr, memory_order_relaxed);
	struct slab *s = slab_of(v, c);
	uint32_t got = 0;

	if (min_nr > level)
		got = take_spare(v, c);
	if (got && level + got >= __atomic_load_n(&s->low, __ATOMIC_RELAXED))
		return slab_request_quiet(v, s) ? (int)c : -1;
	return slab_request(v, s) ? (int)c : -1;
}

/* Splice buf[0..n) (element indices) into the current CPU's slab; what
 * does not fit stays in buf (as indices) from the returned count on. */
static uint32_t splice_indices(const struct slab_view *v, uint32_t *buf, uint32_t n,
			       struct slab **ret_slab)
{
	uint32_t k;

	for (uint32_t i = 0; i < n; i++)
		buf[i] = slab_off_of(v, buf[i]);
	slab_tsan_release(v);
	k = rseq_splice(v, buf, n, ret_slab);
	for (uint32_t i = k; i < n; i++)
		buf[i] /= v->elem_stride;
	if (k)
		atomic_fetch_add_explicit(&(*ret_slab)->spliced, k, memory_order_relaxed);
	return k;
}

/* Take the inbox of slab @c; hand out the first element, splice the rest
 * into the current CPU's slab (rseq) or put it back. */
static uint32_t take_from_inbox(const struct slab_view *v, uint32_t c, bool use_rseq,
				int *refill_cpu)
{
	struct slab *victim = slab_of(v, c);
	uint32_t buf[SLAB_BATCH_MAX], n = 0, k = 0;
	struct slab *s = NULL;

	if (slab_list_len(atomic_load_explicit(&victim->inbox, memory_order_relaxed)) == 0)
		return SLAB_NIL;
	if (slab_list_take(v, &victim->inbox, buf, use_rseq ? SLAB_BATCH_MAX : 1, &n) < 0 ||
	    n == 0)
		return SLAB_NIL;
	atomic_store_explicit(&v->meta[buf[0]].owner, v->owner, memory_order_relaxed);
	if (n > 1 && use_rseq)
		k = splice_indices(v, buf + 1, n - 1, &s);
	if (1 + k < n)
		slab_list_push(v, &victim->inbox, buf + 1 + k, n - 1 - k);
	/* what is left on the CPU we drew from */
	if (s) {
		uint64_t cw = __atomic_load_n(&s->cw, __ATOMIC_RELAXED);
		int r = slab_low_check(v, s, SLAB_CW_COUNT(cw));

		if (r >= 0)
			*refill_cpu = r;
	} else if (!use_rseq) {
		uint64_t w = atomic_load_explicit(&victim->inbox, memory_order_relaxed);
		int r = slab_list_len(w) < victim->low ? slab_low_refill(v, c, slab_list_len(w)) : -1;

		if (r >= 0)
			*refill_cpu = r;
	}
	return buf[0];
}

/**
 * slab_alloc_slow() - an element when the hit path could not give one: pop
 * whatever the current CPU's slab holds (asking for a refill when that
 * takes it under its low watermark), else its inbox, else the other CPUs'
 * inboxes.
 * @v: pool view.
 *
 * Context: async-signal-safe, lock-free, no syscall, never blocks.
 * Return: .idx the element or SLAB_NIL when every reserve it can reach is
 * empty; .refill_cpu the CPU whose refill the caller should request, or -1.
 */
struct slab_alloc_res slab_alloc_slow(const struct slab_view *v)
{
	struct slab_alloc_res r = { SLAB_NIL, -1 };
	uint32_t idx = SLAB_NIL, left = 0;
	struct slab *s;
	int st;

	/* every discarded slot shortens the slab, so at most a slab's worth
	 * are dropped, unless a process keeps rewriting the count: then the
	 * slab is as good as empty */
	st = rseq_pop(v, &idx, &left, &s);
	for (uint32_t i = 0; st == POP_DISCARDED && i <= v->slab_cap; i++)
		st = rseq_pop(v, &idx, &left, &s);
	if (st == POP_DISCARDED)
		st = POP_EMPTY;
	if (st == POP_OK) {
		slab_tsan_acquire(v);
		r.idx = idx;
		if (left < s->low)
			r.refill_cpu = slab_low_check(v, s, left);
		return r;
	}

	bool use_rseq = st == POP_EMPTY;
	uint32_t cpu = (uint32_t)slab_current_cpu(v);

	r.idx = take_from_inbox(v, cpu, use_rseq, &r.refill_cpu);
	if (r.idx == SLAB_NIL) {
		/* the reserve is dry: the spare refills it before anything is
		 * stolen from the other CPUs */
		int rc = slab_low_refill(v, cpu, 0);

		if (rc >= 0)
			r.refill_cpu = rc;
		r.idx = take_from_inbox(v, cpu, use_rseq, &r.refill_cpu);
	}
	for (uint32_t i = 1; i < v->nr_cpus && r.idx == SLAB_NIL; i++) {
		uint32_t c = (cpu + i) % v->nr_cpus;
		r.idx = take_from_inbox(v, c, use_rseq, &r.refill_cpu);
		if (r.idx != SLAB_NIL)
			atomic_fetch_add_explicit(&slab_of(v, c)->steals, 1, memory_order_relaxed);
	}
	if (r.idx == SLAB_NIL) {
		/* every reachable reserve is dry: count the miss and make sure
		 * our CPU's refill is on its way (coalesced like any other) */
		s = slab_of(v, cpu);
		atomic_fetch_add_explicit(&s->misses, 1, memory_order_relaxed);
		if (r.refill_cpu < 0 && slab_request(v, s))
			r.refill_cpu = (int)cpu;
	}
	return r;
}

/**
 * slab_free_slow() - free when the hit path could not: spill the top of a
 * full slab to its outbox, then push; or, without rseq, push onto the
 * current CPU's inbox.
 * @v: pool view.
 * @idx: the element (checked: anything else is dropped).
 *
 * Context: async-signal-safe, lock-free, no syscall; never fails.
 */
void slab_free_slow(const struct slab_view *v, uint32_t idx)
{
	uint32_t buf[SLAB_BATCH_MAX];
	struct slab *s = NULL;
	uint32_t k;

	if (idx >= v->max_elems)
		return;  /* not ours: dropping it is all that is safe */
	k = rseq_spill(v, buf, SLAB_BATCH_MAX, &s);
	if (!s) {
		/* no rseq here: the lists alone */
		slab_list_push(v, &slab_of(v, (uint32_t)slab_current_cpu(v))->inbox, &idx, 1);
		return;
	}
	slab_tsan_acquire(v);
	if (k) {
		uint32_t n = 0;

		atomic_fetch_add_explicit(&s->spilled, k, memory_order_relaxed);
		for (uint32_t i = 0; i < k; i++) {
			uint32_t e = slab_idx_of_off(v, buf[i]);

			if (e != SLAB_NIL)
				buf[n++] = e;
		}
		if (n)
			slab_list_push(v, &s->outbox, buf, n);
	}
	slab_tsan_release(v);
	if (slab_hit_push(v, slab_elem(v, idx), slab_off_of(v, idx)))
		return;
	/* limit 0 (trimmed to nothing), or migrated onto a full slab or off
	 * rseq: the element goes back to the daemon directly */
	slab_list_push(v, &s->outbox, &idx, 1);
}

/* ------------------------------------------------------------------ */
/* daemon side                                                         */

/**
 * slab_count() - elements in CPU @cpu's slab (a snapshot).
 * @v: pool view.
 * @cpu: slab index below v->nr_cpus.
 *
 * Return: the count, clamped to the slab's capacity (untrusted memory).
 */
uint32_t slab_count(const struct slab_view *v, uint32_t cpu)
{
	uint32_t c = SLAB_CW_COUNT(__atomic_load_n(&slab_of(v, cpu)->cw, __ATOMIC_RELAXED));

	return c > v->slab_cap ? v->slab_cap : c;
}

/**
 * slab_cpu_counts() - allocations and frees the sections made on CPU @cpu's
 * slab since the pool was created (a snapshot).
 * @v: pool view.
 * @cpu: slab index.
 * @ret_allocs: pops.
 * @ret_frees: pushes.
 *
 * The count word's ops field is pops + pushes, and its count is pushes -
 * pops + spliced - spilled - discarded; those three are added after their
 * section commits, so a snapshot taken in between (or left by a client
 * killed there) is off by half a batch at most, never negative.
 */
void slab_cpu_counts(const struct slab_view *v, uint32_t cpu, uint64_t *ret_allocs,
		     uint64_t *ret_frees)
{
	struct slab *s = slab_of(v, cpu);
	uint64_t cw = __atomic_load_n(&s->cw, __ATOMIC_RELAXED);
	uint64_t ops = SLAB_CW_OPS(cw);
	/* the counters are client-written: 128 bits, so no value of them
	 * overflows (ops < 2^48, each counter < 2^64) */
	__int128 net = (__int128)SLAB_CW_COUNT(cw) -
		(__int128)atomic_load_explicit(&s->spliced, memory_order_relaxed) +
		(__int128)atomic_load_explicit(&s->spilled, memory_order_relaxed) +
		(__int128)atomic_load_explicit(&s->discarded, memory_order_relaxed);
	__int128 allocs = ((__int128)ops - net) / 2;

	if (allocs < 0)
		allocs = 0;
	if (allocs > (__int128)ops)
		allocs = (__int128)ops;
	*ret_allocs = (uint64_t)allocs;
	*ret_frees = ops - (uint64_t)allocs;
}

/**
 * slab_level() - CPU @cpu's reserve: its slab plus its inbox (a snapshot).
 * @v: pool view.
 * @cpu: slab index.
 *
 * Return: the element count.
 */
uint32_t slab_level(const struct slab_view *v, uint32_t cpu)
{
	uint64_t w = atomic_load_explicit(&slab_of(v, cpu)->inbox, memory_order_relaxed);

	return slab_count(v, cpu) + slab_list_len(w);
}

/**
 * slab_set_limits() - set CPU @cpu's low watermark and spill limit.
 * @v: pool view.
 * @cpu: slab index.
 * @low: pops that leave fewer than this ask for a refill.
 * @limit: frees spill to the outbox when the slab holds this many (clamped
 *         to the capacity); lowering it trims the slab at its next free.
 *
 * Context: daemon.
 */
void slab_set_limits(const struct slab_view *v, uint32_t cpu, uint32_t low, uint32_t limit)
{
	struct slab *s = slab_of(v, cpu);

	if (limit > v->slab_cap)
		limit = v->slab_cap;
	__atomic_store_n(&s->low, low, __ATOMIC_RELAXED);
	__atomic_store_n(&s->limit, limit, __ATOMIC_RELAXED);
}

/**
 * slab_claim_request() - acknowledge CPU @cpu's refill request and compute
 * how many elements bring its reserve up to @target.
 * @v: pool view.
 * @cpu: slab index.
 * @target: wanted level (min_nr).
 * @ret_wait_ns: how long the request had been pending (0 if none was).
 *
 * The pending flag is cleared before the level is read, so a client that
 * drains the slab after this read sends a new request.
 *
 * Context: daemon.
 * Return: the deficit (0 if none).
 */
uint32_t slab_claim_request(const struct slab_view *v, uint32_t cpu, uint32_t target,
			    uint64_t *ret_wait_ns)
{
	struct slab *s = slab_of(v, cpu);

	*ret_wait_ns = 0;
	if (atomic_load_explicit(&s->refill_pending, memory_order_acquire)) {
		uint64_t since = atomic_load_explicit(&s->pending_since_ns, memory_order_relaxed);
		uint64_t now = slab_now_ns();
		*ret_wait_ns = since && since <= now ? now - since : 0;
	}
	/* seq_cst: the clear must be ordered before the level loads below;
	 * pairs with the acq_rel exchange in slab_low_check() */
	atomic_store_explicit(&s->refill_pending, 0, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	uint32_t level = slab_level(v, cpu);
	return target > level ? target - level : 0;
}

/**
 * slab_request_raised() - whether CPU @cpu's request flag is up (a
 * request is out, or a crossing left it to the daemon's poll).
 * @v: pool view.
 * @cpu: slab index.
 *
 * Context: daemon.
 */
bool slab_request_raised(const struct slab_view *v, uint32_t cpu)
{
	return atomic_load_explicit(&slab_of(v, cpu)->refill_pending, memory_order_seq_cst);
}

/**
 * slab_poll_set() - tell the clients whether the daemon polls the request
 * flags (slab_hdr.polling).
 * @v: pool view.
 * @on: true from now on, false: from now on every crossing sends.
 *
 * Turning it off, the caller must then look at every flag once more
 * (slab_request_raised()): the store and the fence here order that look
 * after the store, against a client's raise-then-read in
 * slab_request_quiet().
 *
 * Context: daemon.
 */
void slab_poll_set(const struct slab_view *v, bool on)
{
	atomic_store_explicit(&v->hdr->polling, on, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
}

/**
 * slab_refill() - publish elements to CPU @cpu's reserve (its inbox).
 * @v: pool view.
 * @cpu: slab index.
 * @idx: elements taken from the depot.
 * @n: how many.
 *
 * Context: daemon, from any CPU.
 * Return: 0 or -EINVAL.
 */
int slab_refill(const struct slab_view *v, uint32_t cpu, const uint32_t *idx, uint32_t n)
{
	if (cpu >= v->nr_cpus)
		return -EINVAL;
	return slab_list_push(v, &slab_of(v, cpu)->inbox, idx, n);
}

/**
 * slab_drain_outbox() - take everything clients spilled from CPU @cpu.
 * @v: pool view.
 * @cpu: slab index.
 * @buf: receives the elements.
 * @max: capacity of @buf (the rest stays in the outbox).
 * @ret_n: elements written.
 *
 * Context: daemon, from any CPU.
 * Return: 0, or -EUCLEAN for a corrupt list.
 */
int slab_drain_outbox(const struct slab_view *v, uint32_t cpu, uint32_t *buf,
		      uint32_t max, uint32_t *ret_n)
{
	return slab_list_take(v, &slab_of(v, cpu)->outbox, buf, max, ret_n);
}

/**
 * slab_trim_inbox() - take CPU @cpu's unclaimed refill back.
 * @v: pool view.
 * @cpu: slab index.
 * @buf: receives the elements.
 * @max: capacity of @buf.
 * @ret_n: elements written.
 *
 * Context: daemon, from any CPU.
 * Return: 0, or -EUCLEAN for a corrupt list.
 */
int slab_trim_inbox(const struct slab_view *v, uint32_t cpu, uint32_t *buf,
		    uint32_t max, uint32_t *ret_n)
{
	return slab_list_take(v, &slab_of(v, cpu)->inbox, buf, max, ret_n);
}
