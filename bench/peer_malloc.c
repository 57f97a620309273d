// SPDX-License-Identifier: MIT
/*
 * peer_malloc.c - general-purpose allocators in bench_peers: malloc()/free()
 * of glibc, the same with jemalloc preloaded (as it is deployed: Debian's
 * exports malloc itself, and dlopen() fails on its initial-exec TLS), and
 * mi_malloc()/mi_free() with mimalloc preloaded, called through weak
 * references (no build dependency).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- malloc/free: glibc, or jemalloc when it is preloaded ---------- */

struct mal_ctx {
	size_t size;
};

static inline void *mal_get(struct mal_ctx *c)
{
	return malloc(c->size);
}

static inline void mal_put(struct mal_ctx *c, void *p)
{
	(void)c;
	free(p);
}

PEER_LOOPS(mal)

/* jemalloc's own entry points: resolved only when it is preloaded. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		   size_t newlen) __attribute__((weak));

/* The shared object that defines the malloc() this process calls. */
static const char *malloc_owner(void)
{
	Dl_info info;
	void *(*fn)(size_t) = malloc;

	if (!dladdr((const void *)(uintptr_t)fn, &info) || !info.dli_fname)
		return "?";
	return info.dli_fname;
}

/* A context per size holding the size: malloc's and mimalloc's. */
static int mal_setup_sizes(struct peer_proc *pp)
{
	struct mal_ctx *c = calloc(PEERS_NR_SIZES, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pp->priv = c;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		c[si].size = peer_sizes[si];
		pp->ctx[si] = &c[si];
	}
	return 0;
}

static int glibc_setup(struct peer_proc *pp, char *why, size_t len)
{
	const char *own = malloc_owner();

	if (!strstr(own, "libc.so")) {
		bench_set_why(why, len, "malloc() comes from %s, not glibc (LD_PRELOAD?)", own);
		return -EOPNOTSUPP;
	}
	snprintf(pp->version, sizeof(pp->version), "glibc %s", gnu_get_libc_version());
	return mal_setup_sizes(pp);
}

static int jemalloc_setup(struct peer_proc *pp, char *why, size_t len)
{
	const char *own = malloc_owner(), *ver = NULL;
	size_t vlen = sizeof(ver);

	if (!strstr(own, "jemalloc") || !mallctl) {
		bench_set_why(why, len, "%s could not be preloaded (apt-get install libjemalloc2); "
			      "malloc() comes from %s", BENCH_JEMALLOC_SO, own);
		return -ENOENT;
	}
	if (mallctl("version", &ver, &vlen, NULL, 0) != 0 || !ver)
		ver = "?";
	snprintf(pp->version, sizeof(pp->version), "jemalloc %.40s (%.40s)", ver, own);
	return mal_setup_sizes(pp);
}

/* ---- mimalloc ------------------------------------------------------ */

extern void *mi_malloc(size_t size) __attribute__((weak));
extern void mi_free(void *p) __attribute__((weak));
extern int mi_version(void) __attribute__((weak));

#define mim_ctx mal_ctx

static inline void *mim_get(struct mal_ctx *c)
{
	return mi_malloc(c->size);
}

static inline void mim_put(struct mal_ctx *c, void *p)
{
	(void)c;
	mi_free(p);
}

PEER_LOOPS(mim)

static int mim_setup(struct peer_proc *pp, char *why, size_t len)
{
	int r;

	if (!mi_malloc || !mi_free) {
		bench_set_why(why, len, "%s could not be preloaded "
			      "(apt-get install libmimalloc2.0)", BENCH_MIMALLOC_SO);
		return -ENOENT;
	}
	r = mal_setup_sizes(pp);
	if (r < 0)
		return r;
	if (mi_version) {
		int v = mi_version();

		snprintf(pp->version, sizeof(pp->version), "mimalloc %d.%d.%d",
			 v / 100, v / 10 % 10, v % 10);
	} else {
		snprintf(pp->version, sizeof(pp->version), "mimalloc");
	}
	return 0;
}

const struct peer peer_glibc = {
	.name = "glibc", .label = "glibc malloc/free",
	.setup = glibc_setup, .teardown = peer_free_priv,
	.pairs = mal_pairs, .batches = mal_batches,
};

const struct peer peer_jemalloc = {
	.name = "jemalloc", .label = "jemalloc malloc/free",
	.preload = BENCH_JEMALLOC_SO,
	.setup = jemalloc_setup, .teardown = peer_free_priv,
	.pairs = mal_pairs, .batches = mal_batches,
};

const struct peer peer_mimalloc = {
	.name = "mimalloc", .label = "mimalloc mi_malloc/mi_free",
	.preload = BENCH_MIMALLOC_SO,
	.setup = mim_setup, .teardown = peer_free_priv,
	.pairs = mim_pairs, .batches = mim_batches,
};
