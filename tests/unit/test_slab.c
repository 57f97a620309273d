// SPDX-License-Identifier: MIT
/*
 * test_slab.c - unit tests of the slab core: layout, each operation, the
 * empty and full edges, stealing, refill, trim, the non-rseq fallback and
 * corruption detection.  One pool per test, the thread pinned to CPU 0 so
 * "the current CPU's slab" is known.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pooltest.h"
#include "slab_impl.h"   /* the slow paths' sections, for the retired slab */

#define CAP   64
#define NELEM 1024

static int setup(void **state)
{
	return testpool_setup(state, CAP, 48, 16, NELEM) < 0 || pin_to_cpu(0) < 0 ? -1 : 0;
}

#define teardown testpool_teardown

/* Put n consecutive elements starting at first into CPU cpu's inbox. */
static void refill_range(struct testpool *tp, uint32_t cpu, uint32_t first, uint32_t n)
{
	uint32_t idx[SLAB_BATCH_MAX];

	assert_true(n <= SLAB_BATCH_MAX);
	for (uint32_t i = 0; i < n; i++)
		idx[i] = first + i;
	assert_int_equal(slab_list_push(&tp->v, &slab_of(&tp->v, cpu)->inbox, idx, n), 0);
}

static uint32_t alloc1(struct testpool *tp)
{
	int rc;

	return slab_alloc(&tp->v, &rc);
}

static void test_layout_is_aligned_and_consistent(void **state)
{
	struct testpool *tp = *state;
	struct slab_hdr *h = tp->v.hdr;

	assert_int_equal(h->elem_stride, 48);
	assert_int_equal(h->slabs_off % SLAB_CACHELINE, 0);
	assert_int_equal(h->slab_stride % 4096, 0);   /* each slab starts a page */
	assert_true(h->slab_stride >= offsetof(struct slab, slots) + CAP * 4);
	assert_int_equal(h->elems_off % 4096, 0);
	assert_true(h->meta_off >= h->slabs_off + (uint64_t)h->nr_cpus * h->slab_stride);
	assert_true(h->elems_off >= h->meta_off + NELEM * sizeof(struct slab_meta));
	assert_true(h->map_size >= h->elems_off + NELEM * 48ull);
	assert_int_equal(slab_validate_hdr(h, slab_bytes_for(h, NELEM)), 0);
	for (uint32_t i = 0; i < NELEM; i++)
		assert_int_equal((uintptr_t)slab_elem(&tp->v, i) % 16, 0);
}

static void test_layout_rejects_bad_geometry(void **state)
{
	struct slab_hdr h;
	struct slab_geometry ok = { 2, 64, 64, 64, 100, 0 }, g;

	(void)state;
	assert_int_equal(slab_layout(&ok, &h), 0);
	g = ok; g.huge_page_size = 4096;     assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.huge_page_size = SLAB_HUGE_PAGE + 1; assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.nr_cpus = 0;               assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.slab_cap = 0;              assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.elem_size = 0;             assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.elem_align = 48;           assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.elem_align = 8192;         assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.max_elems = 0;             assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.max_elems = SLAB_MAX_ELEMS + 1ull; assert_int_equal(slab_layout(&g, &h), -EINVAL);
	g = ok; g.slab_cap = SLAB_MAX_CAP + 1; assert_int_equal(slab_layout(&g, &h), -EINVAL);
}

/* A pool on hugepages: every area on whole hugepages, the slabs padded to
 * a page boundary before the metadata. */
static void test_layout_on_hugepages(void **state)
{
	const uint64_t hp = SLAB_HUGE_PAGE;
	struct slab_geometry g = { 3, 64, 100, 64, 70000, SLAB_HUGE_PAGE };
	struct slab_hdr h, base;

	(void)state;
	assert_int_equal(slab_layout(&g, &h), 0);
	assert_int_equal(h.huge_page_size, hp);
	assert_int_equal(h.slabs_off, hp);
	assert_int_equal(h.meta_off, 2 * hp);            /* 3 slabs, padded */
	assert_int_equal(h.elems_off, 3 * hp);           /* 560000 bytes of meta */
	assert_int_equal(h.elem_stride, 128);
	assert_int_equal(h.map_size, 3 * hp + 5 * hp);   /* 8960000 bytes of elements */
	assert_int_equal(slab_bytes_for(&h, 0), 3 * hp);
	assert_int_equal(slab_bytes_for(&h, 1), 4 * hp);
	h.magic = SLAB_MAGIC;
	assert_int_equal(slab_validate_hdr(&h, h.map_size), 0);
	/* 512 slabs fill their page exactly, 513 take the next */
	g.nr_cpus = 512;
	assert_int_equal(slab_layout(&g, &h), 0);
	assert_int_equal(h.meta_off, 2 * hp);
	g.nr_cpus = 513;
	assert_int_equal(slab_layout(&g, &h), 0);
	assert_int_equal(h.meta_off, 3 * hp);
	/* the largest: SLAB_MAX_CPUS slabs are 16 MiB, what an inline view maps */
	g.nr_cpus = SLAB_MAX_CPUS;
	assert_int_equal(slab_layout(&g, &h), 0);
	assert_int_equal(h.meta_off - h.slabs_off, (uint64_t)SLAB_MAX_CPUS * SLAB_STRIDE);
	/* a header that claims, or denies, hugepages is not the layout */
	g.nr_cpus = 3;
	assert_int_equal(slab_layout(&g, &h), 0);
	h.magic = SLAB_MAGIC;
	h.huge_page_size = 0;
	assert_int_equal(slab_validate_hdr(&h, 0), -EUCLEAN);
	g.huge_page_size = 0;
	assert_int_equal(slab_layout(&g, &base), 0);
	base.magic = SLAB_MAGIC;
	base.huge_page_size = SLAB_HUGE_PAGE;
	assert_int_equal(slab_validate_hdr(&base, 0), -EUCLEAN);
	base.huge_page_size = 4096;
	assert_int_equal(slab_validate_hdr(&base, 0), -EUCLEAN);
}

static void test_validate_rejects_corrupt_header(void **state)
{
	struct testpool *tp = *state;
	struct slab_hdr *h = tp->v.hdr, saved = *h;
	size_t sz = slab_bytes_for(h, NELEM);

	h->magic = 0;
	assert_int_equal(slab_validate_hdr(h, sz), -EPROTO);
	*h = saved; h->layout_version = 99;
	assert_int_equal(slab_validate_hdr(h, sz), -EPROTO);
	*h = saved; h->elems_off += 4096;
	assert_int_equal(slab_validate_hdr(h, sz), -EUCLEAN);
	*h = saved; atomic_store(&h->nr_published, NELEM + 1);
	assert_int_equal(slab_validate_hdr(h, sz), -EUCLEAN);
	*h = saved;
	assert_int_equal(slab_validate_hdr(h, sz - 4096), -EUCLEAN); /* file too short */
	*h = saved;
	assert_int_equal(slab_validate_hdr(h, sz), 0);
}

static void test_empty_pool_misses_and_asks_once(void **state)
{
	struct testpool *tp = *state;
	int rc;

	assert_int_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
	assert_int_equal(rc, 0);  /* our CPU's refill requested */
	assert_int_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
	assert_int_equal(rc, -1); /* coalesced: one request outstanding */
	assert_int_equal(atomic_load(&slab_of(&tp->v, 0)->refill_requests), 1);
}

static void test_refill_then_alloc_drains_in_order(void **state)
{
	struct testpool *tp = *state;
	uint32_t seen[40] = { 0 };

	refill_range(tp, 0, 100, 40);
	assert_int_equal(slab_level(&tp->v, 0), 40);
	for (int i = 0; i < 40; i++) {
		uint32_t idx = alloc1(tp);
		assert_true(idx >= 100 && idx < 140);
		assert_int_equal(seen[idx - 100]++, 0);   /* never twice */
		assert_int_equal(atomic_load(&tp->v.meta[idx].owner), tp->v.owner);
		if (i == 0) /* the inbox went into the slab, minus the one returned */
			assert_int_equal(slab_count(&tp->v, 0), 39);
	}
	assert_int_equal(slab_level(&tp->v, 0), 0);
	assert_int_equal(alloc1(tp), SLAB_NIL);
}

static void test_free_then_alloc_is_lifo(void **state)
{
	struct testpool *tp = *state;

	slab_free(&tp->v, 7);
	slab_free(&tp->v, 9);
	assert_int_equal(slab_count(&tp->v, 0), 2);
	assert_int_equal(alloc1(tp), 9);
	assert_int_equal(alloc1(tp), 7);
	assert_int_equal(slab_count(&tp->v, 0), 0);
}

static void test_elements_are_usable_full_size(void **state)
{
	struct testpool *tp = *state;
	uint32_t idx[40];

	refill_range(tp, 0, 0, 40);
	for (int i = 0; i < 40; i++) {
		idx[i] = alloc1(tp);
		memset(slab_elem(&tp->v, idx[i]), i, 48);
	}
	for (int i = 0; i < 40; i++) {
		unsigned char *p = slab_elem(&tp->v, idx[i]);
		for (int b = 0; b < 48; b++)
			assert_int_equal(p[b], i);
		slab_free(&tp->v, idx[i]);
	}
}

static void test_full_slab_spills_to_outbox(void **state)
{
	struct testpool *tp = *state;
	uint32_t buf[NELEM], n = 0, total;

	slab_set_limits(&tp->v, 0, 0, 16);
	for (uint32_t i = 0; i < 100; i++)
		slab_free(&tp->v, i);
	assert_true(slab_count(&tp->v, 0) <= 16);
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), 0);
	total = n + slab_count(&tp->v, 0);
	assert_int_equal(total, 100);
	/* the daemon got each spilled element once */
	uint8_t seen[100] = { 0 };
	for (uint32_t i = 0; i < n; i++) {
		assert_true(buf[i] < 100);
		assert_int_equal(seen[buf[i]]++, 0);
	}
}

/* A retired slab (slab.h, "retired"): every section leaves it untouched,
 * frees go to the outbox, and the daemon's take gets exactly its slots,
 * once, and fails when a section committed after its snapshot. */
static void test_a_retired_slab_is_left_alone_and_taken_whole(void **state)
{
	struct testpool *tp = *state;
	uint32_t buf[NELEM], n, bad, k, idx = SLAB_NIL, left;
	struct slab *s;
	void *p;
	uint64_t cw;

	slab_set_limits(&tp->v, 0, 0, 32);
	for (uint32_t i = 0; i < 20; i++)
		slab_free(&tp->v, i);
	assert_int_equal(slab_count(&tp->v, 0), 20);
	cw = slab_count_word(&tp->v, 0);
	/* a snapshot older than a commit: nothing taken */
	slab_retire(&tp->v, 0);
	assert_true(slab_retired(&tp->v, 0));
	slab_set_limits(&tp->v, 0, 0, 32);
	slab_free(&tp->v, 20);
	slab_retire(&tp->v, 0);
	assert_int_equal(slab_take_retired(&tp->v, 0, cw, buf, &n, &bad), -EAGAIN);
	assert_int_equal(slab_count(&tp->v, 0), 21);

	cw = slab_count_word(&tp->v, 0);
	assert_int_equal(slab_hit_pop(&tp->v, &p), 0);
	assert_int_equal(slab_hit_push(&tp->v, slab_elem(&tp->v, 30), slab_off_of(&tp->v, 30)), 0);
	if (slab_rseq_available()) {
		assert_int_equal(slab_rseq_pop(&tp->v, &idx, &left, &s), SLAB_POP_EMPTY);
		buf[0] = slab_off_of(&tp->v, 31);
		assert_int_equal(slab_rseq_splice(&tp->v, buf, 1, &s), 0);
		assert_int_equal(slab_rseq_spill(&tp->v, buf, NELEM, &s), 0);
	}
	slab_free(&tp->v, 40);          /* goes to the outbox */
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(buf[0], 40);
	assert_int_equal(slab_count_word(&tp->v, 0), cw);

	assert_int_equal(slab_take_retired(&tp->v, 0, cw, buf, &n, &bad), 0);
	assert_int_equal(n, 21);
	assert_int_equal(bad, 0);
	uint8_t seen[21] = { 0 };
	for (uint32_t i = 0; i < n; i++) {
		assert_true(buf[i] < 21);
		assert_int_equal(seen[buf[i]]++, 0);
	}
	assert_int_equal(slab_count(&tp->v, 0), 0);
	/* the counts still add up: what left is counted as spilled */
	uint64_t allocs, frees;
	slab_cpu_counts(&tp->v, 0, &allocs, &frees);
	assert_int_equal(allocs, 0);
	assert_int_equal(frees, 21);
	/* a second take with the old snapshot takes nothing */
	assert_int_equal(slab_take_retired(&tp->v, 0, cw, buf, &n, &bad), -EAGAIN);
	/* opened again, it serves */
	slab_set_limits(&tp->v, 0, 0, 32);
	assert_false(slab_retired(&tp->v, 0));
	slab_free(&tp->v, 50);
	assert_int_equal(alloc1(tp), 50);
}

/* Slots a client forged in a retired slab are dropped, not taken. */
static void test_a_retired_slab_drops_forged_slots(void **state)
{
	struct testpool *tp = *state;
	uint32_t buf[NELEM], n, bad;
	struct slab *s = slab_of(&tp->v, 0);
	uint64_t cw;

	slab_set_limits(&tp->v, 0, 0, 32);
	for (uint32_t i = 0; i < 4; i++)
		slab_free(&tp->v, i);
	slab_retire(&tp->v, 0);
	s->slots[1] = slab_off_of(&tp->v, 2) + 1;        /* not an element's start */
	s->slots[2] = UINT32_MAX;                        /* past the pool */
	cw = slab_count_word(&tp->v, 0);
	assert_int_equal(slab_take_retired(&tp->v, 0, cw, buf, &n, &bad), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bad, 2);
	/* a count past the capacity is corruption */
	__atomic_store_n(&s->cw, cw + CAP + 1, __ATOMIC_RELAXED);
	cw = slab_count_word(&tp->v, 0);
	assert_int_equal(slab_take_retired(&tp->v, 0, cw, buf, &n, &bad), -EUCLEAN);
}

static void test_capacity_is_the_hard_limit(void **state)
{
	struct testpool *tp = *state;
	uint32_t buf[NELEM], n;

	/* limit above cap is clamped: the slab never holds more than CAP */
	slab_set_limits(&tp->v, 0, 0, 10 * CAP);
	for (uint32_t i = 0; i < 3 * CAP; i++)
		slab_free(&tp->v, i);
	assert_true(slab_count(&tp->v, 0) <= CAP);
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), 0);
	assert_int_equal(n + slab_count(&tp->v, 0), 3 * CAP);
}

static void test_lowering_limit_trims_at_next_free(void **state)
{
	struct testpool *tp = *state;
	uint32_t buf[NELEM], n;

	for (uint32_t i = 0; i < 40; i++)
		slab_free(&tp->v, i);
	assert_int_equal(slab_count(&tp->v, 0), 40);
	slab_set_limits(&tp->v, 0, 0, 8);       /* daemon: trim CPU 0 */
	slab_free(&tp->v, 40);
	assert_int_equal(slab_count(&tp->v, 0), 5); /* spilled to 8/2, then pushed */
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), 0);
	assert_int_equal(n, 36);
	slab_set_limits(&tp->v, 0, 0, 0);       /* trim to nothing */
	slab_free(&tp->v, 41);
	assert_int_equal(slab_count(&tp->v, 0), 0);
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), 0);
	assert_int_equal(n, 6);
}

static void test_empty_cpu_steals_other_inbox(void **state)
{
	struct testpool *tp = *state;

	if (tp->v.nr_cpus < 2)
		skip();
	refill_range(tp, 1, 500, 10);
	uint32_t idx = alloc1(tp);       /* we are on CPU 0: its reserve is empty */
	assert_true(idx >= 500 && idx < 510);
	/* the batch came over to our slab, nothing left behind or lost */
	assert_int_equal(slab_level(&tp->v, 1), 0);
	assert_int_equal(slab_count(&tp->v, 0), 9);
}

static void test_low_watermark_requests_exactly_once(void **state)
{
	struct testpool *tp = *state;
	int rc, requests = 0;

	slab_set_limits(&tp->v, 0, 8, CAP);
	refill_range(tp, 0, 0, 32);
	for (int i = 0; i < 32; i++) {
		assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
		if (rc >= 0) {
			assert_int_equal(rc, 0);
			requests++;
		}
	}
	assert_int_equal(requests, 1);
	/* the daemon acknowledges: the deficit is computed after the flag is
	 * cleared; the next crossing asks again */
	uint64_t waited;
	assert_int_equal(slab_claim_request(&tp->v, 0, 32, &waited), 32);
	assert_true(waited > 0);   /* a request was pending */
	refill_range(tp, 0, 32, 32);
	requests = 0;
	for (int i = 0; i < 32; i++) {
		assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
		requests += rc >= 0;
	}
	assert_int_equal(requests, 1);
}

static void test_reserve_in_inbox_suppresses_request(void **state)
{
	struct testpool *tp = *state;
	int rc;

	slab_set_limits(&tp->v, 0, 8, CAP);
	refill_range(tp, 0, 0, 10);
	assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL); /* 9 in slab */
	refill_range(tp, 0, 10, 10);                             /* inbox: 10 */
	for (int i = 0; i < 9; i++) {
		assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
		assert_int_equal(rc, -1);
	}
}

static void test_fallback_without_rseq_uses_lists_only(void **state)
{
	struct testpool *tp = *state;
	struct slab_view nr = tp->v;
	int rc;

	nr.rseq_cpus = 0;   /* what a process with glibc.pthread.rseq=0 sees */
	void *p;   /* left unused on purpose: GCC 12 once deleted the section
		    * then, returning 1 (see pcpupool__pop()) */

	assert_int_equal(slab_hit_pop(&nr, &p), 0);
	assert_int_equal(slab_hit_push(&nr, nr.elems, 0), 0);
	refill_range(tp, 0, 200, 5);
	uint32_t a = slab_alloc(&nr, &rc), b = slab_alloc(&nr, &rc);
	assert_true(a >= 200 && a < 205 && b >= 200 && b < 205 && a != b);
	assert_int_equal(slab_count(&tp->v, 0), 0);  /* never wrote the slab */
	assert_int_equal(slab_level(&tp->v, 0), 3);
	slab_free(&nr, a);
	assert_int_equal(slab_count(&tp->v, 0), 0);
	assert_int_equal(slab_level(&tp->v, 0), 4);
	/* an rseq client shares the same reserve */
	uint32_t c = alloc1(tp);
	assert_true(c >= 200 && c < 205);
}

static void test_corrupt_lists_are_detected(void **state)
{
	struct testpool *tp = *state;
	struct slab *s = slab_of(&tp->v, 0);
	uint32_t buf[NELEM], n;

	/* index past the published elements */
	atomic_store(&s->outbox, slab_list_word(NELEM + 5, 1));
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), -EUCLEAN);
	/* a loop: 3 -> 4 -> 3 claiming length 2 is fine, length 5 walks past
	 * its end only via the loop; length 2 with a non-NIL tail is a lie */
	atomic_store(&tp->v.meta[3].next, 4);
	atomic_store(&tp->v.meta[4].next, 3);
	atomic_store(&s->outbox, slab_list_word(3, 2));
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), -EUCLEAN);
	/* a loop in a chain longer than the buffer: 3 -> 3, length 100,
	 * taken 30 at a time, must not hand out 3 thirty times */
	atomic_store(&tp->v.meta[3].next, 3);
	atomic_store(&slab_of(&tp->v, 0)->inbox, slab_list_word(3, 100));
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->inbox, buf, 30, &n), -EUCLEAN);
	/* a length past the pool's size */
	atomic_store(&tp->v.meta[3].next, SLAB_NIL);
	atomic_store(&s->outbox, slab_list_word(3, NELEM + 1));
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), -EUCLEAN);
	/* a chain that ends before its stated length */
	atomic_store(&tp->v.meta[4].next, SLAB_NIL);
	atomic_store(&s->outbox, slab_list_word(3, 7));
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), -EUCLEAN);
	/* a corrupt slot in the slab is not handed out, but dropped: an
	 * offset past the pool, then one inside an element */
	s->cw = 1;
	s->slots[0] = (NELEM + 100) * 48;
	assert_int_equal(alloc1(tp), SLAB_NIL);
	assert_int_equal(slab_count(&tp->v, 0), 0);
	assert_int_equal(atomic_load(&s->discarded), 1);
	refill_range(tp, 1, 0, 1);   /* the slow path must not hand it out either */
	s->cw = 2;
	s->slots[0] = 5 * 48;
	s->slots[1] = 7 * 48 + 8;
	assert_int_equal(alloc1(tp), 5);
	assert_int_equal(atomic_load(&s->discarded), 2);
	assert_int_equal(slab_count(&tp->v, 0), 0);
}

/* The pool's spare holds 31 elements (500..530, also left in @idx), CPU
 * 0's reserve 40 = min_nr, its low watermark 10. */
static void spare_setup(struct testpool *tp, uint32_t idx[31])
{
	for (uint32_t i = 0; i < 31; i++)
		idx[i] = 500 + i;
	assert_int_equal(slab_list_push(&tp->v, &tp->v.hdr->spare, idx, 31), 0);
	atomic_store(&tp->v.hdr->min_nr, 40);
	slab_set_limits(&tp->v, 0, 10, CAP);
	refill_range(tp, 0, 0, 40);
}

static void test_crossing_takes_the_spare_at_once(void **state)
{
	struct testpool *tp = *state;
	struct slab *s = slab_of(&tp->v, 0);
	uint32_t idx[31];
	int rc = -1;

	spare_setup(tp, idx);
	/* 40 in the reserve: the 31st allocation leaves 9 < 10 */
	for (int i = 0; i < 30; i++) {
		assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
		assert_int_equal(rc, -1);
	}
	assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
	assert_int_equal(rc, 0);                           /* asks the daemon */
	assert_int_equal(slab_level(&tp->v, 0), 40);       /* 9 + the spare's 31 */
	assert_int_equal(atomic_load(&s->from_spare), 31);
	assert_int_equal(slab_list_len(atomic_load(&tp->v.hdr->spare)), 0);
	/* the next crossing finds the spare empty and the request pending */
	for (int i = 0; i < 31; i++)
		assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
	assert_int_equal(rc, -1);
	assert_int_equal(slab_level(&tp->v, 0), 9);
	assert_int_equal(atomic_load(&s->refill_coalesced), 1);
	assert_int_equal(atomic_load(&s->from_spare), 31);
}

/* While the daemon polls, a crossing the spare covered raises its flag
 * quietly (no message); the allocation that then finds the reserve short
 * takes the request over and sends it; once the daemon has stopped
 * polling, a crossing sends again. */
static void test_quiet_request_while_the_daemon_polls(void **state)
{
	struct testpool *tp = *state;
	struct slab *s = slab_of(&tp->v, 0);
	uint32_t idx[31];
	uint64_t waited;
	int rc = -1;

	spare_setup(tp, idx);
	slab_poll_set(&tp->v, true);
	for (int i = 0; i < 31; i++) {
		assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
		assert_int_equal(rc, -1);                  /* nothing to send */
	}
	assert_int_equal(slab_level(&tp->v, 0), 40);       /* the spare landed */
	assert_true(slab_request_raised(&tp->v, 0));
	assert_int_equal(atomic_load(&s->refill_pending), SLAB_REQ_QUIET);
	assert_int_equal(atomic_load(&s->refill_quiet), 1);
	assert_int_equal(atomic_load(&s->refill_requests), 0);
	/* the spare is gone: the next crossing needs the daemon now */
	for (int i = 0; i < 30; i++) {
		assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
		assert_int_equal(rc, -1);
	}
	assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
	assert_int_equal(rc, 0);                           /* sent after all */
	assert_int_equal(atomic_load(&s->refill_pending), SLAB_REQ_SENT);
	assert_int_equal(atomic_load(&s->refill_requests), 1);
	assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
	assert_int_equal(rc, -1);                          /* coalesced */
	assert_int_equal(atomic_load(&s->refill_coalesced), 1);
	/* the daemon serves it and stops polling: a crossing sends again */
	assert_int_equal(slab_claim_request(&tp->v, 0, 40, &waited), 40 - 8);
	assert_false(slab_request_raised(&tp->v, 0));
	slab_poll_set(&tp->v, false);
	for (uint32_t i = 0; i < 31; i++)
		idx[i] = 600 + i;      /* elements no one holds */
	assert_int_equal(slab_list_push(&tp->v, &tp->v.hdr->spare, idx, 31), 0);
	refill_range(tp, 0, 700, 10);
	assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);   /* 17 left */
	while (rc < 0 && slab_level(&tp->v, 0) >= 10)
		assert_int_not_equal(slab_alloc(&tp->v, &rc), SLAB_NIL);
	assert_int_equal(rc, 0);
	assert_int_equal(atomic_load(&s->refill_pending), SLAB_REQ_SENT);
	assert_int_equal(atomic_load(&s->refill_quiet), 1);
	assert_int_equal(atomic_load(&s->refill_requests), 2);
}

#ifdef PCPUPOOL_HAVE_SECTIONS
/* PCPUPOOL__CHECK_OFF_TO() of pcpupool.h, run on its own: the index of
 * the element at @off, or SLAB_NIL where the sections would leave. */
static uint32_t asm_idx_of_off(const struct slab_view *v, uint32_t off)
{
	const struct pcpupool_fast *f = slab_fast(v);
	uint32_t idx;

	__asm__("movl %k[o], %%eax\n\t"
		PCPUPOOL__CHECK_OFF_TO("1f")
		"movl %%edx, %k[idx]\n\t"
		"jmp 2f\n\t"
		"1:\n\t"
		"movl $-1, %k[idx]\n\t"
		"2:\n\t"
		: [idx] "=r"(idx)
		: [o] "r"(off), [f] "r"(f), [fast] "m"(*f), PCPUPOOL__ELEM_OPERANDS
		: "rax", "rdx", "cc");
	return idx;
}
#endif

/* One offset against the pool: both checks agree with the arithmetic. */
static void check_off(const struct slab_view *v, uint64_t off)
{
	uint64_t s = v->elem_stride;
	uint32_t want = off % s == 0 && off / s < v->max_elems ? (uint32_t)(off / s) : SLAB_NIL;

	if (slab_idx_of_off(v, off) != want)
		fail_msg("stride %llu, %u elements: offset %llu gave %u, not %u",
			 (unsigned long long)s, v->max_elems, (unsigned long long)off,
			 slab_idx_of_off(v, off), want);
#ifdef PCPUPOOL_HAVE_SECTIONS
	if (off <= UINT32_MAX && asm_idx_of_off(v, (uint32_t)off) != want)
		fail_msg("stride %llu, %u elements: the sections' check of %llu gave %u, not %u",
			 (unsigned long long)s, v->max_elems, (unsigned long long)off,
			 asm_idx_of_off(v, (uint32_t)off), want);
#endif
}

/* The pop's one multiplication and one compare (pf_div, pf_bound) accept
 * exactly the offsets of the pool's elements and give their indexes, for
 * strides odd and even, powers of two and not, up to 2^30, and pools
 * whose elements reach the 4 GiB the offsets can address. */
static void test_offset_check_is_exact(void **state)
{
	static const struct { uint64_t size, align, max; } geo[] = {
		{ 8, 8, 1000 }, { 3, 8, 999 }, { 24, 8, 1000 }, { 48, 16, 500 },
		{ 64, 64, 1u << 20 }, { 72, 8, 777 }, { 1000, 8, 333 },
		{ 1024, 1024, 4096 }, { 4104, 8, 100 }, { 12288, 4096, 7 },
		{ 1u << 20, 4096, 4096 }, { 1u << 30, 4096, 4 }, { (1u << 30) - 8, 8, 4 },
	};
	uint64_t rnd = 88172645463325252ull;

	(void)state;
	for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
		struct testpool tp;

		assert_int_equal(testpool_make(&tp, CAP, geo[g].size, geo[g].align, geo[g].max), 0);
		const struct slab_view *v = &tp.v;
		uint64_t s = v->elem_stride, nr = v->max_elems;

		/* every offset of the first elements and past the last */
		for (uint64_t off = 0; off < 3 * s && off < 70000; off++) {
			check_off(v, off);
			check_off(v, (nr - 1) * s + off);
		}
		/* around every element's start (a sample of them if many) */
		for (uint64_t k = 0; k <= nr + 1; k += 1 + nr / 4096) {
			for (int d = -2; d <= 2; d++)
				if (k * s + (uint64_t)(int64_t)d <= UINT32_MAX)
					check_off(v, k * s + (uint64_t)(int64_t)d);
		}
		check_off(v, nr * s);
		check_off(v, UINT32_MAX);
		check_off(v, (uint64_t)UINT32_MAX + 1);
		check_off(v, UINT64_MAX);
		for (int i = 0; i < 20000; i++) {
			rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
			check_off(v, (uint32_t)rnd);
			check_off(v, (uint32_t)rnd / s * s);   /* a start, maybe past the pool */
		}
		testpool_free(&tp);
	}
}

static void test_free_of_a_non_element_is_dropped(void **state)
{
	struct testpool *tp = *state;
	char *e3 = slab_elem(&tp->v, 3);

	slab_free_elem(&tp->v, e3 + 8);          /* inside an element */
	slab_free_elem(&tp->v, e3 - 4096 * 64);  /* before the pool */
	slab_free_elem(&tp->v, slab_elem(&tp->v, NELEM)); /* past it */
	slab_free_elem(&tp->v, tp->v.elems + ((size_t)1 << 32)); /* past the block */
	slab_free_elem(&tp->v, NULL);
	/* those in the 4 GiB from the first element reached the slab (free
	 * checks only that); pop drops them */
	assert_int_equal(slab_count(&tp->v, 0), 2);
	assert_int_equal(alloc1(tp), SLAB_NIL);
	assert_int_equal(atomic_load(&slab_of(&tp->v, 0)->discarded), 2);
	assert_int_equal(slab_level(&tp->v, 0), 0);
}

/* A hostile process sets limit past the page and the count at its end:
 * the push must not store slots[976], which is the next page's first word
 * (CPU 1's count word); the element goes to the outbox instead. */
static void test_corrupt_limit_never_writes_past_the_page(void **state)
{
	struct testpool *tp = *state;
	struct slab *s0 = slab_of(&tp->v, 0);
	unsigned char *after = (unsigned char *)s0 + SLAB_STRIDE, before[256];
	uint32_t buf[NELEM], n;

	memcpy(before, after, sizeof(before));
	s0->limit = SLAB_SLOT_MASK;
	s0->cw = SLAB_MAX_CAP;                  /* count 976: the page is full */
	slab_free(&tp->v, 5);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(s0->cw & 0xffff, SLAB_MAX_CAP);
	assert_int_equal(slab_list_take(&tp->v, &slab_of(&tp->v, 0)->outbox, buf, NELEM, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(buf[0], 5);
	s0->cw = 0;
	s0->limit = CAP;
}

static void test_counts_are_derived_exactly(void **state)
{
	struct testpool *tp = *state;
	uint64_t allocs, frees;
	uint32_t held[40];

	refill_range(tp, 0, 0, 60);          /* 1 handed out, 59 spliced */
	held[0] = alloc1(tp);
	for (int i = 1; i < 40; i++)
		held[i] = alloc1(tp);            /* 39 pops */
	for (int i = 0; i < 40; i++)
		slab_free(&tp->v, held[i]);      /* 40 pushes */
	slab_cpu_counts(&tp->v, 0, &allocs, &frees);
	assert_int_equal(allocs, 39);
	assert_int_equal(frees, 40);
	assert_int_equal(atomic_load(&slab_of(&tp->v, 0)->spliced), 59);
	/* fill to the limit (CAP): the next free spills to CAP / 2 */
	slab_set_limits(&tp->v, 0, 0, 62);
	for (uint32_t i = 100; slab_count(&tp->v, 0) < 62; i++)
		slab_free(&tp->v, i);
	slab_free(&tp->v, 200);
	assert_int_equal(atomic_load(&slab_of(&tp->v, 0)->spilled), 31);
	slab_cpu_counts(&tp->v, 0, &allocs, &frees);
	assert_int_equal(allocs, 39);
	assert_int_equal(frees, 40 + (62 - 60) + 1);
}

static void test_take_more_than_buffer_puts_back_rest(void **state)
{
	struct testpool *tp = *state;
	uint32_t buf[NELEM], n, cpu = 1 % tp->v.nr_cpus;
	_Atomic uint64_t *inbox = &slab_of(&tp->v, cpu)->inbox;

	refill_range(tp, cpu, 0, 100);
	assert_int_equal(slab_list_take(&tp->v, inbox, buf, 30, &n), 0);
	assert_int_equal(n, 30);
	assert_int_equal(slab_level(&tp->v, cpu), 70);
	assert_int_equal(slab_list_take(&tp->v, inbox, buf, NELEM, &n), 0);
	assert_int_equal(n, 70);
	for (uint32_t i = 0; i < 70; i++)
		assert_int_equal(buf[i], 30 + i);
}

/* ---- the inline sections' view (pcpupool.h's pcpupool__pop/push) ---- */

#ifdef SLAB_HAVE_RSEQ
static struct slab *slab_at_base(struct testpool *tp, uint32_t cpu)
{
	return (struct slab *)((char *)tp->base + tp->layout.slabs_off +
			       (size_t)cpu * SLAB_STRIDE);
}

/* Map the pool of @tp again with its first element off a 4 GiB boundary:
 * the inline free's offsets would be wrong there. */
static char *map_unaligned(struct testpool *tp, char **ret_res, size_t *ret_len)
{
	size_t len = tp->layout.map_size + 2 * 4096;
	char *res = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *at;

	assert_true(res != MAP_FAILED);
	at = res + 4096;
	if (((uintptr_t)(at + tp->layout.elems_off) & UINT32_MAX) == 0)
		at += 4096;
	assert_true(mmap(at, tp->layout.map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 tp->fd, 0) == at);
	*ret_res = res;
	*ret_len = len;
	return at;
}

/* A view from slab_view_init() alone has no pages for the inline sections
 * (the daemon's need none).  slab_view_map_inline() gives them the slabs,
 * at one address the whole library then uses, the same memory as the
 * pool's mapping; or, on a mapping whose elements are off a 4 GiB
 * boundary, zero pages on which they leave on every CPU. */
static void test_inline_sections_need_map_inline(void **state)
{
	struct testpool *tp = *state;
	const struct pcpupool_fast *f = slab_fast(&tp->v);
	struct slab_view v2;
	void *p = NULL;
	size_t len;
	uint64_t cw;

	slab_set_limits(&tp->v, 0, 0, CAP);
	refill_range(tp, 0, 0, 20);
	uint32_t a = alloc1(tp);                /* the rest spliced, ours */

	assert_int_not_equal(a, SLAB_NIL);
	assert_null(f->pf_slabs);
	cw = slab_of(&tp->v, 0)->cw;

	char *un, *base2 = map_unaligned(tp, &un, &len);

	assert_int_equal(slab_view_init(&v2, base2, tp->layout.map_size, 1), 0);
	assert_int_equal(slab_view_map_inline(&v2, tp->fd), 0);
	if (slab_rseq_available()) {
		const struct pcpupool_fast *f2 = slab_fast(&v2);
		char *e = slab_elem(&v2, a);

		assert_non_null(f2->pf_slabs);
		assert_int_equal(pcpupool__pop(f2, __rseq_offset, &p), 0);
		assert_int_equal(pcpupool__push(f2, __rseq_offset, e, (uint32_t)(uintptr_t)e), 0);
		assert_int_equal(slab_of(&tp->v, 0)->cw, cw);
		for (size_t off = 0; off < (size_t)PCPUPOOL__SLABS_PAGES * SLAB_STRIDE; off += 4096)
			assert_int_equal(f2->pf_slabs[off] | f2->pf_slabs[off + 8] |
					 f2->pf_slabs[off + 12], 0);
	}
	slab_view_fini(&v2);
	munmap(un, len);

	assert_int_equal(slab_view_map_inline(&tp->v, tp->fd), slab_rseq_available());
	if (!slab_rseq_available())
		return;   /* glibc.pthread.rseq=0: no section runs anywhere */
	assert_ptr_equal(f->pf_slabs, tp->v.slabs);
	assert_int_equal(slab_view_map_inline(&tp->v, tp->fd), 1);   /* once */
	assert_ptr_equal(f->pf_slabs, tp->v.inline_map);
	assert_int_equal(slab_at_base(tp, 0)->cw, cw);

	assert_int_equal(pcpupool__pop(f, __rseq_offset, &p), 1);
	assert_int_not_equal(slab_index_of(&tp->v, p), SLAB_NIL);
	assert_int_equal(slab_at_base(tp, 0)->cw & 0xffff, (cw & 0xffff) - 1);
	assert_int_equal(pcpupool__push(f, __rseq_offset, p, (uint32_t)(uintptr_t)p), 1);
	assert_int_equal(slab_at_base(tp, 0)->cw & 0xffff, cw & 0xffff);
	/* past the pool's slabs: zeros */
	for (uint32_t c = tp->v.nr_cpus; c < PCPUPOOL__SLABS_PAGES; c++)
		assert_int_equal(*(const uint64_t *)(f->pf_slabs + (size_t)c * 4096), 0);
	slab_free(&tp->v, a);
}

/* The inline free pushes any address in the 4 GiB block of the elements
 * and nothing else; the pop hands out only elements, and the library's
 * pop drops (and counts) what is not one. */
static void test_inline_push_checks_the_block_and_pop_the_offset(void **state)
{
	struct testpool *tp = *state;
	const struct pcpupool_fast *f = slab_fast(&tp->v);
	char *e5 = slab_elem(&tp->v, 5), *far = tp->v.elems + ((size_t)1 << 32);
	char local[8];
	void *p = NULL;

	if (slab_view_map_inline(&tp->v, tp->fd) != 1) {
		assert_false(slab_rseq_available());
		return;
	}
	slab_set_limits(&tp->v, 0, 0, CAP);
	assert_int_equal(pcpupool__push(f, __rseq_offset, local, (uint32_t)(uintptr_t)local), 0);
	assert_int_equal(pcpupool__push(f, __rseq_offset, far, (uint32_t)(uintptr_t)far), 0);
	assert_int_equal(slab_count(&tp->v, 0), 0);
	assert_int_equal(pcpupool__push(f, __rseq_offset, e5 + 8, (uint32_t)(uintptr_t)(e5 + 8)), 1);
	assert_int_equal(slab_count(&tp->v, 0), 1);
	assert_int_equal(pcpupool__pop(f, __rseq_offset, &p), 0);  /* not an element */
	assert_int_equal(alloc1(tp), SLAB_NIL);                    /* dropped */
	assert_int_equal(atomic_load(&slab_of(&tp->v, 0)->discarded), 1);
	assert_int_equal(slab_count(&tp->v, 0), 0);
	/* an element whose owner mark is another process's: the library */
	atomic_store(&tp->v.meta[5].owner, 99);
	assert_int_equal(pcpupool__push(f, __rseq_offset, e5, (uint32_t)(uintptr_t)e5), 1);
	assert_int_equal(pcpupool__pop(f, __rseq_offset, &p), 0);
	assert_int_equal(alloc1(tp), 5);
	assert_int_equal(atomic_load(&tp->v.meta[5].owner), 1);
	slab_free(&tp->v, 5);
	assert_int_equal(pcpupool__pop(f, __rseq_offset, &p), 1);
	assert_ptr_equal(p, e5);
	/* a corrupt count: the pop masks it, reads inside the slab's page
	 * or the start of the next, and hands out no non-element */
	struct slab *s0 = slab_of(&tp->v, 0);
	uint64_t cw = s0->cw;

	s0->cw = (cw & ~(uint64_t)0xffff) | 0xffff;
	if (pcpupool__pop(f, __rseq_offset, &p) == 1)
		assert_int_not_equal(slab_index_of(&tp->v, p), SLAB_NIL);
	s0->cw = cw;
}

/* A CPU the pool has no slab for: its page is zeros, both sections leave
 * (the id is below PCPUPOOL__MAX_CPUS, so only the page stops them). */
static void test_inline_sections_leave_on_a_cpu_without_a_slab(void **state)
{
	struct testpool tp;
	void *p = NULL;
	(void)state;

	if (get_nprocs() < 2) {
		print_message("one CPU online: no CPU without a slab to run on\n");
		return;
	}
	assert_int_equal(testpool_make_cpus(&tp, 1, CAP, 48, 16, NELEM), 0);
	if (slab_view_map_inline(&tp.v, tp.fd) != 1) {
		assert_false(slab_rseq_available());
		testpool_free(&tp);
		return;
	}
	const struct pcpupool_fast *f = slab_fast(&tp.v);
	char *e = slab_elem(&tp.v, 0);

	assert_int_equal(pin_to_cpu(1), 0);
	assert_int_equal(pcpupool__push(f, __rseq_offset, e, (uint32_t)(uintptr_t)e), 0);
	assert_int_equal(pcpupool__pop(f, __rseq_offset, &p), 0);
	assert_int_equal(*(const uint64_t *)(f->pf_slabs + 4096), 0);
	assert_int_equal(pin_to_cpu(0), 0);
	slab_set_limits(&tp.v, 0, 0, CAP);
	assert_int_equal(pcpupool__push(f, __rseq_offset, e, (uint32_t)(uintptr_t)e), 1);
	assert_int_equal(slab_count(&tp.v, 0), 1);
	testpool_free(&tp);
}
#else
static void test_inline_sections_need_map_inline(void **state)
{
	struct testpool *tp = *state;

	assert_int_equal(slab_view_map_inline(&tp->v, tp->fd), 0);
}
#define test_inline_push_checks_the_block_and_pop_the_offset test_inline_sections_need_map_inline
#define test_inline_sections_leave_on_a_cpu_without_a_slab test_inline_sections_need_map_inline
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layout_is_aligned_and_consistent, setup, teardown),
		cmocka_unit_test(test_layout_rejects_bad_geometry),
		cmocka_unit_test(test_layout_on_hugepages),
		cmocka_unit_test_setup_teardown(test_validate_rejects_corrupt_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_pool_misses_and_asks_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refill_then_alloc_drains_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_then_alloc_is_lifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elements_are_usable_full_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_slab_spills_to_outbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capacity_is_the_hard_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lowering_limit_trims_at_next_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_cpu_steals_other_inbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_low_watermark_requests_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_in_inbox_suppresses_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallback_without_rseq_uses_lists_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_lists_are_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_more_than_buffer_puts_back_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crossing_takes_the_spare_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_request_while_the_daemon_polls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_of_a_non_element_is_dropped, setup, teardown),
		cmocka_unit_test(test_offset_check_is_exact),
		cmocka_unit_test_setup_teardown(test_counts_are_derived_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_limit_never_writes_past_the_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_sections_need_map_inline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_push_checks_the_block_and_pop_the_offset,
						setup, teardown),
		cmocka_unit_test(test_inline_sections_leave_on_a_cpu_without_a_slab),
		cmocka_unit_test_setup_teardown(test_a_retired_slab_is_left_alone_and_taken_whole,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_retired_slab_drops_forged_slots, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("slab", tests, NULL, NULL);
}
