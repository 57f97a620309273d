// SPDX-License-Identifier: MIT
/*
 * query.c - refill, resize, and what a handle tells: reserve levels, element
 * sizes and offsets, hand-off and claim, statistics.
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* refill / resize                                                     */

/**
 * pcpupool_refill() - refill the pool's per-CPU reserves up to min_nr.
 * @pool: the pool.
 * @flags: PCPUPOOL_WAIT: ask the daemon and wait until it is done;
 *         PCPUPOOL_NOWAIT: send an asynchronous request for every CPU and
 *         return at once.
 *
 * PCPUPOOL_WAIT reconnects first if the control connection broke (see
 * pcpupool_open()); PCPUPOOL_NOWAIT never touches it (with the daemon away
 * its requests are lost, and the daemon's sweep covers the reserves once
 * it is back).
 *
 * Context: PCPUPOOL_NOWAIT: async-signal-safe, never blocks (one
 * non-blocking send() per CPU).  PCPUPOOL_WAIT: may block (one control
 * round trip and possibly a reconnection, together at most 5 s); not
 * async-signal-safe.  MT-safe.
 * Return: PCPUPOOL_WAIT: 0, or -ENOMEM (pool at its maximum), -ENOTCONN
 * (disconnected, or the daemon cannot be reached), -ESTALE (the handle is
 * stale: see pcpupool_open()), -ETIMEDOUT, -ENOENT, -EPROTO or another
 * daemon error.  PCPUPOOL_NOWAIT: -EAGAIN (the refill happens in the
 * background).  -EINVAL for a NULL @pool or bad @flags.
 */
PCPUPOOL_EXPORT int pcpupool_refill(struct pcpupool *pool, int flags)
{
	if (!pool || (unsigned int)flags > PCPUPOOL_WAIT)
		return -EINVAL;
	if (flags & PCPUPOOL_WAIT)
		return request_refill(pool, CTL_REPLY_TIMEOUT_MS, NULL);
	for (uint32_t cpu = 0; cpu < pool->v.nr_cpus; cpu++)
		alloc_send_refill(pool, cpu);
	return -EAGAIN;
}

/**
 * pcpupool_resize() - change the pool's per-CPU reserve size (administrator).
 * @pool: the pool.
 * @new_min_nr: the new min_nr, 1 to 2^20.
 * @flags: PCPUPOOL_NOWAIT: the daemon adjusts the reserves in the
 *         background; PCPUPOOL_WAIT: also refill synchronously afterwards.
 *
 * Both modes make one control round trip: unlike pcpupool_alloc(), this is
 * never callable from a constrained context.
 *
 * Context: may block (one or two control round trips, at most 5 s each,
 * reconnection included); MT-safe; not async-signal-safe.
 * Return: 0, or -EINVAL, -EPERM/-EACCES, -ENOENT, -ENOTCONN, -ESTALE (the
 * handle is stale: see pcpupool_open()), -ETIMEDOUT, -EPROTO or another
 * daemon error.  With PCPUPOOL_WAIT an error of the
 * refill (-ENOMEM, ...) is returned although the resize itself took effect.
 */
PCPUPOOL_EXPORT int pcpupool_resize(struct pcpupool *pool, int new_min_nr, int flags)
{
	int r;

	if (!pool || new_min_nr < 1 || (unsigned int)new_min_nr > PCP_MAX_MIN_NR ||
	    (unsigned int)flags > PCPUPOOL_WAIT)
		return -EINVAL;
	r = request_call(pool->client, pool,
			 json_pack("{s:s, s:s, s:i}", PCP_F_CMD, PCP_CMD_RESIZE,
				   PCP_F_POOL, pool->name, PCP_F_MIN_NR, new_min_nr),
			 REQUEST_RETRY, CTL_REPLY_TIMEOUT_MS, NULL, NULL, 0, NULL);
	if (r < 0 || !(flags & PCPUPOOL_WAIT))
		return r;
	return request_refill(pool, CTL_REPLY_TIMEOUT_MS, NULL);
}

/* ------------------------------------------------------------------ */
/* introspection                                                       */

/**
 * pcpupool_nr_elems() - elements in reserve on all CPUs (a snapshot).
 * @pool: the pool.
 *
 * Reads the slabs and inboxes in shared memory; no daemon round trip.
 * Elements in flight (held by clients, in the daemon's depot or in
 * outboxes) are not counted.
 *
 * Context: async-signal-safe, lock-free; MT-safe.
 * Return: the count (clamped to INT_MAX), or -EINVAL for a NULL @pool.
 */
PCPUPOOL_EXPORT int pcpupool_nr_elems(struct pcpupool *pool)
{
	uint64_t n = 0;

	if (!pool)
		return -EINVAL;
	for (uint32_t cpu = 0; cpu < pool->v.nr_cpus; cpu++)
		n += slab_level(&pool->v, cpu);
	return n > INT_MAX ? INT_MAX : (int)n;
}

/**
 * pcpupool_nr_elems_cpu() - elements in one CPU's reserve (a snapshot).
 * @pool: the pool.
 * @cpu: CPU index, 0 to pcpupool_nr_cpus() - 1.
 *
 * Context: async-signal-safe, lock-free; MT-safe.
 * Return: the count, or -EINVAL for a NULL @pool or @cpu out of range.
 */
PCPUPOOL_EXPORT int pcpupool_nr_elems_cpu(struct pcpupool *pool, int cpu)
{
	uint32_t n;

	if (!pool || cpu < 0 || (uint32_t)cpu >= pool->v.nr_cpus)
		return -EINVAL;
	n = slab_level(&pool->v, (uint32_t)cpu);
	return n > INT_MAX ? INT_MAX : (int)n;
}

/**
 * pcpupool_nr_cpus() - number of per-CPU reserves of the pool.
 * @pool: the pool.
 *
 * Context: async-signal-safe; MT-safe.
 * Return: the number of CPUs, or -EINVAL for a NULL @pool.
 */
PCPUPOOL_EXPORT int pcpupool_nr_cpus(struct pcpupool *pool)
{
	if (!pool)
		return -EINVAL;
	return (int)pool->v.nr_cpus;
}

/**
 * pcpupool_elem_size() - element size the pool was created with.
 * @pool: the pool.
 *
 * Elements are spaced by the size rounded up to their alignment.
 *
 * Context: async-signal-safe; MT-safe.
 * Return: the size in bytes, or 0 with errno EINVAL for a NULL @pool.
 */
PCPUPOOL_EXPORT size_t pcpupool_elem_size(struct pcpupool *pool)
{
	if (!pool) {
		errno = EINVAL;
		return 0;
	}
	return (size_t)pool->elem_size;
}

/**
 * pcpupool_elem_offset() - an element's offset in the pool's shared object.
 * @pool: the pool.
 * @elem: the start of one of @pool's elements in this process's mapping.
 *
 * The offset is the same in every process attached to the pool, so it can
 * be handed to another process, which turns it back into a pointer with
 * pcpupool_elem_at() (zero-copy messaging).
 *
 * Context: async-signal-safe; MT-safe.
 * Return: the byte offset, or UINT64_MAX with errno EINVAL when @pool is
 * NULL or @elem is not the start of an element of @pool.
 */
PCPUPOOL_EXPORT uint64_t pcpupool_elem_offset(struct pcpupool *pool, const void *elem)
{
	if (!pool || !elem || slab_index_of(&pool->v, elem) == SLAB_NIL) {
		errno = EINVAL;
		return UINT64_MAX;
	}
	return (uint64_t)((const char *)elem - (const char *)pool->base);
}

/**
 * pcpupool_elem_at() - the element at an offset, in this process's mapping.
 * @pool: the pool.
 * @offset: a value of pcpupool_elem_offset(), from any process attached to
 *          the same pool.
 *
 * The offset is untrusted: it must be the start of an element the daemon
 * has published (so the memory behind it exists).
 *
 * Context: async-signal-safe; MT-safe.
 * Return: the element, or NULL with errno EINVAL when @pool is NULL or
 * @offset is not the start of a published element.
 */
PCPUPOOL_EXPORT void *pcpupool_elem_at(struct pcpupool *pool, uint64_t offset)
{
	const struct slab_view *v;
	uint64_t elems_off, rel, idx;

	if (!pool)
		goto inval;
	v = &pool->v;
	elems_off = (uint64_t)(v->elems - (char *)pool->base);
	if (offset < elems_off)
		goto inval;
	rel = offset - elems_off;
	idx = rel / v->elem_stride;
	/* acquire: pairs with the daemon's release store of nr_published
	 * after it backed the new elements */
	if (rel % v->elem_stride || idx >= v->max_elems ||
	    idx >= atomic_load_explicit(&v->hdr->nr_published, memory_order_acquire))
		goto inval;
	return slab_elem(v, (uint32_t)idx);
inval:
	errno = EINVAL;
	return NULL;
}

/**
 * pcpupool_elem_handoff() - mark an element as handed over to another
 * process, so that it is not taken back when this process dies.
 * @pool: the pool.
 * @elem: an element this process allocated.
 *
 * When a client dies, the daemon takes back the elements it held.  An
 * element passed to another process by offset (zero-copy messaging) is no
 * longer held by its sender: mark it before passing it, and the receiver
 * becomes responsible for it — pcpupool_elem_claim() makes it the
 * receiver's (taken back if the receiver dies); unclaimed, it is never
 * taken back, only freed.
 *
 * Context: async-signal-safe; MT-safe; lock-free.
 * Return: 0, or -EINVAL when @elem is not an element of @pool.
 */
PCPUPOOL_EXPORT int pcpupool_elem_handoff(struct pcpupool *pool, void *elem)
{
	uint32_t idx;

	if (!pool || (idx = slab_index_of(&pool->v, elem)) == SLAB_NIL)
		return -EINVAL;
	atomic_store_explicit(&pool->v.meta[idx].owner, SLAB_OWNER_HANDOFF,
			      memory_order_relaxed);
	return 0;
}

/**
 * pcpupool_elem_claim() - take over an element another process handed off.
 * @pool: the pool.
 * @elem: an element received by offset.
 *
 * Makes this process the element's holder, as if it had allocated it: if
 * it dies, the daemon takes the element back.
 *
 * Context: async-signal-safe; MT-safe; lock-free.
 * Return: 0, or -EINVAL when @elem is not an element of @pool.
 */
PCPUPOOL_EXPORT int pcpupool_elem_claim(struct pcpupool *pool, void *elem)
{
	uint32_t idx;

	if (!pool || (idx = slab_index_of(&pool->v, elem)) == SLAB_NIL)
		return -EINVAL;
	atomic_store_explicit(&pool->v.meta[idx].owner, pool->v.owner, memory_order_relaxed);
	return 0;
}

/**
 * pcpupool_stats_json() - the daemon's statistics as a JSON string.
 * @c: the client connection.
 * @pool: a pool name, or NULL for every pool.
 *
 * Reconnects first if the control connection broke (attaching the
 * client's pools again, see pcpupool_open()).
 *
 * Context: may block (one control round trip and possibly a reconnection,
 * together at most 5 s); MT-safe; not async-signal-safe.
 * Return: the whole reply, {"ok":true,"stats":{...}}, as one compact line
 * (NUL-terminated, no newline) that the caller frees with free(); or NULL
 * with errno set: EINVAL, ENOENT (no such pool), ENOTCONN (disconnected,
 * or the daemon cannot be reached), ETIMEDOUT, EPROTO, ENOMEM or another
 * daemon error.
 */
PCPUPOOL_EXPORT char *pcpupool_stats_json(struct pcpupool_client *c, const char *pool)
{
	json_t *req, *reply;
	size_t len;
	char *s;
	int r;

	if (!c || (pool && !pcp_name_valid(pool))) {
		errno = EINVAL;
		return NULL;
	}
	req = pool ? json_pack("{s:s, s:s}", PCP_F_CMD, PCP_CMD_STATS, PCP_F_POOL, pool)
		   : json_pack("{s:s}", PCP_F_CMD, PCP_CMD_STATS);
	r = request_call(c, NULL, req, REQUEST_RETRY, CTL_REPLY_TIMEOUT_MS, &reply, NULL, 0, NULL);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	/* json_dumpb() into our own malloc(): the caller's free() must match,
	 * whatever allocator jansson was given */
	len = json_dumpb(reply, NULL, 0, JSON_COMPACT);
	s = len ? malloc(len + 1) : NULL;
	if (s && json_dumpb(reply, s, len, JSON_COMPACT) == len) {
		s[len] = '\0';
	} else {
		free(s);
		s = NULL;
	}
	json_decref(reply);
	if (!s)
		errno = ENOMEM;
	return s;
}
