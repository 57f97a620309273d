/* SPDX-License-Identifier: MIT */
/*
 * pcpupool.h - libpcpupool, the client of pcpupoold.
 *
 * A pool is a named set of fixed-size elements in shared memory with a
 * reserve of min_nr elements per CPU.  pcpupool_alloc(pool, PCPUPOOL_NOWAIT)
 * and pcpupool_free() are lock-free and async-signal-safe and make no system
 * call on the common path; the daemon refills the reserves in the
 * background.  Names and meanings follow the kernel's percpu_mempool_*.
 *
 * Integer returns are 0 (or a count) or a negative errno; pointer returns
 * are NULL with errno set.  The library never prints, exits or aborts.
 */
#ifndef PCPUPOOL_H
#define PCPUPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PCPUPOOL_VERSION_MAJOR 1
#define PCPUPOOL_VERSION_MINOR 0

#if defined(__GNUC__)
#define PCPUPOOL_WUR __attribute__((warn_unused_result))
#else
#define PCPUPOOL_WUR
#endif

/* Allocation context, as the kernel's gfp_mask. */
#define PCPUPOOL_NOWAIT 0x0  /* must not block: reserve or NULL/EAGAIN */
#define PCPUPOOL_WAIT   0x1  /* may block: synchronous refill, bounded wait */

struct pcpupool_client;
struct pcpupool;

/* pcpupool_create_opts.flags */
#define PCPUPOOL_HUGEPAGES 0x1  /* the pool's memory on 2 MiB hugepages */

/* Optional parameters for pcpupool_create_opts(); begins with its size so
 * it can grow.  Zero fields take the daemon's defaults. */
struct pcpupool_create_opts {
	size_t sz;               /* sizeof(struct pcpupool_create_opts) */
	uint64_t max_elems;      /* elements the pool may grow to */
	int low_watermark;       /* per-CPU level that triggers async refill */
	/* past the padding after low_watermark, which a caller whose sz ends
	 * there may have left uninitialised: the library reads only sz bytes */
	uint64_t flags;          /* PCPUPOOL_HUGEPAGES */
};

struct pcpupool_client *pcpupool_connect(const char *socket_path) PCPUPOOL_WUR;
void pcpupool_disconnect(struct pcpupool_client *c);

struct pcpupool *pcpupool_open(struct pcpupool_client *c, const char *name) PCPUPOOL_WUR;
struct pcpupool *pcpupool_create(struct pcpupool_client *c, const char *name,
				 int min_nr, size_t size, size_t align) PCPUPOOL_WUR;
struct pcpupool *pcpupool_create_opts(struct pcpupool_client *c, const char *name,
				      int min_nr, size_t size, size_t align,
				      const struct pcpupool_create_opts *opts) PCPUPOOL_WUR;
void pcpupool_close(struct pcpupool *pool);
int pcpupool_destroy(struct pcpupool *pool);

void *pcpupool_alloc(struct pcpupool *pool, int flags) PCPUPOOL_WUR;
void pcpupool_free(void *elem, struct pcpupool *pool);
int pcpupool_refill(struct pcpupool *pool, int flags);
int pcpupool_resize(struct pcpupool *pool, int new_min_nr, int flags);
int pcpupool_nr_elems(struct pcpupool *pool);
int pcpupool_nr_elems_cpu(struct pcpupool *pool, int cpu);
int pcpupool_nr_cpus(struct pcpupool *pool);
size_t pcpupool_elem_size(struct pcpupool *pool);

uint64_t pcpupool_elem_offset(struct pcpupool *pool, const void *elem);
void *pcpupool_elem_at(struct pcpupool *pool, uint64_t offset);
int pcpupool_elem_handoff(struct pcpupool *pool, void *elem);  /* sender: not mine any more */
int pcpupool_elem_claim(struct pcpupool *pool, void *elem);    /* receiver: mine now */

char *pcpupool_stats_json(struct pcpupool_client *c, const char *pool) PCPUPOOL_WUR;

#include "pcpupool/inline.h"  /* the inline fast path */

#ifdef __cplusplus
}
#endif

#endif /* PCPUPOOL_H */
