// SPDX-License-Identifier: MIT
/*
 * fork.c - fork(2): every client of the process on one list, so that a child
 * leaves its parent's connections alone and reconnects on its first
 * control call.
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* fork(2)                                                             */

/*
 * Every client, for the fork handlers.  A child of fork() must not speak
 * on its parent's control connection (the replies would go to whichever
 * process reads first) nor take elements under its parent's client ids (if
 * the parent died, they would be taken back from the child while it uses
 * them).  So, in the child, each client drops the connection it inherited
 * (the parent's stays open: only the child's descriptor is closed) and
 * becomes broken: its next control call connects anew and attaches its
 * pools again, under ids of the child's own.  Until then the pops of the
 * child mark elements as handed off, which no death takes back.
 *
 * Lock order: all_clients_lock, then a client's lock; nothing takes
 * all_clients_lock with a client's lock held.
 */
static pthread_mutex_t all_clients_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pcpupool_client *all_clients;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* before fork(): no client's lock is held by another thread in the
 * child (a half-written request, a lock nobody would release) */
static void fork_prepare(void)
{
	pthread_mutex_lock(&all_clients_lock);
	for (struct pcpupool_client *c = all_clients; c; c = c->all_next)
		pthread_mutex_lock(&c->lock);
}

static void fork_parent(void)
{
	for (struct pcpupool_client *c = all_clients; c; c = c->all_next)
		pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&all_clients_lock);
}

/* In the child: only async-signal-safe work (close, stores). */
static void fork_child(void)
{
	for (struct pcpupool_client *c = all_clients; c; c = c->all_next) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		c->len = 0;
		c->stale = 0;
		if (!c->err)
			c->err = ENOTCONN;
		for (struct pcpupool *pool = c->pools; pool; pool = pool->next)
			__atomic_store_n(&pool->v.owner, SLAB_OWNER_HANDOFF, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&all_clients_lock);
}

static void fork_install_handlers(void)
{
	/* fails only for want of memory: children then behave as before
	 * this existed (see pcpupool(3), fork) */
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Put @c on the list the fork handlers walk; the first call installs them. */
void fork_register(struct pcpupool_client *c)
{
	pthread_once(&atfork_once, fork_install_handlers);
	pthread_mutex_lock(&all_clients_lock);
	c->all_next = all_clients;
	if (all_clients)
		all_clients->all_prev = c;
	all_clients = c;
	pthread_mutex_unlock(&all_clients_lock);
}

/* Take @c off that list (client_free()). */
void fork_unregister(struct pcpupool_client *c)
{
	pthread_mutex_lock(&all_clients_lock);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else if (all_clients == c)
		all_clients = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	pthread_mutex_unlock(&all_clients_lock);
}
