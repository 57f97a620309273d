/* SPDX-License-Identifier: MIT */
/*
 * slab.h - the per-CPU slab core shared by pcpupoold and libpcpupool.
 *
 * One pool is one shared-memory object laid out as
 *
 *   [ struct slab_hdr ............................ one page           ]
 *   [ struct slab  cpu 0 | cpu 1 | ... | cpu n-1  slab_stride each   ]
 *   [ struct slab_meta [max_elems]  link + owner of every element    ]
 *   [ elements [max_elems]          elem_stride each, aligned        ]
 *
 * Every process maps it at its own address, so everything inside is an
 * index or an offset, never a pointer.
 *
 * Design (measured against the alternatives in bench/, see bench/README.md):
 *
 *   slab N       {count word, slots[cap]}: each slot the byte offset of a
 *                free element from the first element.  Written ONLY by
 *                rseq critical sections running on CPU N (pop, push, splice,
 *                spill, discard), each of which ends in the single store of
 *                the count word.  The kernel restarts a section that is
 *                preempted, migrated or interrupted by a signal before that
 *                store, so two sections on the same slab never interleave -
 *                across threads, processes and signal handlers alike.  The
 *                hit path has no atomic read-modify-write and no fence.
 *   count word   {count : 16, ops : 48}.  Pop and push add -1 or +1 to the
 *                count and 1 to ops in their commit store, so the per-CPU
 *                statistics cost no instruction; splice, spill and discard
 *                move the count alone and add what they moved to spliced,
 *                spilled and discarded once committed.  allocs and frees
 *                follow: ops = allocs + frees, and count = frees - allocs +
 *                spliced - spilled - discarded (slab_cpu_counts()).
 *   offsets      the hit path turns a slot into a pointer with one add (the
 *                pool's elements span at most 4 GiB).  A client maps the
 *                pool with its first element on a 4 GiB boundary
 *                (slab_map()), so the inline free stores an address's low
 *                half, with no subtraction on the way from one pop's load
 *                of a slot to the next push's store of it.  Pop checks the
 *                offset it hands out with one multiplication and one
 *                compare (div and bound below): the high half is the
 *                element's index, the low half says whether it is the
 *                start of an element of the pool.  So free only checks
 *                that the address is in the 4 GiB from the first element,
 *                and one there that is not an element's start is
 *                discarded when it reaches the top of the slab.
 *   inbox N      a list of free elements, linked through slab_meta.next,
 *                packed with its length in one 64-bit word.  The daemon
 *                pushes refill batches into it (CAS); a client takes the
 *                whole list with one exchange when its slab is empty, and
 *                a client on another, empty CPU may take it too (stealing).
 *   outbox N     the same kind of list going the other way: a free that
 *                finds slab N at its limit spills a batch of slots into it;
 *                the daemon takes it with one exchange back into its depot.
 *   limit        free() spills when count reaches it.  The daemon lowers it
 *                to trim a slab from outside: the next free on CPU N moves
 *                the excess to the outbox.  The daemon writes a slab's
 *                slots and count word only once it is retired (below).
 *   low          the low watermark: a pop that leaves fewer elements than
 *                this, with the inbox empty, takes the pool's spare list
 *                (slab_hdr.spare, up to min_nr) onto the inbox at once,
 *                and asks for an async refill
 *                (refill_pending is set with one exchange, so a burst sends
 *                one request); the daemon restocks the spare and tops the
 *                reserve up.  While the daemon polls the flags
 *                (slab_hdr.polling), a crossing the spare covered sends
 *                nothing: no syscall at all.
 *
 *   retired      a slab no client is to use: its CPU is offline, or no
 *                attached process may run there.  The daemon stores limit
 *                0 and low SLAB_LOW_RETIRED (slab_retire()); from then on
 *                every section leaves that slab without a store (the inline
 *                pop at count <= low, the inline push at count >= limit,
 *                the library's pop, splice and spill on low).  Only a
 *                section that read the slab before that store can still
 *                commit to it, and such a section was running on that
 *                CPU: it commits or is aborted (preemption and migration
 *                abort a section) before its thread leaves the CPU.  So
 *                once the CPU is offline, or has been closed to every
 *                attached process for a grace period after the store, no
 *                section can commit there, and the daemon takes the slots
 *                into its depot itself (slab_take_retired(): a CAS of the
 *                count word against a snapshot, which fails if any section
 *                committed since).  A retired slab's CPU is opened again by
 *                setting its limits (slab_set_limits()).
 *
 * Lists are only ever pushed onto (CAS linking the pushed chain to the head
 * it read) and taken whole (exchange with empty).  A push whose CAS succeeds
 * links to exactly the head that is current, whatever happened in between,
 * so there is no ABA hazard and no single-element pop from a shared list.
 *
 * Without rseq (glibc.pthread.rseq=0, a kernel without it, a CPU number past
 * the pool's) a client falls back to the atomic lists alone: alloc takes the
 * inbox and pushes back what it does not use, free pushes onto the inbox.
 * That path never writes a slab, so rseq and non-rseq clients can share one
 * pool.
 *
 * Memory ordering: a pusher writes the links (meta.next) of its chain with
 * plain relaxed stores, then publishes with a release CAS; the taker's
 * acquire exchange pairs with it, so the links and the elements' contents
 * are visible to the taker.  Inside one slab, sections run on one CPU and
 * are ordered by the CPU itself and by the context switches between them.
 *
 * Ownership (what reclaiming a dead client's elements relies on): pop
 * writes the popper's id into slab_meta.owner inside its section (the
 * inline pop of pcpupool.h only compares, and leaves an element that is
 * not marked ours to the library's, which writes); a spill
 * writes the spiller's, a list take the taker's, before the element leaves
 * the slab or list; a list push writes 0.  So an element that is in no
 * slab, no list and not in the daemon's depot is held by its owner, or is
 * in the few instructions between a list take and its walk, or between
 * the spare's take and its landing on an inbox (owner 0: the reclaim pass
 * takes such an element back only if three censuses over a second all
 * miss it, so a thread stalled longer than that right there is the one
 * case it gets wrong).  A free leaves the mark (the slab holds the element; no
 * store on the hit path).  SLAB_OWNER_HANDOFF marks an element passed to another process,
 * which the daemon never reclaims.
 *
 * Untrusted memory (the trust boundary): everything in the pool's shared
 * object is input, which any attached process may forge.  Each process
 * keeps its own copy of the geometry (struct slab_view, built from one
 * validated copy of the header, and in the daemon from the daemon's own
 * record); the count of published elements is the daemon's own in the
 * daemon and, in clients, the header's bounded by the view's max_elems
 * (the file backs the whole mapping and is sealed against shrinking, so
 * any index below it is safe to touch).  Every index or offset read from
 * shared memory is checked before use (a slot offset by the pop's multiplication; the
 * pop masks the count to the page, SLAB_SLOT_MASK, so it never reads
 * outside the slab's page and the one after it, which the layout (and an
 * inline view, slab_view_map_inline()) always maps, and no section writes
 * outside its own page: push stores below SLAB_MAX_CAP whatever count and
 * limit say, splice below cap, and a count past cap is corrupt to every
 * other section); a list longer than its recorded length or pointing past
 * the published elements is reported as corruption (-EUCLEAN), never
 * followed.  No loop runs by a count a client can keep raising: the daemon
 * walks a list it took to its end without putting any back, a CAS on a
 * list word gives up after SLAB_CAS_TRIES, a pop drops at most a slab's
 * worth of bad slots.
 *
 * Why the header stays in the client-writable object rather than in a
 * second memfd sealed against writing (F_SEAL_FUTURE_WRITE): every process
 * already reads the geometry once, into its own memory, and checks it (a
 * client against the daemon's attach reply too), so a sealed copy would
 * protect nothing that is read afterwards; it would cost a second mapping
 * in every client and a second descriptor per pool in the fd store, and a
 * restarted daemon could not map it writable again (the seal forbids new
 * writable mappings) to publish elements.  What the daemon must trust it
 * keeps in its state memfd, which no client ever sees.
 */
#ifndef PCPUPOOL_SLAB_H
#define PCPUPOOL_SLAB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcpupool.h"

#define SLAB_MAGIC          UINT64_C(0x4c4f4f5055504350) /* "PCPUPOOL" */
#define SLAB_LAYOUT_VERSION 3u   /* 3: retired slabs, spares per node, hugepages */
#define SLAB_CACHELINE      64u
#define SLAB_HDR_SIZE       4096u
#define SLAB_NIL            UINT32_MAX      /* "no element" index */
#define SLAB_MAX_CPUS       4096u
#define SLAB_STRIDE_SHIFT   12u             /* a slab is one 4 KiB page */
#define SLAB_STRIDE         (1u << SLAB_STRIDE_SHIFT)
#define SLAB_MAX_CAP        ((SLAB_STRIDE - 192u) / 4u) /* 976 slots per slab */
#define SLAB_MAX_ELEMS      (UINT32_C(1) << 30)
#define SLAB_BATCH_MAX      512u            /* elements moved per section */
#define SLAB_NAME_MAX       64u
#define SLAB_OWNER_HANDOFF  UINT32_MAX      /* handed to another process */
#define SLAB_HUGE_PAGE      (UINT32_C(1) << 21) /* the hugetlb page size a pool
						 * may be backed with: 2 MiB */
#define SLAB_LOW_RETIRED    UINT32_MAX      /* slab.low of a retired slab */
#define SLAB_MAX_NODES      64u             /* NUMA nodes with a spare each */

/* Pool header: page 0 of the shared object.  Written by the daemon at
 * format time; afterwards only the atomics change. */
struct slab_hdr {
	uint64_t magic;
	uint32_t layout_version;
	uint32_t hdr_size;
	uint32_t nr_cpus;         /* slab descriptors */
	uint32_t slab_cap;        /* slots per slab */
	uint32_t slab_stride;     /* bytes per slab descriptor */
	uint32_t elem_stride;     /* bytes per element, multiple of elem_align */
	uint64_t elem_size;
	uint64_t elem_align;
	uint64_t max_elems;
	uint64_t slabs_off;
	uint64_t meta_off;
	uint64_t elems_off;
	uint64_t map_size;        /* bytes to map: the pool at max_elems */
	char name[SLAB_NAME_MAX];
	/* indices below nr_published are backed by the file: only those may
	 * ever appear in a slab or list.  Release by the daemon after the
	 * ftruncate that backs them; acquire by readers that check bounds. */
	_Atomic uint64_t nr_published;
	_Atomic uint32_t min_nr;
	_Atomic uint32_t state;   /* enum slab_state */
	_Atomic uint64_t generation; /* bumped by the daemon on every start */
	/* the spare: a list of free elements the daemon keeps stocked, one
	 * per NUMA node (this is node 0's, node_spare[] the others':
	 * slab_spare()).  A client whose CPU's reserve crosses its low
	 * watermark takes the whole list of its CPU's node at once (another
	 * node's if that one is empty), onto the CPU's inbox, then asks the
	 * daemon (which restocks the spare): a refill that waits for no
	 * wake-up.  At most min_nr and SLAB_BATCH_MAX elements each. */
	_Atomic uint64_t spare;
	/* non-zero while the daemon polls the CPUs' refill_pending flags (it
	 * received a request lately): a crossing that the spare covered then
	 * raises its flag and sends nothing; the poll serves it.  The daemon
	 * stores 0, then looks at every flag once more (seq_cst both ways, see
	 * slab_request_quiet()), so no request is left behind.  0 in pools an
	 * older daemon formatted: their clients always send. */
	_Atomic uint64_t polling;
	/* geometry, past the atomics so that the fields above keep their
	 * offsets: 0 when the file is on the base pages (a memfd on tmpfs);
	 * SLAB_HUGE_PAGE when it is on hugetlbfs, whose mappings must start,
	 * and whose files end, on a multiple of it: slabs_off, meta_off,
	 * elems_off and map_size are then multiples of it (slab_layout()).
	 * 0 in pools an older daemon formatted (the page was zero). */
	uint32_t huge_page_size;
	/* the NUMA nodes the daemon deals the pool to: how many spares a
	 * crossing looks at (a hint, bounded by SLAB_MAX_NODES) */
	_Atomic uint32_t nr_nodes;
	_Atomic uint64_t node_spare[SLAB_MAX_NODES - 1];   /* nodes 1.. */
};

enum slab_state { SLAB_STATE_OK = 0, SLAB_STATE_QUARANTINED = 1, SLAB_STATE_DESTROYED = 2 };

/* One CPU's slab descriptor, slab_stride bytes, cache-line aligned. */
struct slab {
	/* line 0: the count word is written only by rseq sections on this
	 * CPU; limit/low are written (rarely) by the daemon and read by them. */
	uint64_t cw;                       /* {count : 16, ops : 48} */
	uint32_t limit;
	uint32_t low;
	uint32_t cap;
	uint32_t node;                     /* this CPU's NUMA node: a hint for
					    * the order of steals, never an index */
	uint8_t pad0[SLAB_CACHELINE - 24];
	/* line 1: daemon -> clients, and the slow paths' counters */
	_Atomic uint64_t inbox;            /* slab_list word */
	_Atomic uint32_t refill_pending;   /* 0, or SLAB_REQ_SENT / SLAB_REQ_QUIET */
	uint32_t pad1a;
	_Atomic uint64_t refill_requests;  /* requests sent (not coalesced) */
	_Atomic uint64_t refill_coalesced; /* crossings that found one pending */
	_Atomic uint64_t pending_since_ns; /* CLOCK_MONOTONIC of the request */
	_Atomic uint64_t misses;           /* allocs that found no element */
	_Atomic uint64_t steals;           /* inboxes taken by other CPUs */
	_Atomic uint64_t spliced;          /* elements spliced in (committed) */
	/* line 2: clients -> daemon */
	_Atomic uint64_t outbox;           /* slab_list word */
	_Atomic uint64_t spilled;          /* elements spilled out (committed) */
	_Atomic uint64_t discarded;        /* slots dropped as not elements */
	_Atomic uint64_t from_spare;       /* elements taken from the spare */
	_Atomic uint64_t refill_quiet;     /* requests left to the daemon's poll */
	uint8_t pad2[SLAB_CACHELINE - 40];
	uint32_t slots[];                  /* cap entries: element offsets */
};

/* slab.refill_pending: a message is on its way to the daemon; or the
 * request is raised for the daemon's poll only (slab_hdr.polling), and a
 * client that finds the reserve short again sends the message after all */
#define SLAB_REQ_SENT      1u
#define SLAB_REQ_QUIET     2u

#define SLAB_CW_COUNT(w)   ((uint32_t)((w) & 0xffffu))
#define SLAB_CW_OPS(w)     ((w) >> 16)
#define SLAB_SLOT_MASK     PCPUPOOL__SLOT_MASK  /* pops read slots[(count & mask) - 1] */

/* Per-element metadata, out of the element so a free element's contents
 * are the user's business.  `next` links lists; `owner` is written by pop
 * in the same section, so a client killed anywhere either left the element
 * in the slab or is recorded as its owner. */
struct slab_meta {
	_Atomic uint32_t next;
	_Atomic uint32_t owner;
};

_Static_assert(sizeof(struct slab_hdr) <= SLAB_HDR_SIZE, "header fits its page");
_Static_assert(offsetof(struct slab, cw) == 0, "count word first: asm uses offset 0");
_Static_assert(offsetof(struct slab, limit) == 8, "asm uses offset 8");
_Static_assert(offsetof(struct slab, low) == 12, "asm uses offset 12");
_Static_assert(offsetof(struct slab, inbox) == SLAB_CACHELINE, "inbox on its own line");
_Static_assert(SLAB_MAX_CAP < SLAB_SLOT_MASK + 1, "the mask never cuts a valid count");
_Static_assert(SLAB_MAX_CAP < 0xffffu, "counts fit 16 bits");
_Static_assert(offsetof(struct slab, outbox) == 2 * SLAB_CACHELINE, "outbox on its own line");
_Static_assert(offsetof(struct slab, slots) == 3 * SLAB_CACHELINE, "asm uses slots at 192");
_Static_assert(sizeof(struct slab_meta) == 8, "meta packs to 8 bytes");
_Static_assert(SLAB_STRIDE == 4096u, "the sections shift by 12");
_Static_assert(offsetof(struct slab, slots) + 4u * SLAB_MAX_CAP <= SLAB_STRIDE,
	       "a full slab fits its page");
_Static_assert(SLAB_MAX_CAP == PCPUPOOL__SLOT_CAP, "the push's bound is the largest cap");

/* A list word packs {head index : 32 | length : 32}; empty is {NIL, 0}. */
#define SLAB_LIST_EMPTY (((uint64_t)SLAB_NIL << 32) | 0)
static inline uint64_t slab_list_word(uint32_t head, uint32_t len)
{
	return ((uint64_t)head << 32) | len;
}
static inline uint32_t slab_list_head(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint32_t slab_list_len(uint64_t w) { return (uint32_t)w; }

/* Geometry requested at create time. */
struct slab_geometry {
	uint32_t nr_cpus;
	uint32_t slab_cap;
	uint64_t elem_size;
	uint64_t elem_align;
	uint64_t max_elems;
	uint32_t huge_page_size;  /* 0, or SLAB_HUGE_PAGE: struct slab_hdr */
};

/* A process's view of one mapped pool: everything the fast path needs,
 * computed once at attach.  Its first bytes are the public header's struct
 * pcpupool_fast (the inline fast path reads them through the pool handle),
 * field for field; the rest is for the slow paths. */
struct slab_view {
	/* line 0: struct pcpupool_fast */
	char *inline_slabs;       /* PCPUPOOL__SLABS_PAGES pages, one for
				   * each CPU id below PCPUPOOL__MAX_CPUS:
				   * the slabs, where the inline sections
				   * may use them (slab_view_map_inline()),
				   * else zeros */
	char *elems;              /* base + elems_off */
	struct slab_meta *meta;
	intptr_t rseq_off;        /* glibc __rseq_offset */
	uint64_t div;             /* floor(2^64 / elem_stride) + 1 */
	uint32_t owner;           /* written into slab_meta.owner by pop */
	uint32_t max_off;         /* (max_elems - 1) * elem_stride */
	uint64_t bound;           /* see PCPUPOOL__CHECK_OFF_TO() */
	/* line 1 */
	_Alignas(SLAB_CACHELINE) uint32_t rseq_cpus;       /* nr_cpus when rseq is usable, else 0 */
	uint32_t max_elems;
	uint32_t slab_stride;
	uint32_t elem_stride;
	uint32_t nr_cpus;
	uint32_t slab_cap;
	struct slab_hdr *hdr;
	size_t map_size;
	char *slabs;              /* CPU n's slab, n < nr_cpus (the inline
				   * view of them when there is one, so that
				   * a process reaches a slab at one address) */
	char *inline_map;         /* this view's own inline_slabs mapping */
	const uint64_t *own_published; /* the daemon's own count of published
				   * elements, in memory no client can write;
				   * NULL in clients, which read the header's
				   * (bounded by max_elems: slab_published()) */
} __attribute__((aligned(SLAB_CACHELINE)));

#define SLAB_VIEW_FAST(field, pf)                                          \
	_Static_assert(offsetof(struct slab_view, field) ==                \
		       offsetof(struct pcpupool_fast, pf), #field " is " #pf)
SLAB_VIEW_FAST(inline_slabs, pf_slabs);
SLAB_VIEW_FAST(elems, pf_elems);
SLAB_VIEW_FAST(meta, pf_meta);
SLAB_VIEW_FAST(rseq_off, pf_rseq_off);
SLAB_VIEW_FAST(div, pf_div);
SLAB_VIEW_FAST(owner, pf_owner);
SLAB_VIEW_FAST(max_off, pf_max_off);
SLAB_VIEW_FAST(bound, pf_bound);
_Static_assert(sizeof(struct pcpupool_fast) <= SLAB_CACHELINE, "the fast part is one line");
_Static_assert(sizeof(struct slab_view) == 2 * SLAB_CACHELINE, "a view is two lines");
_Static_assert(SLAB_MAX_CPUS == PCPUPOOL__MAX_CPUS, "an inline view has a page per CPU id");

static inline const struct pcpupool_fast *slab_fast(const struct slab_view *v)
{
	return (const struct pcpupool_fast *)(const void *)v;
}

/* The spare list of NUMA node @node (any value: one past the last is
 * node 0's). */
static inline _Atomic uint64_t *slab_spare(const struct slab_view *v, uint32_t node)
{
	return node == 0 || node >= SLAB_MAX_NODES ? &v->hdr->spare : &v->hdr->node_spare[node - 1];
}

static inline struct slab *slab_of(const struct slab_view *v, uint32_t cpu)
{
	return (struct slab *)(v->slabs + (size_t)cpu * v->slab_stride);
}

static inline void *slab_elem(const struct slab_view *v, uint32_t idx)
{
	return v->elems + (size_t)idx * v->elem_stride;
}

static inline uint32_t slab_off_of(const struct slab_view *v, uint32_t idx)
{
	return idx * v->elem_stride;   /* idx < max_elems: fits (slab_layout) */
}

/**
 * slab_idx_of_off() - the index of the element at byte offset @off.
 * @v: pool view.
 * @off: an offset from the first element (untrusted).
 *
 * The multiplication of PCPUPOOL__CHECK_OFF_TO(): one multiplication
 * divides, checks that @off is an element's start and that the element is
 * in the pool.
 *
 * Context: async-signal-safe.
 * Return: the index, or SLAB_NIL when @off is not an element's start.
 */
static inline uint32_t slab_idx_of_off(const struct slab_view *v, uint64_t off)
{
	unsigned __int128 m = (unsigned __int128)off * v->div;

	if (__builtin_expect(off > v->max_off || (uint64_t)m > v->bound, 0))
		return SLAB_NIL;
	return (uint32_t)(m >> 64);
}

/**
 * slab_index_of() - the index of the element at @p.
 * @v: pool view.
 * @p: an element address in this process's mapping (untrusted).
 *
 * Context: async-signal-safe.
 * Return: the index, or SLAB_NIL for a pointer that is not an element.
 */
static inline uint32_t slab_index_of(const struct slab_view *v, const void *p)
{
	return slab_idx_of_off(v, (uintptr_t)p - (uintptr_t)v->elems);
}

/* ---- layout, format, attach (daemon and client) ---- */

int slab_layout(const struct slab_geometry *g, struct slab_hdr *ret_hdr);
size_t slab_bytes_for(const struct slab_hdr *h, uint64_t nr_elems);
int slab_format(void *base, const struct slab_hdr *layout, const char *name);
int slab_view_init(struct slab_view *v, void *base, size_t mapped, uint32_t owner);
int slab_view_init_hdr(struct slab_view *v, void *base, const struct slab_hdr *hdr,
		       size_t mapped, uint32_t owner);
int slab_view_map_inline(struct slab_view *v, int fd);
void slab_view_fini(struct slab_view *v);
void *slab_map(int fd, size_t map_size);
long slab_file_huge_page(int fd);

/* floor(2^64 / @stride) + 1, the pools' multiplier (the stride is at
 * least 8 and at most 2^30) */
static inline uint64_t slab_div(uint64_t stride)
{
	return (uint64_t)(((unsigned __int128)1 << 64) / stride) + 1;
}
int slab_validate_hdr(const struct slab_hdr *h, size_t file_size);

/* ---- fast path ---- */

/* The hit path is the sections of pcpupool.h's pcpupool__pop() and
 * pcpupool__push(), checking the CPU against rseq_cpus (the library's own
 * offsets are right whatever the mapping's alignment); without rseq
 * sections on this platform every call takes the lists.
 * Those sections tell the compiler only about the memory of the caller's
 * they read (the handle, the element given away); in here, where C code
 * also reads the slabs, they are compiler barriers as well, so no slab
 * field read before a section is reused after it. */
#if defined(PCPUPOOL_HAVE_SECTIONS) && !defined(PCPUPOOL_NO_RSEQ)
#define SLAB_HAVE_RSEQ 1
/* The library's sections: the CPU checked against rseq_cpus, the slab
 * found through slabs; both right whatever the elements' alignment. */
#define SLAB_SECTION_OPERANDS(v)                                          \
	PCPUPOOL__SECTION_OPERANDS_AT(slab_fast(v), (v)->rseq_off,        \
				      "m"((v)->rseq_cpus),                \
				      offsetof(struct slab_view, slabs))
#define slab_compiler_barrier() __asm__ __volatile__("" : : : "memory")
static inline int slab_hit_pop(const struct slab_view *v, void **ret)
{
	uint64_t off;

	slab_compiler_barrier();
	PCPUPOOL__POP_SECTION(SLAB_SECTION_OPERANDS(v), off, PCPUPOOL__POP_MARK_ALWAYS);
	slab_compiler_barrier();
	*ret = v->elems + off;
	return 1;
slow:
	slab_compiler_barrier();
	return 0;
}
static inline int slab_hit_push(const struct slab_view *v, void *elem, uint32_t off)
{
	slab_compiler_barrier();
	PCPUPOOL__PUSH_SECTION(SLAB_SECTION_OPERANDS(v), "", elem, off);
	slab_compiler_barrier();
	return 1;
slow:
	slab_compiler_barrier();
	return 0;
}
#else
static inline int slab_hit_pop(const struct slab_view *v, void **ret)
{
	(void)v; (void)ret;
	return 0;
}
static inline int slab_hit_push(const struct slab_view *v, void *elem, uint32_t off)
{
	(void)v; (void)elem; (void)off;
	return 0;
}
#endif

/* ---- slow paths (slab_client.c): all async-signal-safe and lock-free ---- */

/** Result of a slow-path alloc: the element, and the CPU whose slab went
 * under its low watermark with no request pending (-1 if none): the caller
 * sends that CPU's refill request. */
struct slab_alloc_res {
	uint32_t idx;
	int refill_cpu;
};

struct slab_alloc_res slab_alloc_slow(const struct slab_view *v);
int slab_low_check(const struct slab_view *v, struct slab *s, uint32_t left);
int slab_low_refill(const struct slab_view *v, uint32_t c, uint32_t level);
void slab_free_slow(const struct slab_view *v, uint32_t idx);

/* ThreadSanitizer cannot see the memory accesses of the asm sections, so
 * the happens-before edge a slab carries from a push to a later pop is told
 * to it by hand (one sync object per pool: coarser than the truth, never
 * finer, so it hides no race on the lists and reports none that is not). */
#if defined(__SANITIZE_THREAD__)
#define SLAB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLAB_TSAN 1
#endif
#endif
#ifdef SLAB_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define slab_tsan_acquire(v) __tsan_acquire((v)->hdr)
#define slab_tsan_release(v) __tsan_release((v)->hdr)
#else
#define slab_tsan_acquire(v) ((void)(v))
#define slab_tsan_release(v) ((void)(v))
#endif

/* The whole client-side alloc and free as the library does them, by
 * pointer, without the refill request (returned in *ret_refill_cpu). */
static inline void *slab_alloc_elem(const struct slab_view *v, int *ret_refill_cpu)
{
	void *p;

	*ret_refill_cpu = -1;
	if (__builtin_expect(slab_hit_pop(v, &p), 1)) {
		slab_tsan_acquire(v);
		return p;
	}
	struct slab_alloc_res r = slab_alloc_slow(v);
	*ret_refill_cpu = r.refill_cpu;
	return r.idx == SLAB_NIL ? NULL : slab_elem(v, r.idx);
}

/* Free past the hit path: anything that is not an element is dropped. */
static inline void slab_free_miss(const struct slab_view *v, void *p)
{
	uint32_t idx = slab_index_of(v, p);

	if (idx != SLAB_NIL)
		slab_free_slow(v, idx);
}

static inline void slab_free_elem(const struct slab_view *v, void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)v->elems;

	/* as the inline free: any address in the 4 GiB from the first
	 * element is pushed, and the pop drops (and counts) what is not an
	 * element's start */
	slab_tsan_release(v);
	if (__builtin_expect(off <= UINT32_MAX && slab_hit_push(v, p, (uint32_t)off), 1))
		return;
	slab_free_miss(v, p);
}

/* The same by element index (tests). */
static inline uint32_t slab_alloc(const struct slab_view *v, int *ret_refill_cpu)
{
	void *p = slab_alloc_elem(v, ret_refill_cpu);

	return p ? slab_index_of(v, p) : SLAB_NIL;
}

static inline void slab_free(const struct slab_view *v, uint32_t idx)
{
	if (idx < v->max_elems)
		slab_free_elem(v, slab_elem(v, idx));
}

/* ---- lists (both sides) ---- */

int slab_list_push(const struct slab_view *v, _Atomic uint64_t *box,
		   const uint32_t *idx, uint32_t n);
int slab_list_take(const struct slab_view *v, _Atomic uint64_t *box,
		   uint32_t *buf, uint32_t max, uint32_t *ret_n);

/* A list taken whole and walked in batches, nothing put back (daemon). */
struct slab_chain {
	uint32_t head;
	uint32_t len;
};
void slab_chain_take(const struct slab_view *v, _Atomic uint64_t *box,
		     struct slab_chain *ret_chain);
int slab_chain_next(const struct slab_view *v, struct slab_chain *ch, uint32_t *buf,
		    uint32_t max, uint32_t *ret_n);

/* ---- daemon side ---- */

uint32_t slab_level(const struct slab_view *v, uint32_t cpu);
uint32_t slab_count(const struct slab_view *v, uint32_t cpu);
void slab_cpu_counts(const struct slab_view *v, uint32_t cpu, uint64_t *ret_allocs,
		     uint64_t *ret_frees);
void slab_set_limits(const struct slab_view *v, uint32_t cpu, uint32_t low, uint32_t limit);
void slab_retire(const struct slab_view *v, uint32_t cpu);
bool slab_retired(const struct slab_view *v, uint32_t cpu);
uint64_t slab_count_word(const struct slab_view *v, uint32_t cpu);
int slab_take_retired(const struct slab_view *v, uint32_t cpu, uint64_t snap, uint32_t *buf,
		      uint32_t *ret_n, uint32_t *ret_bad);
uint32_t slab_claim_request(const struct slab_view *v, uint32_t cpu, uint32_t target,
			    uint64_t *ret_wait_ns);
uint64_t slab_now_ns(void);
void slab_clock_init(void);
bool slab_request_raised(const struct slab_view *v, uint32_t cpu);
void slab_poll_set(const struct slab_view *v, bool on);
int slab_current_cpu(const struct slab_view *v);
bool slab_rseq_available(void);

#endif /* PCPUPOOL_SLAB_H */
