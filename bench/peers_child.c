// SPDX-License-Identifier: MIT
/*
 * peers_child.c - a competitor's process in bench_peers: bench_peers run
 * again with --competitor NAME, one per competitor, talking to the parent
 * over a socketpair (peers_proto.h).  It sets the competitor up, starts one
 * worker thread per usable CPU, pinned, and runs each sample the parent
 * asks for: the pairs phase, then the latency phase, every thread in step
 * with the others.  bench_peers.c says how the figures are made; the
 * functions below are where.
 *
 * Shared mutable state: the process has one struct child; its workers
 * share with the main thread the job word and the start spin counter
 * (ordered by pthread barriers) and, through the competitor, the structure
 * measured.  Each worker writes its own struct worker, which the main
 * thread reads after the barrier that ends the sample.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"
#include "peers_proto.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "peers.h"

struct job {
	uint32_t si, ti;
	int nthreads;
	uint64_t chunks, chunk, batches;
	bool record;
	bool quit;
};

struct child;

struct worker {
	struct child *ch;
	pthread_t tid;
	struct peer_thread t;    /* what the competitor sees of it */
	int cpu;
	int err;             /* thread_setup(): 0 or -errno */
	char why[PEERS_WHY];
	uint64_t ovh;        /* timer cost, ticks */
	uint64_t t0, t1, t2, t3; /* ns: pairs phase, latency phase */
	uint64_t *tk;        /* PEERS_MAX_CHUNKS + 1 chunk timestamps */
	uint64_t *d;         /* the chunks' durations */
	uint64_t *scratch;   /* for medians */
	uint64_t med;        /* median duration of the chunks that ran */
	uint64_t cut;        /* chunks this long or longer were preempted */
	uint64_t bad;
	uint64_t nivcsw;     /* involuntary context switches in the sample */
	uint64_t runs;       /* pair loops run: picks the next placement */
	uint64_t wrong;      /* thread_end() */
	struct hist *h;      /* [PEERS_NR_CELLS + 1][2]: cells, then scratch */
} __attribute__((aligned(PEERS_CACHELINE)));

struct child {
	const struct peer *peer;
	int fd;
	int tcount[PEERS_NR_TCOUNTS];
	struct peer_proc proc;       /* what the competitor sees of it */
	pthread_barrier_t start;
	pthread_barrier_t done;
	struct job job;
	_Atomic int ready __attribute__((aligned(PEERS_CACHELINE)));
	int nr_workers;
	struct worker w[PEERS_MAX_THREADS];
};

/* Everyone taking part counts in, then waits for all: the phases of the
 * threads start together.  Relaxed: a rendezvous, nothing is published. */
static void rendezvous(struct child *ch, int target)
{
	atomic_fetch_add_explicit(&ch->ready, 1, memory_order_relaxed);
	while (atomic_load_explicit(&ch->ready, memory_order_relaxed) < target)
		bench_cpu_relax();
}

/* How often the calling thread was preempted so far (a system call,
 * made outside the timed loops). */
static long involuntary_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return 0;
	return ru.ru_nivcsw;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct child *ch = w->ch;
	const struct peer *pe = ch->peer;

	if (sched_getcpu() != w->cpu) {
		bench_set_why(w->why, sizeof(w->why), "worker %d not running on CPU %d", w->t.id,
			      w->cpu);
		w->err = -EINVAL;
	}
	if (!w->err && pe->thread_setup)
		w->err = pe->thread_setup(&ch->proc, &w->t, w->why, sizeof(w->why));
	/* workers measure their timer one after the other (barrier turns) */
	for (int i = 0; i < ch->nr_workers; i++) {
		if (i == w->t.id)
			w->ovh = bench_timer_overhead();
		pthread_barrier_wait(&ch->done);
	}
	for (;;) {
		pthread_barrier_wait(&ch->start);
		struct job job = ch->job;

		if (job.quit)
			break;
		if (w->t.id < job.nthreads && !w->err) {
			int c = peers_cell_index(job.si, job.ti);
			struct hist *ha = &w->h[2 * (job.record ? c : PEERS_NR_CELLS)];
			void *ctx = ch->proc.ctx[job.si];
			long iv0, iv1;
			uint64_t pre, ran;

			rendezvous(ch, job.nthreads);
			iv0 = involuntary_switches();
			w->t0 = bench_now_ns();
			w->bad = pe->pairs[w->runs++ % PEERS_PLACEMENTS](ctx, job.chunks,
									 job.chunk, w->tk);
			w->t1 = bench_now_ns();
			iv1 = involuntary_switches();
			rendezvous(ch, 2 * job.nthreads);
			w->t2 = bench_now_ns();
			w->bad += pe->batches(ctx, job.batches, w->ovh, ha, ha + 1);
			w->t3 = bench_now_ns();
			w->nivcsw = (uint64_t)(involuntary_switches() - iv0);
			/*
			 * Each preemption in the pairs phase lengthened one
			 * chunk: the `pre` longest are the preempted ones
			 * (however slow contention made the others).
			 */
			for (uint64_t k = 0; k < job.chunks; k++)
				w->d[k] = w->scratch[k] = w->tk[k + 1] - w->tk[k];
			qsort(w->scratch, job.chunks, sizeof(w->scratch[0]), bench_cmp_u64);
			pre = (uint64_t)(iv1 - iv0);
			if (pre >= job.chunks)
				pre = job.chunks - 1;
			ran = job.chunks - pre;
			w->cut = pre ? w->scratch[ran] : UINT64_MAX;
			w->med = w->scratch[ran / 2];
		}
		pthread_barrier_wait(&ch->done);
	}
	if (!w->err && pe->thread_end)
		w->wrong = pe->thread_end(&ch->proc, &w->t);
	pthread_barrier_wait(&ch->done);
	return NULL;
}

/* Start one worker per CPU in ch->proc.cpus, pinned before it runs. */
static int child_start_workers(struct child *ch, char *why, size_t len)
{
	int n = ch->proc.nr_threads, r;

	pthread_barrier_init(&ch->start, NULL, (unsigned int)n + 1);
	pthread_barrier_init(&ch->done, NULL, (unsigned int)n + 1);
	ch->nr_workers = n;
	for (int i = 0; i < n; i++) {
		struct worker *w = &ch->w[i];
		pthread_attr_t attr;
		cpu_set_t set;

		w->ch = ch;
		w->t.id = i;
		w->cpu = ch->proc.cpus[i];
		w->h = calloc(2 * (PEERS_NR_CELLS + 1), sizeof(*w->h));
		w->tk = calloc(PEERS_MAX_CHUNKS + 1, sizeof(*w->tk));
		w->d = calloc(PEERS_MAX_CHUNKS, sizeof(*w->d));
		w->scratch = calloc(PEERS_MAX_CHUNKS, sizeof(*w->scratch));
		if (!w->h || !w->tk || !w->d || !w->scratch) {
			bench_set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_attr_init(&attr);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		r = pthread_create(&w->tid, &attr, worker_main, w);
		pthread_attr_destroy(&attr);
		if (r) {
			/* the barriers count on every worker: no way back */
			fprintf(stderr, "bench_peers: pthread_create: %s\n", strerror(r));
			_exit(BENCH_EXIT_SETUP);
		}
	}
	/* the timer turns, one per worker */
	for (int i = 0; i < n; i++)
		pthread_barrier_wait(&ch->done);
	for (int i = 0; i < n; i++) {
		if (ch->w[i].err) {
			bench_set_why(why, len, "%s", ch->w[i].why);
			return ch->w[i].err;
		}
	}
	return 0;
}

/* Whether thread @u ran all through [@s, @e] (ticks): none of its chunks
 * that overlap it was preempted. */
static bool ran_clean(const struct worker *u, uint64_t chunks, uint64_t s, uint64_t e)
{
	uint64_t lo = 0, hi = chunks;

	if (s < u->tk[0] || e > u->tk[chunks])
		return false;
	/* the first chunk ending after s */
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (u->tk[mid + 1] <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint64_t j = lo; j < chunks && u->tk[j] < e; j++)
		if (u->d[j] >= u->cut)
			return false;
	return true;
}

/*
 * Ticks per pair of worker @t over the time it ran: the mean of its chunks
 * that were not preempted and, with several threads, during which every
 * other thread ran too, so that a shared structure is measured shared
 * (contention stalls count, other processes do not).  With too few such
 * chunks (the threads seldom ran at the same time), sets *ret_alone.
 */
static double thread_cyc_pair(struct child *ch, int t, int nt, uint64_t chunks,
			      uint64_t chunk, bool *ret_alone)
{
	struct worker *w = &ch->w[t];
	uint64_t n = 0;
	double sum = 0;

	for (uint64_t k = 0; k < chunks; k++) {
		bool all = w->d[k] < w->cut;

		for (int u = 0; u < nt && all; u++)
			if (u != t)
				all = ran_clean(&ch->w[u], chunks, w->tk[k], w->tk[k + 1]);
		if (all) {
			sum += (double)w->d[k];
			n++;
		}
	}
	if (nt > 1 && (n * 4 < chunks || n < 16))
		*ret_alone = true;
	return n ? sum / (double)n / (double)chunk : (double)w->med / (double)chunk;
}

static void child_run(struct child *ch, const struct peers_cmd *cmd, struct peers_reply *ret)
{
	int nt = ch->tcount[cmd->ti];
	uint64_t first = UINT64_MAX, last = 0, chunk, chunks, pairs;
	double sum = 0, worst = 0, worst_b = 0;

	/* whole chunks of at least PEERS_CHUNK_MIN, at most PEERS_MAX_CHUNKS */
	chunk = (cmd->pairs + PEERS_MAX_CHUNKS - 1) / PEERS_MAX_CHUNKS;
	if (chunk < PEERS_CHUNK_MIN)
		chunk = PEERS_CHUNK_MIN;
	chunks = (cmd->pairs + chunk - 1) / chunk;
	pairs = chunks * chunk;
	ch->job = (struct job){
		.si = cmd->si, .ti = cmd->ti, .nthreads = nt, .chunks = chunks,
		.chunk = chunk, .batches = cmd->batches, .record = cmd->record != 0,
	};
	atomic_store_explicit(&ch->ready, 0, memory_order_relaxed);
	pthread_barrier_wait(&ch->start);
	pthread_barrier_wait(&ch->done);

	memset(ret, 0, sizeof(*ret));
	ret->pairs = pairs;
	for (int i = 0; i < nt; i++) {
		const struct worker *w = &ch->w[i];
		double ns = (double)(w->t1 - w->t0) / (double)pairs;
		double bns = cmd->batches ? (double)(w->t3 - w->t2) / (double)cmd->batches : 0;

		sum += ns;
		if (ns > worst)
			worst = ns;
		if (bns > worst_b)
			worst_b = bns;
		if (w->t0 < first)
			first = w->t0;
		if (w->t1 > last)
			last = w->t1;
		ret->bad += w->bad;
		ret->preempted += w->nivcsw;
	}
	for (int i = 0; i < nt; i++) {
		bool alone = false;
		double cyc = thread_cyc_pair(ch, i, nt, chunks, chunk, &alone);

		ret->cyc_pair += cyc / nt;
		ret->inv_cyc_sum += cyc > 0 ? 1 / cyc : 0;
		ret->alone |= alone;
	}
	ret->ns = sum / nt;
	ret->worst_ns = worst;
	ret->batch_ns = worst_b;
	ret->mps = last > first ? (double)pairs * nt * 1e3 / (double)(last - first) : 0;
}

static int child_finish(struct child *ch)
{
	struct peers_final fin = { .status = 0 };
	struct hist *h = calloc(2 * PEERS_NR_CELLS, sizeof(*h));
	int r;

	ch->job = (struct job){ .quit = true };
	pthread_barrier_wait(&ch->start);
	pthread_barrier_wait(&ch->done);   /* thread_end() done */
	for (int i = 0; i < ch->nr_workers; i++) {
		pthread_join(ch->w[i].tid, NULL);
		fin.wrong += ch->w[i].wrong;
	}
	if (ch->peer->check)
		fin.wrong += ch->peer->check(&ch->proc);
	if (!h)
		fin.status = -ENOMEM;
	r = proto_send(ch->fd, &fin, sizeof(fin));
	if (!r && h) {
		for (int i = 0; i < ch->nr_workers; i++)
			for (int k = 0; k < 2 * PEERS_NR_CELLS; k++)
				hist_merge(&h[k], &ch->w[i].h[k]);
		r = proto_send(ch->fd, h, 2 * PEERS_NR_CELLS * sizeof(*h));
	}
	free(h);
	return r;
}

int child_main(const char *competitor, int control_fd, const char *socket,
	       const char *pool_prefix)
{
	struct child *ch = aligned_alloc(PEERS_CACHELINE, sizeof(*ch));
	struct peers_hello hello;
	struct peers_cmd cmd;
	int p = peer_by_name(competitor, strlen(competitor)), n, r;

	if (!ch || p < 0 || control_fd < 0)
		return BENCH_EXIT_SETUP;
	memset(ch, 0, sizeof(*ch));
	memset(&hello, 0, sizeof(hello));
	ch->peer = peer_list[p];
	ch->fd = control_fd;
	ch->proc.socket = socket;
	ch->proc.pool_prefix = pool_prefix;
	ch->proc.nr_cpus_conf = (uint32_t)get_nprocs_conf();
	prctl(PR_SET_PDEATHSIG, SIGKILL);

	/* the CPUs first: DPDK's EAL pins this thread */
	n = bench_pick_cpus(ch->proc.nr_cpus_conf, ch->proc.cpus, PEERS_MAX_THREADS);
	if (n <= 0) {
		hello.status = -ENODEV;
		bench_set_why(hello.why, sizeof(hello.why), "no usable CPU");
		goto hello;
	}
	ch->proc.nr_threads = n;
	ch->tcount[0] = 1;
	ch->tcount[1] = n;
	hello.nr_threads = (uint32_t)n;
	memcpy(hello.cpus, ch->proc.cpus, sizeof(hello.cpus));
	hello.status = ch->peer->setup(&ch->proc, hello.why, sizeof(hello.why));
	if (!hello.status)
		hello.status = child_start_workers(ch, hello.why, sizeof(hello.why));
	for (int i = 0; i < ch->nr_workers; i++)
		if (ch->w[i].ovh > hello.ovh)
			hello.ovh = ch->w[i].ovh;
	snprintf(hello.version, sizeof(hello.version), "%s", ch->proc.version);
hello:
	r = proto_send(ch->fd, &hello, sizeof(hello));
	if (r < 0 || hello.status) {
		/* workers may be parked in a barrier: they touch nothing more */
		if (ch->peer->teardown)
			ch->peer->teardown(&ch->proc);
		_exit(r < 0 ? BENCH_EXIT_SETUP : BENCH_EXIT_OK);
	}

	for (;;) {
		struct peers_reply rep;

		r = proto_recv(ch->fd, &cmd, sizeof(cmd), -1, NULL);
		if (r < 0)
			_exit(BENCH_EXIT_SETUP);   /* the parent is gone */
		if (cmd.op == JOB_FINISH)
			break;
		if (cmd.op != JOB_RUN || cmd.si >= PEERS_NR_SIZES || cmd.ti >= PEERS_NR_TCOUNTS ||
		    !cmd.pairs) {
			memset(&rep, 0, sizeof(rep));
			rep.status = -EINVAL;
		} else {
			child_run(ch, &cmd, &rep);
		}
		if (proto_send(ch->fd, &rep, sizeof(rep)) < 0)
			_exit(BENCH_EXIT_SETUP);
	}
	r = child_finish(ch);
	if (ch->peer->teardown)
		ch->peer->teardown(&ch->proc);
	for (int i = 0; i < ch->nr_workers; i++) {
		free(ch->w[i].h);
		free(ch->w[i].tk);
		free(ch->w[i].d);
		free(ch->w[i].scratch);
	}
	close(ch->fd);
	free(ch);
	return r < 0 ? BENCH_EXIT_SETUP : BENCH_EXIT_OK;
}
