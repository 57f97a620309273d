// SPDX-License-Identifier: MIT
/*
 * fdstore.c - systemd's fd store, emulated for the daemon's restarts
 * (fdstore.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fdstore.h"

void e2e_fdstore_init(struct e2e_fdstore *s, const struct e2e *e, const char *pool)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->notify, sizeof(s->notify), "%s/notify.sock", e->dir);
	snprintf(s->fdname[E2E_FDSTORE_POOL], sizeof(s->fdname[0]), "pool.%s", pool);
	snprintf(s->fdname[E2E_FDSTORE_DEPOT], sizeof(s->fdname[0]), "depot.%s", pool);
	s->notify_fd = -1;
	s->fds[0] = s->fds[1] = -1;
}

void e2e_fdstore_listen(struct e2e_fdstore *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s->notify_fd >= 0);
	assert_true(strlen(s->notify) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, s->notify);
	assert_int_equal(bind(s->notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

/* Whether the newline-separated assignments of @msg include @line. */
static bool has_line(const char *msg, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = msg; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, line, len) && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

bool e2e_fdstore_collect(struct e2e_fdstore *s)
{
	for (;;) {
		char msg[1024], want[E2E_NAME_LEN + 16];
		bool kept = false;
		int fd;

		if (e2e_recv_fd(s->notify_fd, msg, sizeof(msg), MSG_DONTWAIT, &fd) < 0)
			break;
		if (fd < 0)
			continue;
		/* the first of each; anything else sent with a descriptor is
		 * not ours to keep */
		for (int i = 0; i < 2 && !kept; i++) {
			snprintf(want, sizeof(want), "FDNAME=%s", s->fdname[i]);
			if (has_line(msg, "FDSTORE=1") && has_line(msg, want) && s->fds[i] < 0) {
				s->fds[i] = fd;
				kept = true;
			}
		}
		if (!kept)
			close(fd);
	}
	return s->fds[0] >= 0 && s->fds[1] >= 0;
}

void e2e_fdstore_wait(struct e2e_fdstore *s, int ms)
{
	if (!e2e_poll(e2e_fdstore_collect(s), ms))
		fail_msg("no FDSTORE=1 for %s and %s", s->fdname[0], s->fdname[1]);
}

void e2e_fdstore_unlisten(struct e2e_fdstore *s)
{
	close(s->notify_fd);
	s->notify_fd = -1;
	unlink(s->notify);
}

void e2e_fdstore_close(struct e2e_fdstore *s)
{
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	s->notify_fd = -1;
	for (int i = 0; i < 2; i++) {
		if (s->fds[i] >= 0)
			close(s->fds[i]);
		s->fds[i] = -1;
	}
}

/* In the daemon child: the environment and descriptors systemd would give
 * it, and nothing inherited from the test's own environment. */
static void child_env(const struct e2e_fdstore *s, bool restore)
{
	char pid[32], names[sizeof(s->fdname)];

	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	if (s->notify_fd >= 0)
		setenv("NOTIFY_SOCKET", s->notify, 1);
	if (restore) {
		/* dup2() onto 3 and 4 could close one stored descriptor with
		 * the other: both go out of the way first */
		int p = fcntl(s->fds[E2E_FDSTORE_POOL], F_DUPFD_CLOEXEC, 64);
		int d = fcntl(s->fds[E2E_FDSTORE_DEPOT], F_DUPFD_CLOEXEC, 64);

		if (p < 0 || d < 0 || dup2(p, 3) < 0 || dup2(d, 4) < 0)
			_exit(126);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		snprintf(names, sizeof(names), "%s:%s", s->fdname[E2E_FDSTORE_POOL],
			 s->fdname[E2E_FDSTORE_DEPOT]);
		setenv("LISTEN_FDS", "2", 1);
		setenv("LISTEN_FDNAMES", names, 1);
		setenv("LISTEN_PID", pid, 1);
	}
}

void e2e_fdstore_start(struct e2e *e, struct e2e_fdstore *s, bool restore)
{
	pid_t parent = getpid();

	snprintf(e->log, sizeof(e->log), "%s/daemon.%d.log", e->dir, ++s->starts);
	fflush(NULL);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		e2e_daemon_child(parent, e->log);
		child_env(s, restore);
		execl(e2e_pcpupoold, "pcpupoold", "--config", e->cfg, "--socket", e->sock,
		      (char *)NULL);
		_exit(127);
	}
	e2e_wait_accepting(&e->pid, e->sock, e->log);
}
