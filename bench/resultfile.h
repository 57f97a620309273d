/* SPDX-License-Identifier: MIT */
/*
 * resultfile.h - where bench_peers and bench_refill find their files and
 * put their results: bench/results/<date>[-quick].json and the like, with
 * the machine the figures come from.  Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_RESULTFILE_H
#define PCPUPOOL_BENCH_RESULTFILE_H

#include <limits.h>
#include <stddef.h>

#include <jansson.h>

struct resultfile_dirs {
	char exe[PATH_MAX];      /* where this binary is */
	char src[PATH_MAX];      /* the source tree's bench/ */
};

/* The directory of this binary, and the source tree's bench/ directory:
 * ./bench when @marker (say "bench/bench_peers.c") is readable from here,
 * as from the top of the tree (make bench), else the one two levels above
 * the binary (build/bench/bench_peers). */
void resultfile_find_dirs(struct resultfile_dirs *d, const char *marker);

/* The results directory, created if need be: @results, or results/ in the
 * source tree's bench/.  0, or -errno (@buf holds its name either way). */
int resultfile_dir(char *buf, size_t len, const char *results,
		   const struct resultfile_dirs *d);

/* Today's date as the files are named: 2026-11-26. */
void resultfile_date(char *buf, size_t len);

/* The "machine" object of a results file: the CPU model, the CPUs used,
 * the kernel, glibc, the compiler, the TSC rate (@hz ticks a second) and
 * the 1-minute load average before the run. */
json_t *resultfile_machine(const char *cpu_model, const int *cpus, int nr_cpus, double hz,
			   double load);

#endif
