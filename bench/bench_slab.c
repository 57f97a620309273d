// SPDX-License-Identifier: MIT
/*
 * bench_slab.c - the first benchmark: what one alloc+free pair costs.
 *
 * Competitors (64-byte elements; every pair writes one byte of the element
 * it got, through a volatile pointer, so no competitor can skip making the
 * element real and the compiler cannot drop the pair):
 *
 *   rseq per-CPU array (floor)   a per-CPU stack of element pointers with
 *                                two minimal rseq critical sections
 *                                (bench/rseq_floor.h, shared with
 *                                bench_peers.c), inlined into the loop:
 *                                pop = load count, load slot, store count;
 *                                push = store slot, store count.  No owner
 *                                mark, no bounds check, no watermark: the
 *                                least any per-CPU design can do, so 1.00x.
 *   rseq per-CPU array (floor, out-of-line)
 *                                the same pop and push behind noinline (and
 *                                noipa) calls shaped like the library's
 *                                entry points (pointer in, pointer out):
 *                                the floor for the out-of-line slab.
 *   pcpupool slab (out-of-line)  slab_alloc_elem() / slab_free_elem() of
 *                                slab.h (the hit path of pcpupool.h, then
 *                                the slow paths) behind noinline (and
 *                                noipa) wrappers, the way a program built
 *                                with PCPUPOOL_NO_INLINE sees libpcpupool
 *                                (less the PLT jump).
 *   pcpupool slab, stats off (out-of-line)
 *                                the same wrappers compiled with
 *                                PCPUPOOL__NO_STATS (bench_slab_nostats.c):
 *                                the commit stores leave the count word's
 *                                ops field alone, to measure what the
 *                                counters cost.
 *   pcpupool slab (inline)       the hit path inlined into the loop as
 *                                pcpupool.h's inline pcpupool_alloc() and
 *                                pcpupool_free() have it (pcpupool__pop()
 *                                and pcpupool__push() given glibc's
 *                                __rseq_offset), the library's slow paths
 *                                behind it.
 *   glibc malloc/free            malloc(64) + free() (the tcache hit path).
 *   pthread mutex free list      one global singly linked free list under
 *                                one pthread_mutex_t.
 *
 * Method:
 *   - one process.  Worker threads are pinned with pthread_setaffinity_np()
 *     to the first two CPUs the process may run on.  "1 thread" runs worker
 *     0 alone; "2 threads" runs both at once, each on its own CPU, released
 *     together (a pthread barrier, then a spin until both have arrived).
 *   - a cell is one competitor at one thread count.  A sample of a cell is
 *     one timed loop of P pairs per thread, CLOCK_MONOTONIC read before and
 *     after the loop by each thread, and the thread's run-queue wait (the
 *     second field of /proc/thread-self/schedstat: time it was runnable
 *     while another task had its CPU) read around that.  ns/pair/thread is
 *     the mean over the threads of (elapsed - wait) / P: on a machine where
 *     other jobs run, the time they take the CPU away is not charged to
 *     the competitor (time a thread blocks, in a futex say, still is).  The
 *     aggregate is all pairs divided by the wall time from the first
 *     thread's start to the last thread's end, waits included; the output
 *     says what share of the wall time went to waits.  Without schedstat
 *     (no CONFIG_SCHED_INFO) both are wall time, as the output says.
 *   - a warm-up round runs every cell once, unrecorded: it faults the
 *     memory in, takes the slab's first miss on each CPU (which splices the
 *     prefilled inbox into the slab, so the rounds measure the steady
 *     state) and times every cell, so that a cell whose sample would last
 *     longer than the sample budget runs fewer pairs (said in the output).
 *   - then N rounds (default 61 of 1M pairs: many short samples, so that
 *     a median shrugs off the samples a noisy neighbour spoiled).  Round r
 *     runs every cell once, starting at cell r mod cells, forward when r
 *     is even and backward when it is odd, so the order rotates, cells
 *     next to each other swap order every round, and slow drift of the
 *     machine (frequency, a noisy neighbour on a VM) hits every cell alike.
 *     Cells are ordered by thread count, then competitor, so the stats-on
 *     and stats-off slab samples of a round run back to back.  No round
 *     starts after --max-time seconds (default 50): a heavily loaded
 *     machine gets fewer rounds, which the output says.
 *   - reported: the median of the N samples, ratios against the (inline)
 *     floor at the same thread count, and the interquartile range of each
 *     cell.  Then the headline figures at 1 thread, each a ratio of two
 *     medians of this run: slab out-of-line / floor out-of-line and slab
 *     inline / floor inline (target: at most 2.00 each), and the cost of
 *     the statistics counters, slab stats on / stats off - 1, both
 *     out-of-line (target: at most 3%), followed by the same figure round
 *     by round (median and quartiles) to show how far it can be trusted.
 *   - correctness: every pair checks what it got (SLAB_NIL or an index past
 *     the pool, an empty stack or list, NULL) and counts it.  After each
 *     slab sample the reserve of every CPU used must be where the warm-up
 *     left it (a change means a miss, a spill or a refill request in the
 *     steady state), and the per-CPU allocs/frees counters (summed over
 *     the CPUs) must have grown by at least the pairs run - by exactly that
 *     unless a section was restarted after its increment, which counts
 *     twice - for the stats-on competitors, and not at all for the stats-off
 *     one.  At the end every structure is walked and each element must be
 *     found exactly once.  Any wrong result makes the exit status 1.
 *
 * Shared mutable state: none at file scope.  main() owns one struct bench;
 * the workers share with it the job word and the start spin counter (job
 * control, ordered by the pthread barriers), the mutex free list (that is
 * the competitor) and, through the rseq sections, the per-CPU stacks and
 * slabs.  Each worker writes only its own struct worker, which main reads
 * after the barrier that ends the sample.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab.h"
#include "bench_common.h"
#include "rseq_floor.h"   /* the floor: struct floor, floor_pop/push */
#include "slab_inline.h"  /* slab_inline_pairs(): pcpupool.h's hit path */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#define BENCH_ELEM_SIZE        64u
#define BENCH_SLAB_CAP         256u
#define BENCH_MAX_ELEMS        65536u
#define BENCH_PREFILL          128u     /* elements per CPU reserve */
#define BENCH_LOW              16u      /* slab low watermark */
#define BENCH_LIMIT            256u     /* slab spill limit */
#define BENCH_OWNER            1u       /* slab_meta.owner of our pops */
#define BENCH_MAX_THREADS      2
#define BENCH_DEFAULT_SAMPLES  61u      /* many short samples: see Method */
#define BENCH_DEFAULT_PAIRS    1000000u
#define BENCH_DEFAULT_MAX_TIME 50u      /* s: rounds stop after this */
#define BENCH_DEFAULT_BUDGET   250000000u /* ns: longest sample wanted */
#define BENCH_QUICK_SAMPLES    5u
#define BENCH_QUICK_PAIRS      500000u
#define BENCH_QUICK_BUDGET     50000000u
#define BENCH_QUICK_MAX_TIME   4u
#define BENCH_MAX_MAX_TIME     86400u
#define BENCH_MAX_SAMPLES      1001u
#define BENCH_MIN_PAIRS        1000u    /* smallest --pairs accepted */
#define BENCH_MAX_PAIRS        1000000000u
#define BENCH_WARM_PAIRS       200000u  /* warm-up sample, at most */
#define BENCH_MIN_CELL_PAIRS   10000u   /* a budget never cuts below this */
#define BENCH_TARGET_RATIO     2.0      /* slab vs floor, both ool or both inline */
#define BENCH_TARGET_STATS_PCT 3.0      /* stats on vs stats off, percent */

#define BENCH_EXIT_OK          0
#define BENCH_EXIT_WRONG       1
#define BENCH_EXIT_SETUP       2

#define ROUND_UP(x, a) (((x) + (a) - 1) / (a) * (a))
#define unlikely(x)    __builtin_expect(!!(x), 0)
#define likely(x) __builtin_expect(!!(x), 1)

/* BENCH_OUT_OF_LINE, BENCH_HOT_ALIGN: bench_common.h */

#if defined(__has_builtin)
#if __has_builtin(__builtin_thread_pointer)
#define BENCH_HAVE_TP 1
#endif
#endif

#ifdef PCPUPOOL__NO_STATS
#error "bench_slab.c measures the slab with its statistics: see bench_slab_nostats.c"
#endif

/* The stats-off entry points, bench_slab_nostats.c: ool_slab_alloc() and
 * ool_slab_free() below compiled with PCPUPOOL__NO_STATS. */
void *nostats_slab_alloc(const struct slab_view *v);
void nostats_slab_free(const struct slab_view *v, void *p);

/* The inline loop without the owner mark, and without the offset check
 * either: bench_slab_ablate.c. */
uint64_t ablate_noowner_pairs(const struct slab_view *v, uint64_t pairs, uint64_t *refills);
uint64_t ablate_nocheck_pairs(const struct slab_view *v, uint64_t pairs, uint64_t *refills);

enum bench_comp {
	COMP_FLOOR,
	COMP_FLOOR_OOL,
	COMP_SLAB_OOL,
	COMP_SLAB_NOSTATS,
	COMP_SLAB_INLINE,
	COMP_SLAB_NOOWNER,
	COMP_SLAB_NOCHECK,
	COMP_MALLOC,
	COMP_MUTEX,
	NR_COMPS
};

#define NR_CELLS (NR_COMPS * BENCH_MAX_THREADS)

/* ------------------------------------------------------------------ */
/* the mutex free list                                                 */

struct mlist_node {
	struct mlist_node *next;
	uint8_t rest[BENCH_ELEM_SIZE - sizeof(struct mlist_node *)];
} __attribute__((aligned(BENCH_ELEM_SIZE)));

_Static_assert(sizeof(struct mlist_node) == BENCH_ELEM_SIZE, "64-byte elements");

struct mlist {
	pthread_mutex_t lock;
	struct mlist_node *head;   /* under lock */
	struct mlist_node *nodes;  /* the nr elements */
	uint32_t nr;
};

static int mlist_init(struct mlist *m, uint32_t nr)
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

static void mlist_destroy(struct mlist *m)
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

/* ------------------------------------------------------------------ */
/* the slab pool                                                       */

struct slabpool {
	struct slab_view v;   /* first: it is cache-line aligned */
	void *base;
	size_t map_size;
	int fd;
	uint32_t per_cpu;     /* elements prefilled into each CPU's reserve */
	uint32_t total;       /* elements in circulation: [0, total) */
};

/* Build the pool as the daemon would: memfd, layout, format, publish,
 * attach; then set every CPU's limits and give it @per elements. */
static int slabpool_init(struct slabpool *sp, uint32_t nr_cpus)
{
	struct slab_geometry g = {
		.nr_cpus = nr_cpus, .slab_cap = BENCH_SLAB_CAP,
		.elem_size = BENCH_ELEM_SIZE, .elem_align = BENCH_ELEM_SIZE,
		.max_elems = BENCH_MAX_ELEMS,
	};
	struct slab_hdr hdr;
	uint32_t idx[BENCH_PREFILL];
	int r;

	sp->fd = -1;
	sp->base = MAP_FAILED;
	memset(&sp->v, 0, sizeof(sp->v));
	r = slab_layout(&g, &hdr);
	if (r < 0)
		return r;
	sp->fd = memfd_create("bench_slab", MFD_CLOEXEC);
	if (sp->fd < 0)
		return -errno;
	if (ftruncate(sp->fd, (off_t)slab_bytes_for(&hdr, BENCH_MAX_ELEMS)) < 0)
		return -errno;
	sp->map_size = hdr.map_size;
	if (pwrite(sp->fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return -errno;
	sp->base = slab_map(sp->fd, sp->map_size);
	if (sp->base == MAP_FAILED)
		return -errno;
	r = slab_format(sp->base, &hdr, "bench_slab");
	if (r < 0)
		return r;
	atomic_store(&((struct slab_hdr *)sp->base)->nr_published, BENCH_MAX_ELEMS);
	r = slab_view_init(&sp->v, sp->base, sp->map_size, BENCH_OWNER);
	if (r < 0)
		return r;
	/* the inline sections' pages, as libpcpupool gives a client's view */
	r = slab_view_map_inline(&sp->v, sp->fd);
	if (r < 0)
		return r;

	sp->per_cpu = BENCH_PREFILL;
	if ((uint64_t)nr_cpus * sp->per_cpu > BENCH_MAX_ELEMS)
		sp->per_cpu = BENCH_MAX_ELEMS / nr_cpus;
	sp->total = sp->per_cpu * nr_cpus;
	for (uint32_t c = 0; c < nr_cpus; c++) {
		slab_set_limits(&sp->v, c, BENCH_LOW, BENCH_LIMIT);
		for (uint32_t k = 0; k < sp->per_cpu; k++)
			idx[k] = c * sp->per_cpu + k;
		r = slab_refill(&sp->v, c, idx, sp->per_cpu);
		if (r < 0)
			return r;
	}
	return 0;
}

static void slabpool_destroy(struct slabpool *sp)
{
	slab_view_fini(&sp->v);
	if (sp->base != MAP_FAILED)
		munmap(sp->base, sp->map_size);
	if (sp->fd >= 0)
		close(sp->fd);
}

static uint32_t slabpool_outbox_len(const struct slabpool *sp, uint32_t cpu)
{
	return slab_list_len(atomic_load(&slab_of(&sp->v, cpu)->outbox));
}

static uint32_t slabpool_inbox_len(const struct slabpool *sp, uint32_t cpu)
{
	return slab_list_len(atomic_load(&slab_of(&sp->v, cpu)->inbox));
}

static uint64_t slabpool_requests(const struct slabpool *sp)
{
	uint64_t n = 0;

	for (uint32_t c = 0; c < sp->v.nr_cpus; c++)
		n += atomic_load(&slab_of(&sp->v, c)->refill_requests);
	return n;
}

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

/* The per-CPU statistics of every slab of the pool, summed. */
static void slabpool_stat_sums(const struct slabpool *sp, uint64_t *ret_allocs,
			       uint64_t *ret_frees)
{
	uint64_t a = 0, f = 0;

	for (uint32_t c = 0; c < sp->v.nr_cpus; c++) {
		uint64_t ca, cf;

		slab_cpu_counts(&sp->v, c, &ca, &cf);
		a += ca;
		f += cf;
	}
	*ret_allocs = a;
	*ret_frees = f;
}

/* ------------------------------------------------------------------ */
/* threads and jobs                                                    */

struct bench_job {
	int comp;            /* enum bench_comp */
	int nthreads;
	uint64_t pairs;      /* per thread */
	bool quit;
};

struct bench;

/* One worker thread: it writes only this, main reads it after `done`. */
struct worker {
	struct bench *b;
	pthread_t tid;
	int id;
	int cpu;
	int sched_fd;        /* its /proc/thread-self/schedstat, or -1 */
	uintptr_t frame;     /* its stack, near the loops' frames */
	uintptr_t rseq_area; /* its struct rseq, or 0 */
	uint64_t t0, t1;     /* CLOCK_MONOTONIC ns around the loop */
	uint64_t wait;       /* ns of the loop spent waiting for the CPU */
	uint64_t bad;        /* wrong results in the loop */
	uint64_t refills;    /* slab: refill requests returned by slab_alloc */
} __attribute__((aligned(SLAB_CACHELINE)));

struct bench {
	struct slabpool sp;
	struct floor fl;
	struct mlist ml;
	/* what the timed loops read: &sp.v and &fl, or after the warm-up
	 * copies of them placed by place_hot() in hot_mem */
	const struct slab_view *hot_v;
	const struct floor *hot_fl;
	void *hot_mem;
	int hot_line[2];     /* page line of the copies, or -1 */
	/* job control: main writes job before `start`, workers read it after */
	pthread_barrier_t start;
	pthread_barrier_t done;
	struct bench_job job;
	/* start spin: participants count themselves in and wait for all */
	_Atomic int ready __attribute__((aligned(SLAB_CACHELINE)));
	int nr_workers;
	struct worker w[BENCH_MAX_THREADS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
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

typedef uint64_t bench_loop_fn(struct bench *b, struct worker *w, uint64_t pairs);

static const struct competitor {
	const char *name;
	bench_loop_fn *loop;
} comps[NR_COMPS] = {
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

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;

	/* this thread's own schedstat: thread-self is resolved at open */
	w->sched_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	/* where its stores go, for place_hot() */
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
				cpu_relax();
			uint64_t d0 = run_delay_ns(w->sched_fd), d1;

			w->t0 = now_ns();
			w->bad = comps[job.comp].loop(b, w, job.pairs);
			w->t1 = now_ns();
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

/* One sample of one cell: per-thread ns/pair (mean over the threads, run
 * time: wall time less run-queue wait) and aggregate M pairs/s (wall); the
 * longest thread's wall ns/pair for calibration. */
struct sample {
	double ns;
	double mps;
	double worst_ns;
	uint64_t wall;       /* ns, summed over the threads */
	uint64_t wait;       /* of which waiting for a CPU */
	uint64_t bad;
	uint64_t refills;
};

static void bench_run(struct bench *b, int comp, int nthreads, uint64_t pairs,
		      struct sample *ret)
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

static void bench_quit(struct bench *b)
{
	b->job = (struct bench_job){ .quit = true };
	pthread_barrier_wait(&b->start);
	for (int i = 0; i < b->nr_workers; i++)
		pthread_join(b->w[i].tid, NULL);
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
 * in a few runs in a hundred (the view on slab 0's line: measured here,
 * the slab costs 2-4 times its usual time, and stats on against stats off
 * differs by 10-50%).  So the rounds read copies of both, made after the
 * warm-up (when the steady state is known), at lines modulo 4096 that no
 * store of the loops uses.
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
static void place_hot(struct bench *b)
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

/* ------------------------------------------------------------------ */
/* checks                                                              */

/* After a slab sample: every worker CPU's reserve must be exactly what the
 * warm-up left (all of it in the slab when rseq works), nothing spilled,
 * no refill requested.  Return the number of deviations, described. */
static int check_slab_steady(const struct bench *b, uint64_t requests0, const char *when)
{
	const struct slabpool *sp = &b->sp;
	int dev = 0;

	for (int i = 0; i < b->nr_workers; i++) {
		uint32_t c = (uint32_t)b->w[i].cpu;
		uint32_t level = slab_level(&sp->v, c), in = slabpool_inbox_len(sp, c);
		uint32_t out = slabpool_outbox_len(sp, c);

		if (level != sp->per_cpu || out || (sp->v.rseq_cpus && in)) {
			fprintf(stderr, "%s: CPU %u holds %u in slab + %u in inbox, "
				"%u in outbox (expected %u, 0, 0)\n", when, c,
				slab_count(&sp->v, c), in, out, sp->per_cpu);
			dev++;
		}
	}
	if (slabpool_requests(sp) != requests0) {
		fprintf(stderr, "%s: %llu refill request(s) in the steady state\n", when,
			(unsigned long long)(slabpool_requests(sp) - requests0));
		dev++;
	}
	return dev;
}

/* Mark element @i seen; false if out of range or seen before. */
static bool seen_once(uint8_t *seen, uint64_t i, uint64_t nr)
{
	if (i >= nr || (seen[i / 8] & (1u << (i % 8))))
		return false;
	seen[i / 8] |= (uint8_t)(1u << (i % 8));
	return true;
}

/* Walk one inbox/outbox word of the slab pool. */
static int check_slab_list(const struct slabpool *sp, uint64_t word, uint8_t *seen,
			   uint64_t *found)
{
	uint32_t cur = slab_list_head(word), len = slab_list_len(word);

	for (uint32_t k = 0; k < len; k++) {
		if (!seen_once(seen, cur, sp->total))
			return -1;
		(*found)++;
		cur = atomic_load(&sp->v.meta[cur].next);
	}
	return cur == SLAB_NIL ? 0 : -1;
}

/* Every element of the slab pool exactly once in some slab or list. */
static int check_slab_final(const struct slabpool *sp)
{
	uint8_t *seen = calloc(sp->total / 8 + 1, 1);
	uint64_t found = 0;
	int bad = 0;

	if (!seen)
		return 1;
	for (uint32_t c = 0; c < sp->v.nr_cpus && !bad; c++) {
		const struct slab *s = slab_of(&sp->v, c);

		uint32_t n = SLAB_CW_COUNT(s->cw);

		if (n > sp->v.slab_cap) {
			bad = 1;
			break;
		}
		for (uint32_t k = 0; k < n && !bad; k++) {
			if (!seen_once(seen, slab_idx_of_off(&sp->v, s->slots[k]), sp->total))
				bad = 1;
			found++;
		}
		if (!bad && (check_slab_list(sp, atomic_load(&s->inbox), seen, &found) ||
			     check_slab_list(sp, atomic_load(&s->outbox), seen, &found)))
			bad = 1;
	}
	free(seen);
	if (!bad && found != sp->total)
		bad = 1;
	if (bad)
		fprintf(stderr, "slab: elements lost, duplicated or invented "
			"(found %llu of %u)\n", (unsigned long long)found, sp->total);
	return bad;
}

static int check_mlist_final(const struct mlist *m)
{
	uint8_t *seen = calloc(m->nr / 8 + 1, 1);
	uint64_t found = 0;
	int bad = 0;

	if (!seen)
		return 1;
	for (const struct mlist_node *n = m->head; n && !bad; n = n->next) {
		uintptr_t off = (uintptr_t)n - (uintptr_t)m->nodes;

		if (off % sizeof(*n) || !seen_once(seen, off / sizeof(*n), m->nr))
			bad = 1;
		found++;
	}
	free(seen);
	if (!bad && found != m->nr)
		bad = 1;
	if (bad)
		fprintf(stderr, "mutex list: elements lost or duplicated (found %llu of %u)\n",
			(unsigned long long)found, m->nr);
	return bad;
}

/* ------------------------------------------------------------------ */
/* statistics and output                                               */

struct cell {
	bool enabled;
	bool reduced;        /* fewer pairs than asked, to fit the budget */
	uint64_t pairs;
	uint32_t n;          /* samples taken */
	double *ns;          /* per-thread ns/pair of each sample */
	double *mps;         /* aggregate M pairs/s of each sample */
	uint64_t bad;
	uint64_t refills;
	uint64_t deviations; /* slab reserve not steady after a sample */
	/* slab: the per-CPU counters over the recorded samples */
	uint64_t pairs_run;      /* pairs x threads */
	uint64_t counted_allocs; /* growth of the allocs sum */
	uint64_t counted_frees;  /* growth of the frees sum */
	uint64_t counter_errors; /* samples whose counters were wrong */
	uint64_t wall, wait;     /* recorded samples: sample.wall, sample.wait */
};

/* struct stats, stats_of(): bench_common.h */

static const char *fmt_num(char *buf, size_t sz, bool valid, double x)
{
	if (!valid)
		snprintf(buf, sz, "n/a");
	else
		snprintf(buf, sz, "%.2f", x);
	return buf;
}

static const char *fmt_ratio(char *buf, size_t sz, bool valid, double x, double base)
{
	if (!valid || !(base > 0))
		snprintf(buf, sz, "n/a");
	else
		snprintf(buf, sz, "%.2fx", x / base);
	return buf;
}

static const char *fmt_mps(char *buf, size_t sz, bool valid, double x)
{
	if (!valid)
		snprintf(buf, sz, "n/a");
	else
		snprintf(buf, sz, "%.1f", x);
	return buf;
}

/* cpu_model(): bench_common.h */

static int cell_of(int comp, int nthreads)
{
	return (nthreads - 1) * NR_COMPS + comp;
}

/* The inverse of cell_of(). */
static int comp_of_cell(int cell)
{
	return cell % NR_COMPS;
}

static int threads_of_cell(int cell)
{
	return cell / NR_COMPS + 1;
}

/* Width of the competitor column: the longest name. */
#define NAME_W 40

/* The statistics of @comp's samples at @nthreads threads. */
static struct stats cell_stats(const struct cell *cells, int comp, int nthreads)
{
	const struct cell *cl = &cells[cell_of(comp, nthreads)];

	return stats_of(cl->ns, cl->n);
}

/* One headline line: the median of @num over the median of @den, 1 thread. */
static void print_ratio(const struct cell *cells, const char *what, int num, int den)
{
	struct stats sn = cell_stats(cells, num, 1), sd = cell_stats(cells, den, 1);

	if (sn.valid && sd.valid && sd.med > 0)
		printf("%s: %.2f (target <= %.2f)\n", what, sn.med / sd.med, BENCH_TARGET_RATIO);
	else
		printf("%s: n/a (%s unavailable) (target <= %.2f)\n", what,
		       sd.valid ? comps[num].name : comps[den].name, BENCH_TARGET_RATIO);
}

/* What the inline pair spends over the inline floor, 1 thread, as
 * differences of medians: the owner mark, the offset check, the rest. */
static void print_breakdown(const struct cell *cells)
{
	struct stats full = cell_stats(cells, COMP_SLAB_INLINE, 1);
	struct stats noown = cell_stats(cells, COMP_SLAB_NOOWNER, 1);
	struct stats nochk = cell_stats(cells, COMP_SLAB_NOCHECK, 1);
	struct stats fl = cell_stats(cells, COMP_FLOOR, 1);

	if (!full.valid || !noown.valid || !nochk.valid || !fl.valid) {
		printf("inline pair over the floor: n/a (a cell is unavailable)\n");
		return;
	}
	printf("inline pair over the floor (1 thread): %+.2f ns = owner mark %+.2f"
	       " + offset check %+.2f + the rest %+.2f (watermark and bounds checks,"
	       " offsets)\n", full.med - fl.med, full.med - noown.med,
	       noown.med - nochk.med, nochk.med - fl.med);
}

/* ------------------------------------------------------------------ */
/* main                                                                */

struct options {
	uint32_t samples;
	uint64_t pairs;
	uint64_t budget_ns;
	uint64_t max_time_ns;  /* 0: no limit */
	bool quick;
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: bench_slab [--samples N] [--pairs N] [--max-time S] [--quick] [--help]\n"
"\n"
"Measure what one alloc+free pair of a 64-byte element costs in the pcpupool\n"
"slab core and in reference allocators, at 1 thread and at 2 threads (one\n"
"per CPU, pinned, started together), in one process, in rounds that run\n"
"every competitor once in rotating order.  Prints the median of the samples\n"
"in ns per pair (per thread, run time: waits for a CPU taken by other load\n"
"are left out), the 2-thread aggregate in M pairs/s, ratios against the\n"
"rseq per-CPU array floor, and at 1 thread the headline figures: slab /\n"
"floor out-of-line and inline (target <= %.2f) and the cost of the slab's\n"
"statistics counters, stats on / stats off (target <= %.0f%%).\n"
"\n"
"  --samples N  samples per competitor and thread count (default %u,\n"
"               1..%u)\n"
"  --pairs N    alloc+free pairs per thread in one sample (default %u,\n"
"               %u..%u); a competitor whose sample would last\n"
"               longer than %u ms runs fewer pairs (never below %u),\n"
"               which the output notes\n"
"  --max-time S start no round after S seconds (default %u, 0 = no\n"
"               limit): a heavily loaded machine gets fewer samples,\n"
"               which the output notes\n"
"  --quick      smoke test: %u samples of %u pairs, %u ms sample budget,\n"
"               --max-time %u, done in well under 5 s; --samples, --pairs\n"
"               and --max-time still apply\n"
"  --help       print this text and exit\n"
"\n"
"Competitors: rseq per-CPU array (floor) inline and out-of-line, pcpupool\n"
"slab out-of-line, out-of-line with its statistics compiled out\n"
"(PCPUPOOL__NO_STATS) and inline (the sections of pcpupool.h's inline\n"
"pcpupool_alloc/pcpupool_free), glibc malloc/free, a free list under one\n"
"pthread mutex.\n"
"\n"
"Exit status: 0 success, 1 a competitor produced a wrong result (a miss or\n"
"an invalid element in the steady state, an element lost or duplicated,\n"
"slab statistics counters that under-count or count with stats off),\n"
"2 usage or setup error.\n",
		BENCH_TARGET_RATIO, BENCH_TARGET_STATS_PCT,
		BENCH_DEFAULT_SAMPLES, BENCH_MAX_SAMPLES, BENCH_DEFAULT_PAIRS,
		BENCH_MIN_PAIRS, BENCH_MAX_PAIRS, BENCH_DEFAULT_BUDGET / 1000000u,
		BENCH_MIN_CELL_PAIRS, BENCH_DEFAULT_MAX_TIME, BENCH_QUICK_SAMPLES,
		BENCH_QUICK_PAIRS, BENCH_QUICK_BUDGET / 1000000u, BENCH_QUICK_MAX_TIME);
}


static int parse_options(int argc, char **argv, struct options *ret)
{
	static const struct option longopts[] = {
		{ "samples", required_argument, NULL, 's' },
		{ "pairs",   required_argument, NULL, 'p' },
		{ "max-time", required_argument, NULL, 't' },
		{ "quick",   no_argument,       NULL, 'q' },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t samples = 0, pairs = 0, max_time = 0;
	bool quick = false, have_max_time = false;
	int c;

	while ((c = getopt_long(argc, argv, "s:p:t:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_u64(optarg, 1, BENCH_MAX_SAMPLES, &samples) < 0) {
				fprintf(stderr, "bench_slab: --samples wants 1..%u\n",
					BENCH_MAX_SAMPLES);
				return -EINVAL;
			}
			break;
		case 'p':
			if (parse_u64(optarg, BENCH_MIN_PAIRS, BENCH_MAX_PAIRS, &pairs) < 0) {
				fprintf(stderr, "bench_slab: --pairs wants %u..%u\n",
					BENCH_MIN_PAIRS, BENCH_MAX_PAIRS);
				return -EINVAL;
			}
			break;
		case 't':
			if (parse_u64(optarg, 0, BENCH_MAX_MAX_TIME, &max_time) < 0) {
				fprintf(stderr, "bench_slab: --max-time wants 0..%u\n",
					BENCH_MAX_MAX_TIME);
				return -EINVAL;
			}
			have_max_time = true;
			break;
		case 'q':
			quick = true;
			break;
		case 'h':
			usage(stdout);
			exit(BENCH_EXIT_OK);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench_slab: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	ret->quick = quick;
	ret->samples = samples ? (uint32_t)samples
			       : quick ? BENCH_QUICK_SAMPLES : BENCH_DEFAULT_SAMPLES;
	ret->pairs = pairs ? pairs : quick ? BENCH_QUICK_PAIRS : BENCH_DEFAULT_PAIRS;
	ret->budget_ns = quick ? BENCH_QUICK_BUDGET : BENCH_DEFAULT_BUDGET;
	if (!have_max_time)
		max_time = quick ? BENCH_QUICK_MAX_TIME : BENCH_DEFAULT_MAX_TIME;
	ret->max_time_ns = max_time * 1000000000u;
	return 0;
}

/* The first BENCH_MAX_THREADS CPUs this process may use that have a slab. */
static int pick_cpus(uint32_t nr_cpus, int *cpus)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && (uint32_t)c < nr_cpus && n < BENCH_MAX_THREADS; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

static int start_workers(struct bench *b, const int *cpus, int n)
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

static bool cell_is_slab(int comp)
{
	return comp == COMP_SLAB_OOL || comp == COMP_SLAB_NOSTATS || comp == COMP_SLAB_INLINE ||
	       comp == COMP_SLAB_NOOWNER || comp == COMP_SLAB_NOCHECK;
}

static bool cell_is_floor(int comp)
{
	return comp == COMP_FLOOR || comp == COMP_FLOOR_OOL;
}

/* Whether a sample of @comp must grow the per-CPU counters: a stats-on
 * slab competitor whose pops and pushes run as rseq sections (the
 * fallback path has no section to count in). */
static bool cell_counts(const struct bench *b, int comp)
{
	return cell_is_slab(comp) && comp != COMP_SLAB_NOSTATS && b->sp.v.rseq_cpus;
}

/* After a slab sample of @pairs pairs in all (every thread's): the sums of
 * the per-CPU allocs/frees counters, @allocs0/@frees0 before it, must have
 * grown by at least @pairs when the competitor counts (more only by the
 * sections restarted after their increment) and not at all when it does
 * not.  Accumulates into @cl; return 1 (described) if wrong, else 0. */
static int check_slab_counters(const struct bench *b, struct cell *cl, int comp,
			       uint64_t pairs, uint64_t allocs0, uint64_t frees0)
{
	uint64_t allocs, frees, da, df;
	bool counts = cell_counts(b, comp), ok;

	slabpool_stat_sums(&b->sp, &allocs, &frees);
	da = allocs - allocs0;
	df = frees - frees0;
	cl->pairs_run += pairs;
	cl->counted_allocs += da;
	cl->counted_frees += df;
	ok = counts ? da >= pairs && df >= pairs : da == 0 && df == 0;
	if (!ok)
		fprintf(stderr, "%s: per-CPU counters grew by %llu allocs, %llu frees "
			"over %llu pairs (expected %s)\n", comps[comp].name,
			(unsigned long long)da, (unsigned long long)df,
			(unsigned long long)pairs, counts ? "at least as many" : "0");
	return !ok;
}

/* Run one sample of a cell; record it unless @warm.  Slab cells are
 * followed by the steady-state and counter checks. */
static void run_cell(struct bench *b, struct cell *cl, int comp, int nthreads,
		     uint64_t pairs, bool warm, uint64_t requests0, struct sample *ret)
{
	uint64_t allocs0, frees0;

	slabpool_stat_sums(&b->sp, &allocs0, &frees0);
	bench_run(b, comp, nthreads, pairs, ret);
	cl->bad += ret->bad;
	cl->refills += ret->refills;
	if (cell_is_slab(comp) && !warm) {
		cl->deviations += (uint64_t)check_slab_steady(b, requests0, comps[comp].name);
		cl->counter_errors += (uint64_t)check_slab_counters(b, cl, comp,
								    pairs * (uint64_t)nthreads,
								    allocs0, frees0);
	}
	if (!warm) {
		cl->wall += ret->wall;
		cl->wait += ret->wait;
		cl->ns[cl->n] = ret->ns;
		cl->mps[cl->n] = ret->mps;
		cl->n++;
	}
}

static void print_results(const struct bench *b, const struct cell *cells,
			  const struct options *o, uint32_t rounds, double elapsed_s,
			  int nr_threads_max)
{
	struct stats s1[NR_COMPS], s2[NR_COMPS], a2[NR_COMPS];
	char model[256], x1[32], r1[32], x2[32], m2[32], r2[32], q1[32], q3[32];
	bool any_reduced = false;

	cpu_model(model, sizeof(model));
	for (int c = 0; c < NR_COMPS; c++) {
		const struct cell *c1 = &cells[cell_of(c, 1)], *c2 = &cells[cell_of(c, 2)];

		s1[c] = stats_of(c1->ns, c1->n);
		s2[c] = stats_of(c2->ns, c2->n);
		a2[c] = stats_of(c2->mps, c2->n);
	}

	printf("pcpupool bench_slab \u2014 alloc+free pair, %u-byte elements, median of %u "
	       "samples (ns/pair), CPU: %s\n", BENCH_ELEM_SIZE, rounds, model);
	if (nr_threads_max > 1)
		printf("threads pinned to CPUs %d and %d", b->w[0].cpu, b->w[1].cpu);
	else
		printf("one usable CPU (%d): no 2-thread runs", b->w[0].cpu);
	printf("; %llu pairs per thread per sample; rseq %s (__rseq_size %u)\n",
	       (unsigned long long)o->pairs,
	       b->fl.usable ? "registered" : "NOT registered", (unsigned int)__rseq_size);
	if (!b->fl.usable)
		printf("rseq per-CPU array (floor) unavailable: %s; ratios are n/a\n",
		       floor_unusable_reason(&b->fl));
	if (!b->sp.v.rseq_cpus)
		printf("pcpupool slab: rseq unusable, measuring its atomic fallback path\n");
	if (b->hot_line[0] >= 0)
		printf("loops read the slab view and the floor at bytes %d and %d modulo 4096, "
		       "clear of their stores (4K aliasing)\n", b->hot_line[0] * SLAB_CACHELINE,
		       b->hot_line[1] * SLAB_CACHELINE);
	else
		printf("loops read the slab view and the floor where they are: no line modulo "
		       "4096 clear of their stores was found (4K aliasing may skew a row)\n");
	printf("\n%-*s %9s %7s %27s %19s %7s\n", NAME_W, "competitor", "1 thread", "ratio",
	       "2 threads(ns/pair/thread)", "aggregate Mpairs/s", "ratio");
	for (int c = 0; c < NR_COMPS; c++) {
		printf("%-*s %9s %7s %27s %19s %7s\n", NAME_W, comps[c].name,
		       fmt_num(x1, sizeof(x1), s1[c].valid, s1[c].med),
		       fmt_ratio(r1, sizeof(r1), s1[c].valid && s1[COMP_FLOOR].valid,
				 s1[c].med, s1[COMP_FLOOR].med),
		       fmt_num(x2, sizeof(x2), s2[c].valid, s2[c].med),
		       fmt_mps(m2, sizeof(m2), a2[c].valid, a2[c].med),
		       fmt_ratio(r2, sizeof(r2), s2[c].valid && s2[COMP_FLOOR].valid,
				 s2[c].med, s2[COMP_FLOOR].med));
	}
	printf("(ratio: against %s, the inline floor, at the same thread count;\n"
	       " the headline ratios at the end compare like with like)\n",
	       comps[COMP_FLOOR].name);

	printf("\n%-*s %18s %27s\n", NAME_W, "spread (25th..75th pct)", "1 thread",
	       "2 threads(ns/pair/thread)");
	for (int c = 0; c < NR_COMPS; c++) {
		char sp1[2 * 32 + 8], sp2[2 * 32 + 8];

		snprintf(sp1, sizeof(sp1), "%s..%s",
			 fmt_num(q1, sizeof(q1), s1[c].valid, s1[c].p25),
			 fmt_num(q3, sizeof(q3), s1[c].valid, s1[c].p75));
		snprintf(sp2, sizeof(sp2), "%s..%s",
			 fmt_num(q1, sizeof(q1), s2[c].valid, s2[c].p25),
			 fmt_num(q3, sizeof(q3), s2[c].valid, s2[c].p75));
		printf("%-*s %18s %27s\n", NAME_W, comps[c].name,
		       s1[c].valid ? sp1 : "n/a", s2[c].valid ? sp2 : "n/a");
	}
	if (rounds < o->samples) {
		printf("\nnote: stopped after %u of %u rounds, the %llu s time limit "
		       "(--max-time)\n", rounds, o->samples,
		       (unsigned long long)(o->max_time_ns / 1000000000u));
		any_reduced = true;
	}
	for (int i = 0; i < NR_CELLS; i++) {
		if (!cells[i].enabled || !cells[i].reduced)
			continue;
		if (!any_reduced)
			printf("\n");
		any_reduced = true;
		printf("note: %s at %d thread%s ran %llu pairs per sample "
		       "(the %llu ms sample budget)\n", comps[comp_of_cell(i)].name,
		       threads_of_cell(i), threads_of_cell(i) > 1 ? "s" : "",
		       (unsigned long long)cells[i].pairs,
		       (unsigned long long)(o->budget_ns / 1000000u));
	}
	{
		uint64_t wall = 0, wait = 0;

		for (int i = 0; i < NR_CELLS; i++) {
			wall += cells[i].wall;
			wait += cells[i].wait;
		}
		if (b->w[0].sched_fd >= 0)
			printf("\nother load: the timed loops waited for their CPU %.1f%% of "
			       "their wall time;\nns/pair counts run time only (wall time less "
			       "that wait), the aggregate Mpairs/s is wall time\n",
			       wall ? 100.0 * (double)wait / (double)wall : 0.0);
		else
			printf("\n/proc/thread-self/schedstat unreadable: ns/pair is wall time, "
			       "including any wait for a CPU\n");
	}
	printf("\nrun time %.1f s\n", elapsed_s);
}

int main(int argc, char **argv)
{
	struct bench b;         /* lives until the workers are joined */
	struct cell cells[NR_CELLS];
	struct options o;
	struct sample smp;
	uint32_t nr_cpus;
	int cpus[BENCH_MAX_THREADS], nr_used, r, ret = BENCH_EXIT_SETUP;
	uint64_t requests0, t_start = now_ns();
	uint32_t rounds;
	uint64_t wrong = 0;

	if (parse_options(argc, argv, &o) < 0)
		return BENCH_EXIT_SETUP;
	memset(cells, 0, sizeof(cells));
	memset(&b, 0, sizeof(b));
	b.sp.fd = -1;
	b.sp.base = MAP_FAILED;
	b.hot_v = &b.sp.v;
	b.hot_fl = &b.fl;
	b.hot_line[0] = b.hot_line[1] = -1;

	nr_cpus = (uint32_t)get_nprocs_conf();
	nr_used = pick_cpus(nr_cpus, cpus);
	if (nr_used <= 0) {
		fprintf(stderr, "bench_slab: no usable CPU\n");
		return BENCH_EXIT_SETUP;
	}
	r = slabpool_init(&b.sp, nr_cpus);
	if (r < 0) {
		fprintf(stderr, "bench_slab: slab pool: %s\n", strerror(-r));
		goto out;
	}
	if (floor_init(&b.fl, nr_cpus, cpus, nr_used, BENCH_PREFILL, BENCH_ELEM_SIZE) < 0 ||
	    mlist_init(&b.ml, BENCH_PREFILL * (uint32_t)nr_used) < 0) {
		fprintf(stderr, "bench_slab: out of memory\n");
		goto out;
	}
	for (int i = 0; i < NR_CELLS; i++) {
		int comp = comp_of_cell(i), nt = threads_of_cell(i);

		cells[i].enabled = nt <= nr_used && (!cell_is_floor(comp) || b.fl.usable);
		cells[i].ns = calloc(o.samples, sizeof(double));
		cells[i].mps = calloc(o.samples, sizeof(double));
		if (!cells[i].ns || !cells[i].mps) {
			fprintf(stderr, "bench_slab: out of memory\n");
			goto out;
		}
	}
	if (start_workers(&b, cpus, nr_used) < 0)
		goto out;  /* returning from main ends any started worker */

	/* warm-up and calibration: not recorded */
	for (int i = 0; i < NR_CELLS; i++) {
		int comp = comp_of_cell(i), nt = threads_of_cell(i);
		uint64_t warm = o.pairs < BENCH_WARM_PAIRS ? o.pairs : BENCH_WARM_PAIRS;

		if (!cells[i].enabled)
			continue;
		run_cell(&b, &cells[i], comp, nt, warm, true, 0, &smp);
		cells[i].pairs = o.pairs;
		if (smp.worst_ns * (double)o.pairs > (double)o.budget_ns) {
			uint64_t p = (uint64_t)((double)o.budget_ns / smp.worst_ns);

			cells[i].pairs = p < BENCH_MIN_CELL_PAIRS ? BENCH_MIN_CELL_PAIRS : p;
			cells[i].reduced = cells[i].pairs < o.pairs;
		}
	}
	/* the steady state the slab samples must keep */
	place_hot(&b);
	requests0 = slabpool_requests(&b.sp);
	if (check_slab_steady(&b, requests0, "slab after warm-up"))
		wrong++;

	/* round r starts at cell r mod cells and walks forward when r is even,
	 * backward when it is odd: neighbours swap order round by round */
	for (rounds = 0; rounds < o.samples; rounds++) {
		uint32_t round = rounds, step = round % 2 ? NR_CELLS - 1 : 1;

		if (round > 0 && o.max_time_ns && now_ns() - t_start > o.max_time_ns)
			break;   /* every cell has the same number of samples */
		for (int k = 0; k < NR_CELLS; k++) {
			int i = (int)((round + (uint32_t)k * step) % NR_CELLS);

			if (!cells[i].enabled)
				continue;
			run_cell(&b, &cells[i], comp_of_cell(i), threads_of_cell(i),
				 cells[i].pairs, false, requests0, &smp);
		}
	}
	bench_quit(&b);

	print_results(&b, cells, &o, rounds, (double)(now_ns() - t_start) / 1e9, nr_used);

	/* verdict */
	printf("\nchecks:\n");
	for (int c = 0; c < NR_COMPS; c++) {
		uint64_t bad = 0, refills = 0, dev = 0, cerr = 0;

		if (!cells[cell_of(c, 1)].enabled) {
			printf("  %-*s not run\n", NAME_W, comps[c].name);
			continue;
		}
		for (int nt = 1; nt <= BENCH_MAX_THREADS; nt++) {
			bad += cells[cell_of(c, nt)].bad;
			refills += cells[cell_of(c, nt)].refills;
			dev += cells[cell_of(c, nt)].deviations;
			cerr += cells[cell_of(c, nt)].counter_errors;
		}
		printf("  %-*s %llu wrong result(s)", NAME_W, comps[c].name,
		       (unsigned long long)bad);
		if (cell_is_slab(c))
			printf(", %llu refill request(s), %llu unsteady sample(s), "
			       "%llu counter error(s)", (unsigned long long)refills,
			       (unsigned long long)dev, (unsigned long long)cerr);
		printf("\n");
		wrong += bad + dev + cerr;
	}
	printf("  per-CPU allocs/frees counters (sum over CPUs, recorded samples):\n");
	for (int c = 0; c < NR_COMPS; c++) {
		uint64_t pairs = 0, da = 0, df = 0;

		if (!cell_is_slab(c) || !cells[cell_of(c, 1)].enabled)
			continue;
		for (int nt = 1; nt <= BENCH_MAX_THREADS; nt++) {
			pairs += cells[cell_of(c, nt)].pairs_run;
			da += cells[cell_of(c, nt)].counted_allocs;
			df += cells[cell_of(c, nt)].counted_frees;
		}
		printf("    %-*s +%llu allocs, +%llu frees for %llu pairs", NAME_W,
		       comps[c].name, (unsigned long long)da, (unsigned long long)df,
		       (unsigned long long)pairs);
		if (!cell_counts(&b, c))
			printf(" (must not count: %s)\n", c == COMP_SLAB_NOSTATS
			       ? "stats off" : "no rseq sections");
		else if (da >= pairs && df >= pairs)
			printf(" (over-count %llu / %llu: restarted sections)\n",
			       (unsigned long long)(da - pairs), (unsigned long long)(df - pairs));
		else
			printf(" (UNDER-COUNTED)\n");
	}
	r = check_slab_final(&b.sp) + check_mlist_final(&b.ml);
	if (b.fl.usable)
		r += floor_check(&b.fl, "floor");
	printf("  final accounting: %s\n", r ? "FAILED (see stderr)"
	       : "every element of every competitor found exactly once");
	wrong += (uint64_t)r;

	printf("\n");
	print_ratio(cells, "slab/floor ratio (1 thread, out-of-line)", COMP_SLAB_OOL,
		    COMP_FLOOR_OOL);
	print_ratio(cells, "slab/floor ratio (1 thread, inline)", COMP_SLAB_INLINE, COMP_FLOOR);
	print_breakdown(cells);
	{
		struct stats on = cell_stats(cells, COMP_SLAB_OOL, 1);
		struct stats off = cell_stats(cells, COMP_SLAB_NOSTATS, 1);

		if (!b.sp.v.rseq_cpus)
			printf("stats overhead (1 thread, out-of-line): n/a (rseq unusable: "
			       "the fallback path does not count) (target <= %.0f%%)\n",
			       BENCH_TARGET_STATS_PCT);
		else if (on.valid && off.valid && off.med > 0) {
			const struct cell *con = &cells[cell_of(COMP_SLAB_OOL, 1)];
			const struct cell *coff = &cells[cell_of(COMP_SLAB_NOSTATS, 1)];
			uint32_t n = con->n < coff->n ? con->n : coff->n;
			double *d = calloc(n ? n : 1, sizeof(*d));
			struct stats sd = { .valid = false };

			printf("stats overhead (1 thread, out-of-line): %+.1f%% (target <= %.0f%%)\n",
			       (on.med / off.med - 1) * 100, BENCH_TARGET_STATS_PCT);
			/* the same figure round by round (the two samples of a
			 * round run moments apart): how far to trust it */
			for (uint32_t k = 0; d && k < n; k++)
				d[k] = (con->ns[k] / coff->ns[k] - 1) * 100;
			if (d)
				sd = stats_of(d, n);
			if (sd.valid)
				printf("  round by round: median %+.1f%%, 25th..75th pct "
				       "%+.1f%%..%+.1f%% (%u rounds)\n", sd.med, sd.p25, sd.p75, n);
			free(d);
		}
		else
			printf("stats overhead (1 thread, out-of-line): n/a (target <= %.0f%%)\n",
			       BENCH_TARGET_STATS_PCT);
	}
	ret = wrong ? BENCH_EXIT_WRONG : BENCH_EXIT_OK;
	goto out;

out:
	for (int i = 0; i < NR_CELLS; i++) {
		free(cells[i].ns);
		free(cells[i].mps);
	}
	free(b.hot_mem);
	floor_destroy(&b.fl);
	if (b.ml.nodes)
		mlist_destroy(&b.ml);
	slabpool_destroy(&b.sp);
	return ret;
}
