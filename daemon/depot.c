// SPDX-License-Identifier: MIT
/*
 * depot.c - the daemon's free elements, one stack per NUMA node (depot.h).
 *
 * Node k's stack lives in the depot array of the state memfd at
 * [base[k], base[k] + cap[k]), where cap[k] is how many of the pool's
 * max_elems elements lie on node k; its height is st->depot_node_n[k] and
 * st->depot_n is their sum.  As before the split, an entry is written
 * before the height that covers it is raised, and a height is lowered
 * before its entry is handed out, so that an unclean exit loses at most
 * the batch in flight and never duplicates an element.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include "depot.h"
#include "log.h"
#include "pool.h"

uint32_t depot_nr_nodes(const struct pool *p)
{
	return p->depot_nodes ? p->depot_nodes : 1;
}

/**
 * depot_node_of() - the node element @idx lies on (by its first byte).
 * @p: the pool.
 * @idx: an element index below max_elems.
 */
uint32_t depot_node_of(const struct pool *p, uint32_t idx)
{
	uint32_t n = depot_nr_nodes(p);

	if (n == 1)
		return 0;
	return (uint32_t)((((uint64_t)idx * p->v.elem_stride) >> DEPOT_CHUNK_SHIFT) % n);
}

uint64_t depot_count(const struct pool *p)
{
	return p->st->depot_n;
}

uint64_t depot_count_node(const struct pool *p, uint32_t node)
{
	return node < depot_nr_nodes(p) ? p->st->depot_node_n[node] : 0;
}

/**
 * depot_add() - push element @idx onto its node's stack.  The caller has
 * checked that the depot does not hold it already.
 * @p: the pool.
 * @idx: the element.
 */
void depot_add(struct pool *p, uint32_t idx)
{
	uint32_t k = depot_node_of(p, idx);

	p->st->depot[p->depot_base[k] + p->st->depot_node_n[k]] = idx;
	p->st->depot_node_n[k]++;
	p->st->depot_n++;
}

/* Pop up to @max from node @k's stack into @buf. */
static uint32_t take_node(struct pool *p, uint32_t k, uint32_t *buf, uint32_t max)
{
	uint32_t got = 0;

	while (got < max && p->st->depot_node_n[k]) {
		p->st->depot_node_n[k]--;
		p->st->depot_n--;
		buf[got++] = p->st->depot[p->depot_base[k] + p->st->depot_node_n[k]];
	}
	return got;
}

/**
 * depot_take() - pop up to @max free elements, from node @node's stack
 * first, then from the others, nearest id first.
 * @p: the pool.
 * @node: the node wanted, or UINT32_MAX for the fullest.
 * @buf: receives the element indexes.
 * @max: room in @buf.
 *
 * Return: how many.
 */
uint32_t depot_take(struct pool *p, uint32_t node, uint32_t *buf, uint32_t max)
{
	uint32_t n = depot_nr_nodes(p), got;

	if (node >= n) {
		node = 0;
		for (uint32_t k = 1; k < n; k++)
			if (p->st->depot_node_n[k] > p->st->depot_node_n[node])
				node = k;
	}
	got = take_node(p, node, buf, max);
	for (uint32_t i = 1; i < n && got < max; i++)
		got += take_node(p, (node + i) % n, buf + got, max - got);
	return got;
}

/* The element area is dealt to the nodes by chunk: count node k's. */
static void segment(struct pool *p, uint32_t n)
{
	uint64_t max = p->v.max_elems, base = 0;

	p->depot_nodes = n;
	memset(p->depot_cap, 0, sizeof(p->depot_cap));
	for (uint64_t i = 0; i < max; i++)
		p->depot_cap[depot_node_of(p, (uint32_t)i)]++;
	for (uint32_t k = 0; k < n; k++) {
		p->depot_base[k] = base;
		base += p->depot_cap[k];
	}
}

/**
 * depot_init() - lay a pool's depot out for @nr_nodes nodes: a new pool's
 * (empty), or a restored one's, whose entries are dealt again when its
 * state was written for another number of nodes (or before the split).
 * @p: the pool, its view and state mapped.
 * @nr_nodes: the machine's nodes (1 without NUMA).
 *
 * Return: 0, or -ENOMEM.
 */
int depot_init(struct pool *p, uint32_t nr_nodes)
{
	uint32_t n = nr_nodes < 1 ? 1 : nr_nodes > DEPOT_MAX_NODES ? DEPOT_MAX_NODES : nr_nodes;
	uint64_t had = p->st->depot_n, sum = 0;
	bool same = p->st->depot_nodes == n;

	segment(p, n);
	for (uint32_t k = 0; same && k < DEPOT_MAX_NODES; k++) {
		if (p->st->depot_node_n[k] > (k < n ? p->depot_cap[k] : 0))
			same = false;
		sum += p->st->depot_node_n[k];
	}
	if (same && sum == had)
		return 0;
	/* an older layout: one stack of @had entries at the array's start */
	uint32_t *old = NULL;

	if (had > p->v.max_elems)
		had = p->v.max_elems;
	if (had && !(old = malloc(had * sizeof(*old))))
		return -ENOMEM;
	if (had)
		memcpy(old, p->st->depot, had * sizeof(*old));
	p->st->depot_n = 0;
	memset(p->st->depot_node_n, 0, sizeof(p->st->depot_node_n));
	p->st->depot_nodes = n;
	for (uint64_t i = 0; i < had; i++)
		if (old[i] < p->v.max_elems)
			depot_add(p, old[i]);
	free(old);
	if (had)
		log_notice("pool %s: depot dealt to %u NUMA node(s)", p->cfg.name, n);
	return 0;
}

/**
 * depot_bind() - bind each chunk of the element area to its node
 * (MPOL_PREFERRED: a full node lends, rather than a client faulting), so
 * that an element's pages are on its node whoever touches them first.
 * The policy is the memfd's, kept for every mapping and across restarts.
 * @p: a new pool, before any element is touched.
 *
 * Return: 0, or -errno of the first mbind() that failed.
 */
int depot_bind(struct pool *p)
{
	uint32_t n = depot_nr_nodes(p);
	uint64_t len = (uint64_t)p->v.max_elems * p->v.elem_stride;
	uint64_t chunk = UINT64_C(1) << DEPOT_CHUNK_SHIFT;

	if (n == 1)
		return 0;
	for (uint64_t off = 0; off < len; off += chunk) {
		unsigned long mask[DEPOT_MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
		uint32_t k = (uint32_t)((off >> DEPOT_CHUNK_SHIFT) % n);
		uint64_t l = len - off < chunk ? len - off : chunk;

		mask[k / (8 * sizeof(unsigned long))] |= 1ul << (k % (8 * sizeof(unsigned long)));
		l = (l + 4095) & ~UINT64_C(4095);
		if (syscall(SYS_mbind, p->v.elems + off, l, MPOL_PREFERRED, mask,
			    (unsigned long)DEPOT_MAX_NODES + 1, 0) < 0)
			return -errno;
	}
	return 0;
}
