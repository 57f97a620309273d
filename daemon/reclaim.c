// SPDX-License-Identifier: MIT
/*
 * reclaim.c - elements held by clients that are gone go back to the
 * depot.  A dead client's id waits in the pool's queue for a pass of two
 * censuses, RECLAIM_GRACE_MS apart: an element that both find nowhere
 * (not in the depot, a slab or a list) and still marked with a dead owner
 * is taken back.  Ownerless elements both miss wait for a third census,
 * RECLAIM_ORPHAN_GRACE_MS later.  Holders recorded in the state memfd whose
 * process is gone unnoticed are found by reclaim_holders_check().
 */
#include "reclaim.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pool.h"
#include "refill.h"
#include "state.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Whether @owner is one of the pass's dead ids, p->dead[0..upto), sorted. */
static bool owner_dead(const struct pool *p, uint32_t owner, uint32_t upto)
{
	if (owner == 0)
		return true;   /* an orphan: lost in a list take */
	return bsearch(&owner, p->dead, upto, sizeof(*p->dead), cmp_u32) != NULL;
}

/* One census: every list back into the depot, then every slab's contents
 * marked in p->seen.  Elements neither seen nor in the depot are held by
 * clients (or in the instants of a list take). */
static int census(struct pool *p)
{
	uint64_t scratch = 0;

	for (uint32_t c = 0; c < p->v.nr_cpus; c++)
		if (refill_take_list(p, c, false, &p->drained) < 0 ||
		    refill_take_list(p, c, true, &scratch) < 0)
			return -EUCLEAN;
	if (refill_take_spare(p) < 0)
		return -EUCLEAN;
	memset(p->seen, 0, p->published);
	for (uint32_t c = 0; c < p->v.nr_cpus; c++) {
		struct slab *s = slab_of(&p->v, c);
		uint32_t n = slab_count(&p->v, c);

		for (uint32_t i = 0; i < n; i++) {
			uint32_t e = slab_idx_of_off(&p->v, __atomic_load_n(&s->slots[i],
									   __ATOMIC_RELAXED));
			if (e >= p->published)
				continue;
			/* in a slab and in the depot: corruption.  (Seen in two
			 * slabs is not: an element can move while we read.) */
			if (p->in_depot[e])
				p->duplicates++;
			p->seen[e] = 1;
		}
	}
	return 0;
}

static void reclaim_arm(struct pool *p, int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	if (p->ev_reclaim)
		event_add(p->ev_reclaim, &tv);
}

/* CLOCK_MONOTONIC in ms, wrapping: only differences are used */
static uint32_t mono_ms(void)
{
	return (uint32_t)(slab_now_ns() / 1000000u);
}

static void orphan_arm(struct pool *p, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	if (p->ev_orphan && !evtimer_pending(p->ev_orphan, NULL))
		evtimer_add(p->ev_orphan, &tv);
}

/* An ownerless element both censuses missed: confirm it later. */
static void orphan_suspect(struct pool *p, uint32_t e)
{
	if (p->orph_mark[e])
		return;
	p->orph_mark[e] = 1;
	p->orph[p->nr_orph] = (struct reclaim_orphan){ e, mono_ms() };
	p->nr_orph++;
	orphan_arm(p, RECLAIM_ORPHAN_GRACE_MS);
}

/* The third census: suspects found at least RECLAIM_ORPHAN_GRACE_MS ago and
 * still nowhere and ownerless go back; younger ones wait their turn. */
static void orphan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;
	uint32_t now = mono_ms(), next = 0;
	uint32_t back = 0, kept = 0;
	bool counted = !p->quarantined && census(p) == 0;

	(void)fd; (void)what;
	for (uint32_t i = 0; i < p->nr_orph; i++) {
		struct reclaim_orphan o = p->orph[i];
		uint32_t age = now - o.found_ms;

		if (counted && age < RECLAIM_ORPHAN_GRACE_MS) {
			p->orph[kept++] = o;
			if (!next || RECLAIM_ORPHAN_GRACE_MS - age < next)
				next = RECLAIM_ORPHAN_GRACE_MS - age;
			continue;
		}
		p->orph_mark[o.idx] = 0;
		if (!counted || p->in_depot[o.idx] || p->seen[o.idx] ||
		    atomic_load_explicit(&p->v.meta[o.idx].owner, memory_order_relaxed) != 0)
			continue;
		if (refill_depot_put(p, &o.idx, 1, 0) < 0) {
			counted = false;
			continue;
		}
		back++;
		p->orphans++;
	}
	p->nr_orph = kept;
	if (back)
		log_info("pool %s: %u ownerless element(s) found nowhere, taken back",
			 p->cfg.name, back);
	if (!p->quarantined)
		refill_all(p, NULL);
	if (kept)
		orphan_arm(p, next);
}

/* The two-census pass: candidates of the first census that the second,
 * RECLAIM_GRACE_MS later, finds still nowhere and still owned by the
 * same dead client (or nobody) go back to the depot.  An element moving
 * between lists and slabs has a live owner or owner 0 for microseconds; it
 * cannot be missed by both censuses. */
static void reclaim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;

	(void)fd; (void)what;
	if (p->quarantined) {
		p->reclaim_phase = 0;
		return;
	}
	if (p->reclaim_phase == 1) {
		p->nr_dead_pass = p->nr_dead < RECLAIM_MAX_DEAD ? p->nr_dead : RECLAIM_MAX_DEAD;
		qsort(p->dead, p->nr_dead_pass, sizeof(*p->dead), cmp_u32);
		p->nr_cand = 0;
		if (census(p) == 0)
			for (uint64_t e = 0; e < p->published; e++) {
				uint32_t o;
				if (p->in_depot[e] || p->seen[e])
					continue;
				o = atomic_load_explicit(&p->v.meta[e].owner, memory_order_relaxed);
				if (owner_dead(p, o, p->nr_dead_pass))
					p->cand[p->nr_cand++] = (struct reclaim_cand){ (uint32_t)e, o };
			}
		refill_all(p, NULL);
		p->reclaim_phase = 2;
		reclaim_arm(p, RECLAIM_GRACE_MS);
		return;
	}
	uint32_t back = 0;
	if (census(p) == 0)
		for (uint32_t i = 0; i < p->nr_cand; i++) {
			uint32_t e = p->cand[i].idx, o = p->cand[i].owner;
			if (p->in_depot[e] || p->seen[e] ||
			    atomic_load_explicit(&p->v.meta[e].owner, memory_order_relaxed) != o)
				continue;
			if (o == 0) {
				orphan_suspect(p, e);
				continue;
			}
			atomic_store_explicit(&p->v.meta[e].owner, 0, memory_order_relaxed);
			if (refill_depot_put(p, &e, 1, 0) < 0)
				break;
			back++;
			p->reclaimed++;
		}
	if (back)
		log_info("pool %s: %u element(s) taken back from %u dead client(s)",
			 p->cfg.name, back, p->nr_dead_pass);
	/* the pass handled the ids it started with: nothing left to watch */
	for (uint32_t i = 0; i < p->nr_dead_pass; i++)
		state_holder_remove(p, p->dead[i]);
	memmove(p->dead, p->dead + p->nr_dead_pass,
		(p->nr_dead - p->nr_dead_pass) * sizeof(*p->dead));
	p->nr_dead -= p->nr_dead_pass;
	p->nr_dead_pass = 0;
	refill_all(p, NULL);
	p->reclaim_phase = 0;
	if (p->nr_dead) {
		p->reclaim_phase = 1;
		reclaim_arm(p, 0);
	}
}

static void reclaim_schedule(struct pool *p)
{
	if (p->reclaim_phase == 0) {
		p->reclaim_phase = 1;
		reclaim_arm(p, 0);
	}
}

/**
 * reclaim_client_died() - the client that attached with @owner is gone: take
 * back, within two censuses, the elements it held.
 * @p: the pool.
 * @owner: its owner id.
 *
 * Context: event loop.
 */
void reclaim_client_died(struct pool *p, uint32_t owner)
{
	if (p->nr_dead == p->dead_cap) {
		uint32_t cap = p->dead_cap * 2;
		uint32_t *n = cap <= RECLAIM_MAX_DEAD_QUEUED ?
			      realloc(p->dead, cap * sizeof(*n)) : NULL;
		if (!n) {
			log_warning("pool %s: %u dead clients pending; client %u's elements "
				    "stay held", p->cfg.name, p->nr_dead, owner);
			reclaim_schedule(p);
			return;
		}
		p->dead = n;
		p->dead_cap = cap;
	}
	p->dead[p->nr_dead++] = owner;
	reclaim_schedule(p);
}

/**
 * reclaim_holders_check() - the pass for recorded holders that are gone
 * unwatched.
 * @p: the pool.
 *
 * Once a second, from the sweep: a recorded holder whose process is gone
 * and that is not attached any more, yet still in the table, was never
 * watched (no room for a watch, a pidfd that could not be had) or its id
 * did not fit the dead queue: its pass runs now.  A pid reused meanwhile
 * keeps its entry until that process is gone too.
 */
void reclaim_holders_check(struct pool *p)
{
	const uint32_t now = mono_ms();
	const struct pool_holder *h;
	uint32_t n;

	if (now - p->holders_checked_ms < RECLAIM_HOLDERS_CHECK_MS || p->quarantined)
		return;
	p->holders_checked_ms = now;
	h = state_holders(p, &n);
	for (uint32_t i = 0; i < n; i++) {
		bool attached = false;

		if (!h[i].id || h[i].pid <= 0 || kill(h[i].pid, 0) == 0 || errno != ESRCH)
			continue;
		for (uint32_t k = 0; k < p->nr_attached && !attached; k++)
			attached = p->clients[k].id == h[i].id;
		for (uint32_t k = 0; k < p->nr_dead && !attached; k++)
			attached = p->dead[k] == h[i].id;   /* queued already */
		if (!attached)
			reclaim_client_died(p, h[i].id);
	}
}

/**
 * reclaim_orphans() - a pass for elements that belong to nobody and
 * are nowhere (lost in an unclean daemon exit or a client's death in the
 * middle of a list take).
 * @p: the pool.
 */
void reclaim_orphans(struct pool *p)
{
	reclaim_schedule(p);
}

/**
 * reclaim_init() - a new pool's reclaim state: the dead queue, the
 * census scratch, the timers of the passes.
 * @d: daemon (its event base runs the passes; without one, none run).
 * @p: the pool, its view built.
 *
 * Return: 0 or -ENOMEM.
 */
int reclaim_init(struct daemon *d, struct pool *p)
{
	p->dead_cap = RECLAIM_MAX_DEAD;
	p->dead = calloc(p->dead_cap, sizeof(*p->dead));
	p->cand = calloc(p->v.max_elems, sizeof(*p->cand));
	p->seen = calloc(p->v.max_elems, 1);
	p->ev_reclaim = d->base ? evtimer_new(d->base, reclaim_cb, p) : NULL;
	p->orph = calloc(p->v.max_elems, sizeof(*p->orph));
	p->orph_mark = calloc(p->v.max_elems, 1);
	p->ev_orphan = d->base ? evtimer_new(d->base, orphan_cb, p) : NULL;
	return p->dead && p->cand && p->seen && p->orph && p->orph_mark &&
	       (!d->base || (p->ev_reclaim && p->ev_orphan)) ? 0 : -ENOMEM;
}
