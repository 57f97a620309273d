/* SPDX-License-Identifier: MIT */
/*
 * stats.h - the daemon's stats object as pcpupoolctl reads it: fetched
 * with pcpupool_stats_json(), its shape checked, its fields read.
 */
#ifndef PCPUPOOLCTL_STATS_H
#define PCPUPOOLCTL_STATS_H

#include <jansson.h>

struct pcpupool_client;

#define STATS_SCHEMA 1          /* the "schema" this tool understands */

int stats_get(struct pcpupool_client *c, const char *pool, json_t **ret_stats);
json_int_t stats_int(json_t *o, const char *key);
double stats_num(json_t *o, const char *key);
const char *stats_str(json_t *o, const char *key);
json_t *stats_pool(json_t *pools, const char *name);

#endif
