// SPDX-License-Identifier: MIT
/*
 * test_wipe.c - "Shared memory is input.  Anything an attached client can
 * write, it may write with malice; the daemon and every other client must
 * survive any byte there."
 *
 * One attacker process (a forked client that attaches the pool with the
 * library and writes through its own mapping) destroys a pool's shared
 * memory while an honest client in another process allocates and frees
 * through the public API (NOWAIT until empty, WAIT, pcpupool_refill WAIT
 * and NOWAIT, stats) and the daemon refills, drains, polls and sweeps:
 *
 *   wipes      every page of the pool (header, each CPU's slab, the meta
 *              pages, the element pages), and the header together with
 *              each other page, overwritten with 0x00, 0xff, 0x14 and a
 *              seeded pseudo-random fill;
 *   forges     each field of struct slab_hdr and struct slab that the daemon
 *              or the library reads, set to 0, its type's maximum and the
 *              values just past its natural bounds (lists whose head or
 *              length is past the pool, lists that loop, ...);
 *   scribble   for WIPE_SCRIBBLE_SECONDS (default 4), while two honest
 *              clients use that pool and another one: the first half
 *              plausible indexes, offsets and list words written slowly
 *              into the slabs and the meta (a pool that is corrupt but
 *              looks sane), the second half random bytes and plausible
 *              words at random offsets of the whole mapping, fast.
 *
 * After each case: the daemon is alive and answers; the untouched "other"
 * pool serves (alloc WAIT, write, free, refill WAIT == 0, state "ok"); the
 * honest client exited normally (a signal, an ASan abort fail the case),
 * every element it got lay inside its mapping and started an element
 * (checked before touching it), or it got NULL with an errno (counted and
 * printed at the end); a pool whose header geometry was changed is reported
 * quarantined within WIPE_QUARANTINE_MS (default 2000); a pool whose only
 * wiped pages hold element payload is not (nothing the daemon reads
 * changed); the corrupt pool's stats never echo absurd values (max_elems,
 * elem_size, align and nr_cpus as created, no negative integer, no element
 * count above max_elems).
 *
 * Environment:
 *   WIPE_SCRIBBLE_SECONDS  scribble duration (default 4)
 *   WIPE_PAGE_STEP         wipe every Nth page only (default 1: all)
 *   WIPE_PATTERNS          first N of the 4 patterns (default 4)
 *   WIPE_FORGE_STEP        run every Nth forge only (default 1: all)
 *   WIPE_RUN_MS            honest client's run per case (default 60)
 *   WIPE_QUARANTINE_MS     quarantine deadline (default 2000)
 *   WIPE_SEED              seed of the random fills (default 0x5eedf00d)
 *   WIPE_VERBOSE=1         one line per case
 * The default run covers every page and every field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>

#include <sys/sysinfo.h>

#include "e2e.h"
#include "slab.h"

#define ELEM_SIZE        64u
#define ELEM_ALIGN       64u
#define VICTIM_MIN_NR    32
/* room for every CPU's reserve twice over, 1000 at least */
#define VICTIM_MAX_ELEMS (2u * VICTIM_MIN_NR * (unsigned)get_nprocs_conf() > 1000u ? \
			  2u * VICTIM_MIN_NR * (unsigned)get_nprocs_conf() : 1000u)
#define OTHER_MIN_NR     8
#define HOLD_MAX         2048       /* elements an honest client holds at once */
#define HONEST_WAIT_MS   "50"       /* its PCPUPOOL_WAIT_TIMEOUT_MS on the victim */
#define NERR             256        /* errno buckets; the last one is "other" */
#define NR_PATTERNS      4
#define MAX_FAILS_SHOWN  400        /* failing cases printed in full per test */

enum hop { OP_ALLOC_NOWAIT, OP_ALLOC_WAIT, OP_REFILL_NOWAIT, OP_REFILL_WAIT, NR_OPS };
static const char *const op_names[NR_OPS] = {
	"alloc NOWAIT", "alloc WAIT", "refill NOWAIT", "refill WAIT",
};

/* honest client exit codes */
enum {
	H_OK = 0,
	H_SETUP = 10,        /* could not attach before the attack: nothing tested */
	H_OUTSIDE = 11,      /* an element outside its mapping */
	H_NOT_ELEM = 12,     /* inside, but not the start of an element */
	H_NULL_NO_ERRNO = 13,
	H_ELEM_SIZE = 14,    /* pcpupool_elem_size() echoed a forged size */
	H_OTHER = 15,        /* the untouched pool failed it */
	H_NEGATIVE = 16,     /* pcpupool_nr_elems() negative */
};

/* attacker exit codes */
enum { A_OK = 0, A_SETUP = 3 };

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, &end, 0);
	if (*end || v < lo || v > hi) {
		fprintf(stderr, "test_wipe: %s=%s out of range %d..%d, using %d\n", name, s, lo, hi,
			def);
		return def;
	}
	return (int)v;
}

static const char *errname(int err)
{
	static char buf[16];
	const char *n = err > 0 ? strerrorname_np(err) : NULL;

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "%d", err);
	return buf;
}

static const char *wait_status(int st, char *buf, size_t n)
{
	if (st == -1)
		snprintf(buf, n, "did not finish in time (killed)");
	else if (WIFEXITED(st))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st),
			 sigabbrev_np(WTERMSIG(st)) ?: "?");
	else
		snprintf(buf, n, "status %#x", st);
	return buf;
}

/* A case's failures, one string. */
struct casefail {
	char buf[8192];
	size_t len;
	int n;
};

static void __attribute__((format(printf, 2, 3))) cf_add(struct casefail *cf, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (cf->len + 8 >= sizeof(cf->buf))
		return;
	if (cf->n++) {
		memcpy(cf->buf + cf->len, "\n      ", 7);
		cf->len += 7;
	}
	va_start(ap, fmt);
	w = vsnprintf(cf->buf + cf->len, sizeof(cf->buf) - cf->len, fmt, ap);
	va_end(ap);
	if (w > 0)
		cf->len += (size_t)w < sizeof(cf->buf) - cf->len ? (size_t)w :
			   sizeof(cf->buf) - cf->len - 1;
}

/* ------------------------------------------------------------------ */
/* tallies, printed at the end                                         */

struct tally {
	const char *name;
	unsigned cases, failed, daemon_deaths, daemon_hangs, honest_crashes, quarantined;
	uint64_t got, stats_null, err[NR_OPS][NERR];
};

static struct tally t_wipe = { .name = "wipes" };
static struct tally t_forge = { .name = "forges" };
static struct tally t_scribble = { .name = "scribble" };
static int scribble_seconds_run;

/* What an honest client reports through its pipe before it exits. */
struct hreport {
	uint32_t magic;
	uint32_t code;
	uint64_t rounds, got;
	uint32_t err[NR_OPS][NERR];
	uint32_t stats_null;
	char msg[512];
};
#define HREPORT_MAGIC 0x484f4e53u

static void tally_report(struct tally *t, const struct hreport *r)
{
	t->got += r->got;
	t->stats_null += r->stats_null;
	for (int o = 0; o < NR_OPS; o++)
		for (int i = 0; i < NERR; i++)
			t->err[o][i] += r->err[o][i];
}

static void print_tally(const struct tally *t)
{
	fprintf(stderr, "test_wipe: %s: %u cases, %u failed, %u daemon deaths, %u daemon hangs, "
		"%u honest client crashes, %u quarantined; honest clients got %" PRIu64
		" elements, %" PRIu64 " of their stats calls failed\n", t->name, t->cases,
		t->failed, t->daemon_deaths, t->daemon_hangs, t->honest_crashes, t->quarantined,
		t->got, t->stats_null);
	for (int o = 0; o < NR_OPS; o++) {
		char line[2048];
		size_t len = 0;

		for (int i = 0; i < NERR; i++)
			if (t->err[o][i] && len < sizeof(line) - 64)
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %" PRIu64,
							i == 0 ? "ok" : i == NERR - 1 ? "other" :
							errname(i), t->err[o][i]);
		if (len)
			fprintf(stderr, "test_wipe:   %-13s%s\n", op_names[o], line);
	}
}

/* ------------------------------------------------------------------ */
/* the daemon, without asserts                                         */

/* One request line on a fresh connection; the reply line (malloc'd) or
 * NULL with *ret_err (ETIMEDOUT, ECONNRESET for a close without reply). */
static char *raw_call(const struct e2e *e, const char *line, int ms, int *ret_err)
{
	size_t n = strlen(line);
	char *out = NULL, *buf;
	int fd = e2e_connect_path(e->sock), r;
	struct lr lr;

	if (fd < 0) {
		*ret_err = -fd;
		return NULL;
	}
	buf = malloc(n + 1);
	if (!buf) {
		close(fd);
		*ret_err = ENOMEM;
		return NULL;
	}
	memcpy(buf, line, n);
	buf[n] = '\n';
	r = e2e_send_all(fd, buf, n + 1);
	free(buf);
	if (r < 0) {
		*ret_err = -r;
		close(fd);
		return NULL;
	}
	lr_init(&lr, fd);
	lr.max = E2E_MAX_REPLY * 4u;
	out = lr_try(&lr, ms);
	*ret_err = out ? 0 : lr.timeout ? ETIMEDOUT : lr.eof && !lr.err ? ECONNRESET : lr.err;
	lr_free(&lr);
	close(fd);
	return out;
}

/* A raw request whose reply must be a JSON object with a boolean "ok";
 * return 1 for ok:true, 0 for ok:false (then *code), -1 for no reply or
 * a malformed one (then *why). */
static int raw_request_ok(const struct e2e *e, const char *line, int ms, char *code,
			  size_t codelen, char *why, size_t whylen)
{
	int err = 0;
	char *reply = raw_call(e, line, ms, &err);
	json_error_t je;
	json_t *j, *ok;
	int ret;

	if (code && codelen)
		code[0] = '\0';
	if (!reply) {
		snprintf(why, whylen, "no reply (%s)", errname(err));
		return -1;
	}
	j = json_loads(reply, 0, &je);
	ok = j ? json_object_get(j, "ok") : NULL;
	if (!j || !json_is_object(j) || !json_is_boolean(ok)) {
		snprintf(why, whylen, "malformed reply: %.200s", reply);
		json_decref(j);
		free(reply);
		return -1;
	}
	ret = json_is_true(ok);
	if (!ret && code)
		snprintf(code, codelen, "%s", json_string_value(json_object_get(
			json_object_get(j, "error"), "code")) ?: "?");
	json_decref(j);
	free(reply);
	return ret;
}

/* The stats object of pool @name, or NULL with *why. */
static json_t *stats_soft(struct pcpupool_client *c, const char *name, char *why, size_t n)
{
	char *s = pcpupool_stats_json(c, name);
	json_t *root, *pools, *p;
	json_error_t je;

	if (!s) {
		snprintf(why, n, "pcpupool_stats_json: %s", errname(errno));
		return NULL;
	}
	root = json_loads(s, 0, &je);
	if (!root) {
		snprintf(why, n, "stats are not JSON (%.60s): %.100s", je.text, s);
		free(s);
		return NULL;
	}
	free(s);
	pools = json_object_get(json_object_get(root, "stats"), "pools");
	p = json_array_get(pools, 0);
	if (!json_is_array(pools) || json_array_size(pools) != 1 || !json_is_object(p) ||
	    !json_is_string(json_object_get(p, "name")) ||
	    strcmp(json_string_value(json_object_get(p, "name")), name)) {
		snprintf(why, n, "stats: no single entry for pool %s", name);
		json_decref(root);
		return NULL;
	}
	json_incref(p);
	json_decref(root);
	return p;
}

static const char *stats_state(json_t *p)
{
	return json_string_value(json_object_get(p, "state")) ?: "(none)";
}

/* Every integer in @j is non-negative; the first that is not goes to *bad. */
static bool all_nonneg(json_t *j, char *path, size_t pathlen, char *bad, size_t badlen)
{
	size_t plen = strlen(path);

	if (json_is_integer(j)) {
		if (json_integer_value(j) < 0) {
			snprintf(bad, badlen, "%s = %" JSON_INTEGER_FORMAT, path,
				 json_integer_value(j));
			return false;
		}
		return true;
	}
	if (json_is_object(j)) {
		const char *k;
		json_t *v;

		json_object_foreach(j, k, v) {
			snprintf(path + plen, pathlen - plen, ".%s", k);
			if (!all_nonneg(v, path, pathlen, bad, badlen))
				return false;
			path[plen] = '\0';
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;

		json_array_foreach(j, i, v) {
			snprintf(path + plen, pathlen - plen, "[%zu]", i);
			if (!all_nonneg(v, path, pathlen, bad, badlen))
				return false;
			path[plen] = '\0';
		}
	}
	return true;
}

static json_int_t jint(json_t *o, const char *key, bool *ok)
{
	json_t *v = json_object_get(o, key);

	*ok = json_is_integer(v);
	return *ok ? json_integer_value(v) : 0;
}

/* The corrupt pool's stats never echo absurd values. */
static void stats_sane(json_t *p, const struct slab_hdr *h0, struct casefail *cf)
{
	static const char *const ident[] = { "max_elems", "elem_size", "align", "nr_cpus" };
	static const char *const counts[] = { "published", "depot", "reserved", "spare" };
	static const char *const cpu_counts[] = { "slab", "inbox", "outbox", "level" };
	const json_int_t want[] = { (json_int_t)h0->max_elems, (json_int_t)h0->elem_size,
				    (json_int_t)h0->elem_align, (json_int_t)h0->nr_cpus };
	const json_int_t max = (json_int_t)h0->max_elems;
	const char *state = stats_state(p);
	char path[256] = "stats", bad[300];
	json_t *cpus;
	bool ok;

	for (size_t i = 0; i < sizeof(ident) / sizeof(ident[0]); i++) {
		json_int_t v = jint(p, ident[i], &ok);

		if (!ok || v != want[i])
			cf_add(cf, "stats echo an absurd value: %s = %lld, created %lld", ident[i],
			       (long long)v, (long long)want[i]);
	}
	if (strcmp(state, "ok") && strcmp(state, "quarantined"))
		cf_add(cf, "stats: state \"%s\"", state);
	if (!all_nonneg(p, path, sizeof(path), bad, sizeof(bad)))
		cf_add(cf, "stats echo a negative value: %s", bad);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		json_int_t v = jint(p, counts[i], &ok);

		if (!ok || v > max)
			cf_add(cf, "stats echo an absurd count: %s = %lld (max_elems %lld)",
			       counts[i], (long long)v, (long long)max);
	}
	cpus = json_object_get(p, "cpus");
	if (!json_is_array(cpus) || json_array_size(cpus) != h0->nr_cpus) {
		cf_add(cf, "stats: cpus is not an array of %u", h0->nr_cpus);
		return;
	}
	for (size_t c = 0; c < json_array_size(cpus); c++)
		for (size_t i = 0; i < sizeof(cpu_counts) / sizeof(cpu_counts[0]); i++) {
			json_int_t v = jint(json_array_get(cpus, c), cpu_counts[i], &ok);

			if (!ok || v > max)
				cf_add(cf, "stats echo an absurd count: cpus[%zu].%s = %lld "
				       "(max_elems %lld)", c, cpu_counts[i], (long long)v,
				       (long long)max);
		}
}

/* ------------------------------------------------------------------ */
/* the test's context: one daemon, one untouched pool                  */

struct ctx {
	struct e2e e;
	struct pcpupool_client *c;
	struct pcpupool *other;
	char other_name[E2E_NAME_LEN];
	char *other_base;
	size_t other_map;
	struct tally *t;
	int log_dumps;
	int run_ms, quarantine_ms;
	bool verbose;
};

static void ctx_open_other(struct ctx *x)
{
	struct slab_hdr h;

	x->c = e2e_client(&x->e);
	x->other = pcpupool_create(x->c, e2e_name(&x->e, "other", x->other_name), OTHER_MIN_NR,
				   ELEM_SIZE, ELEM_ALIGN);
	assert_non_null(x->other);
	x->other_base = e2e_pool_base(x->other);
	memcpy(&h, x->other_base, sizeof(h));
	x->other_map = h.map_size;
}

static void ctx_start(struct ctx *x, struct tally *t)
{
	memset(x, 0, sizeof(*x));
	x->t = t;
	x->run_ms = env_int("WIPE_RUN_MS", 60, 10, 10000);
	x->quarantine_ms = env_int("WIPE_QUARANTINE_MS", 2000, 100, 60000);
	x->verbose = env_int("WIPE_VERBOSE", 0, 0, 1);
	e2e_start(&x->e, NULL);
	ctx_open_other(x);
}

/* Print the interesting part of the daemon's log: the sanitizer's report
 * if there is one, else its last lines. */
static void dump_log_excerpt(const struct e2e *e)
{
	FILE *f = fopen(e->log, "r");
	char *text = NULL, *from, *p;
	size_t cap = 0;
	ssize_t n;
	int lines = 0;

	if (!f)
		return;
	n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n <= 0) {
		free(text);
		return;
	}
	from = strstr(text, "ERROR: AddressSanitizer");
	if (!from)
		from = strstr(text, "runtime error:");
	if (from) {
		while (from > text && from[-1] != '\n')
			from--;
	} else {
		from = text + n;
		while (from > text && lines <= 15)
			if (*--from == '\n')
				lines++;
	}
	for (p = from, lines = 0; *p && lines < 30; p++)
		lines += *p == '\n';
	fprintf(stderr, "  ---- daemon log (%s) ----\n%.*s  ---- end ----\n", e->log,
		(int)(p - from), from);
	free(text);
}

/* The daemon is gone or hung: note it, start a fresh one with a fresh
 * other pool so that the remaining cases still run. */
static void ctx_restart(struct ctx *x)
{
	if (x->log_dumps++ < 2)
		dump_log_excerpt(&x->e);
	if (x->e.pid) {
		kill(x->e.pid, SIGKILL);
		waitpid(x->e.pid, NULL, 0);
		x->e.pid = 0;
	}
	pcpupool_close(x->other);
	pcpupool_disconnect(x->c);
	x->other = NULL;
	x->c = NULL;
	e2e_stop(&x->e);   /* reaps children, removes the directory */
	e2e_start(&x->e, NULL);
	ctx_open_other(x);
}

/* The daemon did not exit and answers a ping.  False (and noted) if not:
 * the caller restarts it. */
static bool daemon_check(struct ctx *x, struct casefail *cf)
{
	char why[256], st[64];
	int status;

	if (waitpid(x->e.pid, &status, WNOHANG) == x->e.pid) {
		cf_add(cf, "DAEMON DIED: %s", wait_status(status, st, sizeof(st)));
		x->e.pid = 0;
		x->t->daemon_deaths++;
		return false;
	}
	if (raw_request_ok(&x->e, "{\"cmd\":\"ping\"}", E2E_REPLY_TIMEOUT_MS, NULL, 0, why,
			   sizeof(why)) != 1) {
		/* dying (a sanitizer's report takes a while) or hung */
		if (e2e_poll(waitpid(x->e.pid, &status, WNOHANG) == x->e.pid, 5000)) {
			cf_add(cf, "DAEMON DIED: %s", wait_status(status, st, sizeof(st)));
			x->e.pid = 0;
			x->t->daemon_deaths++;
		} else {
			cf_add(cf, "daemon does not answer a ping: %s", why);
			x->t->daemon_hangs++;
		}
		return false;
	}
	return true;
}

/* The untouched pool is whole and serving. */
static void check_other(struct ctx *x, struct casefail *cf)
{
	char why[256];
	json_t *s;
	void *p;
	int r;

	errno = 0;
	p = pcpupool_alloc(x->other, PCPUPOOL_WAIT);
	if (!p) {
		cf_add(cf, "other pool: alloc WAIT failed: %s", errname(errno));
	} else if ((char *)p < x->other_base || (char *)p + ELEM_SIZE > x->other_base + x->other_map) {
		cf_add(cf, "other pool: alloc WAIT returned %p outside [%p, %p)", p,
		       (void *)x->other_base, (void *)(x->other_base + x->other_map));
	} else {
		memset(p, 0xab, ELEM_SIZE);
		pcpupool_free(p, x->other);
	}
	r = pcpupool_refill(x->other, PCPUPOOL_WAIT);
	if (r != 0)
		cf_add(cf, "other pool: pcpupool_refill(WAIT) = %d (%s)", r, errname(-r));
	s = stats_soft(x->c, x->other_name, why, sizeof(why));
	if (!s) {
		cf_add(cf, "other pool: %s", why);
		return;
	}
	if (strcmp(stats_state(s), "ok"))
		cf_add(cf, "other pool: state \"%s\"", stats_state(s));
	json_decref(s);
}

/* ------------------------------------------------------------------ */
/* the victim pool                                                     */

struct victim {
	char name[E2E_NAME_LEN];
	struct slab_hdr h0;   /* its header as formatted: the truth */
};

/* Create a fresh victim, learn its layout, close it: the test process
 * never maps it while it is attacked. */
static bool victim_create(struct ctx *x, struct victim *vi, struct casefail *cf)
{
	struct pcpupool_create_opts opts = { .sz = sizeof(opts), .max_elems = VICTIM_MAX_ELEMS };
	struct slab_geometry g;
	struct slab_hdr want;
	struct pcpupool *pool;
	void *el;

	pool = pcpupool_create_opts(x->c, e2e_name(&x->e, "victim", vi->name), VICTIM_MIN_NR,
				    ELEM_SIZE, ELEM_ALIGN, &opts);
	if (!pool) {
		cf_add(cf, "cannot create the victim pool: %s", errname(errno));
		return false;
	}
	el = pcpupool_alloc(pool, PCPUPOOL_WAIT);
	if (!el) {
		cf_add(cf, "victim: first alloc failed: %s", errname(errno));
		pcpupool_close(pool);
		return false;
	}
	memcpy(&vi->h0, (char *)el - pcpupool_elem_offset(pool, el), sizeof(vi->h0));
	pcpupool_free(el, pool);
	pcpupool_close(pool);
	/* the layout as the slab core computes it for this geometry */
	g = (struct slab_geometry){ vi->h0.nr_cpus, vi->h0.slab_cap, ELEM_SIZE, ELEM_ALIGN,
				    VICTIM_MAX_ELEMS, 0 };
	if (slab_layout(&g, &want) < 0 || want.map_size != vi->h0.map_size ||
	    want.slabs_off != vi->h0.slabs_off || want.meta_off != vi->h0.meta_off ||
	    want.elems_off != vi->h0.elems_off || want.elem_stride != vi->h0.elem_stride ||
	    vi->h0.max_elems != VICTIM_MAX_ELEMS || vi->h0.magic != SLAB_MAGIC) {
		cf_add(cf, "victim: header is not the layout slab_layout() computes");
		return false;
	}
	return true;
}

/* Destroy it (its clients are gone; the daemon notices a moment later). */
static void victim_destroy(struct ctx *x, const struct victim *vi, struct casefail *cf)
{
	char line[160], code[32], why[256];
	int64_t deadline = e2e_now_ms() + 3000;
	int r;

	snprintf(line, sizeof(line), "{\"cmd\":\"destroy\",\"pool\":\"%s\"}", vi->name);
	for (;;) {
		r = raw_request_ok(&x->e, line, E2E_REPLY_TIMEOUT_MS, code, sizeof(code), why,
				   sizeof(why));
		if (r == 1)
			return;
		if (r == 0 && !strcmp(code, "EBUSY") && e2e_now_ms() < deadline) {
			e2e_sleep_ms(2);
			continue;
		}
		break;
	}
	if (r < 0)
		cf_add(cf, "destroy of the victim: %s", why);
	/* else abandoned (still attached or refused): it stays, harmless */
}

/* ------------------------------------------------------------------ */
/* the honest client                                                   */

/* In a forked client: CMocka's handlers for the fatal signals would catch a
 * crash and jump back into the test runner, in the child.  The handlers
 * from before CMocka's instead: the default action, so that the test sees
 * the signal, or a sanitizer's, which prints its report and exits with
 * status 1. */
static const int fatal_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS };
static struct sigaction fatal_sa[sizeof(fatal_sigs) / sizeof(fatal_sigs[0])];

static void fatal_signals_save(void)
{
	for (size_t i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++)
		sigaction(fatal_sigs[i], NULL, &fatal_sa[i]);
}

static void child_fatal_signals_restore(void)
{
	for (size_t i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++)
		sigaction(fatal_sigs[i], &fatal_sa[i], NULL);
}

struct hpool {
	struct pcpupool_client *c;
	struct pcpupool *pool;
	const char *name;
	char *base;               /* its mapping, from the view at attach */
	size_t map_size;
	char *elems;
	uint64_t elem_stride, max_elems;
	bool is_other;
};

struct honest_args {
	const char *sock;
	const char *victim;
	const char *other;        /* NULL: the victim only */
	const struct slab_hdr *h0;
	int pin_cpu;              /* -1: not pinned */
	int ready_fd, stop_fd, report_fd;
	int start_fd;             /* >= 0: wait for a byte there after ready
				   * (several clients attach before any
				   * empties the pool) */
	int max_ms;
};

static struct hreport hrep;

static void __attribute__((noreturn, format(printf, 3, 4)))
honest_exit(const struct honest_args *a, int code, const char *fmt, ...)
{
	va_list ap;

	hrep.magic = HREPORT_MAGIC;
	hrep.code = (uint32_t)code;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(hrep.msg, sizeof(hrep.msg), fmt, ap);
		va_end(ap);
	}
	(void)e2e_write_full(a->report_fd, &hrep, sizeof(hrep));
	_exit(code);
}

/* A wrong answer that is not a memory hazard: noted, and the client goes
 * on (a crash later in the run is what matters most). */
static void __attribute__((format(printf, 2, 3))) honest_soft(int code, const char *fmt, ...)
{
	va_list ap;

	if (hrep.code)
		return;
	hrep.code = (uint32_t)code;
	va_start(ap, fmt);
	vsnprintf(hrep.msg, sizeof(hrep.msg), fmt, ap);
	va_end(ap);
}

static void hcount(int op, int err)
{
	hrep.err[op][err >= 0 && err < NERR - 1 ? err : NERR - 1]++;
}

static void honest_attach(const struct honest_args *a, struct hpool *hp, const char *name,
			  bool short_wait)
{
	struct slab_hdr h;
	uint64_t off;
	void *el;

	if (short_wait)
		setenv("PCPUPOOL_WAIT_TIMEOUT_MS", HONEST_WAIT_MS, 1);
	else
		unsetenv("PCPUPOOL_WAIT_TIMEOUT_MS");
	hp->name = name;
	hp->c = pcpupool_connect(a->sock);
	if (!hp->c)
		honest_exit(a, H_SETUP, "connect: %s", errname(errno));
	hp->pool = pcpupool_open(hp->c, name);
	if (!hp->pool)
		honest_exit(a, H_SETUP, "open %s: %s", name, errname(errno));
	el = pcpupool_alloc(hp->pool, PCPUPOOL_WAIT);
	if (!el)
		honest_exit(a, H_SETUP, "%s: first alloc: %s", name, errname(errno));
	off = pcpupool_elem_offset(hp->pool, el);
	if (off == UINT64_MAX)
		honest_exit(a, H_SETUP, "%s: elem_offset failed", name);
	/* the view at attach, before any attack: what every later element
	 * is checked against */
	hp->base = (char *)el - off;
	memcpy(&h, hp->base, sizeof(h));
	if (h.magic != SLAB_MAGIC || h.elem_size != ELEM_SIZE ||
	    (!hp->is_other && (h.map_size != a->h0->map_size || h.elems_off != a->h0->elems_off ||
			       h.elem_stride != a->h0->elem_stride ||
			       h.max_elems != a->h0->max_elems)))
		honest_exit(a, H_SETUP, "%s: header at attach is not the created one", name);
	hp->map_size = h.map_size;
	hp->elems = hp->base + h.elems_off;
	hp->elem_stride = h.elem_stride;
	hp->max_elems = h.max_elems;
	pcpupool_free(el, hp->pool);
}

/* Check an element before touching it, then touch it. */
static void honest_take(const struct honest_args *a, const struct hpool *hp, void *p,
			const char *how)
{
	uintptr_t at = (uintptr_t)p, lo = (uintptr_t)hp->base, hi = lo + hp->map_size;
	uintptr_t e0 = (uintptr_t)hp->elems;

	if (at < lo || at >= hi || hi - at < ELEM_SIZE)
		honest_exit(a, H_OUTSIDE, "%s on %s returned %p, outside its mapping [%p, %p)",
			    how, hp->name, p, (void *)lo, (void *)hi);
	if (at < e0 || (at - e0) % hp->elem_stride || (at - e0) / hp->elem_stride >= hp->max_elems)
		honest_exit(a, H_NOT_ELEM, "%s on %s returned %p, inside its mapping [%p, %p) "
			    "but not the start of an element (elements at %p, stride %" PRIu64
			    ", %" PRIu64 " of them)", how, hp->name, p, (void *)lo, (void *)hi,
			    (void *)e0, hp->elem_stride, hp->max_elems);
	memset(p, 0x5a, ELEM_SIZE);
	(void)((volatile unsigned char *)p)[ELEM_SIZE - 1];
	hrep.got++;
}

static void *held[HOLD_MAX];

static void honest_round(const struct honest_args *a, struct hpool *hp, uint64_t round)
{
	size_t n = 0;
	void *p;
	int r;

	/* allocate until empty with NOWAIT (the untouched pool: a few, it
	 * must still serve the WAIT below) */
	while (n < (hp->is_other ? 64 : HOLD_MAX - 1)) {
		errno = 0;
		p = pcpupool_alloc(hp->pool, PCPUPOOL_NOWAIT);
		if (!p) {
			if (errno == 0)
				honest_exit(a, H_NULL_NO_ERRNO, "alloc NOWAIT on %s: NULL with errno 0",
					    hp->name);
			if (!hp->is_other)
				hcount(OP_ALLOC_NOWAIT, errno);
			break;
		}
		honest_take(a, hp, p, "alloc NOWAIT");
		if (!hp->is_other)
			hcount(OP_ALLOC_NOWAIT, 0);
		held[n++] = p;
	}
	/* then with WAIT (a synchronous refill when the reserves are dry) */
	errno = 0;
	p = pcpupool_alloc(hp->pool, PCPUPOOL_WAIT);
	if (!p) {
		if (errno == 0)
			honest_exit(a, H_NULL_NO_ERRNO, "alloc WAIT on %s: NULL with errno 0",
				    hp->name);
		if (hp->is_other)
			honest_exit(a, H_OTHER, "the untouched pool %s: alloc WAIT failed: %s",
				    hp->name, errname(errno));
		hcount(OP_ALLOC_WAIT, errno);
	} else {
		honest_take(a, hp, p, "alloc WAIT");
		if (!hp->is_other)
			hcount(OP_ALLOC_WAIT, 0);
		held[n++] = p;
	}
	/* ask the daemon */
	r = pcpupool_refill(hp->pool, round & 1 ? PCPUPOOL_WAIT : PCPUPOOL_NOWAIT);
	if (hp->is_other && (round & 1) && r != 0)
		honest_exit(a, H_OTHER, "the untouched pool %s: refill WAIT = %d (%s)", hp->name, r,
			    errname(-r));
	if (!hp->is_other)
		hcount(round & 1 ? OP_REFILL_WAIT : OP_REFILL_NOWAIT, r <= 0 ? -r : NERR - 1);
	if (round % 2 == 0) {
		char *s = pcpupool_stats_json(hp->c, hp->name);

		if (!s)
			hrep.stats_null++;
		free(s);
	}
	/* the queries: a size the library echoes is one a client writes */
	if (pcpupool_elem_size(hp->pool) != ELEM_SIZE)
		honest_soft(H_ELEM_SIZE, "pcpupool_elem_size(%s) = %zu, created %u", hp->name,
			    pcpupool_elem_size(hp->pool), ELEM_SIZE);
	if (pcpupool_nr_elems(hp->pool) < 0)
		honest_soft(H_NEGATIVE, "pcpupool_nr_elems(%s) = %d", hp->name,
			    pcpupool_nr_elems(hp->pool));
	/* free everything, in an order that mixes CPUs' slabs and lists */
	for (size_t i = 0; i < n; i++)
		pcpupool_free(held[round & 2 ? n - 1 - i : i], hp->pool);
}

static void __attribute__((noreturn)) honest_main(const struct honest_args *a)
{
	struct hpool hp[2] = { { .is_other = false }, { .is_other = true } };
	int np = a->other ? 2 : 1;
	int64_t deadline;
	char b = 'r';

	child_fatal_signals_restore();
	memset(&hrep, 0, sizeof(hrep));
	if (a->pin_cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(a->pin_cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			honest_exit(a, H_SETUP, "pin to cpu %d: %s", a->pin_cpu, errname(errno));
		sched_yield();
	}
	honest_attach(a, &hp[0], a->victim, true);
	if (a->other)
		honest_attach(a, &hp[1], a->other, false);
	if (e2e_write_full(a->ready_fd, &b, 1) < 0)
		honest_exit(a, H_SETUP, "ready pipe: %s", errname(errno));
	if (a->start_fd >= 0 && e2e_read_full(a->start_fd, &b, 1, 60000) < 0)
		honest_exit(a, H_SETUP, "no start");
	deadline = e2e_now_ms() + a->max_ms;
	for (uint64_t round = 0;; round++) {
		struct pollfd pfd = { .fd = a->stop_fd, .events = POLLIN };

		for (int i = 0; i < np; i++)
			honest_round(a, &hp[i], round);
		hrep.rounds++;
		if (poll(&pfd, 1, 0) > 0 || e2e_now_ms() > deadline)
			break;
	}
	/* closing a handle on corrupt memory must work too */
	for (int i = 0; i < np; i++) {
		pcpupool_close(hp[i].pool);
		pcpupool_disconnect(hp[i].c);
	}
	honest_exit(a, (int)hrep.code, NULL);
}

/* ------------------------------------------------------------------ */
/* the attacker                                                        */

enum attack_kind { ATK_WIPE, ATK_FORGE, ATK_SCRIBBLE };

/* A field the daemon or the library reads. */
enum fkind {
	F_HDR,       /* a word of struct slab_hdr */
	F_SLAB,      /* a word of the forged CPU's struct slab */
	F_COUNT,     /* the count bits of its count word */
	F_SLOTS,     /* every slot of its slab (and a count that reaches them) */
};

struct field {
	const char *name;
	enum fkind kind;
	size_t off;
	unsigned width;
	bool geometry;       /* changing it must quarantine the pool */
	bool list;           /* a list word (spare, inbox, outbox) */
};

#define HF(f, geo) { #f, F_HDR, offsetof(struct slab_hdr, f), \
		     sizeof(((struct slab_hdr *)0)->f), geo, false }
#define SF(f) { #f, F_SLAB, offsetof(struct slab, f), sizeof(((struct slab *)0)->f), false, false }

static const struct field fields[] = {
	HF(nr_cpus, true), HF(slab_cap, true), HF(slab_stride, true), HF(elem_stride, true),
	HF(elem_size, true), HF(elem_align, true), HF(max_elems, true), HF(slabs_off, true),
	HF(meta_off, true), HF(elems_off, true), HF(map_size, true),
	HF(nr_published, false), HF(min_nr, false), HF(state, false),
	{ "spare", F_HDR, offsetof(struct slab_hdr, spare), 8, false, true },
	HF(polling, false), HF(magic, true), HF(layout_version, true), HF(hdr_size, true),
	HF(huge_page_size, true),
	{ "cw.count", F_COUNT, offsetof(struct slab, cw), 8, false, false },
	{ "cw", F_SLAB, offsetof(struct slab, cw), 8, false, false },
	SF(limit), SF(low), SF(cap),
	{ "inbox", F_SLAB, offsetof(struct slab, inbox), 8, false, true },
	{ "outbox", F_SLAB, offsetof(struct slab, outbox), 8, false, true },
	SF(refill_pending),
	{ "slots", F_SLOTS, offsetof(struct slab, slots), 4, false, false },
};
#define NR_FIELDS (sizeof(fields) / sizeof(fields[0]))

#define LOOP_A 3u
#define LOOP_B 4u

struct fval {
	uint64_t v;
	bool loop;           /* also link LOOP_A <-> LOOP_B through meta */
	char desc[64];
};

static int add_val(struct fval *out, int n, uint64_t v, bool loop, const char *desc)
{
	out[n].v = v;
	out[n].loop = loop;
	snprintf(out[n].desc, sizeof(out[n].desc), "%s", desc);
	return n + 1;
}

#define VAL(v, d) (n = add_val(out, n, (uint64_t)(v), false, (d)))

/* The values field @f is forged to: 0, its type's maximum, and the values
 * just past its natural bounds, for a pool laid out as @h. */
static int field_values(const struct field *f, const struct slab_hdr *h, struct fval *out)
{
	const uint64_t tmax = f->width == 4 ? UINT32_MAX : UINT64_MAX;
	const char *nm = f->name;
	int n = 0;

	if (f->list) {
		VAL(slab_list_word((uint32_t)h->max_elems, 1), "head = max_elems (past the pool)");
		VAL(slab_list_word((uint32_t)h->max_elems + 5, 1), "head = max_elems + 5");
		VAL(slab_list_word(0, (uint32_t)h->max_elems + 1), "length = max_elems + 1");
		VAL(slab_list_word(LOOP_A, SLAB_BATCH_MAX + 1), "length = SLAB_BATCH_MAX + 1");
		VAL(slab_list_word(SLAB_NIL, 1), "head NIL, length 1");
		n = add_val(out, n, slab_list_word(LOOP_A, 9), true, "3 -> 4 -> 3 ... (a loop)");
		VAL(UINT64_MAX, "all ones");
		return n;
	}
	if (f->kind == F_COUNT) {
		VAL(0, "count 0");
		VAL(h->slab_cap + 1, "count = slab_cap + 1");
		VAL(SLAB_MAX_CAP + 1, "count = SLAB_MAX_CAP + 1");
		VAL(0xffff, "count = 0xffff");
		return n;
	}
	if (f->kind == F_SLOTS) {
		VAL(UINT32_MAX, "every slot 0xffffffff");
		VAL(h->max_elems * h->elem_stride, "every slot = offset of element max_elems");
		VAL(1, "every slot = 1 (not an element's start)");
		VAL((h->max_elems - 1) * h->elem_stride + 1, "every slot = last element + 1 byte");
		return n;
	}
	VAL(0, "0");
	VAL(tmax, f->width == 4 ? "UINT32_MAX" : "UINT64_MAX");
	if (!strcmp(nm, "nr_cpus")) {
		VAL(SLAB_MAX_CPUS + 1, "SLAB_MAX_CPUS + 1");
		VAL(h->nr_cpus + 1, "nr_cpus + 1");
	} else if (!strcmp(nm, "slab_cap") || !strcmp(nm, "cap") || !strcmp(nm, "limit") ||
		   !strcmp(nm, "low")) {
		VAL(h->slab_cap + 1, "slab_cap + 1");
		VAL(SLAB_MAX_CAP + 1, "SLAB_MAX_CAP + 1");
	} else if (!strcmp(nm, "slab_stride")) {
		VAL(h->slab_stride + 1, "slab_stride + 1");
		VAL(2 * h->slab_stride, "2 x slab_stride");
	} else if (!strcmp(nm, "elem_stride")) {
		VAL(h->elem_stride + 1, "elem_stride + 1");
		VAL(2 * h->elem_stride, "2 x elem_stride");
	} else if (!strcmp(nm, "elem_size")) {
		VAL(h->elem_stride + 1, "elem_stride + 1");
		VAL((UINT64_C(1) << 30) + 1, "2^30 + 1");
	} else if (!strcmp(nm, "elem_align")) {
		VAL(h->elem_align + 1, "elem_align + 1 (not a power of two)");
		VAL(2 * 4096, "8192 (past a page)");
	} else if (!strcmp(nm, "max_elems")) {
		VAL(h->max_elems + 1, "max_elems + 1");
		VAL(SLAB_MAX_ELEMS + 1, "SLAB_MAX_ELEMS + 1");
	} else if (!strcmp(nm, "slabs_off") || !strcmp(nm, "meta_off")) {
		VAL(h->map_size, "map_size (past the end)");
		VAL((!strcmp(nm, "slabs_off") ? h->slabs_off : h->meta_off) + 1, "+ 1 (misaligned)");
	} else if (!strcmp(nm, "elems_off")) {
		VAL(h->map_size, "map_size (past the end)");
		VAL(h->elems_off + h->elem_stride, "+ one element");
	} else if (!strcmp(nm, "map_size")) {
		VAL(h->map_size + 4096, "map_size + 4096");
		VAL(h->map_size - 4096, "map_size - 4096");
	} else if (!strcmp(nm, "nr_published")) {
		VAL(h->max_elems + 1, "max_elems + 1");
		VAL(h->max_elems, "max_elems (all, more than were published)");
	} else if (!strcmp(nm, "min_nr")) {
		VAL(h->max_elems + 1, "max_elems + 1");
		VAL(h->slab_cap + 1, "slab_cap + 1");
	} else if (!strcmp(nm, "state")) {
		n = 0;   /* 0 is what it is */
		VAL(SLAB_STATE_QUARANTINED, "SLAB_STATE_QUARANTINED");
		VAL(SLAB_STATE_DESTROYED, "SLAB_STATE_DESTROYED");
		VAL(SLAB_STATE_DESTROYED + 1, "past the enum");
		VAL(UINT32_MAX, "UINT32_MAX");
	} else if (!strcmp(nm, "polling")) {
		n = 0;
		VAL(1, "1 (the daemon does not poll)");
		VAL(UINT64_MAX, "UINT64_MAX");
	} else if (!strcmp(nm, "magic")) {
		VAL(SLAB_MAGIC ^ 1, "magic ^ 1");
	} else if (!strcmp(nm, "layout_version")) {
		VAL(SLAB_LAYOUT_VERSION + 1, "SLAB_LAYOUT_VERSION + 1");
	} else if (!strcmp(nm, "hdr_size")) {
		VAL(SLAB_HDR_SIZE + 1, "SLAB_HDR_SIZE + 1");
	} else if (!strcmp(nm, "huge_page_size")) {
		VAL(SLAB_HUGE_PAGE, "SLAB_HUGE_PAGE (claims hugepages)");
		VAL(4096, "4096 (not a hugepage size)");
	} else if (!strcmp(nm, "cw")) {
		n = 0;
		VAL(0, "0 (count and ops)");
		VAL(UINT64_MAX, "UINT64_MAX");
	} else if (!strcmp(nm, "refill_pending")) {
		VAL(SLAB_REQ_SENT, "SLAB_REQ_SENT (no message sent)");
		VAL(SLAB_REQ_QUIET + 1, "past SLAB_REQ_QUIET");
	}
	return n;
}

/* The value @f has in a pool formatted as @h (geometry fields only). */
static uint64_t hdr_field_value(const struct field *f, const struct slab_hdr *h)
{
	uint64_t v = 0;

	memcpy(&v, (const char *)h + f->off, f->width);   /* little-endian */
	return v;
}

struct attack {
	enum attack_kind kind;
	/* wipe */
	uint32_t pages[2];
	int npages;
	int pattern;             /* 0x00, 0xff, 0x14, or -1: random */
	uint64_t seed;
	/* forge */
	const struct field *f;
	struct fval val;
	uint32_t cpu;
	/* scribble */
	int scribble_ms;
	int report_fd;
	int repeat;              /* apply again after 10 ms, this many times */
	/* attached and mapped: one byte on ready_fd; then 'g' on go_fd starts
	 * the attack (anything else ends it) */
	int ready_fd, go_fd;
};

static void store_word(void *p, unsigned width, uint64_t v)
{
	if (width == 4)
		__atomic_store_n((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST);
	else
		__atomic_store_n((uint64_t *)p, v, __ATOMIC_SEQ_CST);
}

static void attack_forge(const struct attack *k, char *base, const struct slab_hdr *h,
			 struct slab_meta *meta)
{
	char *slab = base + h->slabs_off + (size_t)k->cpu * h->slab_stride;

	if (k->val.loop) {
		atomic_store(&meta[LOOP_A].next, LOOP_B);
		atomic_store(&meta[LOOP_B].next, LOOP_A);
	}
	switch (k->f->kind) {
	case F_HDR:
		store_word(base + k->f->off, k->f->width, k->val.v);
		break;
	case F_SLAB:
		store_word(slab + k->f->off, k->f->width, k->val.v);
		break;
	case F_COUNT: {
		uint64_t *cw = (uint64_t *)(void *)(slab + k->f->off);
		uint64_t w = __atomic_load_n(cw, __ATOMIC_RELAXED);

		__atomic_store_n(cw, (w & ~UINT64_C(0xffff)) | (k->val.v & 0xffff),
				 __ATOMIC_SEQ_CST);
		break;
	}
	case F_SLOTS: {
		struct slab *s = (struct slab *)(void *)slab;
		uint64_t w;

		for (uint32_t i = 0; i < h->slab_cap; i++)
			__atomic_store_n(&s->slots[i], (uint32_t)k->val.v, __ATOMIC_RELAXED);
		w = __atomic_load_n(&s->cw, __ATOMIC_RELAXED);
		if (SLAB_CW_COUNT(w) < 16)
			__atomic_store_n(&s->cw, (w & ~UINT64_C(0xffff)) | 16, __ATOMIC_SEQ_CST);
		break;
	}
	}
}

static void attack_wipe(const struct attack *k, char *base)
{
	for (int i = 0; i < k->npages; i++) {
		char *pg = base + (size_t)k->pages[i] * 4096;

		if (k->pattern >= 0) {
			memset(pg, k->pattern, 4096);
		} else {
			uint64_t s = k->seed + k->pages[i];

			for (size_t o = 0; o < 4096; o += 8) {
				uint64_t r = e2e_rng(&s);

				memcpy(pg + o, &r, 8);
			}
		}
	}
}

/* What the scribbler tells the test. */
struct sreport {
	uint64_t writes;
	bool geometry_changed;
};

/* One random write.  @subtle: only plausible values (an index, an offset,
 * a list word), only into the slabs and the meta, so that the daemon and
 * the clients go on working with a pool that is corrupt but looks sane. */
static bool scribble_one(uint64_t *rs, char *base, const struct slab_hdr *h, bool subtle)
{
	uint64_t r = e2e_rng(rs), at, len;
	size_t geo_end = offsetof(struct slab_hdr, name);
	size_t huge_at = offsetof(struct slab_hdr, huge_page_size), huge_len = 4;
	unsigned char before[16], huge_before[4], *p;
	bool geo;

	if (subtle) {
		at = h->hdr_size + e2e_rng(rs) % (h->elems_off - h->hdr_size);
		if (((r >> 1) & 3) == 0)
			r |= 2;   /* modes 1-3: no random bytes */
	} else {
		/* half of the writes aimed at the metadata (header, slabs, meta) */
		at = r & 1 ? e2e_rng(rs) % h->elems_off : e2e_rng(rs) % h->map_size;
	}
	switch ((r >> 1) & 3) {
	case 0:   /* random bytes */
		len = 1 + e2e_rng(rs) % 16;
		break;
	case 1:   /* a plausible index */
	case 2:   /* a plausible offset */
		at &= ~(uint64_t)3;
		len = 4;
		break;
	default:  /* a plausible list word */
		at &= ~(uint64_t)7;
		len = 8;
		break;
	}
	if (at + len > h->map_size)
		len = h->map_size - at;
	p = (unsigned char *)base + at;
	geo = at < geo_end;
	if (geo)
		memcpy(before, p, len);
	memcpy(huge_before, (unsigned char *)base + huge_at, huge_len);
	switch ((r >> 1) & 3) {
	case 0:
		for (uint64_t i = 0; i < len; i++)
			p[i] = (unsigned char)e2e_rng(rs);
		break;
	case 1:
		__atomic_store_n((uint32_t *)(void *)p,
				 (uint32_t)(e2e_rng(rs) % (2 * h->max_elems)), __ATOMIC_RELAXED);
		break;
	case 2:
		__atomic_store_n((uint32_t *)(void *)p,
				 (uint32_t)(e2e_rng(rs) % (2 * h->max_elems * h->elem_stride)),
				 __ATOMIC_RELAXED);
		break;
	default:
		__atomic_store_n((uint64_t *)(void *)p,
				 slab_list_word((uint32_t)(e2e_rng(rs) % (h->max_elems + 8)),
						(uint32_t)(e2e_rng(rs) % 64)), __ATOMIC_RELAXED);
		break;
	}
	return (geo && memcmp(before, p, len < geo_end - at ? len : geo_end - at)) ||
	       memcmp(huge_before, (unsigned char *)base + huge_at, huge_len);
}

static void __attribute__((noreturn)) attacker_main(const char *sock, const char *name,
						     const struct slab_hdr *h0,
						     const struct attack *k)
{
	struct pcpupool_client *c;
	struct pcpupool *pool;
	struct slab_view v;
	struct slab_hdr h;
	char *base, go = 0;
	void *el;

	child_fatal_signals_restore();
	c = pcpupool_connect(sock);
	pool = c ? pcpupool_open(c, name) : NULL;
	el = pool ? pcpupool_alloc(pool, PCPUPOOL_WAIT) : NULL;
	if (!el)
		_exit(A_SETUP);
	base = (char *)el - pcpupool_elem_offset(pool, el);
	pcpupool_free(el, pool);
	memcpy(&h, base, sizeof(h));
	if (memcmp(&h, h0, offsetof(struct slab_hdr, name)) ||
	    slab_view_init(&v, base, h.map_size, 7) < 0)
		_exit(A_SETUP);
	/* ready; the honest clients start, and then the attack */
	if (e2e_write_full(k->ready_fd, "a", 1) < 0 ||
	    e2e_read_full(k->go_fd, &go, 1, 60000) < 0)
		_exit(A_SETUP);
	if (go != 'g')
		_exit(A_OK);
	if (k->kind == ATK_SCRIBBLE) {
		struct sreport rep = { 0, false };
		uint64_t rs = k->seed;
		int64_t end = e2e_now_ms() + k->scribble_ms;
		int64_t half = e2e_now_ms() + k->scribble_ms / 2;

		/* the first half subtle and slow, the second half anything,
		 * fast */
		while (e2e_now_ms() < end) {
			bool subtle = e2e_now_ms() < half;

			for (int i = 0; i < (subtle ? 1 : 16); i++) {
				rep.geometry_changed |= scribble_one(&rs, base, &h, subtle);
				rep.writes++;
			}
			usleep(subtle ? 1000 : 50);
		}
		(void)e2e_write_full(k->report_fd, &rep, sizeof(rep));
		_exit(A_OK);
	}
	for (int i = 0; i <= k->repeat; i++) {
		if (i)
			e2e_sleep_ms(10);
		if (k->kind == ATK_WIPE)
			attack_wipe(k, base);
		else
			attack_forge(k, base, &h, v.meta);
	}
	/* gone without closing: the daemon takes this as a dead client too */
	_exit(A_OK);
}

/* ------------------------------------------------------------------ */
/* one case                                                            */

struct case_spec {
	struct attack atk;
	bool need_quarantine;   /* the header's geometry changed */
	bool need_ok;           /* nothing the daemon reads changed */
	int honest_cpu;
	char label[320];
};

static void poke_daemon(struct ctx *x, const struct victim *vi, struct casefail *cf)
{
	char line[160], why[256];

	snprintf(line, sizeof(line), "{\"cmd\":\"refill\",\"pool\":\"%s\"}", vi->name);
	if (raw_request_ok(&x->e, line, E2E_REPLY_TIMEOUT_MS, NULL, 0, why, sizeof(why)) < 0)
		cf_add(cf, "refill request: %s", why);
	snprintf(line, sizeof(line), "{\"cmd\":\"stats\",\"pool\":\"%s\"}", vi->name);
	if (raw_request_ok(&x->e, line, E2E_REPLY_TIMEOUT_MS, NULL, 0, why, sizeof(why)) < 0)
		cf_add(cf, "stats request: %s", why);
}

/* A pipe whose read end does not block: e2e_read_full() then gives up at
 * its deadline when the writer died without writing. */
static void pipe_nb(int fds[2])
{
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
}

static void check_honest(struct ctx *x, int st, const struct hreport *r, bool have_report,
			 const char *who, struct casefail *cf)
{
	char buf[64];

	if (st == -1) {
		cf_add(cf, "%s did not finish in time", who);
		return;
	}
	if (WIFSIGNALED(st)) {
		x->t->honest_crashes++;
		cf_add(cf, "%s CRASHED: %s", who, wait_status(st, buf, sizeof(buf)));
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1 && !have_report) {
		x->t->honest_crashes++;   /* a sanitizer's exit */
		cf_add(cf, "%s CRASHED: exit status 1 without its report (the sanitizer's "
		       "report is above)", who);
		return;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != H_OK) {
		cf_add(cf, "%s: %s: %s", who, wait_status(st, buf, sizeof(buf)),
		       have_report ? r->msg : "(no report)");
		return;
	}
	if (!have_report)
		cf_add(cf, "%s exited 0 without its report", who);
}

static void run_case(struct ctx *x, struct case_spec *cs, const char *cat, int idx, int total,
		     unsigned *shown)
{
	struct casefail cf = { .len = 0, .n = 0 };
	struct casefail pokes = { .len = 0, .n = 0 };  /* moot if the daemon died */
	struct victim vi;
	struct honest_args ha;
	struct hreport rep;
	int rdy[2] = { -1, -1 }, stop[2] = { -1, -1 }, rp[2] = { -1, -1 };
	int ardy[2] = { -1, -1 }, go[2] = { -1, -1 };
	bool have_rep = false, alive, created;
	int64_t t0 = e2e_now_ms();
	char b, buf[64], why[256];
	pid_t h, a;
	int st;

	x->t->cases++;
	created = victim_create(x, &vi, &cf);
	if (!created)
		goto checks;
	pipe_nb(rdy);
	pipe_nb(stop);
	pipe_nb(rp);
	pipe_nb(ardy);
	pipe_nb(go);
	/* the attacker attaches and maps the pool first (an honest client
	 * that holds every element would leave it none to find its mapping
	 * with), then waits */
	cs->atk.ready_fd = ardy[1];
	cs->atk.go_fd = go[0];
	a = e2e_fork(&x->e);
	if (a == 0)
		attacker_main(x->e.sock, vi.name, &vi.h0, &cs->atk);
	if (e2e_read_full(ardy[0], &b, 1, 10000) < 0) {
		st = e2e_wait_child(&x->e, a, 5000);
		cf_add(&cf, "attacker could not attach and map the pool (nothing was tested): %s",
		       wait_status(st, buf, sizeof(buf)));
		goto checks;
	}
	ha = (struct honest_args){ .sock = x->e.sock, .victim = vi.name, .other = NULL,
				   .h0 = &vi.h0, .pin_cpu = cs->honest_cpu, .ready_fd = rdy[1],
				   .stop_fd = stop[0], .report_fd = rp[1], .start_fd = -1,
				   .max_ms = 20000 };
	h = e2e_fork(&x->e);
	if (h == 0)
		honest_main(&ha);
	if (e2e_read_full(rdy[0], &b, 1, 10000) < 0) {
		(void)!write(go[1], "q", 1);
		e2e_wait_child(&x->e, a, 5000);
		st = e2e_wait_child(&x->e, h, 5000);
		have_rep = e2e_read_full(rp[0], &rep, sizeof(rep), 10) == 0;
		cf_add(&cf, "honest client did not attach: %s: %s",
		       wait_status(st, buf, sizeof(buf)), have_rep ? rep.msg : "");
		goto checks;
	}
	/* the attack, while the honest client runs */
	(void)!write(go[1], "g", 1);
	e2e_sleep_ms(x->run_ms / 3);
	poke_daemon(x, &vi, &pokes);
	st = e2e_wait_child(&x->e, a, 10000);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != A_OK)
		cf_add(&cf, "attacker: %s (it only writes memory: the attack did not run)",
		       wait_status(st, buf, sizeof(buf)));
	e2e_sleep_ms(x->run_ms / 3);
	poke_daemon(x, &vi, &pokes);
	e2e_sleep_ms(x->run_ms / 3);
	(void)!write(stop[1], "s", 1);
	st = e2e_wait_child(&x->e, h, 30000);
	have_rep = st != -1 && e2e_read_full(rp[0], &rep, sizeof(rep), 100) == 0 &&
		   rep.magic == HREPORT_MAGIC;
	check_honest(x, st, &rep, have_rep, "honest client", &cf);
	if (have_rep)
		tally_report(x->t, &rep);
checks:
	alive = daemon_check(x, &cf);
	if (alive && pokes.n)
		cf_add(&cf, "%s", pokes.buf);
	if (alive && created) {
		json_t *s = NULL;
		bool q;

		check_other(x, &cf);
		/* quarantined within the deadline when the geometry changed */
		q = e2e_poll((json_decref(s), s = stats_soft(x->c, vi.name, why, sizeof(why)),
			      s && !strcmp(stats_state(s), "quarantined")),
			     cs->need_quarantine ? x->quarantine_ms : 0);
		if (!s) {
			cf_add(&cf, "victim: %s", why);
		} else {
			x->t->quarantined += q;
			if (cs->need_quarantine && !q)
				cf_add(&cf, "NOT QUARANTINED within %d ms (state \"%s\") although "
				       "the header's geometry changed", x->quarantine_ms,
				       stats_state(s));
			if (cs->need_ok && q)
				cf_add(&cf, "quarantined although only element payload was "
				       "written");
			stats_sane(s, &vi.h0, &cf);
			json_decref(s);
		}
		alive = daemon_check(x, &cf);   /* and still after our stats */
	}
	if (alive && created) {
		victim_destroy(x, &vi, &cf);
		alive = daemon_check(x, &cf);   /* destroying it did not kill it */
	}
	close(rdy[0]); close(rdy[1]); close(stop[0]); close(stop[1]); close(rp[0]); close(rp[1]);
	close(ardy[0]); close(ardy[1]); close(go[0]); close(go[1]);
	if (cf.n) {
		x->t->failed++;
		if ((*shown)++ < MAX_FAILS_SHOWN)
			fprintf(stderr, "FAIL %s %d/%d: %s\n      %s\n", cat, idx, total, cs->label,
				cf.buf);
	} else if (x->verbose) {
		fprintf(stderr, "ok   %s %d/%d: %s (%lld ms%s)\n", cat, idx, total, cs->label,
			(long long)(e2e_now_ms() - t0), have_rep ? "" : ", no report");
	}
	if (!alive) {
		fprintf(stderr, "      (restarting the daemon for the remaining cases)\n");
		ctx_restart(x);
	}
}

/* ------------------------------------------------------------------ */
/* 1. the wipe matrix                                                  */

enum region { R_HDR = 1, R_SLAB = 2, R_META = 4, R_ELEMS = 8, R_PAD = 16 };

static unsigned page_regions(const struct slab_hdr *h, uint32_t pg, char *label, size_t n)
{
	uint64_t lo = (uint64_t)pg * 4096, hi = lo + 4096;
	uint64_t slabs_end = h->slabs_off + (uint64_t)h->nr_cpus * h->slab_stride;
	uint64_t meta_end = h->meta_off + h->max_elems * sizeof(struct slab_meta);
	unsigned r = 0;
	size_t len = 0;

	label[0] = '\0';
	if (lo < h->hdr_size) {
		r |= R_HDR;
		len += (size_t)snprintf(label + len, n - len, "header");
	}
	if (lo < slabs_end && hi > h->slabs_off) {
		r |= R_SLAB;
		len += (size_t)snprintf(label + len, n - len, "%sslab of cpu %" PRIu64,
					len ? "+" : "", (lo - h->slabs_off) / h->slab_stride);
	}
	if (lo < meta_end && hi > h->meta_off) {
		r |= R_META;
		len += (size_t)snprintf(label + len, n - len, "%smeta %" PRIu64 "-%" PRIu64,
					len ? "+" : "",
					lo > h->meta_off ? (lo - h->meta_off) / 8 : 0,
					((hi < meta_end ? hi : meta_end) - h->meta_off) / 8 - 1);
	}
	if (hi > h->elems_off && lo < h->map_size) {
		uint64_t e0 = lo > h->elems_off ? (lo - h->elems_off) / h->elem_stride : 0;
		uint64_t e1 = (hi - h->elems_off + h->elem_stride - 1) / h->elem_stride - 1;

		r |= R_ELEMS;
		len += (size_t)snprintf(label + len, n - len, "%selements %" PRIu64 "-%" PRIu64,
					len ? "+" : "", e0,
					e1 < h->max_elems ? e1 : h->max_elems - 1);
	}
	if (!r) {
		r = R_PAD;
		snprintf(label + len, n - len, "padding");
	}
	return r;
}

static const int patterns[NR_PATTERNS] = { 0x00, 0xff, 0x14, -1 };

static void test_wipe_matrix(void **state)
{
	struct ctx x;
	struct victim probe;
	struct casefail cf = { .len = 0, .n = 0 };
	int step = env_int("WIPE_PAGE_STEP", 1, 1, 1000);
	int npat = env_int("WIPE_PATTERNS", NR_PATTERNS, 1, NR_PATTERNS);
	uint64_t seed = (uint64_t)env_int("WIPE_SEED", 0x5eedf00d, 0, INT_MAX);
	uint32_t npages, (*sets)[2];
	int nsets = 0, total, idx = 0;
	unsigned shown = 0;

	(void)state;
	ctx_start(&x, &t_wipe);
	/* the layout, from a pool like the victims */
	if (!victim_create(&x, &probe, &cf))
		fail_msg("%s", cf.buf);
	victim_destroy(&x, &probe, &cf);
	npages = (uint32_t)(probe.h0.map_size / 4096);
	assert_true(npages >= 6);
	sets = calloc(2 * (size_t)npages, sizeof(*sets));
	assert_non_null(sets);
	{
		char l[128];
		unsigned seen = 0;

		for (uint32_t p = 0; p < npages; p++)
			seen |= page_regions(&probe.h0, p, l, sizeof(l));
		/* it spans the header, the slabs, the meta and the elements */
		assert_true((seen & (R_HDR | R_SLAB | R_META | R_ELEMS)) ==
			    (R_HDR | R_SLAB | R_META | R_ELEMS));
	}
	for (uint32_t p = 0; p < npages; p += (uint32_t)step) {
		sets[nsets][0] = p;
		sets[nsets++][1] = UINT32_MAX;
	}
	for (uint32_t p = 1; p < npages; p += (uint32_t)step) {
		sets[nsets][0] = 0;
		sets[nsets++][1] = p;
	}
	total = nsets * npat;
	fprintf(stderr, "test_wipe: wipe matrix: %u pages (map_size %" PRIu64 ", %u CPUs, "
		"%" PRIu64 " elements of %u bytes), %d page sets x %d patterns = %d cases\n",
		npages, probe.h0.map_size, probe.h0.nr_cpus, probe.h0.max_elems, ELEM_SIZE, nsets,
		npat, total);
	for (int si = 0; si < nsets; si++)
		for (int pi = 0; pi < npat; pi++) {
			struct case_spec cs;
			char l0[96], l1[160], pat[16];
			unsigned r0, r1 = 0;

			memset(&cs, 0, sizeof(cs));
			cs.atk.kind = ATK_WIPE;
			cs.atk.pages[0] = sets[si][0];
			cs.atk.npages = 1;
			cs.atk.pattern = patterns[pi];
			cs.atk.seed = seed ^ ((uint64_t)si << 32) ^ (uint64_t)pi;
			cs.atk.repeat = 1;
			cs.honest_cpu = -1;
			r0 = page_regions(&probe.h0, sets[si][0], l0, sizeof(l0));
			l1[0] = '\0';
			if (sets[si][1] != UINT32_MAX) {
				char t[80];

				cs.atk.pages[1] = sets[si][1];
				cs.atk.npages = 2;
				r1 = page_regions(&probe.h0, sets[si][1], t, sizeof(t));
				snprintf(l1, sizeof(l1), " + page %u (%s)", sets[si][1], t);
			}
			if (patterns[pi] >= 0)
				snprintf(pat, sizeof(pat), "0x%02x", patterns[pi]);
			else
				snprintf(pat, sizeof(pat), "random");
			cs.need_quarantine = ((r0 | r1) & R_HDR) != 0;
			cs.need_ok = ((r0 | r1) & ~(unsigned)(R_ELEMS | R_PAD)) == 0;
			snprintf(cs.label, sizeof(cs.label), "page %u (%s)%s, pattern %s",
				 sets[si][0], l0, l1, pat);
			run_case(&x, &cs, "wipe", ++idx, total, &shown);
		}
	free(sets);
	pcpupool_close(x.other);
	pcpupool_disconnect(x.c);
	print_tally(&t_wipe);
	e2e_stop(&x.e);
	if (t_wipe.failed)
		fail_msg("%u of %u wipe cases failed (%u daemon deaths, %u honest client crashes)",
			 t_wipe.failed, t_wipe.cases, t_wipe.daemon_deaths, t_wipe.honest_crashes);
}

/* ------------------------------------------------------------------ */
/* 2. targeted field forges                                            */

static void test_field_forges(void **state)
{
	struct ctx x;
	struct victim probe;
	struct casefail cf = { .len = 0, .n = 0 };
	int step = env_int("WIPE_FORGE_STEP", 1, 1, 1000);
	int cpu = e2e_first_cpu(), total = 0, idx = 0, k = 0;
	unsigned shown = 0;
	struct fval vals[16];

	(void)state;
	ctx_start(&x, &t_forge);
	if (!victim_create(&x, &probe, &cf))
		fail_msg("%s", cf.buf);
	victim_destroy(&x, &probe, &cf);
	assert_true((uint32_t)cpu < probe.h0.nr_cpus);
	for (size_t f = 0; f < NR_FIELDS; f++) {
		int nv = field_values(&fields[f], &probe.h0, vals);

		assert_true(nv > 0 && nv <= 16);
		for (int i = 0; i < nv; i++)
			total += k++ % step == 0;
	}
	fprintf(stderr, "test_wipe: %d forges of %zu fields (slab fields on cpu %d, where the "
		"honest client runs)\n", total, NR_FIELDS, cpu);
	k = 0;
	for (size_t f = 0; f < NR_FIELDS; f++) {
		const struct field *fd = &fields[f];
		int nv = field_values(fd, &probe.h0, vals);

		for (int i = 0; i < nv; i++) {
			struct case_spec cs;

			if (k++ % step)
				continue;
			memset(&cs, 0, sizeof(cs));
			cs.atk.kind = ATK_FORGE;
			cs.atk.f = fd;
			cs.atk.val = vals[i];
			cs.atk.cpu = (uint32_t)cpu;
			cs.atk.repeat = 2;
			cs.honest_cpu = cpu;
			cs.need_quarantine = fd->geometry &&
					     vals[i].v != hdr_field_value(fd, &probe.h0);
			cs.need_ok = false;
			snprintf(cs.label, sizeof(cs.label), "%s%s = %#" PRIx64 " (%s)",
				 fd->kind == F_HDR ? "slab_hdr." : "slab[cpu].",
				 fd->name, vals[i].v, vals[i].desc);
			run_case(&x, &cs, "forge", ++idx, total, &shown);
		}
	}
	pcpupool_close(x.other);
	pcpupool_disconnect(x.c);
	print_tally(&t_forge);
	e2e_stop(&x.e);
	if (t_forge.failed)
		fail_msg("%u of %u forges failed (%u daemon deaths, %u honest client crashes)",
			 t_forge.failed, t_forge.cases, t_forge.daemon_deaths,
			 t_forge.honest_crashes);
}

/* ------------------------------------------------------------------ */
/* 3. random scribbling                                                */

static void test_random_scribble(void **state)
{
	struct ctx x;
	struct casefail cf = { .len = 0, .n = 0 }, pokes = { .len = 0, .n = 0 };
	int secs = env_int("WIPE_SCRIBBLE_SECONDS", 4, 1, 600);
	uint64_t seed = (uint64_t)env_int("WIPE_SEED", 0x5eedf00d, 0, INT_MAX);
	struct victim vi;
	struct honest_args ha[2];
	struct hreport rep;
	struct sreport srep = { 0, false };
	struct attack atk;
	int rdy[2], stop[2], rp[2][2], sp[2], ardy[2], go[2], start[2];
	pid_t h[2], a;
	bool alive, have_srep;
	char b, buf[64], why[256];
	int st;

	(void)state;
	ctx_start(&x, &t_scribble);
	x.t->cases++;
	if (!victim_create(&x, &vi, &cf))
		fail_msg("%s", cf.buf);
	pipe_nb(rdy);
	pipe_nb(stop);
	pipe_nb(sp);
	pipe_nb(ardy);
	pipe_nb(go);
	pipe_nb(start);
	/* the scribbler attaches first (see run_case()), then both honest
	 * clients, and only then does any of them start */
	memset(&atk, 0, sizeof(atk));
	atk.kind = ATK_SCRIBBLE;
	atk.seed = seed;
	atk.scribble_ms = secs * 1000;
	atk.report_fd = sp[1];
	atk.ready_fd = ardy[1];
	atk.go_fd = go[0];
	a = e2e_fork(&x.e);
	if (a == 0)
		attacker_main(x.e.sock, vi.name, &vi.h0, &atk);
	if (e2e_read_full(ardy[0], &b, 1, 10000) < 0)
		fail_msg("the scribbler could not attach: %s",
			 wait_status(e2e_wait_child(&x.e, a, 5000), buf, sizeof(buf)));
	for (int i = 0; i < 2; i++) {
		pipe_nb(rp[i]);
		ha[i] = (struct honest_args){ .sock = x.e.sock, .victim = vi.name,
					      .other = x.other_name, .h0 = &vi.h0,
					      .pin_cpu = -1, .ready_fd = rdy[1],
					      .stop_fd = stop[0], .report_fd = rp[i][1],
					      .start_fd = start[0], .max_ms = secs * 1000 + 60000 };
		h[i] = e2e_fork(&x.e);
		if (h[i] == 0)
			honest_main(&ha[i]);
	}
	for (int i = 0; i < 2; i++)
		if (e2e_read_full(rdy[0], &b, 1, 10000) < 0) {
			for (int j = 0; j < 2; j++) {
				bool have;

				st = e2e_wait_child(&x.e, h[j], 1000);
				have = e2e_read_full(rp[j][0], &rep, sizeof(rep), 10) == 0;
				fprintf(stderr, "honest client %d: %s: %s\n", j + 1,
					wait_status(st, buf, sizeof(buf)), have ? rep.msg : "");
			}
			dump_log_excerpt(&x.e);
			fail_msg("an honest client did not attach");
		}
	fprintf(stderr, "test_wipe: scribbling on %s for %d s (seed %#" PRIx64 ") while two "
		"honest clients use it and %s\n", vi.name, secs, seed, x.other_name);
	(void)!write(start[1], "ss", 2);
	(void)!write(go[1], "g", 1);
	for (int64_t end = e2e_now_ms() + secs * 1000; e2e_now_ms() < end;) {
		e2e_sleep_ms(200);
		if (pokes.n < 4)
			poke_daemon(&x, &vi, &pokes);
	}
	st = e2e_wait_child(&x.e, a, 10000);
	have_srep = e2e_read_full(sp[0], &srep, sizeof(srep), 100) == 0;
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != A_OK || !have_srep)
		cf_add(&cf, "scribbler: %s (it only writes memory: the scribbling did not run)",
		       wait_status(st, buf, sizeof(buf)));
	scribble_seconds_run = secs;
	e2e_sleep_ms(x.run_ms);
	(void)!write(stop[1], "ss", 2);
	for (int i = 0; i < 2; i++) {
		char who[32];
		bool have;

		snprintf(who, sizeof(who), "honest client %d", i + 1);
		st = e2e_wait_child(&x.e, h[i], 30000);
		have = st != -1 && e2e_read_full(rp[i][0], &rep, sizeof(rep), 100) == 0 &&
		       rep.magic == HREPORT_MAGIC;
		check_honest(&x, st, &rep, have, who, &cf);
		if (have) {
			tally_report(x.t, &rep);
			fprintf(stderr, "test_wipe: %s: %" PRIu64 " rounds, %" PRIu64
				" elements\n", who, rep.rounds, rep.got);
		}
	}
	alive = daemon_check(&x, &cf);
	if (alive && pokes.n)
		cf_add(&cf, "%s", pokes.buf);
	if (alive) {
		json_t *s = NULL;
		bool q;

		check_other(&x, &cf);
		q = e2e_poll((json_decref(s), s = stats_soft(x.c, vi.name, why, sizeof(why)),
			      s && !strcmp(stats_state(s), "quarantined")),
			     srep.geometry_changed ? x.quarantine_ms : 0);
		if (!s) {
			cf_add(&cf, "victim: %s", why);
		} else {
			x.t->quarantined += q;
			if (srep.geometry_changed && !q)
				cf_add(&cf, "NOT QUARANTINED within %d ms (state \"%s\") although "
				       "the scribbles changed the header's geometry",
				       x.quarantine_ms, stats_state(s));
			stats_sane(s, &vi.h0, &cf);
			json_decref(s);
		}
		alive = daemon_check(&x, &cf);
	}
	if (alive)
		victim_destroy(&x, &vi, &cf);
	fprintf(stderr, "test_wipe: scribble: %" PRIu64 " writes, header geometry %s\n",
		srep.writes, srep.geometry_changed ? "changed" : "untouched");
	if (cf.n) {
		x.t->failed++;
		fprintf(stderr, "FAIL scribble %d s: %s\n", secs, cf.buf);
		if (!alive)
			dump_log_excerpt(&x.e);
	}
	close(rdy[0]); close(rdy[1]); close(stop[0]); close(stop[1]); close(sp[0]); close(sp[1]);
	close(ardy[0]); close(ardy[1]); close(go[0]); close(go[1]);
	close(start[0]); close(start[1]);
	close(rp[0][0]); close(rp[0][1]); close(rp[1][0]); close(rp[1][1]);
	if (alive) {
		pcpupool_close(x.other);
		pcpupool_disconnect(x.c);
	} else if (x.e.pid) {
		kill(x.e.pid, SIGKILL);
		waitpid(x.e.pid, NULL, 0);
		x.e.pid = 0;
	}
	print_tally(&t_scribble);
	e2e_stop(&x.e);
	if (cf.n)
		fail_msg("random scribbling: %d failure(s)", cf.n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wipe_matrix),
		cmocka_unit_test(test_field_forges),
		cmocka_unit_test(test_random_scribble),
	};
	int64_t t0 = e2e_now_ms();
	int r;

	signal(SIGPIPE, SIG_IGN);
	fatal_signals_save();
	r = cmocka_run_group_tests_name("wipe", tests, NULL, NULL);
	fprintf(stderr, "test_wipe: %u wipes, %u forges, %d s scribble: %u crashes "
		"(%u daemon, %u honest client), %u daemon hangs, %u failed cases; %lld s\n",
		t_wipe.cases, t_forge.cases, scribble_seconds_run,
		t_wipe.daemon_deaths + t_forge.daemon_deaths + t_scribble.daemon_deaths +
		t_wipe.honest_crashes + t_forge.honest_crashes + t_scribble.honest_crashes,
		t_wipe.daemon_deaths + t_forge.daemon_deaths + t_scribble.daemon_deaths,
		t_wipe.honest_crashes + t_forge.honest_crashes + t_scribble.honest_crashes,
		t_wipe.daemon_hangs + t_forge.daemon_hangs + t_scribble.daemon_hangs,
		t_wipe.failed + t_forge.failed + t_scribble.failed,
		(long long)(e2e_now_ms() - t0) / 1000);
	return r;
}
