// SPDX-License-Identifier: MIT
/*
 * slab_list.c - the lock-free lists (inbox, outbox, spare): pushed onto
 * with a CAS, taken whole with an exchange, walked with every link checked.
 * The design, invariants and memory-order pairings of the slab core are
 * described at the top of slab.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_impl.h"

#include <errno.h>


/* ------------------------------------------------------------------ */
/* lists                                                               */

/* Link idx[0..n) into a chain through meta.next; the tail is left for
 * the caller to link. */
static void chain_link(const struct slab_view *v, const uint32_t *idx, uint32_t n)
{
	/* an element on a list belongs to nobody (owner 0): see "Ownership"
	 * in slab.h; the store shares the 8 bytes the link is written to */
	for (uint32_t i = 0; i < n; i++) {
		atomic_store_explicit(&v->meta[idx[i]].owner, 0, memory_order_relaxed);
		if (i + 1 < n)
			atomic_store_explicit(&v->meta[idx[i]].next, idx[i + 1],
					      memory_order_relaxed);
	}
}

/* Attempts at a list word before giving up: each failed one means the
 * word changed, which honest pushers do a few times at most in a row; a
 * process that rewrites the word without end must not hold the daemon (or
 * another client) in the loop for ever. */
#define SLAB_CAS_TRIES 100000u

/* Push a linked chain {head..tail, n} onto @box.  Return 0, or -EBUSY when
 * the word kept changing (the chain is still the caller's). */
static int chain_push(const struct slab_view *v, _Atomic uint64_t *box,
		      uint32_t head, uint32_t tail, uint32_t n)
{
	uint64_t old = atomic_load_explicit(box, memory_order_relaxed);

	for (uint32_t tries = 0; tries < SLAB_CAS_TRIES; tries++) {
		atomic_store_explicit(&v->meta[tail].next, slab_list_head(old),
				      memory_order_relaxed);
		/* release: publishes the links and the elements' contents;
		 * pairs with the acquire exchange in slab_list_take() and
		 * slab_list_take_word() */
		if (atomic_compare_exchange_weak_explicit(
			    box, &old, slab_list_word(head, slab_list_len(old) + n),
			    memory_order_release, memory_order_relaxed))
			return 0;
	}
	return -EBUSY;
}

/**
 * slab_list_push() - push elements onto an inbox or outbox.
 * @v: pool view.
 * @box: &slab->inbox or &slab->outbox.
 * @idx: element indices (caller-owned, bounds-checked).
 * @n: how many; 0 is a no-op.
 *
 * Context: async-signal-safe, lock-free; any process.
 * Return: 0, -EINVAL for an index past the pool, or -EBUSY when the list
 * word kept changing under SLAB_CAS_TRIES attempts (a process rewriting
 * it): the elements are still the caller's.
 */
int slab_list_push(const struct slab_view *v, _Atomic uint64_t *box,
		   const uint32_t *idx, uint32_t n)
{
	if (n == 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (idx[i] >= v->max_elems)
			return -EINVAL;
	slab_tsan_release(v);
	chain_link(v, idx, n);
	return chain_push(v, box, idx[0], idx[n - 1], n);
}

uint64_t slab_list_take_word(const struct slab_view *v, _Atomic uint64_t *box)
{
	/* acquire: pairs with the release CAS in chain_push() */
	uint64_t w = atomic_exchange_explicit(box, SLAB_LIST_EMPTY, memory_order_acquire);

	/* the chain may have been pushed by another process (through the
	 * daemon), which ThreadSanitizer cannot see: tell it */
	slab_tsan_acquire(v);
	return w;
}

/* The link of an element chain_walk() took: not an index, so that the
 * walk knows an element it meets again (a loop in a corrupt chain). */
#define SLAB_WALKED (SLAB_NIL - 1)

/* Walk up to @max elements of the chain starting at @head (length @len)
 * into @buf.  Return the number walked, or -EUCLEAN if the chain leaves
 * the published elements, ends early, is longer than the pool or meets an
 * element twice. *ret_rest is the head of what was not walked (SLAB_NIL if
 * all).  The chain is ours (taken off its list): each element walked has
 * its link replaced by SLAB_WALKED, as it leaves the chain anyway. */
static int chain_walk(const struct slab_view *v, uint32_t head, uint32_t len,
		      uint32_t *buf, uint32_t max, uint32_t *ret_rest)
{
	uint64_t pub = slab_published(v);
	uint32_t n = 0, cur = head;

	if (len > pub)
		return -EUCLEAN;
	while (n < len && n < max) {
		if (cur >= pub)
			return -EUCLEAN;
		uint32_t next = atomic_load_explicit(&v->meta[cur].next, memory_order_relaxed);
		if (next == SLAB_WALKED)
			return -EUCLEAN;   /* met again: a loop */
		atomic_store_explicit(&v->meta[cur].next, SLAB_WALKED, memory_order_relaxed);
		buf[n++] = cur;
		/* taken off a list: ours now, in case we die holding it */
		atomic_store_explicit(&v->meta[cur].owner, v->owner, memory_order_relaxed);
		cur = next;
	}
	if (n == len && cur != SLAB_NIL)
		return -EUCLEAN;   /* longer than it says: a loop or a lie */
	*ret_rest = cur;
	return (int)n;
}

/* Put back an unwalked chain {head, len} whose tail is unknown: install it
 * if the box is empty (the common case); otherwise take what is there,
 * append it to our chain by walking it (it is the short one: it was pushed
 * since we took), and try again. */
void slab_chain_put_back(const struct slab_view *v, _Atomic uint64_t *box,
			   uint32_t head, uint32_t len)
{
	slab_tsan_release(v);
	SLAB_HOOK("put_back");
	/* each round takes a chain someone pushed meanwhile, so our chain
	 * grows and the bound on its length ends the loop; the cap on rounds
	 * is for a word rewritten without end */
	for (uint32_t round = 0; len && round < SLAB_CAS_TRIES; round++) {
		uint64_t empty = SLAB_LIST_EMPTY;

		/* release: as in chain_push() */
		if (atomic_compare_exchange_strong_explicit(
			    box, &empty, slab_list_word(head, len),
			    memory_order_release, memory_order_relaxed))
			return;
		uint64_t w = slab_list_take_word(v, box);
		uint32_t oh = slab_list_head(w), ol = slab_list_len(w), t = oh;
		/* read after the take: the daemon publishes new elements before
		 * it pushes them, and the take's acquire sees that */
		uint64_t pub = slab_published(v);

		if (ol == 0) {
			if (oh == SLAB_NIL)
				continue;   /* taken meanwhile: empty again */
			return;             /* {head, 0}: not a list; ours is lost */
		}
		if ((uint64_t)len + ol > pub)
			t = SLAB_NIL;   /* longer than the pool: corrupt */
		/* find the tail of the other chain, bounded by its length
		 * (and so by the pool's size) */
		for (uint32_t i = 1; i < ol && t < pub; i++)
			t = atomic_load_explicit(&v->meta[t].next, memory_order_relaxed);
		if (t >= pub) {
			/* corrupt: put it back for the daemon to find (and
			 * quarantine the pool); ours is lost with the pool */
			empty = SLAB_LIST_EMPTY;
			atomic_compare_exchange_strong_explicit(box, &empty, w,
								memory_order_relaxed,
								memory_order_relaxed);
			return;
		}
		atomic_store_explicit(&v->meta[t].next, head, memory_order_relaxed);
		head = oh;
		len += ol;
	}
}

/**
 * slab_list_take() - take up to @max elements from an inbox or outbox.
 * @v: pool view.
 * @box: the list word.
 * @buf: receives the indices.
 * @max: capacity of @buf; what does not fit is put back on @box.
 * @ret_n: number of indices written to @buf.
 *
 * Context: async-signal-safe, lock-free; any process.
 * Return: 0, or -EUCLEAN if the list is corrupt (then *ret_n holds what was
 * read before the corruption and the rest of the list is dropped).
 */
int slab_list_take(const struct slab_view *v, _Atomic uint64_t *box,
		   uint32_t *buf, uint32_t max, uint32_t *ret_n)
{
	uint64_t w = slab_list_take_word(v, box);
	uint32_t len = slab_list_len(w), rest;
	int n;

	*ret_n = 0;
	if (len == 0)
		return 0;
	n = chain_walk(v, slab_list_head(w), len, buf, max, &rest);
	if (n < 0)
		return n;
	*ret_n = (uint32_t)n;
	if ((uint32_t)n < len)
		slab_chain_put_back(v, box, rest, len - (uint32_t)n);
	return 0;
}

/**
 * slab_chain_take() - take a whole list, to walk it with slab_chain_next().
 * @v: pool view.
 * @box: the list word.
 * @ret_chain: receives the list's head and length (length 0: empty).
 *
 * For the daemon, which walks what it takes to the end and so never puts
 * anything back: the work of a take is bounded by the list's length, and
 * that by the published elements, whatever a client writes meanwhile.
 *
 * Context: async-signal-safe, lock-free; any process.
 */
void slab_chain_take(const struct slab_view *v, _Atomic uint64_t *box,
		     struct slab_chain *ret_chain)
{
	uint64_t w = slab_list_take_word(v, box);

	ret_chain->head = slab_list_head(w);
	ret_chain->len = slab_list_len(w);
}

/**
 * slab_chain_next() - the next elements of a chain slab_chain_take() took.
 * @v: pool view.
 * @ch: the chain; advanced past what is returned.
 * @buf: receives the indices.
 * @max: capacity of @buf (at least 1).
 * @ret_n: number of indices written to @buf (0 once @ch is empty).
 *
 * Return: 0, or -EUCLEAN if the chain is corrupt (it leaves the published
 * elements, ends early, is longer than it says or loops): then nothing is
 * returned and the rest of the chain is dropped (ch->len is 0).
 */
int slab_chain_next(const struct slab_view *v, struct slab_chain *ch, uint32_t *buf,
		    uint32_t max, uint32_t *ret_n)
{
	uint32_t rest;
	int n;

	*ret_n = 0;
	if (ch->len == 0)
		return 0;
	n = chain_walk(v, ch->head, ch->len, buf, max, &rest);
	if (n < 0) {
		ch->len = 0;
		return n;
	}
	ch->head = rest;
	ch->len -= (uint32_t)n;
	*ret_n = (uint32_t)n;
	return 0;
}
