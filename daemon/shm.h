/* SPDX-License-Identifier: MIT */
/*
 * shm.h - a pool's shared memory: its memfd, created, sealed and mapped
 * (shm_create()), and the check that no page of a hugepage pool's file
 * was given back (shm_pages_released(), see guard.h).
 */
#ifndef PCPUPOOLD_SHM_H
#define PCPUPOOLD_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;
struct slab_hdr;

int shm_create(struct pool *p, const struct slab_hdr *layout, uint32_t nr_nodes, bool watchdog,
	       char *err, size_t errlen);
bool shm_pages_released(struct pool *p);

#endif
