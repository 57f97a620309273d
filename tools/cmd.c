// SPDX-License-Identifier: MIT
/*
 * cmd.c - pcpupoolctl's commands but top and help.  status, pools and stats
 * fetch the daemon's stats and print them in the chosen format (print.c,
 * prom.c); create, resize, refill and destroy are pcpupool_create_opts(),
 * pcpupool_resize(), pcpupool_refill() and pcpupool_destroy() on a pool
 * opened for the occasion.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pcpupool.h>

#include "args.h"
#include "cmd.h"
#include "print.h"
#include "prom.h"

#define CMD_MAX_MIN_NR       (1u << 20) /* pcpupool_create(3) limits */
#define CMD_MAX_ELEM_SIZE    (1u << 20)
#define CMD_MAX_ALIGN        4096u

/* create's options */
enum { OPT_SIZE = OPT_OWN, OPT_MIN_NR, OPT_ALIGN, OPT_MAX_ELEMS, OPT_LOW_WM, OPT_HUGEPAGES };

/* ------------------------------------------------------------------ */
/* status, pools, stats                                                */

/* The three read-only commands: fetch, then print in the chosen format. */
static int cmd_show(struct ctl *ctl, const char *pool, void (*human)(json_t *stats),
		    bool daemon, bool pools, bool cpus)
{
	json_t *stats, *out = NULL;
	int rc;

	if (pool && (rc = args_pool(ctl, pool)))
		return rc;
	rc = ctl_connect(ctl);
	if (rc)
		return rc;
	rc = ctl_stats(ctl, pool, ctl->fmt != CTL_FMT_JSON, &stats);
	if (rc)
		return rc;
	switch (ctl->fmt) {
	case CTL_FMT_HUMAN:
		human(stats);
		break;
	case CTL_FMT_JSON:
		if (cpus)
			out = json_incref(stats);
		else if (pools)
			out = print_pools_json(stats);
		else
			out = json_pack("{s:O, s:O}", "schema", json_object_get(stats, "schema"),
					"daemon", json_object_get(stats, "daemon"));
		if (!out || print_json(out) < 0)
			rc = CTL_EXIT_DAEMON;
		json_decref(out);
		break;
	case CTL_FMT_PROMETHEUS:
		if (daemon)
			prom_daemon_out(stdout, json_object_get(stats, "daemon"));
		if (pools)
			prom_pools_out(stdout, json_object_get(stats, "pools"), cpus);
		break;
	}
	json_decref(stats);
	return rc;
}

/* The read-only commands: common options, at most @max_args (a pool name),
 * then cmd_show() with what they print. */
static int cmd_read(struct ctl *ctl, int argc, char **argv, int max_args,
		    void (*human)(json_t *stats), bool daemon, bool pools, bool cpus)
{
	static const struct option lo[] = { ARGS_COMMON_LONGOPTS, { 0 } };
	int first, rc;

	rc = args_parse(ctl, argc, argv, "", lo, NULL, NULL, 0, max_args, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	return cmd_show(ctl, first < argc ? argv[first] : NULL, human, daemon, pools, cpus);
}

int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	return cmd_read(ctl, argc, argv, 0, print_status, true, false, false);
}

int cmd_pools(struct ctl *ctl, int argc, char **argv)
{
	return cmd_read(ctl, argc, argv, 0, print_pools, false, true, false);
}

int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	return cmd_read(ctl, argc, argv, 1, print_stats, true, true, true);
}

/* ------------------------------------------------------------------ */
/* administration                                                      */

struct create_args {
	uint64_t size, min_nr, align, max_elems, low;
	bool have_size, have_min_nr, hugepages;
};

static int create_opt(struct ctl *ctl, int opt, const char *arg, void *p)
{
	struct create_args *a = p;
	const char *what;
	uint64_t *dst, max;
	int r;

	switch (opt) {
	case OPT_SIZE:
		what = "--size"; dst = &a->size; max = CMD_MAX_ELEM_SIZE; a->have_size = true;
		break;
	case OPT_MIN_NR:
		what = "--min-nr"; dst = &a->min_nr; max = CMD_MAX_MIN_NR; a->have_min_nr = true;
		break;
	case OPT_ALIGN:
		what = "--align"; dst = &a->align; max = CMD_MAX_ALIGN;
		break;
	case OPT_MAX_ELEMS:
		what = "--max-elems"; dst = &a->max_elems; max = INT64_MAX;
		break;
	case OPT_LOW_WM:
		what = "--low-watermark"; dst = &a->low; max = CMD_MAX_MIN_NR;
		break;
	case OPT_HUGEPAGES:
		a->hugepages = true;
		return 0;
	default:
		return ctl_usage_err(ctl, "unknown option");
	}
	r = args_u64(arg, opt == OPT_SIZE || opt == OPT_MIN_NR ? 1 : 0, max, dst);
	if (r == -ERANGE)
		return ctl_usage_err(ctl, "%s %s: out of range (%d to %llu)", what, arg,
				     opt == OPT_SIZE || opt == OPT_MIN_NR,
				     (unsigned long long)max);
	if (r < 0)
		return ctl_usage_err(ctl, "%s '%s': not a number", what, arg);
	return 0;
}

int cmd_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		ARGS_COMMON_LONGOPTS,
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "min-nr", required_argument, NULL, OPT_MIN_NR },
		{ "align", required_argument, NULL, OPT_ALIGN },
		{ "max-elems", required_argument, NULL, OPT_MAX_ELEMS },
		{ "low-watermark", required_argument, NULL, OPT_LOW_WM },
		{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
		{ 0 }
	};
	struct create_args a = { 0 };
	struct pcpupool_create_opts o;
	struct pcpupool *pool;
	const char *name;
	int first, rc;

	rc = args_parse(ctl, argc, argv, "", lo, create_opt, &a, 1, 1, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	name = argv[first];
	if ((rc = args_pool(ctl, name)))
		return rc;
	if (!a.have_size || !a.have_min_nr)
		return ctl_usage_err(ctl, "--size and --min-nr are required");
	if (a.align & (a.align - 1))
		return ctl_usage_err(ctl, "--align %llu: not a power of two",
				     (unsigned long long)a.align);
	if (a.low > a.min_nr)
		return ctl_usage_err(ctl, "--low-watermark %llu is above --min-nr %llu",
				     (unsigned long long)a.low, (unsigned long long)a.min_nr);
	rc = ctl_connect(ctl);
	if (rc)
		return rc;
	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	o.max_elems = a.max_elems;
	o.low_watermark = (int)a.low;
	o.flags = a.hugepages ? PCPUPOOL_HUGEPAGES : 0;
	pool = pcpupool_create_opts(ctl->client, name, (int)a.min_nr, (size_t)a.size,
				    (size_t)a.align, &o);
	if (!pool) {
		int err = errno;

		/* the daemon's reply said how many hugepages the pool needs
		 * and how many are free; the library keeps only the errno */
		if (a.hugepages && err == ENOMEM) {
			ctl_err(ctl, "pool \"%s\": not enough free 2 MiB hugepages (see "
				"/proc/sys/vm/nr_hugepages; pcpupoold's log says how many the "
				"pool needs)", name);
			return CTL_EXIT_DAEMON;
		}
		/* ENOENT here is not "no such pool": the daemon lost it */
		return ctl_fail(ctl, name, err == ENOENT ? EPROTO : err);
	}
	printf("created pool %s: %llu-byte elements, min_nr %llu per CPU on %d CPUs%s\n", name,
	       (unsigned long long)pcpupool_elem_size(pool), (unsigned long long)a.min_nr,
	       pcpupool_nr_cpus(pool), a.hugepages ? ", on 2 MiB hugepages" : "");
	pcpupool_close(pool);
	return CTL_EXIT_OK;
}

/* Connect and open @name; on failure report and return the exit status. */
static int cmd_open_pool(struct ctl *ctl, const char *name, struct pcpupool **ret_pool)
{
	struct pcpupool *pool;
	int rc;

	if ((rc = args_pool(ctl, name)))
		return rc;
	rc = ctl_connect(ctl);
	if (rc)
		return rc;
	pool = pcpupool_open(ctl->client, name);
	if (!pool)
		return ctl_fail(ctl, name, errno);
	*ret_pool = pool;
	return 0;
}

int cmd_resize(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = { ARGS_COMMON_LONGOPTS, { 0 } };
	struct pcpupool *pool;
	uint64_t min_nr;
	int first, rc, r;

	rc = args_parse(ctl, argc, argv, "", lo, NULL, NULL, 2, 2, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	r = args_u64(argv[first + 1], 1, CMD_MAX_MIN_NR, &min_nr);
	if (r < 0)
		return ctl_usage_err(ctl, "MIN_NR '%s': not a number from 1 to %u",
				     argv[first + 1], CMD_MAX_MIN_NR);
	rc = cmd_open_pool(ctl, argv[first], &pool);
	if (rc)
		return rc;
	r = pcpupool_resize(pool, (int)min_nr, PCPUPOOL_WAIT);
	pcpupool_close(pool);
	if (r < 0)
		return ctl_fail(ctl, argv[first], -r);
	printf("pool %s: min_nr %llu per CPU, reserves refilled\n", argv[first],
	       (unsigned long long)min_nr);
	return CTL_EXIT_OK;
}

/* The commands that take one POOL and nothing else: parse, open it.
 * Return 0 with *ret_pool open, or the exit status (CTL_EXIT_OK after
 * --help, *ret_pool NULL). */
static int one_pool(struct ctl *ctl, int argc, char **argv, const char **ret_name,
		    struct pcpupool **ret_pool)
{
	static const struct option lo[] = { ARGS_COMMON_LONGOPTS, { 0 } };
	int first, rc;

	*ret_pool = NULL;
	rc = args_parse(ctl, argc, argv, "", lo, NULL, NULL, 1, 1, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	*ret_name = argv[first];
	return cmd_open_pool(ctl, argv[first], ret_pool);
}

int cmd_refill(struct ctl *ctl, int argc, char **argv)
{
	struct pcpupool *pool;
	const char *name;
	int rc, r;

	rc = one_pool(ctl, argc, argv, &name, &pool);
	if (rc || !pool)
		return rc;
	r = pcpupool_refill(pool, PCPUPOOL_WAIT);
	if (r == 0)
		printf("pool %s: reserves refilled, %d elements in reserve\n", name,
		       pcpupool_nr_elems(pool));
	pcpupool_close(pool);
	if (r < 0)
		return ctl_fail(ctl, name, -r);
	return CTL_EXIT_OK;
}

int cmd_destroy(struct ctl *ctl, int argc, char **argv)
{
	struct pcpupool *pool;
	const char *name;
	int rc, r;

	rc = one_pool(ctl, argc, argv, &name, &pool);
	if (rc || !pool)
		return rc;
	r = pcpupool_destroy(pool);
	if (r < 0) {
		pcpupool_close(pool);   /* destroy keeps the handle on failure */
		return ctl_fail(ctl, name, -r);
	}
	printf("destroyed pool %s\n", name);
	return CTL_EXIT_OK;
}
