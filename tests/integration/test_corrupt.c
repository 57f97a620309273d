// SPDX-License-Identifier: MIT
/*
 * test_corrupt.c - a client scribbles on a pool's shared memory (slab
 * descriptors, list words, element links); the daemon detects it, logs it,
 * quarantines that pool and keeps serving the others.  Run under the
 * sanitizer builds too: no crash, no out-of-bounds access.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "e2e.h"
#include "slab.h"

struct victim {
	struct pcpupool *pool;
	struct slab_view v;     /* a view of its memory, for scribbling */
	char name[E2E_NAME_LEN];
};

static void open_victim(struct e2e *e, struct pcpupool_client *c, struct victim *vi,
			const char *tag)
{
	vi->pool = pcpupool_create(c, e2e_name(e, tag, vi->name), 8, 64, 64);
	assert_non_null(vi->pool);
	e2e_pool_view(vi->pool, &vi->v, 7);
}

/* The other pool still serves: alloc, free, a synchronous refill. */
static void expect_serving(struct pcpupool *other)
{
	void *p = pcpupool_alloc(other, PCPUPOOL_WAIT);

	assert_non_null(p);
	memset(p, 0xab, 64);
	pcpupool_free(p, other);
	assert_int_equal(pcpupool_refill(other, PCPUPOOL_WAIT), 0);
}

static void scribble_and_check(struct e2e *e, void (*scribble)(struct victim *),
			       const char *what)
{
	struct victim vi;
	char other_name[E2E_NAME_LEN];
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *other = pcpupool_create(c, e2e_name(e, "other", other_name), 8, 64, 64);
	assert_non_null(other);
	open_victim(e, c, &vi, "victim");
	assert_string_equal(e2e_pool_state(c, vi.name), "ok");

	scribble(&vi);
	if (!e2e_poll(strcmp(e2e_pool_state(c, vi.name), "quarantined") == 0, 5000))
		fail_msg("%s: pool not quarantined", what);
	print_message("%s: quarantined\n", what);
	expect_serving(other);
	/* a new attach of the corrupt pool is refused */
	struct pcpupool_client *c2 = e2e_client(e);
	assert_null(pcpupool_open(c2, vi.name));
	assert_int_equal(errno, EUCLEAN);
	/* and the daemon said why, at priority err */
	assert_true(e2e_file_has(e->log, "<3>", "quarantined"));
	pcpupool_disconnect(c2);
	pcpupool_close(other);
	/* its memory is corrupt, but closing the handle still works */
	pcpupool_close(vi.pool);
	pcpupool_disconnect(c);
}

static void count_past_capacity(struct victim *vi)
{
	__atomic_store_n(&slab_of(&vi->v, 0)->cw, vi->v.hdr->slab_cap + 7, __ATOMIC_RELAXED);
}

static void limit_past_capacity(struct victim *vi)
{
	__atomic_store_n(&slab_of(&vi->v, 0)->limit, vi->v.hdr->slab_cap * 3, __ATOMIC_RELAXED);
}

static void outbox_index_past_end(struct victim *vi)
{
	atomic_store(&slab_of(&vi->v, 0)->outbox,
		     slab_list_word(vi->v.max_elems + 5, 1));
}

static void outbox_loop(struct victim *vi)
{
	atomic_store(&vi->v.meta[3].next, 4);
	atomic_store(&vi->v.meta[4].next, 3);
	atomic_store(&slab_of(&vi->v, 0)->outbox, slab_list_word(3, 9));
}

static void inbox_length_lie(struct victim *vi)
{
	/* a huge length makes the sweep trim the inbox, walking it */
	atomic_store(&vi->v.meta[5].next, SLAB_NIL);
	atomic_store(&slab_of(&vi->v, 0)->inbox, slab_list_word(5, 100000));
}

static void spare_index_past_end(struct victim *vi)
{
	atomic_store(&vi->v.hdr->spare, slab_list_word(vi->v.max_elems + 5, 1));
}

/* Mark every element of the list word @w in @seen. */
static void mark_list(const struct victim *vi, uint64_t w, uint8_t *seen)
{
	uint32_t e = slab_list_head(w);

	for (uint32_t n = slab_list_len(w); n && e < vi->v.max_elems; n--) {
		seen[e] = 1;
		e = atomic_load(&vi->v.meta[e].next);
	}
}

static void outbox_returns_depot_element(struct victim *vi)
{
	/* an element the daemon holds in its depot, "freed" again: with no
	 * client holding any, a published element in no slab and no list */
	uint64_t pub = atomic_load(&vi->v.hdr->nr_published);
	uint8_t *seen = calloc(vi->v.max_elems, 1);
	uint32_t e = 0;

	assert_non_null(seen);
	for (uint32_t c = 0; c < vi->v.nr_cpus; c++) {
		struct slab *sl = slab_of(&vi->v, c);
		uint32_t cnt = SLAB_CW_COUNT(atomic_load(&sl->cw));

		for (uint32_t i = 0; i < cnt && i < vi->v.slab_cap; i++) {
			uint32_t idx = slab_idx_of_off(&vi->v, sl->slots[i]);

			if (idx != SLAB_NIL)
				seen[idx] = 1;
		}
		mark_list(vi, atomic_load(&sl->inbox), seen);
		mark_list(vi, atomic_load(&sl->outbox), seen);
	}
	for (uint32_t k = 0; k < SLAB_MAX_NODES; k++)
		mark_list(vi, atomic_load(slab_spare(&vi->v, k)), seen);
	while (e < pub && seen[e])
		e++;
	assert_true(e < pub);
	free(seen);
	atomic_store(&vi->v.meta[e].next, SLAB_NIL);
	atomic_store(&slab_of(&vi->v, 0)->outbox, slab_list_word(e, 1));
}

static void test_count_past_capacity(void **s) { scribble_and_check(*s, count_past_capacity, "slab count past capacity"); }
static void test_limit_past_capacity(void **s) { scribble_and_check(*s, limit_past_capacity, "slab limit past capacity"); }
static void test_outbox_index_past_end(void **s) { scribble_and_check(*s, outbox_index_past_end, "outbox index past the pool"); }
static void test_outbox_loop(void **s) { scribble_and_check(*s, outbox_loop, "outbox links loop"); }
static void test_inbox_length_lie(void **s) { scribble_and_check(*s, inbox_length_lie, "inbox longer than its links"); }
static void test_outbox_double_free(void **s) { scribble_and_check(*s, outbox_returns_depot_element, "element freed twice"); }
static void test_spare_index_past_end(void **s) { scribble_and_check(*s, spare_index_past_end, "spare index past the pool"); }

/*
 * A client that sets the pool's polling word while the daemon does not
 * poll would make the other clients leave their requests to a poll that
 * never comes: the sweep puts it back, logs it, and the pool keeps
 * working (it is not corruption of anything the daemon follows).
 */
static void test_polling_word_set_by_a_client_is_reset(void **state)
{
	struct e2e *e = *state;
	struct victim vi;

	struct pcpupool_client *c = e2e_client(e);
	open_victim(e, c, &vi, "poller");
	atomic_store(&vi.v.hdr->polling, 1);
	if (!e2e_poll(atomic_load(&vi.v.hdr->polling) == 0, 5000))
		fail_msg("the polling word a client set was never reset");
	assert_string_equal(e2e_pool_state(c, vi.name), "ok");
	assert_true(e2e_log_has(e, "set the shared polling word"));
	expect_serving(vi.pool);
	pcpupool_close(vi.pool);
	pcpupool_disconnect(c);
}

/*
 * A slab slot holding the offset of an element the pool has not published
 * yet (max_elems is large, the pool grows as it needs): the offset is an
 * element's start, so the pop hands it out.  The memory there must be
 * backed, not a SIGBUS for the process that writes the element.  In a
 * child, pinned, so that the slot it scribbles is the one it pops.
 */
static void test_unpublished_element_is_not_a_bus_error(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];
	struct pcpupool_create_opts opts = { .sz = sizeof(opts), .max_elems = 1u << 16 };

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create_opts(c, e2e_name(e, "far", name), 8, 64, 64,
						     &opts);
	assert_non_null(pool);
	pid_t pid = e2e_fork(e);
	if (pid == 0) {
		int cpu = e2e_first_cpu();
		struct pcpupool_client *cc = pcpupool_connect(e->sock);
		struct pcpupool *p = cc ? pcpupool_open(cc, name) : NULL;
		struct slab_view v;

		e2e_pin(cpu);
		void *el = p ? pcpupool_alloc(p, PCPUPOOL_WAIT) : NULL;
		if (!el)
			_exit(2);
		char *base = (char *)el - pcpupool_elem_offset(p, el);
		pcpupool_free(el, p);
		if (slab_view_init(&v, base, ((struct slab_hdr *)base)->map_size, 7) < 0 ||
		    atomic_load(&v.hdr->nr_published) > 60000)
			_exit(3);
		struct slab *sl = slab_of(&v, (uint32_t)cpu);
		uint64_t cw = __atomic_load_n(&sl->cw, __ATOMIC_RELAXED);
		uint32_t n = (uint32_t)(cw & 0xffff);
		if (n + 1 >= sl->limit)
			_exit(4);
		sl->slots[n] = (uint32_t)(60000 * v.hdr->elem_stride);
		__atomic_store_n(&sl->cw, cw + 1, __ATOMIC_RELAXED);
		char *far = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		if (far != base + v.hdr->elems_off + 60000 * v.hdr->elem_stride)
			_exit(5);   /* the pop did not hand it out: nothing tested */
		memset(far, 0x5a, 64);
		_exit(0);
	}
	e2e_expect_child_ok(e, pid, 5000);
	pcpupool_close(pool);
	pcpupool_disconnect(c);
}

/*
 * The per-CPU counters are the clients' to write: at their largest values
 * (where the arithmetic of allocs and frees overflows 64 bits) the stats
 * stay numbers between 0 and INT64_MAX, the daemon (UBSan builds included)
 * lives, and the pool is not taken for corrupt.
 */
static void test_counters_at_their_maximum_read_sane(void **state)
{
	struct e2e *e = *state;
	struct victim vi;

	struct pcpupool_client *c = e2e_client(e);
	open_victim(e, c, &vi, "counters");
	for (uint32_t cpu = 0; cpu < vi.v.nr_cpus; cpu++) {
		struct slab *sl = slab_of(&vi.v, cpu);
		uint64_t cw = __atomic_load_n(&sl->cw, __ATOMIC_RELAXED);

		__atomic_store_n(&sl->cw, (cw & 0xffff) | ~UINT64_C(0xffff), __ATOMIC_RELAXED);
		atomic_store(&sl->spliced, UINT64_C(1) << 63);
		atomic_store(&sl->spilled, UINT64_MAX);
		atomic_store(&sl->discarded, UINT64_MAX);
		atomic_store(&sl->misses, UINT64_MAX);
		atomic_store(&sl->steals, UINT64_C(1) << 63);
		atomic_store(&sl->refill_requests, UINT64_MAX);
		atomic_store(&sl->from_spare, UINT64_MAX);
	}
	for (int round = 0; round < 2; round++) {
		json_t *st = e2e_pool_stats(c, vi.name);
		json_t *cpus = json_object_get(st, "cpus"), *cs, *v;
		size_t i;
		const char *k;

		assert_non_null(st);
		assert_true(json_array_size(cpus) == vi.v.nr_cpus);
		json_array_foreach(cpus, i, cs)
			json_object_foreach(cs, k, v)
				if (json_is_integer(v) && json_integer_value(v) < 0)
					fail_msg("cpu %zu: %s = %lld", i, k,
						 (long long)json_integer_value(v));
		assert_string_equal(json_string_value(json_object_get(st, "state")), "ok");
		json_decref(st);
	}
	expect_serving(vi.pool);
	pcpupool_close(vi.pool);
	pcpupool_disconnect(c);
}

/* the polling word test: a daemon that never polls */
static int setup_no_poll(void **state)
{
	return e2e_setup_config(state, "\"refill_poll_us\": 0,", E2E_SWEEP_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_polling_word_set_by_a_client_is_reset,
						setup_no_poll, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_count_past_capacity, e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_limit_past_capacity, e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_outbox_index_past_end,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_outbox_loop, e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_inbox_length_lie, e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_outbox_double_free, e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_spare_index_past_end, e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_unpublished_element_is_not_a_bus_error,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_counters_at_their_maximum_read_sane,
						e2e_setup, e2e_teardown),
	};
	return cmocka_run_group_tests_name("corrupt", tests, NULL, NULL);
}
