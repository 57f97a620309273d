// SPDX-License-Identifier: MIT
/*
 * producer.c - zero-copy messaging through a pcpupool, sending side.
 *
 *   producer [-n COUNT] [-p POOL] | consumer [-p POOL]
 *
 * Allocates an element per message, writes the message into it, and sends
 * only its offset in the pool (one text line) down stdout.  The consumer, a
 * different process with its own mapping, reads the message in place and
 * frees the element.  The pool ("messages" by default) is created on first
 * use.  $PCPUPOOL_SOCKET names the daemon's socket (see `make run`).
 */
#include <errno.h>
#include <inttypes.h>
#include <pcpupool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "message.h"

int main(int argc, char **argv)
{
	const char *name = "messages";
	long count = 1000;
	int opt;

	while ((opt = getopt(argc, argv, "n:p:h")) != -1) {
		switch (opt) {
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 'p': name = optarg; break;
		default:
			fprintf(stderr, "usage: producer [-n COUNT] [-p POOL] | consumer [-p POOL]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	struct pcpupool_client *c = pcpupool_connect(NULL);
	if (!c) {
		fprintf(stderr, "producer: cannot reach pcpupoold: %s\n", strerror(errno));
		return 1;
	}
	struct pcpupool *pool = pcpupool_open(c, name);
	if (!pool && errno == ENOENT)
		pool = pcpupool_create(c, name, 64, sizeof(struct message), 64);
	if (!pool) {
		fprintf(stderr, "producer: pool %s: %s\n", name, strerror(errno));
		pcpupool_disconnect(c);
		return 1;
	}
	for (long i = 0; i < count; i++) {
		/* may block briefly if the consumer lags: the daemon refills */
		struct message *m = pcpupool_alloc(pool, PCPUPOOL_WAIT);
		if (!m) {
			fprintf(stderr, "producer: alloc: %s\n", strerror(errno));
			break;
		}
		message_fill(m, (uint64_t)i, (uint64_t)getpid());
		/* from here the consumer is responsible for it: if this process
		 * dies, the daemon must not take the message back */
		pcpupool_elem_handoff(pool, m);
		printf("%" PRIu64 "\n", pcpupool_elem_offset(pool, m));
	}
	fflush(stdout);
	pcpupool_close(pool);
	pcpupool_disconnect(c);
	return 0;
}
