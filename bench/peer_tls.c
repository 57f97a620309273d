// SPDX-License-Identifier: MIT
/*
 * peer_tls.c - the floor of any design in bench_peers: a free list in a
 * __thread variable, nothing shared, nothing atomic.
 *
 * Shared mutable state: tls_free, thread-local because that is what this
 * competitor measures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The competitor itself: one free list per size per thread. */
static __thread void *tls_free[PEERS_NR_SIZES];

struct tls_ctx {
	int si;
};

struct tls_thread {
	void *mem[PEERS_NR_SIZES];
};

static inline void *tls_get(struct tls_ctx *c)
{
	void *p = tls_free[c->si];

	if (likely(p))
		tls_free[c->si] = *(void **)p;
	return p;
}

static inline void tls_put(struct tls_ctx *c, void *p)
{
	*(void **)p = tls_free[c->si];
	tls_free[c->si] = p;
}

PEER_LOOPS(tls)

static int tls_setup(struct peer_proc *pp, char *why, size_t len)
{
	struct tls_ctx *c = calloc(PEERS_NR_SIZES, sizeof(*c));

	(void)why; (void)len;
	if (!c)
		return -ENOMEM;
	pp->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		c[si].si = si;
		pp->ctx[si] = &c[si];
	}
	snprintf(pp->version, sizeof(pp->version), "__thread singly linked list");
	return 0;
}

static int tls_thread_setup(struct peer_proc *pp, struct peer_thread *th, char *why,
			    size_t len)
{
	struct tls_thread *t = calloc(1, sizeof(*t));

	(void)pp;
	if (!t) {
		bench_set_why(why, len, "out of memory");
		return -ENOMEM;
	}
	th->priv = t;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		size_t sz = peer_sizes[si];
		char *m = aligned_alloc(PEERS_CACHELINE, PEERS_PER_CPU * sz);

		if (!m) {
			bench_set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		memset(m, 0, PEERS_PER_CPU * sz);
		t->mem[si] = m;
		tls_free[si] = NULL;
		for (uint32_t k = 0; k < PEERS_PER_CPU; k++)
			*(void **)(m + k * sz) = k + 1 < PEERS_PER_CPU ? m + (k + 1) * sz : NULL;
		tls_free[si] = m;
	}
	return 0;
}

static uint64_t tls_thread_end(struct peer_proc *pp, struct peer_thread *th)
{
	struct tls_thread *t = th->priv;
	uint64_t wrong = 0;

	(void)pp;
	if (!t)
		return 0;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		uint32_t n = 0;

		for (void *p = tls_free[si]; p && n <= PEERS_PER_CPU; p = *(void **)p)
			n++;
		if (n != PEERS_PER_CPU) {
			fprintf(stderr, "tls-freelist: thread %d holds %u of %u "
				"%zu-byte elements\n", th->id, n, PEERS_PER_CPU, peer_sizes[si]);
			wrong++;
		}
		free(t->mem[si]);
		tls_free[si] = NULL;
	}
	free(t);
	th->priv = NULL;
	return wrong;
}

const struct peer peer_tls = {
	.name = "tls-freelist", .label = "thread-local free list", .floor = true,
	.setup = tls_setup, .thread_setup = tls_thread_setup,
	.thread_end = tls_thread_end, .teardown = peer_free_priv,
	.pairs = tls_pairs, .batches = tls_batches,
};
