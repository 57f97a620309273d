// SPDX-License-Identifier: MIT
/*
 * peer_rseq.c - the cross-process floor in bench_peers: the per-CPU rseq
 * array stack of rseq_floor.h (shared with bench_slab), inline as
 * pcpupool's sections are, and behind a call as the library's functions
 * are (the floor for pcpupool-call).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"
#include "rseq_floor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* The loop reaches the stacks through a pointer in its context, as
 * pcpupool's loop reaches its pool (struct pcp_ctx) and DPDK's its mempool:
 * the volatile store into each element makes every loop reload that pointer
 * before the free.  With the struct floor itself in the context, the floor
 * could skip that reload and the loads that depend on it, which pcpupool
 * cannot (its handle is opaque), and the comparison would flatter it. */
struct rsq_ctx {
	struct floor *fp;      /* &f */
	struct floor f;
};

static inline void *rsq_get(struct rsq_ctx *c)
{
	return floor_pop(c->fp);
}

static inline void rsq_put(struct rsq_ctx *c, void *p)
{
	floor_push(c->fp, p);
}

PEER_LOOPS(rsq)

/* The same behind a call, as pcpupool-call reaches the library: the floor
 * of a per-CPU design whose alloc and free are functions.  The pointers
 * are read each call, so nothing can inline them. */
static __attribute__((noinline)) void *rsq_pop_fn(const struct floor *f)
{
	return floor_pop(f);
}

static __attribute__((noinline)) void rsq_push_fn(const struct floor *f, void *p)
{
	floor_push(f, p);
}

static void *(*volatile rsqc_pop)(const struct floor *) = rsq_pop_fn;
static void (*volatile rsqc_push)(const struct floor *, void *) = rsq_push_fn;

#define rsqc_ctx rsq_ctx

static inline void *rsqc_get(struct rsq_ctx *c)
{
	return rsqc_pop(c->fp);
}

static inline void rsqc_put(struct rsq_ctx *c, void *p)
{
	rsqc_push(c->fp, p);
}

PEER_LOOPS(rsqc)

static int rsq_setup(struct peer_proc *pp, char *why, size_t len)
{
	struct rsq_ctx *c = calloc(PEERS_NR_SIZES, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pp->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		const char *no;

		if (floor_init(&c[si].f, pp->nr_cpus_conf, pp->cpus, pp->nr_threads,
			       PEERS_PER_CPU, peer_sizes[si]) < 0) {
			bench_set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		no = floor_unusable_reason(&c[si].f);
		if (no) {
			bench_set_why(why, len, "%s", no);
			return -EOPNOTSUPP;
		}
		c[si].fp = &c[si].f;
		pp->ctx[si] = &c[si];
	}
	snprintf(pp->version, sizeof(pp->version), "bench/rseq_floor.h, __rseq_size %u",
		 (unsigned int)__rseq_size);
	return 0;
}

static uint64_t rsq_check(struct peer_proc *pp)
{
	struct rsq_ctx *c = pp->priv;
	uint64_t wrong = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++)
		wrong += (uint64_t)floor_check(&c[si].f, "rseq-array");
	return wrong;
}

static void rsq_teardown(struct peer_proc *pp)
{
	struct rsq_ctx *c = pp->priv;

	if (!c)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++)
		floor_destroy(&c[si].f);
	free(c);
}

const struct peer peer_rseq = {
	.name = "rseq-array", .label = "rseq per-CPU array", .floor = true,
	.setup = rsq_setup, .check = rsq_check, .teardown = rsq_teardown,
	.pairs = rsq_pairs, .batches = rsq_batches,
};

const struct peer peer_rseq_call = {
	.name = "rseq-array-call", .label = "rseq per-CPU array, call", .floor = true,
	.setup = rsq_setup, .check = rsq_check, .teardown = rsq_teardown,
	.pairs = rsqc_pairs, .batches = rsqc_batches,
};
