/* SPDX-License-Identifier: MIT */
/*
 * reclaim.h - taking back the elements of clients that are gone, and of
 * nobody.
 */
#ifndef PCPUPOOLD_RECLAIM_H
#define PCPUPOOLD_RECLAIM_H

#include <stdint.h>

struct daemon;
struct pool;

#define RECLAIM_GRACE_MS         20     /* between the two censuses of a pass */
#define RECLAIM_ORPHAN_GRACE_MS  1000   /* a third census for ownerless ones */
#define RECLAIM_MAX_DEAD         4096   /* dead clients one pass handles */
#define RECLAIM_MAX_DEAD_QUEUED  (1u << 22)  /* ... and awaiting one */
#define RECLAIM_HOLDERS_CHECK_MS 1000   /* reclaim_holders_check() at most this often */

/* An ownerless element both censuses of a pass missed, awaiting the third. */
struct reclaim_orphan {
	uint32_t idx;
	uint32_t found_ms;           /* CLOCK_MONOTONIC, wrapping */
};

/* An element the first census of a pass found held by a dead client. */
struct reclaim_cand {
	uint32_t idx;
	uint32_t owner;
};

int reclaim_init(struct daemon *d, struct pool *p);
void reclaim_client_died(struct pool *p, uint32_t owner);
void reclaim_orphans(struct pool *p);
void reclaim_holders_check(struct pool *p);

#endif
