// SPDX-License-Identifier: MIT
/*
 * alloc.c - the exported fast path: pcpupool_alloc() and pcpupool_free() past
 * the inline hit path, the WAIT path, and the refill request's send
 * (async-signal-safe).
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* refill channel (async-signal-safe)                                  */

/* Ask the daemon to refill CPU @cpu's reserve.  Failure (queue full, daemon
 * gone) is ignored: the daemon's periodic sweep covers lost requests.
 * errno is preserved, so a successful allocation leaves it untouched. */
void alloc_send_refill(const struct pcpupool *pool, uint32_t cpu)
{
	struct pcp_refill_msg m = {
		.magic = PCP_REFILL_MAGIC,
		.version = PCP_PROTO_VERSION,
		.type = PCP_REFILL_REQUEST,
		.cpu = cpu,
		.reserved = 0,
	};
	int saved = errno;

	(void)send(pool->refill_fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
	errno = saved;
}

/* ------------------------------------------------------------------ */
/* alloc / free                                                        */

/* Whatever the reserves can give when the hit path could not: the slab's
 * top under its low watermark (sending the refill request), the inboxes.
 * Async-signal-safe. */
static void *alloc_reserve(struct pcpupool *pool)
{
	struct slab_alloc_res r = slab_alloc_slow(&pool->v);

	if (r.refill_cpu >= 0)
		alloc_send_refill(pool, (uint32_t)r.refill_cpu);
	return r.idx != SLAB_NIL ? slab_elem(&pool->v, r.idx) : NULL;
}

/* PCPUPOOL_WAIT with every reserve dry: synchronous refills and retries
 * until an element turns up or the client's wait timeout passes. */
static void *alloc_wait(struct pcpupool *pool)
{
	int64_t deadline = util_now_ms() + pool->client->wait_timeout_ms;
	unsigned int backoff_us = WAIT_BACKOFF_MIN_US;
	bool enomem = false;

	for (;;) {
		int left_ms = util_ms_left(deadline);
		json_int_t refilled = 0;
		int r;

		if (left_ms == 0)
			break;  /* also a wait timeout of 0: WAIT acts as NOWAIT */
		/* the round trip is bounded by the wait too; a reply that
		 * comes later is skipped by the next request (conn_xfer) */
		r = request_refill(pool, left_ms < CTL_REPLY_TIMEOUT_MS ?
				   left_ms : CTL_REPLY_TIMEOUT_MS, &refilled);

		enomem = r == -ENOMEM;
		if (r < 0 && r != -ENOMEM && r != -EAGAIN && r != -EBUSY && r != -ETIMEDOUT) {
			errno = -r;  /* no point waiting: connection or pool gone */
			return NULL;
		}

		void *p = alloc_reserve(pool);

		if (p)
			return p;
		left_ms = util_ms_left(deadline);
		if (left_ms > 0 && (r < 0 || refilled <= 0))
			/* nothing came: back off before asking again */
			util_backoff_sleep(&backoff_us, WAIT_BACKOFF_MAX_US, left_ms);
	}
	errno = enomem ? ENOMEM : ETIMEDOUT;
	return NULL;
}

static __attribute__((noinline, cold)) void *alloc_einval(void)
{
	errno = EINVAL;
	return NULL;
}

/* Everything past the hit path: the reserves, then EAGAIN or the wait. */
static __attribute__((noinline)) void *alloc_miss(struct pcpupool *pool, int flags)
{
	void *p = alloc_reserve(pool);

	if (likely(p))
		return p;
	if (!(flags & PCPUPOOL_WAIT)) {
		errno = EAGAIN;
		return NULL;
	}
	return alloc_wait(pool);
}

/* pcpupool_alloc() past the inline pop, on a valid @pool and @flags: the
 * library's pop, which marks an element another process held last as
 * ours, then the rest.  Both exported entry points use it (a call between
 * them would go through the PLT). */
static inline __attribute__((always_inline)) void *alloc_hit_or_miss(struct pcpupool *pool,
								     int flags)
{
	void *p;

	if (likely(slab_hit_pop(&pool->v, &p))) {
		slab_tsan_acquire(&pool->v);
		return p;
	}
	return alloc_miss(pool, flags);
}

static inline bool alloc_args_ok(const struct pcpupool *pool, int flags)
{
	return likely(pool && (unsigned int)flags <= PCPUPOOL_WAIT);
}

/**
 * pcpupool__alloc_miss() - pcpupool_alloc() past the inline hit path.
 * @pool: the pool.
 * @flags: as pcpupool_alloc().
 *
 * Called by the inline pcpupool_alloc() of pcpupool.h when its section
 * could not serve.  That section leaves for an element another process
 * held last, which the library's hit path pops and marks as ours, so this
 * is the whole pcpupool_alloc().  Not for direct use.
 */
PCPUPOOL_EXPORT void *pcpupool__alloc_miss(struct pcpupool *pool, int flags)
{
	return alloc_args_ok(pool, flags) ? alloc_hit_or_miss(pool, flags) : alloc_einval();
}

/**
 * pcpupool_alloc() - take one element from the pool.
 * @pool: the pool.
 * @flags: PCPUPOOL_NOWAIT or PCPUPOOL_WAIT.
 *
 * Takes an element from the current CPU's reserve; when that runs under
 * its low watermark, asks the daemon for an asynchronous refill (one
 * non-blocking datagram, coalesced across callers).  When the CPU's
 * reserve is empty, takes another CPU's.  When every reserve is empty,
 * PCPUPOOL_NOWAIT fails at once, and PCPUPOOL_WAIT asks the daemon for
 * synchronous refills and retries until an element is found or the wait
 * timeout ($PCPUPOOL_WAIT_TIMEOUT_MS at connect, default 2000 ms) passes.
 * The element's contents are undefined.
 *
 * Context: PCPUPOOL_NOWAIT: async-signal-safe, lock-free, no malloc, never
 * blocks, no system call on the common path (at most one non-blocking
 * send()); callable from signal handlers and real-time threads.
 * PCPUPOOL_WAIT: may block and sleep; not async-signal-safe.  MT-safe.
 * PCPUPOOL_NOWAIT never uses the control connection, so it keeps serving
 * the mapped reserves while the daemon is away.  PCPUPOOL_WAIT with every
 * reserve empty reconnects if need be (see pcpupool_open()) and fails at
 * once if the daemon cannot be reached.
 *
 * Return: the element, or NULL with errno set: EINVAL (NULL @pool or bad
 * @flags), EAGAIN (NOWAIT, every reserve empty), ENOMEM (WAIT, the daemon
 * says the pool is at its maximum), ETIMEDOUT (WAIT, nothing in time),
 * or, with WAIT, the control connection's error: ENOTCONN (disconnected,
 * or the daemon cannot be reached), ESTALE (the handle is stale), ENOENT,
 * ...
 * On success errno is left as it was.
 */
PCPUPOOL_EXPORT void *pcpupool_alloc(struct pcpupool *pool, int flags)
{
	if (!alloc_args_ok(pool, flags))
		return alloc_einval();
#ifdef SLAB_HAVE_RSEQ
	void *p;

	/* first the inline hit path of pcpupool.h on the handle's inline
	 * view, the shortest where it is on (on zero pages it just leaves) */
	if (likely(pcpupool__pop(slab_fast(&pool->v), pool->v.rseq_off, &p))) {
		slab_tsan_acquire(&pool->v);
		return p;
	}
#endif
	return alloc_hit_or_miss(pool, flags);
}

/**
 * pcpupool_free() - return an element to the pool.
 * @elem: an element of @pool obtained by pcpupool_alloc() in any process
 *        (through pcpupool_elem_at()); NULL is a no-op.
 * @pool: the pool.
 *
 * Pushes @elem onto the current CPU's reserve; a reserve at its limit
 * spills a batch back to the daemon.  A pointer that is not the start of
 * one of @pool's elements is ignored: free never fails (one in the 4 GiB
 * from the pool's first element waits in the reserve until the next
 * allocation there drops it and counts it as discarded).  Freeing an element
 * twice corrupts the pool.
 *
 * Context: async-signal-safe, lock-free, no malloc, no system call, never
 * blocks; MT-safe.
 */
PCPUPOOL_EXPORT void pcpupool_free(void *elem, struct pcpupool *pool)
{
	if (unlikely(!pool))
		return;
#ifdef SLAB_HAVE_RSEQ
	/* as pcpupool_alloc(): the inline push first; where it runs on the
	 * slabs, a miss is the library's slow path at once */
	slab_tsan_release(&pool->v);
	if (likely(pcpupool__push(slab_fast(&pool->v), pool->v.rseq_off, elem,
				  (uint32_t)(uintptr_t)elem)))
		return;
	if (pool->v.inline_map) {
		slab_free_miss(&pool->v, elem);
		return;
	}
#endif
	slab_free_elem(&pool->v, elem);
}

/**
 * pcpupool__free_miss() - pcpupool_free() past the inline hit path.
 * @elem: as pcpupool_free().
 * @pool: the pool.
 *
 * Called by the inline pcpupool_free() of pcpupool.h when its section
 * could not push: everything pcpupool_free() does past its hit path.  Not
 * for direct use.
 */
PCPUPOOL_EXPORT void pcpupool__free_miss(void *elem, struct pcpupool *pool)
{
	if (likely(pool)) {
		slab_tsan_release(&pool->v);
		slab_free_miss(&pool->v, elem);   /* the inline section just missed */
	}
}
