/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libpcpupool's own header: the client and handle structs,
 * limits, and what its files call of each other.  Not installed.
 *
 * The library has two halves that share nothing at run time:
 *
 *   the fast path   pcpupool_alloc(NOWAIT) and pcpupool_free(): the rseq
 *                   slab core of slab.h on the pool's shared memory, plus
 *                   at most one non-blocking send() of a refill request on
 *                   the pool's datagram socket.  No lock, no malloc, no
 *                   stdio: async-signal-safe.  The hit path is a leaf; all
 *                   else is a tail call into a noinline slow function.
 *   the control     everything else: JSON lines on the client's Unix stream
 *   path            socket (protocol.h), one request and one reply at a
 *                   time under the client's mutex, every wait bounded.
 *
 * Stream framing: requests are strictly alternated with replies, so a reply
 * that times out is owed by the daemon; it is counted and discarded before
 * the next request instead of being taken for that request's reply.  Any
 * other transport error (EOF, reset, a line too long, bytes after the
 * reply) leaves the stream unusable: the client is marked broken.
 *
 * Reconnection: a daemon that dies or restarts leaves every pool mapped,
 * and the fast paths never notice.  The next control call on a broken
 * client (any pool's, or stats) reconnects under the client's mutex,
 * within that call's own timeout: a new socket to the same path, hello,
 * then "attach" again for every open handle (the client keeps a list).
 * For each, the memfd received is compared with the mapped one by st_dev
 * and st_ino:
 *   - the same object (a daemon restarted under systemd got it back from
 *     the fd store): the mapping and view stay; the new refill channel is
 *     dup3()ed over the old descriptor number, so a send() in a signal
 *     handler never meets a closed or reused number; the owner id the
 *     pops write is updated with one aligned 32-bit store;
 *   - anything else (pool gone or recreated, attach refused): the handle
 *     turns stale.  Its fast path keeps its old memory; its control calls
 *     fail with -ESTALE.  The pool can be opened again by name.
 * A request that meets a connection that broke before it left is sent
 * again on the new one; one that may have reached the old daemon is sent
 * again only if it is idempotent (attach, refill, resize, stats), never
 * create or destroy.  A daemon that cannot be reached fails the call at
 * once with -ENOTCONN; nothing waits for it to come back.  After
 * pcpupool_disconnect() nothing reconnects.
 *
 * The library never prints, exits or aborts.
 */
#ifndef PCPUPOOL_INTERNAL_H
#define PCPUPOOL_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* the library defines the out-of-line pcpupool_alloc() and pcpupool_free() */
#define PCPUPOOL_NO_INLINE 1
#include "pcpupool.h"
#include "protocol.h"
#include "slab.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define PCPUPOOL_EXPORT __attribute__((visibility("default")))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- client-side limits and defaults ---- */

#define CTL_REPLY_TIMEOUT_MS    5000    /* one request's send + reply */
#define CTL_MAX_STALE           8       /* owed replies before giving up */
#define CTL_BUF_INIT            4096    /* reply buffer, grows to PCP_MAX_REPLY */
#define CTL_BUF_KEEP            65536   /* larger buffers are freed after use */
#define CTL_CMSG_FDS            8       /* fds one recvmsg can carry */
#define WAIT_TIMEOUT_ENV        "PCPUPOOL_WAIT_TIMEOUT_MS"
#define WAIT_TIMEOUT_DEFAULT_MS 2000
#define WAIT_TIMEOUT_MAX_MS     3600000 /* one hour: larger values clamp */
#define WAIT_BACKOFF_MIN_US     100
#define WAIT_BACKOFF_MAX_US     10000
#define CONNECT_BACKOFF_MIN_US  100     /* connect() retries on a full backlog */
#define CONNECT_BACKOFF_MAX_US  10000
#define SLAB_MAP_MAX            (UINT64_C(1) << 46) /* slab_layout()'s bound */

/* v.owner is read by every pop (core/slab_rseq.c, the rseq sections) without
 * synchronisation and rewritten by a reconnection with one aligned 32-bit
 * store (handle_reattach()): a pop marks its element with the old id or the
 * new one, both this process's.  ThreadSanitizer is told so. */
#ifdef SLAB_TSAN
void AnnotateBenignRaceSized(const char *file, int line, const volatile void *mem,
			     long size, const char *desc);
#define owner_race_benign(pool)                                             \
	AnnotateBenignRaceSized(__FILE__, __LINE__, &(pool)->v.owner,       \
				(long)sizeof((pool)->v.owner),              \
				"v.owner: rewritten on reconnection")
#else
#define owner_race_benign(pool) ((void)(pool))
#endif

/* the attach reply's descriptors (protocol.h names neither count nor order) */
#define ATTACH_NR_FDS           2
#define ATTACH_FD_MEM           0
#define ATTACH_FD_REFILL        1

/* reply fields protocol.h does not name */
#define F_SERVER                "server"
#define F_REFILLED              "refilled"
#define F_NR_CPUS               "nr_cpus"

/**
 * struct pcpupool_client - one control connection to pcpupoold.
 * @lock: serialises request/reply pairs and reconnections, and guards
 *        every field below and the @pools list (including each pool's
 *        @next, @prev and @stale).
 * @fd: the control socket, -1 while there is none.
 * @err: 0, or why the connection is unusable; the next control call
 *       reconnects (unless @closed).
 * @closed: pcpupool_disconnect() was called: never reconnect.
 * @stale: replies the daemon still owes for requests that timed out.
 * @pools: open handles attached through this client, stale ones included;
 *         the struct outlives pcpupool_disconnect() until this is empty.
 * @wait_timeout_ms: bound of a PCPUPOOL_WAIT allocation.
 * @path: the control socket's path, for reconnection.
 * @buf: reply assembly buffer, @len bytes used of @cap.
 */
struct pcpupool_client {
	pthread_mutex_t lock;
	struct pcpupool_client *all_next, *all_prev;  /* all_clients */
	int fd;
	int err;
	bool closed;
	unsigned int stale;
	struct pcpupool *pools;
	int wait_timeout_ms;
	char *path;
	char *buf;
	size_t len;
	size_t cap;
};

/**
 * struct pcpupool - one attached pool.
 * @v: the slab view; first, so the fast path reads one cache line of the
 *     handle (the handle is allocated cache-line aligned).  v.owner changes
 *     on reconnection (one aligned 32-bit store).
 * @client: the control connection it was attached through.
 * @next: the client's list of open handles.
 * @prev: ditto.
 * @memfd: the pool's shared-memory object.
 * @refill_fd: this attachment's end of the refill datagram channel; the
 *             number never changes while the handle is open (a
 *             reconnection dup3()s the new channel over it).
 * @stale: the daemon no longer serves this memory (see pcpupool_open()).
 * @mem_dev: st_dev of @memfd, to recognise the object after a restart.
 * @mem_ino: st_ino of @memfd.
 * @base: the mapping of the whole pool, @map_size bytes.
 * @name: pool name.
 */
struct pcpupool {
	struct slab_view v;
	struct pcpupool_client *client;
	struct pcpupool *next, *prev;
	int memfd;
	int refill_fd;
	bool stale;
	dev_t mem_dev;
	ino_t mem_ino;
	void *base;
	size_t map_size;
	uint64_t elem_size;     /* from the header copy validated at attach */
	char name[PCP_NAME_MAX + 1];
};

_Static_assert(offsetof(struct pcpupool, v) == 0, "the view is the handle's first line");

/* where in its page the handle (and so the view) is placed: the slab's
 * second line, which the hit path only reads */
#define POOL_VIEW_PAGE_OFF SLAB_CACHELINE

/**
 * struct attach_info - the fields of an "attach" reply.
 * @map_size: bytes to map.
 * @client_id: this attachment's id, the owner mark of the elements it pops.
 * @elem_size: element size.
 * @nr_cpus: number of per-CPU slabs.
 * @max_elems: the pool's most elements (0: not sent, an older daemon).
 * @align: element alignment (0: not sent).
 * @slab_cap: slots per slab (0: not sent).
 * @huge_page_size: 0, or the hugepage size the pool is on (-1: not sent).
 */
struct attach_info {
	json_int_t map_size;
	json_int_t client_id;
	json_int_t elem_size;
	json_int_t nr_cpus;
	json_int_t max_elems;
	json_int_t align;
	json_int_t slab_cap;
	json_int_t huge_page_size;
};

/* request_call_locked() flags */
#define REQUEST_RETRY 0x1  /* may be sent again when the connection broke after it left */

/* util.c */
void util_backoff_sleep(unsigned int *backoff_us, unsigned int max_us, int left_ms);
void util_close_fds(int *fds, size_t n);
int util_ms_left(int64_t deadline);
int64_t util_now_ms(void);

/* conn.c */
int conn_call(struct pcpupool_client *c, const char *line, size_t len,
	      int64_t deadline, json_t **ret_reply, int *fds, size_t max_fds,
	      size_t *ret_nfds, bool *ret_sent);
int conn_connect(const char *path, int64_t deadline);
int conn_detach_line(const char *name, json_int_t id, char line[PCP_MAX_LINE],
		     size_t *ret_len);
void conn_drop(struct pcpupool_client *c);
int conn_hello(struct pcpupool_client *c, int fd, int64_t deadline);
int conn_line(json_t *req, char line[PCP_MAX_LINE], size_t *ret_len);
int conn_pool_line(const char *cmd, const char *name, char line[PCP_MAX_LINE],
		   size_t *ret_len);

/* request.c */
int request_call(struct pcpupool_client *c, struct pcpupool *pool, json_t *req,
		 unsigned int flags, int timeout_ms, json_t **ret_reply,
		 int *fds, size_t max_fds, size_t *ret_nfds);
int request_call_locked(struct pcpupool_client *c, struct pcpupool *pool,
			const char *line, size_t len, unsigned int flags,
			int64_t deadline, json_t **ret_reply, int *fds,
			size_t max_fds, size_t *ret_nfds);
int request_refill(struct pcpupool *pool, int timeout_ms, json_int_t *ret_refilled);

/* fork.c */
void fork_register(struct pcpupool_client *c);
void fork_unregister(struct pcpupool_client *c);

/* client.c */
void client_free(struct pcpupool_client *c);
void client_lock(struct pcpupool_client *c, int *ret_cs);
void client_unlock(struct pcpupool_client *c, int cs);

/* handle.c */
int handle_reattach(struct pcpupool *pool, int64_t deadline);

/* alloc.c */
void alloc_send_refill(const struct pcpupool *pool, uint32_t cpu);

#endif /* PCPUPOOL_INTERNAL_H */
