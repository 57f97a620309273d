// SPDX-License-Identifier: MIT
/*
 * client.c - pcpupool_connect() and pcpupool_disconnect().
 */
#include "internal.h"

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
