// SPDX-License-Identifier: MIT
/*
 * slab_comps.c - bench_slab's competitors: the timed loop of each (one
 * alloc+free pair per iteration, writing one byte of the element through
 * a volatile pointer), the worker threads that run them, pinned, in step,
 * and where what the loops read is put.  slab_bench.h; bench_slab.c says
 * what each competitor is.
 *
 * Shared mutable state: struct bench, main's; the workers share with main
 * the job word and the start spin counter (ordered by the pthread
 * barriers), the mutex free list (that is the competitor) and, through the
 * rseq sections, the per-CPU stacks and slabs.  Each worker writes only
 * its own struct worker, which main reads after the barrier that ends the
 * sample.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_bench.h"
#include "slab_inline.h"  /* slab_inline_pairs(): pcpupool.h's hit path */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <unistd.h>

#if defined(__has_builtin)
#if __has_builtin(__builtin_thread_pointer)
#define BENCH_HAVE_TP 1
#endif
#endif

#ifdef PCPUPOOL__NO_STATS
#error "slab_comps.c measures the slab with its statistics: see bench_slab_nostats.c"
#endif

/* The stats-off entry points, bench_slab_nostats.c: ool_slab_alloc() and
 * ool_slab_free() below compiled with PCPUPOOL__NO_STATS. */
void *nostats_slab_alloc(const struct slab_view *v);
void nostats_slab_free(const struct slab_view *v, void *p);

/* The inline loop without the owner mark, and without the offset check
 * either: bench_slab_ablate.c. */
uint64_t ablate_noowner_pairs(const struct slab_view *v, uint64_t pairs, uint64_t *refills);
uint64_t ablate_nocheck_pairs(const struct slab_view *v, uint64_t pairs, uint64_t *refills);

/* ------------------------------------------------------------------ */
/* the mutex free list                                                 */

int comps_mlist_init(struct mlist *m, uint32_t nr)
{
	memset(m, 0, sizeof(*m));
	if (pthread_mutex_init(&m->lock, NULL))
		return -ENOMEM;
	m->nodes = aligned_alloc(BENCH_ELEM_SIZE, (size_t)nr * sizeof(*m->nodes));
	if (!m->nodes)
		return -ENOMEM;
	m->nr = nr;
	for (uint32_t i = 0; i < nr; i++)
		m->nodes[i].next = i + 1 < nr ? &m->nodes[i + 1] : NULL;
	m->head = &m->nodes[0];
	return 0;
}

void comps_mlist_destroy(struct mlist *m)
{
	free(m->nodes);
	pthread_mutex_destroy(&m->lock);
}

static inline struct mlist_node *mlist_pop(struct mlist *m)
{
	struct mlist_node *n;

	pthread_mutex_lock(&m->lock);
	n = m->head;
	if (n)
		m->head = n->next;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static inline void mlist_push(struct mlist *m, struct mlist_node *n)
{
	pthread_mutex_lock(&m->lock);
	n->next = m->head;
	m->head = n;
	pthread_mutex_unlock(&m->lock);
}

int comps_mlist_check(const struct mlist *m)
{
	struct bench_census cs;

	bench_census_start(&cs, m->nr);
	for (const struct mlist_node *n = m->head; n && !cs.bad; n = n->next) {
		uintptr_t off = (uintptr_t)n - (uintptr_t)m->nodes;

		if (off % sizeof(*n))
			cs.bad = true;
		bench_census_count(&cs, off / sizeof(*n));
	}
	return bench_census_end(&cs, "mutex list");
}

/* ------------------------------------------------------------------ */
/* the out-of-line entry points                                        */

/* The library's entry points, out of line and shaped as libpcpupool's
 * pcpupool_alloc()/pcpupool_free() are: pointers in and out, the hit path a
 * leaf, everything else (watermark crossing, miss, spill) a tail call. */
static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN void *ool_slab_alloc(const struct slab_view *v)
{
	int refill_cpu;   /* the library sends the request here */

	return slab_alloc_elem(v, &refill_cpu);
}

static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN void ool_slab_free(const struct slab_view *v, void *p)
{
	slab_free_elem(v, p);
}

/* The floor's pop and push behind the same kind of call: pointer in,
 * pointer out (NULL when the stack is empty). */
static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN void *ool_floor_alloc(const struct floor *f)
{
	return floor_pop(f);
}

static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN void ool_floor_free(const struct floor *f, void *p)
{
	floor_push(f, p);
}


/* ------------------------------------------------------------------ */
/* the timed loops                                                     */


/* The calling thread's run-queue wait so far: ns it was runnable but
 * another task had its CPU (the second field of schedstat, kept by the
 * scheduler for every task when the kernel has CONFIG_SCHED_INFO).  0 when
 * @fd is -1 or unreadable. */
static uint64_t run_delay_ns(int fd)
{
	char buf[128];
	unsigned long long run, wait;
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return 0;
	return wait;
}

/* The timed loops: each returns the number of wrong results. */

static BENCH_HOT_ALIGN uint64_t loop_floor(struct bench *b, struct worker *w,
					   uint64_t pairs)
{
	const struct floor *f = b->hot_fl;
	uint64_t bad = 0;

	(void)w;
	for (uint64_t i = 0; i < pairs; i++) {
		void *p = floor_pop(f);

		if (unlikely(!p)) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)p = (uint8_t)i;
		floor_push(f, p);
	}
	return bad;
}

/* The three out-of-line loops are one loop with different callees. */
static BENCH_HOT_ALIGN uint64_t loop_floor_ool(struct bench *b, struct worker *w,
					       uint64_t pairs)
{
	const struct floor *f = b->hot_fl;
	uint64_t bad = 0;

	(void)w;
	for (uint64_t i = 0; i < pairs; i++) {
		void *p = ool_floor_alloc(f);

		if (unlikely(!p)) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)p = (uint8_t)i;
		ool_floor_free(f, p);
	}
	return bad;
}

static BENCH_HOT_ALIGN uint64_t loop_slab_ool(struct bench *b, struct worker *w,
					      uint64_t pairs)
{
	const struct slab_view *v = b->hot_v;
	uint64_t bad = 0;

	(void)w;
	for (uint64_t i = 0; i < pairs; i++) {
		void *p = ool_slab_alloc(v);

		if (unlikely(!p)) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)p = (uint8_t)i;
		ool_slab_free(v, p);
	}
	return bad;
}

static BENCH_HOT_ALIGN uint64_t loop_slab_nostats(struct bench *b, struct worker *w,
						  uint64_t pairs)
{
	const struct slab_view *v = b->hot_v;
	uint64_t bad = 0;

	(void)w;
	for (uint64_t i = 0; i < pairs; i++) {
		void *p = nostats_slab_alloc(v);

		if (unlikely(!p)) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)p = (uint8_t)i;
		nostats_slab_free(v, p);
	}
	return bad;
}

/* pcpupool.h's inline hit path on the view (slab_inline.h), and the same
 * with the owner mark, then also the offset check, taken out of the pop
 * (bench_slab_ablate.c): the breakdown of what the pair costs. */
static BENCH_HOT_ALIGN uint64_t loop_slab_inline(struct bench *b, struct worker *w,
						 uint64_t pairs)
{
	return slab_inline_pairs(b->hot_v, pairs, &w->refills);
}

static BENCH_HOT_ALIGN uint64_t loop_slab_noowner(struct bench *b, struct worker *w,
						  uint64_t pairs)
{
	return ablate_noowner_pairs(b->hot_v, pairs, &w->refills);
}

static BENCH_HOT_ALIGN uint64_t loop_slab_nocheck(struct bench *b, struct worker *w,
						  uint64_t pairs)
{
	return ablate_nocheck_pairs(b->hot_v, pairs, &w->refills);
}

static uint64_t loop_malloc(struct bench *b, struct worker *w, uint64_t pairs)
{
	uint64_t bad = 0;

	(void)b; (void)w;
	for (uint64_t i = 0; i < pairs; i++) {
		uint8_t *p = malloc(BENCH_ELEM_SIZE);

		/* p is opaque from here on: malloc/free cannot be paired up
		 * and removed */
		__asm__ __volatile__("" : "+r"(p) : : "memory");
		if (unlikely(!p)) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)p = (uint8_t)i;
		free(p);
	}
	return bad;
}

static uint64_t loop_mutex(struct bench *b, struct worker *w, uint64_t pairs)
{
	struct mlist *m = &b->ml;
	uint64_t bad = 0;

	(void)w;
	for (uint64_t i = 0; i < pairs; i++) {
		struct mlist_node *n = mlist_pop(m);

		if (unlikely(!n)) {
			bad++;
			continue;
		}
		*(volatile uint8_t *)n->rest = (uint8_t)i;
		mlist_push(m, n);
	}
	return bad;
}

const struct comp comps[NR_COMPS] = {
	[COMP_FLOOR]        = { "rseq per-CPU array (floor)",              loop_floor },
	[COMP_FLOOR_OOL]    = { "rseq per-CPU array (floor, out-of-line)", loop_floor_ool },
	[COMP_SLAB_OOL]     = { "pcpupool slab (out-of-line)",             loop_slab_ool },
	[COMP_SLAB_NOSTATS] = { "pcpupool slab, stats off (out-of-line)",  loop_slab_nostats },
	[COMP_SLAB_INLINE]  = { "pcpupool slab (inline)",                  loop_slab_inline },
	[COMP_SLAB_NOOWNER] = { "  the same, no owner mark",               loop_slab_noowner },
	[COMP_SLAB_NOCHECK] = { "  ... and no offset check",               loop_slab_nocheck },
	[COMP_MALLOC]       = { "glibc malloc/free",                       loop_malloc },
	[COMP_MUTEX]        = { "pthread mutex free list",                 loop_mutex },
};

/* ------------------------------------------------------------------ */
/* the workers                                                         */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;

	/* this thread's own schedstat: thread-self is resolved at open */
	w->sched_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	/* where its stores go, for comps_place_hot() */
	w->frame = (uintptr_t)__builtin_frame_address(0);
#ifdef BENCH_HAVE_TP
	if (__rseq_size > 0)
		w->rseq_area = (uintptr_t)__builtin_thread_pointer() + (uintptr_t)__rseq_offset;
#endif
	for (;;) {
		pthread_barrier_wait(&b->start);
		struct bench_job job = b->job;

		if (job.quit)
			break;
		if (w->id < job.nthreads) {
			/* relaxed: only a rendezvous, nothing is published */
			atomic_fetch_add_explicit(&b->ready, 1, memory_order_relaxed);
			while (atomic_load_explicit(&b->ready, memory_order_relaxed) < job.nthreads)
				bench_cpu_relax();
			uint64_t d0 = run_delay_ns(w->sched_fd), d1;

			w->t0 = bench_now_ns();
			w->bad = comps[job.comp].loop(b, w, job.pairs);
			w->t1 = bench_now_ns();
			d1 = run_delay_ns(w->sched_fd);
			w->wait = d1 > d0 ? d1 - d0 : 0;
			if (w->wait > w->t1 - w->t0)
				w->wait = w->t1 - w->t0;
		}
		pthread_barrier_wait(&b->done);
	}
	if (w->sched_fd >= 0)
		close(w->sched_fd);
	return NULL;
}

void comps_run(struct bench *b, int comp, int nthreads, uint64_t pairs, struct sample *ret)
{
	uint64_t first = UINT64_MAX, last = 0;
	double sum = 0, worst = 0;

	b->job = (struct bench_job){ .comp = comp, .nthreads = nthreads, .pairs = pairs };
	atomic_store_explicit(&b->ready, 0, memory_order_relaxed);
	for (int i = 0; i < nthreads; i++)
		b->w[i].refills = 0;
	pthread_barrier_wait(&b->start);
	pthread_barrier_wait(&b->done);

	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < nthreads; i++) {
		const struct worker *w = &b->w[i];
		double wall = (double)(w->t1 - w->t0) / (double)pairs;

		sum += (double)(w->t1 - w->t0 - w->wait) / (double)pairs;
		if (wall > worst)
			worst = wall;
		ret->wall += w->t1 - w->t0;
		ret->wait += w->wait;
		if (w->t0 < first)
			first = w->t0;
		if (w->t1 > last)
			last = w->t1;
		ret->bad += w->bad;
		ret->refills += w->refills;
	}
	ret->ns = sum / nthreads;
	ret->worst_ns = worst;
	ret->mps = last > first ? (double)pairs * nthreads * 1e3 / (double)(last - first) : 0;
}

void comps_quit(struct bench *b)
{
	b->job = (struct bench_job){ .quit = true };
	pthread_barrier_wait(&b->start);
	for (int i = 0; i < b->nr_workers; i++)
		pthread_join(b->w[i].tid, NULL);
}

int comps_start_workers(struct bench *b, const int *cpus, int n)
{
	pthread_barrier_init(&b->start, NULL, (unsigned int)n + 1);
	pthread_barrier_init(&b->done, NULL, (unsigned int)n + 1);
	for (int i = 0; i < n; i++) {
		struct worker *w = &b->w[i];
		cpu_set_t set;
		int r;

		w->b = b;
		w->id = i;
		w->cpu = cpus[i];
		r = pthread_create(&w->tid, NULL, worker_main, w);
		if (r) {
			fprintf(stderr, "bench_slab: pthread_create: %s\n", strerror(r));
			return -r;
		}
		b->nr_workers = i + 1;
		CPU_ZERO(&set);
		CPU_SET(cpus[i], &set);
		r = pthread_setaffinity_np(w->tid, sizeof(set), &set);
		if (r) {
			fprintf(stderr, "bench_slab: pin worker to CPU %d: %s\n", cpus[i],
				strerror(r));
			return -r;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* placing what the loops read                                         */

/*
 * 4K aliasing: x86 cores guess whether a load depends on an earlier store
 * from address bits 11:0 alone, so a load whose address matches a pending
 * store's modulo 4096 waits for it as if it did.  The loops read the slab
 * view and the floor descriptor on every call and store to the first line
 * of a slab or floor stack (count; the slab's allocs/frees counters at 16
 * and 24), a slot, an element, the rseq area and their own stack.  Left
 * where main's stack (randomised to 16 bytes) put them, the view or the
 * floor lands on the same 64-byte line modulo 4096 as one of those stores
 * in a few runs in a hundred, and then the slab's figures are worth
 * nothing (bench/results/notes.md has what it did).  So the rounds read
 * copies of both, made after the warm-up (when the steady state is
 * known), at lines modulo 4096 that no store of the loops uses.
 */
#define ALIAS_SPAN  4096u
#define ALIAS_LINES (ALIAS_SPAN / SLAB_CACHELINE)

_Static_assert(ALIAS_LINES == 64, "one bit per line in a uint64_t");
_Static_assert(sizeof(struct slab_view) % SLAB_CACHELINE == 0, "the view is whole lines");
_Static_assert(sizeof(struct floor) <= SLAB_CACHELINE, "the floor is one line");

static void busy_mark(uint64_t *busy, uintptr_t addr, size_t len)
{
	for (uintptr_t a = addr & ~(uintptr_t)(SLAB_CACHELINE - 1); a < addr + len;
	     a += SLAB_CACHELINE)
		*busy |= UINT64_C(1) << ((a / SLAB_CACHELINE) % ALIAS_LINES);
}

/* A free line for @nlines lines (the first of which is read hot), -1 if
 * none; the lines it takes are marked busy. */
static int busy_take(uint64_t *busy, unsigned int nlines)
{
	for (unsigned int l = 0; l + nlines <= ALIAS_LINES; l++) {
		uint64_t m = ((UINT64_C(1) << nlines) - 1) << l;

		if (!(*busy & (UINT64_C(1) << l))) {
			*busy |= m;
			return (int)l;
		}
	}
	return -1;
}

/* After the warm-up, with no loop running: copy the view and the floor to
 * lines clear of every line the loops store to (see above).  On failure
 * the loops keep reading the originals, which the output says. */
void comps_place_hot(struct bench *b)
{
	const struct slab_view *v = &b->sp.v;
	uint64_t busy = 0;
	char *mem;

	b->hot_line[0] = b->hot_line[1] = -1;
	for (int i = 0; i < b->nr_workers; i++) {
		const struct worker *w = &b->w[i];
		uint32_t c = (uint32_t)w->cpu;
		struct slab *s = slab_of(v, c);
		uint32_t n = slab_count(v, c);
		uint32_t top = n ? slab_idx_of_off(v, s->slots[n - 1]) : SLAB_NIL;

		busy_mark(&busy, (uintptr_t)s, SLAB_CACHELINE);
		busy_mark(&busy, (uintptr_t)&s->slots[n ? n - 1 : 0], 2 * sizeof(s->slots[0]));
		if (top != SLAB_NIL) {
			busy_mark(&busy, (uintptr_t)slab_elem(v, top), 1);
			busy_mark(&busy, (uintptr_t)&v->meta[top], sizeof(struct slab_meta));
		}
		if (b->fl.usable) {
			struct floor_cpu *fc = floor_cpu_of(&b->fl, c);
			uint32_t fn = fc->count;

			busy_mark(&busy, (uintptr_t)fc, SLAB_CACHELINE);
			busy_mark(&busy, (uintptr_t)&fc->slots[fn ? fn - 1 : 0],
				  2 * sizeof(fc->slots[0]));
			if (fn)
				busy_mark(&busy, (uintptr_t)fc->slots[fn - 1], 1);
		}
		if (w->rseq_area)
			busy_mark(&busy, w->rseq_area, sizeof(struct rseq));
		/* the loops' frames and return addresses, below worker_main's */
		busy_mark(&busy, w->frame - 512, 512 + SLAB_CACHELINE);
	}
	mem = aligned_alloc(ALIAS_SPAN, ALIAS_SPAN);
	if (!mem)
		return;
	b->hot_line[0] = busy_take(&busy, sizeof(struct slab_view) / SLAB_CACHELINE);
	b->hot_line[1] = busy_take(&busy, 1);
	if (b->hot_line[0] < 0 || b->hot_line[1] < 0) {
		b->hot_line[0] = b->hot_line[1] = -1;
		free(mem);
		return;
	}
	b->hot_mem = mem;
	b->hot_v = memcpy(mem + b->hot_line[0] * SLAB_CACHELINE, v, sizeof(*v));
	b->hot_fl = memcpy(mem + b->hot_line[1] * SLAB_CACHELINE, &b->fl, sizeof(b->fl));
}
