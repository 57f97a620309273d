// SPDX-License-Identifier: MIT
/*
 * refill.c - test_e2e: a pool's creation (min_nr on every CPU, seen alike
 * by a second client and the daemon), NOWAIT allocations that never block,
 * refills asked NOWAIT (in the background) and WAIT (done on return), the
 * low watermark's one coalesced request, and a WAIT allocation that waits
 * for the daemon when every reserve is empty.
 */
#include <pthread.h>

#include "e2e_tests.h"

void test_create_prefills_min_nr_per_cpu(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e), *c2;
	struct pcpupool *p, *p2;
	char name[E2E_NAME_LEN];
	json_t *st;
	int n;

	e2e_name(e, "prefill", name);
	p = pcpupool_create(c, name, 32, 64, 64);
	assert_non_null(p);
	n = pcpupool_nr_cpus(p);
	assert_int_equal(n, nr_cpus_conf());
	assert_int_equal(pcpupool_elem_size(p), 64);
	assert_int_equal(pcpupool_nr_elems(p), 32 * n);
	expect_levels(p, 32);
	assert_int_equal(pcpupool_nr_elems_cpu(p, n), -EINVAL);
	assert_int_equal(pcpupool_nr_elems_cpu(p, -1), -EINVAL);

	/* a second connection sees the same shared memory */
	c2 = e2e_client(e);
	p2 = pcpupool_open(c2, name);
	assert_non_null(p2);
	assert_int_equal(pcpupool_nr_cpus(p2), n);
	assert_int_equal(pcpupool_elem_size(p2), 64);
	assert_int_equal(pcpupool_nr_elems(p2), 32 * n);
	expect_levels(p2, 32);

	/* and the daemon says so too */
	st = e2e_pool_stats(c2, name);
	assert_int_equal(e2e_stat(st, "min_nr"), 32);
	assert_int_equal(e2e_stat(st, "elem_size"), 64);
	assert_int_equal(e2e_stat(st, "align"), 64);
	assert_int_equal(e2e_stat(st, "clients"), 2);
	assert_int_equal(e2e_stat(st, "reserved"), 32 * n);
	for (int cpu = 0; cpu < n; cpu++)
		assert_int_equal(e2e_cpu_stat(st, cpu, "level"), 32);
	json_decref(st);
	e2e_expect_conserved(c, name);

	pcpupool_close(p2);
	pcpupool_disconnect(c2);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

void test_nowait_never_blocks(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = { .sz = sizeof(o) };
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	int n = nr_cpus_conf(), total = 16 * n, got = 0, err = 0, cpu0 = e2e_first_cpu();
	int64_t t0, elapsed, worst = 0;
	void **held = calloc((size_t)total + 1, sizeof(*held));
	void *x;

	assert_non_null(held);
	/* bound PCPUPOOL_WAIT below, where the pool is at its maximum */
	assert_int_equal(setenv("PCPUPOOL_WAIT_TIMEOUT_MS", "200", 1), 0);
	c = e2e_client(e);
	unsetenv("PCPUPOOL_WAIT_TIMEOUT_MS");
	o.max_elems = (uint64_t)total;   /* it cannot grow */
	p = pcpupool_create_opts(c, e2e_name(e, "nowait", name), 16, 64, 64, &o);
	assert_non_null(p);
	assert_int_equal(pcpupool_nr_cpus(p), n);
	assert_int_equal(pcpupool_nr_elems(p), total);

	e2e_pin(cpu0);
	t0 = e2e_now_ns();
	for (int i = 0; i <= total; i++) {
		int64_t t = e2e_now_ns();

		errno = 0;
		x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		err = errno;
		t = e2e_now_ns() - t;
		if (t > worst)
			worst = t;
		if (!x)
			break;
		held[got++] = x;
	}
	elapsed = e2e_now_ns() - t0;
	/* every CPU's reserve was taken before it gave up */
	if (got != total)
		fail_msg("NOWAIT got %d elements before NULL, the pool holds %d", got, total);
	assert_null(x);
	assert_int_equal(err, EAGAIN);
	if (elapsed >= 1000000000)
		fail_msg("%d NOWAIT allocations took %lld ns (worst call %lld ns)", got + 1,
			 (long long)elapsed, (long long)worst);
	assert_int_equal(pcpupool_nr_elems(p), 0);
	/* still nothing, still at once */
	e2e_assert_null_errno(pcpupool_alloc(p, PCPUPOOL_NOWAIT), EAGAIN);
	/* WAIT cannot help a pool at its maximum: bounded failure */
	e2e_assert_null_errno(pcpupool_alloc(p, PCPUPOOL_WAIT), ENOMEM);

	for (int i = 0; i < got; i++)
		pcpupool_free(held[i], p);
	if (!e2e_poll(pcpupool_nr_elems(p) == total, E2E_POLL_MS))
		fail_msg("after freeing everything the reserves hold %d of %d",
			 pcpupool_nr_elems(p), total);
	x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(x);
	pcpupool_free(x, p);
	finish_pool(c, p, name);
	free(held);
}

/* Take @take elements NOWAIT on every CPU this process may run on, pinned
 * to each in turn, into held[*got...]: each of those reserves goes from
 * @min_nr down to @min_nr - @take. */
static void drain_each_cpu(struct pcpupool *p, int min_nr, int take, void **held, int *got)
{
	for (int cpu = 0; cpu < pcpupool_nr_cpus(p); cpu++) {
		if (!e2e_cpu_allowed(cpu))
			continue;
		e2e_pin(cpu);
		for (int i = 0; i < take; i++) {
			held[*got] = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
			assert_non_null(held[*got]);
			(*got)++;
		}
		assert_int_equal(pcpupool_nr_elems_cpu(p, cpu), min_nr - take);
	}
	e2e_unpin();
}

void test_refill_nowait_async_and_wait_sync(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	const int min_nr = 32, take = min_nr / 2;   /* stays above low (min_nr / 4) */
	int n = nr_cpus_conf(), got = 0;
	void **held = calloc((size_t)(2 * take * n), sizeof(*held));

	assert_non_null(held);
	p = pcpupool_create(c, e2e_name(e, "refill", name), min_nr, 64, 64);
	assert_non_null(p);

	/* round 1: drain every CPU we may run on to half its reserve */
	drain_each_cpu(p, min_nr, take, held, &got);
	/* above the low watermark nothing refills them by itself (several
	 * sweeps pass) ... */
	e2e_sleep_ms(5 * E2E_SWEEP_MS);
	for (int cpu = 0; cpu < n; cpu++)
		assert_int_equal(pcpupool_nr_elems_cpu(p, cpu),
				 e2e_cpu_allowed(cpu) ? min_nr - take : min_nr);
	/* ... an asynchronous refill does, in the background */
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_NOWAIT), -EAGAIN);
	if (!e2e_poll(levels_all(p, min_nr), E2E_POLL_MS))
		expect_levels(p, min_nr);

	/* round 2: drain again, then a synchronous refill is done on return */
	drain_each_cpu(p, min_nr, take, held, &got);
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), 0);
	expect_levels(p, min_nr);

	/* bad arguments */
	assert_int_equal(pcpupool_refill(NULL, PCPUPOOL_WAIT), -EINVAL);
	assert_int_equal(pcpupool_refill(p, 0x40), -EINVAL);
	/* pool names: the daemon's rule (core/protocol.c), checked here first */
	e2e_assert_null_errno(pcpupool_open(c, ".hidden"), EINVAL);
	e2e_assert_null_errno(pcpupool_create(c, "no/slash", 4, 64, 64), EINVAL);

	for (int i = 0; i < got; i++)
		pcpupool_free(held[i], p);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
	free(held);
}

void test_low_watermark_sends_one_coalesced_request(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = { .sz = sizeof(o) };
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	enum { min_nr = 64, low = 16, nalloc = 60 };
	int n = nr_cpus_conf(), cpu0 = e2e_first_cpu();
	void *held[nalloc];
	json_t *st;

	o.low_watermark = low;
	p = pcpupool_create_opts(c, e2e_name(e, "coalesce", name), min_nr, 64, 64, &o);
	assert_non_null(p);
	e2e_pin(cpu0);

	/* the daemon is frozen while the slab crosses its watermark: whatever
	 * its speed, it can only see what the client sent.  The allocation
	 * that crosses (the reserve down to low - 1) takes the pool's spare
	 * (min_nr elements) at once, with no help from the daemon */
	e2e_daemon_pause(e);
	for (int i = 0; i < nalloc; i++) {
		held[i] = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		assert_non_null(held[i]);
	}
	assert_int_equal(pcpupool_nr_elems_cpu(p, cpu0), min_nr - nalloc + min_nr);
	e2e_daemon_resume(e);
	/* the datagram arrived, and it was the only one */
	assert_true(e2e_poll(e2e_stat_now(c, name, -1, "refill_messages") >= 1, E2E_POLL_MS));
	st = e2e_pool_stats(c, name);
	assert_int_equal(e2e_stat(st, "refill_messages"), 1);
	assert_int_equal(e2e_stat(st, "low_watermark"), low);
	for (int cpu = 0; cpu < n; cpu++) {
		assert_int_equal(e2e_cpu_stat(st, cpu, "refill_requests"), cpu == cpu0 ? 1 : 0);
		assert_int_equal(e2e_cpu_stat(st, cpu, "low_watermark"), low);
	}
	/* the crossing took the spare and sent the request; the reserve
	 * never went under the watermark again */
	assert_int_equal(e2e_cpu_stat(st, cpu0, "from_spare"), min_nr);
	assert_int_equal(e2e_cpu_stat(st, cpu0, "refill_coalesced"), 0);
	json_decref(st);
	/* which the daemon restocked */
	if (!e2e_poll(e2e_cpu_spare(c, name, cpu0) == min_nr, E2E_POLL_MS))
		fail_msg("the spare was not restocked");
	/* the reserve was over min_nr: the daemon added nothing */
	e2e_sleep_ms(3 * E2E_SWEEP_MS);
	assert_int_equal(pcpupool_nr_elems_cpu(p, cpu0), min_nr - nalloc + min_nr);

	for (int i = 0; i < nalloc; i++)
		pcpupool_free(held[i], p);
	finish_pool(c, p, name);
}

/* Thaw the daemon @after_ms from now. */
struct resumer {
	struct e2e *e;
	int after_ms;
};

static void *resume_later(void *arg)
{
	struct resumer *r = arg;

	e2e_sleep_ms(r->after_ms);
	kill(r->e->pid, SIGCONT);
	return NULL;
}

void test_wait_alloc_refills_synchronously(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	/* every CPU's reserve of 8, and each NUMA node's spare of 8 */
	int n = nr_cpus_conf(), total, got = 0, err = 0, cpu0 = e2e_first_cpu();
	void **held;
	struct resumer r = { e, 50 };
	pthread_t t;
	void *x;

	p = pcpupool_create(c, e2e_name(e, "wait", name), 8, 64, 64);   /* may grow */
	assert_non_null(p);
	total = 8 * n + 8 * e2e_pool_nodes(c, name);
	held = calloc((size_t)total + 1, sizeof(*held));
	assert_non_null(held);
	e2e_pin(cpu0);
	/* empty every reserve while the daemon cannot refill any */
	e2e_daemon_pause(e);
	for (int i = 0; i <= total; i++) {
		errno = 0;
		x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		err = errno;
		if (!x)
			break;
		held[got++] = x;
	}
	assert_int_equal(got, total);
	assert_null(x);
	assert_int_equal(err, EAGAIN);
	assert_int_equal(pcpupool_nr_elems(p), 0);

	/* WAIT waits for the daemon (thawed a little later) and comes back
	 * with an element where NOWAIT had none */
	assert_int_equal(pthread_create(&t, NULL, resume_later, &r), 0);
	x = pcpupool_alloc(p, PCPUPOOL_WAIT);
	err = errno;
	assert_int_equal(pthread_join(t, NULL), 0);
	e->stopped = false;
	if (!x)
		fail_msg("PCPUPOOL_WAIT failed: %s", strerror(err));
	for (int i = 0; i < got; i++)
		assert_ptr_not_equal(x, held[i]);
	pcpupool_free(x, p);
	for (int i = 0; i < got; i++)
		pcpupool_free(held[i], p);
	finish_pool(c, p, name);
	free(held);
}
