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

/* CPU @cpu's node, as the depot counts them (0 without NUMA). */
uint32_t depot_cpu_node(const struct pool *p, uint32_t cpu)
{
	uint32_t k = p->cpu_node ? p->cpu_node[cpu] : 0;

	return k < depot_nr_nodes(p) ? k : 0;
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

/* Deal the element area to @n nodes by chunk: count node k's elements
 * (@cap) and place its segment (@base). */
static void segments_of(const struct pool *p, uint32_t n, uint64_t *base, uint64_t *cap)
{
	uint64_t max = p->v.max_elems, at = 0;

	memset(cap, 0, DEPOT_MAX_NODES * sizeof(*cap));
	for (uint64_t i = 0; i < max; i++)
		cap[n == 1 ? 0 : ((i * p->v.elem_stride) >> DEPOT_CHUNK_SHIFT) % n]++;
	for (uint32_t k = 0; k < n; k++) {
		base[k] = at;
		at += cap[k];
	}
}

/* The entries of a depot array laid out for @n nodes (0: one stack of
 * depot_n, before the split), each height bounded by its segment: into
 * @out, each element once.  Return how many. */
static uint64_t collect(struct pool *p, uint32_t n, uint32_t *out, uint8_t *seen)
{
	uint64_t base[DEPOT_MAX_NODES], cap[DEPOT_MAX_NODES], got = 0, max = p->v.max_elems;

	if (n == 0) {
		base[0] = 0;
		cap[0] = max;
		n = 1;
		p->st->depot_node_n[0] = p->st->depot_n;
	} else {
		segments_of(p, n, base, cap);
	}
	for (uint32_t k = 0; k < n; k++) {
		uint64_t h = p->st->depot_node_n[k] < cap[k] ? p->st->depot_node_n[k] : cap[k];

		for (uint64_t i = 0; i < h; i++) {
			uint32_t e = p->st->depot[base[k] + i];

			if (e < max && !seen[e]) {
				seen[e] = 1;
				out[got++] = e;
			}
		}
	}
	return got;
}

/**
 * depot_init() - lay a pool's depot out for @nr_nodes nodes: a new pool's
 * (empty), or a restored one's.  A restored depot's entries are read by
 * the layout its state was written with (one stack before the split), each
 * height bounded by its segment and each element taken once, and dealt
 * again, so that neither a state written for another number of nodes nor
 * one a daemon left between two counter updates when it died can hand out
 * an element twice.
 * @p: the pool, its view and state mapped.
 * @nr_nodes: the machine's nodes (1 without NUMA).
 *
 * Return: 0, or -ENOMEM.
 */
int depot_init(struct pool *p, uint32_t nr_nodes)
{
	uint32_t n = nr_nodes < 1 ? 1 : nr_nodes > DEPOT_MAX_NODES ? DEPOT_MAX_NODES : nr_nodes;
	uint32_t was = p->st->depot_nodes;
	uint64_t max = p->v.max_elems, had;
	uint32_t *old;
	uint8_t *seen;

	segments_of(p, n, p->depot_base, p->depot_cap);
	p->depot_nodes = n;
	if (was > DEPOT_MAX_NODES)
		was = 1;   /* our own state, but never trusted past its bounds */
	uint64_t any = p->st->depot_n;

	for (uint32_t k = 0; was && k < was; k++)
		any |= p->st->depot_node_n[k];
	if (!any) {   /* a new pool's, or an empty one */
		memset(p->st->depot_node_n, 0, sizeof(p->st->depot_node_n));
		p->st->depot_nodes = n;
		return 0;
	}
	old = malloc(max * sizeof(*old));
	seen = calloc(max, 1);
	if (!old || !seen) {
		free(old);
		free(seen);
		return -ENOMEM;
	}
	had = collect(p, was, old, seen);
	p->st->depot_n = 0;
	memset(p->st->depot_node_n, 0, sizeof(p->st->depot_node_n));
	p->st->depot_nodes = n;
	for (uint64_t i = 0; i < had; i++)
		depot_add(p, old[i]);
	free(old);
	free(seen);
	if (had && was != n)
		log_notice("pool %s: depot dealt to %u NUMA node(s)", p->cfg.name, n);
	return 0;
}

/**
 * depot_bind() - bind each chunk of a pool's element area to its node
 * (MPOL_PREFERRED: a full node lends, rather than a client faulting), so
 * that an element's pages are on its node whoever touches them first.
 * The policy is the memfd's, kept for every mapping and across restarts.
 * @elems: the first element in the daemon's mapping, before any page of
 *         the area is allocated.
 * @len: the area's length, to the end of the file (whole pages).
 * @nr_nodes: the machine's nodes.
 *
 * Return: 0, or -errno of the first mbind() that failed (the others are
 * still tried).
 */
int depot_bind(char *elems, uint64_t len, uint32_t nr_nodes)
{
	uint64_t chunk = UINT64_C(1) << DEPOT_CHUNK_SHIFT;
	uint32_t n = nr_nodes > DEPOT_MAX_NODES ? DEPOT_MAX_NODES : nr_nodes;
	int first = 0;

	if (n <= 1)
		return 0;
	for (uint64_t off = 0; off < len; off += chunk) {
		unsigned long mask[DEPOT_MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
		uint32_t k = (uint32_t)((off >> DEPOT_CHUNK_SHIFT) % n);
		uint64_t l = len - off < chunk ? len - off : chunk;

		mask[k / (8 * sizeof(unsigned long))] |= 1ul << (k % (8 * sizeof(unsigned long)));
		if (syscall(SYS_mbind, elems + off, l, MPOL_PREFERRED, mask,
			    (unsigned long)DEPOT_MAX_NODES + 1, 0) < 0 && !first)
			first = -errno;
	}
	return first;
}
