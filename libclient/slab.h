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
 * Design (measured against the alternatives in bench/, see DESIGN.md):
 *
 *   slab N       {count, slots[cap]} of element indices.  Written ONLY by
 *                rseq critical sections running on CPU N (pop, push, splice,
 *                spill below), each of which ends in the single store of
 *                `count`.  The kernel restarts a section that is preempted,
 *                migrated or interrupted by a signal before that store, so
 *                two sections on the same slab never interleave - across
 *                threads, processes and signal handlers alike.  The hit
 *                path has no atomic read-modify-write and no fence.
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
 *                the excess to the outbox.  The daemon never writes a slab.
 *   low          the low watermark: a pop that leaves fewer elements than
 *                this, with the inbox empty, asks for an async refill
 *                (refill_pending is set with one exchange, so a burst sends
 *                one request).
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
 * writes the popper's id into slab_meta.owner inside its section; a spill
 * writes the spiller's, a list take the taker's, before the element leaves
 * the slab or list; a list push writes 0.  So an element that is in no
 * slab, no list and not in the daemon's depot is held by its owner, or is
 * in the few instructions between a list take and its walk (owner 0).  A
 * free leaves the mark (the slab holds the element; no store on the hit
 * path).  SLAB_OWNER_HANDOFF marks an element passed to another process,
 * which the daemon never reclaims.
 *
 * Untrusted memory: every index read from shared memory is bounds-checked
 * before use; a list longer than its recorded length or pointing past the
 * published elements is reported as corruption (-EUCLEAN), never followed.
 */
#ifndef PCPUPOOL_SLAB_H
#define PCPUPOOL_SLAB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLAB_MAGIC          UINT64_C(0x4c4f4f5055504350) /* "PCPUPOOL" */
#define SLAB_LAYOUT_VERSION 1u
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
};

enum slab_state { SLAB_STATE_OK = 0, SLAB_STATE_QUARANTINED = 1, SLAB_STATE_DESTROYED = 2 };

/* One CPU's slab descriptor, slab_stride bytes, cache-line aligned. */
struct slab {
	/* line 0: `count` is written only by rseq sections on this CPU;
	 * limit/low are written (rarely) by the daemon and read by sections. */
	uint32_t count;
	uint32_t limit;
	uint32_t low;
	uint32_t cap;
	/* statistics counted inside the pop and push sections, on the line
	 * they already own: no atomic, no extra cache line.  A section that is
	 * aborted after its increment and restarted counts twice, so these
	 * over-count by the number of such aborts (rare: the window is a few
	 * instructions). */
	uint64_t allocs;
	uint64_t frees;
	uint8_t pad0[SLAB_CACHELINE - 32];
	/* line 1: daemon -> clients, and the slow paths' counters */
	_Atomic uint64_t inbox;            /* slab_list word */
	_Atomic uint32_t refill_pending;   /* 1 while an async request is out */
	uint32_t pad1a;
	_Atomic uint64_t refill_requests;  /* requests sent (not coalesced) */
	_Atomic uint64_t refill_coalesced; /* crossings that found one pending */
	_Atomic uint64_t pending_since_ns; /* CLOCK_MONOTONIC of the request */
	_Atomic uint64_t misses;           /* allocs that found no element */
	_Atomic uint64_t steals;           /* inboxes taken by other CPUs */
	uint8_t pad1[SLAB_CACHELINE - 56];
	/* line 2: clients -> daemon */
	_Atomic uint64_t outbox;           /* slab_list word */
	uint8_t pad2[SLAB_CACHELINE - 8];
	uint32_t slots[];                  /* cap entries */
};

/* Per-element metadata, out of the element so a free element's contents
 * are the user's business.  `next` links lists; `owner` is written by pop
 * in the same section, so a client killed anywhere either left the element
 * in the slab or is recorded as its owner. */
struct slab_meta {
	_Atomic uint32_t next;
	_Atomic uint32_t owner;
};

_Static_assert(sizeof(struct slab_hdr) <= SLAB_HDR_SIZE, "header fits its page");
_Static_assert(offsetof(struct slab, count) == 0, "count first: asm uses offset 0");
_Static_assert(offsetof(struct slab, limit) == 4, "asm uses offset 4");
_Static_assert(offsetof(struct slab, cap) == 12, "asm uses offset 12");
_Static_assert(offsetof(struct slab, allocs) == 16, "asm uses offset 16");
_Static_assert(offsetof(struct slab, frees) == 24, "asm uses offset 24");
_Static_assert(offsetof(struct slab, inbox) == SLAB_CACHELINE, "inbox on its own line");
_Static_assert(offsetof(struct slab, outbox) == 2 * SLAB_CACHELINE, "outbox on its own line");
_Static_assert(offsetof(struct slab, slots) == 3 * SLAB_CACHELINE, "asm uses slots at 192");
_Static_assert(sizeof(struct slab_meta) == 8, "meta packs to 8 bytes");
_Static_assert(SLAB_STRIDE == 4096u, "the sections shift by 12");
_Static_assert(offsetof(struct slab, slots) + 4u * SLAB_MAX_CAP <= SLAB_STRIDE,
	       "a full slab fits its page");

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
};

/* A process's view of one mapped pool: everything the fast path needs,
 * computed once at attach and kept in one cache line. */
struct slab_view {
	/* line 0: what the hit path reads */
	char *slabs;              /* base + slabs_off */
	char *elems;              /* base + elems_off */
	struct slab_meta *meta;
	intptr_t rseq_off;        /* glibc __rseq_offset */
	uint32_t rseq_cpus;       /* nr_cpus when rseq is usable, else 0 */
	uint32_t slab_stride;
	uint32_t elem_stride;
	uint32_t owner;           /* written into slab_meta.owner by pop */
	uint32_t nr_cpus;
	uint32_t max_elems;
	uint32_t stride_inv;      /* inverse of the odd part of elem_stride */
	uint32_t stride_shift;    /* its power of two */
	/* line 1 */
	struct slab_hdr *hdr;
	size_t map_size;
} __attribute__((aligned(SLAB_CACHELINE)));

static inline struct slab *slab_of(const struct slab_view *v, uint32_t cpu)
{
	return (struct slab *)(v->slabs + (size_t)cpu * v->slab_stride);
}

static inline void *slab_elem(const struct slab_view *v, uint32_t idx)
{
	return v->elems + (size_t)idx * v->elem_stride;
}

/**
 * slab_index_of() - the index of the element at @p, by multiplication.
 * @v: pool view.
 * @p: an element address in this process's mapping.
 *
 * elem_stride = odd << shift, so an exact multiple of it divides as a shift
 * and a multiply by the odd part's inverse modulo 2^32; the product check
 * rejects anything that is not the start of an element.
 *
 * Context: async-signal-safe.
 * Return: the index, or SLAB_NIL for a pointer that is not an element.
 */
static inline uint32_t slab_index_of(const struct slab_view *v, const void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)v->elems;
	uint32_t idx = (uint32_t)(off >> v->stride_shift) * v->stride_inv;

	if (__builtin_expect(idx >= v->max_elems ||
			     (uintptr_t)idx * v->elem_stride != off, 0))
		return SLAB_NIL;
	return idx;
}

/* ---- layout, format, attach (daemon and client) ---- */

int slab_layout(const struct slab_geometry *g, struct slab_hdr *ret_hdr);
size_t slab_bytes_for(const struct slab_hdr *h, uint64_t nr_elems);
int slab_format(void *base, const struct slab_hdr *layout, const char *name);
int slab_view_init(struct slab_view *v, void *base, size_t mapped, uint32_t owner);
int slab_validate_hdr(const struct slab_hdr *h, size_t file_size);

/* ---- fast path: rseq sections (slab_rseq.h semantics, inline) ---- */

#define SLAB_POP_EMPTY   0   /* slab empty: slow path */
#define SLAB_POP_NOCPU   1   /* rseq unusable here: fallback path */

#if defined(__x86_64__) && !defined(PCPUPOOL_NO_RSEQ)
#define SLAB_HAVE_RSEQ 1

/* The rseq_cs descriptor for a section [1, 2) aborting to 4, and the abort
 * stub: signature RSEQ_SIG (0x53053053) as the immediate of a ud1 so that
 * the 4 bytes before the abort address are the signature, as the kernel
 * requires, then a jump back to 0 to re-arm and retry.  The code before
 * it (label 0) must have loaded __rseq_offset into %rsi. */
#define SLAB_RSEQ_CS_ARM                                        \
	".pushsection __rseq_cs, \"aw\"\n\t"                              \
	".balign 32\n\t"                                                  \
	"3:\n\t"                                                          \
	".long 0x0, 0x0\n\t"                                              \
	".quad 1f, (2f - 1f), 4f\n\t"                                     \
	".popsection\n\t"                                                 \
	".pushsection __rseq_failure, \"ax\"\n\t"                         \
	".byte 0x0f, 0xb9, 0x3d\n\t"                                      \
	".long 0x53053053\n\t"                                            \
	"4:\n\t"                                                          \
	"jmp 0b\n\t"                                                      \
	".popsection\n\t"                                                 \
	"leaq 3b(%%rip), %%rax\n\t"                                      \
	"movq %%rax, %%fs:8(%%rsi)\n\t"

/* Per-CPU statistics inside the sections; SLAB_NO_STATS compiles them out
 * (the benchmark measures both). */
#ifdef SLAB_NO_STATS
#define SLAB_STAT_INC(off) ""
#else
#define SLAB_STAT_INC(off) "addq $1, " off "(%%rcx)\n\t"
#endif

/* Inside a section: %rsi holds __rseq_offset (loaded by the arm code);
 * %ecx <- this thread's cpu_id; if it is not below the view's rseq_cpus
 * leave with `nocpu`; else %rcx <- address of its slab. */
#define SLAB_RSEQ_LOCATE(nocpu)                                           \
	"movl %%fs:4(%%rsi), %%ecx\n\t"                                   \
	"cmpl %c[v_cpus](%[v]), %%ecx\n\t"                                \
	"jae " nocpu "\n\t"                                               \
	"shlq $12, %%rcx\n\t"      /* * SLAB_STRIDE: a shift, not a multiply */ \
	"addq %c[v_slabs](%[v]), %%rcx\n\t"

/* The view fields the sections read, as asm operands: sections take the
 * view pointer alone, so callers keep their registers. */
#define SLAB_RSEQ_VIEW_OPERANDS(v)                                        \
	[v] "r"(v),                                                       \
	[v_off] "i"(offsetof(struct slab_view, rseq_off)),                \
	[v_cpus] "i"(offsetof(struct slab_view, rseq_cpus)),              \
	[v_stride] "i"(offsetof(struct slab_view, slab_stride)),          \
	[v_slabs] "i"(offsetof(struct slab_view, slabs))

/**
 * slab_pop() - take one element from the current CPU's slab.
 * @v: the pool view.
 * @ret_left: elements left in that slab after the pop (on success).
 * @ret_slab: the slab popped from (on success), for the watermark check.
 *
 * The owner mark is written inside the section, before the commit, and only
 * when it changes (the usual case is the same process again, and a store
 * would pull the metadata line away from the CPU that last wrote it).
 *
 * Context: async-signal-safe, lock-free, no syscall; any thread.
 * Return: element index, or SLAB_NIL with *ret_left = SLAB_POP_EMPTY or
 * SLAB_POP_NOCPU telling which slow path to take.
 */
static inline uint32_t slab_pop(const struct slab_view *v, uint32_t *ret_left,
				struct slab **ret_slab)
{
	uint32_t idx, cnt;
	uintptr_t slab;

	__asm__ __volatile__(
		"0:\n\t"
		"movq %c[v_off](%[v]), %%rsi\n\t"
		SLAB_RSEQ_CS_ARM
		"1:\n\t"
		SLAB_RSEQ_LOCATE("5f")
		"movl (%%rcx), %%eax\n\t"            /* count */
		"subl $1, %%eax\n\t"                 /* empty: wraps, caught below */
		"cmpl 12(%%rcx), %%eax\n\t"          /* count - 1 >= cap: empty or corrupt */
		"jae 6f\n\t"
		"movl 192(%%rcx,%%rax,4), %%edx\n\t" /* idx = slots[count-1] */
		"cmpl %c[v_nelem](%[v]), %%edx\n\t"  /* corrupt slot: leave it */
		"jae 6f\n\t"
		"movq %c[v_meta](%[v]), %%r8\n\t"
		"movl %c[v_owner](%[v]), %%r9d\n\t"
		"cmpl %%r9d, 4(%%r8,%%rdx,8)\n\t"
		"je 8f\n\t"
		"movl %%r9d, 4(%%r8,%%rdx,8)\n\t"    /* meta[idx].owner */
		"8:\n\t"
		SLAB_STAT_INC("16")                  /* allocs */
		"movl %%eax, (%%rcx)\n\t"            /* commit: count - 1 */
		"2:\n\t"
		"jmp 7f\n\t"
		"5:\n\t"
		"movl %[nocpu], %%eax\n\t"
		"movl $0xffffffff, %%edx\n\t"
		"jmp 7f\n\t"
		"6:\n\t"
		"movl %[empty], %%eax\n\t"
		"movl $0xffffffff, %%edx\n\t"
		"7:\n\t"
		: "=&a"(cnt), "=&d"(idx), "=&c"(slab)
		: SLAB_RSEQ_VIEW_OPERANDS(v),
		  [v_meta] "i"(offsetof(struct slab_view, meta)),
		  [v_owner] "i"(offsetof(struct slab_view, owner)),
		  [v_nelem] "i"(offsetof(struct slab_view, max_elems)),
		  [nocpu] "i"(SLAB_POP_NOCPU), [empty] "i"(SLAB_POP_EMPTY)
		: "rsi", "r8", "r9", "memory", "cc");
	*ret_left = cnt;
	*ret_slab = (struct slab *)slab;
	return idx;
}

#define SLAB_PUSH_OK    0
#define SLAB_PUSH_FULL  1
#define SLAB_PUSH_NOCPU 2

/**
 * slab_push() - return one element to the current CPU's slab.
 * @v: the pool view.
 * @idx: element index (checked by the caller).
 *
 * Context: async-signal-safe, lock-free, no syscall; any thread.
 * The limit is trusted to be at most the capacity: slab_set_limits(), the
 * only writer, clamps it, and the daemon's sweep checks it.
 *
 * Return: SLAB_PUSH_OK, SLAB_PUSH_FULL (count reached the slab's limit) or
 * SLAB_PUSH_NOCPU (no rseq here).
 */
static inline int slab_push(const struct slab_view *v, uint32_t idx)
{
	uint32_t st;
	uintptr_t tmp;

	__asm__ __volatile__(
		"0:\n\t"
		"movq %c[v_off](%[v]), %%rsi\n\t"
		SLAB_RSEQ_CS_ARM
		"1:\n\t"
		SLAB_RSEQ_LOCATE("5f")
		"movl (%%rcx), %%eax\n\t"            /* count */
		"cmpl 4(%%rcx), %%eax\n\t"           /* >= limit (<= cap): spill */
		"jae 6f\n\t"
		"movl %[idx], 192(%%rcx,%%rax,4)\n\t"
		SLAB_STAT_INC("24")                  /* frees */
		"addl $1, %%eax\n\t"
		"movl %%eax, (%%rcx)\n\t"            /* commit: count + 1 */
		"2:\n\t"
		"movl %[ok], %%eax\n\t"
		"jmp 7f\n\t"
		"5:\n\t"
		"movl %[nocpu], %%eax\n\t"
		"jmp 7f\n\t"
		"6:\n\t"
		"movl %[full], %%eax\n\t"
		"7:\n\t"
		: "=&a"(st), "=&c"(tmp)
		: SLAB_RSEQ_VIEW_OPERANDS(v),
		  [idx] "r"(idx), [ok] "i"(SLAB_PUSH_OK),
		  [nocpu] "i"(SLAB_PUSH_NOCPU), [full] "i"(SLAB_PUSH_FULL)
		: "rsi", "memory", "cc");
	(void)tmp;
	return (int)st;
}
#else
/* No rseq sections on this architecture: every call takes the atomic
 * fallback, which is correct everywhere, just slower. */
static inline uint32_t slab_pop(const struct slab_view *v, uint32_t *ret_left,
				struct slab **ret_slab)
{
	(void)v; *ret_left = SLAB_POP_NOCPU; *ret_slab = NULL;
	return SLAB_NIL;
}
static inline int slab_push(const struct slab_view *v, uint32_t idx)
{
	(void)v; (void)idx;
	return 2;
}
#endif

/* ---- slow paths (slab.c): all async-signal-safe and lock-free ---- */

/** Result of a slow-path alloc: the element, and the CPU whose slab went
 * under its low watermark with no request pending (-1 if none): the caller
 * sends that CPU's refill request. */
struct slab_alloc_res {
	uint32_t idx;
	int refill_cpu;
};

struct slab_alloc_res slab_alloc_slow(const struct slab_view *v, uint32_t pop_status);
int slab_low_check(const struct slab_view *v, struct slab *s, uint32_t left);
void slab_free_slow(const struct slab_view *v, uint32_t idx, int push_status);

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

/* Convenience: the whole client-side alloc and free as the library does
 * them, without the refill request (returned in *ret_refill_cpu). */
static inline uint32_t slab_alloc(const struct slab_view *v, int *ret_refill_cpu)
{
	uint32_t left;
	struct slab *s;
	uint32_t idx = slab_pop(v, &left, &s);

	if (__builtin_expect(idx != SLAB_NIL, 1)) {
		slab_tsan_acquire(v);
		*ret_refill_cpu = __builtin_expect(left < s->low, 0)
			? slab_low_check(v, s, left) : -1;
		return idx;
	}
	struct slab_alloc_res r = slab_alloc_slow(v, left);
	*ret_refill_cpu = r.refill_cpu;
	return r.idx;
}

static inline void slab_free(const struct slab_view *v, uint32_t idx)
{
	slab_tsan_release(v);
	int st = slab_push(v, idx);

	if (__builtin_expect(st != SLAB_PUSH_OK, 0))
		slab_free_slow(v, idx, st);
}

/* ---- lists (both sides) ---- */

int slab_list_push(const struct slab_view *v, _Atomic uint64_t *box,
		   const uint32_t *idx, uint32_t n);
int slab_list_take(const struct slab_view *v, _Atomic uint64_t *box,
		   uint32_t *buf, uint32_t max, uint32_t *ret_n);

/* ---- daemon side ---- */

uint32_t slab_level(const struct slab_view *v, uint32_t cpu);
uint32_t slab_count(const struct slab_view *v, uint32_t cpu);
void slab_set_limits(const struct slab_view *v, uint32_t cpu, uint32_t low, uint32_t limit);
uint32_t slab_claim_request(const struct slab_view *v, uint32_t cpu, uint32_t target,
			    uint64_t *ret_wait_ns);
int slab_refill(const struct slab_view *v, uint32_t cpu, const uint32_t *idx, uint32_t n);
int slab_drain_outbox(const struct slab_view *v, uint32_t cpu, uint32_t *buf,
		      uint32_t max, uint32_t *ret_n);
int slab_trim_inbox(const struct slab_view *v, uint32_t cpu, uint32_t *buf,
		    uint32_t max, uint32_t *ret_n);
int slab_current_cpu(const struct slab_view *v);
bool slab_rseq_available(void);

#endif /* PCPUPOOL_SLAB_H */
