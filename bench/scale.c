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
 * The modules (scale.h): scale_daemon.c starts and reads the daemon,
 * scale_measure.c measures one P into a row, this file has the options,
 * the table, the JSON lines and --report.
 *
 * Shared mutable state: opt.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "protocol.h"   /* PCP_MAX_POOLS, PCP_MAX_REPLY */
#include "scale.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#ifndef PCPUPOOLD
#error "PCPUPOOLD must name the daemon binary (the Makefile passes -DPCPUPOOLD=...)"
#endif
#ifndef SCALE_PRELOAD
#error "SCALE_PRELOAD must name scale_cpus.so (the Makefile passes -DSCALE_PRELOAD=...)"
#endif

#define SCALE_MAX_ROWS       64

static struct scale_opts opt = {
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

		if (measure_row(&opt, opt.pools[i], &row) < 0) {
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
