/* SPDX-License-Identifier: MIT */
/*
 * peers.h - bench_peers' parent process: its options, what it keeps per
 * competitor and cell, and its modules (bench_peers.c says what the
 * program does):
 *
 *   peers_rounds.c   the competitors' processes: start, warm-up, rounds,
 *                    results, end
 *   peers_report.c   the figures of a cell, the table, the targets, the
 *                    noise and the checks on stdout
 *   peers_output.c   the results files: JSON, latency data, plot
 *   peers_child.c    a competitor's process (child_main())
 *
 * Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_PEERS_H
#define PCPUPOOL_BENCH_PEERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "peer.h"
#include "peers_proto.h"
#include "pooldaemon.h"
#include "resultfile.h"

#define PEERS_POOL_LOW          32       /* pcpupool low watermark */

struct pcpupool;

/* the targets pcpupool is held to */
#define TARGET_FLOOR_RATIO      1.5      /* pair vs the rseq floor */
#define TARGET_SCALING          1.8      /* 2-thread aggregate vs 1 */
#define TARGET_P999_NS          100.0    /* alloc p99.9, all CPUs busy */
#define MAX_TARGETS             32

struct options {
	struct bench_opts common;    /* --quick, --socket, --daemon, --results... */
	uint32_t samples;
	uint32_t pair_ms;
	uint32_t batch_ms;
	uint64_t warm_pairs;
	uint64_t warm_batches;
	uint32_t budget_s;       /* rounds: no new round would end after it */
	bool selected[NR_PEERS];
	const char *plot;        /* gnuplot script */
	/* internal: a competitor process */
	const char *competitor;
	int control_fd;
	const char *pool_prefix;
};

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

/* One competitor's process, seen from the parent. */
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

struct bench {
	struct options o;
	struct prun run[NR_PEERS];
	struct pooldaemon d;
	struct pcpupool *pools[PEERS_NR_SIZES];  /* pcpupool's, in the daemon */
	char prefix[PEERS_NAME_MAX];             /* of their names */
	struct resultfile_dirs dirs;
	char cpu_model[128];
	double hz;                  /* ticks per second */
	int nr_threads;
	int cpus[PEERS_MAX_THREADS];
	int tcount[PEERS_NR_TCOUNTS];
	uint64_t t_start;
	double load_start;          /* 1-minute load average before the run */
	uint32_t rounds_done;       /* samples per cell actually taken */
};

static inline bool peers_running(const struct prun *r)
{
	return r->state == PRUN_READY;
}

/* Everything reported about one cell. */
struct cellrep {
	bool valid;
	bool wall;                           /* ns, mps are the wall clock's */
	struct bench_stats ns, mps;          /* running chunks */
	struct bench_stats wns, wmps;        /* wall clock */
	double a50, a90, a99, a999, amax;   /* alloc, ns per operation */
	double f50, f99, f999, fmax;         /* free */
	uint64_t batches;                    /* in the percentiles */
};

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

/* peers_rounds.c */
void rounds_spawn(struct bench *b, int p);
void rounds_warm_up(struct bench *b);
void rounds_run(struct bench *b);
void rounds_finish(struct bench *b, int p);
void rounds_reap(struct prun *r, bool kill_it);

/* peers_report.c */
struct cellrep report_cell(const struct bench *b, int p, int c);
double report_op_ns(const struct bench *b, double cycles);
const char *report_threads_word(int n);
void report_header(const struct bench *b);
void report_table(const struct bench *b);
int report_targets(const struct bench *b, struct target *t);
bool report_target_met(const struct target *t);
void report_print_targets(const struct target *t, int n);
void report_noise(const struct bench *b);
void report_checks(const struct bench *b, uint64_t *wrong);

/* peers_output.c: the results files, unless --no-results */
void output_write(const struct bench *b, const struct target *t, int nt, double run_s);

/* peers_child.c: the process of competitor @competitor (--competitor) */
int child_main(const char *competitor, int control_fd, const char *socket,
	       const char *pool_prefix);

#endif
