// SPDX-License-Identifier: MIT
/*
 * resize.c - test_e2e: resize up and down while another client process
 * is attached: every reserve follows the new min_nr, here and in the other
 * process's mapping, and what a touched slab holds past its new limit goes
 * back through the outbox.
 */
#include "e2e_tests.h"

enum { OBSERVER_QUIT = 0, OBSERVER_CHECK = 1 };

struct observer_cmd {
	int op;
	int lo, hi;      /* every checked CPU's level within [lo, hi] ... */
	int skip_cpu;    /* ... except this one (-1: none) */
	int min_nr;      /* and the daemon reports this min_nr */
};

/* A second client process: attaches, then answers level checks from its
 * own mapping and connection until told to quit. */
static int observer_main(struct e2e *e, const char *name, int cmd_fd, int ack_fd)
{
	struct pcpupool_client *c = pcpupool_connect(e->sock);
	struct pcpupool *p;
	struct observer_cmd cmd;
	char ok = 'R';

	CHILD_CHECK(c);
	p = pcpupool_open(c, name);
	CHILD_CHECK(p);
	CHILD_CHECK(e2e_write_full(ack_fd, &ok, 1) == 0);
	for (;;) {
		CHILD_CHECK(e2e_read_full(cmd_fd, &cmd, sizeof(cmd), CHILD_TIMEOUT_MS) == 0);
		if (cmd.op == OBSERVER_QUIT)
			break;
		ok = e2e_poll(({
			bool all = true;
			for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++) {
				int l = pcpupool_nr_elems_cpu(p, cpu);
				if (cpu != cmd.skip_cpu && (l < cmd.lo || l > cmd.hi))
					all = false;
			}
			all;
		}), E2E_POLL_MS) ? 'Y' : 'N';
		if (ok == 'Y') {
			char *s = pcpupool_stats_json(c, name);
			json_t *j = s ? json_loads(s, 0, NULL) : NULL;
			json_t *pool = json_array_get(json_object_get(json_object_get(j,
						"stats"), "pools"), 0);

			if (json_integer_value(json_object_get(pool, "min_nr")) != cmd.min_nr)
				ok = 'M';
			json_decref(j);
			free(s);
		}
		CHILD_CHECK(e2e_write_full(ack_fd, &ok, 1) == 0);
	}
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

static void observer_expect(int cmd_fd, int ack_fd, struct observer_cmd cmd)
{
	char ok = 0;

	assert_int_equal(e2e_write_full(cmd_fd, &cmd, sizeof(cmd)), 0);
	assert_int_equal(e2e_read_full(ack_fd, &ok, 1, CHILD_TIMEOUT_MS), 0);
	if (ok != 'Y')
		fail_msg("the other client sees %s (levels %d..%d expected, min_nr %d)",
			 ok == 'M' ? "another min_nr" : "other levels", cmd.lo, cmd.hi,
			 cmd.min_nr);
}

void test_resize_up_and_down_with_clients_attached(void **state)
{
	struct e2e *e = *state;
	int n = nr_cpus_conf(), cpu0 = e2e_first_cpu(), cmd[2], ack[2], l0;
	/* room for resizing every CPU's reserve to 128, on a machine of many */
	struct pcpupool_create_opts o = {
		.sz = sizeof(o), .max_elems = 256u * (uint64_t)n > 4096 ? 256u * (uint64_t)n : 4096
	};
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN], ok = 0;
	struct observer_cmd quit = { .op = OBSERVER_QUIT };
	json_t *st;
	pid_t pid;
	void *x;

	p = pcpupool_create_opts(c, e2e_name(e, "resize", name), 32, 64, 64, &o);
	assert_non_null(p);
	assert_int_equal(pipe2(cmd, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ack, O_CLOEXEC), 0);
	pid = e2e_fork(e);
	if (pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		_exit(observer_main(e, name, cmd[0], ack[1]));
	}
	close(cmd[0]);
	close(ack[1]);
	assert_int_equal(e2e_read_full(ack[0], &ok, 1, CHILD_TIMEOUT_MS), 0);
	assert_int_equal(ok, 'R');
	st = e2e_pool_stats(c, name);
	assert_int_equal(e2e_stat(st, "clients"), 2);
	json_decref(st);

	/* up: every reserve grows to the new min_nr, here and there */
	assert_int_equal(pcpupool_resize(p, 128, PCPUPOOL_WAIT), 0);
	expect_levels(p, 128);
	observer_expect(cmd[1], ack[0], (struct observer_cmd){
		.op = OBSERVER_CHECK, .lo = 128, .hi = 128, .skip_cpu = -1, .min_nr = 128 });

	/* touch one CPU's slab: take an element there */
	e2e_pin(cpu0);
	x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(x);
	assert_int_equal(pcpupool_nr_elems_cpu(p, cpu0), 127);

	/* down: the daemon takes the inboxes back and refills to 8 */
	assert_int_equal(pcpupool_resize(p, 8, PCPUPOOL_NOWAIT), 0);
	st = e2e_pool_stats(c, name);
	assert_int_equal(e2e_stat(st, "min_nr"), 8);
	assert_int_equal(e2e_stat(st, "low_watermark"), 2);
	for (int cpu = 0; cpu < n; cpu++)
		assert_int_equal(e2e_cpu_stat(st, cpu, "limit"), 16);
	json_decref(st);
	for (int cpu = 0; cpu < n; cpu++) {
		if (cpu == cpu0)
			continue;
		if (!e2e_poll(({ int l = pcpupool_nr_elems_cpu(p, cpu); l >= 8 && l <= 16; }),
			      E2E_POLL_MS))
			fail_msg("untouched cpu %d still holds %d after shrinking to 8", cpu,
				 pcpupool_nr_elems_cpu(p, cpu));
	}
	observer_expect(cmd[1], ack[0], (struct observer_cmd){
		.op = OBSERVER_CHECK, .lo = 8, .hi = 16, .skip_cpu = cpu0, .min_nr = 8 });
	/* what sits in the touched slab goes back at its next free there */
	pcpupool_free(x, p);
	l0 = pcpupool_nr_elems_cpu(p, cpu0);
	if (l0 < 1 || l0 > 16)
		fail_msg("cpu %d holds %d after a free at limit 16", cpu0, l0);
	e2e_unpin();
	/* and the daemon takes the spill out of the outbox */
	assert_true(e2e_poll(e2e_stat_now(c, name, cpu0, "outbox") == 0, E2E_POLL_MS));
	assert_true(pcpupool_nr_elems(p) <= 16 * n);

	assert_int_equal(e2e_write_full(cmd[1], &quit, sizeof(quit)), 0);
	e2e_expect_child_ok(e, pid, CHILD_TIMEOUT_MS);
	close(cmd[1]);
	close(ack[0]);
	e2e_expect_conserved(c, name);

	/* out of range */
	assert_int_equal(pcpupool_resize(p, 0, PCPUPOOL_NOWAIT), -EINVAL);
	assert_int_equal(pcpupool_resize(p, 5000, PCPUPOOL_NOWAIT), -ERANGE);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}
