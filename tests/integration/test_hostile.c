// SPDX-License-Identifier: MIT
/*
 * test_hostile.c - hostile clients against the real pcpupoold over its real
 * control socket: garbage, truncated lines, lines past the size limit,
 * clients that never read, slow byte-at-a-time clients, 1,000 simultaneous
 * connections, descriptors sent *to* the daemon; and every limit (clients,
 * clients per uid, pools, request size, elements and memory per pool,
 * attachments per connection), each enforced with its error reply.
 *
 * The floods share one daemon (group "floods"), so that what they leave
 * behind adds up: after all of them its resident memory has grown by less
 * than FLOOD_RSS_LIMIT_MB, the heaviest floods run a second time add less
 * than ROUND2_RSS_LIMIT_MB, it holds exactly the descriptors it held before,
 * a library client still works and SIGTERM still ends it with status 0
 * (under ASan that also means no leak).  A daemon built with ASan or TSan
 * gets SAN_RSS_FACTOR times those limits (shadow memory, redzones, allocator
 * caches) and ASan's quarantine capped at ASAN_QUARANTINE_MB.  A "monitor"
 * connection stays open throughout and asks the daemon for its client count
 * ("stats"), so every test starts and ends with the daemon serving nobody
 * else.
 *
 * 1,000 connections held at once need root: the per-uid cap
 * (PCP_MAX_CLIENTS_PER_UID) lets one uid hold 256, so four children connect
 * as four other uids.  Without root, or without the descriptors
 * (RLIMIT_NOFILE is raised to NOFILE_WANT if the hard limit allows), the
 * tests that need them are skipped, and say so.
 *
 * The limit tests get a daemon each (group "limits"): among them a request
 * line left incomplete (all at once, or a byte at a time) is cut off after
 * request_timeout_ms while idle connections and those that finish their
 * lines are served; a pool's "mode" is an octal string, never a number; a
 * client that rewrites a pool's shared header is caught by the next
 * attach, refill or stats, and the daemon's replies keep quoting its own
 * record of the pool (max_elems), not the header.
 *
 * The figures (connections held, descriptors, RSS, round trips) are
 * printed as "hostile: ..." lines.
 */
#include <dirent.h>
#include <grp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "e2e.h"
#include "protocol.h"
#include "slab.h"

#define NOFILE_WANT         4096   /* RLIMIT_NOFILE for the test and the daemon */
#define FLOOD_RSS_LIMIT_MB  32     /* daemon RSS growth allowed over all floods */
#define SAN_RSS_FACTOR      3      /* the same, scaled, for an ASan daemon */
#define TSAN_RSS_FACTOR     8      /* TSan's shadow and sync objects, never returned */
#define ROUND2_RSS_LIMIT_MB 4      /* growth over the floods run a second time */
#define ASAN_QUARANTINE_MB  8      /* for the flood daemon (ASan's default: 256) */
#define IDLE_MS             5000   /* the daemon notices closed connections */

#define GARBAGE_CONNS       64
#define GARBAGE_LINES       100
#define TRUNC_CONNS         100
#define OVERLONG_CONNS      16
#define UNREAD_CONNS        2
#define UNREAD_REQUESTS     20000
#define SLOW_CONNS          50
#define SLOW_PING_MAX_MS    100
#define FD_CONNS            10
#define FD_MSGS_PER_CONN    10
#define FD_PER_MSG          8
#define FLOOD_CONNS         1000
#define HELD_UIDS           4
#define HELD_PER_UID        250
#define HELD_UID_BASE       61000  /* unprivileged uids for the children */
#define PARTIAL_TIMEOUT_MS  1000   /* request_timeout_ms of its test's daemon */

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

/* Deterministic pseudo-random numbers: the same bytes every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rng_below(unsigned n)
{
	return (unsigned)(e2e_rng(&rng_state) % n);
}

/* Raise RLIMIT_NOFILE to @want (the hard limit too if we may); return the
 * soft limit now in force.  The daemon, forked later, inherits it. */
static rlim_t raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur >= want)
		return rl.rlim_cur;
	if (rl.rlim_max < want) {
		struct rlimit hard = { want, want };

		if (setrlimit(RLIMIT_NOFILE, &hard) == 0)
			return want;
		want = rl.rlim_max;
	}
	if (want > rl.rlim_cur) {
		rlim_t had = rl.rlim_cur;

		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return had;
	}
	return rl.rlim_cur;
}

static long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0)
		fail_msg("%s: no VmRSS", path);
	return kb;
}

static int proc_nr_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		fail_msg("%s: %s", path, strerror(errno));
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The daemon's RLIMIT_NOFILE soft limit. */
static rlim_t proc_nofile(pid_t pid)
{
	struct rlimit rl;

	if (prlimit(pid, RLIMIT_NOFILE, NULL, &rl) < 0)
		fail_msg("prlimit(%d): %s", (int)pid, strerror(errno));
	return rl.rlim_cur;
}

/* ---- connections the current test opened (closed by its teardown) ---- */

#define MAX_TRACKED 8192
static bool tracked[MAX_TRACKED];

static int conn_open(const struct e2e *e)
{
	int fd = e2e_raw_connect(e);

	assert_true(fd < MAX_TRACKED);
	tracked[fd] = true;
	return fd;
}

static void conn_close(int fd)
{
	if (fd >= 0 && fd < MAX_TRACKED && tracked[fd]) {
		tracked[fd] = false;
		close(fd);
	}
}

static void conn_close_all(void)
{
	for (int fd = 0; fd < MAX_TRACKED; fd++)
		conn_close(fd);
}

static const char ping[] = "{\"cmd\":\"ping\"}\n";

/* stats.daemon.<key> asked on the connection @r reads. */
static json_int_t daemon_stat_over(struct lr *r, const char *key)
{
	static const char req[] = "{\"cmd\":\"stats\"}\n";
	char *s;
	json_t *j, *v;
	json_int_t n;

	e2e_raw_send(r->fd, req, sizeof(req) - 1);
	s = lr_reply(r, "stats");
	j = e2e_parse_reply(s);
	v = json_object_get(json_object_get(json_object_get(j, "stats"), "daemon"), key);
	if (!json_is_integer(v))
		fail_msg("stats: no daemon.%s: %s", key, s);
	n = json_integer_value(v);
	json_decref(j);
	free(s);
	return n;
}

/* ------------------------------------------------------------------ */
/* the shared daemon of the floods                                      */

struct flood {
	struct e2e e;
	int mon;                 /* the monitor connection */
	struct lr mon_r;
	int fds0;                /* the daemon's descriptors, monitor open */
	long rss0_kb, rss_peak_kb;
	bool stopped;
	/* figures */
	unsigned garbage_lines, fds_sent, held_max, uid_served, uid_refused;
	int64_t slow_pings, slow_rtt_max_us, slow_rtt_sum_us;
	int fds_peak;
	bool held_skipped, uid_skipped;
	bool quiet;              /* second round: no figures */
	const char *sanitizer;   /* "ASan"/"TSan" when the daemon is built with one */
	long rss_round2_kb;      /* growth over the second round */
};

static struct flood F;

/* A figure for the log (not in the second round of floods). */
#define report(...) do { if (!F.quiet) printf(__VA_ARGS__); } while (0)

static void sample_rss(void)
{
	long kb = proc_rss_kb(F.e.pid);

	if (kb > F.rss_peak_kb)
		F.rss_peak_kb = kb;
}

/* stats.daemon.<key> as seen through the monitor. */
static json_int_t mon_daemon_stat(const char *key)
{
	return daemon_stat_over(&F.mon_r, key);
}

static json_int_t mon_clients(void)
{
	return mon_daemon_stat("clients");
}

/* Wait until the daemon counts @n clients (the monitor included). */
static void wait_clients(json_int_t n)
{
	json_int_t got = -1;

	if (!e2e_poll((got = mon_clients()) == n, IDLE_MS))
		fail_msg("the daemon counts %lld clients, expected %lld", (long long)got,
			 (long long)n);
}

/* Wait until the daemon holds the descriptors it held at the start (libevent
 * closes a connection's socket a moment after the daemon forgets it). */
static void expect_fds_back(void)
{
	int n = -1;

	if (!e2e_poll((n = proc_nr_fds(F.e.pid)) == F.fds0, IDLE_MS))
		fail_msg("the daemon holds %d descriptors, %d at the start", n, F.fds0);
}

static void expect_daemon_alive(void)
{
	int status;

	if (waitpid(F.e.pid, &status, WNOHANG) == F.e.pid) {
		F.e.pid = 0;
		e2e_dump_log(&F.e);
		fail_msg("pcpupoold died: status %#x", status);
	}
	lr_ping(&F.mon_r, "ping on the monitor");
}

/* "ASan" or "TSan" if the daemon binary carries that runtime, else NULL.
 * Their shadow memory, redzones and allocator caches are not the daemon's
 * memory, and ASan's quarantine holds on to freed memory (256 MiB by
 * default). */
static const char *daemon_sanitizer(void)
{
	FILE *f = fopen(e2e_pcpupoold, "rb");
	const char *found = NULL;
	size_t cap = 1 << 16, keep = 16, n, have = 0;
	char *buf = malloc(cap);

	assert_non_null(f);
	assert_non_null(buf);
	while (!found && (n = fread(buf + have, 1, cap - have, f)) > 0) {
		have += n;
		if (memmem(buf, have, "__asan_init", 11))
			found = "ASan";
		else if (memmem(buf, have, "__tsan_init", 11))
			found = "TSan";
		/* keep a tail, for a name across two reads */
		if (have > keep) {
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	fclose(f);
	free(buf);
	return found;
}

/* Start the flood daemon with ASan's quarantine capped (unless the caller
 * chose a size), so that its RSS says something about the daemon. */
static void flood_start(void)
{
	const char *old = getenv("ASAN_OPTIONS");
	char *saved = old ? strdup(old) : NULL, opts[1024];

	if (!old || !strstr(old, "quarantine_size_mb")) {
		snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=%d", old ? old : "",
			 old && *old ? ":" : "", ASAN_QUARANTINE_MB);
		assert_int_equal(setenv("ASAN_OPTIONS", opts, 1), 0);
	}
	e2e_start(&F.e, "");
	if (saved)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(saved);
}

static int flood_setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	F.sanitizer = daemon_sanitizer();
	flood_start();
	F.mon = conn_open(&F.e);
	tracked[F.mon] = false;   /* not closed by the per-test teardown */
	lr_init(&F.mon_r, F.mon);
	wait_clients(1);           /* e2e_start()'s probe connection is gone */
	for (int i = 0; i < 10; i++)
		lr_ping(&F.mon_r, "warm-up ping");
	F.fds0 = proc_nr_fds(F.e.pid);
	F.rss0_kb = F.rss_peak_kb = proc_rss_kb(F.e.pid);
	F.fds_peak = F.fds0;
	printf("hostile: daemon pid %d%s%s: %d descriptors, VmRSS %ld kB, RLIMIT_NOFILE %llu\n",
	       (int)F.e.pid, F.sanitizer ? ", built with " : "", F.sanitizer ? F.sanitizer : "",
	       F.fds0, F.rss0_kb, (unsigned long long)proc_nofile(F.e.pid));
	return 0;
}

static int flood_teardown(void **state)
{
	(void)state;
	conn_close_all();
	lr_free(&F.mon_r);
	if (!F.stopped) {
		close(F.mon);
		e2e_stop(&F.e);
	}
	return 0;
}

/* After each flood test: close what it left open, reap its children, and
 * wait until the daemon serves only the monitor again. */
static int flood_test_teardown(void **state)
{
	(void)state;
	conn_close_all();
	for (int i = 0; i < E2E_MAX_CHILDREN; i++)
		if (F.e.child[i]) {
			kill(F.e.child[i], SIGKILL);
			waitpid(F.e.child[i], NULL, 0);
			F.e.child[i] = 0;
		}
	if (F.stopped)
		return 0;
	wait_clients(1);
	expect_fds_back();
	sample_rss();
	return 0;
}

/* ------------------------------------------------------------------ */
/* (1) garbage                                                          */

/* Append one garbage line (no '\n' inside, then '\n') to @buf at @len. */
static size_t garbage_line(char *buf, size_t len)
{
	static const char *const bases[] = {
		"{\"cmd\":\"ping\"}",
		"{\"cmd\":\"hello\",\"version\":1}",
		"{\"cmd\":\"stats\",\"pool\":\"none\"}",
		"{\"cmd\":\"attach\",\"pool\":\"x\"}",
		"{\"cmd\":\"create\",\"pool\":\"g\",\"elem_size\":8,\"min_nr\":1,\"align\":3}",
	};
	/* invalid UTF-8: stray continuation, truncated sequences, overlong
	 * forms, surrogates, bytes that never occur */
	static const char *const bad_utf8[] = {
		"\x80", "\xbf", "\xc3\x28", "\xe2\x28\xa1", "\xe2\x82", "\xf0\x28\x8c\xbc",
		"\xf0\x90\x28", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf8\x88\x80\x80\x80",
		"\xfe", "\xff", "\xf4\x90\x80\x80",
	};
	char *p = buf + len;
	unsigned kind = rng_below(5), n;

	switch (kind) {
	case 0:   /* random bytes, NULs included */
		n = rng_below(300);
		for (unsigned i = 0; i < n; i++) {
			char c = (char)rng_below(256);
			*p++ = c == '\n' ? '\0' : c;
		}
		break;
	case 1: { /* a valid request with one byte changed */
		const char *b = bases[rng_below(sizeof(bases) / sizeof(bases[0]))];
		size_t bl = strlen(b), at = rng_below((unsigned)bl);
		char c;

		memcpy(p, b, bl);
		do
			c = (char)rng_below(256);
		while (c == '\n' || c == b[at]);
		p[at] = c;
		p += bl;
		break;
	}
	case 2: { /* a request whose command carries invalid UTF-8 */
		const char *u = bad_utf8[rng_below(sizeof(bad_utf8) / sizeof(bad_utf8[0]))];

		p += sprintf(p, "{\"cmd\":\"pi%sng\"}", u);
		break;
	}
	case 3: { /* a valid request cut short, then more random bytes */
		const char *b = bases[rng_below(sizeof(bases) / sizeof(bases[0]))];
		size_t cut = rng_below((unsigned)strlen(b));

		memcpy(p, b, cut);
		p += cut;
		n = rng_below(40);
		for (unsigned i = 0; i < n; i++) {
			char c = (char)rng_below(256);
			*p++ = c == '\n' ? '\x01' : c;
		}
		break;
	}
	default: /* long runs: nesting, NULs, a long binary blob */
		n = 100 + rng_below(1800);
		for (unsigned i = 0; i < n; i++)
			*p++ = "[{\0\xff\"\\"[rng_below(6)];
		break;
	}
	*p++ = '\n';
	return (size_t)(p - buf);
}

static void test_garbage_on_many_connections(void **state)
{
	int fd[GARBAGE_CONNS];
	struct lr r[GARBAGE_CONNS];
	char *buf[GARBAGE_CONNS];
	size_t len[GARBAGE_CONNS], sent[GARBAGE_CONNS];
	unsigned codes_einval = 0, codes_other = 0;
	bool more = true;

	(void)state;
	rng_state = 0x5eed0001;
	for (int i = 0; i < GARBAGE_CONNS; i++) {
		buf[i] = malloc(GARBAGE_LINES * 2048 + sizeof(ping));
		assert_non_null(buf[i]);
		len[i] = sent[i] = 0;
		for (int l = 0; l < GARBAGE_LINES; l++)
			len[i] = garbage_line(buf[i], len[i]);
		/* then a ping: its reply must come right after the 100 errors */
		memcpy(buf[i] + len[i], ping, sizeof(ping) - 1);
		len[i] += sizeof(ping) - 1;
		fd[i] = conn_open(&F.e);
		lr_init(&r[i], fd[i]);
	}
	/* interleave the connections, in chunks that split lines anywhere */
	while (more) {
		more = false;
		for (int i = 0; i < GARBAGE_CONNS; i++) {
			size_t chunk = 1 + rng_below(3000);

			if (sent[i] == len[i])
				continue;
			if (chunk > len[i] - sent[i])
				chunk = len[i] - sent[i];
			e2e_raw_send(fd[i], buf[i] + sent[i], chunk);
			sent[i] += chunk;
			more = more || sent[i] < len[i];
		}
	}
	/* exactly one error reply per line, in order, then the ping's */
	for (int i = 0; i < GARBAGE_CONNS; i++) {
		for (int l = 0; l < GARBAGE_LINES; l++) {
			char *s = lr_reply(&r[i], "garbage line"), code[32];

			e2e_reply_code(s, code);
			if (!strcmp(code, "ok"))
				fail_msg("connection %d, garbage line %d: ok:true (a reply is "
					 "missing or a garbage line was accepted)", i, l);
			if (!strcmp(code, "EINVAL"))
				codes_einval++;
			else
				codes_other++;
			free(s);
		}
		e2e_expect_code(lr_reply(&r[i], "ping after garbage"), "ok", "ping after garbage");
		/* and the connection still serves */
		lr_ping(&r[i], "second ping after garbage");
		lr_free(&r[i]);
		free(buf[i]);
	}
	F.garbage_lines += GARBAGE_CONNS * GARBAGE_LINES;
	report("hostile: garbage: %d connections x %d lines: %u EINVAL, %u other errors, "
	       "0 missing\n", GARBAGE_CONNS, GARBAGE_LINES, codes_einval, codes_other);
	expect_daemon_alive();
}

/* ------------------------------------------------------------------ */
/* (2) truncated lines                                                  */

static void test_truncated_lines_get_no_reply(void **state)
{
	static const char req[] = "{\"cmd\":\"hello\",\"version\":1}";
	int fd[TRUNC_CONNS];
	char *buf = malloc(PCP_MAX_LINE + 64);

	(void)state;
	assert_non_null(buf);
	rng_state = 0x5eed0002;
	for (int i = 0; i < TRUNC_CONNS; i++) {
		size_t n;
		bool complete_first = i % 5 == 0;

		fd[i] = conn_open(&F.e);
		if (complete_first)
			e2e_raw_send(fd[i], ping, sizeof(ping) - 1);
		if (i % 3 == 0) {          /* a valid request, cut short */
			n = 1 + rng_below(sizeof(req) - 2);
			memcpy(buf, req, n);
		} else if (i % 3 == 1) {   /* random bytes, no newline */
			n = 1 + rng_below(PCP_MAX_LINE);
			for (size_t k = 0; k < n; k++) {
				char c = (char)rng_below(256);
				buf[k] = c == '\n' ? ' ' : c;
			}
		} else {                   /* padded, up to exactly the limit */
			n = i == 2 ? PCP_MAX_LINE : 1 + rng_below(PCP_MAX_LINE);
			memset(buf, ' ', n);
			memcpy(buf, req, n < sizeof(req) - 2 ? n : sizeof(req) - 2);
		}
		e2e_raw_send(fd[i], buf, n);
		if (i % 2) {
			/* the peer goes away mid-line */
			conn_close(fd[i]);
			fd[i] = -1;
		} else {
			/* the peer stops writing: only the complete line's reply,
			 * then the daemon closes */
			assert_int_equal(shutdown(fd[i], SHUT_WR), 0);
		}
	}
	for (int i = 0; i < TRUNC_CONNS; i += 2) {
		struct lr r;

		lr_init(&r, fd[i]);
		if (i % 5 == 0)
			e2e_expect_code(lr_reply(&r, "complete line before a truncated one"), "ok",
					"complete line before a truncated one");
		lr_expect_eof(&r, "truncated line, then end of stream");
		lr_free(&r);
		conn_close(fd[i]);
	}
	free(buf);
	/* nothing lingers: the daemon is back to the monitor alone */
	wait_clients(1);
	expect_fds_back();
	expect_daemon_alive();
}

/* ------------------------------------------------------------------ */
/* (3) lines past the size limit                                        */

static void test_overlong_lines_get_e2big(void **state)
{
	size_t big = 64 << 10, huge = 1 << 20;
	char *buf = malloc(huge + 1);
	int fd[OVERLONG_CONNS], f;
	struct lr r;

	(void)state;
	assert_non_null(buf);
	/* 64 KiB with no newline, on many connections at once: E2BIG, then
	 * the connection closes */
	memset(buf, 'x', huge + 1);
	for (int i = 0; i < OVERLONG_CONNS; i++) {
		fd[i] = conn_open(&F.e);
		(void)e2e_send_all(fd[i], buf, big);   /* may be cut off: EPIPE */
	}
	for (int i = 0; i < OVERLONG_CONNS; i++) {
		char *s;

		lr_init(&r, fd[i]);
		s = lr_reply(&r, "64 KiB line");
		e2e_expect_message(s, "longer than 4096");
		e2e_expect_code(s, "E2BIG", "64 KiB line");
		lr_expect_eof(&r, "after the E2BIG of a line that does not end");
		lr_free(&r);
		conn_close(fd[i]);
	}

	/* 1 MiB in one go: the same, and the daemon reads no more than it must */
	f = conn_open(&F.e);
	(void)e2e_send_all(f, buf, huge);
	lr_init(&r, f);
	e2e_expect_code(lr_reply(&r, "1 MiB line"), "E2BIG", "1 MiB line");
	lr_expect_eof(&r, "after the E2BIG of a 1 MiB line");
	lr_free(&r);
	conn_close(f);

	/* 10 KB WITH a newline: past what the daemon buffers (PCP_MAX_LINE + 2
	 * bytes), so it cannot see the end; it explains, then closes (the
	 * contract of daemon/conn.c and test_e2e) */
	f = conn_open(&F.e);
	memset(buf, ' ', 10000);
	memcpy(buf, "{\"cmd\":\"ping\"", 13);
	buf[9998] = '}';
	buf[9999] = '\n';
	(void)e2e_send_all(f, buf, 10000);
	lr_init(&r, f);
	e2e_expect_code(lr_reply(&r, "10 KB line"), "E2BIG", "10 KB line");
	lr_expect_eof(&r, "after the E2BIG of a 10 KB line");
	lr_free(&r);
	conn_close(f);

	/* 4097 bytes and its newline, in one write: the whole line is seen,
	 * refused with E2BIG, and the connection stays usable */
	f = conn_open(&F.e);
	lr_init(&r, f);
	memset(buf, ' ', PCP_MAX_LINE + 2);
	memcpy(buf, "{\"cmd\":\"ping\"", 13);
	buf[PCP_MAX_LINE] = '}';
	buf[PCP_MAX_LINE + 1] = '\n';
	e2e_raw_send(f, buf, PCP_MAX_LINE + 2);
	{
		char *s = lr_reply(&r, "4097-byte line");

		e2e_expect_message(s, "4097 bytes");
		e2e_expect_code(s, "E2BIG", "4097-byte line");
	}
	lr_ping(&r, "ping after a 4097-byte line");
	/* and 4096 bytes pass, on the same connection */
	buf[PCP_MAX_LINE - 1] = '}';
	buf[PCP_MAX_LINE] = '\n';
	e2e_raw_send(f, buf, PCP_MAX_LINE + 1);
	e2e_expect_code(lr_reply(&r, "4096-byte line"), "ok", "4096-byte line");
	lr_free(&r);
	conn_close(f);
	free(buf);
	expect_daemon_alive();
}

/* ------------------------------------------------------------------ */
/* a client that never reads its replies                                */

static void test_unread_replies_cut_off(void **state)
{
	/* ENOENT, quoting the 60-byte name: ~130 bytes per reply */
	static const char req[] = "{\"cmd\":\"stats\",\"pool\":\""
		"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu\"}\n";
	size_t rl = sizeof(req) - 1, total = rl * UNREAD_REQUESTS;
	char *buf = malloc(total);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < UNREAD_REQUESTS; i++)
		memcpy(buf + i * rl, req, rl);
	for (int c = 0; c < UNREAD_CONNS; c++) {
		int fd = conn_open(&F.e);
		struct lr r;
		unsigned got = 0;
		char *s;

		/* ~2.6 MB of replies pile up: the daemon must drop us past
		 * PCP_MAX_REPLY buffered instead of buffering without bound */
		(void)e2e_send_all(fd, buf, total);
		sample_rss();
		lr_init(&r, fd);
		while ((s = lr_line(&r, E2E_REPLY_TIMEOUT_MS))) {
			if (got == 0)
				e2e_expect_code(strdup(s), "ENOENT", "stats of an unknown pool");
			got++;
			free(s);
		}
		if (r.timeout)
			fail_msg("a client that never read: still connected after %u replies", got);
		if (got == 0 || got >= UNREAD_REQUESTS)
			fail_msg("a client that never read got %u of %d replies before the close",
				 got, UNREAD_REQUESTS);
		if (c == 0)
			report("hostile: a client that never reads: cut off after %u of %d "
			       "replies\n", got, UNREAD_REQUESTS);
		lr_free(&r);
		conn_close(fd);
	}
	free(buf);
	expect_daemon_alive();
}

/* ------------------------------------------------------------------ */
/* (4) slow byte-at-a-time clients                                      */

struct slow {
	int fd[SLOW_CONNS];
	const char *msg;
	size_t len;
	int err;                 /* first send error (errno) */
	atomic_bool done;
};

static void *slow_writer(void *arg)
{
	struct slow *s = arg;
	size_t pos[SLOW_CONNS] = { 0 };
	int64_t due[SLOW_CONNS] = { 0 };
	bool busy = true;

	while (busy) {
		int64_t now = e2e_now_ms();

		busy = false;
		for (int i = 0; i < SLOW_CONNS; i++) {
			if (pos[i] == s->len)
				continue;
			busy = true;
			if (now < due[i])
				continue;
			if (send(s->fd[i], s->msg + pos[i], 1, MSG_NOSIGNAL) != 1) {
				if (!s->err)
					s->err = errno;
				pos[i] = s->len;
				continue;
			}
			pos[i]++;
			due[i] = now + 2 + i % 4;   /* a byte every 2-5 ms */
		}
		e2e_sleep_ms(1);
	}
	atomic_store(&s->done, true);
	return NULL;
}

static void test_slow_byte_at_a_time_clients(void **state)
{
	char msg[256];
	struct slow s;
	struct lr r;
	pthread_t t;
	int pinger;
	int64_t n = 0, worst = 0, sum = 0;

	(void)state;
	/* two valid requests, the first padded to 150 bytes */
	memset(msg, ' ', sizeof(msg));
	memcpy(msg, "{\"cmd\":\"ping\"", 13);
	msg[148] = '}';
	msg[149] = '\n';
	strcpy(msg + 150, "{\"cmd\":\"hello\",\"version\":1}\n");
	memset(&s, 0, sizeof(s));
	s.msg = msg;
	s.len = strlen(msg);
	for (int i = 0; i < SLOW_CONNS; i++)
		s.fd[i] = conn_open(&F.e);
	pinger = conn_open(&F.e);
	lr_init(&r, pinger);
	atomic_store(&s.done, false);
	assert_int_equal(pthread_create(&t, NULL, slow_writer, &s), 0);
	while (!atomic_load(&s.done)) {
		int64_t t0 = e2e_now_ns(), us;

		e2e_raw_send(pinger, ping, sizeof(ping) - 1);
		e2e_expect_code(lr_reply(&r, "ping among slow clients"), "ok",
				"ping among slow clients");
		us = (e2e_now_ns() - t0) / 1000;
		n++;
		sum += us;
		if (us > worst)
			worst = us;
		e2e_sleep_ms(2);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	if (s.err)
		fail_msg("slow client: send: %s", strerror(s.err));
	/* every slow client gets both replies, in order */
	for (int i = 0; i < SLOW_CONNS; i++) {
		struct lr sr;
		char *h;
		json_t *j;

		lr_init(&sr, s.fd[i]);
		e2e_expect_code(lr_reply(&sr, "slow ping"), "ok", "slow ping");
		h = lr_reply(&sr, "slow hello");
		j = e2e_parse_reply(h);
		if (!json_is_true(json_object_get(j, "ok")) || !json_object_get(j, "server"))
			fail_msg("slow hello: %s", h);
		json_decref(j);
		free(h);
		lr_free(&sr);
	}
	lr_free(&r);
	F.slow_pings = n;
	F.slow_rtt_max_us = worst;
	F.slow_rtt_sum_us = sum;
	report("hostile: %d slow clients (%zu bytes each, a byte every 2-5 ms): %lld pings, "
	       "round trip mean %lld us, worst %lld us\n", SLOW_CONNS, s.len, (long long)n,
	       (long long)(n ? sum / n : 0), (long long)worst);
	if (n < 20)
		fail_msg("only %lld pings while the slow clients wrote", (long long)n);
	if (worst >= SLOW_PING_MAX_MS * 1000)
		fail_msg("a ping took %lld us while slow clients wrote (limit %d ms)",
			 (long long)worst, SLOW_PING_MAX_MS);
	expect_daemon_alive();
}

/* ------------------------------------------------------------------ */
/* (6) descriptors sent to the daemon                                   */

static void test_fds_sent_to_the_daemon_are_dropped(void **state)
{
	int fd[FD_CONNS], nul[E2E_FD_MAX_PER_MSG], pipefd[2], during;
	struct lr r[FD_CONNS];
	unsigned sent = 0;

	(void)state;
	expect_fds_back();
	for (int i = 0; i < E2E_FD_MAX_PER_MSG; i++) {
		nul[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
		assert_true(nul[i] >= 0);
	}
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	for (int i = 0; i < FD_CONNS; i++) {
		fd[i] = conn_open(&F.e);
		lr_init(&r[i], fd[i]);
	}
	for (int m = 0; m < FD_MSGS_PER_CONN; m++)
		for (int i = 0; i < FD_CONNS; i++) {
			/* six /dev/null, a pipe, and the very socket it travels on */
			int set[FD_PER_MSG] = { nul[0], nul[1], nul[2], nul[3], nul[4], nul[5],
						pipefd[0], fd[i] };
			int rc = e2e_send_fds(fd[i], ping, sizeof(ping) - 1, set, FD_PER_MSG);

			if (rc < 0)
				fail_msg("sendmsg SCM_RIGHTS: %s", strerror(-rc));
			sent += FD_PER_MSG;
			e2e_expect_code(lr_reply(&r[i], "ping carrying descriptors"), "ok",
					"ping carrying descriptors");
		}
	for (int i = 0; i < FD_CONNS; i++) {
		static const char junk[] = "\x01\xff not json\n";
		static const char half1[] = "{\"cmd\":", half2[] = "\"ping\"}\n";
		int rc;

		/* descriptors on garbage: an error reply all the same */
		rc = e2e_send_fds(fd[i], junk, sizeof(junk) - 1, nul, FD_PER_MSG);
		assert_int_equal(rc, 0);
		e2e_expect_code(lr_reply(&r[i], "garbage carrying descriptors"), "EINVAL",
				"garbage carrying descriptors");
		/* descriptors on half a line, the other half without */
		rc = e2e_send_fds(fd[i], half1, sizeof(half1) - 1, nul + 8, FD_PER_MSG);
		assert_int_equal(rc, 0);
		e2e_sleep_ms(1);
		e2e_raw_send(fd[i], half2, sizeof(half2) - 1);
		e2e_expect_code(lr_reply(&r[i], "line split around descriptors"), "ok",
				"line split around descriptors");
		sent += 2 * FD_PER_MSG;
	}
	/* the most one message can carry */
	assert_int_equal(e2e_send_fds(fd[0], ping, sizeof(ping) - 1, nul, E2E_FD_MAX_PER_MSG), 0);
	sent += E2E_FD_MAX_PER_MSG;
	e2e_expect_code(lr_reply(&r[0], "ping carrying 253 descriptors"), "ok",
			"ping carrying 253 descriptors");
	/* descriptors in flight when the connection closes unread */
	{
		int g = conn_open(&F.e);

		assert_int_equal(e2e_send_fds(g, "{\"cmd\":", 7, nul, E2E_FD_MAX_PER_MSG), 0);
		sent += E2E_FD_MAX_PER_MSG;
		conn_close(g);
	}
	/* none of them became the daemon's: one descriptor per connection */
	during = proc_nr_fds(F.e.pid);
	if (during > F.fds0 + FD_CONNS + 1)
		fail_msg("the daemon holds %d descriptors with %d connections open "
			 "(baseline %d): received descriptors were kept", during, FD_CONNS,
			 F.fds0);
	for (int i = 0; i < FD_CONNS; i++) {
		lr_free(&r[i]);
		conn_close(fd[i]);
	}
	for (int i = 0; i < E2E_FD_MAX_PER_MSG; i++)
		close(nul[i]);
	close(pipefd[0]);
	close(pipefd[1]);
	wait_clients(1);
	expect_fds_back();
	F.fds_sent += sent;
	report("hostile: %u descriptors sent to the daemon in %d messages: daemon held %d "
	       "descriptors during (baseline %d, %d connections), %d after\n", sent,
	       FD_CONNS * (FD_MSGS_PER_CONN + 2) + 2, during, F.fds0, FD_CONNS + 1,
	       proc_nr_fds(F.e.pid));
	expect_daemon_alive();
}

/* ------------------------------------------------------------------ */
/* (5) 1,000 connections from one uid: the per-uid cap                  */

static void test_thousand_connections_one_uid(void **state)
{
	int *fd = calloc(FLOOD_CONNS, sizeof(int));
	unsigned served = 0, refused = 0;
	int64_t t0 = e2e_now_ms();

	(void)state;
	assert_non_null(fd);
	if (raise_nofile(NOFILE_WANT) < FLOOD_CONNS + 64 ||
	    proc_nofile(F.e.pid) < PCP_MAX_CLIENTS_PER_UID + 64) {
		free(fd);
		F.uid_skipped = true;
		printf("hostile: %d connections from one uid: skipped (RLIMIT_NOFILE too "
		       "low)\n", FLOOD_CONNS);
		skip();
	}
	wait_clients(1);
	/* all at once: connect them all, then a ping on each */
	for (int i = 0; i < FLOOD_CONNS; i++)
		fd[i] = conn_open(&F.e);
	for (int i = 0; i < FLOOD_CONNS; i++)
		(void)e2e_send_all(fd[i], ping, sizeof(ping) - 1);   /* refused: EPIPE */
	for (int i = 0; i < FLOOD_CONNS; i++) {
		struct lr r;
		char *s, code[32];

		lr_init(&r, fd[i]);
		s = lr_reply(&r, "one of 1000 connections");
		e2e_reply_code(s, code);
		if (!strcmp(code, "ok")) {
			served++;
		} else if (!strcmp(code, "EUSERS")) {
			e2e_expect_message(s, "this uid");
			refused++;
			lr_expect_eof(&r, "refused connection");
		} else {
			fail_msg("connection %d of %d: %s", i, FLOOD_CONNS, s);
		}
		free(s);
		lr_free(&r);
	}
	sample_rss();
	/* the monitor is the 256th connection of this uid */
	if (served != PCP_MAX_CLIENTS_PER_UID - 1 || refused != FLOOD_CONNS - served)
		fail_msg("%d connections from one uid: %u served, %u refused; expected %d "
			 "served (the cap %d, with the monitor)", FLOOD_CONNS, served, refused,
			 PCP_MAX_CLIENTS_PER_UID - 1, PCP_MAX_CLIENTS_PER_UID);
	assert_int_equal(mon_clients(), PCP_MAX_CLIENTS_PER_UID);
	F.uid_served = served + 1;
	F.uid_refused = refused;
	if (served + 1 > F.held_max)
		F.held_max = served + 1;
	for (int i = 0; i < FLOOD_CONNS; i++)
		conn_close(fd[i]);
	wait_clients(1);
	/* closed: new connections are served again, up to the cap */
	for (int i = 0; i < PCP_MAX_CLIENTS_PER_UID - 1; i++) {
		struct lr r;

		fd[i] = conn_open(&F.e);
		lr_init(&r, fd[i]);
		lr_ping(&r, "connection after the flood");
		lr_free(&r);
	}
	assert_int_equal(mon_clients(), PCP_MAX_CLIENTS_PER_UID);
	for (int i = 0; i < PCP_MAX_CLIENTS_PER_UID - 1; i++)
		conn_close(fd[i]);
	free(fd);
	report("hostile: %d connections from one uid: %u served + the monitor = %u held "
	       "(the per-uid cap), %u refused with EUSERS and closed; %d served again after "
	       "they closed; %lld ms\n", FLOOD_CONNS, served, F.uid_served, refused,
	       PCP_MAX_CLIENTS_PER_UID - 1, (long long)(e2e_now_ms() - t0));
	expect_daemon_alive();
}

/* ------------------------------------------------------------------ */
/* (5) 1,000 connections held at once, from four uids; the global cap  */

/* In a child: become @uid (keeping gid 0, which may use the socket), open
 * HELD_PER_UID connections, ping each, report the count of good replies
 * on @report, hold them until @release closes. */
static void held_child(const struct e2e *e, uid_t uid, int report, int release)
{
	pid_t parent = getppid();
	static int fds[HELD_PER_UID];
	int ok = 0;
	char c;

	if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(uid, uid, uid) < 0)
		_exit(10);
	/* a change of credentials clears the parent-death signal */
	e2e_child_init(parent);
	for (int i = 0; i < HELD_PER_UID; i++) {
		fds[i] = e2e_connect_path(e->sock);
		if (fds[i] < 0)
			_exit(12);
	}
	for (int i = 0; i < HELD_PER_UID; i++)
		if (e2e_write_full(fds[i], ping, sizeof(ping) - 1) < 0)
			_exit(13);
	for (int i = 0; i < HELD_PER_UID; i++) {
		char buf[12];

		if (e2e_read_full(fds[i], buf, sizeof(buf), E2E_REPLY_TIMEOUT_MS) == 0 &&
		    !memcmp(buf, "{\"ok\":true}\n", 12))
			ok++;
	}
	if (write(report, &ok, sizeof(ok)) != sizeof(ok))
		_exit(14);
	/* hold them until the parent says so (or goes away) */
	{
		struct pollfd p = { .fd = release, .events = POLLIN };

		if (poll(&p, 1, 60000) < 0)
			_exit(15);
	}
	if (read(release, &c, 1) != 0)
		_exit(16);
	for (int i = 0; i < HELD_PER_UID; i++)
		close(fds[i]);
	_exit(ok == HELD_PER_UID ? 0 : 17);
}

static void test_thousand_connections_held(void **state)
{
	int report[2], release[2], extra[PCP_MAX_CLIENTS], nextra = 0, fds_held;
	pid_t kids[HELD_UIDS];
	json_int_t held;
	long rss_held;
	int64_t t0;
	char *s;
	struct lr r;

	(void)state;
	if (geteuid() != 0) {
		F.held_skipped = true;
		printf("hostile: 1000 connections from %d uids: skipped (needs root to "
		       "connect as other uids)\n", HELD_UIDS);
		skip();
	}
	if (proc_nofile(F.e.pid) < PCP_MAX_CLIENTS + 64 ||
	    raise_nofile(NOFILE_WANT) < PCP_MAX_CLIENTS + 64) {
		F.held_skipped = true;
		printf("hostile: 1000 connections: skipped (RLIMIT_NOFILE too low)\n");
		skip();
	}
	wait_clients(1);
	/* gid 0 may use the socket (0660); let it through the directory */
	assert_int_equal(chmod(F.e.dir, 0750), 0);
	assert_int_equal(pipe2(report, O_CLOEXEC), 0);
	assert_int_equal(pipe2(release, O_CLOEXEC), 0);
	t0 = e2e_now_ms();
	for (int k = 0; k < HELD_UIDS; k++) {
		kids[k] = e2e_fork(&F.e);
		if (kids[k] == 0) {
			close(report[0]);
			close(release[1]);
			held_child(&F.e, (uid_t)(HELD_UID_BASE + k), report[1], release[0]);
		}
	}
	close(report[1]);
	close(release[0]);
	for (int k = 0; k < HELD_UIDS; k++) {
		int ok = -1;

		if (e2e_read_full(report[0], &ok, sizeof(ok), 20000) < 0)
			fail_msg("a child holding connections did not report");
		if (ok != HELD_PER_UID)
			fail_msg("a child with uid %d-%d: %d of its %d connections answered",
				 HELD_UID_BASE, HELD_UID_BASE + HELD_UIDS - 1, ok, HELD_PER_UID);
	}
	/* all held at once: the children's, and the monitor */
	held = mon_clients();
	assert_int_equal(held, HELD_UIDS * HELD_PER_UID + 1);
	fds_held = proc_nr_fds(F.e.pid);
	rss_held = proc_rss_kb(F.e.pid);
	sample_rss();
	/* up to the global cap (max_clients defaults to PCP_MAX_CLIENTS) ... */
	while (held + nextra < PCP_MAX_CLIENTS) {
		extra[nextra] = conn_open(&F.e);
		lr_init(&r, extra[nextra]);
		lr_ping(&r, "connection up to the global cap");
		lr_free(&r);
		nextra++;
	}
	assert_int_equal(mon_clients(), PCP_MAX_CLIENTS);
	if (proc_nr_fds(F.e.pid) > F.fds_peak)
		F.fds_peak = proc_nr_fds(F.e.pid);
	/* ... and one more is refused, with a reason */
	{
		int f = conn_open(&F.e);

		lr_init(&r, f);
		(void)e2e_send_all(f, ping, sizeof(ping) - 1);
		s = lr_reply(&r, "connection past the global cap");
		e2e_expect_message(s, "too many clients");
		e2e_expect_code(s, "EUSERS", "connection past the global cap");
		lr_expect_eof(&r, "connection past the global cap");
		lr_free(&r);
		conn_close(f);
	}
	F.held_max = PCP_MAX_CLIENTS;
	report("hostile: connections held: %lld at once (%d from %d uids, all answered, + "
	       "the monitor; daemon: %d descriptors, VmRSS %ld kB), then %d: the global cap; "
	       "one more refused with EUSERS; %lld ms\n", (long long)held,
	       HELD_UIDS * HELD_PER_UID, HELD_UIDS, fds_held, rss_held, PCP_MAX_CLIENTS,
	       (long long)(e2e_now_ms() - t0));
	/* release everyone */
	close(release[1]);
	close(report[0]);
	for (int k = 0; k < HELD_UIDS; k++)
		e2e_expect_child_ok(&F.e, kids[k], 10000);
	for (int i = 0; i < nextra; i++)
		conn_close(extra[i]);
	wait_clients(1);
	/* and the daemon serves again */
	{
		int f = conn_open(&F.e);

		lr_init(&r, f);
		lr_ping(&r, "connection after the release");
		lr_free(&r);
		conn_close(f);
	}
	assert_int_equal(chmod(F.e.dir, 0700), 0);
	expect_daemon_alive();
}

/* ------------------------------------------------------------------ */
/* (7) after all the floods                                             */

/* The heaviest floods once more: memory that grows with traffic (a leak
 * the sanitizers cannot see, like a list that only grows) shows here, in
 * every build: a second round must not add more than a few MiB. */
/* How much more memory a sanitizer-built daemon may use than a plain one. */
static long san_factor(void)
{
	if (!F.sanitizer)
		return 1;
	return strcmp(F.sanitizer, "TSan") ? SAN_RSS_FACTOR : TSAN_RSS_FACTOR;
}

static void test_floods_again_do_not_grow(void **state)
{
	long before, after;
	long limit_kb = ROUND2_RSS_LIMIT_MB * 1024L * san_factor();

	wait_clients(1);
	before = proc_rss_kb(F.e.pid);
	F.quiet = true;
	test_garbage_on_many_connections(state);
	flood_test_teardown(state);
	test_unread_replies_cut_off(state);
	flood_test_teardown(state);
	test_fds_sent_to_the_daemon_are_dropped(state);
	flood_test_teardown(state);
	if (!F.uid_skipped) {
		test_thousand_connections_one_uid(state);
		flood_test_teardown(state);
	}
	if (!F.held_skipped) {
		test_thousand_connections_held(state);
		flood_test_teardown(state);
	}
	F.quiet = false;
	after = proc_rss_kb(F.e.pid);
	F.rss_round2_kb = after - before;
	printf("hostile: the same floods again: VmRSS %ld kB -> %ld kB (growth %ld kB, "
	       "limit %ld MiB)\n", before, after, after - before, limit_kb / 1024);
	if (after - before >= limit_kb)
		fail_msg("the daemon's RSS grew by %ld kB over a second round of the same "
			 "floods (limit %ld MiB): memory grows with traffic", after - before,
			 limit_kb / 1024);
}

static void test_memory_and_descriptors_bounded(void **state)
{
	long rss;
	long limit_kb = FLOOD_RSS_LIMIT_MB * 1024L * san_factor();
	int fds;

	(void)state;
	F.quiet = false;
	wait_clients(1);
	expect_fds_back();
	fds = proc_nr_fds(F.e.pid);
	sample_rss();
	rss = proc_rss_kb(F.e.pid);
	printf("hostile: daemon VmRSS: %ld kB before the floods, %ld kB peak, %ld kB after "
	       "(growth %ld kB, limit %ld MiB%s%s); descriptors %d before, %d peak, %d after; "
	       "%lld requests served\n", F.rss0_kb, F.rss_peak_kb, rss, rss - F.rss0_kb,
	       limit_kb / 1024, F.sanitizer ? " for a daemon built with " : "",
	       F.sanitizer ? F.sanitizer : "",
	       F.fds0, F.fds_peak, fds, (long long)mon_daemon_stat("requests"));
	if (rss - F.rss0_kb >= limit_kb)
		fail_msg("the daemon's RSS grew by %ld kB over the floods (limit %ld MiB)",
			 rss - F.rss0_kb, limit_kb / 1024);
	expect_daemon_alive();
}

static void test_library_client_then_clean_exit(void **state)
{
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN];
	void *x[64];

	(void)state;
	c = e2e_client(&F.e);
	p = pcpupool_create(c, e2e_name(&F.e, "after-floods", name), 8, 64, 64);
	if (!p)
		fail_msg("pcpupool_create after the floods: %s", strerror(errno));
	for (int i = 0; i < 64; i++) {
		x[i] = pcpupool_alloc(p, PCPUPOOL_WAIT);
		if (!x[i])
			fail_msg("pcpupool_alloc after the floods: %s", strerror(errno));
		memset(x[i], 0xa5, 64);
	}
	for (int i = 0; i < 64; i++)
		pcpupool_free(x[i], p);
	e2e_expect_conserved(c, name);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
	lr_ping(&F.mon_r, "ping after the library client");
	/* SIGTERM: exit status 0 (under ASan: no leak either) */
	close(F.mon);
	F.stopped = true;
	e2e_stop(&F.e);
}

/* ------------------------------------------------------------------ */
/* (8) limits, each on a daemon of its own                              */

/* A daemon per test: e2e_setup()'s, or one with max_clients 10, with
 * request_timeout_ms PARTIAL_TIMEOUT_MS, or with no sweep during the test
 * (its first a minute away: what catches a rewritten header is then the
 * request itself). */
static int limit_setup_max10(void **state)
{
	return e2e_setup_config(state, "\"max_clients\": 10,", E2E_SWEEP_MS);
}

static int limit_setup_partial(void **state)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "\"request_timeout_ms\": %d,", PARTIAL_TIMEOUT_MS);
	return e2e_setup_config(state, extra, E2E_SWEEP_MS);
}

static int limit_setup_nosweep(void **state)
{
	return e2e_setup_config(state, "", 60000);
}

static int limit_teardown(void **state)
{
	conn_close_all();
	return e2e_teardown(state);
}

/* stats.daemon.clients over @r. */
static json_int_t clients_over(struct lr *r)
{
	return daemon_stat_over(r, "clients");
}

/* Attach pool @name on the raw connection @fd: the reply in @reply (@len
 * bytes), and the descriptor it carries first, the pool's memfd, returned
 * (the others closed). */
static int attach_memfd(int fd, const char *name, char *reply, size_t len)
{
	char req[128];
	int memfd;

	snprintf(req, sizeof(req), "{\"cmd\":\"attach\",\"pool\":\"%s\"}\n", name);
	e2e_send_str(fd, req);
	assert_true(e2e_recv_fd(fd, reply, len, 0, &memfd) > 0);
	if (!strstr(reply, "\"ok\":true"))
		fail_msg("attach %s: %s", name, reply);
	assert_true(memfd >= 0);
	return memfd;
}

/* pools[].<key> of pool @name, read with the "pools" command (which checks
 * nothing: it shows the daemon's record as it stands). */
static json_t *pool_field(struct lr *r, const char *name, const char *key)
{
	json_t *j, *pl, *v = NULL;
	size_t i;
	char *s;

	e2e_send_str(r->fd, "{\"cmd\":\"pools\"}\n");
	s = lr_reply(r, "pools");
	j = e2e_parse_reply(s);
	json_array_foreach(json_object_get(j, "pools"), i, pl)
		if (!strcmp(json_string_value(json_object_get(pl, "name")) ?: "", name))
			v = json_incref(json_object_get(pl, key));
	json_decref(j);
	if (!v)
		fail_msg("pools: no %s of pool %s: %s", key, name, s);
	free(s);
	return v;
}

static void test_global_max_clients(void **state)
{
	struct e2e *e = *state;
	struct lr r[10], x;
	int fd[10], f;
	json_int_t n = -1;
	char *s;

	fd[0] = conn_open(e);
	lr_init(&r[0], fd[0]);
	if (!e2e_poll((n = clients_over(&r[0])) == 1, IDLE_MS))
		fail_msg("%lld clients with one connection", (long long)n);
	for (int i = 1; i < 10; i++) {
		fd[i] = conn_open(e);
		lr_init(&r[i], fd[i]);
		lr_ping(&r[i], "connection under max_clients");
	}
	assert_int_equal(clients_over(&r[0]), 10);
	/* the 11th: EUSERS, then closed */
	f = conn_open(e);
	lr_init(&x, f);
	(void)e2e_send_all(f, ping, sizeof(ping) - 1);
	s = lr_reply(&x, "11th connection");
	e2e_expect_message(s, "too many clients");
	e2e_expect_code(s, "EUSERS", "11th connection");
	lr_expect_eof(&x, "11th connection");
	lr_free(&x);
	conn_close(f);
	/* the ten still serve */
	for (int i = 0; i < 10; i++)
		lr_ping(&r[i], "connection under max_clients, after a refusal");
	/* one leaves: a newcomer is served */
	lr_free(&r[9]);
	conn_close(fd[9]);
	if (!e2e_poll((n = clients_over(&r[0])) == 9, IDLE_MS))
		fail_msg("%lld clients after one of ten left", (long long)n);
	fd[9] = conn_open(e);
	lr_init(&r[9], fd[9]);
	lr_ping(&r[9], "connection after one left");
	assert_int_equal(clients_over(&r[0]), 10);
	for (int i = 0; i < 10; i++) {
		lr_free(&r[i]);
		conn_close(fd[i]);
	}
	printf("hostile: max_clients 10: 10 held, the 11th refused with EUSERS\n");
}

static void test_request_size_limit(void **state)
{
	struct e2e *e = *state;
	char *line = malloc(PCP_MAX_LINE + 2);
	int fd = conn_open(e);
	struct lr r;

	assert_non_null(line);
	lr_init(&r, fd);
	/* exactly PCP_MAX_LINE bytes of JSON padded with spaces: accepted */
	memset(line, ' ', PCP_MAX_LINE + 2);
	memcpy(line, "{\"cmd\":\"hello\",\"version\":1", 26);
	line[PCP_MAX_LINE - 1] = '}';
	line[PCP_MAX_LINE] = '\n';
	e2e_raw_send(fd, line, PCP_MAX_LINE + 1);
	e2e_expect_code(lr_reply(&r, "4096-byte request"), "ok", "4096-byte request");
	/* one byte more: E2BIG, and the connection serves on */
	line[PCP_MAX_LINE - 1] = ' ';
	line[PCP_MAX_LINE] = '}';
	line[PCP_MAX_LINE + 1] = '\n';
	e2e_raw_send(fd, line, PCP_MAX_LINE + 2);
	e2e_expect_code(lr_reply(&r, "4097-byte request"), "E2BIG", "4097-byte request");
	lr_ping(&r, "ping after a 4097-byte request");
	/* a 4096-byte request split into many writes is still one request */
	line[PCP_MAX_LINE - 1] = '}';
	line[PCP_MAX_LINE] = '\n';
	for (size_t off = 0; off < PCP_MAX_LINE + 1; off += 997) {
		size_t n = PCP_MAX_LINE + 1 - off < 997 ? PCP_MAX_LINE + 1 - off : 997;

		e2e_raw_send(fd, line + off, n);
		e2e_sleep_ms(1);
	}
	e2e_expect_code(lr_reply(&r, "4096-byte request in pieces"), "ok",
			"4096-byte request in pieces");
	lr_free(&r);
	conn_close(fd);
	free(line);
}

static void test_pool_count_limit(void **state)
{
	struct e2e *e = *state;
	size_t cap = (PCP_MAX_POOLS + 2) * 96, len = 0;
	char *buf = malloc(cap), *s;
	int fd = conn_open(e);
	struct lr r;
	json_t *j;

	assert_non_null(buf);
	if (proc_nofile(e->pid) < 2 * PCP_MAX_POOLS + 64) {
		/* two memfds per pool */
		free(buf);
		printf("hostile: pools: skipped (RLIMIT_NOFILE too low)\n");
		skip();
	}
	lr_init(&r, fd);
	/* PCP_MAX_POOLS + 1 creates, pipelined in one write */
	for (int i = 0; i <= PCP_MAX_POOLS; i++)
		len += (size_t)snprintf(buf + len, cap - len,
					"{\"cmd\":\"create\",\"pool\":\"lim%03d\",\"elem_size\":8,"
					"\"min_nr\":1}\n", i);
	e2e_raw_send(fd, buf, len);
	for (int i = 0; i < PCP_MAX_POOLS; i++)
		e2e_expect_code(lr_reply(&r, "create under the pool limit"), "ok",
				"create under the pool limit");
	s = lr_reply(&r, "create past the pool limit");
	e2e_expect_message(s, "at most 256 pools");
	e2e_expect_code(s, "ENOSPC", "create past the pool limit");
	/* they are all there */
	e2e_send_str(fd, "{\"cmd\":\"pools\"}\n");
	s = lr_reply(&r, "pools");
	j = e2e_parse_reply(s);
	assert_int_equal(json_array_size(json_object_get(j, "pools")), PCP_MAX_POOLS);
	json_decref(j);
	free(s);
	/* one goes: one can be created, and no more */
	e2e_send_str(fd, "{\"cmd\":\"destroy\",\"pool\":\"lim000\"}\n");
	e2e_expect_code(lr_reply(&r, "destroy"), "ok", "destroy");
	e2e_send_str(fd, "{\"cmd\":\"create\",\"pool\":\"again\",\"elem_size\":8,\"min_nr\":1}\n");
	e2e_expect_code(lr_reply(&r, "create after a destroy"), "ok", "create after a destroy");
	e2e_send_str(fd, "{\"cmd\":\"create\",\"pool\":\"again2\",\"elem_size\":8,\"min_nr\":1}\n");
	e2e_expect_code(lr_reply(&r, "create past the limit again"), "ENOSPC",
			"create past the limit again");
	printf("hostile: pools: %d created, the next refused with ENOSPC (daemon: %d "
	       "descriptors, VmRSS %ld kB)\n", PCP_MAX_POOLS, proc_nr_fds(e->pid),
	       proc_rss_kb(e->pid));
	lr_free(&r);
	conn_close(fd);
	free(buf);
}

static void test_pool_size_limits(void **state)
{
	static const struct {
		const char *line;
		const char *code;
	} cases[] = {
		/* elements per pool */
		{ "{\"cmd\":\"create\",\"pool\":\"e1\",\"elem_size\":8,\"min_nr\":1,"
		  "\"max_elems\":16777217}", "EINVAL" },
		/* pool memory: 1 MiB x 4097 > 4 GiB */
		{ "{\"cmd\":\"create\",\"pool\":\"m1\",\"elem_size\":1048576,\"min_nr\":1,"
		  "\"max_elems\":4097}", "E2BIG" },
		/* the stride counts, not elem_size: (1 MiB - 1) aligned to 4096 */
		{ "{\"cmd\":\"create\",\"pool\":\"m2\",\"elem_size\":1048575,\"align\":4096,"
		  "\"min_nr\":1,\"max_elems\":4097}", "E2BIG" },
		/* and strides are at least 8-aligned: 255 bytes at align 1 take
		 * 256, so 2^24 of them are 4 GiB exactly ... */
		/* ... and 257 take 264: 4.1 GiB */
		{ "{\"cmd\":\"create\",\"pool\":\"m3\",\"elem_size\":257,\"align\":1,"
		  "\"min_nr\":1,\"max_elems\":16777216}", "E2BIG" },
		/* elements too big */
		{ "{\"cmd\":\"create\",\"pool\":\"s1\",\"elem_size\":1048577,\"min_nr\":1}",
		  "EINVAL" },
		/* reserve too big */
		{ "{\"cmd\":\"create\",\"pool\":\"r1\",\"elem_size\":8,\"min_nr\":1048577}",
		  "EINVAL" },
		/* max_elems below the reserves */
		{ "{\"cmd\":\"create\",\"pool\":\"r2\",\"elem_size\":8,\"min_nr\":4,"
		  "\"max_elems\":1}", "EINVAL" },
		/* negative and non-integer numbers */
		{ "{\"cmd\":\"create\",\"pool\":\"n1\",\"elem_size\":8,\"min_nr\":1,"
		  "\"max_elems\":-1}", "EINVAL" },
		{ "{\"cmd\":\"create\",\"pool\":\"n2\",\"elem_size\":8,\"min_nr\":1,"
		  "\"max_elems\":1e30}", "EINVAL" },
		{ "{\"cmd\":\"create\",\"pool\":\"n3\",\"elem_size\":8,\"min_nr\":1,"
		  "\"max_elems\":18446744073709551615}", "EINVAL" },
	};
	struct e2e *e = *state;
	int fd = conn_open(e);
	struct lr r;
	char *s;

	lr_init(&r, fd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e2e_raw_send(fd, cases[i].line, strlen(cases[i].line));
		e2e_send_str(fd, "\n");
		e2e_expect_code(lr_reply(&r, cases[i].line), cases[i].code, cases[i].line);
	}
	/* exactly at the limits: accepted (virtual size only: 2 elements are
	 * backed) */
	e2e_send_str(fd, "{\"cmd\":\"create\",\"pool\":\"at-limit\",\"elem_size\":1048576,"
		"\"min_nr\":1,\"max_elems\":4096}\n");
	s = lr_reply(&r, "create at the memory limit");
	e2e_expect_code(s, "ok", "create at the memory limit (4 GiB)");
	/* (not created at exactly PCP_MAX_ELEMS: slab_format() writes the
	 * metadata of every element up front, 128 MiB for 2^24 elements) */
	/* resize past the reserve limit */
	e2e_send_str(fd, "{\"cmd\":\"resize\",\"pool\":\"at-limit\",\"min_nr\":1048577}\n");
	e2e_expect_code(lr_reply(&r, "resize past PCP_MAX_MIN_NR"), "EINVAL",
			"resize past PCP_MAX_MIN_NR");
	/* a reserve that max_elems cannot hold */
	e2e_send_str(fd, "{\"cmd\":\"resize\",\"pool\":\"at-limit\",\"min_nr\":16384}\n");
	e2e_expect_code(lr_reply(&r, "resize past max_elems"), "ERANGE", "resize past max_elems");
	e2e_send_str(fd, "{\"cmd\":\"destroy\",\"pool\":\"at-limit\"}\n");
	e2e_expect_code(lr_reply(&r, "destroy"), "ok", "destroy");
	lr_free(&r);
	conn_close(fd);
}

static void test_attach_limit_per_connection(void **state)
{
	static const char create[] =
		"{\"cmd\":\"create\",\"pool\":\"att\",\"elem_size\":64,\"min_nr\":4}\n";
	static const char attach[] = "{\"cmd\":\"attach\",\"pool\":\"att\"}\n";
	static const char detach[] = "{\"cmd\":\"detach\",\"pool\":\"att\"}\n";
	static const char stats[] = "{\"cmd\":\"stats\",\"pool\":\"att\"}\n";
	struct e2e *e = *state;
	int fd = conn_open(e), fd2, fds0, fds_full;
	struct lr r, r2;
	char *s;
	json_t *j;

	lr_init(&r, fd);
	e2e_raw_send(fd, create, sizeof(create) - 1);
	e2e_expect_code(lr_reply(&r, "create"), "ok", "create");
	{
		json_int_t n = -1;

		/* e2e_start()'s probe connection is gone */
		if (!e2e_poll((n = clients_over(&r)) == 1, IDLE_MS))
			fail_msg("%lld clients with one connection", (long long)n);
	}
	fds0 = proc_nr_fds(e->pid);
	/* the attach replies carry two descriptors each; recv() without room
	 * for them lets the kernel close them at once */
	for (int i = 0; i < PCP_MAX_ATTACH_PER_CLIENT; i++) {
		e2e_raw_send(fd, attach, sizeof(attach) - 1);
		e2e_expect_code(lr_reply(&r, "attach under the limit"), "ok",
				"attach under the limit");
	}
	e2e_raw_send(fd, attach, sizeof(attach) - 1);
	s = lr_reply(&r, "attach past the limit");
	e2e_expect_message(s, "at most 64 attachments");
	e2e_expect_code(s, "EMFILE", "attach past the limit");
	fds_full = proc_nr_fds(e->pid);
	/* one refill channel per attachment, and one pidfd for the client
	 * (the daemon watches for its exit to reclaim what it held) */
	assert_int_equal(fds_full, fds0 + PCP_MAX_ATTACH_PER_CLIENT + 1);
	e2e_raw_send(fd, stats, sizeof(stats) - 1);
	s = lr_reply(&r, "stats");
	j = e2e_parse_reply(s);
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(json_object_get(json_object_get(j, "stats"), "pools"), 0),
		"clients")), PCP_MAX_ATTACH_PER_CLIENT);
	json_decref(j);
	free(s);
	/* a detach names its attachment by client_id, or takes the latest */
	{
		static const char bad_id[] =
			"{\"cmd\":\"detach\",\"pool\":\"att\",\"client_id\":\"7\"}\n";
		static const char no_such_id[] =
			"{\"cmd\":\"detach\",\"pool\":\"att\",\"client_id\":999999}\n";

		e2e_raw_send(fd, bad_id, sizeof(bad_id) - 1);
		e2e_expect_code(lr_reply(&r, "detach, client_id a string"), "EINVAL",
				"detach, client_id a string");
		e2e_raw_send(fd, no_such_id, sizeof(no_such_id) - 1);
		e2e_expect_code(lr_reply(&r, "detach, no such client_id"), "ENOENT",
				"detach, no such client_id");
	}
	/* one detach makes room for one */
	e2e_raw_send(fd, detach, sizeof(detach) - 1);
	e2e_expect_code(lr_reply(&r, "detach"), "ok", "detach");
	e2e_raw_send(fd, attach, sizeof(attach) - 1);
	e2e_expect_code(lr_reply(&r, "attach after a detach"), "ok", "attach after a detach");
	e2e_raw_send(fd, attach, sizeof(attach) - 1);
	e2e_expect_code(lr_reply(&r, "attach past the limit again"), "EMFILE",
			"attach past the limit again");
	/* the limit is per connection */
	fd2 = conn_open(e);
	lr_init(&r2, fd2);
	e2e_raw_send(fd2, attach, sizeof(attach) - 1);
	e2e_expect_code(lr_reply(&r2, "attach on a second connection"), "ok",
			"attach on a second connection");
	lr_free(&r2);
	conn_close(fd2);
	/* closing the connection ends its attachments and their channels */
	lr_free(&r);
	conn_close(fd);
	fd = conn_open(e);
	lr_init(&r, fd);
	{
		int n = -1;

		/* the refill channels are gone; what stays is the pidfd of the
		 * exit watch (this process lives on, so what its attachments
		 * held is reclaimed only when it exits): one watch for the
		 * process, however many connections and attachments it ended
		 * (one per 64 attachments once let one process fill the table) */
		if (!e2e_poll((n = proc_nr_fds(e->pid)) == fds0 + 1, IDLE_MS))
			fail_msg("daemon descriptors: %d after the attachments ended, %d before "
				 "(one connection open in both) plus 1 exit watch", n, fds0);
	}
	e2e_send_str(fd, "{\"cmd\":\"destroy\",\"pool\":\"att\"}\n");
	e2e_expect_code(lr_reply(&r, "destroy after the attachments ended"), "ok",
			"destroy after the attachments ended");
	lr_free(&r);
	conn_close(fd);
	printf("hostile: attachments: %d on one connection, the next refused with EMFILE "
	       "(daemon descriptors %d -> %d -> %d)\n", PCP_MAX_ATTACH_PER_CLIENT, fds0,
	       fds_full, fds0);
}

/*
 * Every request gets exactly one reply, even when the text the daemon
 * quotes back in its error message (an unknown command, a pool name, the
 * members jansson lists) is cut at a byte limit inside a multi-byte UTF-8
 * character.  Each bad line is followed by a ping on the same connection:
 * if the first reply is the ping's, the bad line went unanswered.
 */
static void test_error_replies_quote_utf8_safely(void **state)
{
	static const struct {
		const char *head, *tail, *code, *what;
		const char *unit;
		int units;
	} tmpl[] = {
		{ "{\"cmd\":\"", "\"}", "ENOSYS", "unknown command (quoted to 32 bytes)",
		  "\xc3\xa9", 40 },
		{ "{\"cmd\":\"", "\"}", "ENOSYS", "unknown command, 3-byte characters",
		  "\xe2\x82\xac", 20 },
		{ "{\"cmd\":\"stats\",\"pool\":\"", "\"}", "ENOENT",
		  "stats of an unknown pool (quoted to 63 bytes)", "\xc3\xa9", 40 },
		{ "{\"cmd\":\"attach\",\"pool\":\"", "\"}", "ENOENT",
		  "attach to an unknown pool (quoted to 63 bytes)", "\xc3\xa9", 40 },
		{ "{\"cmd\":\"hello\",\"version\":1,\"", "\":1}", "EINVAL",
		  "unexpected member (jansson's 160-byte error text)", "\xc3\xa9", 100 },
		{ "{\"cmd\":\"ping\",\"", "\":1}", "EINVAL",
		  "unexpected member of ping", "\xc3\xa9", 100 },
	};
	struct e2e *e = *state;
	unsigned missing = 0, total = 0;
	char first[512] = "";

	for (size_t t = 0; t < sizeof(tmpl) / sizeof(tmpl[0]); t++)
		for (int k = 0; k < 3; k++) {   /* shift the cut by k ASCII bytes */
			char line[1024];
			int n = snprintf(line, sizeof(line), "%s%.*s", tmpl[t].head, k, "aaa");
			int fd = conn_open(e);
			struct lr r;
			char *s, code[32];

			for (int u = 0; u < tmpl[t].units; u++)
				n += snprintf(line + n, sizeof(line) - (size_t)n, "%s",
					      tmpl[t].unit);
			n += snprintf(line + n, sizeof(line) - (size_t)n, "%s\n%s", tmpl[t].tail,
				      ping);
			e2e_raw_send(fd, line, (size_t)n);
			lr_init(&r, fd);
			s = lr_reply(&r, tmpl[t].what);
			total++;
			if (!strcmp(e2e_reply_code(s, code), "ok")) {
				/* the ping answered first: the bad line got nothing */
				if (!missing++)
					snprintf(first, sizeof(first), "%s, shifted by %d byte(s): "
						 "%.*s", tmpl[t].what, k,
						 (int)(strchr(line, '\n') - line), line);
			} else {
				if (strcmp(code, tmpl[t].code))
					fail_msg("%s: expected %s: %s", tmpl[t].what, tmpl[t].code, s);
				free(s);
				s = lr_reply(&r, "ping after an error");
				e2e_expect_code(strdup(s), "ok", "ping after an error");
			}
			free(s);
			lr_free(&r);
			conn_close(fd);
		}
	printf("hostile: error replies quoting multi-byte UTF-8: %u of %u requests got no "
	       "reply\n", missing, total);
	if (missing)
		fail_msg("%u of %u requests got no reply at all (the next request's reply "
			 "came first); e.g. %s", missing, total, first);
}

/*
 * A client holds the pool's memfd (it maps it) and can make the file
 * longer: F_SEAL_SHRINK stops only the other way.  The daemon's next
 * growth must not then try to "grow" it to a smaller size, which the seal
 * refuses: the pool would be stuck at the elements it had.
 */
static void test_lengthened_memfd_does_not_stop_growth(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool_create_opts opts = { .sz = sizeof(opts), .max_elems = 2048 };
	struct pcpupool *p = pcpupool_create_opts(c, "long", 4, 64, 64, &opts);
	int fd = conn_open(e), memfd;
	char reply[4096];
	static void *held[2048];
	int got = 0;

	assert_non_null(p);
	memfd = attach_memfd(fd, "long", reply, sizeof(reply));
	json_t *j = e2e_parse_reply(reply);
	json_int_t map_size = json_integer_value(json_object_get(j, "map_size"));
	json_decref(j);
	assert_true(map_size > 0);
	/* longer than the whole mapping */
	assert_int_equal(ftruncate(memfd, (off_t)map_size + 4096), 0);
	close(memfd);
	for (int i = 0; i < 2048; i++) {
		held[i] = pcpupool_alloc(p, PCPUPOOL_WAIT);
		if (!held[i])
			break;
		got++;
	}
	printf("hostile: %d of 2048 elements after a client lengthened the memfd\n", got);
	assert_int_equal(got, 2048);
	for (int i = 0; i < got; i++)
		pcpupool_free(held[i], p);
	e2e_expect_conserved(c, "long");
	conn_close(fd);
	pcpupool_close(p);
	pcpupool_disconnect(c);
}

/*
 * A request line that never ends: its first bytes, then silence (or a
 * byte now and then).  The daemon must not hold the connection for ever:
 * request_timeout_ms (here PARTIAL_TIMEOUT_MS) after the line's first
 * byte it replies ETIMEDOUT, logs it and closes.  Meanwhile it serves
 * others; a connection that sends nothing (a library client between
 * calls, with pools attached) stays open however long it waits; one that
 * takes a while over each of several lines, each within the limit, is
 * served.
 */
static void test_partial_line_times_out(void **state)
{
	struct e2e *e = *state;
	int silent = conn_open(e), trickle = conn_open(e), idle = conn_open(e);
	int piped = conn_open(e), mon = conn_open(e);
	struct lr rs, rt, ri, rp, rm;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, "idle-attached", 8, 64, 64);
	int64_t t0, t_trickle, closed_silent = 0, closed_trickle = 0;
	int pings = 0, sent_trickle = 0;
	char *s;

	assert_non_null(pool);
	lr_init(&rs, silent);
	lr_init(&rt, trickle);
	lr_init(&ri, idle);
	lr_init(&rp, piped);
	lr_init(&rm, mon);
	lr_ping(&ri, "ping before idling");

	/* a line that ends within the limit, then another begun at once that
	 * also ends within it: each line has its own clock */
	e2e_send_str(piped, "{\"cmd\":\"ping\"}\n{\"cmd\":\"pi");
	e2e_expect_code(lr_reply(&rp, "first pipelined ping"), "ok", "first pipelined ping");
	e2e_sleep_ms(PARTIAL_TIMEOUT_MS * 6 / 10);
	e2e_send_str(piped, "ng\"}\n{\"cmd\":\"pi");
	e2e_expect_code(lr_reply(&rp, "second pipelined ping"), "ok", "second pipelined ping");
	e2e_sleep_ms(PARTIAL_TIMEOUT_MS * 6 / 10);
	e2e_send_str(piped, "ng\"}\n");
	e2e_expect_code(lr_reply(&rp, "third pipelined ping, 1.2 timeouts after the first"), "ok",
			"third pipelined ping");

	/* half a request, then nothing */
	t0 = e2e_now_ms();
	e2e_send_str(silent, "{\"cmd\":\"pi");
	/* a line that grows by a byte every 100 ms and never ends: more
	 * bytes do not restart its clock */
	t_trickle = e2e_now_ms();
	e2e_send_str(trickle, "{");
	sent_trickle++;

	/* until both are cut off (at most the timeout and 3 s): the daemon
	 * serves the monitor all along */
	while ((!closed_silent || !closed_trickle) &&
	       e2e_now_ms() - t0 < PARTIAL_TIMEOUT_MS + 3000) {
		struct pollfd pfd[2] = { { .fd = silent, .events = POLLIN },
					 { .fd = trickle, .events = POLLIN } };

		lr_ping(&rm, "ping while two lines hang");
		pings++;
		if (!closed_trickle && e2e_now_ms() - t_trickle >= 100 * sent_trickle &&
		    e2e_send_all(trickle, "x", 1) == 0)
			sent_trickle++;
		if (poll(pfd, 2, 20) < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
		if (!closed_silent && pfd[0].revents)
			closed_silent = e2e_now_ms();
		if (!closed_trickle && pfd[1].revents)
			closed_trickle = e2e_now_ms();
	}
	if (!closed_silent || !closed_trickle)
		fail_msg("a request line left incomplete: still open %lld ms later (%s)",
			 (long long)(e2e_now_ms() - t0), closed_silent ? "byte by byte" :
			 "sent at once, then silence");
	/* its reply says why, then the connection closes */
	s = lr_reply(&rs, "a half line's timeout");
	e2e_expect_message(s, "request line incomplete after 1000 ms");
	e2e_expect_code(s, "ETIMEDOUT", "a half line's timeout");
	lr_expect_eof(&rs, "after the ETIMEDOUT of a half line");
	s = lr_reply(&rt, "a trickled line's timeout");
	e2e_expect_code(s, "ETIMEDOUT", "a trickled line's timeout");
	lr_expect_eof(&rt, "after the ETIMEDOUT of a trickled line");
	/* not before its time (the timer may fire a little early: libevent
	 * rounds to its clock's resolution) */
	if (closed_silent - t0 < PARTIAL_TIMEOUT_MS - 50 ||
	    closed_trickle - t_trickle < PARTIAL_TIMEOUT_MS - 50)
		fail_msg("cut off after %lld ms and %lld ms, before request_timeout_ms %d",
			 (long long)(closed_silent - t0), (long long)(closed_trickle - t_trickle),
			 PARTIAL_TIMEOUT_MS);
	if (sent_trickle < 5)
		fail_msg("only %d bytes trickled before the close", sent_trickle);
	if (!e2e_poll(e2e_log_has(e, "request line incomplete after 1000 ms"),
		      E2E_REPLY_TIMEOUT_MS))
		fail_msg("the daemon did not log the timeout");

	/* the idle connections were left alone: the raw one still serves,
	 * and the library's (one pool attached) was never closed, so the
	 * pool still counts its client without any call having reconnected */
	e2e_sleep_ms(PARTIAL_TIMEOUT_MS);
	lr_ping(&ri, "ping on a connection idle for over three timeouts");
	{
		json_t *v = pool_field(&rm, "idle-attached", "clients");
		json_int_t clients = json_integer_value(v);

		json_decref(v);
		if (clients != 1)
			fail_msg("a library client idle with a pool attached: the pool counts "
				 "%lld clients, not 1 (its connection was closed?)",
				 (long long)clients);
	}
	printf("hostile: request lines left incomplete: cut off after %lld ms (at once) "
	       "and %lld ms (%d bytes trickled), %d pings served meanwhile\n",
	       (long long)(closed_silent - t0), (long long)(closed_trickle - t_trickle),
	       sent_trickle, pings);
	pcpupool_close(pool);
	pcpupool_disconnect(c);
	lr_free(&rs);
	lr_free(&rt);
	lr_free(&ri);
	lr_free(&rp);
	lr_free(&rm);
}

/*
 * A pool's "mode" is an octal string.  JSON has no octal: 440 as a number
 * is decimal 440, mode 0670, which would let the group attach a pool that
 * 0440 keeps it out of.  A create request with a number is refused with a
 * message that says so; malformed strings are refused; good ones are
 * taken as chmod(1) takes them.
 */
static void test_create_mode_is_an_octal_string(void **state)
{
	static const char *const bad[] = {
		"440", "416", "0", "432.0", "true", "null", "[\"0660\"]", "\"\"", "\"0x1b0\"",
		"\"-660\"", "\" 660\"", "\"660 \"", "\"+660\"", "\"0800\"", "\"1000\"",
		"\"00660\"", "\"rw-rw----\"",
	};
	static const struct {
		const char *given, *shown;
	} good[] = {
		{ "\"0640\"", "0640" }, { "\"640\"", "0640" }, { "\"0\"", "0000" },
		{ "\"0777\"", "0777" }, { "\"7\"", "0007" },
	};
	struct e2e *e = *state;
	int fd = conn_open(e);
	struct lr r;
	char line[256], *s;

	lr_init(&r, fd);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "{\"cmd\":\"create\",\"pool\":\"m%zu\","
			 "\"elem_size\":64,\"min_nr\":4,\"mode\":%s}\n", i, bad[i]);
		e2e_send_str(fd, line);
		s = lr_reply(&r, line);
		e2e_expect_message(s, "mode must be an octal string such as \"0660\"");
		e2e_expect_code(s, "EINVAL", line);
	}
	/* the number's message names the trap */
	e2e_send_str(fd, "{\"cmd\":\"create\",\"pool\":\"n\",\"elem_size\":64,\"min_nr\":4,"
		     "\"mode\":440}\n");
	s = lr_reply(&r, "create with mode 440");
	e2e_expect_message(s, "create: mode must be an octal string such as \"0660\", not a "
			   "number (440 would be read as decimal)");
	free(s);
	/* none of them was created */
	e2e_send_str(fd, "{\"cmd\":\"pools\"}\n");
	s = lr_reply(&r, "pools");
	if (!strstr(s, "\"pools\":[]"))
		fail_msg("a pool with a bad mode was created: %s", s);
	free(s);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char want[64];

		snprintf(line, sizeof(line), "{\"cmd\":\"create\",\"pool\":\"g%zu\","
			 "\"elem_size\":64,\"min_nr\":4,\"mode\":%s}\n", i, good[i].given);
		e2e_send_str(fd, line);
		e2e_expect_code(lr_reply(&r, line), "ok", line);
		snprintf(line, sizeof(line), "{\"cmd\":\"pools\"}\n");
		e2e_send_str(fd, line);
		s = lr_reply(&r, "pools");
		snprintf(want, sizeof(want), "\"name\":\"g%zu\"", i);
		{
			char *at = strstr(s, want), mode[32];

			snprintf(mode, sizeof(mode), "\"mode\":\"%s\"", good[i].shown);
			if (!at || !strstr(at, mode) ||
			    (strchr(at, '}') && strstr(at, mode) > strchr(at, '}')))
				fail_msg("mode %s: pool g%zu should show %s: %s", good[i].given, i,
					 mode, s);
		}
		free(s);
	}
	lr_free(&r);
	conn_close(fd);
}

/* Attach @name on the raw connection @fd and map the pool's header page
 * read-write, as any client may. */
static struct slab_hdr *map_header(int fd, const char *name)
{
	char reply[4096];
	int memfd = attach_memfd(fd, name, reply, sizeof(reply));
	void *hdr;

	hdr = mmap(NULL, SLAB_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	close(memfd);
	assert_true(hdr != MAP_FAILED);
	return hdr;
}

/*
 * A client rewrites the geometry in its pool's shared header.  With the
 * sweep a minute away, the request itself must catch it: the next attach
 * and refill are refused with EUCLEAN, the next stats shows the pool
 * quarantined.  And what the daemon tells about a pool comes from its own
 * record: a resize error quotes the real max_elems, not the forged one.
 */
static void test_rewritten_header_is_caught(void **state)
{
	static const char *const pools[] = { "h-attach", "h-refill", "h-stats", "h-resize" };
	struct e2e *e = *state;
	int fd = conn_open(e), held = conn_open(e);
	struct slab_hdr *hdr[4];
	json_int_t max_elems;
	struct lr r, rh;
	char line[256], *s;
	json_t *v;

	lr_init(&r, fd);
	lr_init(&rh, held);
	for (int i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "{\"cmd\":\"create\",\"pool\":\"%s\","
			 "\"elem_size\":64,\"min_nr\":4}\n", pools[i]);
		e2e_send_str(fd, line);
		e2e_expect_code(lr_reply(&r, line), "ok", line);
		hdr[i] = map_header(held, pools[i]);
	}
	v = pool_field(&r, "h-resize", "max_elems");
	max_elems = json_integer_value(v);
	json_decref(v);
	assert_true(max_elems > 0);
	assert_int_equal((json_int_t)hdr[3]->max_elems, max_elems);

	/* attach */
	hdr[0]->max_elems += 4321;
	e2e_send_str(fd, "{\"cmd\":\"attach\",\"pool\":\"h-attach\"}\n");
	s = lr_reply(&r, "attach after the header was rewritten");
	e2e_expect_message(s, "quarantined");
	e2e_expect_code(s, "EUCLEAN", "attach after the header was rewritten");
	/* refill */
	hdr[1]->max_elems += 4321;
	e2e_send_str(fd, "{\"cmd\":\"refill\",\"pool\":\"h-refill\"}\n");
	e2e_expect_code(lr_reply(&r, "refill after the header was rewritten"), "EUCLEAN",
			"refill after the header was rewritten");
	/* stats */
	hdr[2]->elem_align = 4096;
	e2e_send_str(fd, "{\"cmd\":\"stats\",\"pool\":\"h-stats\"}\n");
	s = lr_reply(&r, "stats after the header was rewritten");
	{
		json_t *j = e2e_parse_reply(s);
		json_t *p = json_array_get(json_object_get(json_object_get(j, "stats"), "pools"), 0);
		const char *state_now = json_string_value(json_object_get(p, "state"));

		if (!state_now || strcmp(state_now, "quarantined"))
			fail_msg("stats right after a client rewrote the header: state %s: %s",
				 state_now ? state_now : "(none)", s);
		json_decref(j);
	}
	free(s);
	/* the daemon's record, not the header, in what it says */
	hdr[3]->max_elems = (uint64_t)max_elems + 4321;
	snprintf(line, sizeof(line), "{\"cmd\":\"resize\",\"pool\":\"h-resize\","
		 "\"min_nr\":%u}\n", PCP_MAX_MIN_NR);
	e2e_send_str(fd, line);
	s = lr_reply(&r, "resize past max_elems, header rewritten");
	snprintf(line, sizeof(line), "exceeds max_elems %lld", (long long)max_elems);
	e2e_expect_message(s, line);
	e2e_expect_code(s, "ERANGE", "resize past max_elems, header rewritten");
	v = pool_field(&r, "h-resize", "max_elems");
	assert_int_equal(json_integer_value(v), max_elems);
	json_decref(v);
	/* and the daemon serves on */
	lr_ping(&r, "ping after the rewritten headers");
	for (int i = 0; i < 4; i++)
		munmap(hdr[i], SLAB_HDR_SIZE);
	lr_free(&rh);
	lr_free(&r);
	conn_close(held);
	conn_close(fd);
}

/* ------------------------------------------------------------------ */

int main(void)
{
	const struct CMUnitTest floods[] = {
		cmocka_unit_test_teardown(test_garbage_on_many_connections,
					  flood_test_teardown),
		cmocka_unit_test_teardown(test_truncated_lines_get_no_reply,
					  flood_test_teardown),
		cmocka_unit_test_teardown(test_overlong_lines_get_e2big, flood_test_teardown),
		cmocka_unit_test_teardown(test_unread_replies_cut_off, flood_test_teardown),
		cmocka_unit_test_teardown(test_slow_byte_at_a_time_clients,
					  flood_test_teardown),
		cmocka_unit_test_teardown(test_fds_sent_to_the_daemon_are_dropped,
					  flood_test_teardown),
		cmocka_unit_test_teardown(test_thousand_connections_one_uid,
					  flood_test_teardown),
		cmocka_unit_test_teardown(test_thousand_connections_held, flood_test_teardown),
		cmocka_unit_test_teardown(test_floods_again_do_not_grow, flood_test_teardown),
		cmocka_unit_test_teardown(test_memory_and_descriptors_bounded,
					  flood_test_teardown),
		cmocka_unit_test_teardown(test_library_client_then_clean_exit,
					  flood_test_teardown),
	};
	const struct CMUnitTest limits[] = {
		cmocka_unit_test_setup_teardown(test_global_max_clients, limit_setup_max10,
						limit_teardown),
		cmocka_unit_test_setup_teardown(test_request_size_limit, e2e_setup,
						limit_teardown),
		cmocka_unit_test_setup_teardown(test_pool_count_limit, e2e_setup,
						limit_teardown),
		cmocka_unit_test_setup_teardown(test_pool_size_limits, e2e_setup,
						limit_teardown),
		cmocka_unit_test_setup_teardown(test_attach_limit_per_connection, e2e_setup,
						limit_teardown),
		cmocka_unit_test_setup_teardown(test_error_replies_quote_utf8_safely,
						e2e_setup, limit_teardown),
		cmocka_unit_test_setup_teardown(test_lengthened_memfd_does_not_stop_growth,
						e2e_setup, limit_teardown),
		cmocka_unit_test_setup_teardown(test_partial_line_times_out,
						limit_setup_partial, limit_teardown),
		cmocka_unit_test_setup_teardown(test_create_mode_is_an_octal_string,
						e2e_setup, limit_teardown),
		cmocka_unit_test_setup_teardown(test_rewritten_header_is_caught,
						limit_setup_nosweep, limit_teardown),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* 1,000+ connections in this process, and in the daemon (inherited) */
	raise_nofile(NOFILE_WANT);
	failed = cmocka_run_group_tests_name("floods", floods, flood_setup, flood_teardown);
	failed += cmocka_run_group_tests_name("limits", limits, NULL, NULL);
	return failed ? 1 : 0;
}
