// SPDX-License-Identifier: MIT
/*
 * peer_treiber.c - the textbook lock-free shared stack in bench_peers: one
 * global LIFO (Treiber stack) whose head is {ABA tag, index} in one 64-bit
 * word, swapped with CAS.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRB_NIL UINT32_MAX

/* head = {tag : 32 | index : 32}; every successful CAS bumps the tag, so
 * a pop that read `next` of an element popped and pushed back meanwhile
 * fails its CAS instead of installing a stale next. */
struct trb_ctx {
	_Atomic uint64_t head;
	/* read-only after set-up, on a line of its own */
	char *elems __attribute__((aligned(PEERS_CACHELINE)));
	_Atomic uint32_t *next;  /* links, out of the elements */
	uint32_t nr;
	uint32_t shift;          /* log2 of the element size */
} __attribute__((aligned(PEERS_CACHELINE)));

static inline uint64_t trb_word(uint64_t old, uint32_t idx)
{
	return (((old >> 32) + 1) << 32) | idx;
}

static inline void *trb_get(struct trb_ctx *c)
{
	/* acquire: pairs with the release CAS of the push that published
	 * this head, so its next link and contents are visible */
	uint64_t old = atomic_load_explicit(&c->head, memory_order_acquire), nw;

	do {
		uint32_t i = (uint32_t)old;

		if (unlikely(i == TRB_NIL))
			return NULL;
		nw = trb_word(old, atomic_load_explicit(&c->next[i], memory_order_relaxed));
	} while (!atomic_compare_exchange_weak_explicit(&c->head, &old, nw,
							memory_order_acquire,
							memory_order_acquire));
	return c->elems + ((size_t)(uint32_t)old << c->shift);
}

static inline void trb_put(struct trb_ctx *c, void *p)
{
	uint32_t i = (uint32_t)(((char *)p - c->elems) >> c->shift);
	uint64_t old = atomic_load_explicit(&c->head, memory_order_relaxed), nw;

	do {
		atomic_store_explicit(&c->next[i], (uint32_t)old, memory_order_relaxed);
		nw = trb_word(old, i);
		/* release: publishes next[i] and the element (pairs with the
		 * acquire in trb_get) */
	} while (!atomic_compare_exchange_weak_explicit(&c->head, &old, nw,
							memory_order_release,
							memory_order_relaxed));
}

PEER_LOOPS(trb)

static int trb_setup(struct peer_proc *pp, char *why, size_t len)
{
	struct trb_ctx *c = peer_alloc_ctx(pp, sizeof(*c));

	if (!c)
		return -ENOMEM;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		size_t sz = peer_sizes[si];

		c[si].nr = PEERS_PER_CPU * (uint32_t)pp->nr_threads;
		c[si].shift = (uint32_t)__builtin_ctzll(sz);
		if ((size_t)1 << c[si].shift != sz) {
			bench_set_why(why, len, "element size %zu is not a power of two", sz);
			return -EINVAL;
		}
		c[si].elems = aligned_alloc(PEERS_CACHELINE, c[si].nr * sz);
		c[si].next = calloc(c[si].nr, sizeof(*c[si].next));
		if (!c[si].elems || !c[si].next) {
			bench_set_why(why, len, "out of memory");
			return -ENOMEM;
		}
		memset(c[si].elems, 0, c[si].nr * sz);
		for (uint32_t k = 0; k < c[si].nr; k++)
			atomic_init(&c[si].next[k], k + 1 < c[si].nr ? k + 1 : TRB_NIL);
		atomic_init(&c[si].head, 0);   /* tag 0, element 0 on top */
		pp->ctx[si] = &c[si];
	}
	snprintf(pp->version, sizeof(pp->version), "64-bit {tag, index} CAS, %s",
		 atomic_is_lock_free(&c[0].head) ? "lock-free" : "NOT lock-free");
	return 0;
}

static uint64_t trb_check(struct peer_proc *pp)
{
	struct trb_ctx *c = pp->priv;
	uint64_t wrong = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		uint8_t *seen = calloc(c[si].nr, 1);
		uint32_t n = 0, i = (uint32_t)atomic_load(&c[si].head);

		while (seen && i != TRB_NIL && i < c[si].nr && !seen[i]) {
			seen[i] = 1;
			n++;
			i = atomic_load(&c[si].next[i]);
		}
		free(seen);
		if (n != c[si].nr || i != TRB_NIL) {
			fprintf(stderr, "treiber: %u of %u %zu-byte elements\n", n, c[si].nr,
				peer_sizes[si]);
			wrong++;
		}
	}
	return wrong;
}

static void trb_teardown(struct peer_proc *pp)
{
	struct trb_ctx *c = pp->priv;

	if (!c)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		free(c[si].elems);
		free(c[si].next);
	}
	free(c);
}

const struct peer peer_treiber = {
	.name = "treiber", .label = "Treiber stack (ABA tag)",
	.setup = trb_setup, .check = trb_check, .teardown = trb_teardown,
	.pairs = trb_pairs, .batches = trb_batches,
};
