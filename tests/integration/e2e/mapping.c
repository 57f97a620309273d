// SPDX-License-Identifier: MIT
/*
 * mapping.c - test_e2e: the mapping the inline path needs (elements on a
 * 4 GiB boundary, the inline sections on where rseq is), and a process
 * with no 4 GiB of address space to spare, which works through the
 * library with the inline sections off.
 */
#include <sys/resource.h>
#include <sys/rseq.h>

#include "e2e_tests.h"

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
	CHILD_CHECK(!e2e_inline_on(p));
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

void test_pool_mapped_for_the_inline_path(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	pid_t pid;

	p = pcpupool_create(c, e2e_name(e, "map4g", name), 16, 64, 64);
	assert_non_null(p);
	/* the first element on a 4 GiB boundary, the inline sections on
	 * where rseq is */
	assert_int_equal((uintptr_t)e2e_fast(p)->pf_elems & UINT32_MAX, 0);
	assert_int_equal(e2e_inline_on(p), __rseq_size > 0);

	pid = e2e_fork(e);
	if (pid == 0)
		_exit(no_room_child(e, name));
	e2e_expect_child_ok(e, pid, CHILD_TIMEOUT_MS);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}
