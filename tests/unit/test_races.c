// SPDX-License-Identifier: MIT
/*
 * test_races.c - interleavings of the slab core's slow paths with another
 * process, made deterministic: the slab core (core/slab_*.c) is compiled into this test
 * with SLAB_TEST_HOOKS, and slab_test_hook() does, at the named point, what
 * the daemon or another client might do there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "pooltest.h"

static struct testpool *hook_tp;
static const char *hook_at;
static void (*hook_fn)(struct testpool *tp);

void slab_test_hook(const char *where);
void slab_test_hook(const char *where)
{
	void (*fn)(struct testpool *) = hook_fn;

	if (fn && hook_at && !strcmp(where, hook_at)) {
		hook_fn = NULL;   /* once, and not from inside itself */
		fn(hook_tp);
	}
}

static int setup(void **state)
{
	return testpool_setup(state, 64, 64, 8, 100);
}

/* The daemon grows the pool (10 -> 20 published) and refills CPU 0 with
 * the newest elements, as pool_grow() then pool_refill_cpu() do. */
static void daemon_grows_and_refills(struct testpool *tp)
{
	uint32_t b[2] = { 19, 18 };

	atomic_store(&tp->v.hdr->nr_published, 20);
	assert_int_equal(slab_list_push(&tp->v, &slab_of(&tp->v, 0)->inbox, b, 2), 0);
}

/* A client moves the spare onto CPU 0's inbox while the daemon grows the
 * pool and refills that inbox: both chains must end up on it (a stale
 * count of the published elements once took the daemon's chain for
 * corrupt and dropped both). */
static void test_spare_take_meets_growth_and_refill(void **state)
{
	struct testpool *tp = *state;
	uint32_t spare[5] = { 0, 1, 2, 3, 4 }, buf[16], n = 0;
	uint8_t seen[20] = { 0 };

	atomic_store(&tp->v.hdr->nr_published, 10);
	atomic_store(&tp->v.hdr->min_nr, 8);
	assert_int_equal(slab_list_push(&tp->v, &tp->v.hdr->spare, spare, 5), 0);
	hook_tp = tp;
	hook_at = "put_back";
	hook_fn = daemon_grows_and_refills;
	slab_low_refill(&tp->v, 0, 0);
	assert_null(hook_fn);   /* the interleaving happened */
	assert_int_equal(slab_list_len(atomic_load(&tp->v.hdr->spare)), 0);
	assert_int_equal(slab_list_len(atomic_load(&slab_of(&tp->v, 0)->inbox)), 7);
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->inbox, buf, 16, &n), 0);
	assert_int_equal(n, 7);
	for (uint32_t i = 0; i < n; i++) {
		assert_true(buf[i] < 20);
		assert_int_equal(seen[buf[i]]++, 0);
	}
	for (uint32_t e = 0; e < 5; e++)
		assert_int_equal(seen[e], 1);
	assert_int_equal(seen[18] + seen[19], 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spare_take_meets_growth_and_refill,
						setup, testpool_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
