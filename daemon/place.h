/* SPDX-License-Identifier: MIT */
/*
 * place.h - where a pool keeps its reserves: on the online CPUs its
 * attached processes may run on, and nowhere else.  A CPU that no attached
 * process may use any more is closed (its slab retired, see core/slab.h)
 * and, once that is safe, its elements go back to the depot; a CPU a
 * client can use again is opened and filled.
 */
#ifndef PCPUPOOLD_PLACE_H
#define PCPUPOOLD_PLACE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct pool;

/* How long a closed CPU's slab waits before its slots are taken, when its
 * CPU is online: any section that read it before it was closed has long
 * committed or been aborted by then (slab.h, "retired"). */
#define PLACE_GRACE_MS    1000u
/* How often the sweep looks at the clients' CPUs without being asked. */
#define PLACE_INTERVAL_MS 500u
/* How long an online CPU stays open once no attached process may run
 * there: a thread pinned elsewhere for a moment does not cost its CPU's
 * reserve (an offline CPU closes at once). */
#define PLACE_CLOSE_AFTER_MS 2000u

enum place_state {
	PLACE_OPEN,                  /* holds a reserve */
	PLACE_CLOSING,               /* retired; its slots wait for the grace */
	PLACE_CLOSED,                /* retired and empty */
};

struct place_cpu {
	uint8_t state;               /* enum place_state */
	uint64_t cw;                 /* the slab's count word at the last look */
	uint64_t since_ms;           /* CLOSING: since when (or the last change);
				      * OPEN: when it opened */
	uint64_t unwanted_ms;        /* OPEN: since when nobody may use it, or 0 */
};

int place_init(struct daemon *d, struct pool *p, pid_t creator);
void place_fini(struct pool *p);
bool place_is_open(const struct pool *p, uint32_t cpu);
uint32_t place_nr_open(const struct pool *p);
void place_open(struct pool *p, uint32_t cpu);
int place_attached(struct daemon *d, struct pool *p, pid_t pid);
void place_update(struct daemon *d, struct pool *p, bool now);
void place_topology_changed(struct daemon *d);
const char *place_state_name(const struct pool *p, uint32_t cpu);

#endif
