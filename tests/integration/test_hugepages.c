// SPDX-License-Identifier: MIT
/*
 * test_hugepages.c - pools on 2 MiB hugepages ("hugepages": true,
 * PCPUPOOL_HUGEPAGES) through the real daemon and real client processes:
 *
 *   - a hugepage pool takes exactly the pages its layout needs, all at
 *     creation; the pool, its elements and the inline sections' slabs are
 *     hugetlb mappings, the elements 4 GiB-aligned, the inline fast path
 *     on, the pad past the last slab zeros;
 *   - two processes share it: one holds nearly every element the pool
 *     can have at once (inline NOWAIT, then WAIT, the daemon growing the
 *     pool to about its maximum) and hands them over by offset, the other
 *     checks and frees them; nothing is lost, and no page beyond those of
 *     the creation is taken; destroying the pool gives every page back;
 *   - with too few free hugepages, create fails at once with ENOMEM and a
 *     message that says how many the pool needs and how many are free
 *     (library, raw request, pcpupoolctl, and a daemon whose configuration
 *     has such a pool refuses to start), leaving no pool, no reservation
 *     and no page behind;
 *   - a daemon killed and restarted takes a hugepage pool back from the fd
 *     store (emulated: fdstore.h) with the same pages, and its client
 *     goes on.
 *
 * The test reserves the hugepages itself: it sets the 2 MiB size's
 * nr_hugepages (and nr_overcommit_hugepages to 0, so that the kernel
 * cannot make surplus pages up) and puts both back at the end, also when
 * interrupted by a signal.  A lock file keeps two runs on one machine from
 * changing them under each other.  Needs root: exit 77 (skipped)
 * otherwise, or when the kernel has no 2 MiB hugepages, or cannot give
 * this test the pages it needs.  Set E2E_KEEP=1 to keep the temporary
 * directories (configuration, daemon logs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/rseq.h>

#include "e2e.h"
#include "fdstore.h"
#include "slab.h"

#define HP_DIR         "/sys/kernel/mm/hugepages/hugepages-2048kB"
#define HP             ((uint64_t)SLAB_HUGE_PAGE)
#define HP_RESERVE     32        /* pages the tests need at most at once */
#define LOCK_PATH      "/tmp/pcpupool-test-hugepages.lock"
#define CHILD_MS       20000
#define STOP_MS        5000

/* the shared pool: 8192 elements of 1 KiB, 4 hugepages of them */
#define SHARE_ELEM     1024
#define SHARE_MAX      8192
#define SHARE_MIN_NR   16
#define SHARE_HOLD     (SHARE_MAX - 256)   /* all but what other CPUs' reserves
					    * and the spare may keep */

/* the pool too big for the pages left */
#define BIG_ELEM       4096
#define BIG_MAX        4096
#define BIG_MIN_NR     4

/* ---- the machine's hugepages ---- */

static long saved_nr = -1, saved_overcommit = -1;

static long hp_read(const char *file)
{
	char path[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", HP_DIR, file);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Async-signal-safe: also the signal handler's. */
static bool hp_write(const char *file, long v)
{
	char path[128], buf[32];
	int fd, len;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", HP_DIR, file);
	len = snprintf(buf, sizeof(buf), "%ld\n", v);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, buf, (size_t)len) == len;
	close(fd);
	return ok;
}

/* Pages a new reservation can have: free ones not reserved yet. */
static long hp_available(void)
{
	long f = hp_read("free_hugepages"), r = hp_read("resv_hugepages");

	return f < 0 || r < 0 ? -1 : f - r;
}

/* Make @n pages available, by growing or shrinking the pool of free
 * ones; return how many are (the kernel may find fewer). */
static long hp_set_available(long n)
{
	long total = hp_read("nr_hugepages"), avail = hp_available();

	if (total < 0 || avail < 0)
		return -1;
	if (!hp_write("nr_hugepages", total - avail + n))
		return -1;
	return hp_available();
}

static void hp_restore(void)
{
	if (saved_nr >= 0)
		hp_write("nr_hugepages", saved_nr);
	if (saved_overcommit >= 0)
		hp_write("nr_overcommit_hugepages", saved_overcommit);
}

static void on_signal(int sig)
{
	hp_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- mappings ---- */

/* The page size of the mapping holding @addr (its KernelPageSize in
 * /proc/self/smaps), in KiB; 0 if none holds it. */
static unsigned long kernel_page_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	unsigned long lo, hi, kb = 0;
	bool in = false;
	char line[512];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "KernelPageSize: %lu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return in ? kb : 0;
}

static bool rseq_registered(void)
{
	return __rseq_size >= 20;
}

/* ---- the daemon's answers ---- */

static json_int_t pool_stat(struct pcpupool_client *c, const char *name, const char *key)
{
	return e2e_stat_now(c, name, -1, key);
}

static bool pool_exists(const struct e2e *e, const char *name)
{
	char *reply = e2e_raw_request(e, "{\"cmd\":\"pools\"}");
	char needle[E2E_NAME_LEN + 16];
	bool found;

	snprintf(needle, sizeof(needle), "\"name\":\"%s\"", name);
	found = strstr(reply, needle) != NULL;
	free(reply);
	return found;
}

/* ---- 1. a pool shared by two processes ---- */

struct tag {
	uint64_t off;
	uint64_t tag;
};

/* Hold SHARE_HOLD elements at once (NOWAIT while the reserve lasts, then
 * WAIT: the daemon grows the pool to about its maximum, so they reach its
 * last pages), fill each, then hand them all over. */
static int producer(const struct e2e *e, const char *name, int cpu, int out)
{
	struct tag *t = calloc(SHARE_HOLD, sizeof(*t));
	struct pcpupool_client *c;
	struct pcpupool *p;

	CHILD_CHECK(t);
	p = e2e_child_open_on(e, cpu, name, &c);
	CHILD_CHECK(!rseq_registered() || e2e_inline_on(p));
	for (uint64_t i = 0; i < SHARE_HOLD; i++) {
		unsigned char *x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);

		if (!x)
			x = pcpupool_alloc(p, PCPUPOOL_WAIT);
		CHILD_CHECK(x);
		t[i].off = pcpupool_elem_offset(p, x);
		CHILD_CHECK(t[i].off != UINT64_MAX);
		t[i].tag = ((uint64_t)getpid() << 32) | i;
		memset(x, (int)(i & 0xff), SHARE_ELEM);
		memcpy(x, &t[i].tag, sizeof(t[i].tag));
	}
	for (uint64_t i = 0; i < SHARE_HOLD; i++) {
		CHILD_CHECK(pcpupool_elem_handoff(p, pcpupool_elem_at(p, t[i].off)) == 0);
		CHILD_CHECK(e2e_write_full(out, &t[i], sizeof(t[i])) == 0);
	}
	free(t);
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

/* Take every element over, check it is whole and unique, free it.  The
 * elements start @elems_off bytes into the pool. */
static int consumer(const struct e2e *e, const char *name, int cpu, int in, uint64_t elems_off)
{
	static uint8_t seen[SHARE_MAX];
	struct pcpupool_client *c;
	struct pcpupool *p = e2e_child_open_on(e, cpu, name, &c);

	CHILD_CHECK(!rseq_registered() || e2e_inline_on(p));
	for (uint64_t i = 0; i < SHARE_HOLD; i++) {
		struct tag t;
		unsigned char *x;
		uint64_t word;

		CHILD_CHECK(e2e_read_full(in, &t, sizeof(t), CHILD_MS) == 0);
		CHILD_CHECK((uint32_t)t.tag == i);
		CHILD_CHECK(t.off >= elems_off && (t.off - elems_off) % SHARE_ELEM == 0 &&
			    (t.off - elems_off) / SHARE_ELEM < SHARE_MAX);
		CHILD_CHECK(!seen[(t.off - elems_off) / SHARE_ELEM]);
		seen[(t.off - elems_off) / SHARE_ELEM] = 1;
		x = pcpupool_elem_at(p, t.off);
		CHILD_CHECK(x);
		CHILD_CHECK(pcpupool_elem_claim(p, x) == 0);
		memcpy(&word, x, sizeof(word));
		CHILD_CHECK(word == t.tag);
		CHILD_CHECK(x[SHARE_ELEM - 1] == (i & 0xff));
		pcpupool_free(x, p);
	}
	pcpupool_close(p);
	pcpupool_disconnect(c);
	return 0;
}

/* The pad past the last slab, as the inline sections see it: zeros, in
 * the same hugetlb mapping, then the zero pages. */
static void expect_inline_pages(struct pcpupool *p, uint32_t nr_cpus)
{
	const char *slabs = e2e_fast(p)->pf_slabs;
	uint64_t span = (nr_cpus * 4096ull + HP - 1) / HP * HP;

	assert_true((uintptr_t)slabs % HP == 0);
	assert_int_equal(kernel_page_kb(slabs), 2048);
	assert_int_not_equal(((const struct slab *)(const void *)slabs)->cap, 0);
	for (uint64_t id = nr_cpus; id < span / 4096; id++) {
		const struct slab *s = (const struct slab *)(const void *)(slabs + id * 4096);

		assert_true(s->cw == 0 && s->limit == 0 && s->low == 0 && s->cap == 0);
	}
	assert_int_equal(kernel_page_kb(slabs + span - 1), 2048);
	if (span < (uint64_t)PCPUPOOL__SLABS_PAGES * 4096) {
		assert_int_equal(kernel_page_kb(slabs + span), 4);
		assert_int_equal(((const struct slab *)(const void *)(slabs + span))->cap, 0);
	}
}

static void test_processes_share_a_hugepage_pool(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = {
		.sz = sizeof(o), .max_elems = SHARE_MAX, .flags = PCPUPOOL_HUGEPAGES
	};
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN], *base;
	int pipefd[2], cpu_a = e2e_first_cpu(), cpu_b = cpu_a;
	long avail0 = hp_set_available(HP_RESERVE), need;
	struct pcpupool *p;
	struct slab_hdr h;
	pid_t a, b;

	for (int cpu = cpu_a + 1; cpu < CPU_SETSIZE; cpu++)
		if (e2e_cpu_allowed(cpu)) {
			cpu_b = cpu;
			break;
		}
	p = pcpupool_create_opts(c, e2e_name(e, "share", name), SHARE_MIN_NR, SHARE_ELEM, 64,
				 &o);
	if (!p)
		fail_msg("create a hugepage pool: %s", strerror(errno));

	/* the layout: whole hugepages, every one taken now */
	base = e2e_pool_base(p);
	memcpy(&h, base, sizeof(h));
	assert_int_equal(h.huge_page_size, HP);
	assert_true(h.slabs_off % HP == 0 && h.meta_off % HP == 0 && h.elems_off % HP == 0 &&
		    h.map_size % HP == 0);
	need = (long)(h.map_size / HP);
	assert_int_equal(avail0 - hp_available(), need);
	assert_int_equal(pool_stat(c, name, "page_size"), (json_int_t)HP);
	json_t *s = e2e_pool_stats(c, name);
	assert_true(json_is_true(json_object_get(s, "hugepages")));
	json_decref(s);

	/* the mapping: hugetlb, elements 4 GiB-aligned, the inline slabs on
	 * the pool's pages with the pad past them zero */
	assert_true((uintptr_t)base % HP == 0);
	assert_true(((uintptr_t)base + h.elems_off) % (UINT64_C(1) << 32) == 0);
	assert_int_equal(kernel_page_kb(base), 2048);
	assert_int_equal(kernel_page_kb(base + h.elems_off), 2048);
	if (rseq_registered()) {
		assert_true(e2e_inline_on(p));
		expect_inline_pages(p, h.nr_cpus);
	} else {
		fprintf(stderr, "test_hugepages: rseq not registered: inline checks left out\n");
	}

	/* one process allocates the whole pool, another frees it */
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	a = e2e_fork(e);
	if (a == 0) {
		close(pipefd[0]);
		_exit(producer(e, name, cpu_a, pipefd[1]));
	}
	b = e2e_fork(e);
	if (b == 0) {
		close(pipefd[1]);
		_exit(consumer(e, name, cpu_b, pipefd[0], h.elems_off));
	}
	close(pipefd[0]);
	close(pipefd[1]);
	e2e_expect_child_ok(e, a, CHILD_MS);
	e2e_expect_child_ok(e, b, CHILD_MS);
	assert_true(pool_stat(c, name, "published") >= SHARE_HOLD);
	assert_true(e2e_poll(pool_stat(c, name, "clients") == 1, E2E_POLL_MS));
	e2e_expect_conserved(c, name);
	/* growing to the maximum took no page more */
	assert_int_equal(avail0 - hp_available(), need);
	assert_true(e2e_log_has(e, "on 2 MiB hugepages"));

	/* destroyed and unmapped: every page back */
	assert_int_equal(pcpupool_destroy(p), 0);
	assert_false(pool_exists(e, name));
	if (!e2e_poll(hp_available() == avail0, E2E_POLL_MS))
		fail_msg("%ld hugepages available after the pool went, %ld before it",
			 hp_available(), avail0);
	pcpupool_disconnect(c);
}

/* ---- 2. too few hugepages ---- */

static const char *big_create_line(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "{\"cmd\":\"create\",\"pool\":\"%s\",\"elem_size\":%d,\"min_nr\":%d,"
		 "\"max_elems\":%d,\"hugepages\":true}", name, BIG_ELEM, BIG_MIN_NR, BIG_MAX);
	return buf;
}

/* The number in "pool needs N" of a create's error message. */
static long needs_of(const char *reply)
{
	const char *at = strstr(reply, "pool needs ");
	long n = -1;

	if (!at || sscanf(at, "pool needs %ld", &n) != 1)
		fail_msg("no \"pool needs N\" in %s", reply);
	return n;
}

/* A daemon whose configuration has a pool it cannot have refuses to
 * start, and says why. */
static void expect_config_refused(long need, long avail)
{
	struct e2e d;
	char text[512], want[160];
	pid_t parent = getpid();
	int st = -1;

	memset(&d, 0, sizeof(d));
	e2e_make_dir(&d, "hugecfg");
	snprintf(text, sizeof(text),
		 "{ \"pools\": [ { \"name\": \"big\", \"elem_size\": %d, \"min_nr\": %d, "
		 "\"max_elems\": %d, \"hugepages\": true } ] }\n", BIG_ELEM, BIG_MIN_NR, BIG_MAX);
	e2e_write_file(d.cfg, text);
	fflush(NULL);
	d.pid = fork();
	assert_true(d.pid >= 0);
	if (d.pid == 0) {
		e2e_daemon_child(parent, d.log);
		execl(e2e_pcpupoold, "pcpupoold", "--config", d.cfg, "--socket", d.sock,
		      (char *)NULL);
		_exit(127);
	}
	for (int64_t dl = e2e_now_ms() + STOP_MS; e2e_now_ms() < dl; e2e_sleep_ms(5))
		if (waitpid(d.pid, &st, WNOHANG) == d.pid)
			break;
	if (st == -1) {
		kill(d.pid, SIGKILL);
		waitpid(d.pid, NULL, 0);
		e2e_dump_file(d.log);
		fail_msg("pcpupoold started with a hugepage pool it has no pages for");
	}
	snprintf(want, sizeof(want), "pool big: not enough free 2 MiB hugepages: pool needs %ld, "
		 "%ld free (see /proc/sys/vm/nr_hugepages)", need, avail);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1 || !e2e_file_has(d.log, NULL, want) ||
	    !e2e_file_has(d.log, NULL, "not starting with a partial configuration")) {
		e2e_dump_file(d.log);
		fail_msg("pcpupoold: status %#x, expected exit 1 and \"%s\"", st, want);
	}
	e2e_remove_dir(d.dir, "E2E_KEEP");
}

/* pcpupoolctl create --hugepages: its exit status and message. */
static void expect_ctl_refused(const struct e2e *e, const char *name)
{
	const char *b = getenv("B");
	char cmd[512], out[1024];
	size_t n;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/pcpupoolctl --socket %s create %s --size %d --min-nr %d "
		 "--max-elems %d --hugepages 2>&1", b && *b ? b : "build", e->sock, name,
		 BIG_ELEM, BIG_MIN_NR, BIG_MAX);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	st = pclose(f);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1 ||
	    !strstr(out, "not enough free 2 MiB hugepages"))
		fail_msg("%s: status %#x, output: %s", cmd, st, out);
}

/* No pool @name, @avail hugepages available and @resv reserved as
 * before, and the daemon serving on. */
static void expect_nothing_left(const struct e2e *e, const char *name, long avail, long resv)
{
	assert_false(pool_exists(e, name));
	assert_int_equal(hp_available(), avail);
	assert_int_equal(hp_read("resv_hugepages"), resv);
	e2e_expect_ok(e2e_raw_request(e, "{\"cmd\":\"ping\"}"));
}

static void test_too_few_hugepages_fail_create_cleanly(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = {
		.sz = sizeof(o), .max_elems = BIG_MAX, .flags = PCPUPOOL_HUGEPAGES
	};
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN], line[256], want[160], *reply;
	struct pcpupool *p;
	long need, resv;

	e2e_name(e, "big", name);
	/* none: the message says how many it needs */
	assert_int_equal(hp_set_available(0), 0);
	resv = hp_read("resv_hugepages");
	reply = e2e_raw_request(e, big_create_line(name, line, sizeof(line)));
	need = needs_of(reply);
	e2e_expect_code(reply, "ENOMEM", "create with no hugepage free");
	assert_true(need >= 4 && need < HP_RESERVE);
	expect_nothing_left(e, name, 0, resv);

	/* one too few, every way to create */
	assert_int_equal(hp_set_available(need - 1), need - 1);
	e2e_assert_null_errno(pcpupool_create_opts(c, name, BIG_MIN_NR, BIG_ELEM, 0, &o), ENOMEM);
	expect_nothing_left(e, name, need - 1, resv);
	reply = e2e_raw_request(e, big_create_line(name, line, sizeof(line)));
	snprintf(want, sizeof(want), "not enough free 2 MiB hugepages: pool needs %ld, %ld free "
		 "(see /proc/sys/vm/nr_hugepages)", need, need - 1);
	e2e_expect_message(reply, want);
	e2e_expect_code(reply, "ENOMEM", "create with one hugepage too few");
	expect_nothing_left(e, name, need - 1, resv);
	expect_ctl_refused(e, name);
	expect_nothing_left(e, name, need - 1, resv);
	assert_true(e2e_log_has(e, want));
	expect_config_refused(need, need - 1);
	assert_int_equal(hp_available(), need - 1);

	/* enough: the same pool is created, on exactly those pages */
	assert_int_equal(hp_set_available(need), need);
	p = pcpupool_create_opts(c, name, BIG_MIN_NR, BIG_ELEM, 0, &o);
	if (!p)
		fail_msg("create with %ld hugepages free: %s", need, strerror(errno));
	assert_int_equal(hp_available(), 0);
	void *x = pcpupool_alloc(p, PCPUPOOL_WAIT);

	assert_non_null(x);
	memset(x, 0x5a, BIG_ELEM);
	pcpupool_free(x, p);
	assert_int_equal(pcpupool_destroy(p), 0);
	assert_true(e2e_poll(hp_available() == need, E2E_POLL_MS));
	pcpupool_disconnect(c);
}

/* Flags the library does not know, and callers built before the flags
 * existed. */
static void test_create_options_stay_compatible(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool_create_opts o = { .sz = sizeof(o), .flags = 2 };
	/* the struct as it was before flags: sz ends after low_watermark */
	struct {
		size_t sz;
		uint64_t max_elems;
		int low_watermark;
	} old = { .sz = offsetof(struct pcpupool_create_opts, flags), .max_elems = 1024 };
	char name[E2E_NAME_LEN];
	struct pcpupool *p;

	e2e_assert_null_errno(pcpupool_create_opts(c, e2e_name(e, "flags", name), 4, 64, 0, &o),
			      EINVAL);
	assert_false(pool_exists(e, name));
	p = pcpupool_create_opts(c, name, 4, 64, 0, (const struct pcpupool_create_opts *)&old);
	assert_non_null(p);
	assert_int_equal(pool_stat(c, name, "page_size"), 4096);
	assert_int_equal(pool_stat(c, name, "max_elems"), 1024);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* ---- 3. a restart from the fd store ---- */

static void test_restart_from_fd_store_keeps_the_pages(void **state)
{
	struct e2e e;
	struct e2e_fdstore store;
	struct pcpupool_client *c;
	struct pcpupool *p;
	long avail0 = hp_set_available(HP_RESERVE), used;
	int status;
	void *x;

	(void)state;
	memset(&e, 0, sizeof(e));
	e2e_make_dir(&e, "hugestore");
	e2e_fdstore_init(&store, &e, "hs");
	e2e_write_file(e.cfg, "{ \"sweep_interval_ms\": 20, \"pools\": [ { \"name\": \"hs\", "
		       "\"elem_size\": 256, \"min_nr\": 8, \"max_elems\": 4096, "
		       "\"hugepages\": true } ] }\n");
	e2e_fdstore_listen(&store);
	e2e_fdstore_start(&e, &store, false);
	e2e_fdstore_wait(&store, E2E_POLL_MS);
	used = avail0 - hp_available();
	assert_true(used >= 4);

	c = e2e_client(&e);
	p = pcpupool_open(c, "hs");
	assert_non_null(p);
	x = pcpupool_alloc(p, PCPUPOOL_WAIT);
	assert_non_null(x);
	strcpy(x, "held across the restart");

	assert_int_equal(kill(e.pid, SIGKILL), 0);
	assert_int_equal(waitpid(e.pid, &status, 0), e.pid);
	e.pid = 0;
	e2e_fdstore_start(&e, &store, true);
	if (!e2e_file_has(e.log, NULL, "pool hs restored from the fd store")) {
		e2e_dump_file(e.log);
		fail_msg("the hugepage pool was not taken back from the fd store");
	}
	/* the same object: the handle goes on, on the same pages */
	assert_int_equal(pcpupool_refill(p, PCPUPOOL_WAIT), 0);
	assert_int_equal(pool_stat(c, "hs", "page_size"), (json_int_t)HP);
	assert_string_equal(e2e_pool_state(c, "hs"), "ok");
	assert_string_equal(x, "held across the restart");
	pcpupool_free(x, p);
	x = pcpupool_alloc(p, PCPUPOOL_WAIT);
	assert_non_null(x);
	pcpupool_free(x, p);
	assert_int_equal(avail0 - hp_available(), used);
	pcpupool_close(p);
	pcpupool_disconnect(c);

	/* a clean stop keeps it in the store; the last descriptor frees it */
	e2e_stop(&e);
	e2e_fdstore_close(&store);
	if (!e2e_poll(hp_available() == avail0, E2E_POLL_MS))
		fail_msg("%ld hugepages available after the pool went, %ld before it",
			 hp_available(), avail0);
}

/* A process that may attach gives a page of the pool's file back to the
 * kernel (MADV_REMOVE punches a hole in a hugetlbfs file) while no free
 * hugepage is left to back it again: the daemon must neither touch the
 * hole (SIGBUS) nor keep serving the pool; another pool goes on. */
static void test_a_released_page_quarantines_the_pool_not_the_daemon(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_create_opts o = { .sz = sizeof(o), .max_elems = 1024,
					  .flags = PCPUPOOL_HUGEPAGES };
	struct pcpupool_client *c = e2e_client(e);
	char name[E2E_NAME_LEN], other_name[E2E_NAME_LEN];
	struct pcpupool *p, *q;
	struct slab_hdr h;
	char *base;

	hp_set_available(HP_RESERVE);
	p = pcpupool_create_opts(c, e2e_name(e, "hole", name), 8, 64, 64, &o);
	q = pcpupool_create(c, e2e_name(e, "bystander", other_name), 8, 64, 64);
	assert_non_null(p);
	assert_non_null(q);
	base = e2e_pool_base(p);
	memcpy(&h, base, sizeof(h));
	/* the slabs' page released, then every free hugepage taken away */
	assert_int_equal(madvise(base + h.slabs_off, HP, MADV_REMOVE), 0);
	hp_set_available(0);
	if (!e2e_poll(strcmp(e2e_pool_state(c, name), "quarantined") == 0, 5000))
		fail_msg("the pool with a hole is %s", e2e_pool_state(c, name));
	json_t *st = e2e_pool_stats(c, name);
	const char *why = json_string_value(json_object_get(st, "quarantine_reason"));

	assert_non_null(why);
	assert_non_null(strstr(why, "pages released"));
	json_decref(st);
	/* the daemon lives and serves the other pool */
	void *el = pcpupool_alloc(q, PCPUPOOL_WAIT);

	assert_non_null(el);
	pcpupool_free(el, q);
	assert_int_equal(pcpupool_refill(q, PCPUPOOL_WAIT), 0);
	assert_string_equal(e2e_pool_state(c, other_name), "ok");
	e2e_sleep_ms(200);   /* a few sweeps over the quarantined pool */
	assert_string_equal(e2e_pool_state(c, other_name), "ok");
	pcpupool_close(p);
	assert_int_equal(pcpupool_destroy(q), 0);
	pcpupool_disconnect(c);
	hp_set_available(HP_RESERVE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_processes_share_a_hugepage_pool,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_too_few_hugepages_fail_create_cleanly,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_create_options_stay_compatible,
						e2e_setup, e2e_teardown),
		cmocka_unit_test(test_restart_from_fd_store_keeps_the_pages),
		cmocka_unit_test_setup_teardown(test_a_released_page_quarantines_the_pool_not_the_daemon,
						e2e_setup, e2e_teardown),
	};
	int lock, rc;
	long got;

	if (geteuid() != 0) {
		printf("test_hugepages: needs root to reserve hugepages; skipped\n");
		return 77;
	}
	if (access(HP_DIR "/nr_hugepages", W_OK) < 0) {
		printf("test_hugepages: the kernel has no 2 MiB hugepages (%s: %s); skipped\n",
		       HP_DIR, strerror(errno));
		return 77;
	}
	lock = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		printf("test_hugepages: cannot lock %s: %s\n", LOCK_PATH, strerror(errno));
		return 1;
	}
	saved_nr = hp_read("nr_hugepages");
	saved_overcommit = hp_read("nr_overcommit_hugepages");
	if (saved_nr < 0 || saved_overcommit < 0) {
		printf("test_hugepages: cannot read %s\n", HP_DIR);
		return 1;
	}
	atexit(hp_restore);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_signal);
	if (!hp_write("nr_overcommit_hugepages", 0)) {
		printf("test_hugepages: cannot write %s/nr_overcommit_hugepages\n", HP_DIR);
		return 1;
	}
	got = hp_set_available(HP_RESERVE);
	if (got < HP_RESERVE) {
		printf("test_hugepages: the kernel gave %ld of the %d 2 MiB hugepages asked for "
		       "(memory too fragmented?); skipped\n", got, HP_RESERVE);
		return 77;
	}
	printf("test_hugepages: %d 2 MiB hugepages reserved (nr_hugepages was %ld, is put "
	       "back at the end)\n", HP_RESERVE, saved_nr);
	fflush(stdout);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	hp_restore();
	return rc;
}
