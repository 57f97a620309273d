// SPDX-License-Identifier: MIT
/*
 * slab_view.c - a process's view of a mapped pool: built from one
 * validated copy of the header, the mapping itself, and the pages the
 * inline sections of pcpupool.h run on.
 * The design, invariants and memory-order pairings of the slab core are
 * described at the top of slab.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_impl.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6   /* linux/magic.h */
#endif


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

#ifdef SLAB_HAVE_RSEQ
/* zero_pages_map() at an address aligned to @align (a power of two): the
 * start the slabs of a hugetlbfs file can be mapped at. */
static char *huge_aligned_zero_pages_map(size_t align)
{
	size_t len = INLINE_PAGES_LEN + align;
	void *r = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *m, *end;

	if (r == MAP_FAILED)
		return NULL;
	m = (char *)(((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1));
	end = m + INLINE_PAGES_LEN;
	if (m > (char *)r)
		munmap(r, (size_t)(m - (char *)r));
	if (end < (char *)r + len)
		munmap(end, (size_t)((char *)r + len - end));
	return m;
}
#endif

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
 * The slabs of a pool on hugepages are mapped by whole hugepages, at an
 * aligned address, the pad past the last slab included.
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
	size_t slabs_off = (size_t)(v->slabs - (char *)v->hdr);
	size_t len = (size_t)v->nr_cpus * SLAB_STRIDE;
	long huge;
	char *m;

	if (!v->rseq_cpus || ((uintptr_t)v->elems & UINT32_MAX) != 0 ||
	    v->nr_cpus > PCPUPOOL__MAX_CPUS)
		goto off;
	huge = slab_file_huge_page(fd);
	if (huge < 0)
		goto off;
	if (huge) {
		/* A hugetlbfs file maps by whole pages only, so the slabs'
		 * mapping reaches past the last slab to the page boundary,
		 * and a section on a CPU id from nr_cpus up to there runs on
		 * that part of the file instead of on the zero pages.  Why
		 * that is safe: the kernel reports no such id when nr_cpus
		 * covers every possible CPU, which is how the daemon counts
		 * them; slab_layout() pads the slabs with zeros up to the
		 * boundary, so even then those pages read as count, limit
		 * and low 0, which every section leaves for the library
		 * without writing, as on the zero pages; and a process that
		 * rewrites the pad could only make this pool hand out or lose
		 * its own elements, as it can by rewriting any slab, since
		 * every section checks the offsets it reads and writes only
		 * inside its own page.  The mapping never covers the
		 * metadata: the pad is the slabs' area's own. */
		len = ROUND_UP(len, (size_t)huge);
		if (slabs_off % (size_t)huge || len > INLINE_PAGES_LEN ||
		    (size_t)((char *)v->meta - v->slabs) < len)
			goto off;
		m = huge_aligned_zero_pages_map((size_t)huge);
	} else {
		m = zero_pages_map();
	}
	if (!m)
		goto off;
	if (mmap(m, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		 (off_t)slabs_off) == MAP_FAILED) {
		munmap(m, INLINE_PAGES_LEN);
		goto off;
	}
	v->inline_map = m;
	v->slabs = m;
	v->inline_slabs = m;
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
 * A file on hugetlbfs is mapped by whole hugepages from an address aligned
 * to them: the kernel refuses another address and rounds a length up,
 * which at a fixed address would replace whatever follows.  So its
 * @map_size must be a multiple of its page size (a pool on hugepages is:
 * slab_layout()), and an elements' offset that is not is not used.
 *
 * Context: any thread; not signal-safe.
 * Return: the mapping, or MAP_FAILED with errno set (EINVAL: a hugetlbfs
 * file and a @map_size that is not a multiple of its pages).
 */
void *slab_map(int fd, size_t map_size)
{
	const size_t align = (size_t)1 << 32;
	struct slab_hdr h;
	size_t elems_off = 0, len, page = 4096;
	long huge = slab_file_huge_page(fd);
	char *res, *at;

	if (huge < 0) {
		errno = (int)-huge;
		return MAP_FAILED;
	}
	if (huge) {
		page = (size_t)huge;
		if (map_size % page) {
			errno = EINVAL;
			return MAP_FAILED;
		}
	}
	if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && h.magic == SLAB_MAGIC &&
	    h.elems_off < map_size && h.elems_off % page == 0)
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

/**
 * slab_file_huge_page() - the hugetlb page size of the file @fd is on.
 * @fd: a pool's memfd.
 *
 * Return: the page size of a file on hugetlbfs (a memfd made with
 * MFD_HUGETLB), 0 for any other file, or -errno.
 */
long slab_file_huge_page(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return -errno;
	if ((unsigned long)sf.f_type != HUGETLBFS_MAGIC)
		return 0;
	return sf.f_bsize > 0 ? (long)sf.f_bsize : -EINVAL;
}
