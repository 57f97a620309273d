// SPDX-License-Identifier: MIT
/*
 * fuzz_ctl.c - libFuzzer target: the control protocol and the refill
 * channel, through the daemon's real connections, commands and pools on
 * a real socket.
 *
 * One daemon context lives for the whole run, with a pool "p".  Each input
 * is either (first byte even) bytes written on a fresh control connection,
 * or (odd) an attach followed by the rest sent as one datagram on the
 * refill channel.  The loop runs until the daemon has answered and the
 * connection is done; pools the input created are destroyed afterwards so
 * that memory stays bounded.
 */
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct daemon d;
static struct config cfg;
static char sock_path[108];

static void setup(void)
{
	char dir[] = "/tmp/pcpupool-fuzz.XXXXXX", err[CONFIG_ERR_MAX];
	struct pool_config pc = { .name = "p", .elem_size = 64, .align = 64, .min_nr = 4,
				  .max_elems = 1024 };
	struct pool *p;
	int lfd;

	log_set_level(LOG_CRIT);
	if (!mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/ctl.sock", dir);
	cfg.max_clients = PCP_MAX_CLIENTS;
	cfg.sweep_ms = 50;
	d.cfg = &cfg;
	d.nr_cpus = 2;
	d.poll_fd = -1;
	d.base = event_base_new();
	if (!d.base || pool_create(&d, &pc, 0, &p, err, sizeof(err)) < 0 ||
	    conn_bind(sock_path, &lfd) < 0 || conn_listen(&d, lfd) < 0)
		abort();
}

static int connect_ctl(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	strcpy(sa.sun_path, sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	return fd;
}

/* Run the loop until @fd has nothing more to read for a few rounds. */
static void pump(int fd, int *ret_fds, size_t *ret_nfds)
{
	char buf[65536], cbuf[CMSG_SPACE(8 * sizeof(int))];
	int idle = 0;

	while (idle < 3) {
		event_base_loop(d.base, EVLOOP_NONBLOCK);
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n > 0) {
			idle = 0;
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
				size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int *fds = (int *)CMSG_DATA(cm);
				for (size_t i = 0; i < k; i++) {
					if (ret_fds && *ret_nfds < 2)
						ret_fds[(*ret_nfds)++] = fds[i];
					else
						close(fds[i]);
				}
			}
			continue;
		}
		if (n == 0)
			return;
		idle++;
	}
}

static void cleanup_pools(void)
{
	for (struct pool *p = d.pools, *next; p; p = next) {
		next = p->next;
		if (strcmp(p->cfg.name, "p") != 0 && p->nr_attached == 0)
			pool_destroy(&d, p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!d.base)
		setup();
	if (size == 0)
		return 0;
	int fd = connect_ctl();
	if (data[0] % 2 == 0) {
		size_t off = 1;
		while (off < size) {
			ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n <= 0)
				break;
			off += (size_t)n;
			event_base_loop(d.base, EVLOOP_NONBLOCK);
		}
		shutdown(fd, SHUT_WR);
		pump(fd, NULL, NULL);
	} else {
		static const char attach[] = "{\"cmd\":\"attach\",\"pool\":\"p\"}\n";
		int fds[2];
		size_t nfds = 0;

		if (send(fd, attach, sizeof(attach) - 1, MSG_NOSIGNAL) < 0)
			abort();
		pump(fd, fds, &nfds);
		if (nfds == 2) {
			send(fds[1], data + 1, size - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			pump(fd, NULL, NULL);
			close(fds[0]);
			close(fds[1]);
		}
		for (size_t i = 0; i < nfds && nfds != 2; i++)
			close(fds[i]);
	}
	close(fd);
	/* let the daemon see the close and free the connection */
	for (int i = 0; i < 3; i++)
		event_base_loop(d.base, EVLOOP_NONBLOCK);
	cleanup_pools();
	return 0;
}
