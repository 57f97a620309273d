// SPDX-License-Identifier: MIT
/*
 * conn.c - the control connection's transport: connecting, bounded waits,
 * sending a line, receiving a reply line with its descriptors, request
 * lines, a reply's status (errno names), hello.
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* control connection: transport                                       */

/* Wait for @events on @fd until @deadline.  Return 0 or -ETIMEDOUT/-errno. */
static int conn_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, util_ms_left(deadline));

		if (r > 0) {
			if (pfd.revents & POLLNVAL)
				return -EBADF;
			return 0;  /* ready, or an error the next call reports */
		}
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Send all @n bytes at @p before @deadline; *ret_sent counts the bytes
 * that left, whatever the result. */
static int conn_send_all(int fd, const char *p, size_t n, int64_t deadline,
			 size_t *ret_sent)
{
	*ret_sent = 0;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int r = conn_wait(fd, POLLOUT, deadline);

				if (r < 0)
					return r;
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		*ret_sent += (size_t)w;
	}
	return 0;
}

/* Keep the SCM_RIGHTS descriptors of one recvmsg: the first @max overall
 * go to @fds, the rest are closed; *nfds counts all of them. */
static void conn_collect_fds(struct msghdr *mh, int *fds, size_t max, size_t *nfds)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(cm);

		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, data + i * sizeof(int), sizeof(int));
			if (*nfds < max)
				fds[*nfds] = fd;
			else
				close(fd);
			(*nfds)++;
		}
	}
}

/* Read until c->buf holds a whole line; return its length (without the
 * newline) in *ret_len.  Bytes after it stay in the buffer.  Locked.
 * Errors other than -ETIMEDOUT and -ENOMEM leave the stream unusable. */
static int conn_recv_line(struct pcpupool_client *c, int64_t deadline,
			  int *fds, size_t max_fds, size_t *nfds, size_t *ret_len)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * CTL_CMSG_FDS)];
	} cbuf;

	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;

		if (nl) {
			*ret_len = (size_t)(nl - c->buf);
			return 0;
		}
		if (c->len > PCP_MAX_REPLY)
			return -EPROTO;  /* a line longer than the protocol allows */
		if (c->len == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : CTL_BUF_INIT;
			char *nb;

			if (ncap > (size_t)PCP_MAX_REPLY + 1)
				ncap = (size_t)PCP_MAX_REPLY + 1;
			nb = realloc(c->buf, ncap);
			if (!nb)
				return -ENOMEM;
			c->buf = nb;
			c->cap = ncap;
		}

		int r = conn_wait(c->fd, POLLIN, deadline);

		if (r < 0)
			return r;

		struct iovec iov = { .iov_base = c->buf + c->len, .iov_len = c->cap - c->len };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b),
		};
		ssize_t got = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		conn_collect_fds(&mh, fds, max_fds, nfds);
		if (got == 0)
			return -EPIPE;  /* the daemon closed the connection */
		c->len += (size_t)got;
	}
}

/* Drop the first @n bytes of the buffer (a line and its newline). */
static void conn_consume(struct pcpupool_client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static void conn_buf_reset(struct pcpupool_client *c)
{
	c->len = 0;
	if (c->cap > CTL_BUF_KEEP) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
}

/* Mark the connection unusable; return @err for the caller to report.
 * The next control call reconnects (request_call_locked()). */
static int conn_break(struct pcpupool_client *c, int err)
{
	if (!c->err)
		c->err = -err > 0 ? -err : EPROTO;
	c->len = 0;
	return err;
}

/* Close the connection, if any, and leave the client broken.  Locked. */
void conn_drop(struct pcpupool_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->err = ENOTCONN;
	c->stale = 0;
	conn_buf_reset(c);
}

/* Discard the replies owed to earlier timed-out requests (and the
 * descriptors they carry).  Locked. */
static int conn_drain_stale(struct pcpupool_client *c, int64_t deadline)
{
	while (c->stale) {
		int junk[1];
		size_t nj = 0, n;
		int r = conn_recv_line(c, deadline, junk, 0, &nj, &n);

		if (r == -ETIMEDOUT || r == -ENOMEM)
			return r;
		if (r < 0)
			return conn_break(c, r);
		conn_consume(c, n + 1);
		c->stale--;
	}
	if (c->len)
		return conn_break(c, -EPROTO);  /* bytes nobody asked for */
	conn_buf_reset(c);
	return 0;
}

/* One request/reply exchange on the current connection, locked.  On
 * success *ret_reply holds the parsed reply (any "ok" value).  *ret_sent
 * tells whether any byte of the request left, i.e. whether the daemon may
 * have acted on it. */
static int conn_xfer(struct pcpupool_client *c, const char *line, size_t len,
		     int64_t deadline, json_t **ret_reply, int *fds, size_t max_fds,
		     size_t *nfds, bool *ret_sent)
{
	json_error_t jerr;
	size_t n, sent = 0;
	int r;

	*ret_sent = false;
	if (c->err || c->fd < 0)
		return -ENOTCONN;
	r = conn_drain_stale(c, deadline);
	if (r < 0)
		return r;
	r = conn_send_all(c->fd, line, len, deadline, &sent);
	*ret_sent = sent > 0;
	if (r == -EPIPE || r == -ECONNRESET) {
		/* the daemon may have refused the connection (too many clients)
		 * and closed it: its one reply line says why */
		size_t none = 0;
		int64_t soon = util_now_ms() + 100;

		if (conn_recv_line(c, soon < deadline ? soon : deadline, NULL, 0,
				   &none, &n) == 0) {
			*ret_reply = json_loadb(c->buf, n, JSON_REJECT_DUPLICATES, &jerr);
			conn_break(c, r);
			if (*ret_reply)
				return 0;
		}
	}
	if (r < 0)
		return conn_break(c, r);  /* possibly half a line: no way back */
	r = conn_recv_line(c, deadline, fds, max_fds, nfds, &n);
	if (r == -ETIMEDOUT || r == -ENOMEM) {
		/* the reply is still owed (or partly read): the rest of its
		 * line is skipped before the next request */
		c->len = 0;
		if (++c->stale > CTL_MAX_STALE)
			return conn_break(c, r);
		return r;
	}
	if (r < 0)
		return conn_break(c, r);
	if (n + 1 != c->len)
		return conn_break(c, -EPROTO);  /* bytes after the reply */
	*ret_reply = json_loadb(c->buf, n, JSON_REJECT_DUPLICATES, &jerr);
	conn_buf_reset(c);
	return *ret_reply ? 0 : -EPROTO;
}

/* Serialise @req (always consumed; NULL: -ENOMEM) into one request line,
 * newline included. */
int conn_line(json_t *req, char line[PCP_MAX_LINE], size_t *ret_len)
{
	size_t len;

	if (!req)
		return -ENOMEM;
	len = json_dumpb(req, line, PCP_MAX_LINE - 1, JSON_COMPACT);
	json_decref(req);
	if (len == 0)
		return -ENOMEM;
	if (len > PCP_MAX_LINE - 1)
		return -E2BIG;
	line[len++] = '\n';
	*ret_len = len;
	return 0;
}

/* A request naming one pool: {"cmd":@cmd,"pool":@name}. */
int conn_pool_line(const char *cmd, const char *name, char line[PCP_MAX_LINE],
		   size_t *ret_len)
{
	return conn_line(json_pack("{s:s, s:s}", PCP_F_CMD, cmd, PCP_F_POOL, name),
			 line, ret_len);
}

/* The detach of attachment @id of pool @name (0: the connection's latest
 * attachment of it, when the id is not known). */
int conn_detach_line(const char *name, json_int_t id, char line[PCP_MAX_LINE],
		     size_t *ret_len)
{
	if (id <= 0)
		return conn_pool_line(PCP_CMD_DETACH, name, line, ret_len);
	return conn_line(json_pack("{s:s, s:s, s:I}", PCP_F_CMD, PCP_CMD_DETACH,
				   PCP_F_POOL, name, PCP_F_CLIENT_ID, id),
			line, ret_len);
}

/* The errno an error reply's "code" names; EPROTO for anything else. */
static int conn_errno_from_code(const char *code)
{
	if (code)
		for (size_t i = 0; i < PCP_NR_ERRNAMES; i++)
			if (!strcmp(code, pcp_errnames[i].name))
				return pcp_errnames[i].err;
	return EPROTO;
}

/* 0 for {"ok":true,...}, the daemon's error as -errno, else -EPROTO. */
static int conn_status(json_t *reply)
{
	json_t *ok = json_object_get(reply, PCP_F_OK);

	if (!json_is_object(reply) || !json_is_boolean(ok))
		return -EPROTO;
	if (json_is_true(ok))
		return 0;

	json_t *err = json_object_get(reply, PCP_F_ERROR);

	return -conn_errno_from_code(json_string_value(json_object_get(err, PCP_F_CODE)));
}

/**
 * conn_call() - one exchange on the current connection, no reconnection.
 * @c: client, locked.
 * @line: the request line, newline included; @len bytes.
 * @len: its length.
 * @deadline: bound of the whole exchange (CLOCK_MONOTONIC ms).
 * @ret_reply: the reply, {"ok":true,...}; NULL to discard it.
 * @fds: receives up to @max_fds descriptors passed with the reply.
 * @max_fds: capacity of @fds; descriptors beyond it are closed.
 * @ret_nfds: number of descriptors the reply carried (may exceed @max_fds);
 *            NULL to close them all.
 * @ret_sent: whether any byte of the request left (NULL if not wanted).
 *
 * On failure every received descriptor is closed and *ret_nfds is 0.  A
 * transport failure leaves the client broken (c->err set).
 *
 * Context: may block until @deadline; caller holds c->lock.
 * Return: 0, the daemon's error as -errno, or a transport error.
 */
int conn_call(struct pcpupool_client *c, const char *line, size_t len,
	      int64_t deadline, json_t **ret_reply, int *fds, size_t max_fds,
	      size_t *ret_nfds, bool *ret_sent)
{
	json_t *reply = NULL;
	size_t nfds = 0, kept;
	bool sent;
	int r;

	r = conn_xfer(c, line, len, deadline, &reply, fds, max_fds, &nfds, &sent);
	if (r == 0)
		r = conn_status(reply);
	if (r == 0 && ret_reply)
		*ret_reply = reply;
	else
		json_decref(reply);
	kept = nfds < max_fds ? nfds : max_fds;
	if (r < 0 || !ret_nfds) {
		if (kept)
			util_close_fds(fds, kept);
		nfds = 0;
	}
	if (ret_nfds)
		*ret_nfds = nfds;
	if (ret_sent)
		*ret_sent = sent;
	return r;
}

/* Connect a stream socket to @path, waiting for backlog room at most until
 * @deadline.  Return the descriptor (non-blocking, close-on-exec) or
 * -errno (-ETIMEDOUT when the backlog stayed full). */
int conn_connect(const char *path, int64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	unsigned int backoff_us = CONNECT_BACKOFF_MIN_US;
	socklen_t salen;
	int fd;

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@') {
		/* "@name": Linux abstract namespace, as systemd spells it */
		sa.sun_path[0] = '\0';
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		salen = (socklen_t)sizeof(sa);
	}
	/* non-blocking, so that a daemon that stopped accepting (full
	 * backlog) cannot hold us past the deadline: AF_UNIX then fails with
	 * EAGAIN and leaves the socket unconnected, free to try again */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
		int err = errno, left_ms;

		if (err == EINTR)
			continue;
		left_ms = util_ms_left(deadline);
		if ((err == EAGAIN || err == EINPROGRESS) && left_ms > 0) {
			util_backoff_sleep(&backoff_us, CONNECT_BACKOFF_MAX_US, left_ms);
			continue;
		}
		close(fd);
		return err == EAGAIN || err == EINPROGRESS ? -ETIMEDOUT : -err;
	}
	return fd;
}

/* Adopt the connected socket @fd and check the protocol version with
 * "hello".  Locked.  On failure the client is left broken, @fd closed. */
int conn_hello(struct pcpupool_client *c, int fd, int64_t deadline)
{
	char line[PCP_MAX_LINE];
	json_t *reply = NULL, *ver;
	size_t len;
	int r;

	conn_drop(c);
	c->fd = fd;
	c->err = 0;
	r = conn_line(json_pack("{s:s, s:i}", PCP_F_CMD, PCP_CMD_HELLO,
				PCP_F_VERSION, PCP_PROTO_VERSION), line, &len);
	if (r == 0)
		r = conn_call(c, line, len, deadline, &reply, NULL, 0, NULL, NULL);
	if (r == 0) {
		ver = json_object_get(reply, PCP_F_VERSION);
		if (!json_is_integer(ver) || json_integer_value(ver) != PCP_PROTO_VERSION)
			r = -EPROTO;
		json_decref(reply);
	}
	if (r < 0)
		conn_drop(c);
	return r;
}
