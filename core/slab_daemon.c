// SPDX-License-Identifier: MIT
/*
 * slab_daemon.c - what the daemon reads and writes of a slab: levels and
 * counts, limits, request flags and the polling word (the lists it pushes
 * to and takes from are slab_list.c's).
 * The design, invariants and memory-order pairings of the slab core are
 * described at the top of slab.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_impl.h"

#include <errno.h>



/* ------------------------------------------------------------------ */
/* daemon side                                                         */

/**
 * slab_count() - elements in CPU @cpu's slab (a snapshot).
 * @v: pool view.
 * @cpu: slab index below v->nr_cpus.
 *
 * Return: the count, clamped to the slab's capacity (untrusted memory).
 */
uint32_t slab_count(const struct slab_view *v, uint32_t cpu)
{
	uint32_t c = SLAB_CW_COUNT(__atomic_load_n(&slab_of(v, cpu)->cw, __ATOMIC_RELAXED));

	return c > v->slab_cap ? v->slab_cap : c;
}

/**
 * slab_cpu_counts() - allocations and frees the sections made on CPU @cpu's
 * slab since the pool was created (a snapshot).
 * @v: pool view.
 * @cpu: slab index.
 * @ret_allocs: pops.
 * @ret_frees: pushes.
 *
 * The count word's ops field is pops + pushes, and its count is pushes -
 * pops + spliced - spilled - discarded; those three are added after their
 * section commits, so a snapshot taken in between (or left by a client
 * killed there) is off by half a batch at most, never negative.
 */
void slab_cpu_counts(const struct slab_view *v, uint32_t cpu, uint64_t *ret_allocs,
		     uint64_t *ret_frees)
{
	struct slab *s = slab_of(v, cpu);
	uint64_t cw = __atomic_load_n(&s->cw, __ATOMIC_RELAXED);
	uint64_t ops = SLAB_CW_OPS(cw);
	/* the counters are client-written: 128 bits, so no value of them
	 * overflows (ops < 2^48, each counter < 2^64) */
	__int128 net = (__int128)SLAB_CW_COUNT(cw) -
		(__int128)atomic_load_explicit(&s->spliced, memory_order_relaxed) +
		(__int128)atomic_load_explicit(&s->spilled, memory_order_relaxed) +
		(__int128)atomic_load_explicit(&s->discarded, memory_order_relaxed);
	__int128 allocs = ((__int128)ops - net) / 2;

	if (allocs < 0)
		allocs = 0;
	if (allocs > (__int128)ops)
		allocs = (__int128)ops;
	*ret_allocs = (uint64_t)allocs;
	*ret_frees = ops - (uint64_t)allocs;
}

/**
 * slab_level() - CPU @cpu's reserve: its slab plus its inbox (a snapshot).
 * @v: pool view.
 * @cpu: slab index.
 *
 * Return: the element count.
 */
uint32_t slab_level(const struct slab_view *v, uint32_t cpu)
{
	uint64_t w = atomic_load_explicit(&slab_of(v, cpu)->inbox, memory_order_relaxed);

	return slab_count(v, cpu) + slab_list_len(w);
}

/**
 * slab_set_limits() - set CPU @cpu's low watermark and spill limit.
 * @v: pool view.
 * @cpu: slab index.
 * @low: pops that leave fewer than this ask for a refill.
 * @limit: frees spill to the outbox when the slab holds this many (clamped
 *         to the capacity); lowering it trims the slab at its next free.
 *
 * Context: daemon.
 */
void slab_set_limits(const struct slab_view *v, uint32_t cpu, uint32_t low, uint32_t limit)
{
	struct slab *s = slab_of(v, cpu);

	if (limit > v->slab_cap)
		limit = v->slab_cap;
	__atomic_store_n(&s->low, low, __ATOMIC_RELAXED);
	__atomic_store_n(&s->limit, limit, __ATOMIC_RELAXED);
}

/**
 * slab_claim_request() - acknowledge CPU @cpu's refill request and compute
 * how many elements bring its reserve up to @target.
 * @v: pool view.
 * @cpu: slab index.
 * @target: wanted level (min_nr).
 * @ret_wait_ns: how long the request had been pending (0 if none was).
 *
 * The pending flag is cleared before the level is read, so a client that
 * drains the slab after this read sends a new request.
 *
 * Context: daemon.
 * Return: the deficit (0 if none).
 */
uint32_t slab_claim_request(const struct slab_view *v, uint32_t cpu, uint32_t target,
			    uint64_t *ret_wait_ns)
{
	struct slab *s = slab_of(v, cpu);

	*ret_wait_ns = 0;
	if (atomic_load_explicit(&s->refill_pending, memory_order_acquire)) {
		uint64_t since = atomic_load_explicit(&s->pending_since_ns, memory_order_relaxed);
		uint64_t now = slab_now_ns();
		*ret_wait_ns = since && since <= now ? now - since : 0;
	}
	/* seq_cst: the clear must be ordered before the level loads below;
	 * pairs with the acq_rel exchange in slab_low_check() */
	atomic_store_explicit(&s->refill_pending, 0, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	uint32_t level = slab_level(v, cpu);
	return target > level ? target - level : 0;
}

/**
 * slab_request_raised() - whether CPU @cpu's request flag is up (a
 * request is out, or a crossing left it to the daemon's poll).
 * @v: pool view.
 * @cpu: slab index.
 *
 * Context: daemon.
 */
bool slab_request_raised(const struct slab_view *v, uint32_t cpu)
{
	return atomic_load_explicit(&slab_of(v, cpu)->refill_pending, memory_order_seq_cst);
}

/**
 * slab_poll_set() - tell the clients whether the daemon polls the request
 * flags (slab_hdr.polling).
 * @v: pool view.
 * @on: true from now on, false: from now on every crossing sends.
 *
 * Turning it off, the caller must then look at every flag once more
 * (slab_request_raised()): the store and the fence here order that look
 * after the store, against a client's raise-then-read in
 * slab_request_quiet().
 *
 * Context: daemon.
 */
void slab_poll_set(const struct slab_view *v, bool on)
{
	atomic_store_explicit(&v->hdr->polling, on, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
}

/**
 * slab_retire() - close CPU @cpu's slab to every section (see "retired" in
 * slab.h): limit 0 and low SLAB_LOW_RETIRED.
 * @v: pool view.
 * @cpu: slab index.
 *
 * Sections that start after this leave the slab untouched; the caller
 * takes its slots (slab_take_retired()) only once no section that read it
 * before can still commit.
 *
 * Context: daemon.
 */
void slab_retire(const struct slab_view *v, uint32_t cpu)
{
	struct slab *s = slab_of(v, cpu);

	__atomic_store_n(&s->low, SLAB_LOW_RETIRED, __ATOMIC_RELAXED);
	__atomic_store_n(&s->limit, 0, __ATOMIC_RELAXED);
	atomic_thread_fence(memory_order_seq_cst);
}

/**
 * slab_retired() - whether CPU @cpu's slab reads as retired.
 * @v: pool view.
 * @cpu: slab index.
 *
 * Context: daemon (a client could write these words: a hint, never a
 * reason to take slots).
 */
bool slab_retired(const struct slab_view *v, uint32_t cpu)
{
	const struct slab *s = slab_of(v, cpu);

	return __atomic_load_n(&s->low, __ATOMIC_RELAXED) == SLAB_LOW_RETIRED &&
	       __atomic_load_n(&s->limit, __ATOMIC_RELAXED) == 0;
}

/**
 * slab_count_word() - CPU @cpu's count word (a snapshot): it changes with
 * every section that commits on that slab.
 * @v: pool view.
 * @cpu: slab index.
 */
uint64_t slab_count_word(const struct slab_view *v, uint32_t cpu)
{
	return __atomic_load_n(&slab_of(v, cpu)->cw, __ATOMIC_ACQUIRE);
}

/**
 * slab_take_retired() - take the slots of CPU @cpu's retired slab.
 * @v: pool view.
 * @cpu: slab index.
 * @snap: its count word as the caller last saw it, after retiring it.
 * @buf: receives the element indexes (room for v->slab_cap).
 * @ret_n: indexes written.
 * @ret_bad: slots dropped as not an element's start.
 *
 * Empties the slab with one CAS of the count word from @snap to the same
 * ops with count 0, so a section that committed since @snap makes it fail
 * and nothing is taken.  The caller must know that no section can commit
 * to the slab any more (slab.h, "retired"); the slots are untrusted: each
 * is checked, and a count past the capacity is corruption.
 *
 * Context: daemon.
 * Return: 0; -EAGAIN if the count word is no longer @snap (look again
 * later); -EUCLEAN for a count past the slab's capacity.
 */
int slab_take_retired(const struct slab_view *v, uint32_t cpu, uint64_t snap, uint32_t *buf,
		      uint32_t *ret_n, uint32_t *ret_bad)
{
	struct slab *s = slab_of(v, cpu);
	uint32_t count = SLAB_CW_COUNT(snap), n = 0, bad = 0;

	*ret_n = 0;
	*ret_bad = 0;
	if (count > v->slab_cap)
		return -EUCLEAN;
	if (__atomic_load_n(&s->cw, __ATOMIC_ACQUIRE) != snap)
		return -EAGAIN;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t idx = slab_idx_of_off(v, __atomic_load_n(&s->slots[i], __ATOMIC_RELAXED));

		if (idx == SLAB_NIL || idx >= slab_published(v))
			bad++;
		else
			buf[n++] = idx;
	}
	if (!__atomic_compare_exchange_n(&s->cw, &snap, snap & ~(uint64_t)0xffff, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	/* what left the slab: counted like a spill, and bad slots as
	 * discarded, so that slab_cpu_counts() stays right */
	atomic_fetch_add_explicit(&s->spilled, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->discarded, bad, memory_order_relaxed);
	*ret_n = n;
	*ret_bad = bad;
	return 0;
}
