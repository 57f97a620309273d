// SPDX-License-Identifier: MIT
/*
 * test_torture.c - many processes, many threads, signals and migration on
 * one pool, with a separate process playing the daemon; afterwards every
 * element must be accounted for exactly once.
 *
 *   parent   makes the pool (memfd) and a control area (memfd), execs the
 *            children, lets them run, stops them, then counts every element
 *            in every slab, inbox, outbox and the daemon's depot.
 *   daemon   (one process) owns the depot: drains outboxes, answers refill
 *            requests, refills slabs under min_nr, and trims slabs from the
 *            outside (lowering their limit, taking inboxes back).
 *   client   (NR_CLIENTS processes x NR_THREADS threads) random alloc/free,
 *            each thread moved to another CPU every few ms, and a SIGALRM
 *            handler that allocates and frees while the interrupted thread
 *            may be in the middle of either.  Half of the clients run with
 *            glibc's rseq registration disabled, so the atomic fallback and
 *            the rseq sections share the pool.
 *
 * Ownership lives in the elements: alloc exchanges the owner word from 0 to
 * the caller's tag (anything else means handed out twice), free checks the
 * pattern written at alloc and exchanges the tag back to 0.
 *
 * TORTURE_SECONDS (default 3) sets the duration.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "pooltest.h"

#define NR_CLIENTS  4
#define NR_THREADS  2
#define NELEM       4096
#define CAP         256
#define MIN_NR      64
#define LOW_WM      16
#define MAX_HELD    64
#define ELEM_SIZE   64

struct elem {
	_Atomic uint64_t owner;
	uint64_t pattern;
	uint8_t fill[ELEM_SIZE - 16];
};

struct ctl {
	_Atomic int daemon_ready;
	_Atomic int clients_ready;
	_Atomic int stop_clients;
	_Atomic int stop_daemon;
	_Atomic int with_rseq, without_rseq;
	_Atomic uint64_t errors, allocs, frees, misses, sig_ops, migrations;
	_Atomic uint64_t refilled, drained, trims, inbox_trims;
	char first_error[256];
	_Atomic int error_claimed;
	uint32_t depot_n;
	uint32_t depot[NELEM];
};

static struct ctl *ctl;
static struct slab_view view;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&ctl->errors, 1);
	if (atomic_exchange(&ctl->error_claimed, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(ctl->first_error, sizeof(ctl->first_error), fmt, ap);
	va_end(ap);
}

static struct elem *elem_at(uint32_t idx)
{
	return slab_elem(&view, idx);
}

static void claim(uint32_t idx, uint64_t tag)
{
	struct elem *e;
	uint64_t prev;

	if (idx >= NELEM) {
		report("alloc returned index %u past the pool", idx);
		return;
	}
	e = elem_at(idx);
	prev = atomic_exchange_explicit(&e->owner, tag, memory_order_relaxed);
	if (prev != 0)
		report("element %u handed out twice: held by %#llx, given to %#llx", idx,
		       (unsigned long long)prev, (unsigned long long)tag);
	e->pattern = tag ^ idx;
}

static void release(uint32_t idx, uint64_t tag)
{
	struct elem *e = elem_at(idx);
	uint64_t prev;

	if (e->pattern != (tag ^ idx))
		report("element %u changed while held by %#llx", idx, (unsigned long long)tag);
	prev = atomic_exchange_explicit(&e->owner, 0, memory_order_relaxed);
	if (prev != tag)
		report("element %u owner %#llx at free by %#llx", idx,
		       (unsigned long long)prev, (unsigned long long)tag);
}

/* ---- client ---- */

static __thread uint64_t sig_tag;
static __thread unsigned sig_seed;

static void on_alarm(int sig)
{
	int saved = errno, rc;
	uint32_t got[4];
	unsigned n = 1 + (unsigned)rand_r(&sig_seed) % 4, k = 0;

	(void)sig;
	if (!sig_tag)
		return;   /* main thread: never allocates */
	for (unsigned i = 0; i < n; i++) {
		uint32_t idx = slab_alloc(&view, &rc);
		if (idx == SLAB_NIL)
			continue;
		claim(idx, sig_tag);
		got[k++] = idx;
	}
	while (k--) {
		release(got[k], sig_tag);
		slab_free(&view, got[k]);
	}
	atomic_fetch_add_explicit(&ctl->sig_ops, 1, memory_order_relaxed);
	errno = saved;
}

struct worker {
	pthread_t th;
	int no;
};

static void *client_thread(void *arg)
{
	struct worker *w = arg;
	uint64_t tag = ((uint64_t)getpid() << 20) | ((uint64_t)w->no << 4) | 1;
	uint32_t held[MAX_HELD];
	unsigned nheld = 0, seed = (unsigned)getpid() * 31 + (unsigned)w->no;
	uint64_t allocs = 0, frees = 0, misses = 0, migr = 0;
	int ncpu = nr_cpus_online(), rc;
	struct timespec last, now;

	sig_tag = ((uint64_t)getpid() << 20) | ((uint64_t)w->no << 4) | 8;
	sig_seed = seed ^ 0x5555;
	clock_gettime(CLOCK_MONOTONIC, &last);
	while (!atomic_load_explicit(&ctl->stop_clients, memory_order_relaxed)) {
		for (int burst = 0; burst < 256; burst++) {
			unsigned r = (unsigned)rand_r(&seed);
			if (nheld < MAX_HELD && (nheld == 0 || (r & 1))) {
				uint32_t idx = slab_alloc(&view, &rc);
				if (idx == SLAB_NIL) {
					misses++;
					continue;
				}
				claim(idx, tag);
				held[nheld++] = idx;
				allocs++;
			} else {
				unsigned j = (r >> 1) % nheld;
				release(held[j], tag);
				slab_free(&view, held[j]);
				held[j] = held[--nheld];
				frees++;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - last.tv_sec) * 1000000000L + now.tv_nsec - last.tv_nsec >
		    2000000L) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET((unsigned)rand_r(&seed) % (unsigned)ncpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) == 0)
				migr++;
			last = now;
		}
	}
	while (nheld) {
		nheld--;
		release(held[nheld], tag);
		slab_free(&view, held[nheld]);
		frees++;
	}
	atomic_fetch_add(&ctl->allocs, allocs);
	atomic_fetch_add(&ctl->frees, frees);
	atomic_fetch_add(&ctl->misses, misses);
	atomic_fetch_add(&ctl->migrations, migr);
	return NULL;
}

static int run_client(int no)
{
	struct worker w[NR_THREADS];
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, 300 }, { 0, 300 } };
	sigset_t block;

	atomic_fetch_add(slab_rseq_available() ? &ctl->with_rseq : &ctl->without_rseq, 1);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	for (int i = 0; i < NR_THREADS; i++) {
		w[i].no = no * NR_THREADS + i;
		if (pthread_create(&w[i].th, NULL, client_thread, &w[i]) != 0)
			return 1;
	}
	/* the timer's signal goes to the workers, not to this idle thread */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	atomic_fetch_add(&ctl->clients_ready, 1);
	for (int i = 0; i < NR_THREADS; i++)
		pthread_join(w[i].th, NULL);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	return 0;
}

/* ---- daemon ---- */

static uint8_t in_depot[NELEM];

static void depot_put(const uint32_t *idx, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] >= NELEM || in_depot[idx[i]]) {
			report("daemon got element %u back twice", idx[i]);
			continue;
		}
		in_depot[idx[i]] = 1;
		ctl->depot[ctl->depot_n++] = idx[i];
	}
}

static uint32_t depot_get(uint32_t *out, uint32_t want)
{
	uint32_t n = 0;

	while (n < want && ctl->depot_n) {
		out[n] = ctl->depot[--ctl->depot_n];
		in_depot[out[n]] = 0;
		n++;
	}
	return n;
}

static void daemon_drain(uint32_t cpu)
{
	static uint32_t buf[NELEM];
	uint32_t n;

	if (slab_list_take(&view, &slab_of(&view, cpu)->outbox, buf, NELEM, &n) < 0)
		report("corrupt outbox on cpu %u", cpu);
	depot_put(buf, n);
	atomic_fetch_add_explicit(&ctl->drained, n, memory_order_relaxed);
}

static int run_daemon(void)
{
	uint32_t buf[SLAB_BATCH_MAX], n, ncpu = view.nr_cpus;
	unsigned seed = (unsigned)getpid(), tick = 0;
	int trimmed = -1;

	for (uint32_t i = 0; i < NELEM; i++)
		buf[0] = i, depot_put(buf, 1);
	for (uint32_t c = 0; c < ncpu; c++)
		slab_set_limits(&view, c, LOW_WM, CAP);
	atomic_store(&ctl->daemon_ready, 1);
	while (!atomic_load(&ctl->stop_daemon)) {
		for (uint32_t c = 0; c < ncpu; c++) {
			daemon_drain(c);
			uint64_t waited;
			uint32_t want = slab_claim_request(&view, c, MIN_NR, &waited);
			if (want > SLAB_BATCH_MAX)
				want = SLAB_BATCH_MAX;
			n = depot_get(buf, want);
			if (slab_list_push(&view, &slab_of(&view, c)->inbox, buf, n) < 0)
				report("refill rejected");
			atomic_fetch_add_explicit(&ctl->refilled, n, memory_order_relaxed);
		}
		tick++;
		if (tick % 64 == 0) {
			/* trim from outside: squeeze one CPU's slab for a while */
			if (trimmed >= 0)
				slab_set_limits(&view, (uint32_t)trimmed, LOW_WM, CAP);
			trimmed = (int)((unsigned)rand_r(&seed) % ncpu);
			slab_set_limits(&view, (uint32_t)trimmed, LOW_WM, (unsigned)rand_r(&seed) % 24);
			atomic_fetch_add(&ctl->trims, 1);
		}
		if (tick % 97 == 0) {
			uint32_t c = (unsigned)rand_r(&seed) % ncpu;
			if (slab_list_take(&view, &slab_of(&view, c)->inbox, buf, SLAB_BATCH_MAX, &n) < 0)
				report("corrupt inbox on cpu %u", c);
			depot_put(buf, n);
			atomic_fetch_add(&ctl->inbox_trims, 1);
		}
		usleep(200);
	}
	for (uint32_t c = 0; c < ncpu; c++)
		daemon_drain(c);
	return 0;
}

/* ---- parent ---- */

static pid_t spawn(const char *role, int no, int pool_fd, int ctl_fd, bool no_rseq)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);   /* a failed assert must not leave us */
	char a_no[16], a_pool[16], a_ctl[16];
	snprintf(a_no, sizeof(a_no), "%d", no);
	snprintf(a_pool, sizeof(a_pool), "%d", pool_fd);
	snprintf(a_ctl, sizeof(a_ctl), "%d", ctl_fd);
	fcntl(pool_fd, F_SETFD, 0);
	fcntl(ctl_fd, F_SETFD, 0);
	if (no_rseq)
		setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
	execl("/proc/self/exe", "test_torture", "--child", role, a_no, a_pool, a_ctl,
	      (char *)NULL);
	_exit(127);
}

/* Wait for @pid until @deadline_ms from now; kill it if it hangs. */
static int wait_or_kill(pid_t pid, int deadline_ms)
{
	int st;

	for (int t = 0; t < deadline_ms; t += 10) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void count_list(uint8_t *seen, _Atomic uint64_t *box)
{
	static uint32_t buf[NELEM];
	uint32_t n;

	assert_int_equal(slab_list_take(&view, box, buf, NELEM, &n), 0);
	for (uint32_t i = 0; i < n; i++)
		seen[buf[i]]++;
}

static void test_torture_every_element_accounted_once(void **state)
{
	struct testpool *tp = *state;
	const char *secs_env = getenv("TORTURE_SECONDS");
	int secs = secs_env ? atoi(secs_env) : 3;
	int ctl_fd = memfd_create("torture-ctl", MFD_CLOEXEC);
	pid_t daemon, clients[NR_CLIENTS];

	assert_true(ctl_fd >= 0);
	assert_int_equal(ftruncate(ctl_fd, sizeof(struct ctl)), 0);
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED, ctl_fd, 0);
	assert_true(ctl != MAP_FAILED);
	view = tp->v;

	daemon = spawn("daemon", 0, tp->fd, ctl_fd, false);
	while (!atomic_load(&ctl->daemon_ready))
		usleep(1000);
	for (int i = 0; i < NR_CLIENTS; i++)
		clients[i] = spawn("client", i, tp->fd, ctl_fd, i % 2 == 1);
	for (int t = 0; t < 5000 && atomic_load(&ctl->clients_ready) < NR_CLIENTS; t++)
		usleep(1000);
	sleep((unsigned)(secs < 2 ? 2 : secs));
	atomic_store(&ctl->stop_clients, 1);
	for (int i = 0; i < NR_CLIENTS; i++)
		assert_int_equal(wait_or_kill(clients[i], 30000), 0);
	atomic_store(&ctl->stop_daemon, 1);
	assert_int_equal(wait_or_kill(daemon, 30000), 0);

	print_message("torture: %d s, %llu allocs, %llu frees, %llu misses, %llu signal-handler "
		      "rounds, %llu migrations, %llu refilled, %llu drained, %llu trims, "
		      "%llu inbox trims; clients with rseq %d, without %d\n", secs,
		      (unsigned long long)ctl->allocs, (unsigned long long)ctl->frees,
		      (unsigned long long)ctl->misses, (unsigned long long)ctl->sig_ops,
		      (unsigned long long)ctl->migrations, (unsigned long long)ctl->refilled,
		      (unsigned long long)ctl->drained, (unsigned long long)ctl->trims,
		      (unsigned long long)ctl->inbox_trims, ctl->with_rseq, ctl->without_rseq);
	if (ctl->errors)
		print_error("first error: %s\n", ctl->first_error);
	assert_int_equal(ctl->errors, 0);
	assert_int_equal(ctl->allocs, ctl->frees);
	assert_true(ctl->allocs > 10000);
	assert_true(ctl->sig_ops > 100);
	assert_true(ctl->migrations > 10);
	assert_true(ctl->trims > 0);
	if (slab_rseq_available())
		assert_int_equal(ctl->with_rseq, NR_CLIENTS / 2);
	assert_int_equal(ctl->without_rseq, NR_CLIENTS - ctl->with_rseq);

	/* every element exactly once: slabs, inboxes, outboxes, depot */
	static uint8_t seen[NELEM];
	memset(seen, 0, sizeof(seen));
	for (uint32_t c = 0; c < view.nr_cpus; c++) {
		struct slab *s = slab_of(&view, c);
		uint32_t n = SLAB_CW_COUNT(s->cw);
		assert_true(n <= CAP);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t e = slab_idx_of_off(&view, s->slots[i]);
			assert_true(e < NELEM);
			seen[e]++;
		}
		assert_int_equal(atomic_load(&s->discarded), 0);
		count_list(seen, &s->inbox);
		count_list(seen, &s->outbox);
	}
	for (uint32_t i = 0; i < ctl->depot_n; i++)
		seen[ctl->depot[i]]++;
	for (uint32_t i = 0; i < NELEM; i++) {
		if (seen[i] != 1)
			print_error("element %u seen %u times\n", i, seen[i]);
		assert_int_equal(seen[i], 1);
		assert_int_equal(atomic_load(&elem_at(i)->owner), 0);
	}
	munmap(ctl, sizeof(*ctl));
	close(ctl_fd);
}

static int setup(void **state)
{
	return testpool_setup(state, CAP, ELEM_SIZE, 64, NELEM);
}

#define teardown testpool_teardown

static int child_main(char **argv)
{
	int no = atoi(argv[3]), pool_fd = atoi(argv[4]), ctl_fd = atoi(argv[5]);
	struct slab_hdr *h;
	void *base;

	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED, ctl_fd, 0);
	h = mmap(NULL, 4096, PROT_READ, MAP_SHARED, pool_fd, 0);
	if (ctl == MAP_FAILED || h == MAP_FAILED)
		return 2;
	size_t size = h->map_size;
	munmap(h, 4096);
	base = slab_map(pool_fd, size);
	if (base == MAP_FAILED || slab_view_init(&view, base, size, (uint32_t)getpid()) < 0)
		return 3;
	return strcmp(argv[2], "daemon") == 0 ? run_daemon() : run_client(no);
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "--child") == 0)
		return child_main(argv);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_torture_every_element_accounted_once,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("torture", tests, NULL, NULL);
}
