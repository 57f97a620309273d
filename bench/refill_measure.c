// SPDX-License-Identifier: MIT
/*
 * refill_measure.c - bench_refill's measurements: pcpupool alone, through
 * its public API, on pools of their own in the daemon; bench_refill.c says
 * what each figure is.
 *
 * Shared mutable state: bench_stop_requested; the client processes of
 * refill_many() share a struct refill_shared with the parent (atomics for
 * the start, results written before exit and read after waitpid()); the
 * draw's producer and consumer share a struct draw (its ring, ordered by
 * head and tail).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pcpupool.h"
#include "bench_common.h"
#include "refill.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define REFILL_MISSES           10000u   /* timed NOWAIT misses */
#define REFILL_QUICK_MISSES     2000u
#define REFILL_ROUNDS           300u     /* low-watermark crossings, 1 client */
#define REFILL_QUICK_ROUNDS     40u
#define REFILL_CLIENT_ROUNDS    100u     /* crossings per client of the 8 */
#define REFILL_QUICK_CL_ROUNDS  15u
#define REFILL_WAIT_MS          250      /* a refill later than this is lost */
#define REFILL_FILL_MS          3000     /* a new pool's first fill */
#define REFILL_SETTLE_US        2000     /* between crossings */
#define REFILL_MIN_NR           256
#define REFILL_LOW              32
#define REFILL_MISS_MIN_NR      64
#define REFILL_DRAW_LOW         16
#define REFILL_DRAW_MS          1000u
#define REFILL_QUICK_DRAW_MS    200u
#define REFILL_RING             1024u    /* producer -> consumer, power of 2 */
#define REFILL_CACHELINE        64
#define REFILL_NAME_MAX         32       /* prefix of a pool name */

static void lat_sort(struct lat *l)
{
	if (l->n)
		qsort(l->v, l->n, sizeof(l->v[0]), bench_cmp_double);
}

static void why_add(struct refill_figs *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void why_add(struct refill_figs *f, const char *fmt, ...)
{
	size_t l = strlen(f->why);
	va_list ap;

	if (l && l + 2 < sizeof(f->why)) {
		snprintf(f->why + l, sizeof(f->why) - l, "; ");
		l += 2;
	}
	va_start(ap, fmt);
	vsnprintf(f->why + l, sizeof(f->why) - l, fmt, ap);
	va_end(ap);
}

static struct pcpupool *refill_pool(const struct refill_env *e, const char *tag, int min_nr,
				    int low, uint64_t max_elems, char *name, size_t len)
{
	struct pcpupool_create_opts co = {
		.sz = sizeof(co), .low_watermark = low, .max_elems = max_elems,
	};

	snprintf(name, len, "%s-%s", e->prefix, tag);
	return pcpupool_create_opts(e->client, name, min_nr, 64, REFILL_CACHELINE, &co);
}

/* Add pool @name's refill_requests and refill_quiet, summed over its
 * CPUs, to @l, and keep the largest refill_latency_us p50 and p99 (from
 * the daemon's stats). */
static void lat_add_requests(const struct refill_env *e, const char *name, struct lat *l)
{
	char *text = pcpupool_stats_json(e->client, name);
	json_t *root = text ? json_loads(text, 0, NULL) : NULL;
	json_t *pool = json_array_get(json_object_get(json_object_get(root, "stats"),
						      "pools"), 0);
	json_t *cpu;
	size_t i;

	json_array_foreach(json_object_get(pool, "cpus"), i, cpu) {
		l->sent += (uint64_t)json_integer_value(json_object_get(cpu,
								      "refill_requests"));
		l->quiet += (uint64_t)json_integer_value(json_object_get(cpu, "refill_quiet"));
		json_t *lat = json_object_get(cpu, "refill_latency_us");
		double p50 = json_number_value(json_object_get(lat, "p50"));
		double p99 = json_number_value(json_object_get(lat, "p99"));

		if (p50 > l->served_p50_us)
			l->served_p50_us = p50;
		if (p99 > l->served_p99_us)
			l->served_p99_us = p99;
	}
	json_decref(root);
	free(text);
}

/* Wait until CPU @cpu's reserve of @pool holds @want (cpu < 0: the whole
 * pool).  Return 0 or -ETIMEDOUT. */
static int wait_level(struct pcpupool *pool, int cpu, int want, int ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		int lvl = cpu < 0 ? pcpupool_nr_elems(pool) : pcpupool_nr_elems_cpu(pool, cpu);

		if (lvl >= want)
			return 0;
		if (bench_now_ns() > deadline)
			return -ETIMEDOUT;
		bench_sleep_ms(1);
	}
}

/*
 * The cost of a NOWAIT allocation that finds every reserve dry: a pool
 * whose maximum is exactly its reserves (nothing in the depot, no growth),
 * all of it held by this thread; then REFILL_MISSES allocations timed one
 * by one.  Each may send a refill request (the daemon cannot serve it):
 * that is part of the cost a caller pays.
 */
static void refill_miss(const struct refill_env *e, struct refill_figs *f, uint32_t misses)
{
	uint32_t nr = (uint32_t)get_nprocs_conf(), max = nr * REFILL_MISS_MIN_NR, n = 0;
	void **held = calloc(max, sizeof(*held));
	char name[REFILL_NAME_MAX + 16];
	struct pcpupool *pool;
	uint64_t ovh;

	f->miss.v = calloc(misses, sizeof(double));
	if (!held || !f->miss.v) {
		why_add(f, "miss: out of memory");
		goto out_free;
	}
	pool = refill_pool(e, "miss", REFILL_MISS_MIN_NR, REFILL_MISS_MIN_NR / 4, max,
			   name, sizeof(name));
	if (!pool) {
		why_add(f, "miss: pcpupool_create(%s): %s", name, strerror(errno));
		goto out_free;
	}
	if (wait_level(pool, -1, (int)max, REFILL_FILL_MS) < 0 || bench_pin_self(e->cpus[0]) < 0) {
		why_add(f, "miss: pool %s never filled or no CPU", name);
		goto out;
	}
	while (n < max) {
		void *p = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);

		if (!p)
			break;
		held[n++] = p;
	}
	ovh = bench_timer_overhead();
	for (uint32_t k = 0; k < misses; k++) {
		uint64_t t0 = bench_tick();
		void *p = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);
		uint64_t t1 = bench_tick();

		if (p) {
			/* something came back after all: hold it, not a miss */
			if (n < max)
				held[n++] = p;
			else
				pcpupool_free(p, pool);
			continue;
		}
		f->miss.v[f->miss.n++] = (double)(t1 - t0 > ovh ? t1 - t0 - ovh : 0) * 1e9 / e->hz;
	}
	for (uint32_t k = 0; k < n; k++)
		pcpupool_free(held[k], pool);
out:
	if (pcpupool_destroy(pool) < 0)
		pcpupool_close(pool);
out_free:
	free(held);
}

/*
 * One client on CPU @cpu: @rounds times, allocate until the CPU's reserve
 * goes under the low watermark (the allocation that takes it there sends
 * the refill request), then watch the reserve until the daemon's refill
 * shows; the time from the start of that allocation to the refill is one
 * latency.  A reserve that grows before the crossing (the sweep, say) is
 * counted as unseen, not timed.  Then give everything back and let the
 * daemon settle.  Waiting, the client yields its CPU (other clients and
 * the daemon may need it).
 */
static void refill_cross(struct pcpupool *pool, int cpu, int low, uint32_t rounds,
			 double hz, double *v, struct lat *ret)
{
	uint32_t max = (uint32_t)pcpupool_nr_elems(pool) * 4 + 4096;
	void **held = calloc(max, sizeof(*held));

	memset(ret, 0, sizeof(*ret));
	ret->v = v;
	if (!held)
		return;
	for (uint32_t r = 0; r < rounds && !bench_stop_requested; r++) {
		int prev = pcpupool_nr_elems_cpu(pool, cpu), lvl;
		uint64_t t0 = 0, t1, deadline;
		uint32_t n = 0;
		bool unseen = false;

		while (n < max) {
			uint64_t t = bench_tick();
			void *p = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);

			if (!p)
				break;
			held[n++] = p;
			if (prev - 1 < low) {
				/* this one took the reserve under the watermark and
				 * sent the request; the refill may even be in already
				 * (the daemon woke on this CPU and preempted us) */
				t0 = t;
				prev--;
				break;
			}
			lvl = pcpupool_nr_elems_cpu(pool, cpu);
			if (lvl >= prev) {
				unseen = true;   /* it rose without a crossing */
				break;
			}
			prev = lvl;
		}
		if (t0) {
			deadline = bench_now_ns() + REFILL_WAIT_MS * UINT64_C(1000000);
			while (pcpupool_nr_elems_cpu(pool, cpu) <= prev &&
			       bench_now_ns() < deadline)
				sched_yield();
			t1 = bench_tick();
			if (pcpupool_nr_elems_cpu(pool, cpu) > prev)
				v[ret->n++] = (double)(t1 - t0) * 1e9 / hz;
			else
				ret->lost++;
		} else if (unseen) {
			ret->unseen++;
		} else {
			ret->dry++;
		}
		for (uint32_t k = 0; k < n; k++)
			pcpupool_free(held[k], pool);
		usleep(REFILL_SETTLE_US);
	}
	free(held);
}

/* What the REFILL_CLIENTS processes share with the parent. */
struct refill_shared {
	_Atomic int ready;
	_Atomic int go;
	struct lat res[REFILL_CLIENTS];
	double v[];          /* [REFILL_CLIENTS][rounds] */
};

static void refill_many(const struct refill_env *e, struct refill_figs *f, uint32_t rounds)
{
	struct pcpupool *pools[REFILL_CLIENTS] = { NULL };
	char names[REFILL_CLIENTS][REFILL_NAME_MAX + 24];
	size_t shm_len = sizeof(struct refill_shared) +
			 sizeof(double) * REFILL_CLIENTS * rounds;
	struct refill_shared *sh = mmap(NULL, shm_len, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[REFILL_CLIENTS] = { 0 };
	uint64_t deadline;
	int started = 0;

	if (sh == MAP_FAILED) {
		why_add(f, "%d clients: mmap: %s", REFILL_CLIENTS, strerror(errno));
		return;
	}
	f->many_clients = REFILL_CLIENTS;
	for (int i = 0; i < REFILL_CLIENTS; i++) {
		char tag[16];

		snprintf(tag, sizeof(tag), "refill%u", (unsigned int)i % 10u);
		pools[i] = refill_pool(e, tag, REFILL_MIN_NR, REFILL_LOW, 0, names[i],
				       sizeof(names[i]));
		if (!pools[i]) {
			why_add(f, "%d clients: pcpupool_create(%s): %s", REFILL_CLIENTS,
				names[i], strerror(errno));
			goto out;
		}
	}
	fflush(NULL);
	for (int i = 0; i < REFILL_CLIENTS; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			why_add(f, "%d clients: fork: %s", REFILL_CLIENTS, strerror(errno));
			break;
		}
		if (pids[i] == 0) {
			/* a fresh client: the parent's connection is not ours */
			int cpu = e->cpus[i % e->nr_cpus];
			struct pcpupool_client *c;
			struct pcpupool *pool;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			c = pcpupool_connect(e->sock);
			pool = c ? pcpupool_open(c, names[i]) : NULL;
			if (!pool || bench_pin_self(cpu) < 0 ||
			    wait_level(pool, cpu, REFILL_MIN_NR, REFILL_FILL_MS) < 0)
				_exit(BENCH_EXIT_SETUP);
			atomic_fetch_add(&sh->ready, 1);
			while (!atomic_load(&sh->go))
				sched_yield();
			refill_cross(pool, cpu, REFILL_LOW, rounds, e->hz,
				     sh->v + (size_t)i * rounds, &sh->res[i]);
			_exit(BENCH_EXIT_OK);
		}
		started++;
	}
	/* all clients ready, then all go at once */
	deadline = bench_now_ns() + 2 * REFILL_FILL_MS * UINT64_C(1000000);
	while (atomic_load(&sh->ready) < started && bench_now_ns() < deadline &&
	       !bench_stop_requested)
		bench_sleep_ms(1);
	if (atomic_load(&sh->ready) < started)
		why_add(f, "%d clients: only %d of %d started", REFILL_CLIENTS,
			atomic_load(&sh->ready), started);
	atomic_store(&sh->go, 1);
	for (int i = 0; i < started; i++) {
		int status;

		if (bench_stop_requested)
			kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
	}
	f->many.v = calloc((size_t)REFILL_CLIENTS * rounds, sizeof(double));
	if (f->many.v) {
		for (int i = 0; i < started; i++) {
			const struct lat *l = &sh->res[i];
			uint32_t n = l->n > rounds ? rounds : l->n;

			memcpy(f->many.v + f->many.n, sh->v + (size_t)i * rounds,
			       n * sizeof(double));
			f->many.n += n;
			f->many.lost += l->lost;
			f->many.dry += l->dry;
			f->many.unseen += l->unseen;
		}
	}
	for (int i = 0; i < started; i++)
		lat_add_requests(e, names[i], &f->many);
out:
	for (int i = 0; i < REFILL_CLIENTS; i++)
		if (pools[i] && pcpupool_destroy(pools[i]) < 0)
			pcpupool_close(pools[i]);
	munmap(sh, shm_len);
}

/* Producer on one CPU, consumer freeing on another. */
struct draw {
	struct pcpupool *pool;
	int cpu;
	_Atomic uint64_t head __attribute__((aligned(REFILL_CACHELINE)));  /* producer */
	_Atomic uint64_t tail __attribute__((aligned(REFILL_CACHELINE)));  /* consumer */
	_Atomic int stop __attribute__((aligned(REFILL_CACHELINE)));
	void *ring[REFILL_RING] __attribute__((aligned(REFILL_CACHELINE)));
};

static void *draw_consumer(void *arg)
{
	struct draw *d = arg;

	if (bench_pin_self(d->cpu) < 0)
		return NULL;
	for (;;) {
		/* acquire: pairs with the producer's release of head, so the
		 * ring slot is written before it is read */
		uint64_t h = atomic_load_explicit(&d->head, memory_order_acquire);
		uint64_t t = atomic_load_explicit(&d->tail, memory_order_relaxed);

		if (t == h) {
			if (atomic_load_explicit(&d->stop, memory_order_acquire) &&
			    t == atomic_load_explicit(&d->head, memory_order_acquire))
				break;
			bench_cpu_relax();
			continue;
		}
		while (t != h) {
			pcpupool_free(d->ring[t % REFILL_RING], d->pool);
			t++;
		}
		/* release: the slots are free for the producer again */
		atomic_store_explicit(&d->tail, t, memory_order_release);
	}
	return NULL;
}

/*
 * Sustained draw: a producer on one CPU allocates NOWAIT as fast as it can
 * from a pool whose per-CPU reserve (64) is smaller than what it draws in
 * a burst; a consumer on the other CPU frees everything.  The elements
 * only come back to the producer's CPU through the daemon (the consumer's
 * reserve spills to its outbox, the daemon refills the producer's inbox),
 * so the rate it sustains is what async refill keeps up with.
 */
static void refill_draw(const struct refill_env *e, struct refill_figs *f, uint32_t ms)
{
	struct draw *d;
	char name[REFILL_NAME_MAX + 16];
	pthread_t tid;
	uint64_t deadline, allocs = 0, misses = 0, t0;

	if (e->nr_cpus < 2) {
		why_add(f, "draw: needs two CPUs");
		return;
	}
	d = aligned_alloc(REFILL_CACHELINE, sizeof(*d));
	if (!d) {
		why_add(f, "draw: out of memory");
		return;
	}
	memset(d, 0, sizeof(*d));
	d->cpu = e->cpus[1];
	d->pool = refill_pool(e, "draw", REFILL_DRAW_MIN_NR, REFILL_DRAW_LOW, 0, name,
			      sizeof(name));
	if (!d->pool) {
		why_add(f, "draw: pcpupool_create(%s): %s", name, strerror(errno));
		free(d);
		return;
	}
	if (wait_level(d->pool, e->cpus[0], REFILL_DRAW_MIN_NR, REFILL_FILL_MS) < 0 ||
	    bench_pin_self(e->cpus[0]) < 0 || pthread_create(&tid, NULL, draw_consumer, d)) {
		why_add(f, "draw: set-up failed");
		goto out;
	}
	t0 = bench_now_ns();
	deadline = t0 + (uint64_t)ms * 1000000u;
	for (uint64_t i = 0;; i++) {
		uint64_t h = atomic_load_explicit(&d->head, memory_order_relaxed);
		void *p;

		if ((i & 1023) == 0 && bench_now_ns() > deadline)
			break;
		if (h - atomic_load_explicit(&d->tail, memory_order_acquire) >= REFILL_RING) {
			bench_cpu_relax();
			continue;
		}
		p = pcpupool_alloc(d->pool, PCPUPOOL_NOWAIT);
		if (!p) {
			misses++;
			continue;
		}
		allocs++;
		d->ring[h % REFILL_RING] = p;
		/* release: pairs with the consumer's acquire of head */
		atomic_store_explicit(&d->head, h + 1, memory_order_release);
	}
	f->draw_ms = (uint32_t)((bench_now_ns() - t0) / 1000000u);
	atomic_store_explicit(&d->stop, 1, memory_order_release);
	pthread_join(tid, NULL);
	f->draw_allocs = allocs;
	f->draw_misses = misses;
out:
	if (pcpupool_destroy(d->pool) < 0)
		pcpupool_close(d->pool);
	free(d);
}

/* The baseline any asynchronous refill is bound by here: one process sends
 * its CLOCK_MONOTONIC time in a datagram to another sleeping in epoll on the
 * other CPU, which reads its clock on waking.  No pcpupool involved. */
static void refill_wake_baseline(const struct refill_env *e, struct refill_figs *f,
				 uint32_t rounds)
{
	double *v = mmap(NULL, rounds * sizeof(double), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int sv[2];
	pid_t pid;

	if (e->nr_cpus < 2 || v == MAP_FAILED ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
		why_add(f, "wake baseline: %s", e->nr_cpus < 2 ? "needs two CPUs" :
			strerror(errno));
		if (v != MAP_FAILED)
			munmap(v, rounds * sizeof(double));
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
		bench_pin_self(e->cpus[1]);
		for (uint32_t i = 0; i < rounds; i++) {
			struct timespec now;
			uint64_t sent;
			if (poll(&pfd, 1, 5000) != 1 || recv(sv[1], &sent, sizeof(sent), 0) !=
			    (ssize_t)sizeof(sent))
				_exit(1);
			clock_gettime(CLOCK_MONOTONIC, &now);
			v[i] = (double)((uint64_t)now.tv_sec * 1000000000u +
					(uint64_t)now.tv_nsec - sent);
		}
		_exit(0);
	}
	if (pid > 0) {
		int st = 0;
		bench_pin_self(e->cpus[0]);
		for (uint32_t i = 0; i < rounds; i++) {
			struct timespec now;
			uint64_t t;
			usleep(2000);   /* let it fall asleep */
			clock_gettime(CLOCK_MONOTONIC, &now);
			t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
			if (send(sv[0], &t, sizeof(t), 0) < 0)
				break;
		}
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			f->wake.v = malloc(rounds * sizeof(double));
			if (f->wake.v) {
				memcpy(f->wake.v, v, rounds * sizeof(double));
				f->wake.n = rounds;
			}
		} else {
			why_add(f, "wake baseline: the sleeper failed");
		}
	}
	close(sv[0]);
	close(sv[1]);
	munmap(v, rounds * sizeof(double));
}

/* One client, on the first CPU, on a pool of its own. */
static void refill_one(const struct refill_env *e, struct refill_figs *f, uint32_t rounds)
{
	char name[REFILL_NAME_MAX + 16];
	struct pcpupool *pool;

	f->one.v = calloc(rounds, sizeof(double));
	if (!f->one.v || bench_pin_self(e->cpus[0]) != 0)
		return;
	pool = refill_pool(e, "refill", REFILL_MIN_NR, REFILL_LOW, 0, name, sizeof(name));
	if (!pool)
		why_add(f, "1 client: pcpupool_create(%s): %s", name, strerror(errno));
	else if (wait_level(pool, e->cpus[0], REFILL_MIN_NR, REFILL_FILL_MS) < 0)
		why_add(f, "1 client: pool %s never filled", name);
	else {
		refill_cross(pool, e->cpus[0], REFILL_LOW, rounds, e->hz, f->one.v, &f->one);
		lat_add_requests(e, name, &f->one);
	}
	if (pool && pcpupool_destroy(pool) < 0)
		pcpupool_close(pool);
}

void refill_measure(const struct refill_env *e, struct refill_figs *f)
{
	cpu_set_t orig;
	bool q = e->quick;
	uint32_t rounds = q ? REFILL_QUICK_ROUNDS : REFILL_ROUNDS;

	memset(f, 0, sizeof(*f));
	if (sched_getaffinity(0, sizeof(orig), &orig) < 0)
		CPU_ZERO(&orig);
	f->run = true;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\rbench_refill: refill figures ");
	refill_miss(e, f, q ? REFILL_QUICK_MISSES : REFILL_MISSES);
	refill_one(e, f, rounds);
	if (CPU_COUNT(&orig))
		sched_setaffinity(0, sizeof(orig), &orig);
	refill_many(e, f, q ? REFILL_QUICK_CL_ROUNDS : REFILL_CLIENT_ROUNDS);
	refill_draw(e, f, q ? REFILL_QUICK_DRAW_MS : REFILL_DRAW_MS);
	refill_wake_baseline(e, f, rounds);
	if (CPU_COUNT(&orig))
		sched_setaffinity(0, sizeof(orig), &orig);
	lat_sort(&f->wake);
	lat_sort(&f->miss);
	lat_sort(&f->one);
	lat_sort(&f->many);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r%40s\r", "");
}

void refill_free(struct refill_figs *f)
{
	free(f->miss.v);
	free(f->one.v);
	free(f->many.v);
	free(f->wake.v);
}
