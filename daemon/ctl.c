// SPDX-License-Identifier: MIT
/*
 * ctl.c - the control socket.
 *
 * Each connection is a bufferevent reading newline-delimited JSON requests
 * (at most PCP_MAX_LINE bytes each).  Every request gets exactly one reply
 * line, in order: {"ok":true,...} or {"ok":false,"error":{...}}; nothing a
 * peer sends crashes the daemon or closes the connection without a reply,
 * except a line that never ends: one past PCP_MAX_LINE, or one left
 * incomplete for request_timeout_ms (its reply explains, then the
 * connection closes).  A connection with no partial line is never timed
 * out: a library client keeps its connection idle for as long as it has
 * pools attached, and closing it would detach them.
 *
 * Peer credentials are read at accept.  Administration (create, resize,
 * destroy) needs root, the daemon's own uid or the admin group; what
 * concerns one pool (attach, refill, its stats) needs the right to attach
 * it (pool_may_attach()), or administration.  The "pools" summary, which
 * names no process, is for everyone.
 *
 * Whatever the daemon replies about a pool comes from its own records
 * (struct pool's cfg and view), never from the pool's shared header,
 * which any attached client may rewrite: pool_verify() compares the two
 * before an attach, a refill and a pool's stats.
 *
 * An attachment ties a connection to a pool and owns the daemon's end of
 * that client's refill channel (a datagram socketpair): refill requests
 * arrive there as struct pcp_refill_msg.  Closing the connection ends its
 * attachments.
 */
#include "ctl.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "protocol.h"

#define CTL_REFILL_MSGS_PER_WAKE 64   /* bound work per refill-channel event */
#define CTL_MAX_WATCHES          1024 /* processes watched for their exit */
#define CTL_MAX_WATCHES_PER_UID  256  /* ... of one uid */
#define CTL_WATCH_MAX_ENTRIES    4096 /* attachments one process's watch keeps */
#define CTL_MAX_GROUPS           64   /* a peer's groups considered */

struct ctl_conn;

struct attach {
	struct attach *next;
	struct ctl_conn *conn;
	struct pool *pool;
	int fd;                  /* daemon end of the refill channel */
	struct event *ev;
	uint32_t client_id;
};

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
	struct ctl *ctl;
	pid_t pid;
	uid_t uid;
	int pidfd;
	struct event *ev;
	unsigned n, cap;
	struct watch_entry *e;
};

static struct watch *watch_for(struct ctl *ctl, pid_t pid, uid_t uid, int *pidfd);
static int watch_reserve(struct watch *w, unsigned more);

struct ctl_conn {
	struct ctl_conn *next, *prev;
	struct ctl *ctl;
	struct bufferevent *bev;
	int fd;
	struct ucred cred;
	int pidfd;               /* the peer process, -1 if unknown */
	uint32_t gids[CTL_MAX_GROUPS];  /* primary and supplementary */
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

struct ctl {
	struct daemon *d;
	struct evconnlistener *lis;
	struct ctl_conn *conns;
	unsigned nr_conns;
	bool paused;             /* listener disabled: out of descriptors */
	struct watch *watches;
	unsigned nr_watches;
};

/* ---- errors ---- */

_Static_assert(PCP_NR_ERRNAMES <= DAEMON_ERR_CODES, "every error code has a counter");

static json_t *ctl_error(struct ctl *ctl, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static json_t *ctl_error(struct ctl *ctl, int err, const char *fmt, ...)
{
	const char *name = "EIO";
	char msg[512];
	va_list ap;
	json_t *r;

	if (err < 0)
		err = -err;
	for (size_t i = 0; i < PCP_NR_ERRNAMES; i++)
		if (pcp_errnames[i].err == err) {
			name = pcp_errnames[i].name;
			ctl->d->errors[i]++;
			break;
		}
	if (err != EIO && !strcmp(name, "EIO"))
		ctl->d->errors_other++;   /* an errno without a name: counted as EIO */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* messages quote what the peer sent, cut at a byte count: keep them
	 * printable ASCII so they are always valid UTF-8 and safe on a
	 * terminal */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	r = json_pack("{s:b, s:{s:s, s:s}}", PCP_F_OK, 0, PCP_F_ERROR, PCP_F_CODE, name,
		      PCP_F_MESSAGE, msg);
	/* never NULL: NULL means "the command replied itself" to the caller */
	return r ? r : json_loads("{\"ok\":false,\"error\":{\"code\":\"ENOMEM\","
				  "\"message\":\"out of memory\"}}", 0, NULL);
}

static json_t *ctl_ok(void)
{
	return json_pack("{s:b}", PCP_F_OK, 1);
}

/* ---- who may do what ---- */

static bool conn_is_admin(const struct ctl_conn *c)
{
	const struct config *cfg = c->ctl->d->cfg;

	if (c->cred.uid == 0 || c->cred.uid == geteuid())
		return true;
	for (unsigned i = 0; cfg->has_admin_group && i < c->nr_gids; i++)
		if (c->gids[i] == cfg->admin_group)
			return true;
	return false;
}

/* Whether @c may see or act on @p: the right to attach it, or
 * administration (which may destroy it anyway). */
static bool conn_may_use(const struct ctl_conn *c, const struct pool *p)
{
	return pool_may_attach(p, c->cred.uid, c->gids, c->nr_gids) || conn_is_admin(c);
}

/* The EACCES reply (and notice) for @c, which may not @what pool @p. */
static json_t *conn_refuse_pool(struct ctl_conn *c, const struct pool *p, const char *what)
{
	log_notice("client pid %d uid %u: %s pool %s refused (mode %04o)",
		   (int)c->cred.pid, (unsigned)c->cred.uid, what, p->cfg.name, p->st->mode);
	return ctl_error(c->ctl, EACCES, "uid %u may not %s pool \"%s\" (owner %u, "
			 "group %u, mode %04o)", (unsigned)c->cred.uid, what, p->cfg.name,
			 p->st->uid, p->st->gid, p->st->mode);
}

/* ---- output ---- */

static void conn_kill(struct ctl_conn *c, const char *why)
{
	if (!c->dead)
		log_info("client pid %d uid %u: closing: %s", (int)c->cred.pid,
			 (unsigned)c->cred.uid, why);
	c->dead = true;
}

/* Send one reply line; @fds ride on its first byte.  A peer that does not
 * read its replies is disconnected rather than buffered without bound. */
static void conn_send(struct ctl_conn *c, json_t *reply, const int *fds, int nfds)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char *s = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	size_t len, done = 0;

	if (!s) {
		conn_kill(c, "out of memory building a reply");
		return;
	}
	len = strlen(s);
	s[len] = '\0';
	if (evbuffer_get_length(out) == 0) {
		char cbuf[CMSG_SPACE(2 * sizeof(int))];
		struct iovec iov[2] = { { s, len }, { (char *)"\n", 1 } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

		if (nfds) {
			memset(cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
		}
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_kill(c, strerror(errno));
			goto out;
		}
		if (n < 0 && nfds) {
			conn_kill(c, "socket full: cannot pass descriptors");
			goto out;
		}
		done = n < 0 ? 0 : (size_t)n;
	} else if (nfds) {
		conn_kill(c, "replies not read: cannot pass descriptors");
		goto out;
	}
	if (done < len)
		evbuffer_add(out, s + done, len - done);
	if (done < len + 1)
		evbuffer_add(out, "\n", 1);
	if (evbuffer_get_length(out) > PCP_MAX_REPLY)
		conn_kill(c, "replies not read");
out:
	free(s);
}

/* A descriptor came free (a connection, a refill channel, a pidfd): if
 * the listener stopped for want of one, accept again. */
static void ctl_fd_freed(struct ctl *ctl)
{
	if (ctl->paused) {
		ctl->paused = false;
		evconnlistener_enable(ctl->lis);
	}
}

/* ---- attachments ---- */

static void attach_free(struct attach *a)
{
	if (a->ev)
		event_free(a->ev);
	if (a->fd >= 0)
		close(a->fd);
	pool_client_remove(a->pool, a->client_id);
	a->conn->nr_attached--;
	ctl_fd_freed(a->conn->ctl);
	free(a);
}

static void attach_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct attach *a = arg;
	struct pool *p = a->pool;

	(void)what;
	for (int i = 0; i < CTL_REFILL_MSGS_PER_WAKE; i++) {
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
		pool_refill_cpu(p, m.cpu);
		/* a client is crossing: poll its flags a while, so its next
		 * crossings need no message */
		pool_poll_heat(a->conn->ctl->d, p);
	}
}

/* End every attachment of @p on @c. */
static void conn_detach_pool(struct ctl_conn *c, struct pool *p)
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

/* ---- commands ---- */

struct ctl_cmd {
	const char *name;
	json_t *(*fn)(struct ctl_conn *c, json_t *req);
	bool needs_admin;
};

static json_t *cmd_hello(struct ctl_conn *c, json_t *req)
{
	json_int_t version = PCP_PROTO_VERSION;
	const char *cmd;
	json_error_t je;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s?I}", PCP_F_CMD, &cmd,
			   PCP_F_VERSION, &version) < 0)
		return ctl_error(c->ctl, EINVAL, "hello: %s", je.text);
	if (version != PCP_PROTO_VERSION)
		return ctl_error(c->ctl, EPROTO, "protocol version %lld not supported; this "
				 "daemon speaks %d", (long long)version, PCP_PROTO_VERSION);
	return json_pack("{s:b, s:i, s:s}", PCP_F_OK, 1, PCP_F_VERSION, PCP_PROTO_VERSION,
			 "server", "pcpupoold " PCPUPOOLD_VERSION);
}

static json_t *cmd_ping(struct ctl_conn *c, json_t *req)
{
	const char *cmd;
	json_error_t je;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s}", PCP_F_CMD, &cmd) < 0)
		return ctl_error(c->ctl, EINVAL, "ping: %s", je.text);
	return ctl_ok();
}

static json_t *cmd_pools(struct ctl_conn *c, json_t *req)
{
	const char *cmd;
	json_error_t je;
	json_t *arr;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s}", PCP_F_CMD, &cmd) < 0)
		return ctl_error(c->ctl, EINVAL, "pools: %s", je.text);
	arr = json_array();
	for (struct pool *p = c->ctl->d->pools; p && arr; p = p->next)
		json_array_append_new(arr, pool_summary_json(p));
	return json_pack("{s:b, s:o}", PCP_F_OK, 1, PCP_F_POOLS, arr);
}

/* Unpack {"cmd":..,"pool":NAME} and find the pool. */
static struct pool *req_pool(struct ctl_conn *c, json_t *req, json_t **ret_err)
{
	const char *cmd, *name;
	json_error_t je;
	struct pool *p;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s:s}", PCP_F_CMD, &cmd,
			   PCP_F_POOL, &name) < 0) {
		*ret_err = ctl_error(c->ctl, EINVAL, "%s", je.text);
		return NULL;
	}
	p = pool_find(c->ctl->d, name);
	if (!p)
		*ret_err = ctl_error(c->ctl, ENOENT, "no pool named \"%.*s\"", PCP_NAME_MAX, name);
	return p;
}

static json_t *cmd_attach(struct ctl_conn *c, json_t *req)
{
	json_t *err = NULL, *reply;
	struct pool *p = req_pool(c, req, &err);
	struct attach *a;
	int sv[2];

	if (!p)
		return err;
	/* a header a client rewrote quarantines the pool here, before
	 * another process maps it */
	if (pool_verify(p) < 0 || p->quarantined)
		return ctl_error(c->ctl, EUCLEAN, "pool \"%s\" is quarantined (corrupt)",
				 p->cfg.name);
	if (!pool_may_attach(p, c->cred.uid, c->gids, c->nr_gids)) {
		log_notice("client pid %d uid %u: attach to pool %s refused (mode %04o)",
			   (int)c->cred.pid, (unsigned)c->cred.uid, p->cfg.name, p->st->mode);
		return ctl_error(c->ctl, EACCES, "uid %u may not attach pool \"%s\" (owner %u, "
				 "group %u, mode %04o)", (unsigned)c->cred.uid, p->cfg.name,
				 p->st->uid, p->st->gid, p->st->mode);
	}
	if (c->nr_attached >= PCP_MAX_ATTACH_PER_CLIENT)
		return ctl_error(c->ctl, EMFILE, "at most %u attachments per connection",
				 PCP_MAX_ATTACH_PER_CLIENT);
	if (c->pidfd < 0)   /* to learn when the process exits */
		c->pidfd = pidfd_open(c->cred.pid, 0);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return ctl_error(c->ctl, errno, "refill channel: %s", strerror(errno));
	a = calloc(1, sizeof(*a));
	if (!a)
		goto fail;
	a->conn = c;
	a->pool = p;
	a->fd = sv[0];
	a->client_id = pool_new_owner(p);
	a->ev = event_new(c->ctl->d->base, sv[0], EV_READ | EV_PERSIST, attach_read_cb, a);
	if (!a->ev || event_add(a->ev, NULL) < 0)
		goto fail;
	/* the geometry from the daemon's record: the library checks the
	 * header it maps against it, so a client that rewrote the header
	 * between pool_verify() and the new client's read gains nothing */
	reply = json_pack("{s:b, s:s, s:I, s:I, s:I, s:i, s:I, s:I, s:I}", PCP_F_OK, 1,
			  PCP_F_POOL, p->cfg.name,
			  PCP_F_MAP_SIZE, (json_int_t)p->v.map_size,
			  PCP_F_CLIENT_ID, (json_int_t)a->client_id,
			  PCP_F_ELEM_SIZE, (json_int_t)p->cfg.elem_size,
			  "nr_cpus", (int)p->v.nr_cpus,
			  PCP_F_MAX_ELEMS, (json_int_t)p->v.max_elems,
			  PCP_F_ALIGN, (json_int_t)p->layout.elem_align,
			  "slab_cap", (json_int_t)p->v.slab_cap);
	if (!reply)
		goto fail;
	if (pool_client_add(p, a->client_id, c->cred.pid, c->cred.uid) < 0) {
		json_decref(reply);
		goto fail;
	}
	a->next = c->attached;
	c->attached = a;
	c->nr_attached++;
	int fds[2] = { p->memfd, sv[1] };
	conn_send(c, reply, fds, 2);
	json_decref(reply);
	close(sv[1]);
	log_info("client pid %d uid %u attached to pool %s as %u", (int)c->cred.pid,
		 (unsigned)c->cred.uid, p->cfg.name, a->client_id);
	return NULL;   /* sent */
fail:
	if (a && a->ev)
		event_free(a->ev);
	free(a);
	close(sv[0]);
	close(sv[1]);
	return ctl_error(c->ctl, ENOMEM, "out of memory");
}

/* A detach is pcpupool_close(): the process unmaps the pool, so what it
 * still holds is lost to it (pcpupool(3)) and comes back as a dead
 * client's would, though the process lives on.  Elements it handed to
 * another process are marked so and stay where they are.  The request
 * names the attachment by its client_id (one connection may attach a
 * pool more than once: the other attachment is still in use); without
 * one, the connection's latest attachment of the pool goes. */
static json_t *cmd_detach(struct ctl_conn *c, json_t *req)
{
	const char *cmd, *name;
	json_int_t id = 0;
	json_error_t je;
	struct pool *p;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s:s, s?I}", PCP_F_CMD, &cmd,
			   PCP_F_POOL, &name, PCP_F_CLIENT_ID, &id) < 0)
		return ctl_error(c->ctl, EINVAL, "%s", je.text);
	p = pool_find(c->ctl->d, name);
	if (!p)
		return ctl_error(c->ctl, ENOENT, "no pool named \"%.*s\"", PCP_NAME_MAX, name);
	unsigned of_pool = 0;

	for (struct attach *a = c->attached; a; a = a->next)
		of_pool += a->pool == p;
	for (struct attach **ap = &c->attached; *ap; ap = &(*ap)->next) {
		struct attach *a = *ap;

		if (a->pool != p || (id && a->client_id != id))
			continue;
		if (id || of_pool == 1) {
			pool_client_died(p, a->client_id);
		} else {
			/* no id (an older library) and several attachments: the
			 * latest may not be the handle that was closed, so what
			 * it holds waits for the process's exit */
			struct watch *w = watch_for(c->ctl, c->cred.pid, c->cred.uid,
						    &c->pidfd);
			if (w && watch_reserve(w, 1) == 0)
				w->e[w->n++] = (struct watch_entry){ p->serial, a->client_id };
		}
		*ap = a->next;
		attach_free(a);
		return ctl_ok();
	}
	if (id)
		return ctl_error(c->ctl, ENOENT, "no attachment %lld of pool \"%s\" here",
				 (long long)id, p->cfg.name);
	return ctl_error(c->ctl, ENOENT, "not attached to pool \"%s\"", p->cfg.name);
}

static json_t *cmd_refill(struct ctl_conn *c, json_t *req)
{
	json_t *err = NULL;
	struct pool *p = req_pool(c, req, &err);
	uint64_t moved = 0;
	int r;

	if (!p)
		return err;
	/* a refill writes into the pool's memory and costs the daemon
	 * work: for those who may attach it */
	if (!conn_may_use(c, p))
		return conn_refuse_pool(c, p, "refill");
	if (pool_verify(p) < 0 || p->quarantined)
		return ctl_error(c->ctl, EUCLEAN, "pool \"%s\" is quarantined (corrupt)",
				 p->cfg.name);
	r = pool_refill_all(p, &moved);
	if (r == -ENOMEM)
		return ctl_error(c->ctl, ENOMEM, "pool \"%s\" is at its maximum of %llu elements",
				 p->cfg.name, (unsigned long long)p->v.max_elems);
	if (r < 0)
		return ctl_error(c->ctl, r, "refill: %s", strerror(-r));
	return json_pack("{s:b, s:I}", PCP_F_OK, 1, "refilled", (json_int_t)moved);
}

static json_t *daemon_stats_json(struct ctl *ctl)
{
	struct daemon *d = ctl->d;
	struct timespec now;
	json_t *errs = json_object();

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < PCP_NR_ERRNAMES && errs; i++) {
		uint64_t n = d->errors[i] + (pcp_errnames[i].err == EIO ? d->errors_other : 0);
		if (n)
			json_object_set_new(errs, pcp_errnames[i].name, json_integer((json_int_t)n));
	}
	return json_pack("{s:s, s:i, s:I, s:i, s:i, s:i, s:I, s:o*}",
			 PCP_F_VERSION, PCPUPOOLD_VERSION, "protocol", PCP_PROTO_VERSION,
			 "uptime_s", (json_int_t)(now.tv_sec - d->started.tv_sec),
			 "clients", (int)ctl->nr_conns, "pools", (int)d->nr_pools,
			 "nr_cpus", (int)d->nr_cpus, "requests", (json_int_t)d->requests,
			 "errors", errs);
}

/* A pool's stats name the processes attached to it (pids, uids) and
 * show its traffic: they are for those who may attach it, and
 * administrators.  Asked for one pool, any other caller gets EACCES;
 * asked for all, the pools it may not attach are left out. */
static json_t *cmd_stats(struct ctl_conn *c, json_t *req)
{
	const char *cmd, *name = NULL;
	struct pool *one = NULL;
	json_error_t je;
	json_t *pools;
	bool admin;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s?s}", PCP_F_CMD, &cmd,
			   PCP_F_POOL, &name) < 0)
		return ctl_error(c->ctl, EINVAL, "stats: %s", je.text);
	if (name && !(one = pool_find(c->ctl->d, name)))
		return ctl_error(c->ctl, ENOENT, "no pool named \"%.*s\"", PCP_NAME_MAX, name);
	if (one && !conn_may_use(c, one))
		return conn_refuse_pool(c, one, "read the stats of");
	admin = conn_is_admin(c);
	pools = json_array();
	for (struct pool *p = c->ctl->d->pools; p && pools; p = p->next) {
		if (one ? p != one :
		    !admin && !pool_may_attach(p, c->cred.uid, c->gids, c->nr_gids))
			continue;
		/* a header a client rewrote quarantines the pool now, and its
		 * stats say so ("state", "quarantine_reason") */
		(void)pool_verify(p);
		json_array_append_new(pools, pool_stats_json(p));
	}
	return json_pack("{s:b, s:{s:i, s:o*, s:o*}}", PCP_F_OK, 1, "stats",
			 "schema", 1, "daemon", daemon_stats_json(c->ctl), "pools", pools);
}

static json_t *cmd_create(struct ctl_conn *c, json_t *req)
{
	json_t *spec = json_deep_copy(req), *name;
	struct pool_config pc;
	struct pool *p;
	char why[CONFIG_ERR_MAX];
	int r;

	if (!spec)
		return ctl_error(c->ctl, ENOMEM, "out of memory");
	/* the request is a pool spec with "cmd" and with "pool" for "name" */
	json_object_del(spec, PCP_F_CMD);
	name = json_object_get(spec, PCP_F_POOL);
	if (name) {
		json_object_set(spec, PCP_F_NAME, name);
		json_object_del(spec, PCP_F_POOL);
	} else if (json_object_get(spec, PCP_F_NAME)) {
		json_decref(spec);
		return ctl_error(c->ctl, EINVAL, "create: the pool's name goes in \"pool\"");
	}
	r = pool_config_from_json(spec, &pc, why, sizeof(why));
	json_decref(spec);
	if (r < 0)
		return ctl_error(c->ctl, EINVAL, "create: %s", why);
	/* unless told otherwise, the creator owns it */
	if (!pc.has_owner) {
		pc.owner = c->cred.uid;
		pc.has_owner = true;
	}
	if (!pc.has_group) {
		pc.group = c->cred.gid;
		pc.has_group = true;
	}
	r = pool_create(c->ctl->d, &pc, &p, why, sizeof(why));
	if (r < 0)
		return ctl_error(c->ctl, r, "create \"%s\": %s", pc.name, why);
	log_notice("pool %s created by pid %d uid %u: %llu-byte elements, min_nr %u per CPU",
		   p->cfg.name, (int)c->cred.pid, (unsigned)c->cred.uid,
		   (unsigned long long)p->cfg.elem_size, p->cfg.min_nr);
	return json_pack("{s:b, s:s}", PCP_F_OK, 1, PCP_F_POOL, p->cfg.name);
}

static json_t *cmd_resize(struct ctl_conn *c, json_t *req)
{
	const char *cmd, *name;
	json_int_t min_nr, low = 0;
	json_error_t je;
	struct pool *p;
	int r;

	if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s:s, s:I, s?I}", PCP_F_CMD, &cmd,
			   PCP_F_POOL, &name, PCP_F_MIN_NR, &min_nr, PCP_F_LOW_WM, &low) < 0)
		return ctl_error(c->ctl, EINVAL, "resize: %s", je.text);
	p = pool_find(c->ctl->d, name);
	if (!p)
		return ctl_error(c->ctl, ENOENT, "no pool named \"%.*s\"", PCP_NAME_MAX, name);
	if (min_nr < 1 || min_nr > PCP_MAX_MIN_NR || low < 0 || low > min_nr)
		return ctl_error(c->ctl, EINVAL, "resize: min_nr must be 1..%u and "
				 "low_watermark 0..min_nr", PCP_MAX_MIN_NR);
	r = pool_resize(p, (uint32_t)min_nr, (uint32_t)low);
	if (r == -ERANGE)
		return ctl_error(c->ctl, ERANGE, "min_nr %lld x %u CPUs exceeds max_elems %llu",
				 (long long)min_nr, p->v.nr_cpus,
				 (unsigned long long)p->v.max_elems);
	if (r < 0 && r != -ENOMEM)
		return ctl_error(c->ctl, r, "resize: %s", strerror(-r));
	log_notice("pool %s resized to min_nr %u by pid %d", p->cfg.name, p->cfg.min_nr,
		   (int)c->cred.pid);
	return ctl_ok();
}

static json_t *cmd_destroy(struct ctl_conn *c, json_t *req)
{
	json_t *err = NULL;
	struct pool *p = req_pool(c, req, &err);
	unsigned own = 0;

	if (!p)
		return err;
	for (struct attach *a = c->attached; a; a = a->next)
		own += a->pool == p;
	if (p->nr_attached > own)
		return ctl_error(c->ctl, EBUSY, "pool \"%s\" has %u other client(s) attached",
				 p->cfg.name, p->nr_attached - own);
	conn_detach_pool(c, p);
	log_notice("pool %s destroyed by pid %d uid %u", p->cfg.name, (int)c->cred.pid,
		   (unsigned)c->cred.uid);
	pool_destroy(c->ctl->d, p);
	return ctl_ok();
}

static const struct ctl_cmd ctl_cmds[] = {
	{ PCP_CMD_HELLO,   cmd_hello,   false },
	{ PCP_CMD_PING,    cmd_ping,    false },
	{ PCP_CMD_POOLS,   cmd_pools,   false },
	{ PCP_CMD_ATTACH,  cmd_attach,  false },
	{ PCP_CMD_DETACH,  cmd_detach,  false },
	{ PCP_CMD_REFILL,  cmd_refill,  false },
	{ PCP_CMD_STATS,   cmd_stats,   false },
	{ PCP_CMD_CREATE,  cmd_create,  true },
	{ PCP_CMD_RESIZE,  cmd_resize,  true },
	{ PCP_CMD_DESTROY, cmd_destroy, true },
};

static void conn_handle_line(struct ctl_conn *c, const char *line, size_t n)
{
	struct ctl *ctl = c->ctl;
	json_error_t je;
	json_t *req, *reply = NULL;
	const char *cmd;

	ctl->d->requests++;
	if (n > PCP_MAX_LINE) {
		reply = ctl_error(ctl, E2BIG, "request of %zu bytes exceeds the limit of %u",
				  n, PCP_MAX_LINE);
		goto send;
	}
	req = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	if (!req) {
		reply = ctl_error(ctl, EINVAL, "invalid JSON at column %d: %s", je.column, je.text);
		goto send;
	}
	cmd = json_string_value(json_object_get(req, PCP_F_CMD));
	if (!json_is_object(req) || !cmd) {
		reply = ctl_error(ctl, EINVAL, "a request is an object with a \"cmd\" string");
		goto out;
	}
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (strcmp(cmd, ctl_cmds[i].name))
			continue;
		if (ctl_cmds[i].needs_admin && !conn_is_admin(c)) {
			log_notice("client pid %d uid %u: %s refused (not an administrator)",
				   (int)c->cred.pid, (unsigned)c->cred.uid, cmd);
			reply = ctl_error(ctl, EPERM, "%s needs root, uid %u%s", cmd,
					  (unsigned)geteuid(), ctl->d->cfg->has_admin_group ?
					  " or the admin group" : "");
		} else
			reply = ctl_cmds[i].fn(c, req);
		goto out;
	}
	reply = ctl_error(ctl, ENOSYS, "unknown command \"%.32s\"", cmd);
out:
	json_decref(req);
	if (!reply)
		return;   /* the command sent its own reply */
send:
	conn_send(c, reply, NULL, 0);
	json_decref(reply);
}

/* ---- connections ---- */

static void watch_free(struct watch *w)
{
	for (struct watch **pp = &w->ctl->watches; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	w->ctl->nr_watches--;
	if (w->ev)
		event_free(w->ev);
	if (w->pidfd >= 0)
		close(w->pidfd);
	ctl_fd_freed(w->ctl);
	free(w->e);
	free(w);
}

static void watch_fire(struct watch *w)
{
	for (unsigned i = 0; i < w->n; i++) {
		struct pool *p = pool_find_serial(w->ctl->d, w->e[i].serial);
		if (p)
			pool_client_died(p, w->e[i].owner);
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
 * owns) if there is none.  @uid counts against CTL_MAX_WATCHES_PER_UID;
 * (uid_t)-1 (the holders a restored pool recorded, bounded by its table)
 * does not.  NULL if it cannot be made (logged). */
static struct watch *watch_for(struct ctl *ctl, pid_t pid, uid_t uid, int *pidfd)
{
	struct watch *w = NULL;
	unsigned of_uid = 0;

	for (struct watch *o = ctl->watches; o; o = o->next) {
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
	if (ctl->nr_watches >= CTL_MAX_WATCHES ||
	    (uid != (uid_t)-1 && of_uid >= CTL_MAX_WATCHES_PER_UID) ||
	    *pidfd < 0 || !(w = calloc(1, sizeof(*w)))) {
		log_warning("client pid %d: cannot watch for its exit (%u processes watched, "
			    "%u of uid %d); the elements it holds stay held", (int)pid,
			    ctl->nr_watches, of_uid, (int)uid);
		return NULL;
	}
	w->ctl = ctl;
	w->pid = pid;
	w->uid = uid;
	w->pidfd = *pidfd;
	*pidfd = -1;
	w->ev = event_new(ctl->d->base, w->pidfd, EV_READ, watch_cb, w);
	w->next = ctl->watches;
	ctl->watches = w;
	ctl->nr_watches++;
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
	if (cap > CTL_WATCH_MAX_ENTRIES || !(e = realloc(w->e, cap * sizeof(*e)))) {
		log_warning("client pid %d: cannot remember %u more attachments to reclaim at "
			    "its exit (it has %u); what they hold stays held", (int)w->pid,
			    more, w->n);
		return -1;
	}
	w->e = e;
	w->cap = cap;
	return 0;
}

/* The connection of a client with attachments closed: reclaim what they
 * held once the process has exited (at once if it has).  A process that
 * lives on (it only closed a pool or lost its connection) keeps its
 * elements: they may still be in use. */
static void conn_watch(struct ctl_conn *c)
{
	struct watch *w;

	if (!c->attached)
		return;
	w = watch_for(c->ctl, c->cred.pid, c->cred.uid, &c->pidfd);
	if (!w || watch_reserve(w, c->nr_attached) < 0)
		return;
	for (struct attach *a = c->attached; a; a = a->next)
		w->e[w->n++] = (struct watch_entry){ a->pool->serial, a->client_id };
	watch_check(w);
}

/**
 * ctl_watch_holders() - watch the processes that held elements of the
 * pools taken back from the fd store, under the previous daemon's ids:
 * what a process still holds comes back when it exits (at once if it is
 * gone).  Its new attachments have new ids and their own watches.
 * @ctl: the control socket.
 *
 * A pid may have been reused meanwhile by a process that never held
 * anything: then the elements come back when that one exits, not sooner.
 *
 * Context: start-up, after the pools are restored.
 */
void ctl_watch_holders(struct ctl *ctl)
{
	for (struct pool *p = ctl->d->pools; p; p = p->next) {
		const struct pool_holder *h;
		uint32_t n, watched = 0, gone = 0;

		if (!p->restored)
			continue;
		p->restored = false;
		h = pool_holders(p, &n);
		for (uint32_t i = 0; i < n; i++) {
			if (!h[i].id)
				continue;
			int pidfd = h[i].pid > 0 ? pidfd_open(h[i].pid, 0) : -1;
			if (pidfd < 0 && h[i].pid > 0 && errno == ESRCH) {
				pool_client_died(p, h[i].id);   /* gone */
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
			struct watch *w = watch_for(ctl, h[i].pid, (uid_t)-1, &pidfd);
			if (pidfd >= 0)
				close(pidfd);   /* the process had a watch already */
			if (!w || watch_reserve(w, 1) < 0)
				continue;
			w->e[w->n++] = (struct watch_entry){ p->serial, h[i].id };
			watched++;
		}
		if (watched || gone)
			log_info("pool %s: %u earlier client(s) watched for their exit, %u gone "
				 "(what they held comes back)", p->cfg.name, watched, gone);
	}
	for (struct watch *w = ctl->watches, *next; w; w = next) {
		next = w->next;
		watch_check(w);
	}
}

static void conn_free(struct ctl_conn *c)
{
	struct ctl *ctl = c->ctl;

	conn_watch(c);
	if (c->pidfd >= 0)
		close(c->pidfd);
	while (c->attached) {
		struct attach *a = c->attached;
		c->attached = a->next;
		attach_free(a);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->nr_conns--;
	if (c->ev_partial)
		event_free(c->ev_partial);
	bufferevent_free(c->bev);
	free(c);
	ctl_fd_freed(ctl);
}

/* request_timeout_ms of the running configuration (0, in a context that
 * did not read a file: the default) */
static uint32_t ctl_request_timeout_ms(const struct ctl *ctl)
{
	uint32_t ms = ctl->d->cfg->request_timeout_ms;

	return ms ? ms : CONFIG_DEFAULT_REQUEST_TIMEOUT_MS;
}

/* A request line stayed incomplete for request_timeout_ms: a peer that
 * stopped mid-line (or trickles bytes that never end one) would hold its
 * connection, and a slot of max_clients, for ever.  The reply explains;
 * then the connection closes, like one whose line is too long.  Its
 * attachments end with it, and what their process holds comes back when
 * it exits (conn_watch()). */
static void conn_partial_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;
	size_t have = evbuffer_get_length(bufferevent_get_input(c->bev));
	json_t *r;

	(void)fd; (void)what;
	c->partial = false;
	if (!c->dead) {
		log_notice("client pid %d uid %u: request line incomplete after %u ms "
			   "(%zu bytes, no newline): closing", (int)c->cred.pid,
			   (unsigned)c->cred.uid, c->partial_ms, have);
		r = ctl_error(c->ctl, ETIMEDOUT, "request line incomplete after %u ms "
			      "(request_timeout_ms): closing the connection", c->partial_ms);
		conn_send(c, r, NULL, 0);
		json_decref(r);
		c->dead = true;   /* logged above */
	}
	conn_free(c);
}

/* After a read: time the partial request line left in the input buffer,
 * if any, from its first byte.  @ended: a line ended in this read, so
 * what is left began in it; otherwise a line already timed is still the
 * same line, and more bytes of it do not restart its clock. */
static void conn_partial_watch(struct ctl_conn *c, bool ended)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct timeval tv;
	uint32_t ms;

	if (evbuffer_get_length(in) == 0) {
		if (c->partial)
			event_del(c->ev_partial);
		c->partial = false;
		return;
	}
	if (c->partial && !ended)
		return;
	ms = ctl_request_timeout_ms(c->ctl);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (event_add(c->ev_partial, &tv) < 0) {
		conn_kill(c, "cannot time a partial request line");
		return;
	}
	c->partial = true;
	c->partial_ms = ms;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	bool ended = false;
	size_t n;
	char *line;

	while (!c->dead && (line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
		conn_handle_line(c, line, n);
		free(line);
		ended = true;
	}
	if (!c->dead && evbuffer_get_length(in) > PCP_MAX_LINE) {
		json_t *r = ctl_error(c->ctl, E2BIG, "request line longer than %u bytes",
				      PCP_MAX_LINE);
		conn_send(c, r, NULL, 0);
		json_decref(r);
		conn_kill(c, "request line too long");
	}
	if (!c->dead)
		conn_partial_watch(c, ended);
	if (c->dead)
		conn_free(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)arg;
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("client pid %d uid %u disconnected", (int)c->cred.pid,
			  (unsigned)c->cred.uid);
		conn_free(c);
	}
}

static void refuse(int fd, const char *code, const char *msg)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "{\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
			 code, msg);

	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("refusal not delivered: %s", strerror(errno));
	close(fd);
}

static void ctl_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
			  struct sockaddr *sa, int salen, void *arg)
{
	struct ctl *ctl = arg;
	struct ctl_conn *c;
	socklen_t len = sizeof(struct ucred);
	struct ucred cred;
	unsigned same_uid = 0;

	(void)lis; (void)sa; (void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	if (ctl->nr_conns >= ctl->d->cfg->max_clients) {
		log_warning("refusing pid %d: %u clients connected", (int)cred.pid, ctl->nr_conns);
		refuse(fd, "EUSERS", "too many clients");
		return;
	}
	for (struct ctl_conn *o = ctl->conns; o; o = o->next)
		same_uid += o->cred.uid == cred.uid;
	if (same_uid >= PCP_MAX_CLIENTS_PER_UID) {
		log_warning("refusing pid %d: uid %u has %u connections", (int)cred.pid,
			    (unsigned)cred.uid, same_uid);
		refuse(fd, "EUSERS", "too many connections for this uid");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->cred = cred;
	/* the peer's groups, for pool permissions and the admin group */
	gid_t groups[CTL_MAX_GROUPS];
	socklen_t glen = sizeof(groups);
	c->gids[c->nr_gids++] = cred.gid;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
		for (size_t i = 0; i < glen / sizeof(gid_t) && c->nr_gids < CTL_MAX_GROUPS; i++)
			c->gids[c->nr_gids++] = groups[i];
	c->pidfd = -1;   /* opened at its first attach */
	c->ev_partial = evtimer_new(ctl->d->base, conn_partial_cb, c);
	c->bev = c->ev_partial ? bufferevent_socket_new(ctl->d->base, fd,
							 BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (!c->bev) {
		if (c->ev_partial)
			event_free(c->ev_partial);
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, PCP_MAX_LINE + 2);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	ctl->nr_conns++;
	log_debug("client pid %d uid %u connected", (int)cred.pid, (unsigned)cred.uid);
}

static void ctl_accept_error_cb(struct evconnlistener *lis, void *arg)
{
	struct ctl *ctl = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* stop accepting until a connection closes, instead of spinning */
		log_warning("accept: %s: pausing the listener", strerror(err));
		evconnlistener_disable(lis);
		ctl->paused = true;
		return;
	}
	log_warning("accept: %s", strerror(err));
}

/**
 * ctl_bind() - create, bind and listen on the control socket at @path.
 * @path: socket path; its directory is created (0755) if missing.
 * @ret_fd: the listening descriptor (non-blocking, close-on-exec).
 *
 * A stale socket (nobody accepting) is replaced; a live one is an error.
 * The socket is created mode 0660: not world-accessible.
 *
 * Return: 0 or a negative errno (-EADDRINUSE when another daemon serves it).
 */
int ctl_bind(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return -EEXIST;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	mode_t old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/**
 * ctl_open() - serve the control protocol on @listen_fd.
 * @d: daemon; d->ctl is set on success.
 * @listen_fd: a listening stream socket (owned by the ctl from now on).
 *
 * Context: event loop setup.
 * Return: 0 or -ENOMEM.
 */
int ctl_open(struct daemon *d, int listen_fd)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));

	if (!ctl)
		return -ENOMEM;
	ctl->d = d;
	evutil_make_socket_nonblocking(listen_fd);
	evutil_make_socket_closeonexec(listen_fd);
	ctl->lis = evconnlistener_new(d->base, ctl_accept_cb, ctl,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
				      listen_fd);
	if (!ctl->lis) {
		free(ctl);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(ctl->lis, ctl_accept_error_cb);
	d->ctl = ctl;
	return 0;
}

/**
 * ctl_close() - close every connection and the listener.
 * @ctl: the ctl or NULL.
 */
void ctl_close(struct ctl *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns)
		conn_free(ctl->conns);
	while (ctl->watches)
		watch_free(ctl->watches);
	evconnlistener_free(ctl->lis);
	free(ctl);
}

/**
 * ctl_nr_clients() - connected clients.
 * @ctl: the ctl.
 *
 * Return: the count.
 */
unsigned ctl_nr_clients(const struct ctl *ctl)
{
	return ctl ? ctl->nr_conns : 0;
}
