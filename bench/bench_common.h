/* SPDX-License-Identifier: MIT */
/*
 * bench_common.h - what both benchmarks share: the order statistics they
 * report (median and quartiles) and the CPU model they name.  Header-only,
 * benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_COMMON_H
#define PCPUPOOL_BENCH_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Out of line the way a shared library's entry points are: noipa also
 * stops GCC from cloning the function for its constant arguments or
 * learning from its body at the call site. */
#ifdef __has_attribute
#if __has_attribute(noipa)
#define BENCH_OUT_OF_LINE __attribute__((noinline, noipa))
#endif
#endif
#ifndef BENCH_OUT_OF_LINE
#define BENCH_OUT_OF_LINE __attribute__((noinline))
#endif
/* Out-of-line entry points and the loops that call them start on a cache
 * line of their own, so that where the linker puts them does not tilt the
 * comparisons. */
#define BENCH_HOT_ALIGN __attribute__((aligned(64)))

/* A decimal option value in [lo, hi]: 0 and *ret, or -EINVAL. */
static inline int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
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

struct stats {
	bool valid;
	double med, p25, p75;
};

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median and quartiles of x[0..n) (x is not reordered). */
static inline struct stats stats_of(const double *x, uint32_t n)
{
	struct stats st = { .valid = false };
	double *s;

	if (n == 0)
		return st;
	s = malloc(sizeof(*s) * n);
	if (!s)
		return st;
	memcpy(s, x, sizeof(*s) * n);
	qsort(s, n, sizeof(*s), cmp_double);
	st.valid = true;
	st.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	st.p25 = s[(n - 1) / 4];
	st.p75 = s[(3 * (n - 1) + 3) / 4];
	free(s);
	return st;
}

/* The CPU's model name from /proc/cpuinfo ("unknown" if none). */
static inline void cpu_model(char *buf, size_t sz)
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

#endif
