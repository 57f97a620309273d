// SPDX-License-Identifier: MIT
/*
 * peer_mutex.c - the textbook shared free list in bench_peers: one global
 * free list under one pthread mutex.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"

#include <errno.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mtx_ctx {
	pthread_mutex_t lock;
	void *head;              /* under lock */
	char *mem __attribute__((aligned(PEERS_CACHELINE)));
	uint32_t nr;
	size_t size;
};

static inline void *mtx_get(struct mtx_ctx *c)
{
	void *p;

	pthread_mutex_lock(&c->lock);
	p = c->head;
	if (likely(p))
		c->head = *(void **)p;
	pthread_mutex_unlock(&c->lock);
	return p;
}

static inline void mtx_put(struct mtx_ctx *c, void *p)
{
	pthread_mutex_lock(&c->lock);
	*(void **)p = c->head;
	c->head = p;
	pthread_mutex_unlock(&c->lock);
}

PEER_LOOPS(mtx)

static int mtx_setup(struct peer_proc *pp, char *why, size_t len)
{
	struct mtx_ctx *c = peer_alloc_ctx(pp, sizeof(*c));

	if (!c)
		return -ENOMEM;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		size_t sz = peer_sizes[si];

		c[si].nr = PEERS_PER_CPU * (uint32_t)pp->nr_threads;
		c[si].size = sz;
		c[si].mem = aligned_alloc(PEERS_CACHELINE, c[si].nr * sz);
		if (!c[si].mem || pthread_mutex_init(&c[si].lock, NULL)) {
			bench_set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		memset(c[si].mem, 0, c[si].nr * sz);
		for (uint32_t k = 0; k < c[si].nr; k++)
			*(void **)(c[si].mem + k * sz) =
				k + 1 < c[si].nr ? c[si].mem + (k + 1) * sz : NULL;
		c[si].head = c[si].mem;
		pp->ctx[si] = &c[si];
	}
	snprintf(pp->version, sizeof(pp->version), "pthread_mutex_t (glibc %s)",
		 gnu_get_libc_version());
	return 0;
}

static uint64_t mtx_check(struct peer_proc *pp)
{
	struct mtx_ctx *c = pp->priv;
	uint64_t wrong = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		uint32_t n = 0;

		for (char *p = c[si].head; p && n <= c[si].nr; p = *(void **)p) {
			if (p < c[si].mem || (size_t)(p - c[si].mem) % c[si].size ||
			    (size_t)(p - c[si].mem) / c[si].size >= c[si].nr)
				break;
			n++;
		}
		if (n != c[si].nr) {
			fprintf(stderr, "mutex-freelist: %u of %u %zu-byte elements\n",
				n, c[si].nr, c[si].size);
			wrong++;
		}
	}
	return wrong;
}

static void mtx_teardown(struct peer_proc *pp)
{
	struct mtx_ctx *c = pp->priv;

	if (!c)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		if (c[si].mem)
			pthread_mutex_destroy(&c[si].lock);
		free(c[si].mem);
	}
	free(c);
}

const struct peer peer_mutex = {
	.name = "mutex-freelist", .label = "pthread mutex free list",
	.setup = mtx_setup, .check = mtx_check, .teardown = mtx_teardown,
	.pairs = mtx_pairs, .batches = mtx_batches,
};
