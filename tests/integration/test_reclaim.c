// SPDX-License-Identifier: MIT
/*
 * test_reclaim.c - clients killed with SIGKILL at random moments lose
 * nothing: the daemon notices each death and takes back what the dead
 * client held, while surviving clients allocate and free throughout; after
 * the storm the pool holds every element again, none twice.
 *
 * Every element carries an ownership word: a holder claims it with an
 * atomic exchange from 0 (or from the tag of a client that was killed
 * holding it, which the reclaim gave back) and clears it before freeing.
 * Anything else is a double handout.
 *
 * RECLAIM_KILLS (default 10000) sets the number of kills.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "e2e.h"
#include "slab.h"

#define NELEM      4096
#define POOL_ORPHAN_GRACE_MS_FOR_TEST 1000   /* RECLAIM_ORPHAN_GRACE_MS, daemon/reclaim.h */
#define HOLD       32
#define SURVIVORS  2
#define VICTIMS    3     /* alive at once */

struct elem {
	_Atomic uint32_t holder;   /* pid of the process holding it, 0: free */
	uint32_t seq;
};

struct shared {
	_Atomic int stop;
	_Atomic long errors, survivor_pairs, victim_allocs;
	_Atomic uint8_t killed[1 << 22];  /* by pid: killed while it may hold */
	char first_error[256];
	_Atomic int error_claimed;
};

static struct shared *sh;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;

	sh->errors++;
	if (atomic_exchange(&sh->error_claimed, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(sh->first_error, sizeof(sh->first_error), fmt, ap);
	va_end(ap);
}

static void claim(struct elem *e, uint32_t me)
{
	uint32_t prev = atomic_exchange(&e->holder, me);

	if (prev && !(prev < sizeof(sh->killed) && sh->killed[prev]))
		report("element handed to %u while pid %u holds it", me, prev);
	e->seq = me;
}

static void release(struct elem *e, uint32_t me)
{
	uint32_t prev;

	if (e->seq != me)
		report("element written by another while %u held it", me);
	prev = atomic_exchange(&e->holder, 0);
	if (prev != me)
		report("element held by %u freed by %u", prev, me);
}

/* A client: allocate, hold, free, forever (victims) or until stop. */
static void client(const char *sock, const char *name, bool survivor)
{
	struct pcpupool_client *c = pcpupool_connect(sock);
	struct pcpupool *pool = c ? pcpupool_open(c, name) : NULL;
	struct elem *held[HOLD];
	uint32_t me = (uint32_t)getpid();
	unsigned seed = me, n = 0;

	if (!pool)
		_exit(3);
	while (!survivor || !sh->stop) {
		unsigned r = (unsigned)rand_r(&seed);
		if (n < HOLD && (n == 0 || (r & 1))) {
			struct elem *e = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);
			if (e) {
				claim(e, me);
				held[n++] = e;
				if (!survivor)
					sh->victim_allocs++;
			}
		} else {
			unsigned j = (r >> 1) % n;
			release(held[j], me);
			pcpupool_free(held[j], pool);
			held[j] = held[--n];
			if (survivor)
				sh->survivor_pairs++;
		}
	}
	while (n) {
		release(held[--n], me);
		pcpupool_free(held[n], pool);
	}
	pcpupool_close(pool);
	pcpupool_disconnect(c);
	_exit(0);
}

static pid_t spawn(const struct e2e *e, const char *name, bool survivor)
{
	pid_t parent = getpid(), pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		e2e_child_init(parent);
		client(e->sock, name, survivor);
	}
	return pid;
}

/* The elements in pool @name (e2e_in_pool()), its published count in
 * *@ret_pub, its stats in *@ret_stats if wanted. */
static json_int_t pool_total(struct pcpupool_client *c, const char *name, json_int_t *ret_pub,
			     json_t **ret_stats)
{
	json_t *s = e2e_pool_stats(c, name);
	json_int_t total = e2e_in_pool(s);

	*ret_pub = e2e_stat(s, "published");
	if (ret_stats)
		*ret_stats = s;
	else
		json_decref(s);
	return total;
}

static json_int_t reclaim_stat(json_t *s, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(s, "reclaim"), key));
}

/* Wait (up to 5 s) until pool @name holds all it published but @out
 * elements; the stats last read in *@ret_stats, for the caller to free. */
static bool wait_in_pool(struct pcpupool_client *c, const char *name, json_int_t out,
			 json_t **ret_stats)
{
	json_int_t pub;
	json_t *s = NULL;
	bool ok = e2e_poll((json_decref(s), s = NULL,
			    pool_total(c, name, &pub, &s) == pub - out), 5000);

	*ret_stats = s;
	return ok;
}

/* Pool @name comes to hold all but @out elements, @reclaimed of them taken
 * back from dead or detached clients. */
static void expect_back(struct pcpupool_client *c, const char *name, json_int_t out,
			json_int_t reclaimed)
{
	json_t *s;

	assert_true(wait_in_pool(c, name, out, &s));
	assert_int_equal(reclaim_stat(s, "reclaimed"), reclaimed);
	json_decref(s);
}

/* Once a reclaim pass would have run: the @held elements a live attachment
 * holds are still out of pool @name, and nothing was reclaimed. */
static void expect_held_not_reclaimed(struct pcpupool_client *c, const char *name,
				      json_int_t held)
{
	json_int_t pub;
	json_t *s;
	json_int_t total = pool_total(c, name, &pub, &s);

	assert_int_equal(total, pub - held);
	assert_int_equal(reclaim_stat(s, "reclaimed"), 0);
	json_decref(s);
}

/* End a test whose clients hold nothing: every element in the pool once. */
static void close_conserved(struct pcpupool_client *c, struct pcpupool *pool, const char *name)
{
	e2e_expect_conserved(c, name);
	pcpupool_close(pool);
	pcpupool_disconnect(c);
}

/*
 * Take the whole spare of the pool @v views off every list, as a client's
 * take does, into @idx, following the links as the client's
 * chain_put_back() would; mark each element @owner's unless @owner is 0.
 * Returns how many it took.
 */
static uint32_t take_spare(struct slab_view *v, uint32_t *idx, uint32_t owner)
{
	uint64_t w = atomic_exchange(&v->hdr->spare, SLAB_LIST_EMPTY);
	uint32_t n = 0;

	for (uint32_t cur = slab_list_head(w); n < slab_list_len(w); n++) {
		idx[n] = cur;
		if (owner)
			atomic_store(&v->meta[cur].owner, owner);
		cur = atomic_load(&v->meta[cur].next);
	}
	return n;
}

/*
 * Fork a client process that opens pool @name, takes @n elements (WAIT),
 * closes the pool if @close_pool, and then lives on holding what it took
 * (until killed).  Returns its pid once it has taken all @n.
 */
static pid_t fork_holder(struct e2e *e, const char *name, int n, bool close_pool)
{
	int fds[2], got = 0;

	assert_int_equal(pipe(fds), 0);
	pid_t pid = e2e_fork(e);
	if (pid == 0) {
		struct pcpupool_client *cc = pcpupool_connect(e->sock);
		struct pcpupool *p = cc ? pcpupool_open(cc, name) : NULL;
		for (int i = 0; p && i < n; i++)
			got += pcpupool_alloc(p, PCPUPOOL_WAIT) != NULL;
		if (close_pool)
			pcpupool_close(p);
		if (write(fds[1], &got, sizeof(got)) != sizeof(got))
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(e2e_read_full(fds[0], &got, sizeof(got), 5000), 0);
	assert_int_equal(got, n);
	close(fds[0]);
	close(fds[1]);
	return pid;
}

static void test_killed_client_elements_come_back_quickly(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];
	json_int_t pub, total;

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, e2e_name(e, "one", name), 64, 64, 64);
	assert_non_null(pool);
	pid_t pid = fork_holder(e, name, 48, false);
	json_t *s = NULL;
	total = pool_total(c, name, &pub, &s);
	assert_int_equal(total, pub - 48);   /* 48 held by the child */
	/* both attachments recorded: ours and the child's */
	assert_int_equal(reclaim_stat(s, "holders"), 2);
	json_decref(s);
	int64_t t0 = e2e_now_ns();
	kill(pid, SIGKILL);
	e2e_wait_child(e, pid, 5000);
	bool back = wait_in_pool(c, name, 0, &s);
	double ms = (double)(e2e_now_ns() - t0) / 1e6;
	print_message("48 elements held by a SIGKILLed client back in the pool after %.1f ms\n", ms);
	assert_true(back);
	assert_int_equal(reclaim_stat(s, "reclaimed"), 48);
	assert_int_equal(reclaim_stat(s, "duplicates"), 0);
	json_decref(s);
	/* the child's record goes once its pass has run */
	s = NULL;
	assert_true(e2e_poll((json_decref(s), s = e2e_pool_stats(c, name),
			      reclaim_stat(s, "holders") == 1), 5000));
	json_decref(s);
	pcpupool_close(pool);
	pcpupool_disconnect(c);
}

static void test_handed_off_element_is_not_taken_back(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];
	json_int_t pub;
	uint64_t off[2];
	int fds[2];

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, e2e_name(e, "handoff", name), 16, 64, 64);
	assert_non_null(pool);
	assert_int_equal(pipe(fds), 0);
	pid_t pid = e2e_fork(e);
	if (pid == 0) {
		struct pcpupool_client *cc = pcpupool_connect(e->sock);
		struct pcpupool *p = cc ? pcpupool_open(cc, name) : NULL;
		void *a = p ? pcpupool_alloc(p, PCPUPOOL_WAIT) : NULL;
		void *b = p ? pcpupool_alloc(p, PCPUPOOL_WAIT) : NULL;
		uint64_t o[2];
		if (!a || !b || pcpupool_elem_handoff(p, a) < 0)
			_exit(1);
		strcpy(a, "message for the parent");
		o[0] = pcpupool_elem_offset(p, a);   /* handed over */
		o[1] = pcpupool_elem_offset(p, b);   /* still held: dies with us */
		if (write(fds[1], o, sizeof(o)) != sizeof(o))
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(e2e_read_full(fds[0], off, sizeof(off), 5000), 0);
	char *msg = pcpupool_elem_at(pool, off[0]);
	assert_non_null(msg);
	kill(pid, SIGKILL);
	e2e_wait_child(e, pid, 5000);
	/* the held one comes back; the handed-off one stays with us */
	expect_back(c, name, 1, 1);
	assert_string_equal(msg, "message for the parent");
	assert_int_equal(pcpupool_elem_claim(pool, msg), 0);
	assert_int_equal(pcpupool_elem_claim(pool, msg + 1), -EINVAL);
	pcpupool_free(msg, pool);
	assert_true(e2e_poll(pool_total(c, name, &pub, NULL) == pub, 5000));
	close(fds[0]);
	close(fds[1]);
	pcpupool_close(pool);
	pcpupool_disconnect(c);
}

/*
 * A child opens the pool, takes 48 elements and closes the pool without
 * freeing them, then lives on.  pcpupool_close() unmaps the pool, so the
 * 48 are lost to it: the detach must bring them back as a death does.
 */
static void test_closed_pool_elements_come_back(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, e2e_name(e, "close", name), 64, 64, 64);
	assert_non_null(pool);
	pid_t pid = fork_holder(e, name, 48, true);
	expect_back(c, name, 0, 48);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);   /* it lives on */
	kill(pid, SIGKILL);
	e2e_wait_child(e, pid, 5000);
	close_conserved(c, pool, name);
}

/*
 * One connection with the pool open three times (the creator's handle,
 * then two more).  The newest holds 8 elements; closing an older handle
 * must end that handle's attachment, not the newest one's, and so must not
 * take back the 8 the newest still holds.
 */
static void test_closing_one_handle_keeps_anothers_elements(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];
	void *held[8];

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, e2e_name(e, "twice", name), 64, 64, 64);
	assert_non_null(pool);
	struct pcpupool *older = pcpupool_open(c, name), *newest = pcpupool_open(c, name);
	assert_non_null(older);
	assert_non_null(newest);
	for (int i = 0; i < 8; i++)
		assert_non_null(held[i] = pcpupool_alloc(newest, PCPUPOOL_WAIT));
	pcpupool_close(older);
	e2e_sleep_ms(300);   /* a pass would have run */
	expect_held_not_reclaimed(c, name, 8);
	for (int i = 0; i < 8; i++)
		pcpupool_free(held[i], newest);
	pcpupool_close(newest);
	close_conserved(c, pool, name);
}

/*
 * A detach that names no attachment (an older library's) while the
 * connection has the pool attached twice: the daemon ends the latest, but
 * that may not be the handle that was closed, so what it holds must wait
 * for the process's exit, not come back at once.  The 8 elements are the
 * spare's, taken as a client's pop would and marked with the latest
 * attachment's id.
 */
static void test_detach_without_id_keeps_elements_of_a_second_attachment(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN], line[256];
	struct slab_view v;
	uint32_t idx[SLAB_BATCH_MAX];
	json_int_t ids[2];

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, e2e_name(e, "noid", name), 8, 64, 64);
	assert_non_null(pool);
	e2e_pool_view(pool, &v, 9);
	assert_true(e2e_poll(slab_list_len(atomic_load(&v.hdr->spare)) == 8, 5000));

	int fd = e2e_raw_connect(e);
	snprintf(line, sizeof(line), "{\"cmd\":\"attach\",\"pool\":\"%s\"}", name);
	for (int i = 0; i < 2; i++) {
		char *reply = e2e_raw_xfer(fd, line);
		json_t *r = e2e_parse_reply(reply);
		ids[i] = json_integer_value(json_object_get(r, "client_id"));
		json_decref(r);
		free(reply);
		assert_true(ids[i] > 0);
	}
	uint32_t n = take_spare(&v, idx, (uint32_t)ids[1]);
	assert_int_equal(n, 8);
	snprintf(line, sizeof(line), "{\"cmd\":\"detach\",\"pool\":\"%s\"}", name);
	e2e_expect_ok(e2e_raw_xfer(fd, line));
	e2e_sleep_ms(300);   /* a pass would have run */
	expect_held_not_reclaimed(c, name, 8);
	close(fd);
	/* put them back where a pop-then-free would: the inbox */
	assert_int_equal(slab_list_push(&v, &slab_of(&v, 0)->inbox, idx, n), 0);
	close_conserved(c, pool, name);
}

/* The owner mark of element @e of the pool viewed by @v. */
static uint32_t owner_of(const struct slab_view *v, void *e)
{
	return atomic_load(&v->meta[slab_index_of(v, e)].owner);
}

/*
 * A child of fork() using the handles it inherited: its first pops are
 * marked handed off (not under the parent's id, which the parent's death
 * would take back from the child), its first control call connects anew
 * (while the parent keeps using its own connection: no reply goes to the
 * wrong process) and attaches again, after which it pops under an id of
 * its own, whose elements come back when the child dies.
 */
static void test_forked_child_gets_its_own_connection_and_id(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];
	struct slab_view v;

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, e2e_name(e, "fork", name), 64, 64, 64);
	assert_non_null(pool);
	e2e_pool_view(pool, &v, 9);
	const uint32_t parent_id = e2e_fast(pool)->pf_owner;

	pid_t pid = e2e_fork(e);
	if (pid == 0) {
		if (e2e_fast(pool)->pf_owner != SLAB_OWNER_HANDOFF)
			_exit(2);
		void *a = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);
		if (!a || owner_of(&v, a) != SLAB_OWNER_HANDOFF)
			_exit(3);
		for (int i = 0; i < 50; i++) {
			char *st = pcpupool_stats_json(c, name);
			bool mine = st && strstr(st, "\"ok\":true");
			free(st);
			if (!mine)
				_exit(4);
		}
		void *b = pcpupool_alloc(pool, PCPUPOOL_NOWAIT);
		uint32_t id = b ? owner_of(&v, b) : 0;
		if (!b || id == parent_id || id == SLAB_OWNER_HANDOFF || id == 0)
			_exit(5);
		pcpupool_free(a, pool);
		_exit(0);   /* holding b */
	}
	/* meanwhile the parent talks on its own connection */
	for (int i = 0; i < 50; i++) {
		char *st = pcpupool_stats_json(c, name);
		assert_non_null(st);
		assert_non_null(strstr(st, "\"ok\":true"));
		free(st);
	}
	e2e_expect_child_ok(e, pid, 10000);
	assert_int_equal(e2e_fast(pool)->pf_owner, parent_id);
	/* the one it held under its own id comes back */
	expect_back(c, name, 0, 1);
	close_conserved(c, pool, name);
}

static _Atomic bool churn_stop;

static void *connect_churn(void *arg)
{
	const char *sock = arg;

	while (!atomic_load(&churn_stop))
		pcpupool_disconnect(pcpupool_connect(sock));
	return NULL;
}

/*
 * fork() while another thread connects: the child must not keep a copy of
 * a control socket (nothing in it would close it, and the daemon would not
 * see the parent's connection end while the child lives).  Each child
 * counts the stream sockets it has; none may have any.
 */
static void test_fork_while_connecting_leaves_no_socket_in_the_child(void **state)
{
	struct e2e *e = *state;
	pthread_t th;
	int with_socket = 0;

	atomic_store(&churn_stop, false);
	assert_int_equal(pthread_create(&th, NULL, connect_churn, e->sock), 0);
	for (int i = 0; i < 300; i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int n = 0;
			for (int fd = 3; fd < 1024; fd++) {
				int type = 0;
				socklen_t len = sizeof(type);
				n += getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
				     type == SOCK_STREAM;
			}
			_exit(n);
		}
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		with_socket += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	atomic_store(&churn_stop, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	print_message("%d of 300 children forked during connects had a control socket\n",
		      with_socket);
	assert_int_equal(with_socket, 0);
}

/*
 * Client ids start over in a pool created again under the same name.  A
 * child attaches to the first pool (id 2: the creator is 1) and drops its
 * connection; the pool is destroyed and created again, and another child
 * attaches to the new one (id 2 again) and holds 40 elements.  When the
 * first child exits, the daemon must not take the second child's 40 as the
 * dead client's.
 */
static void test_recreated_pool_keeps_live_clients_elements(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];
	json_int_t pub;
	int a_fds[2];

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, e2e_name(e, "again", name), 64, 64, 64);
	assert_non_null(pool);
	assert_int_equal(pipe(a_fds), 0);
	pid_t a = e2e_fork(e);
	if (a == 0) {
		struct pcpupool_client *cc = pcpupool_connect(e->sock);
		struct pcpupool *p = cc ? pcpupool_open(cc, name) : NULL;
		int ok = p != NULL;
		pcpupool_disconnect(cc);   /* the pool stays mapped, unattached */
		if (write(a_fds[1], &ok, sizeof(ok)) != sizeof(ok))
			_exit(1);
		pause();
		_exit(0);
	}
	int ok = 0;
	assert_int_equal(e2e_read_full(a_fds[0], &ok, sizeof(ok), 5000), 0);
	assert_int_equal(ok, 1);
	/* the daemon dropped the child's attachment with its connection */
	assert_true(e2e_poll(pcpupool_destroy(pool) == 0, 5000));
	pool = pcpupool_create(c, name, 64, 64, 64);
	assert_non_null(pool);
	pid_t b = fork_holder(e, name, 40, false);
	kill(a, SIGKILL);
	e2e_wait_child(e, a, 5000);
	/* a pass would have run by now (the daemon starts one on the exit) */
	e2e_sleep_ms(500);
	expect_held_not_reclaimed(c, name, 40);
	/* the live child's elements come back when it dies */
	kill(b, SIGKILL);
	e2e_wait_child(e, b, 5000);
	assert_true(e2e_poll(pool_total(c, name, &pub, NULL) == pub, 5000));
	close(a_fds[0]);
	close(a_fds[1]);
	close_conserved(c, pool, name);
}

/*
 * A client stalled between two lists while a reclaim pass runs: it took
 * the spare (8 elements, ownerless while off every list) and sits there
 * for 300 ms, across both censuses of the pass another client's exit
 * starts; then it puts them on CPU 0's inbox.  The pass must not take them
 * back (they would be in the depot and on the inbox at once): ownerless
 * elements wait for a third census, a second later, which finds them.
 */
static void test_stalled_take_is_not_reclaimed(void **state)
{
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];
	struct slab_view v;
	uint32_t idx[SLAB_BATCH_MAX];

	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create(c, e2e_name(e, "stall", name), 8, 64, 64);
	assert_non_null(pool);
	e2e_pool_view(pool, &v, 9);
	assert_true(e2e_poll(slab_list_len(atomic_load(&v.hdr->spare)) == 8, 5000));

	/* the take: the whole spare, off every list */
	uint32_t n = take_spare(&v, idx, 0);
	assert_int_equal(n, 8);
	/* meanwhile a client exits: a reclaim pass runs */
	pid_t pid = e2e_fork(e);
	if (pid == 0) {
		struct pcpupool_client *cc = pcpupool_connect(e->sock);
		_exit(cc && pcpupool_open(cc, name) ? 0 : 1);
	}
	e2e_expect_child_ok(e, pid, 5000);
	e2e_sleep_ms(300);
	/* the take lands */
	assert_int_equal(slab_list_push(&v, &slab_of(&v, 0)->inbox, idx, n), 0);

	/* after the third census: nothing reclaimed, nothing twice */
	e2e_sleep_ms(POOL_ORPHAN_GRACE_MS_FOR_TEST + 500);
	json_t *s;
	assert_true(wait_in_pool(c, name, 0, &s));
	assert_int_equal(reclaim_stat(s, "orphans"), 0);
	assert_int_equal(reclaim_stat(s, "duplicates"), 0);
	assert_string_equal(json_string_value(json_object_get(s, "state")), "ok");
	json_decref(s);
	close_conserved(c, pool, name);
}

static void test_kill_storm_loses_nothing(void **state)
{
	const char *env = getenv("RECLAIM_KILLS");
	long kills = env ? atol(env) : 10000, done = 0;
	struct e2e *e = *state;
	char name[E2E_NAME_LEN];
	struct pcpupool_create_opts opts = { .sz = sizeof(opts), .max_elems = NELEM };
	pid_t surv[SURVIVORS], vic[VICTIMS] = { 0 };
	unsigned seed = 12345;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	struct pcpupool_client *c = e2e_client(e);
	struct pcpupool *pool = pcpupool_create_opts(c, e2e_name(e, "storm", name), 64,
						     sizeof(struct elem), 8, &opts);
	assert_non_null(pool);
	for (int i = 0; i < SURVIVORS; i++)
		surv[i] = spawn(e, name, true);
	int64_t t0 = e2e_now_ms();
	while (done < kills) {
		for (int i = 0; i < VICTIMS; i++) {
			if (!vic[i]) {
				vic[i] = spawn(e, name, false);
				continue;
			}
			if (rand_r(&seed) % 3)
				continue;
			/* before the kill: its tag may stay on elements it held */
			sh->killed[vic[i] & ((1 << 22) - 1)] = 1;
			kill(vic[i], SIGKILL);
			int st;
			waitpid(vic[i], &st, 0);
			if (WIFEXITED(st))   /* it could not attach: report it */
				report("victim exited with %d", WEXITSTATUS(st));
			vic[i] = 0;
			done++;
		}
		usleep((useconds_t)(rand_r(&seed) % 600));
	}
	for (int i = 0; i < VICTIMS; i++)
		if (vic[i]) {
			sh->killed[vic[i] & ((1 << 22) - 1)] = 1;
			kill(vic[i], SIGKILL);
			waitpid(vic[i], NULL, 0);
		}
	double secs = (double)(e2e_now_ms() - t0) / 1000;
	sh->stop = 1;
	for (int i = 0; i < SURVIVORS; i++)
		e2e_expect_child_ok(e, surv[i], 10000);

	/* every element is back once the last passes have run */
	json_int_t pub;
	json_t *s = NULL;
	bool whole = e2e_poll((json_decref(s), s = NULL,
			       pool_total(c, name, &pub, &s) == pub &&
			       reclaim_stat(s, "dead_clients_pending") == 0), 10000);
	print_message("%ld SIGKILLs in %.1f s with %d survivors running (%ld pairs); "
		      "%ld victim allocs; reclaimed %lld, orphans %lld, duplicates %lld; "
		      "published %lld, in the pool %lld\n", done, secs, SURVIVORS,
		      (long)sh->survivor_pairs, (long)sh->victim_allocs,
		      (long long)reclaim_stat(s, "reclaimed"), (long long)reclaim_stat(s, "orphans"),
		      (long long)reclaim_stat(s, "duplicates"), (long long)pub,
		      (long long)pool_total(c, name, &pub, NULL));
	if (sh->errors)
		print_error("first error: %s\n", sh->first_error);
	assert_int_equal(sh->errors, 0);
	assert_true(whole);
	assert_int_equal(reclaim_stat(s, "duplicates"), 0);
	assert_true(reclaim_stat(s, "reclaimed") > 0);
	assert_true(sh->survivor_pairs > 1000);
	json_decref(s);
	/* none twice: the pool can hand out all of it, each element once */
	pcpupool_close(pool);
	pcpupool_disconnect(c);
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_killed_client_elements_come_back_quickly,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_handed_off_element_is_not_taken_back,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_closed_pool_elements_come_back,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_closing_one_handle_keeps_anothers_elements,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_detach_without_id_keeps_elements_of_a_second_attachment,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_recreated_pool_keeps_live_clients_elements,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_forked_child_gets_its_own_connection_and_id,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_fork_while_connecting_leaves_no_socket_in_the_child,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_stalled_take_is_not_reclaimed,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_kill_storm_loses_nothing,
						e2e_setup, e2e_teardown),
	};
	return cmocka_run_group_tests_name("reclaim", tests, NULL, NULL);
}
