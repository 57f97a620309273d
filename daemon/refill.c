// SPDX-License-Identifier: MIT
/*
 * refill.c - the refill engine: the depot of free elements only the
 * daemon holds, and the moves between it and the pool's lists: depot ->
 * inbox N (refill), outbox N -> depot (drain), depot -> spare; the growth
 * of the pool; the periodic sweep; and the refill poll, which serves the
 * CPUs' request flags while a pool is busy so that its clients need not
 * send.
 *
 * A list it takes is bounded by the published elements, whatever a client
 * writes meanwhile, and an element handed back twice quarantines the pool
 * (pool_quarantine()).
 */
#include "refill.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "depot.h"
#include "log.h"
#include "place.h"
#include "pool.h"
#include "reclaim.h"
#include "stats.h"

#define REFILL_GROW_MIN   64u

static uint32_t serve_raised(struct pool *p);

/**
 * refill_grow() - publish more elements and add them to the depot (the file
 * backs the whole mapping from the start, pool_create(): nothing to
 * extend, so a client that lengthened it changes nothing).
 * @p: the pool.
 * @want: elements wanted (at least half the published ones are added, and
 *        at least REFILL_GROW_MIN, up to max_elems).
 *
 * Return: 0, or -ENOMEM when the pool is at its maximum.
 */
int refill_grow(struct pool *p, uint64_t want)
{
	uint64_t max = p->v.max_elems, n = p->published;
	uint64_t add = want;

	if (add < n / 2)
		add = n / 2;
	if (add < REFILL_GROW_MIN)
		add = REFILL_GROW_MIN;
	if (n + add > max)
		add = max - n;
	if (add == 0)
		return -ENOMEM;
	for (uint64_t i = n; i < n + add; i++) {
		depot_add(p, (uint32_t)i);
		p->in_depot[i] = 1;
	}
	p->published = n + add;
	p->st->published = p->published;
	/* release: pairs with the acquire in published() */
	atomic_store_explicit(&p->v.hdr->nr_published, p->published, memory_order_release);
	return 0;
}

/**
 * refill_depot_put() - return elements to the depot; an element it
 * already holds (or one never published) is corruption.
 * @p: the pool.
 * @idx: element indexes.
 * @n: how many.
 * @cpu: where they came from, for the quarantine reason.
 *
 * Return: 0, or -EUCLEAN (the pool is quarantined).
 */
int refill_depot_put(struct pool *p, const uint32_t *idx, uint32_t n, uint32_t cpu)
{
	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] >= p->published || p->in_depot[idx[i]]) {
			pool_quarantine(p, "element returned twice", cpu);
			return -EUCLEAN;
		}
		p->in_depot[idx[i]] = 1;
		depot_add(p, idx[i]);
	}
	return 0;
}

/* Take the list at @box whole into the depot, in batches: nothing is put
 * back, so the work is bounded by the list's length, at most the published
 * elements, whatever a client writes meanwhile.  Return the elements taken,
 * or -EUCLEAN (the pool is quarantined, @what named). */
static int64_t take_box(struct pool *p, _Atomic uint64_t *box, uint32_t cpu,
			const char *what)
{
	uint32_t buf[SLAB_BATCH_MAX], n;
	struct slab_chain ch;
	int64_t taken = 0;

	slab_chain_take(&p->v, box, &ch);
	while (ch.len) {
		if (slab_chain_next(&p->v, &ch, buf, SLAB_BATCH_MAX, &n) < 0) {
			pool_quarantine(p, what, cpu);
			return -EUCLEAN;
		}
		if (refill_depot_put(p, buf, n, cpu) < 0)
			return -EUCLEAN;
		taken += n;
	}
	return taken;
}

/* Push buf[0..n), just taken from the depot, onto @box; if a client keeps
 * rewriting the word so that the push cannot land, they go back to the
 * depot and the pool is quarantined.  Return 0 or -EUCLEAN. */
static int push_box(struct pool *p, _Atomic uint64_t *box, uint32_t *buf, uint32_t n,
		    uint32_t cpu)
{
	if (slab_list_push(&p->v, box, buf, n) == 0)
		return 0;
	(void)refill_depot_put(p, buf, n, cpu);
	pool_quarantine(p, "list word rewritten without end", cpu);
	return -EUCLEAN;
}

/**
 * refill_take_list() - take back everything on one list of CPU @cpu.
 * @p: the pool.
 * @cpu: slab index (below nr_cpus).
 * @inbox: the inbox (trimmed), else the outbox (drained).
 * @counter: the pool counter to add the elements taken to.
 *
 * Return: 0, or -EUCLEAN (the pool is quarantined).
 */
int refill_take_list(struct pool *p, uint32_t cpu, bool inbox, uint64_t *counter)
{
	struct slab *s = slab_of(&p->v, cpu);
	int64_t n = take_box(p, inbox ? &s->inbox : &s->outbox, cpu,
			     inbox ? "corrupt inbox" : "corrupt outbox");

	if (n < 0)
		return (int)n;
	*counter += (uint64_t)n;
	if (inbox)
		p->cpu[cpu].trimmed += (uint64_t)n;
	else
		p->cpu[cpu].drained += (uint64_t)n;
	return 0;
}

/**
 * refill_take_spare() - take the spare list back into the depot.
 * @p: the pool.
 *
 * Return: 0, or -EUCLEAN (the pool is quarantined).
 */
int refill_take_spare(struct pool *p)
{
	for (uint32_t k = 0; k < SLAB_MAX_NODES; k++) {
		_Atomic uint64_t *s = slab_spare(&p->v, k);

		if (slab_list_len(atomic_load_explicit(s, memory_order_relaxed)) &&
		    take_box(p, s, 0, "corrupt spare list") < 0)
			return -EUCLEAN;
	}
	return 0;
}

/* The spare's size: one CPU's reserve, at most what a client takes whole. */
static uint32_t spare_target(const struct pool *p)
{
	return p->cfg.min_nr < SLAB_BATCH_MAX ? p->cfg.min_nr : SLAB_BATCH_MAX;
}

/* Top NUMA node @k's spare list up to spare_target() from the depot
 * (that node's elements first), growing the pool if it may: best effort,
 * the reserves come first. */
static void restock_spare_of(struct pool *p, uint32_t k)
{
	uint32_t buf[SLAB_BATCH_MAX];
	_Atomic uint64_t *spare = slab_spare(&p->v, k);
	uint32_t have = slab_list_len(atomic_load_explicit(spare, memory_order_relaxed));
	uint32_t want = spare_target(p) > have ? spare_target(p) - have : 0;

	if (p->quarantined || want == 0)
		return;
	/* grown only when the whole depot is short: another node's elements
	 * are better than a pool grown for locality */
	if (want > p->st->depot_n)
		(void)refill_grow(p, want - p->st->depot_n);
	while (want && p->st->depot_n) {
		uint32_t n = want < SLAB_BATCH_MAX ? want : SLAB_BATCH_MAX;

		n = depot_take(p, k, buf, n);
		for (uint32_t i = 0; i < n; i++)
			p->in_depot[buf[i]] = 0;
		if (push_box(p, spare, buf, n, 0) < 0)
			return;
		p->spare_stocked += n;
		want -= n;
	}
}

/* One spare per NUMA node (slab_spare()). */
static void restock_spare(struct pool *p)
{
	for (uint32_t k = 0; k < depot_nr_nodes(p); k++)
		restock_spare_of(p, k);
}

/**
 * refill_cpu() - bring CPU @cpu's reserve (slab + inbox) back to min_nr.
 * @p: the pool.
 * @cpu: slab index (checked).
 *
 * Drains that CPU's outbox first, then acknowledges its pending request and
 * pushes the deficit from the depot, growing the pool if needed.
 *
 * Context: event loop.
 * Return: 0, -EINVAL for a bad CPU, -EUCLEAN if the pool is quarantined,
 * -ENOMEM if the pool is at its maximum and the depot could not cover it.
 */
int refill_cpu(struct pool *p, uint32_t cpu)
{
	uint32_t buf[SLAB_BATCH_MAX];
	int r;

	if (cpu >= p->v.nr_cpus)
		return -EINVAL;
	if (pool_verify(p) < 0)
		return -EUCLEAN;
	/* a request from a closed CPU: a thread runs there after all */
	place_open(p, cpu);
	r = refill_take_list(p, cpu, false, &p->drained);
	if (r < 0)
		return r;
	uint64_t waited;
	uint32_t want = slab_claim_request(&p->v, cpu, p->cfg.min_nr, &waited);
	if (waited)
		stats_lat_record(&p->cpu[cpu], waited);
	/* short: what other CPUs spilled comes before growing the pool (a
	 * consumer on one CPU frees what a producer on another allocates) */
	for (uint32_t c = 0; want > p->st->depot_n && c < p->v.nr_cpus; c++)
		if (c != cpu && refill_take_list(p, c, false, &p->drained) < 0)
			return -EUCLEAN;
	if (want > p->st->depot_n)
		(void)refill_grow(p, want - p->st->depot_n);
	/* at its maximum: the reserves come before the spare */
	if (want > p->st->depot_n && refill_take_spare(p) < 0)
		return -EUCLEAN;
	if (want > p->st->depot_n && p->st->depot_n == 0) {
		p->shortfalls++;
		return want ? -ENOMEM : 0;
	}
	if (want) {
		p->refills++;
		p->cpu[cpu].served++;
	}
	while (want) {
		uint32_t n = want < SLAB_BATCH_MAX ? want : SLAB_BATCH_MAX;
		/* the CPU's own node first (depot.h) */
		n = depot_take(p, depot_cpu_node(p, cpu), buf, n);
		if (n == 0) {
			p->shortfalls++;
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < n; i++)
			p->in_depot[buf[i]] = 0;
		r = push_box(p, &slab_of(&p->v, cpu)->inbox, buf, n, cpu);
		if (r < 0)
			return r;
		p->refilled += n;
		p->cpu[cpu].refilled += n;
		want -= n;
	}
	restock_spare(p);
	return 0;
}

/**
 * refill_all() - refill_cpu() on every CPU.
 * @p: the pool.
 * @ret_moved: elements moved to inboxes (may be NULL).
 *
 * Context: event loop.
 * Return: 0 or the first error (the other CPUs are still refilled).
 */
int refill_all(struct pool *p, uint64_t *ret_moved)
{
	uint64_t before = p->refilled;
	int first = 0;

	for (uint32_t c = 0; c < p->v.nr_cpus; c++) {
		int r = place_is_open(p, c) ? refill_cpu(p, c) : 0;
		if (r < 0 && !first)
			first = r;
	}
	if (ret_moved)
		*ret_moved = p->refilled - before;
	return first;
}

/**
 * refill_set_reserve() - change min_nr (and the low watermark) of a live
 * pool: the "resize" command, or a reload.
 * @p: the pool.
 * @min_nr: new per-CPU reserve.
 * @low_watermark: new low watermark, 0 for min_nr / 4.
 *
 * Growing refills at once.  Shrinking takes every inbox back and refills to
 * the new level; what sits in slabs above the new spill limit (2 × min_nr)
 * goes back at the next free on that CPU.
 *
 * Context: event loop.
 * Return: 0, -EINVAL for out-of-range values, or a refill_all() error.
 */
int refill_set_reserve(struct pool *p, uint32_t min_nr, uint32_t low_watermark)
{
	bool shrink = min_nr < p->cfg.min_nr;

	if (min_nr < 1 || min_nr > PCP_MAX_MIN_NR || low_watermark > min_nr)
		return -EINVAL;
	if ((uint64_t)min_nr * p->v.nr_cpus > p->v.max_elems)
		return -ERANGE;
	p->cfg.min_nr = min_nr;
	p->cfg.low_watermark = low_watermark ? low_watermark : (min_nr / 4 ? min_nr / 4 : 1);
	p->st->min_nr = p->cfg.min_nr;
	p->st->low_watermark = p->cfg.low_watermark;
	atomic_store_explicit(&p->v.hdr->min_nr, min_nr, memory_order_relaxed);
	for (uint32_t c = 0; c < p->v.nr_cpus; c++) {
		if (place_is_open(p, c))
			slab_set_limits(&p->v, c, p->cfg.low_watermark, pool_limit(p));
		if (shrink && !p->quarantined)
			refill_take_list(p, c, true, &p->trimmed);
	}
	if (shrink && !p->quarantined)
		refill_take_spare(p);
	return refill_all(p, NULL);
}

/**
 * refill_sweep() - the periodic pass: take spills back, refill reserves
 * under their low watermark and serve raised request flags (covers lost
 * requests), trim reserves far above min_nr, check the slab descriptors.
 * @p: the pool.
 *
 * Context: event loop timer.
 */
void refill_sweep(struct pool *p)
{
	if (pool_verify(p) < 0)
		return;
	for (uint32_t c = 0; c < p->v.nr_cpus && !p->quarantined; c++) {
		struct slab *s = slab_of(&p->v, c);
		uint32_t cnt = SLAB_CW_COUNT(__atomic_load_n(&s->cw, __ATOMIC_RELAXED));
		uint32_t lim = __atomic_load_n(&s->limit, __ATOMIC_RELAXED);

		if (cnt > p->v.slab_cap || lim > p->v.slab_cap) {
			pool_quarantine(p, "slab count or limit past capacity", c);
			return;
		}
		if (refill_take_list(p, c, false, &p->drained) < 0)
			return;
		uint32_t level = slab_level(&p->v, c);
		if (level > 2u * p->cfg.min_nr + SLAB_BATCH_MAX &&
		    refill_take_list(p, c, true, &p->trimmed) < 0)
			return;
		if (place_is_open(p, c) && slab_level(&p->v, c) < p->cfg.low_watermark)
			refill_cpu(p, c);
	}
	/* a request raised for a poll that has ended (or lost with its
	 * message): served here at the latest */
	serve_raised(p);
	/* only the daemon writes the polling word: a client that set it would
	 * make the others' requests wait for this sweep */
	if (!p->polling && atomic_load_explicit(&p->v.hdr->polling, memory_order_relaxed)) {
		if (p->bad_polling++ == 0)
			log_warning("pool %s: a client set the shared polling word; reset",
				    p->cfg.name);
		refill_poll_stop(p);
	}
	/* the spare is only ever walked by the inbox it lands on: check its
	 * word here, then restock it */
	for (uint32_t k = 0; k < SLAB_MAX_NODES && !p->quarantined; k++) {
		uint64_t w = atomic_load_explicit(slab_spare(&p->v, k), memory_order_relaxed);

		if (slab_list_len(w) > SLAB_BATCH_MAX ||
		    (slab_list_len(w) && slab_list_head(w) >= p->published)) {
			pool_quarantine(p, "corrupt spare list", 0);
			return;
		}
	}
	/* a hint a client could have rewritten: said again */
	atomic_store_explicit(&p->v.hdr->nr_nodes, depot_nr_nodes(p), memory_order_relaxed);
	restock_spare(p);
	reclaim_holders_check(p);
}

/* Serve every CPU whose request flag is up.  Return how many. */
static uint32_t serve_raised(struct pool *p)
{
	uint32_t n = 0;

	for (uint32_t c = 0; c < p->v.nr_cpus && !p->quarantined; c++)
		if (slab_request_raised(&p->v, c)) {
			refill_cpu(p, c);
			n++;
		}
	return n;
}

/**
 * refill_poll_stop() - stop polling @p: tell its clients, then serve what
 * they raised before they could see it.
 * @p: the pool.
 *
 * Return: how many flags were up.
 */
uint32_t refill_poll_stop(struct pool *p)
{
	slab_poll_set(&p->v, false);
	p->polling = false;
	return serve_raised(p);
}

/* Run the poll's timerfd every @us (0: stop it).  Return false if it
 * could not be armed. */
static bool poll_arm(struct daemon *d, uint32_t us)
{
	struct itimerspec its = {
		.it_interval = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 },
		.it_value = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 },
	};

	if (d->poll_armed_us == us)
		return true;
	if (timerfd_settime(d->poll_fd, 0, &its, NULL) < 0) {
		log_warning("refill poll: timerfd_settime: %s", strerror(errno));
		return false;
	}
	d->poll_armed_us = us;
	return true;
}

/**
 * refill_poll_heat() - a request came for @p: poll its CPUs' request flags
 * every refill_poll_us for the next refill_poll_linger_ms, and tell its
 * clients that a crossing the spare covered need not send.
 * @d: daemon.
 * @p: the pool.
 *
 * A client that crosses its watermark after each of the daemon's refills
 * then sends nothing: the refill it needs is the spare's, which the poll
 * restocks.  Idle, the daemon does not poll (it stops after the linger).
 *
 * Context: event loop.
 */
void refill_poll_heat(struct daemon *d, struct pool *p)
{
	/* no timer, no promise to the clients: they keep sending */
	if (!d->ev_poll || !d->cfg->poll_us || p->quarantined || !poll_arm(d, d->cfg->poll_us))
		return;
	p->poll_until_ns = slab_now_ns() + (uint64_t)d->cfg->poll_linger_ms * 1000000u;
	if (!p->polling)
		slab_poll_set(&p->v, true);
	p->polling = true;
}

/**
 * refill_poll_tick() - the poll timer: serve the raised request flags of
 * every polling pool; a pool whose linger has passed stops polling (and
 * looks at its flags once more after telling its clients, so none is left
 * behind).  Re-arms itself while any pool polls.
 * @d: daemon.
 *
 * Context: event loop timer.
 */
void refill_poll_tick(struct daemon *d)
{
	uint64_t now = slab_now_ns();
	bool again = false;

	for (struct pool *p = d->pools; p; p = p->next) {
		if (!p->polling)
			continue;
		uint32_t n = serve_raised(p);

		p->polled += n;
		if (n)
			p->poll_until_ns = now + (uint64_t)d->cfg->poll_linger_ms * 1000000u;
		if (d->cfg->poll_us && !p->quarantined && now < p->poll_until_ns) {
			again = true;
			continue;
		}
		p->polled += refill_poll_stop(p);
	}
	poll_arm(d, again ? d->cfg->poll_us : 0);
}
