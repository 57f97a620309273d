// SPDX-License-Identifier: MIT
/*
 * pooldaemon.c - the pcpupoold the benchmarks measure against:
 * pooldaemon.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pooldaemon.h"
#include "bench_common.h"
#include "pcpupool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define POOLDAEMON_START_MS   5000
#define POOLDAEMON_STOP_MS    5000

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) == EOF)
		r = -EIO;
	if (fclose(f) == EOF && !r)
		r = -errno;
	return r;
}

/* The last line of the daemon's log, for an error message. */
static void log_tail(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[200];

	snprintf(buf, len, "(no log)");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(buf, len, "%s", line);
	}
	fclose(f);
}

static void daemon_cleanup_files(struct pooldaemon *d)
{
	if (!d->dir[0])
		return;
	unlink(d->sock);
	unlink(d->cfg);
	unlink(d->log);
	rmdir(d->dir);
	d->dir[0] = '\0';
}

/* Start build/pcpupoold on a socket in a fresh directory; wait until it
 * accepts.  Return 0 with d->client connected, or -errno with @why. */
static int daemon_start(struct pooldaemon *d, const char *bin_opt, const char *exe_dir,
			char *why, size_t len)
{
	char bin[PATH_MAX + 16];
	uint64_t deadline;
	int status;

	if (bin_opt)
		snprintf(bin, sizeof(bin), "%s", bin_opt);
	else
		snprintf(bin, sizeof(bin), "%.*s/../pcpupoold", PATH_MAX - 1, exe_dir);
	if (access(bin, X_OK)) {
		bench_set_why(why, len, "no daemon at %s (make, or --daemon PATH)", bin);
		return -ENOENT;
	}
	snprintf(d->dir, sizeof(d->dir), "/tmp/pcpupool-bench.XXXXXX");
	if (!mkdtemp(d->dir)) {
		bench_set_why(why, len, "mkdtemp: %s", strerror(errno));
		d->dir[0] = '\0';
		return -errno;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/control.sock", d->dir);
	snprintf(d->cfg, sizeof(d->cfg), "%s/pcpupoold.json", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	if (write_file(d->cfg, "{ \"log_level\": \"warning\", \"sweep_interval_ms\": 50, "
		       "\"pools\": [] }\n") < 0) {
		bench_set_why(why, len, "cannot write %s", d->cfg);
		return -EIO;
	}
	d->pid = fork();
	if (d->pid < 0) {
		bench_set_why(why, len, "fork: %s", strerror(errno));
		return -errno;
	}
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(nul, STDOUT_FILENO);
		}
		execl(bin, bin, "--config", d->cfg, "--socket", d->sock, (char *)NULL);
		_exit(127);
	}
	d->own = true;
	deadline = bench_now_ns() + POOLDAEMON_START_MS * UINT64_C(1000000);
	while (!d->client) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			char tail[256];

			log_tail(d->log, tail, sizeof(tail));
			bench_set_why(why, len, "pcpupoold exited at start: %s", tail);
			d->pid = 0;
			return -ECHILD;
		}
		if (bench_now_ns() > deadline) {
			bench_set_why(why, len, "pcpupoold did not accept on %s within %d ms",
				      d->sock, POOLDAEMON_START_MS);
			return -ETIMEDOUT;
		}
		if (!access(d->sock, F_OK))
			d->client = pcpupool_connect(d->sock);
		if (!d->client)
			bench_sleep_ms(10);
	}
	return 0;
}

void pooldaemon_stop(struct pooldaemon *d)
{
	pcpupool_disconnect(d->client);
	d->client = NULL;
	if (d->own && d->pid > 0) {
		uint64_t deadline = bench_now_ns() + POOLDAEMON_STOP_MS * UINT64_C(1000000);
		int status;

		kill(d->pid, SIGTERM);
		while (waitpid(d->pid, &status, WNOHANG) != d->pid) {
			if (bench_now_ns() > deadline) {
				kill(d->pid, SIGKILL);
				waitpid(d->pid, &status, 0);
				break;
			}
			bench_sleep_ms(10);
		}
		d->pid = 0;
	}
	if (d->own)
		daemon_cleanup_files(d);
}

int pooldaemon_attach(struct pooldaemon *d, const char *socket, const char *bin,
		      const char *exe_dir, char *why, size_t len)
{
	const char *sock = socket;

	if (!sock) {
		sock = getenv("PCPUPOOL_SOCKET");
		if (sock && !*sock)
			sock = NULL;
	}
	if (!sock)
		return daemon_start(d, bin, exe_dir, why, len);
	snprintf(d->sock, sizeof(d->sock), "%s", sock);
	d->client = pcpupool_connect(sock);
	if (!d->client) {
		bench_set_why(why, len, "pcpupool_connect(%s): %s", sock, strerror(errno));
		return -errno;
	}
	return 0;
}
