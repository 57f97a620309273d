/* SPDX-License-Identifier: MIT */
/*
 * scale.h - bench/scale's options, the row of figures one pool count
 * gives, and its modules (scale.c says what the program measures):
 *
 *   scale_daemon.c   the pcpupoold measured: started on a socket of its
 *                    own, reconfigured, stopped; its CPU time, read calls
 *                    and memory (/proc), its statistics and "stats" replies
 *   scale_measure.c  the measurement of one pool count: sweeps, the
 *                    attach, poll ticks, the "stats" reply; one row
 *   scale.c          the options, the table and JSON lines, --report, main
 *
 * Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_SCALE_H
#define PCPUPOOL_BENCH_SCALE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The daemon's configuration: P pools of these, the rest its defaults. */
#define SCALE_ELEM_SIZE      64
#define SCALE_MIN_NR         16
#define SCALE_SWEEP_MS       50       /* the default */
#define SCALE_POLL_US        1000     /* the default */
#define SCALE_SWEEP_OFF_MS   60000    /* the largest: no sweep in a poll window */
#define SCALE_LINGER_MS      60000    /* the largest: the pools poll throughout */
#define SCALE_START_MS       120000   /* 256 pools of 64 CPUs under emulation */

struct pcpupool_client;

struct scale_opts {
	const char *daemon, *preload, *json, *label;
	int pools[8], nr_pools;
	int cpus, threads, reps, sweep_ms, poll_ms;
};

/* What one run of one P measured; the JSON line has the same names. */
struct row {
	char label[32];
	int cpus, online, nodes, pools, threads;
	double calib_ns;                     /* the calibration loop */
	double rss_kb, pss_kb, anon_kb, pool_kb, state_kb;   /* idle */
	double sweep_ns, sweep_busy;         /* nothing attached */
	double sweep_att_ns, sweep_att_busy; /* every pool attached */
	double attach_mean_us, attach_p50_us, attach_p99_us, attach_max_us, attach_total_ms;
	double attach_q1_us, attach_q4_us;   /* mean of the first, last quarter opened */
	double rss_att_kb, pss_att_kb, anon_att_kb, pool_att_kb;
	double client_kb;                    /* the attaching process's RSS growth */
	double tick1_ns, ticks1;             /* one pool polling */
	double tick_ns, ticks, tick_busy;    /* all P polling */
	double ticks_nominal;                /* the windows / refill_poll_us */
	double stats1_b, stats_b, stats_err; /* "stats" reply bytes: one pool, all
					      * (0: failed with errno stats_err) */
	bool poll_ok;                        /* the pools polled through the windows */
};

/* ---- scale_daemon.c ---- */

struct daemon_run {
	pid_t pid;
	clockid_t clock;
	char dir[64], cfg[96], sock[96], log[96];
	int reloads;                         /* "configuration reloaded" lines */
};

/* One reading of the daemon: when, its CPU time, its read calls. */
struct daemon_sample {
	uint64_t t_ns, cpu_ns;
	long long syscr;
};

/* The daemon's resident memory in kB: @m[MEM_RSS], [MEM_PSS], [MEM_HEAP]
 * (anonymous), and of its memfds, [MEM_POOL] the pools' (which clients map
 * too) and [MEM_STATE] their depots' (its own).  By mapping, not by the
 * kind of memory: in a VM booted from an initramfs the libraries are shmem
 * as well. */
enum { MEM_RSS, MEM_PSS, MEM_HEAP, MEM_POOL, MEM_STATE, MEM_NR };

/* Start the daemon @o->daemon (with @o->preload for @o->cpus CPUs, if
 * set) with @pools pools and wait until its loop runs: 0, or -errno.
 * daemon_stop() cleans up whatever the outcome. */
int daemon_start(struct daemon_run *d, const struct scale_opts *o, int pools);

/* Reload the configuration with a sweep every @sweep_ms; wait until done:
 * 0, or -1. */
int daemon_reload(struct daemon_run *d, int pools, int sweep_ms);

void daemon_stop(struct daemon_run *d);

/* Sample the daemon, sleep @ms, sample it again: @a and @b. */
void daemon_window(const struct daemon_run *d, int ms, struct daemon_sample *a,
		   struct daemon_sample *b);

void daemon_memory(const struct daemon_run *d, double m[MEM_NR]);

/* The number after "@key" on its line of /proc/@pid/@file, or -1: of the
 * daemon, or of this process (its own RSS). */
long long daemon_proc_field(pid_t pid, const char *file, const char *key);

/* The daemon's nr_cpus (a slab each), as its statistics say, or 0. */
int daemon_cpus(struct pcpupool_client *c);

/* Whether pool @name polls now, as its statistics say. */
bool daemon_polling(struct pcpupool_client *c, const char *name);

/* The length of the daemon's "stats" reply for pool @name (NULL: every
 * pool) on a connection of its own, or 0 with the errno in @err: a reply
 * grows with pools × CPUs, and the protocol bounds it (PCP_MAX_REPLY). */
double daemon_stats_bytes(const char *sock, const char *name, double *err);

/* ---- scale_measure.c ---- */

/* The whole measurement of @pools pools with options @o into @r: 0, or -1
 * with the reason said on stderr. */
int measure_row(const struct scale_opts *o, int pools, struct row *r);

#endif
