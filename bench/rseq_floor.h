/* SPDX-License-Identifier: MIT */
/*
 * rseq_floor.h - the per-CPU rseq array stack the benchmarks measure
 * against: the least any per-CPU design can do, so their 1.00x.
 *
 * One stack of element pointers per CPU, touched only by two rseq critical
 * sections written here in inline asm: pop = load count, load slot, store
 * count; push = store slot, store count.  No owner mark, no bounds check,
 * no watermark, no fallback.  Each section ends in its single committing
 * store of `count`, so it is correct across threads, processes (were the
 * stacks in shared memory) and signal handlers, like the pcpupool slab.
 *
 * Shared by bench_slab, bench_peers and bench_slot_designs (one source of
 * truth); x86_64 only, and only when glibc registered rseq (floor.usable
 * says which).
 * Everything is static inline so that a file using part of it still builds
 * warning-free.
 */
#ifndef PCPUPOOL_BENCH_RSEQ_FLOOR_H
#define PCPUPOOL_BENCH_RSEQ_FLOOR_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>

#include "bench_common.h"   /* struct bench_census: floor_check() */
#include "pcpupool.h"   /* PCPUPOOL__ELEM_MEM() */

#define FLOOR_CACHELINE 64u

#if defined(__x86_64__)
#define FLOOR_HAVE_RSEQ 1
#endif

/* One CPU's stack.  `count` is written only by the sections below while
 * they run on that CPU, each ending in its single store of `count`. */
struct floor_cpu {
	uint32_t count;
	uint8_t pad[FLOOR_CACHELINE - sizeof(uint32_t)];
	void *slots[];
};

_Static_assert(offsetof(struct floor_cpu, slots) == FLOOR_CACHELINE,
	       "slots start on their own line");

struct floor {
	char *cpus;          /* nr_cpus stacks, stride bytes apart */
	char *elems;         /* nr_elems elements of elem_size bytes */
	size_t elem_size;
	uint32_t stride;
	uint32_t nr_cpus;
	uint32_t cap;        /* slots per stack: nr_elems, so push needs no check */
	uint32_t nr_elems;
	bool usable;         /* x86_64 and glibc registered rseq */
};

static inline struct floor_cpu *floor_cpu_of(const struct floor *f, uint32_t cpu)
{
	return (struct floor_cpu *)(f->cpus + (size_t)cpu * f->stride);
}

#ifdef FLOOR_HAVE_RSEQ
/*
 * Enter a critical section [1, 2) that aborts to 4.  The struct rseq_cs
 * descriptor (version, flags, start_ip, post_commit_offset, abort_ip) goes
 * to __rseq_cs; the abort stub goes to __rseq_failure, preceded by RSEQ_SIG
 * as the 4-byte immediate of a ud1 because the kernel checks the four bytes
 * before abort_ip.  The stub jumps back to 0, which stores the descriptor's
 * address into this thread's rseq->rseq_cs (the kernel cleared it when it
 * aborted us) and runs the section again from the top.
 *
 * The rseq area glibc registered lies at thread pointer + __rseq_offset
 * (read from glibc, a constant kept in a register, as pcpupool.h does); on
 * x86_64 the thread pointer is the %fs base, hence %fs:field(off).
 *
 * The descriptor and abort stub are written out again here rather than
 * taken from pcpupool/rseq-x86_64.h on purpose: the floor the library is
 * measured against must not change when the library's sections do.
 */
#define FLOOR_RSEQ_ENTER						\
	".pushsection __rseq_cs, \"aw\"\n\t"				\
	".balign 32\n\t"						\
	"3:\n\t"							\
	".long 0, 0\n\t"						\
	".quad 1f, 2f - 1f, 4f\n\t"					\
	".popsection\n\t"						\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".byte 0x0f, 0xb9, 0x3d\n\t"					\
	".long %c[sig]\n\t"						\
	"4:\n\t"							\
	"jmp 0f\n\t"							\
	".popsection\n\t"						\
	"0:\n\t"							\
	"leaq 3b(%%rip), %q[cs]\n\t"					\
	"movq %q[cs], %%fs:%c[cs_field](%q[off])\n\t"			\
	"1:\n\t"							\
	/* the stack of the CPU we run on; cpu_id is valid because	\
	 * rseq is registered, and below nr_cpus because every CPU id	\
	 * is below get_nprocs_conf() (the workers are pinned there) */ \
	"movl %%fs:%c[cpu_field](%q[off]), %k[s]\n\t"			\
	"imull %k[stride], %k[s]\n\t"					\
	"addq %q[base], %q[s]\n\t"

#define FLOOR_RSEQ_INPUTS(f)						\
	[off] "r"(__rseq_offset), [stride] "r"((f)->stride),		\
	[base] "r"((f)->cpus), [sig] "i"(RSEQ_SIG),			\
	[cs_field] "i"(offsetof(struct rseq, rseq_cs)),			\
	[cpu_field] "i"(offsetof(struct rseq, cpu_id)),			\
	[slots] "i"(offsetof(struct floor_cpu, slots))

/* The sections name the caller's memory they depend on instead of
 * clobbering "memory", as pcpupool.h's do: the element a push gives away,
 * so that the caller's accesses to it are all made first.  The floor's
 * fields go in as register values, and the stacks are touched only by the
 * sections once floor_init() has returned.  PCPUPOOL__ELEM_MEM() is
 * pcpupool.h's, so that both compile alike. */
/* Pop the top of the current CPU's stack; NULL if it is empty. */
static inline void *floor_pop(const struct floor *f)
{
	uintptr_t cs, s, n;
	void *p;

	__asm__ __volatile__(
		FLOOR_RSEQ_ENTER
		"movl (%q[s]), %k[n]\n\t"                 /* count */
		"testl %k[n], %k[n]\n\t"
		"jz 5f\n\t"
		"subl $1, %k[n]\n\t"
		"movq %c[slots](%q[s],%q[n],8), %q[p]\n\t" /* slots[count - 1] */
		"movl %k[n], (%q[s])\n\t"                 /* commit: count - 1 */
		"2:\n\t"
		"jmp 6f\n\t"
		"5:\n\t"
		"xorl %k[p], %k[p]\n\t"
		"6:\n\t"
		: [cs] "=&r"(cs), [s] "=&r"(s), [n] "=&r"(n), [p] "=&r"(p)
		: FLOOR_RSEQ_INPUTS(f)
		: "cc");
	(void)cs;
	return p;
}

/* Push @p onto the current CPU's stack.  No full check: every stack can
 * hold every element of the floor (cap == nr_elems). */
static inline void floor_push(const struct floor *f, void *p)
{
	uintptr_t cs, s, n;

	__asm__ __volatile__(
		FLOOR_RSEQ_ENTER
		"movl (%q[s]), %k[n]\n\t"                 /* count */
		"movq %q[p], %c[slots](%q[s],%q[n],8)\n\t" /* slots[count] = p */
		"addl $1, %k[n]\n\t"
		"movl %k[n], (%q[s])\n\t"                 /* commit: count + 1 */
		"2:\n\t"
		: [cs] "=&r"(cs), [s] "=&r"(s), [n] "=&r"(n),
		  [elem] "+m"(PCPUPOOL__ELEM_MEM(p))
		: FLOOR_RSEQ_INPUTS(f), [p] "r"(p)
		: "cc");
	(void)cs; (void)s; (void)n;
}
#else
static inline void *floor_pop(const struct floor *f)
{
	(void)f;
	return NULL;
}

static inline void floor_push(const struct floor *f, void *p)
{
	(void)f; (void)p;
}
#endif

/* Why the floor cannot run here, or NULL when it can. */
static inline const char *floor_unusable_reason(const struct floor *f)
{
#ifdef FLOOR_HAVE_RSEQ
	return f->usable ? NULL : "glibc did not register rseq (__rseq_size == 0)";
#else
	(void)f;
	return "the floor's rseq sections are x86_64 only";
#endif
}

/**
 * floor_init() - stacks for every configured CPU, elements for some.
 * @f: the floor to set up (zeroed first).
 * @nr_cpus: stacks to make: get_nprocs_conf(), so that any cpu_id the
 *           kernel reports has one.
 * @cpus: the CPUs that get elements, @nr_used of them.
 * @nr_used: length of @cpus.
 * @per: elements per CPU in @cpus.
 * @elem_size: bytes per element, a multiple of FLOOR_CACHELINE or less.
 *
 * Return: 0, or -ENOMEM (floor_destroy() cleans up either way).
 */
static inline int floor_init(struct floor *f, uint32_t nr_cpus, const int *cpus,
			     int nr_used, uint32_t per, size_t elem_size)
{
	size_t stride;

	memset(f, 0, sizeof(*f));
#ifdef FLOOR_HAVE_RSEQ
	f->usable = __rseq_size > 0;
#endif
	f->elem_size = elem_size;
	f->nr_cpus = nr_cpus;
	f->nr_elems = per * (uint32_t)nr_used;
	f->cap = f->nr_elems;
	stride = sizeof(struct floor_cpu) + sizeof(void *) * (size_t)f->cap;
	f->stride = (uint32_t)((stride + FLOOR_CACHELINE - 1) / FLOOR_CACHELINE *
			       FLOOR_CACHELINE);
	f->cpus = aligned_alloc(FLOOR_CACHELINE, (size_t)nr_cpus * f->stride);
	f->elems = aligned_alloc(FLOOR_CACHELINE, (size_t)f->nr_elems * elem_size +
				 FLOOR_CACHELINE);
	if (!f->cpus || !f->elems)
		return -ENOMEM;
	memset(f->cpus, 0, (size_t)nr_cpus * f->stride);
	memset(f->elems, 0, (size_t)f->nr_elems * elem_size);
	for (int i = 0; i < nr_used; i++) {
		struct floor_cpu *fc = floor_cpu_of(f, (uint32_t)cpus[i]);

		for (uint32_t k = 0; k < per; k++)
			fc->slots[k] = f->elems + ((size_t)i * per + k) * elem_size;
		fc->count = per;
	}
	return 0;
}

static inline void floor_destroy(struct floor *f)
{
	free(f->cpus);
	free(f->elems);
	f->cpus = f->elems = NULL;
}

/**
 * floor_check() - every element of the floor in some stack exactly once.
 * @f: the floor, with no section running.
 * @who: prefix of the complaint printed to stderr.
 *
 * Return: 0 if so, 1 (after saying what is wrong) if not.
 */
static inline int floor_check(const struct floor *f, const char *who)
{
	struct bench_census cs;

	bench_census_start(&cs, f->nr_elems);
	for (uint32_t c = 0; c < f->nr_cpus && !cs.bad; c++) {
		const struct floor_cpu *fc = floor_cpu_of(f, c);

		if (fc->count > f->cap) {
			cs.bad = true;
			break;
		}
		for (uint32_t k = 0; k < fc->count && !cs.bad; k++) {
			uintptr_t off = (uintptr_t)fc->slots[k] - (uintptr_t)f->elems;

			if (off % f->elem_size)
				cs.bad = true;
			bench_census_count(&cs, off / f->elem_size);
		}
	}
	return bench_census_end(&cs, who);
}

#endif /* PCPUPOOL_BENCH_RSEQ_FLOOR_H */
