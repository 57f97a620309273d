// SPDX-License-Identifier: MIT
/*
 * pcpupoolctl.c - inspect and administer the pools of pcpupoold.
 *
 *   pcpupoolctl [--socket PATH] [--json|--prometheus] COMMAND [ARGS]
 *
 * Built on the public libpcpupool API alone: pcpupool_connect() reaches
 * the daemon ($PCPUPOOL_SOCKET or the default socket when --socket is not
 * given), pcpupool_stats_json() feeds status, pools, stats and top, and
 * create/resize/refill/destroy are pcpupool_create_opts(),
 * pcpupool_resize(), pcpupool_refill() and pcpupool_destroy() on a pool
 * opened for the occasion.  No socket code of its own.
 *
 * Output: a human table by default; --json re-emits the daemon's stats
 * object pretty-printed with sorted keys (the interface for scripts,
 * schema in docs/stats.md); --prometheus writes the text exposition format
 * 0.0.4 for node_exporter's textfile collector.  Strings that come from
 * the daemon are printed through print_safe() so a hostile daemon cannot
 * send escape sequences to the operator's terminal.
 *
 * Exit status (CTL_EXIT_*): 0 ok, 1 the daemon refused or failed the
 * request, 2 bad usage, 3 the daemon cannot be reached, 4 no such pool.
 *
 * This file: main(), the global options, the command table with each
 * command's help, the messages and exit statuses, the connection to the
 * daemon.  The rest, a module each: args.c (argument parsing), cmd.c (the
 * commands but top), stats.c (the daemon's stats object), print.c and
 * table.c (human and JSON output), prom.c (Prometheus output), top.c (the
 * live view).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcpupool.h>

#include "args.h"
#include "cmd.h"
#include "pcpupoolctl.h"
#include "stats.h"
#include "top.h"

#define CTL_PROG             "pcpupoolctl"
/* for messages only: pcpupool_connect(NULL) makes the actual choice */
#define CTL_SOCKET_ENV       "PCPUPOOL_SOCKET"
#define CTL_DEFAULT_SOCKET   "/run/pcpupool/control.sock"

/* ------------------------------------------------------------------ */
/* messages and exit statuses                                          */

/* A message on stderr, after what stdout holds, prefixed with the tool's
 * name and the command's. */
void ctl_err(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	if (ctl->cmd)
		fprintf(stderr, "%s %s: ", CTL_PROG, ctl->cmd);
	else
		fprintf(stderr, "%s: ", CTL_PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: say what, point at the help, return CTL_EXIT_USAGE. */
int ctl_usage_err(const struct ctl *ctl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_err(ctl, "%s", msg);
	if (ctl->cmd)
		fprintf(stderr, "Try '%s %s --help'.\n", CTL_PROG, ctl->cmd);
	else
		fprintf(stderr, "Try '%s --help'.\n", CTL_PROG);
	return CTL_EXIT_USAGE;
}

/* The socket pcpupool_connect() will use, for messages. */
const char *ctl_socket_path(const struct ctl *ctl)
{
	const char *env;

	if (ctl->socket)
		return ctl->socket;
	env = getenv(CTL_SOCKET_ENV);
	return env && *env ? env : CTL_DEFAULT_SOCKET;
}

/* The exit status for a failed call's errno. */
static int ctl_exit_for(int err)
{
	switch (err) {
	case ENOENT:
		return CTL_EXIT_NOPOOL;
	case ENOTCONN: case ETIMEDOUT: case ECONNREFUSED: case ECONNRESET: case EPIPE:
		return CTL_EXIT_UNREACHABLE;
	default:
		return CTL_EXIT_DAEMON;
	}
}

/* What an error means for the operator, beyond strerror(). */
static const char *ctl_err_hint(int err)
{
	switch (err) {
	case EPERM:
		return " (administration needs root or the daemon's user)";
	case EACCES:
		return " (the pool's owner, group and mode do not let you attach it, nor "
		       "see its stats)";
	case EBUSY:
		return " (other clients are attached)";
	case EEXIST:
		return " (a pool of that name exists)";
	case ENOMEM:
		return " (the pool is at its max_elems, or the daemon is out of memory)";
	case ENOSPC:
		return " (the daemon has its maximum number of pools)";
	case EUCLEAN:
		return " (the pool is quarantined: its shared memory is corrupt)";
	case ERANGE:
		return " (min_nr x CPUs exceeds the pool's max_elems)";
	case EINVAL:
		return " (a value out of range: see pcpupoold.json(5))";
	default:
		return "";
	}
}

/**
 * ctl_fail() - report a failed call about @pool and choose the exit status.
 * @ctl: the tool.
 * @pool: the pool the call was about, or NULL.
 * @err: its errno.
 *
 * Return: the exit status (ctl_exit_for()).
 */
int ctl_fail(const struct ctl *ctl, const char *pool, int err)
{
	int rc = ctl_exit_for(err);

	if (rc == CTL_EXIT_NOPOOL && pool)
		ctl_err(ctl, "no pool named \"%s\"", pool);
	else if (rc == CTL_EXIT_UNREACHABLE)
		ctl_err(ctl, "lost pcpupoold at %s: %s", ctl_socket_path(ctl), strerror(err));
	else if (pool)
		ctl_err(ctl, "pool \"%s\": %s%s", pool, strerror(err), ctl_err_hint(err));
	else
		ctl_err(ctl, "%s%s", strerror(err), ctl_err_hint(err));
	return rc;
}

/* ------------------------------------------------------------------ */
/* the daemon                                                          */

/* Connect to the daemon; on failure report and return the exit status. */
int ctl_connect(struct ctl *ctl)
{
	ctl->client = pcpupool_connect(ctl->socket);
	if (!ctl->client) {
		int err = errno;

		ctl_err(ctl, "cannot reach pcpupoold at %s: %s", ctl_socket_path(ctl),
			strerror(err));
		return CTL_EXIT_UNREACHABLE;
	}
	return 0;
}

/* stats_get() for a command: reports failures, returns an exit status. */
int ctl_stats(struct ctl *ctl, const char *pool, bool need_schema, json_t **ret_stats)
{
	json_int_t schema;
	json_t *stats;
	int r;

	r = stats_get(ctl->client, pool, &stats);
	if (r == -EPROTO) {
		ctl_err(ctl, "the daemon's stats reply is malformed");
		return CTL_EXIT_DAEMON;
	}
	if (r < 0)
		return ctl_fail(ctl, pool, -r);
	schema = json_integer_value(json_object_get(stats, "schema"));
	if (need_schema && schema != STATS_SCHEMA) {
		ctl_err(ctl, "the daemon speaks stats schema %lld; this tool knows %d "
			"(--json shows it as it is)", (long long)schema, STATS_SCHEMA);
		json_decref(stats);
		return CTL_EXIT_DAEMON;
	}
	*ret_stats = stats;
	return 0;
}

/* ------------------------------------------------------------------ */
/* help and main                                                       */

static const char ctl_usage[] =
"Usage: pcpupoolctl [--socket PATH] [--json|--prometheus] COMMAND [ARGS]\n"
"\n"
"Inspect and administer the pools of pcpupoold, the per-CPU shared-memory\n"
"element pool daemon.\n"
"\n"
"Commands:\n"
"  status                    the daemon: version, uptime, clients, pools,\n"
"                            requests, errors\n"
"  pools                     the pools and their configuration\n"
"  stats [POOL]              statistics of every pool (or one) and each of\n"
"                            its CPUs\n"
"  top [POOL] [-d SECONDS]   a live per-CPU view of levels and rates; q quits\n"
"  create POOL --size N --min-nr N [--align N] [--max-elems N]\n"
"         [--low-watermark N] [--hugepages]\n"
"                            create a pool (administrator)\n"
"  resize POOL MIN_NR        change a pool's per-CPU reserve (administrator)\n"
"  refill POOL               refill every CPU's reserve of a pool now\n"
"  destroy POOL              destroy a pool no other client is attached to\n"
"                            (administrator)\n"
"  help [COMMAND]            this help, or the command's\n"
"\n"
"Options (before or after the command):\n"
"  -s, --socket PATH   the daemon's control socket (default: $PCPUPOOL_SOCKET,\n"
"                      else /run/pcpupool/control.sock)\n"
"      --json          status, pools, stats: JSON, pretty-printed with sorted\n"
"                      keys; the stable interface for scripts (see\n"
"                      docs/stats.md and pcpupoolctl(8))\n"
"      --prometheus    status, pools, stats: Prometheus text format 0.0.4 for\n"
"                      node_exporter's textfile collector\n"
"  -h, --help          show this help, or with a command that command's help\n"
"  -V, --version       show the version\n"
"\n"
"Administration needs root or the user pcpupoold runs as (or its admin_group).\n"
"A pool's stats and refill need the right to attach it (its owner, group and\n"
"mode); pools, stats and top list only the pools you may attach, and all of\n"
"them to an administrator.\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  the daemon refused or failed the request (its error is printed)\n"
"  2  bad usage\n"
"  3  the daemon cannot be reached (no socket, refused, no answer)\n"
"  4  no such pool\n";

#define HELP_TAIL \
"\n" \
"Exit status: 0 success, 1 the daemon refused or failed the request, 2 bad\n" \
"usage, 3 the daemon cannot be reached, 4 no such pool.\n"

#define HELP_COMMON \
"  -s, --socket PATH   the daemon's control socket (default: $PCPUPOOL_SOCKET,\n" \
"                      else /run/pcpupool/control.sock)\n" \
"  -h, --help          show this help\n"

#define HELP_FORMATS \
"      --json          JSON, pretty-printed with sorted keys (for scripts)\n" \
"      --prometheus    Prometheus text exposition format 0.0.4\n"

static const struct ctl_cmd ctl_cmds[] = {
	{ "status", cmd_status, true,
"Usage: pcpupoolctl status [--json|--prometheus]\n"
"\n"
"Show the daemon: its version and protocol, uptime, control connections\n"
"(this one included), pools, CPUs, requests served and error replies sent\n"
"by error code.\n"
"\n"
"  --json shows {\"schema\":1,\"daemon\":{...}}; --prometheus the\n"
"  pcpupool_daemon_* metrics.\n"
"\n"
"Options:\n"
HELP_FORMATS HELP_COMMON HELP_TAIL },
	{ "pools", cmd_pools, true,
"Usage: pcpupoolctl pools [--json|--prometheus]\n"
"\n"
"List the pools: name, element size and alignment, per-CPU reserve (min_nr)\n"
"and low watermark, maximum elements, CPUs, attached clients, elements in\n"
"reserve, and state (ok or quarantined).  Read from the daemon's stats: only\n"
"the pools you may attach, all of them for an administrator.\n"
"\n"
"  --json shows {\"schema\":1,\"pools\":[{...}]} with those fields;\n"
"  --prometheus the pcpupool_pool_* metrics.\n"
"\n"
"Options:\n"
HELP_FORMATS HELP_COMMON HELP_TAIL },
	{ "stats", cmd_stats, true,
"Usage: pcpupoolctl stats [POOL] [--json|--prometheus]\n"
"\n"
"Show the statistics of every pool you may attach (every pool, for an\n"
"administrator), or of POOL, which needs the right to attach it: for each\n"
"pool its configuration and totals, then one row per CPU:\n"
"\n"
"  LEVEL      elements in the CPU's reserve (slab and inbox)\n"
"  MIN_NR     the level refills bring it back to\n"
"  LOW_WM     the level under which it asks for an asynchronous refill\n"
"  ALLOCS     elements allocated from the CPU's slab\n"
"  FREES      elements freed into it\n"
"  MISSES     allocations that found every reachable reserve empty\n"
"  STEALS     times another CPU took this CPU's inbox\n"
"  REQUESTS   asynchronous refill requests sent\n"
"  COALESCED  low-watermark crossings that found one already pending\n"
"  SERVED     refills of this reserve that moved elements\n"
"  TRIMMED    elements the daemon took back from a reserve far above min_nr\n"
"  P50_US, P99_US, MAX_US\n"
"             refill latency, request to refill, in microseconds\n"
"\n"
"  --json shows the daemon's stats object, {\"schema\":1,\"daemon\":{...},\n"
"  \"pools\":[...]}, field by field in docs/stats.md: the interface for\n"
"  scripts.  --prometheus shows every metric, for node_exporter's textfile\n"
"  collector:\n"
"    pcpupoolctl --prometheus stats > DIR/pcpupool.prom.tmp &&\n"
"        mv DIR/pcpupool.prom.tmp DIR/pcpupool.prom\n"
"\n"
"Options:\n"
HELP_FORMATS HELP_COMMON HELP_TAIL },
	{ "top", top_cmd, false,
"Usage: pcpupoolctl top [POOL] [-d SECONDS]\n"
"\n"
"A live view of every pool, or of POOL, refreshed every SECONDS (default 1,\n"
"0.1 to 3600): per CPU the reserve level with a bar (# the level, | min_nr,\n"
"the full width the spill limit, 2 x min_nr), and the rates per second of\n"
"allocations, frees, misses, steals, refill requests, refills served and\n"
"elements refilled, and the refill latency's 99th percentile and maximum.\n"
"\n"
"Keys: q quits; space refreshes now; ^L redraws.  q, SIGINT (^C), SIGQUIT,\n"
"SIGTERM and SIGHUP restore the terminal and exit 0; ^Z suspends with the\n"
"terminal restored.  A daemon that goes away or restarts is retried at each\n"
"refresh.  Needs a terminal on standard input and output.\n"
"\n"
"Options:\n"
"  -d, --delay SECS    seconds between refreshes, 0.1 to 3600 (default 1)\n"
HELP_COMMON HELP_TAIL },
	{ "create", cmd_create, false,
"Usage: pcpupoolctl create POOL --size N --min-nr N [--align N]\n"
"                          [--max-elems N] [--low-watermark N] [--hugepages]\n"
"\n"
"Create the pool POOL (1 to 63 characters of A-Z a-z 0-9 _ . -) of\n"
"elements of --size bytes, with a reserve of --min-nr elements on every\n"
"CPU.  Needs root or the daemon's user.\n"
"\n"
"Options:\n"
"      --size N           element size in bytes, 1 to 1048576 (required)\n"
"      --min-nr N         per-CPU reserve, 1 to 1048576 (required)\n"
"      --align N          element alignment, a power of two up to 4096\n"
"                         (default: the daemon's, 8)\n"
"      --max-elems N      elements the pool may grow to, at least min_nr x\n"
"                         CPUs (default 4 x min_nr x CPUs, at least 1024)\n"
"      --low-watermark N  per-CPU level under which a refill is requested,\n"
"                         up to --min-nr (default: min_nr / 4)\n"
"      --hugepages        the pool's memory on 2 MiB hugepages, all of them\n"
"                         taken at creation (fails if not enough are free:\n"
"                         see /proc/sys/vm/nr_hugepages)\n"
HELP_COMMON HELP_TAIL },
	{ "resize", cmd_resize, false,
"Usage: pcpupoolctl resize POOL MIN_NR\n"
"\n"
"Set the per-CPU reserve of POOL to MIN_NR elements (1 to 1048576) and\n"
"wait until every CPU's reserve is refilled to it.  The low watermark\n"
"becomes MIN_NR / 4.  Needs root or the daemon's user.  An error of the\n"
"refill (the pool at its max_elems) is reported although the new MIN_NR\n"
"took effect.\n"
"\n"
"Options:\n"
HELP_COMMON HELP_TAIL },
	{ "refill", cmd_refill, false,
"Usage: pcpupoolctl refill POOL\n"
"\n"
"Refill every CPU's reserve of POOL up to min_nr now and wait until the\n"
"daemon is done (the daemon does this by itself in the background; this is\n"
"for tests and for after a burst).  Fails with 'Cannot allocate memory'\n"
"when the pool is at its max_elems.  Needs the right to attach POOL (its\n"
"owner, group and mode), as the refill attaches it.\n"
"\n"
"Options:\n"
HELP_COMMON HELP_TAIL },
	{ "destroy", cmd_destroy, false,
"Usage: pcpupoolctl destroy POOL\n"
"\n"
"Destroy POOL: its shared memory is released once no process maps it.\n"
"Refused (exit 1, 'Device or resource busy') while another client is\n"
"attached.  Needs root or the daemon's user.\n"
"\n"
"Options:\n"
HELP_COMMON HELP_TAIL },
};

const struct ctl_cmd *ctl_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (!strcmp(ctl_cmds[i].name, name))
			return &ctl_cmds[i];
	return NULL;
}

static int ctl_help(struct ctl *ctl, int argc, char **argv)
{
	const struct ctl_cmd *cmd;

	if (argc > 2)
		return ctl_usage_err(ctl, "unexpected argument '%s'", argv[2]);
	if (argc < 2) {
		fputs(ctl_usage, stdout);
		return CTL_EXIT_OK;
	}
	cmd = ctl_cmd_find(argv[1]);
	if (!cmd)
		return ctl_usage_err(ctl, "unknown command '%s'", argv[1]);
	fputs(cmd->help, stdout);
	return CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		ARGS_COMMON_LONGOPTS,
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct ctl ctl = { .fmt = CTL_FMT_HUMAN };
	const struct ctl_cmd *cmd;
	int opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+" ARGS_COMMON_SHORTOPTS "V", lo, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return args_bad_option(&ctl, opt, argv);
		if (opt == 'V') {
			printf("%s (libpcpupool %d.%d)\n", CTL_PROG, PCPUPOOL_VERSION_MAJOR,
			       PCPUPOOL_VERSION_MINOR);
			return CTL_EXIT_OK;
		}
		if (opt == 'h') {
			fputs(ctl_usage, stdout);
			return CTL_EXIT_OK;
		}
		rc = args_common(&ctl, opt, optarg);
		if (rc < 0)
			return -rc;   /* 'h' and 'V' are handled above */
	}
	if (optind >= argc)
		return ctl_usage_err(&ctl, "no command given");
	if (!strcmp(argv[optind], "help"))
		return ctl_help(&ctl, argc - optind, argv + optind);
	cmd = ctl_cmd_find(argv[optind]);
	if (!cmd)
		return ctl_usage_err(&ctl, "unknown command '%s'", argv[optind]);
	ctl.cmd = cmd->name;
	rc = cmd->fn(&ctl, argc - optind, argv + optind);
	pcpupool_disconnect(ctl.client);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl.cmd = NULL;
		ctl_err(&ctl, "write error: %s", strerror(errno));
		return rc ? rc : CTL_EXIT_DAEMON;
	}
	return rc;
}
