// SPDX-License-Identifier: MIT
/*
 * stats.c - the daemon's stats object, {"schema":..,"daemon":{..},
 * "pools":[..]} (docs/stats.md): fetched through the public library with
 * its outer shape checked, and its fields read with a default for what is
 * missing or of another type.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <pcpupool.h>

#include "stats.h"

/**
 * stats_get() - the daemon's "stats" object.
 * @c: the connection.
 * @pool: one pool, or NULL for all.
 * @ret_stats: the object {"schema":..,"daemon":{..},"pools":[..]}; the
 *             caller drops it with json_decref().
 *
 * Return: 0, or -errno (-EPROTO for a reply that is not what
 * pcpupool(3) promises).
 */
int stats_get(struct pcpupool_client *c, const char *pool, json_t **ret_stats)
{
	json_t *reply, *stats;
	json_error_t je;
	char *s;

	s = pcpupool_stats_json(c, pool);
	if (!s)
		return -errno;
	reply = json_loads(s, JSON_REJECT_DUPLICATES, &je);
	free(s);
	stats = json_object_get(reply, "stats");
	if (!json_is_object(stats) || !json_is_integer(json_object_get(stats, "schema")) ||
	    !json_is_object(json_object_get(stats, "daemon")) ||
	    !json_is_array(json_object_get(stats, "pools"))) {
		json_decref(reply);
		return -EPROTO;
	}
	json_incref(stats);
	json_decref(reply);
	*ret_stats = stats;
	return 0;
}

/* A field of @o: 0 (a string "?") when it is missing or of another type. */
json_int_t stats_int(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

double stats_num(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

const char *stats_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

/* The pool named @name in the array @pools, or NULL. */
json_t *stats_pool(json_t *pools, const char *name)
{
	size_t i;
	json_t *p;

	json_array_foreach(pools, i, p)
		if (!strcmp(stats_str(p, "name"), name))
			return p;
	return NULL;
}
