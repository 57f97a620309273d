// SPDX-License-Identifier: MIT
/*
 * bench_slot_designs.c - what the inline pair would cost if the slab's
 * slots held something else.  pcpupool's pair is held to 1.5x the rseq
 * floor; its pop checks that the slot's byte offset is an element's
 * start with one multiplication, whose high half is also the index it needs
 * for the owner mark.  The obvious way out is to store element indexes: the
 * pop then checks index < nr_elems and marks the owner with no arithmetic,
 * and the multiplication moves to free, which turns the pointer into an
 * index.  This measures the three side by side on the same machine, in the
 * same run, alternating, in one process, without a daemon:
 *
 *   floor     bench/rseq_floor.h: a stack of pointers per CPU, nothing
 *             checked (the 1.00x of every ratio);
 *   offsets   pcpupool.h's pcpupool__pop()/pcpupool__push() and the free's
 *             check of the address's high half, as the inline
 *             pcpupool_alloc()/pcpupool_free() run them;
 *   indexes   the alternative: the same sections and layout, but the pop
 *             takes an index (checked against nr_elems, owner marked by it)
 *             and the caller computes elems + index * stride; free computes
 *             the index with the multiplication by 2^64 / stride.
 *
 * The pool is fake (private memory laid out as pcpupoold's slabs: count
 * word, limit, low watermark, slots at byte 192 of each CPU's 4 KiB page),
 * so the figures are the sections' cost and nothing else.  Benchmark code
 * only; `make bench` runs it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

#include "bench_common.h"
#include "pcpupool.h"
#include "rseq_floor.h"

#if defined(PCPUPOOL_HAVE_SECTIONS) && defined(FLOOR_HAVE_RSEQ)

#define SD_NR_ELEMS   4096u
#define SD_PER_CPU    256u     /* elements in the measured CPU's slab */
#define SD_LOW        32u
#define SD_LIMIT      976u
#define SD_SLAB       4096u
#define SD_SLOTS      192u     /* byte offset of slots[0] in a slab */
#define SD_OWNER      7u
#define SD_PAIRS      2000000u /* per loop per round */
#define SD_ROUNDS     31u

#define OPAQUE(p) __asm__ __volatile__("" : "+r"(p))

/* The index design's handle: pcpupool's, and the stride it multiplies by. */
struct sd_pool {
	struct pcpupool_fast f;
	uint64_t stride;
	uint32_t nr;          /* elements */
	char *elems_map;      /* the reservation pf_elems lies in */
	size_t elems_len;
};

/*
 * The index design's pop: pcpupool__pop() with the slot read as an index.
 * index < nr_elems is the whole check; the owner mark is checked as the
 * header's, on the index in %rdx.
 */
static inline __attribute__((always_inline)) int
sd_pop_index(const struct pcpupool_fast *f, intptr_t roff, uint64_t *ret)
{
	uint64_t idx;

	__asm__ __volatile__ goto(
		PCPUPOOL__SECTION_ENTER
		"movq (%%rcx), %%r10\n\t"
		"movl %%r10d, %%edx\n\t"
		"andl %[mask], %%edx\n\t"
		"cmpl 12(%%rcx), %%edx\n\t"
		"jbe %l[slow]\n\t"
		"movl 188(%%rcx,%%rdx,4), %%edx\n\t"   /* the index */
		"cmpl %c[sd_nr](%[f]), %%edx\n\t"
		"jae %l[slow]\n\t"
		PCPUPOOL__POP_OWNED
		"addq $" PCPUPOOL__POP_DELTA ", %%r10\n\t"
		"movq %%r10, (%%rcx)\n\t"
		"2:\n\t"
		: "=&d"(idx)
		: PCPUPOOL__SECTION_OPERANDS(f, roff), PCPUPOOL__ELEM_OPERANDS,
		  [sd_nr] "i"(offsetof(struct sd_pool, nr))
		: "rax", "rcx", "rsi", "r10", "cc"
		: slow);
	*ret = idx;
	return 1;
slow:
	return 0;
}

/* The index design's push: pcpupool.h's push section storing @idx, without
 * the inline free's check of the address's 4 GiB block (the index design
 * checks the offset itself before). */
static inline __attribute__((always_inline)) int
sd_push_index(const struct pcpupool_fast *f, intptr_t roff, void *elem, uint32_t idx)
{
	PCPUPOOL__PUSH_SECTION(PCPUPOOL__SECTION_OPERANDS(f, roff), "", elem, idx);
	return 1;
slow:
	return 0;
}

/* The three loops: alloc, write a byte of the element through a volatile
 * pointer, free, as bench_peers' pair loop.  Each returns its failures. */
static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN uint64_t
sd_offsets(struct sd_pool *const *pp, uint64_t n)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		const struct pcpupool_fast *f = &(*pp)->f;
		void *p = NULL;

		if (!pcpupool__pop(f, __rseq_offset, &p))
			p = NULL;
		OPAQUE(p);
		if (!p) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)p = (uint8_t)i;
		f = &(*pp)->f;
		if (!pcpupool__push(f, __rseq_offset, p, (uint32_t)(uintptr_t)p))
			bad++;
	}
	return bad;
}

static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN uint64_t
sd_indexes(struct sd_pool *const *pp, uint64_t n)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		const struct sd_pool *sp = *pp;
		uint64_t idx;
		void *p = NULL;

		if (sd_pop_index(&sp->f, __rseq_offset, &idx))
			p = sp->f.pf_elems + idx * sp->stride;
		OPAQUE(p);
		if (!p) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)p = (uint8_t)i;
		sp = *pp;
		uintptr_t off = (uintptr_t)p - (uintptr_t)sp->f.pf_elems;
		unsigned __int128 m = (unsigned __int128)off * sp->f.pf_div;

		/* an element's start (low half below div), then its index */
		if (!(off <= sp->f.pf_max_off && (uint64_t)m <= sp->f.pf_bound &&
		      sd_push_index(&sp->f, __rseq_offset, p, (uint32_t)(m >> 64))))
			bad++;
	}
	return bad;
}

static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN uint64_t
sd_floor(struct floor *const *fp, uint64_t n)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		void *p = floor_pop(*fp);

		OPAQUE(p);
		if (!p) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)p = (uint8_t)i;
		floor_push(*fp, p);
	}
	return bad;
}

/* A fake pool of SD_NR_ELEMS elements of @stride bytes with a slab for
 * every CPU id; CPU @cpu's slab holds elements 0..SD_PER_CPU-1, as byte
 * offsets or (@indexes) as indexes, all owned by SD_OWNER already.  The
 * elements start on a 4 GiB boundary, as libpcpupool maps a pool's (the
 * inline free stores an address's low half). */
static int sd_pool_init(struct sd_pool *sp, int cpu, uint64_t stride, bool indexes)
{
	memset(sp, 0, sizeof(*sp));
	sp->stride = stride;
	/* a page for every CPU id the inline sections accept, as a
	 * libpcpupool view has */
	sp->f.pf_slabs = mmap(NULL, (size_t)PCPUPOOL__SLABS_PAGES * SD_SLAB, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sp->f.pf_slabs == MAP_FAILED) {
		sp->f.pf_slabs = NULL;
		return -ENOMEM;
	}
	sp->elems_len = ((size_t)1 << 33);
	sp->elems_map = mmap(NULL, sp->elems_len, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sp->elems_map == MAP_FAILED) {
		sp->elems_map = NULL;
		return -ENOMEM;
	}
	sp->f.pf_elems = (char *)(((uintptr_t)sp->elems_map + ((uintptr_t)1 << 32) - 1) &
				  ~(((uintptr_t)1 << 32) - 1));
	if (mprotect(sp->f.pf_elems, SD_NR_ELEMS * stride, PROT_READ | PROT_WRITE))
		return -ENOMEM;
	sp->f.pf_meta = aligned_alloc(SD_SLAB, SD_NR_ELEMS * 8);
	if (!sp->f.pf_slabs || !sp->f.pf_elems || !sp->f.pf_meta)
		return -ENOMEM;
	memset(sp->f.pf_elems, 0, SD_NR_ELEMS * stride);
	memset(sp->f.pf_meta, 0, SD_NR_ELEMS * 8);
	sp->f.pf_rseq_off = __rseq_offset;
	sp->f.pf_div = (uint64_t)(((unsigned __int128)1 << 64) / stride) + 1;
	sp->f.pf_bound = (SD_NR_ELEMS - 1) * (sp->f.pf_div * stride);
	sp->nr = SD_NR_ELEMS;
	sp->f.pf_owner = SD_OWNER;
	sp->f.pf_max_off = (uint32_t)((SD_NR_ELEMS - 1) * stride);

	char *slab = sp->f.pf_slabs + (size_t)cpu * SD_SLAB;
	uint32_t *slots = (uint32_t *)(void *)(slab + SD_SLOTS);
	uint32_t *meta = (uint32_t *)(void *)sp->f.pf_meta;

	for (uint32_t k = 0; k < SD_PER_CPU; k++) {
		slots[k] = indexes ? k : (uint32_t)(k * stride);
		meta[2 * k + 1] = SD_OWNER;
	}
	*(uint64_t *)(void *)slab = SD_PER_CPU;
	*(uint32_t *)(void *)(slab + 8) = SD_LIMIT;
	*(uint32_t *)(void *)(slab + 12) = SD_LOW;
	return 0;
}

static void sd_pool_destroy(struct sd_pool *sp)
{
	if (sp->f.pf_slabs)
		munmap(sp->f.pf_slabs, (size_t)PCPUPOOL__SLABS_PAGES * SD_SLAB);
	if (sp->elems_map)
		munmap(sp->elems_map, sp->elems_len);
	free(sp->f.pf_meta);
}

/* Do @a and @b share a 64-byte line's place in a 4 KiB page? */
static bool sd_alias(const void *a, const void *b)
{
	return (((uintptr_t)a ^ (uintptr_t)b) & 4095) < 64;
}

/*
 * The floor with SD_PER_CPU elements on CPU @cpu, or one fewer when the
 * element on top would share its 4 KiB-page offset with what the sections
 * read (struct floor, the stack's count, its top slot): the loop's store
 * into the element then falsely delays the next section's loads (4K
 * aliasing), and the floor reads slower than it is
 * (bench/results/notes.md).  The fake pools' slabs and elements are
 * page-aligned, so their top element never aliases that way.
 */
static int sd_floor_init(struct floor *fl, uint32_t nr_cpus, int cpu, uint64_t stride)
{
	int cpus[1] = { cpu };

	for (uint32_t per = SD_PER_CPU;; per--) {
		if (floor_init(fl, nr_cpus, cpus, 1, per, stride))
			return -ENOMEM;
		const struct floor_cpu *fc = floor_cpu_of(fl, (uint32_t)cpu);
		const void *top = fc->slots[per - 1];

		if (per == SD_PER_CPU - 4 ||
		    (!sd_alias(top, fl) && !sd_alias(top, &fc->count) &&
		     !sd_alias(top, &fc->slots[per - 1])))
			return 0;
		floor_destroy(fl);
	}
}

/*
 * What the loops read besides the pools: the three handles and the
 * pointers to them, which each iteration reloads after its store into the
 * element.  All in the second half of one page, so that no store the loops
 * make (an element at page offset 0xfc0 or 0xc00, a slab's count at 0, its
 * top slot at 0x4bc, glibc's rseq area) shares their place in a 4 KiB page:
 * where the linker or the stack happened to put them, that 4K aliasing made
 * a cell read several times its cost (bench/results/notes.md).
 */
struct sd_handles {
	char sh_pad[2048];
	struct sd_pool sh_off, sh_idx;
	struct floor sh_fl;
	struct sd_pool *sh_offp, *sh_idxp;
	struct floor *sh_flp;
};

/* Both designs and the floor at one stride; 0, or 1 on a failure. */
static int sd_run(uint32_t nr_cpus, int cpu, uint64_t stride, uint32_t rounds)
{
	struct sd_handles *h = aligned_alloc(4096, 4096);
	double t[3][SD_ROUNDS];
	uint64_t bad = 0;
	int ret = 1;

	_Static_assert(sizeof(struct sd_handles) <= 4096, "one page");
	if (!h) {
		fprintf(stderr, "bench_slot_designs: out of memory\n");
		return 1;
	}
	memset(h, 0, sizeof(*h));
	h->sh_offp = &h->sh_off;
	h->sh_idxp = &h->sh_idx;
	h->sh_flp = &h->sh_fl;
	if (sd_pool_init(&h->sh_off, cpu, stride, false) ||
	    sd_pool_init(&h->sh_idx, cpu, stride, true) ||
	    sd_floor_init(&h->sh_fl, nr_cpus, cpu, stride)) {
		fprintf(stderr, "bench_slot_designs: out of memory\n");
		goto out;
	}
	for (uint32_t r = 0; r < rounds; r++) {
		/* rotate the order, so that drift hits all three alike */
		for (uint32_t k = 0; k < 3; k++) {
			uint32_t which = (r + k) % 3;
			uint64_t t0 = bench_now_ns();

			if (which == 0)
				bad += sd_floor(&h->sh_flp, SD_PAIRS);
			else if (which == 1)
				bad += sd_offsets(&h->sh_offp, SD_PAIRS);
			else
				bad += sd_indexes(&h->sh_idxp, SD_PAIRS);
			t[which][r] = (double)(bench_now_ns() - t0) / SD_PAIRS;
		}
	}
	if (bad || floor_check(&h->sh_fl, "bench_slot_designs")) {
		fprintf(stderr, "bench_slot_designs: %llu pairs failed\n",
			(unsigned long long)bad);
		goto out;
	}
	struct bench_stats s[3];

	for (int k = 0; k < 3; k++)
		s[k] = bench_stats_of(t[k], rounds);
	if (!s[0].valid || !s[1].valid || !s[2].valid)
		goto out;
	printf("%6llu B  floor %5.2f ns   offsets (pcpupool) %5.2f ns  %4.2fx"
	       "   indexes %5.2f ns  %4.2fx\n", (unsigned long long)stride,
	       s[0].med, s[1].med, s[1].med / s[0].med, s[2].med, s[2].med / s[0].med);
	ret = 0;
out:
	sd_pool_destroy(&h->sh_off);
	sd_pool_destroy(&h->sh_idx);
	floor_destroy(&h->sh_fl);
	free(h);
	return ret;
}

int main(int argc, char **argv)
{
	uint32_t nr_cpus = (uint32_t)get_nprocs_conf();
	int cpu = sched_getcpu();
	cpu_set_t set;
	char model[256];
	int bad = 0;

	if (argc > 1) {
		printf("usage: bench_slot_designs\n\n"
		       "The inline alloc+free pair with pcpupool's slots (byte offsets,\n"
		       "checked by one multiplication in the pop) against the same with\n"
		       "element indexes (checked by a compare in the pop, the\n"
		       "multiplication moved to free) and against the rseq floor, on a\n"
		       "fake pool in this process, pinned to the CPU it starts on.\n"
		       "Prints the median ns per pair of %u rounds of %u pairs, and\n"
		       "each design's ratio to the floor.\n", SD_ROUNDS, SD_PAIRS);
		return strcmp(argv[1], "--help") ? 2 : 0;
	}
	if (__rseq_size == 0 || cpu < 0) {
		printf("bench_slot_designs: glibc did not register rseq; nothing to measure\n");
		return 0;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("bench_slot_designs: sched_setaffinity");
		return 1;
	}
	bench_cpu_model(model, sizeof(model));
	printf("slot designs, inline pair (median of %u rounds, CPU %d: %s)\n",
	       SD_ROUNDS, cpu, model);
	bad |= sd_run(nr_cpus, cpu, 64, SD_ROUNDS);
	bad |= sd_run(nr_cpus, cpu, 1024, SD_ROUNDS);
	return bad;
}

#else
int main(void)
{
	printf("bench_slot_designs: needs x86_64, GCC or clang >= 11 and glibc >= 2.35\n");
	return 0;
}
#endif
