// SPDX-License-Identifier: MIT
/*
 * pool.c - a pool as the daemon sees it: created here (its layout, its
 * memory from shm.c, its first elements), found by name or serial in the
 * registry, destroyed; who may attach it and which attachments it has;
 * and the daemon's record of its header, checked against the shared one.
 * The depot and the refill engine are refill.c's, the state memfd
 * state.c's, the reclaim of dead clients' elements reclaim.c's.
 *
 * The daemon writes a slab only once it is retired: see core/slab.h and
 * place.c.  Everything read
 * from the shared memory is untrusted input: the daemon keeps its own
 * record of the pool (p->layout, p->published, p->cfg, the view built from
 * them, and a copy of each in the state memfd for a restart) and never
 * sizes, indexes or loops by a value it read from the pool without bounding
 * it by that record.  A header that differs from the record, a list that
 * points outside the pool, loops, or hands back an element the depot
 * already holds marks the pool corrupt, and a corrupt pool is quarantined:
 * no more refills, no attaches, the other pools go on.
 */
#include "pool.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpus.h"
#include "depot.h"
#include "guard.h"
#include "shm.h"
#include "log.h"
#include "place.h"
#include "reclaim.h"
#include "refill.h"

#define POOL_CAP_MIN    32u

/**
 * pool_limit() - the spill limit of every slab of @p: 2 x min_nr, at most
 * the slab's capacity.
 * @p: the pool.
 *
 * Return: the limit.
 */
uint32_t pool_limit(const struct pool *p)
{
	uint64_t lim = 2ull * p->cfg.min_nr;

	return lim > p->v.slab_cap ? p->v.slab_cap : (uint32_t)lim;
}

/**
 * pool_quarantine() - mark @p corrupt: no more refills, no attaches; the
 * other pools go on.  The first reason found is kept.
 * @p: the pool.
 * @why: what was found.
 * @cpu: where (0 where no CPU applies).
 */
void pool_quarantine(struct pool *p, const char *why, uint32_t cpu)
{
	if (p->quarantined)
		return;
	p->quarantined = true;
	snprintf(p->quarantine_why, sizeof(p->quarantine_why), "%s (cpu %u)", why, cpu);
	if (p->st)
		p->st->quarantined = 1;
	atomic_store_explicit(&p->v.hdr->state, SLAB_STATE_QUARANTINED, memory_order_relaxed);
	/* crossings send again (and get nothing: the pool is frozen) */
	refill_poll_stop(p);
	log_err("pool %s: shared memory corrupt (%s, cpu %u): quarantined, no further refills",
		p->cfg.name, why, cpu);
}

/**
 * pool_register() - add @p to the registry, last, and number it (its serial).
 * @d: daemon.
 * @p: a pool in no registry.
 */
void pool_register(struct daemon *d, struct pool *p)
{
	struct pool **tail = &d->pools;

	while (*tail)   /* creation order */
		tail = &(*tail)->next;
	*tail = p;
	p->serial = ++d->pool_serial;
	d->nr_pools++;
}

/**
 * pool_view_init() - build the daemon's view of @p from its record,
 * p->layout (checked as a client checks a header), counting published
 * elements in p->published.
 * @p: the pool, mapped at p->base.
 *
 * Return: 0 or a negative errno.
 */
int pool_view_init(struct pool *p)
{
	int r = slab_validate_hdr(&p->layout, 0);

	if (r < 0)
		return r;
	r = slab_view_init_hdr(&p->v, p->base, &p->layout, p->layout.map_size, 0);
	if (r < 0)
		return r;
	p->v.own_published = &p->published;
	return 0;
}

/* The header fields the record pins, by name for the log. */
#define HDR_FIELD(f) { #f, offsetof(struct slab_hdr, f), sizeof(((struct slab_hdr *)0)->f) }
static const struct {
	const char *name;
	size_t off, len;
} hdr_fields[] = {
	HDR_FIELD(magic), HDR_FIELD(layout_version), HDR_FIELD(hdr_size),
	HDR_FIELD(nr_cpus), HDR_FIELD(slab_cap), HDR_FIELD(slab_stride),
	HDR_FIELD(elem_stride), HDR_FIELD(elem_size), HDR_FIELD(elem_align),
	HDR_FIELD(max_elems), HDR_FIELD(slabs_off), HDR_FIELD(meta_off),
	HDR_FIELD(elems_off), HDR_FIELD(map_size), HDR_FIELD(name),
	HDR_FIELD(huge_page_size),
};

/* The first field of the shared header that differs from the record, or
 * NULL.  Read field by field from memory a client may be writing: a torn
 * read only makes a difference show, never hides one that stays. */
static const char *hdr_differs(const struct pool *p)
{
	const struct slab_hdr *h = p->v.hdr;
	uint32_t state;

	for (size_t i = 0; i < sizeof(hdr_fields) / sizeof(hdr_fields[0]); i++) {
		char now[SLAB_NAME_MAX];

		memcpy(now, (const char *)h + hdr_fields[i].off, hdr_fields[i].len);
		if (memcmp(now, (const char *)&p->layout + hdr_fields[i].off, hdr_fields[i].len))
			return hdr_fields[i].name;
	}
	if (atomic_load_explicit(&h->nr_published, memory_order_relaxed) != p->published)
		return "nr_published";
	if (atomic_load_explicit(&h->min_nr, memory_order_relaxed) != p->cfg.min_nr)
		return "min_nr";
	state = atomic_load_explicit(&h->state, memory_order_relaxed);
	if (state != (p->quarantined ? SLAB_STATE_QUARANTINED : SLAB_STATE_OK))
		return "state";
	return NULL;
}

/**
 * pool_verify() - check the pool's shared header against the daemon's own
 * record of it; quarantine the pool if a client rewrote it.
 * @p: the pool.
 *
 * Context: event loop (before an attach, a refill, a stats reply, and in
 * each sweep).
 * Return: 0, or -EUCLEAN when the pool is (now) quarantined.
 */
int pool_verify(struct pool *p)
{
	const char *field;
	char why[64];

	if (p->quarantined)
		return -EUCLEAN;
	if (p->layout.huge_page_size && shm_pages_released(p)) {
		pool_quarantine(p, "pages released from the pool's hugetlbfs file", 0);
		return -EUCLEAN;
	}
	field = hdr_differs(p);
	if (!field)
		return 0;
	snprintf(why, sizeof(why), "header field %s rewritten", field);
	pool_quarantine(p, why, 0);
	return -EUCLEAN;
}

/**
 * pool_may_attach() - whether a peer may attach: read and write permission
 * for its class (owner, group, other), as for a file; root always may.
 * @p: the pool.
 * @uid: the peer's uid.
 * @gids: its groups (primary and supplementary).
 * @n: how many.
 *
 * Return: true if allowed.
 */
bool pool_may_attach(const struct pool *p, uint32_t uid, const uint32_t *gids, size_t n)
{
	uint32_t bits = p->st->mode & 07;

	if (uid == 0)
		return true;
	if (uid == p->st->uid) {
		bits = (p->st->mode >> 6) & 07;
	} else {
		for (size_t i = 0; i < n; i++)
			if (gids[i] == p->st->gid)
				bits = (p->st->mode >> 3) & 07;
	}
	return (bits & 06) == 06;
}

/**
 * pool_client_add() - record an attachment (the daemon's attach counts it).
 * @p: the pool.
 * @id: its owner id.
 * @pid: the peer's pid.
 * @uid: the peer's uid.
 *
 * Return: 0 or -ENOMEM.
 */
int pool_client_add(struct pool *p, uint32_t id, int32_t pid, uint32_t uid)
{
	struct pool_client *n = realloc(p->clients, (p->nr_attached + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	p->clients = n;
	n[p->nr_attached++] = (struct pool_client){ id, pid, uid };
	state_holder_add(p, id, pid);
	return 0;
}

/**
 * pool_client_remove() - forget an attachment.
 * @p: the pool.
 * @id: its owner id.
 */
void pool_client_remove(struct pool *p, uint32_t id)
{
	for (uint32_t i = 0; i < p->nr_attached; i++)
		if (p->clients[i].id == id) {
			p->clients[i] = p->clients[--p->nr_attached];
			p->placed_ms = 0;   /* its CPUs may close: place_update() */
			return;
		}
}

/**
 * pool_shutdown() - mark the depot consistent before a clean exit.
 * @p: the pool.
 */
void pool_shutdown(struct pool *p)
{
	if (p->polling)
		slab_poll_set(&p->v, false);   /* nobody polls until the next start */
	p->polling = false;
	if (p->st)
		p->st->clean = 1;
}

/**
 * pool_new_owner() - a client id for a new attachment: the owner mark its
 * pops write.  Unique for the life of the pool, across daemon restarts.
 * @p: the pool.
 *
 * Return: a non-zero id that is not SLAB_OWNER_HANDOFF.
 */
uint32_t pool_new_owner(struct pool *p)
{
	do
		p->st->next_owner++;
	while (p->st->next_owner == 0 || p->st->next_owner == SLAB_OWNER_HANDOFF);
	return p->st->next_owner;
}

/**
 * pool_create() - create a pool: memfd, layout, the first elements, and
 * every CPU's reserve filled to min_nr.
 * @d: daemon (for the CPU count and the registry).
 * @pc: parameters (checked here).
 * @ret_pool: the pool, registered in @d, on success.
 * @err: receives the reason on failure.
 * @errlen: size of @err.
 *
 * Context: event loop.
 * Return: 0, -EINVAL, -EEXIST, -ENOSPC (too many pools), -E2BIG (too much
 * memory), or a system error.
 */
int pool_create(struct daemon *d, const struct pool_config *pc, pid_t creator,
		struct pool **ret_pool, char *err, size_t errlen)
{
	struct pool_config c = *pc;
	struct slab_hdr layout;
	struct slab_geometry g;
	struct pool *p;
	int r;

	if (config_pool_check(&c, err, errlen) < 0)
		return -EINVAL;
	if (pool_find(d, c.name)) {
		snprintf(err, errlen, "pool \"%s\" exists", c.name);
		return -EEXIST;
	}
	if (d->nr_pools >= PCP_MAX_POOLS) {
		snprintf(err, errlen, "at most %u pools", (unsigned int)PCP_MAX_POOLS);
		return -ENOSPC;
	}
	if (!c.low_watermark)
		c.low_watermark = c.min_nr / 4 ? c.min_nr / 4 : 1;
	if (!c.max_elems) {
		uint64_t m = 4ull * d->nr_cpus * c.min_nr;
		c.max_elems = m < 1024 ? 1024 : m > PCP_MAX_ELEMS ? PCP_MAX_ELEMS : m;
	}
	if (c.max_elems < (uint64_t)d->nr_cpus * c.min_nr) {
		snprintf(err, errlen, "max_elems %llu is below min_nr x %u CPUs",
			 (unsigned long long)c.max_elems, d->nr_cpus);
		return -EINVAL;
	}
	uint64_t a = c.align < 8 ? 8 : c.align;   /* as slab_layout() */
	uint64_t stride = (c.elem_size + a - 1) / a * a;
	if (stride * c.max_elems > PCP_MAX_POOL_BYTES) {
		snprintf(err, errlen, "max_elems x elem_size exceeds %llu bytes",
			 (unsigned long long)PCP_MAX_POOL_BYTES);
		return -E2BIG;
	}
	uint64_t cap = 2ull * c.min_nr;
	g.nr_cpus = d->nr_cpus;
	g.slab_cap = (uint32_t)(cap < POOL_CAP_MIN ? POOL_CAP_MIN :
				cap > SLAB_MAX_CAP ? SLAB_MAX_CAP : cap);
	g.elem_size = c.elem_size;
	g.elem_align = c.align;
	g.max_elems = c.max_elems;
	g.huge_page_size = c.hugepages ? SLAB_HUGE_PAGE : 0;
	r = slab_layout(&g, &layout);
	if (r < 0) {
		snprintf(err, errlen, "layout: %s", strerror(-r));
		return r;
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->memfd = -1;
	p->statefd = -1;
	p->base = MAP_FAILED;
	p->cfg = c;
	r = state_create(p, c.max_elems);
	if (r < 0) {
		snprintf(err, errlen, "depot: %s", strerror(-r));
		goto fail;
	}
	/* who may attach: the owner, group and mode given, else the daemon's
	 * user and group, 0660 */
	p->st->uid = p->cfg.has_owner ? p->cfg.owner : (uint32_t)geteuid();
	p->st->gid = p->cfg.has_group ? p->cfg.group : (uint32_t)getegid();
	p->st->mode = p->cfg.has_mode ? p->cfg.mode : POOL_DEFAULT_MODE;
	r = shm_create(p, &layout, cpus_nr_nodes(d), d->watchdog_usec != 0, err, errlen);
	if (r < 0)
		goto fail;
	slab_format(p->base, &layout, c.name);
	/* the record: the header as formatted, before any client sees it */
	memcpy(&p->layout, p->base, sizeof(p->layout));
	r = pool_view_init(p);
	if (r < 0) {
		snprintf(err, errlen, "view: %s", strerror(-r));
		goto fail;
	}
	p->st->layout = p->layout;
	p->cpu_node = d->cpus ? d->cpus->node : NULL;
	r = depot_init(p, cpus_nr_nodes(d));
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	atomic_store_explicit(&p->v.hdr->nr_nodes, depot_nr_nodes(p), memory_order_relaxed);
	p->st->min_nr = c.min_nr;
	p->st->low_watermark = c.low_watermark;
	p->cpu = calloc(p->v.nr_cpus, sizeof(*p->cpu));
	if (!p->cpu || reclaim_init(d, p) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	atomic_store_explicit(&p->v.hdr->min_nr, c.min_nr, memory_order_relaxed);
	for (uint32_t cpu = 0; cpu < p->v.nr_cpus; cpu++) {
		slab_set_limits(&p->v, cpu, c.low_watermark, pool_limit(p));
		slab_of(&p->v, cpu)->node = cpus_node_of(d, cpu);
	}
	if (place_init(d, p, creator) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* reserves where the creator (or the daemon) may run: place.c */
	r = refill_grow(p, (uint64_t)c.min_nr * place_nr_open(p));
	if (r < 0) {
		snprintf(err, errlen, "cannot back the first elements: %s", strerror(-r));
		goto fail;
	}
	r = refill_all(p, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot fill the reserves: %s", strerror(-r));
		goto fail;
	}
	pool_register(d, p);
	state_fdstore(p, true);
	*ret_pool = p;
	return 0;
fail:
	pool_dispose(p);
	return r;
}

/**
 * pool_dispose() - unmap and release a pool (already unregistered).
 * @p: the pool or NULL.
 *
 * Clients that still map it keep their mapping; the memory goes when the
 * last one unmaps.
 */
void pool_dispose(struct pool *p)
{
	if (!p)
		return;
	if (p->polling)
		slab_poll_set(&p->v, false);
	if (p->base != MAP_FAILED && p->base) {
		guard_remove(p->base);
		munmap(p->base, p->map_len);
	}
	if (p->memfd >= 0)
		close(p->memfd);
	if (p->st)
		munmap(p->st, p->st_size);
	if (p->statefd >= 0)
		close(p->statefd);
	free(p->in_depot);
	free(p->clients);
	free(p->cpu);
	place_fini(p);
	if (p->ev_reclaim)
		event_free(p->ev_reclaim);
	if (p->ev_orphan)
		event_free(p->ev_orphan);
	free(p->orph);
	free(p->orph_mark);
	free(p->dead);
	free(p->cand);
	free(p->seen);
	free(p);
}

/**
 * pool_find() - look a pool up by name.
 * @d: daemon.
 * @name: pool name.
 *
 * Return: the pool or NULL.
 */
struct pool *pool_find(struct daemon *d, const char *name)
{
	for (struct pool *p = d->pools; p; p = p->next)
		if (!strcmp(p->cfg.name, name))
			return p;
	return NULL;
}

/**
 * pool_find_serial() - the pool with this serial (struct pool), if it
 * still exists.
 * @d: daemon.
 * @serial: as pool_register() numbered it.
 *
 * Return: the pool or NULL.
 */
struct pool *pool_find_serial(struct daemon *d, uint64_t serial)
{
	for (struct pool *p = d->pools; p; p = p->next)
		if (p->serial == serial)
			return p;
	return NULL;
}

/**
 * pool_unregister() - remove a pool from the registry (the caller disposes
 * of it).
 * @d: daemon.
 * @p: a pool in @d.
 */
void pool_unregister(struct daemon *d, struct pool *p)
{
	for (struct pool **pp = &d->pools; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			d->nr_pools--;
			return;
		}
}

/**
 * pool_destroy() - destroy a pool for good: out of the fd store, out of the
 * registry, unmapped.
 * @d: daemon.
 * @p: a pool in @d with no other client attached.
 */
void pool_destroy(struct daemon *d, struct pool *p)
{
	/* for clients that still map it; a pool freed at exit lives on in the
	 * fd store and stays as it was */
	atomic_store(&p->v.hdr->state, SLAB_STATE_DESTROYED);
	state_fdstore(p, false);
	pool_unregister(d, p);
	pool_dispose(p);
}
