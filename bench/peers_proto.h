/* SPDX-License-Identifier: MIT */
/*
 * peers_proto.h - how bench_peers talks to a competitor's process over
 * their socketpair: one struct each way per step, in the order
 *
 *   competitor -> parent  struct peers_hello, once it is set up;
 *   parent -> competitor  struct peers_cmd JOB_RUN, answered by a
 *                         struct peers_reply, as many times as samples;
 *   parent -> competitor  struct peers_cmd JOB_FINISH, answered by a
 *                         struct peers_final and, if its status is 0,
 *                         2 * PEERS_NR_CELLS struct hist (alloc, free of
 *                         each cell).
 *
 * A cell is one element size and one thread count, cell = si *
 * PEERS_NR_TCOUNTS + ti.  Both ends are this program: the structs go as
 * they are in memory.  Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_PEERS_PROTO_H
#define PCPUPOOL_BENCH_PEERS_PROTO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"

#define PEERS_NR_TCOUNTS        2        /* 1 thread, one per usable CPU */
#define PEERS_NR_CELLS          (PEERS_NR_SIZES * PEERS_NR_TCOUNTS)
#define PEERS_CHUNK_MIN         4096u    /* pairs between two timestamps */
#define PEERS_MAX_CHUNKS        8192u    /* timestamps per thread and sample */

enum job_op { JOB_RUN = 1, JOB_FINISH = 2 };

/* parent -> child */
struct peers_cmd {
	uint32_t op;         /* enum job_op */
	uint32_t si;         /* size index */
	uint32_t ti;         /* thread-count index */
	uint32_t record;     /* add the batches to the cell's histograms */
	uint64_t pairs;      /* per thread */
	uint64_t batches;    /* per thread */
};

/* child -> parent, once at start */
struct peers_hello {
	int32_t status;      /* 0 ready, else -errno: unavailable */
	uint32_t nr_threads;
	int32_t cpus[PEERS_MAX_THREADS];
	uint64_t ovh;        /* timer cost, ticks (largest of the threads) */
	char why[PEERS_WHY];
	char version[PEERS_VERSION];
};

/* child -> parent, after each JOB_RUN */
struct peers_reply {
	int32_t status;
	uint32_t pad;
	double ns;           /* ns per pair per thread, mean of the threads */
	double mps;          /* aggregate M pairs/s */
	double worst_ns;     /* slowest thread's ns per pair */
	double batch_ns;     /* slowest thread's ns per batch */
	double cyc_pair;     /* ticks per pair over a thread's running
			      * chunks (thread_cyc_pair), mean of the threads */
	double inv_cyc_sum;  /* sum over the threads of 1 / that */
	uint32_t alone;      /* too few chunks with every thread running */
	uint32_t pad2;
	uint64_t pairs;      /* per thread, as run (whole chunks) */
	uint64_t bad;        /* failed allocations */
	uint64_t preempted;  /* involuntary context switches of the workers */
};

/* child -> parent, after JOB_FINISH: this, then the histograms */
struct peers_final {
	int32_t status;
	uint32_t pad;
	uint64_t wrong;      /* elements lost or duplicated */
};

static inline int peers_cell_index(uint32_t si, uint32_t ti)
{
	return (int)(si * PEERS_NR_TCOUNTS + ti);
}

/* Send all of @buf: 0 or -errno (-EPIPE: the other end is gone). */
int proto_send(int fd, const void *buf, size_t len);

/* Read exactly @len bytes, waiting at most @timeout_ms (< 0: forever).
 * Return 0, -EPIPE at end of file, -ETIMEDOUT, -EINTR if @stop got set,
 * or another -errno. */
int proto_recv(int fd, void *buf, size_t len, int timeout_ms, volatile sig_atomic_t *stop);

#endif
