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
 *
 * The files: slab_bench.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

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
			if (bench_parse_u64(optarg, 1, BENCH_MAX_SAMPLES, &samples) < 0) {
				fprintf(stderr, "bench_slab: --samples wants 1..%u\n",
					BENCH_MAX_SAMPLES);
				return -EINVAL;
			}
			break;
		case 'p':
			if (bench_parse_u64(optarg, BENCH_MIN_PAIRS, BENCH_MAX_PAIRS, &pairs) < 0) {
				fprintf(stderr, "bench_slab: --pairs wants %u..%u\n",
					BENCH_MIN_PAIRS, BENCH_MAX_PAIRS);
				return -EINVAL;
			}
			break;
		case 't':
			if (bench_parse_u64(optarg, 0, BENCH_MAX_MAX_TIME, &max_time) < 0) {
				fprintf(stderr, "bench_slab: --max-time wants 0..%u\n",
					BENCH_MAX_MAX_TIME);
				return -EINVAL;
			}
			have_max_time = true;
			break;
		case 'q':
			quick = true;
			break;
		default:
			return bench_opt_help_or_bad(c, usage);
		}
	}
	if (bench_no_operands(argc, argv, "bench_slab", usage) < 0)
		return -EINVAL;
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
	comps_run(b, comp, nthreads, pairs, ret);
	cl->bad += ret->bad;
	cl->refills += ret->refills;
	if (cell_is_slab(comp) && !warm) {
		cl->deviations += (uint64_t)slabpool_check_steady(&b->sp, b->w, b->nr_workers,
								  requests0, comps[comp].name);
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

int main(int argc, char **argv)
{
	struct bench b;         /* lives until the workers are joined */
	struct cell cells[NR_CELLS];
	struct options o;
	struct sample smp;
	uint32_t nr_cpus;
	int cpus[BENCH_MAX_THREADS], nr_used, r, ret = BENCH_EXIT_SETUP;
	uint64_t requests0, t_start = bench_now_ns();
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
	nr_used = bench_pick_cpus(nr_cpus, cpus, BENCH_MAX_THREADS);
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
	    comps_mlist_init(&b.ml, BENCH_PREFILL * (uint32_t)nr_used) < 0) {
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
	if (comps_start_workers(&b, cpus, nr_used) < 0)
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
	comps_place_hot(&b);
	requests0 = slabpool_requests(&b.sp);
	if (slabpool_check_steady(&b.sp, b.w, b.nr_workers, requests0, "slab after warm-up"))
		wrong++;

	/* round r starts at cell r mod cells and walks forward when r is even,
	 * backward when it is odd: neighbours swap order round by round */
	for (rounds = 0; rounds < o.samples; rounds++) {
		uint32_t round = rounds, step = round % 2 ? NR_CELLS - 1 : 1;

		if (round > 0 && o.max_time_ns && bench_now_ns() - t_start > o.max_time_ns)
			break;   /* every cell has the same number of samples */
		for (int k = 0; k < NR_CELLS; k++) {
			int i = (int)((round + (uint32_t)k * step) % NR_CELLS);

			if (!cells[i].enabled)
				continue;
			run_cell(&b, &cells[i], comp_of_cell(i), threads_of_cell(i),
				 cells[i].pairs, false, requests0, &smp);
		}
	}
	comps_quit(&b);

	results_print(&b, cells, &o, rounds, (double)(bench_now_ns() - t_start) / 1e9, nr_used);
	wrong += results_checks(&b, cells);
	results_headline(&b, cells);
	ret = wrong ? BENCH_EXIT_WRONG : BENCH_EXIT_OK;

out:
	for (int i = 0; i < NR_CELLS; i++) {
		free(cells[i].ns);
		free(cells[i].mps);
	}
	free(b.hot_mem);
	floor_destroy(&b.fl);
	if (b.ml.nodes)
		comps_mlist_destroy(&b.ml);
	slabpool_destroy(&b.sp);
	return ret;
}
