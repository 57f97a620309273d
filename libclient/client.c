// SPDX-License-Identifier: MIT
/*
 * client.c - the client: pcpupool_connect() and pcpupool_disconnect(), its
 * lock, and its release.
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* the client's lock and lifetime                                      */

/* Take the client's lock, with cancellation off: a cancelled thread must
 * not leave the mutex held or half a reply in the stream. */
void client_lock(struct pcpupool_client *c, int *ret_cs)
{
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, ret_cs);
	pthread_mutex_lock(&c->lock);
}

/* Release client_lock(), restoring the cancellation state it saved. */
void client_unlock(struct pcpupool_client *c, int cs)
{
	pthread_mutex_unlock(&c->lock);
	pthread_setcancelstate(cs, NULL);
}

/* Free @c, a client that holds no pool and no connection. */
void client_free(struct pcpupool_client *c)
{
	fork_unregister(c);
	pthread_mutex_destroy(&c->lock);
	free(c->path);
	free(c->buf);
	free(c);
}

/* The bound of PCPUPOOL_WAIT allocations: $PCPUPOOL_WAIT_TIMEOUT_MS
 * (ignored in set-uid programs), else WAIT_TIMEOUT_DEFAULT_MS. */
static int client_wait_timeout_ms(void)
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
	static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
	struct pcpupool_client *c;
	int64_t deadline;
	int cs, fd, r;

	pthread_once(&clock_once, slab_clock_init);

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
	c->wait_timeout_ms = client_wait_timeout_ms();
	c->path = strdup(socket_path);
	if (!c->path) {
		r = -ENOMEM;
		goto fail;
	}
	/* registered before the socket exists and connected under the lock,
	 * so that a fork() meanwhile leaves the child no copy of it that
	 * nothing would close (the daemon would not see the parent go) */
	fork_register(c);
	deadline = util_now_ms() + CTL_REPLY_TIMEOUT_MS;
	client_lock(c, &cs);
	fd = conn_connect(c->path, deadline);
	r = fd < 0 ? fd : conn_hello(c, fd, deadline);
	client_unlock(c, cs);
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
	client_lock(c, &cs);
	c->closed = true;
	conn_drop(c);
	last = !c->pools;
	client_unlock(c, cs);
	if (last)
		client_free(c);
}
