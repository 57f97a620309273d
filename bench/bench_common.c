// SPDX-License-Identifier: MIT
/*
 * bench_common.c - what every benchmark shares: bench_common.h.
 *
 * Shared mutable state: bench_stop_requested, set by the signal handler;
 * bench_timer_overhead()'s scratch array (one caller at a time).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_TSC_CALIB_MS  50
#define BENCH_TIMER_READS   4001     /* back-to-back reads, odd */

volatile sig_atomic_t bench_stop_requested;

int bench_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	char *end;
	unsigned long long x;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	x = strtoull(s, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -EINVAL;
	*ret = x;
	return 0;
}

int bench_opt_help_or_bad(int c, bench_usage_fn *usage)
{
	if (c == 'h') {
		usage(stdout);
		exit(BENCH_EXIT_OK);
	}
	usage(stderr);
	return -EINVAL;
}

int bench_no_operands(int argc, char **argv, const char *prog, bench_usage_fn *usage)
{
	if (optind >= argc)
		return 0;
	fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
	usage(stderr);
	return -EINVAL;
}

void bench_census_start(struct bench_census *cs, uint64_t nr)
{
	cs->seen = calloc(nr / 8 + 1, 1);
	cs->nr = nr;
	cs->found = 0;
	cs->bad = !cs->seen;
}

bool bench_census_count(struct bench_census *cs, uint64_t i)
{
	cs->found++;
	if (!cs->seen || i >= cs->nr || (cs->seen[i / 8] & (1u << (i % 8)))) {
		cs->bad = true;
		return false;
	}
	cs->seen[i / 8] |= (uint8_t)(1u << (i % 8));
	return true;
}

int bench_census_end(struct bench_census *cs, const char *who)
{
	bool ok = !cs->bad && cs->found == cs->nr;

	if (!cs->seen)
		fprintf(stderr, "%s: no memory for the census of its elements\n", who);
	else if (!ok)
		fprintf(stderr, "%s: elements lost, duplicated or invented (found %llu of %llu)\n",
			who, (unsigned long long)cs->found, (unsigned long long)cs->nr);
	free(cs->seen);
	cs->seen = NULL;
	return !ok;
}

bool bench_opts_take(struct bench_opts *o, int c)
{
	switch (c) {
	case 'q':
		o->quick = true;
		return true;
	case BENCH_OPT_SOCKET:
		o->socket = optarg;
		return true;
	case BENCH_OPT_DAEMON:
		o->daemon = optarg;
		return true;
	case BENCH_OPT_RESULTS:
		o->results = optarg;
		return true;
	case BENCH_OPT_NO_RESULTS:
		o->no_results = true;
		return true;
	default:
		return false;
	}
}

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

struct bench_stats bench_stats_of(const double *x, uint32_t n)
{
	struct bench_stats st = { .valid = false };
	double *s;

	if (n == 0)
		return st;
	s = malloc(sizeof(*s) * n);
	if (!s)
		return st;
	memcpy(s, x, sizeof(*s) * n);
	qsort(s, n, sizeof(*s), bench_cmp_double);
	st.valid = true;
	st.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	st.p25 = s[(n - 1) / 4];
	st.p75 = s[(3 * (n - 1) + 3) / 4];
	free(s);
	return st;
}

double bench_quantile_sorted(const double *v, uint32_t n, double q)
{
	uint32_t r;

	if (!n)
		return 0;
	r = (uint32_t)(q * n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1];
}

const char *bench_fmt_ratio(char *buf, size_t sz, bool valid, double x, double base)
{
	if (!valid || !(base > 0))
		snprintf(buf, sz, "n/a");
	else
		snprintf(buf, sz, "%.2fx", x / base);
	return buf;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_tick_hz(void)
{
#if defined(__x86_64__)
	struct timespec ts = { 0, BENCH_TSC_CALIB_MS * 1000000L };
	uint64_t c0 = bench_tick(), t0 = bench_now_ns(), c1, t1;

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	c1 = bench_tick();
	t1 = bench_now_ns();
	return (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
#else
	return 1e9;
#endif
}

uint64_t bench_timer_overhead(void)
{
	static uint64_t d[BENCH_TIMER_READS];

	for (int i = 0; i < BENCH_TIMER_READS; i++) {
		uint64_t t0 = bench_tick();

		d[i] = bench_tick() - t0;
	}
	qsort(d, BENCH_TIMER_READS, sizeof(d[0]), bench_cmp_u64);
	return d[BENCH_TIMER_READS / 2];
}

void bench_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void bench_cpu_model(char *buf, size_t sz)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, sz, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon++;
		colon += strspn(colon, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, sz, "%s", colon);
		break;
	}
	fclose(f);
}

int bench_pick_cpus(uint32_t nr_cpus_conf, int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && (uint32_t)c < nr_cpus_conf && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

int bench_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return sched_getcpu() == cpu ? 0 : -EINVAL;
}

void bench_set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void on_stop_signal(int sig)
{
	(void)sig;
	bench_stop_requested = 1;
}

void bench_catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
