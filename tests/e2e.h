/* SPDX-License-Identifier: MIT */
/*
 * e2e.h - harness for the end-to-end tests: a real pcpupoold in a child
 * process on a socket in a fresh temporary directory, raw protocol lines,
 * CPU pinning, polling with deadlines, forked client processes that never
 * outlive the test.  Header-only, test code only (CMocka asserts).
 *
 *   e2e_start()        mkdtemp, write the config, fork+exec PCPUPOOLD with
 *                      --config/--socket, stderr to <dir>/daemon.log, wait
 *                      (bounded) until the socket accepts.
 *   e2e_stop()         SIGTERM, waitpid, assert a clean exit 0; kill any
 *                      forked client still registered; remove the directory.
 *   e2e_fork()         fork a child that dies with the test process
 *                      (PR_SET_PDEATHSIG) and is reaped by e2e_stop().
 *   e2e_raw_*()        one JSON line over a raw connection, one reply line.
 *   e2e_pin()          pin the calling thread to a CPU and check it runs there.
 *   e2e_poll()         evaluate a condition until true or a deadline passes.
 *
 * Set E2E_KEEP=1 to keep the temporary directory (config, daemon log).
 * Include it after <cmocka.h>.
 */
#ifndef PCPUPOOL_E2E_H
#define PCPUPOOL_E2E_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "pcpupool.h"

#ifndef PCPUPOOLD
#error "PCPUPOOLD must name the daemon binary (the Makefile passes -DPCPUPOOLD=...)"
#endif

#define E2E_START_TIMEOUT_MS  5000   /* daemon socket accepting */
#define E2E_STOP_TIMEOUT_MS   5000   /* daemon exit after SIGTERM */
#define E2E_REPLY_TIMEOUT_MS  5000   /* one raw reply line */
#define E2E_POLL_MS           2000   /* default deadline of e2e_poll() */
#define E2E_MAX_CHILDREN      8
#define E2E_MAX_REPLY         (1 << 20)
#define E2E_SWEEP_MS          20     /* the daemon's sweep_interval_ms */
#define E2E_NAME_LEN          64

struct e2e {
	char dir[64];
	char sock[128];
	char cfg[128];
	char log[128];
	pid_t pid;                     /* the daemon */
	bool stopped;                  /* SIGSTOPped by e2e_daemon_pause() */
	pid_t child[E2E_MAX_CHILDREN]; /* forked clients not yet reaped */
	int seq;                       /* for e2e_name() */
};

/* ---- time ---- */

static inline int64_t e2e_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t e2e_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void e2e_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * e2e_poll() - true as soon as @cond holds, false if it still does not
 * after @ms milliseconds.  @cond is evaluated at least once, and once more
 * after the deadline, so a slow machine only makes it slower, never wrong.
 */
#define e2e_poll(cond, ms) ({                                            \
	int64_t e2e_dl_ = e2e_now_ms() + (ms);                           \
	bool e2e_ok_;                                                    \
	while (!(e2e_ok_ = (cond)) && e2e_now_ms() < e2e_dl_)            \
		e2e_sleep_ms(1);                                         \
	e2e_ok_;                                                         \
})

/* ---- CPUs ---- */

/* The affinity the process started with: restored for the daemon and
 * after each test, and the set of CPUs the tests may pin to. */
static inline const cpu_set_t *e2e_cpus_allowed(void)
{
	static cpu_set_t set;
	static bool have;

	if (!have) {
		if (sched_getaffinity(0, sizeof(set), &set) < 0) {
			CPU_ZERO(&set);
			CPU_SET(0, &set);
		}
		have = true;
	}
	return &set;
}

static inline bool e2e_cpu_allowed(int cpu)
{
	return cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, e2e_cpus_allowed());
}

/* The lowest CPU the tests may run on ("CPU 0" on an ordinary machine). */
static inline int e2e_first_cpu(void)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (e2e_cpu_allowed(c))
			return c;
	return 0;
}

static inline void e2e_unpin(void)
{
	sched_setaffinity(0, sizeof(cpu_set_t), e2e_cpus_allowed());
}

/* Pin the calling thread to @cpu and make sure it runs there (so rseq's
 * cpu_id is @cpu before the caller's next pool operation). */
static inline void e2e_pin(int cpu)
{
	cpu_set_t set;

	assert_true(e2e_cpu_allowed(cpu));
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);
	sched_yield();
	assert_int_equal(sched_getcpu(), cpu);
}

/* ---- files ---- */

static inline void e2e_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Print the daemon's log (to explain a failure). */
/* Whether the daemon's log so far has a line containing @what. */
static inline bool e2e_log_has(const struct e2e *e, const char *what)
{
	FILE *f = fopen(e->log, "r");
	char line[1024];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return found;
}

static inline void e2e_dump_log(const struct e2e *e)
{
	char buf[4096];
	FILE *f = fopen(e->log, "r");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", e->log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of daemon log ----\n");
	fclose(f);
}

/* ---- child processes ---- */

/* In a fresh child: die with the parent, even if it died before this. */
static inline void e2e_child_init(pid_t parent)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(125);
	/* CMocka's handlers would take a crashing child back into a copy of
	 * the test runner: it must die by its signal, for the parent to see */
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], SIG_DFL);
}

/*
 * e2e_fork() - fork a client process.  In the child it returns 0 (the child
 * must end with _exit(), never return into CMocka: its asserts would jump
 * into the parent's test runner); in the parent the child's pid, which
 * e2e_stop() kills and reaps if the test did not.
 */
static inline pid_t e2e_fork(struct e2e *e)
{
	pid_t parent = getpid(), pid;
	int slot;

	for (slot = 0; slot < E2E_MAX_CHILDREN && e->child[slot]; slot++)
		;
	assert_true(slot < E2E_MAX_CHILDREN);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		e2e_child_init(parent);
		return 0;
	}
	e->child[slot] = pid;
	return pid;
}

/* Wait (bounded) for a forked child; return its wait status, or -1 if it
 * did not end within @ms (it is then killed). */
static inline int e2e_wait_child(struct e2e *e, pid_t pid, int ms)
{
	int64_t deadline = e2e_now_ms() + ms;
	int status = -1;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (e2e_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			status = -1;
			break;
		}
		e2e_sleep_ms(1);
	}
	for (int i = 0; i < E2E_MAX_CHILDREN; i++)
		if (e->child[i] == pid)
			e->child[i] = 0;
	return r == pid ? status : -1;
}

/* Assert that a child exited with status 0 within @ms. */
static inline void e2e_expect_child_ok(struct e2e *e, pid_t pid, int ms)
{
	int st = e2e_wait_child(e, pid, ms);

	if (st == -1)
		fail_msg("child %d did not finish within %d ms", (int)pid, ms);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child %d: %s %d", (int)pid,
			 WIFEXITED(st) ? "exit status" : "killed by signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Read exactly @len bytes from @fd within @ms.  Return 0, or -1 on end of
 * file, error or timeout.  Usable in children (no asserts). */
static inline int e2e_read_full(int fd, void *buf, size_t len, int ms)
{
	int64_t deadline = e2e_now_ms() + ms;
	char *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - e2e_now_ms());
		ssize_t n;

		int r;

		if (left <= 0)
			return -1;
		r = poll(&pfd, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			continue;   /* timed out: the deadline check above ends it
				     * (a read now would block past it) */
		n = read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write all of @buf; 0 or -1.  Usable in children. */
static inline int e2e_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- the daemon ---- */

/* Connect a raw stream socket to @path; return the fd or -errno. */
static inline int e2e_connect_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/*
 * e2e_start_sweep() - start a daemon with no pools in a fresh directory.
 * @e: zeroed state, filled here.
 * @extra_config: more top-level members for the config ("" for none),
 *                e.g. "\"max_clients\": 8,".
 * @sweep_ms: its sweep_interval_ms.
 */
static inline void e2e_start_sweep(struct e2e *e, const char *extra_config, int sweep_ms)
{
	char text[1024];
	int64_t deadline;
	pid_t parent = getpid();
	int fd, status;

	memset(e, 0, sizeof(*e));
	e2e_cpus_allowed();   /* record the original affinity */
	strcpy(e->dir, "/tmp/pcpupool-e2e.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/ctl.sock", e->dir);
	snprintf(e->cfg, sizeof(e->cfg), "%s/pcpupoold.json", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/daemon.log", e->dir);
	snprintf(text, sizeof(text),
		 "{\n  %s\n  \"log_level\": \"info\",\n  \"sweep_interval_ms\": %d,\n"
		 "  \"pools\": []\n}\n", extra_config ? extra_config : "", sweep_ms);
	e2e_write_file(e->cfg, text);

	fflush(NULL);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		sigset_t none;
		int lfd = open(e->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nfd = open("/dev/null", O_RDONLY);

		e2e_child_init(parent);
		if (lfd < 0 || nfd < 0 || dup2(nfd, 0) < 0 || dup2(lfd, 1) < 0 ||
		    dup2(lfd, 2) < 0)
			_exit(126);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		sched_setaffinity(0, sizeof(cpu_set_t), e2e_cpus_allowed());
		execl(PCPUPOOLD, "pcpupoold", "--config", e->cfg, "--socket", e->sock,
		      (char *)NULL);
		_exit(127);
	}

	deadline = e2e_now_ms() + E2E_START_TIMEOUT_MS;
	for (;;) {
		fd = e2e_connect_path(e->sock);
		if (fd >= 0) {
			close(fd);
			break;
		}
		if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
			e->pid = 0;
			e2e_dump_log(e);
			fail_msg("pcpupoold exited during start-up (status %#x)", status);
		}
		if (e2e_now_ms() > deadline) {
			e2e_dump_log(e);
			fail_msg("pcpupoold: %s not accepting after %d ms", e->sock,
				 E2E_START_TIMEOUT_MS);
		}
		e2e_sleep_ms(2);
	}
	/* and set up: the socket accepts a little before the loop runs */
	if (!e2e_poll(e2e_log_has(e, " ready on "), E2E_START_TIMEOUT_MS)) {
		e2e_dump_log(e);
		fail_msg("pcpupoold: no ready line after %d ms", E2E_START_TIMEOUT_MS);
	}
}

/* Freeze / thaw the daemon, to hold it still while the test sets up a
 * situation it must only see afterwards.  No control call may be made
 * while it is paused (it would wait for the reply). */
/* e2e_start_sweep() with the usual sweep, E2E_SWEEP_MS. */
static inline void e2e_start(struct e2e *e, const char *extra_config)
{
	e2e_start_sweep(e, extra_config, E2E_SWEEP_MS);
}

static inline void e2e_daemon_pause(struct e2e *e)
{
	siginfo_t si;

	assert_int_equal(kill(e->pid, SIGSTOP), 0);
	e->stopped = true;
	/* wait until it really is stopped */
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)e->pid, &si, WSTOPPED | WNOWAIT), 0);
	assert_int_equal(si.si_code, CLD_STOPPED);
}

static inline void e2e_daemon_resume(struct e2e *e)
{
	assert_int_equal(kill(e->pid, SIGCONT), 0);
	e->stopped = false;
}

static inline void e2e_rmdir(struct e2e *e)
{
	const char *keep = getenv("E2E_KEEP");

	if (keep && *keep && strcmp(keep, "0")) {
		fprintf(stderr, "e2e: kept %s\n", e->dir);
		return;
	}
	unlink(e->cfg);
	unlink(e->log);
	unlink(e->sock);
	rmdir(e->dir);
}

/*
 * e2e_stop() - reap forked clients, stop the daemon with SIGTERM and assert
 * that it shut down cleanly (exit status 0: under a sanitizer that also
 * means no leak and no race report), remove the directory.
 */
static inline void e2e_stop(struct e2e *e)
{
	int64_t deadline;
	int status = 0;
	pid_t r;

	e2e_unpin();
	for (int i = 0; i < E2E_MAX_CHILDREN; i++)
		if (e->child[i]) {
			kill(e->child[i], SIGKILL);
			waitpid(e->child[i], NULL, 0);
			e->child[i] = 0;
		}
	if (!e->pid) {
		e2e_rmdir(e);
		return;
	}
	if (e->stopped)
		kill(e->pid, SIGCONT);
	assert_int_equal(kill(e->pid, SIGTERM), 0);
	deadline = e2e_now_ms() + E2E_STOP_TIMEOUT_MS;
	while ((r = waitpid(e->pid, &status, WNOHANG)) == 0 && e2e_now_ms() < deadline)
		e2e_sleep_ms(2);
	if (r == 0) {
		/* where it is stuck, for whoever reads the failure: its state,
		 * the kernel function it sleeps in, its pending and blocked
		 * signals */
		char path[64], buf[2048];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)e->pid);
		if ((f = fopen(path, "r"))) {
			while (fgets(buf, sizeof(buf), f))
				if (!strncmp(buf, "State:", 6) || !strncmp(buf, "SigPnd:", 7) ||
				    !strncmp(buf, "ShdPnd:", 7) || !strncmp(buf, "SigBlk:", 7) ||
				    !strncmp(buf, "SigCgt:", 7))
					fprintf(stderr, "pcpupoold %s", buf);
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%d/wchan", (int)e->pid);
		if ((f = fopen(path, "r"))) {
			if (fgets(buf, sizeof(buf), f))
				fprintf(stderr, "pcpupoold wchan: %s\n", buf);
			fclose(f);
		}
		kill(e->pid, SIGKILL);
		waitpid(e->pid, &status, 0);
		e->pid = 0;
		e2e_dump_log(e);
		e2e_rmdir(e);
		fail_msg("pcpupoold did not exit within %d ms of SIGTERM", E2E_STOP_TIMEOUT_MS);
	}
	e->pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		e2e_dump_log(e);
		e2e_rmdir(e);
		fail_msg("pcpupoold: unclean shutdown: %s %d",
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	e2e_rmdir(e);
}

/* A pool name unique in this daemon, "<tag>-<pid>-<seq>", in @buf. */
static inline const char *e2e_name(struct e2e *e, const char *tag, char buf[E2E_NAME_LEN])
{
	snprintf(buf, E2E_NAME_LEN, "%s-%d-%d", tag, (int)getpid(), ++e->seq);
	return buf;
}

/* A library client on the test daemon. */
static inline struct pcpupool_client *e2e_client(const struct e2e *e)
{
	struct pcpupool_client *c = pcpupool_connect(e->sock);

	if (!c)
		fail_msg("pcpupool_connect(%s): %s", e->sock, strerror(errno));
	return c;
}

/* ---- raw protocol ---- */

static inline int e2e_raw_connect(const struct e2e *e)
{
	int fd = e2e_connect_path(e->sock);

	if (fd < 0)
		fail_msg("connect %s: %s", e->sock, strerror(-fd));
	return fd;
}

/* Send all of @buf (@len bytes). */
static inline void e2e_raw_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/*
 * e2e_raw_recv_line() - read one reply line (without its newline) within
 * E2E_REPLY_TIMEOUT_MS.  Return it (malloc'd), or NULL at end of stream or
 * on a connection reset; a timeout or an over-long line fails the test.
 */
static inline char *e2e_raw_recv_line(int fd)
{
	int64_t deadline = e2e_now_ms() + E2E_REPLY_TIMEOUT_MS;
	size_t len = 0, cap = 256;
	char *s = malloc(cap);

	assert_non_null(s);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - e2e_now_ms());
		char ch;
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) == 0) {
			free(s);
			fail_msg("no reply line within %d ms", E2E_REPLY_TIMEOUT_MS);
		}
		n = recv(fd, &ch, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != ECONNRESET)
				fail_msg("recv: %s", strerror(errno));
			free(s);
			return NULL;
		}
		if (ch == '\n') {
			s[len] = '\0';
			return s;
		}
		if (len + 2 > cap) {
			char *t;

			assert_true(cap < E2E_MAX_REPLY);
			t = realloc(s, cap *= 2);
			assert_non_null(t);
			s = t;
		}
		s[len++] = ch;
	}
}

/* Send @len bytes of @line plus a newline on @fd; return the reply line
 * (malloc'd) or NULL if the daemon closed the connection instead. */
static inline char *e2e_raw_xfer_n(int fd, const char *line, size_t len)
{
	char *buf = malloc(len + 1);
	char *reply;

	assert_non_null(buf);
	memcpy(buf, line, len);
	buf[len] = '\n';
	e2e_raw_send(fd, buf, len + 1);   /* one write: one line */
	free(buf);
	reply = e2e_raw_recv_line(fd);
	return reply;
}

static inline char *e2e_raw_xfer(int fd, const char *line)
{
	return e2e_raw_xfer_n(fd, line, strlen(line));
}

/* One request on a fresh connection. */
static inline char *e2e_raw_request(const struct e2e *e, const char *line)
{
	int fd = e2e_raw_connect(e);
	char *reply = e2e_raw_xfer(fd, line);

	close(fd);
	return reply;
}

/* Parse a reply line that must be a JSON object with a boolean "ok". */
static inline json_t *e2e_parse_reply(const char *reply)
{
	json_error_t je;
	json_t *j;

	if (!reply)
		fail_msg("the daemon closed the connection instead of replying");
	j = json_loads(reply, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		fail_msg("reply is not JSON (%s): %s", je.text, reply);
	if (!json_is_object(j) || !json_is_boolean(json_object_get(j, "ok")))
		fail_msg("reply has no boolean \"ok\": %s", reply);
	return j;
}

/* Assert @reply is {"ok":true,...}; frees it. */
static inline void e2e_expect_ok(char *reply)
{
	json_t *j = e2e_parse_reply(reply);

	if (!json_is_true(json_object_get(j, "ok")))
		fail_msg("expected ok:true, got %s", reply);
	json_decref(j);
	free(reply);
}

/* Assert @reply is {"ok":false,"error":{"code":@code,"message":"..."}};
 * frees it. */
static inline void e2e_expect_error(char *reply, const char *code)
{
	json_t *j = e2e_parse_reply(reply);
	json_t *err = json_object_get(j, "error");
	const char *got = json_string_value(json_object_get(err, "code"));

	if (!json_is_false(json_object_get(j, "ok")) || !got || strcmp(got, code) ||
	    !json_is_string(json_object_get(err, "message")))
		fail_msg("expected error %s, got %s", code, reply);
	json_decref(j);
	free(reply);
}

/* ---- stats ---- */

/* The stats object of pool @name (pcpupool_stats_json, parsed).  The
 * caller json_decref()s it. */
static inline json_t *e2e_pool_stats(struct pcpupool_client *c, const char *name)
{
	char *s = pcpupool_stats_json(c, name);
	json_t *root, *pools, *p;
	json_error_t je;

	if (!s)
		fail_msg("pcpupool_stats_json(%s): %s", name, strerror(errno));
	root = json_loads(s, 0, &je);
	if (!root)
		fail_msg("stats are not JSON (%s): %s", je.text, s);
	free(s);
	pools = json_object_get(json_object_get(root, "stats"), "pools");
	assert_true(json_is_array(pools));
	assert_int_equal(json_array_size(pools), 1);
	p = json_incref(json_array_get(pools, 0));
	json_decref(root);
	assert_string_equal(json_string_value(json_object_get(p, "name")), name);
	return p;
}

/* An integer member of a pool's stats; fails the test if missing. */
static inline json_int_t e2e_stat(json_t *pool, const char *key)
{
	json_t *v = json_object_get(pool, key);

	if (!json_is_integer(v))
		fail_msg("stats: no integer \"%s\"", key);
	return json_integer_value(v);
}

/* An integer member of CPU @cpu's entry in a pool's stats. */
static inline json_int_t e2e_cpu_stat(json_t *pool, int cpu, const char *key)
{
	json_t *cpus = json_object_get(pool, "cpus");
	json_t *e = json_array_get(cpus, (size_t)cpu);

	if (!e || !json_is_integer(json_object_get(e, "cpu")) ||
	    json_integer_value(json_object_get(e, "cpu")) != cpu)
		fail_msg("stats: no entry for cpu %d", cpu);
	return e2e_stat(e, key);
}

/*
 * e2e_expect_conserved() - every element the daemon published is in a
 * reserve (slab or inbox), the spare, an outbox or the depot: nothing lost, nothing
 * counted twice.  Call it only when no client holds an element and none is
 * running (the daemon's snapshot is then exact).
 */
static inline void e2e_expect_conserved(struct pcpupool_client *c, const char *name)
{
	json_t *s = e2e_pool_stats(c, name);
	json_int_t out = 0, pub, res, depot, spare;
	size_t n = json_array_size(json_object_get(s, "cpus"));

	for (size_t i = 0; i < n; i++)
		out += e2e_cpu_stat(s, (int)i, "outbox");
	pub = e2e_stat(s, "published");
	res = e2e_stat(s, "reserved");
	depot = e2e_stat(s, "depot");
	spare = e2e_stat(s, "spare");
	json_decref(s);
	if (pub != res + spare + depot + out)
		fail_msg("pool %s: %lld published but %lld reserved + %lld spare + %lld in "
			 "the depot + %lld in outboxes", name, (long long)pub, (long long)res,
			 (long long)spare, (long long)depot, (long long)out);
}

#endif /* PCPUPOOL_E2E_H */
