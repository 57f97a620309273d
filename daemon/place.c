// SPDX-License-Identifier: MIT
/*
 * place.c - which CPUs of a pool hold a reserve.
 *
 * The rule: a CPU holds a reserve (is open) while it is online and some
 * process attached to the pool may run there (the union of its threads'
 * affinity masks, which its cpuset bounds), or while sections keep
 * committing on its slab (a thread the masks did not show, a child of
 * fork() not attached yet).  A new pool opens the CPUs its creator may
 * run on (the daemon's own, for a pool of the configuration file); a pool
 * nobody is attached to keeps what it has.  A request for a refill from a
 * closed CPU opens it (refill_cpu()): the first allocation there is
 * served from the spare, the next ones from its own reserve.
 *
 * Closing a CPU: its inbox goes back to the depot at once (a list, taken
 * with one exchange); its slab is retired (core/slab.h, "retired"), so that
 * no section starts on it any more, and its slots are taken into the depot
 * once no section that started before can commit: when the CPU is offline,
 * read after retiring it, or after PLACE_GRACE_MS with the slab's count
 * word unchanged.  A count word that moves meanwhile restarts the wait.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpus.h"
#include "log.h"
#include "place.h"
#include "pool.h"
#include "refill.h"

static uint64_t place_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool place_is_open(const struct pool *p, uint32_t cpu)
{
	return !p->place || p->place[cpu].state == PLACE_OPEN;
}

uint32_t place_nr_open(const struct pool *p)
{
	uint32_t n = 0;

	for (uint32_t c = 0; c < p->v.nr_cpus; c++)
		n += place_is_open(p, c);
	return n;
}

const char *place_state_name(const struct pool *p, uint32_t cpu)
{
	static const char *const names[] = { "open", "closing", "closed" };

	return names[p->place ? p->place[cpu].state : PLACE_OPEN];
}

/**
 * place_open() - let CPU @cpu of @p hold a reserve again (the caller fills
 * it: refill_cpu()).
 * @p: the pool.
 * @cpu: slab index.
 */
void place_open(struct pool *p, uint32_t cpu)
{
	struct place_cpu *pc;

	if (!p->place || p->place[cpu].state == PLACE_OPEN)
		return;
	pc = &p->place[cpu];
	slab_set_limits(&p->v, cpu, p->cfg.low_watermark, pool_limit(p));
	pc->state = PLACE_OPEN;
	pc->unwanted_ms = 0;
	pc->cw = slab_count_word(&p->v, cpu);
	pc->since_ms = place_now_ms();   /* not closed again before a pass saw it */
	p->cpus_opened++;
}

/* Retire CPU @c's slab and take its inbox back. */
static void close_cpu(struct pool *p, uint32_t c, uint64_t now)
{
	struct place_cpu *pc = &p->place[c];

	slab_retire(&p->v, c);
	pc->state = PLACE_CLOSING;
	pc->cw = slab_count_word(&p->v, c);
	pc->since_ms = now;
	p->cpus_closed++;
	refill_take_list(p, c, true, &p->trimmed);
}

/* A closing CPU: take its slots once that is safe. */
static void finish_close(struct daemon *d, struct pool *p, uint32_t c, uint64_t now)
{
	struct place_cpu *pc = &p->place[c];
	uint32_t buf[SLAB_MAX_CAP], n, bad;
	uint64_t cw = slab_count_word(&p->v, c);
	int r;

	if (cw != pc->cw) {          /* a section committed: wait again */
		pc->cw = cw;
		pc->since_ms = now;
		return;
	}
	/* offline, as read now, after the retiring store: every section that
	 * read the slab before it has left the CPU with its thread */
	if (d->cpus)
		cpus_refresh(d);
	if (cpus_online(d, c) && now - pc->since_ms < PLACE_GRACE_MS)
		return;
	r = slab_take_retired(&p->v, c, cw, buf, &n, &bad);
	if (r == -EAGAIN) {
		pc->cw = slab_count_word(&p->v, c);
		pc->since_ms = now;
		return;
	}
	if (r < 0) {
		pool_quarantine(p, "slab count past capacity", c);
		return;
	}
	if (n && refill_depot_put(p, buf, n, c) < 0)
		return;
	p->withdrawn += n;
	p->cpu[c].withdrawn += n;
	if (refill_take_list(p, c, true, &p->trimmed) < 0)
		return;
	pc->state = PLACE_CLOSED;
}

/* Open CPU @c and fill it. */
static void open_fill(struct pool *p, uint32_t c)
{
	place_open(p, c);
	refill_cpu(p, c);
}

/* A process's CPUs, read at most once per pass however many pools it is
 * attached to (and however many times): a direct-mapped cache by pid, an
 * entry good for the pass it was read in. */
#define PLACE_CACHE 256u

static struct {
	pid_t pid;
	int err;
	uint64_t ms;
	struct cpus_set set;
} pid_cache[PLACE_CACHE];

static int cpus_of_cached(struct daemon *d, pid_t pid, uint64_t now, struct cpus_set *ret)
{
	__typeof__(pid_cache[0]) *e = &pid_cache[(uint32_t)pid % PLACE_CACHE];

	if (e->pid != pid || now - e->ms >= PLACE_INTERVAL_MS / 2) {
		e->pid = pid;
		e->ms = now;
		e->err = cpus_of_process(d, pid, &e->set);
	}
	*ret = e->set;
	return e->err;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* The CPUs the processes attached to @p may run on: each process once. */
static void wanted_by_clients(struct daemon *d, const struct pool *p, uint64_t now,
			      struct cpus_set *want)
{
	pid_t *pids = p->nr_attached ? malloc(p->nr_attached * sizeof(*pids)) : NULL;
	uint32_t n = 0;

	memset(want, 0, sizeof(*want));
	if (!pids) {   /* none, or no memory: keep what is open (below) */
		if (p->nr_attached)
			memset(want, 0xff, sizeof(*want));
		return;
	}
	for (uint32_t i = 0; i < p->nr_attached; i++)
		pids[n++] = p->clients[i].pid;
	qsort(pids, n, sizeof(*pids), cmp_pid);
	for (uint32_t i = 0; i < n; i++) {
		struct cpus_set s;

		if ((i && pids[i] == pids[i - 1]) || cpus_of_cached(d, pids[i], now, &s) < 0)
			continue;
		for (size_t w = 0; w < sizeof(s.w) / sizeof(s.w[0]); w++)
			want->w[w] |= s.w[w];
	}
	free(pids);
}

/**
 * place_update() - open and close @p's CPUs by the rule above.
 * @d: the daemon.
 * @p: the pool.
 * @now: at once (an attach, an exit, a CPU went on- or offline); else
 *       only if PLACE_INTERVAL_MS have passed since the last pass.
 *
 * Context: event loop (the sweep).
 */
void place_update(struct daemon *d, struct pool *p, bool now)
{
	uint64_t t = place_now_ms();
	struct cpus_set want;

	if (!p->place || !d->cpus || p->quarantined)
		return;
	if (!now && t - p->placed_ms < PLACE_INTERVAL_MS)
		return;
	p->placed_ms = t;
	if (d->cpus->uevent_fd < 0)
		cpus_refresh(d);
	wanted_by_clients(d, p, t, &want);
	for (uint32_t c = 0; c < p->v.nr_cpus && !p->quarantined; c++) {
		struct place_cpu *pc = &p->place[c];
		uint64_t cw = slab_count_word(&p->v, c);
		/* sections commit there, a request waits, or it opened lately */
		bool busy = pc->state == PLACE_OPEN &&
			(cw != pc->cw || slab_request_raised(&p->v, c) ||
			 t - pc->since_ms < PLACE_INTERVAL_MS);
		bool wanted = cpus_online(d, c) &&
			(cpus_set_has(&want, c) || busy ||
			 (p->nr_attached == 0 && pc->state == PLACE_OPEN));

		switch (pc->state) {
		case PLACE_OPEN:
			pc->cw = cw;
			if (wanted)
				pc->unwanted_ms = 0;
			else if (!pc->unwanted_ms && cpus_online(d, c))
				pc->unwanted_ms = t;
			else if (!cpus_online(d, c) || t - pc->unwanted_ms >= PLACE_CLOSE_AFTER_MS)
				close_cpu(p, c, t);
			break;
		case PLACE_CLOSING:
			if (wanted)
				open_fill(p, c);
			else
				finish_close(d, p, c, t);
			break;
		default:
			if (wanted)
				open_fill(p, c);
			else if (slab_list_len(atomic_load_explicit(&slab_of(&p->v, c)->inbox,
								    memory_order_relaxed)))
				/* what a client put back there since */
				refill_take_list(p, c, true, &p->trimmed);
			break;
		}
	}
}

/**
 * place_attached() - process @pid attached to @p: open and fill the CPUs
 * it may run on before it gets its reply.
 * @d: the daemon.
 * @p: the pool.
 * @pid: the process.
 *
 * Return: how many CPUs it opened.
 */
int place_attached(struct daemon *d, struct pool *p, pid_t pid)
{
	struct cpus_set s;
	int n = 0;

	if (!p->place || !d->cpus || p->quarantined || cpus_of_process(d, pid, &s) < 0)
		return 0;
	for (uint32_t c = 0; c < p->v.nr_cpus; c++)
		if (cpus_set_has(&s, c) && !place_is_open(p, c)) {
			open_fill(p, c);
			n++;
		}
	return n;
}

/**
 * place_topology_changed() - CPUs went offline or online: every pool
 * looks at once.
 * @d: the daemon.
 */
void place_topology_changed(struct daemon *d)
{
	for (struct pool *p = d->pools; p; p = p->next)
		place_update(d, p, true);
}

/**
 * place_init() - a pool's placement, before it is filled.
 * @d: the daemon.
 * @p: a pool being created (its limits set) or restored.
 * @creator: the process that asks for a new pool, or 0.
 *
 * A new pool opens the online CPUs @creator may run on, or those the
 * daemon may run on, and retires the others (nothing is in them yet).  A
 * restored pool keeps a slab the previous daemon retired closing, and
 * opens the others; the first pass sorts them out.
 *
 * Return: 0 or -ENOMEM.
 */
int place_init(struct daemon *d, struct pool *p, pid_t creator)
{
	struct cpus_set s;

	p->place = calloc(p->v.nr_cpus, sizeof(*p->place));
	if (!p->place)
		return -ENOMEM;
	if (!d->cpus)
		return 0;   /* every CPU open */
	if (creator <= 0 || cpus_of_process(d, creator, &s) < 0 ||
	    cpus_count(&s, d->cpus->nr) == 0) {
		s = d->cpus->own;
		for (size_t w = 0; w < sizeof(s.w) / sizeof(s.w[0]); w++)
			s.w[w] &= d->cpus->online.w[w];
	}
	uint64_t t = place_now_ms();

	for (uint32_t c = 0; c < p->v.nr_cpus; c++) {
		struct place_cpu *pc = &p->place[c];

		pc->cw = slab_count_word(&p->v, c);
		if (p->restored) {
			if (slab_retired(&p->v, c)) {
				pc->state = PLACE_CLOSING;
				pc->since_ms = t;
			}
		} else if (!cpus_set_has(&s, c)) {
			slab_retire(&p->v, c);
			pc->state = PLACE_CLOSED;
		}
	}
	p->placed_ms = t;
	return 0;
}

void place_fini(struct pool *p)
{
	free(p->place);
	p->place = NULL;
}
