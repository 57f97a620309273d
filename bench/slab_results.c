// SPDX-License-Identifier: MIT
/*
 * slab_results.c - what bench_slab prints: the table of medians and ratios
 * against the floor, the spread of each cell, the checks of every
 * competitor's results, and the headline figures at 1 thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/rseq.h>

/* Width of the competitor column: the longest name. */
#define NAME_W 40

/* @x with @decimals decimals, or "n/a" unless @valid. */
static const char *fmt_fixed(char *buf, size_t sz, bool valid, int decimals, double x)
{
	if (!valid)
		snprintf(buf, sz, "n/a");
	else
		snprintf(buf, sz, "%.*f", decimals, x);
	return buf;
}

static const char *fmt_num(char *buf, size_t sz, bool valid, double x)
{
	return fmt_fixed(buf, sz, valid, 2, x);
}

/* The statistics of @comp's samples at @nthreads threads. */
static struct bench_stats cell_stats(const struct cell *cells, int comp, int nthreads)
{
	const struct cell *cl = &cells[cell_of(comp, nthreads)];

	return bench_stats_of(cl->ns, cl->n);
}

/* One headline line: the median of @num over the median of @den, 1 thread. */
static void print_ratio(const struct cell *cells, const char *what, int num, int den)
{
	struct bench_stats sn = cell_stats(cells, num, 1), sd = cell_stats(cells, den, 1);

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
	struct bench_stats full = cell_stats(cells, COMP_SLAB_INLINE, 1);
	struct bench_stats noown = cell_stats(cells, COMP_SLAB_NOOWNER, 1);
	struct bench_stats nochk = cell_stats(cells, COMP_SLAB_NOCHECK, 1);
	struct bench_stats fl = cell_stats(cells, COMP_FLOOR, 1);

	if (!full.valid || !noown.valid || !nochk.valid || !fl.valid) {
		printf("inline pair over the floor: n/a (a cell is unavailable)\n");
		return;
	}
	printf("inline pair over the floor (1 thread): %+.2f ns = owner mark %+.2f"
	       " + offset check %+.2f + the rest %+.2f (watermark and bounds checks,"
	       " offsets)\n", full.med - fl.med, full.med - noown.med,
	       noown.med - nochk.med, nochk.med - fl.med);
}

void results_print(const struct bench *b, const struct cell *cells, const struct options *o,
		   uint32_t rounds, double elapsed_s, int nr_threads_max)
{
	struct bench_stats s1[NR_COMPS], s2[NR_COMPS], a2[NR_COMPS];
	char model[256], x1[32], r1[32], x2[32], m2[32], r2[32], q1[32], q3[32];
	bool any_reduced = false;

	bench_cpu_model(model, sizeof(model));
	for (int c = 0; c < NR_COMPS; c++) {
		const struct cell *c1 = &cells[cell_of(c, 1)], *c2 = &cells[cell_of(c, 2)];

		s1[c] = bench_stats_of(c1->ns, c1->n);
		s2[c] = bench_stats_of(c2->ns, c2->n);
		a2[c] = bench_stats_of(c2->mps, c2->n);
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
		       bench_fmt_ratio(r1, sizeof(r1), s1[c].valid && s1[COMP_FLOOR].valid,
				       s1[c].med, s1[COMP_FLOOR].med),
		       fmt_num(x2, sizeof(x2), s2[c].valid, s2[c].med),
		       fmt_fixed(m2, sizeof(m2), a2[c].valid, 1, a2[c].med),
		       bench_fmt_ratio(r2, sizeof(r2), s2[c].valid && s2[COMP_FLOOR].valid,
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

uint64_t results_checks(const struct bench *b, const struct cell *cells)
{
	uint64_t wrong = 0;
	int r;

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
		if (!cell_counts(b, c))
			printf(" (must not count: %s)\n", c == COMP_SLAB_NOSTATS
			       ? "stats off" : "no rseq sections");
		else if (da >= pairs && df >= pairs)
			printf(" (over-count %llu / %llu: restarted sections)\n",
			       (unsigned long long)(da - pairs), (unsigned long long)(df - pairs));
		else
			printf(" (UNDER-COUNTED)\n");
	}
	r = slabpool_check_final(&b->sp) + comps_mlist_check(&b->ml);
	if (b->fl.usable)
		r += floor_check(&b->fl, "floor");
	printf("  final accounting: %s\n", r ? "FAILED (see stderr)"
	       : "every element of every competitor found exactly once");
	wrong += (uint64_t)r;
	return wrong;
}

/* The cost of the statistics counters, out-of-line at 1 thread: the
 * medians of stats on over stats off, then the same figure round by round
 * (the two samples of a round run moments apart): how far to trust it. */
static void print_stats_overhead(const struct bench *b, const struct cell *cells)
{
	struct bench_stats on = cell_stats(cells, COMP_SLAB_OOL, 1);
	struct bench_stats off = cell_stats(cells, COMP_SLAB_NOSTATS, 1);
	const struct cell *con = &cells[cell_of(COMP_SLAB_OOL, 1)];
	const struct cell *coff = &cells[cell_of(COMP_SLAB_NOSTATS, 1)];
	uint32_t n = con->n < coff->n ? con->n : coff->n;
	struct bench_stats sd = { .valid = false };
	double *d;

	if (!b->sp.v.rseq_cpus) {
		printf("stats overhead (1 thread, out-of-line): n/a (rseq unusable: "
		       "the fallback path does not count) (target <= %.0f%%)\n",
		       BENCH_TARGET_STATS_PCT);
		return;
	}
	if (!on.valid || !off.valid || !(off.med > 0)) {
		printf("stats overhead (1 thread, out-of-line): n/a (target <= %.0f%%)\n",
		       BENCH_TARGET_STATS_PCT);
		return;
	}
	printf("stats overhead (1 thread, out-of-line): %+.1f%% (target <= %.0f%%)\n",
	       (on.med / off.med - 1) * 100, BENCH_TARGET_STATS_PCT);
	d = calloc(n ? n : 1, sizeof(*d));
	for (uint32_t k = 0; d && k < n; k++)
		d[k] = (con->ns[k] / coff->ns[k] - 1) * 100;
	if (d)
		sd = bench_stats_of(d, n);
	if (sd.valid)
		printf("  round by round: median %+.1f%%, 25th..75th pct "
		       "%+.1f%%..%+.1f%% (%u rounds)\n", sd.med, sd.p25, sd.p75, n);
	free(d);
}

void results_headline(const struct bench *b, const struct cell *cells)
{
	printf("\n");
	print_ratio(cells, "slab/floor ratio (1 thread, out-of-line)", COMP_SLAB_OOL,
		    COMP_FLOOR_OOL);
	print_ratio(cells, "slab/floor ratio (1 thread, inline)", COMP_SLAB_INLINE, COMP_FLOOR);
	print_breakdown(cells);
	print_stats_overhead(b, cells);
}
