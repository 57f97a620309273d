// SPDX-License-Identifier: MIT
/*
 * attach.c - attachments, and the refill channel each one owns.
 *
 * An attachment ties a connection to a pool and owns the daemon's end of
 * that client's refill channel (a datagram socketpair): refill requests
 * arrive there as struct pcp_refill_msg.  Closing the connection ends its
 * attachments.
 */
#include "attach.h"

#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "pool.h"
#include "protocol.h"
#include "refill.h"

#define ATTACH_MSGS_PER_WAKE 64   /* bound work per refill-channel event */

static void attach_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct attach *a = arg;
	struct pool *p = a->pool;

	(void)what;
	for (int i = 0; i < ATTACH_MSGS_PER_WAKE; i++) {
		struct pcp_refill_msg m;
		ssize_t n = recv(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0)
			return;
		p->requests++;
		if (n != sizeof(m) || m.magic != PCP_REFILL_MAGIC ||
		    m.version != PCP_PROTO_VERSION || m.type != PCP_REFILL_REQUEST ||
		    m.reserved != 0 || m.cpu >= p->v.nr_cpus) {
			if (p->bad_messages++ == 0)
				log_warning("pool %s: client %u sent a malformed refill message "
					    "(%zd bytes); ignored", p->cfg.name, a->client_id, n);
			continue;
		}
		refill_cpu(p, m.cpu);
		/* a client is crossing: poll its flags a while, so its next
		 * crossings need no message */
		refill_poll_heat(a->conn->d, p);
	}
}

/**
 * attach_new() - an attachment of @c to @p, with a new client id, whose
 * refill channel's daemon end @fd is watched; not yet @c's (attach_add()).
 * @c: the connection.
 * @p: the pool.
 * @fd: the daemon's end of the refill channel (the caller's to close until
 *      attach_add()).
 *
 * Return: the attachment, or NULL (out of memory; nothing is left made).
 */
struct attach *attach_new(struct conn *c, struct pool *p, int fd)
{
	struct attach *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->conn = c;
	a->pool = p;
	a->fd = fd;
	a->client_id = pool_new_owner(p);
	a->ev = event_new(c->d->base, fd, EV_READ | EV_PERSIST, attach_read_cb, a);
	if (!a->ev || event_add(a->ev, NULL) < 0) {
		attach_discard(a);
		return NULL;
	}
	return a;
}

/**
 * attach_add() - @a, from attach_new(), is its connection's from now on:
 * it ends with the connection, or with attach_free().
 * @a: the attachment.
 */
void attach_add(struct attach *a)
{
	struct conn *c = a->conn;

	a->next = c->attached;
	c->attached = a;
	c->nr_attached++;
}

/**
 * attach_discard() - free an attachment attach_add() never took (its
 * refill channel stays the caller's).
 * @a: the attachment or NULL.
 */
void attach_discard(struct attach *a)
{
	if (a && a->ev)
		event_free(a->ev);
	free(a);
}

/**
 * attach_free() - end an attachment (already unlinked from its
 * connection's list): its refill channel closed, the pool's client
 * forgotten.
 * @a: the attachment.
 */
void attach_free(struct attach *a)
{
	if (a->ev)
		event_free(a->ev);
	if (a->fd >= 0)
		close(a->fd);
	pool_client_remove(a->pool, a->client_id);
	a->conn->nr_attached--;
	conn_fd_freed(a->conn->d);
	free(a);
}

/**
 * attach_end_pool() - end every attachment of @p on @c.
 * @c: the connection.
 * @p: the pool.
 */
void attach_end_pool(struct conn *c, struct pool *p)
{
	for (struct attach **ap = &c->attached; *ap;) {
		struct attach *a = *ap;
		if (a->pool == p) {
			*ap = a->next;
			attach_free(a);
		} else {
			ap = &a->next;
		}
	}
}
