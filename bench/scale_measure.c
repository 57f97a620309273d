// SPDX-License-Identifier: MIT
/*
 * scale_measure.c - bench/scale's measurement of one pool count P: a
 * daemon of its own (scale_daemon.c), its memory and CPU time per sweep
 * idle, the attach of every pool by this process, the same again attached,
 * its CPU time per poll tick with 1 and with P pools polling, the length
 * of its "stats" replies; and a calibration loop, the machine's speed.
 * scale.c says what each figure is.
 *
 * Shared mutable state: the parked threads (park[], nr_parked), this
 * process's only while a row is measured.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "pcpupool.h"
#include "protocol.h"   /* PCP_MAX_ATTACH_PER_CLIENT, PCP_MAX_POOLS */
#include "scale.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define SCALE_SETTLE_MS      300      /* after the start, after the attach */
#define SCALE_HEAT_MS        200      /* for the daemon to take the requests */
#define SCALE_SLICE_MS       50       /* to see that it has */

/* A fixed amount of work of the kind a sweep does (loads and stores over a
 * few pages, each depending on the last): the least of a few runs, in ns
 * of this machine's clock. */
static double calibrate(void)
{
	static uint32_t a[1 << 14];
	double best = INFINITY;

	for (int rep = 0; rep < 7; rep++) {
		uint64_t t = bench_now_ns();
		uint32_t x = 1;

		for (int i = 0; i < (1 << 21); i++) {
			x = x * 1664525u + 1013904223u;
			a[(x >> 8) & ((1 << 14) - 1)] += x;
		}
		__asm__ __volatile__("" : : "r"(a) : "memory");   /* a is used */
		t = bench_now_ns() - t;
		best = (double)t < best ? (double)t : best;
	}
	return best;
}

/* CPU time per sweep over windows of @ms: the least of @reps of them, and
 * the share of the time the daemon ran in that one into @busy. */
static double per_sweep(const struct daemon_run *d, int reps, int ms, double *busy)
{
	double best = INFINITY;

	for (int i = 0; i < reps; i++) {
		struct daemon_sample a, b;
		double el, cpu;

		daemon_window(d, ms, &a, &b);
		el = (double)(b.t_ns - a.t_ns);
		cpu = (double)(b.cpu_ns - a.cpu_ns);
		if (cpu / (el / (SCALE_SWEEP_MS * 1e6)) < best) {
			best = cpu / (el / (SCALE_SWEEP_MS * 1e6));
			*busy = cpu / el;
		}
	}
	return best;
}

/* Wait until the daemon has taken the requests just sent (a message per
 * pool and CPU, slow under emulation): at least SCALE_HEAT_MS, then until
 * its CPU time in two SCALE_SLICE_MS slices in a row is within a quarter
 * of each other, which the poll alone does (at most SCALE_START_MS). */
static void steady(const struct daemon_run *d)
{
	uint64_t end = bench_now_ns() + SCALE_START_MS * UINT64_C(1000000);
	double prev = -1, cur;
	struct daemon_sample a, b;

	bench_sleep_ms(SCALE_HEAT_MS);
	for (;;) {
		daemon_window(d, SCALE_SLICE_MS, &a, &b);
		cur = (double)(b.cpu_ns - a.cpu_ns);
		if ((prev >= 0 && cur <= 1.25 * prev && prev <= 1.25 * cur) ||
		    bench_now_ns() > end)
			return;
		prev = cur;
	}
}

/* Make pools [0, n) poll (a NOWAIT refill request is a message per CPU,
 * each of which starts its pool's poll), then the daemon's CPU time per
 * poll tick: the least of the windows, their ticks into @ticks, the busy
 * share of the best into @busy; false in @ok unless the first and the
 * last of the pools polled before and after. */
static double per_tick(const struct scale_opts *o, const struct daemon_run *d,
		       struct pcpupool_client *c, struct pcpupool **pool, int n, double *ticks,
		       double *busy, bool *ok)
{
	double best = INFINITY;
	char first[24], last[24];

	for (int i = 0; i < n; i++)
		(void)pcpupool_refill(pool[i], PCPUPOOL_NOWAIT);
	steady(d);
	snprintf(first, sizeof(first), "scale0");
	snprintf(last, sizeof(last), "scale%d", n - 1);
	*ok = daemon_polling(c, first) && daemon_polling(c, last);
	*ticks = 0;
	for (int i = 0; i < o->reps; i++) {
		struct daemon_sample a, b;
		double t, cpu;

		daemon_window(d, o->poll_ms, &a, &b);
		t = (double)(b.syscr - a.syscr);
		cpu = (double)(b.cpu_ns - a.cpu_ns);
		*ticks += t;
		if (t > 0 && cpu / t < best) {
			best = cpu / t;
			*busy = cpu / (double)(b.t_ns - a.t_ns);
		}
	}
	*ok = *ok && daemon_polling(c, first) && daemon_polling(c, last);
	return isinf(best) ? NAN : best;
}

/* Open every pool, a connection per PCP_MAX_ATTACH_PER_CLIENT of them,
 * each open timed.  Return 0, or -1 with the reason said. */
static int attach_all(struct row *r, struct pcpupool_client **cl, struct pcpupool **pool)
{
	double us[PCP_MAX_POOLS], sum = 0;
	double self0 = (double)daemon_proc_field(getpid(), "smaps_rollup", "Rss:");
	int q = (r->pools + 3) / 4;
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < r->pools; i++) {
		struct pcpupool_client *c = cl[i / PCP_MAX_ATTACH_PER_CLIENT];
		char name[24];
		uint64_t t;

		snprintf(name, sizeof(name), "scale%d", i);
		t = bench_now_ns();
		pool[i] = pcpupool_open(c, name);
		us[i] = (double)(bench_now_ns() - t) / 1e3;
		if (!pool[i]) {
			fprintf(stderr, "scale: pcpupool_open(%s): %s\n", name, strerror(errno));
			return -1;
		}
		sum += us[i];
	}
	r->attach_total_ms = (double)(bench_now_ns() - t0) / 1e6;
	r->client_kb = (double)daemon_proc_field(getpid(), "smaps_rollup", "Rss:") - self0;
	for (int i = 0; i < q; i++) {
		r->attach_q1_us += us[i] / q;
		r->attach_q4_us += us[r->pools - q + i] / q;
	}
	qsort(us, (size_t)r->pools, sizeof(us[0]), bench_cmp_double);
	r->attach_mean_us = sum / r->pools;
	r->attach_p50_us = bench_quantile_sorted(us, (uint32_t)r->pools, 0.5);
	r->attach_p99_us = bench_quantile_sorted(us, (uint32_t)r->pools, 0.99);
	r->attach_max_us = us[r->pools - 1];
	return 0;
}

/* Idle threads of this process, which the daemon's placement pass looks
 * at (their CPUs) for every pool the process has attached: they wait for
 * a byte on park[0] that never comes, and end when park[1] is closed. */
static int park[2] = { -1, -1 };
static int nr_parked;

static void *parked(void *arg)
{
	char c;

	(void)arg;
	while (read(park[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static int park_threads(pthread_t *t, int n)
{
	if (pipe2(park, O_CLOEXEC) < 0)
		return -errno;
	for (nr_parked = 0; nr_parked < n; nr_parked++)
		if (pthread_create(&t[nr_parked], NULL, parked, NULL)) {
			fprintf(stderr, "scale: pthread_create failed after %d threads\n", nr_parked);
			return -EAGAIN;
		}
	return 0;
}

static void unpark_threads(pthread_t *t)
{
	if (park[1] >= 0)
		close(park[1]);
	for (int i = 0; i < nr_parked; i++)
		pthread_join(t[i], NULL);
	if (park[0] >= 0)
		close(park[0]);
	park[0] = park[1] = -1;
	nr_parked = 0;
}

static int nr_nodes(void)
{
	glob_t g;
	int n = 1;

	if (glob("/sys/devices/system/node/node[0-9]*", 0, NULL, &g) == 0)
		n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

int measure_row(const struct scale_opts *o, int pools, struct row *r)
{
	struct pcpupool_client *cl[PCP_MAX_POOLS / PCP_MAX_ATTACH_PER_CLIENT + 1] = { 0 };
	int nr_cl = (pools + PCP_MAX_ATTACH_PER_CLIENT - 1) / PCP_MAX_ATTACH_PER_CLIENT;
	struct pcpupool *pool[PCP_MAX_POOLS] = { 0 };
	pthread_t *threads = calloc((size_t)o->threads + 1, sizeof(*threads));
	struct daemon_run d;
	double m[MEM_NR], busy1;
	bool ok1;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	snprintf(r->label, sizeof(r->label), "%s", o->label);
	r->pools = pools;
	r->threads = o->threads;
	r->online = get_nprocs();
	r->nodes = nr_nodes();
	r->calib_ns = calibrate();
	r->ticks_nominal = o->reps * o->poll_ms * 1000.0 / SCALE_POLL_US;
	if (daemon_start(&d, o, pools) < 0)
		goto out;
	bench_sleep_ms(SCALE_SETTLE_MS);

	daemon_memory(&d, m);
	r->rss_kb = m[MEM_RSS], r->pss_kb = m[MEM_PSS], r->anon_kb = m[MEM_HEAP];
	r->pool_kb = m[MEM_POOL], r->state_kb = m[MEM_STATE];
	r->sweep_ns = per_sweep(&d, o->reps, o->sweep_ms, &r->sweep_busy);

	for (int i = 0; i < nr_cl; i++)
		if (!(cl[i] = pcpupool_connect(d.sock))) {
			fprintf(stderr, "scale: pcpupool_connect: %s\n", strerror(errno));
			goto out;
		}
	r->cpus = daemon_cpus(cl[0]);
	if (!threads || park_threads(threads, o->threads) < 0 || attach_all(r, cl, pool) < 0)
		goto out;
	bench_sleep_ms(SCALE_SETTLE_MS);
	daemon_memory(&d, m);
	r->rss_att_kb = m[MEM_RSS], r->pss_att_kb = m[MEM_PSS], r->anon_att_kb = m[MEM_HEAP];
	r->pool_att_kb = m[MEM_POOL];
	r->sweep_att_ns = per_sweep(&d, 1, o->reps * o->sweep_ms, &r->sweep_att_busy);

	if (daemon_reload(&d, pools, SCALE_SWEEP_OFF_MS) < 0) {
		fprintf(stderr, "scale: the daemon did not reload; its log is %s\n", d.log);
		goto out;
	}
	r->tick1_ns = per_tick(o, &d, cl[0], pool, 1, &r->ticks1, &busy1, &ok1);
	r->tick_ns = per_tick(o, &d, cl[0], pool, pools, &r->ticks, &r->tick_busy, &r->poll_ok);
	r->poll_ok = r->poll_ok && ok1;
	r->stats1_b = daemon_stats_bytes(d.sock, "scale0", &r->stats_err);
	r->stats_b = daemon_stats_bytes(d.sock, NULL, &r->stats_err);
	rc = 0;
out:
	for (int i = 0; i < pools; i++)
		if (pool[i])
			pcpupool_close(pool[i]);
	for (int i = 0; i < nr_cl; i++)
		pcpupool_disconnect(cl[i]);
	daemon_stop(&d);
	if (threads)
		unpark_threads(threads);
	free(threads);
	return rc;
}
