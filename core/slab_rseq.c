// SPDX-License-Identifier: MIT
/*
 * slab_rseq.c - the restartable sections of the library's slow paths
 * (pop whatever the low watermark, splice, spill), beside the hit path's
 * in pcpupool.h.
 * The design, invariants and memory-order pairings of the slab core are
 * described at the top of slab.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_impl.h"

#include <stddef.h>


/* ------------------------------------------------------------------ */
/* rseq sections used by the slow paths                                */

#ifdef SLAB_HAVE_RSEQ
/* The sections below enter like the hit path's (pcpupool.h), with the view
 * as the struct pcpupool_fast it starts with, but check the CPU against
 * rseq_cpus, which does not depend on the elements' alignment; leaving for
 * "slow" means rseq cannot be used here.  They read the view's second line
 * too, which their "memory" clobber covers. */


/* Leave for @to when the slab in %rcx is retired (slab.h): its low is
 * SLAB_LOW_RETIRED.  Tested first, before anything is read for a store. */
#define SLAB_LEAVE_IF_RETIRED(to)                                          \
	"cmpl $-1, 12(%%rcx)\n\t"                                          \
	"je " to "\n\t"
_Static_assert(offsetof(struct slab, low) == 12 && SLAB_LOW_RETIRED == UINT32_MAX,
	       "SLAB_LEAVE_IF_RETIRED reads low at 12 and compares with -1");

/* Pop the top of the current CPU's slab whatever its low watermark; a top
 * slot that is not an element's start is dropped instead (committed as a
 * count - 1 that is no operation).  *ret_left: the count after the pop. */
int slab_rseq_pop(const struct slab_view *v, uint32_t *ret_idx, uint32_t *ret_left,
		    struct slab **ret_slab)
{
	uint64_t delta, cnt, idx;
	uintptr_t slab;

	__asm__ goto(
		PCPUPOOL__SECTION_ENTER
		SLAB_LEAVE_IF_RETIRED("%l[empty]")
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
		return SLAB_POP_DISCARDED;
	}
	*ret_idx = (uint32_t)idx;
	return SLAB_POP_OK;
slow:
	return SLAB_POP_NOCPU;
empty:
	return SLAB_POP_EMPTY;
}

/* The end of a section that moves k slots, k in %edx at "2" (the commit
 * made, or the post-commit abort handler's landing): "6" moved nothing, "5"
 * is the abort handler (and where rseq cannot be used here), which also
 * says "no slab" in %rcx.  k and the slab are the first two outputs. */
#define SLAB_SECTION_RETURN_K                                              \
	"jmp 7f\n\t"                                                        \
	"6:\n\t"                                                            \
	"xorl %%edx, %%edx\n\t"                                             \
	"jmp 7f\n\t"                                                        \
	"5:\n\t"                                                            \
	"xorl %%edx, %%edx\n\t"                                             \
	"xorl %%ecx, %%ecx\n\t"                                             \
	"7:\n\t"
#define SLAB_SECTION_K_OUTPUTS                                             \
	"=&d"(k), "=&c"(slab), "=&a"(tmp), "=&D"(tmp2)

/* Copy buf[0..n) (element offsets) above the current CPU's count, as many
 * as fit below cap, and commit count += k.  Returns k (0 with *ret_slab
 * NULL when rseq is not usable here). */
uint32_t slab_rseq_splice(const struct slab_view *v, const uint32_t *buf,
			    uint32_t n, struct slab **ret_slab)
{
	uint32_t k;
	uintptr_t slab, tmp, tmp2;

	__asm__ __volatile__(
		PCPUPOOL__SECTION_ENTER_TO("5f")
		SLAB_LEAVE_IF_RETIRED("6f")
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
		SLAB_SECTION_RETURN_K
		: SLAB_SECTION_K_OUTPUTS
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
uint32_t slab_rseq_spill(const struct slab_view *v, uint32_t *buf, uint32_t max,
			   struct slab **ret_slab)
{
	uint32_t k;
	uintptr_t slab, tmp, tmp2;

	__asm__ __volatile__(
		PCPUPOOL__SECTION_ENTER_TO("5f")
		SLAB_LEAVE_IF_RETIRED("6f")
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
		SLAB_SECTION_RETURN_K
		: SLAB_SECTION_K_OUTPUTS
		: SLAB_SECTION_OPERANDS(v), [buf] "r"(buf), [max] "r"(max),
		  [v_cap] "i"(offsetof(struct slab_view, slab_cap)), PCPUPOOL__ELEM_OPERANDS
		: "rsi", "r8", "r9", "r10", "memory", "cc");
	(void)tmp; (void)tmp2;
	*ret_slab = (struct slab *)slab;
	return k;
}
#else
int slab_rseq_pop(const struct slab_view *v, uint32_t *ret_idx, uint32_t *ret_left,
		    struct slab **ret_slab)
{
	(void)v; (void)ret_idx; (void)ret_left;
	*ret_slab = NULL;
	return SLAB_POP_NOCPU;
}
uint32_t slab_rseq_splice(const struct slab_view *v, const uint32_t *buf,
			    uint32_t n, struct slab **ret_slab)
{
	(void)v; (void)buf; (void)n;
	*ret_slab = NULL;
	return 0;
}
uint32_t slab_rseq_spill(const struct slab_view *v, uint32_t *buf, uint32_t max,
			   struct slab **ret_slab)
{
	(void)v; (void)buf; (void)max;
	*ret_slab = NULL;
	return 0;
}
#endif
