/* SPDX-License-Identifier: MIT */
/*
 * state.h - a pool's state memfd: the daemon's own record of the pool,
 * its depot and its holder table, kept in systemd's fd store across a
 * restart.
 */
#ifndef PCPUPOOLD_STATE_H
#define PCPUPOOLD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "depot.h"
#include "protocol.h"
#include "slab.h"

struct daemon;
struct pool;

/* The daemon's own state of a pool, in a second memfd that no client ever
 * sees, so that it survives a restart through systemd's fd store: the depot
 * array, and the daemon's record of everything in the pool's header it
 * must trust (the trust boundary: the pool's own memory is client-writable
 * input, this object is not).  Ordering makes an unclean death lose at most
 * the batch in flight, never duplicate an element: a refill lowers depot_n
 * before it publishes, a drain appends after it took. */
#define POOL_STATE_MAGIC   UINT64_C(0x54535050554f4350) /* "PCPOUPPST" */
#define POOL_STATE_VERSION 3u   /* 1: no record; 2: one depot stack */
#define POOL_STATE_HDR     4096u

struct pool_state {
	uint64_t magic;
	uint32_t version;
	uint32_t clean;           /* 1: written by a clean shutdown */
	uint64_t max_elems;
	uint64_t depot_n;
	uint64_t restarts;
	uint64_t lost;            /* given up after unclean restarts */
	uint32_t next_owner;      /* last client id handed out: ids stay unique
				   * across restarts, so a mark is never reused */
	uint32_t uid, gid, mode;  /* who may attach */
	uint32_t holders_cap;     /* entries of the holder table; 0: none (a
				   * state an older daemon wrote) */
	uint32_t holders_hw;      /* entries in use lie below this */
	/* version 2: the record a restarted daemon serves the pool from */
	uint64_t published;       /* elements published */
	uint32_t min_nr, low_watermark;
	uint32_t quarantined;     /* 1: found corrupt; stays so */
	uint32_t pad1;
	struct slab_hdr layout;   /* the header as formatted (the atomic
				   * fields unused) */
	/* version 3: the depot's stack per NUMA node (depot.h) */
	uint32_t depot_nodes;     /* 0 in older states: one stack */
	uint32_t pad2;
	uint64_t depot_node_n[DEPOT_MAX_NODES];
	uint8_t pad[POOL_STATE_HDR - 104 - sizeof(struct slab_hdr) -
		    DEPOT_MAX_NODES * sizeof(uint64_t)];
	uint32_t depot[];         /* max_elems entries, then the holder table
				   * (state_holders()) */
};
_Static_assert(sizeof(struct pool_state) == POOL_STATE_HDR, "state header is one page");

/* An attachment whose elements the daemon may still have to take back:
 * recorded at attach, dropped when the reclaim pass for its id has run.
 * It lives in the state memfd, so a daemon that takes the pool back from
 * the fd store can watch the holder's process for its exit: the ids of the
 * daemon before it are not lost with it. */
struct pool_holder {
	uint32_t id;              /* client id; 0: a free entry */
	int32_t pid;
};
#define POOL_MAX_HOLDERS (PCP_MAX_CLIENTS * PCP_MAX_ATTACH_PER_CLIENT)

int state_create(struct pool *p, uint64_t max_elems);
int state_restore(struct daemon *d, const char *name, int memfd, int statefd,
		  struct pool **ret_pool, char *err, size_t errlen);
void state_fdstore(struct pool *p, bool add);
const struct pool_holder *state_holders(const struct pool *p, uint32_t *ret_n);
void state_holder_add(struct pool *p, uint32_t id, int32_t pid);
void state_holder_remove(struct pool *p, uint32_t id);

#endif
