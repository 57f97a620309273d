/* SPDX-License-Identifier: MIT */
/*
 * depot.h - the daemon's free elements of a pool, by NUMA node.
 *
 * The element area is split into DEPOT_CHUNK-byte chunks dealt to the
 * nodes in turn (chunk k to node k mod nr_nodes, bound there with mbind()),
 * so that the published elements, always a prefix, spread over every node
 * as the pool grows.  The depot keeps one stack per node, each in its own
 * segment of the state memfd's depot array, so that a refill takes
 * elements of the CPU's own node and a restart finds them where they were.
 */
#ifndef PCPUPOOLD_DEPOT_H
#define PCPUPOOLD_DEPOT_H

#include <stdbool.h>
#include <stdint.h>

struct pool;

#define DEPOT_CHUNK_SHIFT 21u           /* 2 MiB: a huge page, many pages */
#define DEPOT_MAX_NODES   64u

int depot_init(struct pool *p, uint32_t nr_nodes);
uint32_t depot_node_of(const struct pool *p, uint32_t idx);
uint32_t depot_cpu_node(const struct pool *p, uint32_t cpu);
void depot_add(struct pool *p, uint32_t idx);
uint32_t depot_take(struct pool *p, uint32_t node, uint32_t *buf, uint32_t max);
uint64_t depot_count(const struct pool *p);
uint64_t depot_count_node(const struct pool *p, uint32_t node);
uint32_t depot_nr_nodes(const struct pool *p);
int depot_bind(char *elems, uint64_t len, uint32_t nr_nodes);

#endif
