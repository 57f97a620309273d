// SPDX-License-Identifier: MIT
/*
 * scale.c - how pcpupoold's own cost grows with the number of pools and of
 * CPUs: its memory, the CPU time of one sweep and of one poll tick, and the
 * time a client takes to attach every pool.  Figures, not pass/fail.
 *
 * For each pool count P (--pools, default 1,64,256) it starts a pcpupoold
 * of its own on a temporary socket, with a configuration of P pools of
 * 64-byte elements, min_nr 16 (the rest defaults: sweep_interval_ms 50,
 * refill_poll_us 1000), and measures in turn:
 *
 *   idle      the daemon's RSS, PSS, heap and the memfds it has touched
 *             (the pools', the depots'), then its CPU time per sweep: the
 *             least of --reps windows of --sweep-ms, nothing but sweeps;
 *   attach    one process opens every pool (a connection per
 *             PCP_MAX_ATTACH_PER_CLIENT pools, the daemon's limit), each
 *             pcpupool_open() timed; the daemon's memory after;
 *   attached  CPU time per sweep again, over one window of --reps times
 *             --sweep-ms (the sweep now also looks up the attached
 *             process's CPUs, in a placement pass every 500 ms: a long
 *             window averages whole passes);
 *   poll      the sweep timer pushed away (the configuration reloaded
 *             with sweep_interval_ms 60000), a refill request sent to one
 *             pool, then to all, so that the daemon polls them (for
 *             refill_poll_linger_ms 60000), and its CPU time per poll
 *             tick, the least of --reps windows of --poll-ms, with 1 and
 *             with P pools polling.  No flag is raised: this is the cost
 *             of looking;
 *   stats     the length of a "stats" reply for one pool and for all, on
 *             a connection of its own (the whole one outgrows the
 *             protocol's bound, PCP_MAX_REPLY, with pools × CPUs).
 *
 * CPU time is the daemon's own clock (clock_getcpuclockid()).  Sweeps are
 * counted from the configuration (elapsed / interval); ticks exactly: each
 * one read()s the poll's timerfd once, and /proc/PID/io counts the
 * daemon's read calls (syscr), which nothing else it does in a poll
 * window makes.  The least of several windows: what disturbs a window
 * (another process, an emulator's host) only adds.  A calibration loop
 * timed here puts the machine's speed in each row, so that rows of
 * different machines (or emulators) can be compared in ratios (--report).
 *
 * --cpus N preloads --preload (scale_cpus.so) into the daemon so that it
 * lays out a slab per CPU for N possible CPUs, this machine's online: a
 * machine that declares more CPUs than it has online (CPU hotplug, many a
 * cloud VM), and the daemon's walks over N CPUs in this machine's real
 * time.  --threads N gives the attaching process N more threads, idle
 * from the attach on: the placement pass looks at each of them, for each
 * pool.
 *
 * Output: one table row per P on stdout; with --json FILE also one JSON
 * object per row, a line each, appended to FILE ("-": stdout).
 * --report FILE reads such lines (of several runs: bench/scale-vm.sh runs
 * this in VMs of 1, 16 and 64 vCPUs) and prints them side by side with
 * their growth: against the row of the fewest pools on the same machine,
 * and against the row of as many pools on the machine of the fewest CPUs.
 *
 * Shared mutable state: opt; the daemon it starts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "pcpupool.h"
#include "protocol.h"   /* PCP_MAX_ATTACH_PER_CLIENT, PCP_MAX_POOLS */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#ifndef PCPUPOOLD
#error "PCPUPOOLD must name the daemon binary (the Makefile passes -DPCPUPOOLD=...)"
#endif
#ifndef SCALE_PRELOAD
#error "SCALE_PRELOAD must name scale_cpus.so (the Makefile passes -DSCALE_PRELOAD=...)"
#endif

#define SCALE_ELEM_SIZE      64
#define SCALE_MIN_NR         16
#define SCALE_SWEEP_MS       50       /* the default */
#define SCALE_POLL_US        1000     /* the default */
#define SCALE_SWEEP_OFF_MS   60000    /* the largest: no sweep in a poll window */
#define SCALE_LINGER_MS      60000    /* the largest: the pools poll throughout */
#define SCALE_SETTLE_MS      300      /* after the start, after the attach */
#define SCALE_HEAT_MS        200      /* for the daemon to take the requests */
#define SCALE_SLICE_MS       50       /* to see that it has */
#define SCALE_START_MS       120000   /* 256 pools of 64 CPUs under emulation */
#define SCALE_STOP_MS        30000
#define SCALE_MAX_ROWS       64

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

struct daemon_run {
	pid_t pid;
	clockid_t clock;
	char dir[64], cfg[96], sock[96], log[96];
	int reloads;                         /* "configuration reloaded" lines */
};

/* One reading of the daemon: when, its CPU time, its read calls. */
struct sample {
	uint64_t t_ns, cpu_ns;
	long long syscr;
};

static struct {
	const char *daemon, *preload, *json, *label;
	int pools[8], nr_pools;
	int cpus, threads, reps, sweep_ms, poll_ms;
} opt = {
	.daemon = PCPUPOOLD, .preload = SCALE_PRELOAD, .label = "",
	.pools = { 1, 64, 256 }, .nr_pools = 3, .reps = 3, .sweep_ms = 800, .poll_ms = 400,
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: scale [OPTION]...         measure pcpupoold with 1, 64, 256 pools\n"
"       scale --report FILE       the rows of FILE (--json lines) side by side\n"
"\n"
"  --daemon PATH    the pcpupoold to start (default " PCPUPOOLD ")\n"
"  --pools LIST     pool counts, comma-separated (default 1,64,256; at most %d)\n"
"  --cpus N         the daemon lays out N possible CPUs, this machine's online\n"
"                   (preloads --preload PATH, default " SCALE_PRELOAD ")\n"
"  --threads N      the attaching process runs N more threads, idle (default 0)\n"
"  --reps N         windows per figure (default 3)\n"
"  --sweep-ms MS    each sweep window (default 800)\n"
"  --poll-ms MS     each poll window (default 400)\n"
"  --label TEXT     a tag for the JSON lines (the machine, say)\n"
"  --json FILE      also append one JSON line per row to FILE (- for stdout)\n"
"  --report FILE    print the rows of FILE with their growth, and exit\n",
		PCP_MAX_POOLS);
}

/* ---- reading /proc ---- */

/* The number after "@key" on its line of /proc/@pid/@file, or -1. */
static long long pid_field(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	long long v = -1;
	size_t n = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n)) {
			v = strtoll(line + n, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

static void sample(const struct daemon_run *d, struct sample *s)
{
	struct timespec ts;

	s->t_ns = bench_now_ns();
	clock_gettime(d->clock, &ts);
	s->cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	s->syscr = pid_field(d->pid, "io", "syscr:");
}

/* Sample the daemon, sleep @ms, sample it again: @a and @b. */
static void window(const struct daemon_run *d, int ms, struct sample *a, struct sample *b)
{
	sample(d, a);
	bench_sleep_ms(ms);
	sample(d, b);
}

/* The daemon's resident memory in kB: @m[MEM_RSS], [MEM_PSS], [MEM_HEAP]
 * (anonymous), and of its memfds, [MEM_POOL] the pools' (which clients map
 * too) and [MEM_STATE] their depots' (its own).  By mapping, not by the
 * kind of memory: in a VM booted from an initramfs the libraries are shmem
 * as well. */
enum { MEM_RSS, MEM_PSS, MEM_HEAP, MEM_POOL, MEM_STATE, MEM_NR };

static void memory(pid_t pid, double m[MEM_NR])
{
	char path[64], line[512];
	double *sum = NULL;
	FILE *f;

	m[MEM_RSS] = (double)pid_field(pid, "smaps_rollup", "Rss:");
	m[MEM_PSS] = (double)pid_field(pid, "smaps_rollup", "Pss:");
	m[MEM_HEAP] = (double)pid_field(pid, "smaps_rollup", "Anonymous:");
	m[MEM_POOL] = m[MEM_STATE] = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Rss:", 4) && sum)
			*sum += strtod(line + 4, NULL);
		else if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' '))
			sum = strstr(line, "/memfd:pcpupool:") ? &m[MEM_POOL] :
			      strstr(line, "/memfd:pcpupoold:") ? &m[MEM_STATE] : NULL;
	}
	if (f)
		fclose(f);
}

/* ---- the daemon ---- */

static int write_config(const struct daemon_run *d, int pools, int sweep_ms)
{
	FILE *f = fopen(d->cfg, "w");

	if (!f)
		return -errno;
	/* notice: the ready and reloaded lines, and nothing per attach */
	fprintf(f, "{ \"log_level\": \"notice\", \"sweep_interval_ms\": %d,\n"
		"  \"refill_poll_us\": %d, \"refill_poll_linger_ms\": %d,\n  \"pools\": [\n",
		sweep_ms, SCALE_POLL_US, SCALE_LINGER_MS);
	for (int i = 0; i < pools; i++)
		fprintf(f, "    { \"name\": \"scale%d\", \"elem_size\": %d, \"min_nr\": %d }%s\n",
			i, SCALE_ELEM_SIZE, SCALE_MIN_NR, i + 1 < pools ? "," : "");
	fprintf(f, "  ]\n}\n");
	return fclose(f) ? -errno : 0;
}

/* Wait until the daemon's log has @n lines holding @what: 0, or -1 (the
 * daemon died, or SCALE_START_MS passed). */
static int log_wait(const struct daemon_run *d, const char *what, int n)
{
	uint64_t end = bench_now_ns() + SCALE_START_MS * UINT64_C(1000000);

	for (;;) {
		char line[512];
		int seen = 0;
		FILE *f = fopen(d->log, "re");

		while (f && fgets(line, sizeof(line), f))
			seen += strstr(line, what) != NULL;
		if (f)
			fclose(f);
		if (seen >= n)
			return 0;
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid || bench_now_ns() > end)
			return -1;
		bench_sleep_ms(5);
	}
}

/* Start the daemon with @pools pools and wait until its loop runs. */
static int daemon_start(struct daemon_run *d, int pools)
{
	const char *tmp = getenv("TMPDIR");

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s/pcpupool-scale.XXXXXX",
		 tmp && *tmp && strlen(tmp) < 24 ? tmp : "/tmp");
	if (!mkdtemp(d->dir)) {
		d->dir[0] = '\0';
		return -errno;
	}
	snprintf(d->cfg, sizeof(d->cfg), "%s/pcpupoold.json", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s/control.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	if (write_config(d, pools, SCALE_SWEEP_MS) < 0)
		return -EIO;
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		char n[16];

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		if (opt.cpus) {
			snprintf(n, sizeof(n), "%d", opt.cpus);
			setenv("SCALE_NR_CPUS", n, 1);
			setenv("LD_PRELOAD", opt.preload, 1);
		}
		execl(opt.daemon, "pcpupoold", "--config", d->cfg, "--socket", d->sock,
		      (char *)NULL);
		_exit(127);
	}
	if (clock_getcpuclockid(d->pid, &d->clock) || log_wait(d, " ready on ", 1) < 0) {
		fprintf(stderr, "scale: pcpupoold did not start; its log is %s\n", d->log);
		d->dir[0] = '\0';   /* kept */
		return -ECHILD;
	}
	return 0;
}

/* Reload the configuration with a sweep every @sweep_ms; wait until done. */
static int daemon_reload(struct daemon_run *d, int pools, int sweep_ms)
{
	if (write_config(d, pools, sweep_ms) < 0 || kill(d->pid, SIGHUP) < 0)
		return -1;
	return log_wait(d, "configuration reloaded", ++d->reloads);
}

static void daemon_stop(struct daemon_run *d)
{
	uint64_t end = bench_now_ns() + SCALE_STOP_MS * UINT64_C(1000000);

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		while (waitpid(d->pid, NULL, WNOHANG) != d->pid) {
			if (bench_now_ns() > end) {
				kill(d->pid, SIGKILL);
				waitpid(d->pid, NULL, 0);
				break;
			}
			bench_sleep_ms(5);
		}
	}
	if (d->dir[0]) {
		unlink(d->cfg);
		unlink(d->sock);
		unlink(d->log);
		rmdir(d->dir);
	}
}

/* The daemon's nr_cpus (a slab each), as its statistics say, or 0. */
static int daemon_cpus(struct pcpupool_client *c)
{
	char *s = pcpupool_stats_json(c, "scale0");
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	int n = (int)json_integer_value(json_object_get(json_object_get(
		json_object_get(j, "stats"), "daemon"), "nr_cpus"));

	json_decref(j);
	free(s);
	return n;
}

/* The length of the daemon's "stats" reply for pool @name (NULL: every
 * pool) on a connection of its own, or 0 with the errno in @err: a reply
 * grows with pools × CPUs, and the protocol bounds it (PCP_MAX_REPLY). */
static double stats_bytes(const char *sock, const char *name, double *err)
{
	struct pcpupool_client *c = pcpupool_connect(sock);
	char *s = c ? pcpupool_stats_json(c, name) : NULL;
	double n = s ? (double)strlen(s) : 0;

	if (!s)
		*err = errno;
	free(s);
	pcpupool_disconnect(c);
	return n;
}

/* Whether pool @name polls now, as its statistics say. */
static bool polling(struct pcpupool_client *c, const char *name)
{
	char *s = pcpupool_stats_json(c, name);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	json_t *pools = json_object_get(json_object_get(j, "stats"), "pools");
	bool on = json_is_true(json_object_get(json_array_get(pools, 0), "polling"));

	json_decref(j);
	free(s);
	return on;
}

/* ---- what is measured ---- */

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
		struct sample a, b;
		double el, cpu;

		window(d, ms, &a, &b);
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
	struct sample a, b;

	bench_sleep_ms(SCALE_HEAT_MS);
	for (;;) {
		window(d, SCALE_SLICE_MS, &a, &b);
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
static double per_tick(const struct daemon_run *d, struct pcpupool_client *c,
		       struct pcpupool **pool, int n, double *ticks, double *busy, bool *ok)
{
	double best = INFINITY;
	char first[24], last[24];

	for (int i = 0; i < n; i++)
		(void)pcpupool_refill(pool[i], PCPUPOOL_NOWAIT);
	steady(d);
	snprintf(first, sizeof(first), "scale0");
	snprintf(last, sizeof(last), "scale%d", n - 1);
	*ok = polling(c, first) && polling(c, last);
	*ticks = 0;
	for (int i = 0; i < opt.reps; i++) {
		struct sample a, b;
		double t, cpu;

		window(d, opt.poll_ms, &a, &b);
		t = (double)(b.syscr - a.syscr);
		cpu = (double)(b.cpu_ns - a.cpu_ns);
		*ticks += t;
		if (t > 0 && cpu / t < best) {
			best = cpu / t;
			*busy = cpu / (double)(b.t_ns - a.t_ns);
		}
	}
	*ok = *ok && polling(c, first) && polling(c, last);
	return isinf(best) ? NAN : best;
}

/* Open every pool, a connection per PCP_MAX_ATTACH_PER_CLIENT of them,
 * each open timed.  Return 0, or -1 with the reason said. */
static int attach_all(struct row *r, struct pcpupool_client **cl, struct pcpupool **pool)
{
	double us[PCP_MAX_POOLS], sum = 0;
	double self0 = (double)pid_field(getpid(), "smaps_rollup", "Rss:");
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
	r->client_kb = (double)pid_field(getpid(), "smaps_rollup", "Rss:") - self0;
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

/* The whole measurement of @pools pools into @r. */
static int measure(int pools, struct row *r)
{
	struct pcpupool_client *cl[PCP_MAX_POOLS / PCP_MAX_ATTACH_PER_CLIENT + 1] = { 0 };
	int nr_cl = (pools + PCP_MAX_ATTACH_PER_CLIENT - 1) / PCP_MAX_ATTACH_PER_CLIENT;
	struct pcpupool *pool[PCP_MAX_POOLS] = { 0 };
	pthread_t *threads = calloc((size_t)opt.threads + 1, sizeof(*threads));
	struct daemon_run d;
	double m[MEM_NR], busy1;
	bool ok1;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	snprintf(r->label, sizeof(r->label), "%s", opt.label);
	r->pools = pools;
	r->threads = opt.threads;
	r->online = get_nprocs();
	r->nodes = nr_nodes();
	r->calib_ns = calibrate();
	r->ticks_nominal = opt.reps * opt.poll_ms * 1000.0 / SCALE_POLL_US;
	if (daemon_start(&d, pools) < 0)
		goto out;
	bench_sleep_ms(SCALE_SETTLE_MS);

	memory(d.pid, m);
	r->rss_kb = m[MEM_RSS], r->pss_kb = m[MEM_PSS], r->anon_kb = m[MEM_HEAP];
	r->pool_kb = m[MEM_POOL], r->state_kb = m[MEM_STATE];
	r->sweep_ns = per_sweep(&d, opt.reps, opt.sweep_ms, &r->sweep_busy);

	for (int i = 0; i < nr_cl; i++)
		if (!(cl[i] = pcpupool_connect(d.sock))) {
			fprintf(stderr, "scale: pcpupool_connect: %s\n", strerror(errno));
			goto out;
		}
	r->cpus = daemon_cpus(cl[0]);
	if (!threads || park_threads(threads, opt.threads) < 0 || attach_all(r, cl, pool) < 0)
		goto out;
	bench_sleep_ms(SCALE_SETTLE_MS);
	memory(d.pid, m);
	r->rss_att_kb = m[MEM_RSS], r->pss_att_kb = m[MEM_PSS], r->anon_att_kb = m[MEM_HEAP];
	r->pool_att_kb = m[MEM_POOL];
	r->sweep_att_ns = per_sweep(&d, 1, opt.reps * opt.sweep_ms, &r->sweep_att_busy);

	if (daemon_reload(&d, pools, SCALE_SWEEP_OFF_MS) < 0) {
		fprintf(stderr, "scale: the daemon did not reload; its log is %s\n", d.log);
		goto out;
	}
	r->tick1_ns = per_tick(&d, cl[0], pool, 1, &r->ticks1, &busy1, &ok1);
	r->tick_ns = per_tick(&d, cl[0], pool, pools, &r->ticks, &r->tick_busy, &r->poll_ok);
	r->poll_ok = r->poll_ok && ok1;
	r->stats1_b = stats_bytes(d.sock, "scale0", &r->stats_err);
	r->stats_b = stats_bytes(d.sock, NULL, &r->stats_err);
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

/* ---- rows ---- */

#define ROW_FIELDS(X)							\
	X(cpus) X(online) X(nodes) X(pools) X(threads) X(calib_ns)	\
	X(rss_kb) X(pss_kb) X(anon_kb) X(pool_kb) X(state_kb)		\
	X(sweep_ns) X(sweep_busy) X(sweep_att_ns) X(sweep_att_busy)	\
	X(attach_mean_us) X(attach_p50_us) X(attach_p99_us) X(attach_max_us) \
	X(attach_total_ms) X(attach_q1_us) X(attach_q4_us)		\
	X(rss_att_kb) X(pss_att_kb) X(anon_att_kb) X(pool_att_kb) X(client_kb) \
	X(tick1_ns) X(ticks1) X(tick_ns) X(ticks) X(tick_busy) X(ticks_nominal) \
	X(stats1_b) X(stats_b) X(stats_err)

static void json_line(FILE *f, const struct row *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "label", json_string(r->label));
#define X(name) json_object_set_new(o, #name, json_real((double)r->name));
	ROW_FIELDS(X)
#undef X
	json_object_set_new(o, "poll_ok", json_boolean(r->poll_ok));
	json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(6));
	fputc('\n', f);
	fflush(f);
	json_decref(o);
}

static bool json_row(const char *line, struct row *r)
{
	json_t *o = json_loads(line, 0, NULL);

	if (!json_is_object(o))
		return false;
	memset(r, 0, sizeof(*r));
	snprintf(r->label, sizeof(r->label), "%s",
		 json_string_value(json_object_get(o, "label")) ?: "");
#define X(name) r->name = (__typeof__(r->name))json_number_value(json_object_get(o, #name));
	ROW_FIELDS(X)
#undef X
	r->poll_ok = json_is_true(json_object_get(o, "poll_ok"));
	json_decref(o);
	return r->pools > 0 && r->cpus > 0;
}

static void row_header(void)
{
	printf("%5s %6s %5s %5s | %6s %6s %6s %6s %6s | %8s %8s | %8s %8s %4s | %7s %7s %7s\n",
	       "CPUs", "online", "nodes", "pools", "RSS", "PSS", "heap", "pool", "state",
	       "sweep", "+attach", "tick1", "tickP", "busy", "open", "p99", "mean");
	printf("%24s| %34s | %17s | %22s | %23s\n", "", "kB (daemon, idle)",
	       "ns per sweep", "ns per poll tick", "pcpupool_open() us");
}

static void row_print(const struct row *r)
{
	printf("%5d %6d %5d %5d | %6.0f %6.0f %6.0f %6.0f %6.0f | %8.0f %8.0f | %8.0f %8.0f %3.0f%% |"
	       " %7.0f %7.0f %7.0f%s\n",
	       r->cpus, r->online, r->nodes, r->pools, r->rss_kb, r->pss_kb, r->anon_kb, r->pool_kb,
	       r->state_kb, r->sweep_ns, r->sweep_att_ns, r->tick1_ns, r->tick_ns,
	       r->tick_busy * 100, r->attach_p50_us, r->attach_p99_us, r->attach_mean_us,
	       r->poll_ok ? "" : "  (poll not confirmed)");
	fflush(stdout);
}

/* ---- --report ---- */

/* The row of @cpus and @pools among @n, or NULL. */
static const struct row *find(const struct row *rows, int n, int cpus, int pools)
{
	for (int i = 0; i < n; i++)
		if (rows[i].cpus == cpus && rows[i].pools == pools)
			return &rows[i];
	return NULL;
}

static double field(const struct row *r, size_t off)
{
	return *(const double *)(const void *)((const char *)r + off);
}

/* "@x / @bx" as a ratio, each first divided by its row's calibration
 * (@ca, @cb; 1 within one machine), or "-" without a base. */
static const char *ratio(char buf[16], double x, double ca, double bx, double cb)
{
	if (!(bx > 0) || !(ca > 0) || !(cb > 0) || isnan(x))
		return "-";
	snprintf(buf, 16, "%.2fx", (x / ca) / (bx / cb));
	return buf;
}

/* A time of every row (the field at @off, in @unit): its value, against
 * the fewest pools on the same machine, against the fewest CPUs with as
 * many pools (calibrated). */
static void report_time(const struct row *rows, int n, int min_cpus, int min_pools,
			const char *what, const char *unit, size_t off)
{
	char b1[16], b2[16], h1[16], h2[16];

	snprintf(h1, sizeof(h1), "vs %dpool", min_pools);
	snprintf(h2, sizeof(h2), "vs %dCPU", min_cpus);
	printf("\n%s\n%5s %6s %5s | %11s %9s %9s\n", what, "CPUs", "online", "pools", unit,
	       h1, h2);
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		const struct row *p1 = find(rows, n, r->cpus, min_pools);
		const struct row *c1 = find(rows, n, min_cpus, r->pools);

		printf("%5d %6d %5d | %11.0f %9s %9s\n", r->cpus, r->online, r->pools,
		       field(r, off), p1 ? ratio(b1, field(r, off), 1, field(p1, off), 1) : "-",
		       c1 ? ratio(b2, field(r, off), r->calib_ns, field(c1, off), c1->calib_ns) :
			    "-");
	}
}

static void report_memory(const struct row *rows, int n, int min_pools)
{
	printf("\nMemory (kB): the daemon idle; per pool: over the %d-pool row; after: with"
	       " every pool attached\n%5s %6s %5s | %6s %6s %6s %6s %6s | %6s %6s %6s %6s |"
	       " %6s %6s %6s\n", min_pools, "CPUs", "online", "pools", "RSS", "PSS", "heap",
	       "pool", "state", "RSS/p", "heap/p", "pool/p", "stat/p", "RSS", "PSS", "client");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i], *p1 = find(rows, n, r->cpus, min_pools);
		double d = p1 && r->pools > p1->pools ? r->pools - p1->pools : 0;

		printf("%5d %6d %5d | %6.0f %6.0f %6.0f %6.0f %6.0f |", r->cpus, r->online,
		       r->pools, r->rss_kb, r->pss_kb, r->anon_kb, r->pool_kb, r->state_kb);
		if (d)
			printf(" %6.1f %6.1f %6.1f %6.1f |", (r->rss_kb - p1->rss_kb) / d,
			       (r->anon_kb - p1->anon_kb) / d, (r->pool_kb - p1->pool_kb) / d,
			       (r->state_kb - p1->state_kb) / d);
		else
			printf(" %6s %6s %6s %6s |", "-", "-", "-", "-");
		printf(" %6.0f %6.0f %6.0f\n", r->rss_att_kb, r->pss_att_kb, r->client_kb);
	}
}

static void report_attach(const struct row *rows, int n)
{
	printf("\npcpupool_open() of every pool by one process, one after the other (us)\n"
	       "%5s %6s %5s | %9s %9s %9s %9s | %9s %9s | %9s\n", "CPUs", "online", "pools",
	       "median", "p99", "max", "mean", "first 1/4", "last 1/4", "total ms");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		printf("%5d %6d %5d | %9.0f %9.0f %9.0f %9.0f | %9.0f %9.0f | %9.1f\n", r->cpus,
		       r->online, r->pools, r->attach_p50_us, r->attach_p99_us, r->attach_max_us,
		       r->attach_mean_us, r->attach_q1_us, r->attach_q4_us, r->attach_total_ms);
	}
}

static void report_stats(const struct row *rows, int n)
{
	printf("\nThe \"stats\" reply (pcpupoolctl stats, status, pools, top): bytes, at most"
	       " %u\n%5s %6s %5s | %9s %9s | %s\n", PCP_MAX_REPLY, "CPUs", "online", "pools",
	       "one pool", "per CPU", "every pool");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		printf("%5d %6d %5d | %9.0f %9.0f | ", r->cpus, r->online, r->pools, r->stats1_b,
		       r->stats1_b / r->cpus);
		if (r->stats_b > 0)
			printf("%.0f\n", r->stats_b);
		else
			printf("failed: %s\n", strerror((int)r->stats_err));
	}
}

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return x->cpus != y->cpus ? x->cpus - y->cpus : x->pools - y->pools;
}

static int report(const char *path)
{
	struct row rows[SCALE_MAX_ROWS];
	char line[4096];
	int n = 0, min_cpus = INT_MAX, min_pools = INT_MAX;
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;

	if (!f) {
		fprintf(stderr, "scale: %s: %s\n", path, strerror(errno));
		return BENCH_EXIT_SETUP;
	}
	while (n < SCALE_MAX_ROWS && fgets(line, sizeof(line), f))
		if (line[0] == '{' && json_row(line, &rows[n]))
			n++;
	if (f != stdin)
		fclose(f);
	if (!n) {
		fprintf(stderr, "scale: no rows in %s\n", path);
		return BENCH_EXIT_SETUP;
	}
	qsort(rows, (size_t)n, sizeof(rows[0]), cmp_row);
	for (int i = 0; i < n; i++) {
		min_cpus = rows[i].cpus < min_cpus ? rows[i].cpus : min_cpus;
		min_pools = rows[i].pools < min_pools ? rows[i].pools : min_pools;
	}
	printf("The rows (ns of each machine's clock; busy: the daemon's share of the"
	       " best poll window)\n\n");
	row_header();
	for (int i = 0; i < n; i++)
		row_print(&rows[i]);
	report_memory(rows, n, min_pools);
	printf("\nRatios: \"vs %dpool\" against the %d-pool row of as many CPUs; \"vs %dCPU\""
	       " against the %d-CPU row\nof as many pools, each divided first by its"
	       " machine's calibration loop.\n", min_pools, min_pools, min_cpus, min_cpus);
	report_time(rows, n, min_cpus, min_pools, "CPU time per sweep, nothing attached",
		    "ns", offsetof(struct row, sweep_ns));
	report_time(rows, n, min_cpus, min_pools, "CPU time per sweep, every pool attached",
		    "ns", offsetof(struct row, sweep_att_ns));
	report_time(rows, n, min_cpus, min_pools, "CPU time per poll tick, one pool polling",
		    "ns", offsetof(struct row, tick1_ns));
	report_time(rows, n, min_cpus, min_pools, "CPU time per poll tick, every pool polling",
		    "ns", offsetof(struct row, tick_ns));
	report_time(rows, n, min_cpus, min_pools, "pcpupool_open(), median (wall time)",
		    "us", offsetof(struct row, attach_p50_us));
	report_attach(rows, n);
	report_stats(rows, n);
	return BENCH_EXIT_OK;
}

/* ---- main ---- */

static int parse_pools(const char *s)
{
	char *copy = strdup(s), *save = NULL;
	uint64_t v;

	opt.nr_pools = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (opt.nr_pools == (int)(sizeof(opt.pools) / sizeof(opt.pools[0])) ||
		    bench_parse_u64(t, 1, PCP_MAX_POOLS, &v) < 0) {
			free(copy);
			return -EINVAL;
		}
		opt.pools[opt.nr_pools++] = (int)v;
	}
	free(copy);
	return opt.nr_pools ? 0 : -EINVAL;
}

/* A numeric option into @ret: 0, or -EINVAL. */
static int parse_int(const char *s, uint64_t lo, uint64_t hi, int *ret)
{
	uint64_t v;

	if (bench_parse_u64(s, lo, hi, &v) < 0)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "daemon", required_argument, NULL, 'd' },
		{ "preload", required_argument, NULL, 'P' },
		{ "pools", required_argument, NULL, 'p' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 'T' },
		{ "reps", required_argument, NULL, 'n' },
		{ "sweep-ms", required_argument, NULL, 's' },
		{ "poll-ms", required_argument, NULL, 't' },
		{ "label", required_argument, NULL, 'l' },
		{ "json", required_argument, NULL, 'j' },
		{ "report", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	FILE *json = NULL;
	int c, r = 0, failed = 0;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': opt.daemon = optarg; break;
		case 'P': opt.preload = optarg; break;
		case 'l': opt.label = optarg; break;
		case 'j': opt.json = optarg; break;
		case 'r': return report(optarg);
		case 'p': r = parse_pools(optarg); break;
		case 'c': r = parse_int(optarg, 1, 4096, &opt.cpus); break;
		case 'T': r = parse_int(optarg, 0, 1024, &opt.threads); break;
		case 'n': r = parse_int(optarg, 1, 100, &opt.reps); break;
		case 's': r = parse_int(optarg, 100, 60000, &opt.sweep_ms); break;
		case 't': r = parse_int(optarg, 100, 60000, &opt.poll_ms); break;
		default:
			if (bench_opt_help_or_bad(c, usage) < 0)
				return BENCH_EXIT_SETUP;
		}
		if (r < 0) {
			fprintf(stderr, "scale: bad value '%s'\n", optarg);
			usage(stderr);
			return BENCH_EXIT_SETUP;
		}
	}
	if (bench_no_operands(argc, argv, "scale", usage) < 0)
		return BENCH_EXIT_SETUP;
	if (access(opt.daemon, X_OK) || (opt.cpus && access(opt.preload, R_OK))) {
		fprintf(stderr, "scale: no %s (make, or --daemon / --preload PATH)\n",
			access(opt.daemon, X_OK) ? opt.daemon : opt.preload);
		return BENCH_EXIT_SETUP;
	}
	if (opt.json && !(json = strcmp(opt.json, "-") ? fopen(opt.json, "ae") : stdout)) {
		fprintf(stderr, "scale: %s: %s\n", opt.json, strerror(errno));
		return BENCH_EXIT_SETUP;
	}
	row_header();
	for (int i = 0; i < opt.nr_pools; i++) {
		struct row row;

		if (measure(opt.pools[i], &row) < 0) {
			failed = 1;
			continue;
		}
		row_print(&row);
		if (json)
			json_line(json, &row);
	}
	if (json && json != stdout)
		fclose(json);
	return failed ? BENCH_EXIT_SETUP : BENCH_EXIT_OK;
}
