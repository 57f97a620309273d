/* SPDX-License-Identifier: MIT */
/*
 * refill.h - bench_refill's figures and what they are measured on
 * (refill_measure.c measures, bench_refill.c reports).  Benchmark code
 * only.
 */
#ifndef PCPUPOOL_BENCH_REFILL_H
#define PCPUPOOL_BENCH_REFILL_H

#include <stdbool.h>
#include <stdint.h>

#define REFILL_MAX_CPUS         16       /* the first CPUs this process may use */
#define REFILL_CLIENTS          8
#define REFILL_DRAW_MIN_NR      64       /* the reserve, smaller than the burst */
#define REFILL_WHY              256
#define TARGET_MISS_NS          200.0    /* NOWAIT miss, median */
#define TARGET_REFILL_US        50.0     /* async refill, p99 */

struct pcpupool_client;

/* What the measurements run on: a connected daemon and the CPUs. */
struct refill_env {
	struct pcpupool_client *client;
	const char *sock;           /* its socket, for the client processes */
	const char *prefix;         /* of the names of the pools made here */
	int cpus[REFILL_MAX_CPUS];
	int nr_cpus;
	double hz;                  /* bench_tick() ticks per second */
	bool quick;                 /* fewer rounds */
};

/* Latencies in ns, sorted; @lost: waits given up after REFILL_WAIT_MS;
 * @dry: rounds where the reserve ran dry before it crossed the watermark;
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
	char why[REFILL_WHY];    /* why some figure is missing */
	struct lat miss;         /* one NOWAIT miss, every reserve dry */
	struct lat one;          /* low watermark crossed -> refill seen, 1 client */
	struct lat many;         /* the same, REFILL_CLIENTS clients */
	struct lat wake;         /* baseline: a datagram wakes a sleeping process */
	int many_clients;
	uint32_t draw_ms;
	uint64_t draw_allocs, draw_misses;
};

/* Every figure into @f (zeroed first), on pools of its own made in @e's
 * daemon; what could not be measured is said in f->why. */
void refill_measure(const struct refill_env *e, struct refill_figs *f);

/* What refill_measure() allocated. */
void refill_free(struct refill_figs *f);

#endif
