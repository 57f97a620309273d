// SPDX-License-Identifier: MIT
/*
 * print.c - what status, pools and stats print: for humans, the daemon's
 * fields as text and tables; for scripts (--json), the daemon's stats
 * object re-emitted pretty-printed with sorted keys.  Strings that come
 * from the daemon go through print_safe(), so that a hostile daemon cannot
 * send escape sequences to the operator's terminal.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "print.h"
#include "stats.h"
#include "table.h"

/* @s in @buf (@n bytes) with anything but printable ASCII replaced by
 * '?': daemon strings never reach a terminal raw. */
const char *print_safe(const char *s, char *buf, size_t n)
{
	size_t i;

	if (!s)
		return "?";
	for (i = 0; s[i] && i + 1 < n; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* @s seconds as HH:MM:SS, after the days if any ("2d 03:04:05"). */
void print_duration(char *buf, size_t n, json_int_t s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, n, "%lldd %02lld:%02lld:%02lld", (long long)(s / 86400),
			 (long long)(s / 3600 % 24), (long long)(s / 60 % 60), (long long)(s % 60));
	else
		snprintf(buf, n, "%02lld:%02lld:%02lld", (long long)(s / 3600),
			 (long long)(s / 60 % 60), (long long)(s % 60));
}

/* ------------------------------------------------------------------ */
/* human output                                                        */

void print_status(json_t *stats)
{
	json_t *d = json_object_get(stats, "daemon"), *errs = json_object_get(d, "errors");
	char b1[PRINT_SAFE_MAX + 1], up[64];
	const char *key;
	json_t *v;
	bool any = false;

	print_duration(up, sizeof(up), stats_int(d, "uptime_s"));
	printf("pcpupoold %s (protocol %lld)\n",
	       print_safe(stats_str(d, "version"), b1, sizeof(b1)),
	       (long long)stats_int(d, "protocol"));
	printf("uptime:    %s (%lld s)\n", up, (long long)stats_int(d, "uptime_s"));
	printf("clients:   %lld (this one included)\n", (long long)stats_int(d, "clients"));
	printf("pools:     %lld\n", (long long)stats_int(d, "pools"));
	printf("cpus:      %lld\n", (long long)stats_int(d, "nr_cpus"));
	printf("requests:  %lld\n", (long long)stats_int(d, "requests"));
	printf("errors:   ");
	json_object_foreach(errs, key, v) {
		printf("%s %s %lld", any ? "," : "", print_safe(key, b1, sizeof(b1)),
		       (long long)json_integer_value(v));
		any = true;
	}
	printf("%s\n", any ? "" : " none");
}

void print_pools(json_t *stats)
{
	struct table t = {
		.ncols = 10,
		.head = { "NAME", "ELEM_SIZE", "ALIGN", "MIN_NR", "LOW_WM", "MAX_ELEMS",
			  "CPUS", "CLIENTS", "RESERVED", "STATE" },
		.left = { [0] = true, [9] = true },
	};
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(stats, "pools"), i, p) {
		char (*row)[TABLE_CELL] = table_row(&t);

		if (!row)
			break;
		print_safe(stats_str(p, "name"), row[0], TABLE_CELL);
		table_cell_int(row[1], p, "elem_size");
		table_cell_int(row[2], p, "align");
		table_cell_int(row[3], p, "min_nr");
		table_cell_int(row[4], p, "low_watermark");
		table_cell_int(row[5], p, "max_elems");
		table_cell_int(row[6], p, "nr_cpus");
		table_cell_int(row[7], p, "clients");
		table_cell_int(row[8], p, "reserved");
		print_safe(stats_str(p, "state"), row[9], TABLE_CELL);
	}
	if (t.nrows)
		table_print(&t, stdout, "");
	else
		printf("no pools\n");
	table_free(&t);
}

/* The header lines of one pool, for stats. */
static void print_pool_head(json_t *p)
{
	char b1[PRINT_SAFE_MAX + 1], b2[PRINT_SAFE_MAX + 1];

	printf("pool %s: %lld-byte elements (align %lld), min_nr %lld, low watermark %lld, "
	       "max_elems %lld, %lld CPUs, %lld clients, %s\n",
	       print_safe(stats_str(p, "name"), b1, sizeof(b1)),
	       (long long)stats_int(p, "elem_size"),
	       (long long)stats_int(p, "align"), (long long)stats_int(p, "min_nr"),
	       (long long)stats_int(p, "low_watermark"), (long long)stats_int(p, "max_elems"),
	       (long long)stats_int(p, "nr_cpus"), (long long)stats_int(p, "clients"),
	       print_safe(stats_str(p, "state"), b2, sizeof(b2)));
	printf("  elements: %lld reserved, %lld spare, %lld published (%lld bytes%s), "
	       "%lld in the depot\n",
	       (long long)stats_int(p, "reserved"), (long long)stats_int(p, "spare"),
	       (long long)stats_int(p, "published"), (long long)stats_int(p, "grown_bytes"),
	       json_is_true(json_object_get(p, "hugepages")) ? ", on 2 MiB hugepages" : "",
	       (long long)stats_int(p, "depot"));
	json_t *pl = json_object_get(p, "placement"), *nd;
	size_t k;

	printf("  cpus:     %lld of %lld hold a reserve (%lld opened, %lld closed, %lld "
	       "elements withdrawn)\n", (long long)stats_int(pl, "open"),
	       (long long)stats_int(p, "nr_cpus"), (long long)stats_int(pl, "opened"),
	       (long long)stats_int(pl, "closed"), (long long)stats_int(pl, "withdrawn"));
	if (json_array_size(json_object_get(p, "nodes")) > 1) {
		printf("  nodes:   ");
		json_array_foreach(json_object_get(p, "nodes"), k, nd)
			printf(" %lld: %lld reserved, %lld in the depot;",
			       (long long)stats_int(nd, "node"), (long long)stats_int(nd, "reserved"),
			       (long long)stats_int(nd, "depot"));
		putchar('\n');
	}
	printf("  daemon:   %lld refill messages (%lld bad), %lld requests polled%s, "
	       "%lld refills, %lld refilled, %lld drained, %lld trimmed\n",
	       (long long)stats_int(p, "refill_messages"), (long long)stats_int(p, "bad_messages"),
	       (long long)stats_int(p, "polled"),
	       json_is_true(json_object_get(p, "polling")) ? " (polling now)" : "",
	       (long long)stats_int(p, "refills"), (long long)stats_int(p, "refilled"),
	       (long long)stats_int(p, "drained"), (long long)stats_int(p, "trimmed"));
}

void print_stats(json_t *stats)
{
	static const char *const sums[] = { "allocs", "frees", "misses", "steals",
		"refill_requests", "refill_coalesced", "refills_served", "trimmed" };
	bool first = true;
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(stats, "pools"), i, p) {
		struct table t = {
			.ncols = 15,
			.head = { "CPU", "LEVEL", "MIN_NR", "LOW_WM", "ALLOCS", "FREES",
				  "MISSES", "STEALS", "REQUESTS", "COALESCED", "SERVED",
				  "TRIMMED", "P50_US", "P99_US", "MAX_US" },
		};
		json_int_t total[sizeof(sums) / sizeof(sums[0])] = { 0 }, level = 0;
		double max_us = 0;
		char (*row)[TABLE_CELL];
		json_t *c;
		size_t j;

		if (!first)
			putchar('\n');
		first = false;
		print_pool_head(p);
		json_array_foreach(json_object_get(p, "cpus"), j, c) {
			json_t *lat = json_object_get(c, "refill_latency_us");

			row = table_row(&t);
			if (!row)
				break;
			table_cell_int(row[0], c, "cpu");
			table_cell_int(row[1], c, "level");
			table_cell_int(row[2], c, "min_nr");
			table_cell_int(row[3], c, "low_watermark");
			for (size_t k = 0; k < sizeof(sums) / sizeof(sums[0]); k++) {
				table_cell_int(row[4 + k], c, sums[k]);
				total[k] += stats_int(c, sums[k]);
			}
			table_cell_us(row[12], lat, "p50");
			table_cell_us(row[13], lat, "p99");
			table_cell_us(row[14], lat, "max");
			level += stats_int(c, "level");
			if (stats_num(lat, "max") > max_us)
				max_us = stats_num(lat, "max");
		}
		row = t.nrows > 1 ? table_row(&t) : NULL;
		if (row) {
			snprintf(row[0], TABLE_CELL, "all");
			snprintf(row[1], TABLE_CELL, "%lld", (long long)level);
			for (int k = 2; k < 4; k++)
				snprintf(row[k], TABLE_CELL, "-");
			for (size_t k = 0; k < sizeof(sums) / sizeof(sums[0]); k++)
				snprintf(row[4 + k], TABLE_CELL, "%lld", (long long)total[k]);
			snprintf(row[12], TABLE_CELL, "-");
			snprintf(row[13], TABLE_CELL, "-");
			snprintf(row[14], TABLE_CELL, "%.1f", max_us);
		}
		table_print(&t, stdout, "  ");
		table_free(&t);
	}
	if (first)
		printf("no pools\n");
}

/* ------------------------------------------------------------------ */
/* JSON output                                                         */

/* Indented, keys sorted; reals with 15 significant digits, which keeps
 * every microsecond latency exact (ns resolution) without the binary
 * noise of 17 ("8305.0900000000001"). */
int print_json(json_t *o)
{
	if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) < 0)
		return -EIO;
	putchar('\n');
	return 0;
}

/* {"schema":N,"pools":[..]} with each pool's configuration only: the
 * fields of the daemon's "pools" command. */
json_t *print_pools_json(json_t *stats)
{
	static const char *const keys[] = { "name", "elem_size", "align", "min_nr",
		"low_watermark", "max_elems", "nr_cpus", "clients", "state", "reserved",
		"hugepages", "page_size" };
	json_t *out = json_pack("{s:O, s:[]}", "schema", json_object_get(stats, "schema"),
				"pools");
	json_t *arr = json_object_get(out, "pools"), *p;
	size_t i;

	json_array_foreach(json_object_get(stats, "pools"), i, p) {
		json_t *q = json_object();

		for (size_t k = 0; q && k < sizeof(keys) / sizeof(keys[0]); k++)
			if (json_object_get(p, keys[k]))
				json_object_set(q, keys[k], json_object_get(p, keys[k]));
		if (!q || json_array_append_new(arr, q) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}
