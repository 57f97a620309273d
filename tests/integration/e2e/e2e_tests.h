/* SPDX-License-Identifier: MIT */
/*
 * e2e_tests.h - what the files of test_e2e share: the helpers defined in
 * test_e2e.c (beside the test table) and each file's tests, in the order
 * the table runs them.
 */
#ifndef PCPUPOOL_TESTS_E2E_TESTS_H
#define PCPUPOOL_TESTS_E2E_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "e2e.h"

/* Whether every CPU's reserve holds exactly @n elements; assert it. */
bool levels_all(struct pcpupool *p, int n);
void expect_levels(struct pcpupool *p, int n);
/* A test's pool at its end: unpin, nothing lost, destroy it, disconnect. */
void finish_pool(struct pcpupool_client *c, struct pcpupool *p, const char *name);
/* The CPUs the pools have slabs for: every configured one. */
int nr_cpus_conf(void);

/* refill.c: creation, NOWAIT, refills, the low watermark */
void test_create_prefills_min_nr_per_cpu(void **state);
void test_nowait_never_blocks(void **state);
void test_refill_nowait_async_and_wait_sync(void **state);
void test_low_watermark_sends_one_coalesced_request(void **state);
void test_wait_alloc_refills_synchronously(void **state);
/* poll.c: the daemon polls, crossings the spare covered send nothing */
void test_crossings_while_the_daemon_polls_send_nothing(void **state);
void test_polling_stops_after_its_linger(void **state);
/* resize.c: resize with another client attached */
void test_resize_up_and_down_with_clients_attached(void **state);
/* elements.c: elements, alignment, hand-over by offset */
void test_elements_aligned_full_size_and_unique(void **state);
void test_element_handed_over_by_offset(void **state);
/* signal.c: a signal handler allocating while the main loop does */
void test_signal_handler_allocs_while_main_allocs(void **state);
/* destroy.c: destroy, dead clients, bad frees */
void test_destroy_refused_while_attached(void **state);
void test_killed_client_is_detached(void **state);
void test_bad_frees_are_dropped_and_counted(void **state);
/* mapping.c: the mapping the inline path needs */
void test_pool_mapped_for_the_inline_path(void **state);
/* protocol.c: the control protocol */
void test_malformed_requests_get_errors(void **state);
int setup_two_clients(void **state);
void test_max_clients_refused_then_served(void **state);
void test_socket_from_environment(void **state);
void test_hello_checks_the_protocol_version(void **state);

#endif /* PCPUPOOL_TESTS_E2E_TESTS_H */
