/* SPDX-License-Identifier: MIT */
/*
 * raw.h - the control protocol spoken by hand on a raw connection, for the
 * integration tests (compiled once, in raw.c): connecting to a socket
 * path, sending a whole buffer (descriptors attached if wanted), a buffered
 * line reader with deadlines, the parts of a reply (JSON with a boolean
 * "ok", the error code and message), and the descriptors a reply carries.
 *
 * Functions named e2e_expect_*, e2e_raw_* or lr_line/lr_reply fail the
 * current CMocka test; e2e_connect_path, e2e_send_all, e2e_send_fds,
 * e2e_recv_fd, e2e_read_full, e2e_write_full and lr_try never do (usable
 * in forked children and by tests that note a failure and go on).
 */
#ifndef PCPUPOOL_TESTS_RAW_H
#define PCPUPOOL_TESTS_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#define E2E_REPLY_TIMEOUT_MS  5000       /* one reply line */
#define E2E_MAX_REPLY         (1 << 20)  /* a reply line e2e_raw_recv_line() takes */
#define E2E_FD_MAX_PER_MSG    253        /* SCM_MAX_FD */

/* Connect a stream socket to @path; the descriptor, or -errno. */
int e2e_connect_path(const char *path);

/* Send all of @buf: 0, or -errno (EPIPE/ECONNRESET when the daemon closed
 * the connection: the callers decide whether that is expected). */
int e2e_send_all(int fd, const void *buf, size_t len);
/* The same, failing the test on an error. */
void e2e_raw_send(int fd, const void *buf, size_t len);
void e2e_send_str(int fd, const char *s);
/* Send @len bytes with @nfds descriptors attached (SCM_RIGHTS, 1 to
 * E2E_FD_MAX_PER_MSG of them): 0 or -errno. */
int e2e_send_fds(int fd, const void *buf, size_t len, const int *fds, int nfds);

/* Receive one message of at most @len - 1 bytes on @fd (flags for
 * recvmsg(), e.g. MSG_DONTWAIT): its text, NUL-terminated, in @buf, and in
 * *@ret_fd the first descriptor it carried (an attach reply: the pool's
 * memfd; a notification: its FDSTORE descriptor), or -1; any others are
 * closed.  Return recvmsg()'s count, or -1 with errno. */
ssize_t e2e_recv_fd(int fd, char *buf, size_t len, int flags, int *ret_fd);

/* Read exactly @len bytes from @fd within @ms: 0, or -1 on end of file,
 * error or timeout.  Write all of @buf: 0 or -1. */
int e2e_read_full(int fd, void *buf, size_t len, int ms);
int e2e_write_full(int fd, const void *buf, size_t len);

/* ---- lines, with deadlines ---- */

struct lr {
	int fd;
	char *buf;
	size_t len, cap;
	size_t max;      /* a longer line is an error (E2BIG); lr_init: 8 MiB */
	size_t chunk;    /* bytes per recv(); 1 reads no further than the line */
	bool eof;        /* end of stream or connection reset seen */
	bool timeout;    /* the last read ran out of time */
	int err;         /* the last read's error: errno, ENOMEM or E2BIG;
			  * ECONNRESET together with eof */
};

void lr_init(struct lr *r, int fd);
void lr_free(struct lr *r);
/* The next line (malloc'd, without its newline), or NULL: at the end of
 * the stream (r->eof), when @ms pass first (r->timeout), or on an error
 * (r->err).  Never fails the test. */
char *lr_try(struct lr *r, int ms);
/* lr_try(), but an error other than the end of the stream or the
 * deadline fails the test. */
char *lr_line(struct lr *r, int ms);
/* A reply line that must arrive within E2E_REPLY_TIMEOUT_MS. */
char *lr_reply(struct lr *r, const char *what);
/* Assert that the daemon closes the connection with nothing more to say. */
void lr_expect_eof(struct lr *r, const char *what);
/* A ping on r->fd: the reply must be {"ok":true}. */
void lr_ping(struct lr *r, const char *what);

/* One reply line (without its newline, malloc'd) on @fd, read byte by byte
 * within E2E_REPLY_TIMEOUT_MS, or NULL at the end of the stream or on a
 * connection reset; a timeout or a line over E2E_MAX_REPLY fails the test. */
char *e2e_raw_recv_line(int fd);
/* Send @len bytes of @line plus a newline on @fd in one write; return the
 * reply line (malloc'd) or NULL if the daemon closed the connection. */
char *e2e_raw_xfer_n(int fd, const char *line, size_t len);
char *e2e_raw_xfer(int fd, const char *line);

/* ---- replies ---- */

/* Parse a reply line that must be a JSON object with a boolean "ok". */
json_t *e2e_parse_reply(const char *reply);
/* The error code of @reply ("ok" for ok:true) in @buf; an error reply must
 * have a code and a message. */
const char *e2e_reply_code(const char *reply, char buf[32]);
/* Assert that @reply's code (e2e_reply_code()) is @code; frees it. */
void e2e_expect_code(char *reply, const char *code, const char *what);
/* Assert @reply is {"ok":true,...}; frees it. */
void e2e_expect_ok(char *reply);
/* Assert @reply is {"ok":false,"error":{"code":@code,"message":"..."}};
 * frees it. */
void e2e_expect_error(char *reply, const char *code);
/* Assert that the message of the error reply @reply contains @text. */
void e2e_expect_message(const char *reply, const char *text);

#endif /* PCPUPOOL_TESTS_RAW_H */
