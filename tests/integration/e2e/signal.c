// SPDX-License-Identifier: MIT
/*
 * signal.c - test_e2e: a signal handler that allocates and frees while the
 * interrupted code is itself allocating and freeing, in another process,
 * for seconds: no element is handed to both.
 */
#include <stdatomic.h>
#include <sys/time.h>

#include "e2e_tests.h"

#define SIG_SECONDS     2
#define SIG_MAX_SECONDS 8     /* below CHILD_TIMEOUT_MS */
#define SIG_MIN_RUNS    1000
#define SIG_HELD        16
#define SIG_TAG         (UINT64_C(1) << 63)  /* handler's ownership tag */

struct sigelem {
	_Atomic uint64_t owner;   /* 0 free, else the holder's tag */
	uint64_t pattern;
	uint64_t payload[6];
};
_Static_assert(sizeof(struct sigelem) == 64, "one element");

struct sig_result {
	uint64_t runs, misses, errors, allocs, frees, main_misses;
};

static struct pcpupool *sig_pool;
static _Atomic uint64_t sig_runs, sig_misses, sig_errors;
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "lock-free in a signal handler");

/* Handler-owned elements: each tick frees the one in its slot and takes a
 * new one, so what the handler holds overlaps what the main loop does (an
 * element handed to both shows up as two owners). */
#define SIG_HHELD 4
static struct sigelem *sig_held[SIG_HHELD];
static uint64_t sig_tick_nr;

static void sig_bad(void)
{
	atomic_fetch_add_explicit(&sig_errors, 1, memory_order_relaxed);
}

static void sig_release(struct sigelem *t)
{
	uint64_t tag = SIG_TAG | (uintptr_t)t;

	for (int k = 0; k < 6; k++)
		if (t->payload[k] != tag + (uint64_t)k)
			sig_bad();
	if (t->pattern != tag ||
	    atomic_exchange_explicit(&t->owner, 0, memory_order_relaxed) != tag)
		sig_bad();
	pcpupool_free(t, sig_pool);
}

static void sig_tick(int sig)
{
	int saved = errno, slot = (int)(sig_tick_nr++ % SIG_HHELD);
	struct sigelem *t;
	uint64_t tag;

	(void)sig;
	if (sig_held[slot]) {
		sig_release(sig_held[slot]);
		sig_held[slot] = NULL;
	}
	t = pcpupool_alloc(sig_pool, PCPUPOOL_NOWAIT);
	if (!t) {
		atomic_fetch_add_explicit(&sig_misses, 1, memory_order_relaxed);
		errno = saved;
		return;
	}
	tag = SIG_TAG | (uintptr_t)t;
	if (atomic_exchange_explicit(&t->owner, tag, memory_order_relaxed) != 0)
		sig_bad();
	t->pattern = tag;
	for (int k = 0; k < 6; k++)
		t->payload[k] = tag + (uint64_t)k;
	sig_held[slot] = t;
	atomic_fetch_add_explicit(&sig_runs, 1, memory_order_relaxed);
	errno = saved;
}

static int sig_child(struct e2e *e, const char *name, int out_fd)
{
	struct pcpupool_client *c = pcpupool_connect(e->sock);
	struct itimerval it = { { 0, 200 }, { 0, 200 } }, off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	struct sigelem *held[SIG_HELD] = { 0 };
	uint64_t tags[SIG_HELD] = { 0 }, seq = 0, rnd = 0x9e3779b97f4a7c15ull;
	struct sig_result res = { 0 };
	int64_t start;

	CHILD_CHECK(c);
	sig_pool = pcpupool_open(c, name);
	CHILD_CHECK(sig_pool);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_tick;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHILD_CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHILD_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);

	/* SIG_SECONDS, and on a machine too busy to run us much, until the
	 * handler ran SIG_MIN_RUNS times (at most SIG_MAX_SECONDS) */
	start = e2e_now_ns();
	for (;;) {
		int64_t ran = e2e_now_ns() - start;
		struct sigelem *t;
		int slot;

		if ((ran >= (int64_t)SIG_SECONDS * 1000000000 &&
		     atomic_load_explicit(&sig_runs, memory_order_relaxed) > SIG_MIN_RUNS) ||
		    ran >= (int64_t)SIG_MAX_SECONDS * 1000000000)
			break;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		slot = (int)(rnd % SIG_HELD);
		t = held[slot];
		if (!t) {
			t = pcpupool_alloc(sig_pool, PCPUPOOL_NOWAIT);
			if (!t) {
				res.main_misses++;
				continue;
			}
			tags[slot] = ++seq;
			if (atomic_exchange_explicit(&t->owner, tags[slot],
						     memory_order_relaxed) != 0)
				res.errors++;
			t->pattern = tags[slot] ^ (uintptr_t)t;
			for (int k = 0; k < 6; k++)
				t->payload[k] = tags[slot] + (uint64_t)k;
			held[slot] = t;
			res.allocs++;
		} else {
			for (int k = 0; k < 6; k++)
				if (t->payload[k] != tags[slot] + (uint64_t)k)
					res.errors++;
			if (t->pattern != (tags[slot] ^ (uintptr_t)t) ||
			    atomic_exchange_explicit(&t->owner, 0, memory_order_relaxed) !=
			    tags[slot])
				res.errors++;
			pcpupool_free(t, sig_pool);
			held[slot] = NULL;
			res.frees++;
		}
	}
	CHILD_CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
	signal(SIGALRM, SIG_IGN);
	for (int i = 0; i < SIG_HHELD; i++)
		if (sig_held[i])
			sig_release(sig_held[i]);
	for (int i = 0; i < SIG_HELD; i++)
		if (held[i]) {
			if (atomic_exchange(&held[i]->owner, 0) != tags[i])
				res.errors++;
			pcpupool_free(held[i], sig_pool);
		}
	res.runs = atomic_load(&sig_runs);
	res.misses = atomic_load(&sig_misses);
	res.errors += atomic_load(&sig_errors);
	CHILD_CHECK(e2e_write_full(out_fd, &res, sizeof(res)) == 0);
	pcpupool_close(sig_pool);
	pcpupool_disconnect(c);
	return 0;
}

void test_signal_handler_allocs_while_main_allocs(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *p;
	struct sig_result res;
	char name[E2E_NAME_LEN];
	int fds[2];
	pid_t pid;

	p = pcpupool_create(c, e2e_name(e, "signal", name), 64, sizeof(struct sigelem), 64);
	assert_non_null(p);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	/* in a child: ITIMER_REAL is the process's one SIGALRM timer, so the
	 * guard against a hang is the parent's deadline, not alarm() */
	pid = e2e_fork(e);
	if (pid == 0) {
		close(fds[0]);
		_exit(sig_child(e, name, fds[1]));
	}
	close(fds[1]);
	if (e2e_read_full(fds[0], &res, sizeof(res), CHILD_TIMEOUT_MS) < 0) {
		e2e_expect_child_ok(e, pid, 1);
		fail_msg("the signal test process hung or died");
	}
	e2e_expect_child_ok(e, pid, CHILD_TIMEOUT_MS);
	close(fds[0]);
	print_message("signal handler: %llu runs, %llu misses; main: %llu allocs, "
		      "%llu frees, %llu misses\n", (unsigned long long)res.runs,
		      (unsigned long long)res.misses, (unsigned long long)res.allocs,
		      (unsigned long long)res.frees, (unsigned long long)res.main_misses);
	assert_int_equal(res.errors, 0);
	if (res.runs <= SIG_MIN_RUNS)
		fail_msg("the handler allocated only %llu times", (unsigned long long)res.runs);
	assert_true(res.allocs > 1000);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}
