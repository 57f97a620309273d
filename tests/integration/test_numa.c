// SPDX-License-Identifier: MIT
/*
 * test_numa.c - each CPU's reserve is made of elements on its own NUMA
 * node, through the real daemon and real clients: a client on a CPU of
 * each node takes its CPU's whole reserve, writes every element (the first
 * touch, which places a page by the pool's memory policy) and asks the
 * kernel where the pages are (move_pages() without moving).  The stats
 * count the reserves and the depot by node.
 *
 * Needs two NUMA nodes with CPUs the test may run on: it runs in the VM
 * test bed (tests/vm/), and fails, saying why, anywhere else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/syscall.h>

#include "e2e.h"

#define MIN_NR 64

static int cpu_of_node[2];

/* The node of @cpu from sysfs, or -1. */
static int node_of(int cpu)
{
	char path[96];

	for (int k = 0; k < 64; k++) {
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/node%d", cpu, k);
		if (access(path, F_OK) == 0)
			return k;
	}
	return -1;
}

static int setup(void **state)
{
	cpu_of_node[0] = cpu_of_node[1] = -1;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		int k = node_of(c);

		if (e2e_cpu_allowed(c) && (k == 0 || k == 1) && cpu_of_node[k] < 0)
			cpu_of_node[k] = c;
	}
	if (cpu_of_node[0] < 0 || cpu_of_node[1] < 0) {
		print_error("test_numa needs CPUs on NUMA nodes 0 and 1 (the VM test bed: "
			    "make check-vm)\n");
		return -1;
	}
	return e2e_setup(state);
}

/* In a child on @cpu: take the CPU's reserve, then touch it from a CPU of
 * the other node (so that the first touch alone would place it there: only
 * the pool's memory policy puts it on @node), and check the node of every
 * element's page. */
static int check_reserve_on(struct e2e *e, const char *name, int cpu, int node, int away)
{
	struct pcpupool_client *c;
	struct pcpupool *p = e2e_child_open_on(e, cpu, name, &c);
	void *el[2 * MIN_NR];
	int status[2 * MIN_NR];
	int n = 0;

	CHILD_CHECK(pcpupool_nr_elems_cpu(p, cpu) == MIN_NR);
	/* past the reserve: the crossing of the low watermark takes the
	 * node's spare, which must be of the node too */
	int take = MIN_NR + MIN_NR / 2;
	for (n = 0; n < take; n++)
		CHILD_CHECK((el[n] = pcpupool_alloc(p, PCPUPOOL_NOWAIT)) != NULL);
	e2e_child_pin(away);
	for (int i = 0; i < n; i++) {
		memset(el[i], 0x5a, 64);
		status[i] = -1;
	}
	CHILD_CHECK(syscall(SYS_move_pages, 0, (unsigned long)n, el, NULL, status, 0) == 0);
	int bad = 0;
	for (int i = 0; i < n; i++)
		if (status[i] != node && bad++ < 8) {
			fprintf(stderr, "child: CPU %d (node %d): element %d (offset %llu) of its "
				"reserve is on node %d\n", cpu, node, i,
				(unsigned long long)pcpupool_elem_offset(p, el[i]), status[i]);
		}
	CHILD_CHECK(bad == 0);
	/* back home before freeing: a free goes to the freeing CPU's reserve */
	e2e_child_pin(cpu);
	for (int i = 0; i < n; i++)
		pcpupool_free(el[i], p);
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

static void test_each_reserve_is_on_its_cpus_node(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN];
	/* elements of 4 KiB: the reserves span many pages and chunks */
	struct pcpupool *p = pcpupool_create(c, e2e_name(e, "numa", name), MIN_NR, 4096, 64);

	assert_non_null(p);
	for (int k = 0; k < 2; k++) {
		pid_t pid = e2e_fork(e);

		if (pid == 0)
			_exit(check_reserve_on(e, name, cpu_of_node[k], k, cpu_of_node[1 - k]));
		e2e_expect_child_ok(e, pid, 60000);
	}
	json_t *st = e2e_pool_stats(c, name);
	json_t *nodes = json_object_get(st, "nodes");

	assert_true(json_array_size(nodes) >= 2);
	json_int_t reserved = 0, depot = 0;
	for (size_t k = 0; k < json_array_size(nodes); k++) {
		json_t *nd = json_array_get(nodes, k);

		assert_int_equal(json_integer_value(json_object_get(nd, "node")), (json_int_t)k);
		assert_true(json_integer_value(json_object_get(nd, "cpus")) > 0);
		reserved += json_integer_value(json_object_get(nd, "reserved"));
		assert_int_equal(json_integer_value(json_object_get(nd, "spare")), MIN_NR);
		depot += json_integer_value(json_object_get(nd, "depot"));
	}
	assert_int_equal(reserved, e2e_stat(st, "reserved"));
	assert_int_equal(depot, e2e_stat(st, "depot"));
	json_decref(st);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_reserve_is_on_its_cpus_node),
	};

	return cmocka_run_group_tests(tests, setup, e2e_teardown);
}
