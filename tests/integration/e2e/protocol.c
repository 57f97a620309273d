// SPDX-License-Identifier: MIT
/*
 * protocol.c - test_e2e: the control protocol spoken by hand: malformed
 * requests get an error each and the connection serves on, the line limit,
 * max_clients, the socket from $PCPUPOOL_SOCKET, and hello's protocol
 * version.
 */
#include "e2e_tests.h"

void test_malformed_requests_get_errors(void **state)
{
	static const struct {
		const char *line;
		const char *code;
	} bad[] = {
		{ "this is not JSON", "EINVAL" },
		{ "{\"cmd\":\"attach\",\"pool\":5}", "EINVAL" },
		{ "{\"cmd\":\"frobnicate\"}", "ENOSYS" },
		{ "{\"cmd\":\"attach\",\"pool\":\"no-such-pool\"}", "ENOENT" },
		{ "{\"cmd\":\"stats\",\"pool\":\"no-such-pool\"}", "ENOENT" },
		{ "{\"cmd\":\"resize\",\"pool\":\"no-such-pool\",\"min_nr\":4}", "ENOENT" },
		{ "{\"pool\":\"x\"}", "EINVAL" },
		{ "{\"cmd\":\"pi", "EINVAL" },
		{ "{\"cmd\":5}", "EINVAL" },
		{ "[\"ping\"]", "EINVAL" },
		{ "\"ping\"", "EINVAL" },
		{ "", "EINVAL" },
		{ "{\"cmd\":\"ping\",\"cmd\":\"ping\"}", "EINVAL" },
		{ "{\"cmd\":\"ping\",\"extra\":1}", "EINVAL" },
		{ "{\"cmd\":\"create\",\"pool\":\"x\",\"elem_size\":-1,\"min_nr\":1}", "EINVAL" },
		{ "{\"cmd\":\"create\",\"pool\":\"../x\",\"elem_size\":8,\"min_nr\":1}", "EINVAL" },
		{ "{\"cmd\":\"create\",\"pool\":\"x\",\"elem_size\":8,\"min_nr\":1,\"align\":3}",
		  "EINVAL" },
		{ "{\"cmd\":\"refill\"}", "EINVAL" },
	};
	static const char nul_line[] = "{\"cmd\":\"ping\"}\0garbage";
	struct e2e *e = *state;
	struct pcpupool_client *c;
	struct pcpupool *p;
	char name[E2E_NAME_LEN], *line, *reply;
	int fd = e2e_raw_connect(e);
	json_t *root, *errs;
	void *x;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reply = e2e_raw_xfer(fd, bad[i].line);
		if (!reply)
			fail_msg("connection closed after: %s", bad[i].line);
		e2e_expect_error(reply, bad[i].code);
		/* the connection still serves */
		e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"ping\"}"));
	}
	e2e_expect_error(e2e_raw_xfer_n(fd, nul_line, sizeof(nul_line) - 1), "EINVAL");
	e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"ping\"}"));

	/* the line limit: 4096 bytes pass, 4097 are refused, the connection stays */
	line = malloc(10001);
	assert_non_null(line);
	memset(line, ' ', 10000);
	memcpy(line, "{\"cmd\":\"ping\"}", 14);
	e2e_expect_ok(e2e_raw_xfer_n(fd, line, 4096));
	e2e_expect_error(e2e_raw_xfer_n(fd, line, 4097), "E2BIG");
	e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"ping\"}"));
	close(fd);

	/* a 10 000-byte line: the reply explains, then the connection closes */
	fd = e2e_raw_connect(e);
	memset(line, 'x', 10000);
	e2e_expect_error(e2e_raw_xfer_n(fd, line, 10000), "E2BIG");
	reply = e2e_raw_recv_line(fd);
	if (reply)
		fail_msg("connection still open after an over-long line: %s", reply);
	close(fd);
	free(line);

	/* half a request, then the peer goes away: nothing to answer */
	fd = e2e_raw_connect(e);
	e2e_raw_send(fd, "{\"cmd\":\"pi", 10);
	close(fd);

	/* the daemon serves on: raw, and a library client */
	e2e_expect_ok(e2e_raw_request(e, "{\"cmd\":\"ping\"}"));
	c = e2e_client(e);
	p = pcpupool_create(c, e2e_name(e, "after-garbage", name), 8, 64, 64);
	assert_non_null(p);
	x = pcpupool_alloc(p, PCPUPOOL_NOWAIT);
	assert_non_null(x);
	pcpupool_free(x, p);
	/* and counted what it refused */
	reply = pcpupool_stats_json(c, NULL);
	assert_non_null(reply);
	root = json_loads(reply, 0, NULL);
	assert_non_null(root);
	errs = json_object_get(json_object_get(json_object_get(root, "stats"), "daemon"),
			       "errors");
	assert_true(json_integer_value(json_object_get(errs, "E2BIG")) >= 2);
	assert_true(json_integer_value(json_object_get(errs, "ENOSYS")) >= 1);
	assert_true(json_integer_value(json_object_get(errs, "ENOENT")) >= 3);
	assert_true(json_integer_value(json_object_get(errs, "EINVAL")) >= 13);
	json_decref(root);
	free(reply);
	assert_int_equal(pcpupool_destroy(p), 0);
	pcpupool_disconnect(c);
}

/* A daemon that serves two clients at most. */
int setup_two_clients(void **state)
{
	return e2e_setup_config(state, "\"max_clients\": 2,", E2E_SWEEP_MS);
}

/* A connection the daemon serves, retried while it refuses (the harness's
 * start-up probe may still hold a slot until the daemon sees it close). */
static int raw_connect_served(struct e2e *e)
{
	int fd = -1;

	if (!e2e_poll(({
		static const char ping[] = "{\"cmd\":\"ping\"}\n";
		char *reply = NULL;
		json_t *j = NULL;
		bool ok;

		fd = e2e_raw_connect(e);
		if (e2e_send_all(fd, ping, sizeof(ping) - 1) == 0)
			reply = e2e_raw_recv_line(fd);
		if (reply)
			j = json_loads(reply, 0, NULL);
		ok = json_is_true(json_object_get(j, "ok"));
		json_decref(j);
		free(reply);
		if (!ok)
			close(fd);
		ok;
	}), E2E_POLL_MS))
		fail_msg("no connection served within %d ms", E2E_POLL_MS);
	return fd;
}

void test_max_clients_refused_then_served(void **state)
{
	struct e2e *e = *state;
	int a = raw_connect_served(e), b = raw_connect_served(e), x;
	char *reply;

	/* a third is told why, then closed */
	x = e2e_raw_connect(e);
	e2e_expect_error(e2e_raw_recv_line(x), "EUSERS");
	reply = e2e_raw_recv_line(x);
	if (reply)
		fail_msg("refused connection still open: %s", reply);
	close(x);
	/* the first two are unaffected */
	e2e_expect_ok(e2e_raw_xfer(a, "{\"cmd\":\"ping\"}"));
	/* once one leaves, a newcomer is served */
	close(a);
	close(raw_connect_served(e));
	close(b);
}

void test_socket_from_environment(void **state)
{
	struct e2e *e = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pcpupool_client *c;
	const char *old = getenv("PCPUPOOL_SOCKET");
	char *saved = old ? strdup(old) : NULL;
	char missing[160], dead[160], *s;
	int fd;

	assert_int_equal(setenv("PCPUPOOL_SOCKET", e->sock, 1), 0);
	c = pcpupool_connect(NULL);
	if (!c)
		fail_msg("pcpupool_connect(NULL) with $PCPUPOOL_SOCKET=%s: %s", e->sock,
			 strerror(errno));
	s = pcpupool_stats_json(c, NULL);
	assert_non_null(s);
	free(s);
	pcpupool_disconnect(c);

	/* no such socket: the variable is what is used */
	snprintf(missing, sizeof(missing), "%s/missing.sock", e->dir);
	assert_int_equal(setenv("PCPUPOOL_SOCKET", missing, 1), 0);
	e2e_assert_null_errno(pcpupool_connect(NULL), ENOENT);
	if (saved)
		setenv("PCPUPOOL_SOCKET", saved, 1);
	else
		unsetenv("PCPUPOOL_SOCKET");
	free(saved);
	e2e_assert_null_errno(pcpupool_connect(missing), ENOENT);

	/* a socket nobody listens on */
	snprintf(dead, sizeof(dead), "%s/dead.sock", e->dir);
	strcpy(sa.sun_path, dead);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	e2e_assert_null_errno(pcpupool_connect(dead), ECONNREFUSED);
	close(fd);
	unlink(dead);
}

void test_hello_checks_the_protocol_version(void **state)
{
	struct e2e *e = *state;
	struct pcpupool_client *c = e2e_client(e);
	int fd = e2e_raw_connect(e);
	char *reply;
	json_t *j;

	pcpupool_disconnect(c);

	reply = e2e_raw_xfer(fd, "{\"cmd\":\"hello\",\"version\":1}");
	j = e2e_parse_reply(reply);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
	assert_true(json_is_string(json_object_get(j, "server")));
	json_decref(j);
	free(reply);

	e2e_expect_error(e2e_raw_xfer(fd, "{\"cmd\":\"hello\",\"version\":99}"), "EPROTO");
	e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"ping\"}"));
	e2e_expect_error(e2e_raw_xfer(fd, "{\"cmd\":\"hello\",\"version\":0}"), "EPROTO");
	e2e_expect_error(e2e_raw_xfer(fd, "{\"cmd\":\"hello\",\"version\":\"1\"}"), "EINVAL");
	e2e_expect_ok(e2e_raw_xfer(fd, "{\"cmd\":\"hello\"}"));
	close(fd);
}
