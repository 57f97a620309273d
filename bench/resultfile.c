// SPDX-License-Identifier: MIT
/*
 * resultfile.c - where the benchmarks' files are: resultfile.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "resultfile.h"

#include <errno.h>
#include <gnu/libc-version.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#if defined(__clang__)
#define BENCH_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define BENCH_COMPILER "gcc " __VERSION__
#else
#define BENCH_COMPILER "unknown"
#endif

void resultfile_find_dirs(struct resultfile_dirs *d, const char *marker)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	snprintf(d->exe, sizeof(d->exe), ".");
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(d->exe, sizeof(d->exe), "%s", exe);
		}
	}
	if (!access(marker, R_OK)) {
		snprintf(d->src, sizeof(d->src), "bench");
		return;
	}
	snprintf(d->src, sizeof(d->src), "%.*s/../../bench", (int)(sizeof(d->src) - 16), d->exe);
}

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int resultfile_dir(char *buf, size_t len, const char *results,
		   const struct resultfile_dirs *d)
{
	if (results)
		snprintf(buf, len, "%s", results);
	else
		snprintf(buf, len, "%.*s/results", PATH_MAX - 16, d->src);
	return mkdir_p(buf);
}

void resultfile_date(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
}

json_t *resultfile_machine(const char *cpu_model, const int *cpus, int nr_cpus, double hz,
			   double load)
{
	json_t *used = json_array(), *m;
	struct utsname u;

	for (int i = 0; i < nr_cpus; i++)
		json_array_append_new(used, json_integer(cpus[i]));
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	m = json_pack("{s:s, s:i, s:i, s:o, s:s, s:s, s:s, s:f}",
		      "cpu_model", cpu_model, "cpus_online", get_nprocs(),
		      "cpus_configured", get_nprocs_conf(), "cpus_used", used,
		      "kernel", u.release, "glibc", gnu_get_libc_version(),
		      "compiler", BENCH_COMPILER, "tsc_ghz", hz / 1e9);
	json_object_set_new(m, "load_average_before", json_real(load));
	return m;
}
