/* SPDX-License-Identifier: MIT */
/*
 * fdstore.h - systemd's fd store, emulated for the integration tests that
 * restart the daemon with a pool's descriptors (compiled once, in
 * fdstore.c).  Under systemd the daemon hands a pool's memfd
 * ("FDSTORE=1\nFDNAME=pool.<name>") and its depot record ("depot.<name>")
 * to the service manager over NOTIFY_SOCKET, and a restarted daemon gets
 * them back as LISTEN_FDS.  Here a datagram socket in the daemon's
 * directory is the NOTIFY_SOCKET, the test keeps the two descriptors that
 * arrive there, and a daemon started from the store finds them where
 * systemd puts them: from SD_LISTEN_FDS_START (3) on, named, for its pid.
 *
 *   e2e_fdstore_init()      the store of one pool: empty, not listening.
 *   e2e_fdstore_listen()    bind the NOTIFY_SOCKET: the daemons started
 *                           from now on notify to it.
 *   e2e_fdstore_collect()   keep the pool's FDSTORE=1 descriptors that
 *                           have arrived; true once both are here.
 *   e2e_fdstore_wait()      e2e_fdstore_collect() until true, or fail.
 *   e2e_fdstore_unlisten()  close and remove the socket: later daemons
 *                           get no NOTIFY_SOCKET (and the stored
 *                           descriptors stay as they are).
 *   e2e_fdstore_start()     start a daemon, with the stored descriptors
 *                           or without.
 *   e2e_fdstore_close()     close every descriptor the store holds.
 *
 * Functions that fail take the current CMocka test with them.
 */
#ifndef PCPUPOOL_TESTS_FDSTORE_H
#define PCPUPOOL_TESTS_FDSTORE_H

#include <stdbool.h>

#include "e2e.h"

#define E2E_FDSTORE_POOL   0   /* slots of e2e_fdstore.fds and .fdname */
#define E2E_FDSTORE_DEPOT  1

struct e2e_fdstore {
	char notify[128];                   /* the NOTIFY_SOCKET path */
	char fdname[2][E2E_NAME_LEN + 8];   /* "pool.<name>", "depot.<name>" */
	int notify_fd;                      /* our end of it, -1 if not bound */
	int fds[2];                         /* the stored descriptors, -1 if none */
	int starts;                         /* daemons started, names their logs */
};

/* The store of pool @pool, for daemons in @e's directory (e2e_make_dir()
 * done): nothing stored, no socket yet. */
void e2e_fdstore_init(struct e2e_fdstore *s, const struct e2e *e, const char *pool);
void e2e_fdstore_listen(struct e2e_fdstore *s);
bool e2e_fdstore_collect(struct e2e_fdstore *s);
/* Collect until both descriptors are here; fail the test if they are not
 * within @ms. */
void e2e_fdstore_wait(struct e2e_fdstore *s, int ms);
void e2e_fdstore_unlisten(struct e2e_fdstore *s);
void e2e_fdstore_close(struct e2e_fdstore *s);

/*
 * e2e_fdstore_start() - start a daemon on e->sock with e->cfg, its log
 * <dir>/daemon.<n>.log for its n-th start, and wait (bounded) until it
 * accepts.  It gets NOTIFY_SOCKET while the store listens; with @restore,
 * the stored descriptors as LISTEN_FDS.  e->pid must be 0 (no daemon).
 */
void e2e_fdstore_start(struct e2e *e, struct e2e_fdstore *s, bool restore);

#endif /* PCPUPOOL_TESTS_FDSTORE_H */
