// SPDX-License-Identifier: MIT
/*
 * test_e2e.c - end-to-end tests: the real pcpupoold, the real libpcpupool,
 * real processes, a real socket and real shared memory.  Each test gets a
 * daemon of its own (e2e_setup()), so no test depends on another or on
 * their order.  The tests are in this directory's other files, one per
 * subject (e2e_tests.h); here are the helpers they share and the table.
 *
 * A few tests freeze the daemon (SIGSTOP) while they drain a reserve, so
 * that what they then assert (one coalesced request, the reserve it
 * refilled) does not depend on how fast the daemon answers.
 */
#include <sys/rseq.h>
#include <sys/sysinfo.h>

#include "e2e_tests.h"

bool levels_all(struct pcpupool *p, int n)
{
	for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++)
		if (pcpupool_nr_elems_cpu(p, cpu) != n)
			return false;
	return true;
}

void expect_levels(struct pcpupool *p, int n)
{
	for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++)
		if (pcpupool_nr_elems_cpu(p, cpu) != n)
			fail_msg("cpu %d holds %d elements, expected %d", cpu,
				 pcpupool_nr_elems_cpu(p, cpu), n);
}

void finish_pool(struct pcpupool_client *c, struct pcpupool *p, const char *name)
{
	e2e_unpin();
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

int nr_cpus_conf(void)
{
	return get_nprocs_conf();
}

int main(int argc, char **argv)
{
	/* for test_norseq.sh: what glibc registered in this process */
	if (argc == 2 && strcmp(argv[1], "--print-rseq-size") == 0) {
		printf("rseq size %u\n", (unsigned int)__rseq_size);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_prefills_min_nr_per_cpu,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_nowait_never_blocks, e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_refill_nowait_async_and_wait_sync,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_low_watermark_sends_one_coalesced_request,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_crossings_while_the_daemon_polls_send_nothing,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_polling_stops_after_its_linger, e2e_setup,
						e2e_teardown),
		cmocka_unit_test_setup_teardown(test_resize_up_and_down_with_clients_attached,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_elements_aligned_full_size_and_unique,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_element_handed_over_by_offset,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_signal_handler_allocs_while_main_allocs,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_refused_while_attached,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_killed_client_is_detached, e2e_setup,
						e2e_teardown),
		cmocka_unit_test_setup_teardown(test_bad_frees_are_dropped_and_counted, e2e_setup,
						e2e_teardown),
		cmocka_unit_test_setup_teardown(test_pool_mapped_for_the_inline_path, e2e_setup,
						e2e_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests_get_errors,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_max_clients_refused_then_served,
						setup_two_clients, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_wait_alloc_refills_synchronously,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_socket_from_environment, e2e_setup,
						e2e_teardown),
		cmocka_unit_test_setup_teardown(test_hello_checks_the_protocol_version,
						e2e_setup, e2e_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
