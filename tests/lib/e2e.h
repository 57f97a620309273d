/* SPDX-License-Identifier: MIT */
/*
 * e2e.h - harness for the integration tests: a real pcpupoold in a child
 * process on a socket in a fresh temporary directory, raw protocol lines
 * (raw.h), CPU pinning, polling with deadlines, forked client processes
 * that never outlive the test.  Test code only (CMocka asserts); compiled
 * once, in e2e.c, raw.c, view.c and fdstore.c (the Makefile's E2E_LIB),
 * with the daemon's path (-DPCPUPOOLD=...) in e2e_pcpupoold.  fdstore.h:
 * systemd's fd store, emulated for restarts of the daemon.
 *
 *   e2e_start()        mkdtemp, write the config, fork+exec the daemon with
 *                      --config/--socket, stderr to <dir>/daemon.log, wait
 *                      (bounded) until the socket accepts.
 *   e2e_stop()         SIGTERM, waitpid, assert a clean exit 0; kill any
 *                      forked client still registered; remove the directory.
 *   e2e_setup()        the same as CMocka setup and teardown: a daemon per
 *   e2e_teardown()     test, in *state.
 *   e2e_fork()         fork a child that dies with the test process
 *                      (PR_SET_PDEATHSIG) and is reaped by e2e_stop().
 *   e2e_raw_*()        one JSON line over a raw connection, one reply line.
 *   e2e_pin()          pin the calling thread to a CPU and check it runs there.
 *   e2e_child_pin()    in a forked child: run on one CPU (CHILD_CHECK-style);
 *   e2e_child_open_on() and connect and open a pool there.
 *   e2e_poll()         evaluate a condition until true or a deadline passes.
 *
 * Set E2E_KEEP=1 to keep the temporary directory (config, daemon log).
 */
#ifndef PCPUPOOL_TESTS_E2E_H
#define PCPUPOOL_TESTS_E2E_H

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
#include "raw.h"

#define E2E_START_TIMEOUT_MS  5000   /* daemon socket accepting */
#define E2E_STOP_TIMEOUT_MS   5000   /* daemon exit after SIGTERM */
#define E2E_POLL_MS           2000   /* default deadline of e2e_poll() */
#define E2E_MAX_CHILDREN      8
#define E2E_SWEEP_MS          20     /* the daemon's sweep_interval_ms */
#define E2E_NAME_LEN          64

/* the daemon binary, as the Makefile named it */
extern const char *const e2e_pcpupoold;

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

int64_t e2e_now_ms(void);
int64_t e2e_now_ns(void);
void e2e_sleep_ms(int ms);

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

/* Assert that @call returns NULL with errno @err (errno cleared first). */
#define e2e_assert_null_errno(call, err) do {                            \
	errno = 0;                                                       \
	assert_null(call);                                               \
	assert_int_equal(errno, (err));                                  \
} while (0)

#define CHILD_TIMEOUT_MS 10000   /* a forked client must be done by then */

/* In a forked child: on failure, say where and exit non-zero (never use
 * CMocka's asserts there). */
#define CHILD_CHECK(cond) do {                                                 \
	if (!(cond)) {                                                         \
		fprintf(stderr, "child %d: %s:%d: check failed: %s (errno %s)\n", \
			(int)getpid(), __FILE__, __LINE__, #cond, strerror(errno)); \
		_exit(1);                                                      \
	}                                                                      \
} while (0)

/* Deterministic pseudo-random numbers (xorshift64*) from *@state: the same
 * sequence for the same seed; a zero state starts from a fixed seed. */
uint64_t e2e_rng(uint64_t *state);

/* ---- CPUs ---- */

/* The affinity the process started with: restored for the daemon and
 * after each test, and the set of CPUs the tests may pin to. */
const cpu_set_t *e2e_cpus_allowed(void);
bool e2e_cpu_allowed(int cpu);
/* The lowest CPU the tests may run on ("CPU 0" on an ordinary machine). */
int e2e_first_cpu(void);
void e2e_unpin(void);
/* Pin the calling thread to @cpu and make sure it runs there (so rseq's
 * cpu_id is @cpu before the caller's next pool operation). */
void e2e_pin(int cpu);

/* ---- files ---- */

void e2e_write_file(const char *path, const char *text);
/* Whether a line of @path starts with @prefix (NULL: any) and contains
 * @what. */
bool e2e_file_has(const char *path, const char *prefix, const char *what);
/* Whether the daemon's log so far has a line containing @what. */
bool e2e_log_has(const struct e2e *e, const char *what);
/* Print a daemon log (to explain a failure). */
void e2e_dump_file(const char *path);
void e2e_dump_log(const struct e2e *e);
/* Remove @dir and the files in it, unless the environment variable
 * @keep_env is set (to anything but "" or "0"): then say where it is. */
void e2e_remove_dir(const char *dir, const char *keep_env);

/* ---- child processes ---- */

/* In a fresh child: die with the parent, even if it died before this, and
 * by a fatal signal's default action (not into a copy of CMocka's runner). */
void e2e_child_init(pid_t parent);
/*
 * e2e_fork() - fork a client process.  In the child it returns 0 (the child
 * must end with _exit(), never return into CMocka: its asserts would jump
 * into the parent's test runner); in the parent the child's pid, which
 * e2e_stop() kills and reaps if the test did not.
 */
pid_t e2e_fork(struct e2e *e);
/* Wait (bounded) for a forked child; return its wait status, or -1 if it
 * did not end within @ms (it is then killed). */
int e2e_wait_child(struct e2e *e, pid_t pid, int ms);
/* Assert that a child exited with status 0 within @ms. */
void e2e_expect_child_ok(struct e2e *e, pid_t pid, int ms);

/*
 * e2e_child_pin() - in a forked child: run on @cpu alone from now on (the
 * kernel moves the caller before the call returns; a yield lets it
 * settle).  On failure it says where, the caller's file and line, and
 * exits non-zero, as CHILD_CHECK does.
 */
#define e2e_child_pin(cpu) e2e_child_pin_at((cpu), __FILE__, __LINE__)
void e2e_child_pin_at(int cpu, const char *file, int line);
/*
 * e2e_child_open_on() - in a forked child: run on @cpu alone
 * (e2e_child_pin()), connect to the test daemon and open pool @name, so
 * that the daemon sees the attach come from @cpu.  Return the pool, its
 * client in *@client; on failure say where and exit non-zero.
 */
#define e2e_child_open_on(e, cpu, name, client) \
	e2e_child_open_on_at((e), (cpu), (name), (client), __FILE__, __LINE__)
struct pcpupool *e2e_child_open_on_at(const struct e2e *e, int cpu, const char *name,
				      struct pcpupool_client **client, const char *file,
				      int line);

/* ---- the daemon ---- */

/* In a forked child about to exec the daemon (e2e_child_init() included):
 * stdin from /dev/null, stdout and stderr to @log, no signal blocked. */
void e2e_daemon_child(pid_t parent, const char *log);
/* Wait (bounded) until the daemon *@pid accepts on @sock; fail the test,
 * with @log printed, if it exits first (*@pid is then 0) or does not
 * accept within E2E_START_TIMEOUT_MS. */
void e2e_wait_accepting(pid_t *pid, const char *sock, const char *log);

/* A fresh directory /tmp/pcpupool-@name.XXXXXX for a daemon, in e->dir,
 * and the paths in it of its socket, config and log. */
void e2e_make_dir(struct e2e *e, const char *name);

/*
 * e2e_start_sweep() - start a daemon with no pools in a fresh directory.
 * @e: state, filled here.
 * @extra_config: more top-level members for the config ("" or NULL for
 *                none), e.g. "\"max_clients\": 8,".
 * @sweep_ms: its sweep_interval_ms.
 */
void e2e_start_sweep(struct e2e *e, const char *extra_config, int sweep_ms);
/* e2e_start_sweep() with the usual sweep, E2E_SWEEP_MS. */
void e2e_start(struct e2e *e, const char *extra_config);
/* Freeze / thaw the daemon, to hold it still while the test sets up a
 * situation it must only see afterwards.  No control call may be made
 * while it is paused (it would wait for the reply). */
void e2e_daemon_pause(struct e2e *e);
void e2e_daemon_resume(struct e2e *e);
void e2e_rmdir(struct e2e *e);
/*
 * e2e_stop() - reap forked clients, stop the daemon with SIGTERM and assert
 * that it shut down cleanly (exit status 0: under a sanitizer that also
 * means no leak and no race report), remove the directory.
 */
void e2e_stop(struct e2e *e);

/* CMocka setup: a daemon of its own for the test (e2e_start_sweep()), its
 * struct e2e in *state; teardown: e2e_stop() and free it. */
int e2e_setup_config(void **state, const char *extra_config, int sweep_ms);
int e2e_setup(void **state);
int e2e_teardown(void **state);

/* A pool name unique in this daemon, "<tag>-<pid>-<seq>", in @buf. */
const char *e2e_name(struct e2e *e, const char *tag, char buf[E2E_NAME_LEN]);

/* ---- clients ---- */

/* A library client on the test daemon. */
struct pcpupool_client *e2e_client(const struct e2e *e);
/* The handle as the inline code reads it. */
const struct pcpupool_fast *e2e_fast(const struct pcpupool *p);
/* Whether @p's inline sections run on its slabs: pf_slabs has CPU 0's slab
 * (a slab's cap is never 0) rather than the library's pages of zeros. */
bool e2e_inline_on(const struct pcpupool *p);
/* Where @pool is mapped: found from an element (taken with WAIT and given
 * back), as the handle does not say. */
char *e2e_pool_base(struct pcpupool *pool);
/* A slab-core view (core/slab.h) of @pool's shared memory, popping as
 * @owner, for playing a client's part by hand or scribbling on it.  In
 * view.c: only the tests linked with the slab core use it. */
struct slab_view;
void e2e_pool_view(struct pcpupool *pool, struct slab_view *v, uint32_t owner);

/* A raw connection to the test daemon (fails the test if it refuses). */
int e2e_raw_connect(const struct e2e *e);
/* One request on a fresh connection. */
char *e2e_raw_request(const struct e2e *e, const char *line);

/* ---- stats ---- */

/* The stats object of pool @name (pcpupool_stats_json, parsed).  The
 * caller json_decref()s it. */
json_t *e2e_pool_stats(struct pcpupool_client *c, const char *name);
/* An integer member of a pool's stats; fails the test if missing. */
json_int_t e2e_stat(json_t *pool, const char *key);
/* An integer member of CPU @cpu's entry in a pool's stats. */
json_int_t e2e_cpu_stat(json_t *pool, int cpu, const char *key);
/* e2e_stat() (@cpu < 0) or e2e_cpu_stat() of pool @name's stats now. */
json_int_t e2e_stat_now(struct pcpupool_client *c, const char *name, int cpu,
			const char *key);
/* The spare list of CPU @cpu's NUMA node in pool @name's stats now (one
 * spare per node), and the number of nodes the pool deals to. */
json_int_t e2e_cpu_spare(struct pcpupool_client *c, const char *name, int cpu);
int e2e_pool_nodes(struct pcpupool_client *c, const char *name);
/* Pool @name's "state" now ("ok", "quarantined", ...; "?" if none), in a
 * static buffer. */
const char *e2e_pool_state(struct pcpupool_client *c, const char *name);
/* CPU @cpu's "reserve" in pool @name's stats now ("open", "closed", ...;
 * "?" if none), in a static buffer. */
const char *e2e_cpu_reserve(struct pcpupool_client *c, const char *name, int cpu);
/* The elements the stats @pool count in the pool: in a reserve (slab or
 * inbox), the spare, an outbox or the depot. */
json_int_t e2e_in_pool(json_t *pool);
/*
 * e2e_expect_conserved() - every element the daemon published is in the
 * pool (e2e_in_pool()): nothing lost, nothing counted twice.  Call it only
 * when no client holds an element and none is running (the daemon's
 * snapshot is then exact).
 */
void e2e_expect_conserved(struct pcpupool_client *c, const char *name);

#endif /* PCPUPOOL_TESTS_E2E_H */
