// SPDX-License-Identifier: MIT
/*
 * raw.c - the control protocol spoken by hand on a raw connection (raw.h):
 * sending, the line reader, replies and the descriptors they carry.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "e2e.h"

#define LR_MAX_LINE  (8u << 20)

static const char ping_line[] = "{\"cmd\":\"ping\"}\n";

int e2e_connect_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int e2e_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void e2e_raw_send(int fd, const void *buf, size_t len)
{
	int r = e2e_send_all(fd, buf, len);

	if (r < 0)
		fail_msg("send %zu bytes: %s", len, strerror(-r));
}

void e2e_send_str(int fd, const char *s)
{
	e2e_raw_send(fd, s, strlen(s));
}

int e2e_send_fds(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(E2E_FD_MAX_PER_MSG * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	assert_true(nfds > 0 && nfds <= E2E_FD_MAX_PER_MSG);
	memset(&u, 0, sizeof(u));
	mh.msg_control = u.buf;
	mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return e2e_send_all(fd, (const char *)buf + n, len - (size_t)n);
	return 0;
}

ssize_t e2e_recv_fd(int fd, char *buf, size_t len, int flags, int *ret_fd)
{
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	ssize_t n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);

	*ret_fd = -1;
	if (n < 0)
		return n;
	buf[n] = '\0';
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*ret_fd < 0)
				*ret_fd = f;   /* the one that matters comes first */
			else
				close(f);
		}
	}
	return n;
}

int e2e_read_full(int fd, void *buf, size_t len, int ms)
{
	int64_t deadline = e2e_now_ms() + ms;
	char *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - e2e_now_ms());
		ssize_t n;

		int r;

		if (left <= 0)
			return -1;
		r = poll(&pfd, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			continue;   /* timed out: the deadline check above ends it
				     * (a read now would block past it) */
		n = read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int e2e_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- lines ---- */

void lr_init(struct lr *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->max = LR_MAX_LINE;
	r->chunk = 4096;
}

void lr_free(struct lr *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}

char *lr_try(struct lr *r, int ms)
{
	int64_t deadline = e2e_now_ms() + ms;

	r->timeout = false;
	r->err = 0;
	for (;;) {
		char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		int left;
		ssize_t n;

		if (nl) {
			size_t k = (size_t)(nl - r->buf);
			char *s = malloc(k + 1);

			if (!s) {
				r->err = ENOMEM;
				return NULL;
			}
			memcpy(s, r->buf, k);
			s[k] = '\0';
			memmove(r->buf, nl + 1, r->len - k - 1);
			r->len -= k + 1;
			return s;
		}
		if (r->eof)
			return NULL;
		if (r->len >= r->max) {
			r->err = E2BIG;
			return NULL;
		}
		if (r->cap - r->len < r->chunk) {
			size_t cap = r->cap ? r->cap * 2 : 8192;
			char *t;

			while (cap - r->len < r->chunk)
				cap *= 2;
			t = realloc(r->buf, cap);
			if (!t) {
				r->err = ENOMEM;
				return NULL;
			}
			r->buf = t;
			r->cap = cap;
		}
		left = (int)(deadline - e2e_now_ms());
		if (left <= 0) {
			r->timeout = true;
			return NULL;
		}
		n = poll(&pfd, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r->err = errno;
			return NULL;
		}
		if (n == 0) {
			r->timeout = true;
			return NULL;
		}
		n = recv(r->fd, r->buf + r->len, r->chunk, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno != ECONNRESET) {
			r->err = errno;
			return NULL;
		}
		if (n <= 0) {
			r->eof = true;
			r->err = n < 0 ? ECONNRESET : 0;
		} else {
			r->len += (size_t)n;
		}
	}
}

char *lr_line(struct lr *r, int ms)
{
	char *s = lr_try(r, ms);

	if (!s && !r->eof && !r->timeout) {
		if (r->err == E2BIG)
			fail_msg("a line longer than %zu bytes", r->max);
		fail_msg("reading a line: %s", strerror(r->err));
	}
	return s;
}

char *lr_reply(struct lr *r, const char *what)
{
	char *s = lr_line(r, E2E_REPLY_TIMEOUT_MS);

	if (!s)
		fail_msg("%s: %s", what, r->timeout ? "no reply within the deadline" :
			 "connection closed without a reply");
	return s;
}

void lr_expect_eof(struct lr *r, const char *what)
{
	char *s = lr_line(r, E2E_REPLY_TIMEOUT_MS);

	if (s)
		fail_msg("%s: unexpected line before the close: %.200s", what, s);
	if (!r->eof)
		fail_msg("%s: connection not closed within %d ms", what, E2E_REPLY_TIMEOUT_MS);
	if (r->len)
		fail_msg("%s: %zu stray bytes before the close", what, r->len);
}

void lr_ping(struct lr *r, const char *what)
{
	e2e_raw_send(r->fd, ping_line, sizeof(ping_line) - 1);
	e2e_expect_code(lr_reply(r, what), "ok", what);
}

char *e2e_raw_recv_line(int fd)
{
	struct lr r;
	char *s;

	lr_init(&r, fd);
	r.chunk = 1;   /* no further than the line: the next is the caller's */
	r.max = E2E_MAX_REPLY;
	s = lr_line(&r, E2E_REPLY_TIMEOUT_MS);
	lr_free(&r);
	if (!s && r.timeout)
		fail_msg("no reply line within %d ms", E2E_REPLY_TIMEOUT_MS);
	return s;
}

char *e2e_raw_xfer_n(int fd, const char *line, size_t len)
{
	char *buf = malloc(len + 1);

	assert_non_null(buf);
	memcpy(buf, line, len);
	buf[len] = '\n';
	e2e_raw_send(fd, buf, len + 1);   /* one write: one line */
	free(buf);
	return e2e_raw_recv_line(fd);
}

char *e2e_raw_xfer(int fd, const char *line)
{
	return e2e_raw_xfer_n(fd, line, strlen(line));
}

/* ---- replies ---- */

json_t *e2e_parse_reply(const char *reply)
{
	json_error_t je;
	json_t *j;

	if (!reply)
		fail_msg("the daemon closed the connection instead of replying");
	j = json_loads(reply, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		fail_msg("reply is not JSON (%s): %s", je.text, reply);
	if (!json_is_object(j) || !json_is_boolean(json_object_get(j, "ok")))
		fail_msg("reply has no boolean \"ok\": %s", reply);
	return j;
}

const char *e2e_reply_code(const char *reply, char buf[32])
{
	json_t *j = e2e_parse_reply(reply), *err;
	const char *code;

	if (json_is_true(json_object_get(j, "ok"))) {
		json_decref(j);
		return strcpy(buf, "ok");
	}
	err = json_object_get(j, "error");
	code = json_string_value(json_object_get(err, "code"));
	if (!code || !json_is_string(json_object_get(err, "message")))
		fail_msg("error reply without code and message: %s", reply);
	snprintf(buf, 32, "%s", code);
	json_decref(j);
	return buf;
}

void e2e_expect_code(char *reply, const char *code, const char *what)
{
	char buf[32];

	if (strcmp(e2e_reply_code(reply, buf), code))
		fail_msg("%s: expected %s, got %.300s", what, code, reply);
	free(reply);
}

void e2e_expect_ok(char *reply)
{
	e2e_expect_code(reply, "ok", "a reply");
}

void e2e_expect_error(char *reply, const char *code)
{
	e2e_expect_code(reply, code, "an error reply");
}

void e2e_expect_message(const char *reply, const char *text)
{
	json_t *j = e2e_parse_reply(reply);
	const char *m = json_string_value(json_object_get(json_object_get(j, "error"),
							  "message"));

	if (!m || !strstr(m, text))
		fail_msg("expected a message with \"%s\": %s", text, reply);
	json_decref(j);
}
