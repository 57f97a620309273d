// SPDX-License-Identifier: MIT
/*
 * state.c - a pool's state memfd (struct pool_state, state.h): the depot
 * array, the holder table, and the daemon's record of the pool, which a
 * restarted daemon serves the pool from.  Created with the pool, handed to
 * systemd's fd store with the pool's memfd, and taken back from there at
 * start-up (state_restore()).
 *
 * No client ever maps this object: it is the trust boundary.  What a
 * restart reads from it is still another process's memory, so it is
 * checked as strictly as a header before the pool is served from it.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cpus.h"
#include "depot.h"
#include "guard.h"
#include "log.h"
#include "place.h"
#include "pool.h"
#include "reclaim.h"
#include "refill.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

/* The state memfd: the header, the depot, then the holder table. */
static size_t depot_end(uint64_t max_elems)
{
	return POOL_STATE_HDR + (size_t)max_elems * sizeof(uint32_t);
}

static size_t holders_off(uint64_t max_elems)
{
	return (depot_end(max_elems) + 7) & ~(size_t)7;
}

static size_t state_size(uint64_t max_elems)
{
	return holders_off(max_elems) + POOL_MAX_HOLDERS * sizeof(struct pool_holder);
}

static struct pool_holder *holders_of(const struct pool *p)
{
	return (struct pool_holder *)(void *)((char *)p->st +
					      holders_off(p->st->max_elems));
}

/**
 * state_holders() - the pool's holder table.
 * @p: the pool.
 * @ret_n: entries to look at (some may be free: id 0).
 *
 * Return: the table.
 */
const struct pool_holder *state_holders(const struct pool *p, uint32_t *ret_n)
{
	*ret_n = p->st->holders_cap ? p->st->holders_hw : 0;
	return holders_of(p);
}

/**
 * state_holder_add() - record attachment @id of process @pid (the table is
 * full: it is only not watched across a restart).
 * @p: the pool.
 * @id: its client id.
 * @pid: the process.
 */
void state_holder_add(struct pool *p, uint32_t id, int32_t pid)
{
	struct pool_holder *h = holders_of(p);
	uint32_t i;

	for (i = 0; i < p->st->holders_hw && h[i].id; i++)
		;
	if (i == p->st->holders_cap) {
		log_warning("pool %s: %u holders recorded: client %u is not watched across "
			    "a restart", p->cfg.name, i, id);
		return;
	}
	h[i] = (struct pool_holder){ id, pid };
	if (i == p->st->holders_hw)
		p->st->holders_hw = i + 1;
}

/**
 * state_holder_remove() - forget attachment @id: the reclaim pass for it
 * has run.
 * @p: the pool.
 * @id: its client id.
 */
void state_holder_remove(struct pool *p, uint32_t id)
{
	struct pool_holder *h = holders_of(p);

	for (uint32_t i = 0; i < p->st->holders_hw; i++)
		if (h[i].id == id) {
			h[i].id = 0;
			break;
		}
	while (p->st->holders_hw && !h[p->st->holders_hw - 1].id)
		p->st->holders_hw--;
}

/* Map a state memfd and the private in-depot map for @max_elems. */
static int state_map(struct pool *p, int fd, uint64_t max_elems)
{
	p->statefd = fd;
	p->st_size = state_size(max_elems);
	p->st = mmap(NULL, p->st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p->st == MAP_FAILED) {
		p->st = NULL;
		return -errno;
	}
	p->in_depot = calloc(max_elems, 1);
	return p->in_depot ? 0 : -ENOMEM;
}

/**
 * state_create() - a new state memfd for a pool of @max_elems, mapped
 * (p->statefd, p->st), with an empty depot and holder table.
 * @p: the pool (p->cfg.name names the memfd).
 * @max_elems: the pool's maximum.
 *
 * Return: 0 or a negative errno.
 */
int state_create(struct pool *p, uint64_t max_elems)
{
	char name[PCP_NAME_MAX + 16];
	int fd, r;

	snprintf(name, sizeof(name), "pcpupoold:%s", p->cfg.name);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)state_size(max_elems)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = state_map(p, fd, max_elems);
	if (r < 0)
		return r;
	p->st->magic = POOL_STATE_MAGIC;
	p->st->version = POOL_STATE_VERSION;
	p->st->max_elems = max_elems;
	p->st->holders_cap = POOL_MAX_HOLDERS;
	return 0;
}

/**
 * state_fdstore() - hand the pool's two memfds to systemd's fd store (@add)
 * or take them out, so that a restarted daemon gets them back.  Outside
 * systemd this does nothing.
 * @p: the pool.
 * @add: true to store, false to remove.
 */
void state_fdstore(struct pool *p, bool add)
{
	static const char *const kinds[2] = { "pool", "depot" };
	int fds[2] = { p->memfd, p->statefd };
	char msg[128];

	for (int i = 0; i < 2; i++) {
		snprintf(msg, sizeof(msg), "%s\nFDNAME=%s.%s",
			 add ? "FDSTORE=1" : "FDSTOREREMOVE=1", kinds[i], p->cfg.name);
		int r = add ? sd_pid_notify_with_fds(0, 0, msg, &fds[i], 1)
			    : sd_notify(0, msg);
		if (r < 0)
			log_warning("pool %s: fd store: %s", p->cfg.name, strerror(-r));
	}
}

/* Read and check the state object's first page: @max_elems of it. */
static int state_read_hdr(int statefd, struct pool_state *ret, const char *name,
			  char *err, size_t errlen)
{
	if (pread(statefd, ret, sizeof(*ret), 0) != (ssize_t)sizeof(*ret)) {
		snprintf(err, errlen, "depot object too small");
		return -EUCLEAN;
	}
	if (ret->magic != POOL_STATE_MAGIC ||
	    ret->version < 1 || ret->version > POOL_STATE_VERSION ||
	    ret->max_elems == 0 || ret->max_elems > PCP_MAX_ELEMS) {
		snprintf(err, errlen, "invalid depot");
		return -EUCLEAN;
	}
	if (ret->version == 1)
		return 0;
	/* our own record, but from another process's memory: as strict as
	 * a header */
	if (slab_validate_hdr(&ret->layout, 0) < 0 || ret->layout.max_elems != ret->max_elems ||
	    strncmp(ret->layout.name, name, SLAB_NAME_MAX) || ret->published > ret->max_elems) {
		snprintf(err, errlen, "invalid record in the depot object");
		return -EUCLEAN;
	}
	return 0;
}

/* A state an older daemon wrote has no record: take the header's word
 * once (validated as a client would), and keep it as the record. */
static int record_from_header(struct pool *p, int memfd, size_t file_size, const char *name,
			      char *err, size_t errlen)
{
	struct slab_hdr h;

	if (file_size < SLAB_HDR_SIZE || pread(memfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		snprintf(err, errlen, "pool object too small");
		return -EUCLEAN;
	}
	if (slab_validate_hdr(&h, 0) < 0 || strncmp(h.name, name, SLAB_NAME_MAX) ||
	    h.max_elems != p->st->max_elems) {
		snprintf(err, errlen, "invalid header");
		return -EUCLEAN;
	}
	p->layout = h;
	p->st->published = atomic_load(&h.nr_published);
	p->st->min_nr = atomic_load(&h.min_nr);
	p->st->low_watermark = 0;   /* below: min_nr / 4 */
	p->st->quarantined = 0;
	p->st->layout = h;
	p->st->version = POOL_STATE_VERSION;
	log_notice("pool %s: an older daemon's depot object: the header, validated, is "
		   "the record from now on", name);
	return 0;
}

/**
 * state_restore() - take back a pool a previous daemon left in the fd store.
 * @d: daemon.
 * @name: the pool name from the fd names.
 * @memfd: the pool's shared memory (owned by this call from now on).
 * @statefd: its depot state (owned by this call from now on).
 * @ret_pool: the pool, registered in @d, on success.
 * @err: receives the reason on failure.
 * @errlen: size of @err.
 *
 * The pool is served from the record in the state object, which no client
 * can write (geometry, published count, min_nr, the depot); the pool's own
 * memory is checked against it, and a pool whose header differs, or that
 * was quarantined before, comes back quarantined: its clients keep their
 * mappings, and it can be inspected and destroyed.  Clients' reserves and
 * held elements are untouched.
 *
 * Context: start-up.
 * Return: 0 or a negative errno (-EUCLEAN for a state object that is not
 * one this daemon can serve from); on failure both descriptors are closed.
 */
int state_restore(struct daemon *d, const char *name, int memfd, int statefd,
		  struct pool **ret_pool, char *err, size_t errlen)
{
	struct pool *p = calloc(1, sizeof(*p));
	struct pool_state sh;
	struct stat st;
	uint64_t max;
	int r;

	if (!p) {
		close(memfd);
		close(statefd);
		return -ENOMEM;
	}
	p->memfd = memfd;
	p->statefd = -1;
	p->base = MAP_FAILED;
	r = state_read_hdr(statefd, &sh, name, err, errlen);
	if (r < 0) {
		close(statefd);
		goto fail;
	}
	max = sh.max_elems;
	r = -EUCLEAN;
	if (fstat(statefd, &st) < 0 || (uint64_t)st.st_size < depot_end(max)) {
		snprintf(err, errlen, "depot object too small");
		close(statefd);
		goto fail;
	}
	/* a state without the holder table (an older daemon's): add it */
	bool had_holders = (uint64_t)st.st_size >= state_size(max);
	if (!had_holders && ftruncate(statefd, (off_t)state_size(max)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot extend the depot object: %s", strerror(errno));
		close(statefd);
		goto fail;
	}
	r = state_map(p, statefd, max);
	if (r < 0) {
		snprintf(err, errlen, "cannot map the depot");
		goto fail;
	}
	r = -EUCLEAN;
	if (fstat(memfd, &st) < 0) {
		snprintf(err, errlen, "pool object: %s", strerror(errno));
		goto fail;
	}
	if (p->st->version == 1) {
		if (record_from_header(p, memfd, (size_t)st.st_size, name, err, errlen) < 0)
			goto fail;
	} else {
		p->layout = p->st->layout;
	}
	if (p->layout.nr_cpus != d->nr_cpus) {
		snprintf(err, errlen, "geometry does not fit this machine");
		goto fail;
	}
	/* as pool_create() makes it: the whole mapping backed (a pool of an
	 * older daemon grew its file as it published), and sealed against
	 * shrinking (clients refuse a pool that is not) */
	uint64_t map_size = p->layout.map_size;
	/* a file on hugetlbfs maps by whole hugepages only: its pages must be
	 * those the record was laid out for (slab_layout()) */
	long huge = slab_file_huge_page(memfd);
	if (huge < 0 || (uint64_t)huge != p->layout.huge_page_size) {
		snprintf(err, errlen, "the pool object is on %s pages, its record on %s",
			 huge > 0 ? "huge" : huge == 0 ? "base" : "unknown",
			 p->layout.huge_page_size ? "hugepages" : "base pages");
		goto fail;
	}
	if ((uint64_t)st.st_size < map_size && ftruncate(memfd, (off_t)map_size) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot extend the pool object: %s", strerror(errno));
		goto fail;
	}
	int seals = fcntl(memfd, F_GET_SEALS);
	if (seals >= 0 && !(seals & F_SEAL_SEAL))
		(void)fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL);
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(memfd, &st) < 0 ||
	    (uint64_t)st.st_size < map_size) {
		snprintf(err, errlen, "the pool object cannot be sealed against shrinking");
		goto fail;
	}
	p->base = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	p->map_len = map_size;
	if (p->base != MAP_FAILED && p->layout.huge_page_size &&
	    guard_add(p->base, map_size, p->layout.huge_page_size) < 0)
		log_warning("pool %s: too many hugepage pools to guard", name);
	if (p->base == MAP_FAILED || pool_view_init(p) < 0) {
		snprintf(err, errlen, "cannot map the pool");
		goto fail;
	}
	p->cpu = calloc(p->v.nr_cpus, sizeof(*p->cpu));
	if (!p->cpu || reclaim_init(d, p) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	p->published = p->st->published;
	if (p->st->depot_n > p->published) {
		snprintf(err, errlen, "invalid depot");
		goto fail;
	}
	if (!had_holders || p->st->holders_cap != POOL_MAX_HOLDERS ||
	    p->st->holders_hw > POOL_MAX_HOLDERS) {
		if (had_holders)
			log_warning("pool %s: holder table invalid: dropped", name);
		memset(holders_of(p), 0, POOL_MAX_HOLDERS * sizeof(struct pool_holder));
		p->st->holders_cap = POOL_MAX_HOLDERS;
		p->st->holders_hw = 0;
	}
	p->restored = true;
	p->cpu_node = d->cpus ? d->cpus->node : NULL;
	if (depot_init(p, cpus_nr_nodes(d)) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	p->st->version = POOL_STATE_VERSION;
	atomic_store_explicit(&p->v.hdr->nr_nodes, depot_nr_nodes(p), memory_order_relaxed);
	for (uint32_t k = 0; k < depot_nr_nodes(p); k++)
		for (uint64_t i = 0; i < p->st->depot_node_n[k]; i++) {
			uint32_t e = p->st->depot[p->depot_base[k] + i];

			if (e >= p->published || p->in_depot[e] || depot_node_of(p, e) != k) {
				snprintf(err, errlen, "depot entry %llu of node %u invalid",
					 (unsigned long long)i, k);
				goto fail;
			}
			p->in_depot[e] = 1;
		}
	snprintf(p->cfg.name, sizeof(p->cfg.name), "%s", name);
	p->cfg.elem_size = p->layout.elem_size;
	p->cfg.align = p->layout.elem_align;
	p->cfg.max_elems = max;
	p->cfg.hugepages = p->layout.huge_page_size != 0;
	p->cfg.min_nr = p->st->min_nr;
	p->cfg.low_watermark = p->st->low_watermark;
	if (p->cfg.min_nr < 1 || p->cfg.min_nr > PCP_MAX_MIN_NR ||
	    (uint64_t)p->cfg.min_nr * p->v.nr_cpus > max) {
		snprintf(err, errlen, "min_nr %u out of range", p->cfg.min_nr);
		goto fail;
	}
	if (p->cfg.low_watermark < 1 || p->cfg.low_watermark > p->cfg.min_nr)
		p->cfg.low_watermark = p->cfg.min_nr / 4 ? p->cfg.min_nr / 4 : 1;
	p->st->low_watermark = p->cfg.low_watermark;
	if (p->st->quarantined)
		pool_quarantine(p, "quarantined before the restart", 0);
	else
		(void)pool_verify(p);
	if (!p->st->clean && !p->quarantined) {
		log_warning("pool %s: the previous daemon did not stop cleanly: looking for "
			    "elements it left nowhere", name);
		reclaim_orphans(p);
	}
	p->st->clean = 0;
	p->st->restarts++;
	atomic_fetch_add(&p->v.hdr->generation, 1);
	/* a slab the previous daemon retired stays so: place_init() */
	for (uint32_t c = 0; c < p->v.nr_cpus; c++)
		if (!slab_retired(&p->v, c))
			slab_set_limits(&p->v, c, p->cfg.low_watermark, pool_limit(p));
	if (place_init(d, p, 0) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* a daemon that died polling left the flag up: its clients' quiet
	 * requests are served here, and from now on they send */
	refill_poll_stop(p);
	pool_register(d, p);
	*ret_pool = p;
	return 0;
fail:
	pool_dispose(p);
	return r;
}
