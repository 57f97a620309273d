// SPDX-License-Identifier: MIT
/*
 * bench_peers.c - pcpupool against its peers (issue 6, items 1 and 2): what
 * one fixed-size element costs from pcpupool's NOWAIT fast path and from
 * every other way a C program gets one, side by side, on this machine; then
 * what pcpupool's refills cost.
 *
 * Competitors (the NAME of --only):
 *
 *   pcpupool        pcpupool_alloc(pool, PCPUPOOL_NOWAIT) / pcpupool_free()
 *                   through libpcpupool.so, on pools created in a real
 *                   pcpupoold: one this program starts on a temporary socket,
 *                   or the one at --socket / $PCPUPOOL_SOCKET.  min_nr 256
 *                   per CPU, low watermark 32.
 *   tls-freelist    a free list in a __thread variable: the floor of any
 *                   design (nothing shared, nothing atomic).
 *   rseq-array      a per-CPU array stack with two minimal rseq sections
 *                   (rseq_floor.h, shared with bench_slab.c): the floor of
 *                   any design that lets threads and processes share one
 *                   CPU's reserve.
 *   glibc           malloc()/free() of glibc.
 *   jemalloc        malloc()/free() with libjemalloc.so.2 in LD_PRELOAD, as
 *                   it is deployed (Debian's exports malloc itself; dlopen()
 *                   fails on its initial-exec TLS).
 *   mimalloc        mi_malloc()/mi_free() with libmimalloc.so.2 in
 *                   LD_PRELOAD, called through weak references (no build
 *                   dependency).
 *   dpdk            rte_mempool_get()/rte_mempool_put() on a mempool with a
 *                   per-lcore cache of 256, inline as DPDK applications call
 *                   them.  EAL in-process: --no-huge --no-pci -m 256
 *                   --no-shconf --no-telemetry; worker threads registered
 *                   with rte_thread_register().  Compiled in when the build
 *                   defines BENCH_HAVE_DPDK (pkg-config found libdpdk).
 *   mutex-freelist  one global free list under one pthread mutex.
 *   treiber         one global lock-free LIFO (Treiber stack) whose head is
 *                   {ABA tag, index} in one 64-bit word, swapped with CAS.
 *
 * Method:
 *   - one process per competitor: this program run again with --competitor
 *     NAME, talking to the parent over a socketpair.  Allocators cannot see
 *     each other (jemalloc and mimalloc replace malloc in theirs), and a
 *     crash costs one competitor, not the run.  Only one process runs at a
 *     time; the others sleep in recv().
 *   - a cell is one competitor, one element size (64, 1024 bytes) and one
 *     thread count (1, and one per usable CPU).  Worker threads are pinned
 *     to the first CPUs the process may use and released together.
 *   - a sample of a cell has two phases, each thread in step with the
 *     others:
 *       pairs    P alloc+free pairs per thread, each writing one byte of its
 *                element through a volatile pointer (the element escapes
 *                through an empty asm, so no pair can be optimised away),
 *                in chunks of at least 4096 pairs with a TSC timestamp
 *                after each.  A thread that was preempted N times (its
 *                involuntary context switches around the loop) has its N
 *                longest chunks discarded; with several threads, so are its
 *                chunks during which another thread was not running (a
 *                shared structure is measured shared).  A thread's ns/pair
 *                is its mean over the chunks left: contention stalls count,
 *                other processes on a shared machine do not.  The sample's
 *                figure is the mean of the threads', the aggregate the sum
 *                of their rates.  A sample whose threads seldom ran at the
 *                same time is left out; a cell with no sample left falls
 *                back to the wall clock (marked).  The wall-clock figures
 *                (the loop by CLOCK_MONOTONIC; all pairs over the time from
 *                the first start to the last end) go to the JSON too.
 *       latency  B batches per thread: 64 allocations (each writing its
 *                byte) timed with the TSC (lfence; rdtsc; lfence), then the
 *                64 frees timed likewise.  A batch's per-operation figure is
 *                (its cycles - the timer's own cost) / 64, the timer's cost
 *                being the median of back-to-back reads on that thread.
 *                Percentiles are over every batch of every recorded sample
 *                and thread of the cell, from a log-linear histogram
 *                (buckets at most 1/128 wide).
 *   - a warm-up round runs every cell once, unrecorded, and sizes P and B
 *     so that each phase lasts about its budget; each sample then sizes
 *     the next one the same way, so a slower machine keeps the budget.
 *   - then N rounds; round r runs every cell once, starting at cell
 *     r mod cells, so the order rotates and drift of the machine hits every
 *     competitor alike.  No round starts that would end after the time
 *     budget (every cell keeps the same number of samples).
 *   - noise: the workers count their involuntary context switches around
 *     each sample; the output says how many samples something preempted.
 *   - reported: the median of the N samples (ns per pair per thread, and
 *     the aggregate M pairs/s), its ratio to pcpupool's in the same cell,
 *     and p50/p99/p99.9/max of one allocation from the batches.
 *   - correctness: a NULL from any allocation is a wrong result; at the
 *     end each free list, stack and mempool must hold all its elements.
 *
 * Refill figures (pcpupool alone, through its public API, on pools of
 * their own in the same daemon; see refill_figures()): the cost of a
 * NOWAIT miss with every reserve dry; the time from the allocation that
 * takes a CPU's reserve under its low watermark to the refill showing in
 * the reserve (the pool's spare lands in that allocation; its request goes
 * as a message, or is left to the daemon's poll), with 1 client and with 8
 * client processes; the rate a
 * producer sustains from a 64-element reserve while a consumer on the
 * other CPU frees everything (elements come back only through the daemon).
 *
 * Output: the table on stdout; bench/results/<date>.json with every figure
 * and the machine; bench/results/<date>-latency.dat and, when gnuplot is
 * installed, <date>.png (bench/plot.gnuplot) with the latency
 * distributions.  --quick names them <date>-quick.*.
 *
 * Shared mutable state: the parent has one struct bench made by main() and
 * a sig_atomic_t set by SIGINT/SIGTERM.  A competitor process has one
 * struct child; its workers share with main the job word and the start
 * spin counter (ordered by pthread barriers) and, through the competitor,
 * the structure measured.  The thread-local free list lives in a __thread
 * array because that is what it measures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pcpupool.h"
#include "bench_common.h"
#include "rseq_floor.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#ifdef BENCH_HAVE_DPDK
/* DPDK's headers are not -Wundef clean under clang (GCC_VERSION) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef"
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_version.h>
#pragma GCC diagnostic pop
#endif

/* ------------------------------------------------------------------ */
/* limits and defaults                                                 */

#define PEERS_NR_SIZES          2
#define PEERS_NR_TCOUNTS        2        /* 1 thread, one per usable CPU */
#define PEERS_NR_CELLS          (PEERS_NR_SIZES * PEERS_NR_TCOUNTS)
#define PEERS_MAX_THREADS       16
#define PEERS_PER_CPU           256u     /* reserve per CPU or thread */
#define PEERS_POOL_LOW          32       /* pcpupool low watermark */
#define PEERS_BATCH             64       /* operations per timed batch */
#define PEERS_DPDK_CACHE        256u     /* per-lcore cache */
#define PEERS_WHY               256      /* reason text */
#define PEERS_VERSION           96       /* version text */
#define PEERS_NAME_MAX          32

#define PEERS_DEFAULT_SAMPLES   15u
#define PEERS_DEFAULT_PAIR_MS   100u     /* pairs phase of one sample */
#define PEERS_DEFAULT_BATCH_MS  60u      /* latency phase of one sample */
#define PEERS_QUICK_SAMPLES     3u
#define PEERS_QUICK_PAIR_MS     15u
#define PEERS_QUICK_BATCH_MS    10u
#define PEERS_MAX_SAMPLES       501u
#define PEERS_DEFAULT_BUDGET_S  150u     /* the rounds stop before this */
#define PEERS_QUICK_BUDGET_S    12u
#define PEERS_WARM_PAIRS        100000u
#define PEERS_WARM_BATCHES      1000u
#define PEERS_QUICK_WARM_PAIRS  20000u
#define PEERS_QUICK_WARM_BATCH  200u
#define PEERS_MIN_PAIRS         10000u
#define PEERS_MAX_PAIRS         2000000000u
#define PEERS_MIN_BATCHES       200u
#define PEERS_CHUNK_MIN         4096u    /* pairs between two timestamps */
#define PEERS_MAX_CHUNKS        8192u    /* timestamps per thread and sample */
#define PEERS_MAX_BATCHES       20000000u

#define PEERS_HELLO_TIMEOUT_MS  60000    /* a competitor's set-up */
#define PEERS_RUN_TIMEOUT_MS    120000   /* one warm-up sample */
#define PEERS_DAEMON_START_MS   5000
#define PEERS_DAEMON_STOP_MS    5000
#define PEERS_TSC_CALIB_MS      50
#define PEERS_TIMER_READS       4001     /* back-to-back reads, odd */

/* issue 6 targets */
#define TARGET_FLOOR_RATIO      1.5      /* pair vs the rseq floor */
#define TARGET_SCALING          1.8      /* 2-thread aggregate vs 1 */
#define TARGET_P999_NS          100.0    /* alloc p99.9, all CPUs busy */

#define EXIT_OK                 0
#define EXIT_WRONG              1
#define EXIT_SETUP              2

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define CACHELINE   64

/* The element escapes: the compiler must produce it and cannot pair an
 * allocation with its free, nor keep the structure in registers. */
#define OPAQUE(p)   __asm__ __volatile__("" : "+r"(p) : : "memory")

static const size_t peers_sizes[PEERS_NR_SIZES] = { 64, 1024 };

#if defined(__clang__)
#define BENCH_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define BENCH_COMPILER "gcc " __VERSION__
#else
#define BENCH_COMPILER "unknown"
#endif

/* The allocators preloaded into their competitors' processes (Debian's
 * sonames; another system may name them at build time). */
#ifndef BENCH_JEMALLOC_SO
#define BENCH_JEMALLOC_SO "libjemalloc.so.2"
#endif
#ifndef BENCH_MIMALLOC_SO
#define BENCH_MIMALLOC_SO "libmimalloc.so.2"
#endif

/* ------------------------------------------------------------------ */
/* time                                                                */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A timestamp for the batches: the TSC, fenced so that the operations
 * timed neither start before it nor finish after the next one. */
static inline uint64_t tick(void)
{
#if defined(__x86_64__)
	uint64_t t;

	__builtin_ia32_lfence();
	t = __builtin_ia32_rdtsc();
	__builtin_ia32_lfence();
	return t;
#else
	return now_ns();
#endif
}

/* Ticks per second, against CLOCK_MONOTONIC. */
static double tick_hz(void)
{
#if defined(__x86_64__)
	struct timespec ts = { 0, PEERS_TSC_CALIB_MS * 1000000L };
	uint64_t c0 = tick(), t0 = now_ns(), c1, t1;

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	c1 = tick();
	t1 = now_ns();
	return (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
#else
	return 1e9;
#endif
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* latency histogram: log-linear over cycles per batch                 */

#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_LOG  40                 /* values clamp at 2^41 - 1 */
#define HIST_NR       ((HIST_MAX_LOG - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
	uint64_t n;
	uint64_t max;
	uint64_t b[HIST_NR];
};

/* Values below 2 * HIST_SUB have a bucket each; above, each power of two
 * is split into HIST_SUB buckets. */
static inline uint32_t hist_bucket(uint64_t v)
{
	uint32_t shift;

	if (v < 2 * HIST_SUB)
		return (uint32_t)v;
	if (v >> (HIST_MAX_LOG + 1))
		v = (UINT64_C(1) << (HIST_MAX_LOG + 1)) - 1;
	shift = (uint32_t)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	return shift * HIST_SUB + (uint32_t)(v >> shift);
}

static void hist_bounds(uint32_t i, uint64_t *ret_lo, uint64_t *ret_width)
{
	uint32_t shift;

	if (i < 2 * HIST_SUB) {
		*ret_lo = i;
		*ret_width = 1;
		return;
	}
	shift = i / HIST_SUB - 1;
	*ret_lo = (uint64_t)(i - shift * HIST_SUB) << shift;
	*ret_width = UINT64_C(1) << shift;
}

static inline void hist_add(struct hist *h, uint64_t cycles, uint64_t ovh)
{
	uint64_t v = cycles > ovh ? cycles - ovh : 0;

	h->b[hist_bucket(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
	for (uint32_t i = 0; i < HIST_NR; i++)
		into->b[i] += h->b[i];
	into->n += h->n;
	if (h->max > into->max)
		into->max = h->max;
}

/* The @q quantile (0 < q <= 1) in cycles per batch: the middle of the
 * bucket holding it, never above the exact maximum. */
static double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, cum = 0, lo, width;

	if (!h->n)
		return 0;
	if (q >= 1)
		return (double)h->max;
	rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;
	if (rank == 0)
		rank = 1;
	for (uint32_t i = 0; i < HIST_NR; i++) {
		cum += h->b[i];
		if (cum >= rank) {
			double mid;

			hist_bounds(i, &lo, &width);
			mid = (double)lo + (double)(width - 1) / 2;
			return mid > (double)h->max ? (double)h->max : mid;
		}
	}
	return (double)h->max;
}

/* ------------------------------------------------------------------ */
/* the competitor process                                              */

enum job_op { JOB_RUN = 1, JOB_FINISH = 2 };

/* parent -> child */
struct peers_cmd {
	uint32_t op;         /* enum job_op */
	uint32_t si;         /* size index */
	uint32_t ti;         /* thread-count index */
	uint32_t record;     /* add the batches to the cell's histograms */
	uint64_t pairs;      /* per thread */
	uint64_t batches;    /* per thread */
};

/* child -> parent, once at start */
struct peers_hello {
	int32_t status;      /* 0 ready, else -errno: unavailable */
	uint32_t nr_threads;
	int32_t cpus[PEERS_MAX_THREADS];
	uint64_t ovh;        /* timer cost, ticks (largest of the threads) */
	char why[PEERS_WHY];
	char version[PEERS_VERSION];
};

/* child -> parent, after each JOB_RUN */
struct peers_reply {
	int32_t status;
	uint32_t pad;
	double ns;           /* ns per pair per thread, mean of the threads */
	double mps;          /* aggregate M pairs/s */
	double worst_ns;     /* slowest thread's ns per pair */
	double batch_ns;     /* slowest thread's ns per batch */
	double cyc_pair;     /* ticks per pair over a thread's running
			      * chunks (thread_cyc_pair), mean of the threads */
	double inv_cyc_sum;  /* sum over the threads of 1 / that */
	uint32_t alone;      /* too few chunks with every thread running */
	uint32_t pad2;
	uint64_t pairs;      /* per thread, as run (whole chunks) */
	uint64_t bad;        /* failed allocations */
	uint64_t preempted;  /* involuntary context switches of the workers */
};

/* child -> parent, after JOB_FINISH: this, then 2 * PEERS_NR_CELLS
 * histograms (alloc, free of each cell) */
struct peers_final {
	int32_t status;
	uint32_t pad;
	uint64_t wrong;      /* elements lost or duplicated */
};

struct job {
	uint32_t si, ti;
	int nthreads;
	uint64_t chunks, chunk, batches;
	bool record;
	bool quit;
};

struct child;

struct worker {
	struct child *ch;
	pthread_t tid;
	int id;
	int cpu;
	int err;             /* thread_setup(): 0 or -errno */
	char why[PEERS_WHY];
	uint64_t ovh;        /* timer cost, ticks */
	uint64_t t0, t1, t2, t3; /* ns: pairs phase, latency phase */
	uint64_t *tk;        /* PEERS_MAX_CHUNKS + 1 chunk timestamps */
	uint64_t *d;         /* the chunks' durations */
	uint64_t *scratch;   /* for medians */
	uint64_t med;        /* median duration of the chunks that ran */
	uint64_t cut;        /* chunks this long or longer were preempted */
	uint64_t bad;
	uint64_t nivcsw;     /* involuntary context switches in the sample */
	uint64_t runs;       /* pair loops run: picks the next placement */
	uint64_t wrong;      /* thread_end() */
	struct hist *h;      /* [PEERS_NR_CELLS + 1][2]: cells, then scratch */
	void *priv;          /* the competitor's per-thread state */
} __attribute__((aligned(CACHELINE)));

struct peer;

struct child {
	const struct peer *peer;
	int fd;
	uint32_t nr_cpus_conf;
	int nr_threads;
	int cpus[PEERS_MAX_THREADS];
	int tcount[PEERS_NR_TCOUNTS];
	const char *socket;
	const char *pool_prefix;
	void *ctx[PEERS_NR_SIZES];   /* the competitor's per-size state */
	void *priv;                  /* its process state */
	char version[PEERS_VERSION];
	pthread_barrier_t start;
	pthread_barrier_t done;
	struct job job;
	_Atomic int ready __attribute__((aligned(CACHELINE)));
	int nr_workers;
	struct worker w[PEERS_MAX_THREADS];
};

/* One competitor.  setup() runs in the process before the workers exist,
 * thread_setup() in each worker on its CPU; pairs() and batches() are the
 * timed loops on one size's context (both return failed allocations). */
struct peer {
	const char *name;
	const char *label;
	const char *preload;     /* LD_PRELOAD of its process, or NULL */
	bool floor;              /* a floor, not a peer to beat */
	bool ours;               /* pcpupool itself: needs the daemon */
	int (*setup)(struct child *ch, char *why, size_t len);
	int (*thread_setup)(struct child *ch, struct worker *w, char *why, size_t len);
	uint64_t (*thread_end)(struct child *ch, struct worker *w);
	uint64_t (*check)(struct child *ch);
	void (*teardown)(struct child *ch);
	/* the pair loop at PEERS_PLACEMENTS places: see PEER_LOOPS() */
	uint64_t (*const *pairs)(void *ctx, uint64_t chunks, uint64_t chunk, uint64_t *tk);
	uint64_t (*batches)(void *ctx, uint64_t n, uint64_t ovh, struct hist *ha,
			    struct hist *hf);
};

/*
 * The two timed loops of competitor PFX, from its inline PFX_get(ctx) and
 * PFX_put(ctx, p) on a struct PFX_ctx.  A macro rather than a function
 * taking function pointers so that get and put are inlined into each
 * competitor's own loop, as they are into an application's.  The pairs
 * run in @chunks chunks of @chunk, each ending with a timestamp in @tk
 * (chunks + 1 of them), so that a chunk something preempted can be told
 * from the others.
 *
 * The pair loop is built PEERS_PLACEMENTS times, each copy starting on a
 * cache line and its loop 16 bytes further into the line than the last
 * copy's, and successive rounds run the copies in turn.  A loop of a few
 * dozen instructions runs 5-7% faster or slower depending on where it
 * falls in the lines the front end fetches (measured here: pcpupool's
 * pair moved from 1.38x to 1.47x the floor, the floor's own loop by as
 * much, with nothing changed but code placement), and where the linker
 * puts each competitor's loop is luck: the medians are then over the
 * placements, the same ones for everyone.
 */
#define PEERS_PLACEMENTS 4
#define PEER_PAIRS_AT(pfx, k)						\
static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN uint64_t			\
pfx##_pairs##k(void *arg, uint64_t chunks, uint64_t chunk, uint64_t *tk) \
{									\
	__asm__ __volatile__(".skip " #k " * 16 + 1, 0x90");		\
	return pfx##_pairs_body(arg, chunks, chunk, tk);		\
}
#define PEER_LOOPS(pfx)							\
static inline __attribute__((always_inline)) uint64_t			\
pfx##_pairs_body(void *arg, uint64_t chunks, uint64_t chunk, uint64_t *tk) \
{									\
	struct pfx##_ctx *c = arg;					\
	uint64_t bad = 0;						\
									\
	tk[0] = tick();							\
	for (uint64_t k = 0; k < chunks; k++) {				\
		for (uint64_t i = 0; i < chunk; i++) {			\
			void *p = pfx##_get(c);				\
									\
			OPAQUE(p);					\
			if (unlikely(!p)) {				\
				bad++;					\
				continue;				\
			}						\
			*(volatile uint8_t *)p = (uint8_t)i;		\
			pfx##_put(c, p);				\
		}							\
		tk[k + 1] = tick();					\
	}								\
	return bad;							\
}									\
									\
PEER_PAIRS_AT(pfx, 0)							\
PEER_PAIRS_AT(pfx, 1)							\
PEER_PAIRS_AT(pfx, 2)							\
PEER_PAIRS_AT(pfx, 3)							\
static uint64_t (*const pfx##_pairs[PEERS_PLACEMENTS])(void *, uint64_t, \
						   uint64_t, uint64_t *) = { \
	pfx##_pairs0, pfx##_pairs1, pfx##_pairs2, pfx##_pairs3,		\
};									\
									\
static uint64_t pfx##_batches(void *arg, uint64_t n, uint64_t ovh,	\
			      struct hist *ha, struct hist *hf)		\
{									\
	struct pfx##_ctx *c = arg;					\
	void *v[PEERS_BATCH];						\
	uint64_t bad = 0;						\
									\
	for (uint64_t b = 0; b < n; b++) {				\
		uint64_t t0, t1, t2;					\
									\
		t0 = tick();						\
		for (int k = 0; k < PEERS_BATCH; k++) {			\
			void *p = pfx##_get(c);				\
									\
			OPAQUE(p);					\
			if (likely(p))					\
				*(volatile uint8_t *)p = (uint8_t)k;	\
			v[k] = p;					\
		}							\
		t1 = tick();						\
		for (int k = 0; k < PEERS_BATCH; k++) {			\
			void *p = v[k];					\
									\
			if (likely(p))					\
				pfx##_put(c, p);			\
			else						\
				bad++;					\
		}							\
		t2 = tick();						\
		hist_add(ha, t1 - t0, ovh);				\
		hist_add(hf, t2 - t1, ovh);				\
	}								\
	return bad;							\
}

static void set_why(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* ---- pcpupool ---------------------------------------------------- */

struct pcp_ctx {
	struct pcpupool *pool;
};

struct pcp_proc {
	struct pcpupool_client *client;
	struct pcp_ctx ctx[PEERS_NR_SIZES];
};

static inline void *pcp_get(struct pcp_ctx *c)
{
	return pcpupool_alloc(c->pool, PCPUPOOL_NOWAIT);
}

static inline void pcp_put(struct pcp_ctx *c, void *p)
{
	pcpupool_free(p, c->pool);
}

PEER_LOOPS(pcp)

/* The same through the library's out-of-line functions, as a program built
 * with PCPUPOOL_NO_INLINE (or calling through a pointer) gets them: the
 * pointers are read each call, so nothing can inline them. */
static void *(*volatile pcpc_alloc)(struct pcpupool *, int) = pcpupool_alloc;
static void (*volatile pcpc_free)(void *, struct pcpupool *) = pcpupool_free;

#define pcpc_ctx pcp_ctx

static inline void *pcpc_get(struct pcp_ctx *c)
{
	return pcpc_alloc(c->pool, PCPUPOOL_NOWAIT);
}

static inline void pcpc_put(struct pcp_ctx *c, void *p)
{
	pcpc_free(p, c->pool);
}

PEER_LOOPS(pcpc)

static void pool_name(char *buf, size_t len, const char *prefix, size_t size)
{
	snprintf(buf, len, "%s-%zu", prefix, size);
}

static int pcp_setup(struct child *ch, char *why, size_t len)
{
	struct pcp_proc *pp = calloc(1, sizeof(*pp));

	if (!pp)
		return -ENOMEM;
	ch->priv = pp;
	if (!ch->socket || !ch->pool_prefix) {
		set_why(why, len, "no daemon socket or pool names given");
		return -EINVAL;
	}
	pp->client = pcpupool_connect(ch->socket);
	if (!pp->client) {
		set_why(why, len, "pcpupool_connect(%s): %s", ch->socket, strerror(errno));
		return -errno;
	}
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		char name[PEERS_NAME_MAX + 16];

		pool_name(name, sizeof(name), ch->pool_prefix, peers_sizes[si]);
		pp->ctx[si].pool = pcpupool_open(pp->client, name);
		if (!pp->ctx[si].pool) {
			set_why(why, len, "pcpupool_open(%s): %s", name, strerror(errno));
			return -errno;
		}
		if (pcpupool_elem_size(pp->ctx[si].pool) < peers_sizes[si]) {
			set_why(why, len, "pool %s has %zu-byte elements", name,
				pcpupool_elem_size(pp->ctx[si].pool));
			return -EINVAL;
		}
		ch->ctx[si] = &pp->ctx[si];
	}
	snprintf(ch->version, sizeof(ch->version), "libpcpupool %d.%d, rseq %s",
		 PCPUPOOL_VERSION_MAJOR, PCPUPOOL_VERSION_MINOR,
		 __rseq_size > 0 ? "registered" : "NOT registered (atomic fallback)");
	return 0;
}

static void pcp_teardown(struct child *ch)
{
	struct pcp_proc *pp = ch->priv;

	if (!pp)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++)
		pcpupool_close(pp->ctx[si].pool);
	pcpupool_disconnect(pp->client);
	free(pp);
}

/* ---- thread-local free list (the floor) ---------------------------- */

/* The competitor itself: one free list per size per thread. */
static __thread void *tls_free[PEERS_NR_SIZES];

struct tls_ctx {
	int si;
};

struct tls_thread {
	void *mem[PEERS_NR_SIZES];
};

static inline void *tls_get(struct tls_ctx *c)
{
	void *p = tls_free[c->si];

	if (likely(p))
		tls_free[c->si] = *(void **)p;
	return p;
}

static inline void tls_put(struct tls_ctx *c, void *p)
{
	*(void **)p = tls_free[c->si];
	tls_free[c->si] = p;
}

PEER_LOOPS(tls)

static int tls_setup(struct child *ch, char *why, size_t len)
{
	struct tls_ctx *c = calloc(PEERS_NR_SIZES, sizeof(*c));

	(void)why; (void)len;
	if (!c)
		return -ENOMEM;
	ch->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		c[si].si = si;
		ch->ctx[si] = &c[si];
	}
	snprintf(ch->version, sizeof(ch->version), "__thread singly linked list");
	return 0;
}

static int tls_thread_setup(struct child *ch, struct worker *w, char *why, size_t len)
{
	struct tls_thread *t = calloc(1, sizeof(*t));

	(void)ch;
	if (!t) {
		set_why(why, len, "out of memory");
		return -ENOMEM;
	}
	w->priv = t;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		size_t sz = peers_sizes[si];
		char *m = aligned_alloc(CACHELINE, PEERS_PER_CPU * sz);

		if (!m) {
			set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		memset(m, 0, PEERS_PER_CPU * sz);
		t->mem[si] = m;
		tls_free[si] = NULL;
		for (uint32_t k = 0; k < PEERS_PER_CPU; k++)
			*(void **)(m + k * sz) = k + 1 < PEERS_PER_CPU ? m + (k + 1) * sz : NULL;
		tls_free[si] = m;
	}
	return 0;
}

static uint64_t tls_thread_end(struct child *ch, struct worker *w)
{
	struct tls_thread *t = w->priv;
	uint64_t wrong = 0;

	(void)ch;
	if (!t)
		return 0;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		uint32_t n = 0;

		for (void *p = tls_free[si]; p && n <= PEERS_PER_CPU; p = *(void **)p)
			n++;
		if (n != PEERS_PER_CPU) {
			fprintf(stderr, "tls-freelist: thread %d holds %u of %u "
				"%zu-byte elements\n", w->id, n, PEERS_PER_CPU, peers_sizes[si]);
			wrong++;
		}
		free(t->mem[si]);
		tls_free[si] = NULL;
	}
	free(t);
	w->priv = NULL;
	return wrong;
}

static void free_priv(struct child *ch)
{
	free(ch->priv);
}

/* ---- per-CPU rseq array stack (the cross-process floor) ------------ */

/* The loop reaches the stacks through a pointer in its context, as
 * pcpupool's loop reaches its pool (struct pcp_ctx) and DPDK's its mempool:
 * the volatile store into each element makes every loop reload that pointer
 * before the free.  With the struct floor inline in the context instead,
 * the floor skipped that reload and its dependent loads, which pcpupool
 * cannot (its handle is opaque), and read 0.2 ns faster. */
struct rsq_ctx {
	struct floor *fp;      /* &f */
	struct floor f;
};

static inline void *rsq_get(struct rsq_ctx *c)
{
	return floor_pop(c->fp);
}

static inline void rsq_put(struct rsq_ctx *c, void *p)
{
	floor_push(c->fp, p);
}

PEER_LOOPS(rsq)

/* The same behind a call, as pcpupool-call reaches the library: the floor
 * of a per-CPU design whose alloc and free are functions.  The pointers
 * are read each call, so nothing can inline them. */
static __attribute__((noinline)) void *rsq_pop_fn(const struct floor *f)
{
	return floor_pop(f);
}

static __attribute__((noinline)) void rsq_push_fn(const struct floor *f, void *p)
{
	floor_push(f, p);
}

static void *(*volatile rsqc_pop)(const struct floor *) = rsq_pop_fn;
static void (*volatile rsqc_push)(const struct floor *, void *) = rsq_push_fn;

#define rsqc_ctx rsq_ctx

static inline void *rsqc_get(struct rsq_ctx *c)
{
	return rsqc_pop(c->fp);
}

static inline void rsqc_put(struct rsq_ctx *c, void *p)
{
	rsqc_push(c->fp, p);
}

PEER_LOOPS(rsqc)

static int rsq_setup(struct child *ch, char *why, size_t len)
{
	struct rsq_ctx *c = calloc(PEERS_NR_SIZES, sizeof(*c));

	if (!c)
		return -ENOMEM;
	ch->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		const char *no;

		if (floor_init(&c[si].f, ch->nr_cpus_conf, ch->cpus, ch->nr_threads,
			       PEERS_PER_CPU, peers_sizes[si]) < 0) {
			set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		no = floor_unusable_reason(&c[si].f);
		if (no) {
			set_why(why, len, "%s", no);
			return -EOPNOTSUPP;
		}
		c[si].fp = &c[si].f;
		ch->ctx[si] = &c[si];
	}
	snprintf(ch->version, sizeof(ch->version), "bench/rseq_floor.h, __rseq_size %u",
		 (unsigned int)__rseq_size);
	return 0;
}

static uint64_t rsq_check(struct child *ch)
{
	struct rsq_ctx *c = ch->priv;
	uint64_t wrong = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++)
		wrong += (uint64_t)floor_check(&c[si].f, "rseq-array");
	return wrong;
}

static void rsq_teardown(struct child *ch)
{
	struct rsq_ctx *c = ch->priv;

	if (!c)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++)
		floor_destroy(&c[si].f);
	free(c);
}

/* ---- malloc/free: glibc, or jemalloc when it is preloaded ---------- */

struct mal_ctx {
	size_t size;
};

static inline void *mal_get(struct mal_ctx *c)
{
	return malloc(c->size);
}

static inline void mal_put(struct mal_ctx *c, void *p)
{
	(void)c;
	free(p);
}

PEER_LOOPS(mal)

/* jemalloc's own entry points: resolved only when it is preloaded. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		   size_t newlen) __attribute__((weak));

/* The shared object that defines the malloc() this process calls. */
static const char *malloc_owner(void)
{
	Dl_info info;
	void *(*fn)(size_t) = malloc;

	if (!dladdr((const void *)(uintptr_t)fn, &info) || !info.dli_fname)
		return "?";
	return info.dli_fname;
}

static int mal_setup_sizes(struct child *ch)
{
	struct mal_ctx *c = calloc(PEERS_NR_SIZES, sizeof(*c));

	if (!c)
		return -ENOMEM;
	ch->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		c[si].size = peers_sizes[si];
		ch->ctx[si] = &c[si];
	}
	return 0;
}

static int glibc_setup(struct child *ch, char *why, size_t len)
{
	const char *own = malloc_owner();

	if (!strstr(own, "libc.so")) {
		set_why(why, len, "malloc() comes from %s, not glibc (LD_PRELOAD?)", own);
		return -EOPNOTSUPP;
	}
	snprintf(ch->version, sizeof(ch->version), "glibc %s", gnu_get_libc_version());
	return mal_setup_sizes(ch);
}

static int jemalloc_setup(struct child *ch, char *why, size_t len)
{
	const char *own = malloc_owner(), *ver = NULL;
	size_t vlen = sizeof(ver);

	if (!strstr(own, "jemalloc") || !mallctl) {
		set_why(why, len, "%s could not be preloaded (apt-get install libjemalloc2); "
			"malloc() comes from %s", BENCH_JEMALLOC_SO, own);
		return -ENOENT;
	}
	if (mallctl("version", &ver, &vlen, NULL, 0) != 0 || !ver)
		ver = "?";
	snprintf(ch->version, sizeof(ch->version), "jemalloc %.40s (%.40s)", ver, own);
	return mal_setup_sizes(ch);
}

/* ---- mimalloc ------------------------------------------------------ */

extern void *mi_malloc(size_t size) __attribute__((weak));
extern void mi_free(void *p) __attribute__((weak));
extern int mi_version(void) __attribute__((weak));

struct mim_ctx {
	size_t size;
};

static inline void *mim_get(struct mim_ctx *c)
{
	return mi_malloc(c->size);
}

static inline void mim_put(struct mim_ctx *c, void *p)
{
	(void)c;
	mi_free(p);
}

PEER_LOOPS(mim)

static int mim_setup(struct child *ch, char *why, size_t len)
{
	struct mim_ctx *c;

	if (!mi_malloc || !mi_free) {
		set_why(why, len, "%s could not be preloaded (apt-get install libmimalloc2.0)",
			BENCH_MIMALLOC_SO);
		return -ENOENT;
	}
	c = calloc(PEERS_NR_SIZES, sizeof(*c));
	if (!c)
		return -ENOMEM;
	ch->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		c[si].size = peers_sizes[si];
		ch->ctx[si] = &c[si];
	}
	if (mi_version) {
		int v = mi_version();

		snprintf(ch->version, sizeof(ch->version), "mimalloc %d.%d.%d",
			 v / 100, v / 10 % 10, v % 10);
	} else {
		snprintf(ch->version, sizeof(ch->version), "mimalloc");
	}
	return 0;
}

/* ---- DPDK rte_mempool with a per-lcore cache ----------------------- */

#ifdef BENCH_HAVE_DPDK
struct dpdk_ctx {
	struct rte_mempool *mp;
	unsigned int n;
};

struct dpdk_proc {
	struct dpdk_ctx ctx[PEERS_NR_SIZES];
	bool eal;
	char runtime_dir[PATH_MAX];
};

static inline void *dpdk_get(struct dpdk_ctx *c)
{
	void *p;

	return likely(rte_mempool_get(c->mp, &p) == 0) ? p : NULL;
}

static inline void dpdk_put(struct dpdk_ctx *c, void *p)
{
	rte_mempool_put(c->mp, p);
}

PEER_LOOPS(dpdk)

static int dpdk_setup(struct child *ch, char *why, size_t len)
{
	struct dpdk_proc *dp = calloc(1, sizeof(*dp));
	char lcores[16], prefix[48];
	char *args[] = {
		(char[]){ "bench_peers" }, (char[]){ "--no-huge" }, (char[]){ "--no-pci" },
		(char[]){ "-m" }, (char[]){ "256" }, (char[]){ "--no-shconf" },
		(char[]){ "--no-telemetry" }, (char[]){ "--log-level=1" },
		(char[]){ "-l" }, lcores, (char[]){ "--file-prefix" }, prefix, NULL,
	};
	int argc = (int)(sizeof(args) / sizeof(args[0])) - 1;
	/* a worker's cache holds up to 1.5 x its size; 2^k - 1 suits the ring */
	unsigned int n = 4095;

	if (!dp)
		return -ENOMEM;
	ch->priv = dp;
	/* the main thread (EAL's main lcore) only waits: one lcore is enough;
	 * the workers get lcores of their own from rte_thread_register() */
	snprintf(lcores, sizeof(lcores), "%d", ch->cpus[0]);
	snprintf(prefix, sizeof(prefix), "pcpupool-bench-%d", (int)getpid());
	if (rte_eal_init(argc, args) < 0) {
		set_why(why, len, "rte_eal_init: %s", rte_strerror(rte_errno));
		return -ENODEV;
	}
	dp->eal = true;
	snprintf(dp->runtime_dir, sizeof(dp->runtime_dir), "%s", rte_eal_get_runtime_dir());
	while (n < (unsigned int)ch->nr_threads * PEERS_DPDK_CACHE * 2 + PEERS_PER_CPU)
		n = n * 2 + 1;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		char name[32];

		snprintf(name, sizeof(name), "bench%zu", peers_sizes[si]);
		dp->ctx[si].n = n;
		dp->ctx[si].mp = rte_mempool_create(name, n, (unsigned int)peers_sizes[si],
						    PEERS_DPDK_CACHE, 0, NULL, NULL, NULL,
						    NULL, SOCKET_ID_ANY, 0);
		if (!dp->ctx[si].mp) {
			set_why(why, len, "rte_mempool_create: %s", rte_strerror(rte_errno));
			return -ENOMEM;
		}
		ch->ctx[si] = &dp->ctx[si];
	}
	snprintf(ch->version, sizeof(ch->version), "%s, ops %s, cache %u",
		 rte_version(), rte_mempool_get_ops(dp->ctx[0].mp->ops_index)->name,
		 PEERS_DPDK_CACHE);
	return 0;
}

static int dpdk_thread_setup(struct child *ch, struct worker *w, char *why, size_t len)
{
	(void)ch; (void)w;
	if (rte_thread_register() < 0) {
		set_why(why, len, "rte_thread_register: %s", rte_strerror(rte_errno));
		return -ENODEV;
	}
	return 0;
}

static uint64_t dpdk_thread_end(struct child *ch, struct worker *w)
{
	(void)ch; (void)w;
	rte_thread_unregister();
	return 0;
}

static uint64_t dpdk_check(struct child *ch)
{
	struct dpdk_proc *dp = ch->priv;
	uint64_t wrong = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		unsigned int avail = rte_mempool_avail_count(dp->ctx[si].mp);

		if (avail != dp->ctx[si].n) {
			fprintf(stderr, "dpdk: mempool holds %u of %u %zu-byte elements\n",
				avail, dp->ctx[si].n, peers_sizes[si]);
			wrong++;
		}
	}
	return wrong;
}

static void dpdk_teardown(struct child *ch)
{
	struct dpdk_proc *dp = ch->priv;

	if (!dp)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++)
		rte_mempool_free(dp->ctx[si].mp);
	if (dp->eal) {
		rte_eal_cleanup();
		if (dp->runtime_dir[0])
			rmdir(dp->runtime_dir);  /* empty with --no-shconf */
	}
	free(dp);
}
#else
static int dpdk_setup(struct child *ch, char *why, size_t len)
{
	(void)ch;
	set_why(why, len, "built without DPDK (pkg-config found no libdpdk: "
		"apt-get install libdpdk-dev, then rebuild)");
	return -EOPNOTSUPP;
}
#endif

/* ---- one free list under one pthread mutex ------------------------- */

struct mtx_ctx {
	pthread_mutex_t lock;
	void *head;              /* under lock */
	char *mem __attribute__((aligned(CACHELINE)));
	uint32_t nr;
	size_t size;
};

static inline void *mtx_get(struct mtx_ctx *c)
{
	void *p;

	pthread_mutex_lock(&c->lock);
	p = c->head;
	if (likely(p))
		c->head = *(void **)p;
	pthread_mutex_unlock(&c->lock);
	return p;
}

static inline void mtx_put(struct mtx_ctx *c, void *p)
{
	pthread_mutex_lock(&c->lock);
	*(void **)p = c->head;
	c->head = p;
	pthread_mutex_unlock(&c->lock);
}

PEER_LOOPS(mtx)

static int mtx_setup(struct child *ch, char *why, size_t len)
{
	struct mtx_ctx *c = aligned_alloc(CACHELINE, PEERS_NR_SIZES * sizeof(*c));

	if (!c)
		return -ENOMEM;
	memset(c, 0, PEERS_NR_SIZES * sizeof(*c));
	ch->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		size_t sz = peers_sizes[si];

		c[si].nr = PEERS_PER_CPU * (uint32_t)ch->nr_threads;
		c[si].size = sz;
		c[si].mem = aligned_alloc(CACHELINE, c[si].nr * sz);
		if (!c[si].mem || pthread_mutex_init(&c[si].lock, NULL)) {
			set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		memset(c[si].mem, 0, c[si].nr * sz);
		for (uint32_t k = 0; k < c[si].nr; k++)
			*(void **)(c[si].mem + k * sz) =
				k + 1 < c[si].nr ? c[si].mem + (k + 1) * sz : NULL;
		c[si].head = c[si].mem;
		ch->ctx[si] = &c[si];
	}
	snprintf(ch->version, sizeof(ch->version), "pthread_mutex_t (glibc %s)",
		 gnu_get_libc_version());
	return 0;
}

static uint64_t mtx_check(struct child *ch)
{
	struct mtx_ctx *c = ch->priv;
	uint64_t wrong = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		uint32_t n = 0;

		for (char *p = c[si].head; p && n <= c[si].nr; p = *(void **)p) {
			if (p < c[si].mem || (size_t)(p - c[si].mem) % c[si].size ||
			    (size_t)(p - c[si].mem) / c[si].size >= c[si].nr)
				break;
			n++;
		}
		if (n != c[si].nr) {
			fprintf(stderr, "mutex-freelist: %u of %u %zu-byte elements\n",
				n, c[si].nr, c[si].size);
			wrong++;
		}
	}
	return wrong;
}

static void mtx_teardown(struct child *ch)
{
	struct mtx_ctx *c = ch->priv;

	if (!c)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		if (c[si].mem)
			pthread_mutex_destroy(&c[si].lock);
		free(c[si].mem);
	}
	free(c);
}

/* ---- global Treiber stack with an ABA tag -------------------------- */

#define TRB_NIL UINT32_MAX

/* head = {tag : 32 | index : 32}; every successful CAS bumps the tag, so
 * a pop that read `next` of an element popped and pushed back meanwhile
 * fails its CAS instead of installing a stale next. */
struct trb_ctx {
	_Atomic uint64_t head;
	/* read-only after set-up, on a line of its own */
	char *elems __attribute__((aligned(CACHELINE)));
	_Atomic uint32_t *next;  /* links, out of the elements */
	uint32_t nr;
	uint32_t shift;          /* log2 of the element size */
} __attribute__((aligned(CACHELINE)));

static inline uint64_t trb_word(uint64_t old, uint32_t idx)
{
	return (((old >> 32) + 1) << 32) | idx;
}

static inline void *trb_get(struct trb_ctx *c)
{
	/* acquire: pairs with the release CAS of the push that published
	 * this head, so its next link and contents are visible */
	uint64_t old = atomic_load_explicit(&c->head, memory_order_acquire), nw;

	do {
		uint32_t i = (uint32_t)old;

		if (unlikely(i == TRB_NIL))
			return NULL;
		nw = trb_word(old, atomic_load_explicit(&c->next[i], memory_order_relaxed));
	} while (!atomic_compare_exchange_weak_explicit(&c->head, &old, nw,
							memory_order_acquire,
							memory_order_acquire));
	return c->elems + ((size_t)(uint32_t)old << c->shift);
}

static inline void trb_put(struct trb_ctx *c, void *p)
{
	uint32_t i = (uint32_t)(((char *)p - c->elems) >> c->shift);
	uint64_t old = atomic_load_explicit(&c->head, memory_order_relaxed), nw;

	do {
		atomic_store_explicit(&c->next[i], (uint32_t)old, memory_order_relaxed);
		nw = trb_word(old, i);
		/* release: publishes next[i] and the element (pairs with the
		 * acquire in trb_get) */
	} while (!atomic_compare_exchange_weak_explicit(&c->head, &old, nw,
							memory_order_release,
							memory_order_relaxed));
}

PEER_LOOPS(trb)

static int trb_setup(struct child *ch, char *why, size_t len)
{
	struct trb_ctx *c = aligned_alloc(CACHELINE, PEERS_NR_SIZES * sizeof(*c));

	if (!c)
		return -ENOMEM;
	memset(c, 0, PEERS_NR_SIZES * sizeof(*c));
	ch->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		size_t sz = peers_sizes[si];

		c[si].nr = PEERS_PER_CPU * (uint32_t)ch->nr_threads;
		c[si].shift = (uint32_t)__builtin_ctzll(sz);
		if ((size_t)1 << c[si].shift != sz) {
			set_why(why, len, "element size %zu is not a power of two", sz);
			return -EINVAL;
		}
		c[si].elems = aligned_alloc(CACHELINE, c[si].nr * sz);
		c[si].next = calloc(c[si].nr, sizeof(*c[si].next));
		if (!c[si].elems || !c[si].next) {
			set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		memset(c[si].elems, 0, c[si].nr * sz);
		for (uint32_t k = 0; k < c[si].nr; k++)
			atomic_init(&c[si].next[k], k + 1 < c[si].nr ? k + 1 : TRB_NIL);
		atomic_init(&c[si].head, 0);   /* tag 0, element 0 on top */
		ch->ctx[si] = &c[si];
	}
	snprintf(ch->version, sizeof(ch->version), "64-bit {tag, index} CAS, %s",
		 atomic_is_lock_free(&c[0].head) ? "lock-free" : "NOT lock-free");
	return 0;
}

static uint64_t trb_check(struct child *ch)
{
	struct trb_ctx *c = ch->priv;
	uint64_t wrong = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		uint8_t *seen = calloc(c[si].nr, 1);
		uint32_t n = 0, i = (uint32_t)atomic_load(&c[si].head);

		while (seen && i != TRB_NIL && i < c[si].nr && !seen[i]) {
			seen[i] = 1;
			n++;
			i = atomic_load(&c[si].next[i]);
		}
		free(seen);
		if (n != c[si].nr || i != TRB_NIL) {
			fprintf(stderr, "treiber: %u of %u %zu-byte elements\n", n, c[si].nr,
				peers_sizes[si]);
			wrong++;
		}
	}
	return wrong;
}

static void trb_teardown(struct child *ch)
{
	struct trb_ctx *c = ch->priv;

	if (!c)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		free(c[si].elems);
		free(c[si].next);
	}
	free(c);
}

/* ---- the table of competitors -------------------------------------- */

enum {
	PEER_PCPUPOOL,
	PEER_PCPUPOOL_CALL,
	PEER_TLS,
	PEER_RSEQ,
	PEER_RSEQ_CALL,
	PEER_GLIBC,
	PEER_JEMALLOC,
	PEER_MIMALLOC,
	PEER_DPDK,
	PEER_MUTEX,
	PEER_TREIBER,
	NR_PEERS
};

static const struct peer peers[NR_PEERS] = {
	[PEER_PCPUPOOL] = {
		.name = "pcpupool", .label = "pcpupool NOWAIT", .ours = true,
		.setup = pcp_setup, .teardown = pcp_teardown,
		.pairs = pcp_pairs, .batches = pcp_batches,
	},
	[PEER_PCPUPOOL_CALL] = {
		.name = "pcpupool-call", .label = "pcpupool, library call", .ours = true,
		.setup = pcp_setup, .teardown = pcp_teardown,
		.pairs = pcpc_pairs, .batches = pcpc_batches,
	},
	[PEER_TLS] = {
		.name = "tls-freelist", .label = "thread-local free list", .floor = true,
		.setup = tls_setup, .thread_setup = tls_thread_setup,
		.thread_end = tls_thread_end, .teardown = free_priv,
		.pairs = tls_pairs, .batches = tls_batches,
	},
	[PEER_RSEQ] = {
		.name = "rseq-array", .label = "rseq per-CPU array", .floor = true,
		.setup = rsq_setup, .check = rsq_check, .teardown = rsq_teardown,
		.pairs = rsq_pairs, .batches = rsq_batches,
	},
	[PEER_RSEQ_CALL] = {
		.name = "rseq-array-call", .label = "rseq per-CPU array, call", .floor = true,
		.setup = rsq_setup, .check = rsq_check, .teardown = rsq_teardown,
		.pairs = rsqc_pairs, .batches = rsqc_batches,
	},
	[PEER_GLIBC] = {
		.name = "glibc", .label = "glibc malloc/free",
		.setup = glibc_setup, .teardown = free_priv,
		.pairs = mal_pairs, .batches = mal_batches,
	},
	[PEER_JEMALLOC] = {
		.name = "jemalloc", .label = "jemalloc malloc/free",
		.preload = BENCH_JEMALLOC_SO,
		.setup = jemalloc_setup, .teardown = free_priv,
		.pairs = mal_pairs, .batches = mal_batches,
	},
	[PEER_MIMALLOC] = {
		.name = "mimalloc", .label = "mimalloc mi_malloc/mi_free",
		.preload = BENCH_MIMALLOC_SO,
		.setup = mim_setup, .teardown = free_priv,
		.pairs = mim_pairs, .batches = mim_batches,
	},
	[PEER_DPDK] = {
		.name = "dpdk", .label = "DPDK rte_mempool + cache",
		.setup = dpdk_setup,
#ifdef BENCH_HAVE_DPDK
		.thread_setup = dpdk_thread_setup, .thread_end = dpdk_thread_end,
		.check = dpdk_check, .teardown = dpdk_teardown,
		.pairs = dpdk_pairs, .batches = dpdk_batches,
#endif
	},
	[PEER_MUTEX] = {
		.name = "mutex-freelist", .label = "pthread mutex free list",
		.setup = mtx_setup, .check = mtx_check, .teardown = mtx_teardown,
		.pairs = mtx_pairs, .batches = mtx_batches,
	},
	[PEER_TREIBER] = {
		.name = "treiber", .label = "Treiber stack (ABA tag)",
		.setup = trb_setup, .check = trb_check, .teardown = trb_teardown,
		.pairs = trb_pairs, .batches = trb_batches,
	},
};

static int peer_by_name(const char *name, size_t len)
{
	for (int i = 0; i < NR_PEERS; i++)
		if (strlen(peers[i].name) == len && !strncmp(peers[i].name, name, len))
			return i;
	return -1;
}

/* ---- socket I/O -------------------------------------------------- */

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly @len bytes, waiting at most @timeout_ms (< 0: forever).
 * Return 0, -EPIPE at end of file, -ETIMEDOUT, -EINTR if @stop got set,
 * or another -errno. */
static int recv_all(int fd, void *buf, size_t len, int timeout_ms,
		    volatile sig_atomic_t *stop)
{
	char *p = buf;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
			    : now_ns() + (uint64_t)timeout_ms * 1000000u;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ns();
		int wait_ms, r;
		ssize_t n;

		if (stop && *stop)
			return -EINTR;
		if (now >= deadline)
			return -ETIMEDOUT;
		wait_ms = deadline == UINT64_MAX ? 1000
			  : (int)((deadline - now) / 1000000u) + 1;
		if (wait_ms > 1000)
			wait_ms = 1000;   /* look at @stop now and then */
		if (!stop && deadline == UINT64_MAX)
			wait_ms = -1;     /* an idle competitor: sleep for good */
		r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = recv(fd, p, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- the child's workers ------------------------------------------- */

static int cell_index(uint32_t si, uint32_t ti)
{
	return (int)(si * PEERS_NR_TCOUNTS + ti);
}

/* Everyone taking part counts in, then waits for all: the phases of the
 * threads start together.  Relaxed: a rendezvous, nothing is published. */
static void rendezvous(struct child *ch, int target)
{
	atomic_fetch_add_explicit(&ch->ready, 1, memory_order_relaxed);
	while (atomic_load_explicit(&ch->ready, memory_order_relaxed) < target)
		cpu_relax();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The cost of the timer itself: median of back-to-back reads. */
static uint64_t timer_overhead(void)
{
	static uint64_t d[PEERS_TIMER_READS];   /* only one worker at a time */

	for (int i = 0; i < PEERS_TIMER_READS; i++) {
		uint64_t t0 = tick();

		d[i] = tick() - t0;
	}
	qsort(d, PEERS_TIMER_READS, sizeof(d[0]), cmp_u64);
	return d[PEERS_TIMER_READS / 2];
}

/* How often the calling thread was preempted so far (a system call,
 * made outside the timed loops). */
static long involuntary_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return 0;
	return ru.ru_nivcsw;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct child *ch = w->ch;
	const struct peer *pe = ch->peer;

	if (sched_getcpu() != w->cpu) {
		set_why(w->why, sizeof(w->why), "worker %d not running on CPU %d", w->id, w->cpu);
		w->err = -EINVAL;
	}
	if (!w->err && pe->thread_setup)
		w->err = pe->thread_setup(ch, w, w->why, sizeof(w->why));
	/* workers measure their timer one after the other (barrier turns) */
	for (int i = 0; i < ch->nr_workers; i++) {
		if (i == w->id)
			w->ovh = timer_overhead();
		pthread_barrier_wait(&ch->done);
	}
	for (;;) {
		pthread_barrier_wait(&ch->start);
		struct job job = ch->job;

		if (job.quit)
			break;
		if (w->id < job.nthreads && !w->err) {
			int c = cell_index(job.si, job.ti);
			struct hist *ha = &w->h[2 * (job.record ? c : PEERS_NR_CELLS)];
			void *ctx = ch->ctx[job.si];
			long iv0, iv1;
			uint64_t pre, ran;

			rendezvous(ch, job.nthreads);
			iv0 = involuntary_switches();
			w->t0 = now_ns();
			w->bad = pe->pairs[w->runs++ % PEERS_PLACEMENTS](ctx, job.chunks,
									  job.chunk, w->tk);
			w->t1 = now_ns();
			iv1 = involuntary_switches();
			rendezvous(ch, 2 * job.nthreads);
			w->t2 = now_ns();
			w->bad += pe->batches(ctx, job.batches, w->ovh, ha, ha + 1);
			w->t3 = now_ns();
			w->nivcsw = (uint64_t)(involuntary_switches() - iv0);
			/*
			 * Each preemption in the pairs phase lengthened one
			 * chunk: the `pre` longest are the preempted ones
			 * (however slow contention made the others).
			 */
			for (uint64_t k = 0; k < job.chunks; k++)
				w->d[k] = w->scratch[k] = w->tk[k + 1] - w->tk[k];
			qsort(w->scratch, job.chunks, sizeof(w->scratch[0]), cmp_u64);
			pre = (uint64_t)(iv1 - iv0);
			if (pre >= job.chunks)
				pre = job.chunks - 1;
			ran = job.chunks - pre;
			w->cut = pre ? w->scratch[ran] : UINT64_MAX;
			w->med = w->scratch[ran / 2];
		}
		pthread_barrier_wait(&ch->done);
	}
	if (!w->err && pe->thread_end)
		w->wrong = pe->thread_end(ch, w);
	pthread_barrier_wait(&ch->done);
	return NULL;
}

/* Start one worker per CPU in ch->cpus, pinned before it runs. */
static int child_start_workers(struct child *ch, char *why, size_t len)
{
	int n = ch->nr_threads, r;

	pthread_barrier_init(&ch->start, NULL, (unsigned int)n + 1);
	pthread_barrier_init(&ch->done, NULL, (unsigned int)n + 1);
	ch->nr_workers = n;
	for (int i = 0; i < n; i++) {
		struct worker *w = &ch->w[i];
		pthread_attr_t attr;
		cpu_set_t set;

		w->ch = ch;
		w->id = i;
		w->cpu = ch->cpus[i];
		w->h = calloc(2 * (PEERS_NR_CELLS + 1), sizeof(*w->h));
		w->tk = calloc(PEERS_MAX_CHUNKS + 1, sizeof(*w->tk));
		w->d = calloc(PEERS_MAX_CHUNKS, sizeof(*w->d));
		w->scratch = calloc(PEERS_MAX_CHUNKS, sizeof(*w->scratch));
		if (!w->h || !w->tk || !w->d || !w->scratch) {
			set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_attr_init(&attr);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		r = pthread_create(&w->tid, &attr, worker_main, w);
		pthread_attr_destroy(&attr);
		if (r) {
			/* the barriers count on every worker: no way back */
			fprintf(stderr, "bench_peers: pthread_create: %s\n", strerror(r));
			_exit(EXIT_SETUP);
		}
	}
	/* the timer turns, one per worker */
	for (int i = 0; i < n; i++)
		pthread_barrier_wait(&ch->done);
	for (int i = 0; i < n; i++) {
		if (ch->w[i].err) {
			set_why(why, len, "%s", ch->w[i].why);
			return ch->w[i].err;
		}
	}
	return 0;
}

/* Whether thread @u ran all through [@s, @e] (ticks): none of its chunks
 * that overlap it was preempted. */
static bool ran_clean(const struct worker *u, uint64_t chunks, uint64_t s, uint64_t e)
{
	uint64_t lo = 0, hi = chunks;

	if (s < u->tk[0] || e > u->tk[chunks])
		return false;
	/* the first chunk ending after s */
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (u->tk[mid + 1] <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint64_t j = lo; j < chunks && u->tk[j] < e; j++)
		if (u->d[j] >= u->cut)
			return false;
	return true;
}

/*
 * Ticks per pair of worker @t over the time it ran: the mean of its chunks
 * that were not preempted and, with several threads, during which every
 * other thread ran too, so that a shared structure is measured shared
 * (contention stalls count, other processes do not).  With too few such
 * chunks (the threads seldom ran at the same time), sets *ret_alone.
 */
static double thread_cyc_pair(struct child *ch, int t, int nt, uint64_t chunks,
			      uint64_t chunk, bool *ret_alone)
{
	struct worker *w = &ch->w[t];
	uint64_t n = 0;
	double sum = 0;

	for (uint64_t k = 0; k < chunks; k++) {
		bool all = w->d[k] < w->cut;

		for (int u = 0; u < nt && all; u++)
			if (u != t)
				all = ran_clean(&ch->w[u], chunks, w->tk[k], w->tk[k + 1]);
		if (all) {
			sum += (double)w->d[k];
			n++;
		}
	}
	if (nt > 1 && (n * 4 < chunks || n < 16))
		*ret_alone = true;
	return n ? sum / (double)n / (double)chunk : (double)w->med / (double)chunk;
}

static void child_run(struct child *ch, const struct peers_cmd *cmd, struct peers_reply *ret)
{
	int nt = ch->tcount[cmd->ti];
	uint64_t first = UINT64_MAX, last = 0, chunk, chunks, pairs;
	double sum = 0, worst = 0, worst_b = 0;

	/* whole chunks of at least PEERS_CHUNK_MIN, at most PEERS_MAX_CHUNKS */
	chunk = (cmd->pairs + PEERS_MAX_CHUNKS - 1) / PEERS_MAX_CHUNKS;
	if (chunk < PEERS_CHUNK_MIN)
		chunk = PEERS_CHUNK_MIN;
	chunks = (cmd->pairs + chunk - 1) / chunk;
	pairs = chunks * chunk;
	ch->job = (struct job){
		.si = cmd->si, .ti = cmd->ti, .nthreads = nt, .chunks = chunks,
		.chunk = chunk, .batches = cmd->batches, .record = cmd->record != 0,
	};
	atomic_store_explicit(&ch->ready, 0, memory_order_relaxed);
	pthread_barrier_wait(&ch->start);
	pthread_barrier_wait(&ch->done);

	memset(ret, 0, sizeof(*ret));
	ret->pairs = pairs;
	for (int i = 0; i < nt; i++) {
		const struct worker *w = &ch->w[i];
		double ns = (double)(w->t1 - w->t0) / (double)pairs;
		double bns = cmd->batches ? (double)(w->t3 - w->t2) / (double)cmd->batches : 0;

		sum += ns;
		if (ns > worst)
			worst = ns;
		if (bns > worst_b)
			worst_b = bns;
		if (w->t0 < first)
			first = w->t0;
		if (w->t1 > last)
			last = w->t1;
		ret->bad += w->bad;
		ret->preempted += w->nivcsw;
	}
	for (int i = 0; i < nt; i++) {
		bool alone = false;
		double cyc = thread_cyc_pair(ch, i, nt, chunks, chunk, &alone);

		ret->cyc_pair += cyc / nt;
		ret->inv_cyc_sum += cyc > 0 ? 1 / cyc : 0;
		ret->alone |= alone;
	}
	ret->ns = sum / nt;
	ret->worst_ns = worst;
	ret->batch_ns = worst_b;
	ret->mps = last > first ? (double)pairs * nt * 1e3 / (double)(last - first) : 0;
}

static int child_finish(struct child *ch)
{
	struct peers_final fin = { .status = 0 };
	struct hist *h = calloc(2 * PEERS_NR_CELLS, sizeof(*h));
	int r;

	ch->job = (struct job){ .quit = true };
	pthread_barrier_wait(&ch->start);
	pthread_barrier_wait(&ch->done);   /* thread_end() done */
	for (int i = 0; i < ch->nr_workers; i++) {
		pthread_join(ch->w[i].tid, NULL);
		fin.wrong += ch->w[i].wrong;
	}
	if (ch->peer->check)
		fin.wrong += ch->peer->check(ch);
	if (!h)
		fin.status = -ENOMEM;
	r = send_all(ch->fd, &fin, sizeof(fin));
	if (!r && h) {
		for (int i = 0; i < ch->nr_workers; i++)
			for (int k = 0; k < 2 * PEERS_NR_CELLS; k++)
				hist_merge(&h[k], &ch->w[i].h[k]);
		r = send_all(ch->fd, h, 2 * PEERS_NR_CELLS * sizeof(*h));
	}
	free(h);
	return r;
}

/* The first PEERS_MAX_THREADS CPUs this process may use. */
static int pick_cpus(uint32_t nr_cpus_conf, int *cpus)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && (uint32_t)c < nr_cpus_conf &&
	     n < PEERS_MAX_THREADS; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

struct options {
	uint32_t samples;
	uint32_t pair_ms;
	uint32_t batch_ms;
	uint64_t warm_pairs;
	uint64_t warm_batches;
	uint32_t budget_s;       /* rounds: no new round would end after it */
	bool quick;
	bool no_results;
	bool no_refill;
	bool selected[NR_PEERS];
	const char *socket;      /* NULL: $PCPUPOOL_SOCKET, else start a daemon */
	const char *daemon;      /* pcpupoold binary */
	const char *results;     /* directory */
	const char *plot;        /* gnuplot script */
	/* internal: a competitor process */
	const char *competitor;
	int control_fd;
	const char *pool_prefix;
};

static int child_main(const struct options *o)
{
	struct child *ch = aligned_alloc(CACHELINE, sizeof(*ch));
	struct peers_hello hello;
	struct peers_cmd cmd;
	int p = peer_by_name(o->competitor, strlen(o->competitor)), n, r;

	if (!ch || p < 0 || o->control_fd < 0)
		return EXIT_SETUP;
	memset(ch, 0, sizeof(*ch));
	memset(&hello, 0, sizeof(hello));
	ch->peer = &peers[p];
	ch->fd = o->control_fd;
	ch->socket = o->socket;
	ch->pool_prefix = o->pool_prefix;
	ch->nr_cpus_conf = (uint32_t)get_nprocs_conf();
	prctl(PR_SET_PDEATHSIG, SIGKILL);

	/* the CPUs first: DPDK's EAL pins this thread */
	n = pick_cpus(ch->nr_cpus_conf, ch->cpus);
	if (n <= 0) {
		hello.status = -ENODEV;
		set_why(hello.why, sizeof(hello.why), "no usable CPU");
		goto hello;
	}
	ch->nr_threads = n;
	ch->tcount[0] = 1;
	ch->tcount[1] = n;
	hello.nr_threads = (uint32_t)n;
	memcpy(hello.cpus, ch->cpus, sizeof(hello.cpus));
	hello.status = ch->peer->setup(ch, hello.why, sizeof(hello.why));
	if (!hello.status)
		hello.status = child_start_workers(ch, hello.why, sizeof(hello.why));
	for (int i = 0; i < ch->nr_workers; i++)
		if (ch->w[i].ovh > hello.ovh)
			hello.ovh = ch->w[i].ovh;
	snprintf(hello.version, sizeof(hello.version), "%s", ch->version);
hello:
	r = send_all(ch->fd, &hello, sizeof(hello));
	if (r < 0 || hello.status) {
		/* workers may be parked in a barrier: they touch nothing more */
		if (ch->peer->teardown)
			ch->peer->teardown(ch);
		_exit(r < 0 ? EXIT_SETUP : EXIT_OK);
	}

	for (;;) {
		struct peers_reply rep;

		r = recv_all(ch->fd, &cmd, sizeof(cmd), -1, NULL);
		if (r < 0)
			_exit(EXIT_SETUP);   /* the parent is gone */
		if (cmd.op == JOB_FINISH)
			break;
		if (cmd.op != JOB_RUN || cmd.si >= PEERS_NR_SIZES || cmd.ti >= PEERS_NR_TCOUNTS ||
		    !cmd.pairs) {
			memset(&rep, 0, sizeof(rep));
			rep.status = -EINVAL;
		} else {
			child_run(ch, &cmd, &rep);
		}
		if (send_all(ch->fd, &rep, sizeof(rep)) < 0)
			_exit(EXIT_SETUP);
	}
	r = child_finish(ch);
	if (ch->peer->teardown)
		ch->peer->teardown(ch);
	for (int i = 0; i < ch->nr_workers; i++) {
		free(ch->w[i].h);
		free(ch->w[i].tk);
		free(ch->w[i].d);
		free(ch->w[i].scratch);
	}
	close(ch->fd);
	free(ch);
	return r < 0 ? EXIT_SETUP : EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* the parent: daemon, processes, rounds                               */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct pcell {
	bool enabled;
	uint64_t pairs, batches;    /* per thread per sample */
	uint32_t n;                 /* samples taken */
	uint32_t rn;                /* of which with the threads running together */
	double *ns;                 /* ns per pair per thread, running chunks */
	double *mps;                /* aggregate M pairs/s from those */
	double *wns;                /* ns per pair per thread, wall clock */
	double *wmps;               /* aggregate M pairs/s, wall clock */
	uint64_t bad;
	uint64_t preempted;         /* involuntary switches, recorded samples */
	uint32_t n_preempted;       /* recorded samples with any */
	uint32_t n_alone;           /* samples whose threads seldom ran together */
	struct hist *ha, *hf;       /* alloc, free: cycles per batch */
};

enum prun_state { PRUN_OFF, PRUN_UNAVAILABLE, PRUN_READY, PRUN_FAILED, PRUN_DONE };

struct prun {
	enum prun_state state;
	pid_t pid;
	int fd;
	int nr_threads;
	int cpus[PEERS_MAX_THREADS];
	uint64_t ovh;
	uint64_t wrong;
	char why[PEERS_WHY];
	char version[PEERS_VERSION];
	struct pcell cell[PEERS_NR_CELLS];
};

struct daemon {
	bool own;                   /* started here */
	pid_t pid;
	char dir[64];
	char sock[128];
	char cfg[128];
	char log[128];
	struct pcpupool_client *client;
	struct pcpupool *pools[PEERS_NR_SIZES];
	char prefix[PEERS_NAME_MAX];
};

struct bench {
	struct options o;
	struct prun run[NR_PEERS];
	struct daemon d;
	char exe_dir[PATH_MAX];     /* where this binary is */
	char src_dir[PATH_MAX];     /* the source tree's bench/ */
	char cpu_model[128];
	double hz;                  /* ticks per second */
	int nr_threads;
	int cpus[PEERS_MAX_THREADS];
	int tcount[PEERS_NR_TCOUNTS];
	uint64_t t_start;
	double load_start;          /* 1-minute load average before the run */
	uint32_t rounds_done;       /* samples per cell actually taken */
};

/* cpu_model(): bench_common.h */

/* The directory of this binary, and the source tree's bench/ directory:
 * ./bench when run from the top of the tree (make bench), else the one
 * two levels above the binary (build/bench/bench_peers). */
static void find_dirs(struct bench *b)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	snprintf(b->exe_dir, sizeof(b->exe_dir), ".");
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(b->exe_dir, sizeof(b->exe_dir), "%s", exe);
		}
	}
	if (!access("bench/bench_peers.c", R_OK)) {
		snprintf(b->src_dir, sizeof(b->src_dir), "bench");
		return;
	}
	snprintf(b->src_dir, sizeof(b->src_dir), "%.*s/../../bench",
		 (int)(sizeof(b->src_dir) - 16), b->exe_dir);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) == EOF)
		r = -EIO;
	if (fclose(f) == EOF && !r)
		r = -errno;
	return r;
}

/* The last line of the daemon's log, for an error message. */
static void log_tail(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[200];

	snprintf(buf, len, "(no log)");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(buf, len, "%s", line);
	}
	fclose(f);
}

static void daemon_cleanup_files(struct daemon *d)
{
	if (!d->dir[0])
		return;
	unlink(d->sock);
	unlink(d->cfg);
	unlink(d->log);
	rmdir(d->dir);
	d->dir[0] = '\0';
}

/* Start build/pcpupoold on a socket in a fresh directory; wait until it
 * accepts.  Return 0 with d->client connected, or -errno with @why. */
static int daemon_start(struct bench *b, char *why, size_t len)
{
	struct daemon *d = &b->d;
	char bin[PATH_MAX + 16];
	uint64_t deadline;
	int status;

	if (b->o.daemon)
		snprintf(bin, sizeof(bin), "%s", b->o.daemon);
	else
		snprintf(bin, sizeof(bin), "%.*s/../pcpupoold", PATH_MAX - 1, b->exe_dir);
	if (access(bin, X_OK)) {
		set_why(why, len, "no daemon at %s (make, or --daemon PATH)", bin);
		return -ENOENT;
	}
	snprintf(d->dir, sizeof(d->dir), "/tmp/pcpupool-bench.XXXXXX");
	if (!mkdtemp(d->dir)) {
		set_why(why, len, "mkdtemp: %s", strerror(errno));
		d->dir[0] = '\0';
		return -errno;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/control.sock", d->dir);
	snprintf(d->cfg, sizeof(d->cfg), "%s/pcpupoold.json", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	if (write_file(d->cfg, "{ \"log_level\": \"warning\", \"sweep_interval_ms\": 50, "
		       "\"pools\": [] }\n") < 0) {
		set_why(why, len, "cannot write %s", d->cfg);
		return -EIO;
	}
	d->pid = fork();
	if (d->pid < 0) {
		set_why(why, len, "fork: %s", strerror(errno));
		return -errno;
	}
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(nul, STDOUT_FILENO);
		}
		execl(bin, bin, "--config", d->cfg, "--socket", d->sock, (char *)NULL);
		_exit(127);
	}
	d->own = true;
	deadline = now_ns() + PEERS_DAEMON_START_MS * UINT64_C(1000000);
	while (!d->client) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			char tail[256];

			log_tail(d->log, tail, sizeof(tail));
			set_why(why, len, "pcpupoold exited at start: %s", tail);
			d->pid = 0;
			return -ECHILD;
		}
		if (now_ns() > deadline) {
			set_why(why, len, "pcpupoold did not accept on %s within %d ms",
				d->sock, PEERS_DAEMON_START_MS);
			return -ETIMEDOUT;
		}
		if (!access(d->sock, F_OK))
			d->client = pcpupool_connect(d->sock);
		if (!d->client)
			sleep_ms(10);
	}
	return 0;
}

static void daemon_stop(struct daemon *d)
{
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		if (d->pools[si] && pcpupool_destroy(d->pools[si]) < 0)
			pcpupool_close(d->pools[si]);
		d->pools[si] = NULL;
	}
	pcpupool_disconnect(d->client);
	d->client = NULL;
	if (d->own && d->pid > 0) {
		uint64_t deadline = now_ns() + PEERS_DAEMON_STOP_MS * UINT64_C(1000000);
		int status;

		kill(d->pid, SIGTERM);
		while (waitpid(d->pid, &status, WNOHANG) != d->pid) {
			if (now_ns() > deadline) {
				kill(d->pid, SIGKILL);
				waitpid(d->pid, &status, 0);
				break;
			}
			sleep_ms(10);
		}
		d->pid = 0;
	}
	if (d->own)
		daemon_cleanup_files(d);
}

/* A daemon to measure against (an existing one at --socket or
 * $PCPUPOOL_SOCKET, else one started here) with one pool per size.
 * Return 0, or -errno with @why. */
static int daemon_prepare(struct bench *b, char *why, size_t len)
{
	struct daemon *d = &b->d;
	const char *sock = b->o.socket;
	int r;

	if (!sock) {
		sock = getenv("PCPUPOOL_SOCKET");
		if (sock && !*sock)
			sock = NULL;
	}
	if (sock) {
		snprintf(d->sock, sizeof(d->sock), "%s", sock);
		d->client = pcpupool_connect(sock);
		if (!d->client) {
			set_why(why, len, "pcpupool_connect(%s): %s", sock, strerror(errno));
			return -errno;
		}
	} else {
		r = daemon_start(b, why, len);
		if (r < 0)
			return r;
	}
	snprintf(d->prefix, sizeof(d->prefix), "bench-peers-%d", (int)getpid());
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		struct pcpupool_create_opts co = {
			.sz = sizeof(co), .low_watermark = PEERS_POOL_LOW,
		};
		char name[PEERS_NAME_MAX + 16];

		pool_name(name, sizeof(name), d->prefix, peers_sizes[si]);
		d->pools[si] = pcpupool_create_opts(d->client, name, PEERS_PER_CPU,
						    peers_sizes[si], CACHELINE, &co);
		if (!d->pools[si]) {
			set_why(why, len, "pcpupool_create(%s) on %s: %s", name, d->sock,
				strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* Whether the dynamic linker finds shared object @name (else the child
 * runs without it, reports it unavailable, and ld.so stays quiet).  Only
 * "not found" counts: jemalloc, for one, exists but refuses dlopen(). */
static bool preload_findable(const char *name)
{
	void *h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
	const char *err;

	if (h)
		return true;   /* the process is about to exec: no dlclose() */
	err = dlerror();
	return !err || !strstr(err, "cannot open shared object file");
}

/* Fork and exec this program as competitor @p; wait for its hello. */
static void spawn_competitor(struct bench *b, int p)
{
	struct prun *r = &b->run[p];
	struct peers_hello hello;
	int sv[2], e;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r->state = PRUN_FAILED;
		set_why(r->why, sizeof(r->why), "socketpair: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r->state = PRUN_FAILED;
		set_why(r->why, sizeof(r->why), "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		char fd_arg[16];
		const char *argv[16];
		int a = 0;

		close(sv[0]);
		if (fcntl(sv[1], F_SETFD, 0) < 0)
			_exit(127);
		snprintf(fd_arg, sizeof(fd_arg), "%d", sv[1]);
		argv[a++] = "bench_peers";
		argv[a++] = "--competitor";
		argv[a++] = peers[p].name;
		argv[a++] = "--control-fd";
		argv[a++] = fd_arg;
		if (peers[p].ours && b->d.client) {
			argv[a++] = "--socket";
			argv[a++] = b->d.sock;
			argv[a++] = "--pool-prefix";
			argv[a++] = b->d.prefix;
		}
		argv[a] = NULL;
		if (peers[p].preload && preload_findable(peers[p].preload))
			setenv("LD_PRELOAD", peers[p].preload, 1);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	r->pid = pid;
	r->fd = sv[0];
	e = recv_all(r->fd, &hello, sizeof(hello), PEERS_HELLO_TIMEOUT_MS, &stop_requested);
	if (e < 0) {
		r->state = PRUN_FAILED;
		set_why(r->why, sizeof(r->why), "its process did not start (%s)",
			e == -EPIPE ? "died" : strerror(-e));
		return;
	}
	snprintf(r->version, sizeof(r->version), "%s", hello.version);
	if (hello.status) {
		r->state = PRUN_UNAVAILABLE;
		snprintf(r->why, sizeof(r->why), "%s", hello.why[0] ? hello.why
			 : strerror(-hello.status));
		return;
	}
	if ((int)hello.nr_threads != b->nr_threads ||
	    memcmp(hello.cpus, b->cpus, sizeof(hello.cpus))) {
		r->state = PRUN_FAILED;
		set_why(r->why, sizeof(r->why), "it picked other CPUs than the parent");
		return;
	}
	r->ovh = hello.ovh;
	r->state = PRUN_READY;
}

/* Reap competitor @p's process, saying how it ended if it failed. */
static void reap(struct prun *r, bool kill_it)
{
	int status;

	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->pid <= 0)
		return;
	if (kill_it)
		kill(r->pid, SIGKILL);
	if (waitpid(r->pid, &status, 0) == r->pid && r->state == PRUN_FAILED) {
		size_t l = strlen(r->why);

		if (WIFSIGNALED(status))
			snprintf(r->why + l, sizeof(r->why) - l, "; killed by signal %d",
				 WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status))
			snprintf(r->why + l, sizeof(r->why) - l, "; exit status %d",
				 WEXITSTATUS(status));
	}
	r->pid = 0;
}

static void fail_run(struct prun *r, const char *what, int e)
{
	r->state = PRUN_FAILED;
	set_why(r->why, sizeof(r->why), "%s: %s", what,
		e == -EPIPE ? "its process died" : strerror(-e));
	reap(r, true);
}

/* One sample of cell @c of competitor @p. */
static int run_cell(struct bench *b, int p, int c, uint64_t pairs, uint64_t batches,
		    bool record, int timeout_ms, struct peers_reply *ret)
{
	struct prun *r = &b->run[p];
	struct peers_cmd cmd = {
		.op = JOB_RUN, .si = (uint32_t)c / PEERS_NR_TCOUNTS,
		.ti = (uint32_t)c % PEERS_NR_TCOUNTS, .record = record,
		.pairs = pairs, .batches = batches,
	};
	int e = send_all(r->fd, &cmd, sizeof(cmd));

	if (!e)
		e = recv_all(r->fd, ret, sizeof(*ret), timeout_ms, &stop_requested);
	if (!e && ret->status)
		e = ret->status;
	if (e < 0) {
		if (e != -EINTR)
			fail_run(r, "a sample failed", e);
		return e;
	}
	r->cell[c].bad += ret->bad;
	return 0;
}

static void finish_competitor(struct bench *b, int p)
{
	struct prun *r = &b->run[p];
	struct peers_cmd cmd = { .op = JOB_FINISH };
	struct peers_final fin;
	struct hist *h = calloc(2 * PEERS_NR_CELLS, sizeof(*h));
	int e;

	if (!h) {
		fail_run(r, "finish", -ENOMEM);
		return;
	}
	e = send_all(r->fd, &cmd, sizeof(cmd));
	if (!e)
		e = recv_all(r->fd, &fin, sizeof(fin), PEERS_RUN_TIMEOUT_MS, NULL);
	if (!e && fin.status)
		e = fin.status;
	if (!e)
		e = recv_all(r->fd, h, 2 * PEERS_NR_CELLS * sizeof(*h),
			     PEERS_RUN_TIMEOUT_MS, NULL);
	if (e < 0) {
		free(h);
		fail_run(r, "collecting its results", e);
		return;
	}
	r->wrong = fin.wrong;
	for (int c = 0; c < PEERS_NR_CELLS; c++) {
		r->cell[c].ha = &h[2 * c];
		r->cell[c].hf = &h[2 * c + 1];
	}
	r->state = PRUN_DONE;
	reap(r, false);
}

static uint64_t clamp_u64(double x, uint64_t lo, uint64_t hi)
{
	if (!(x >= (double)lo))
		return lo;
	if (x >= (double)hi)
		return hi;
	return (uint64_t)x;
}

static bool running(const struct prun *r)
{
	return r->state == PRUN_READY;
}

/* Size the next sample of @cl from the last one (the slowest thread), so
 * that each phase lasts about its budget whatever the machine does. */
static void size_cell(const struct bench *b, struct pcell *cl, const struct peers_reply *rep)
{
	cl->pairs = clamp_u64((double)b->o.pair_ms * 1e6 / rep->worst_ns,
			      PEERS_MIN_PAIRS, PEERS_MAX_PAIRS);
	cl->batches = clamp_u64((double)b->o.batch_ms * 1e6 / rep->batch_ns,
				PEERS_MIN_BATCHES, PEERS_MAX_BATCHES);
}

/* The warm-up round: every cell once, unrecorded; size the samples. */
static void warm_up(struct bench *b)
{
	for (int p = 0; p < NR_PEERS; p++) {
		for (int c = 0; c < PEERS_NR_CELLS && running(&b->run[p]); c++) {
			struct pcell *cl = &b->run[p].cell[c];
			struct peers_reply rep;

			if (!cl->enabled)
				continue;
			if (run_cell(b, p, c, b->o.warm_pairs, b->o.warm_batches, false,
				     PEERS_RUN_TIMEOUT_MS, &rep) < 0) {
				if (stop_requested)
					return;
				break;   /* that competitor failed: the others go on */
			}
			size_cell(b, cl, &rep);
		}
	}
}

/* Every enabled cell of every running competitor, as p * NR_CELLS + c. */
static int list_cells(const struct bench *b, int *ret_list)
{
	int n = 0;

	for (int p = 0; p < NR_PEERS; p++)
		for (int c = 0; c < PEERS_NR_CELLS; c++)
			if (running(&b->run[p]) && b->run[p].cell[c].enabled)
				ret_list[n++] = p * PEERS_NR_CELLS + c;
	return n;
}

static void rounds(struct bench *b)
{
	int list[NR_PEERS * PEERS_NR_CELLS];
	int n = list_cells(b, list);
	bool tty = isatty(STDERR_FILENO);
	uint64_t t0 = now_ns(), budget = b->o.budget_s * UINT64_C(1000000000);

	for (uint32_t round = 0; round < b->o.samples && !stop_requested; round++) {
		uint64_t spent = now_ns() - t0;

		/* a loaded machine makes rounds slower: stop before the budget
		 * rather than after it (every cell keeps the same samples) */
		if (round && spent + spent / round > budget)
			break;
		if (tty)
			fprintf(stderr, "\rbench_peers: round %u of %u ", round + 1, b->o.samples);
		for (int k = 0; k < n && !stop_requested; k++) {
			int i = list[(round + (uint32_t)k) % (uint32_t)n];
			int p = i / PEERS_NR_CELLS, c = i % PEERS_NR_CELLS;
			struct pcell *cl = &b->run[p].cell[c];
			struct peers_reply rep;
			/* ten times the budget, and some */
			int timeout = (int)(10 * (b->o.pair_ms + b->o.batch_ms)) + 10000;

			if (!running(&b->run[p]))
				continue;
			if (run_cell(b, p, c, cl->pairs, cl->batches, true, timeout, &rep) < 0)
				continue;
			if (!rep.alone) {
				cl->ns[cl->rn] = rep.cyc_pair * 1e9 / b->hz;
				cl->mps[cl->rn] = rep.inv_cyc_sum * b->hz / 1e6;
				cl->rn++;
			}
			cl->wns[cl->n] = rep.ns;
			cl->wmps[cl->n] = rep.mps;
			cl->n++;
			size_cell(b, cl, &rep);
			cl->preempted += rep.preempted;
			cl->n_preempted += rep.preempted > 0;
			cl->n_alone += rep.alone != 0;
		}
		b->rounds_done = round + 1;
	}
	if (tty)
		fprintf(stderr, "\r%40s\r", "");
}

/* ------------------------------------------------------------------ */
/* statistics and output                                               */

/* struct stats, stats_of(): bench_common.h */

/* Everything reported about one cell. */
struct cellrep {
	bool valid;
	bool wall;                           /* ns, mps are the wall clock's */
	struct stats ns, mps;                /* running chunks */
	struct stats wns, wmps;              /* wall clock */
	double a50, a90, a99, a999, amax;   /* alloc, ns per operation */
	double f50, f99, f999, fmax;         /* free */
	uint64_t batches;                    /* in the percentiles */
};

static double to_op_ns(const struct bench *b, double cycles)
{
	return cycles / PEERS_BATCH * 1e9 / b->hz;
}

static struct cellrep cell_report(const struct bench *b, int p, int c)
{
	const struct prun *r = &b->run[p];
	const struct pcell *cl = &r->cell[c];
	struct cellrep cr = { .valid = false };

	if (r->state != PRUN_DONE || !cl->enabled || !cl->n)
		return cr;
	cr.wns = stats_of(cl->wns, cl->n);
	cr.wmps = stats_of(cl->wmps, cl->n);
	cr.wall = !cl->rn;
	cr.ns = cr.wall ? cr.wns : stats_of(cl->ns, cl->rn);
	cr.mps = cr.wall ? cr.wmps : stats_of(cl->mps, cl->rn);
	cr.valid = cr.ns.valid && cr.mps.valid && cr.wns.valid && cr.wmps.valid;
	if (cl->ha && cl->ha->n) {
		cr.a50 = to_op_ns(b, hist_quantile(cl->ha, 0.50));
		cr.a90 = to_op_ns(b, hist_quantile(cl->ha, 0.90));
		cr.a99 = to_op_ns(b, hist_quantile(cl->ha, 0.99));
		cr.a999 = to_op_ns(b, hist_quantile(cl->ha, 0.999));
		cr.amax = to_op_ns(b, (double)cl->ha->max);
		cr.batches = cl->ha->n;
	}
	if (cl->hf && cl->hf->n) {
		cr.f50 = to_op_ns(b, hist_quantile(cl->hf, 0.50));
		cr.f99 = to_op_ns(b, hist_quantile(cl->hf, 0.99));
		cr.f999 = to_op_ns(b, hist_quantile(cl->hf, 0.999));
		cr.fmax = to_op_ns(b, (double)cl->hf->max);
	}
	return cr;
}

static const char *fmt_ns(char *buf, size_t sz, double x)
{
	if (x < 10)
		snprintf(buf, sz, "%.2f", x);
	else if (x < 1000)
		snprintf(buf, sz, "%.1f", x);
	else
		snprintf(buf, sz, "%.0f", x);
	return buf;
}

static const char *threads_word(int n)
{
	return n == 1 ? "thread" : "threads";
}

static void print_table(const struct bench *b)
{
	struct cellrep base[PEERS_NR_CELLS];
	char x[6][32], pair[40];
	bool any_wall = false;

	for (int c = 0; c < PEERS_NR_CELLS; c++)
		base[c] = cell_report(b, PEER_PCPUPOOL, c);

	printf("%-27s %5s %3s %8s %7s %9s | %s\n", "", "", "", "pair", "vs", "aggr.",
	       "one alloc, ns (batches of 64)");
	printf("%-27s %5s %3s %8s %7s %9s | %7s %7s %7s %8s\n", "competitor", "size", "thr",
	       "ns", "pcpu", "Mpairs/s", "p50", "p99", "p99.9", "max");
	for (int c = 0; c < PEERS_NR_CELLS; c++) {
		int si = c / PEERS_NR_TCOUNTS, ti = c % PEERS_NR_TCOUNTS;
		bool any = false;

		if (ti && b->tcount[1] == 1)
			continue;   /* one CPU: no second thread count */
		printf("\n");
		for (int p = 0; p < NR_PEERS; p++) {
			const struct prun *r = &b->run[p];
			struct cellrep cr;
			char ratio[16];

			if (r->state == PRUN_OFF)
				continue;
			any = true;
			cr = cell_report(b, p, c);
			if (!cr.valid) {
				printf("%-27s %5zu %3d %s\n", peers[p].label, peers_sizes[si],
				       b->tcount[ti], r->state == PRUN_UNAVAILABLE ? "unavailable"
				       : "failed");
				continue;
			}
			if (base[c].valid && base[c].ns.med > 0)
				snprintf(ratio, sizeof(ratio), "%.2fx", cr.ns.med / base[c].ns.med);
			else
				snprintf(ratio, sizeof(ratio), "n/a");
			snprintf(pair, sizeof(pair), "%s%s", fmt_ns(x[0], sizeof(x[0]), cr.ns.med),
				 cr.wall ? "*" : "");
			any_wall |= cr.wall;
			printf("%-27s %5zu %3d %8s %7s %9.1f | %7s %7s %7s %8s\n",
			       peers[p].label, peers_sizes[si], b->tcount[ti],
			       pair, ratio, cr.mps.med,
			       fmt_ns(x[1], sizeof(x[1]), cr.a50),
			       fmt_ns(x[2], sizeof(x[2]), cr.a99),
			       fmt_ns(x[3], sizeof(x[3]), cr.a999),
			       fmt_ns(x[4], sizeof(x[4]), cr.amax));
		}
		if (!any)
			break;
	}
	if (any_wall)
		printf("\n* the threads seldom ran at the same time (other processes on these "
		       "CPUs): wall-clock figure,\n  preemption included\n");
	for (int p = 0; p < NR_PEERS; p++) {
		const struct prun *r = &b->run[p];

		if (r->state == PRUN_UNAVAILABLE)
			printf("\n%s unavailable: %s", peers[p].name, r->why);
		else if (r->state == PRUN_FAILED)
			printf("\n%s failed: %s", peers[p].name, r->why);
	}
	printf("\n");
}

/* ------------------------------------------------------------------ */
/* issue 6 item 2: refill figures (pcpupool alone)                     */

#define REFILL_MISSES           10000u   /* timed NOWAIT misses */
#define REFILL_QUICK_MISSES     2000u
#define REFILL_ROUNDS           300u     /* low-watermark crossings, 1 client */
#define REFILL_QUICK_ROUNDS     40u
#define REFILL_CLIENTS          8
#define REFILL_CLIENT_ROUNDS    100u     /* crossings per client of the 8 */
#define REFILL_QUICK_CL_ROUNDS  15u
#define REFILL_WAIT_MS          250      /* a refill later than this is lost */
#define REFILL_FILL_MS          3000     /* a new pool's first fill */
#define REFILL_SETTLE_US        2000     /* between crossings */
#define REFILL_MIN_NR           256
#define REFILL_LOW              32
#define REFILL_MISS_MIN_NR      64
#define REFILL_DRAW_MIN_NR      64       /* the reserve, smaller than the burst */
#define REFILL_DRAW_LOW         16
#define REFILL_DRAW_MS          1000u
#define REFILL_QUICK_DRAW_MS    200u
#define REFILL_RING             1024u    /* producer -> consumer, power of 2 */
#define TARGET_MISS_NS          200.0    /* NOWAIT miss, median */
#define TARGET_REFILL_US        50.0     /* async refill, p99 */

/* Latencies in ns; @lost: waits given up after REFILL_WAIT_MS; @dry:
 * rounds where the reserve ran dry before it crossed the watermark;
 * @unseen: rounds where a refill landed before the client could look
 * (it was preempted right after the crossing), not timed. */
struct lat {
	double *v;
	uint32_t n;
	uint32_t lost;
	uint32_t dry;
	uint32_t unseen;
	/* the pools' own counts over the run: crossings whose request went
	 * as a message, and those raised for the daemon's poll only */
	uint64_t sent, quiet;
	/* and the daemon's own timing of those requests, raised -> served
	 * (its log2 histogram: coarse), the largest over pools and CPUs */
	double served_p50_us, served_p99_us;
};

struct refill_figs {
	bool run;
	char why[PEERS_WHY];     /* why some figure is missing */
	struct lat miss;         /* one NOWAIT miss, every reserve dry */
	struct lat one;          /* low watermark crossed -> refill seen, 1 client */
	struct lat many;         /* the same, REFILL_CLIENTS clients */
	struct lat wake;         /* baseline: a datagram wakes a sleeping process */
	int many_clients;
	uint32_t draw_ms;
	uint64_t draw_allocs, draw_misses;
};

static void lat_sort(struct lat *l)
{
	if (l->n)
		qsort(l->v, l->n, sizeof(l->v[0]), cmp_double);
}

/* The @q quantile of a sorted set (nearest rank). */
static double lat_q(const struct lat *l, double q)
{
	uint32_t r;

	if (!l->n)
		return 0;
	r = (uint32_t)(q * l->n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > l->n)
		r = l->n;
	return l->v[r - 1];
}

static void why_add(struct refill_figs *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void why_add(struct refill_figs *f, const char *fmt, ...)
{
	size_t l = strlen(f->why);
	va_list ap;

	if (l && l + 2 < sizeof(f->why)) {
		snprintf(f->why + l, sizeof(f->why) - l, "; ");
		l += 2;
	}
	va_start(ap, fmt);
	vsnprintf(f->why + l, sizeof(f->why) - l, fmt, ap);
	va_end(ap);
}

static int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return sched_getcpu() == cpu ? 0 : -EINVAL;
}

static struct pcpupool *refill_pool(struct bench *b, const char *tag, int min_nr, int low,
				    uint64_t max_elems, char *name, size_t len)
{
	struct pcpupool_create_opts co = {
		.sz = sizeof(co), .low_watermark = low, .max_elems = max_elems,
	};

	snprintf(name, len, "%s-%s", b->d.prefix, tag);
	return pcpupool_create_opts(b->d.client, name, min_nr, 64, CACHELINE, &co);
}

/* Add pool @name's refill_requests and refill_quiet, summed over its
 * CPUs, to @l, and keep the largest refill_latency_us p50 and p99 (from
 * the daemon's stats). */
static void lat_add_requests(struct bench *b, const char *name, struct lat *l)
{
	char *text = pcpupool_stats_json(b->d.client, name);
	json_t *root = text ? json_loads(text, 0, NULL) : NULL;
	json_t *pool = json_array_get(json_object_get(json_object_get(root, "stats"),
						      "pools"), 0);
	json_t *cpu;
	size_t i;

	json_array_foreach(json_object_get(pool, "cpus"), i, cpu) {
		l->sent += (uint64_t)json_integer_value(json_object_get(cpu,
								      "refill_requests"));
		l->quiet += (uint64_t)json_integer_value(json_object_get(cpu, "refill_quiet"));
		json_t *lat = json_object_get(cpu, "refill_latency_us");
		double p50 = json_number_value(json_object_get(lat, "p50"));
		double p99 = json_number_value(json_object_get(lat, "p99"));

		if (p50 > l->served_p50_us)
			l->served_p50_us = p50;
		if (p99 > l->served_p99_us)
			l->served_p99_us = p99;
	}
	json_decref(root);
	free(text);
}

/* Wait until CPU @cpu's reserve of @pool holds @want (cpu < 0: the whole
 * pool).  Return 0 or -ETIMEDOUT. */
static int wait_level(struct pcpupool *pool, int cpu, int want, int ms)
{
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		int lvl = cpu < 0 ? pcpupool_nr_elems(pool) : pcpupool_nr_elems_cpu(pool, cpu);

		if (lvl >= want)
			return 0;
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		sleep_ms(1);
	}
}

/*
 * The cost of a NOWAIT allocation that finds every reserve dry: a pool
 * whose maximum is exactly its reserves (nothing in the depot, no growth),
 * all of it held by this thread; then REFILL_MISSES allocations timed one
 * by one.  Each may send a refill request (the daemon cannot serve it):
 * that is part of the cost a caller pays.
 */
static void refill_miss(struct bench *b, struct refill_figs *f, uint32_t misses)
{
	uint32_t nr = (uint32_t)get_nprocs_conf(), max = nr * REFILL_MISS_MIN_NR, n = 0;
	void **held = calloc(max, sizeof(*held));
	char name[PEERS_NAME_MAX + 16];
	struct pcpupool *pool;
	uint64_t ovh;

	f->miss.v = calloc(misses, sizeof(double));
	if (!held || !f->miss.v) {
		why_add(f, "miss: out of memory");
		goto out_free;
	}
	pool = refill_pool(b, "miss", REFILL_MISS_MIN_NR, REFILL_MISS_MIN_NR / 4, max,
			   name, sizeof(name));
	if (!pool) {
		why_add(f, "miss: pcpupool_create(%s): %s", name, strerror(errno));
		goto out_free;
	}
	if (wait_level(pool, -1, (int)max, REFILL_FILL_MS) < 0 || pin_self(b->cpus[0]) < 0) {
		why_add(f, "miss: pool %s never filled or no CPU", name);
		goto out;
	}
	while (n < max) {
		void *p = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);

		if (!p)
			break;
		held[n++] = p;
	}
	ovh = timer_overhead();
	for (uint32_t k = 0; k < misses; k++) {
		uint64_t t0 = tick();
		void *p = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);
		uint64_t t1 = tick();

		if (p) {
			/* something came back after all: hold it, not a miss */
			if (n < max)
				held[n++] = p;
			else
				pcpupool_free(p, pool);
			continue;
		}
		f->miss.v[f->miss.n++] = (double)(t1 - t0 > ovh ? t1 - t0 - ovh : 0) * 1e9 / b->hz;
	}
	for (uint32_t k = 0; k < n; k++)
		pcpupool_free(held[k], pool);
out:
	if (pcpupool_destroy(pool) < 0)
		pcpupool_close(pool);
out_free:
	free(held);
}

/*
 * One client on CPU @cpu: @rounds times, allocate until the CPU's reserve
 * goes under the low watermark (the allocation that takes it there sends
 * the refill request), then watch the reserve until the daemon's refill
 * shows; the time from the start of that allocation to the refill is one
 * latency.  A reserve that grows before the crossing (the sweep, say) is
 * counted as unseen, not timed.  Then give everything back and let the
 * daemon settle.  Waiting, the client yields its CPU (other clients and
 * the daemon may need it).
 */
static void refill_cross(struct pcpupool *pool, int cpu, int low, uint32_t rounds,
			 double hz, double *v, struct lat *ret)
{
	uint32_t max = (uint32_t)pcpupool_nr_elems(pool) * 4 + 4096;
	void **held = calloc(max, sizeof(*held));

	memset(ret, 0, sizeof(*ret));
	ret->v = v;
	if (!held)
		return;
	for (uint32_t r = 0; r < rounds && !stop_requested; r++) {
		int prev = pcpupool_nr_elems_cpu(pool, cpu), lvl;
		uint64_t t0 = 0, t1, deadline;
		uint32_t n = 0;
		bool unseen = false;

		while (n < max) {
			uint64_t t = tick();
			void *p = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);

			if (!p)
				break;
			held[n++] = p;
			if (prev - 1 < low) {
				/* this one took the reserve under the watermark and
				 * sent the request; the refill may even be in already
				 * (the daemon woke on this CPU and preempted us) */
				t0 = t;
				prev--;
				break;
			}
			lvl = pcpupool_nr_elems_cpu(pool, cpu);
			if (lvl >= prev) {
				unseen = true;   /* it rose without a crossing */
				break;
			}
			prev = lvl;
		}
		if (t0) {
			deadline = now_ns() + REFILL_WAIT_MS * UINT64_C(1000000);
			while (pcpupool_nr_elems_cpu(pool, cpu) <= prev && now_ns() < deadline)
				sched_yield();
			t1 = tick();
			if (pcpupool_nr_elems_cpu(pool, cpu) > prev)
				v[ret->n++] = (double)(t1 - t0) * 1e9 / hz;
			else
				ret->lost++;
		} else if (unseen) {
			ret->unseen++;
		} else {
			ret->dry++;
		}
		for (uint32_t k = 0; k < n; k++)
			pcpupool_free(held[k], pool);
		usleep(REFILL_SETTLE_US);
	}
	free(held);
}

/* What the REFILL_CLIENTS processes share with the parent. */
struct refill_shared {
	_Atomic int ready;
	_Atomic int go;
	struct lat res[REFILL_CLIENTS];
	double v[];          /* [REFILL_CLIENTS][rounds] */
};

static void refill_many(struct bench *b, struct refill_figs *f, uint32_t rounds)
{
	struct pcpupool *pools[REFILL_CLIENTS] = { NULL };
	char names[REFILL_CLIENTS][PEERS_NAME_MAX + 24];
	size_t shm_len = sizeof(struct refill_shared) +
			 sizeof(double) * REFILL_CLIENTS * rounds;
	struct refill_shared *sh = mmap(NULL, shm_len, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[REFILL_CLIENTS] = { 0 };
	uint64_t deadline;
	int started = 0;

	if (sh == MAP_FAILED) {
		why_add(f, "%d clients: mmap: %s", REFILL_CLIENTS, strerror(errno));
		return;
	}
	f->many_clients = REFILL_CLIENTS;
	for (int i = 0; i < REFILL_CLIENTS; i++) {
		char tag[16];

		snprintf(tag, sizeof(tag), "refill%u", (unsigned int)i % 10u);
		pools[i] = refill_pool(b, tag, REFILL_MIN_NR, REFILL_LOW, 0, names[i],
				       sizeof(names[i]));
		if (!pools[i]) {
			why_add(f, "%d clients: pcpupool_create(%s): %s", REFILL_CLIENTS,
				names[i], strerror(errno));
			goto out;
		}
	}
	fflush(NULL);
	for (int i = 0; i < REFILL_CLIENTS; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			why_add(f, "%d clients: fork: %s", REFILL_CLIENTS, strerror(errno));
			break;
		}
		if (pids[i] == 0) {
			/* a fresh client: the parent's connection is not ours */
			int cpu = b->cpus[i % b->nr_threads];
			struct pcpupool_client *c;
			struct pcpupool *pool;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			c = pcpupool_connect(b->d.sock);
			pool = c ? pcpupool_open(c, names[i]) : NULL;
			if (!pool || pin_self(cpu) < 0 ||
			    wait_level(pool, cpu, REFILL_MIN_NR, REFILL_FILL_MS) < 0)
				_exit(EXIT_SETUP);
			atomic_fetch_add(&sh->ready, 1);
			while (!atomic_load(&sh->go))
				sched_yield();
			refill_cross(pool, cpu, REFILL_LOW, rounds, b->hz,
				     sh->v + (size_t)i * rounds, &sh->res[i]);
			_exit(EXIT_OK);
		}
		started++;
	}
	/* all clients ready, then all go at once */
	deadline = now_ns() + 2 * REFILL_FILL_MS * UINT64_C(1000000);
	while (atomic_load(&sh->ready) < started && now_ns() < deadline && !stop_requested)
		sleep_ms(1);
	if (atomic_load(&sh->ready) < started)
		why_add(f, "%d clients: only %d of %d started", REFILL_CLIENTS,
			atomic_load(&sh->ready), started);
	atomic_store(&sh->go, 1);
	for (int i = 0; i < started; i++) {
		int status;

		if (stop_requested)
			kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
	}
	f->many.v = calloc((size_t)REFILL_CLIENTS * rounds, sizeof(double));
	if (f->many.v) {
		for (int i = 0; i < started; i++) {
			const struct lat *l = &sh->res[i];
			uint32_t n = l->n > rounds ? rounds : l->n;

			memcpy(f->many.v + f->many.n, sh->v + (size_t)i * rounds,
			       n * sizeof(double));
			f->many.n += n;
			f->many.lost += l->lost;
			f->many.dry += l->dry;
			f->many.unseen += l->unseen;
		}
	}
	for (int i = 0; i < started; i++)
		lat_add_requests(b, names[i], &f->many);
out:
	for (int i = 0; i < REFILL_CLIENTS; i++)
		if (pools[i] && pcpupool_destroy(pools[i]) < 0)
			pcpupool_close(pools[i]);
	munmap(sh, shm_len);
}

/* Producer on one CPU, consumer freeing on another. */
struct draw {
	struct pcpupool *pool;
	int cpu;
	_Atomic uint64_t head __attribute__((aligned(CACHELINE)));  /* producer */
	_Atomic uint64_t tail __attribute__((aligned(CACHELINE)));  /* consumer */
	_Atomic int stop __attribute__((aligned(CACHELINE)));
	void *ring[REFILL_RING] __attribute__((aligned(CACHELINE)));
};

static void *draw_consumer(void *arg)
{
	struct draw *d = arg;

	if (pin_self(d->cpu) < 0)
		return NULL;
	for (;;) {
		/* acquire: pairs with the producer's release of head, so the
		 * ring slot is written before it is read */
		uint64_t h = atomic_load_explicit(&d->head, memory_order_acquire);
		uint64_t t = atomic_load_explicit(&d->tail, memory_order_relaxed);

		if (t == h) {
			if (atomic_load_explicit(&d->stop, memory_order_acquire) &&
			    t == atomic_load_explicit(&d->head, memory_order_acquire))
				break;
			cpu_relax();
			continue;
		}
		while (t != h) {
			pcpupool_free(d->ring[t % REFILL_RING], d->pool);
			t++;
		}
		/* release: the slots are free for the producer again */
		atomic_store_explicit(&d->tail, t, memory_order_release);
	}
	return NULL;
}

/*
 * Sustained draw: a producer on one CPU allocates NOWAIT as fast as it can
 * from a pool whose per-CPU reserve (64) is smaller than what it draws in
 * a burst; a consumer on the other CPU frees everything.  The elements
 * only come back to the producer's CPU through the daemon (the consumer's
 * reserve spills to its outbox, the daemon refills the producer's inbox),
 * so the rate it sustains is what async refill keeps up with.
 */
static void refill_draw(struct bench *b, struct refill_figs *f, uint32_t ms)
{
	struct draw *d;
	char name[PEERS_NAME_MAX + 16];
	pthread_t tid;
	uint64_t deadline, allocs = 0, misses = 0, t0;

	if (b->nr_threads < 2) {
		why_add(f, "draw: needs two CPUs");
		return;
	}
	d = aligned_alloc(CACHELINE, sizeof(*d));
	if (!d) {
		why_add(f, "draw: out of memory");
		return;
	}
	memset(d, 0, sizeof(*d));
	d->cpu = b->cpus[1];
	d->pool = refill_pool(b, "draw", REFILL_DRAW_MIN_NR, REFILL_DRAW_LOW, 0, name,
			      sizeof(name));
	if (!d->pool) {
		why_add(f, "draw: pcpupool_create(%s): %s", name, strerror(errno));
		free(d);
		return;
	}
	if (wait_level(d->pool, b->cpus[0], REFILL_DRAW_MIN_NR, REFILL_FILL_MS) < 0 ||
	    pin_self(b->cpus[0]) < 0 || pthread_create(&tid, NULL, draw_consumer, d)) {
		why_add(f, "draw: set-up failed");
		goto out;
	}
	t0 = now_ns();
	deadline = t0 + (uint64_t)ms * 1000000u;
	for (uint64_t i = 0;; i++) {
		uint64_t h = atomic_load_explicit(&d->head, memory_order_relaxed);
		void *p;

		if ((i & 1023) == 0 && now_ns() > deadline)
			break;
		if (h - atomic_load_explicit(&d->tail, memory_order_acquire) >= REFILL_RING) {
			cpu_relax();
			continue;
		}
		p = pcpupool_alloc(d->pool, PCPUPOOL_NOWAIT);
		if (!p) {
			misses++;
			continue;
		}
		allocs++;
		d->ring[h % REFILL_RING] = p;
		/* release: pairs with the consumer's acquire of head */
		atomic_store_explicit(&d->head, h + 1, memory_order_release);
	}
	f->draw_ms = (uint32_t)((now_ns() - t0) / 1000000u);
	atomic_store_explicit(&d->stop, 1, memory_order_release);
	pthread_join(tid, NULL);
	f->draw_allocs = allocs;
	f->draw_misses = misses;
out:
	if (pcpupool_destroy(d->pool) < 0)
		pcpupool_close(d->pool);
	free(d);
}

/* The baseline any asynchronous refill is bound by here: one process sends
 * its CLOCK_MONOTONIC time in a datagram to another sleeping in epoll on the
 * other CPU, which reads its clock on waking.  No pcpupool involved. */
static void refill_wake_baseline(struct bench *b, struct refill_figs *f, uint32_t rounds)
{
	double *v = mmap(NULL, rounds * sizeof(double), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int sv[2];
	pid_t pid;

	if (b->nr_threads < 2 || v == MAP_FAILED ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
		why_add(f, "wake baseline: %s", b->nr_threads < 2 ? "needs two CPUs" :
			strerror(errno));
		if (v != MAP_FAILED)
			munmap(v, rounds * sizeof(double));
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
		pin_self(b->cpus[1]);
		for (uint32_t i = 0; i < rounds; i++) {
			struct timespec now;
			uint64_t sent;
			if (poll(&pfd, 1, 5000) != 1 || recv(sv[1], &sent, sizeof(sent), 0) !=
			    (ssize_t)sizeof(sent))
				_exit(1);
			clock_gettime(CLOCK_MONOTONIC, &now);
			v[i] = (double)((uint64_t)now.tv_sec * 1000000000u +
					(uint64_t)now.tv_nsec - sent);
		}
		_exit(0);
	}
	if (pid > 0) {
		int st = 0;
		pin_self(b->cpus[0]);
		for (uint32_t i = 0; i < rounds; i++) {
			struct timespec now;
			uint64_t t;
			usleep(2000);   /* let it fall asleep */
			clock_gettime(CLOCK_MONOTONIC, &now);
			t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
			if (send(sv[0], &t, sizeof(t), 0) < 0)
				break;
		}
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			f->wake.v = malloc(rounds * sizeof(double));
			if (f->wake.v) {
				memcpy(f->wake.v, v, rounds * sizeof(double));
				f->wake.n = rounds;
			}
		} else {
			why_add(f, "wake baseline: the sleeper failed");
		}
	}
	close(sv[0]);
	close(sv[1]);
	munmap(v, rounds * sizeof(double));
}

static void refill_figures(struct bench *b, struct refill_figs *f)
{
	cpu_set_t orig;
	bool q = b->o.quick;
	uint32_t rounds = q ? REFILL_QUICK_ROUNDS : REFILL_ROUNDS;
	double *one;

	memset(f, 0, sizeof(*f));
	if (!b->d.client || b->run[PEER_PCPUPOOL].state != PRUN_DONE) {
		why_add(f, "pcpupool was not measured");
		return;
	}
	if (sched_getaffinity(0, sizeof(orig), &orig) < 0)
		CPU_ZERO(&orig);
	f->run = true;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\rbench_peers: refill figures ");
	refill_miss(b, f, q ? REFILL_QUICK_MISSES : REFILL_MISSES);
	one = calloc(rounds, sizeof(double));
	f->one.v = one;
	if (one && pin_self(b->cpus[0]) == 0) {
		char name[PEERS_NAME_MAX + 16];
		struct pcpupool *pool = refill_pool(b, "refill", REFILL_MIN_NR, REFILL_LOW, 0,
						    name, sizeof(name));

		if (!pool)
			why_add(f, "1 client: pcpupool_create(%s): %s", name, strerror(errno));
		else if (wait_level(pool, b->cpus[0], REFILL_MIN_NR, REFILL_FILL_MS) < 0)
			why_add(f, "1 client: pool %s never filled", name);
		else {
			refill_cross(pool, b->cpus[0], REFILL_LOW, rounds, b->hz, one, &f->one);
			lat_add_requests(b, name, &f->one);
		}
		if (pool && pcpupool_destroy(pool) < 0)
			pcpupool_close(pool);
	}
	if (CPU_COUNT(&orig))
		sched_setaffinity(0, sizeof(orig), &orig);
	refill_many(b, f, q ? REFILL_QUICK_CL_ROUNDS : REFILL_CLIENT_ROUNDS);
	refill_draw(b, f, q ? REFILL_QUICK_DRAW_MS : REFILL_DRAW_MS);
	refill_wake_baseline(b, f, rounds);
	if (CPU_COUNT(&orig))
		sched_setaffinity(0, sizeof(orig), &orig);
	lat_sort(&f->wake);
	lat_sort(&f->miss);
	lat_sort(&f->one);
	lat_sort(&f->many);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r%40s\r", "");
}

static void print_lat_row(const char *what, const struct lat *l, double scale,
			  const char *unit, const char *target, bool met)
{
	if (!l->n) {
		printf("  %-40s n/a%s%s\n", what, l->lost ? ", all lost" : "", "");
		return;
	}
	printf("  %-40s p50 %8.2f %s  p99 %8.2f %s  max %9.2f %s  (%u", what,
	       lat_q(l, 0.5) / scale, unit, lat_q(l, 0.99) / scale, unit,
	       l->v[l->n - 1] / scale, unit, l->n);
	if (l->lost)
		printf(", %u lost", l->lost);
	if (l->dry)
		printf(", %u ran dry", l->dry);
	if (l->unseen)
		printf(", %u unseen", l->unseen);
	printf(")  %s: %s\n", target, met ? "met" : "MISSED");
	if (l->sent + l->quiet)
		printf("  %-40s %llu by message, %llu raised for the daemon's poll "
		       "(no syscall)\n", "    requests of those crossings",
		       (unsigned long long)l->sent, (unsigned long long)l->quiet);
	if (l->served_p99_us > 0)
		printf("  %-40s p50 %.0f us, p99 %.0f us (the daemon's histogram, worst pool;\n"
		       "  %-40s the spare had refilled the reserve at once)\n",
		       "    request raised -> daemon restocked", l->served_p50_us,
		       l->served_p99_us, "");
}

static void print_refill(const struct refill_figs *f)
{
	char what[64];

	printf("\nrefill figures for pcpupool (issue 6 item 2):\n");
	if (!f->run) {
		printf("  not measured: %s\n", f->why);
		return;
	}
	print_lat_row("NOWAIT miss, every reserve dry", &f->miss, 1, "ns",
		      "target p50 <= 200 ns", f->miss.n && lat_q(&f->miss, 0.5) <= TARGET_MISS_NS);
	print_lat_row("low watermark -> refill, 1 client", &f->one, 1e3, "us",
		      "target p99 <= 50 us",
		      f->one.n && !f->one.lost && lat_q(&f->one, 0.99) <= TARGET_REFILL_US * 1e3);
	snprintf(what, sizeof(what), "low watermark -> refill, %d clients", f->many_clients);
	print_lat_row(what, &f->many, 1e3, "us", "target p99 <= 50 us",
		      f->many.n && !f->many.lost &&
		      lat_q(&f->many, 0.99) <= TARGET_REFILL_US * 1e3);
	if (f->wake.n)
		printf("  %-40s p50 %8.2f us  p99 %8.2f us  max %9.2f us  (%u)  the floor of "
		       "a refill that waits for the daemon\n", "baseline: datagram wakes a sleeper",
		       lat_q(&f->wake, 0.5) / 1e3, lat_q(&f->wake, 0.99) / 1e3,
		       f->wake.v[f->wake.n - 1] / 1e3, f->wake.n);
	if (f->draw_ms) {
		double s = f->draw_ms / 1e3;
		uint64_t tries = f->draw_allocs + f->draw_misses;

		printf("  %-40s %.2f M allocs/s, %.2f M misses/s (%.1f%% of attempts) "
		       "over %u ms\n", "sustained draw, reserve 64 < burst",
		       (double)f->draw_allocs / s / 1e6, (double)f->draw_misses / s / 1e6,
		       100.0 * (double)f->draw_misses / (double)(tries ? tries : 1), f->draw_ms);
	}
	if (f->why[0])
		printf("  note: %s\n", f->why);
}

static json_t *json_latset(const struct lat *l, double scale)
{
	if (!l->n)
		return json_pack("{s:i, s:i, s:i, s:i}", "n", 0, "lost", (int)l->lost,
				 "ran_dry", (int)l->dry, "unseen", (int)l->unseen);
	return json_pack("{s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:i, s:I, s:I, s:f, s:f}",
			 "p50", lat_q(l, 0.5) / scale, "p90", lat_q(l, 0.9) / scale,
			 "p99", lat_q(l, 0.99) / scale, "max", l->v[l->n - 1] / scale,
			 "n", (int)l->n, "lost", (int)l->lost, "ran_dry", (int)l->dry,
			 "unseen", (int)l->unseen, "requests_sent", (json_int_t)l->sent,
			 "requests_quiet", (json_int_t)l->quiet,
			 "daemon_served_p50_us_max", l->served_p50_us,
			 "daemon_served_p99_us_max", l->served_p99_us);
}

static json_t *json_refill(const struct refill_figs *f)
{
	json_t *o = json_object();

	json_object_set_new(o, "measured", json_boolean(f->run));
	if (f->why[0])
		json_object_set_new(o, "note", json_string(f->why));
	if (!f->run)
		return o;
	json_object_set_new(o, "nowait_miss_ns", json_latset(&f->miss, 1));
	json_object_set_new(o, "refill_1_client_us", json_latset(&f->one, 1e3));
	json_object_set_new(o, "refill_8_clients_us", json_latset(&f->many, 1e3));
	json_object_set_new(o, "baseline_datagram_wake_us", json_latset(&f->wake, 1e3));
	if (f->draw_ms)
		json_object_set_new(o, "sustained_draw", json_pack(
			"{s:i, s:i, s:f, s:f, s:I, s:I}", "reserve_per_cpu", REFILL_DRAW_MIN_NR,
			"ms", (int)f->draw_ms,
			"allocs_per_s", (double)f->draw_allocs * 1e3 / f->draw_ms,
			"misses_per_s", (double)f->draw_misses * 1e3 / f->draw_ms,
			"allocs", (json_int_t)f->draw_allocs,
			"misses", (json_int_t)f->draw_misses));
	return o;
}

/* ---- targets ----------------------------------------------------- */

struct target {
	const char *what;
	size_t size;
	int threads;
	double value, limit;
	bool le;             /* met when value <= limit (else >=) */
	bool in_ns;          /* value in ns (else a ratio) */
	bool valid;
	char note[160];
};

#define MAX_TARGETS 32

/* Target @what: the median pair of @ours at most TARGET_FLOOR_RATIO times
 * that of @floor, in the same cell. */
static void floor_target(struct target *t, const char *what, size_t size, int threads,
			 const struct cellrep *ours, const struct cellrep *floor)
{
	*t = (struct target){
		.what = what, .size = size, .threads = threads,
		.limit = TARGET_FLOOR_RATIO, .le = true,
		.valid = ours->valid && floor->valid && floor->ns.med > 0,
	};
	if (t->valid) {
		t->value = ours->ns.med / floor->ns.med;
		snprintf(t->note, sizeof(t->note), "%.2f ns vs %.2f ns", ours->ns.med,
			 floor->ns.med);
	}
}

static int targets(const struct bench *b, struct target *t)
{
	int n = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		for (int ti = 0; ti < PEERS_NR_TCOUNTS; ti++) {
			int c = cell_index((uint32_t)si, (uint32_t)ti);
			struct cellrep pc = cell_report(b, PEER_PCPUPOOL, c);
			struct cellrep fl = cell_report(b, PEER_RSEQ, c);
			struct cellrep lc = cell_report(b, PEER_PCPUPOOL_CALL, c);
			struct cellrep flc = cell_report(b, PEER_RSEQ_CALL, c);
			double best = 0;
			int best_p = -1;

			if (ti && b->tcount[1] == 1)
				continue;
			floor_target(&t[n++], "pair <= 1.5x the rseq per-CPU floor",
				     peers_sizes[si], b->tcount[ti], &pc, &fl);
			/* the same behind a call: the library's functions against
			 * the floor's, both through a function pointer */
			floor_target(&t[n++], "  behind a call: library / floor",
				     peers_sizes[si], b->tcount[ti], &lc, &flc);

			/* the fastest peer: ratio pcpupool / peer, met when <= 1 */
			for (int p = 0; p < NR_PEERS; p++) {
				struct cellrep cr;

				if (peers[p].ours || peers[p].floor)
					continue;
				cr = cell_report(b, p, c);
				if (cr.valid && (best_p < 0 || cr.ns.med < best)) {
					best = cr.ns.med;
					best_p = p;
				}
			}
			t[n] = (struct target){
				.what = "faster than every peer",
				.size = peers_sizes[si], .threads = b->tcount[ti],
				.limit = 1.0, .le = true,
				.valid = pc.valid && best_p >= 0 && best > 0,
			};
			if (t[n].valid) {
				t[n].value = pc.ns.med / best;
				snprintf(t[n].note, sizeof(t[n].note),
					 "fastest peer: %s %.2f ns, pcpupool %.2f ns",
					 peers[best_p].name, best, pc.ns.med);
			}
			n++;

			if (ti == 0)
				continue;
			{
				struct cellrep one = cell_report(b, PEER_PCPUPOOL,
								 cell_index((uint32_t)si, 0));

				t[n] = (struct target){
					.what = "aggregate >= 1.8x one thread",
					.size = peers_sizes[si], .threads = b->tcount[ti],
					.limit = TARGET_SCALING, .le = false,
					.valid = pc.valid && one.valid && one.mps.med > 0,
				};
				if (t[n].valid) {
					t[n].value = pc.mps.med / one.mps.med;
					snprintf(t[n].note, sizeof(t[n].note),
						 "%.1f vs %.1f M pairs/s", pc.mps.med,
						 one.mps.med);
				}
				n++;
			}
			t[n] = (struct target){
				.what = "alloc p99.9 <= 100 ns, all CPUs busy",
				.size = peers_sizes[si], .threads = b->tcount[ti],
				.limit = TARGET_P999_NS, .le = true, .in_ns = true,
				.valid = pc.valid && pc.batches > 0,
				.value = pc.a999,
			};
			if (t[n].valid)
				snprintf(t[n].note, sizeof(t[n].note), "p99 %.1f ns, max %.0f ns",
					 pc.a99, pc.amax);
			n++;
		}
	}
	return n;
}

static bool target_met(const struct target *t)
{
	return t->valid && (t->le ? t->value <= t->limit : t->value >= t->limit);
}

static void print_targets(const struct target *t, int n)
{
	printf("\nissue 6 targets for pcpupool (medians, this run):\n");
	for (int i = 0; i < n; i++) {
		char thr[24];

		snprintf(thr, sizeof(thr), "%d %s", t[i].threads, threads_word(t[i].threads));
		if (!t[i].valid) {
			printf("  %-38s %4zu B %-9s  n/a\n", t[i].what, t[i].size, thr);
			continue;
		}
		if (t[i].in_ns)
			printf("  %-38s %4zu B %-9s %7.1f ns  %-6s (%s)\n", t[i].what,
			       t[i].size, thr, t[i].value, target_met(&t[i]) ? "met" : "MISSED",
			       t[i].note);
		else
			printf("  %-38s %4zu B %-9s %7.2fx    %-6s (%s)\n", t[i].what,
			       t[i].size, thr, t[i].value, target_met(&t[i]) ? "met" : "MISSED",
			       t[i].note);
	}
}

/* ---- JSON, data file, plot ------------------------------------------ */

static json_t *json_lat(double p50, double p90, double p99, double p999, double max,
			uint64_t n)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f, s:I}", "p50", p50, "p90", p90,
			 "p99", p99, "p99.9", p999, "max", max, "batches", (json_int_t)n);
}

static json_t *json_doubles(const double *x, uint32_t n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(a, json_real(x[i]));
	return a;
}

static json_t *json_results(const struct bench *b, const struct target *t, int nt,
			    const struct refill_figs *rf, const char *date, double run_s)
{
	json_t *root = json_object(), *comps = json_array(), *tg = json_array();
	json_t *cpus = json_array();
	struct utsname u;

	for (int i = 0; i < b->nr_threads; i++)
		json_array_append_new(cpus, json_integer(b->cpus[i]));
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	json_object_set_new(root, "bench", json_string("bench_peers"));
	json_object_set_new(root, "date", json_string(date));
	json_object_set_new(root, "mode", json_string(b->o.quick ? "quick" : "default"));
	json_object_set_new(root, "machine", json_pack(
		"{s:s, s:i, s:i, s:o, s:s, s:s, s:s, s:f}",
		"cpu_model", b->cpu_model, "cpus_online", get_nprocs(),
		"cpus_configured", get_nprocs_conf(), "cpus_used", cpus,
		"kernel", u.release, "glibc", gnu_get_libc_version(),
		"compiler", BENCH_COMPILER, "tsc_ghz", b->hz / 1e9));
	json_object_set_new(json_object_get(root, "machine"), "load_average_before",
			    json_real(b->load_start));
	json_object_set_new(root, "method", json_pack(
		"{s:i, s:i, s:i, s:i, s:s, s:s}",
		"samples", (int)b->rounds_done, "pair_budget_ms", (int)b->o.pair_ms,
		"batch_budget_ms", (int)b->o.batch_ms, "batch", PEERS_BATCH,
		"pair_ns", "median over samples of: per thread, ns per alloc+free pair "
			   "over its chunks of >= 4096 pairs (TSC) that no other process "
			   "preempted and during which every thread ran; mean of the "
			   "threads (aggregate: sum of their rates); wall_clock: the "
			   "whole loop by CLOCK_MONOTONIC",
		"latency_ns", "per operation, from TSC-timed batches of 64, "
			      "timer cost subtracted"));
	json_object_set_new(root, "daemon", json_pack("{s:s, s:b}", "socket", b->d.sock,
						      "started_by_bench", b->d.own));
	for (int p = 0; p < NR_PEERS; p++) {
		const struct prun *r = &b->run[p];
		json_t *o, *cells;

		if (r->state == PRUN_OFF)
			continue;
		o = json_pack("{s:s, s:s, s:b, s:s}", "name", peers[p].name,
			      "label", peers[p].label, "available", r->state == PRUN_DONE,
			      "version", r->version);
		if (r->state != PRUN_DONE) {
			json_object_set_new(o, "reason", json_string(r->why));
			json_array_append_new(comps, o);
			continue;
		}
		json_object_set_new(o, "timer_overhead_ns",
				    json_real((double)r->ovh * 1e9 / b->hz));
		json_object_set_new(o, "wrong_results", json_integer((json_int_t)r->wrong));
		cells = json_array();
		for (int c = 0; c < PEERS_NR_CELLS; c++) {
			const struct pcell *cl = &r->cell[c];
			struct cellrep cr = cell_report(b, p, c);
			struct cellrep base = cell_report(b, PEER_PCPUPOOL, c);
			json_t *co;

			if (!cr.valid)
				continue;
			co = json_pack("{s:i, s:i, s:I, s:I, s:o, s:f, s:f, s:f, s:o, s:f, s:I}",
				       "size", (int)peers_sizes[c / PEERS_NR_TCOUNTS],
				       "threads", b->tcount[c % PEERS_NR_TCOUNTS],
				       "pairs_per_sample", (json_int_t)cl->pairs,
				       "batches_per_sample", (json_int_t)cl->batches,
				       "ns_per_pair_samples", json_doubles(cl->ns, cl->rn),
				       "ns_per_pair", cr.ns.med, "ns_per_pair_p25", cr.ns.p25,
				       "ns_per_pair_p75", cr.ns.p75,
				       "mpairs_per_s_samples", json_doubles(cl->mps, cl->rn),
				       "mpairs_per_s", cr.mps.med,
				       "failed_allocations", (json_int_t)cl->bad);
			json_object_set_new(co, "samples_preempted",
					    json_integer((json_int_t)cl->n_preempted));
			json_object_set_new(co, "samples_threads_seldom_together",
					    json_integer((json_int_t)cl->n_alone));
			json_object_set_new(co, "pair_figures", json_string(
				cr.wall ? "wall clock (the threads never ran together)"
					: "running chunks"));
			json_object_set_new(co, "wall_clock", json_pack(
				"{s:o, s:f, s:f, s:f, s:o, s:f}",
				"ns_per_pair_samples", json_doubles(cl->wns, cl->n),
				"ns_per_pair", cr.wns.med, "ns_per_pair_p25", cr.wns.p25,
				"ns_per_pair_p75", cr.wns.p75,
				"mpairs_per_s_samples", json_doubles(cl->wmps, cl->n),
				"mpairs_per_s", cr.wmps.med));
			json_object_set_new(co, "ratio_to_pcpupool",
					    base.valid && base.ns.med > 0
					    ? json_real(cr.ns.med / base.ns.med) : json_null());
			json_object_set_new(co, "alloc_ns", json_lat(cr.a50, cr.a90, cr.a99,
								     cr.a999, cr.amax, cr.batches));
			json_object_set_new(co, "free_ns", json_pack(
				"{s:f, s:f, s:f, s:f, s:I}", "p50", cr.f50, "p99", cr.f99,
				"p99.9", cr.f999, "max", cr.fmax,
				"batches", (json_int_t)cr.batches));
			json_array_append_new(cells, co);
		}
		json_object_set_new(o, "cells", cells);
		json_array_append_new(comps, o);
	}
	json_object_set_new(root, "competitors", comps);
	for (int i = 0; i < nt; i++)
		json_array_append_new(tg, json_pack("{s:s, s:i, s:i, s:o, s:f, s:o, s:s}",
			"target", t[i].what, "size", (int)t[i].size, "threads", t[i].threads,
			"value", t[i].valid ? json_real(t[i].value) : json_null(),
			"limit", t[i].limit,
			"met", t[i].valid ? json_boolean(target_met(&t[i])) : json_null(),
			"note", t[i].note));
	json_object_set_new(root, "targets", tg);
	json_object_set_new(root, "refill", json_refill(rf));
	json_object_set_new(root, "run_time_s", json_real(run_s));
	return root;
}

#define PLOT_STEP 1.01   /* smallest x ratio between two points of the data file */

/* Latency distributions for the plot: one block per cell and available
 * competitor (gnuplot "index"), rows "ns-per-alloc fraction-of-batches-at-
 * or-above", i.e. the complementary CDF.  Return the competitors written. */
static int write_dat(const struct bench *b, const char *path, char *names, size_t len)
{
	FILE *f = fopen(path, "w");
	int nc = 0;

	if (!f)
		return -errno;
	names[0] = '\0';
	fprintf(f, "# bench_peers latency: ns per allocation (batches of %d), "
		"fraction of batches at or above it\n", PEERS_BATCH);
	for (int p = 0; p < NR_PEERS; p++) {
		if (b->run[p].state == PRUN_DONE) {
			size_t l = strlen(names);

			snprintf(names + l, len - l, "%s%s", l ? " " : "", peers[p].name);
			nc++;
		}
	}
	for (int c = 0; c < PEERS_NR_CELLS; c++) {
		if (c % PEERS_NR_TCOUNTS && b->tcount[1] == 1)
			continue;
		for (int p = 0; p < NR_PEERS; p++) {
			const struct pcell *cl = &b->run[p].cell[c];
			uint64_t above;
			double last;

			if (b->run[p].state != PRUN_DONE)
				continue;
			fprintf(f, "# %s, %zu B, %d %s\n", peers[p].name,
				peers_sizes[c / PEERS_NR_TCOUNTS], b->tcount[c % PEERS_NR_TCOUNTS],
				threads_word(b->tcount[c % PEERS_NR_TCOUNTS]));
			above = cl->ha ? cl->ha->n : 0;
			if (!above)
				fprintf(f, "nan nan\n");
			last = 0;
			for (uint32_t i = 0; above && i < HIST_NR; i++) {
				uint64_t lo, width;
				double x;

				if (!cl->ha->b[i])
					continue;
				hist_bounds(i, &lo, &width);
				x = to_op_ns(b, (double)lo + (double)(width - 1) / 2);
				/* 1% steps are plenty for a plot; the maximum always */
				if (x >= last * PLOT_STEP || above == cl->ha->b[i]) {
					fprintf(f, "%.4g %.6g\n", x,
						(double)above / (double)cl->ha->n);
					last = x;
				}
				above -= cl->ha->b[i];
			}
			fprintf(f, "\n\n");
		}
	}
	if (fclose(f) == EOF)
		return -errno;
	return nc;
}

/* gnuplot @script on @dat into @png; 0, or -errno (-ENOENT: no gnuplot). */
static int plot(const struct bench *b, const char *script, const char *dat,
		const char *png, const char *names, int nc)
{
	char expr[3 * PATH_MAX + 1024], cpu[sizeof(b->cpu_model)];
	int status, pfd[2];
	pid_t pid;
	ssize_t n;

	if (access(script, R_OK))
		return -ENOTDIR;
	snprintf(cpu, sizeof(cpu), "%s", b->cpu_model);
	for (char *c = cpu; *c; c++)
		if (*c == '\'' || *c == '\\')
			*c = ' ';   /* it goes inside a gnuplot string */
	snprintf(expr, sizeof(expr), "datafile='%s'; outfile='%s'; names='%s'; ncomp=%d; "
		 "nthreads=%d; cpu='%s'", dat, png, names, nc, b->tcount[1], cpu);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int err = 0;

		execlp("gnuplot", "gnuplot", "-e", expr, script, (char *)NULL);
		err = errno;
		if (write(pfd[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	status = 0;
	n = read(pfd[0], &status, sizeof(status));
	close(pfd[0]);
	if (n == (ssize_t)sizeof(status)) {
		waitpid(pid, NULL, 0);
		return -status;   /* exec failed: ENOENT when not installed */
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -EIO;
	return 0;
}

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void write_outputs(const struct bench *b, const struct target *t, int nt,
			  const struct refill_figs *rf, double run_s)
{
	char date[16], dir[PATH_MAX], path[PATH_MAX + 64], dat[PATH_MAX + 64];
	char png[PATH_MAX + 64], script[PATH_MAX + 32], names[512];
	const char *suffix = b->o.quick ? "-quick" : "";
	time_t now = time(NULL);
	struct tm tm;
	json_t *root;
	int nc, r;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	if (b->o.results)
		snprintf(dir, sizeof(dir), "%s", b->o.results);
	else
		snprintf(dir, sizeof(dir), "%.*s/results", PATH_MAX - 16, b->src_dir);
	r = mkdir_p(dir);
	if (r < 0) {
		fprintf(stderr, "bench_peers: %s: %s; no result files written\n", dir,
			strerror(-r));
		return;
	}
	snprintf(path, sizeof(path), "%s/%s%s.json", dir, date, suffix);
	root = json_results(b, t, nt, rf, date, run_s);
	if (!root || json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(6)))
		fprintf(stderr, "bench_peers: cannot write %s\n", path);
	else
		printf("\nresults: %s\n", path);
	json_decref(root);

	snprintf(dat, sizeof(dat), "%s/%s%s-latency.dat", dir, date, suffix);
	snprintf(png, sizeof(png), "%s/%s%s.png", dir, date, suffix);
	nc = write_dat(b, dat, names, sizeof(names));
	if (nc < 0) {
		fprintf(stderr, "bench_peers: cannot write %s: %s\n", dat, strerror(-nc));
		return;
	}
	if (b->o.plot)
		snprintf(script, sizeof(script), "%s", b->o.plot);
	else
		snprintf(script, sizeof(script), "%.*s/plot.gnuplot", PATH_MAX - 16, b->src_dir);
	r = nc ? plot(b, script, dat, png, names, nc) : -ENODATA;
	if (!r)
		printf("plot:    %s (data %s)\n", png, dat);
	else if (r == -ENOENT)
		printf("plot:    none, gnuplot is not installed (apt-get install gnuplot-nox); "
		       "data %s\n", dat);
	else if (r == -ENOTDIR)
		printf("plot:    none, no plot script at %s; data %s\n", script, dat);
	else
		printf("plot:    none, gnuplot failed (%s); data %s\n", strerror(-r), dat);
}

/* ------------------------------------------------------------------ */
/* main                                                                */

static void usage(FILE *out)
{
	fprintf(out,
"usage: bench_peers [--quick] [--samples N] [--only NAME[,NAME...]]\n"
"                   [--socket PATH] [--daemon PATH] [--results DIR]\n"
"                   [--no-results] [--plot FILE] [--no-refill] [--help]\n"
"\n"
"pcpupool against its peers: the cost of one alloc+free pair and the latency\n"
"of one allocation, for 64- and 1024-byte elements, with one thread and with\n"
"one thread per usable CPU (pinned, started together), every competitor in a\n"
"process of its own, in rounds that run every cell once in rotating order.\n"
"Prints one table: the median ns per pair (per thread), its ratio to\n"
"pcpupool's, the aggregate M pairs/s, and p50/p99/p99.9/max of one allocation\n"
"from TSC-timed batches of %d; then how pcpupool meets the targets of issue 6.\n"
"\n"
"  --quick          smoke test: %u samples, %u+%u ms per sample (well under\n"
"                   20 s); files are named <date>-quick.*\n"
"  --samples N      samples per cell (default %u, 1..%u); a sample spends\n"
"                   about %u+%u ms in each cell, and no round starts that\n"
"                   would end after %u s (%u s with --quick)\n"
"  --only LIST      run only these competitors (comma-separated names below)\n"
"  --socket PATH    measure pcpupool on the running pcpupoold at PATH (it\n"
"                   must let this user create pools); default $PCPUPOOL_SOCKET,\n"
"                   else a pcpupoold started here on a temporary socket\n"
"  --daemon PATH    the pcpupoold to start (default: ../pcpupoold next to\n"
"                   this binary)\n"
"  --results DIR    where to write <date>.json, <date>-latency.dat and\n"
"                   <date>.png (default: bench/results of the source tree)\n"
"  --no-results     print the table only\n"
"  --plot FILE      gnuplot script for the PNG (default: bench/plot.gnuplot)\n"
"  --no-refill      skip the refill figures (below)\n"
"  --help           print this text and exit\n"
"\n"
"Competitors:\n"
"  pcpupool         pcpupool_alloc(NOWAIT)/pcpupool_free(), the inline fast\n"
"                   path of pcpupool.h (the library past it)\n"
"  pcpupool-call    the same through the library's out-of-line functions\n"
"  tls-freelist     a __thread free list (the floor)\n"
"  rseq-array       per-CPU array stack in rseq sections (cross-process floor)\n"
"  rseq-array-call  the same behind a call (the floor for pcpupool-call)\n"
"  glibc            glibc malloc/free\n"
"  jemalloc         malloc/free with " BENCH_JEMALLOC_SO " preloaded\n"
"  mimalloc         mi_malloc/mi_free with " BENCH_MIMALLOC_SO " preloaded\n"
"  dpdk             rte_mempool_get/put, per-lcore cache %u (%s)\n"
"  mutex-freelist   one free list under one pthread mutex\n"
"  treiber          one lock-free Treiber stack with an ABA tag\n"
"A competitor that cannot run here is reported unavailable, with the reason.\n"
"\n"
"Refill figures (pcpupool alone, after the table): the cost of a NOWAIT\n"
"allocation when every reserve is dry; the time from the allocation that\n"
"takes a CPU's reserve under its low watermark to the refill showing (the\n"
"pool's spare, or the daemon's refill when the spare is empty), the\n"
"allocation and its request included, for 1 client and for %d (one pool\n"
"each, spread over the CPUs), with how many of those requests were sent\n"
"as messages and how many were left to the daemon's poll;\n"
"the rate a producer on one CPU sustains from a 64-element reserve while a\n"
"consumer on another frees everything, and how often it misses.\n"
"\n"
"Internal: --competitor NAME --control-fd FD [--socket PATH --pool-prefix P]\n"
"runs one competitor's process for the parent.\n"
"\n"
"Exit status: 0 done (the targets are figures, not pass/fail), 1 a wrong\n"
"result (a failed allocation, an element lost) or a competitor that crashed,\n"
"2 usage or setup error (pcpupool itself could not be measured).\n",
		PEERS_BATCH, PEERS_QUICK_SAMPLES, PEERS_QUICK_PAIR_MS, PEERS_QUICK_BATCH_MS,
		PEERS_DEFAULT_SAMPLES, PEERS_MAX_SAMPLES, PEERS_DEFAULT_PAIR_MS,
		PEERS_DEFAULT_BATCH_MS, PEERS_DEFAULT_BUDGET_S, PEERS_QUICK_BUDGET_S,
		PEERS_DPDK_CACHE,
#ifdef BENCH_HAVE_DPDK
		"built in"
#else
		"not built in: no libdpdk at build time"
#endif
		, REFILL_CLIENTS);
}


static int parse_only(const char *list, bool *selected)
{
	const char *s = list;

	memset(selected, 0, sizeof(bool) * NR_PEERS);
	while (*s) {
		size_t len = strcspn(s, ",");
		int p = peer_by_name(s, len);

		if (p < 0) {
			fprintf(stderr, "bench_peers: unknown competitor '%.*s'\n", (int)len, s);
			return -EINVAL;
		}
		selected[p] = true;
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct options *ret)
{
	enum { OPT_ONLY = 256, OPT_SOCKET, OPT_DAEMON, OPT_RESULTS, OPT_NO_RESULTS,
	       OPT_PLOT, OPT_NO_REFILL, OPT_COMPETITOR, OPT_CONTROL_FD, OPT_POOL_PREFIX };
	static const struct option longopts[] = {
		{ "quick",       no_argument,       NULL, 'q' },
		{ "samples",     required_argument, NULL, 's' },
		{ "only",        required_argument, NULL, OPT_ONLY },
		{ "socket",      required_argument, NULL, OPT_SOCKET },
		{ "daemon",      required_argument, NULL, OPT_DAEMON },
		{ "results",     required_argument, NULL, OPT_RESULTS },
		{ "no-results",  no_argument,       NULL, OPT_NO_RESULTS },
		{ "plot",        required_argument, NULL, OPT_PLOT },
		{ "no-refill",   no_argument,       NULL, OPT_NO_REFILL },
		{ "help",        no_argument,       NULL, 'h' },
		{ "competitor",  required_argument, NULL, OPT_COMPETITOR },
		{ "control-fd",  required_argument, NULL, OPT_CONTROL_FD },
		{ "pool-prefix", required_argument, NULL, OPT_POOL_PREFIX },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t samples = 0, fd;
	int c;

	memset(ret, 0, sizeof(*ret));
	ret->control_fd = -1;
	for (int p = 0; p < NR_PEERS; p++)
		ret->selected[p] = true;
	while ((c = getopt_long(argc, argv, "qs:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			ret->quick = true;
			break;
		case 's':
			if (parse_u64(optarg, 1, PEERS_MAX_SAMPLES, &samples) < 0) {
				fprintf(stderr, "bench_peers: --samples wants 1..%u\n",
					PEERS_MAX_SAMPLES);
				return -EINVAL;
			}
			break;
		case OPT_ONLY:
			if (parse_only(optarg, ret->selected) < 0)
				return -EINVAL;
			break;
		case OPT_SOCKET:
			ret->socket = optarg;
			break;
		case OPT_DAEMON:
			ret->daemon = optarg;
			break;
		case OPT_RESULTS:
			ret->results = optarg;
			break;
		case OPT_NO_RESULTS:
			ret->no_results = true;
			break;
		case OPT_PLOT:
			ret->plot = optarg;
			break;
		case OPT_NO_REFILL:
			ret->no_refill = true;
			break;
		case OPT_COMPETITOR:
			if (peer_by_name(optarg, strlen(optarg)) < 0) {
				fprintf(stderr, "bench_peers: unknown competitor '%s'\n", optarg);
				return -EINVAL;
			}
			ret->competitor = optarg;
			break;
		case OPT_CONTROL_FD:
			if (parse_u64(optarg, 0, INT_MAX, &fd) < 0) {
				fprintf(stderr, "bench_peers: bad --control-fd\n");
				return -EINVAL;
			}
			ret->control_fd = (int)fd;
			break;
		case OPT_POOL_PREFIX:
			ret->pool_prefix = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench_peers: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	if (ret->competitor && ret->control_fd < 0) {
		fprintf(stderr, "bench_peers: --competitor is internal and needs --control-fd "
			"(use --only NAME to run one competitor)\n");
		return -EINVAL;
	}
	ret->samples = samples ? (uint32_t)samples
		       : ret->quick ? PEERS_QUICK_SAMPLES : PEERS_DEFAULT_SAMPLES;
	ret->pair_ms = ret->quick ? PEERS_QUICK_PAIR_MS : PEERS_DEFAULT_PAIR_MS;
	ret->batch_ms = ret->quick ? PEERS_QUICK_BATCH_MS : PEERS_DEFAULT_BATCH_MS;
	ret->warm_pairs = ret->quick ? PEERS_QUICK_WARM_PAIRS : PEERS_WARM_PAIRS;
	ret->warm_batches = ret->quick ? PEERS_QUICK_WARM_BATCH : PEERS_WARM_BATCHES;
	ret->budget_s = ret->quick ? PEERS_QUICK_BUDGET_S : PEERS_DEFAULT_BUDGET_S;
	return 0;
}

static void print_header(const struct bench *b)
{
	char cpus[128] = "";
	uint64_t ovh = 0;

	for (int i = 0; i < b->nr_threads; i++) {
		size_t l = strlen(cpus);

		snprintf(cpus + l, sizeof(cpus) - l, "%s%d", i ? "," : "", b->cpus[i]);
	}
	for (int p = 0; p < NR_PEERS; p++)
		if (b->run[p].state == PRUN_DONE && b->run[p].ovh > ovh)
			ovh = b->run[p].ovh;
	printf("pcpupool bench_peers \u2014 alloc+free pair and one-alloc latency, "
	       "median of %u samples per cell", b->rounds_done);
	if (b->rounds_done < b->o.samples)
		printf(" (of %u: the %u s budget ran out)", b->o.samples, b->o.budget_s);
	printf("\n");
	printf("CPU: %s; threads pinned to CPU %s; TSC %.2f GHz, timer cost %.1f ns "
	       "per batch subtracted\n", b->cpu_model, cpus, b->hz / 1e9,
	       (double)ovh * 1e9 / b->hz);
	if (b->run[PEER_PCPUPOOL].state != PRUN_OFF ||
	    b->run[PEER_PCPUPOOL_CALL].state != PRUN_OFF)
		printf("pcpupoold: %s (%s); pools min_nr %u per CPU, low watermark %d\n",
		       b->d.sock[0] ? b->d.sock : "none",
		       b->d.own ? "started by the bench" : "already running",
		       PEERS_PER_CPU, PEERS_POOL_LOW);
	printf("pair ns: per thread, over the chunks of >= %u pairs (TSC) that ran unpreempted "
	       "with every\nthread running; median of the samples.  \"vs pcpu\" = that / "
	       "pcpupool's in the same group\n(>1: slower than pcpupool).  aggr. = all "
	       "threads together\n\n", PEERS_CHUNK_MIN);
}

/* Say whether something else ran on the measured CPUs. */
static void print_noise(const struct bench *b)
{
	uint64_t samples = 0, hit = 0, sw = 0, alone = 0;

	for (int p = 0; p < NR_PEERS; p++) {
		for (int c = 0; c < PEERS_NR_CELLS; c++) {
			const struct pcell *cl = &b->run[p].cell[c];

			if (b->run[p].state != PRUN_DONE)
				continue;
			samples += cl->n;
			hit += cl->n_preempted;
			sw += cl->preempted;
			alone += cl->n_alone;
		}
	}
	printf("\nnoise: %llu of %llu samples had a worker preempted (%llu involuntary "
	       "context switches); load average %.2f before the run%s\n",
	       (unsigned long long)hit, (unsigned long long)samples,
	       (unsigned long long)sw, b->load_start,
	       samples && hit * 4 > samples
	       ? ".\n       Other processes share these CPUs: pair figures count only "
		 "chunks nothing preempted;\n       the tails (p99.9, max) are "
		 "theirs" : "");
	if (alone)
		printf("       %llu multi-thread sample(s) had too few chunks with all "
		       "threads running and were left out\n       of the pair figures "
		       "(a cell left with none shows the wall clock, marked *)\n",
		       (unsigned long long)alone);
}

static void print_checks(const struct bench *b, uint64_t *wrong)
{
	bool clean = true;

	printf("\nchecks:");
	for (int p = 0; p < NR_PEERS; p++) {
		const struct prun *r = &b->run[p];
		uint64_t bad = 0;

		if (r->state != PRUN_DONE)
			continue;
		for (int c = 0; c < PEERS_NR_CELLS; c++)
			bad += r->cell[c].bad;
		if (bad || r->wrong) {
			printf("\n  %s: %llu failed allocation(s), %llu element(s) lost or "
			       "duplicated", peers[p].name, (unsigned long long)bad,
			       (unsigned long long)r->wrong);
			clean = false;
		}
		*wrong += bad + r->wrong;
	}
	if (clean)
		printf(" no failed allocation; every list, stack and mempool whole at the end");
	printf("\n");
}

static int parent_main(struct bench *b)
{
	struct target t[MAX_TARGETS];
	struct refill_figs rf;
	struct sigaction sa;
	uint64_t wrong = 0;
	int nt, ret = EXIT_OK;
	double run_s;

	b->t_start = now_ns();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	find_dirs(b);
	cpu_model(b->cpu_model, sizeof(b->cpu_model));
	b->nr_threads = pick_cpus((uint32_t)get_nprocs_conf(), b->cpus);
	if (b->nr_threads <= 0) {
		fprintf(stderr, "bench_peers: no usable CPU\n");
		return EXIT_SETUP;
	}
	b->tcount[0] = 1;
	b->tcount[1] = b->nr_threads;
	b->hz = tick_hz();
	if (getloadavg(&b->load_start, 1) != 1)
		b->load_start = -1;

	for (int p = 0; p < NR_PEERS; p++) {
		struct prun *r = &b->run[p];

		r->fd = -1;
		r->state = b->o.selected[p] ? PRUN_READY : PRUN_OFF;
		for (int c = 0; c < PEERS_NR_CELLS; c++) {
			r->cell[c].enabled = c % PEERS_NR_TCOUNTS == 0 || b->nr_threads > 1;
			r->cell[c].ns = calloc(b->o.samples, sizeof(double));
			r->cell[c].mps = calloc(b->o.samples, sizeof(double));
			r->cell[c].wns = calloc(b->o.samples, sizeof(double));
			r->cell[c].wmps = calloc(b->o.samples, sizeof(double));
			if (!r->cell[c].ns || !r->cell[c].mps || !r->cell[c].wns ||
			    !r->cell[c].wmps) {
				fprintf(stderr, "bench_peers: out of memory\n");
				return EXIT_SETUP;
			}
		}
	}
	if (b->o.selected[PEER_PCPUPOOL] || b->o.selected[PEER_PCPUPOOL_CALL]) {
		char why[sizeof(b->run[0].why)];

		if (daemon_prepare(b, why, sizeof(why)) < 0)
			for (int p = 0; p < NR_PEERS; p++)
				if (peers[p].ours && b->o.selected[p]) {
					b->run[p].state = PRUN_UNAVAILABLE;
					memcpy(b->run[p].why, why, sizeof(why));
				}
	}
	for (int p = 0; p < NR_PEERS && !stop_requested; p++)
		if (running(&b->run[p]))
			spawn_competitor(b, p);
	if (!stop_requested)
		warm_up(b);
	if (!stop_requested)
		rounds(b);
	for (int p = 0; p < NR_PEERS; p++) {
		if (running(&b->run[p]) && !stop_requested)
			finish_competitor(b, p);
		else
			reap(&b->run[p], true);
	}
	memset(&rf, 0, sizeof(rf));
	if (b->o.no_refill)
		snprintf(rf.why, sizeof(rf.why), "--no-refill");
	else if (!stop_requested)
		refill_figures(b, &rf);
	daemon_stop(&b->d);
	if (stop_requested) {
		fprintf(stderr, "bench_peers: interrupted\n");
		return EXIT_SETUP;
	}
	run_s = (double)(now_ns() - b->t_start) / 1e9;

	print_header(b);
	print_table(b);
	nt = targets(b, t);
	print_targets(t, nt);
	print_refill(&rf);
	print_noise(b);
	print_checks(b, &wrong);
	printf("\nrun time %.1f s\n", run_s);
	if (!b->o.no_results)
		write_outputs(b, t, nt, &rf, run_s);
	free(rf.miss.v);
	free(rf.one.v);
	free(rf.many.v);
	free(rf.wake.v);

	for (int p = 0; p < NR_PEERS; p++) {
		if (b->run[p].state == PRUN_FAILED)
			ret = EXIT_WRONG;
		if (b->run[p].state != PRUN_OFF && b->run[p].cell[0].ha)
			free(b->run[p].cell[0].ha);   /* one block for all cells */
		for (int c = 0; c < PEERS_NR_CELLS; c++) {
			free(b->run[p].cell[c].ns);
			free(b->run[p].cell[c].mps);
			free(b->run[p].cell[c].wns);
			free(b->run[p].cell[c].wmps);
		}
	}
	if (wrong)
		ret = EXIT_WRONG;
	if (b->o.selected[PEER_PCPUPOOL] && b->run[PEER_PCPUPOOL].state != PRUN_DONE)
		ret = EXIT_SETUP;
	return ret;
}

int main(int argc, char **argv)
{
	struct bench *b;
	struct options o;
	int ret;

	if (parse_options(argc, argv, &o) < 0)
		return EXIT_SETUP;
	if (o.competitor)
		return child_main(&o);
	b = calloc(1, sizeof(*b));
	if (!b)
		return EXIT_SETUP;
	b->o = o;
	ret = parent_main(b);
	free(b);
	return ret;
}
