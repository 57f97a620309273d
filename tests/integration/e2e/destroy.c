// SPDX-License-Identifier: MIT
/*
 * destroy.c - test_e2e: destroy is refused while another client has the
 * pool attached, a SIGKILLed client's attachment is dropped, and frees of
 * what is not an element are dropped (and counted) instead of handed out.
 */
#include "e2e_tests.h"

void test_destroy_refused_while_attached(void **state)
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
	e2e_assert_null_errno(pcpupool_open(c, name), ENOENT);
	e2e_assert_null_errno(pcpupool_open(c2, name), ENOENT);
	e2e_assert_null_errno(pcpupool_stats_json(c2, name), ENOENT);
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

void test_killed_client_is_detached(void **state)
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
void test_bad_frees_are_dropped_and_counted(void **state)
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
	assert_int_equal(e2e_cpu_stat(st, 0, "discarded"), e2e_inline_on(p) ? 2 : 0);
	json_decref(st);
	pcpupool_free(b, p);
	pcpupool_free(a, p);
	finish_pool(c, p, name);
}
