/* SPDX-License-Identifier: MIT */
/*
 * watch.h - waiting for clients' processes to exit (pidfds), to reclaim
 * what their attachments held.
 */
#ifndef PCPUPOOLD_WATCH_H
#define PCPUPOOLD_WATCH_H

#include <stdint.h>
#include <sys/types.h>

struct conn;
struct daemon;

int watch_add(struct daemon *d, pid_t pid, uid_t uid, int *pidfd, uint64_t serial,
	      uint32_t owner);
void watch_conn(struct conn *c);
void watch_holders(struct daemon *d);
void watch_shutdown(struct daemon *d);

#endif
