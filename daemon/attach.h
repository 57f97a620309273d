/* SPDX-License-Identifier: MIT */
/*
 * attach.h - an attachment: a connection's hold on a pool, with the
 * daemon's end of the client's refill channel.
 */
#ifndef PCPUPOOLD_ATTACH_H
#define PCPUPOOLD_ATTACH_H

#include <stdint.h>

struct conn;
struct event;
struct pool;

struct attach {
	struct attach *next;
	struct conn *conn;
	struct pool *pool;
	int fd;                  /* daemon end of the refill channel */
	struct event *ev;
	uint32_t client_id;
};

struct attach *attach_new(struct conn *c, struct pool *p, int fd);
void attach_add(struct attach *a);
void attach_discard(struct attach *a);
void attach_free(struct attach *a);
void attach_end_pool(struct conn *c, struct pool *p);

#endif
