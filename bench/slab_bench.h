/* SPDX-License-Identifier: MIT */
/*
 * slab_bench.h - bench_slab's state, shared by its files (bench_slab.c
 * says what the program does):
 *
 *   bench_slab.c     options, the warm-up, the rounds, the checks of every
 *                    sample
 *   slab_comps.c     the competitors' timed loops and the worker threads
 *                    that run them, and where what the loops read is put
 *   slabpool.c       the slab pool they measure, as the daemon builds one,
 *                    and its checks
 *   slab_results.c   the table, the checks and the headline figures
 *
 * Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_SLAB_BENCH_H
#define PCPUPOOL_BENCH_SLAB_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "slab.h"
#include "bench_common.h"
#include "rseq_floor.h"   /* the floor: struct floor, floor_pop/push */

#define BENCH_ELEM_SIZE        64u
#define BENCH_SLAB_CAP         256u
#define BENCH_MAX_ELEMS        65536u
#define BENCH_PREFILL          128u     /* elements per CPU reserve */
#define BENCH_LOW              16u      /* slab low watermark */
#define BENCH_LIMIT            256u     /* slab spill limit */
#define BENCH_OWNER            1u       /* slab_meta.owner of our pops */
#define BENCH_MAX_THREADS      2
#define BENCH_TARGET_RATIO     2.0      /* slab vs floor, both ool or both inline */
#define BENCH_TARGET_STATS_PCT 3.0      /* stats on vs stats off, percent */

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

/* ---- the mutex free list (slab_comps.c) ----------------------------- */

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

/* ---- the slab pool (slabpool.c) ------------------------------------ */

struct slabpool {
	struct slab_view v;   /* first: it is cache-line aligned */
	void *base;
	size_t map_size;
	int fd;
	uint32_t per_cpu;     /* elements prefilled into each CPU's reserve */
	uint32_t total;       /* elements in circulation: [0, total) */
};


/* Build the pool as the daemon would: memfd, layout, format, publish,
 * attach; then set every CPU's limits and give each its share of the
 * elements.  0, or -errno (slabpool_destroy() cleans up either way). */
int slabpool_init(struct slabpool *sp, uint32_t nr_cpus);
void slabpool_destroy(struct slabpool *sp);

/* Refill requests raised so far, summed over the CPUs. */
uint64_t slabpool_requests(const struct slabpool *sp);

/* The per-CPU statistics of every slab of the pool, summed. */
void slabpool_stat_sums(const struct slabpool *sp, uint64_t *ret_allocs, uint64_t *ret_frees);

struct worker;

/* After a slab sample: the reserve of each of the @n workers' CPUs must
 * be exactly what the warm-up left (all of it in the slab when rseq
 * works), nothing spilled, and no refill requested since @requests0.
 * Return the number of deviations, described on stderr after @when. */
int slabpool_check_steady(const struct slabpool *sp, const struct worker *w, int n,
			  uint64_t requests0, const char *when);

/* Every element of the pool exactly once in some slab or list: 0, or 1
 * (described). */
int slabpool_check_final(const struct slabpool *sp);

/* ---- threads and jobs (slab_comps.c) ------------------------------- */

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
	 * copies of them placed by comps_place_hot() in hot_mem */
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

typedef uint64_t comps_loop_fn(struct bench *b, struct worker *w, uint64_t pairs);

struct comp {
	const char *name;
	comps_loop_fn *loop;
};

/* The competitors, indexed by enum bench_comp. */
extern const struct comp comps[NR_COMPS];

int comps_mlist_init(struct mlist *m, uint32_t nr);
void comps_mlist_destroy(struct mlist *m);

/* Every element of the mutex list exactly once: 0, or 1 (described). */
int comps_mlist_check(const struct mlist *m);

/* One worker per CPU in @cpus[0..n), pinned: 0, or -errno (said). */
int comps_start_workers(struct bench *b, const int *cpus, int n);

/* One sample of @comp on the first @nthreads workers, @pairs each. */
void comps_run(struct bench *b, int comp, int nthreads, uint64_t pairs, struct sample *ret);

/* End the workers. */
void comps_quit(struct bench *b);

/* After the warm-up, with no loop running: copies of the slab view and the
 * floor for the loops to read, clear of their stores (slab_comps.c says
 * why).  On failure the loops keep reading the originals. */
void comps_place_hot(struct bench *b);

/* ---- cells and results --------------------------------------------- */

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

struct options {
	uint32_t samples;
	uint64_t pairs;
	uint64_t budget_ns;
	uint64_t max_time_ns;  /* 0: no limit */
	bool quick;
};

static inline int cell_of(int comp, int nthreads)
{
	return (nthreads - 1) * NR_COMPS + comp;
}

/* The inverse of cell_of(). */
static inline int comp_of_cell(int cell)
{
	return cell % NR_COMPS;
}

static inline int threads_of_cell(int cell)
{
	return cell / NR_COMPS + 1;
}

static inline bool cell_is_slab(int comp)
{
	return comp == COMP_SLAB_OOL || comp == COMP_SLAB_NOSTATS || comp == COMP_SLAB_INLINE ||
	       comp == COMP_SLAB_NOOWNER || comp == COMP_SLAB_NOCHECK;
}

static inline bool cell_is_floor(int comp)
{
	return comp == COMP_FLOOR || comp == COMP_FLOOR_OOL;
}

/* Whether a sample of @comp must grow the per-CPU counters: a stats-on
 * slab competitor whose pops and pushes run as rseq sections (the
 * fallback path has no section to count in). */
static inline bool cell_counts(const struct bench *b, int comp)
{
	return cell_is_slab(comp) && comp != COMP_SLAB_NOSTATS && b->sp.v.rseq_cpus;
}

/* slab_results.c */
void results_print(const struct bench *b, const struct cell *cells, const struct options *o,
		   uint32_t rounds, double elapsed_s, int nr_threads_max);
uint64_t results_checks(const struct bench *b, const struct cell *cells);
void results_headline(const struct bench *b, const struct cell *cells);

#endif
