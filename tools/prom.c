// SPDX-License-Identifier: MIT
/*
 * prom.c - pcpupoolctl --prometheus: the daemon's stats in the Prometheus
 * text exposition format 0.0.4, for node_exporter's textfile collector.
 * The families drawn straight from a JSON field are tables, one per object
 * (daemon, pool, CPU), with their type and HELP text.  Each family is
 * written whole: HELP and TYPE once, then a sample per pool (and CPU).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "prom.h"
#include "stats.h"

enum prom_type { PROM_GAUGE, PROM_COUNTER };

/**
 * struct prom_metric - one metric family drawn from one JSON field.
 * @key: the field of the daemon, pool or CPU object.
 * @sub: a field inside @key's object, or NULL.
 * @name: the family's name (counters end in _total).
 * @type: gauge or counter.
 * @scale: multiplier (µs to seconds), 0 for none.
 * @help: the HELP text.
 */
struct prom_metric {
	const char *key;
	const char *sub;
	const char *name;
	enum prom_type type;
	double scale;
	const char *help;
};

static const struct prom_metric prom_daemon[] = {
	{ "uptime_s", NULL, "pcpupool_daemon_uptime_seconds", PROM_GAUGE, 0,
	  "Seconds since pcpupoold started." },
	{ "clients", NULL, "pcpupool_daemon_clients", PROM_GAUGE, 0,
	  "Control connections open, the scraping one included." },
	{ "pools", NULL, "pcpupool_daemon_pools", PROM_GAUGE, 0,
	  "Pools the daemon serves." },
	{ "nr_cpus", NULL, "pcpupool_daemon_cpus", PROM_GAUGE, 0,
	  "CPUs the daemon keeps a reserve for in each pool." },
	{ "requests", NULL, "pcpupool_daemon_requests_total", PROM_COUNTER, 0,
	  "Control requests received." },
	{ "cpus_online", NULL, "pcpupool_daemon_cpus_online", PROM_GAUGE, 0,
	  "CPUs online now." },
	{ "cpu_hotplug_events", NULL, "pcpupool_daemon_cpu_hotplug_events_total", PROM_COUNTER, 0,
	  "Times the daemon found the online CPUs changed." },
};

static const struct prom_metric prom_pool[] = {
	{ "elem_size", NULL, "pcpupool_pool_element_size_bytes", PROM_GAUGE, 0,
	  "Element size the pool was created with." },
	{ "align", NULL, "pcpupool_pool_element_align_bytes", PROM_GAUGE, 0,
	  "Element alignment." },
	{ "min_nr", NULL, "pcpupool_pool_min_nr", PROM_GAUGE, 0,
	  "Elements each CPU's reserve is refilled up to." },
	{ "low_watermark", NULL, "pcpupool_pool_low_watermark", PROM_GAUGE, 0,
	  "Reserve level under which a CPU asks for an asynchronous refill." },
	{ "max_elems", NULL, "pcpupool_pool_max_elements", PROM_GAUGE, 0,
	  "Elements the pool may grow to." },
	{ "nr_cpus", NULL, "pcpupool_pool_cpus", PROM_GAUGE, 0,
	  "Per-CPU reserves of the pool." },
	{ "clients", NULL, "pcpupool_pool_clients", PROM_GAUGE, 0,
	  "Clients attached to the pool." },
	{ "reserved", NULL, "pcpupool_pool_reserved_elements", PROM_GAUGE, 0,
	  "Elements in the per-CPU reserves (slabs and inboxes)." },
	{ "published", NULL, "pcpupool_pool_published_elements", PROM_GAUGE, 0,
	  "Elements backed by shared memory so far." },
	{ "grown_bytes", NULL, "pcpupool_pool_grown_bytes", PROM_GAUGE, 0,
	  "Bytes of shared memory backing the published elements." },
	{ "page_size", NULL, "pcpupool_pool_page_size_bytes", PROM_GAUGE, 0,
	  "Size of the pages of the pool's shared memory (2 MiB on hugepages)." },
	{ "spare", NULL, "pcpupool_pool_spare_elements", PROM_GAUGE, 0,
	  "Free elements on the pool's spare list, taken by a reserve that crosses its low watermark." },
	{ "spare_stocked", NULL, "pcpupool_pool_spare_stocked_elements_total", PROM_COUNTER, 0,
	  "Elements moved from the depot to the spare." },
	{ "depot", NULL, "pcpupool_pool_depot_elements", PROM_GAUGE, 0,
	  "Free elements held by the daemon, outside every reserve." },
	{ "refill_messages", NULL, "pcpupool_pool_refill_messages_total", PROM_COUNTER, 0,
	  "Refill request messages received from clients." },
	{ "polled", NULL, "pcpupool_pool_polled_requests_total", PROM_COUNTER, 0,
	  "Raised refill requests the daemon's poll served." },
	{ "bad_messages", NULL, "pcpupool_pool_bad_messages_total", PROM_COUNTER, 0,
	  "Malformed refill messages ignored." },
	{ "refills", NULL, "pcpupool_pool_refills_total", PROM_COUNTER, 0,
	  "Refills that moved elements into a reserve." },
	{ "refilled", NULL, "pcpupool_pool_refilled_elements_total", PROM_COUNTER, 0,
	  "Elements moved from the depot into reserves." },
	{ "drained", NULL, "pcpupool_pool_drained_elements_total", PROM_COUNTER, 0,
	  "Elements taken back from outboxes (spilled by frees)." },
	{ "trimmed", NULL, "pcpupool_pool_trimmed_elements_total", PROM_COUNTER, 0,
	  "Elements taken back from inboxes (reserves far above min_nr)." },
	{ "placement", "open", "pcpupool_pool_cpus_open", PROM_GAUGE, 0,
	  "CPUs holding a reserve: online, and usable by an attached process." },
	{ "placement", "opened", "pcpupool_pool_cpus_opened_total", PROM_COUNTER, 0,
	  "Times a CPU was opened after the pool's creation." },
	{ "placement", "closed", "pcpupool_pool_cpus_closed_total", PROM_COUNTER, 0,
	  "Times a CPU was closed (offline, or no attached process may run there)." },
	{ "placement", "withdrawn", "pcpupool_pool_withdrawn_elements_total", PROM_COUNTER, 0,
	  "Elements taken back from the slabs of closed CPUs." },
};

static const struct prom_metric prom_node[] = {
	{ "cpus", NULL, "pcpupool_node_cpus", PROM_GAUGE, 0,
	  "The pool's CPUs on this NUMA node." },
	{ "reserved", NULL, "pcpupool_node_reserved_elements", PROM_GAUGE, 0,
	  "Elements in the reserves of the node's CPUs." },
	{ "depot", NULL, "pcpupool_node_depot_elements", PROM_GAUGE, 0,
	  "Free elements of this node held by the daemon." },
};

static const struct prom_metric prom_cpu[] = {
	{ "level", NULL, "pcpupool_cpu_level_elements", PROM_GAUGE, 0,
	  "Elements in the CPU's reserve (slab plus inbox)." },
	{ "slab", NULL, "pcpupool_cpu_slab_elements", PROM_GAUGE, 0,
	  "Elements in the CPU's slab." },
	{ "inbox", NULL, "pcpupool_cpu_inbox_elements", PROM_GAUGE, 0,
	  "Elements refilled into the CPU's inbox, not yet in its slab." },
	{ "outbox", NULL, "pcpupool_cpu_outbox_elements", PROM_GAUGE, 0,
	  "Elements spilled into the CPU's outbox, not yet taken back." },
	{ "low_watermark", NULL, "pcpupool_cpu_low_watermark", PROM_GAUGE, 0,
	  "The CPU's low watermark." },
	{ "limit", NULL, "pcpupool_cpu_limit_elements", PROM_GAUGE, 0,
	  "Slab level at which a free spills to the outbox." },
	{ "allocs", NULL, "pcpupool_cpu_allocs_total", PROM_COUNTER, 0,
	  "Elements allocated from the CPU's slab." },
	{ "frees", NULL, "pcpupool_cpu_frees_total", PROM_COUNTER, 0,
	  "Elements freed into the CPU's slab." },
	{ "misses", NULL, "pcpupool_cpu_misses_total", PROM_COUNTER, 0,
	  "Allocations on this CPU that found every reachable reserve empty." },
	{ "steals", NULL, "pcpupool_cpu_steals_total", PROM_COUNTER, 0,
	  "Times another CPU took this CPU's inbox." },
	{ "from_spare", NULL, "pcpupool_cpu_from_spare_elements_total", PROM_COUNTER, 0,
	  "Elements taken from the pool's spare onto this CPU's inbox." },
	{ "refill_requests", NULL, "pcpupool_cpu_refill_requests_total", PROM_COUNTER, 0,
	  "Asynchronous refill requests sent for this CPU." },
	{ "refill_coalesced", NULL, "pcpupool_cpu_refill_coalesced_total", PROM_COUNTER, 0,
	  "Low-watermark crossings that found a request already pending." },
	{ "refill_quiet", NULL, "pcpupool_cpu_refill_quiet_total", PROM_COUNTER, 0,
	  "Refill requests raised for the daemon's poll, with no message sent." },
	{ "discarded", NULL, "pcpupool_cpu_discarded_total", PROM_COUNTER, 0,
	  "Slots a pop dropped for not holding an element (bad frees)." },
	{ "refills_served", NULL, "pcpupool_cpu_refills_served_total", PROM_COUNTER, 0,
	  "Refills of this CPU's reserve that moved elements." },
	{ "refilled", NULL, "pcpupool_cpu_refilled_elements_total", PROM_COUNTER, 0,
	  "Elements moved into this CPU's inbox." },
	{ "drained", NULL, "pcpupool_cpu_drained_elements_total", PROM_COUNTER, 0,
	  "Elements taken back from this CPU's outbox." },
	{ "trimmed", NULL, "pcpupool_cpu_trimmed_elements_total", PROM_COUNTER, 0,
	  "Elements taken back from this CPU's inbox." },
	{ "withdrawn", NULL, "pcpupool_cpu_withdrawn_elements_total", PROM_COUNTER, 0,
	  "Elements taken back from this CPU's slab when it closed." },
	{ "refill_latency_us", "count", "pcpupool_cpu_refills_timed_total", PROM_COUNTER, 0,
	  "Refill requests whose latency (request to refill) was measured." },
	{ "refill_latency_us", "p50", "pcpupool_cpu_refill_latency_p50_seconds", PROM_GAUGE,
	  1e-6, "Median refill latency (upper bound of its power-of-two bucket)." },
	{ "refill_latency_us", "p99", "pcpupool_cpu_refill_latency_p99_seconds", PROM_GAUGE,
	  1e-6, "99th percentile refill latency (upper bound of its bucket)." },
	{ "refill_latency_us", "max", "pcpupool_cpu_refill_latency_max_seconds", PROM_GAUGE,
	  1e-6, "Largest refill latency measured." },
};

/* Escape a label value: backslash, double quote and newline. */
static void prom_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* Escape HELP text: backslash and newline. */
static void prom_help_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/**
 * prom_sample() - one sample line, after its family's HELP and TYPE if
 * this is the family's first sample.
 * @f: output.
 * @name: family name.
 * @type: family type.
 * @help: family HELP text.
 * @started: whether the family's header is out; set here.
 * @labels: label name, value, name, value, ..., NULL.
 * @v: the value, a JSON number; anything else writes nothing.
 * @scale: multiplier, 0 for none.
 */
static void prom_sample(FILE *f, const char *name, enum prom_type type, const char *help,
			bool *started, const char *const *labels, json_t *v, double scale)
{
	if (!json_is_number(v))
		return;
	if (!*started) {
		fprintf(f, "# HELP %s ", name);
		prom_help_text(f, help);
		fprintf(f, "\n# TYPE %s %s\n", name, type == PROM_COUNTER ? "counter" : "gauge");
		*started = true;
	}
	fputs(name, f);
	for (int i = 0; labels && labels[i]; i += 2) {
		fprintf(f, "%s%s=\"", i ? "," : "{", labels[i]);
		prom_label_value(f, labels[i + 1]);
		fputc('"', f);
	}
	if (labels && labels[0])
		fputc('}', f);
	if (json_is_integer(v) && !scale)
		fprintf(f, " %lld\n", (long long)json_integer_value(v));
	else
		fprintf(f, " %.9g\n", json_number_value(v) * (scale ? scale : 1));
}

static json_t *prom_value(json_t *o, const struct prom_metric *m)
{
	json_t *v = json_object_get(o, m->key);

	return m->sub ? json_object_get(v, m->sub) : v;
}

/* The pcpupool_daemon_* families, from the daemon object @d. */
void prom_daemon_out(FILE *f, json_t *d)
{
	json_t *errs = json_object_get(d, "errors"), *v, *one = json_integer(1);
	char proto[32];
	const char *key;
	bool started = false;

	snprintf(proto, sizeof(proto), "%lld", (long long)stats_int(d, "protocol"));
	prom_sample(f, "pcpupool_daemon_info", PROM_GAUGE,
		    "Version of pcpupoold and of its protocol; always 1.", &started,
		    (const char *const[]){ "version", stats_str(d, "version"), "protocol", proto,
					   NULL }, one, 0);
	json_decref(one);
	for (size_t i = 0; i < sizeof(prom_daemon) / sizeof(prom_daemon[0]); i++) {
		const struct prom_metric *m = &prom_daemon[i];

		started = false;
		prom_sample(f, m->name, m->type, m->help, &started, NULL, prom_value(d, m),
			    m->scale);
	}
	started = false;
	json_object_foreach(errs, key, v)
		prom_sample(f, "pcpupool_daemon_errors_total", PROM_COUNTER,
			    "Error replies sent, by error code.", &started,
			    (const char *const[]){ "code", key, NULL }, v, 0);
}

/* The families @ms of the members of each pool's array @arr (its CPUs,
 * its NUMA nodes), labelled pool and @label (the member's @label field). */
static void prom_members(FILE *f, json_t *pools, const char *arr, const char *label,
			 const struct prom_metric *ms, size_t n)
{
	json_t *p, *c;
	size_t i, j;

	for (size_t k = 0; k < n; k++) {
		bool started = false;

		json_array_foreach(pools, i, p) {
			json_array_foreach(json_object_get(p, arr), j, c) {
				char id[32];

				snprintf(id, sizeof(id), "%lld", (long long)stats_int(c, label));
				prom_sample(f, ms[k].name, ms[k].type, ms[k].help, &started,
					    (const char *const[]){ "pool", stats_str(p, "name"),
								   label, id, NULL },
					    prom_value(c, &ms[k]), ms[k].scale);
			}
		}
	}
}

/* The pcpupool_pool_* families of @pools, and with @cpus the
 * pcpupool_cpu_* ones of their CPUs. */
void prom_pools_out(FILE *f, json_t *pools, bool cpus)
{
	bool started;
	json_t *p, *c;
	size_t i, j;

	for (size_t k = 0; k < sizeof(prom_pool) / sizeof(prom_pool[0]); k++) {
		const struct prom_metric *m = &prom_pool[k];

		started = false;
		json_array_foreach(pools, i, p)
			prom_sample(f, m->name, m->type, m->help, &started,
				    (const char *const[]){ "pool", stats_str(p, "name"), NULL },
				    prom_value(p, m), m->scale);
	}
	started = false;
	json_array_foreach(pools, i, p) {
		json_t *q = json_integer(strcmp(stats_str(p, "state"), "ok") != 0);

		prom_sample(f, "pcpupool_pool_quarantined", PROM_GAUGE,
			    "1 if the pool is quarantined (corrupt shared memory), else 0.",
			    &started, (const char *const[]){ "pool", stats_str(p, "name"), NULL },
			    q, 0);
		json_decref(q);
	}
	started = false;
	json_array_foreach(pools, i, p) {
		json_t *q = json_integer(json_is_true(json_object_get(p, "polling")));

		prom_sample(f, "pcpupool_pool_polling", PROM_GAUGE,
			    "1 while the daemon polls the pool's refill request flags, else 0.",
			    &started, (const char *const[]){ "pool", stats_str(p, "name"), NULL },
			    q, 0);
		json_decref(q);
	}
	prom_members(f, pools, "nodes", "node", prom_node,
		     sizeof(prom_node) / sizeof(prom_node[0]));
	if (!cpus)
		return;
	started = false;
	json_array_foreach(pools, i, p) {
		json_array_foreach(json_object_get(p, "cpus"), j, c) {
			char cpu[32];
			json_t *o = json_integer(strcmp(stats_str(c, "reserve"), "open") == 0);

			snprintf(cpu, sizeof(cpu), "%lld", (long long)stats_int(c, "cpu"));
			prom_sample(f, "pcpupool_cpu_open", PROM_GAUGE,
				    "1 while the CPU holds a reserve for the pool, else 0.", &started,
				    (const char *const[]){ "pool", stats_str(p, "name"), "cpu", cpu,
							   NULL }, o, 0);
			json_decref(o);
		}
	}
	prom_members(f, pools, "cpus", "cpu", prom_cpu, sizeof(prom_cpu) / sizeof(prom_cpu[0]));
}
