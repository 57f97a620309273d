// SPDX-License-Identifier: MIT
/*
 * peers_proto.c - the socket I/O of peers_proto.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peers_proto.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

int proto_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int proto_recv(int fd, void *buf, size_t len, int timeout_ms, volatile sig_atomic_t *stop)
{
	char *p = buf;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
			    : bench_now_ns() + (uint64_t)timeout_ms * 1000000u;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = bench_now_ns();
		int wait_ms, r;
		ssize_t n;

		if (stop && *stop)
			return -EINTR;
		if (now >= deadline)
			return -ETIMEDOUT;
		wait_ms = deadline == UINT64_MAX ? 1000
			  : (int)((deadline - now) / 1000000u) + 1;
		if (wait_ms > 1000)
			wait_ms = 1000;   /* look at @stop now and then */
		if (!stop && deadline == UINT64_MAX)
			wait_ms = -1;     /* an idle competitor: sleep for good */
		r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = recv(fd, p, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
