// SPDX-License-Identifier: MIT
/*
 * conn.c - the control socket: the listener, its connections, their
 * request lines and replies.
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
 * Each complete line goes to cmd_dispatch() (cmd.c); the reply comes back
 * through conn_send() or conn_error().  A connection's attachments end
 * with it (attach.c), and what their process holds comes back when it
 * exits (watch.c).
 */
#include "conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach.h"
#include "cmd.h"
#include "log.h"
#include "watch.h"

/* The listener and every connection it accepted. */
struct conn_listener {
	struct daemon *d;
	struct evconnlistener *lis;
	struct conn *conns;
	unsigned nr_conns;
	bool paused;             /* listener disabled: out of descriptors */
};

/* ---- replies ---- */

_Static_assert(PCP_NR_ERRNAMES <= DAEMON_ERR_CODES, "every error code has a counter");

/**
 * conn_error() - an error reply for @c, counted by code for the stats.
 * @c: the connection.
 * @err: an errno (its sign ignored); one without a name is EIO.
 * @fmt: the message, printf-style.
 *
 * Return: the reply (never NULL).
 */
json_t *conn_error(struct conn *c, int err, const char *fmt, ...)
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
			c->d->errors[i]++;
			break;
		}
	if (err != EIO && !strcmp(name, "EIO"))
		c->d->errors_other++;   /* an errno without a name: counted as EIO */
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

/**
 * conn_ok() - the reply {"ok":true}.
 *
 * Return: a new JSON object, or NULL on allocation failure.
 */
json_t *conn_ok(void)
{
	return json_pack("{s:b}", PCP_F_OK, 1);
}

static void conn_kill(struct conn *c, const char *why)
{
	if (!c->dead)
		log_info("client pid %d uid %u: closing: %s", (int)c->cred.pid,
			 (unsigned)c->cred.uid, why);
	c->dead = true;
}

/**
 * conn_send() - send one reply line; @fds ride on its first byte.  A peer
 * that does not read its replies is disconnected rather than buffered
 * without bound.
 * @c: the connection.
 * @reply: the reply (not consumed; NULL: out of memory).
 * @fds: descriptors to pass, or NULL.
 * @nfds: how many (at most 2).
 */
void conn_send(struct conn *c, json_t *reply, const int *fds, int nfds)
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
	/* a peer that left a backlog unread gets no more; one reply, however
	 * long (up to PCP_MAX_REPLY), goes to a peer that reads */
	if (evbuffer_get_length(out) > PCP_MAX_BACKLOG || len > PCP_MAX_REPLY) {
		conn_kill(c, len > PCP_MAX_REPLY ? "reply too long" : "replies not read");
		goto out;
	}
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
out:
	free(s);
}

/**
 * conn_fd_freed() - a descriptor came free (a connection, a refill
 * channel, a pidfd): if the listener stopped for want of one, accept
 * again.
 * @d: daemon.
 */
void conn_fd_freed(struct daemon *d)
{
	struct conn_listener *cl = d->listener;

	if (cl && cl->paused) {
		cl->paused = false;
		evconnlistener_enable(cl->lis);
	}
}

static void conn_free(struct conn *c)
{
	struct daemon *d = c->d;
	struct conn_listener *cl = d->listener;

	watch_conn(c);
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
		cl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	cl->nr_conns--;
	if (c->ev_partial)
		event_free(c->ev_partial);
	bufferevent_free(c->bev);
	free(c);
	conn_fd_freed(d);
}

/* request_timeout_ms of the running configuration (0, in a context that
 * did not read a file: the default) */
static uint32_t request_timeout_ms(const struct daemon *d)
{
	uint32_t ms = d->cfg->request_timeout_ms;

	return ms ? ms : CONFIG_DEFAULT_REQUEST_TIMEOUT_MS;
}

/* A request line stayed incomplete for request_timeout_ms: a peer that
 * stopped mid-line (or trickles bytes that never end one) would hold its
 * connection, and a slot of max_clients, for ever.  The reply explains;
 * then the connection closes, like one whose line is too long.  Its
 * attachments end with it, and what their process holds comes back when
 * it exits (watch_conn()). */
static void conn_partial_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	size_t have = evbuffer_get_length(bufferevent_get_input(c->bev));
	json_t *r;

	(void)fd; (void)what;
	c->partial = false;
	if (!c->dead) {
		log_notice("client pid %d uid %u: request line incomplete after %u ms "
			   "(%zu bytes, no newline): closing", (int)c->cred.pid,
			   (unsigned)c->cred.uid, c->partial_ms, have);
		r = conn_error(c, ETIMEDOUT, "request line incomplete after %u ms "
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
static void conn_partial_watch(struct conn *c, bool ended)
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
	ms = request_timeout_ms(c->d);
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
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	bool ended = false;
	size_t n;
	char *line;

	while (!c->dead && (line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
		cmd_dispatch(c, line, n);
		free(line);
		ended = true;
	}
	if (!c->dead && evbuffer_get_length(in) > PCP_MAX_LINE) {
		json_t *r = conn_error(c, E2BIG, "request line longer than %u bytes",
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
	struct conn *c = arg;

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

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct conn_listener *cl = arg;
	struct conn *c;
	socklen_t len = sizeof(struct ucred);
	struct ucred cred;
	unsigned same_uid = 0;

	(void)lis; (void)sa; (void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	if (cl->nr_conns >= cl->d->cfg->max_clients) {
		log_warning("refusing pid %d: %u clients connected", (int)cred.pid, cl->nr_conns);
		refuse(fd, "EUSERS", "too many clients");
		return;
	}
	for (struct conn *o = cl->conns; o; o = o->next)
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
	c->d = cl->d;
	c->fd = fd;
	c->cred = cred;
	/* the peer's groups, for pool permissions and the admin group */
	gid_t groups[CONN_MAX_GROUPS];
	socklen_t glen = sizeof(groups);
	c->gids[c->nr_gids++] = cred.gid;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
		for (size_t i = 0; i < glen / sizeof(gid_t) && c->nr_gids < CONN_MAX_GROUPS; i++)
			c->gids[c->nr_gids++] = groups[i];
	c->pidfd = -1;   /* opened at its first attach */
	c->ev_partial = evtimer_new(cl->d->base, conn_partial_cb, c);
	c->bev = c->ev_partial ? bufferevent_socket_new(cl->d->base, fd,
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
	c->next = cl->conns;
	if (cl->conns)
		cl->conns->prev = c;
	cl->conns = c;
	cl->nr_conns++;
	log_debug("client pid %d uid %u connected", (int)cred.pid, (unsigned)cred.uid);
}

static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
	struct conn_listener *cl = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* stop accepting until a connection closes, instead of spinning */
		log_warning("accept: %s: pausing the listener", strerror(err));
		evconnlistener_disable(lis);
		cl->paused = true;
		return;
	}
	log_warning("accept: %s", strerror(err));
}

/**
 * conn_bind() - create, bind and listen on the control socket at @path.
 * @path: socket path; its directory is created (0755) if missing.
 * @ret_fd: the listening descriptor (non-blocking, close-on-exec).
 *
 * A stale socket (nobody accepting) is replaced; a live one is an error.
 * The socket is created mode 0660: not world-accessible.
 *
 * Return: 0 or a negative errno (-EADDRINUSE when another daemon serves it).
 */
int conn_bind(const char *path, int *ret_fd)
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
 * conn_listen() - serve the control protocol on @listen_fd.
 * @d: daemon; d->listener is set on success.
 * @listen_fd: a listening stream socket (owned by the listener from now on).
 *
 * Context: event loop setup.
 * Return: 0 or -ENOMEM.
 */
int conn_listen(struct daemon *d, int listen_fd)
{
	struct conn_listener *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return -ENOMEM;
	cl->d = d;
	evutil_make_socket_nonblocking(listen_fd);
	evutil_make_socket_closeonexec(listen_fd);
	cl->lis = evconnlistener_new(d->base, accept_cb, cl,
				     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
				     listen_fd);
	if (!cl->lis) {
		free(cl);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(cl->lis, accept_error_cb);
	d->listener = cl;
	return 0;
}

/**
 * conn_shutdown() - close every connection and the listener (the watches
 * their attachments leave stay: watch_shutdown()).
 * @d: daemon; d->listener may be NULL.
 */
void conn_shutdown(struct daemon *d)
{
	struct conn_listener *cl = d->listener;

	if (!cl)
		return;
	while (cl->conns)
		conn_free(cl->conns);
	evconnlistener_free(cl->lis);
	free(cl);
	d->listener = NULL;
}

/**
 * conn_count() - connected clients.
 * @d: daemon.
 *
 * Return: the count.
 */
unsigned conn_count(const struct daemon *d)
{
	return d->listener ? d->listener->nr_conns : 0;
}
