// SPDX-License-Identifier: MIT
/*
 * handle.c - pool handles: attach and map a pool (the header checked against the
 * daemon's record), attach it again after a reconnection, create, close,
 * destroy.
 */
#include "internal.h"

/* ------------------------------------------------------------------ */
/* attach                                                              */

/* Link @pool into its client's list of open handles.  Locked. */
static void handle_link(struct pcpupool *pool)
{
	struct pcpupool_client *c = pool->client;

	pool->prev = NULL;
	pool->next = c->pools;
	if (c->pools)
		c->pools->prev = pool;
	c->pools = pool;
}

/* Take @pool out of its client's list; return whether @c is disconnected
 * and this was its last pool (the caller then frees @c).  Locked. */
static bool handle_unlink(struct pcpupool *pool)
{
	struct pcpupool_client *c = pool->client;

	if (pool->prev)
		pool->prev->next = pool->next;
	else
		c->pools = pool->next;
	if (pool->next)
		pool->next->prev = pool->prev;
	pool->next = pool->prev = NULL;
	return c->closed && !c->pools;
}

/* Unmap and close @pool's resources and free it.  @pool must not be (or
 * no longer be) on its client's list: a reconnection could swap a refill
 * channel into a descriptor number closed here and reused elsewhere. */
static void handle_free(struct pcpupool *pool)
{
	slab_view_fini(&pool->v);
	if (pool->base)
		munmap(pool->base, pool->map_size);
	if (pool->memfd >= 0)
		close(pool->memfd);
	if (pool->refill_fd >= 0)
		close(pool->refill_fd);
	free((char *)pool - POOL_VIEW_PAGE_OFF);
}

/* Unpack and range-check an attach reply for pool @name. */
static int handle_parse_attach(json_t *reply, const char *name, struct attach_info *ret_ai)
{
	struct attach_info ai;
	json_error_t jerr;
	const char *rname;

	ai.max_elems = ai.align = ai.slab_cap = 0;
	ai.huge_page_size = -1;
	if (json_unpack_ex(reply, &jerr, 0, "{s:s, s:I, s:I, s:I, s:I, s?I, s?I, s?I, s?I}",
			   PCP_F_POOL, &rname, PCP_F_MAP_SIZE, &ai.map_size,
			   PCP_F_CLIENT_ID, &ai.client_id, PCP_F_ELEM_SIZE, &ai.elem_size,
			   F_NR_CPUS, &ai.nr_cpus, PCP_F_MAX_ELEMS, &ai.max_elems,
			   PCP_F_ALIGN, &ai.align, "slab_cap", &ai.slab_cap,
			   PCP_F_HUGE_PAGE_SIZE, &ai.huge_page_size) < 0)
		return -EPROTO;
	if (strcmp(rname, name) || ai.map_size < SLAB_HDR_SIZE ||
	    (uint64_t)ai.map_size > SLAB_MAP_MAX || (uint64_t)ai.map_size > SIZE_MAX ||
	    ai.client_id < 1 || ai.client_id > UINT32_MAX)
		return -EPROTO;
	*ret_ai = ai;
	return 0;
}

/* Whether @fd is a datagram socket (a refill channel). */
static bool handle_fd_is_dgram(int fd)
{
	int type = 0;
	socklen_t tlen = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
	       type == SOCK_DGRAM;
}

/* Map the attach reply's memory and build the view.  Return 0 or -errno. */
static int handle_map(struct pcpupool *pool, json_t *reply, const char *name)
{
	struct attach_info ai;
	struct stat st;
	int r;

	r = handle_parse_attach(reply, name, &ai);
	if (r < 0)
		return r;
	/* the descriptors are what they claim to be, and the header page is
	 * backed before we read it (else SIGBUS) */
	if (fstat(pool->memfd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)SLAB_HDR_SIZE)
		return -EPROTO;
	if (!handle_fd_is_dgram(pool->refill_fd))
		return -EPROTO;
	/* another attached process must not be able to shrink the file under
	 * our mapping (every page past the end would raise SIGBUS here) */
	int seals = fcntl(pool->memfd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EPROTO;
	pool->mem_dev = st.st_dev;
	pool->mem_ino = st.st_ino;

	pool->map_size = (size_t)ai.map_size;
	pool->base = slab_map(pool->memfd, pool->map_size);
	if (pool->base == MAP_FAILED) {
		pool->base = NULL;
		return -errno;
	}

	/* one copy of the header, checked and then used for the view: any
	 * process attached may write the shared one */
	struct slab_hdr h;

	memcpy(&h, pool->base, sizeof(h));
	r = slab_validate_hdr(&h, 0);
	if (r < 0)
		return r;
	/* the daemon's record, which a process rewriting the header cannot
	 * change; the last four are not sent by every daemon */
	if (h.map_size != (uint64_t)ai.map_size || h.elem_size != (uint64_t)ai.elem_size ||
	    h.nr_cpus != (uint64_t)ai.nr_cpus ||
	    (ai.max_elems && h.max_elems != (uint64_t)ai.max_elems) ||
	    (ai.align && h.elem_align != (uint64_t)ai.align) ||
	    (ai.slab_cap && h.slab_cap != (uint64_t)ai.slab_cap) ||
	    (ai.huge_page_size >= 0 && h.huge_page_size != (uint64_t)ai.huge_page_size))
		return -EUCLEAN;
	/* the file backs the whole mapping (the daemon sizes it so at
	 * creation and seals it against shrinking), so no index below
	 * max_elems can raise SIGBUS, whatever the shared header's count of
	 * published elements says later (slab_published() bounds it by max_elems) */
	uint64_t pub = atomic_load_explicit(&((struct slab_hdr *)pool->base)->nr_published,
					    memory_order_acquire);

	if (pub > h.max_elems)
		return -EUCLEAN;
	if (fstat(pool->memfd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < h.map_size)
		return -EUCLEAN;
	pool->elem_size = h.elem_size;
	r = slab_view_init_hdr(&pool->v, pool->base, &h, pool->map_size,
			       (uint32_t)ai.client_id);
	if (r < 0)
		return r;
	/* the pages of the inline sections: the pool's slabs where they can
	 * run on them, else zeros (they then call the library every time) */
	r = slab_view_map_inline(&pool->v, pool->memfd);
	return r < 0 ? r : 0;
}

/**
 * handle_attach() - attach pool @name through @c.
 * @c: client.
 * @name: a valid pool name.
 * @ret_pool: the new handle, on success.
 *
 * The exchange, the mapping and the linking into the client's list happen
 * under one hold of the client's lock, so a reconnection by another thread
 * sees the handle either not at all (and this attach runs on the new
 * connection) or complete (and attaches it again).
 *
 * Return: 0, or -errno as pcpupool_open() reports it.
 */
static int handle_attach(struct pcpupool_client *c, const char *name,
			 struct pcpupool **ret_pool)
{
	int fds[ATTACH_NR_FDS] = { -1, -1 };
	char line[PCP_MAX_LINE];
	struct pcpupool *pool;
	json_t *reply = NULL;
	size_t len, nfds = 0;
	void *mem;
	int cs, r;

	/* the view sits at byte POOL_VIEW_PAGE_OFF of a page: every slab
	 * starts a page (slab_layout()), and the hit path's stores (count,
	 * the counters, slots) then never share bits 11:0 with the view's
	 * loads, which would stall them (4K aliasing) */
	r = posix_memalign(&mem, 4096, POOL_VIEW_PAGE_OFF + sizeof(*pool));
	if (r)
		return -r;
	pool = (struct pcpupool *)((char *)mem + POOL_VIEW_PAGE_OFF);
	memset(pool, 0, sizeof(*pool));
	pool->client = c;
	pool->memfd = -1;
	pool->refill_fd = -1;
	strcpy(pool->name, name);  /* pcp_name_valid(): fits */
	r = conn_pool_line(PCP_CMD_ATTACH, name, line, &len);
	if (r < 0)
		goto out_free;

	client_lock(c, &cs);
	r = request_call_locked(c, NULL, line, len, REQUEST_RETRY,
				util_now_ms() + CTL_REPLY_TIMEOUT_MS, &reply, fds,
				ATTACH_NR_FDS, &nfds);
	if (r < 0)
		goto out_unlock;
	if (nfds != ATTACH_NR_FDS) {
		util_close_fds(fds, nfds < ATTACH_NR_FDS ? nfds : ATTACH_NR_FDS);
		r = -EPROTO;
		goto detach;
	}
	pool->memfd = fds[ATTACH_FD_MEM];
	pool->refill_fd = fds[ATTACH_FD_REFILL];
	r = handle_map(pool, reply, name);
	if (r < 0)
		goto detach;
	owner_race_benign(pool);
	handle_link(pool);
	client_unlock(c, cs);
	json_decref(reply);
	*ret_pool = pool;
	return 0;
detach:
	/* the daemon counts us attached: undo that (best effort; on the
	 * same connection only, since a broken one took it along) */
	if (conn_detach_line(name, json_integer_value(json_object_get(reply, PCP_F_CLIENT_ID)),
			     line, &len) == 0)
		(void)conn_call(c, line, len, util_now_ms() + CTL_REPLY_TIMEOUT_MS,
				NULL, NULL, 0, NULL, NULL);
out_unlock:
	client_unlock(c, cs);
	json_decref(reply);
out_free:
	handle_free(pool);
	return r;
}

/* ------------------------------------------------------------------ */
/* reattach after a reconnection                                       */

/* Whether an attach reply's descriptors and fields describe the very
 * shared-memory object @pool has mapped (a daemon that got its pools back
 * from the fd store), so the mapping and the view can be kept. */
static bool handle_same_object(const struct pcpupool *pool, json_t *reply,
			       const int *fds, struct attach_info *ret_ai)
{
	struct attach_info ai;
	struct stat st;

	if (handle_parse_attach(reply, pool->name, &ai) < 0 ||
	    fstat(fds[ATTACH_FD_MEM], &st) < 0 ||
	    st.st_dev != pool->mem_dev || st.st_ino != pool->mem_ino ||
	    (uint64_t)ai.map_size != pool->map_size ||
	    (uint64_t)ai.elem_size != pool->elem_size ||
	    (uint64_t)ai.nr_cpus != pool->v.nr_cpus ||
	    !handle_fd_is_dgram(fds[ATTACH_FD_REFILL]))
		return false;
	*ret_ai = ai;
	return true;
}

/* Install a new refill channel under @pool's descriptor number.  dup3()
 * swaps the open file behind the number in one step: a signal handler in
 * alloc_send_refill() sends on the old channel or the new one, never on a
 * closed or reused number. */
static int handle_swap_refill_fd(struct pcpupool *pool, int newfd)
{
	while (dup3(newfd, pool->refill_fd, O_CLOEXEC) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/**
 * handle_reattach() - attach @pool again over a new connection.
 * @pool: an open, not stale, handle of the client.
 * @deadline: bound of the exchanges.
 *
 * The same shared-memory object (compared by st_dev and st_ino) keeps the
 * mapping and the view: the new refill channel is swapped in under the old
 * descriptor number and the owner id is updated.  Anything else (the pool
 * is gone, was recreated, or the daemon refuses it) marks the handle
 * stale; an attachment the daemon made for it is undone.
 *
 * Context: caller holds the client's lock.
 * Return: 0 (reattached or marked stale), or a transport error, -ETIMEDOUT
 * or -ENOMEM, which fail the reconnection.
 */
int handle_reattach(struct pcpupool *pool, int64_t deadline)
{
	struct pcpupool_client *c = pool->client;
	int fds[ATTACH_NR_FDS] = { -1, -1 };
	char line[PCP_MAX_LINE];
	struct attach_info ai;
	json_t *reply = NULL;
	size_t len, nfds = 0;
	bool same;
	int r;

	r = conn_pool_line(PCP_CMD_ATTACH, pool->name, line, &len);
	if (r < 0)
		return r;
	r = conn_call(c, line, len, deadline, &reply, fds, ATTACH_NR_FDS, &nfds, NULL);
	if (r < 0) {
		if (c->err || r == -ETIMEDOUT || r == -ENOMEM)
			return r;
		pool->stale = true;  /* ENOENT (gone), EUCLEAN, EACCES, ... */
		return 0;
	}
	same = nfds == ATTACH_NR_FDS && handle_same_object(pool, reply, fds, &ai) &&
	       handle_swap_refill_fd(pool, fds[ATTACH_FD_REFILL]) == 0;
	util_close_fds(fds, nfds < ATTACH_NR_FDS ? nfds : ATTACH_NR_FDS);
	json_int_t new_id = json_integer_value(json_object_get(reply, PCP_F_CLIENT_ID));
	json_decref(reply);
	if (same) {
		/* see owner_race_benign() */
		__atomic_store_n(&pool->v.owner, (uint32_t)ai.client_id, __ATOMIC_RELAXED);
		return 0;
	}
	/* a different object: the pool was recreated.  Keep the old memory
	 * for the fast path, give the new attachment back. */
	pool->stale = true;
	r = conn_detach_line(pool->name, new_id, line, &len);
	if (r < 0)
		return r;
	r = conn_call(c, line, len, deadline, NULL, NULL, 0, NULL, NULL);
	if (r < 0 && (c->err || r == -ETIMEDOUT))
		return r;
	return 0;
}

/* ------------------------------------------------------------------ */
/* open / create / close / destroy                                     */

/**
 * pcpupool_open() - attach an existing pool.
 * @c: the client connection.
 * @name: pool name, 1 to 63 characters of [A-Za-z0-9_.-].
 *
 * Receives the pool's shared memory and refill channel from the daemon,
 * maps the pool and validates its header.
 *
 * The handle survives a restart of the daemon.  Its fast path
 * (pcpupool_alloc() with PCPUPOOL_NOWAIT, pcpupool_free(), the element
 * and reserve queries) never uses the control connection and keeps working
 * on the mapped reserves while the daemon is away.  The first control call
 * of the client after the connection broke (any pool's, or
 * pcpupool_stats_json()) reconnects and attaches every open pool again,
 * within that call's timeout; while the daemon cannot be reached, control
 * calls fail at once with ENOTCONN.  A restarted daemon that took its pools
 * back from systemd's fd store hands out the same shared-memory object:
 * the handle stays as it is, with a new refill channel under the same
 * descriptor number.  If instead the pool is gone, was recreated (the
 * daemon was stopped and started, or the pool destroyed and created), or
 * the daemon refuses it, the handle is *stale*: its fast path still works
 * on the old memory, now shared with no daemon and no new client, but its
 * control calls (pcpupool_refill() with PCPUPOOL_WAIT, pcpupool_resize(),
 * pcpupool_destroy(), PCPUPOOL_WAIT allocations that need a refill) fail
 * with ESTALE.  Close it and open the pool again by name to use the new
 * pool; elements of the old one must not be freed into the new one.
 *
 * Context: may block (one control round trip, at most 5 s, plus a
 * reconnection within the same bound); MT-safe; not async-signal-safe.
 * Return: the pool, or NULL with errno set: EINVAL (bad argument), ENOTCONN
 * (disconnected, or the daemon cannot be reached), ENOENT (no such pool),
 * EACCES/EPERM, EMFILE, ETIMEDOUT, EPROTO (malformed reply or foreign
 * memory), EUCLEAN (corrupt pool), ENOMEM, or the daemon's error.
 */
PCPUPOOL_EXPORT struct pcpupool *pcpupool_open(struct pcpupool_client *c, const char *name)
{
	struct pcpupool *pool;
	int r;

	if (!c || !pcp_name_valid(name)) {
		errno = EINVAL;
		return NULL;
	}
	r = handle_attach(c, name, &pool);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	return pool;
}

/* Copy what fits of the caller's options (which may be older or newer than
 * ours); bytes we do not know must be zero. */
static int handle_opts_copy(const struct pcpupool_create_opts *opts,
			    struct pcpupool_create_opts *ret_o)
{
	struct pcpupool_create_opts o;
	size_t sz;

	memset(&o, 0, sizeof(o));
	if (opts) {
		sz = opts->sz;
		if (sz < sizeof(opts->sz))
			return -EINVAL;
		if (sz > sizeof(o)) {
			const unsigned char *extra = (const unsigned char *)opts + sizeof(o);

			for (size_t i = 0; i < sz - sizeof(o); i++)
				if (extra[i])
					return -E2BIG;
			sz = sizeof(o);
		}
		memcpy(&o, opts, sz);
	}
	o.sz = sizeof(o);
	if (o.low_watermark < 0 || o.max_elems > (uint64_t)INT64_MAX ||
	    (o.flags & ~(uint64_t)PCPUPOOL_HUGEPAGES))
		return -EINVAL;
	*ret_o = o;
	return 0;
}

/**
 * pcpupool_create_opts() - create a pool and attach it (administrator).
 * @c: the client connection.
 * @name: pool name, 1 to 63 characters of [A-Za-z0-9_.-].
 * @min_nr: elements each CPU's reserve is refilled up to, 1 to 2^20.
 * @size: element size in bytes, 1 to 1 MiB.
 * @align: element alignment, a power of two up to 4096, or 0 for the
 *         daemon's default.
 * @opts: optional parameters, NULL for defaults.  opts->sz must be set to
 *        the size of the caller's struct; fields past it read as zero and
 *        a larger struct's unknown bytes must be zero (else E2BIG).  Zero
 *        fields take the daemon's defaults.  opts->flags PCPUPOOL_HUGEPAGES
 *        puts the pool's memory on 2 MiB hugepages, every one of them
 *        reserved and allocated by the daemon at creation.
 *
 * If the pool is created but cannot be attached, it is destroyed again
 * (best effort).  A broken connection is re-established first, as for
 * pcpupool_open(); the create request itself is not sent twice, so a
 * connection that breaks after it left fails the call with ENOTCONN
 * although the pool may exist.
 *
 * Context: may block (two control round trips); MT-safe; not
 * async-signal-safe.
 * Return: the pool, or NULL with errno set: EINVAL (also: an unknown flag,
 * or hugepages the kernel does not have), E2BIG, EEXIST (a pool of that name
 * exists), EPERM/EACCES (not an administrator), ENOSPC (too many pools),
 * ENOMEM (also: not enough free hugepages for a PCPUPOOL_HUGEPAGES pool),
 * ENOTCONN, ETIMEDOUT, EPROTO, or an error of pcpupool_open().
 */
PCPUPOOL_EXPORT struct pcpupool *pcpupool_create_opts(struct pcpupool_client *c,
						      const char *name, int min_nr,
						      size_t size, size_t align,
						      const struct pcpupool_create_opts *opts)
{
	struct pcpupool_create_opts o;
	struct pcpupool *pool;
	json_t *req;
	int r;

	if (!c || !pcp_name_valid(name) || min_nr < 1 || (unsigned int)min_nr > PCP_MAX_MIN_NR ||
	    size == 0 || size > PCP_MAX_ELEM_SIZE ||
	    (align & (align - 1)) || align > SLAB_HDR_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	r = handle_opts_copy(opts, &o);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	req = json_pack("{s:s, s:s, s:I, s:I, s:i}", PCP_F_CMD, PCP_CMD_CREATE,
			PCP_F_POOL, name, PCP_F_ELEM_SIZE, (json_int_t)size,
			PCP_F_ALIGN, (json_int_t)align, PCP_F_MIN_NR, min_nr);
	if (req && o.max_elems &&
	    json_object_set_new(req, PCP_F_MAX_ELEMS, json_integer((json_int_t)o.max_elems)))
		goto nomem;
	if (req && o.low_watermark &&
	    json_object_set_new(req, PCP_F_LOW_WM, json_integer(o.low_watermark)))
		goto nomem;
	if (req && (o.flags & PCPUPOOL_HUGEPAGES) &&
	    json_object_set_new(req, PCP_F_HUGEPAGES, json_true()))
		goto nomem;
	r = request_call(c, NULL, req, 0, CTL_REPLY_TIMEOUT_MS, NULL, NULL, 0, NULL);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	r = handle_attach(c, name, &pool);
	if (r < 0) {
		(void)request_call(c, NULL, json_pack("{s:s, s:s}", PCP_F_CMD, PCP_CMD_DESTROY,
						      PCP_F_POOL, name),
				  0, CTL_REPLY_TIMEOUT_MS, NULL, NULL, 0, NULL);
		errno = -r;
		return NULL;
	}
	return pool;
nomem:
	json_decref(req);
	errno = ENOMEM;
	return NULL;
}

/**
 * pcpupool_create() - create a pool with default options and attach it
 * (administrator).
 * @c: the client connection.
 * @name: pool name, 1 to 63 characters of [A-Za-z0-9_.-].
 * @min_nr: elements each CPU's reserve is refilled up to, 1 to 2^20.
 * @size: element size in bytes, 1 to 1 MiB.
 * @align: element alignment, a power of two up to 4096, or 0 for the
 *         daemon's default.
 *
 * Same as pcpupool_create_opts() with NULL options.
 *
 * Context: may block (two control round trips); MT-safe; not
 * async-signal-safe.
 * Return: the pool, or NULL with errno set as pcpupool_create_opts().
 */
PCPUPOOL_EXPORT struct pcpupool *pcpupool_create(struct pcpupool_client *c, const char *name,
						 int min_nr, size_t size, size_t align)
{
	return pcpupool_create_opts(c, name, min_nr, size, align, NULL);
}

/**
 * pcpupool_close() - detach from a pool and release the handle.
 * @pool: the pool; NULL is a no-op.
 *
 * Tells the daemon (best effort), unmaps the pool and closes its
 * descriptors.  Elements still held become invalid in this process; the
 * daemon accounts for them.  There is nothing to tell when the connection
 * is broken (the daemon dropped the attachment with it) or the handle is
 * stale, so close then neither reconnects nor waits: the next control
 * call of another pool does that.
 *
 * Context: may block (one control round trip, at most 5 s); not
 * async-signal-safe; no other call may use @pool concurrently or
 * afterwards.
 */
PCPUPOOL_EXPORT void pcpupool_close(struct pcpupool *pool)
{
	struct pcpupool_client *c;
	char line[PCP_MAX_LINE];
	size_t len;
	bool last;
	int cs;

	if (!pool)
		return;
	c = pool->client;
	client_lock(c, &cs);
	last = handle_unlink(pool);
	if (!c->closed && !c->err && !pool->stale &&
	    conn_detach_line(pool->name, __atomic_load_n(&pool->v.owner, __ATOMIC_RELAXED),
			     line, &len) == 0)
		(void)conn_call(c, line, len, util_now_ms() + CTL_REPLY_TIMEOUT_MS,
				NULL, NULL, 0, NULL, NULL);
	client_unlock(c, cs);
	handle_free(pool);
	if (last)
		client_free(c);
}

/**
 * pcpupool_destroy() - destroy a pool (administrator); detaches too.
 * @pool: the pool.
 *
 * Fails with -EBUSY while another client is attached.  On success the
 * handle is released as by pcpupool_close(); on failure it stays valid and
 * attached.  A broken connection is re-established first; the destroy
 * request itself is not sent twice (see pcpupool_create_opts()).
 *
 * Context: may block (one control round trip, at most 5 s); not
 * async-signal-safe; no other call may use @pool concurrently.
 * Return: 0, or -EINVAL, -EBUSY, -EPERM/-EACCES, -ENOENT, -ESTALE (the
 * handle is stale: see pcpupool_open(); close it), -ENOTCONN,
 * -ETIMEDOUT, -EPROTO or another daemon error.
 */
PCPUPOOL_EXPORT int pcpupool_destroy(struct pcpupool *pool)
{
	struct pcpupool_client *c;
	char line[PCP_MAX_LINE];
	bool last = false;
	size_t len;
	int cs, r;

	if (!pool)
		return -EINVAL;
	c = pool->client;
	r = conn_pool_line(PCP_CMD_DESTROY, pool->name, line, &len);
	if (r < 0)
		return r;
	client_lock(c, &cs);
	r = request_call_locked(c, pool, line, len, 0, util_now_ms() + CTL_REPLY_TIMEOUT_MS,
				NULL, NULL, 0, NULL);
	if (r == 0)
		last = handle_unlink(pool);
	client_unlock(c, cs);
	if (r < 0)
		return r;
	handle_free(pool);
	if (last)
		client_free(c);
	return 0;
}
