/* SPDX-License-Identifier: MIT */
/*
 * The public header of pcpupool 0.2.0, as released (inline ABI 2), kept
 * for tests/abi/test_header.sh: a program built against it must keep working
 * with this library.  Not to be edited.
 *
 * pcpupool.h - libpcpupool, the client of pcpupoold.
 *
 * A pool is a named set of fixed-size elements in shared memory with a
 * reserve of min_nr elements per CPU.  pcpupool_alloc(pool, PCPUPOOL_NOWAIT)
 * and pcpupool_free() are lock-free and async-signal-safe and make no system
 * call on the common path; the daemon refills the reserves in the
 * background.  Names and meanings follow the kernel's percpu_mempool_*.
 *
 * Integer returns are 0 (or a count) or a negative errno; pointer returns
 * are NULL with errno set.  The library never prints, exits or aborts.
 */
#ifndef PCPUPOOL_H
#define PCPUPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* glibc 2.35 registers rseq for every thread; its area is at the thread
 * pointer + __rseq_offset.  Declared here as <sys/rseq.h> declares it, so
 * that the header does not bring struct rseq and the rest into the
 * caller's namespace. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define PCPUPOOL__HAVE_RSEQ_OFFSET 1
#ifdef __GNUC__
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wredundant-decls"
#endif
extern const ptrdiff_t __rseq_offset;
#ifdef __GNUC__
#pragma GCC diagnostic pop
#endif
#endif

#define PCPUPOOL_VERSION_MAJOR 0
#define PCPUPOOL_VERSION_MINOR 2

#if defined(__GNUC__)
#define PCPUPOOL_WUR __attribute__((warn_unused_result))
#else
#define PCPUPOOL_WUR
#endif

/* Allocation context, as the kernel's gfp_mask. */
#define PCPUPOOL_NOWAIT 0x0  /* must not block: reserve or NULL/EAGAIN */
#define PCPUPOOL_WAIT   0x1  /* may block: synchronous refill, bounded wait */

struct pcpupool_client;
struct pcpupool;

/* Optional parameters for pcpupool_create_opts(); begins with its size so
 * it can grow.  Zero fields take the daemon's defaults. */
struct pcpupool_create_opts {
	size_t sz;               /* sizeof(struct pcpupool_create_opts) */
	uint64_t max_elems;      /* elements the pool may grow to */
	int low_watermark;       /* per-CPU level that triggers async refill */
};

struct pcpupool_client *pcpupool_connect(const char *socket_path) PCPUPOOL_WUR;
void pcpupool_disconnect(struct pcpupool_client *c);

struct pcpupool *pcpupool_open(struct pcpupool_client *c, const char *name) PCPUPOOL_WUR;
struct pcpupool *pcpupool_create(struct pcpupool_client *c, const char *name,
				 int min_nr, size_t size, size_t align) PCPUPOOL_WUR;
struct pcpupool *pcpupool_create_opts(struct pcpupool_client *c, const char *name,
				      int min_nr, size_t size, size_t align,
				      const struct pcpupool_create_opts *opts) PCPUPOOL_WUR;
void pcpupool_close(struct pcpupool *pool);
int pcpupool_destroy(struct pcpupool *pool);

void *pcpupool_alloc(struct pcpupool *pool, int flags) PCPUPOOL_WUR;
void pcpupool_free(void *elem, struct pcpupool *pool);
int pcpupool_refill(struct pcpupool *pool, int flags);
int pcpupool_resize(struct pcpupool *pool, int new_min_nr, int flags);
int pcpupool_nr_elems(struct pcpupool *pool);
int pcpupool_nr_elems_cpu(struct pcpupool *pool, int cpu);
int pcpupool_nr_cpus(struct pcpupool *pool);
size_t pcpupool_elem_size(struct pcpupool *pool);

uint64_t pcpupool_elem_offset(struct pcpupool *pool, const void *elem);
void *pcpupool_elem_at(struct pcpupool *pool, uint64_t offset);
int pcpupool_elem_handoff(struct pcpupool *pool, void *elem);  /* sender: not mine any more */
int pcpupool_elem_claim(struct pcpupool *pool, void *elem);    /* receiver: mine now */

char *pcpupool_stats_json(struct pcpupool_client *c, const char *pool) PCPUPOOL_WUR;

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
 * every pool handle, and the slab layout of pcpupoold's pools: version 2 of
 * this inline ABI.  A library with a different layout sets pf_cpus to 0,
 * so code compiled against this header then always takes the library's
 * path: slower, never wrong.  (Code compiled against version 1 read
 * pf_abi1_cpus, which this library keeps at 0; code compiled against this
 * header calls pcpupool__alloc_miss() and pcpupool__free_miss(), of
 * version node PCPUPOOL_0.2, so that an older library refuses to load it.)
 * Not for direct use.
 */
struct pcpupool_fast {
	char *pf_slabs;        /* CPU n's slab: pf_slabs + n * 4096 */
	char *pf_elems;        /* the element at byte offset o: pf_elems + o;
				* 2^32-aligned while pf_cpus is not 0, so an
				* element's offset is its address's low half */
	char *pf_meta;         /* 8 bytes per element: {list link, owner} */
	intptr_t pf_rseq_off;  /* glibc's __rseq_offset: the library's
				* sections read it here, the inline ones
				* from glibc */
	uint64_t pf_div;       /* 2^64 / element stride, rounded down, + 1 */
	uint32_t pf_abi1_cpus; /* 0: code built for inline ABI 1 goes slow */
	uint32_t pf_cpus;      /* slabs the inline sections may use; 0: none */
	uint32_t pf_owner;     /* this process's owner mark */
	uint32_t pf_max_off;   /* offset of the last element */
	uint64_t pf_bound;     /* an offset o is an element's start exactly
				* when the low half of o * pf_div is at most
				* this: (elements - 1) * (pf_div * stride - 2^64) */
};

/* The inline ABI 1 entry points, still exported for programs built
 * against it; the same functions as the two below. */
void *pcpupool__alloc_slow(struct pcpupool *pool, int flags) PCPUPOOL_WUR;
void pcpupool__free_slow(void *elem, struct pcpupool *pool);
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

/* asm goto with outputs: GCC 11, clang 11 */
#if defined(PCPUPOOL__HAVE_RSEQ_OFFSET) && \
	((defined(__clang__) && __clang_major__ >= 11) || \
	 (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define PCPUPOOL_HAVE_SECTIONS 1

/* The sections index slots[count & PCPUPOOL__SLOT_MASK], so that even a
 * corrupt count keeps them inside the slab's page and the next. */
#define PCPUPOOL__SLOT_MASK 1023
/* and push stores only below slots[976], the end of the slab's page,
 * whatever a corrupt limit says */
#define PCPUPOOL__SLOT_CAP 976

/* The commit store adds these to a slab's count word {count : 16, ops : 48}:
 * count -1 or +1, and one more operation. */
#ifdef PCPUPOOL__NO_STATS
#define PCPUPOOL__POP_DELTA  "-1"
#define PCPUPOOL__PUSH_DELTA "1"
#else
#define PCPUPOOL__POP_DELTA  "0xffff"
#define PCPUPOOL__PUSH_DELTA "0x10001"
#endif

/* Register an rseq critical section [1, 2) that restarts at 0 on abort
 * (preemption, migration, signal), then find the slab of the CPU it runs
 * on in %rcx; leave for %l[slow] when the pool has no slab for that CPU
 * (or rseq is not registered, or the pool's mapping is not 2^32-aligned:
 * the library then sets pf_cpus to 0).
 * The abort handler is preceded by the signature 0x53053053, as the kernel
 * requires.  glibc's rseq area is at the thread pointer + __rseq_offset
 * (%[rseq]).  The inline pcpupool_alloc() and pcpupool_free() take it
 * from glibc's variable rather than from the handle: a constant the
 * compiler keeps in a register, so that finding the slab does not wait
 * for a load through the pool pointer (that chain cost 0.75 ns a pair).
 * The library's entry points, leaves with the handle in a register, read
 * the handle's copy: one load where glibc's variable is two (GOT, value). */
#define PCPUPOOL__SECTION_ENTER PCPUPOOL__SECTION_ENTER_TO("%l[slow]")
#define PCPUPOOL__SECTION_ENTER_TO(nocpu)                                  \
	".pushsection __rseq_cs, \"aw\"\n\t"                                \
	".balign 32\n\t"                                                     \
	"3:\n\t"                                                             \
	".long 0, 0\n\t"                                                     \
	".quad 1f, 2f - 1f, 4f\n\t"                                          \
	".popsection\n\t"                                                    \
	".pushsection __rseq_failure, \"ax\"\n\t"                           \
	".byte 0x0f, 0xb9, 0x3d\n\t"                                         \
	".long 0x53053053\n\t"                                               \
	"4:\n\t"                                                             \
	"jmp 0f\n\t"                                                         \
	".popsection\n\t"                                                    \
	"0:\n\t"                                                             \
	"leaq 3b(%%rip), %%rax\n\t"                                          \
	"movq %%rax, %%fs:8(%[rseq])\n\t"      /* rseq->rseq_cs */             \
	"1:\n\t"                                                             \
	"movl %%fs:4(%[rseq]), %%ecx\n\t"      /* rseq->cpu_id */              \
	"cmpl %c[f_cpus](%[f]), %%ecx\n\t"                                   \
	"jae " nocpu "\n\t"                                                  \
	"shlq $12, %%rcx\n\t"                                                \
	"addq %c[f_slabs](%[f]), %%rcx\n\t"

/* @fp: the handle; @roff: glibc's __rseq_offset (the inline functions
 * below pass glibc's variable, the library the handle's copy of it). */
#define PCPUPOOL__SECTION_OPERANDS(fp, roff)                              \
	PCPUPOOL__SECTION_OPERANDS_CPUS(fp, roff,                         \
		__builtin_offsetof(struct pcpupool_fast, pf_cpus))
/* ... with the count of usable slabs read at byte @cpus of the handle
 * (the library's own sections read one that does not depend on the
 * elements' alignment) */
#define PCPUPOOL__SECTION_OPERANDS_CPUS(fp, roff, cpus)                   \
	[f] "r"(fp), [fast] "m"(*(fp)), [rseq] "r"(roff),                 \
	[f_cpus] "i"(cpus),                                                \
	[f_slabs] "i"(__builtin_offsetof(struct pcpupool_fast, pf_slabs)), \
	[mask] "i"(PCPUPOOL__SLOT_MASK)

/* Check the offset in %eax (zero-extended): leave for @bad unless it is
 * an element's start; its index is then in %rdx.  With pf_div =
 * floor(2^64 / stride) + 1 = (2^64 + e) / stride, 1 <= e <= stride, the
 * offset o = k * stride + r (r < stride, o < 2^32) gives o * pf_div =
 * k * 2^64 + k * e + r * pf_div: for r = 0 the high half is k and the low
 * half k * e, at most pf_bound exactly when k is below the pool's element
 * count; for r > 0 the low half is at least pf_div >= 2^34 > pf_bound.
 * So one multiplication and one compare divide, check alignment and
 * check range.  The sections of libclient/slab.c that take elements off a
 * slab use it too. */
#define PCPUPOOL__CHECK_OFF_TO(bad)                                       \
	"mulq %c[f_div](%[f])\n\t"                                         \
	"cmpq %c[f_bound](%[f]), %%rax\n\t"    /* not an element's start */ \
	"ja " bad "\n\t"
/* The pop's check of the offset in %[off]: the index in %rdx. */
#define PCPUPOOL__POP_CHECK_DIV                                           \
	"movl %k[off], %%eax\n\t"                                          \
	PCPUPOOL__CHECK_OFF_TO("%l[slow]")
/* The owner mark of element %rdx, written only when it changes (the
 * library's sections). */
#define PCPUPOOL__POP_MARK_OWNER                                          \
	"movq %c[f_meta](%[f]), %%rax\n\t"                                 \
	"movl %c[f_owner](%[f]), %%esi\n\t"                                \
	"cmpl %%esi, 4(%%rax,%%rdx,8)\n\t"                                 \
	"je 5f\n\t"                                                        \
	"movl %%esi, 4(%%rax,%%rdx,8)\n\t"     /* meta[index].owner */      \
	"5:\n\t"
/* The inline pop's: an element whose mark is not this process's goes to
 * the library, whose first try is a pop with PCPUPOOL__POP_MARK_OWNER.  A
 * process mostly gets back what it freed, so the hit path only compares,
 * and falls through: no taken branch, no store, and no second section
 * inlined at every call. */
#define PCPUPOOL__POP_OWNED                                               \
	"movq %c[f_meta](%[f]), %%rax\n\t"                                 \
	"movl %c[f_owner](%[f]), %%esi\n\t"                                \
	"cmpl %%esi, 4(%%rax,%%rdx,8)\n\t"     /* meta[index].owner */      \
	"jne %l[slow]\n\t"
/* PCPUPOOL__NO_OWNER_MARK and PCPUPOOL__NO_OFFSET_CHECK take those out,
 * for bench_slab's breakdown of what the pair costs and nothing else: a
 * pool used so cannot take back a dead process's elements, and without
 * the check it hands out whatever offset (in range) a bad free let in. */
#if defined(PCPUPOOL__NO_OFFSET_CHECK)
#define PCPUPOOL__POP_CHECK                                               \
	"cmpl %c[f_max](%[f]), %k[off]\n\t"    /* range only */              \
	"ja %l[slow]\n\t"
#define PCPUPOOL__POP_MARK ""
#define PCPUPOOL__POP_MARK_ALWAYS ""
#elif defined(PCPUPOOL__NO_OWNER_MARK)
#define PCPUPOOL__POP_CHECK PCPUPOOL__POP_CHECK_DIV
#define PCPUPOOL__POP_MARK ""
#define PCPUPOOL__POP_MARK_ALWAYS ""
#else
#define PCPUPOOL__POP_CHECK PCPUPOOL__POP_CHECK_DIV
#define PCPUPOOL__POP_MARK PCPUPOOL__POP_OWNED
#define PCPUPOOL__POP_MARK_ALWAYS PCPUPOOL__POP_MARK_OWNER
#endif

/* What a section needs to check an offset and mark its element's owner. */
#define PCPUPOOL__ELEM_OPERANDS                                           \
	[f_div] "i"(__builtin_offsetof(struct pcpupool_fast, pf_div)),    \
	[f_bound] "i"(__builtin_offsetof(struct pcpupool_fast, pf_bound)), \
	[f_meta] "i"(__builtin_offsetof(struct pcpupool_fast, pf_meta)),  \
	[f_owner] "i"(__builtin_offsetof(struct pcpupool_fast, pf_owner)), \
	[f_max] "i"(__builtin_offsetof(struct pcpupool_fast, pf_max_off))

/*
 * Both sections are volatile: GCC 12 does not treat an asm goto with
 * outputs as volatile and deletes it, labels and all, when the caller
 * drops the pointer; clang would take the pop for a read-only statement.
 *
 * Pop the top of the current CPU's slab if it holds more than its low
 * watermark.  The slot holds the element's byte offset; one multiplication
 * by pf_div gives its index (the high half) and says whether the offset is
 * an element's start inside the pool (PCPUPOOL__CHECK_OFF_TO), so a bad
 * value that a free let in is never handed out.  The element must already
 * bear this process's owner mark, else the library pops it in a section
 * that writes the mark: a process killed anywhere either left the element
 * in the slab or is recorded as its holder.
 */
/* The pop section, as a statement: the offset in @off (a uint64_t), or a
 * jump to the label slow; the count of usable slabs at byte @cpus of @f
 * (the library's own hit path reads one that does not depend on the
 * elements' alignment); @marks: the owner mark's code. */
#define PCPUPOOL__POP_SECTION(f, roff, cpus, off, marks)                  \
	__asm__ __volatile__ goto(                                         \
		PCPUPOOL__SECTION_ENTER                                    \
		"movq (%%rcx), %%r10\n\t"              /* count word */         \
		"movl %%r10d, %%edx\n\t"                                    \
		"andl %[mask], %%edx\n\t"  /* count, kept inside the page */ \
		"cmpl 12(%%rcx), %%edx\n\t"  /* count <= low: slow path */  \
		"jbe %l[slow]\n\t"                                           \
		"movl 188(%%rcx,%%rdx,4), %k[off]\n\t" /* slots[count - 1] */ \
		PCPUPOOL__POP_CHECK                                        \
		marks                                                      \
		"addq $" PCPUPOOL__POP_DELTA ", %%r10\n\t"                  \
		"movq %%r10, (%%rcx)\n\t"              /* commit */             \
		"2:\n\t"                                                     \
		: [off] "=&r"(off)                                         \
		: PCPUPOOL__SECTION_OPERANDS_CPUS(f, roff, cpus),          \
		  PCPUPOOL__ELEM_OPERANDS                                  \
		: "rax", "rcx", "rdx", "rsi", "r10", "cc"                  \
		: slow)

/* The push section: @elem given away at byte offset @off, or a jump to
 * the label slow. */
#define PCPUPOOL__PUSH_SECTION(f, roff, cpus, elem, off)                  \
	__asm__ __volatile__ goto(                                         \
		PCPUPOOL__SECTION_ENTER                                    \
		"movq (%%rcx), %%rax\n\t"              /* count word */         \
		"movl %%eax, %%edx\n\t"                                     \
		"andl %[mask], %%edx\n\t"                                   \
		"cmpl 8(%%rcx), %%edx\n\t"  /* count >= limit: slow path */ \
		"jae %l[slow]\n\t"                                             \
		"cmpl %[cap], %%edx\n\t"     /* a corrupt limit: no store */ \
		"jae %l[slow]\n\t"             /* past the slab's page */      \
		"movl %k[off], 192(%%rcx,%%rdx,4)\n\t" /* slots[count] */     \
		"addq $" PCPUPOOL__PUSH_DELTA ", %%rax\n\t"                 \
		"movq %%rax, (%%rcx)\n\t"              /* commit */             \
		"2:\n\t"                                                     \
		: [elem] "+m"(PCPUPOOL__ELEM_MEM(elem))                    \
		: PCPUPOOL__SECTION_OPERANDS_CPUS(f, roff, cpus),          \
		  [off] "r"(off), [cap] "i"(PCPUPOOL__SLOT_CAP)            \
		: "rax", "rcx", "rdx", "cc"                                \
		: slow)

extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) int
pcpupool__pop(const struct pcpupool_fast *f, intptr_t roff, void **ret)
{
	uint64_t off;

	PCPUPOOL__POP_SECTION(f, roff, __builtin_offsetof(struct pcpupool_fast, pf_cpus),
			      off, PCPUPOOL__POP_MARK);
	*ret = f->pf_elems + off;
	return 1;
slow:
	return 0;
}

/* Push @elem, at byte offset @off, onto the current CPU's slab if it is
 * under its limit.  Return: 1 pushed, 0 slow path.  (pf_elems being
 * 2^32-aligned, pcpupool_free() passes the address's low half: no
 * subtraction between the pop's load of a slot and the push's store of
 * it, which a pair in a loop would wait for.) */
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) int
pcpupool__push(const struct pcpupool_fast *f, intptr_t roff, void *elem, uint32_t off)
{
	PCPUPOOL__PUSH_SECTION(f, roff, __builtin_offsetof(struct pcpupool_fast, pf_cpus),
			       elem, off);
	return 1;
slow:
	return 0;
}

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

extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) void
pcpupool_free(void *elem, struct pcpupool *pool)
{
	const struct pcpupool_fast *f = (const struct pcpupool_fast *)(void *)pool;

	if (__builtin_expect(PCPUPOOL__NONNULL(pool), 1)) {
		uintptr_t off = (uintptr_t)elem - (uintptr_t)f->pf_elems;

		if (__builtin_expect(off <= f->pf_max_off &&
				     pcpupool__push(f, __rseq_offset, elem,
						    (uint32_t)(uintptr_t)elem), 1))
			return;
	}
	pcpupool__free_miss(elem, pool);
}
#endif
#endif /* PCPUPOOL_HAVE_SECTIONS */

#ifdef __cplusplus
}
#endif

#endif /* PCPUPOOL_H */
