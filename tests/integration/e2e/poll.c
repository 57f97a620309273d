// SPDX-License-Identifier: MIT
/*
 * poll.c - test_e2e: while the daemon polls the pool's request flags, a
 * reserve crossing its low watermark that the spare covered sends no
 * message (it raises a flag the poll serves); the poll stops after its
 * linger, and with refill_poll_us 0 never starts.
 */
#include "e2e_tests.h"

enum { POLL_MIN_NR = 64, POLL_LOW = 16, POLL_MAX_HELD = 4096 };

/* The elements a test has taken and holds. */
struct held {
	int n;
	void *e[POLL_MAX_HELD];
};

static struct held *held_new(void)
{
	struct held *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	return h;
}

/* Give everything @h holds back to @p. */
static void held_free_all(struct held *h, struct pcpupool *p)
{
	while (h->n > 0)
		pcpupool_free(h->e[--h->n], p);
}

/* Allocate on the current CPU (pinned to @cpu) until an allocation takes
 * the pool's spare (the level goes up instead of down) or fails; the
 * elements go to @h.  Return whether the spare landed. */
static bool cross_watermark(struct pcpupool *p, int cpu, struct held *h)
{
	int prev = pcpupool_nr_elems_cpu(p, cpu);

	while (h->n < POLL_MAX_HELD) {
		void *e = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		int lvl;

		if (!e)
			return false;
		h->e[h->n++] = e;
		lvl = pcpupool_nr_elems_cpu(p, cpu);
		if (lvl > prev - 1)
			return true;
		prev = lvl;
	}
	return false;
}

static bool pool_polling_now(struct pcpupool_client *c, const char *name)
{
	json_t *s = e2e_pool_stats(c, name);
	bool on = json_is_true(json_object_get(s, "polling"));

	if (!json_is_boolean(json_object_get(s, "polling")))
		fail_msg("stats: no boolean \"polling\"");
	json_decref(s);
	return on;
}

/* Restart the daemon with @config and a sweep every @sweep_ms, connect,
 * create a pool (min_nr POLL_MIN_NR, low watermark POLL_LOW) named after
 * @tag in @name, and pin this thread to @cpu. */
static struct pcpupool *poll_pool(struct e2e *e, const char *config, int sweep_ms,
				  const char *tag, int cpu, struct pcpupool_client **ret_c,
				  char name[E2E_NAME_LEN])
{
	struct pcpupool_create_opts o = { .sz = sizeof(o), .low_watermark = POLL_LOW };
	struct pcpupool *p;

	e2e_stop(e);
	e2e_start_sweep(e, config, sweep_ms);
	*ret_c = e2e_client(e);
	p = pcpupool_create_opts(*ret_c, e2e_name(e, tag, name), POLL_MIN_NR, 64, 64, &o);
	assert_non_null(p);
	e2e_pin(cpu);
	return p;
}

void test_crossings_while_the_daemon_polls_send_nothing(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	int cpu0 = e2e_first_cpu();
	struct held *h = held_new();

	/* a linger no slow build outlasts, and no sweep (which serves raised
	 * flags too): only the poll can serve a quiet request here */
	p = poll_pool(e, "\"refill_poll_us\": 1000, \"refill_poll_linger_ms\": 60000,", 60000,
		      "poll", cpu0, &c, name);
	assert_false(pool_polling_now(c, name));

	/* the first crossing sends: nobody polls yet */
	assert_true(cross_watermark(p, cpu0, h));
	assert_true(e2e_poll(e2e_stat_now(c, name, -1, "refill_messages") == 1, E2E_POLL_MS));
	assert_true(e2e_poll(pool_polling_now(c, name), E2E_POLL_MS));
	assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_requests"), 1);
	assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_quiet"), 0);
	assert_true(e2e_poll(e2e_cpu_spare(c, name, cpu0) == POLL_MIN_NR, E2E_POLL_MS));

	/* two more: raised in shared memory, no message; the poll restocks
	 * the spare each time (else the next crossing would find it empty) */
	for (int k = 1; k <= 2; k++) {
		json_int_t polled = e2e_stat_now(c, name, -1, "polled");

		assert_true(cross_watermark(p, cpu0, h));
		assert_true(e2e_poll(e2e_stat_now(c, name, -1, "polled") > polled, E2E_POLL_MS));
		assert_true(e2e_poll(e2e_cpu_spare(c, name, cpu0) == POLL_MIN_NR,
				     E2E_POLL_MS));
		assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_quiet"), k);
		assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_requests"), 1);
		assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_coalesced"), 0);
		assert_int_equal(e2e_stat_now(c, name, -1, "refill_messages"), 1);
	}

	/* a quiet crossing the poll cannot serve (the daemon is stopped), then
	 * the reserve runs short again, with the spare gone: that allocation
	 * sends the message after all, and the refill comes as soon as the
	 * daemon runs */
	e2e_daemon_pause(e);
	assert_true(cross_watermark(p, cpu0, h));
	while (h->n < POLL_MAX_HELD && pcpupool_nr_elems_cpu(p, cpu0) >= POLL_LOW) {
		h->e[h->n] = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
		assert_non_null(h->e[h->n]);
		h->n++;
	}
	e2e_daemon_resume(e);
	assert_true(e2e_poll(e2e_stat_now(c, name, -1, "refill_messages") == 2, E2E_POLL_MS));
	assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_quiet"), 3);
	assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_requests"), 2);
	assert_true(e2e_poll(pcpupool_nr_elems_cpu(p, cpu0) >= POLL_MIN_NR, E2E_POLL_MS));

	held_free_all(h, p);
	finish_pool(c, p, name);
	free(h);
}

/* Polling stops after the linger, and then a crossing sends again; with
 * refill_poll_us 0 the daemon never polls. */
void test_polling_stops_after_its_linger(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	int cpu0 = e2e_first_cpu();
	struct held *h = held_new();

	for (int pass = 0; pass < 2; pass++) {
		bool never = pass == 1;

		p = poll_pool(e, never ? "\"refill_poll_us\": 0," :
				 "\"refill_poll_us\": 1000, \"refill_poll_linger_ms\": 300,",
			      E2E_SWEEP_MS, "linger", cpu0, &c, name);
		for (int k = 1; k <= 3; k++) {
			assert_true(cross_watermark(p, cpu0, h));
			assert_true(e2e_poll(e2e_stat_now(c, name, -1, "refill_messages") == k,
					     E2E_POLL_MS));
			/* the message started the poll (for 300 ms), which ends
			 * with no further request */
			if (!never && !e2e_poll(pool_polling_now(c, name), E2E_POLL_MS))
				fail_msg("a request did not start the poll");
			assert_true(e2e_poll(!pool_polling_now(c, name), E2E_POLL_MS));
			assert_true(e2e_poll(e2e_cpu_spare(c, name, cpu0) == POLL_MIN_NR,
					     E2E_POLL_MS));
			held_free_all(h, p);
		}
		assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_quiet"), 0);
		assert_int_equal(e2e_stat_now(c, name, cpu0, "refill_requests"), 3);
		if (never)
			assert_int_equal(e2e_stat_now(c, name, -1, "polled"), 0);
		finish_pool(c, p, name);
	}
	free(h);
}
