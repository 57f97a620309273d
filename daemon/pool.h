/* SPDX-License-Identifier: MIT */
/*
 * pool.h - the daemon's pools: shared memory, depot and refill engine.
 */
#ifndef PCPUPOOLD_POOL_H
#define PCPUPOOLD_POOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "daemon.h"
#include "slab.h"

/* The daemon's own state of a pool, in a second memfd that no client ever
 * sees, so that it survives a restart through systemd's fd store: the depot
 * array, and the daemon's record of everything in the pool's header it
 * must trust (the trust boundary: the pool's own memory is client-writable
 * input, this object is not).  Ordering makes an unclean death lose at most
 * the batch in flight, never duplicate an element: a refill lowers depot_n
 * before it publishes, a drain appends after it took. */
#define POOL_STATE_MAGIC   UINT64_C(0x54535050554f4350) /* "PCPOUPPST" */
#define POOL_STATE_VERSION 2u   /* 1: no record (an older daemon's) */
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
	uint8_t pad[POOL_STATE_HDR - 96 - sizeof(struct slab_hdr)];
	uint32_t depot[];         /* max_elems entries, then the holder table
				   * (pool_holders()) */
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

#define POOL_LAT_BUCKETS 40   /* log2 buckets of nanoseconds */

/* What the daemon counts per CPU of a pool (its own memory). */
struct pool_cpu_stats {
	uint64_t served;             /* refills that moved elements */
	uint64_t refilled;           /* elements moved to the inbox */
	uint64_t drained;            /* elements taken back from the outbox */
	uint64_t trimmed;            /* elements taken back from the inbox */
	uint64_t lat_n;              /* requests timed, crossing -> refill */
	uint64_t lat_max_ns;
	uint64_t lat_hist[POOL_LAT_BUCKETS];
};

#define POOL_RECLAIM_GRACE_MS 20     /* between the two censuses of a pass */
#define POOL_ORPHAN_GRACE_MS  1000   /* a third census for ownerless ones */
#define POOL_MAX_DEAD         4096   /* dead clients one pass handles */
#define POOL_MAX_DEAD_QUEUED  (1u << 22)  /* ... and awaiting one */
#define POOL_HOLDERS_CHECK_MS 1000   /* holders_check() at most this often */

struct pool_client {
	uint32_t id;                 /* owner id of the attachment */
	int32_t pid;
	uint32_t uid;
};

struct pool_orphan {
	uint32_t idx;
	uint32_t found_ms;           /* CLOCK_MONOTONIC, wrapping */
};

struct pool_cand {
	uint32_t idx;
	uint32_t owner;
};

struct pool {
	struct pool *next;
	bool restored;               /* taken back from the fd store: its holder
				      * table names processes to watch */
	uint64_t serial;             /* this daemon's number for this pool,
				      * never reused: a pool destroyed and
				      * created again under its name is another
				      * pool, whose client ids start over */
	struct pool_config cfg;      /* min_nr and low_watermark resolved */
	int memfd;
	void *base;
	struct slab_view v;          /* built from layout, and counting
				      * published elements in published */
	struct slab_hdr layout;      /* the header as the daemon formatted it:
				      * the only geometry it trusts */
	uint64_t published;          /* elements published: may appear in a
				      * slab or list */
	int statefd;
	struct pool_state *st;       /* depot: free elements the daemon owns */
	size_t st_size;
	uint8_t *in_depot;           /* per element: 1 while in the depot */
	uint32_t nr_attached;
	struct pool_client *clients; /* nr_attached entries, for the stats */
	bool quarantined;
	char quarantine_why[96];     /* the first corruption found */
	struct pool_cpu_stats *cpu;  /* nr_cpus entries */
	/* reclaim: elements held by dead clients go back to the depot */
	uint32_t *dead;              /* owner ids of clients that died */
	uint32_t nr_dead, dead_cap;  /* a queue: the ids wait their pass */
	uint32_t holders_checked_ms; /* holders_check(), CLOCK_MONOTONIC ms */
	uint32_t nr_dead_pass;       /* of which the running pass handles (the
				      * first ones, at most POOL_MAX_DEAD,
				      * sorted) */
	struct pool_cand *cand;      /* first census's candidates */
	uint32_t nr_cand;
	uint8_t *seen;               /* census scratch: per element, in a slab */
	struct event *ev_reclaim;
	/* ownerless elements both censuses of a pass missed: taken back only
	 * if a third, POOL_ORPHAN_GRACE_MS later, misses them too (an element
	 * between two lists is ownerless for a few instructions; this covers
	 * a thread stalled there for a second instead of 20 ms) */
	struct pool_orphan *orph;
	uint32_t nr_orph;
	uint8_t *orph_mark;          /* per element: 1 while in orph */
	struct event *ev_orphan;
	int reclaim_phase;           /* 0 idle, 1 first census due, 2 second */
	uint64_t reclaimed;          /* elements taken back from dead clients */
	uint64_t orphans;            /* ownerless elements found nowhere */
	uint64_t duplicates;         /* elements a census saw twice */
	uint64_t handed_off;         /* held elements marked as handed over */
	/* counters */
	uint64_t requests;           /* refill messages received */
	uint64_t bad_messages;
	uint64_t refills;            /* refills that moved elements */
	uint64_t refilled;           /* elements moved depot -> inboxes */
	uint64_t drained;            /* elements moved outboxes -> depot */
	uint64_t trimmed;            /* elements taken back from inboxes */
	uint64_t shortfalls;         /* refills the depot could not cover */
	uint64_t spare_stocked;      /* elements moved depot -> spare */
	/* polling: after a request, the daemon looks at the CPUs' request
	 * flags every refill_poll_us until refill_poll_linger_ms pass without
	 * one, and clients whose crossing the spare covered send nothing */
	bool polling;
	uint64_t poll_until_ns;      /* CLOCK_MONOTONIC */
	uint64_t polled;             /* raised flags the poll served */
	uint64_t bad_polling;        /* times a client set hdr->polling */
};

int pool_restore(struct daemon *d, const char *name, int memfd, int statefd,
		 struct pool **ret_pool, char *err, size_t errlen);
void pool_shutdown(struct pool *p);
uint32_t pool_new_owner(struct pool *p);
void pool_client_died(struct pool *p, uint32_t owner);
void pool_reclaim_orphans(struct pool *p);
int pool_create(struct daemon *d, const struct pool_config *pc, struct pool **ret_pool,
		char *err, size_t errlen);
int pool_client_add(struct pool *p, uint32_t id, int32_t pid, uint32_t uid);
const struct pool_holder *pool_holders(const struct pool *p, uint32_t *ret_n);
void pool_client_remove(struct pool *p, uint32_t id);
bool pool_may_attach(const struct pool *p, uint32_t uid, const uint32_t *gids, size_t n);
void pool_free(struct pool *p);
struct pool *pool_find(struct daemon *d, const char *name);
struct pool *pool_find_serial(struct daemon *d, uint64_t serial);
void pool_unlink(struct daemon *d, struct pool *p);
void pool_destroy(struct daemon *d, struct pool *p);
int pool_refill_cpu(struct pool *p, uint32_t cpu);
int pool_refill_all(struct pool *p, uint64_t *ret_moved);
int pool_resize(struct pool *p, uint32_t min_nr, uint32_t low_watermark);
void pool_sweep(struct pool *p);
int pool_verify(struct pool *p);
void pool_poll_heat(struct daemon *d, struct pool *p);
void pool_poll_tick(struct daemon *d);
json_t *pool_summary_json(const struct pool *p);
json_t *pool_stats_json(struct pool *p);

#endif
