/* SPDX-License-Identifier: MIT */
/*
 * conn.h - the control socket: its listener, its connections, their
 * replies.
 */
#ifndef PCPUPOOLD_CONN_H
#define PCPUPOOLD_CONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon.h"

#define CONN_MAX_GROUPS 64   /* a peer's groups considered */

struct attach;
struct bufferevent;
struct event;

/* One control connection. */
struct conn {
	struct conn *next, *prev;
	struct daemon *d;
	struct bufferevent *bev;
	int fd;
	struct ucred cred;
	int pidfd;               /* the peer process, -1 if unknown */
	uint32_t gids[CONN_MAX_GROUPS];  /* primary and supplementary */
	unsigned nr_gids;
	struct attach *attached;
	unsigned nr_attached;
	/* a request line begun but not ended: the connection closes when
	 * ev_partial fires (request_timeout_ms after its first byte) */
	struct event *ev_partial;
	bool partial;            /* ev_partial is armed ... */
	uint32_t partial_ms;     /* ... for this long */
	bool dead;               /* free at the end of the current callback */
};

int conn_bind(const char *path, int *ret_fd);
int conn_listen(struct daemon *d, int listen_fd);
void conn_shutdown(struct daemon *d);
unsigned conn_count(const struct daemon *d);
void conn_fd_freed(struct daemon *d);
void conn_send(struct conn *c, json_t *reply, const int *fds, int nfds);
json_t *conn_error(struct conn *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
json_t *conn_ok(void);

#endif
