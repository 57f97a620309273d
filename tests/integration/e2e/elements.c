// SPDX-License-Identifier: MIT
/*
 * elements.c - test_e2e: elements are aligned, usable to their full size
 * and never handed out twice; one handed to another process by its offset
 * is the same memory there; offsets and pointers that are not elements
 * are refused, and a free of one is dropped.
 */
#include "e2e_tests.h"

static int cmp_uintptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

static uint8_t pattern_byte(int i, int j)
{
	return (uint8_t)((uint32_t)i * 2654435761u >> (j % 4 * 8)) ^ (uint8_t)(j * 37);
}

void test_elements_aligned_full_size_and_unique(void **state)
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

void test_element_handed_over_by_offset(void **state)
{
	struct e2e *e = *state;
	int n = nr_cpus_conf(), to[2], from[2];
	/* room for every CPU's reserve of 32, twice, on a machine of many */
	uint64_t max = 64u * (uint64_t)n > 1024 ? 64u * (uint64_t)n : 1024;
	struct pcpupool_create_opts o = { .sz = sizeof(o), .max_elems = max };
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN], done = 0, local;
	struct handover h;
	pid_t pid;
	char *x, **held = calloc(32 * (size_t)n + 2, sizeof(*held));
	int nheld = 0;

	assert_non_null(held);

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
	e2e_assert_null_errno(pcpupool_elem_at(p, h.offset + 1), EINVAL);
	e2e_assert_null_errno(pcpupool_elem_at(p, 0), EINVAL);
	e2e_assert_null_errno(pcpupool_elem_at(p, UINT64_MAX), EINVAL);
	/* past max_elems */
	e2e_assert_null_errno(pcpupool_elem_at(p, h.offset + (uint64_t)64 * 2 * max), EINVAL);
	e2e_assert_null_errno(pcpupool_elem_at(NULL, h.offset), EINVAL);
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
	/* at least the first pop, which met the bad free; how many more
	 * depends on which CPUs still hold a reserve once this process runs
	 * on one alone (daemon/place.c closes the others) */
	assert_true(nheld >= 1);
	while (nheld)
		pcpupool_free(held[--nheld], p);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	/* (the reserves may now hold the spare the crossing took: the count
	 * that must hold is the pool's, every element exactly once) */
	e2e_expect_conserved(c, name);
	free(held);

	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}
