/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - pcpupoold's one context, created in main() and passed down:
 * the configuration, the pool registry (pool.h), the control socket
 * (conn.h), the exited clients being watched (watch.h), the timers and
 * the counters the stats report.
 */
#ifndef PCPUPOOLD_DAEMON_H
#define PCPUPOOLD_DAEMON_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

#define PCPUPOOLD_VERSION "1.0.0"

struct pool;
struct cpus;
struct conn_listener;
struct watch;

/* Errors replied, by code, for the stats. */
#define DAEMON_ERR_CODES 24

struct daemon {
	struct event_base *base;
	struct config *cfg;
	const char *config_path;
	bool config_explicit;
	const char *socket_override;
	int log_level_override;      /* --log-level, or -1: the file's */
	char socket_path[108];

	struct pool *pools;          /* singly linked, creation order */
	uint32_t nr_pools;
	uint64_t pool_serial;        /* the last pool's serial */
	uint32_t nr_cpus;            /* slabs per pool: possible CPUs */
	struct cpus *cpus;           /* online, the daemon's own: cpus.h */
	struct conn_listener *listener;  /* the control socket, conn_listen() */
	struct watch *watches;       /* exited clients awaited, watch.c */
	unsigned nr_watches;

	struct event *ev_sweep, *ev_status, *ev_term, *ev_int, *ev_hup;
	/* the refill poll's clock: a periodic timerfd, running while a pool
	 * polls its request flags (a kernel interval timer: nothing to re-arm
	 * per loop iteration, unlike a libevent timeout) */
	int poll_fd;
	struct event *ev_poll;
	uint32_t poll_armed_us;      /* its period, 0: stopped */
	uint64_t watchdog_usec;      /* 0: no systemd watchdog */
	struct timespec started;
	uint64_t requests;
	uint64_t errors[DAEMON_ERR_CODES];
	uint64_t errors_other;
};

#endif
