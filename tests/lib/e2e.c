// SPDX-License-Identifier: MIT
/*
 * e2e.c - the integration tests' harness (e2e.h): time, CPUs, files,
 * forked children, the daemon's start and stop, library clients, stats.
 * Compiled once, with the daemon's path in PCPUPOOLD.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "e2e.h"
#include "slab.h"   /* struct slab, for e2e_inline_on() */

#ifndef PCPUPOOLD
#error "PCPUPOOLD must name the daemon binary (the Makefile passes -DPCPUPOOLD=...)"
#endif

const char *const e2e_pcpupoold = PCPUPOOLD;

/* ---- time ---- */

int64_t e2e_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t e2e_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void e2e_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

uint64_t e2e_rng(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- CPUs ---- */

const cpu_set_t *e2e_cpus_allowed(void)
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

bool e2e_cpu_allowed(int cpu)
{
	return cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, e2e_cpus_allowed());
}

int e2e_first_cpu(void)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (e2e_cpu_allowed(c))
			return c;
	return 0;
}

void e2e_unpin(void)
{
	sched_setaffinity(0, sizeof(cpu_set_t), e2e_cpus_allowed());
}

void e2e_pin(int cpu)
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

void e2e_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

bool e2e_file_has(const char *path, const char *prefix, const char *what)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = (!prefix || !strncmp(line, prefix, strlen(prefix))) &&
			strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return found;
}

bool e2e_log_has(const struct e2e *e, const char *what)
{
	return e2e_file_has(e->log, NULL, what);
}

void e2e_dump_file(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of daemon log ----\n");
	fclose(f);
}

void e2e_dump_log(const struct e2e *e)
{
	e2e_dump_file(e->log);
}

void e2e_remove_dir(const char *dir, const char *keep_env)
{
	const char *keep = getenv(keep_env);
	struct dirent *de;
	DIR *d;

	if (keep && *keep && strcmp(keep, "0")) {
		fprintf(stderr, "e2e: kept %s\n", dir);
		return;
	}
	d = opendir(dir);
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	if (rmdir(dir) < 0)
		fprintf(stderr, "e2e: could not remove %s: %s\n", dir, strerror(errno));
}

/* ---- child processes ---- */

void e2e_child_init(pid_t parent)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(125);
	/* CMocka's handlers would take a crashing child back into a copy of
	 * the test runner: it must die by its signal, for the parent to see */
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], SIG_DFL);
}

pid_t e2e_fork(struct e2e *e)
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

int e2e_wait_child(struct e2e *e, pid_t pid, int ms)
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

void e2e_expect_child_ok(struct e2e *e, pid_t pid, int ms)
{
	int st = e2e_wait_child(e, pid, ms);

	if (st == -1)
		fail_msg("child %d did not finish within %d ms", (int)pid, ms);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child %d: %s %d", (int)pid,
			 WIFEXITED(st) ? "exit status" : "killed by signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* In a forked child: say where @what failed, with errno, and exit. */
static void child_failed(const char *file, int line, const char *what)
{
	fprintf(stderr, "child %d: %s:%d: %s (errno %s)\n", (int)getpid(), file, line, what,
		strerror(errno));
	_exit(1);
}

void e2e_child_pin_at(int cpu, const char *file, int line)
{
	char what[64];
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		snprintf(what, sizeof(what), "cannot run on CPU %d alone", cpu);
		child_failed(file, line, what);
	}
	sched_yield();
}

struct pcpupool *e2e_child_open_on_at(const struct e2e *e, int cpu, const char *name,
				      struct pcpupool_client **client, const char *file,
				      int line)
{
	struct pcpupool *p;

	e2e_child_pin_at(cpu, file, line);
	*client = pcpupool_connect(e->sock);
	if (!*client)
		child_failed(file, line, "pcpupool_connect() failed");
	p = pcpupool_open(*client, name);
	if (!p)
		child_failed(file, line, "pcpupool_open() failed");
	return p;
}

/* ---- the daemon ---- */

void e2e_daemon_child(pid_t parent, const char *log)
{
	sigset_t none;
	int lfd, nfd;

	e2e_child_init(parent);
	lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (lfd < 0 || nfd < 0 || dup2(nfd, 0) < 0 || dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0)
		_exit(126);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void e2e_wait_accepting(pid_t *pid, const char *sock, const char *log)
{
	int64_t deadline = e2e_now_ms() + E2E_START_TIMEOUT_MS;
	int fd, status;

	for (;;) {
		fd = e2e_connect_path(sock);
		if (fd >= 0) {
			close(fd);
			return;
		}
		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			e2e_dump_file(log);
			fail_msg("pcpupoold exited during start-up (status %#x)", status);
		}
		if (e2e_now_ms() > deadline) {
			e2e_dump_file(log);
			fail_msg("pcpupoold: %s not accepting after %d ms", sock,
				 E2E_START_TIMEOUT_MS);
		}
		e2e_sleep_ms(2);
	}
}

void e2e_make_dir(struct e2e *e, const char *name)
{
	snprintf(e->dir, sizeof(e->dir), "/tmp/pcpupool-%s.XXXXXX", name);
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/ctl.sock", e->dir);
	snprintf(e->cfg, sizeof(e->cfg), "%s/pcpupoold.json", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/daemon.log", e->dir);
}

void e2e_start_sweep(struct e2e *e, const char *extra_config, int sweep_ms)
{
	char text[1024];
	pid_t parent = getpid();

	memset(e, 0, sizeof(*e));
	e2e_cpus_allowed();   /* record the original affinity */
	e2e_make_dir(e, "e2e");
	snprintf(text, sizeof(text),
		 "{\n  %s\n  \"log_level\": \"info\",\n  \"sweep_interval_ms\": %d,\n"
		 "  \"pools\": []\n}\n", extra_config ? extra_config : "", sweep_ms);
	e2e_write_file(e->cfg, text);

	fflush(NULL);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		e2e_daemon_child(parent, e->log);
		sched_setaffinity(0, sizeof(cpu_set_t), e2e_cpus_allowed());
		execl(e2e_pcpupoold, "pcpupoold", "--config", e->cfg, "--socket", e->sock,
		      (char *)NULL);
		_exit(127);
	}
	e2e_wait_accepting(&e->pid, e->sock, e->log);
	/* and set up: the socket accepts a little before the loop runs */
	if (!e2e_poll(e2e_log_has(e, " ready on "), E2E_START_TIMEOUT_MS)) {
		e2e_dump_log(e);
		fail_msg("pcpupoold: no ready line after %d ms", E2E_START_TIMEOUT_MS);
	}
}

void e2e_start(struct e2e *e, const char *extra_config)
{
	e2e_start_sweep(e, extra_config, E2E_SWEEP_MS);
}

void e2e_daemon_pause(struct e2e *e)
{
	siginfo_t si;

	assert_int_equal(kill(e->pid, SIGSTOP), 0);
	e->stopped = true;
	/* wait until it really is stopped */
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)e->pid, &si, WSTOPPED | WNOWAIT), 0);
	assert_int_equal(si.si_code, CLD_STOPPED);
}

void e2e_daemon_resume(struct e2e *e)
{
	assert_int_equal(kill(e->pid, SIGCONT), 0);
	e->stopped = false;
}

void e2e_rmdir(struct e2e *e)
{
	e2e_remove_dir(e->dir, "E2E_KEEP");
}

/* Where the daemon @pid is stuck, for whoever reads the failure: its
 * state, the kernel function it sleeps in, its pending and blocked
 * signals. */
static void print_stuck(pid_t pid)
{
	char path[64], buf[2048];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r"))) {
		while (fgets(buf, sizeof(buf), f))
			if (!strncmp(buf, "State:", 6) || !strncmp(buf, "SigPnd:", 7) ||
			    !strncmp(buf, "ShdPnd:", 7) || !strncmp(buf, "SigBlk:", 7) ||
			    !strncmp(buf, "SigCgt:", 7))
				fprintf(stderr, "pcpupoold %s", buf);
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	if ((f = fopen(path, "r"))) {
		if (fgets(buf, sizeof(buf), f))
			fprintf(stderr, "pcpupoold wchan: %s\n", buf);
		fclose(f);
	}
}

void e2e_stop(struct e2e *e)
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
		print_stuck(e->pid);
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

int e2e_setup_config(void **state, const char *extra_config, int sweep_ms)
{
	struct e2e *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	*state = e;
	e2e_start_sweep(e, extra_config, sweep_ms);
	return 0;
}

int e2e_setup(void **state)
{
	return e2e_setup_config(state, "", E2E_SWEEP_MS);
}

int e2e_teardown(void **state)
{
	struct e2e *e = *state;

	e2e_stop(e);
	free(e);
	return 0;
}

const char *e2e_name(struct e2e *e, const char *tag, char buf[E2E_NAME_LEN])
{
	snprintf(buf, E2E_NAME_LEN, "%s-%d-%d", tag, (int)getpid(), ++e->seq);
	return buf;
}

/* ---- clients ---- */

struct pcpupool_client *e2e_client(const struct e2e *e)
{
	struct pcpupool_client *c = pcpupool_connect(e->sock);

	if (!c)
		fail_msg("pcpupool_connect(%s): %s", e->sock, strerror(errno));
	return c;
}

const struct pcpupool_fast *e2e_fast(const struct pcpupool *p)
{
	return (const struct pcpupool_fast *)(const void *)p;
}

bool e2e_inline_on(const struct pcpupool *p)
{
	return ((const struct slab *)(const void *)e2e_fast(p)->pf_slabs)->cap != 0;
}

char *e2e_pool_base(struct pcpupool *pool)
{
	void *el = pcpupool_alloc(pool, PCPUPOOL_WAIT);
	char *base;

	assert_non_null(el);
	base = (char *)el - pcpupool_elem_offset(pool, el);
	pcpupool_free(el, pool);
	return base;
}

int e2e_raw_connect(const struct e2e *e)
{
	int fd = e2e_connect_path(e->sock);

	if (fd < 0)
		fail_msg("connect %s: %s", e->sock, strerror(-fd));
	return fd;
}

char *e2e_raw_request(const struct e2e *e, const char *line)
{
	int fd = e2e_raw_connect(e);
	char *reply = e2e_raw_xfer(fd, line);

	close(fd);
	return reply;
}

/* ---- stats ---- */

json_t *e2e_pool_stats(struct pcpupool_client *c, const char *name)
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

json_int_t e2e_stat(json_t *pool, const char *key)
{
	json_t *v = json_object_get(pool, key);

	if (!json_is_integer(v))
		fail_msg("stats: no integer \"%s\"", key);
	return json_integer_value(v);
}

json_int_t e2e_cpu_stat(json_t *pool, int cpu, const char *key)
{
	json_t *cpus = json_object_get(pool, "cpus");
	json_t *e = json_array_get(cpus, (size_t)cpu);

	if (!e || !json_is_integer(json_object_get(e, "cpu")) ||
	    json_integer_value(json_object_get(e, "cpu")) != cpu)
		fail_msg("stats: no entry for cpu %d", cpu);
	return e2e_stat(e, key);
}

json_int_t e2e_cpu_spare(struct pcpupool_client *c, const char *name, int cpu)
{
	json_t *st = e2e_pool_stats(c, name);
	json_int_t node = e2e_cpu_stat(st, cpu, "node");
	json_t *nd = json_array_get(json_object_get(st, "nodes"), (size_t)node);
	json_int_t n = e2e_stat(nd, "spare");

	json_decref(st);
	return n;
}

int e2e_pool_nodes(struct pcpupool_client *c, const char *name)
{
	json_t *st = e2e_pool_stats(c, name);
	int n = (int)json_array_size(json_object_get(st, "nodes"));

	json_decref(st);
	assert_true(n >= 1);
	return n;
}

json_int_t e2e_stat_now(struct pcpupool_client *c, const char *name, int cpu,
			const char *key)
{
	json_t *s = e2e_pool_stats(c, name);
	json_int_t v = cpu < 0 ? e2e_stat(s, key) : e2e_cpu_stat(s, cpu, key);

	json_decref(s);
	return v;
}

const char *e2e_pool_state(struct pcpupool_client *c, const char *name)
{
	static char state[32];
	json_t *s = e2e_pool_stats(c, name);

	snprintf(state, sizeof(state), "%s",
		 json_string_value(json_object_get(s, "state")) ?: "?");
	json_decref(s);
	return state;
}

const char *e2e_cpu_reserve(struct pcpupool_client *c, const char *name, int cpu)
{
	static char reserve[16];
	json_t *s = e2e_pool_stats(c, name);
	json_t *e = json_array_get(json_object_get(s, "cpus"), (size_t)cpu);

	snprintf(reserve, sizeof(reserve), "%s",
		 json_string_value(json_object_get(e, "reserve")) ?: "?");
	json_decref(s);
	return reserve;
}

/* Where a pool's elements are, by its stats @pool. */
struct where {
	json_int_t reserved, spare, depot, outboxes;
};

static struct where where_of(json_t *pool)
{
	struct where w = { e2e_stat(pool, "reserved"), e2e_stat(pool, "spare"),
			   e2e_stat(pool, "depot"), 0 };
	size_t n = json_array_size(json_object_get(pool, "cpus"));

	for (size_t i = 0; i < n; i++)
		w.outboxes += e2e_cpu_stat(pool, (int)i, "outbox");
	return w;
}

json_int_t e2e_in_pool(json_t *pool)
{
	struct where w = where_of(pool);

	return w.reserved + w.spare + w.depot + w.outboxes;
}

void e2e_expect_conserved(struct pcpupool_client *c, const char *name)
{
	json_t *s = e2e_pool_stats(c, name);
	json_int_t pub = e2e_stat(s, "published");
	struct where w = where_of(s);

	json_decref(s);
	if (pub != w.reserved + w.spare + w.depot + w.outboxes)
		fail_msg("pool %s: %lld published but %lld reserved + %lld spare + %lld in "
			 "the depot + %lld in outboxes", name, (long long)pub,
			 (long long)w.reserved, (long long)w.spare, (long long)w.depot,
			 (long long)w.outboxes);
}
