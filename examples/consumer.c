// SPDX-License-Identifier: MIT
/*
 * consumer.c - zero-copy messaging through a pcpupool, receiving side.
 *
 * Reads element offsets, one per line, from stdin (see producer.c), finds
 * each message in its own mapping of the pool, checks it, and frees the
 * element back to the pool: the element crossed processes without a copy.
 * Prints a summary; exits 1 if any message was wrong.
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
	long got = 0, bad = 0;
	char line[64];
	int opt;

	while ((opt = getopt(argc, argv, "p:h")) != -1) {
		switch (opt) {
		case 'p': name = optarg; break;
		default:
			fprintf(stderr, "usage: producer [-n COUNT] [-p POOL] | consumer [-p POOL]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	struct pcpupool_client *c = pcpupool_connect(NULL);
	if (!c) {
		fprintf(stderr, "consumer: cannot reach pcpupoold: %s\n", strerror(errno));
		return 1;
	}
	struct pcpupool *pool = NULL;
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t off = strtoull(line, NULL, 10);
		/* open on the first message: the producer may have created it */
		if (!pool && !(pool = pcpupool_open(c, name))) {
			fprintf(stderr, "consumer: pool %s: %s\n", name, strerror(errno));
			pcpupool_disconnect(c);
			return 1;
		}
		struct message *m = pcpupool_elem_at(pool, off);
		if (m)
			pcpupool_elem_claim(pool, m);   /* ours until freed */
		if (!m || !message_check(m, (uint64_t)got)) {
			bad++;
		}
		if (m)
			pcpupool_free(m, pool);
		got++;
	}
	printf("consumer: %ld messages received in place, %ld bad\n", got, bad);
	pcpupool_close(pool);
	pcpupool_disconnect(c);
	return bad ? 1 : 0;
}
