// SPDX-License-Identifier: MIT
/*
 * top.c - pcpupoolctl top: a live per-CPU view of the pools' levels and
 * rates, refreshed from the daemon's stats.
 *
 * A small full-screen program: the alternate screen (\e[?1049h ..
 * \e[?1049l), the terminal in non-canonical mode without echo, a ppoll()
 * on the terminal with the signals it cares about unblocked only there,
 * so that q, SIGINT, SIGTERM and SIGHUP always leave through
 * top_term_leave() and the terminal comes back as it was.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "print.h"
#include "stats.h"
#include "table.h"
#include "top.h"

#define TOP_DELAY_DEFAULT    1.0        /* seconds between refreshes */
#define TOP_DELAY_MIN        0.1
#define TOP_DELAY_MAX        3600.0
#define TOP_BAR_WIDE         20         /* level bar, characters ... */
#define TOP_BAR_NARROW       10         /* ... on terminals narrower than */
#define TOP_WIDE_COLS        120        /* this many columns */
#define TOP_DEFAULT_ROWS     24         /* when TIOCGWINSZ says nothing */
#define TOP_DEFAULT_COLS     80
#define TOP_KEYS_MAX         64         /* bytes of input read at once */

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
	json_int_t level = stats_int(c, "level"), min_nr = stats_int(c, "min_nr");
	json_int_t full = stats_int(c, "limit");
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
	char b1[PRINT_SAFE_MAX + 1], b2[PRINT_SAFE_MAX + 1];
	json_t *prev = t->prev ? stats_pool(json_object_get(t->prev, "pools"),
					      stats_str(p, "name")) : NULL;
	json_t *pcpus = json_object_get(prev, "cpus"), *c;
	size_t j;

	fprintf(f, "\npool %s  %lld B x max %lld  min_nr %lld  low %lld  clients %lld  %s  "
		"reserved %lld  depot %lld  grown %lld B\n",
		print_safe(stats_str(p, "name"), b1, sizeof(b1)),
		(long long)stats_int(p, "elem_size"), (long long)stats_int(p, "max_elems"),
		(long long)stats_int(p, "min_nr"), (long long)stats_int(p, "low_watermark"),
		(long long)stats_int(p, "clients"),
		print_safe(stats_str(p, "state"), b2, sizeof(b2)),
		(long long)stats_int(p, "reserved"), (long long)stats_int(p, "depot"),
		(long long)stats_int(p, "grown_bytes"));
	json_array_foreach(json_object_get(p, "cpus"), j, c) {
		char (*row)[TABLE_CELL] = table_row(&tab);
		json_t *pc = json_array_get(pcpus, j);

		if (!row)
			break;
		if (pc && stats_int(pc, "cpu") != stats_int(c, "cpu"))
			pc = NULL;
		table_cell_int(row[0], c, "cpu");
		table_cell_int(row[1], c, "level");
		top_bar(row[2], c, t->cols >= TOP_WIDE_COLS ? TOP_BAR_WIDE : TOP_BAR_NARROW);
		for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++)
			cell_rate(row[3 + k], top_rate(t, c, pc, rates[k]));
		table_cell_us(row[10], json_object_get(c, "refill_latency_us"), "p99");
		table_cell_us(row[11], json_object_get(c, "refill_latency_us"), "max");
	}
	table_print(&tab, f, "  ");
	table_free(&tab);
}

/* The whole screen, as text lines (not yet cut to the terminal). */
static void top_frame(const struct top *t, FILE *f)
{
	json_t *d = json_object_get(t->cur, "daemon"), *p;
	char b1[PRINT_SAFE_MAX + 1], up[64], clock[16];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&now, &tm));
	print_duration(up, sizeof(up), stats_int(d, "uptime_s"));
	fprintf(f, "pcpupoolctl top  %s  pcpupoold %s  up %s  clients %lld  pools %lld  "
		"CPUs %lld  every %.1f s  (q quits)\n", clock,
		t->cur ? print_safe(stats_str(d, "version"), b1, sizeof(b1)) : "?", up,
		(long long)stats_int(d, "clients"), (long long)stats_int(d, "pools"),
		(long long)stats_int(d, "nr_cpus"), t->delay);
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
		char b[PRINT_SAFE_MAX + 1];

		if (r == -ENOENT && t->pool)
			snprintf(t->err, sizeof(t->err), "no pool named \"%s\"",
				 print_safe(t->pool, b, sizeof(b)));
		else
			snprintf(t->err, sizeof(t->err), "pcpupoold at %s: %s",
				 print_safe(ctl_socket_path(t->ctl), b, sizeof(b)), strerror(-r));
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

int top_cmd(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		ARGS_COMMON_LONGOPTS,
		{ "delay", required_argument, NULL, 'd' },
		{ 0 }
	};
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGTSTP };
	struct top t = { .ctl = ctl, .delay = TOP_DELAY_DEFAULT };
	struct sigaction sa = { .sa_handler = top_on_signal };
	sigset_t block, old, waitmask;
	int first, rc, r;

	rc = args_parse(ctl, argc, argv, "d:", lo, top_opt, &t.delay, 0, 1, &first);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	t.pool = first < argc ? argv[first] : NULL;
	if (t.pool && (rc = args_pool(ctl, t.pool)))
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
