// SPDX-License-Identifier: MIT
/*
 * request.c - one request and its reply on a client's connection:
 * reconnection first if the connection broke (re-attaching every open
 * handle, handle_reattach()), retry of idempotent requests, and the
 * synchronous refill.
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* control connection: reconnection                                    */

/* Map an error of connect() during reconnection: the daemon is not there
 * (no socket, refused, not permitted, no room) is -ENOTCONN; a shortage of
 * our own resources stays what it is. */
static int request_reconnect_err(int err)
{
	switch (err) {
	case -EMFILE: case -ENFILE: case -ENOMEM: case -ENOBUFS:
		return err;
	default:
		return -ENOTCONN;
	}
}

/**
 * request_reconnect() - replace a broken control connection.
 * @c: client, locked, broken (c->err set) and not disconnected.
 * @deadline: bound of the whole reconnection.
 *
 * Connects to the same socket path, says hello and attaches again every
 * open, not stale pool of the client (handle_reattach()).  On failure the
 * new connection is closed (the daemon drops whatever it attached) and
 * the client stays broken, to be tried again by the next control call.
 *
 * Context: may block until @deadline; caller holds c->lock.
 * Return: 0; -ENOTCONN when the daemon cannot be reached; -ETIMEDOUT,
 * -EPROTO (protocol mismatch), -ENOMEM, -EMFILE or a transport error
 * (as -ENOTCONN) when the new connection failed.
 */
static int request_reconnect(struct pcpupool_client *c, int64_t deadline)
{
	int fd, r;

	conn_drop(c);
	fd = conn_connect(c->path, deadline);
	if (fd < 0)
		return request_reconnect_err(fd);
	r = conn_hello(c, fd, deadline);
	for (struct pcpupool *pool = c->pools; pool && r == 0; pool = pool->next)
		if (!pool->stale)
			r = handle_reattach(pool, deadline);
	if (r < 0) {
		conn_drop(c);
		return r == -EPIPE || r == -ECONNRESET ? -ENOTCONN : r;
	}
	return 0;
}

/**
 * request_call_locked() - one request, reconnecting first if need be.
 * @c: client, locked.
 * @pool: the pool the request is about, or NULL; a stale pool fails.
 * @line: the request line, newline included.
 * @len: its length.
 * @flags: REQUEST_RETRY if the request is idempotent: sent again on a new
 *         connection when the old one broke after it had left.  Any
 *         request is sent again when the connection broke before it left.
 * @deadline: bound of reconnection and exchange together.
 * @ret_reply: as conn_call().
 * @fds: as conn_call().
 * @max_fds: as conn_call().
 * @ret_nfds: as conn_call().
 *
 * A broken connection is replaced (request_reconnect()) at most once per call.
 *
 * Context: may block until @deadline; caller holds c->lock.
 * Return: 0, the daemon's error as -errno, -ESTALE (@pool is stale),
 * -ENOTCONN (disconnected, daemon unreachable, or the connection broke),
 * -ETIMEDOUT, -EPROTO, -ENOMEM.
 */
int request_call_locked(struct pcpupool_client *c, struct pcpupool *pool,
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
			r = request_reconnect(c, deadline);
			if (r < 0)
				return r;
			reconnected = true;
			continue;  /* the pool may have turned stale */
		}
		r = conn_call(c, line, len, deadline, ret_reply, fds, max_fds, ret_nfds, &sent);
		if (r >= 0 || !c->err)
			return r;
		/* the connection broke under this request: once, and only
		 * if the daemon cannot have acted on it or acting twice is
		 * harmless, reconnect and send it again */
		if (reconnected || (sent && !(flags & REQUEST_RETRY)))
			return r == -EPIPE || r == -ECONNRESET ? -ENOTCONN : r;
	}
}

/**
 * request_call() - send one request and wait for its reply.
 * @c: client.
 * @pool: the pool the request is about (a stale one fails), or NULL.
 * @req: the request object; always consumed (NULL: -ENOMEM).
 * @flags: REQUEST_RETRY for idempotent requests (request_call_locked()).
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
 * Return: as request_call_locked().
 */
int request_call(struct pcpupool_client *c, struct pcpupool *pool, json_t *req,
		 unsigned int flags, int timeout_ms, json_t **ret_reply,
		 int *fds, size_t max_fds, size_t *ret_nfds)
{
	char line[PCP_MAX_LINE];
	size_t len;
	int cs, r;

	if (ret_nfds)
		*ret_nfds = 0;
	r = conn_line(req, line, &len);
	if (r < 0)
		return r;
	client_lock(c, &cs);
	r = request_call_locked(c, pool, line, len, flags, util_now_ms() + timeout_ms,
				ret_reply, fds, max_fds, ret_nfds);
	client_unlock(c, cs);
	return r;
}

/* Synchronous refill: 0 (and *ret_refilled) or -errno. */
int request_refill(struct pcpupool *pool, int timeout_ms, json_int_t *ret_refilled)
{
	json_t *reply;
	int r = request_call(pool->client, pool,
			     json_pack("{s:s, s:s}", PCP_F_CMD, PCP_CMD_REFILL,
				       PCP_F_POOL, pool->name),
			     REQUEST_RETRY, timeout_ms, &reply, NULL, 0, NULL);

	if (r < 0)
		return r;
	if (ret_refilled) {
		json_t *n = json_object_get(reply, F_REFILLED);

		*ret_refilled = json_is_integer(n) ? json_integer_value(n) : 0;
	}
	json_decref(reply);
	return 0;
}
