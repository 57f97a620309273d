/* SPDX-License-Identifier: MIT */
/*
 * pcpupool/rseq-x86_64.h - the restartable sections of the inline fast
 * path on x86-64: pop and push on the current CPU's slab, one commit store
 * each.  Included by pcpupool/inline.h; not for direct use.
 */
#ifndef PCPUPOOL_RSEQ_X86_64_H
#define PCPUPOOL_RSEQ_X86_64_H

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

/* asm goto with outputs: GCC 11, clang 11 */
#if defined(PCPUPOOL__HAVE_RSEQ_OFFSET) && \
	((defined(__clang__) && __clang_major__ >= 11) || \
	 (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define PCPUPOOL_HAVE_SECTIONS 1

/* The pop reads slots[(count & PCPUPOOL__SLOT_MASK) - 1], so that even a
 * corrupt count keeps it inside the slab's page and the start of the next
 * (never another slab's slots) */
#define PCPUPOOL__SLOT_MASK 1023
/* and push stores only below slots[976], the end of the slab's page,
 * whatever a corrupt count or limit says */
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
 * on in %rcx; leave for %l[slow] when the CPU id is not below %[cpus]: an
 * immediate PCPUPOOL__MAX_CPUS in the inline sections, whose pf_slabs
 * has a page for each such id (zeros for a CPU the pool has no usable
 * slab for, or for all of them where the library cannot run the sections
 * on the slabs, e.g. the pool's mapping is not 2^32-aligned: the sections
 * then leave at the count; where rseq is not registered glibc's cpu_id is
 * negative, past the bound).
 * No load of a bound from the handle: the pair waits for its loads of the
 * handle, so the bound is a constant.
 * The abort handler is preceded by the signature 0x53053053, as the kernel
 * requires.  glibc's rseq area is at the thread pointer + __rseq_offset
 * (%[rseq]).  The inline pcpupool_alloc() and pcpupool_free() take it
 * from glibc's variable rather than from the handle: a constant the
 * compiler keeps in a register, so that finding the slab does not wait
 * for a load through the pool pointer.
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
	"cmpl %[cpus], %%ecx\n\t"                                            \
	"jae " nocpu "\n\t"                                                  \
	"shlq $12, %%rcx\n\t"                                                \
	"addq %c[f_slabs](%[f]), %%rcx\n\t"

/* The operands of the inline sections: @fp the handle, @roff glibc's
 * __rseq_offset (the inline functions below pass glibc's variable, the
 * library the handle's copy of it). */
#define PCPUPOOL__SECTION_OPERANDS(fp, roff)                              \
	PCPUPOOL__SECTION_OPERANDS_AT(fp, roff, "i"(PCPUPOOL__MAX_CPUS),  \
		__builtin_offsetof(struct pcpupool_fast, pf_slabs))
/* ... with the CPU bound @bound an operand (constraint and value) and the
 * slabs at byte @slabs of the handle: the library's own sections check the
 * CPU against the pool's slabs, which they reach whatever the elements'
 * alignment */
#define PCPUPOOL__SECTION_OPERANDS_AT(fp, roff, bound, slabs)             \
	[f] "r"(fp), [fast] "m"(*(fp)), [rseq] "r"(roff), [cpus] bound,   \
	[f_slabs] "i"(slabs), [mask] "i"(PCPUPOOL__SLOT_MASK)

/* Check the offset in %eax (zero-extended): leave for @bad unless it is
 * an element's start; its index is then in %rdx.  With pf_div =
 * floor(2^64 / stride) + 1 = (2^64 + e) / stride, 1 <= e <= stride, the
 * offset o = k * stride + r (r < stride, o < 2^32) gives o * pf_div =
 * k * 2^64 + k * e + r * pf_div: for r = 0 the high half is k and the low
 * half k * e, at most pf_bound exactly when k is below the pool's element
 * count; for r > 0 the low half is at least pf_div >= 2^34 > pf_bound.
 * So one multiplication and one compare divide, check alignment and
 * check range.  The sections of core/slab_rseq.c that take elements off a
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
 * to measure what each step of the pair costs, and for nothing else: a
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
/* The pop section, as a statement: the offset in @ret_off (a uint64_t),
 * or a jump to the label slow; @ops: the handle's operands
 * (PCPUPOOL__SECTION_OPERANDS(), or the library's own); @marks: the
 * owner mark's code.  (No macro parameter is named as an operand: it
 * would replace the operand's name too.) */
#define PCPUPOOL__POP_SECTION(ops, ret_off, marks)                        \
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
		: [off] "=&r"(ret_off)                                     \
		: ops, PCPUPOOL__ELEM_OPERANDS                             \
		: "rax", "rcx", "rdx", "rsi", "r10", "cc"                  \
		: slow)

/* The inline push's check that the element's address %[p] is in the
 * 4 GiB block of the pool's elements: its high half against that of
 * pf_elems (which the little-endian handle holds at byte 4 of it). */
#define PCPUPOOL__PUSH_SAME_BLOCK                                         \
	"movq %[p], %%rax\n\t"                                              \
	"shrq $32, %%rax\n\t"                                               \
	"cmpl %c[f_elems]+4(%[f]), %%eax\n\t"                               \
	"jne %l[slow]\n\t"

/* The push section: element @given given away at byte offset @at, or a jump to the
 * label slow; @pre: asm run first (PCPUPOOL__PUSH_SAME_BLOCK, or
 * nothing).  The count is all 16 bits: the cap check keeps the store
 * inside the slab's page whatever it is. */
#define PCPUPOOL__PUSH_SECTION(ops, pre, given, at)                       \
	__asm__ __volatile__ goto(                                         \
		pre                                                        \
		PCPUPOOL__SECTION_ENTER                                    \
		"movq (%%rcx), %%rax\n\t"              /* count word */         \
		"movzwl %%ax, %%edx\n\t"                                     \
		"cmpl 8(%%rcx), %%edx\n\t"  /* count >= limit: slow path */ \
		"jae %l[slow]\n\t"                                             \
		"cmpl %[cap], %%edx\n\t"     /* a corrupt limit: no store */ \
		"jae %l[slow]\n\t"             /* past the slab's page */      \
		"movl %k[off], 192(%%rcx,%%rdx,4)\n\t" /* slots[count] */     \
		"addq $" PCPUPOOL__PUSH_DELTA ", %%rax\n\t"                 \
		"movq %%rax, (%%rcx)\n\t"              /* commit */             \
		"2:\n\t"                                                     \
		: [elem] "+m"(PCPUPOOL__ELEM_MEM(given))                   \
		: ops, [off] "r"(at), [p] "r"(given),                      \
		  [f_elems] "i"(__builtin_offsetof(struct pcpupool_fast, pf_elems)), \
		  [cap] "i"(PCPUPOOL__SLOT_CAP)                            \
		: "rax", "rcx", "rdx", "cc"                                \
		: slow)

extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) int
pcpupool__pop(const struct pcpupool_fast *f, intptr_t roff, void **ret)
{
	uint64_t off;

	PCPUPOOL__POP_SECTION(PCPUPOOL__SECTION_OPERANDS(f, roff), off, PCPUPOOL__POP_MARK);
	*ret = f->pf_elems + off;
	return 1;
slow:
	return 0;
}

/* Push @elem, at byte offset @off, onto the current CPU's slab if @elem
 * is in the 4 GiB block of the pool's elements and the slab is under its
 * limit.  Return: 1 pushed, 0 slow path.  (pf_elems being 2^32-aligned,
 * pcpupool_free() passes the address's low half: no subtraction between
 * the pop's load of a slot and the push's store of it, which a pair in a
 * loop would wait for.) */
extern __inline__ __attribute__((__gnu_inline__, __always_inline__)) int
pcpupool__push(const struct pcpupool_fast *f, intptr_t roff, void *elem, uint32_t off)
{
	PCPUPOOL__PUSH_SECTION(PCPUPOOL__SECTION_OPERANDS(f, roff), PCPUPOOL__PUSH_SAME_BLOCK,
			       elem, off);
	return 1;
slow:
	return 0;
}
#endif /* PCPUPOOL_HAVE_SECTIONS */

#endif /* PCPUPOOL_RSEQ_X86_64_H */
