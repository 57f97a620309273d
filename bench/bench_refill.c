// SPDX-License-Identifier: MIT
/*
 * bench_refill.c - what pcpupool's refills cost, against a real pcpupoold
 * (one this program starts on a temporary socket, or the one at --socket /
 * $PCPUPOOL_SOCKET), pcpupool alone, through its public API, on pools of
 * its own (refill_measure.c):
 *
 *   - the cost of a NOWAIT allocation that finds every reserve dry: a pool
 *     whose maximum is exactly its reserves, all of it held, then
 *     allocations timed one by one (each may send a refill request the
 *     daemon cannot serve: part of the cost a caller pays);
 *   - the time from the allocation that takes a CPU's reserve under its
 *     low watermark to the refill showing in the reserve (the pool's spare
 *     lands in that allocation; its request goes as a message, or is left
 *     to the daemon's poll), the allocation and its request included, with
 *     1 client and with REFILL_CLIENTS client processes (a pool each,
 *     spread over the CPUs), and how many of those requests went each way;
 *   - the baseline any asynchronous refill is bound by here: a datagram
 *     waking a process asleep on the other CPU;
 *   - the rate a producer sustains from a 64-element reserve while a
 *     consumer on the other CPU frees everything (elements come back only
 *     through the daemon).
 *
 * Output: the figures on stdout, and the "refill" object of
 * bench/results/<date>.json (bench_peers' file of the day: added to it, or
 * a file of its own with the machine when there is none); --quick makes
 * that <date>-quick.json.
 *
 * Shared mutable state: bench_stop_requested; refill_measure.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "pooldaemon.h"
#include "refill.h"
#include "resultfile.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <jansson.h>

/* What the results file says about the run, besides the figures. */
struct run {
	struct resultfile_dirs dirs;
	char cpu_model[128];
	double load_start;       /* 1-minute load average before the run */
	const struct pooldaemon *d;
	const struct refill_env *e;
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: bench_refill [--quick] [--socket PATH] [--daemon PATH]\n"
"                    [--results DIR] [--no-results] [--help]\n"
"\n"
"Refill figures for pcpupool: the cost of a NOWAIT allocation when every\n"
"reserve is dry; the time from the allocation that takes a CPU's reserve\n"
"under its low watermark to the refill showing (the pool's spare, or the\n"
"daemon's refill when the spare is empty), the allocation and its request\n"
"included, for 1 client and for %d (one pool each, spread over the CPUs),\n"
"with how many of those requests were sent as messages and how many were\n"
"left to the daemon's poll; the rate a producer on one CPU sustains from a\n"
"64-element reserve while a consumer on another frees everything, and how\n"
"often it misses.\n"
"\n"
"  --quick          smoke test: fewer rounds; the file is <date>-quick.json\n"
BENCH_OPTS_USAGE_DAEMON
"  --results DIR    where <date>.json is (default: bench/results of the\n"
"                   source tree): the figures go into its \"refill\" object\n"
"  --no-results     print the figures only\n"
"  --help           print this text and exit\n"
"\n"
"Exit status: 0 done (the targets are figures, not pass/fail), 2 usage or\n"
"setup error (no daemon to measure against).\n",
		REFILL_CLIENTS);
}

static int parse_options(int argc, char **argv, struct bench_opts *ret)
{
	static const struct option longopts[] = {
		BENCH_OPTS_LONGOPTS,
		{ "help",        no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(ret, 0, sizeof(*ret));
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (bench_opts_take(ret, c))
			continue;
		return bench_opt_help_or_bad(c, usage);
	}
	return bench_no_operands(argc, argv, "bench_refill", usage);
}

static double lat_q(const struct lat *l, double q)
{
	return bench_quantile_sorted(l->v, l->n, q);
}

static void print_lat_row(const char *what, const struct lat *l, double scale,
			  const char *unit, const char *target, bool met)
{
	if (!l->n) {
		printf("  %-40s n/a%s%s\n", what, l->lost ? ", all lost" : "", "");
		return;
	}
	printf("  %-40s p50 %8.2f %s  p99 %8.2f %s  max %9.2f %s  (%u", what,
	       lat_q(l, 0.5) / scale, unit, lat_q(l, 0.99) / scale, unit,
	       l->v[l->n - 1] / scale, unit, l->n);
	if (l->lost)
		printf(", %u lost", l->lost);
	if (l->dry)
		printf(", %u ran dry", l->dry);
	if (l->unseen)
		printf(", %u unseen", l->unseen);
	printf(")  %s: %s\n", target, met ? "met" : "MISSED");
	if (l->sent + l->quiet)
		printf("  %-40s %llu by message, %llu raised for the daemon's poll "
		       "(no syscall)\n", "    requests of those crossings",
		       (unsigned long long)l->sent, (unsigned long long)l->quiet);
	if (l->served_p99_us > 0)
		printf("  %-40s p50 %.0f us, p99 %.0f us (the daemon's histogram, worst pool;\n"
		       "  %-40s the spare had refilled the reserve at once)\n",
		       "    request raised -> daemon restocked", l->served_p50_us,
		       l->served_p99_us, "");
}

static void print_refill(const struct refill_figs *f)
{
	char what[64];

	printf("\nrefill figures for pcpupool:\n");
	if (!f->run) {
		printf("  not measured: %s\n", f->why);
		return;
	}
	print_lat_row("NOWAIT miss, every reserve dry", &f->miss, 1, "ns",
		      "target p50 <= 200 ns", f->miss.n && lat_q(&f->miss, 0.5) <= TARGET_MISS_NS);
	print_lat_row("low watermark -> refill, 1 client", &f->one, 1e3, "us",
		      "target p99 <= 50 us",
		      f->one.n && !f->one.lost && lat_q(&f->one, 0.99) <= TARGET_REFILL_US * 1e3);
	snprintf(what, sizeof(what), "low watermark -> refill, %d clients", f->many_clients);
	print_lat_row(what, &f->many, 1e3, "us", "target p99 <= 50 us",
		      f->many.n && !f->many.lost &&
		      lat_q(&f->many, 0.99) <= TARGET_REFILL_US * 1e3);
	if (f->wake.n)
		printf("  %-40s p50 %8.2f us  p99 %8.2f us  max %9.2f us  (%u)  the floor of "
		       "a refill that waits for the daemon\n", "baseline: datagram wakes a sleeper",
		       lat_q(&f->wake, 0.5) / 1e3, lat_q(&f->wake, 0.99) / 1e3,
		       f->wake.v[f->wake.n - 1] / 1e3, f->wake.n);
	if (f->draw_ms) {
		double s = f->draw_ms / 1e3;
		uint64_t tries = f->draw_allocs + f->draw_misses;

		printf("  %-40s %.2f M allocs/s, %.2f M misses/s (%.1f%% of attempts) "
		       "over %u ms\n", "sustained draw, reserve 64 < burst",
		       (double)f->draw_allocs / s / 1e6, (double)f->draw_misses / s / 1e6,
		       100.0 * (double)f->draw_misses / (double)(tries ? tries : 1), f->draw_ms);
	}
	if (f->why[0])
		printf("  note: %s\n", f->why);
}

static json_t *json_latset(const struct lat *l, double scale)
{
	if (!l->n)
		return json_pack("{s:i, s:i, s:i, s:i}", "n", 0, "lost", (int)l->lost,
				 "ran_dry", (int)l->dry, "unseen", (int)l->unseen);
	return json_pack("{s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:i, s:I, s:I, s:f, s:f}",
			 "p50", lat_q(l, 0.5) / scale, "p90", lat_q(l, 0.9) / scale,
			 "p99", lat_q(l, 0.99) / scale, "max", l->v[l->n - 1] / scale,
			 "n", (int)l->n, "lost", (int)l->lost, "ran_dry", (int)l->dry,
			 "unseen", (int)l->unseen, "requests_sent", (json_int_t)l->sent,
			 "requests_quiet", (json_int_t)l->quiet,
			 "daemon_served_p50_us_max", l->served_p50_us,
			 "daemon_served_p99_us_max", l->served_p99_us);
}

static json_t *json_refill(const struct refill_figs *f)
{
	json_t *o = json_object();

	json_object_set_new(o, "measured", json_boolean(f->run));
	if (f->why[0])
		json_object_set_new(o, "note", json_string(f->why));
	if (!f->run)
		return o;
	json_object_set_new(o, "nowait_miss_ns", json_latset(&f->miss, 1));
	json_object_set_new(o, "refill_1_client_us", json_latset(&f->one, 1e3));
	json_object_set_new(o, "refill_8_clients_us", json_latset(&f->many, 1e3));
	json_object_set_new(o, "baseline_datagram_wake_us", json_latset(&f->wake, 1e3));
	if (f->draw_ms)
		json_object_set_new(o, "sustained_draw", json_pack(
			"{s:i, s:i, s:f, s:f, s:I, s:I}", "reserve_per_cpu", REFILL_DRAW_MIN_NR,
			"ms", (int)f->draw_ms,
			"allocs_per_s", (double)f->draw_allocs * 1e3 / f->draw_ms,
			"misses_per_s", (double)f->draw_misses * 1e3 / f->draw_ms,
			"allocs", (json_int_t)f->draw_allocs,
			"misses", (json_int_t)f->draw_misses));
	return o;
}

/* The figures into the day's results file: bench_peers' if it wrote one,
 * else one of its own with the machine. */
static void write_results(const struct run *r, const struct bench_opts *o,
			  const struct refill_figs *f)
{
	char date[16], dir[PATH_MAX], path[PATH_MAX + 64];
	json_t *root;
	int e;

	resultfile_date(date, sizeof(date));
	e = resultfile_dir(dir, sizeof(dir), o->results, &r->dirs);
	if (e < 0) {
		fprintf(stderr, "bench_refill: %s: %s; no result file written\n", dir,
			strerror(-e));
		return;
	}
	snprintf(path, sizeof(path), "%s/%s%s.json", dir, date, o->quick ? "-quick" : "");
	if (!access(path, F_OK)) {
		json_error_t err;

		root = json_load_file(path, 0, &err);
		if (!json_is_object(root)) {
			fprintf(stderr, "bench_refill: %s: %s; left as it is, no result "
				"file written\n", path, root ? "not a JSON object" : err.text);
			json_decref(root);
			return;
		}
	} else {
		root = json_object();
		json_object_set_new(root, "bench", json_string("bench_refill"));
		json_object_set_new(root, "date", json_string(date));
		json_object_set_new(root, "mode", json_string(o->quick ? "quick" : "default"));
		json_object_set_new(root, "machine", resultfile_machine(
			r->cpu_model, r->e->cpus, r->e->nr_cpus, r->e->hz, r->load_start));
		json_object_set_new(root, "daemon", json_pack("{s:s, s:b}", "socket",
			r->d->sock, "started_by_bench", r->d->own));
	}
	json_object_set_new(root, "refill", json_refill(f));
	if (json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(6)))
		fprintf(stderr, "bench_refill: cannot write %s\n", path);
	else
		printf("\nresults: %s\n", path);
	json_decref(root);
}

int main(int argc, char **argv)
{
	struct pooldaemon d;
	struct refill_env e;
	struct refill_figs f;
	struct bench_opts o;
	struct run r;
	char prefix[32];
	int ret = BENCH_EXIT_OK;

	if (parse_options(argc, argv, &o) < 0)
		return BENCH_EXIT_SETUP;
	memset(&d, 0, sizeof(d));
	memset(&e, 0, sizeof(e));
	memset(&f, 0, sizeof(f));
	memset(&r, 0, sizeof(r));
	r.d = &d;
	r.e = &e;
	bench_catch_stop_signals();
	resultfile_find_dirs(&r.dirs, "bench/bench_refill.c");
	bench_cpu_model(r.cpu_model, sizeof(r.cpu_model));
	e.nr_cpus = bench_pick_cpus((uint32_t)get_nprocs_conf(), e.cpus, REFILL_MAX_CPUS);
	if (e.nr_cpus <= 0) {
		fprintf(stderr, "bench_refill: no usable CPU\n");
		return BENCH_EXIT_SETUP;
	}
	e.hz = bench_tick_hz();
	e.quick = o.quick;
	if (getloadavg(&r.load_start, 1) != 1)
		r.load_start = -1;

	if (pooldaemon_attach(&d, o.socket, o.daemon, r.dirs.exe, f.why, sizeof(f.why)) == 0) {
		snprintf(prefix, sizeof(prefix), "bench-refill-%d", (int)getpid());
		e.client = d.client;
		e.sock = d.sock;
		e.prefix = prefix;
		refill_measure(&e, &f);
	}
	pooldaemon_stop(&d);
	if (bench_stop_requested) {
		fprintf(stderr, "bench_refill: interrupted\n");
		refill_free(&f);
		return BENCH_EXIT_SETUP;
	}
	print_refill(&f);
	if (!o.no_results)
		write_results(&r, &o, &f);
	if (!f.run)
		ret = BENCH_EXIT_SETUP;
	refill_free(&f);
	return ret;
}
