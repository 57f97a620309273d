// SPDX-License-Identifier: MIT
/*
 * test_e2e.c - end-to-end tests: the real pcpupoold, the real libpcpupool,
 * real processes, a real socket and real shared memory.  Each test gets a
 * daemon of its own (e2e.h), so no test depends on another or on their
 * order.
 *
 * A few tests freeze the daemon (SIGSTOP) while they drain a reserve, so
 * that what they then assert (one coalesced request, the reserve it
 * refilled) does not depend on how fast the daemon answers.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <cmocka.h>

#include "e2e.h"

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

static int setup(void **state)
{
	struct e2e *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	*state = e;
	e2e_start(e, "");
	return 0;
}

static int teardown(void **state)
{
	struct e2e *e = *state;

	e2e_stop(e);
	free(e);
	return 0;
}

/* Whether every CPU's reserve holds exactly @n elements. */
static bool levels_all(struct pcpupool *p, int n)
{
	for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++)
		if (pcpupool_nr_elems_cpu(p, cpu) != n)
			return false;
	return true;
}

static void expect_levels(struct pcpupool *p, int n)
{
	for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++)
		if (pcpupool_nr_elems_cpu(p, cpu) != n)
			fail_msg("cpu %d holds %d elements, expected %d", cpu,
				 pcpupool_nr_elems_cpu(p, cpu), n);
}

/* A test's pool at its end: unpin, nothing lost, destroy it, disconnect. */
static void finish_pool(struct pcpupool_client *c, struct pcpupool *p, const char *name)
{
	e2e_unpin();
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* the handle as the inline code reads it */
static const struct pcpupool_fast *fast_of(struct pcpupool *p)
{
	return (const struct pcpupool_fast *)(const void *)p;
}

static int nr_cpus_conf(void)
{
	return get_nprocs_conf();
}

/* ------------------------------------------------------------------ */

static void test_create_prefills_min_nr_per_cpu(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e), *c2;
	struct pcpupool *p, *p2;
	char name[E2E_NAME_LEN];
	json_t *st;
	int n;

	e2e_name(e, "prefill", name);
	p = pcpupool_create(c, name, 32, 64, 64);
	assert_non_null(p);
	n = pcpupool_nr_cpus(p);
	assert_int_equal(n, nr_cpus_conf());
	assert_int_equal(pcpupool_elem_size(p), 64);
	assert_int_equal(pcpupool_nr_elems(p), 32 * n);
	expect_levels(p, 32);
	assert_int_equal(pcpupool_nr_elems_cpu(p, n), -EINVAL);
	assert_int_equal(pcpupool_nr_elems_cpu(p, -1), -EINVAL);

	/* a second connection sees the same shared memory */
	c2 = e2e_client(e);
	p2 = pcpupool_open(c2, name);
	assert_non_null(p2);
	assert_int_equal(pcpupool_nr_cpus(p2), n);
	assert_int_equal(pcpupool_elem_size(p2), 64);
	assert_int_equal(pcpupool_nr_elems(p2), 32 * n);
	expect_levels(p2, 32);

	/* and the daemon says so too */
	st = e2e_pool_stats(c2, name);
	assert_int_equal(e2e_stat(st, "min_nr"), 32);
	assert_int_equal(e2e_stat(st, "elem_size"), 64);
	assert_int_equal(e2e_stat(st, "align"), 64);
	assert_int_equal(e2e_stat(st, "clients"), 2);
	assert_int_equal(e2e_stat(st, "reserved"), 32 * n);
	for (int cpu = 0; cpu < n; cpu++)
		assert_int_equal(e2e_cpu_stat(st, cpu, "level"), 32);
	json_decref(st);
	e2e_expect_conserved(c, name);

	pcpupool_close(p2);
	pcpupool_disconnect(c2);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

static void test_nowait_never_blocks(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = { .sz = sizeof(o) };
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	int n = nr_cpus_conf(), total = 16 * n, got = 0, err = 0, cpu0 = e2e_first_cpu();
	int64_t t0, elapsed, worst = 0;
	void **held = calloc((size_t)total + 1, sizeof(*held));
	void *x;

	assert_non_null(held);
	/* bound PCPUPOOL_WAIT below, where the pool is at its maximum */
	assert_int_equal(setenv("PCPUPOOL_WAIT_TIMEOUT_MS", "200", 1), 0);
	c = e2e_client(e);
	unsetenv("PCPUPOOL_WAIT_TIMEOUT_MS");
	o.max_elems = (uint64_t)total;   /* it cannot grow */
	p = pcpupool_create_opts(c, e2e_name(e, "nowait", name), 16, 64, 64, &o);
	assert_non_null(p);
	assert_int_equal(pcpupool_nr_cpus(p), n);
	assert_int_equal(pcpupool_nr_elems(p), total);

	e2e_pin(cpu0);
	t0 = e2e_now_ns();
	for (int i = 0; i <= total; i++) {
		int64_t t = e2e_now_ns();

		errno = 0;
		x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		err = errno;
		t = e2e_now_ns() - t;
		if (t > worst)
			worst = t;
		if (!x)
			break;
		held[got++] = x;
	}
	elapsed = e2e_now_ns() - t0;
	/* every CPU's reserve was taken before it gave up */
	if (got != total)
		fail_msg("NOWAIT got %d elements before NULL, the pool holds %d", got, total);
	assert_null(x);
	assert_int_equal(err, EAGAIN);
	if (elapsed >= 1000000000)
		fail_msg("%d NOWAIT allocations took %lld ns (worst call %lld ns)", got + 1,
			 (long long)elapsed, (long long)worst);
	assert_int_equal(pcpupool_nr_elems(p), 0);
	/* still nothing, still at once */
	errno = 0;
	assert_null(pcpupool_alloc(p, PCPUPOOL_NOWAIT));
	assert_int_equal(errno, EAGAIN);
	/* WAIT cannot help a pool at its maximum: bounded failure */
	errno = 0;
	assert_null(pcpupool_alloc(p, PCPUPOOL_WAIT));
	assert_int_equal(errno, ENOMEM);

	for (int i = 0; i < got; i++)
		pcpupool_free(held[i], p);
	if (!e2e_poll(pcpupool_nr_elems(p) == total, E2E_POLL_MS))
		fail_msg("after freeing everything the reserves hold %d of %d",
			 pcpupool_nr_elems(p), total);
	x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(x);
	pcpupool_free(x, p);
	finish_pool(c, p, name);
	free(held);
}

static void test_refill_nowait_async_and_wait_sync(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	const int min_nr = 32, take = min_nr / 2;   /* stays above low (min_nr / 4) */
	int n = nr_cpus_conf(), got = 0;
	void **held = calloc((size_t)(2 * take * n), sizeof(*held));

	assert_non_null(held);
	p = pcpupool_create(c, e2e_name(e, "refill", name), min_nr, 64, 64);
	assert_non_null(p);

	/* round 1: drain every CPU we may run on to half its reserve */
	for (int cpu = 0; cpu < n; cpu++) {
		if (!e2e_cpu_allowed(cpu))
			continue;
		e2e_pin(cpu);
		for (int i = 0; i < take; i++) {
			held[got] = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
			assert_non_null(held[got]);
			got++;
		}
		assert_int_equal(pcpupool_nr_elems_cpu(p, cpu), min_nr - take);
	}
	e2e_unpin();
	/* above the low watermark nothing refills them by itself (several
	 * sweeps pass) ... */
	e2e_sleep_ms(5 * E2E_SWEEP_MS);
	for (int cpu = 0; cpu < n; cpu++)
		assert_int_equal(pcpupool_nr_elems_cpu(p, cpu),
				 e2e_cpu_allowed(cpu) ? min_nr - take : min_nr);
	/* ... an asynchronous refill does, in the background */
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_NOWAIT), -EAGAIN);
	if (!e2e_poll(levels_all(p, min_nr), E2E_POLL_MS))
		expect_levels(p, min_nr);

	/* round 2: drain again, then a synchronous refill is done on return */
	for (int cpu = 0; cpu < n; cpu++) {
		if (!e2e_cpu_allowed(cpu))
			continue;
		e2e_pin(cpu);
		for (int i = 0; i < take; i++) {
			held[got] = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
			assert_non_null(held[got]);
			got++;
		}
		assert_int_equal(pcpupool_nr_elems_cpu(p, cpu), min_nr - take);
	}
	e2e_unpin();
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), 0);
	expect_levels(p, min_nr);

	/* bad arguments */
	assert_int_equal(pcpupool_refill(NULL, PCPUPOOL_WAIT), -EINVAL);
	assert_int_equal(pcpupool_refill(p, 0x40), -EINVAL);
	/* pool names: the daemon's rule (core/protocol.c), checked here first */
	errno = 0;
	assert_null(pcpupool_open(c, ".hidden"));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(pcpupool_create(c, "no/slash", 4, 64, 64));
	assert_int_equal(errno, EINVAL);

	for (int i = 0; i < got; i++)
		pcpupool_free(held[i], p);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
	free(held);
}

static void test_low_watermark_sends_one_coalesced_request(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = { .sz = sizeof(o) };
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	enum { min_nr = 64, low = 16, nalloc = 60 };
	int n = nr_cpus_conf(), cpu0 = e2e_first_cpu();
	void *held[nalloc];
	json_t *st;

	o.low_watermark = low;
	p = pcpupool_create_opts(c, e2e_name(e, "coalesce", name), min_nr, 64, 64, &o);
	assert_non_null(p);
	e2e_pin(cpu0);

	/* the daemon is frozen while the slab crosses its watermark: whatever
	 * its speed, it can only see what the client sent.  The allocation
	 * that crosses (the reserve down to low - 1) takes the pool's spare
	 * (min_nr elements) at once, with no help from the daemon */
	e2e_daemon_pause(e);
	for (int i = 0; i < nalloc; i++) {
		held[i] = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		assert_non_null(held[i]);
	}
	assert_int_equal(pcpupool_nr_elems_cpu(p, cpu0), min_nr - nalloc + min_nr);
	e2e_daemon_resume(e);
	/* the datagram arrived, and it was the only one */
	assert_true(e2e_poll(({
		json_t *s = e2e_pool_stats(c, name);
		json_int_t m = e2e_stat(s, "refill_messages");
		json_decref(s);
		m >= 1;
	}), E2E_POLL_MS));
	st = e2e_pool_stats(c, name);
	assert_int_equal(e2e_stat(st, "refill_messages"), 1);
	assert_int_equal(e2e_stat(st, "low_watermark"), low);
	for (int cpu = 0; cpu < n; cpu++) {
		assert_int_equal(e2e_cpu_stat(st, cpu, "refill_requests"), cpu == cpu0 ? 1 : 0);
		assert_int_equal(e2e_cpu_stat(st, cpu, "low_watermark"), low);
	}
	/* the crossing took the spare and sent the request; the reserve
	 * never went under the watermark again */
	assert_int_equal(e2e_cpu_stat(st, cpu0, "from_spare"), min_nr);
	assert_int_equal(e2e_cpu_stat(st, cpu0, "refill_coalesced"), 0);
	json_decref(st);
	/* which the daemon restocked */
	if (!e2e_poll(({
		json_t *s = e2e_pool_stats(c, name);
		json_int_t sp = e2e_stat(s, "spare");
		json_decref(s);
		sp == min_nr;
	}), E2E_POLL_MS))
		fail_msg("the spare was not restocked");
	/* the reserve was over min_nr: the daemon added nothing */
	e2e_sleep_ms(3 * E2E_SWEEP_MS);
	assert_int_equal(pcpupool_nr_elems_cpu(p, cpu0), min_nr - nalloc + min_nr);

	for (int i = 0; i < nalloc; i++)
		pcpupool_free(held[i], p);
	finish_pool(c, p, name);
}

/* ---- the daemon polls: crossings the spare covered send nothing ---- */

/* Allocate on the current CPU (pinned to @cpu) until an allocation takes
 * the pool's spare (the level goes up instead of down) or fails; the
 * elements go to held[*n...].  Return whether the spare landed. */
static bool cross_watermark(struct pcpupool *p, int cpu, void **held, int *n, int max)
{
	int prev = pcpupool_nr_elems_cpu(p, cpu);

	while (*n < max) {
		void *e = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		int lvl;

		if (!e)
			return false;
		held[(*n)++] = e;
		lvl = pcpupool_nr_elems_cpu(p, cpu);
		if (lvl > prev - 1)
			return true;
		prev = lvl;
	}
	return false;
}

static json_int_t cpu_stat_now(struct pcpupool_client *c, const char *name, int cpu,
			       const char *key)
{
	json_t *s = e2e_pool_stats(c, name);
	json_int_t v = cpu < 0 ? e2e_stat(s, key) : e2e_cpu_stat(s, cpu, key);

	json_decref(s);
	return v;
}

static bool pool_polling_now(struct pcpupool_client *c, const char *name)
{
	json_t *s = e2e_pool_stats(c, name);
	bool on = json_is_true(json_object_get(s, "polling"));

	if (!json_is_boolean(json_object_get(s, "polling")))
		fail_msg("stats: no boolean \"polling\"");
	json_decref(s);
	return on;
}

enum { POLL_MIN_NR = 64, POLL_LOW = 16, POLL_MAX_HELD = 4096 };

/* Restart the daemon with @config and a sweep every @sweep_ms, connect,
 * create a pool (min_nr POLL_MIN_NR, low watermark POLL_LOW) named after
 * @tag in @name, and pin this thread to @cpu. */
static struct pcpupool *poll_pool(struct e2e *e, const char *config, int sweep_ms,
				  const char *tag, int cpu, struct pcpupool_client **ret_c,
				  char name[E2E_NAME_LEN])
{
	struct pcpupool_create_opts o = { .sz = sizeof(o), .low_watermark = POLL_LOW };
	struct pcpupool *p;

	e2e_stop(e);
	e2e_start_sweep(e, config, sweep_ms);
	*ret_c = e2e_client(e);
	p = pcpupool_create_opts(*ret_c, e2e_name(e, tag, name), POLL_MIN_NR, 64, 64, &o);
	assert_non_null(p);
	e2e_pin(cpu);
	return p;
}

static void test_crossings_while_the_daemon_polls_send_nothing(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	enum { min_nr = POLL_MIN_NR, max_held = POLL_MAX_HELD };
	int cpu0 = e2e_first_cpu(), n = 0;
	void **held = calloc(max_held, sizeof(*held));

	assert_non_null(held);
	/* a linger no slow build outlasts, and no sweep (which serves raised
	 * flags too): only the poll can serve a quiet request here */
	p = poll_pool(e, "\"refill_poll_us\": 1000, \"refill_poll_linger_ms\": 60000,", 60000,
		      "poll", cpu0, &c, name);
	assert_false(pool_polling_now(c, name));

	/* the first crossing sends: nobody polls yet */
	assert_true(cross_watermark(p, cpu0, held, &n, max_held));
	assert_true(e2e_poll(cpu_stat_now(c, name, -1, "refill_messages") == 1, E2E_POLL_MS));
	assert_true(e2e_poll(pool_polling_now(c, name), E2E_POLL_MS));
	assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_requests"), 1);
	assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_quiet"), 0);
	assert_true(e2e_poll(cpu_stat_now(c, name, -1, "spare") == min_nr, E2E_POLL_MS));

	/* two more: raised in shared memory, no message; the poll restocks
	 * the spare each time (else the next crossing would find it empty) */
	for (int k = 1; k <= 2; k++) {
		json_int_t polled = cpu_stat_now(c, name, -1, "polled");

		assert_true(cross_watermark(p, cpu0, held, &n, max_held));
		assert_true(e2e_poll(cpu_stat_now(c, name, -1, "polled") > polled, E2E_POLL_MS));
		assert_true(e2e_poll(cpu_stat_now(c, name, -1, "spare") == min_nr, E2E_POLL_MS));
		assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_quiet"), k);
		assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_requests"), 1);
		assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_coalesced"), 0);
		assert_int_equal(cpu_stat_now(c, name, -1, "refill_messages"), 1);
	}

	/* a quiet crossing the poll cannot serve (the daemon is stopped), then
	 * the reserve runs short again, with the spare gone: that allocation
	 * sends the message after all, and the refill comes as soon as the
	 * daemon runs */
	e2e_daemon_pause(e);
	assert_true(cross_watermark(p, cpu0, held, &n, max_held));
	while (n < max_held && pcpupool_nr_elems_cpu(p, cpu0) >= POLL_LOW) {
		held[n] = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		assert_non_null(held[n]);
		n++;
	}
	e2e_daemon_resume(e);
	assert_true(e2e_poll(cpu_stat_now(c, name, -1, "refill_messages") == 2, E2E_POLL_MS));
	assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_quiet"), 3);
	assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_requests"), 2);
	assert_true(e2e_poll(pcpupool_nr_elems_cpu(p, cpu0) >= min_nr, E2E_POLL_MS));

	while (n > 0)
		pcpupool_free(held[--n], p);
	finish_pool(c, p, name);
	free(held);
}

/* Polling stops after the linger, and then a crossing sends again; with
 * refill_poll_us 0 the daemon never polls. */
static void test_polling_stops_after_its_linger(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	enum { min_nr = POLL_MIN_NR, max_held = POLL_MAX_HELD };
	int cpu0 = e2e_first_cpu(), n = 0;
	void **held = calloc(max_held, sizeof(*held));

	assert_non_null(held);
	for (int pass = 0; pass < 2; pass++) {
		bool never = pass == 1;

		p = poll_pool(e, never ? "\"refill_poll_us\": 0," :
				 "\"refill_poll_us\": 1000, \"refill_poll_linger_ms\": 300,",
			      E2E_SWEEP_MS, "linger", cpu0, &c, name);
		for (int k = 1; k <= 3; k++) {
			assert_true(cross_watermark(p, cpu0, held, &n, max_held));
			assert_true(e2e_poll(cpu_stat_now(c, name, -1, "refill_messages") == k,
					     E2E_POLL_MS));
			/* the message started the poll (for 300 ms), which ends
			 * with no further request */
			if (!never && !e2e_poll(pool_polling_now(c, name), E2E_POLL_MS))
				fail_msg("a request did not start the poll");
			assert_true(e2e_poll(!pool_polling_now(c, name), E2E_POLL_MS));
			assert_true(e2e_poll(cpu_stat_now(c, name, -1, "spare") == min_nr,
					     E2E_POLL_MS));
			while (n > 0)
				pcpupool_free(held[--n], p);
		}
		assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_quiet"), 0);
		assert_int_equal(cpu_stat_now(c, name, cpu0, "refill_requests"), 3);
		if (never)
			assert_int_equal(cpu_stat_now(c, name, -1, "polled"), 0);
		finish_pool(c, p, name);
	}
	free(held);
}

/* ---- resize with another client attached ---- */

enum { OBSERVER_QUIT = 0, OBSERVER_CHECK = 1 };

struct observer_cmd {
	int op;
	int lo, hi;      /* every checked CPU's level within [lo, hi] ... */
	int skip_cpu;    /* ... except this one (-1: none) */
	int min_nr;      /* and the daemon reports this min_nr */
};

/* A second client process: attaches, then answers level checks from its
 * own mapping and connection until told to quit. */
static int observer_main(struct e2e *e, const char *name, int cmd_fd, int ack_fd)
{
	struct pcpupool_client *c = pcpupool_connect(e->sock);
	struct pcpupool *p;
	struct observer_cmd cmd;
	char ok = 'R';

	CHILD_CHECK(c);
	p = pcpupool_open(c, name);
	CHILD_CHECK(p);
	CHILD_CHECK(e2e_write_full(ack_fd, &ok, 1) == 0);
	for (;;) {
		CHILD_CHECK(e2e_read_full(cmd_fd, &cmd, sizeof(cmd), CHILD_TIMEOUT_MS) == 0);
		if (cmd.op == OBSERVER_QUIT)
			break;
		ok = e2e_poll(({
			bool all = true;
			for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++) {
				int l = pcpupool_nr_elems_cpu(p, cpu);
				if (cpu != cmd.skip_cpu && (l < cmd.lo || l > cmd.hi))
					all = false;
			}
			all;
		}), E2E_POLL_MS) ? 'Y' : 'N';
		if (ok == 'Y') {
			char *s = pcpupool_stats_json(c, name);
			json_t *j = s ? json_loads(s, 0, NULL) : NULL;
			json_t *pool = json_array_get(json_object_get(json_object_get(j,
						"stats"), "pools"), 0);

			if (json_integer_value(json_object_get(pool, "min_nr")) != cmd.min_nr)
				ok = 'M';
			json_decref(j);
			free(s);
		}
		CHILD_CHECK(e2e_write_full(ack_fd, &ok, 1) == 0);
	}
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

static void observer_expect(int cmd_fd, int ack_fd, struct observer_cmd cmd)
{
	char ok = 0;

	assert_int_equal(e2e_write_full(cmd_fd, &cmd, sizeof(cmd)), 0);
	assert_int_equal(e2e_read_full(ack_fd, &ok, 1, CHILD_TIMEOUT_MS), 0);
	if (ok != 'Y')
		fail_msg("the other client sees %s (levels %d..%d expected, min_nr %d)",
			 ok == 'M' ? "another min_nr" : "other levels", cmd.lo, cmd.hi,
			 cmd.min_nr);
}

static void test_resize_up_and_down_with_clients_attached(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = { .sz = sizeof(o), .max_elems = 4096 };
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN], ok = 0;
	int n = nr_cpus_conf(), cpu0 = e2e_first_cpu(), cmd[2], ack[2], l0;
	struct observer_cmd quit = { .op = OBSERVER_QUIT };
	json_t *st;
	pid_t pid;
	void *x;

	p = pcpupool_create_opts(c, e2e_name(e, "resize", name), 32, 64, 64, &o);
	assert_non_null(p);
	assert_int_equal(pipe2(cmd, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ack, O_CLOEXEC), 0);
	pid = e2e_fork(e);
	if (pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		_exit(observer_main(e, name, cmd[0], ack[1]));
	}
	close(cmd[0]);
	close(ack[1]);
	assert_int_equal(e2e_read_full(ack[0], &ok, 1, CHILD_TIMEOUT_MS), 0);
	assert_int_equal(ok, 'R');
	st = e2e_pool_stats(c, name);
	assert_int_equal(e2e_stat(st, "clients"), 2);
	json_decref(st);

	/* up: every reserve grows to the new min_nr, here and there */
	assert_int_equal(pcpupool_resize(p, 128, PCPUPOOL_WAIT), 0);
	expect_levels(p, 128);
	observer_expect(cmd[1], ack[0], (struct observer_cmd){
		.op = OBSERVER_CHECK, .lo = 128, .hi = 128, .skip_cpu = -1, .min_nr = 128 });

	/* touch one CPU's slab: take an element there */
	e2e_pin(cpu0);
	x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(x);
	assert_int_equal(pcpupool_nr_elems_cpu(p, cpu0), 127);

	/* down: the daemon takes the inboxes back and refills to 8 */
	assert_int_equal(pcpupool_resize(p, 8, PCPUPOOL_NOWAIT), 0);
	st = e2e_pool_stats(c, name);
	assert_int_equal(e2e_stat(st, "min_nr"), 8);
	assert_int_equal(e2e_stat(st, "low_watermark"), 2);
	for (int cpu = 0; cpu < n; cpu++)
		assert_int_equal(e2e_cpu_stat(st, cpu, "limit"), 16);
	json_decref(st);
	for (int cpu = 0; cpu < n; cpu++) {
		if (cpu == cpu0)
			continue;
		if (!e2e_poll(({ int l = pcpupool_nr_elems_cpu(p, cpu); l >= 8 && l <= 16; }),
			      E2E_POLL_MS))
			fail_msg("untouched cpu %d still holds %d after shrinking to 8", cpu,
				 pcpupool_nr_elems_cpu(p, cpu));
	}
	observer_expect(cmd[1], ack[0], (struct observer_cmd){
		.op = OBSERVER_CHECK, .lo = 8, .hi = 16, .skip_cpu = cpu0, .min_nr = 8 });
	/* what sits in the touched slab goes back at its next free there */
	pcpupool_free(x, p);
	l0 = pcpupool_nr_elems_cpu(p, cpu0);
	if (l0 < 1 || l0 > 16)
		fail_msg("cpu %d holds %d after a free at limit 16", cpu0, l0);
	e2e_unpin();
	/* and the daemon takes the spill out of the outbox */
	assert_true(e2e_poll(({
		json_t *s = e2e_pool_stats(c, name);
		json_int_t out = e2e_cpu_stat(s, cpu0, "outbox");
		json_decref(s);
		out == 0;
	}), E2E_POLL_MS));
	assert_true(pcpupool_nr_elems(p) <= 16 * n);

	assert_int_equal(e2e_write_full(cmd[1], &quit, sizeof(quit)), 0);
	e2e_expect_child_ok(e, pid, CHILD_TIMEOUT_MS);
	close(cmd[1]);
	close(ack[0]);
	e2e_expect_conserved(c, name);

	/* out of range */
	assert_int_equal(pcpupool_resize(p, 0, PCPUPOOL_NOWAIT), -EINVAL);
	assert_int_equal(pcpupool_resize(p, 5000, PCPUPOOL_NOWAIT), -ERANGE);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* ---- elements ---- */

static int cmp_uintptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

static uint8_t pattern_byte(int i, int j)
{
	return (uint8_t)((uint32_t)i * 2654435761u >> (j % 4 * 8)) ^ (uint8_t)(j * 37);
}

static void test_elements_aligned_full_size_and_unique(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	enum { N = 300, SIZE = 100, ALIGN = 128 };
	uint8_t *el[N];
	uintptr_t sorted[N];

	p = pcpupool_create(c, e2e_name(e, "align", name), 32, SIZE, ALIGN);
	assert_non_null(p);
	assert_int_equal(pcpupool_elem_size(p), SIZE);
	/* more than the reserves hold: the daemon grows the pool meanwhile */
	for (int i = 0; i < N; i++) {
		el[i] = pcpupool_alloc(p, PCPUPOOL_WAIT);
		if (!el[i])
			fail_msg("allocation %d: %s", i, strerror(errno));
		assert_int_equal((uintptr_t)el[i] % ALIGN, 0);
		assert_int_equal(pcpupool_elem_offset(p, el[i]) % ALIGN, 0);
		assert_ptr_equal(pcpupool_elem_at(p, pcpupool_elem_offset(p, el[i])), el[i]);
		for (int j = 0; j < SIZE; j++)
			el[i][j] = pattern_byte(i, j);
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < SIZE; j++)
			if (el[i][j] != pattern_byte(i, j))
				fail_msg("element %d byte %d overwritten", i, j);
	for (int i = 0; i < N; i++)
		sorted[i] = (uintptr_t)el[i];
	qsort(sorted, N, sizeof(sorted[0]), cmp_uintptr);
	for (int i = 1; i < N; i++)
		if (sorted[i] - sorted[i - 1] < ALIGN)
			fail_msg("elements at %#lx and %#lx overlap or are one",
				 (unsigned long)sorted[i - 1], (unsigned long)sorted[i]);
	for (int i = 0; i < N; i++)
		pcpupool_free(el[i], p);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

struct handover {
	uint64_t offset;
	uintptr_t parent_addr;
};

static int handover_child(struct e2e *e, const char *name, int in_fd, int out_fd)
{
	struct pcpupool_client *c = pcpupool_connect(e->sock);
	struct pcpupool *p;
	struct handover h;
	char *y, done = 'D';

	CHILD_CHECK(c);
	p = pcpupool_open(c, name);
	CHILD_CHECK(p);
	CHILD_CHECK(e2e_read_full(in_fd, &h, sizeof(h), CHILD_TIMEOUT_MS) == 0);
	y = pcpupool_elem_at(p, h.offset);
	CHILD_CHECK(y);
	CHILD_CHECK((uintptr_t)y != h.parent_addr);   /* its own mapping */
	CHILD_CHECK(pcpupool_elem_offset(p, y) == h.offset);
	CHILD_CHECK(strcmp(y, "hello from the parent") == 0);
	strcpy(y, "and hello from the child");
	pcpupool_free(y, p);
	CHILD_CHECK(e2e_write_full(out_fd, &done, 1) == 0);
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

static void test_element_handed_over_by_offset(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = { .sz = sizeof(o), .max_elems = 1024 };
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN], done = 0, local;
	int n = nr_cpus_conf(), to[2], from[2];
	struct handover h;
	pid_t pid;
	char *x, *held[1025];
	int nheld = 0;

	p = pcpupool_create_opts(c, e2e_name(e, "handover", name), 32, 64, 64, &o);
	assert_non_null(p);
	x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(x);
	assert_int_equal(pcpupool_nr_elems(p), 32 * n - 1);
	strcpy(x, "hello from the parent");
	h.offset = pcpupool_elem_offset(p, x);
	h.parent_addr = (uintptr_t)x;
	assert_true(h.offset != UINT64_MAX);

	assert_int_equal(pipe2(to, O_CLOEXEC), 0);
	assert_int_equal(pipe2(from, O_CLOEXEC), 0);
	pid = e2e_fork(e);
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		_exit(handover_child(e, name, to[0], from[1]));
	}
	close(to[0]);
	close(from[1]);
	assert_int_equal(e2e_write_full(to[1], &h, sizeof(h)), 0);
	assert_int_equal(e2e_read_full(from[0], &done, 1, CHILD_TIMEOUT_MS), 0);
	assert_int_equal(done, 'D');
	e2e_expect_child_ok(e, pid, CHILD_TIMEOUT_MS);
	close(to[1]);
	close(from[0]);
	/* the child's reply, in the same memory; its free put it back */
	assert_string_equal(x, "and hello from the child");
	if (!e2e_poll(pcpupool_nr_elems(p) == 32 * n, E2E_POLL_MS))
		fail_msg("the element freed by the other process is not back: %d of %d",
			 pcpupool_nr_elems(p), 32 * n);
	e2e_expect_conserved(c, name);

	/* offsets are untrusted */
	errno = 0;
	assert_null(pcpupool_elem_at(p, h.offset + 1));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(pcpupool_elem_at(p, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(pcpupool_elem_at(p, UINT64_MAX));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(pcpupool_elem_at(p, h.offset + (uint64_t)64 * 2 * 1024));  /* past max_elems */
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(pcpupool_elem_at(NULL, h.offset));
	assert_int_equal(errno, EINVAL);
	/* and so are pointers */
	errno = 0;
	assert_true(pcpupool_elem_offset(p, x + 1) == UINT64_MAX);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_true(pcpupool_elem_offset(p, &local) == UINT64_MAX);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_true(pcpupool_elem_offset(p, NULL) == UINT64_MAX);
	assert_int_equal(errno, EINVAL);
	/* a free of something that is not an element is ignored: one outside
	 * the pool at once, one inside an element when it reaches the top of
	 * the slab (free checks the range only; pop drops what is not an
	 * element's start: it went on top, so the first pop drops it), so it
	 * is never handed out */
	pcpupool_free(&local, p);
	assert_int_equal(pcpupool_nr_elems(p), 32 * n);
	cpu_set_t all, one;

	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	pcpupool_free(x + 1, p);
	for (int i = 0; i < 32 * n + 1; i++) {   /* this CPU's reserve, and more */
		char *q = pcpupool_alloc(p, PCPUPOOL_NOWAIT);

		if (!q)
			break;
		assert_ptr_not_equal(q, x + 1);
		held[nheld++] = q;
	}
	assert_true(nheld >= 32);
	while (nheld)
		pcpupool_free(held[--nheld], p);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	/* (the reserves may now hold the spare the crossing took: the count
	 * that must hold is the pool's, every element exactly once) */
	e2e_expect_conserved(c, name);

	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* ---- signal handler ---- */

#define SIG_SECONDS     2
#define SIG_MAX_SECONDS 8     /* below CHILD_TIMEOUT_MS */
#define SIG_MIN_RUNS    1000
#define SIG_HELD        16
#define SIG_TAG         (UINT64_C(1) << 63)  /* handler's ownership tag */

struct sigelem {
	_Atomic uint64_t owner;   /* 0 free, else the holder's tag */
	uint64_t pattern;
	uint64_t payload[6];
};
_Static_assert(sizeof(struct sigelem) == 64, "one element");

struct sig_result {
	uint64_t runs, misses, errors, allocs, frees, main_misses;
};

static struct pcpupool *sig_pool;
static _Atomic uint64_t sig_runs, sig_misses, sig_errors;
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "lock-free in a signal handler");

/* Handler-owned elements: each tick frees the one in its slot and takes a
 * new one, so what the handler holds overlaps what the main loop does (an
 * element handed to both shows up as two owners). */
#define SIG_HHELD 4
static struct sigelem *sig_held[SIG_HHELD];
static uint64_t sig_tick_nr;

static void sig_bad(void)
{
	atomic_fetch_add_explicit(&sig_errors, 1, memory_order_relaxed);
}

static void sig_release(struct sigelem *t)
{
	uint64_t tag = SIG_TAG | (uintptr_t)t;

	for (int k = 0; k < 6; k++)
		if (t->payload[k] != tag + (uint64_t)k)
			sig_bad();
	if (t->pattern != tag ||
	    atomic_exchange_explicit(&t->owner, 0, memory_order_relaxed) != tag)
		sig_bad();
	pcpupool_free(t, sig_pool);
}

static void sig_tick(int sig)
{
	int saved = errno, slot = (int)(sig_tick_nr++ % SIG_HHELD);
	struct sigelem *t;
	uint64_t tag;

	(void)sig;
	if (sig_held[slot]) {
		sig_release(sig_held[slot]);
		sig_held[slot] = NULL;
	}
	t = pcpupool_alloc(sig_pool, PCPUPOOL_NOWAIT);
	if (!t) {
		atomic_fetch_add_explicit(&sig_misses, 1, memory_order_relaxed);
		errno = saved;
		return;
	}
	tag = SIG_TAG | (uintptr_t)t;
	if (atomic_exchange_explicit(&t->owner, tag, memory_order_relaxed) != 0)
		sig_bad();
	t->pattern = tag;
	for (int k = 0; k < 6; k++)
		t->payload[k] = tag + (uint64_t)k;
	sig_held[slot] = t;
	atomic_fetch_add_explicit(&sig_runs, 1, memory_order_relaxed);
	errno = saved;
}

static int sig_child(struct e2e *e, const char *name, int out_fd)
{
	struct pcpupool_client *c = pcpupool_connect(e->sock);
	struct itimerval it = { { 0, 200 }, { 0, 200 } }, off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	struct sigelem *held[SIG_HELD] = { 0 };
	uint64_t tags[SIG_HELD] = { 0 }, seq = 0, rnd = 0x9e3779b97f4a7c15ull;
	struct sig_result res = { 0 };
	int64_t start;

	CHILD_CHECK(c);
	sig_pool = pcpupool_open(c, name);
	CHILD_CHECK(sig_pool);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_tick;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHILD_CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHILD_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);

	/* SIG_SECONDS, and on a machine too busy to run us much, until the
	 * handler ran SIG_MIN_RUNS times (at most SIG_MAX_SECONDS) */
	start = e2e_now_ns();
	for (;;) {
		int64_t ran = e2e_now_ns() - start;
		struct sigelem *t;
		int slot;

		if ((ran >= (int64_t)SIG_SECONDS * 1000000000 &&
		     atomic_load_explicit(&sig_runs, memory_order_relaxed) > SIG_MIN_RUNS) ||
		    ran >= (int64_t)SIG_MAX_SECONDS * 1000000000)
			break;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		slot = (int)(rnd % SIG_HELD);
		t = held[slot];
		if (!t) {
			t = pcpupool_alloc(sig_pool, PCPUPOOL_NOWAIT);
			if (!t) {
				res.main_misses++;
				continue;
			}
			tags[slot] = ++seq;
			if (atomic_exchange_explicit(&t->owner, tags[slot],
						     memory_order_relaxed) != 0)
				res.errors++;
			t->pattern = tags[slot] ^ (uintptr_t)t;
			for (int k = 0; k < 6; k++)
				t->payload[k] = tags[slot] + (uint64_t)k;
			held[slot] = t;
			res.allocs++;
		} else {
			for (int k = 0; k < 6; k++)
				if (t->payload[k] != tags[slot] + (uint64_t)k)
					res.errors++;
			if (t->pattern != (tags[slot] ^ (uintptr_t)t) ||
			    atomic_exchange_explicit(&t->owner, 0, memory_order_relaxed) !=
			    tags[slot])
				res.errors++;
			pcpupool_free(t, sig_pool);
			held[slot] = NULL;
			res.frees++;
		}
	}
	CHILD_CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
	signal(SIGALRM, SIG_IGN);
	for (int i = 0; i < SIG_HHELD; i++)
		if (sig_held[i])
			sig_release(sig_held[i]);
	for (int i = 0; i < SIG_HELD; i++)
		if (held[i]) {
			if (atomic_exchange(&held[i]->owner, 0) != tags[i])
				res.errors++;
			pcpupool_free(held[i], sig_pool);
		}
	res.runs = atomic_load(&sig_runs);
	res.misses = atomic_load(&sig_misses);
	res.errors += atomic_load(&sig_errors);
	CHILD_CHECK(e2e_write_full(out_fd, &res, sizeof(res)) == 0);
	pcpupool_close(sig_pool);
	pcpupool_disconnect(c);
	return 0;
}

static void test_signal_handler_allocs_while_main_allocs(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	struct sig_result res;
	char name[E2E_NAME_LEN];
	int fds[2];
	pid_t pid;

	p = pcpupool_create(c, e2e_name(e, "signal", name), 64, sizeof(struct sigelem), 64);
	assert_non_null(p);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	/* in a child: ITIMER_REAL is the process's one SIGALRM timer, so the
	 * guard against a hang is the parent's deadline, not alarm() */
	pid = e2e_fork(e);
	if (pid == 0) {
		close(fds[0]);
		_exit(sig_child(e, name, fds[1]));
	}
	close(fds[1]);
	if (e2e_read_full(fds[0], &res, sizeof(res), CHILD_TIMEOUT_MS) < 0) {
		e2e_expect_child_ok(e, pid, 1);
		fail_msg("the signal test process hung or died");
	}
	e2e_expect_child_ok(e, pid, CHILD_TIMEOUT_MS);
	close(fds[0]);
	print_message("signal handler: %llu runs, %llu misses; main: %llu allocs, "
		      "%llu frees, %llu misses\n", (unsigned long long)res.runs,
		      (unsigned long long)res.misses, (unsigned long long)res.allocs,
		      (unsigned long long)res.frees, (unsigned long long)res.main_misses);
	assert_int_equal(res.errors, 0);
	if (res.runs <= SIG_MIN_RUNS)
		fail_msg("the handler allocated only %llu times", (unsigned long long)res.runs);
	assert_true(res.allocs > 1000);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* ---- destroy ---- */

static void test_destroy_refused_while_attached(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e), *c2 = e2e_client(e);
	struct pcpupool *p, *p2;
	char name[E2E_NAME_LEN];
	void *x;

	p = pcpupool_create(c, e2e_name(e, "destroy", name), 8, 64, 64);
	assert_non_null(p);
	p2 = pcpupool_open(c2, name);
	assert_non_null(p2);

	assert_int_equal(pcpupool_destroy(p), -EBUSY);
	/* refused: the handle is still attached and usable */
	x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(x);
	pcpupool_free(x, p);
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), 0);

	pcpupool_close(p2);
	assert_int_equal(pcpupool_destroy(p), 0);
	errno = 0;
	assert_null(pcpupool_open(c, name));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(pcpupool_open(c2, name));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(pcpupool_stats_json(c2, name));
	assert_int_equal(errno, ENOENT);
	/* the name is free again */
	p = pcpupool_create(c2, name, 8, 64, 64);
	assert_non_null(p);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c2);
	pcpupool_disconnect(c);
}

static int holder_child(struct e2e *e, const char *name, int out_fd)
{
	struct pcpupool_client *c = pcpupool_connect(e->sock);
	struct pcpupool *p;
	char ready = 'R';

	CHILD_CHECK(c);
	p = pcpupool_open(c, name);
	CHILD_CHECK(p);
	CHILD_CHECK(pcpupool_alloc(p, PCPUPOOL_NOWAIT));
	CHILD_CHECK(e2e_write_full(out_fd, &ready, 1) == 0);
	for (;;)
		pause();   /* until SIGKILL */
}

static void test_killed_client_is_detached(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN], ready = 0;
	int fds[2], r, st;
	pid_t pid;

	p = pcpupool_create(c, e2e_name(e, "killed", name), 8, 64, 64);
	assert_non_null(p);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = e2e_fork(e);
	if (pid == 0) {
		close(fds[0]);
		_exit(holder_child(e, name, fds[1]));
	}
	close(fds[1]);
	assert_int_equal(e2e_read_full(fds[0], &ready, 1, CHILD_TIMEOUT_MS), 0);
	close(fds[0]);
	assert_int_equal(pcpupool_destroy(p), -EBUSY);

	assert_int_equal(kill(pid, SIGKILL), 0);
	st = e2e_wait_child(e, pid, CHILD_TIMEOUT_MS);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* the daemon notices the closed connection and drops its attachment */
	if (!e2e_poll((r = pcpupool_destroy(p)) != -EBUSY, E2E_POLL_MS))
		fail_msg("destroy still refused after the other client died");
	assert_int_equal(r, 0);
	pcpupool_disconnect(c);
}

/* pcpupool_free() of what is not an element: the inline free pushes an
 * address in the 4 GiB block of the pool's elements, and the next pop on
 * that CPU drops it and counts it (per-CPU "discarded"); any other address
 * goes to the library, which drops it.  Nothing is lost or handed out. */
static void test_bad_frees_are_dropped_and_counted(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN], local[64];
	struct pcpupool *p;
	json_t *st;

	p = pcpupool_create(c, e2e_name(e, "badfree", name), 32, 64, 64);
	assert_non_null(p);
	e2e_pin(0);
	char *a = pcpupool_alloc(p, PCPUPOOL_NOWAIT);

	assert_non_null(a);
	/* the elements start the block (the library maps them so) */
	char *block = (char *)((uintptr_t)a & ~(uintptr_t)UINT32_MAX);

	pcpupool_free(a + 8, p);                          /* inside an element */
	pcpupool_free(block + ((size_t)1 << 31), p);      /* past the elements */
	pcpupool_free(local, p);                          /* another block */
	pcpupool_free(NULL, p);
	char *b = pcpupool_alloc(p, PCPUPOOL_NOWAIT);

	assert_non_null(b);
	assert_int_equal(pcpupool_elem_at(p, pcpupool_elem_offset(p, b)), b);
	assert_ptr_not_equal(b, a);
	/* where the inline path is off (no rseq), the library's free drops
	 * them at once: nothing reaches a slab */
	st = e2e_pool_stats(c, name);
	assert_int_equal(e2e_cpu_stat(st, 0, "discarded"), fast_of(p)->pf_abi2_cpus ? 2 : 0);
	json_decref(st);
	pcpupool_free(b, p);
	pcpupool_free(a, p);
	finish_pool(c, p, name);
}

/* ---- the mapping the inline path needs ---- */

/* A process whose address space has no 4 GiB to spare: its pool is
 * mapped anywhere, the inline sections stay off (the inline free would
 * store a wrong offset) and everything works through the library. */
static int no_room_child(struct e2e *e, const char *name)
{
	struct rlimit rl;
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	CHILD_CHECK(f && fscanf(f, "%lu", &pages) == 1);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = pages * 4096ul + (1ul << 30);
	CHILD_CHECK(setrlimit(RLIMIT_AS, &rl) == 0);

	struct pcpupool_client *c = pcpupool_connect(e->sock);
	CHILD_CHECK(c);
	struct pcpupool *p = pcpupool_open(c, name);
	CHILD_CHECK(p);
	CHILD_CHECK(fast_of(p)->pf_abi2_cpus == 0);
	CHILD_CHECK(fast_of(p)->pf_abi1_cpus == 0);
	for (int i = 0; i < 10000; i++) {
		char *el = pcpupool_alloc(p, PCPUPOOL_NOWAIT);

		CHILD_CHECK(el);
		CHILD_CHECK(pcpupool_elem_at(p, pcpupool_elem_offset(p, el)) == el);
		memset(el, 0x5a, 64);
		pcpupool_free(el, p);
	}
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

static void test_pool_mapped_for_the_inline_path(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	pid_t pid;
	int st;

	p = pcpupool_create(c, e2e_name(e, "map4g", name), 16, 64, 64);
	assert_non_null(p);
	/* the first element on a 4 GiB boundary, the inline sections on
	 * where rseq is, and code built for inline ABI 1 sent to the library */
	assert_int_equal((uintptr_t)fast_of(p)->pf_elems & UINT32_MAX, 0);
	assert_int_equal(fast_of(p)->pf_abi1_cpus, 0);
	if (__rseq_size > 0)
		assert_int_equal(fast_of(p)->pf_abi2_cpus, pcpupool_nr_cpus(p));
	else
		assert_int_equal(fast_of(p)->pf_abi2_cpus, 0);

	pid = e2e_fork(e);
	if (pid == 0)
		_exit(no_room_child(e, name));
	st = e2e_wait_child(e, pid, CHILD_TIMEOUT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* ---- the control protocol ---- */

static void test_malformed_requests_get_errors(void **state)
{
	static const struct {
		const char *line;
		const char *code;
	} bad[] = {
		{ "this is not JSON", "EINVAL" },
		{ "{\"cmd\":\"attach\",\"pool\":5}", "EINVAL" },
		{ "{\"cmd\":\"frobnicate\"}", "ENOSYS" },
		{ "{\"cmd\":\"attach\",\"pool\":\"no-such-pool\"}", "ENOENT" },
		{ "{\"cmd\":\"stats\",\"pool\":\"no-such-pool\"}", "ENOENT" },
		{ "{\"cmd\":\"resize\",\"pool\":\"no-such-pool\",\"min_nr\":4}", "ENOENT" },
		{ "{\"pool\":\"x\"}", "EINVAL" },
		{ "{\"cmd\":\"pi", "EINVAL" },
		{ "{\"cmd\":5}", "EINVAL" },
		{ "[\"ping\"]", "EINVAL" },
		{ "\"ping\"", "EINVAL" },
		{ "", "EINVAL" },
		{ "{\"cmd\":\"ping\",\"cmd\":\"ping\"}", "EINVAL" },
		{ "{\"cmd\":\"ping\",\"extra\":1}", "EINVAL" },
		{ "{\"cmd\":\"create\",\"pool\":\"x\",\"elem_size\":-1,\"min_nr\":1}", "EINVAL" },
		{ "{\"cmd\":\"create\",\"pool\":\"../x\",\"elem_size\":8,\"min_nr\":1}", "EINVAL" },
		{ "{\"cmd\":\"create\",\"pool\":\"x\",\"elem_size\":8,\"min_nr\":1,\"align\":3}",
		  "EINVAL" },
		{ "{\"cmd\":\"refill\"}", "EINVAL" },
	};
	static const char nul_line[] = "{\"cmd\":\"ping\"}\0garbage";
	struct e2e *e = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN], *line, *reply;
	int fd = e2e_raw_connect(e);
	json_t *root, *errs;
	void *x;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reply = e2e_raw_xfer(fd, bad[i].line);
		if (!reply)
			fail_msg("connection closed after: %s", bad[i].line);
		e2e_expect_error(reply, bad[i].code);
		/* the connection still serves */
		e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"ping\"}"));
	}
	e2e_expect_error(e2e_raw_xfer_n(fd, nul_line, sizeof(nul_line) - 1), "EINVAL");
	e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"ping\"}"));

	/* the line limit: 4096 bytes pass, 4097 are refused, the connection stays */
	line = malloc(10001);
	assert_non_null(line);
	memset(line, ' ', 10000);
	memcpy(line, "{\"cmd\":\"ping\"}", 14);
	e2e_expect_ok(e2e_raw_xfer_n(fd, line, 4096));
	e2e_expect_error(e2e_raw_xfer_n(fd, line, 4097), "E2BIG");
	e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"ping\"}"));
	close(fd);

	/* a 10 000-byte line: the reply explains, then the connection closes */
	fd = e2e_raw_connect(e);
	memset(line, 'x', 10000);
	e2e_expect_error(e2e_raw_xfer_n(fd, line, 10000), "E2BIG");
	reply = e2e_raw_recv_line(fd);
	if (reply)
		fail_msg("connection still open after an over-long line: %s", reply);
	close(fd);
	free(line);

	/* half a request, then the peer goes away: nothing to answer */
	fd = e2e_raw_connect(e);
	e2e_raw_send(fd, "{\"cmd\":\"pi", 10);
	close(fd);

	/* the daemon serves on: raw, and a library client */
	e2e_expect_ok(e2e_raw_request(e, "{\"cmd\":\"ping\"}"));
	c = e2e_client(e);
	p = pcpupool_create(c, e2e_name(e, "after-garbage", name), 8, 64, 64);
	assert_non_null(p);
	x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(x);
	pcpupool_free(x, p);
	/* and counted what it refused */
	reply = pcpupool_stats_json(c, NULL);
	assert_non_null(reply);
	root = json_loads(reply, 0, NULL);
	assert_non_null(root);
	errs = json_object_get(json_object_get(json_object_get(root, "stats"), "daemon"),
			       "errors");
	assert_true(json_integer_value(json_object_get(errs, "E2BIG")) >= 2);
	assert_true(json_integer_value(json_object_get(errs, "ENOSYS")) >= 1);
	assert_true(json_integer_value(json_object_get(errs, "ENOENT")) >= 3);
	assert_true(json_integer_value(json_object_get(errs, "EINVAL")) >= 13);
	json_decref(root);
	free(reply);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

static int setup_two_clients(void **state)
{
	struct e2e *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	*state = e;
	e2e_start(e, "\"max_clients\": 2,");
	return 0;
}

/* A connection the daemon serves, retried while it refuses (the harness's
 * start-up probe may still hold a slot until the daemon sees it close). */
static int raw_connect_served(struct e2e *e)
{
	int fd = -1;

	if (!e2e_poll(({
		static const char ping[] = "{\"cmd\":\"ping\"}\n";
		char *reply = NULL;
		json_t *j = NULL;
		bool ok;

		fd = e2e_raw_connect(e);
		if (send(fd, ping, sizeof(ping) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(ping) - 1)
			reply = e2e_raw_recv_line(fd);
		if (reply)
			j = json_loads(reply, 0, NULL);
		ok = json_is_true(json_object_get(j, "ok"));
		json_decref(j);
		free(reply);
		if (!ok)
			close(fd);
		ok;
	}), E2E_POLL_MS))
		fail_msg("no connection served within %d ms", E2E_POLL_MS);
	return fd;
}

static void test_max_clients_refused_then_served(void **state)
{
	struct e2e *e = *state;
	int a = raw_connect_served(e), b = raw_connect_served(e), x;
	char *reply;

	/* a third is told why, then closed */
	x = e2e_raw_connect(e);
	e2e_expect_error(e2e_raw_recv_line(x), "EUSERS");
	reply = e2e_raw_recv_line(x);
	if (reply)
		fail_msg("refused connection still open: %s", reply);
	close(x);
	/* the first two are unaffected */
	e2e_expect_ok(e2e_raw_xfer(a, "{\"cmd\":\"ping\"}"));
	/* once one leaves, a newcomer is served */
	close(a);
	close(raw_connect_served(e));
	close(b);
}

struct resumer {
	struct e2e *e;
	int after_ms;
};

static void *resume_later(void *arg)
{
	struct resumer *r = arg;

	e2e_sleep_ms(r->after_ms);
	kill(r->e->pid, SIGCONT);
	return NULL;
}

static void test_wait_alloc_refills_synchronously(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	/* every CPU's reserve of 8, and the pool's spare of 8 */
	int n = nr_cpus_conf(), total = 8 * n + 8, got = 0, err = 0, cpu0 = e2e_first_cpu();
	void **held = calloc((size_t)total + 1, sizeof(*held));
	struct resumer r = { e, 50 };
	pthread_t t;
	void *x;

	assert_non_null(held);
	p = pcpupool_create(c, e2e_name(e, "wait", name), 8, 64, 64);   /* may grow */
	assert_non_null(p);
	e2e_pin(cpu0);
	/* empty every reserve while the daemon cannot refill any */
	e2e_daemon_pause(e);
	for (int i = 0; i <= total; i++) {
		errno = 0;
		x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		err = errno;
		if (!x)
			break;
		held[got++] = x;
	}
	assert_int_equal(got, total);
	assert_null(x);
	assert_int_equal(err, EAGAIN);
	assert_int_equal(pcpupool_nr_elems(p), 0);

	/* WAIT waits for the daemon (thawed a little later) and comes back
	 * with an element where NOWAIT had none */
	assert_int_equal(pthread_create(&t, NULL, resume_later, &r), 0);
	x = pcpupool_alloc(p, PCPUPOOL_WAIT);
	err = errno;
	assert_int_equal(pthread_join(t, NULL), 0);
	e->stopped = false;
	if (!x)
		fail_msg("PCPUPOOL_WAIT failed: %s", strerror(err));
	for (int i = 0; i < got; i++)
		assert_ptr_not_equal(x, held[i]);
	pcpupool_free(x, p);
	for (int i = 0; i < got; i++)
		pcpupool_free(held[i], p);
	finish_pool(c, p, name);
	free(held);
}

static void test_socket_from_environment(void **state)
{
	struct e2e *e = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pcpupool_client *c;
	const char *old = getenv("PCPUPOOL_SOCKET");
	char *saved = old ? strdup(old) : NULL;
	char missing[160], dead[160], *s;
	int fd;

	assert_int_equal(setenv("PCPUPOOL_SOCKET", e->sock, 1), 0);
	c = pcpupool_connect(NULL);
	if (!c)
		fail_msg("pcpupool_connect(NULL) with $PCPUPOOL_SOCKET=%s: %s", e->sock,
			 strerror(errno));
	s = pcpupool_stats_json(c, NULL);
	assert_non_null(s);
	free(s);
	pcpupool_disconnect(c);

	/* no such socket: the variable is what is used */
	snprintf(missing, sizeof(missing), "%s/missing.sock", e->dir);
	assert_int_equal(setenv("PCPUPOOL_SOCKET", missing, 1), 0);
	errno = 0;
	assert_null(pcpupool_connect(NULL));
	assert_int_equal(errno, ENOENT);
	if (saved)
		setenv("PCPUPOOL_SOCKET", saved, 1);
	else
		unsetenv("PCPUPOOL_SOCKET");
	free(saved);
	errno = 0;
	assert_null(pcpupool_connect(missing));
	assert_int_equal(errno, ENOENT);

	/* a socket nobody listens on */
	snprintf(dead, sizeof(dead), "%s/dead.sock", e->dir);
	strcpy(sa.sun_path, dead);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	errno = 0;
	assert_null(pcpupool_connect(dead));
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
	unlink(dead);
}

static void test_hello_checks_the_protocol_version(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	int fd = e2e_raw_connect(e);
	char *reply;
	json_t *j;

	pcpupool_disconnect(c);

	reply = e2e_raw_xfer(fd, "{\"cmd\":\"hello\",\"version\":1}");
	j = e2e_parse_reply(reply);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
	assert_true(json_is_string(json_object_get(j, "server")));
	json_decref(j);
	free(reply);

	e2e_expect_error(e2e_raw_xfer(fd, "{\"cmd\":\"hello\",\"version\":99}"), "EPROTO");
	e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"ping\"}"));
	e2e_expect_error(e2e_raw_xfer(fd, "{\"cmd\":\"hello\",\"version\":0}"), "EPROTO");
	e2e_expect_error(e2e_raw_xfer(fd, "{\"cmd\":\"hello\",\"version\":\"1\"}"), "EINVAL");
	e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"hello\"}"));
	close(fd);
}

int main(int argc, char **argv)
{
	/* for test_norseq.sh: what glibc registered in this process */
	if (argc == 2 && strcmp(argv[1], "--print-rseq-size") == 0) {
		printf("rseq size %u\n", (unsigned int)__rseq_size);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_prefills_min_nr_per_cpu,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_nowait_never_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refill_nowait_async_and_wait_sync,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_low_watermark_sends_one_coalesced_request,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_crossings_while_the_daemon_polls_send_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_polling_stops_after_its_linger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize_up_and_down_with_clients_attached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_elements_aligned_full_size_and_unique,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_element_handed_over_by_offset,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_handler_allocs_while_main_allocs,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_refused_while_attached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_client_is_detached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_frees_are_dropped_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_mapped_for_the_inline_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests_get_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_clients_refused_then_served,
						setup_two_clients, teardown),
		cmocka_unit_test_setup_teardown(test_wait_alloc_refills_synchronously,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_from_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_checks_the_protocol_version,
						setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
