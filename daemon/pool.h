/* SPDX-License-Identifier: MIT */
/*
 * pool.h - a pool as the daemon sees it (struct pool), and the pool
 * registry: create, find, destroy, the record the shared header is checked
 * against, and who may attach.  The modules that work on a pool: state.h
 * (its state memfd), refill.h (depot and refill engine), reclaim.h
 * (elements of dead clients), stats.h (its stats).
 */
#ifndef PCPUPOOLD_POOL_H
#define PCPUPOOLD_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "daemon.h"
#include "slab.h"
#include "state.h"

struct reclaim_orphan;
struct reclaim_cand;
struct place_cpu;

#define POOL_LAT_BUCKETS 40   /* log2 buckets of nanoseconds */

/* What the daemon counts per CPU of a pool (its own memory). */
struct pool_cpu_stats {
	uint64_t served;             /* refills that moved elements */
	uint64_t refilled;           /* elements moved to the inbox */
	uint64_t drained;            /* elements taken back from the outbox */
	uint64_t trimmed;            /* elements taken back from the inbox */
	uint64_t withdrawn;          /* taken from its slab when it closed */
	uint64_t lat_n;              /* requests timed, crossing -> refill */
	uint64_t lat_max_ns;
	uint64_t lat_hist[POOL_LAT_BUCKETS];
};

struct pool_client {
	uint32_t id;                 /* owner id of the attachment */
	int32_t pid;
	uint32_t uid;
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
	size_t map_len;              /* what base maps */
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
	uint32_t depot_nodes;        /* depot.c: its stacks, by node */
	uint64_t depot_base[DEPOT_MAX_NODES], depot_cap[DEPOT_MAX_NODES];
	const uint16_t *cpu_node;    /* each CPU's node (cpus.h), or NULL */
	uint32_t nr_attached;
	struct pool_client *clients; /* nr_attached entries, for the stats */
	bool quarantined;
	char quarantine_why[96];     /* the first corruption found */
	struct pool_cpu_stats *cpu;  /* nr_cpus entries */
	/* reclaim: elements held by dead clients go back to the depot */
	uint32_t *dead;              /* owner ids of clients that died */
	uint32_t nr_dead, dead_cap;  /* a queue: the ids wait their pass */
	uint32_t holders_checked_ms; /* reclaim_holders_check(),
				      * CLOCK_MONOTONIC ms */
	uint32_t nr_dead_pass;       /* of which the running pass handles (the
				      * first ones, at most RECLAIM_MAX_DEAD,
				      * sorted) */
	struct reclaim_cand *cand;   /* first census's candidates */
	uint32_t nr_cand;
	uint8_t *seen;               /* census scratch: per element, in a slab */
	struct event *ev_reclaim;
	/* ownerless elements both censuses of a pass missed: taken back only
	 * if a third, RECLAIM_ORPHAN_GRACE_MS later, misses them too (an
	 * element between two lists is ownerless for a few instructions; this
	 * covers a thread stalled there for a second instead of 20 ms) */
	struct reclaim_orphan *orph;
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
	/* which CPUs hold a reserve (place.h) */
	struct place_cpu *place;     /* nr_cpus entries */
	uint64_t placed_ms;          /* the last placement pass, 0: due */
	uint64_t cpus_opened;        /* CPUs opened after the pool's creation */
	uint64_t cpus_closed;
	uint64_t withdrawn;          /* elements taken from closed CPUs' slabs */
	uint64_t polled;             /* raised flags the poll served */
	uint64_t bad_polling;        /* times a client set hdr->polling */
};

int pool_create(struct daemon *d, const struct pool_config *pc, pid_t creator,
		struct pool **ret_pool, char *err, size_t errlen);
void pool_register(struct daemon *d, struct pool *p);
void pool_unregister(struct daemon *d, struct pool *p);
void pool_dispose(struct pool *p);
void pool_destroy(struct daemon *d, struct pool *p);
void pool_shutdown(struct pool *p);
struct pool *pool_find(struct daemon *d, const char *name);
struct pool *pool_find_serial(struct daemon *d, uint64_t serial);
int pool_view_init(struct pool *p);
uint32_t pool_limit(const struct pool *p);
int pool_verify(struct pool *p);
void pool_quarantine(struct pool *p, const char *why, uint32_t cpu);
bool pool_may_attach(const struct pool *p, uint32_t uid, const uint32_t *gids, size_t n);
uint32_t pool_new_owner(struct pool *p);
int pool_client_add(struct pool *p, uint32_t id, int32_t pid, uint32_t uid);
void pool_client_remove(struct pool *p, uint32_t id);

#endif
