/* SPDX-License-Identifier: MIT */
/*
 * pcpupool/inline.h - the inline ABI of libpcpupool: the part of a pool
 * handle the inline fast path reads, and pcpupool_alloc()/pcpupool_free()
 * compiled into the caller where this architecture has sections
 * (pcpupool/rseq-<arch>.h).  Included by pcpupool.h; not for direct use.
 */
#ifndef PCPUPOOL_INLINE_H
#define PCPUPOOL_INLINE_H

/*
 * The inline fast path.
 *
 * pcpupool_alloc(pool, PCPUPOOL_NOWAIT) and pcpupool_free() compile into
 * the caller: one rseq critical section each on the current CPU's slab, no
 * call, no atomic read-modify-write.  Anything the section cannot do (the
 * slab under its low watermark, empty or full, rseq unusable, a foreign
 * pointer, an element another process held last) goes to the library
 * through pcpupool__alloc_miss() and pcpupool__free_miss(), which do the
 * whole job.  Taking the address of
 * pcpupool_alloc or pcpupool_free gives the library's out-of-line versions,
 * which behave the same.  Define PCPUPOOL_NO_INLINE before including this
 * header to call the library for everything.
 *
 * What the inline code reads is struct pcpupool_fast, the first bytes of
 * every pool handle, and the slab layout of pcpupoold's pools: the inline
 * ABI, version node PCPUPOOL_1.0 of the library.  A change to either keeps
 * what code built against this header reads working for it: such code
 * calls pcpupool__alloc_miss() and pcpupool__free_miss(), and a library
 * whose layout differs points pf_slabs at pages of zeros for it, so that
 * its sections always leave for the library: slower, never wrong.  Code
 * built against the changed header calls entry points of a new version
 * node, which an older library refuses to load.  Not for direct use.
 */
/* The CPU ids pf_slabs has a page for: pcpupoold's most.  An id past it
 * (or glibc's -1 and -2 where rseq is not registered) leaves the inline
 * sections at once.  pf_slabs has PCPUPOOL__SLABS_PAGES pages: one per id,
 * and the one after the last, into which the pop's slots[count - 1] can
 * reach (see PCPUPOOL__SLOT_MASK). */
#define PCPUPOOL__MAX_CPUS 4096
#define PCPUPOOL__SLABS_PAGES (PCPUPOOL__MAX_CPUS + 1)

struct pcpupool_fast {
	char *pf_slabs;        /* CPU n's slab, for every n below
				* PCPUPOOL__MAX_CPUS: pf_slabs + n * 4096; a
				* page of zeros (count, limit and low 0, which
				* every section leaves) where n has no slab
				* the inline sections may use, and after the
				* last */
	char *pf_elems;        /* the element at byte offset o: pf_elems + o;
				* 2^32-aligned where pf_slabs has slabs, so an
				* element's offset is its address's low half */
	char *pf_meta;         /* 8 bytes per element: {list link, owner} */
	intptr_t pf_rseq_off;  /* glibc's __rseq_offset: the library's
				* sections read it here, the inline ones
				* from glibc */
	uint64_t pf_div;       /* 2^64 / element stride, rounded down, + 1 */
	uint32_t pf_owner;     /* this process's owner mark */
	uint32_t pf_max_off;   /* offset of the last element */
	uint64_t pf_bound;     /* an offset o is an element's start exactly
				* when the low half of o * pf_div is at most
				* this: (elements - 1) * (pf_div * stride - 2^64) */
};

/* The library's path past the inline sections: the whole of
 * pcpupool_alloc() and of pcpupool_free() but the inline hit path. */
void *pcpupool__alloc_miss(struct pcpupool *pool, int flags) PCPUPOOL_WUR;
void pcpupool__free_miss(void *elem, struct pcpupool *pool);

/* The element a push gives away, as the section's memory operand, read
 * and written: the caller's loads from it and stores into it are then
 * all made before the section hands it over, with no "memory" clobber,
 * which would make the compiler reload everything it keeps in registers
 * (the pool pointer, say) around every call.  GCC takes an array of
 * unknown size; clang wants a complete type, and an element is at most
 * 2^30 bytes. */
#ifdef __clang__
struct pcpupool__elem_bytes {
	unsigned char pe_b[1u << 30];
};
#define PCPUPOOL__ELEM_MEM(p) (*(struct pcpupool__elem_bytes *)(p))
#else
#define PCPUPOOL__ELEM_MEM(p) (*(unsigned char (*)[])(p))
#endif

#if defined(__x86_64__)
#include "rseq-x86_64.h"
#endif

#ifdef PCPUPOOL_HAVE_SECTIONS
/* ThreadSanitizer cannot see inside the sections: there the library's
 * annotated functions are called instead. */
#if defined(__SANITIZE_THREAD__)
#define PCPUPOOL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PCPUPOOL__TSAN 1
#endif
#endif

#if !defined(PCPUPOOL_NO_INLINE) && !defined(PCPUPOOL__TSAN)
#ifdef PCPUPOOL__NO_NULL_CHECK
#define PCPUPOOL__NONNULL(p) 1
#else
#define PCPUPOOL__NONNULL(p) ((p) != 0)
#endif
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) void *
pcpupool_alloc(struct pcpupool *pool, int flags)
{
	void *p = 0;   /* set by the pop; -Og cannot tell */

	if (__builtin_expect(PCPUPOOL__NONNULL(pool) && (unsigned int)flags <= PCPUPOOL_WAIT &&
			     pcpupool__pop((const struct pcpupool_fast *)(void *)pool,
					   __rseq_offset, &p), 1))
		return p;
	return pcpupool__alloc_miss(pool, flags);
}

/* An element is pushed when its address is in the 4 GiB block of the
 * pool's elements (the same high half as pf_elems): its low half is then
 * its offset, and the pop checks every offset it takes.  An address there
 * that is not an element's start is dropped by the pop that meets it
 * (counted as discarded); any other address goes to the library, which
 * drops it: one compare with the handle. */

extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) void
pcpupool_free(void *elem, struct pcpupool *pool)
{
	const struct pcpupool_fast *f = (const struct pcpupool_fast *)(void *)pool;

	if (__builtin_expect(PCPUPOOL__NONNULL(pool) &&
			     pcpupool__push(f, __rseq_offset, elem, (uint32_t)(uintptr_t)elem), 1))
		return;
	pcpupool__free_miss(elem, pool);
}
#endif
#endif /* PCPUPOOL_HAVE_SECTIONS */

#endif /* PCPUPOOL_INLINE_H */
