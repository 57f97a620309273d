// SPDX-License-Identifier: MIT
/*
 * test_hotplug.c - CPUs going offline and online under a real daemon and
 * real clients: the reserve of a CPU taken offline goes back to the depot,
 * slab included, with every element accounted for; the CPU is filled
 * again when it comes back; clients allocating and freeing across CPUs
 * while CPUs come and go lose nothing and get nothing twice.
 *
 * Needs root and CPUs that can go offline: it runs in the VM test bed
 * (tests/vm/), and fails, saying why, anywhere else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/mman.h>

#include "e2e.h"

#define MIN_NR    16
#define WAIT_MS   10000   /* a TCG guest is slow */

static int victim;        /* the CPU taken offline */

static char *online_path(int cpu, char buf[96])
{
	snprintf(buf, 96, "/sys/devices/system/cpu/cpu%d/online", cpu);
	return buf;
}

static void set_online(int cpu, int on)
{
	char path[96];

	e2e_write_file(online_path(cpu, path), on ? "1" : "0");
}

static int setup(void **state)
{
	char path[96];

	victim = -1;
	for (int c = CPU_SETSIZE - 1; c > e2e_first_cpu() && victim < 0; c--)
		if (e2e_cpu_allowed(c) && access(online_path(c, path), W_OK) == 0)
			victim = c;
	if (victim < 0) {
		print_error("test_hotplug needs a CPU it may take offline (root, in the VM "
			    "test bed: make check-vm)\n");
		return -1;
	}
	return e2e_setup(state);
}

static int teardown(void **state)
{
	set_online(victim, 1);
	return e2e_teardown(state);
}

/* A member of the daemon's stats object. */
static json_int_t daemon_stat(struct pcpupool_client *c, const char *key)
{
	char *s = pcpupool_stats_json(c, NULL);
	json_t *root = s ? json_loads(s, 0, NULL) : NULL;
	json_t *v = json_object_get(json_object_get(json_object_get(root, "stats"), "daemon"), key);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;

	json_decref(root);
	free(s);
	return n;
}

/* In a child: run on @cpu and pass elements through its slab. */
static int fill_slab_on(struct e2e *e, const char *name, int cpu)
{
	struct pcpupool_client *c;
	struct pcpupool *p = e2e_child_open_on(e, cpu, name, &c);
	void *el[MIN_NR];

	for (int i = 0; i < MIN_NR; i++)
		CHILD_CHECK((el[i] = pcpupool_alloc(p, PCPUPOOL_NOWAIT)) != NULL);
	for (int i = 0; i < MIN_NR; i++)
		pcpupool_free(el[i], p);
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

static void test_an_offline_cpu_gives_its_reserve_back(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN];
	struct pcpupool *p = pcpupool_create(c, e2e_name(e, "offline", name), MIN_NR, 64, 64);
	json_int_t online, events;
	pid_t pid;

	assert_non_null(p);
	assert_string_equal(e2e_cpu_reserve(c, name, victim), "open");
	pid = e2e_fork(e);
	if (pid == 0)
		_exit(fill_slab_on(e, name, victim));
	e2e_expect_child_ok(e, pid, CHILD_TIMEOUT_MS);
	assert_true(e2e_stat_now(c, name, victim, "slab") > 0);
	online = daemon_stat(c, "cpus_online");
	events = daemon_stat(c, "cpu_hotplug_events");

	set_online(victim, 0);
	if (!e2e_poll(strcmp(e2e_cpu_reserve(c, name, victim), "closed") == 0, WAIT_MS))
		fail_msg("CPU %d offline, its reserve still %s", victim,
			 e2e_cpu_reserve(c, name, victim));
	assert_int_equal(daemon_stat(c, "cpus_online"), online - 1);
	assert_true(daemon_stat(c, "cpu_hotplug_events") > events);
	assert_int_equal(e2e_stat_now(c, name, victim, "slab"), 0);
	assert_int_equal(e2e_stat_now(c, name, victim, "level"), 0);
	assert_true(e2e_stat_now(c, name, victim, "withdrawn") > 0);
	e2e_expect_conserved(c, name);

	set_online(victim, 1);
	if (!e2e_poll(strcmp(e2e_cpu_reserve(c, name, victim), "open") == 0 &&
		      e2e_stat_now(c, name, victim, "level") == MIN_NR, WAIT_MS))
		fail_msg("CPU %d online again, its reserve %s, level %lld", victim,
			 e2e_cpu_reserve(c, name, victim),
			 (long long)e2e_stat_now(c, name, victim, "level"));
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* In a child: allocate and free across CPUs until told to stop, holding
 * some elements at a time, each written with its holder's mark. */
static int churn(struct e2e *e, const char *name, int id, volatile int *stop)
{
	enum { HOLD = 8 };
	uint64_t *held[HOLD] = { 0 }, rng = (uint64_t)id + 1;
	struct pcpupool_client *c = pcpupool_connect(e->sock);

	CHILD_CHECK(c);
	struct pcpupool *p = pcpupool_open(c, name);
	CHILD_CHECK(p);
	while (!*stop) {
		int k = (int)(e2e_rng(&rng) % HOLD);

		if (held[k]) {
			CHILD_CHECK(*held[k] == (uint64_t)(id * 1000003 + k));
			pcpupool_free(held[k], p);
			held[k] = NULL;
		} else if ((held[k] = pcpupool_alloc(p, PCPUPOOL_NOWAIT))) {
			*held[k] = (uint64_t)(id * 1000003 + k);
		}
	}
	for (int k = 0; k < HOLD; k++)
		if (held[k])
			pcpupool_free(held[k], p);
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

static void test_clients_churning_while_cpus_come_and_go_lose_nothing(void **state)
{
	enum { CHILDREN = 4, FLIPS = 6 };
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN];
	struct pcpupool *p = pcpupool_create(c, e2e_name(e, "churn", name), MIN_NR, 64, 64);
	volatile int *stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[CHILDREN];

	assert_non_null(p);
	assert_ptr_not_equal(stop, MAP_FAILED);
	*stop = 0;
	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = e2e_fork(e);
		if (pids[i] == 0)
			_exit(churn(e, name, i, stop));
	}
	for (int f = 0; f < FLIPS; f++) {
		e2e_sleep_ms(300);
		set_online(victim, f % 2);   /* off, on, off, ... */
	}
	set_online(victim, 1);
	e2e_sleep_ms(300);
	*stop = 1;
	for (int i = 0; i < CHILDREN; i++)
		e2e_expect_child_ok(e, pids[i], 60000);
	assert_string_equal(e2e_pool_state(c, name), "ok");
	json_t *st = e2e_pool_stats(c, name);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "reclaim"),
							    "duplicates")), 0);
	json_decref(st);
	e2e_expect_conserved(c, name);
	munmap((void *)stop, 4096);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_offline_cpu_gives_its_reserve_back),
		cmocka_unit_test(test_clients_churning_while_cpus_come_and_go_lose_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
