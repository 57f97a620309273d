// SPDX-License-Identifier: MIT
/*
 * request.c - one request and its reply on a client's connection: the lock,
 * reconnection (re-attaching every open handle, keeping the same mapping
 * when the daemon got the pool back), retry of idempotent requests, and
 * the synchronous refill.
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* control connection: reconnection                                    */

/* Unpack and range-check an attach reply for pool @name. */
int attach_parse(json_t *reply, const char *name, struct attach_info *ret_ai)
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
bool fd_is_dgram(int fd)
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
int ctl_request_locked(struct pcpupool_client *c, struct pcpupool *pool,
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
void ctl_lock(struct pcpupool_client *c, int *ret_cs)
{
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, ret_cs);
	pthread_mutex_lock(&c->lock);
}

void ctl_unlock(struct pcpupool_client *c, int cs)
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
int ctl_request(struct pcpupool_client *c, struct pcpupool *pool, json_t *req,
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
int pool_refill_sync(struct pcpupool *pool, int timeout_ms, json_int_t *ret_refilled)
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

int env_wait_timeout_ms(void)
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
