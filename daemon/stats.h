/* SPDX-License-Identifier: MIT */
/*
 * stats.h - the pools' and the daemon's stats, and the refill latency
 * histogram behind them.
 */
#ifndef PCPUPOOLD_STATS_H
#define PCPUPOOLD_STATS_H

#include <jansson.h>
#include <stdint.h>

struct daemon;
struct pool;
struct pool_cpu_stats;

void stats_lat_record(struct pool_cpu_stats *cs, uint64_t ns);
json_t *stats_pool_summary_json(const struct pool *p);
json_t *stats_pool_json(struct pool *p);
json_t *stats_daemon_json(struct daemon *d);

#endif
