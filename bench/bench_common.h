/* SPDX-License-Identifier: MIT */
/*
 * bench_common.h - what every benchmark shares (bench_slab, bench_peers,
 * bench_refill, bench_slot_designs): option values and usage, the order
 * statistics they report and the ratios printed from them, the census that
 * checks no element was lost or duplicated, the clocks, the CPUs they run
 * on and the CPU model they name, and the signals that stop a run.
 * bench_common.c has the functions; the timestamp and the spin hint are
 * inline here because the timed loops use them.  Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_COMMON_H
#define PCPUPOOL_BENCH_COMMON_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Out of line the way a shared library's entry points are: noipa also
 * stops GCC from cloning the function for its constant arguments or
 * learning from its body at the call site. */
#ifdef __has_attribute
#if __has_attribute(noipa)
#define BENCH_OUT_OF_LINE __attribute__((noinline, noipa))
#endif
#endif
#ifndef BENCH_OUT_OF_LINE
#define BENCH_OUT_OF_LINE __attribute__((noinline))
#endif
/* Out-of-line entry points and the loops that call them start on a cache
 * line of their own, so that where the linker puts them does not tilt the
 * comparisons. */
#define BENCH_HOT_ALIGN __attribute__((aligned(64)))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Exit status of every benchmark. */
#define BENCH_EXIT_OK          0   /* done: figures, not pass/fail */
#define BENCH_EXIT_WRONG       1   /* a competitor produced a wrong result */
#define BENCH_EXIT_SETUP       2   /* usage or set-up error */

/* ---- options ------------------------------------------------------- */

/* A decimal option value in [lo, hi]: 0 and *ret, or -EINVAL. */
int bench_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret);

/* A benchmark's usage text, printed on @out. */
typedef void bench_usage_fn(FILE *out);

/* An option code @c from getopt_long() that the benchmark's own cases did
 * not take: 'h' prints @usage on stdout and exits BENCH_EXIT_OK; anything
 * else prints it on stderr and returns -EINVAL. */
int bench_opt_help_or_bad(int c, bench_usage_fn *usage);

/* After getopt_long(): 0 if no operand is left, else -EINVAL, said on
 * stderr as @prog's complaint followed by @usage. */
int bench_no_operands(int argc, char **argv, const char *prog, bench_usage_fn *usage);

/* The options of the benchmarks that measure against a pcpupoold and write
 * results files, bench_peers and bench_refill: BENCH_OPTS_LONGOPTS in their
 * getopt_long() tables, bench_opts_take() in their loops, their own codes
 * from BENCH_OPT_NEXT on, and BENCH_OPTS_USAGE_DAEMON in their usage. */
struct bench_opts {
	bool quick;              /* --quick: smoke test, files named *-quick */
	bool no_results;         /* --no-results */
	const char *socket;      /* --socket; NULL: $PCPUPOOL_SOCKET, else start one */
	const char *daemon;      /* --daemon: the pcpupoold to start */
	const char *results;     /* --results: the results directory */
};

enum {
	BENCH_OPT_SOCKET = 256, BENCH_OPT_DAEMON, BENCH_OPT_RESULTS, BENCH_OPT_NO_RESULTS,
	BENCH_OPT_NEXT
};

#define BENCH_OPTS_LONGOPTS						\
	{ "quick",       no_argument,       NULL, 'q' },		\
	{ "socket",      required_argument, NULL, BENCH_OPT_SOCKET },	\
	{ "daemon",      required_argument, NULL, BENCH_OPT_DAEMON },	\
	{ "results",     required_argument, NULL, BENCH_OPT_RESULTS },	\
	{ "no-results",  no_argument,       NULL, BENCH_OPT_NO_RESULTS }

#define BENCH_OPTS_USAGE_DAEMON						\
"  --socket PATH    measure pcpupool on the running pcpupoold at PATH (it\n"	\
"                   must let this user create pools); default $PCPUPOOL_SOCKET,\n" \
"                   else a pcpupoold started here on a temporary socket\n"	\
"  --daemon PATH    the pcpupoold to start (default: ../pcpupoold next to\n"	\
"                   this binary)\n"

/* Take getopt_long()'s @c (and optarg) into @o if it is one of
 * BENCH_OPTS_LONGOPTS: true if it was. */
bool bench_opts_take(struct bench_opts *o, int c);

/* ---- statistics ---------------------------------------------------- */

struct bench_stats {
	bool valid;
	double med, p25, p75;
};

/* Median and quartiles of x[0..n) (x is not reordered). */
struct bench_stats bench_stats_of(const double *x, uint32_t n);

/* The @q quantile (0 < q <= 1) of v[0..n) sorted ascending, nearest rank;
 * 0 when n is 0. */
double bench_quantile_sorted(const double *v, uint32_t n, double q);

/* qsort() comparators. */
int bench_cmp_double(const void *a, const void *b);
int bench_cmp_u64(const void *a, const void *b);

/* "@x / @base" as "1.23x" into @buf, or "n/a" unless @valid and base > 0. */
const char *bench_fmt_ratio(char *buf, size_t sz, bool valid, double x, double base);

/* ---- checks -------------------------------------------------------- */

/* A census of a pool's @nr elements after a run, for the checks that each
 * of them is somewhere exactly once. */
struct bench_census {
	uint8_t *seen;       /* a bit per element */
	uint64_t nr;
	uint64_t found;      /* counted so far, the bad ones included */
	bool bad;            /* one was out of range or counted twice, or the
			      * caller found something else wrong */
};

/* Start a census of @nr elements (bad at once if there is no memory). */
void bench_census_start(struct bench_census *cs, uint64_t nr);

/* Count element @i: false, and the census bad, if @i is out of range or
 * was counted before. */
bool bench_census_count(struct bench_census *cs, uint64_t i);

/* End the census: 0 if every element was counted exactly once, else 1,
 * said on stderr after @who. */
int bench_census_end(struct bench_census *cs, const char *who);

/* ---- time ---------------------------------------------------------- */

/* CLOCK_MONOTONIC in ns. */
uint64_t bench_now_ns(void);

/* A timestamp for timed batches: the TSC, fenced so that the operations
 * timed neither start before it nor finish after the next one. */
static inline uint64_t bench_tick(void)
{
#if defined(__x86_64__)
	uint64_t t;

	__builtin_ia32_lfence();
	t = __builtin_ia32_rdtsc();
	__builtin_ia32_lfence();
	return t;
#else
	return bench_now_ns();
#endif
}

/* bench_tick() ticks per second, against CLOCK_MONOTONIC. */
double bench_tick_hz(void);

/* The cost of bench_tick() itself on the calling thread: the median of
 * back-to-back reads.  Not thread-safe (one caller at a time). */
uint64_t bench_timer_overhead(void);

void bench_sleep_ms(int ms);

static inline void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* ---- CPUs ---------------------------------------------------------- */

/* The CPU's model name from /proc/cpuinfo ("unknown" if none). */
void bench_cpu_model(char *buf, size_t sz);

/* The first @max CPUs below @nr_cpus_conf this process may use, into
 * @cpus: how many, or -errno. */
int bench_pick_cpus(uint32_t nr_cpus_conf, int *cpus, int max);

/* Pin the calling thread to @cpu: 0, or -errno (-EINVAL: not running
 * there afterwards). */
int bench_pin_self(int cpu);

/* ---- messages and signals ----------------------------------------- */

/* printf into a reason buffer. */
void bench_set_why(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set by SIGINT and SIGTERM once bench_catch_stop_signals() has run. */
extern volatile sig_atomic_t bench_stop_requested;

void bench_catch_stop_signals(void);

#endif
