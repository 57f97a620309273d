// SPDX-License-Identifier: MIT
/*
 * scale_daemon.c - the pcpupoold bench/scale measures: one of its own per
 * pool count, started on a socket in a fresh temporary directory with a
 * configuration of P pools (scale.h), reconfigured by SIGHUP, stopped; and
 * what is read of it: its CPU time (clock_getcpuclockid()), its read calls
 * and memory (/proc/PID/io, smaps), its statistics and the length of its
 * "stats" replies.  scale.c says what each figure is.
 *
 * Shared mutable state: the daemon it starts (struct daemon_run).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "pcpupool.h"
#include "scale.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define SCALE_STOP_MS        30000

/* ---- reading /proc ---- */

long long daemon_proc_field(pid_t pid, const char *file, const char *key)
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

static void sample(const struct daemon_run *d, struct daemon_sample *s)
{
	struct timespec ts;

	s->t_ns = bench_now_ns();
	clock_gettime(d->clock, &ts);
	s->cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	s->syscr = daemon_proc_field(d->pid, "io", "syscr:");
}

void daemon_window(const struct daemon_run *d, int ms, struct daemon_sample *a,
		   struct daemon_sample *b)
{
	sample(d, a);
	bench_sleep_ms(ms);
	sample(d, b);
}

void daemon_memory(const struct daemon_run *d, double m[MEM_NR])
{
	pid_t pid = d->pid;
	char path[64], line[512];
	double *sum = NULL;
	FILE *f;

	m[MEM_RSS] = (double)daemon_proc_field(pid, "smaps_rollup", "Rss:");
	m[MEM_PSS] = (double)daemon_proc_field(pid, "smaps_rollup", "Pss:");
	m[MEM_HEAP] = (double)daemon_proc_field(pid, "smaps_rollup", "Anonymous:");
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

int daemon_start(struct daemon_run *d, const struct scale_opts *o, int pools)
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
		if (o->cpus) {
			snprintf(n, sizeof(n), "%d", o->cpus);
			setenv("SCALE_NR_CPUS", n, 1);
			setenv("LD_PRELOAD", o->preload, 1);
		}
		execl(o->daemon, "pcpupoold", "--config", d->cfg, "--socket", d->sock,
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

int daemon_reload(struct daemon_run *d, int pools, int sweep_ms)
{
	if (write_config(d, pools, sweep_ms) < 0 || kill(d->pid, SIGHUP) < 0)
		return -1;
	return log_wait(d, "configuration reloaded", ++d->reloads);
}

void daemon_stop(struct daemon_run *d)
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

int daemon_cpus(struct pcpupool_client *c)
{
	char *s = pcpupool_stats_json(c, "scale0");
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	int n = (int)json_integer_value(json_object_get(json_object_get(
		json_object_get(j, "stats"), "daemon"), "nr_cpus"));

	json_decref(j);
	free(s);
	return n;
}

double daemon_stats_bytes(const char *sock, const char *name, double *err)
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

bool daemon_polling(struct pcpupool_client *c, const char *name)
{
	char *s = pcpupool_stats_json(c, name);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	json_t *pools = json_object_get(json_object_get(j, "stats"), "pools");
	bool on = json_is_true(json_object_get(json_array_get(pools, 0), "polling"));

	json_decref(j);
	free(s);
	return on;
}
