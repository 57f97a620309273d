// SPDX-License-Identifier: MIT
/*
 * header_user.c - a program as an application writes it, compiled by
 * test_header.sh as C99 (pedantic), C11, C++ (g++ and clang++) and with
 * PCPUPOOL_NO_INLINE, then run against a real pcpupoold: the public header
 * (its inline fast path included) must build cleanly everywhere and work.
 *
 * usage: header_user SOCKET POOL
 * Exit status: 0 when every check held; it prints the first that did not.
 */
#ifdef HEADER_USER_OWN_RSEQ
/* a program with a struct rseq of its own (its own rseq registration,
 * say): the header must not declare one */
struct rseq {
	int mine;
};
#endif
#include <pcpupool.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define N 200

static int fail(const char *what)
{
	fprintf(stderr, "header_user: %s (errno %d)\n", what, errno);
	return 1;
}

int main(int argc, char **argv)
{
	struct pcpupool_client *c;
	struct pcpupool *p;
	void *held[N];
	void *(*alloc_fn)(struct pcpupool *, int) = pcpupool_alloc;
	void (*free_fn)(void *, struct pcpupool *) = pcpupool_free;
	int n = 0, rounds;

	if (argc != 3)
		return fail("usage: header_user SOCKET POOL");
	c = pcpupool_connect(argv[1]);
	if (!c)
		return fail("connect");
	p = pcpupool_create(c, argv[2], 64, 48, 16);
	if (!p)
		return fail("create");
	/* many rounds through the hit path, the watermark and the spare */
	for (rounds = 0; rounds < 1000; rounds++) {
		for (n = 0; n < N; n++) {
			char *e = (char *)pcpupool_alloc(p, PCPUPOOL_NOWAIT);

			if (!e)
				break;
			memset(e, n & 0xff, 48);
			held[n] = e;
		}
		if (n < 64)
			return fail("fewer elements than one CPU's reserve");
		for (int i = 0; i < n; i++) {
			const unsigned char *e = (const unsigned char *)held[i];

			if (e[0] != (i & 0xff) || e[47] != (i & 0xff))
				return fail("an element changed while held");
			pcpupool_free(held[i], p);
		}
	}
	/* the out-of-line versions, through pointers */
	held[0] = alloc_fn(p, PCPUPOOL_NOWAIT);
	if (!held[0])
		return fail("alloc through a pointer");
	free_fn(held[0], p);
	/* what the inline path hands to the library */
	errno = 0;
	if (pcpupool_alloc(p, 7) != NULL || errno != EINVAL)
		return fail("bad flags are EINVAL");
	errno = 0;
	if (pcpupool_alloc(NULL, PCPUPOOL_NOWAIT) != NULL || errno != EINVAL)
		return fail("a NULL pool is EINVAL");
	pcpupool_free(NULL, p);
	pcpupool_free(held, p);   /* not an element: ignored */
	pcpupool_free(held[0], NULL);
	if (pcpupool_destroy(p) != 0)
		return fail("destroy");
	pcpupool_disconnect(c);
	return 0;
}
