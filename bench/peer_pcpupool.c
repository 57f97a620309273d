// SPDX-License-Identifier: MIT
/*
 * peer_pcpupool.c - pcpupool itself, in bench_peers: the NOWAIT fast path
 * as an application gets it (the inline sections of pcpupool.h, the
 * library behind them), and the same through the library's out-of-line
 * functions; on the pools bench_peers created in the daemon, one per
 * element size.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pcpupool.h"
#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>

struct pcp_ctx {
	struct pcpupool *pool;
};

struct pcp_proc {
	struct pcpupool_client *client;
	struct pcp_ctx ctx[PEERS_NR_SIZES];
};

static inline void *pcp_get(struct pcp_ctx *c)
{
	return pcpupool_alloc(c->pool, PCPUPOOL_NOWAIT);
}

static inline void pcp_put(struct pcp_ctx *c, void *p)
{
	pcpupool_free(p, c->pool);
}

PEER_LOOPS(pcp)

/* The same through the library's out-of-line functions, as a program built
 * with PCPUPOOL_NO_INLINE (or calling through a pointer) gets them: the
 * pointers are read each call, so nothing can inline them. */
static void *(*volatile pcpc_alloc)(struct pcpupool *, int) = pcpupool_alloc;
static void (*volatile pcpc_free)(void *, struct pcpupool *) = pcpupool_free;

#define pcpc_ctx pcp_ctx

static inline void *pcpc_get(struct pcp_ctx *c)
{
	return pcpc_alloc(c->pool, PCPUPOOL_NOWAIT);
}

static inline void pcpc_put(struct pcp_ctx *c, void *p)
{
	pcpc_free(p, c->pool);
}

PEER_LOOPS(pcpc)

void peer_pool_name(char *buf, size_t len, const char *prefix, size_t size)
{
	snprintf(buf, len, "%s-%zu", prefix, size);
}

static int pcp_setup(struct peer_proc *pp, char *why, size_t len)
{
	struct pcp_proc *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return -ENOMEM;
	pp->priv = pc;
	if (!pp->socket || !pp->pool_prefix) {
		bench_set_why(why, len, "no daemon socket or pool names given");
		return -EINVAL;
	}
	pc->client = pcpupool_connect(pp->socket);
	if (!pc->client) {
		bench_set_why(why, len, "pcpupool_connect(%s): %s", pp->socket, strerror(errno));
		return -errno;
	}
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		char name[PEERS_NAME_MAX + 16];

		peer_pool_name(name, sizeof(name), pp->pool_prefix, peer_sizes[si]);
		pc->ctx[si].pool = pcpupool_open(pc->client, name);
		if (!pc->ctx[si].pool) {
			bench_set_why(why, len, "pcpupool_open(%s): %s", name, strerror(errno));
			return -errno;
		}
		if (pcpupool_elem_size(pc->ctx[si].pool) < peer_sizes[si]) {
			bench_set_why(why, len, "pool %s has %zu-byte elements", name,
				      pcpupool_elem_size(pc->ctx[si].pool));
			return -EINVAL;
		}
		pp->ctx[si] = &pc->ctx[si];
	}
	snprintf(pp->version, sizeof(pp->version), "libpcpupool %d.%d, rseq %s",
		 PCPUPOOL_VERSION_MAJOR, PCPUPOOL_VERSION_MINOR,
		 __rseq_size > 0 ? "registered" : "NOT registered (atomic fallback)");
	return 0;
}

static void pcp_teardown(struct peer_proc *pp)
{
	struct pcp_proc *pc = pp->priv;

	if (!pc)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++)
		pcpupool_close(pc->ctx[si].pool);
	pcpupool_disconnect(pc->client);
	free(pc);
}

const struct peer peer_pcpupool = {
	.name = "pcpupool", .label = "pcpupool NOWAIT", .ours = true,
	.setup = pcp_setup, .teardown = pcp_teardown,
	.pairs = pcp_pairs, .batches = pcp_batches,
};

const struct peer peer_pcpupool_call = {
	.name = "pcpupool-call", .label = "pcpupool, library call", .ours = true,
	.setup = pcp_setup, .teardown = pcp_teardown,
	.pairs = pcpc_pairs, .batches = pcpc_batches,
};
