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
 * the daemon are printed through tty_safe() so a hostile daemon cannot
 * send escape sequences to the operator's terminal.
 *
 * Exit status (CTL_EXIT_*): 0 ok, 1 the daemon refused or failed the
 * request, 2 bad usage, 3 the daemon cannot be reached, 4 no such pool.
 *
 * top is a small full-screen program: the alternate screen (\e[?1049h ..
 * \e[?1049l), the terminal in non-canonical mode without echo, a ppoll()
 * on the terminal with the signals it cares about unblocked only there,
 * so that q, SIGINT, SIGTERM and SIGHUP always leave through
 * top_term_leave() and the terminal comes back as it was.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <pcpupool.h>

#include "protocol.h"

#define CTL_PROG             "pcpupoolctl"
/* for messages only: pcpupool_connect(NULL) makes the actual choice */
#define CTL_SOCKET_ENV       "PCPUPOOL_SOCKET"
#define CTL_DEFAULT_SOCKET   "/run/pcpupool/control.sock"
#define CTL_STATS_SCHEMA     1          /* the "schema" this tool understands */
#define CTL_MAX_MIN_NR       (1u << 20) /* pcpupool_create(3) limits */
#define CTL_MAX_ELEM_SIZE    (1u << 20)
#define CTL_MAX_ALIGN        4096u
#define CTL_SAFE_MAX         128        /* bytes of a daemon string shown */

#define TABLE_MAX_COLS       16
#define TABLE_CELL           72         /* a pool name (63) fits */

#define TOP_DELAY_DEFAULT    1.0        /* seconds between refreshes */
#define TOP_DELAY_MIN        0.1
#define TOP_DELAY_MAX        3600.0
#define TOP_BAR_WIDE         20         /* level bar, characters ... */
#define TOP_BAR_NARROW       10         /* ... on terminals narrower than */
#define TOP_WIDE_COLS        120        /* this many columns */
#define TOP_DEFAULT_ROWS     24         /* when TIOCGWINSZ says nothing */
#define TOP_DEFAULT_COLS     80
#define TOP_KEYS_MAX         64         /* bytes of input read at once */

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_DAEMON = 1,       /* the daemon refused or failed the request */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3,  /* no daemon on the socket, or no answer */
	CTL_EXIT_NOPOOL = 4,
};

enum ctl_format { CTL_FMT_HUMAN, CTL_FMT_JSON, CTL_FMT_PROMETHEUS };

/* long options without a short form */
enum { OPT_JSON = 0x100, OPT_PROMETHEUS, OPT_SIZE, OPT_MIN_NR, OPT_ALIGN,
       OPT_MAX_ELEMS, OPT_LOW_WM };

/**
 * struct ctl - what every command works with.
 * @socket: --socket, or NULL for $PCPUPOOL_SOCKET or the default.
 * @fmt: output format.
 * @cmd: the command's name, for messages.
 * @client: the connection, once ctl_connect() made it.
 */
struct ctl {
	const char *socket;
	enum ctl_format fmt;
	const char *cmd;
	struct pcpupool_client *client;
};

struct ctl_cmd {
	const char *name;
	int (*fn)(struct ctl *ctl, int argc, char **argv);
	bool formats;              /* takes --json and --prometheus */
	const char *help;
};

static const struct ctl_cmd *ctl_cmd_find(const char *name);

/* ------------------------------------------------------------------ */
/* messages                                                            */

static void ctl_err(const struct ctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void ctl_err(const struct ctl *ctl, const char *fmt, ...)
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
static int ctl_usage_err(const struct ctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int ctl_usage_err(const struct ctl *ctl, const char *fmt, ...)
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

/* @s in @buf (@n bytes) with anything but printable ASCII replaced by
 * '?': daemon strings never reach a terminal raw. */
static const char *tty_safe(const char *s, char *buf, size_t n)
{
	size_t i;

	if (!s)
		return "?";
	for (i = 0; s[i] && i + 1 < n; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* The socket pcpupool_connect() will use, for messages. */
static const char *ctl_socket_path(const struct ctl *ctl)
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
static int ctl_fail(const struct ctl *ctl, const char *pool, int err)
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
/* arguments                                                           */

/* A decimal integer in [@min, @max], nothing else. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret_v)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret_v = v;
	return 0;
}

static int ctl_pool_arg(const struct ctl *ctl, const char *name)
{
	if (!pcp_name_valid(name))
		return ctl_usage_err(ctl, "'%s' is not a pool name (1 to %d characters of "
				     "A-Z a-z 0-9 _ . -, not starting with '.')", name, PCP_NAME_MAX);
	return 0;
}

/* What ctl_common_opt() made of an option. */
enum { COMMON_NOT_MINE = 0, COMMON_TAKEN, COMMON_HELP };

/* Options every command takes, before or after its name.  Return a
 * COMMON_* value, or a negative exit status (a clash of formats). */
static int ctl_common_opt(struct ctl *ctl, int opt, const char *arg)
{
	enum ctl_format f;

	switch (opt) {
	case 's':
		ctl->socket = arg;
		return COMMON_TAKEN;
	case OPT_JSON:
	case OPT_PROMETHEUS:
		f = opt == OPT_JSON ? CTL_FMT_JSON : CTL_FMT_PROMETHEUS;
		if (ctl->fmt != CTL_FMT_HUMAN && ctl->fmt != f)
			return -ctl_usage_err(ctl, "--json and --prometheus exclude each other");
		ctl->fmt = f;
		return COMMON_TAKEN;
	case 'h':
		return COMMON_HELP;
	default:
		return COMMON_NOT_MINE;
	}
}

#define CTL_COMMON_LONGOPTS                                         \
	{ "socket", required_argument, NULL, 's' },                 \
	{ "json", no_argument, NULL, OPT_JSON },                    \
	{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },        \
	{ "help", no_argument, NULL, 'h' }
#define CTL_COMMON_SHORTOPTS ":s:h"

/* The message for the option getopt_long() just refused. */
static int ctl_bad_option(const struct ctl *ctl, int opt, char **argv)
{
	const char *what = argv[optind - 1];

	if (opt == ':')
		return ctl_usage_err(ctl, "option '%s' needs a value", what);
	if (optopt && optopt < 0x100 && !(what[0] == '-' && what[1] == '-'))
		return ctl_usage_err(ctl, "unknown option '-%c'", optopt);
	return ctl_usage_err(ctl, "unknown or malformed option '%s'", what);
}

/**
 * ctl_parse() - parse a command's arguments.
 * @ctl: the tool; the common options are stored there.
 * @argc: argument count, argv[0] being the command's name.
 * @argv: the arguments.
 * @shortopts: the command's own short options (after the common ones).
 * @longopts: the command's long options, CTL_COMMON_LONGOPTS included.
 * @own: called for each of the command's own options; returns 0 or an
 *       exit status.
 * @arg: passed to @own.
 * @min_args: positional arguments required.
 * @max_args: positional arguments allowed.
 * @ret_first: index of the first positional argument in @argv.
 *
 * Return: 0 to go on, -1 after --help (exit 0), or an exit status.
 */
static int ctl_parse(struct ctl *ctl, int argc, char **argv, const char *shortopts,
		     const struct option *longopts,
		     int (*own)(struct ctl *ctl, int opt, const char *val, void *arg),
		     void *arg, int min_args, int max_args, int *ret_first)
{
	const struct ctl_cmd *cmd;
	char so[64];
	int opt, r, n;

	snprintf(so, sizeof(so), "%s%s", CTL_COMMON_SHORTOPTS, shortopts);
	optind = 0;     /* glibc: start over, argv[0] is the command */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, so, longopts, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return ctl_bad_option(ctl, opt, argv);
		r = ctl_common_opt(ctl, opt, optarg);
		if (r == COMMON_HELP) {
			cmd = ctl_cmd_find(ctl->cmd);
			if (cmd)
				fputs(cmd->help, stdout);
			return -1;
		}
		if (r < 0)
			return -r;
		if (r == COMMON_TAKEN)
			continue;
		r = own ? own(ctl, opt, optarg, arg) : ctl_bad_option(ctl, opt, argv);
		if (r)
			return r;
	}
	cmd = ctl_cmd_find(ctl->cmd);
	if (cmd && !cmd->formats && ctl->fmt != CTL_FMT_HUMAN)
		return ctl_usage_err(ctl, "--json and --prometheus apply to status, pools "
				     "and stats only");
	n = argc - optind;
	if (n < min_args)
		return ctl_usage_err(ctl, "missing argument");
	if (n > max_args)
		return ctl_usage_err(ctl, "unexpected argument '%s'", argv[optind + max_args]);
	*ret_first = optind;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the daemon                                                          */

static int ctl_connect(struct ctl *ctl)
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
static int stats_get(struct pcpupool_client *c, const char *pool, json_t **ret_stats)
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

/* stats_get() for a command: reports failures, returns an exit status. */
static int ctl_stats(struct ctl *ctl, const char *pool, bool need_schema, json_t **ret_stats)
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
	if (need_schema && schema != CTL_STATS_SCHEMA) {
		ctl_err(ctl, "the daemon speaks stats schema %lld; this tool knows %d "
			"(--json shows it as it is)", (long long)schema, CTL_STATS_SCHEMA);
		json_decref(stats);
		return CTL_EXIT_DAEMON;
	}
	*ret_stats = stats;
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON access                                                         */

static json_int_t jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static double jnum(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

/* The pool named @name in the array @pools, or NULL. */
static json_t *pool_by_name(json_t *pools, const char *name)
{
	size_t i;
	json_t *p;

	json_array_foreach(pools, i, p)
		if (!strcmp(jstr(p, "name"), name))
			return p;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* tables                                                              */

/**
 * struct table - rows of cells printed with columns as wide as needed.
 * @ncols: columns.
 * @head: column titles.
 * @left: left-align the column (numbers go right).
 * @nrows: rows filled.
 * @cap: rows allocated.
 * @cells: @nrows rows of @ncols cells.
 */
struct table {
	int ncols;
	const char *head[TABLE_MAX_COLS];
	bool left[TABLE_MAX_COLS];
	size_t nrows, cap;
	char (*cells)[TABLE_MAX_COLS][TABLE_CELL];
};

static void table_free(struct table *t)
{
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* A new row (cells empty), or NULL when out of memory. */
static char (*table_row(struct table *t))[TABLE_CELL]
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		void *n = realloc(t->cells, ncap * sizeof(*t->cells));

		if (!n)
			return NULL;
		t->cells = n;
		t->cap = ncap;
	}
	memset(t->cells[t->nrows], 0, sizeof(*t->cells));
	return t->cells[t->nrows++];
}

static void table_print(const struct table *t, FILE *f, const char *indent)
{
	size_t w[TABLE_MAX_COLS];

	for (int c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++)
			if (strlen(t->cells[r][c]) > w[c])
				w[c] = strlen(t->cells[r][c]);
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		fputs(indent, f);
		for (int c = 0; c < t->ncols; c++) {
			const char *s = r ? t->cells[r - 1][c] : t->head[c];
			bool last = c == t->ncols - 1;

			if (t->left[c])
				fprintf(f, "%-*s", last ? 0 : (int)w[c], s);
			else
				fprintf(f, "%*s", (int)w[c], s);
			fputs(last ? "\n" : "  ", f);
		}
	}
}

static void cell_int(char *cell, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		snprintf(cell, TABLE_CELL, "%lld", (long long)json_integer_value(v));
	else
		snprintf(cell, TABLE_CELL, "-");
}

static void cell_us(char *cell, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_number(v))
		snprintf(cell, TABLE_CELL, "%.1f", json_number_value(v));
	else
		snprintf(cell, TABLE_CELL, "-");
}

/* ------------------------------------------------------------------ */
/* human output                                                        */

static void fmt_duration(char *buf, size_t n, json_int_t s)
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

static void print_status(json_t *stats)
{
	json_t *d = json_object_get(stats, "daemon"), *errs = json_object_get(d, "errors");
	char b1[CTL_SAFE_MAX + 1], up[64];
	const char *key;
	json_t *v;
	bool any = false;

	fmt_duration(up, sizeof(up), jint(d, "uptime_s"));
	printf("pcpupoold %s (protocol %lld)\n", tty_safe(jstr(d, "version"), b1, sizeof(b1)),
	       (long long)jint(d, "protocol"));
	printf("uptime:    %s (%lld s)\n", up, (long long)jint(d, "uptime_s"));
	printf("clients:   %lld (this one included)\n", (long long)jint(d, "clients"));
	printf("pools:     %lld\n", (long long)jint(d, "pools"));
	printf("cpus:      %lld\n", (long long)jint(d, "nr_cpus"));
	printf("requests:  %lld\n", (long long)jint(d, "requests"));
	printf("errors:   ");
	json_object_foreach(errs, key, v) {
		printf("%s %s %lld", any ? "," : "", tty_safe(key, b1, sizeof(b1)),
		       (long long)json_integer_value(v));
		any = true;
	}
	printf("%s\n", any ? "" : " none");
}

static void print_pools(json_t *stats)
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
		tty_safe(jstr(p, "name"), row[0], TABLE_CELL);
		cell_int(row[1], p, "elem_size");
		cell_int(row[2], p, "align");
		cell_int(row[3], p, "min_nr");
		cell_int(row[4], p, "low_watermark");
		cell_int(row[5], p, "max_elems");
		cell_int(row[6], p, "nr_cpus");
		cell_int(row[7], p, "clients");
		cell_int(row[8], p, "reserved");
		tty_safe(jstr(p, "state"), row[9], TABLE_CELL);
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
	char b1[CTL_SAFE_MAX + 1], b2[CTL_SAFE_MAX + 1];

	printf("pool %s: %lld-byte elements (align %lld), min_nr %lld, low watermark %lld, "
	       "max_elems %lld, %lld CPUs, %lld clients, %s\n",
	       tty_safe(jstr(p, "name"), b1, sizeof(b1)), (long long)jint(p, "elem_size"),
	       (long long)jint(p, "align"), (long long)jint(p, "min_nr"),
	       (long long)jint(p, "low_watermark"), (long long)jint(p, "max_elems"),
	       (long long)jint(p, "nr_cpus"), (long long)jint(p, "clients"),
	       tty_safe(jstr(p, "state"), b2, sizeof(b2)));
	printf("  elements: %lld reserved, %lld spare, %lld published (%lld bytes), "
	       "%lld in the depot\n",
	       (long long)jint(p, "reserved"), (long long)jint(p, "spare"),
	       (long long)jint(p, "published"), (long long)jint(p, "grown_bytes"),
	       (long long)jint(p, "depot"));
	printf("  daemon:   %lld refill messages (%lld bad), %lld requests polled%s, "
	       "%lld refills, %lld refilled, %lld drained, %lld trimmed\n",
	       (long long)jint(p, "refill_messages"), (long long)jint(p, "bad_messages"),
	       (long long)jint(p, "polled"),
	       json_is_true(json_object_get(p, "polling")) ? " (polling now)" : "",
	       (long long)jint(p, "refills"), (long long)jint(p, "refilled"),
	       (long long)jint(p, "drained"), (long long)jint(p, "trimmed"));
}

static void print_stats(json_t *stats)
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
			cell_int(row[0], c, "cpu");
			cell_int(row[1], c, "level");
			cell_int(row[2], c, "min_nr");
			cell_int(row[3], c, "low_watermark");
			for (size_t k = 0; k < sizeof(sums) / sizeof(sums[0]); k++) {
				cell_int(row[4 + k], c, sums[k]);
				total[k] += jint(c, sums[k]);
			}
			cell_us(row[12], lat, "p50");
			cell_us(row[13], lat, "p99");
			cell_us(row[14], lat, "max");
			level += jint(c, "level");
			if (jnum(lat, "max") > max_us)
				max_us = jnum(lat, "max");
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
static int print_json(json_t *o)
{
	if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) < 0)
		return -EIO;
	putchar('\n');
	return 0;
}

/* {"schema":N,"pools":[..]} with each pool's configuration only: the
 * fields of the daemon's "pools" command. */
static json_t *pools_json(json_t *stats)
{
	static const char *const keys[] = { "name", "elem_size", "align", "min_nr",
		"low_watermark", "max_elems", "nr_cpus", "clients", "state", "reserved" };
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

/* ------------------------------------------------------------------ */
/* Prometheus output (text exposition format 0.0.4)                    */

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

static void prom_daemon_out(FILE *f, json_t *d)
{
	json_t *errs = json_object_get(d, "errors"), *v, *one = json_integer(1);
	char proto[32];
	const char *key;
	bool started = false;

	snprintf(proto, sizeof(proto), "%lld", (long long)jint(d, "protocol"));
	prom_sample(f, "pcpupool_daemon_info", PROM_GAUGE,
		    "Version of pcpupoold and of its protocol; always 1.", &started,
		    (const char *const[]){ "version", jstr(d, "version"), "protocol", proto,
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

static void prom_pools_out(FILE *f, json_t *pools, bool cpus)
{
	bool started;
	json_t *p, *c;
	size_t i, j;

	for (size_t k = 0; k < sizeof(prom_pool) / sizeof(prom_pool[0]); k++) {
		const struct prom_metric *m = &prom_pool[k];

		started = false;
		json_array_foreach(pools, i, p)
			prom_sample(f, m->name, m->type, m->help, &started,
				    (const char *const[]){ "pool", jstr(p, "name"), NULL },
				    prom_value(p, m), m->scale);
	}
	started = false;
	json_array_foreach(pools, i, p) {
		json_t *q = json_integer(strcmp(jstr(p, "state"), "ok") != 0);

		prom_sample(f, "pcpupool_pool_quarantined", PROM_GAUGE,
			    "1 if the pool is quarantined (corrupt shared memory), else 0.",
			    &started, (const char *const[]){ "pool", jstr(p, "name"), NULL }, q, 0);
		json_decref(q);
	}
	started = false;
	json_array_foreach(pools, i, p) {
		json_t *q = json_integer(json_is_true(json_object_get(p, "polling")));

		prom_sample(f, "pcpupool_pool_polling", PROM_GAUGE,
			    "1 while the daemon polls the pool's refill request flags, else 0.",
			    &started, (const char *const[]){ "pool", jstr(p, "name"), NULL }, q, 0);
		json_decref(q);
	}
	if (!cpus)
		return;
	for (size_t k = 0; k < sizeof(prom_cpu) / sizeof(prom_cpu[0]); k++) {
		const struct prom_metric *m = &prom_cpu[k];

		started = false;
		json_array_foreach(pools, i, p) {
			json_array_foreach(json_object_get(p, "cpus"), j, c) {
				char cpu[32];

				snprintf(cpu, sizeof(cpu), "%lld", (long long)jint(c, "cpu"));
				prom_sample(f, m->name, m->type, m->help, &started,
					    (const char *const[]){ "pool", jstr(p, "name"),
								   "cpu", cpu, NULL },
					    prom_value(c, m), m->scale);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* status, pools, stats                                                */

/* The three read-only commands: fetch, then print in the chosen format. */
static int ctl_show(struct ctl *ctl, const char *pool, void (*human)(json_t *stats),
		    bool daemon, bool pools, bool cpus)
{
	json_t *stats, *out = NULL;
	int rc;

	if (pool && (rc = ctl_pool_arg(ctl, pool)))
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
			out = pools_json(stats);
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
 * then ctl_show() with what they print. */
static int cmd_read(struct ctl *ctl, int argc, char **argv, int max_args,
		    void (*human)(json_t *stats), bool daemon, bool pools, bool cpus)
{
	static const struct option lo[] = { CTL_COMMON_LONGOPTS, { 0 } };
	int first, rc;

	rc = ctl_parse(ctl, argc, argv, "", lo, NULL, NULL, 0, max_args, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	return ctl_show(ctl, first < argc ? argv[first] : NULL, human, daemon, pools, cpus);
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	return cmd_read(ctl, argc, argv, 0, print_status, true, false, false);
}

static int cmd_pools(struct ctl *ctl, int argc, char **argv)
{
	return cmd_read(ctl, argc, argv, 0, print_pools, false, true, false);
}

static int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	return cmd_read(ctl, argc, argv, 1, print_stats, true, true, true);
}

/* ------------------------------------------------------------------ */
/* administration                                                      */

struct create_args {
	uint64_t size, min_nr, align, max_elems, low;
	bool have_size, have_min_nr;
};

static int create_opt(struct ctl *ctl, int opt, const char *arg, void *p)
{
	struct create_args *a = p;
	const char *what;
	uint64_t *dst, max;
	int r;

	switch (opt) {
	case OPT_SIZE:
		what = "--size"; dst = &a->size; max = CTL_MAX_ELEM_SIZE; a->have_size = true;
		break;
	case OPT_MIN_NR:
		what = "--min-nr"; dst = &a->min_nr; max = CTL_MAX_MIN_NR; a->have_min_nr = true;
		break;
	case OPT_ALIGN:
		what = "--align"; dst = &a->align; max = CTL_MAX_ALIGN;
		break;
	case OPT_MAX_ELEMS:
		what = "--max-elems"; dst = &a->max_elems; max = INT64_MAX;
		break;
	case OPT_LOW_WM:
		what = "--low-watermark"; dst = &a->low; max = CTL_MAX_MIN_NR;
		break;
	default:
		return ctl_usage_err(ctl, "unknown option");
	}
	r = parse_u64(arg, opt == OPT_SIZE || opt == OPT_MIN_NR ? 1 : 0, max, dst);
	if (r == -ERANGE)
		return ctl_usage_err(ctl, "%s %s: out of range (%d to %llu)", what, arg,
				     opt == OPT_SIZE || opt == OPT_MIN_NR,
				     (unsigned long long)max);
	if (r < 0)
		return ctl_usage_err(ctl, "%s '%s': not a number", what, arg);
	return 0;
}

static int cmd_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		CTL_COMMON_LONGOPTS,
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "min-nr", required_argument, NULL, OPT_MIN_NR },
		{ "align", required_argument, NULL, OPT_ALIGN },
		{ "max-elems", required_argument, NULL, OPT_MAX_ELEMS },
		{ "low-watermark", required_argument, NULL, OPT_LOW_WM },
		{ 0 }
	};
	struct create_args a = { 0 };
	struct pcpupool_create_opts o;
	struct pcpupool *pool;
	const char *name;
	int first, rc;

	rc = ctl_parse(ctl, argc, argv, "", lo, create_opt, &a, 1, 1, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	name = argv[first];
	if ((rc = ctl_pool_arg(ctl, name)))
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
	pool = pcpupool_create_opts(ctl->client, name, (int)a.min_nr, (size_t)a.size,
				    (size_t)a.align, &o);
	if (!pool) {
		int err = errno;

		/* ENOENT here is not "no such pool": the daemon lost it */
		return ctl_fail(ctl, name, err == ENOENT ? EPROTO : err);
	}
	printf("created pool %s: %llu-byte elements, min_nr %llu per CPU on %d CPUs\n", name,
	       (unsigned long long)pcpupool_elem_size(pool), (unsigned long long)a.min_nr,
	       pcpupool_nr_cpus(pool));
	pcpupool_close(pool);
	return CTL_EXIT_OK;
}

/* Connect and open @name; on failure report and return the exit status. */
static int ctl_open_pool(struct ctl *ctl, const char *name, struct pcpupool **ret_pool)
{
	struct pcpupool *pool;
	int rc;

	if ((rc = ctl_pool_arg(ctl, name)))
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

static int cmd_resize(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = { CTL_COMMON_LONGOPTS, { 0 } };
	struct pcpupool *pool;
	uint64_t min_nr;
	int first, rc, r;

	rc = ctl_parse(ctl, argc, argv, "", lo, NULL, NULL, 2, 2, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	r = parse_u64(argv[first + 1], 1, CTL_MAX_MIN_NR, &min_nr);
	if (r < 0)
		return ctl_usage_err(ctl, "MIN_NR '%s': not a number from 1 to %u",
				     argv[first + 1], CTL_MAX_MIN_NR);
	rc = ctl_open_pool(ctl, argv[first], &pool);
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

static int cmd_refill(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = { CTL_COMMON_LONGOPTS, { 0 } };
	struct pcpupool *pool;
	int first, rc, r;

	rc = ctl_parse(ctl, argc, argv, "", lo, NULL, NULL, 1, 1, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	rc = ctl_open_pool(ctl, argv[first], &pool);
	if (rc)
		return rc;
	r = pcpupool_refill(pool, PCPUPOOL_WAIT);
	if (r == 0)
		printf("pool %s: reserves refilled, %d elements in reserve\n", argv[first],
		       pcpupool_nr_elems(pool));
	pcpupool_close(pool);
	if (r < 0)
		return ctl_fail(ctl, argv[first], -r);
	return CTL_EXIT_OK;
}

static int cmd_destroy(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = { CTL_COMMON_LONGOPTS, { 0 } };
	struct pcpupool *pool;
	int first, rc, r;

	rc = ctl_parse(ctl, argc, argv, "", lo, NULL, NULL, 1, 1, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	rc = ctl_open_pool(ctl, argv[first], &pool);
	if (rc)
		return rc;
	r = pcpupool_destroy(pool);
	if (r < 0) {
		pcpupool_close(pool);   /* destroy keeps the handle on failure */
		return ctl_fail(ctl, argv[first], -r);
	}
	printf("destroyed pool %s\n", argv[first]);
	return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* top                                                                 */

/* Set by the signal handlers, read by the loop after ppoll() returns: the
 * one piece of process-wide state a signal needs. */
static volatile sig_atomic_t top_sig_quit, top_sig_winch, top_sig_tstp;

static void top_on_signal(int sig)
{
	if (sig == SIGWINCH)
		top_sig_winch = 1;
	else if (sig == SIGTSTP)
		top_sig_tstp = 1;
	else
		top_sig_quit = sig;
}

/**
 * struct top - the live view.
 * @ctl: the tool (connected).
 * @pool: the one pool shown, or NULL for all.
 * @delay: seconds between refreshes.
 * @cur: the latest stats, or NULL.
 * @prev: the stats before, for rates, or NULL.
 * @at: when @cur was taken (CLOCK_MONOTONIC seconds).
 * @dt: seconds between @prev and @cur.
 * @err: why the latest refresh failed, or "".
 * @rows: terminal size.
 * @cols: ditto.
 * @saved: the terminal's modes before top_term_enter().
 * @entered: raw mode and the alternate screen are on.
 */
struct top {
	struct ctl *ctl;
	const char *pool;
	double delay;
	json_t *cur, *prev;
	double at, dt;
	char err[256];
	int rows, cols;
	struct termios saved;
	bool entered;
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write all of @p to the terminal, whatever signals come. */
static void term_write(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void term_puts(const char *s)
{
	term_write(s, strlen(s));
}

static void top_term_size(struct top *t)
{
	struct winsize ws;

	t->rows = TOP_DEFAULT_ROWS;
	t->cols = TOP_DEFAULT_COLS;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		t->rows = ws.ws_row;
		t->cols = ws.ws_col;
	}
}

/* Non-canonical input without echo (signals keys stay on), the alternate
 * screen, the cursor hidden. */
static int top_term_enter(struct top *t)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &t->saved) < 0)
		return -errno;
	raw = t->saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return -errno;
	t->entered = true;
	term_puts("\033[?1049h\033[?25l\033[H\033[2J");
	return 0;
}

/* Undo top_term_enter(): the screen and the modes as they were. */
static void top_term_leave(struct top *t)
{
	if (!t->entered)
		return;
	term_puts("\033[?25h\033[?1049l");
	while (tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved) < 0 && errno == EINTR)
		;
	t->entered = false;
}

/* Per-second rate of counter @key between @c and @p, or NAN. */
static double top_rate(const struct top *t, json_t *c, json_t *p, const char *key)
{
	json_t *a = json_object_get(c, key), *b = json_object_get(p, key);

	if (!p || !json_is_integer(a) || !json_is_integer(b) || t->dt <= 0 ||
	    json_integer_value(a) < json_integer_value(b))
		return NAN;
	return (double)(json_integer_value(a) - json_integer_value(b)) / t->dt;
}

static void cell_rate(char *cell, double r)
{
	if (isnan(r))
		snprintf(cell, TABLE_CELL, "-");
	else
		snprintf(cell, TABLE_CELL, r < 10 ? "%.1f" : "%.0f", r);
}

/* A level bar of @width characters: '#' up to the level, '.' beyond, '|'
 * marks min_nr; the full width is the spill limit (2 x min_nr). */
static void top_bar(char *cell, json_t *c, int width)
{
	json_int_t level = jint(c, "level"), min_nr = jint(c, "min_nr"), full = jint(c, "limit");
	int fill, mark;

	if (full < min_nr)
		full = 2 * min_nr;
	if (full <= 0)
		full = 1;
	fill = (int)((level > full ? full : level) * width / full);
	mark = (int)(min_nr * width / full);
	if (mark >= width)
		mark = width - 1;
	cell[0] = '[';
	for (int i = 0; i < width; i++)
		cell[1 + i] = i < fill ? '#' : i == mark ? '|' : '.';
	cell[1 + width] = ']';
	cell[2 + width] = '\0';
}

static void top_pool(const struct top *t, FILE *f, json_t *p)
{
	static const char *const rates[] = { "allocs", "frees", "misses", "steals",
		"refill_requests", "refills_served", "refilled" };
	struct table tab = {
		.ncols = 12,
		.head = { "CPU", "LEVEL", "RESERVE", "ALLOC/s", "FREE/s", "MISS/s",
			  "STEAL/s", "REQ/s", "SERVED/s", "REFILL/s", "P99_US", "MAX_US" },
		.left = { [2] = true },
	};
	char b1[CTL_SAFE_MAX + 1], b2[CTL_SAFE_MAX + 1];
	json_t *prev = t->prev ? pool_by_name(json_object_get(t->prev, "pools"),
					      jstr(p, "name")) : NULL;
	json_t *pcpus = json_object_get(prev, "cpus"), *c;
	size_t j;

	fprintf(f, "\npool %s  %lld B x max %lld  min_nr %lld  low %lld  clients %lld  %s  "
		"reserved %lld  depot %lld  grown %lld B\n",
		tty_safe(jstr(p, "name"), b1, sizeof(b1)), (long long)jint(p, "elem_size"),
		(long long)jint(p, "max_elems"), (long long)jint(p, "min_nr"),
		(long long)jint(p, "low_watermark"), (long long)jint(p, "clients"),
		tty_safe(jstr(p, "state"), b2, sizeof(b2)), (long long)jint(p, "reserved"),
		(long long)jint(p, "depot"), (long long)jint(p, "grown_bytes"));
	json_array_foreach(json_object_get(p, "cpus"), j, c) {
		char (*row)[TABLE_CELL] = table_row(&tab);
		json_t *pc = json_array_get(pcpus, j);

		if (!row)
			break;
		if (pc && jint(pc, "cpu") != jint(c, "cpu"))
			pc = NULL;
		cell_int(row[0], c, "cpu");
		cell_int(row[1], c, "level");
		top_bar(row[2], c, t->cols >= TOP_WIDE_COLS ? TOP_BAR_WIDE : TOP_BAR_NARROW);
		for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++)
			cell_rate(row[3 + k], top_rate(t, c, pc, rates[k]));
		cell_us(row[10], json_object_get(c, "refill_latency_us"), "p99");
		cell_us(row[11], json_object_get(c, "refill_latency_us"), "max");
	}
	table_print(&tab, f, "  ");
	table_free(&tab);
}

/* The whole screen, as text lines (not yet cut to the terminal). */
static void top_frame(const struct top *t, FILE *f)
{
	json_t *d = json_object_get(t->cur, "daemon"), *p;
	char b1[CTL_SAFE_MAX + 1], up[64], clock[16];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&now, &tm));
	fmt_duration(up, sizeof(up), jint(d, "uptime_s"));
	fprintf(f, "pcpupoolctl top  %s  pcpupoold %s  up %s  clients %lld  pools %lld  "
		"CPUs %lld  every %.1f s  (q quits)\n", clock,
		t->cur ? tty_safe(jstr(d, "version"), b1, sizeof(b1)) : "?", up,
		(long long)jint(d, "clients"), (long long)jint(d, "pools"),
		(long long)jint(d, "nr_cpus"), t->delay);
	fprintf(f, "RESERVE: # the level, | min_nr, the whole bar the spill limit; "
		"rates per second since the last refresh\n");
	if (t->err[0])
		fprintf(f, "%s (retrying)\n", t->err);
	json_array_foreach(json_object_get(t->cur, "pools"), i, p)
		top_pool(t, f, p);
	if (t->cur && !json_array_size(json_object_get(t->cur, "pools")))
		fprintf(f, "\nno pools\n");
}

/* Draw the frame: home, each line cut to the width and cleared to its
 * end, the rest of the screen cleared. */
static void top_draw(const struct top *t)
{
	char *buf = NULL, *out = NULL;
	size_t len = 0, olen = 0;
	FILE *f = open_memstream(&buf, &len), *o;
	int row = 0;

	if (!f)
		return;
	top_frame(t, f);
	fclose(f);
	o = open_memstream(&out, &olen);
	if (!o) {
		free(buf);
		return;
	}
	fputs("\033[H", o);
	for (char *line = buf, *nl; line && *line && row < t->rows; line = nl, row++) {
		size_t n;

		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		if (nl)
			nl++;
		fwrite(line, 1, n < (size_t)t->cols ? n : (size_t)t->cols, o);
		fputs("\033[K", o);
		if (row + 1 < t->rows && nl && *nl)
			fputs("\r\n", o);
	}
	fputs("\033[J", o);
	fclose(o);
	term_write(out, olen);
	free(out);
	free(buf);
}

/* New stats: the current become the previous. */
static void top_refresh(struct top *t)
{
	double now = mono_now();
	json_t *s;
	int r;

	r = stats_get(t->ctl->client, t->pool, &s);
	if (r < 0) {
		char b[CTL_SAFE_MAX + 1];

		if (r == -ENOENT && t->pool)
			snprintf(t->err, sizeof(t->err), "no pool named \"%s\"",
				 tty_safe(t->pool, b, sizeof(b)));
		else
			snprintf(t->err, sizeof(t->err), "pcpupoold at %s: %s",
				 tty_safe(ctl_socket_path(t->ctl), b, sizeof(b)), strerror(-r));
		return;
	}
	t->err[0] = '\0';
	json_decref(t->prev);
	t->prev = t->cur;
	t->cur = s;
	t->dt = now - t->at;
	t->at = now;
}

/* Stop on ^Z with the terminal restored; come back as we were. */
static void top_suspend(struct top *t)
{
	sigset_t tstp;

	top_term_leave(t);
	signal(SIGTSTP, SIG_DFL);
	sigemptyset(&tstp);
	sigaddset(&tstp, SIGTSTP);
	sigprocmask(SIG_UNBLOCK, &tstp, NULL);
	raise(SIGTSTP);
	/* stopped here until SIGCONT */
	sigprocmask(SIG_BLOCK, &tstp, NULL);
	signal(SIGTSTP, top_on_signal);
	top_term_enter(t);
	top_term_size(t);
}

static int top_opt(struct ctl *ctl, int opt, const char *arg, void *p)
{
	double *delay = p;
	char *end;

	if (opt != 'd')
		return ctl_usage_err(ctl, "unknown option");
	errno = 0;
	*delay = strtod(arg, &end);
	if (errno || end == arg || *end || !(*delay >= TOP_DELAY_MIN && *delay <= TOP_DELAY_MAX))
		return ctl_usage_err(ctl, "-d '%s': seconds from %.1f to %.0f", arg,
				     TOP_DELAY_MIN, TOP_DELAY_MAX);
	return 0;
}

/**
 * top_loop() - refresh, draw, wait for a key or a signal, until asked to
 * quit.
 * @t: the view, its terminal entered.
 * @waitmask: the signal mask during the wait (the handled ones open).
 */
static void top_loop(struct top *t, const sigset_t *waitmask)
{
	double next = t->at + t->delay;
	bool redraw = true;

	for (;;) {
		double now = mono_now();
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		struct timespec ts;
		char keys[TOP_KEYS_MAX];
		ssize_t n;

		if (top_sig_quit)
			return;
		if (top_sig_tstp) {
			top_sig_tstp = 0;
			top_suspend(t);
			redraw = true;
		}
		if (top_sig_winch) {
			top_sig_winch = 0;
			top_term_size(t);
			redraw = true;
		}
		if (now >= next) {
			top_refresh(t);
			next = now + t->delay;
			redraw = true;
		}
		if (redraw)
			top_draw(t);
		redraw = false;
		now = mono_now();
		ts.tv_sec = (time_t)(next - now);
		ts.tv_nsec = (long)((next - now - (double)ts.tv_sec) * 1e9);
		if (next <= now)
			ts.tv_sec = ts.tv_nsec = 0;
		if (ppoll(&pfd, 1, &ts, waitmask) <= 0)
			continue;   /* the timer, or a signal: seen above */
		if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
			return;
		n = read(STDIN_FILENO, keys, sizeof(keys));
		if (n == 0)
			return;    /* the terminal is gone */
		for (ssize_t i = 0; i < n; i++) {
			if (keys[i] == 'q' || keys[i] == 'Q')
				return;
			if (keys[i] == ' ')
				next = 0;          /* refresh now */
			if (keys[i] == '\f')
				redraw = true;     /* ^L */
		}
	}
}

static int cmd_top(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		CTL_COMMON_LONGOPTS,
		{ "delay", required_argument, NULL, 'd' },
		{ 0 }
	};
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGTSTP };
	struct top t = { .ctl = ctl, .delay = TOP_DELAY_DEFAULT };
	struct sigaction sa = { .sa_handler = top_on_signal };
	sigset_t block, old, waitmask;
	int first, rc, r;

	rc = ctl_parse(ctl, argc, argv, "d:", lo, top_opt, &t.delay, 0, 1, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	t.pool = first < argc ? argv[first] : NULL;
	if (t.pool && (rc = ctl_pool_arg(ctl, t.pool)))
		return rc;
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return ctl_usage_err(ctl, "needs a terminal (use 'stats' in scripts)");
	rc = ctl_connect(ctl);
	if (rc)
		return rc;
	/* the first sample outside the screen: errors end here, plainly */
	rc = ctl_stats(ctl, t.pool, true, &t.cur);
	if (rc)
		return rc;
	t.at = mono_now();

	/* the handled signals are blocked, then caught, and delivered only
	 * inside ppoll(): none can slip between a check and the wait */
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	waitmask = old;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigdelset(&waitmask, sigs[i]);

	top_term_size(&t);
	r = top_term_enter(&t);
	if (r < 0) {
		ctl_err(ctl, "terminal: %s", strerror(-r));
		rc = CTL_EXIT_USAGE;
	} else {
		top_loop(&t, &waitmask);
		top_term_leave(&t);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	json_decref(t.cur);
	json_decref(t.prev);
	return rc;
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
"         [--low-watermark N]\n"
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
	{ "top", cmd_top, false,
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
"                          [--max-elems N] [--low-watermark N]\n"
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

static const struct ctl_cmd *ctl_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (!strcmp(ctl_cmds[i].name, name))
			return &ctl_cmds[i];
	return NULL;
}

static int cmd_help(struct ctl *ctl, int argc, char **argv)
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
		CTL_COMMON_LONGOPTS,
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct ctl ctl = { .fmt = CTL_FMT_HUMAN };
	const struct ctl_cmd *cmd;
	int opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+" CTL_COMMON_SHORTOPTS "V", lo, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return ctl_bad_option(&ctl, opt, argv);
		if (opt == 'V') {
			printf("%s (libpcpupool %d.%d)\n", CTL_PROG, PCPUPOOL_VERSION_MAJOR,
			       PCPUPOOL_VERSION_MINOR);
			return CTL_EXIT_OK;
		}
		if (opt == 'h') {
			fputs(ctl_usage, stdout);
			return CTL_EXIT_OK;
		}
		rc = ctl_common_opt(&ctl, opt, optarg);
		if (rc < 0)
			return -rc;   /* 'h' and 'V' are handled above */
	}
	if (optind >= argc)
		return ctl_usage_err(&ctl, "no command given");
	if (!strcmp(argv[optind], "help"))
		return cmd_help(&ctl, argc - optind, argv + optind);
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
