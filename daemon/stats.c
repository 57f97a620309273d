// SPDX-License-Identifier: MIT
/*
 * stats.c - what "pools" and "stats" report: a pool's summary, its
 * levels and counters with each CPU's refill latency histogram, and the
 * daemon's own figures.  Levels read from the shared memory are bounded by
 * what the daemon knows to be possible.
 */
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "conn.h"
#include "cpus.h"
#include "depot.h"
#include "place.h"
#include "pool.h"
#include "protocol.h"
#include "state.h"

/**
 * stats_lat_record() - count one refill request's latency, from its
 * crossing to its refill.
 * @cs: the CPU's stats.
 * @ns: nanoseconds.
 */
void stats_lat_record(struct pool_cpu_stats *cs, uint64_t ns)
{
	unsigned b = ns ? 64 - (unsigned)__builtin_clzll(ns) : 0;

	cs->lat_hist[b < POOL_LAT_BUCKETS ? b : POOL_LAT_BUCKETS - 1]++;
	cs->lat_n++;
	if (ns > cs->lat_max_ns)
		cs->lat_max_ns = ns;
}

/* The upper bound, in µs, of the bucket holding quantile @q (0..1). */
static double lat_quantile_us(const struct pool_cpu_stats *cs, double q)
{
	uint64_t want = (uint64_t)(q * (double)cs->lat_n + 0.5), seen = 0;

	if (!cs->lat_n)
		return 0;
	if (want < 1)
		want = 1;
	for (unsigned b = 0; b < POOL_LAT_BUCKETS; b++) {
		seen += cs->lat_hist[b];
		if (seen >= want) {
			double hi = b ? (double)(UINT64_C(1) << b) : 1;
			double max = (double)cs->lat_max_ns;
			return (hi < max ? hi : max) / 1000.0;
		}
	}
	return (double)cs->lat_max_ns / 1000.0;
}

/**
 * stats_pool_summary_json() - the pool's configuration, for "pools".
 * @p: the pool.
 *
 * Return: a new JSON object, or NULL on allocation failure.
 */
json_t *stats_pool_summary_json(const struct pool *p)
{
	char mode[8];

	snprintf(mode, sizeof(mode), "%04o", p->st->mode);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:s, s:I, s:I, s:s, s:b, s:I}",
			 PCP_F_NAME, p->cfg.name,
			 PCP_F_ELEM_SIZE, (json_int_t)p->cfg.elem_size,
			 PCP_F_ALIGN, (json_int_t)p->layout.elem_align,
			 PCP_F_MIN_NR, (json_int_t)p->cfg.min_nr,
			 PCP_F_LOW_WM, (json_int_t)p->cfg.low_watermark,
			 PCP_F_MAX_ELEMS, (json_int_t)p->v.max_elems,
			 "nr_cpus", (json_int_t)p->v.nr_cpus,
			 "clients", (int)p->nr_attached,
			 "state", p->quarantined ? "quarantined" : "ok",
			 PCP_F_OWNER, (json_int_t)p->st->uid, PCP_F_GROUP, (json_int_t)p->st->gid,
			 PCP_F_MODE, mode,
			 PCP_F_HUGEPAGES, p->layout.huge_page_size != 0,
			 "page_size", (json_int_t)(p->layout.huge_page_size ?
						   p->layout.huge_page_size : 4096));
}

/* Stats report what the shared memory says only within what the daemon
 * knows to be possible: a count of elements at most the published ones, a
 * counter clients keep never past INT64_MAX (no negative JSON number). */
static json_int_t elems_stat(const struct pool *p, uint64_t n)
{
	return (json_int_t)(n < p->published ? n : p->published);
}

static json_int_t counter_stat(uint64_t n)
{
	return n > INT64_MAX ? INT64_MAX : (json_int_t)n;
}

/**
 * stats_pool_json() - the pool's configuration, levels and counters.
 * @p: the pool.
 *
 * Return: a new JSON object, or NULL on allocation failure.
 */
json_t *stats_pool_json(struct pool *p)
{
	json_t *o = stats_pool_summary_json(p), *cpus = json_array();
	uint64_t reserved = 0, node_res[DEPOT_MAX_NODES] = { 0 };
	int node_cpus[DEPOT_MAX_NODES] = { 0 };

	if (!o || !cpus)
		goto fail;
	if (p->quarantined &&
	    json_object_set_new(o, "quarantine_reason", json_string(p->quarantine_why)) < 0)
		goto fail;
	for (uint32_t c = 0; c < p->v.nr_cpus; c++) {
		struct slab *s = slab_of(&p->v, c);
		uint32_t cnt = slab_count(&p->v, c);
		uint32_t in = slab_list_len(atomic_load_explicit(&s->inbox, memory_order_relaxed));
		uint32_t out = slab_list_len(atomic_load_explicit(&s->outbox, memory_order_relaxed));
		const struct pool_cpu_stats *cs = &p->cpu[c];
		uint64_t allocs, frees;

		slab_cpu_counts(&p->v, c, &allocs, &frees);
		json_t *e = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
				      " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      PCP_F_CPU, (int)c, "slab", (json_int_t)cnt,
				      "inbox", elems_stat(p, in), "outbox", elems_stat(p, out),
				      "level", elems_stat(p, (uint64_t)cnt + in),
				      PCP_F_MIN_NR, (json_int_t)p->cfg.min_nr,
				      "low_watermark", (json_int_t)p->cfg.low_watermark,
				      "limit", (json_int_t)pool_limit(p),
				      "allocs", counter_stat(allocs), "frees", counter_stat(frees),
				      "misses", counter_stat(atomic_load(&s->misses)),
				      "steals", counter_stat(atomic_load(&s->steals)),
				      "from_spare", counter_stat(atomic_load(&s->from_spare)),
				      "refill_requests", counter_stat(atomic_load(&s->refill_requests)),
				      "refill_coalesced", counter_stat(atomic_load(&s->refill_coalesced)),
				      "refill_quiet", counter_stat(atomic_load(&s->refill_quiet)),
				      "discarded", counter_stat(atomic_load(&s->discarded)),
				      "refills_served", (json_int_t)cs->served,
				      "refilled", (json_int_t)cs->refilled,
				      "drained", (json_int_t)cs->drained,
				      "trimmed", (json_int_t)cs->trimmed);
		json_t *lat = json_pack("{s:I, s:f, s:f, s:f}", "count", (json_int_t)cs->lat_n,
					"p50", lat_quantile_us(cs, 0.50),
					"p99", lat_quantile_us(cs, 0.99),
					"max", (double)cs->lat_max_ns / 1000.0);
		if (!e || !lat || json_object_set_new(e, "refill_latency_us", lat) < 0 ||
		    json_object_set_new(e, "reserve", json_string(place_state_name(p, c))) < 0 ||
		    json_object_set_new(e, "node", json_integer(depot_cpu_node(p, c))) < 0 ||
		    json_object_set_new(e, "withdrawn", json_integer((json_int_t)cs->withdrawn)) < 0 ||
		    json_array_append_new(cpus, e) < 0)
			goto fail;
		reserved += (uint64_t)elems_stat(p, (uint64_t)cnt + in);
		node_res[depot_cpu_node(p, c)] += (uint64_t)elems_stat(p, (uint64_t)cnt + in);
		node_cpus[depot_cpu_node(p, c)]++;
	}
	if (json_object_set_new(o, "cpus", cpus) < 0) {
		cpus = NULL;
		goto fail;
	}
	cpus = NULL;
	json_t *nodes = json_array();

	for (uint32_t k = 0; nodes && k < depot_nr_nodes(p); k++) {
		uint32_t sp = slab_list_len(atomic_load_explicit(slab_spare(&p->v, k),
								 memory_order_relaxed));

		if (json_array_append_new(nodes, json_pack("{s:i, s:i, s:I, s:I, s:I}", "node",
							   (int)k, "cpus", node_cpus[k], "reserved",
							   (json_int_t)node_res[k], "spare",
							   elems_stat(p, sp), "depot",
							   (json_int_t)depot_count_node(p, k))) < 0) {
			json_decref(nodes);
			nodes = NULL;
		}
	}
	if (!nodes || json_object_set_new(o, "nodes", nodes) < 0)
		goto fail;
	json_t *pl = json_pack("{s:I, s:I, s:I, s:I}", "open", (json_int_t)place_nr_open(p),
			       "opened", (json_int_t)p->cpus_opened,
			       "closed", (json_int_t)p->cpus_closed,
			       "withdrawn", (json_int_t)p->withdrawn);
	if (!pl || json_object_set_new(o, "placement", pl) < 0)
		goto fail;
	uint32_t nr_holders = 0, hw;
	const struct pool_holder *h = state_holders(p, &hw);
	for (uint32_t i = 0; i < hw; i++)
		nr_holders += h[i].id != 0;
	json_t *rc = json_pack("{s:I, s:I, s:I, s:i, s:I, s:I, s:I}",
			       "reclaimed", (json_int_t)p->reclaimed,
			       "orphans", (json_int_t)p->orphans,
			       "duplicates", (json_int_t)p->duplicates,
			       "dead_clients_pending", (int)p->nr_dead,
			       "next_client_id", (json_int_t)p->st->next_owner,
			       "holders", (json_int_t)nr_holders,
			       "holders_max", (json_int_t)p->st->holders_cap);
	if (!rc || json_object_set_new(o, "reclaim", rc) < 0)
		goto fail;
	json_t *att = json_array();
	for (uint32_t i = 0; att && i < p->nr_attached; i++)
		json_array_append_new(att, json_pack("{s:I, s:i, s:I}",
						     PCP_F_CLIENT_ID, (json_int_t)p->clients[i].id,
						     "pid", (int)p->clients[i].pid,
						     "uid", (json_int_t)p->clients[i].uid));
	if (!att || json_object_set_new(o, "attached", att) < 0)
		goto fail;
	uint64_t spare = 0;

	for (uint32_t k = 0; k < SLAB_MAX_NODES; k++)
		spare += slab_list_len(atomic_load_explicit(slab_spare(&p->v, k),
							    memory_order_relaxed));
	json_t *n = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			      " s:I}",
			      "polling", p->polling,
			      "reserved", elems_stat(p, reserved),
			      "spare", elems_stat(p, spare),
			      "spare_stocked", (json_int_t)p->spare_stocked,
			      "polled", (json_int_t)p->polled,
			      "published", (json_int_t)p->published,
			      "grown_bytes", (json_int_t)slab_bytes_for(&p->layout, p->published),
			      "depot", (json_int_t)p->st->depot_n,
			      "refill_messages", (json_int_t)p->requests,
			      "bad_messages", (json_int_t)p->bad_messages,
			      "refills", (json_int_t)p->refills,
			      "refilled", (json_int_t)p->refilled,
			      "drained", (json_int_t)p->drained,
			      "trimmed", (json_int_t)p->trimmed);
	if (!n || json_object_update(o, n) < 0) {
		json_decref(n);
		goto fail;
	}
	json_decref(n);
	return o;
fail:
	json_decref(cpus);
	json_decref(o);
	return NULL;
}

/**
 * stats_daemon_json() - the daemon's figures: version, uptime, clients,
 * pools, requests and the errors replied by code.
 * @d: daemon.
 *
 * Return: a new JSON object, or NULL on allocation failure.
 */
json_t *stats_daemon_json(struct daemon *d)
{
	struct timespec now;
	json_t *errs = json_object();

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < PCP_NR_ERRNAMES && errs; i++) {
		uint64_t n = d->errors[i] + (pcp_errnames[i].err == EIO ? d->errors_other : 0);
		if (n)
			json_object_set_new(errs, pcp_errnames[i].name, json_integer((json_int_t)n));
	}
	return json_pack("{s:s, s:i, s:I, s:i, s:i, s:i, s:i, s:I, s:I, s:o*}",
			 PCP_F_VERSION, PCPUPOOLD_VERSION, "protocol", PCP_PROTO_VERSION,
			 "uptime_s", (json_int_t)(now.tv_sec - d->started.tv_sec),
			 "clients", (int)conn_count(d), "pools", (int)d->nr_pools,
			 "nr_cpus", (int)d->nr_cpus,
			 "cpus_online", d->cpus ? (int)cpus_count(&d->cpus->online, d->nr_cpus) :
						 (int)d->nr_cpus,
			 "cpu_hotplug_events", (json_int_t)(d->cpus ? d->cpus->changes : 0),
			 "requests", (json_int_t)d->requests, "errors", errs);
}
