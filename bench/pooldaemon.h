/* SPDX-License-Identifier: MIT */
/*
 * pooldaemon.h - the pcpupoold bench_peers and bench_refill measure
 * against: a running one (--socket or $PCPUPOOL_SOCKET), or one started
 * here on a socket in a fresh temporary directory and stopped at the end.
 * Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_POOLDAEMON_H
#define PCPUPOOL_BENCH_POOLDAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pcpupool_client;

struct pooldaemon {
	bool own;                   /* started here */
	pid_t pid;
	char dir[64];
	char sock[128];
	char cfg[128];
	char log[128];
	struct pcpupool_client *client;
};

/**
 * pooldaemon_attach() - connect to the daemon to measure against.
 * @d: zeroed; pooldaemon_stop() cleans up whatever the outcome.
 * @socket: its socket, or NULL for $PCPUPOOL_SOCKET, or if that is unset
 *          or empty, a pcpupoold started here.
 * @bin: the pcpupoold to start, or NULL for ../pcpupoold beside @exe_dir.
 * @exe_dir: the directory of the running benchmark.
 * @why: the reason on failure, @len bytes.
 *
 * Return: 0 with d->client connected, or -errno.
 */
int pooldaemon_attach(struct pooldaemon *d, const char *socket, const char *bin,
		      const char *exe_dir, char *why, size_t len);

/* Disconnect; stop the daemon and remove its files if it was started
 * here. */
void pooldaemon_stop(struct pooldaemon *d);

#endif
