// SPDX-License-Identifier: MIT
/*
 * test_place.c - reserves only where clients run (daemon/place.c), through
 * the real daemon and real client processes: a pool reserves on the CPUs
 * its creator may run on; an attach opens and fills the CPUs of the new
 * process before it is answered; a CPU no attached process may use any
 * more gives its elements back, slab included; a thread that moves to a
 * closed CPU is served and opens it.  Every element is accounted for after
 * each step.  Needs two CPUs the test may run on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "e2e.h"

#define MIN_NR       16
#define CLOSE_MS     10000  /* PLACE_CLOSE_AFTER_MS + PLACE_GRACE_MS and a few
			     * passes, with room for a slow (emulated) machine */

static int cpu_a, cpu_b;

static int setup(void **state)
{
	cpu_a = e2e_first_cpu();
	cpu_b = -1;
	for (int c = cpu_a + 1; c < CPU_SETSIZE && cpu_b < 0; c++)
		if (e2e_cpu_allowed(c))
			cpu_b = c;
	if (cpu_b < 0) {
		print_error("test_place needs two CPUs it may run on\n");
		return -1;
	}
	return e2e_setup(state);
}

static json_int_t placement(struct pcpupool_client *c, const char *name, const char *key)
{
	json_t *st = e2e_pool_stats(c, name);
	json_t *v = json_object_get(json_object_get(st, "placement"), key);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;

	json_decref(st);
	return n;
}

/* A pool created by this process while it runs on CPU A alone. */
static struct pcpupool *create_on_a(struct e2e *e, struct pcpupool_client *c, const char *tag,
				    char name[E2E_NAME_LEN])
{
	struct pcpupool *p;

	e2e_pin(cpu_a);
	p = pcpupool_create(c, e2e_name(e, tag, name), MIN_NR, 64, 64);
	assert_non_null(p);
	return p;
}

static void test_a_pool_reserves_where_its_creator_runs(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN];
	struct pcpupool *p = create_on_a(e, c, "creator", name);

	assert_int_equal(placement(c, name, "open"), 1);
	assert_string_equal(e2e_cpu_reserve(c, name, cpu_a), "open");
	assert_int_equal(e2e_stat_now(c, name, cpu_a, "level"), MIN_NR);
	for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++) {
		if (cpu == cpu_a)
			continue;
		assert_string_equal(e2e_cpu_reserve(c, name, cpu), "closed");
		assert_int_equal(e2e_stat_now(c, name, cpu, "level"), 0);
	}
	assert_int_equal(e2e_stat_now(c, name, -1, "reserved"), MIN_NR);
	e2e_expect_conserved(c, name);
	e2e_unpin();
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* A client confined to two CPUs (its affinity, as a cpuset would make
 * it) creates a pool: reserves on those two, none anywhere else. */
static void test_a_client_confined_to_two_cpus_reserves_for_two(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN];
	cpu_set_t two;
	struct pcpupool *p;

	CPU_ZERO(&two);
	CPU_SET(cpu_a, &two);
	CPU_SET(cpu_b, &two);
	assert_int_equal(sched_setaffinity(0, sizeof(two), &two), 0);
	p = pcpupool_create(c, e2e_name(e, "two", name), MIN_NR, 64, 64);
	assert_non_null(p);
	assert_int_equal(placement(c, name, "open"), 2);
	for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++) {
		bool mine = cpu == cpu_a || cpu == cpu_b;

		assert_string_equal(e2e_cpu_reserve(c, name, cpu), mine ? "open" : "closed");
		assert_int_equal(e2e_stat_now(c, name, cpu, "level"), mine ? MIN_NR : 0);
	}
	assert_int_equal(e2e_stat_now(c, name, -1, "reserved"), 2 * MIN_NR);
	e2e_expect_conserved(c, name);
	e2e_unpin();
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* The child: runs on CPU B alone, attaches (CPU B must hold its reserve
 * when the open returns), moves elements through CPU B's slab, exits. */
static int child_on_b(struct e2e *e, const char *name)
{
	struct pcpupool_client *c;
	struct pcpupool *p = e2e_child_open_on(e, cpu_b, name, &c);
	void *el[MIN_NR];

	CHILD_CHECK(pcpupool_nr_elems_cpu(p, cpu_b) == MIN_NR);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < MIN_NR / 2; i++)
			CHILD_CHECK((el[i] = pcpupool_alloc(p, PCPUPOOL_NOWAIT)) != NULL);
		for (int i = 0; i < MIN_NR / 2; i++)
			pcpupool_free(el[i], p);
	}
	/* exit without closing: the daemon sees the process go */
	_exit(0);
}

static void test_an_attach_opens_its_cpus_and_an_exit_closes_them(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN];
	struct pcpupool *p = create_on_a(e, c, "follow", name);
	pid_t pid = e2e_fork(e);

	if (pid == 0)
		child_on_b(e, name);
	e2e_expect_child_ok(e, pid, CHILD_TIMEOUT_MS);
	assert_true(e2e_stat_now(c, name, -1, "clients") >= 1);
	/* CPU B closes once nobody attached may run there, and what its
	 * slab held goes back to the depot */
	if (!e2e_poll(strcmp(e2e_cpu_reserve(c, name, cpu_b), "closed") == 0, CLOSE_MS))
		fail_msg("CPU %d still %s", cpu_b, e2e_cpu_reserve(c, name, cpu_b));
	assert_int_equal(e2e_stat_now(c, name, cpu_b, "level"), 0);
	assert_int_equal(e2e_stat_now(c, name, cpu_b, "slab"), 0);
	assert_true(e2e_stat_now(c, name, cpu_b, "withdrawn") > 0);
	assert_true(placement(c, name, "opened") >= 1);
	assert_true(placement(c, name, "closed") >= 1);
	assert_string_equal(e2e_cpu_reserve(c, name, cpu_a), "open");
	e2e_expect_conserved(c, name);
	e2e_unpin();
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

static void test_a_thread_moving_to_a_closed_cpu_is_served_and_opens_it(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN];
	struct pcpupool *p = create_on_a(e, c, "moved", name);
	void *el;

	assert_string_equal(e2e_cpu_reserve(c, name, cpu_b), "closed");
	e2e_pin(cpu_b);
	el = pcpupool_alloc(p, PCPUPOOL_NOWAIT);   /* from the spare */
	assert_non_null(el);
	pcpupool_free(el, p);
	if (!e2e_poll(strcmp(e2e_cpu_reserve(c, name, cpu_b), "open") == 0 &&
		      e2e_stat_now(c, name, cpu_b, "level") >= MIN_NR / 4, CLOSE_MS))
		fail_msg("CPU %d is %s, level %lld", cpu_b, e2e_cpu_reserve(c, name, cpu_b),
			 (long long)e2e_stat_now(c, name, cpu_b, "level"));
	/* and now that this process runs on CPU B alone, CPU A closes */
	if (!e2e_poll(strcmp(e2e_cpu_reserve(c, name, cpu_a), "closed") == 0, CLOSE_MS))
		fail_msg("CPU %d still %s", cpu_a, e2e_cpu_reserve(c, name, cpu_a));
	e2e_expect_conserved(c, name);
	e2e_unpin();
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_pool_reserves_where_its_creator_runs),
		cmocka_unit_test(test_a_client_confined_to_two_cpus_reserves_for_two),
		cmocka_unit_test(test_an_attach_opens_its_cpus_and_an_exit_closes_them),
		cmocka_unit_test(test_a_thread_moving_to_a_closed_cpu_is_served_and_opens_it),
	};

	return cmocka_run_group_tests(tests, setup, e2e_teardown);
}
