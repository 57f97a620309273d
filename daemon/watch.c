// SPDX-License-Identifier: MIT
/*
 * watch.c - waiting for clients' processes to exit (their pidfds), to
 * reclaim what their attachments held: those of a connection that closed
 * with attachments (watch_conn()), the one a detach could not name
 * (watch_add()), and those the holder table of a pool taken back from
 * the fd store recorded (watch_holders()).
 */
#include "watch.h"

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "attach.h"
#include "conn.h"
#include "log.h"
#include "pool.h"
#include "reclaim.h"
#include "state.h"

#define WATCH_MAX          1024 /* processes watched for their exit */
#define WATCH_MAX_PER_UID  256  /* ... of one uid */
#define WATCH_MAX_ENTRIES  4096 /* attachments one process's watch keeps */

/* A client process whose connection closed with attachments: when it has
 * exited (its pidfd turns readable), the elements they held are reclaimed.
 * One watch per process, whatever number of connections it closed, so one
 * pidfd.  Pools are remembered by serial, not by name: one may be
 * destroyed meanwhile, and another created under its name, whose client
 * ids start over (the dead process's id there would be a live client's). */
struct watch_entry {
	uint64_t serial;   /* the pool's, pool_find_serial() */
	uint32_t owner;
};

struct watch {
	struct watch *next;
	struct daemon *d;
	pid_t pid;
	uid_t uid;
	int pidfd;
	struct event *ev;
	unsigned n, cap;
	struct watch_entry *e;
};

static void watch_free(struct watch *w)
{
	for (struct watch **pp = &w->d->watches; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	w->d->nr_watches--;
	if (w->ev)
		event_free(w->ev);
	if (w->pidfd >= 0)
		close(w->pidfd);
	conn_fd_freed(w->d);
	free(w->e);
	free(w);
}

static void watch_fire(struct watch *w)
{
	for (unsigned i = 0; i < w->n; i++) {
		struct pool *p = pool_find_serial(w->d, w->e[i].serial);
		if (p)
			reclaim_client_died(p, w->e[i].owner);
	}
	log_debug("client pid %d has exited: reclaiming what its %u attachment(s) held",
		  (int)w->pid, w->n);
	watch_free(w);
}

static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	watch_fire(arg);
}

/* Fire (and free) @w now if its process has exited already: no need to
 * wait for the loop.  Return whether it did. */
static bool watch_check(struct watch *w)
{
	struct pollfd pfd = { .fd = w->pidfd, .events = POLLIN };

	if (poll(&pfd, 1, 0) != 1)
		return false;
	watch_fire(w);
	return true;
}

/* The watch of process @pid, made (with the pidfd *@pidfd, which it then
 * owns) if there is none.  @uid counts against WATCH_MAX_PER_UID;
 * (uid_t)-1 (the holders a restored pool recorded, bounded by its table)
 * does not.  NULL if it cannot be made (logged). */
static struct watch *watch_for(struct daemon *d, pid_t pid, uid_t uid, int *pidfd)
{
	struct watch *w = NULL;
	unsigned of_uid = 0;

	for (struct watch *o = d->watches; o; o = o->next) {
		if (o->pid == pid)
			w = o;
		of_uid += o->uid == uid;
	}
	/* that process may have exited (its event not dispatched yet) and
	 * the pid been reused: fire the old watch, make a new one */
	if (w && watch_check(w))
		w = NULL;
	if (w)
		return w;
	if (d->nr_watches >= WATCH_MAX ||
	    (uid != (uid_t)-1 && of_uid >= WATCH_MAX_PER_UID) ||
	    *pidfd < 0 || !(w = calloc(1, sizeof(*w)))) {
		log_warning("client pid %d: cannot watch for its exit (%u processes watched, "
			    "%u of uid %d); the elements it holds stay held", (int)pid,
			    d->nr_watches, of_uid, (int)uid);
		return NULL;
	}
	w->d = d;
	w->pid = pid;
	w->uid = uid;
	w->pidfd = *pidfd;
	*pidfd = -1;
	w->ev = event_new(d->base, w->pidfd, EV_READ, watch_cb, w);
	w->next = d->watches;
	d->watches = w;
	d->nr_watches++;
	if (!w->ev || event_add(w->ev, NULL) < 0) {
		watch_free(w);
		return NULL;
	}
	return w;
}

/* Room in @w for @more entries: 0, or -1 (logged). */
static int watch_reserve(struct watch *w, unsigned more)
{
	unsigned cap = w->cap ? w->cap : 16;
	struct watch_entry *e;

	if (w->n + more <= w->cap)
		return 0;
	while (cap < w->n + more)
		cap *= 2;
	if (cap > WATCH_MAX_ENTRIES || !(e = realloc(w->e, cap * sizeof(*e)))) {
		log_warning("client pid %d: cannot remember %u more attachments to reclaim at "
			    "its exit (it has %u); what they hold stays held", (int)w->pid,
			    more, w->n);
		return -1;
	}
	w->e = e;
	w->cap = cap;
	return 0;
}

/**
 * watch_add() - reclaim what attachment @owner of the pool with @serial
 * holds when process @pid exits.
 * @d: daemon.
 * @pid: the process.
 * @uid: its uid, counted against WATCH_MAX_PER_UID; (uid_t)-1 is not.
 * @pidfd: a pidfd of @pid, or -1; set to -1 when a new watch takes it.
 * @serial: the pool's serial (pool_find_serial()).
 * @owner: the attachment's client id.
 *
 * Return: 0, or -1 if it cannot be watched (logged).
 */
int watch_add(struct daemon *d, pid_t pid, uid_t uid, int *pidfd, uint64_t serial,
	      uint32_t owner)
{
	struct watch *w = watch_for(d, pid, uid, pidfd);

	if (!w || watch_reserve(w, 1) < 0)
		return -1;
	w->e[w->n++] = (struct watch_entry){ serial, owner };
	return 0;
}

/**
 * watch_conn() - the connection of a client with attachments is closing:
 * reclaim what they held once the process has exited (at once if it has).
 * A process that lives on (it only closed a pool or lost its connection)
 * keeps its elements: they may still be in use.
 * @c: the connection, its attachments still listed.
 */
void watch_conn(struct conn *c)
{
	struct watch *w;

	if (!c->attached)
		return;
	w = watch_for(c->d, c->cred.pid, c->cred.uid, &c->pidfd);
	if (!w || watch_reserve(w, c->nr_attached) < 0)
		return;
	for (struct attach *a = c->attached; a; a = a->next)
		w->e[w->n++] = (struct watch_entry){ a->pool->serial, a->client_id };
	watch_check(w);
}

/**
 * watch_holders() - watch the processes that held elements of the
 * pools taken back from the fd store, under the previous daemon's ids:
 * what a process still holds comes back when it exits (at once if it is
 * gone).  Its new attachments have new ids and their own watches.
 * @d: daemon.
 *
 * A pid may have been reused meanwhile by a process that never held
 * anything: then the elements come back when that one exits, not sooner.
 *
 * Context: start-up, after the pools are restored.
 */
void watch_holders(struct daemon *d)
{
	for (struct pool *p = d->pools; p; p = p->next) {
		const struct pool_holder *h;
		uint32_t n, watched = 0, gone = 0;

		if (!p->restored)
			continue;
		p->restored = false;
		h = state_holders(p, &n);
		for (uint32_t i = 0; i < n; i++) {
			if (!h[i].id)
				continue;
			int pidfd = h[i].pid > 0 ? pidfd_open(h[i].pid, 0) : -1;
			if (pidfd < 0 && h[i].pid > 0 && errno == ESRCH) {
				reclaim_client_died(p, h[i].id);   /* gone */
				gone++;
				continue;
			}
			if (pidfd < 0) {
				/* not known to be gone: what it holds stays held (the
				 * sweep's holder check retries) */
				log_warning("pool %s: cannot watch earlier client %u (pid %d): %s",
					    p->cfg.name, h[i].id, (int)h[i].pid,
					    h[i].pid > 0 ? strerror(errno) : "no pid");
				continue;
			}
			int r = watch_add(d, h[i].pid, (uid_t)-1, &pidfd, p->serial, h[i].id);
			if (pidfd >= 0)
				close(pidfd);   /* the process had a watch already */
			if (r < 0)
				continue;
			watched++;
		}
		if (watched || gone)
			log_info("pool %s: %u earlier client(s) watched for their exit, %u gone "
				 "(what they held comes back)", p->cfg.name, watched, gone);
	}
	for (struct watch *w = d->watches, *next; w; w = next) {
		next = w->next;
		watch_check(w);
	}
}

/**
 * watch_shutdown() - stop watching, at exit: the pools stay in the fd
 * store, and the daemon that takes them back watches their recorded
 * holders (watch_holders()).
 * @d: daemon.
 */
void watch_shutdown(struct daemon *d)
{
	while (d->watches)
		watch_free(d->watches);
}
