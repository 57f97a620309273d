// SPDX-License-Identifier: MIT
/*
 * test_reconnect.c - libpcpupool survives its daemon: a real pcpupoold is
 * killed (SIGKILL) and started again under a client that keeps its pools
 * open.
 *
 *   - while the daemon is away, NOWAIT alloc/free keep working on the
 *     mapped reserves and control calls fail at once with ENOTCONN;
 *   - a daemon that recreates the pool from its configuration hands out a
 *     different memfd: the old handle turns stale (ESTALE on control
 *     calls, fast path still on its old memory), the name opens again;
 *   - a daemon that takes the pool back from systemd's fd store (emulated
 *     by fdstore.h: NOTIFY_SOCKET collects the FDSTORE=1 descriptors,
 *     LISTEN_FDS hands them back) hands out the same object: the handle is
 *     kept, its new refill channel works, elements held across the restart
 *     free;
 *   - the first control call after a restart reconnects whether or not
 *     the client already saw the connection break;
 *   - after pcpupool_disconnect() nothing reconnects.
 *
 * Every wait is a poll with a deadline; the daemon is a child that dies
 * with the test (PR_SET_PDEATHSIG).  Set RECONNECT_KEEP=1 to keep the
 * temporary directory (configuration, daemon logs).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>

#include <sys/sysinfo.h>

#include "e2e.h"
#include "fdstore.h"
#include "slab.h"

#define POOL_NAME        "rc"
#define POOL_MIN_NR      8
#define POOL_LOW_WM      2
/* room for every CPU's reserve four times over, 256 at least */
#define POOL_MAX_ELEMS   (4 * POOL_MIN_NR * get_nprocs_conf() > 256 ? \
			  4 * POOL_MIN_NR * get_nprocs_conf() : 256)
#define SWEEP_MS         20
#define PROMPT_MS        3000     /* "fails promptly" */
#define POLL_MS          3000     /* default deadline of a condition */
#define MAX_HELD         1024     /* > every element the pool can have */

struct rc {
	struct e2e e;             /* its directory, socket, config; the current
				   * daemon (pid 0 when not running) and its log */
	struct e2e_fdstore store; /* what the daemons put in the fd store */
};

/* ---- the daemon ---- */

/* Start a daemon on t->e.sock and wait (bounded) until it accepts.  With
 * @from_store it gets the descriptors of t->store back. */
static void daemon_start(struct rc *t, bool from_store)
{
	assert_int_equal(t->e.pid, 0);
	e2e_fdstore_start(&t->e, &t->store, from_store);
}

/* Start the daemon with the descriptors of t->store, and check it took the
 * pool back from them. */
static void daemon_start_restoring(struct rc *t)
{
	daemon_start(t, true);
	if (!e2e_file_has(t->e.log, NULL, "restored from the fd store")) {
		e2e_dump_file(t->e.log);
		fail_msg("the daemon did not take pool %s back from the fd store", POOL_NAME);
	}
}

/* SIGKILL the daemon and reap it: its sockets are closed when this
 * returns. */
static void daemon_kill(struct rc *t)
{
	int status;

	assert_true(t->e.pid > 0);
	assert_int_equal(kill(t->e.pid, SIGKILL), 0);
	assert_int_equal(waitpid(t->e.pid, &status, 0), t->e.pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	t->e.pid = 0;
}

static int setup(void **state)
{
	struct rc *t = calloc(1, sizeof(*t));
	char text[512];

	assert_non_null(t);
	e2e_make_dir(&t->e, "reconnect");
	e2e_fdstore_init(&t->store, &t->e, POOL_NAME);
	snprintf(text, sizeof(text),
		 "{\n  \"log_level\": \"info\",\n  \"sweep_interval_ms\": %d,\n"
		 "  \"pools\": [ { \"name\": \"%s\", \"elem_size\": 64, \"align\": 64,"
		 " \"min_nr\": %d, \"low_watermark\": %d, \"max_elems\": %d } ]\n}\n",
		 SWEEP_MS, POOL_NAME, POOL_MIN_NR, POOL_LOW_WM, POOL_MAX_ELEMS);
	e2e_write_file(t->e.cfg, text);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct rc *t = *state;

	if (t->e.pid > 0) {
		kill(t->e.pid, SIGKILL);
		waitpid(t->e.pid, NULL, 0);
	}
	e2e_fdstore_close(&t->store);
	e2e_remove_dir(t->e.dir, "RECONNECT_KEEP");
	free(t);
	return 0;
}

/* ---- the client side ---- */

static struct pcpupool *open_pool(struct pcpupool_client *c)
{
	struct pcpupool *p = pcpupool_open(c, POOL_NAME);

	if (!p)
		fail_msg("pcpupool_open(%s): %s", POOL_NAME, strerror(errno));
	return p;
}

/* Take every element the reserves have with NOWAIT, into @held. */
static int drain(struct pcpupool *p, void **held, int max)
{
	int n = 0;
	void *e;

	while (n < max && (e = pcpupool_alloc(p, PCPUPOOL_NOWAIT)))
		held[n++] = e;
	assert_true(n < max);
	assert_int_equal(errno, EAGAIN);
	return n;
}

static void give_back(struct pcpupool *p, void **held, int n)
{
	for (int i = 0; i < n; i++)
		pcpupool_free(held[i], p);
}

/* The stats of pool @name (a new reference), or NULL. */
static json_t *pool_stats(struct pcpupool_client *c, const char *name)
{
	char *s = pcpupool_stats_json(c, NULL);
	json_t *root, *pools, *p, *ret = NULL;
	size_t i;

	if (!s)
		fail_msg("pcpupool_stats_json: %s", strerror(errno));
	root = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(root);
	assert_true(json_is_true(json_object_get(root, "ok")));
	pools = json_object_get(json_object_get(root, "stats"), "pools");
	json_array_foreach(pools, i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")), name))
			ret = json_incref(p);
	json_decref(root);
	return ret;
}

static json_int_t pool_stat(struct pcpupool_client *c, const char *field)
{
	json_t *p = pool_stats(c, POOL_NAME);
	json_int_t v;

	assert_non_null(p);
	assert_true(json_is_integer(json_object_get(p, field)));
	v = json_integer_value(json_object_get(p, field));
	json_decref(p);
	return v;
}

static int64_t slowest_fail_ms;   /* of the prompt failures, reported */

/* A control call that must fail with @err, within PROMPT_MS. */
#define assert_prompt_fail(call, err) do {                               \
	int64_t t0_ = e2e_now_ms();                                      \
	long r_ = (long)(call);                                          \
	int64_t dt_ = e2e_now_ms() - t0_;                                \
	if (r_ != -(long)(err))                                          \
		fail_msg("%s = %ld, expected -%s", #call, r_, #err);     \
	if (dt_ > slowest_fail_ms)                                       \
		slowest_fail_ms = dt_;                                   \
	if (dt_ >= PROMPT_MS)                                            \
		fail_msg("%s took %lld ms", #call, (long long)dt_);      \
} while (0)

/* A pointer-returning call that must fail with errno @err, promptly. */
#define assert_prompt_null(call, err) do {                               \
	int64_t t0_ = e2e_now_ms();                                      \
	void *p_;                                                        \
	errno = 0;                                                       \
	p_ = (void *)(call);                                             \
	int64_t dt_ = e2e_now_ms() - t0_;                                \
	if (p_ || errno != (err))                                        \
		fail_msg("%s = %p errno %d (%s), expected NULL/%s", #call, \
			 p_, errno, strerror(errno), #err);              \
	if (dt_ > slowest_fail_ms)                                       \
		slowest_fail_ms = dt_;                                   \
	if (dt_ >= PROMPT_MS)                                            \
		fail_msg("%s took %lld ms", #call, (long long)dt_);      \
} while (0)

/* ---- tests ---- */

/* (a) With the daemon killed, the fast path keeps serving the mapped
 * reserves and every control call fails at once with ENOTCONN. */
static void test_daemon_down_fast_path_works_control_fails(void **state)
{
	struct rc *t = *state;
	static void *held[MAX_HELD];
	struct pcpupool_client *c;
	struct pcpupool *p;
	void *e;
	int n, m;

	daemon_start(t, false);
	c = e2e_client(&t->e);
	p = open_pool(c);
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), 0);
	e = pcpupool_alloc(p, PCPUPOOL_WAIT);
	assert_non_null(e);
	pcpupool_free(e, p);

	daemon_kill(t);

	/* NOWAIT alloc/free: every element in the reserves, and back */
	n = drain(p, held, MAX_HELD);
	assert_true(n >= POOL_MIN_NR);
	give_back(p, held, n);
	m = drain(p, held, MAX_HELD);
	assert_true(m >= 1 && m <= n);   /* nothing refilled (a free may spill) */

	/* control calls: ENOTCONN, promptly, and again */
	for (int i = 0; i < 3; i++) {
		assert_prompt_fail(pcpupool_refill(p, PCPUPOOL_WAIT), ENOTCONN);
		assert_prompt_null(pcpupool_alloc(p, PCPUPOOL_WAIT), ENOTCONN);
	}
	assert_prompt_fail(pcpupool_resize(p, POOL_MIN_NR, PCPUPOOL_NOWAIT), ENOTCONN);
	assert_prompt_null(pcpupool_stats_json(c, NULL), ENOTCONN);
	assert_prompt_null(pcpupool_open(c, POOL_NAME), ENOTCONN);
	/* NOWAIT refill never blocks, daemon or not */
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_NOWAIT), -EAGAIN);
	e2e_assert_null_errno(pcpupool_alloc(p, PCPUPOOL_NOWAIT), EAGAIN);

	give_back(p, held, m);
	assert_true(pcpupool_nr_elems(p) >= 1);
	e = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(e);
	pcpupool_free(e, p);

	pcpupool_close(p);       /* no daemon: must not wait for one */
	pcpupool_disconnect(c);
	printf("daemon down: %d elements served by NOWAIT, slowest failing control "
	       "call %lld ms\n", n, (long long)slowest_fail_ms);
}

/* (b) A daemon started again without the fd store recreates the pool: a
 * different memfd, so the old handle is stale; the name opens again on
 * the same client. */
static void test_restart_recreated_pool_is_stale(void **state)
{
	struct rc *t = *state;
	static void *held[MAX_HELD];
	struct pcpupool_client *c;
	struct pcpupool *p, *q;
	void *e, *kept;
	int n;

	daemon_start(t, false);
	c = e2e_client(&t->e);
	p = open_pool(c);
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), 0);
	kept = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(kept);

	daemon_kill(t);
	assert_prompt_fail(pcpupool_refill(p, PCPUPOOL_WAIT), ENOTCONN);
	daemon_start(t, false);

	/* the next control call reconnects and finds another object */
	assert_prompt_fail(pcpupool_refill(p, PCPUPOOL_WAIT), ESTALE);
	/* the connection itself is fine, and the stale attachment was
	 * given back to the daemon */
	assert_int_equal(pool_stat(c, "clients"), 0);
	assert_prompt_fail(pcpupool_refill(p, PCPUPOOL_WAIT), ESTALE);
	assert_prompt_fail(pcpupool_resize(p, POOL_MIN_NR, PCPUPOOL_WAIT), ESTALE);
	assert_prompt_fail(pcpupool_destroy(p), ESTALE);

	/* the stale handle's fast path still works on its old memory */
	pcpupool_free(kept, p);
	n = drain(p, held, MAX_HELD);
	assert_true(n >= 1);
	assert_prompt_null(pcpupool_alloc(p, PCPUPOOL_WAIT), ESTALE);
	give_back(p, held, n);
	e = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(e);
	assert_int_not_equal(pcpupool_elem_offset(p, e), UINT64_MAX);
	pcpupool_free(e, p);

	/* the same name on the same client: the new pool */
	q = open_pool(c);
	assert_int_equal(pool_stat(c, "clients"), 1);
	assert_int_equal(pcpupool_refill(q, PCPUPOOL_WAIT), 0);
	e = pcpupool_alloc(q, PCPUPOOL_WAIT);
	assert_non_null(e);
	assert_int_equal(pcpupool_elem_offset(p, e), UINT64_MAX);  /* not the old memory */
	assert_int_not_equal(pcpupool_elem_offset(q, e), UINT64_MAX);
	pcpupool_free(e, q);
	assert_int_equal(pcpupool_resize(q, POOL_MIN_NR, PCPUPOOL_WAIT), 0);

	pcpupool_close(p);
	assert_int_equal(pool_stat(c, "clients"), 1);
	pcpupool_close(q);
	assert_int_equal(pool_stat(c, "clients"), 0);
	pcpupool_disconnect(c);
}

/* (c) stats_json reconnects: after a restart nobody noticed (the request
 * meets a dead socket and is sent again on a new one), and after one the
 * client saw as ENOTCONN. */
static void test_reconnected_client_keeps_working(void **state)
{
	struct rc *t = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	char *s;

	daemon_start(t, false);
	c = e2e_client(&t->e);
	s = pcpupool_stats_json(c, NULL);
	assert_non_null(s);
	free(s);

	/* unnoticed restart */
	daemon_kill(t);
	daemon_start(t, false);
	s = pcpupool_stats_json(c, POOL_NAME);
	if (!s)
		fail_msg("stats after an unnoticed restart: %s", strerror(errno));
	assert_non_null(strstr(s, "\"ok\":true"));
	free(s);

	/* noticed: the client is broken, then the daemon is back */
	p = open_pool(c);
	daemon_kill(t);
	assert_prompt_null(pcpupool_stats_json(c, NULL), ENOTCONN);
	daemon_start(t, false);
	for (int i = 0; i < 3; i++) {
		s = pcpupool_stats_json(c, NULL);
		if (!s)
			fail_msg("stats after a restart: %s", strerror(errno));
		assert_non_null(strstr(s, "\"ok\":true"));
		free(s);
	}
	/* that reconnection already judged the pool (recreated: stale) */
	assert_prompt_fail(pcpupool_refill(p, PCPUPOOL_WAIT), ESTALE);
	assert_int_equal(pool_stat(c, "clients"), 0);
	pcpupool_close(p);
	pcpupool_disconnect(c);
}

/* Hammer the fast path (and NOWAIT refill requests, i.e. send() on the
 * refill descriptor) while the channel is replaced under it. */
struct hammer {
	struct pcpupool *p;
	atomic_bool stop;
	atomic_ulong pairs;
	atomic_int bad_errno;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(&h->stop)) {
		void *e = pcpupool_alloc(h->p, PCPUPOOL_NOWAIT);

		if (e) {
			pcpupool_free(e, h->p);
			atomic_fetch_add(&h->pairs, 1);
		} else if (errno != EAGAIN) {
			atomic_store(&h->bad_errno, errno);
		}
		if ((atomic_load(&h->pairs) & 1023) == 0)
			(void)pcpupool_refill(h->p, PCPUPOOL_NOWAIT);
	}
	return NULL;
}

/* Start the daemon with a NOTIFY_SOCKET that collects what it puts in the
 * fd store (t->store), then close that socket: the daemon's later
 * notifications just fail. */
static void daemon_start_storing(struct rc *t)
{
	e2e_fdstore_listen(&t->store);
	daemon_start(t, false);
	e2e_fdstore_wait(&t->store, POLL_MS);
	e2e_fdstore_unlisten(&t->store);
}

/* A daemon that takes the pool back from the fd store hands out the same
 * memfd: the handle is kept, with a working new refill channel. */
static void test_restart_from_fd_store_keeps_handle(void **state)
{
	struct rc *t = *state;
	struct pcpupool_client *c;
	struct hammer h = { 0 };
	struct pcpupool *p;
	pthread_t th;
	void *kept, *e;
	int nr_cpus;

	daemon_start_storing(t);

	c = e2e_client(&t->e);
	p = open_pool(c);
	nr_cpus = pcpupool_nr_cpus(p);
	assert_true(nr_cpus >= 1);
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), 0);
	kept = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(kept);

	h.p = p;
	assert_int_equal(pthread_create(&th, NULL, hammer_fn, &h), 0);
	assert_true(e2e_poll(atomic_load(&h.pairs) > 0, POLL_MS));

	daemon_kill(t);
	assert_prompt_fail(pcpupool_refill(p, PCPUPOOL_WAIT), ENOTCONN);
	daemon_start_restoring(t);

	/* reconnects; the same object: the handle stays usable */
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), 0);
	assert_int_equal(pool_stat(c, "clients"), 1);

	/* the fast path went on through all of it */
	unsigned long before = atomic_load(&h.pairs);

	assert_true(e2e_poll(atomic_load(&h.pairs) > before, POLL_MS));
	atomic_store(&h.stop, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(atomic_load(&h.bad_errno), 0);

	/* the new refill channel, under the old descriptor number, reaches
	 * the new daemon (the hammer may have sent some already) */
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_NOWAIT), -EAGAIN);
	if (!e2e_poll(pool_stat(c, "refill_messages") >= nr_cpus, POLL_MS))
		fail_msg("refill requests do not reach the restarted daemon");

	/* an element held across the restart goes back; WAIT works */
	assert_int_not_equal(pcpupool_elem_offset(p, kept), UINT64_MAX);
	pcpupool_free(kept, p);
	e = pcpupool_alloc(p, PCPUPOOL_WAIT);
	assert_non_null(e);
	pcpupool_free(e, p);
	assert_int_equal(pcpupool_resize(p, POOL_MIN_NR, PCPUPOOL_WAIT), 0);
	assert_true(e2e_poll(pcpupool_nr_elems(p) >= POOL_LOW_WM * nr_cpus, POLL_MS));

	pcpupool_close(p);
	assert_int_equal(pool_stat(c, "clients"), 0);
	pcpupool_disconnect(c);
}

/* A client rewrites the pool's header while the daemon is away: the daemon
 * that takes the pool back from the fd store serves it from its own record
 * (the depot object), sees the header differ and quarantines the pool
 * instead of trusting it or dying; the pool stays quarantined across a
 * further restart even once the header reads right again, and the daemon
 * serves on. */
static void test_restart_with_forged_header_comes_back_quarantined(void **state)
{
	struct rc *t = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	struct slab_hdr saved;
	void *e;

	daemon_start_storing(t);
	c = e2e_client(&t->e);
	p = open_pool(c);
	e = pcpupool_alloc(p, PCPUPOOL_WAIT);
	assert_non_null(e);
	struct slab_hdr *h = (struct slab_hdr *)((char *)e - pcpupool_elem_offset(p, e));
	uint64_t max = h->max_elems;

	daemon_kill(t);
	memcpy(&saved, h, sizeof(saved));
	/* consistent enough to pass a header check on its own: only the
	 * record can tell it is not the pool's */
	h->max_elems = max * 64;
	atomic_store(&h->nr_published, max * 64);
	memset(h->name + 8, 0x14, 8);
	daemon_start_restoring(t);
	assert_string_equal(e2e_pool_state(c, POOL_NAME), "quarantined");
	assert_true(e2e_file_has(t->e.log, NULL, "quarantined"));
	/* the record, not the forged header, in the stats */
	assert_int_equal(pool_stat(c, "max_elems"), (json_int_t)max);
	assert_true(pool_stat(c, "published") <= (json_int_t)max);
	/* refused, not served from the forged geometry: the handle's
	 * re-attach was refused (stale), a new attach says why */
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), -ESTALE);
	assert_null(pcpupool_open(c, POOL_NAME));
	assert_int_equal(errno, EUCLEAN);
	/* the library's handle keeps the geometry it validated at attach */
	for (int i = 0; i < 64; i++) {
		void *x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);

		if (!x)
			break;
		assert_int_not_equal(pcpupool_elem_offset(p, x), UINT64_MAX);
		pcpupool_free(x, p);
	}

	/* the header reads right again: still quarantined after a restart */
	daemon_kill(t);
	memcpy(h, &saved, offsetof(struct slab_hdr, nr_published));
	atomic_store(&h->nr_published, atomic_load(&saved.nr_published));
	daemon_start(t, true);
	assert_string_equal(e2e_pool_state(c, POOL_NAME), "quarantined");
	assert_true(e2e_file_has(t->e.log, NULL, "quarantined before the restart"));
	assert_null(pcpupool_open(c, POOL_NAME));
	assert_int_equal(errno, EUCLEAN);
	pcpupool_free(e, p);
	pcpupool_close(p);
	pcpupool_disconnect(c);
}

/* After pcpupool_disconnect() nothing reconnects: pools left open fail
 * their control calls with ENOTCONN, their fast path works. */
static void test_disconnected_client_never_reconnects(void **state)
{
	struct rc *t = *state;
	struct pcpupool_client *c, *watcher;
	struct pcpupool *p;
	void *e;

	daemon_start(t, false);
	watcher = e2e_client(&t->e);
	c = e2e_client(&t->e);
	p = open_pool(c);
	assert_int_equal(pool_stat(watcher, "clients"), 1);
	pcpupool_disconnect(c);
	assert_true(e2e_poll(pool_stat(watcher, "clients") == 0, POLL_MS));

	assert_prompt_fail(pcpupool_refill(p, PCPUPOOL_WAIT), ENOTCONN);
	assert_int_equal(pool_stat(watcher, "clients"), 0);
	e = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(e);
	pcpupool_free(e, p);
	pcpupool_close(p);       /* frees the client too */
	pcpupool_disconnect(watcher);
}

/* (e) A process holds 8 elements when the daemon dies; the next daemon
 * takes the pool back from the fd store.  When that process exits, its 8
 * come back, though this daemon never issued its id: the pool's state
 * recorded it with the pid. */
static void test_holder_of_an_earlier_daemon_gives_back_at_exit(void **state)
{
	struct rc *t = *state;
	pid_t parent = getpid(), holder;
	int fds[2], got = 0, status;

	daemon_start_storing(t);

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		e2e_child_init(parent);
		struct pcpupool_client *hc = pcpupool_connect(t->e.sock);
		struct pcpupool *hp = hc ? pcpupool_open(hc, POOL_NAME) : NULL;
		int n = 0;
		for (int i = 0; hp && i < 8; i++)
			n += pcpupool_alloc(hp, PCPUPOOL_WAIT) != NULL;
		if (write(fds[1], &n, sizeof(n)) != sizeof(n))
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(fds[0], &got, sizeof(got)), (ssize_t)sizeof(got));
	assert_int_equal(got, 8);

	daemon_kill(t);
	daemon_start_restoring(t);
	struct pcpupool_client *c = e2e_client(&t->e);
	assert_int_equal(kill(holder, SIGKILL), 0);
	assert_int_equal(waitpid(holder, &status, 0), holder);
	json_int_t back = 0;
	bool ok = e2e_poll(({
		json_t *ps = pool_stats(c, POOL_NAME);
		back = json_integer_value(json_object_get(json_object_get(ps, "reclaim"),
							   "reclaimed"));
		json_decref(ps);
		back == 8; }), POLL_MS);
	if (!ok) {
		e2e_dump_file(t->e.log);
		fail_msg("%lld of the 8 elements the earlier daemon's client held came back",
			 (long long)back);
	}
	close(fds[0]);
	close(fds[1]);
	pcpupool_disconnect(c);
}

/* A clean exit (SIGTERM) leaves the pool in the fd store for the next
 * daemon: its shared header must not say "destroyed" to the clients that
 * still map it. */
static void test_clean_exit_leaves_pool_state_ok(void **state)
{
	struct rc *t = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	int status;

	daemon_start(t, false);
	c = e2e_client(&t->e);
	p = open_pool(c);
	void *e = pcpupool_alloc(p, PCPUPOOL_WAIT);
	assert_non_null(e);
	const struct slab_hdr *h =
		(const struct slab_hdr *)((char *)e - pcpupool_elem_offset(p, e));
	assert_int_equal(atomic_load(&h->state), SLAB_STATE_OK);
	assert_int_equal(kill(t->e.pid, SIGTERM), 0);
	assert_int_equal(waitpid(t->e.pid, &status, 0), t->e.pid);
	t->e.pid = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(atomic_load(&h->state), SLAB_STATE_OK);
	pcpupool_free(e, p);
	pcpupool_close(p);
	pcpupool_disconnect(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_daemon_down_fast_path_works_control_fails,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_recreated_pool_is_stale,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnected_client_keeps_working,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_from_fd_store_keeps_handle,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_with_forged_header_comes_back_quarantined,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnected_client_never_reconnects,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_exit_leaves_pool_state_ok,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_holder_of_an_earlier_daemon_gives_back_at_exit,
						setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
