// SPDX-License-Identifier: MIT
/*
 * pcpupool.c - libpcpupool, the client of pcpupoold.
 *
 * Two halves that share nothing at run time:
 *
 *   the fast path   pcpupool_alloc(NOWAIT) and pcpupool_free(): the rseq
 *                   slab core of slab.h on the pool's shared memory, plus
 *                   at most one non-blocking send() of a refill request on
 *                   the pool's datagram socket.  No lock, no malloc, no
 *                   stdio: async-signal-safe.  The hit path is a leaf; all
 *                   else is a tail call into a noinline slow function.
 *   the control     everything else: JSON lines on the client's Unix stream
 *   path            socket (protocol.h), one request and one reply at a
 *                   time under the client's mutex, every wait bounded.
 *
 * Stream framing: requests are strictly alternated with replies, so a reply
 * that times out is owed by the daemon; it is counted and discarded before
 * the next request instead of being taken for that request's reply.  Any
 * other transport error (EOF, reset, a line too long, bytes after the
 * reply) leaves the stream unusable: the client is marked broken.
 *
 * Reconnection: a daemon that dies or restarts leaves every pool mapped,
 * and the fast paths never notice.  The next control call on a broken
 * client (any pool's, or stats) reconnects under the client's mutex,
 * within that call's own timeout: a new socket to the same path, hello,
 * then "attach" again for every open handle (the client keeps a list).
 * For each, the memfd received is compared with the mapped one by st_dev
 * and st_ino:
 *   - the same object (a daemon restarted under systemd got it back from
 *     the fd store): the mapping and view stay; the new refill channel is
 *     dup3()ed over the old descriptor number, so a send() in a signal
 *     handler never meets a closed or reused number; the owner id the
 *     pops write is updated with one aligned 32-bit store;
 *   - anything else (pool gone or recreated, attach refused): the handle
 *     turns stale.  Its fast path keeps its old memory; its control calls
 *     fail with -ESTALE.  The pool can be opened again by name.
 * A request that meets a connection that broke before it left is sent
 * again on the new one; one that may have reached the old daemon is sent
 * again only if it is idempotent (attach, refill, resize, stats), never
 * create or destroy.  A daemon that cannot be reached fails the call at
 * once with -ENOTCONN; nothing waits for it to come back.  After
 * pcpupool_disconnect() nothing reconnects.
 *
 * The library never prints, exits or aborts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* this file defines the out-of-line pcpupool_alloc() and pcpupool_free() */
#define PCPUPOOL_NO_INLINE 1
#include "pcpupool.h"
#include "protocol.h"
#include "slab.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define PCPUPOOL_EXPORT __attribute__((visibility("default")))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- client-side limits and defaults ---- */

#define CTL_REPLY_TIMEOUT_MS    5000    /* one request's send + reply */
#define CTL_MAX_STALE           8       /* owed replies before giving up */
#define CTL_BUF_INIT            4096    /* reply buffer, grows to PCP_MAX_REPLY */
#define CTL_BUF_KEEP            65536   /* larger buffers are freed after use */
#define CTL_CMSG_FDS            8       /* fds one recvmsg can carry */
#define WAIT_TIMEOUT_ENV        "PCPUPOOL_WAIT_TIMEOUT_MS"
#define WAIT_TIMEOUT_DEFAULT_MS 2000
#define WAIT_TIMEOUT_MAX_MS     3600000 /* one hour: larger values clamp */
#define WAIT_BACKOFF_MIN_US     100
#define WAIT_BACKOFF_MAX_US     10000
#define CONNECT_BACKOFF_MIN_US  100     /* connect() retries on a full backlog */
#define CONNECT_BACKOFF_MAX_US  10000
#define SLAB_MAP_MAX            (UINT64_C(1) << 46) /* slab_layout()'s bound */

/* v.owner is read by every pop (core/slab_rseq.c, the rseq sections) without
 * synchronisation and rewritten by a reconnection with one aligned 32-bit
 * store (pool_reattach()): a pop marks its element with the old id or the
 * new one, both this process's.  ThreadSanitizer is told so. */
#ifdef SLAB_TSAN
void AnnotateBenignRaceSized(const char *file, int line, const volatile void *mem,
			     long size, const char *desc);
#define owner_race_benign(pool)                                             \
	AnnotateBenignRaceSized(__FILE__, __LINE__, &(pool)->v.owner,       \
				(long)sizeof((pool)->v.owner),              \
				"v.owner: rewritten on reconnection")
#else
#define owner_race_benign(pool) ((void)(pool))
#endif

/* the attach reply's descriptors (protocol.h names neither count nor order) */
#define ATTACH_NR_FDS           2
#define ATTACH_FD_MEM           0
#define ATTACH_FD_REFILL        1

/* reply fields protocol.h does not name */
#define F_SERVER                "server"
#define F_REFILLED              "refilled"
#define F_NR_CPUS               "nr_cpus"

/**
 * struct pcpupool_client - one control connection to pcpupoold.
 * @lock: serialises request/reply pairs and reconnections, and guards
 *        every field below and the @pools list (including each pool's
 *        @next, @prev and @stale).
 * @fd: the control socket, -1 while there is none.
 * @err: 0, or why the connection is unusable; the next control call
 *       reconnects (unless @closed).
 * @closed: pcpupool_disconnect() was called: never reconnect.
 * @stale: replies the daemon still owes for requests that timed out.
 * @pools: open handles attached through this client, stale ones included;
 *         the struct outlives pcpupool_disconnect() until this is empty.
 * @wait_timeout_ms: bound of a PCPUPOOL_WAIT allocation.
 * @path: the control socket's path, for reconnection.
 * @buf: reply assembly buffer, @len bytes used of @cap.
 */
struct pcpupool_client {
	pthread_mutex_t lock;
	struct pcpupool_client *all_next, *all_prev;  /* all_clients */
	int fd;
	int err;
	bool closed;
	unsigned int stale;
	struct pcpupool *pools;
	int wait_timeout_ms;
	char *path;
	char *buf;
	size_t len;
	size_t cap;
};

/**
 * struct pcpupool - one attached pool.
 * @v: the slab view; first, so the fast path reads one cache line of the
 *     handle (the handle is allocated cache-line aligned).  v.owner changes
 *     on reconnection (one aligned 32-bit store).
 * @client: the control connection it was attached through.
 * @next: the client's list of open handles.
 * @prev: ditto.
 * @memfd: the pool's shared-memory object.
 * @refill_fd: this attachment's end of the refill datagram channel; the
 *             number never changes while the handle is open (a
 *             reconnection dup3()s the new channel over it).
 * @stale: the daemon no longer serves this memory (see pcpupool_open()).
 * @mem_dev: st_dev of @memfd, to recognise the object after a restart.
 * @mem_ino: st_ino of @memfd.
 * @base: the mapping of the whole pool, @map_size bytes.
 * @name: pool name.
 */
struct pcpupool {
	struct slab_view v;
	struct pcpupool_client *client;
	struct pcpupool *next, *prev;
	int memfd;
	int refill_fd;
	bool stale;
	dev_t mem_dev;
	ino_t mem_ino;
	void *base;
	size_t map_size;
	uint64_t elem_size;     /* from the header copy validated at attach */
	char name[PCP_NAME_MAX + 1];
};

_Static_assert(offsetof(struct pcpupool, v) == 0, "the view is the handle's first line");

/* where in its page the handle (and so the view) is placed: the slab's
 * second line, which the hit path only reads */
#define POOL_VIEW_PAGE_OFF SLAB_CACHELINE

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

/* Sleep *backoff_us (at most @left_ms), then double it up to @max_us. */
static void backoff_sleep(unsigned int *backoff_us, unsigned int max_us, int left_ms)
{
	unsigned int us = *backoff_us;
	struct timespec ts;

	if ((uint64_t)us > (uint64_t)left_ms * 1000)
		us = (unsigned int)left_ms * 1000;
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	nanosleep(&ts, NULL);
	*backoff_us = *backoff_us * 2 > max_us ? max_us : *backoff_us * 2;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until @deadline, for poll(): 0 when it has passed. */
static int ms_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; fds && i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* The errno an error reply's "code" names; EPROTO for anything else. */
static int errno_from_code(const char *code)
{
	if (code)
		for (size_t i = 0; i < PCP_NR_ERRNAMES; i++)
			if (!strcmp(code, pcp_errnames[i].name))
				return pcp_errnames[i].err;
	return EPROTO;
}

/* ------------------------------------------------------------------ */
/* refill channel (async-signal-safe)                                  */

/* Ask the daemon to refill CPU @cpu's reserve.  Failure (queue full, daemon
 * gone) is ignored: the daemon's periodic sweep covers lost requests.
 * errno is preserved, so a successful allocation leaves it untouched. */
static void refill_send(const struct pcpupool *pool, uint32_t cpu)
{
	struct pcp_refill_msg m = {
		.magic = PCP_REFILL_MAGIC,
		.version = PCP_PROTO_VERSION,
		.type = PCP_REFILL_REQUEST,
		.cpu = cpu,
		.reserved = 0,
	};
	int saved = errno;

	(void)send(pool->refill_fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
	errno = saved;
}

/* ------------------------------------------------------------------ */
/* control connection: transport                                       */

/* Wait for @events on @fd until @deadline.  Return 0 or -ETIMEDOUT/-errno. */
static int ctl_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, ms_left(deadline));

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
static int ctl_send_all(int fd, const char *p, size_t n, int64_t deadline,
			size_t *ret_sent)
{
	*ret_sent = 0;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int r = ctl_wait(fd, POLLOUT, deadline);

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
static void ctl_collect_fds(struct msghdr *mh, int *fds, size_t max, size_t *nfds)
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
static int ctl_recv_line(struct pcpupool_client *c, int64_t deadline,
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

		int r = ctl_wait(c->fd, POLLIN, deadline);

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
		ctl_collect_fds(&mh, fds, max_fds, nfds);
		if (got == 0)
			return -EPIPE;  /* the daemon closed the connection */
		c->len += (size_t)got;
	}
}

/* Drop the first @n bytes of the buffer (a line and its newline). */
static void ctl_consume(struct pcpupool_client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static void ctl_buf_reset(struct pcpupool_client *c)
{
	c->len = 0;
	if (c->cap > CTL_BUF_KEEP) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
}

/* Mark the connection unusable; return @err for the caller to report.
 * The next control call reconnects (ctl_request_locked()). */
static int ctl_break(struct pcpupool_client *c, int err)
{
	if (!c->err)
		c->err = -err > 0 ? -err : EPROTO;
	c->len = 0;
	return err;
}

/* Close the connection, if any, and leave the client broken.  Locked. */
static void ctl_drop(struct pcpupool_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->err = ENOTCONN;
	c->stale = 0;
	ctl_buf_reset(c);
}

/* Discard the replies owed to earlier timed-out requests (and the
 * descriptors they carry).  Locked. */
static int ctl_drain_stale(struct pcpupool_client *c, int64_t deadline)
{
	while (c->stale) {
		int junk[1];
		size_t nj = 0, n;
		int r = ctl_recv_line(c, deadline, junk, 0, &nj, &n);

		if (r == -ETIMEDOUT || r == -ENOMEM)
			return r;
		if (r < 0)
			return ctl_break(c, r);
		ctl_consume(c, n + 1);
		c->stale--;
	}
	if (c->len)
		return ctl_break(c, -EPROTO);  /* bytes nobody asked for */
	ctl_buf_reset(c);
	return 0;
}

/* One request/reply exchange on the current connection, locked.  On
 * success *ret_reply holds the parsed reply (any "ok" value).  *ret_sent
 * tells whether any byte of the request left, i.e. whether the daemon may
 * have acted on it. */
static int ctl_xfer(struct pcpupool_client *c, const char *line, size_t len,
		    int64_t deadline, json_t **ret_reply, int *fds, size_t max_fds,
		    size_t *nfds, bool *ret_sent)
{
	json_error_t jerr;
	size_t n, sent = 0;
	int r;

	*ret_sent = false;
	if (c->err || c->fd < 0)
		return -ENOTCONN;
	r = ctl_drain_stale(c, deadline);
	if (r < 0)
		return r;
	r = ctl_send_all(c->fd, line, len, deadline, &sent);
	*ret_sent = sent > 0;
	if (r == -EPIPE || r == -ECONNRESET) {
		/* the daemon may have refused the connection (too many clients)
		 * and closed it: its one reply line says why */
		size_t none = 0;
		int64_t soon = now_ms() + 100;

		if (ctl_recv_line(c, soon < deadline ? soon : deadline, NULL, 0, &none, &n) == 0) {
			*ret_reply = json_loadb(c->buf, n, JSON_REJECT_DUPLICATES, &jerr);
			ctl_break(c, r);
			if (*ret_reply)
				return 0;
		}
	}
	if (r < 0)
		return ctl_break(c, r);  /* possibly half a line: no way back */
	r = ctl_recv_line(c, deadline, fds, max_fds, nfds, &n);
	if (r == -ETIMEDOUT || r == -ENOMEM) {
		/* the reply is still owed (or partly read): the rest of its
		 * line is skipped before the next request */
		c->len = 0;
		if (++c->stale > CTL_MAX_STALE)
			return ctl_break(c, r);
		return r;
	}
	if (r < 0)
		return ctl_break(c, r);
	if (n + 1 != c->len)
		return ctl_break(c, -EPROTO);  /* bytes after the reply */
	*ret_reply = json_loadb(c->buf, n, JSON_REJECT_DUPLICATES, &jerr);
	ctl_buf_reset(c);
	return *ret_reply ? 0 : -EPROTO;
}

/* Serialise @req (always consumed; NULL: -ENOMEM) into one request line,
 * newline included. */
static int ctl_line(json_t *req, char line[PCP_MAX_LINE], size_t *ret_len)
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
static int ctl_pool_line(const char *cmd, const char *name, char line[PCP_MAX_LINE],
			 size_t *ret_len)
{
	return ctl_line(json_pack("{s:s, s:s}", PCP_F_CMD, cmd, PCP_F_POOL, name),
			line, ret_len);
}

/* The detach of attachment @id of pool @name (0: the connection's latest
 * attachment of it, when the id is not known). */
static int ctl_detach_line(const char *name, json_int_t id, char line[PCP_MAX_LINE],
			   size_t *ret_len)
{
	if (id <= 0)
		return ctl_pool_line(PCP_CMD_DETACH, name, line, ret_len);
	return ctl_line(json_pack("{s:s, s:s, s:I}", PCP_F_CMD, PCP_CMD_DETACH,
				  PCP_F_POOL, name, PCP_F_CLIENT_ID, id),
			line, ret_len);
}

/* 0 for {"ok":true,...}, the daemon's error as -errno, else -EPROTO. */
static int ctl_status(json_t *reply)
{
	json_t *ok = json_object_get(reply, PCP_F_OK);

	if (!json_is_object(reply) || !json_is_boolean(ok))
		return -EPROTO;
	if (json_is_true(ok))
		return 0;

	json_t *err = json_object_get(reply, PCP_F_ERROR);

	return -errno_from_code(json_string_value(json_object_get(err, PCP_F_CODE)));
}

/**
 * ctl_call() - one exchange on the current connection, no reconnection.
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
static int ctl_call(struct pcpupool_client *c, const char *line, size_t len,
		    int64_t deadline, json_t **ret_reply, int *fds, size_t max_fds,
		    size_t *ret_nfds, bool *ret_sent)
{
	json_t *reply = NULL;
	size_t nfds = 0, kept;
	bool sent;
	int r;

	r = ctl_xfer(c, line, len, deadline, &reply, fds, max_fds, &nfds, &sent);
	if (r == 0)
		r = ctl_status(reply);
	if (r == 0 && ret_reply)
		*ret_reply = reply;
	else
		json_decref(reply);
	kept = nfds < max_fds ? nfds : max_fds;
	if (r < 0 || !ret_nfds) {
		if (kept)
			close_fds(fds, kept);
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
static int connect_unix(const char *path, int64_t deadline)
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
		left_ms = ms_left(deadline);
		if ((err == EAGAIN || err == EINPROGRESS) && left_ms > 0) {
			backoff_sleep(&backoff_us, CONNECT_BACKOFF_MAX_US, left_ms);
			continue;
		}
		close(fd);
		return err == EAGAIN || err == EINPROGRESS ? -ETIMEDOUT : -err;
	}
	return fd;
}

/* Adopt the connected socket @fd and check the protocol version with
 * "hello".  Locked.  On failure the client is left broken, @fd closed. */
static int ctl_hello(struct pcpupool_client *c, int fd, int64_t deadline)
{
	char line[PCP_MAX_LINE];
	json_t *reply = NULL, *ver;
	size_t len;
	int r;

	ctl_drop(c);
	c->fd = fd;
	c->err = 0;
	r = ctl_line(json_pack("{s:s, s:i}", PCP_F_CMD, PCP_CMD_HELLO,
			       PCP_F_VERSION, PCP_PROTO_VERSION), line, &len);
	if (r == 0)
		r = ctl_call(c, line, len, deadline, &reply, NULL, 0, NULL, NULL);
	if (r == 0) {
		ver = json_object_get(reply, PCP_F_VERSION);
		if (!json_is_integer(ver) || json_integer_value(ver) != PCP_PROTO_VERSION)
			r = -EPROTO;
		json_decref(reply);
	}
	if (r < 0)
		ctl_drop(c);
	return r;
}

/* ------------------------------------------------------------------ */
/* control connection: reconnection                                    */

/**
 * struct attach_info - the fields of an "attach" reply.
 * @map_size: bytes to map.
 * @client_id: this attachment's id, the owner mark of the elements it pops.
 * @elem_size: element size.
 * @nr_cpus: number of per-CPU slabs.
 * @max_elems: the pool's most elements (0: not sent, an older daemon).
 * @align: element alignment (0: not sent).
 * @slab_cap: slots per slab (0: not sent).
 */
struct attach_info {
	json_int_t map_size;
	json_int_t client_id;
	json_int_t elem_size;
	json_int_t nr_cpus;
	json_int_t max_elems;
	json_int_t align;
	json_int_t slab_cap;
};

/* Unpack and range-check an attach reply for pool @name. */
static int attach_parse(json_t *reply, const char *name, struct attach_info *ret_ai)
{
	struct attach_info ai;
	json_error_t jerr;
	const char *rname;

	ai.max_elems = ai.align = ai.slab_cap = 0;
	if (json_unpack_ex(reply, &jerr, 0, "{s:s, s:I, s:I, s:I, s:I, s?I, s?I, s?I}",
			   PCP_F_POOL, &rname, PCP_F_MAP_SIZE, &ai.map_size,
			   PCP_F_CLIENT_ID, &ai.client_id, PCP_F_ELEM_SIZE, &ai.elem_size,
			   F_NR_CPUS, &ai.nr_cpus, PCP_F_MAX_ELEMS, &ai.max_elems,
			   PCP_F_ALIGN, &ai.align, "slab_cap", &ai.slab_cap) < 0)
		return -EPROTO;
	if (strcmp(rname, name) || ai.map_size < SLAB_HDR_SIZE ||
	    (uint64_t)ai.map_size > SLAB_MAP_MAX || (uint64_t)ai.map_size > SIZE_MAX ||
	    ai.client_id < 1 || ai.client_id > UINT32_MAX)
		return -EPROTO;
	*ret_ai = ai;
	return 0;
}

/* Whether @fd is a datagram socket (a refill channel). */
static bool fd_is_dgram(int fd)
{
	int type = 0;
	socklen_t tlen = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
	       type == SOCK_DGRAM;
}

/* Whether an attach reply's descriptors and fields describe the very
 * shared-memory object @pool has mapped (a daemon that got its pools back
 * from the fd store), so the mapping and the view can be kept. */
static bool pool_same_object(const struct pcpupool *pool, json_t *reply,
			     const int *fds, struct attach_info *ret_ai)
{
	struct attach_info ai;
	struct stat st;

	if (attach_parse(reply, pool->name, &ai) < 0 ||
	    fstat(fds[ATTACH_FD_MEM], &st) < 0 ||
	    st.st_dev != pool->mem_dev || st.st_ino != pool->mem_ino ||
	    (uint64_t)ai.map_size != pool->map_size ||
	    (uint64_t)ai.elem_size != pool->elem_size ||
	    (uint64_t)ai.nr_cpus != pool->v.nr_cpus ||
	    !fd_is_dgram(fds[ATTACH_FD_REFILL]))
		return false;
	*ret_ai = ai;
	return true;
}

/* Install a new refill channel under @pool's descriptor number.  dup3()
 * swaps the open file behind the number in one step: a signal handler in
 * refill_send() sends on the old channel or the new one, never on a
 * closed or reused number. */
static int pool_swap_refill_fd(struct pcpupool *pool, int newfd)
{
	while (dup3(newfd, pool->refill_fd, O_CLOEXEC) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/**
 * pool_reattach() - attach @pool again over a new connection.
 * @pool: an open, not stale, handle of the client.
 * @deadline: bound of the exchanges.
 *
 * The same shared-memory object (compared by st_dev and st_ino) keeps the
 * mapping and the view: the new refill channel is swapped in under the old
 * descriptor number and the owner id is updated.  Anything else (the pool
 * is gone, was recreated, or the daemon refuses it) marks the handle
 * stale; an attachment the daemon made for it is undone.
 *
 * Context: caller holds the client's lock.
 * Return: 0 (reattached or marked stale), or a transport error, -ETIMEDOUT
 * or -ENOMEM, which fail the reconnection.
 */
static int pool_reattach(struct pcpupool *pool, int64_t deadline)
{
	struct pcpupool_client *c = pool->client;
	int fds[ATTACH_NR_FDS] = { -1, -1 };
	char line[PCP_MAX_LINE];
	struct attach_info ai;
	json_t *reply = NULL;
	size_t len, nfds = 0;
	bool same;
	int r;

	r = ctl_pool_line(PCP_CMD_ATTACH, pool->name, line, &len);
	if (r < 0)
		return r;
	r = ctl_call(c, line, len, deadline, &reply, fds, ATTACH_NR_FDS, &nfds, NULL);
	if (r < 0) {
		if (c->err || r == -ETIMEDOUT || r == -ENOMEM)
			return r;
		pool->stale = true;  /* ENOENT (gone), EUCLEAN, EACCES, ... */
		return 0;
	}
	same = nfds == ATTACH_NR_FDS && pool_same_object(pool, reply, fds, &ai) &&
	       pool_swap_refill_fd(pool, fds[ATTACH_FD_REFILL]) == 0;
	close_fds(fds, nfds < ATTACH_NR_FDS ? nfds : ATTACH_NR_FDS);
	json_int_t new_id = json_integer_value(json_object_get(reply, PCP_F_CLIENT_ID));
	json_decref(reply);
	if (same) {
		/* see owner_race_benign() */
		__atomic_store_n(&pool->v.owner, (uint32_t)ai.client_id, __ATOMIC_RELAXED);
		return 0;
	}
	/* a different object: the pool was recreated.  Keep the old memory
	 * for the fast path, give the new attachment back. */
	pool->stale = true;
	r = ctl_detach_line(pool->name, new_id, line, &len);
	if (r < 0)
		return r;
	r = ctl_call(c, line, len, deadline, NULL, NULL, 0, NULL, NULL);
	if (r < 0 && (c->err || r == -ETIMEDOUT))
		return r;
	return 0;
}

/* Map an error of connect() during reconnection: the daemon is not there
 * (no socket, refused, not permitted, no room) is -ENOTCONN; a shortage of
 * our own resources stays what it is. */
static int reconnect_err(int err)
{
	switch (err) {
	case -EMFILE: case -ENFILE: case -ENOMEM: case -ENOBUFS:
		return err;
	default:
		return -ENOTCONN;
	}
}

/**
 * ctl_reconnect() - replace a broken control connection.
 * @c: client, locked, broken (c->err set) and not disconnected.
 * @deadline: bound of the whole reconnection.
 *
 * Connects to the same socket path, says hello and attaches again every
 * open, not stale pool of the client (pool_reattach()).  On failure the
 * new connection is closed (the daemon drops whatever it attached) and
 * the client stays broken, to be tried again by the next control call.
 *
 * Context: may block until @deadline; caller holds c->lock.
 * Return: 0; -ENOTCONN when the daemon cannot be reached; -ETIMEDOUT,
 * -EPROTO (protocol mismatch), -ENOMEM, -EMFILE or a transport error
 * (as -ENOTCONN) when the new connection failed.
 */
static int ctl_reconnect(struct pcpupool_client *c, int64_t deadline)
{
	int fd, r;

	ctl_drop(c);
	fd = connect_unix(c->path, deadline);
	if (fd < 0)
		return reconnect_err(fd);
	r = ctl_hello(c, fd, deadline);
	for (struct pcpupool *pool = c->pools; pool && r == 0; pool = pool->next)
		if (!pool->stale)
			r = pool_reattach(pool, deadline);
	if (r < 0) {
		ctl_drop(c);
		return r == -EPIPE || r == -ECONNRESET ? -ENOTCONN : r;
	}
	return 0;
}

/* ctl_request_locked() flags */
#define CTL_RETRY 0x1  /* may be sent again when the connection broke after it left */

/**
 * ctl_request_locked() - one request, reconnecting first if need be.
 * @c: client, locked.
 * @pool: the pool the request is about, or NULL; a stale pool fails.
 * @line: the request line, newline included.
 * @len: its length.
 * @flags: CTL_RETRY if the request is idempotent: sent again on a new
 *         connection when the old one broke after it had left.  Any
 *         request is sent again when the connection broke before it left.
 * @deadline: bound of reconnection and exchange together.
 * @ret_reply: as ctl_call().
 * @fds: as ctl_call().
 * @max_fds: as ctl_call().
 * @ret_nfds: as ctl_call().
 *
 * A broken connection is replaced (ctl_reconnect()) at most once per call.
 *
 * Context: may block until @deadline; caller holds c->lock.
 * Return: 0, the daemon's error as -errno, -ESTALE (@pool is stale),
 * -ENOTCONN (disconnected, daemon unreachable, or the connection broke),
 * -ETIMEDOUT, -EPROTO, -ENOMEM.
 */
static int ctl_request_locked(struct pcpupool_client *c, struct pcpupool *pool,
			      const char *line, size_t len, unsigned int flags,
			      int64_t deadline, json_t **ret_reply, int *fds,
			      size_t max_fds, size_t *ret_nfds)
{
	bool reconnected = false, sent;
	int r;

	if (ret_nfds)
		*ret_nfds = 0;
	for (;;) {
		if (c->closed)
			return -ENOTCONN;
		if (pool && pool->stale)
			return -ESTALE;
		if (c->err) {
			if (reconnected)
				return -ENOTCONN;
			r = ctl_reconnect(c, deadline);
			if (r < 0)
				return r;
			reconnected = true;
			continue;  /* the pool may have turned stale */
		}
		r = ctl_call(c, line, len, deadline, ret_reply, fds, max_fds, ret_nfds, &sent);
		if (r >= 0 || !c->err)
			return r;
		/* the connection broke under this request: once, and only
		 * if the daemon cannot have acted on it or acting twice is
		 * harmless, reconnect and send it again */
		if (reconnected || (sent && !(flags & CTL_RETRY)))
			return r == -EPIPE || r == -ECONNRESET ? -ENOTCONN : r;
	}
}

/* Take the client's lock, with cancellation off: a cancelled thread must
 * not leave the mutex held or half a reply in the stream. */
static void ctl_lock(struct pcpupool_client *c, int *ret_cs)
{
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, ret_cs);
	pthread_mutex_lock(&c->lock);
}

static void ctl_unlock(struct pcpupool_client *c, int cs)
{
	pthread_mutex_unlock(&c->lock);
	pthread_setcancelstate(cs, NULL);
}

/**
 * ctl_request() - send one request and wait for its reply.
 * @c: client.
 * @pool: the pool the request is about (a stale one fails), or NULL.
 * @req: the request object; always consumed (NULL: -ENOMEM).
 * @flags: CTL_RETRY for idempotent requests (ctl_request_locked()).
 * @timeout_ms: bound for the whole exchange, reconnection included,
 *              counted from when the client's lock is taken.
 * @ret_reply: the reply, {"ok":true,...}; NULL to discard it.
 * @fds: receives up to @max_fds descriptors passed with the reply.
 * @max_fds: capacity of @fds; descriptors beyond it are closed.
 * @ret_nfds: number of descriptors the reply carried (may exceed @max_fds).
 *
 * On failure every received descriptor is closed and *ret_nfds is 0.
 *
 * Context: may block up to @timeout_ms (plus the wait for the lock);
 * MT-safe; not signal-safe.
 * Return: as ctl_request_locked().
 */
static int ctl_request(struct pcpupool_client *c, struct pcpupool *pool, json_t *req,
		       unsigned int flags, int timeout_ms, json_t **ret_reply,
		       int *fds, size_t max_fds, size_t *ret_nfds)
{
	char line[PCP_MAX_LINE];
	size_t len;
	int cs, r;

	if (ret_nfds)
		*ret_nfds = 0;
	r = ctl_line(req, line, &len);
	if (r < 0)
		return r;
	ctl_lock(c, &cs);
	r = ctl_request_locked(c, pool, line, len, flags, now_ms() + timeout_ms,
			       ret_reply, fds, max_fds, ret_nfds);
	ctl_unlock(c, cs);
	return r;
}

/* Synchronous refill: 0 (and *ret_refilled) or -errno. */
static int pool_refill_sync(struct pcpupool *pool, int timeout_ms, json_int_t *ret_refilled)
{
	json_t *reply;
	int r = ctl_request(pool->client, pool,
			    json_pack("{s:s, s:s}", PCP_F_CMD, PCP_CMD_REFILL,
				      PCP_F_POOL, pool->name),
			    CTL_RETRY, timeout_ms, &reply, NULL, 0, NULL);

	if (r < 0)
		return r;
	if (ret_refilled) {
		json_t *n = json_object_get(reply, F_REFILLED);

		*ret_refilled = json_is_integer(n) ? json_integer_value(n) : 0;
	}
	json_decref(reply);
	return 0;
}

static int env_wait_timeout_ms(void)
{
	const char *s = secure_getenv(WAIT_TIMEOUT_ENV);
	char *end;
	long v;

	if (!s || !*s)
		return WAIT_TIMEOUT_DEFAULT_MS;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0)
		return WAIT_TIMEOUT_DEFAULT_MS;
	return v > WAIT_TIMEOUT_MAX_MS ? WAIT_TIMEOUT_MAX_MS : (int)v;
}

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

static void atfork_register(void)
{
	/* fails only for want of memory: children then behave as before
	 * this existed (see pcpupool(3), fork) */
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void client_register(struct pcpupool_client *c)
{
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&all_clients_lock);
	c->all_next = all_clients;
	if (all_clients)
		all_clients->all_prev = c;
	all_clients = c;
	pthread_mutex_unlock(&all_clients_lock);
}

static void client_unregister(struct pcpupool_client *c)
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

static void client_free(struct pcpupool_client *c)
{
	client_unregister(c);
	pthread_mutex_destroy(&c->lock);
	free(c->path);
	free(c->buf);
	free(c);
}

/* ------------------------------------------------------------------ */
/* connect / disconnect                                                */

/**
 * pcpupool_connect() - open a control connection to pcpupoold.
 * @socket_path: the daemon's control socket; NULL for $PCPUPOOL_SOCKET
 *               (ignored in set-uid programs), else PCP_DEFAULT_SOCKET
 *               (/run/pcpupool/control.sock).  A leading '@' names a
 *               socket in the Linux abstract namespace.
 *
 * Connects and checks the protocol version with "hello".  Reads the bound
 * of PCPUPOOL_WAIT allocations from $PCPUPOOL_WAIT_TIMEOUT_MS (default
 * 2000 ms).  One connection serves any number of pools and threads.
 *
 * The path is remembered: when the connection breaks later (the daemon
 * restarted, crashed, or closed it), the next control call reconnects to
 * it and attaches the client's pools again (see pcpupool_open()).
 *
 * Context: may block (up to 5 s for the daemon's answer); MT-safe; not
 * async-signal-safe.
 * Return: the client, or NULL with errno set: EPROTO (protocol version
 * mismatch or a malformed reply), ENAMETOOLONG, ETIMEDOUT, ENOMEM, or the
 * errno of socket()/connect() (ENOENT, ECONNREFUSED, EACCES, ...).
 */
PCPUPOOL_EXPORT struct pcpupool_client *pcpupool_connect(const char *socket_path)
{
	struct pcpupool_client *c;
	int64_t deadline;
	int cs, fd, r;

	if (!socket_path) {
		socket_path = secure_getenv(PCP_SOCKET_ENV);
		if (!socket_path || !*socket_path)
			socket_path = PCP_DEFAULT_SOCKET;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	r = pthread_mutex_init(&c->lock, NULL);
	if (r) {
		free(c);
		errno = r;
		return NULL;
	}
	c->fd = -1;
	c->err = ENOTCONN;
	c->wait_timeout_ms = env_wait_timeout_ms();
	c->path = strdup(socket_path);
	if (!c->path) {
		r = -ENOMEM;
		goto fail;
	}
	/* registered before the socket exists and connected under the lock,
	 * so that a fork() meanwhile leaves the child no copy of it that
	 * nothing would close (the daemon would not see the parent go) */
	client_register(c);
	deadline = now_ms() + CTL_REPLY_TIMEOUT_MS;
	ctl_lock(c, &cs);
	fd = connect_unix(c->path, deadline);
	r = fd < 0 ? fd : ctl_hello(c, fd, deadline);
	ctl_unlock(c, cs);
	if (r < 0)
		goto fail;
	return c;
fail:
	client_free(c);
	errno = -r;
	return NULL;
}

/**
 * pcpupool_disconnect() - close a control connection.
 * @c: the client; NULL is a no-op.
 *
 * Close every pool opened through @c first.  If some are still open, the
 * connection is closed anyway (the daemon then treats them as detached;
 * their shared memory stays mapped, so alloc and free keep working), their
 * control calls fail with -ENOTCONN without reconnecting, and @c's memory
 * is released when the last of them is closed.
 *
 * Context: may block briefly on the client's lock; not async-signal-safe.
 * No other call may use @c concurrently or afterwards.
 */
PCPUPOOL_EXPORT void pcpupool_disconnect(struct pcpupool_client *c)
{
	bool last;
	int cs;

	if (!c)
		return;
	ctl_lock(c, &cs);
	c->closed = true;
	ctl_drop(c);
	last = !c->pools;
	ctl_unlock(c, cs);
	if (last)
		client_free(c);
}

/* ------------------------------------------------------------------ */
/* attach / create / close / destroy                                   */

/* Link @pool into its client's list of open handles.  Locked. */
static void pool_link(struct pcpupool *pool)
{
	struct pcpupool_client *c = pool->client;

	pool->prev = NULL;
	pool->next = c->pools;
	if (c->pools)
		c->pools->prev = pool;
	c->pools = pool;
}

/* Take @pool out of its client's list; return whether @c is disconnected
 * and this was its last pool (the caller then frees @c).  Locked. */
static bool pool_unlink(struct pcpupool *pool)
{
	struct pcpupool_client *c = pool->client;

	if (pool->prev)
		pool->prev->next = pool->next;
	else
		c->pools = pool->next;
	if (pool->next)
		pool->next->prev = pool->prev;
	pool->next = pool->prev = NULL;
	return c->closed && !c->pools;
}

/* Unmap and close @pool's resources and free it.  @pool must not be (or
 * no longer be) on its client's list: a reconnection could swap a refill
 * channel into a descriptor number closed here and reused elsewhere. */
static void pool_free(struct pcpupool *pool)
{
	slab_view_fini(&pool->v);
	if (pool->base)
		munmap(pool->base, pool->map_size);
	if (pool->memfd >= 0)
		close(pool->memfd);
	if (pool->refill_fd >= 0)
		close(pool->refill_fd);
	free((char *)pool - POOL_VIEW_PAGE_OFF);
}

/* Map the attach reply's memory and build the view.  Return 0 or -errno. */
static int pool_map(struct pcpupool *pool, json_t *reply, const char *name)
{
	struct attach_info ai;
	struct stat st;
	int r;

	r = attach_parse(reply, name, &ai);
	if (r < 0)
		return r;
	/* the descriptors are what they claim to be, and the header page is
	 * backed before we read it (else SIGBUS) */
	if (fstat(pool->memfd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)SLAB_HDR_SIZE)
		return -EPROTO;
	if (!fd_is_dgram(pool->refill_fd))
		return -EPROTO;
	/* another attached process must not be able to shrink the file under
	 * our mapping (every page past the end would raise SIGBUS here) */
	int seals = fcntl(pool->memfd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EPROTO;
	pool->mem_dev = st.st_dev;
	pool->mem_ino = st.st_ino;

	pool->map_size = (size_t)ai.map_size;
	pool->base = slab_map(pool->memfd, pool->map_size);
	if (pool->base == MAP_FAILED) {
		pool->base = NULL;
		return -errno;
	}

	/* one copy of the header, checked and then used for the view: any
	 * process attached may write the shared one */
	struct slab_hdr h;

	memcpy(&h, pool->base, sizeof(h));
	r = slab_validate_hdr(&h, 0);
	if (r < 0)
		return r;
	/* the daemon's record, which a process rewriting the header cannot
	 * change; the last three are not sent by daemons before 0.4 */
	if (h.map_size != (uint64_t)ai.map_size || h.elem_size != (uint64_t)ai.elem_size ||
	    h.nr_cpus != (uint64_t)ai.nr_cpus ||
	    (ai.max_elems && h.max_elems != (uint64_t)ai.max_elems) ||
	    (ai.align && h.elem_align != (uint64_t)ai.align) ||
	    (ai.slab_cap && h.slab_cap != (uint64_t)ai.slab_cap))
		return -EUCLEAN;
	/* the file backs the whole mapping (the daemon sizes it so at
	 * creation and seals it against shrinking), so no index below
	 * max_elems can raise SIGBUS, whatever the shared header's count of
	 * published elements says later (slab_published() bounds it by max_elems) */
	uint64_t pub = atomic_load_explicit(&((struct slab_hdr *)pool->base)->nr_published,
					    memory_order_acquire);

	if (pub > h.max_elems)
		return -EUCLEAN;
	if (fstat(pool->memfd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < h.map_size)
		return -EUCLEAN;
	pool->elem_size = h.elem_size;
	r = slab_view_init_hdr(&pool->v, pool->base, &h, pool->map_size,
			       (uint32_t)ai.client_id);
	if (r < 0)
		return r;
	/* the pages of the inline sections: the pool's slabs where they can
	 * run on them, else zeros (they then call the library every time) */
	r = slab_view_map_inline(&pool->v, pool->memfd);
	return r < 0 ? r : 0;
}

/**
 * pool_attach() - attach pool @name through @c.
 * @c: client.
 * @name: a valid pool name.
 * @ret_pool: the new handle, on success.
 *
 * The exchange, the mapping and the linking into the client's list happen
 * under one hold of the client's lock, so a reconnection by another thread
 * sees the handle either not at all (and this attach runs on the new
 * connection) or complete (and attaches it again).
 *
 * Return: 0, or -errno as pcpupool_open() reports it.
 */
static int pool_attach(struct pcpupool_client *c, const char *name,
		       struct pcpupool **ret_pool)
{
	int fds[ATTACH_NR_FDS] = { -1, -1 };
	char line[PCP_MAX_LINE];
	struct pcpupool *pool;
	json_t *reply = NULL;
	size_t len, nfds = 0;
	void *mem;
	int cs, r;

	/* the view sits at byte POOL_VIEW_PAGE_OFF of a page: every slab
	 * starts a page (slab_layout()), and the hit path's stores (count,
	 * the counters, slots) then never share bits 11:0 with the view's
	 * loads, which would stall them (4K aliasing) */
	r = posix_memalign(&mem, 4096, POOL_VIEW_PAGE_OFF + sizeof(*pool));
	if (r)
		return -r;
	pool = (struct pcpupool *)((char *)mem + POOL_VIEW_PAGE_OFF);
	memset(pool, 0, sizeof(*pool));
	pool->client = c;
	pool->memfd = -1;
	pool->refill_fd = -1;
	strcpy(pool->name, name);  /* pcp_name_valid(): fits */
	r = ctl_pool_line(PCP_CMD_ATTACH, name, line, &len);
	if (r < 0)
		goto out_free;

	ctl_lock(c, &cs);
	r = ctl_request_locked(c, NULL, line, len, CTL_RETRY,
			       now_ms() + CTL_REPLY_TIMEOUT_MS, &reply, fds,
			       ATTACH_NR_FDS, &nfds);
	if (r < 0)
		goto out_unlock;
	if (nfds != ATTACH_NR_FDS) {
		close_fds(fds, nfds < ATTACH_NR_FDS ? nfds : ATTACH_NR_FDS);
		r = -EPROTO;
		goto detach;
	}
	pool->memfd = fds[ATTACH_FD_MEM];
	pool->refill_fd = fds[ATTACH_FD_REFILL];
	r = pool_map(pool, reply, name);
	if (r < 0)
		goto detach;
	owner_race_benign(pool);
	pool_link(pool);
	ctl_unlock(c, cs);
	json_decref(reply);
	*ret_pool = pool;
	return 0;
detach:
	/* the daemon counts us attached: undo that (best effort; on the
	 * same connection only, since a broken one took it along) */
	if (ctl_detach_line(name, json_integer_value(json_object_get(reply, PCP_F_CLIENT_ID)),
			    line, &len) == 0)
		(void)ctl_call(c, line, len, now_ms() + CTL_REPLY_TIMEOUT_MS,
			       NULL, NULL, 0, NULL, NULL);
out_unlock:
	ctl_unlock(c, cs);
	json_decref(reply);
out_free:
	pool_free(pool);
	return r;
}

/**
 * pcpupool_open() - attach an existing pool.
 * @c: the client connection.
 * @name: pool name, 1 to 63 characters of [A-Za-z0-9_.-].
 *
 * Receives the pool's shared memory and refill channel from the daemon,
 * maps the pool and validates its header.
 *
 * The handle survives a restart of the daemon.  Its fast path
 * (pcpupool_alloc() with PCPUPOOL_NOWAIT, pcpupool_free(), the element
 * and reserve queries) never uses the control connection and keeps working
 * on the mapped reserves while the daemon is away.  The first control call
 * of the client after the connection broke (any pool's, or
 * pcpupool_stats_json()) reconnects and attaches every open pool again,
 * within that call's timeout; while the daemon cannot be reached, control
 * calls fail at once with ENOTCONN.  A restarted daemon that took its pools
 * back from systemd's fd store hands out the same shared-memory object:
 * the handle stays as it is, with a new refill channel under the same
 * descriptor number.  If instead the pool is gone, was recreated (the
 * daemon was stopped and started, or the pool destroyed and created), or
 * the daemon refuses it, the handle is *stale*: its fast path still works
 * on the old memory, now shared with no daemon and no new client, but its
 * control calls (pcpupool_refill() with PCPUPOOL_WAIT, pcpupool_resize(),
 * pcpupool_destroy(), PCPUPOOL_WAIT allocations that need a refill) fail
 * with ESTALE.  Close it and open the pool again by name to use the new
 * pool; elements of the old one must not be freed into the new one.
 *
 * Context: may block (one control round trip, at most 5 s, plus a
 * reconnection within the same bound); MT-safe; not async-signal-safe.
 * Return: the pool, or NULL with errno set: EINVAL (bad argument), ENOTCONN
 * (disconnected, or the daemon cannot be reached), ENOENT (no such pool),
 * EACCES/EPERM, EMFILE, ETIMEDOUT, EPROTO (malformed reply or foreign
 * memory), EUCLEAN (corrupt pool), ENOMEM, or the daemon's error.
 */
PCPUPOOL_EXPORT struct pcpupool *pcpupool_open(struct pcpupool_client *c, const char *name)
{
	struct pcpupool *pool;
	int r;

	if (!c || !pcp_name_valid(name)) {
		errno = EINVAL;
		return NULL;
	}
	r = pool_attach(c, name, &pool);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	return pool;
}

/* Copy what fits of the caller's options (which may be older or newer than
 * ours); bytes we do not know must be zero. */
static int opts_copy(const struct pcpupool_create_opts *opts,
		     struct pcpupool_create_opts *ret_o)
{
	struct pcpupool_create_opts o;
	size_t sz;

	memset(&o, 0, sizeof(o));
	if (opts) {
		sz = opts->sz;
		if (sz < sizeof(opts->sz))
			return -EINVAL;
		if (sz > sizeof(o)) {
			const unsigned char *extra = (const unsigned char *)opts + sizeof(o);

			for (size_t i = 0; i < sz - sizeof(o); i++)
				if (extra[i])
					return -E2BIG;
			sz = sizeof(o);
		}
		memcpy(&o, opts, sz);
	}
	o.sz = sizeof(o);
	if (o.low_watermark < 0 || o.max_elems > (uint64_t)INT64_MAX)
		return -EINVAL;
	*ret_o = o;
	return 0;
}

/**
 * pcpupool_create_opts() - create a pool and attach it (administrator).
 * @c: the client connection.
 * @name: pool name, 1 to 63 characters of [A-Za-z0-9_.-].
 * @min_nr: elements each CPU's reserve is refilled up to, 1 to 2^20.
 * @size: element size in bytes, 1 to 1 MiB.
 * @align: element alignment, a power of two up to 4096, or 0 for the
 *         daemon's default.
 * @opts: optional parameters, NULL for defaults.  opts->sz must be set to
 *        the size of the caller's struct; fields past it read as zero and
 *        a larger struct's unknown bytes must be zero (else E2BIG).  Zero
 *        fields take the daemon's defaults.
 *
 * If the pool is created but cannot be attached, it is destroyed again
 * (best effort).  A broken connection is re-established first, as for
 * pcpupool_open(); the create request itself is not sent twice, so a
 * connection that breaks after it left fails the call with ENOTCONN
 * although the pool may exist.
 *
 * Context: may block (two control round trips); MT-safe; not
 * async-signal-safe.
 * Return: the pool, or NULL with errno set: EINVAL, E2BIG, EEXIST (a pool of
 * that name exists), EPERM/EACCES (not an administrator), ENOSPC (too many
 * pools), ENOMEM, ENOTCONN, ETIMEDOUT, EPROTO, or an error of
 * pcpupool_open().
 */
PCPUPOOL_EXPORT struct pcpupool *pcpupool_create_opts(struct pcpupool_client *c,
						      const char *name, int min_nr,
						      size_t size, size_t align,
						      const struct pcpupool_create_opts *opts)
{
	struct pcpupool_create_opts o;
	struct pcpupool *pool;
	json_t *req;
	int r;

	if (!c || !pcp_name_valid(name) || min_nr < 1 || (unsigned int)min_nr > PCP_MAX_MIN_NR ||
	    size == 0 || size > PCP_MAX_ELEM_SIZE ||
	    (align & (align - 1)) || align > SLAB_HDR_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	r = opts_copy(opts, &o);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	req = json_pack("{s:s, s:s, s:I, s:I, s:i}", PCP_F_CMD, PCP_CMD_CREATE,
			PCP_F_POOL, name, PCP_F_ELEM_SIZE, (json_int_t)size,
			PCP_F_ALIGN, (json_int_t)align, PCP_F_MIN_NR, min_nr);
	if (req && o.max_elems &&
	    json_object_set_new(req, PCP_F_MAX_ELEMS, json_integer((json_int_t)o.max_elems)))
		goto nomem;
	if (req && o.low_watermark &&
	    json_object_set_new(req, PCP_F_LOW_WM, json_integer(o.low_watermark)))
		goto nomem;
	r = ctl_request(c, NULL, req, 0, CTL_REPLY_TIMEOUT_MS, NULL, NULL, 0, NULL);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	r = pool_attach(c, name, &pool);
	if (r < 0) {
		(void)ctl_request(c, NULL, json_pack("{s:s, s:s}", PCP_F_CMD, PCP_CMD_DESTROY,
						     PCP_F_POOL, name),
				  0, CTL_REPLY_TIMEOUT_MS, NULL, NULL, 0, NULL);
		errno = -r;
		return NULL;
	}
	return pool;
nomem:
	json_decref(req);
	errno = ENOMEM;
	return NULL;
}

/**
 * pcpupool_create() - create a pool with default options and attach it
 * (administrator).
 * @c: the client connection.
 * @name: pool name, 1 to 63 characters of [A-Za-z0-9_.-].
 * @min_nr: elements each CPU's reserve is refilled up to, 1 to 2^20.
 * @size: element size in bytes, 1 to 1 MiB.
 * @align: element alignment, a power of two up to 4096, or 0 for the
 *         daemon's default.
 *
 * Same as pcpupool_create_opts() with NULL options.
 *
 * Context: may block (two control round trips); MT-safe; not
 * async-signal-safe.
 * Return: the pool, or NULL with errno set as pcpupool_create_opts().
 */
PCPUPOOL_EXPORT struct pcpupool *pcpupool_create(struct pcpupool_client *c, const char *name,
						 int min_nr, size_t size, size_t align)
{
	return pcpupool_create_opts(c, name, min_nr, size, align, NULL);
}

/**
 * pcpupool_close() - detach from a pool and release the handle.
 * @pool: the pool; NULL is a no-op.
 *
 * Tells the daemon (best effort), unmaps the pool and closes its
 * descriptors.  Elements still held become invalid in this process; the
 * daemon accounts for them.  There is nothing to tell when the connection
 * is broken (the daemon dropped the attachment with it) or the handle is
 * stale, so close then neither reconnects nor waits: the next control
 * call of another pool does that.
 *
 * Context: may block (one control round trip, at most 5 s); not
 * async-signal-safe; no other call may use @pool concurrently or
 * afterwards.
 */
PCPUPOOL_EXPORT void pcpupool_close(struct pcpupool *pool)
{
	struct pcpupool_client *c;
	char line[PCP_MAX_LINE];
	size_t len;
	bool last;
	int cs;

	if (!pool)
		return;
	c = pool->client;
	ctl_lock(c, &cs);
	last = pool_unlink(pool);
	if (!c->closed && !c->err && !pool->stale &&
	    ctl_detach_line(pool->name, __atomic_load_n(&pool->v.owner, __ATOMIC_RELAXED),
			    line, &len) == 0)
		(void)ctl_call(c, line, len, now_ms() + CTL_REPLY_TIMEOUT_MS,
			       NULL, NULL, 0, NULL, NULL);
	ctl_unlock(c, cs);
	pool_free(pool);
	if (last)
		client_free(c);
}

/**
 * pcpupool_destroy() - destroy a pool (administrator); detaches too.
 * @pool: the pool.
 *
 * Fails with -EBUSY while another client is attached.  On success the
 * handle is released as by pcpupool_close(); on failure it stays valid and
 * attached.  A broken connection is re-established first; the destroy
 * request itself is not sent twice (see pcpupool_create_opts()).
 *
 * Context: may block (one control round trip, at most 5 s); not
 * async-signal-safe; no other call may use @pool concurrently.
 * Return: 0, or -EINVAL, -EBUSY, -EPERM/-EACCES, -ENOENT, -ESTALE (the
 * handle is stale: see pcpupool_open(); close it), -ENOTCONN,
 * -ETIMEDOUT, -EPROTO or another daemon error.
 */
PCPUPOOL_EXPORT int pcpupool_destroy(struct pcpupool *pool)
{
	struct pcpupool_client *c;
	char line[PCP_MAX_LINE];
	bool last = false;
	size_t len;
	int cs, r;

	if (!pool)
		return -EINVAL;
	c = pool->client;
	r = ctl_pool_line(PCP_CMD_DESTROY, pool->name, line, &len);
	if (r < 0)
		return r;
	ctl_lock(c, &cs);
	r = ctl_request_locked(c, pool, line, len, 0, now_ms() + CTL_REPLY_TIMEOUT_MS,
			       NULL, NULL, 0, NULL);
	if (r == 0)
		last = pool_unlink(pool);
	ctl_unlock(c, cs);
	if (r < 0)
		return r;
	pool_free(pool);
	if (last)
		client_free(c);
	return 0;
}

/* ------------------------------------------------------------------ */
/* alloc / free                                                        */

/* Whatever the reserves can give when the hit path could not: the slab's
 * top under its low watermark (sending the refill request), the inboxes.
 * Async-signal-safe. */
static void *alloc_reserve(struct pcpupool *pool)
{
	struct slab_alloc_res r = slab_alloc_slow(&pool->v);

	if (r.refill_cpu >= 0)
		refill_send(pool, (uint32_t)r.refill_cpu);
	return r.idx != SLAB_NIL ? slab_elem(&pool->v, r.idx) : NULL;
}

/* PCPUPOOL_WAIT with every reserve dry: synchronous refills and retries
 * until an element turns up or the client's wait timeout passes. */
static void *alloc_wait(struct pcpupool *pool)
{
	int64_t deadline = now_ms() + pool->client->wait_timeout_ms;
	unsigned int backoff_us = WAIT_BACKOFF_MIN_US;
	bool enomem = false;

	for (;;) {
		int left_ms = ms_left(deadline);
		json_int_t refilled = 0;
		int r;

		if (left_ms == 0)
			break;  /* also a wait timeout of 0: WAIT acts as NOWAIT */
		/* the round trip is bounded by the wait too; a reply that
		 * comes later is skipped by the next request (ctl_xfer) */
		r = pool_refill_sync(pool, left_ms < CTL_REPLY_TIMEOUT_MS ?
				     left_ms : CTL_REPLY_TIMEOUT_MS, &refilled);

		enomem = r == -ENOMEM;
		if (r < 0 && r != -ENOMEM && r != -EAGAIN && r != -EBUSY && r != -ETIMEDOUT) {
			errno = -r;  /* no point waiting: connection or pool gone */
			return NULL;
		}

		void *p = alloc_reserve(pool);

		if (p)
			return p;
		left_ms = ms_left(deadline);
		if (left_ms > 0 && (r < 0 || refilled <= 0))
			/* nothing came: back off before asking again */
			backoff_sleep(&backoff_us, WAIT_BACKOFF_MAX_US, left_ms);
	}
	errno = enomem ? ENOMEM : ETIMEDOUT;
	return NULL;
}

static __attribute__((noinline, cold)) void *alloc_einval(void)
{
	errno = EINVAL;
	return NULL;
}

/* Everything past the hit path: the reserves, then EAGAIN or the wait. */
static __attribute__((noinline)) void *alloc_miss(struct pcpupool *pool, int flags)
{
	void *p = alloc_reserve(pool);

	if (likely(p))
		return p;
	if (!(flags & PCPUPOOL_WAIT)) {
		errno = EAGAIN;
		return NULL;
	}
	return alloc_wait(pool);
}

/* pcpupool_alloc() past the inline pop, on a valid @pool and @flags: the
 * library's pop, which marks an element another process held last as
 * ours, then the rest.  Both exported entry points use it (a call between
 * them would go through the PLT). */
static inline __attribute__((always_inline)) void *alloc_hit_or_miss(struct pcpupool *pool,
								     int flags)
{
	void *p;

	if (likely(slab_hit_pop(&pool->v, &p))) {
		slab_tsan_acquire(&pool->v);
		return p;
	}
	return alloc_miss(pool, flags);
}

static inline bool alloc_args_ok(const struct pcpupool *pool, int flags)
{
	return likely(pool && (unsigned int)flags <= PCPUPOOL_WAIT);
}

/**
 * pcpupool__alloc_miss() - pcpupool_alloc() past the inline hit path.
 * @pool: the pool.
 * @flags: as pcpupool_alloc().
 *
 * Called by the inline pcpupool_alloc() of pcpupool.h when its section
 * could not serve.  That section leaves for an element another process
 * held last, which the library's hit path pops and marks as ours, so this
 * is the whole pcpupool_alloc().  Not for direct use.
 */
PCPUPOOL_EXPORT void *pcpupool__alloc_miss(struct pcpupool *pool, int flags)
{
	return alloc_args_ok(pool, flags) ? alloc_hit_or_miss(pool, flags) : alloc_einval();
}

/* The same, for programs built against inline ABI 3 (this header) and 1. */
PCPUPOOL_EXPORT void *pcpupool__alloc_miss3(struct pcpupool *pool, int flags)
	__attribute__((alias("pcpupool__alloc_miss")));
PCPUPOOL_EXPORT void *pcpupool__alloc_slow(struct pcpupool *pool, int flags)
	__attribute__((alias("pcpupool__alloc_miss")));

/**
 * pcpupool_alloc() - take one element from the pool.
 * @pool: the pool.
 * @flags: PCPUPOOL_NOWAIT or PCPUPOOL_WAIT.
 *
 * Takes an element from the current CPU's reserve; when that runs under
 * its low watermark, asks the daemon for an asynchronous refill (one
 * non-blocking datagram, coalesced across callers).  When the CPU's
 * reserve is empty, takes another CPU's.  When every reserve is empty,
 * PCPUPOOL_NOWAIT fails at once, and PCPUPOOL_WAIT asks the daemon for
 * synchronous refills and retries until an element is found or the wait
 * timeout ($PCPUPOOL_WAIT_TIMEOUT_MS at connect, default 2000 ms) passes.
 * The element's contents are undefined.
 *
 * Context: PCPUPOOL_NOWAIT: async-signal-safe, lock-free, no malloc, never
 * blocks, no system call on the common path (at most one non-blocking
 * send()); callable from signal handlers and real-time threads.
 * PCPUPOOL_WAIT: may block and sleep; not async-signal-safe.  MT-safe.
 * PCPUPOOL_NOWAIT never uses the control connection, so it keeps serving
 * the mapped reserves while the daemon is away.  PCPUPOOL_WAIT with every
 * reserve empty reconnects if need be (see pcpupool_open()) and fails at
 * once if the daemon cannot be reached.
 *
 * Return: the element, or NULL with errno set: EINVAL (NULL @pool or bad
 * @flags), EAGAIN (NOWAIT, every reserve empty), ENOMEM (WAIT, the daemon
 * says the pool is at its maximum), ETIMEDOUT (WAIT, nothing in time),
 * or, with WAIT, the control connection's error: ENOTCONN (disconnected,
 * or the daemon cannot be reached), ESTALE (the handle is stale), ENOENT,
 * ...
 * On success errno is left as it was.
 */
PCPUPOOL_EXPORT void *pcpupool_alloc(struct pcpupool *pool, int flags)
{
	if (!alloc_args_ok(pool, flags))
		return alloc_einval();
#ifdef SLAB_HAVE_RSEQ
	void *p;

	/* first the inline hit path of pcpupool.h on the handle's inline
	 * view, the shortest where it is on (on zero pages it just leaves) */
	if (likely(pcpupool__pop(slab_fast(&pool->v), pool->v.rseq_off, &p))) {
		slab_tsan_acquire(&pool->v);
		return p;
	}
#endif
	return alloc_hit_or_miss(pool, flags);
}

/**
 * pcpupool_free() - return an element to the pool.
 * @elem: an element of @pool obtained by pcpupool_alloc() in any process
 *        (through pcpupool_elem_at()); NULL is a no-op.
 * @pool: the pool.
 *
 * Pushes @elem onto the current CPU's reserve; a reserve at its limit
 * spills a batch back to the daemon.  A pointer that is not the start of
 * one of @pool's elements is ignored: free never fails (one in the 4 GiB
 * from the pool's first element waits in the reserve until the next
 * allocation there drops it and counts it as discarded).  Freeing an element
 * twice corrupts the pool.
 *
 * Context: async-signal-safe, lock-free, no malloc, no system call, never
 * blocks; MT-safe.
 */
PCPUPOOL_EXPORT void pcpupool_free(void *elem, struct pcpupool *pool)
{
	if (unlikely(!pool))
		return;
#ifdef SLAB_HAVE_RSEQ
	/* as pcpupool_alloc(): the inline push first; where it runs on the
	 * slabs, a miss is the library's slow path at once */
	slab_tsan_release(&pool->v);
	if (likely(pcpupool__push(slab_fast(&pool->v), pool->v.rseq_off, elem,
				  (uint32_t)(uintptr_t)elem)))
		return;
	if (pool->v.inline_map) {
		slab_free_miss(&pool->v, elem);
		return;
	}
#endif
	slab_free_elem(&pool->v, elem);
}

/**
 * pcpupool__free_miss() - pcpupool_free() past the inline hit path.
 * @elem: as pcpupool_free().
 * @pool: the pool.
 *
 * Called by the inline pcpupool_free() of pcpupool.h when its section
 * could not push: everything pcpupool_free() does past its hit path.  Not
 * for direct use.
 */
PCPUPOOL_EXPORT void pcpupool__free_miss(void *elem, struct pcpupool *pool)
{
	if (likely(pool)) {
		slab_tsan_release(&pool->v);
		slab_free_miss(&pool->v, elem);   /* the inline section just missed */
	}
}

/* The same, for programs built against inline ABI 3 (this header) and 1. */
PCPUPOOL_EXPORT void pcpupool__free_miss3(void *elem, struct pcpupool *pool)
	__attribute__((alias("pcpupool__free_miss")));
PCPUPOOL_EXPORT void pcpupool__free_slow(void *elem, struct pcpupool *pool)
	__attribute__((alias("pcpupool__free_miss")));

/* ------------------------------------------------------------------ */
/* refill / resize                                                     */

/**
 * pcpupool_refill() - refill the pool's per-CPU reserves up to min_nr.
 * @pool: the pool.
 * @flags: PCPUPOOL_WAIT: ask the daemon and wait until it is done;
 *         PCPUPOOL_NOWAIT: send an asynchronous request for every CPU and
 *         return at once.
 *
 * PCPUPOOL_WAIT reconnects first if the control connection broke (see
 * pcpupool_open()); PCPUPOOL_NOWAIT never touches it (with the daemon away
 * its requests are lost, and the daemon's sweep covers the reserves once
 * it is back).
 *
 * Context: PCPUPOOL_NOWAIT: async-signal-safe, never blocks (one
 * non-blocking send() per CPU).  PCPUPOOL_WAIT: may block (one control
 * round trip and possibly a reconnection, together at most 5 s); not
 * async-signal-safe.  MT-safe.
 * Return: PCPUPOOL_WAIT: 0, or -ENOMEM (pool at its maximum), -ENOTCONN
 * (disconnected, or the daemon cannot be reached), -ESTALE (the handle is
 * stale: see pcpupool_open()), -ETIMEDOUT, -ENOENT, -EPROTO or another
 * daemon error.  PCPUPOOL_NOWAIT: -EAGAIN (the refill happens in the
 * background).  -EINVAL for a NULL @pool or bad @flags.
 */
PCPUPOOL_EXPORT int pcpupool_refill(struct pcpupool *pool, int flags)
{
	if (!pool || (unsigned int)flags > PCPUPOOL_WAIT)
		return -EINVAL;
	if (flags & PCPUPOOL_WAIT)
		return pool_refill_sync(pool, CTL_REPLY_TIMEOUT_MS, NULL);
	for (uint32_t cpu = 0; cpu < pool->v.nr_cpus; cpu++)
		refill_send(pool, cpu);
	return -EAGAIN;
}

/**
 * pcpupool_resize() - change the pool's per-CPU reserve size (administrator).
 * @pool: the pool.
 * @new_min_nr: the new min_nr, 1 to 2^20.
 * @flags: PCPUPOOL_NOWAIT: the daemon adjusts the reserves in the
 *         background; PCPUPOOL_WAIT: also refill synchronously afterwards.
 *
 * Both modes make one control round trip: unlike pcpupool_alloc(), this is
 * never callable from a constrained context.
 *
 * Context: may block (one or two control round trips, at most 5 s each,
 * reconnection included); MT-safe; not async-signal-safe.
 * Return: 0, or -EINVAL, -EPERM/-EACCES, -ENOENT, -ENOTCONN, -ESTALE (the
 * handle is stale: see pcpupool_open()), -ETIMEDOUT, -EPROTO or another
 * daemon error.  With PCPUPOOL_WAIT an error of the
 * refill (-ENOMEM, ...) is returned although the resize itself took effect.
 */
PCPUPOOL_EXPORT int pcpupool_resize(struct pcpupool *pool, int new_min_nr, int flags)
{
	int r;

	if (!pool || new_min_nr < 1 || (unsigned int)new_min_nr > PCP_MAX_MIN_NR ||
	    (unsigned int)flags > PCPUPOOL_WAIT)
		return -EINVAL;
	r = ctl_request(pool->client, pool,
			json_pack("{s:s, s:s, s:i}", PCP_F_CMD, PCP_CMD_RESIZE,
				  PCP_F_POOL, pool->name, PCP_F_MIN_NR, new_min_nr),
			CTL_RETRY, CTL_REPLY_TIMEOUT_MS, NULL, NULL, 0, NULL);
	if (r < 0 || !(flags & PCPUPOOL_WAIT))
		return r;
	return pool_refill_sync(pool, CTL_REPLY_TIMEOUT_MS, NULL);
}

/* ------------------------------------------------------------------ */
/* introspection                                                       */

/**
 * pcpupool_nr_elems() - elements in reserve on all CPUs (a snapshot).
 * @pool: the pool.
 *
 * Reads the slabs and inboxes in shared memory; no daemon round trip.
 * Elements in flight (held by clients, in the daemon's depot or in
 * outboxes) are not counted.
 *
 * Context: async-signal-safe, lock-free; MT-safe.
 * Return: the count (clamped to INT_MAX), or -EINVAL for a NULL @pool.
 */
PCPUPOOL_EXPORT int pcpupool_nr_elems(struct pcpupool *pool)
{
	uint64_t n = 0;

	if (!pool)
		return -EINVAL;
	for (uint32_t cpu = 0; cpu < pool->v.nr_cpus; cpu++)
		n += slab_level(&pool->v, cpu);
	return n > INT_MAX ? INT_MAX : (int)n;
}

/**
 * pcpupool_nr_elems_cpu() - elements in one CPU's reserve (a snapshot).
 * @pool: the pool.
 * @cpu: CPU index, 0 to pcpupool_nr_cpus() - 1.
 *
 * Context: async-signal-safe, lock-free; MT-safe.
 * Return: the count, or -EINVAL for a NULL @pool or @cpu out of range.
 */
PCPUPOOL_EXPORT int pcpupool_nr_elems_cpu(struct pcpupool *pool, int cpu)
{
	uint32_t n;

	if (!pool || cpu < 0 || (uint32_t)cpu >= pool->v.nr_cpus)
		return -EINVAL;
	n = slab_level(&pool->v, (uint32_t)cpu);
	return n > INT_MAX ? INT_MAX : (int)n;
}

/**
 * pcpupool_nr_cpus() - number of per-CPU reserves of the pool.
 * @pool: the pool.
 *
 * Context: async-signal-safe; MT-safe.
 * Return: the number of CPUs, or -EINVAL for a NULL @pool.
 */
PCPUPOOL_EXPORT int pcpupool_nr_cpus(struct pcpupool *pool)
{
	if (!pool)
		return -EINVAL;
	return (int)pool->v.nr_cpus;
}

/**
 * pcpupool_elem_size() - element size the pool was created with.
 * @pool: the pool.
 *
 * Elements are spaced by the size rounded up to their alignment.
 *
 * Context: async-signal-safe; MT-safe.
 * Return: the size in bytes, or 0 with errno EINVAL for a NULL @pool.
 */
PCPUPOOL_EXPORT size_t pcpupool_elem_size(struct pcpupool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return 0;
	}
	return (size_t)pool->elem_size;
}

/**
 * pcpupool_elem_offset() - an element's offset in the pool's shared object.
 * @pool: the pool.
 * @elem: the start of one of @pool's elements in this process's mapping.
 *
 * The offset is the same in every process attached to the pool, so it can
 * be handed to another process, which turns it back into a pointer with
 * pcpupool_elem_at() (zero-copy messaging).
 *
 * Context: async-signal-safe; MT-safe.
 * Return: the byte offset, or UINT64_MAX with errno EINVAL when @pool is
 * NULL or @elem is not the start of an element of @pool.
 */
PCPUPOOL_EXPORT uint64_t pcpupool_elem_offset(struct pcpupool *pool, const void *elem)
{
	if (!pool || !elem || slab_index_of(&pool->v, elem) == SLAB_NIL) {
		errno = EINVAL;
		return UINT64_MAX;
	}
	return (uint64_t)((const char *)elem - (const char *)pool->base);
}

/**
 * pcpupool_elem_at() - the element at an offset, in this process's mapping.
 * @pool: the pool.
 * @offset: a value of pcpupool_elem_offset(), from any process attached to
 *          the same pool.
 *
 * The offset is untrusted: it must be the start of an element the daemon
 * has published (so the memory behind it exists).
 *
 * Context: async-signal-safe; MT-safe.
 * Return: the element, or NULL with errno EINVAL when @pool is NULL or
 * @offset is not the start of a published element.
 */
PCPUPOOL_EXPORT void *pcpupool_elem_at(struct pcpupool *pool, uint64_t offset)
{
	const struct slab_view *v;
	uint64_t elems_off, rel, idx;

	if (!pool)
		goto inval;
	v = &pool->v;
	elems_off = (uint64_t)(v->elems - (char *)pool->base);
	if (offset < elems_off)
		goto inval;
	rel = offset - elems_off;
	idx = rel / v->elem_stride;
	/* acquire: pairs with the daemon's release store of nr_published
	 * after it backed the new elements */
	if (rel % v->elem_stride || idx >= v->max_elems ||
	    idx >= atomic_load_explicit(&v->hdr->nr_published, memory_order_acquire))
		goto inval;
	return slab_elem(v, (uint32_t)idx);
inval:
	errno = EINVAL;
	return NULL;
}

/**
 * pcpupool_elem_handoff() - mark an element as handed over to another
 * process, so that it is not taken back when this process dies.
 * @pool: the pool.
 * @elem: an element this process allocated.
 *
 * When a client dies, the daemon takes back the elements it held.  An
 * element passed to another process by offset (zero-copy messaging) is no
 * longer held by its sender: mark it before passing it, and the receiver
 * becomes responsible for it — pcpupool_elem_claim() makes it the
 * receiver's (taken back if the receiver dies); unclaimed, it is never
 * taken back, only freed.
 *
 * Context: async-signal-safe; MT-safe; lock-free.
 * Return: 0, or -EINVAL when @elem is not an element of @pool.
 */
PCPUPOOL_EXPORT int pcpupool_elem_handoff(struct pcpupool *pool, void *elem)
{
	uint32_t idx;

	if (!pool || (idx = slab_index_of(&pool->v, elem)) == SLAB_NIL)
		return -EINVAL;
	atomic_store_explicit(&pool->v.meta[idx].owner, SLAB_OWNER_HANDOFF,
			      memory_order_relaxed);
	return 0;
}

/**
 * pcpupool_elem_claim() - take over an element another process handed off.
 * @pool: the pool.
 * @elem: an element received by offset.
 *
 * Makes this process the element's holder, as if it had allocated it: if
 * it dies, the daemon takes the element back.
 *
 * Context: async-signal-safe; MT-safe; lock-free.
 * Return: 0, or -EINVAL when @elem is not an element of @pool.
 */
PCPUPOOL_EXPORT int pcpupool_elem_claim(struct pcpupool *pool, void *elem)
{
	uint32_t idx;

	if (!pool || (idx = slab_index_of(&pool->v, elem)) == SLAB_NIL)
		return -EINVAL;
	atomic_store_explicit(&pool->v.meta[idx].owner, pool->v.owner, memory_order_relaxed);
	return 0;
}

/**
 * pcpupool_stats_json() - the daemon's statistics as a JSON string.
 * @c: the client connection.
 * @pool: a pool name, or NULL for every pool.
 *
 * Reconnects first if the control connection broke (attaching the
 * client's pools again, see pcpupool_open()).
 *
 * Context: may block (one control round trip and possibly a reconnection,
 * together at most 5 s); MT-safe; not async-signal-safe.
 * Return: the whole reply, {"ok":true,"stats":{...}}, as one compact line
 * (NUL-terminated, no newline) that the caller frees with free(); or NULL
 * with errno set: EINVAL, ENOENT (no such pool), ENOTCONN (disconnected,
 * or the daemon cannot be reached), ETIMEDOUT, EPROTO, ENOMEM or another
 * daemon error.
 */
PCPUPOOL_EXPORT char *pcpupool_stats_json(struct pcpupool_client *c, const char *pool)
{
	json_t *req, *reply;
	size_t len;
	char *s;
	int r;

	if (!c || (pool && !pcp_name_valid(pool))) {
		errno = EINVAL;
		return NULL;
	}
	req = pool ? json_pack("{s:s, s:s}", PCP_F_CMD, PCP_CMD_STATS, PCP_F_POOL, pool)
		   : json_pack("{s:s}", PCP_F_CMD, PCP_CMD_STATS);
	r = ctl_request(c, NULL, req, CTL_RETRY, CTL_REPLY_TIMEOUT_MS, &reply, NULL, 0, NULL);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	/* json_dumpb() into our own malloc(): the caller's free() must match,
	 * whatever allocator jansson was given */
	len = json_dumpb(reply, NULL, 0, JSON_COMPACT);
	s = len ? malloc(len + 1) : NULL;
	if (s && json_dumpb(reply, s, len, JSON_COMPACT) == len) {
		s[len] = '\0';
	} else {
		free(s);
		s = NULL;
	}
	json_decref(reply);
	if (!s)
		errno = ENOMEM;
	return s;
}
