// SPDX-License-Identifier: MIT
/*
 * peers_rounds.c - bench_peers' parent running the competitors: one process
 * each (peers_child.c), started, warmed up and sized, then the rounds that
 * alternate them, then their results collected.  bench_peers.c says how
 * the rounds go.
 *
 * Shared mutable state: struct bench, the parent's; bench_stop_requested.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peers.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PEERS_HELLO_TIMEOUT_MS  60000    /* a competitor's set-up */
#define PEERS_RUN_TIMEOUT_MS    120000   /* one warm-up sample */
#define PEERS_MIN_PAIRS         10000u
#define PEERS_MAX_PAIRS         2000000000u
#define PEERS_MIN_BATCHES       200u
#define PEERS_MAX_BATCHES       20000000u

/* Whether the dynamic linker finds shared object @name (else the child
 * runs without it, reports it unavailable, and ld.so stays quiet).  Only
 * "not found" counts: jemalloc, for one, exists but refuses dlopen(). */
static bool preload_findable(const char *name)
{
	void *h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
	const char *err;

	if (h)
		return true;   /* the process is about to exec: no dlclose() */
	err = dlerror();
	return !err || !strstr(err, "cannot open shared object file");
}

/* Fork and exec this program as competitor @p; wait for its hello. */
void rounds_spawn(struct bench *b, int p)
{
	struct prun *r = &b->run[p];
	struct peers_hello hello;
	int sv[2], e;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r->state = PRUN_FAILED;
		bench_set_why(r->why, sizeof(r->why), "socketpair: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r->state = PRUN_FAILED;
		bench_set_why(r->why, sizeof(r->why), "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		char fd_arg[16];
		const char *argv[16];
		int a = 0;

		close(sv[0]);
		if (fcntl(sv[1], F_SETFD, 0) < 0)
			_exit(127);
		snprintf(fd_arg, sizeof(fd_arg), "%d", sv[1]);
		argv[a++] = "bench_peers";
		argv[a++] = "--competitor";
		argv[a++] = peer_list[p]->name;
		argv[a++] = "--control-fd";
		argv[a++] = fd_arg;
		if (peer_list[p]->ours && b->d.client) {
			argv[a++] = "--socket";
			argv[a++] = b->d.sock;
			argv[a++] = "--pool-prefix";
			argv[a++] = b->prefix;
		}
		argv[a] = NULL;
		if (peer_list[p]->preload && preload_findable(peer_list[p]->preload))
			setenv("LD_PRELOAD", peer_list[p]->preload, 1);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	r->pid = pid;
	r->fd = sv[0];
	e = proto_recv(r->fd, &hello, sizeof(hello), PEERS_HELLO_TIMEOUT_MS, &bench_stop_requested);
	if (e < 0) {
		r->state = PRUN_FAILED;
		bench_set_why(r->why, sizeof(r->why), "its process did not start (%s)",
			      e == -EPIPE ? "died" : strerror(-e));
		return;
	}
	snprintf(r->version, sizeof(r->version), "%s", hello.version);
	if (hello.status) {
		r->state = PRUN_UNAVAILABLE;
		snprintf(r->why, sizeof(r->why), "%s", hello.why[0] ? hello.why
			 : strerror(-hello.status));
		return;
	}
	if ((int)hello.nr_threads != b->nr_threads ||
	    memcmp(hello.cpus, b->cpus, sizeof(hello.cpus))) {
		r->state = PRUN_FAILED;
		bench_set_why(r->why, sizeof(r->why), "it picked other CPUs than the parent");
		return;
	}
	r->ovh = hello.ovh;
	r->state = PRUN_READY;
}

/* Reap @r's process (after SIGKILL if @kill_it), saying how it ended if
 * it failed. */
void rounds_reap(struct prun *r, bool kill_it)
{
	int status;

	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->pid <= 0)
		return;
	if (kill_it)
		kill(r->pid, SIGKILL);
	if (waitpid(r->pid, &status, 0) == r->pid && r->state == PRUN_FAILED) {
		size_t l = strlen(r->why);

		if (WIFSIGNALED(status))
			snprintf(r->why + l, sizeof(r->why) - l, "; killed by signal %d",
				 WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status))
			snprintf(r->why + l, sizeof(r->why) - l, "; exit status %d",
				 WEXITSTATUS(status));
	}
	r->pid = 0;
}

static void fail_run(struct prun *r, const char *what, int e)
{
	r->state = PRUN_FAILED;
	bench_set_why(r->why, sizeof(r->why), "%s: %s", what,
		      e == -EPIPE ? "its process died" : strerror(-e));
	rounds_reap(r, true);
}

/* One sample of cell @c of competitor @p. */
static int run_cell(struct bench *b, int p, int c, uint64_t pairs, uint64_t batches,
		    bool record, int timeout_ms, struct peers_reply *ret)
{
	struct prun *r = &b->run[p];
	struct peers_cmd cmd = {
		.op = JOB_RUN, .si = (uint32_t)c / PEERS_NR_TCOUNTS,
		.ti = (uint32_t)c % PEERS_NR_TCOUNTS, .record = record,
		.pairs = pairs, .batches = batches,
	};
	int e = proto_send(r->fd, &cmd, sizeof(cmd));

	if (!e)
		e = proto_recv(r->fd, ret, sizeof(*ret), timeout_ms, &bench_stop_requested);
	if (!e && ret->status)
		e = ret->status;
	if (e < 0) {
		if (e != -EINTR)
			fail_run(r, "a sample failed", e);
		return e;
	}
	r->cell[c].bad += ret->bad;
	return 0;
}

void rounds_finish(struct bench *b, int p)
{
	struct prun *r = &b->run[p];
	struct peers_cmd cmd = { .op = JOB_FINISH };
	struct peers_final fin;
	struct hist *h = calloc(2 * PEERS_NR_CELLS, sizeof(*h));
	int e;

	if (!h) {
		fail_run(r, "finish", -ENOMEM);
		return;
	}
	e = proto_send(r->fd, &cmd, sizeof(cmd));
	if (!e)
		e = proto_recv(r->fd, &fin, sizeof(fin), PEERS_RUN_TIMEOUT_MS, NULL);
	if (!e && fin.status)
		e = fin.status;
	if (!e)
		e = proto_recv(r->fd, h, 2 * PEERS_NR_CELLS * sizeof(*h),
			       PEERS_RUN_TIMEOUT_MS, NULL);
	if (e < 0) {
		free(h);
		fail_run(r, "collecting its results", e);
		return;
	}
	r->wrong = fin.wrong;
	for (int c = 0; c < PEERS_NR_CELLS; c++) {
		r->cell[c].ha = &h[2 * c];
		r->cell[c].hf = &h[2 * c + 1];
	}
	r->state = PRUN_DONE;
	rounds_reap(r, false);
}

static uint64_t clamp_u64(double x, uint64_t lo, uint64_t hi)
{
	if (!(x >= (double)lo))
		return lo;
	if (x >= (double)hi)
		return hi;
	return (uint64_t)x;
}

/* Size the next sample of @cl from the last one (the slowest thread), so
 * that each phase lasts about its budget whatever the machine does. */
static void size_cell(const struct bench *b, struct pcell *cl, const struct peers_reply *rep)
{
	cl->pairs = clamp_u64((double)b->o.pair_ms * 1e6 / rep->worst_ns,
			      PEERS_MIN_PAIRS, PEERS_MAX_PAIRS);
	cl->batches = clamp_u64((double)b->o.batch_ms * 1e6 / rep->batch_ns,
				PEERS_MIN_BATCHES, PEERS_MAX_BATCHES);
}

/* The warm-up round: every cell once, unrecorded; size the samples. */
void rounds_warm_up(struct bench *b)
{
	for (int p = 0; p < NR_PEERS; p++) {
		for (int c = 0; c < PEERS_NR_CELLS && peers_running(&b->run[p]); c++) {
			struct pcell *cl = &b->run[p].cell[c];
			struct peers_reply rep;

			if (!cl->enabled)
				continue;
			if (run_cell(b, p, c, b->o.warm_pairs, b->o.warm_batches, false,
				     PEERS_RUN_TIMEOUT_MS, &rep) < 0) {
				if (bench_stop_requested)
					return;
				break;   /* that competitor failed: the others go on */
			}
			size_cell(b, cl, &rep);
		}
	}
}

/* Every enabled cell of every running competitor, as p * NR_CELLS + c. */
static int list_cells(const struct bench *b, int *ret_list)
{
	int n = 0;

	for (int p = 0; p < NR_PEERS; p++)
		for (int c = 0; c < PEERS_NR_CELLS; c++)
			if (peers_running(&b->run[p]) && b->run[p].cell[c].enabled)
				ret_list[n++] = p * PEERS_NR_CELLS + c;
	return n;
}

void rounds_run(struct bench *b)
{
	int list[NR_PEERS * PEERS_NR_CELLS];
	int n = list_cells(b, list);
	bool tty = isatty(STDERR_FILENO);
	uint64_t t0 = bench_now_ns(), budget = b->o.budget_s * UINT64_C(1000000000);

	for (uint32_t round = 0; round < b->o.samples && !bench_stop_requested; round++) {
		uint64_t spent = bench_now_ns() - t0;

		/* a loaded machine makes rounds slower: stop before the budget
		 * rather than after it (every cell keeps the same samples) */
		if (round && spent + spent / round > budget)
			break;
		if (tty)
			fprintf(stderr, "\rbench_peers: round %u of %u ", round + 1, b->o.samples);
		for (int k = 0; k < n && !bench_stop_requested; k++) {
			int i = list[(round + (uint32_t)k) % (uint32_t)n];
			int p = i / PEERS_NR_CELLS, c = i % PEERS_NR_CELLS;
			struct pcell *cl = &b->run[p].cell[c];
			struct peers_reply rep;
			/* ten times the budget, and some */
			int timeout = (int)(10 * (b->o.pair_ms + b->o.batch_ms)) + 10000;

			if (!peers_running(&b->run[p]))
				continue;
			if (run_cell(b, p, c, cl->pairs, cl->batches, true, timeout, &rep) < 0)
				continue;
			if (!rep.alone) {
				cl->ns[cl->rn] = rep.cyc_pair * 1e9 / b->hz;
				cl->mps[cl->rn] = rep.inv_cyc_sum * b->hz / 1e6;
				cl->rn++;
			}
			cl->wns[cl->n] = rep.ns;
			cl->wmps[cl->n] = rep.mps;
			cl->n++;
			size_cell(b, cl, &rep);
			cl->preempted += rep.preempted;
			cl->n_preempted += rep.preempted > 0;
			cl->n_alone += rep.alone != 0;
		}
		b->rounds_done = round + 1;
	}
	if (tty)
		fprintf(stderr, "\r%40s\r", "");
}
