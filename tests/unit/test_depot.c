// SPDX-License-Identifier: MIT
/*
 * test_depot.c - the daemon's depot of free elements, a stack per NUMA
 * node in the state memfd (daemon/depot.c), alone: elements go to their
 * node's stack and come back from the node asked first; a restart reads
 * the depot by the layout it was written with, and neither a state left
 * between two counter updates by a daemon that died, nor one written for
 * another number of nodes or before the split, hands out an element twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "pool.h"

#define MAX_ELEMS 4096u
#define STRIDE    1024u   /* 2048 elements a 2 MiB chunk */

static int setup(void **state)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	p->st = calloc(1, sizeof(struct pool_state) + MAX_ELEMS * sizeof(uint32_t));
	if (!p->st)
		return -1;
	p->v.max_elems = MAX_ELEMS;
	p->v.elem_stride = STRIDE;
	snprintf(p->cfg.name, sizeof(p->cfg.name), "depot-test");
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pool *p = *state;

	free(p->st);
	free(p);
	return 0;
}

/* Take everything out, node @first first; check each element comes out
 * once.  Return how many. */
static uint32_t drain(struct pool *p, uint32_t first, uint8_t *seen)
{
	uint32_t buf[64], n, total = 0;

	while ((n = depot_take(p, first, buf, 64)) > 0)
		for (uint32_t i = 0; i < n; i++, total++) {
			assert_true(buf[i] < MAX_ELEMS);
			assert_int_equal(seen[buf[i]]++, 0);
		}
	assert_int_equal(depot_count(p), 0);
	return total;
}

static void test_elements_go_to_their_nodes_stack(void **state)
{
	struct pool *p = *state;
	uint32_t buf[8];

	assert_int_equal(depot_init(p, 2), 0);
	for (uint32_t i = 0; i < MAX_ELEMS; i++)
		depot_add(p, i);
	/* chunk 0 (elements 0..2047) is node 0's, chunk 1 node 1's */
	assert_int_equal(depot_node_of(p, 0), 0);
	assert_int_equal(depot_node_of(p, 2048), 1);
	assert_int_equal(depot_count_node(p, 0), 2048);
	assert_int_equal(depot_count_node(p, 1), 2048);
	assert_int_equal(depot_take(p, 1, buf, 8), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(depot_node_of(p, buf[i]), 1);
	/* a node run dry lends from the others */
	uint8_t seen[MAX_ELEMS] = { 0 };

	for (int i = 0; i < 8; i++)
		seen[buf[i]] = 1;
	assert_int_equal(drain(p, 1, seen), MAX_ELEMS - 8);
}

/* A daemon killed between a stack's height and the total: the restart
 * finds every element the stacks hold, once, and the total from them. */
static void test_a_state_left_between_two_updates_restores_exactly(void **state)
{
	struct pool *p = *state;
	uint8_t seen[MAX_ELEMS] = { 0 };

	assert_int_equal(depot_init(p, 2), 0);
	for (uint32_t i = 0; i < 100; i++)
		depot_add(p, i);              /* node 0 */
	for (uint32_t i = 2048; i < 2098; i++)
		depot_add(p, i);              /* node 1 */
	p->st->depot_n--;                      /* the last add half done */
	assert_int_equal(depot_init(p, 2), 0);
	assert_int_equal(depot_count(p), 150);
	assert_int_equal(depot_count_node(p, 0), 100);
	assert_int_equal(depot_count_node(p, 1), 50);
	assert_int_equal(drain(p, 0, seen), 150);
}

/* The same depot restored on a machine of three nodes, then of one. */
static void test_another_number_of_nodes_deals_the_depot_again(void **state)
{
	struct pool *p = *state;
	uint8_t seen[MAX_ELEMS] = { 0 };

	assert_int_equal(depot_init(p, 2), 0);
	for (uint32_t i = 0; i < MAX_ELEMS; i += 3)
		depot_add(p, i);
	uint64_t had = depot_count(p);

	assert_int_equal(depot_init(p, 3), 0);
	assert_int_equal(depot_count(p), had);
	for (uint32_t k = 0; k < 3; k++) {
		uint32_t buf[1];

		if (depot_count_node(p, k)) {
			assert_int_equal(depot_take(p, k, buf, 1), 1);
			assert_int_equal(depot_node_of(p, buf[0]), k);
			depot_add(p, buf[0]);
		}
	}
	assert_int_equal(depot_init(p, 1), 0);
	assert_int_equal(depot_count(p), had);
	assert_int_equal(drain(p, 0, seen), had);
}

/* A state from before the split (one stack at the array's start), with
 * an entry twice and one past the pool: dealt, each element once. */
static void test_a_single_stack_state_is_dealt_once(void **state)
{
	struct pool *p = *state;
	uint8_t seen[MAX_ELEMS] = { 0 };

	p->st->depot_nodes = 0;
	p->st->depot_n = 5;
	p->st->depot[0] = 7;
	p->st->depot[1] = 3000;
	p->st->depot[2] = 7;
	p->st->depot[3] = MAX_ELEMS + 9;
	p->st->depot[4] = 1;
	assert_int_equal(depot_init(p, 2), 0);
	assert_int_equal(depot_count(p), 3);
	assert_int_equal(depot_count_node(p, 1), 1);
	assert_int_equal(drain(p, 0, seen), 3);
	assert_int_equal(seen[7] + seen[3000] + seen[1], 3);
}

/* Heights a corrupt state gives past their segments are bounded. */
static void test_heights_past_their_segment_are_bounded(void **state)
{
	struct pool *p = *state;
	uint8_t seen[MAX_ELEMS] = { 0 };

	assert_int_equal(depot_init(p, 2), 0);
	for (uint32_t i = 0; i < 10; i++)
		depot_add(p, i);
	p->st->depot_node_n[0] = UINT64_MAX / 2;
	p->st->depot_node_n[1] = 3 * MAX_ELEMS;
	assert_int_equal(depot_init(p, 2), 0);
	assert_true(depot_count(p) <= MAX_ELEMS);
	drain(p, 0, seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_elements_go_to_their_nodes_stack, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_state_left_between_two_updates_restores_exactly,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_another_number_of_nodes_deals_the_depot_again,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_single_stack_state_is_dealt_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_heights_past_their_segment_are_bounded, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("depot", tests, NULL, NULL);
}
