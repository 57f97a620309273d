// SPDX-License-Identifier: MIT
/*
 * peer_list.c - the competitors of bench_peers, in the order of its table
 * and its rounds, and the element sizes they are measured at.
 */
#include "peer.h"

#include <stdlib.h>
#include <string.h>

const size_t peer_sizes[PEERS_NR_SIZES] = { 64, 1024 };

const struct peer *const peer_list[NR_PEERS] = {
	[PEER_PCPUPOOL]      = &peer_pcpupool,
	[PEER_PCPUPOOL_CALL] = &peer_pcpupool_call,
	[PEER_TLS]           = &peer_tls,
	[PEER_RSEQ]          = &peer_rseq,
	[PEER_RSEQ_CALL]     = &peer_rseq_call,
	[PEER_GLIBC]         = &peer_glibc,
	[PEER_JEMALLOC]      = &peer_jemalloc,
	[PEER_MIMALLOC]      = &peer_mimalloc,
	[PEER_DPDK]          = &peer_dpdk,
	[PEER_MUTEX]         = &peer_mutex,
	[PEER_TREIBER]       = &peer_treiber,
};

int peer_by_name(const char *name, size_t len)
{
	for (int i = 0; i < NR_PEERS; i++)
		if (strlen(peer_list[i]->name) == len && !strncmp(peer_list[i]->name, name, len))
			return i;
	return -1;
}

void peer_free_priv(struct peer_proc *pp)
{
	free(pp->priv);
}

void *peer_alloc_ctx(struct peer_proc *pp, size_t size)
{
	void *c = aligned_alloc(PEERS_CACHELINE, PEERS_NR_SIZES * size);

	if (!c)
		return NULL;
	memset(c, 0, PEERS_NR_SIZES * size);
	pp->priv = c;
	return c;
}
