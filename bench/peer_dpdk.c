// SPDX-License-Identifier: MIT
/*
 * peer_dpdk.c - DPDK in bench_peers: rte_mempool_get()/rte_mempool_put()
 * on a mempool with a per-lcore cache of PEERS_DPDK_CACHE, inline as DPDK
 * applications call them.  EAL in-process: --no-huge --no-pci -m 256
 * --no-shconf --no-telemetry; worker threads registered with
 * rte_thread_register().  Compiled in when the build defines
 * BENCH_HAVE_DPDK (pkg-config found libdpdk); otherwise the competitor
 * says so and is reported unavailable.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef BENCH_HAVE_DPDK
/* DPDK's headers are not -Wundef clean under clang (GCC_VERSION) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef"
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_version.h>
#pragma GCC diagnostic pop

struct dpdk_ctx {
	struct rte_mempool *mp;
	unsigned int n;
};

struct dpdk_proc {
	struct dpdk_ctx ctx[PEERS_NR_SIZES];
	bool eal;
	char runtime_dir[PATH_MAX];
};

static inline void *dpdk_get(struct dpdk_ctx *c)
{
	void *p;

	return likely(rte_mempool_get(c->mp, &p) == 0) ? p : NULL;
}

static inline void dpdk_put(struct dpdk_ctx *c, void *p)
{
	rte_mempool_put(c->mp, p);
}

PEER_LOOPS(dpdk)

static int dpdk_setup(struct peer_proc *pp, char *why, size_t len)
{
	struct dpdk_proc *dp = calloc(1, sizeof(*dp));
	char lcores[16], prefix[48];
	char *args[] = {
		(char[]){ "bench_peers" }, (char[]){ "--no-huge" }, (char[]){ "--no-pci" },
		(char[]){ "-m" }, (char[]){ "256" }, (char[]){ "--no-shconf" },
		(char[]){ "--no-telemetry" }, (char[]){ "--log-level=1" },
		(char[]){ "-l" }, lcores, (char[]){ "--file-prefix" }, prefix, NULL,
	};
	int argc = (int)(sizeof(args) / sizeof(args[0])) - 1;
	/* a worker's cache holds up to 1.5 x its size; 2^k - 1 suits the ring */
	unsigned int n = 4095;

	if (!dp)
		return -ENOMEM;
	pp->priv = dp;
	/* the main thread (EAL's main lcore) only waits: one lcore is enough;
	 * the workers get lcores of their own from rte_thread_register() */
	snprintf(lcores, sizeof(lcores), "%d", pp->cpus[0]);
	snprintf(prefix, sizeof(prefix), "pcpupool-bench-%d", (int)getpid());
	if (rte_eal_init(argc, args) < 0) {
		bench_set_why(why, len, "rte_eal_init: %s", rte_strerror(rte_errno));
		return -ENODEV;
	}
	dp->eal = true;
	snprintf(dp->runtime_dir, sizeof(dp->runtime_dir), "%s", rte_eal_get_runtime_dir());
	while (n < (unsigned int)pp->nr_threads * PEERS_DPDK_CACHE * 2 + PEERS_PER_CPU)
		n = n * 2 + 1;
	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		char name[32];

		snprintf(name, sizeof(name), "bench%zu", peer_sizes[si]);
		dp->ctx[si].n = n;
		dp->ctx[si].mp = rte_mempool_create(name, n, (unsigned int)peer_sizes[si],
						    PEERS_DPDK_CACHE, 0, NULL, NULL, NULL,
						    NULL, SOCKET_ID_ANY, 0);
		if (!dp->ctx[si].mp) {
			bench_set_why(why, len, "rte_mempool_create: %s", rte_strerror(rte_errno));
			return -ENOMEM;
		}
		pp->ctx[si] = &dp->ctx[si];
	}
	snprintf(pp->version, sizeof(pp->version), "%s, ops %s, cache %u",
		 rte_version(), rte_mempool_get_ops(dp->ctx[0].mp->ops_index)->name,
		 PEERS_DPDK_CACHE);
	return 0;
}

static int dpdk_thread_setup(struct peer_proc *pp, struct peer_thread *t, char *why, size_t len)
{
	(void)pp; (void)t;
	if (rte_thread_register() < 0) {
		bench_set_why(why, len, "rte_thread_register: %s", rte_strerror(rte_errno));
		return -ENODEV;
	}
	return 0;
}

static uint64_t dpdk_thread_end(struct peer_proc *pp, struct peer_thread *t)
{
	(void)pp; (void)t;
	rte_thread_unregister();
	return 0;
}

static uint64_t dpdk_check(struct peer_proc *pp)
{
	struct dpdk_proc *dp = pp->priv;
	uint64_t wrong = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		unsigned int avail = rte_mempool_avail_count(dp->ctx[si].mp);

		if (avail != dp->ctx[si].n) {
			fprintf(stderr, "dpdk: mempool holds %u of %u %zu-byte elements\n",
				avail, dp->ctx[si].n, peer_sizes[si]);
			wrong++;
		}
	}
	return wrong;
}

static void dpdk_teardown(struct peer_proc *pp)
{
	struct dpdk_proc *dp = pp->priv;

	if (!dp)
		return;
	for (int si = 0; si < PEERS_NR_SIZES; si++)
		rte_mempool_free(dp->ctx[si].mp);
	if (dp->eal) {
		rte_eal_cleanup();
		if (dp->runtime_dir[0])
			rmdir(dp->runtime_dir);  /* empty with --no-shconf */
	}
	free(dp);
}
#else
static int dpdk_setup(struct peer_proc *pp, char *why, size_t len)
{
	(void)pp;
	bench_set_why(why, len, "built without DPDK (pkg-config found no libdpdk: "
		      "apt-get install libdpdk-dev, then rebuild)");
	return -EOPNOTSUPP;
}
#endif

const struct peer peer_dpdk = {
	.name = "dpdk", .label = "DPDK rte_mempool + cache",
	.setup = dpdk_setup,
#ifdef BENCH_HAVE_DPDK
	.thread_setup = dpdk_thread_setup, .thread_end = dpdk_thread_end,
	.check = dpdk_check, .teardown = dpdk_teardown,
	.pairs = dpdk_pairs, .batches = dpdk_batches,
#endif
};
