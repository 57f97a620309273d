// SPDX-License-Identifier: MIT
/*
 * bench_peers.c - pcpupool against its peers: what one fixed-size element
 * costs from pcpupool's NOWAIT fast path and from every other way a C
 * program gets one, side by side, on this machine.  bench_refill (its own
 * program) has what pcpupool's refills cost.
 *
 * Competitors (the NAME of --only), one bench/peer_*.c each behind the
 * interface of peer.h:
 *
 *   pcpupool        pcpupool_alloc(pool, PCPUPOOL_NOWAIT) / pcpupool_free()
 *                   through libpcpupool.so, on pools created in a real
 *                   pcpupoold: one this program starts on a temporary socket,
 *                   or the one at --socket / $PCPUPOOL_SOCKET.  min_nr 256
 *                   per CPU, low watermark 32.
 *   pcpupool-call   the same through the library's out-of-line functions.
 *   tls-freelist    a free list in a __thread variable: the floor of any
 *                   design (nothing shared, nothing atomic).
 *   rseq-array      a per-CPU array stack with two minimal rseq sections
 *                   (rseq_floor.h, shared with bench_slab.c): the floor of
 *                   any design that lets threads and processes share one
 *                   CPU's reserve.
 *   rseq-array-call the same behind a call: the floor for pcpupool-call.
 *   glibc           malloc()/free() of glibc.
 *   jemalloc        malloc()/free() with libjemalloc.so.2 in LD_PRELOAD.
 *   mimalloc        mi_malloc()/mi_free() with libmimalloc.so.2 in
 *                   LD_PRELOAD.
 *   dpdk            rte_mempool_get()/rte_mempool_put() on a mempool with a
 *                   per-lcore cache of 256 (when built with DPDK).
 *   mutex-freelist  one global free list under one pthread mutex.
 *   treiber         one global lock-free LIFO (Treiber stack) whose head is
 *                   {ABA tag, index} in one 64-bit word, swapped with CAS.
 *
 * Method:
 *   - one process per competitor: this program run again with --competitor
 *     NAME, talking to the parent over a socketpair (peers_child.c,
 *     peers_proto.h).  Allocators cannot see each other (jemalloc and
 *     mimalloc replace malloc in theirs), and a crash costs one competitor,
 *     not the run.  Only one process runs at a time; the others sleep in
 *     recv().
 *   - a cell is one competitor, one element size (64, 1024 bytes) and one
 *     thread count (1, and one per usable CPU).  Worker threads are pinned
 *     to the first CPUs the process may use and released together.
 *   - a sample of a cell has two phases, each thread in step with the
 *     others:
 *       pairs    P alloc+free pairs per thread, each writing one byte of its
 *                element through a volatile pointer (the element escapes
 *                through an empty asm, so no pair can be optimised away),
 *                in chunks of at least 4096 pairs with a TSC timestamp
 *                after each (PEER_LOOPS() in peer.h, each competitor's loop
 *                at four code placements in turn).  A thread that was
 *                preempted N times (its involuntary context switches
 *                around the loop) has its N longest chunks discarded; with
 *                several threads, so are its chunks during which another
 *                thread was not running (a shared structure is measured
 *                shared).  A thread's ns/pair is its mean over the chunks
 *                left: contention stalls count, other processes on a shared
 *                machine do not.  The sample's figure is the mean of the
 *                threads', the aggregate the sum of their rates.  A sample
 *                whose threads seldom ran at the same time is left out; a
 *                cell with no sample left falls back to the wall clock
 *                (marked).  The wall-clock figures (the loop by
 *                CLOCK_MONOTONIC; all pairs over the time from the first
 *                start to the last end) go to the JSON too.
 *       latency  B batches per thread: 64 allocations (each writing its
 *                byte) timed with the TSC (lfence; rdtsc; lfence), then the
 *                64 frees timed likewise.  A batch's per-operation figure is
 *                (its cycles - the timer's own cost) / 64, the timer's cost
 *                being the median of back-to-back reads on that thread.
 *                Percentiles are over every batch of every recorded sample
 *                and thread of the cell, from a log-linear histogram
 *                (hist.h: buckets at most 1/128 wide).
 *   - a warm-up round runs every cell once, unrecorded, and sizes P and B
 *     so that each phase lasts about its budget; each sample then sizes
 *     the next one the same way, so a slower machine keeps the budget.
 *   - then N rounds; round r runs every cell once, starting at cell
 *     r mod cells, so the order rotates and drift of the machine hits every
 *     competitor alike.  No round starts that would end after the time
 *     budget (every cell keeps the same number of samples).  peers_rounds.c.
 *   - noise: the workers count their involuntary context switches around
 *     each sample; the output says how many samples something preempted.
 *   - reported (peers_report.c): the median of the N samples (ns per pair
 *     per thread, and the aggregate M pairs/s), its ratio to pcpupool's in
 *     the same cell, and p50/p99/p99.9/max of one allocation from the
 *     batches; then the targets pcpupool is held to.
 *   - correctness: a NULL from any allocation is a wrong result; at the
 *     end each free list, stack and mempool must hold all its elements.
 *
 * Output: the table on stdout; bench/results/<date>.json with every figure
 * and the machine; bench/results/<date>-latency.dat and, when gnuplot is
 * installed, <date>.png (bench/plot.gnuplot) with the latency
 * distributions (peers_output.c).  --quick names them <date>-quick.*.
 *
 * Shared mutable state: the parent has one struct bench made by main() and
 * bench_stop_requested, set by SIGINT/SIGTERM.  A competitor process:
 * peers_child.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pcpupool.h"
#include "peers.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

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
"from TSC-timed batches of %d; then how pcpupool meets its performance targets.\n"
"\n"
"  --quick          smoke test: %u samples, %u+%u ms per sample (well under\n"
"                   20 s); files are named <date>-quick.*\n"
"  --samples N      samples per cell (default %u, 1..%u); a sample spends\n"
"                   about %u+%u ms in each cell, and no round starts that\n"
"                   would end after %u s (%u s with --quick)\n"
"  --only LIST      run only these competitors (comma-separated names below)\n"
BENCH_OPTS_USAGE_DAEMON
"  --results DIR    where to write <date>.json, <date>-latency.dat and\n"
"                   <date>.png (default: bench/results of the source tree)\n"
"  --no-results     print the table only\n"
"  --plot FILE      gnuplot script for the PNG (default: bench/plot.gnuplot)\n"
"  --no-refill      accepted and ignored: the refill figures are bench_refill's\n"
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
		);
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
	enum { OPT_ONLY = BENCH_OPT_NEXT, OPT_PLOT, OPT_NO_REFILL, OPT_COMPETITOR,
	       OPT_CONTROL_FD, OPT_POOL_PREFIX };
	static const struct option longopts[] = {
		BENCH_OPTS_LONGOPTS,
		{ "samples",     required_argument, NULL, 's' },
		{ "only",        required_argument, NULL, OPT_ONLY },
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
		if (bench_opts_take(&ret->common, c))
			continue;
		switch (c) {
		case 's':
			if (bench_parse_u64(optarg, 1, PEERS_MAX_SAMPLES, &samples) < 0) {
				fprintf(stderr, "bench_peers: --samples wants 1..%u\n",
					PEERS_MAX_SAMPLES);
				return -EINVAL;
			}
			break;
		case OPT_ONLY:
			if (parse_only(optarg, ret->selected) < 0)
				return -EINVAL;
			break;
		case OPT_PLOT:
			ret->plot = optarg;
			break;
		case OPT_NO_REFILL:
			break;
		case OPT_COMPETITOR:
			if (peer_by_name(optarg, strlen(optarg)) < 0) {
				fprintf(stderr, "bench_peers: unknown competitor '%s'\n", optarg);
				return -EINVAL;
			}
			ret->competitor = optarg;
			break;
		case OPT_CONTROL_FD:
			if (bench_parse_u64(optarg, 0, INT_MAX, &fd) < 0) {
				fprintf(stderr, "bench_peers: bad --control-fd\n");
				return -EINVAL;
			}
			ret->control_fd = (int)fd;
			break;
		case OPT_POOL_PREFIX:
			ret->pool_prefix = optarg;
			break;
		default:
			return bench_opt_help_or_bad(c, usage);
		}
	}
	if (bench_no_operands(argc, argv, "bench_peers", usage) < 0)
		return -EINVAL;
	if (ret->competitor && ret->control_fd < 0) {
		fprintf(stderr, "bench_peers: --competitor is internal and needs --control-fd "
			"(use --only NAME to run one competitor)\n");
		return -EINVAL;
	}
	ret->samples = samples ? (uint32_t)samples
		       : ret->common.quick ? PEERS_QUICK_SAMPLES : PEERS_DEFAULT_SAMPLES;
	ret->pair_ms = ret->common.quick ? PEERS_QUICK_PAIR_MS : PEERS_DEFAULT_PAIR_MS;
	ret->batch_ms = ret->common.quick ? PEERS_QUICK_BATCH_MS : PEERS_DEFAULT_BATCH_MS;
	ret->warm_pairs = ret->common.quick ? PEERS_QUICK_WARM_PAIRS : PEERS_WARM_PAIRS;
	ret->warm_batches = ret->common.quick ? PEERS_QUICK_WARM_BATCH : PEERS_WARM_BATCHES;
	ret->budget_s = ret->common.quick ? PEERS_QUICK_BUDGET_S : PEERS_DEFAULT_BUDGET_S;
	return 0;
}

/* The daemon to measure against (an existing one at --socket or
 * $PCPUPOOL_SOCKET, else one started here) with one pool per size.
 * Return 0, or -errno with @why. */
static int pools_prepare(struct bench *b, char *why, size_t len)
{
	int r = pooldaemon_attach(&b->d, b->o.common.socket, b->o.common.daemon, b->dirs.exe,
				  why, len);

	if (r < 0)
		return r;
	snprintf(b->prefix, sizeof(b->prefix), "bench-peers-%d", (int)getpid());
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		struct pcpupool_create_opts co = {
			.sz = sizeof(co), .low_watermark = PEERS_POOL_LOW,
		};
		char name[PEERS_NAME_MAX + 16];

		peer_pool_name(name, sizeof(name), b->prefix, peer_sizes[si]);
		b->pools[si] = pcpupool_create_opts(b->d.client, name, PEERS_PER_CPU,
						    peer_sizes[si], PEERS_CACHELINE, &co);
		if (!b->pools[si]) {
			bench_set_why(why, len, "pcpupool_create(%s) on %s: %s", name, b->d.sock,
				      strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* The pools, then the daemon if it was started here. */
static void pools_destroy(struct bench *b)
{
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		if (b->pools[si] && pcpupool_destroy(b->pools[si]) < 0)
			pcpupool_close(b->pools[si]);
		b->pools[si] = NULL;
	}
	pooldaemon_stop(&b->d);
}

/* Every competitor selected, and the memory for its samples. */
static int runs_init(struct bench *b)
{
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
			    !r->cell[c].wmps)
				return -ENOMEM;
		}
	}
	return 0;
}

static void runs_free(struct bench *b)
{
	for (int p = 0; p < NR_PEERS; p++) {
		if (b->run[p].state != PRUN_OFF && b->run[p].cell[0].ha)
			free(b->run[p].cell[0].ha);   /* one block for all cells */
		for (int c = 0; c < PEERS_NR_CELLS; c++) {
			free(b->run[p].cell[c].ns);
			free(b->run[p].cell[c].mps);
			free(b->run[p].cell[c].wns);
			free(b->run[p].cell[c].wmps);
		}
	}
}

static int parent_main(struct bench *b)
{
	struct target t[MAX_TARGETS];
	uint64_t wrong = 0;
	int nt, ret = BENCH_EXIT_OK;
	double run_s;

	b->t_start = bench_now_ns();
	bench_catch_stop_signals();
	resultfile_find_dirs(&b->dirs, "bench/bench_peers.c");
	bench_cpu_model(b->cpu_model, sizeof(b->cpu_model));
	b->nr_threads = bench_pick_cpus((uint32_t)get_nprocs_conf(), b->cpus, PEERS_MAX_THREADS);
	if (b->nr_threads <= 0) {
		fprintf(stderr, "bench_peers: no usable CPU\n");
		return BENCH_EXIT_SETUP;
	}
	b->tcount[0] = 1;
	b->tcount[1] = b->nr_threads;
	b->hz = bench_tick_hz();
	if (getloadavg(&b->load_start, 1) != 1)
		b->load_start = -1;
	if (runs_init(b) < 0) {
		fprintf(stderr, "bench_peers: out of memory\n");
		return BENCH_EXIT_SETUP;
	}

	if (b->o.selected[PEER_PCPUPOOL] || b->o.selected[PEER_PCPUPOOL_CALL]) {
		char why[sizeof(b->run[0].why)];

		if (pools_prepare(b, why, sizeof(why)) < 0)
			for (int p = 0; p < NR_PEERS; p++)
				if (peer_list[p]->ours && b->o.selected[p]) {
					b->run[p].state = PRUN_UNAVAILABLE;
					memcpy(b->run[p].why, why, sizeof(why));
				}
	}
	for (int p = 0; p < NR_PEERS && !bench_stop_requested; p++)
		if (peers_running(&b->run[p]))
			rounds_spawn(b, p);
	if (!bench_stop_requested)
		rounds_warm_up(b);
	if (!bench_stop_requested)
		rounds_run(b);
	for (int p = 0; p < NR_PEERS; p++) {
		if (peers_running(&b->run[p]) && !bench_stop_requested)
			rounds_finish(b, p);
		else
			rounds_reap(&b->run[p], true);
	}
	pools_destroy(b);
	if (bench_stop_requested) {
		fprintf(stderr, "bench_peers: interrupted\n");
		return BENCH_EXIT_SETUP;
	}
	run_s = (double)(bench_now_ns() - b->t_start) / 1e9;

	report_header(b);
	report_table(b);
	nt = report_targets(b, t);
	report_print_targets(t, nt);
	report_noise(b);
	report_checks(b, &wrong);
	printf("\nrun time %.1f s\n", run_s);
	if (!b->o.common.no_results)
		output_write(b, t, nt, run_s);

	for (int p = 0; p < NR_PEERS; p++)
		if (b->run[p].state == PRUN_FAILED)
			ret = BENCH_EXIT_WRONG;
	if (wrong)
		ret = BENCH_EXIT_WRONG;
	if (b->o.selected[PEER_PCPUPOOL] && b->run[PEER_PCPUPOOL].state != PRUN_DONE)
		ret = BENCH_EXIT_SETUP;
	return ret;
}

int main(int argc, char **argv)
{
	struct bench *b;
	struct options o;
	int ret;

	if (parse_options(argc, argv, &o) < 0)
		return BENCH_EXIT_SETUP;
	if (o.competitor)
		return child_main(o.competitor, o.control_fd, o.common.socket, o.pool_prefix);
	b = calloc(1, sizeof(*b));
	if (!b)
		return BENCH_EXIT_SETUP;
	b->o = o;
	ret = parent_main(b);
	runs_free(b);
	free(b);
	return ret;
}
