/* SPDX-License-Identifier: MIT */
/*
 * refill.h - the refill engine: the depot, refills and drains, the spare
 * list, the sweep and the refill poll.
 */
#ifndef PCPUPOOLD_REFILL_H
#define PCPUPOOLD_REFILL_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct pool;

int refill_cpu(struct pool *p, uint32_t cpu);
int refill_all(struct pool *p, uint64_t *ret_moved);
int refill_set_reserve(struct pool *p, uint32_t min_nr, uint32_t low_watermark);
int refill_grow(struct pool *p, uint64_t want);
int refill_depot_put(struct pool *p, const uint32_t *idx, uint32_t n, uint32_t cpu);
int refill_take_list(struct pool *p, uint32_t cpu, bool inbox, uint64_t *counter);
int refill_take_spare(struct pool *p);
void refill_sweep(struct pool *p);
void refill_poll_heat(struct daemon *d, struct pool *p);
void refill_poll_tick(struct daemon *d);
uint32_t refill_poll_stop(struct pool *p);

#endif
