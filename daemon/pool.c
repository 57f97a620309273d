// SPDX-License-Identifier: MIT
/*
 * pool.c - a pool as the daemon sees it: its memfd and mapping, the depot
 * of free elements only the daemon holds, and the refill engine that moves
 * elements depot -> inbox N (refill) and outbox N -> depot (drain).
 *
 * The daemon never writes a slab: see libclient/slab.h.  Everything read
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
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"

#include <event2/event.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

static int pool_reclaim_init(struct daemon *d, struct pool *p);
static void holders_check(struct pool *p);
static uint32_t pool_serve_raised(struct pool *p);
static uint32_t pool_poll_stop(struct pool *p);

#define POOL_GROW_MIN   64u
#define POOL_CAP_MIN    32u

static uint32_t pool_limit(const struct pool *p)
{
	uint64_t lim = 2ull * p->cfg.min_nr;

	return lim > p->v.slab_cap ? p->v.slab_cap : (uint32_t)lim;
}

static void pool_quarantine(struct pool *p, const char *why, uint32_t cpu)
{
	if (p->quarantined)
		return;
	p->quarantined = true;
	snprintf(p->quarantine_why, sizeof(p->quarantine_why), "%s (cpu %u)", why, cpu);
	if (p->st)
		p->st->quarantined = 1;
	atomic_store_explicit(&p->v.hdr->state, SLAB_STATE_QUARANTINED, memory_order_relaxed);
	/* crossings send again (and get nothing: the pool is frozen) */
	pool_poll_stop(p);
	log_err("pool %s: shared memory corrupt (%s, cpu %u): quarantined, no further refills",
		p->cfg.name, why, cpu);
}

/* The state memfd: the header, the depot, then the holder table. */
static size_t pool_depot_end(uint64_t max_elems)
{
	return POOL_STATE_HDR + (size_t)max_elems * sizeof(uint32_t);
}

static size_t pool_holders_off(uint64_t max_elems)
{
	return (pool_depot_end(max_elems) + 7) & ~(size_t)7;
}

static size_t pool_state_size(uint64_t max_elems)
{
	return pool_holders_off(max_elems) + POOL_MAX_HOLDERS * sizeof(struct pool_holder);
}

static struct pool_holder *holders_of(const struct pool *p)
{
	return (struct pool_holder *)(void *)((char *)p->st +
					      pool_holders_off(p->st->max_elems));
}

/**
 * pool_holders() - the holder table, as a restored pool found it.
 * @p: the pool.
 * @ret_n: entries to look at (some may be free: id 0).
 *
 * Return: the table.
 */
const struct pool_holder *pool_holders(const struct pool *p, uint32_t *ret_n)
{
	*ret_n = p->st->holders_cap ? p->st->holders_hw : 0;
	return holders_of(p);
}

/* Record attachment @id of process @pid (the table is full: it is only not
 * watched across a restart). */
static void holder_add(struct pool *p, uint32_t id, int32_t pid)
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

/* Forget attachment @id: the reclaim pass for it has run. */
static void holder_remove(struct pool *p, uint32_t id)
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
static int pool_state_map(struct pool *p, int fd, uint64_t max_elems)
{
	p->statefd = fd;
	p->st_size = pool_state_size(max_elems);
	p->st = mmap(NULL, p->st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p->st == MAP_FAILED) {
		p->st = NULL;
		return -errno;
	}
	p->in_depot = calloc(max_elems, 1);
	return p->in_depot ? 0 : -ENOMEM;
}

static int pool_state_create(struct pool *p, uint64_t max_elems)
{
	char name[PCP_NAME_MAX + 16];
	int fd, r;

	snprintf(name, sizeof(name), "pcpupoold:%s", p->cfg.name);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)pool_state_size(max_elems)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = pool_state_map(p, fd, max_elems);
	if (r < 0)
		return r;
	p->st->magic = POOL_STATE_MAGIC;
	p->st->version = POOL_STATE_VERSION;
	p->st->max_elems = max_elems;
	p->st->holders_cap = POOL_MAX_HOLDERS;
	return 0;
}

/* Hand the pool's two memfds to systemd's fd store (add) or take them out
 * (remove), so that a restarted daemon gets them back.  Outside systemd
 * this does nothing. */
static void pool_fdstore(struct pool *p, bool add)
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

static void pool_link(struct daemon *d, struct pool *p)
{
	struct pool **tail = &d->pools;

	while (*tail)   /* creation order */
		tail = &(*tail)->next;
	*tail = p;
	p->serial = ++d->pool_serial;
	d->nr_pools++;
}

/* Build the daemon's view of @p from its record, p->layout (checked as a
 * client checks a header), counting published elements in p->published. */
static int pool_view_init(struct pool *p)
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
	field = hdr_differs(p);
	if (!field)
		return 0;
	snprintf(why, sizeof(why), "header field %s rewritten", field);
	pool_quarantine(p, why, 0);
	return -EUCLEAN;
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
	    (ret->version != 1 && ret->version != POOL_STATE_VERSION) ||
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
 * pool_restore() - take back a pool a previous daemon left in the fd store.
 * @d: daemon.
 * @name: the pool name from the fd names.
 * @memfd: the pool's shared memory (owned by this call from now on).
 * @statefd: its depot state (owned by this call from now on).
 * @ret_pool: the pool, linked into @d, on success.
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
int pool_restore(struct daemon *d, const char *name, int memfd, int statefd,
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
	if (fstat(statefd, &st) < 0 || (uint64_t)st.st_size < pool_depot_end(max)) {
		snprintf(err, errlen, "depot object too small");
		close(statefd);
		goto fail;
	}
	/* a state without the holder table (an older daemon's): add it */
	bool had_holders = (uint64_t)st.st_size >= pool_state_size(max);
	if (!had_holders && ftruncate(statefd, (off_t)pool_state_size(max)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot extend the depot object: %s", strerror(errno));
		close(statefd);
		goto fail;
	}
	r = pool_state_map(p, statefd, max);
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
	if (p->base == MAP_FAILED || pool_view_init(p) < 0) {
		snprintf(err, errlen, "cannot map the pool");
		goto fail;
	}
	p->cpu = calloc(p->v.nr_cpus, sizeof(*p->cpu));
	if (!p->cpu || pool_reclaim_init(d, p) < 0) {
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
	for (uint64_t i = 0; i < p->st->depot_n; i++) {
		uint32_t e = p->st->depot[i];
		if (e >= p->published || p->in_depot[e]) {
			snprintf(err, errlen, "depot entry %llu invalid", (unsigned long long)i);
			goto fail;
		}
		p->in_depot[e] = 1;
	}
	snprintf(p->cfg.name, sizeof(p->cfg.name), "%s", name);
	p->cfg.elem_size = p->layout.elem_size;
	p->cfg.align = p->layout.elem_align;
	p->cfg.max_elems = max;
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
		pool_reclaim_orphans(p);
	}
	p->st->clean = 0;
	p->st->restarts++;
	atomic_fetch_add(&p->v.hdr->generation, 1);
	for (uint32_t c = 0; c < p->v.nr_cpus; c++)
		slab_set_limits(&p->v, c, p->cfg.low_watermark, pool_limit(p));
	/* a daemon that died polling left the flag up: its clients' quiet
	 * requests are served here, and from now on they send */
	pool_poll_stop(p);
	pool_link(d, p);
	*ret_pool = p;
	return 0;
fail:
	pool_free(p);
	return r;
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
	holder_add(p, id, pid);
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

/* Publish more elements and add them to the depot (the file backs the
 * whole mapping from the start, pool_create(): nothing to extend, so a
 * client that lengthened it changes nothing). */
static int pool_grow(struct pool *p, uint64_t want)
{
	uint64_t max = p->v.max_elems, n = p->published;
	uint64_t add = want;

	if (add < n / 2)
		add = n / 2;
	if (add < POOL_GROW_MIN)
		add = POOL_GROW_MIN;
	if (n + add > max)
		add = max - n;
	if (add == 0)
		return -ENOMEM;
	for (uint64_t i = n; i < n + add; i++) {
		p->st->depot[p->st->depot_n++] = (uint32_t)i;
		p->in_depot[i] = 1;
	}
	p->published = n + add;
	p->st->published = p->published;
	/* release: pairs with the acquire in published() */
	atomic_store_explicit(&p->v.hdr->nr_published, p->published, memory_order_release);
	return 0;
}

/* Return elements to the depot; an element it already holds is corruption. */
static int depot_put(struct pool *p, const uint32_t *idx, uint32_t n, uint32_t cpu)
{
	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] >= p->published || p->in_depot[idx[i]]) {
			pool_quarantine(p, "element returned twice", cpu);
			return -EUCLEAN;
		}
		p->in_depot[idx[i]] = 1;
		p->st->depot[p->st->depot_n++] = idx[i];
	}
	return 0;
}

static void lat_record(struct pool_cpu_stats *cs, uint64_t ns)
{
	unsigned b = ns ? 64 - (unsigned)__builtin_clzll(ns) : 0;

	cs->lat_hist[b < POOL_LAT_BUCKETS ? b : POOL_LAT_BUCKETS - 1]++;
	cs->lat_n++;
	if (ns > cs->lat_max_ns)
		cs->lat_max_ns = ns;
}

/* The upper bound, in µs, of the bucket holding quantile @q (0..1). */
static double lat_quantile_us(const struct pool_cpu_stats *cs, double q)
{
	uint64_t want = (uint64_t)(q * (double)cs->lat_n + 0.5), seen = 0;

	if (!cs->lat_n)
		return 0;
	if (want < 1)
		want = 1;
	for (unsigned b = 0; b < POOL_LAT_BUCKETS; b++) {
		seen += cs->lat_hist[b];
		if (seen >= want) {
			double hi = b ? (double)(UINT64_C(1) << b) : 1;
			double max = (double)cs->lat_max_ns;
			return (hi < max ? hi : max) / 1000.0;
		}
	}
	return (double)cs->lat_max_ns / 1000.0;
}

/* Take the list at @box whole into the depot, in batches: nothing is put
 * back, so the work is bounded by the list's length, at most the published
 * elements, whatever a client writes meanwhile.  Return the elements taken,
 * or -EUCLEAN (the pool is quarantined, @what named). */
static int64_t pool_take_box(struct pool *p, _Atomic uint64_t *box, uint32_t cpu,
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
		if (depot_put(p, buf, n, cpu) < 0)
			return -EUCLEAN;
		taken += n;
	}
	return taken;
}

/* Push buf[0..n), just taken from the depot, onto @box; if a client keeps
 * rewriting the word so that the push cannot land, they go back to the
 * depot and the pool is quarantined.  Return 0 or -EUCLEAN. */
static int pool_push_box(struct pool *p, _Atomic uint64_t *box, uint32_t *buf, uint32_t n,
			 uint32_t cpu)
{
	if (slab_list_push(&p->v, box, buf, n) == 0)
		return 0;
	(void)depot_put(p, buf, n, cpu);
	pool_quarantine(p, "list word rewritten without end", cpu);
	return -EUCLEAN;
}

/* Take back everything on one list of CPU @cpu (outbox or inbox). */
static int pool_take_list(struct pool *p, uint32_t cpu, bool inbox, uint64_t *counter)
{
	struct slab *s = slab_of(&p->v, cpu);
	int64_t n = pool_take_box(p, inbox ? &s->inbox : &s->outbox, cpu,
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

/* Take the spare list back into the depot. */
static int pool_take_spare(struct pool *p)
{
	int64_t n = pool_take_box(p, &p->v.hdr->spare, 0, "corrupt spare list");

	return n < 0 ? (int)n : 0;
}

/* The spare's size: one CPU's reserve, at most what a client takes whole. */
static uint32_t pool_spare_target(const struct pool *p)
{
	return p->cfg.min_nr < SLAB_BATCH_MAX ? p->cfg.min_nr : SLAB_BATCH_MAX;
}

/* Top the spare list up to pool_spare_target() from the depot, growing
 * the pool if it may: best effort, the reserves come first. */
static void pool_restock_spare(struct pool *p)
{
	uint32_t buf[SLAB_BATCH_MAX];
	uint32_t have = slab_list_len(atomic_load_explicit(&p->v.hdr->spare,
							   memory_order_relaxed));
	uint32_t want = pool_spare_target(p) > have ? pool_spare_target(p) - have : 0;

	if (p->quarantined || want == 0)
		return;
	if (want > p->st->depot_n)
		(void)pool_grow(p, want - p->st->depot_n);
	while (want && p->st->depot_n) {
		uint32_t n = want < SLAB_BATCH_MAX ? want : SLAB_BATCH_MAX;

		if (n > p->st->depot_n)
			n = (uint32_t)p->st->depot_n;
		for (uint32_t i = 0; i < n; i++) {
			buf[i] = p->st->depot[--p->st->depot_n];
			p->in_depot[buf[i]] = 0;
		}
		if (pool_push_box(p, &p->v.hdr->spare, buf, n, 0) < 0)
			return;
		p->spare_stocked += n;
		want -= n;
	}
}

/**
 * pool_refill_cpu() - bring CPU @cpu's reserve (slab + inbox) back to min_nr.
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
int pool_refill_cpu(struct pool *p, uint32_t cpu)
{
	uint32_t buf[SLAB_BATCH_MAX];
	int r;

	if (cpu >= p->v.nr_cpus)
		return -EINVAL;
	if (pool_verify(p) < 0)
		return -EUCLEAN;
	r = pool_take_list(p, cpu, false, &p->drained);
	if (r < 0)
		return r;
	uint64_t waited;
	uint32_t want = slab_claim_request(&p->v, cpu, p->cfg.min_nr, &waited);
	if (waited)
		lat_record(&p->cpu[cpu], waited);
	/* short: what other CPUs spilled comes before growing the pool (a
	 * consumer on one CPU frees what a producer on another allocates) */
	for (uint32_t c = 0; want > p->st->depot_n && c < p->v.nr_cpus; c++)
		if (c != cpu && pool_take_list(p, c, false, &p->drained) < 0)
			return -EUCLEAN;
	if (want > p->st->depot_n)
		(void)pool_grow(p, want - p->st->depot_n);
	/* at its maximum: the reserves come before the spare */
	if (want > p->st->depot_n && pool_take_spare(p) < 0)
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
		if (n > p->st->depot_n)
			n = (uint32_t)p->st->depot_n;
		if (n == 0) {
			p->shortfalls++;
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < n; i++) {
			buf[i] = p->st->depot[--p->st->depot_n];
			p->in_depot[buf[i]] = 0;
		}
		r = pool_push_box(p, &slab_of(&p->v, cpu)->inbox, buf, n, cpu);
		if (r < 0)
			return r;
		p->refilled += n;
		p->cpu[cpu].refilled += n;
		want -= n;
	}
	pool_restock_spare(p);
	return 0;
}

/**
 * pool_refill_all() - pool_refill_cpu() on every CPU.
 * @p: the pool.
 * @ret_moved: elements moved to inboxes (may be NULL).
 *
 * Context: event loop.
 * Return: 0 or the first error (the other CPUs are still refilled).
 */
int pool_refill_all(struct pool *p, uint64_t *ret_moved)
{
	uint64_t before = p->refilled;
	int first = 0;

	for (uint32_t c = 0; c < p->v.nr_cpus; c++) {
		int r = pool_refill_cpu(p, c);
		if (r < 0 && !first)
			first = r;
	}
	if (ret_moved)
		*ret_moved = p->refilled - before;
	return first;
}

/**
 * pool_resize() - change min_nr (and the low watermark) of a live pool.
 * @p: the pool.
 * @min_nr: new per-CPU reserve.
 * @low_watermark: new low watermark, 0 for min_nr / 4.
 *
 * Growing refills at once.  Shrinking takes every inbox back and refills to
 * the new level; what sits in slabs above the new spill limit (2 × min_nr)
 * goes back at the next free on that CPU.
 *
 * Context: event loop.
 * Return: 0, -EINVAL for out-of-range values, or a pool_refill_all() error.
 */
int pool_resize(struct pool *p, uint32_t min_nr, uint32_t low_watermark)
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
		slab_set_limits(&p->v, c, p->cfg.low_watermark, pool_limit(p));
		if (shrink && !p->quarantined)
			pool_take_list(p, c, true, &p->trimmed);
	}
	if (shrink && !p->quarantined)
		pool_take_spare(p);
	return pool_refill_all(p, NULL);
}

/**
 * pool_sweep() - the periodic pass: take spills back, refill reserves under
 * their low watermark and serve raised request flags (covers lost
 * requests), trim reserves far above
 * min_nr, check the slab descriptors.
 * @p: the pool.
 *
 * Context: event loop timer.
 */
void pool_sweep(struct pool *p)
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
		if (pool_take_list(p, c, false, &p->drained) < 0)
			return;
		uint32_t level = slab_level(&p->v, c);
		if (level > 2u * p->cfg.min_nr + SLAB_BATCH_MAX &&
		    pool_take_list(p, c, true, &p->trimmed) < 0)
			return;
		if (slab_level(&p->v, c) < p->cfg.low_watermark)
			pool_refill_cpu(p, c);
	}
	/* a request raised for a poll that has ended (or lost with its
	 * message): served here at the latest */
	pool_serve_raised(p);
	/* only the daemon writes the polling word: a client that set it would
	 * make the others' requests wait for this sweep */
	if (!p->polling && atomic_load_explicit(&p->v.hdr->polling, memory_order_relaxed)) {
		if (p->bad_polling++ == 0)
			log_warning("pool %s: a client set the shared polling word; reset",
				    p->cfg.name);
		pool_poll_stop(p);
	}
	/* the spare is only ever walked by the inbox it lands on: check its
	 * word here, then restock it */
	uint64_t w = atomic_load_explicit(&p->v.hdr->spare, memory_order_relaxed);
	if (!p->quarantined && (slab_list_len(w) > SLAB_BATCH_MAX ||
				(slab_list_len(w) && slab_list_head(w) >= p->published))) {
		pool_quarantine(p, "corrupt spare list", 0);
		return;
	}
	pool_restock_spare(p);
	holders_check(p);
}

/* Serve every CPU whose request flag is up.  Return how many. */
static uint32_t pool_serve_raised(struct pool *p)
{
	uint32_t n = 0;

	for (uint32_t c = 0; c < p->v.nr_cpus && !p->quarantined; c++)
		if (slab_request_raised(&p->v, c)) {
			pool_refill_cpu(p, c);
			n++;
		}
	return n;
}

/* Stop polling @p: tell its clients, then serve what they raised before
 * they could see it.  Return how many flags were up. */
static uint32_t pool_poll_stop(struct pool *p)
{
	slab_poll_set(&p->v, false);
	p->polling = false;
	return pool_serve_raised(p);
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
 * pool_poll_heat() - a request came for @p: poll its CPUs' request flags
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
void pool_poll_heat(struct daemon *d, struct pool *p)
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
 * pool_poll_tick() - the poll timer: serve the raised request flags of
 * every polling pool; a pool whose linger has passed stops polling (and
 * looks at its flags once more after telling its clients, so none is left
 * behind).  Re-arms itself while any pool polls.
 * @d: daemon.
 *
 * Context: event loop timer.
 */
void pool_poll_tick(struct daemon *d)
{
	uint64_t now = slab_now_ns();
	bool again = false;

	for (struct pool *p = d->pools; p; p = p->next) {
		if (!p->polling)
			continue;
		uint32_t n = pool_serve_raised(p);

		p->polled += n;
		if (n)
			p->poll_until_ns = now + (uint64_t)d->cfg->poll_linger_ms * 1000000u;
		if (d->cfg->poll_us && !p->quarantined && now < p->poll_until_ns) {
			again = true;
			continue;
		}
		p->polled += pool_poll_stop(p);
	}
	poll_arm(d, again ? d->cfg->poll_us : 0);
}

/* ------------------------------------------------------------------ */
/* reclaim                                                             */

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
		if (pool_take_list(p, c, false, &p->drained) < 0 ||
		    pool_take_list(p, c, true, &scratch) < 0)
			return -EUCLEAN;
	if (pool_take_spare(p) < 0)
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
	p->orph[p->nr_orph] = (struct pool_orphan){ e, mono_ms() };
	p->nr_orph++;
	orphan_arm(p, POOL_ORPHAN_GRACE_MS);
}

/* The third census: suspects found at least POOL_ORPHAN_GRACE_MS ago and
 * still nowhere and ownerless go back; younger ones wait their turn. */
static void orphan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;
	uint32_t now = mono_ms(), next = 0;
	uint32_t back = 0, kept = 0;
	bool counted = !p->quarantined && census(p) == 0;

	(void)fd; (void)what;
	for (uint32_t i = 0; i < p->nr_orph; i++) {
		struct pool_orphan o = p->orph[i];
		uint32_t age = now - o.found_ms;

		if (counted && age < POOL_ORPHAN_GRACE_MS) {
			p->orph[kept++] = o;
			if (!next || POOL_ORPHAN_GRACE_MS - age < next)
				next = POOL_ORPHAN_GRACE_MS - age;
			continue;
		}
		p->orph_mark[o.idx] = 0;
		if (!counted || p->in_depot[o.idx] || p->seen[o.idx] ||
		    atomic_load_explicit(&p->v.meta[o.idx].owner, memory_order_relaxed) != 0)
			continue;
		if (depot_put(p, &o.idx, 1, 0) < 0) {
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
		pool_refill_all(p, NULL);
	if (kept)
		orphan_arm(p, next);
}

/* The two-census pass: candidates of the first census that the second,
 * POOL_RECLAIM_GRACE_MS later, finds still nowhere and still owned by the
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
		p->nr_dead_pass = p->nr_dead < POOL_MAX_DEAD ? p->nr_dead : POOL_MAX_DEAD;
		qsort(p->dead, p->nr_dead_pass, sizeof(*p->dead), cmp_u32);
		p->nr_cand = 0;
		if (census(p) == 0)
			for (uint64_t e = 0; e < p->published; e++) {
				uint32_t o;
				if (p->in_depot[e] || p->seen[e])
					continue;
				o = atomic_load_explicit(&p->v.meta[e].owner, memory_order_relaxed);
				if (owner_dead(p, o, p->nr_dead_pass))
					p->cand[p->nr_cand++] = (struct pool_cand){ (uint32_t)e, o };
			}
		pool_refill_all(p, NULL);
		p->reclaim_phase = 2;
		reclaim_arm(p, POOL_RECLAIM_GRACE_MS);
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
			if (depot_put(p, &e, 1, 0) < 0)
				break;
			back++;
			p->reclaimed++;
		}
	if (back)
		log_info("pool %s: %u element(s) taken back from %u dead client(s)",
			 p->cfg.name, back, p->nr_dead_pass);
	/* the pass handled the ids it started with: nothing left to watch */
	for (uint32_t i = 0; i < p->nr_dead_pass; i++)
		holder_remove(p, p->dead[i]);
	memmove(p->dead, p->dead + p->nr_dead_pass,
		(p->nr_dead - p->nr_dead_pass) * sizeof(*p->dead));
	p->nr_dead -= p->nr_dead_pass;
	p->nr_dead_pass = 0;
	pool_refill_all(p, NULL);
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
 * pool_client_died() - the client that attached with @owner is gone: take
 * back, within two censuses, the elements it held.
 * @p: the pool.
 * @owner: its owner id.
 *
 * Context: event loop.
 */
void pool_client_died(struct pool *p, uint32_t owner)
{
	if (p->nr_dead == p->dead_cap) {
		uint32_t cap = p->dead_cap * 2;
		uint32_t *n = cap <= POOL_MAX_DEAD_QUEUED ?
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

/*
 * Once a second, from the sweep: a recorded holder whose process is gone
 * and that is not attached any more, yet still in the table, was never
 * watched (no room for a watch, a pidfd that could not be had) or its id
 * did not fit the dead queue: its pass runs now.  A pid reused meanwhile
 * keeps its entry until that process is gone too.
 */
static void holders_check(struct pool *p)
{
	const uint32_t now = mono_ms();
	struct pool_holder *h;

	if (now - p->holders_checked_ms < POOL_HOLDERS_CHECK_MS || p->quarantined)
		return;
	p->holders_checked_ms = now;
	h = holders_of(p);
	for (uint32_t i = 0; i < p->st->holders_hw; i++) {
		bool attached = false;

		if (!h[i].id || h[i].pid <= 0 || kill(h[i].pid, 0) == 0 || errno != ESRCH)
			continue;
		for (uint32_t k = 0; k < p->nr_attached && !attached; k++)
			attached = p->clients[k].id == h[i].id;
		for (uint32_t k = 0; k < p->nr_dead && !attached; k++)
			attached = p->dead[k] == h[i].id;   /* queued already */
		if (!attached)
			pool_client_died(p, h[i].id);
	}
}

/**
 * pool_reclaim_orphans() - a pass for elements that belong to nobody and
 * are nowhere (lost in an unclean daemon exit or a client's death in the
 * middle of a list take).
 * @p: the pool.
 */
void pool_reclaim_orphans(struct pool *p)
{
	reclaim_schedule(p);
}

static int pool_reclaim_init(struct daemon *d, struct pool *p)
{
	p->dead_cap = POOL_MAX_DEAD;
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

/**
 * pool_create() - create a pool: memfd, layout, the first elements, and
 * every CPU's reserve filled to min_nr.
 * @d: daemon (for the CPU count and the registry).
 * @pc: parameters (checked here).
 * @ret_pool: the pool, linked into @d, on success.
 * @err: receives the reason on failure.
 * @errlen: size of @err.
 *
 * Context: event loop.
 * Return: 0, -EINVAL, -EEXIST, -ENOSPC (too many pools), -E2BIG (too much
 * memory), or a system error.
 */
int pool_create(struct daemon *d, const struct pool_config *pc, struct pool **ret_pool,
		char *err, size_t errlen)
{
	struct pool_config c = *pc;
	struct slab_hdr layout;
	struct slab_geometry g;
	struct pool *p;
	char mname[PCP_NAME_MAX + 16];
	int r;

	if (pool_config_check(&c, err, errlen) < 0)
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
	r = pool_state_create(p, c.max_elems);
	if (r < 0) {
		snprintf(err, errlen, "depot: %s", strerror(-r));
		goto fail;
	}
	/* who may attach: the owner, group and mode given, else the daemon's
	 * user and group, 0660 */
	p->st->uid = p->cfg.has_owner ? p->cfg.owner : (uint32_t)geteuid();
	p->st->gid = p->cfg.has_group ? p->cfg.group : (uint32_t)getegid();
	p->st->mode = p->cfg.has_mode ? p->cfg.mode : POOL_DEFAULT_MODE;
	snprintf(mname, sizeof(mname), "pcpupool:%s", c.name);
	p->memfd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (p->memfd < 0 && errno == EINVAL)   /* kernel before 6.3 */
		p->memfd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (p->memfd < 0)
		goto sys_fail;
	/* The file is the whole mapping from the start, sparse (tmpfs backs a
	 * page when it is first touched): an offset a corrupt slab hands out
	 * past the published elements then reads zeros instead of raising
	 * SIGBUS in the client that touches it.  pool_grow() only publishes. */
	if (ftruncate(p->memfd, (off_t)layout.map_size) < 0)
		goto sys_fail;
	p->base = mmap(NULL, layout.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
	if (p->base == MAP_FAILED)
		goto sys_fail;
	slab_format(p->base, &layout, c.name);
	/* nobody may shrink the file under a mapping: a client touching a
	 * page past EOF would take SIGBUS */
	if (fcntl(p->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		goto sys_fail;
	/* the record: the header as formatted, before any client sees it */
	memcpy(&p->layout, p->base, sizeof(p->layout));
	r = pool_view_init(p);
	if (r < 0) {
		snprintf(err, errlen, "view: %s", strerror(-r));
		goto fail;
	}
	p->st->layout = p->layout;
	p->st->min_nr = c.min_nr;
	p->st->low_watermark = c.low_watermark;
	p->cpu = calloc(p->v.nr_cpus, sizeof(*p->cpu));
	if (!p->cpu || pool_reclaim_init(d, p) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	atomic_store_explicit(&p->v.hdr->min_nr, c.min_nr, memory_order_relaxed);
	for (uint32_t cpu = 0; cpu < p->v.nr_cpus; cpu++)
		slab_set_limits(&p->v, cpu, c.low_watermark, pool_limit(p));
	r = pool_grow(p, (uint64_t)c.min_nr * p->v.nr_cpus);
	if (r < 0) {
		snprintf(err, errlen, "cannot back the first elements: %s", strerror(-r));
		goto fail;
	}
	r = pool_refill_all(p, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot fill the reserves: %s", strerror(-r));
		goto fail;
	}
	pool_link(d, p);
	pool_fdstore(p, true);
	*ret_pool = p;
	return 0;
sys_fail:
	r = -errno;
	snprintf(err, errlen, "%s", strerror(errno));
fail:
	pool_free(p);
	return r;
}

/**
 * pool_free() - unmap and release a pool (already unlinked).
 * @p: the pool or NULL.
 *
 * Clients that still map it keep their mapping; the memory goes when the
 * last one unmaps.
 */
void pool_free(struct pool *p)
{
	if (!p)
		return;
	if (p->polling)
		slab_poll_set(&p->v, false);
	if (p->base != MAP_FAILED && p->base)
		munmap(p->base, p->v.map_size ? p->v.map_size : SLAB_HDR_SIZE);
	if (p->memfd >= 0)
		close(p->memfd);
	if (p->st)
		munmap(p->st, p->st_size);
	if (p->statefd >= 0)
		close(p->statefd);
	free(p->in_depot);
	free(p->clients);
	free(p->cpu);
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
 * @serial: as pool_link() numbered it.
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
 * pool_unlink() - remove a pool from the registry (the caller frees it).
 * @d: daemon.
 * @p: a pool in @d.
 */
void pool_unlink(struct daemon *d, struct pool *p)
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
	pool_fdstore(p, false);
	pool_unlink(d, p);
	pool_free(p);
}

/**
 * pool_summary_json() - the pool's configuration, for "pools".
 * @p: the pool.
 *
 * Return: a new JSON object, or NULL on allocation failure.
 */
json_t *pool_summary_json(const struct pool *p)
{
	char mode[8];

	snprintf(mode, sizeof(mode), "%04o", p->st->mode);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:s, s:I, s:I, s:s}",
			 PCP_F_NAME, p->cfg.name,
			 PCP_F_ELEM_SIZE, (json_int_t)p->cfg.elem_size,
			 PCP_F_ALIGN, (json_int_t)p->layout.elem_align,
			 PCP_F_MIN_NR, (json_int_t)p->cfg.min_nr,
			 PCP_F_LOW_WM, (json_int_t)p->cfg.low_watermark,
			 PCP_F_MAX_ELEMS, (json_int_t)p->v.max_elems,
			 "nr_cpus", (json_int_t)p->v.nr_cpus,
			 "clients", (int)p->nr_attached,
			 "state", p->quarantined ? "quarantined" : "ok",
			 PCP_F_OWNER, (json_int_t)p->st->uid, PCP_F_GROUP, (json_int_t)p->st->gid,
			 PCP_F_MODE, mode);
}

/* Stats report what the shared memory says only within what the daemon
 * knows to be possible: a count of elements at most the published ones, a
 * counter clients keep never past INT64_MAX (no negative JSON number). */
static json_int_t elems_stat(const struct pool *p, uint64_t n)
{
	return (json_int_t)(n < p->published ? n : p->published);
}

static json_int_t counter_stat(uint64_t n)
{
	return n > INT64_MAX ? INT64_MAX : (json_int_t)n;
}

/**
 * pool_stats_json() - the pool's configuration, levels and counters.
 * @p: the pool.
 *
 * Return: a new JSON object, or NULL on allocation failure.
 */
json_t *pool_stats_json(struct pool *p)
{
	json_t *o = pool_summary_json(p), *cpus = json_array();
	uint64_t reserved = 0;

	if (!o || !cpus)
		goto fail;
	if (p->quarantined &&
	    json_object_set_new(o, "quarantine_reason", json_string(p->quarantine_why)) < 0)
		goto fail;
	for (uint32_t c = 0; c < p->v.nr_cpus; c++) {
		struct slab *s = slab_of(&p->v, c);
		uint32_t cnt = slab_count(&p->v, c);
		uint32_t in = slab_list_len(atomic_load_explicit(&s->inbox, memory_order_relaxed));
		uint32_t out = slab_list_len(atomic_load_explicit(&s->outbox, memory_order_relaxed));
		const struct pool_cpu_stats *cs = &p->cpu[c];
		uint64_t allocs, frees;

		slab_cpu_counts(&p->v, c, &allocs, &frees);
		json_t *e = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
				      " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      PCP_F_CPU, (int)c, "slab", (json_int_t)cnt,
				      "inbox", elems_stat(p, in), "outbox", elems_stat(p, out),
				      "level", elems_stat(p, (uint64_t)cnt + in),
				      PCP_F_MIN_NR, (json_int_t)p->cfg.min_nr,
				      "low_watermark", (json_int_t)p->cfg.low_watermark,
				      "limit", (json_int_t)pool_limit(p),
				      "allocs", counter_stat(allocs), "frees", counter_stat(frees),
				      "misses", counter_stat(atomic_load(&s->misses)),
				      "steals", counter_stat(atomic_load(&s->steals)),
				      "from_spare", counter_stat(atomic_load(&s->from_spare)),
				      "refill_requests", counter_stat(atomic_load(&s->refill_requests)),
				      "refill_coalesced", counter_stat(atomic_load(&s->refill_coalesced)),
				      "refill_quiet", counter_stat(atomic_load(&s->refill_quiet)),
				      "discarded", counter_stat(atomic_load(&s->discarded)),
				      "refills_served", (json_int_t)cs->served,
				      "refilled", (json_int_t)cs->refilled,
				      "drained", (json_int_t)cs->drained,
				      "trimmed", (json_int_t)cs->trimmed);
		json_t *lat = json_pack("{s:I, s:f, s:f, s:f}", "count", (json_int_t)cs->lat_n,
					"p50", lat_quantile_us(cs, 0.50),
					"p99", lat_quantile_us(cs, 0.99),
					"max", (double)cs->lat_max_ns / 1000.0);
		if (!e || !lat || json_object_set_new(e, "refill_latency_us", lat) < 0 ||
		    json_array_append_new(cpus, e) < 0)
			goto fail;
		reserved += (uint64_t)elems_stat(p, (uint64_t)cnt + in);
	}
	if (json_object_set_new(o, "cpus", cpus) < 0) {
		cpus = NULL;
		goto fail;
	}
	cpus = NULL;
	uint32_t nr_holders = 0, hw;
	const struct pool_holder *h = pool_holders(p, &hw);
	for (uint32_t i = 0; i < hw; i++)
		nr_holders += h[i].id != 0;
	json_t *rc = json_pack("{s:I, s:I, s:I, s:i, s:I, s:I, s:I}",
			       "reclaimed", (json_int_t)p->reclaimed,
			       "orphans", (json_int_t)p->orphans,
			       "duplicates", (json_int_t)p->duplicates,
			       "dead_clients_pending", (int)p->nr_dead,
			       "next_client_id", (json_int_t)p->st->next_owner,
			       "holders", (json_int_t)nr_holders,
			       "holders_max", (json_int_t)p->st->holders_cap);
	if (!rc || json_object_set_new(o, "reclaim", rc) < 0)
		goto fail;
	json_t *att = json_array();
	for (uint32_t i = 0; att && i < p->nr_attached; i++)
		json_array_append_new(att, json_pack("{s:I, s:i, s:I}",
						     PCP_F_CLIENT_ID, (json_int_t)p->clients[i].id,
						     "pid", (int)p->clients[i].pid,
						     "uid", (json_int_t)p->clients[i].uid));
	if (!att || json_object_set_new(o, "attached", att) < 0)
		goto fail;
	json_t *n = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			      " s:I}",
			      "polling", p->polling,
			      "reserved", elems_stat(p, reserved),
			      "spare", elems_stat(p, slab_list_len(atomic_load_explicit(
					&p->v.hdr->spare, memory_order_relaxed))),
			      "spare_stocked", (json_int_t)p->spare_stocked,
			      "polled", (json_int_t)p->polled,
			      "published", (json_int_t)p->published,
			      "grown_bytes", (json_int_t)slab_bytes_for(&p->layout, p->published),
			      "depot", (json_int_t)p->st->depot_n,
			      "refill_messages", (json_int_t)p->requests,
			      "bad_messages", (json_int_t)p->bad_messages,
			      "refills", (json_int_t)p->refills,
			      "refilled", (json_int_t)p->refilled,
			      "drained", (json_int_t)p->drained,
			      "trimmed", (json_int_t)p->trimmed);
	if (!n || json_object_update(o, n) < 0) {
		json_decref(n);
		goto fail;
	}
	json_decref(n);
	return o;
fail:
	json_decref(cpus);
	json_decref(o);
	return NULL;
}
