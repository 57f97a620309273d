/* SPDX-License-Identifier: MIT */
/*
 * peer.h - one competitor of bench_peers, as the competitor's process runs
 * it: the interface each bench/peer_*.c implements, and PEER_LOOPS(),
 * which builds its two timed loops from its inline get and put.
 *
 * A competitor's process (peers_child.c) calls setup() before its worker
 * threads exist, thread_setup() in each worker on its CPU, then the timed
 * loops on ctx[si] of struct peer_proc, one element size per context;
 * after the last sample, thread_end() in each worker and check() count
 * the elements lost or duplicated, and teardown() frees what setup() made.
 * Every hook but setup() may be NULL.  Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_PEER_H
#define PCPUPOOL_BENCH_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_common.h"
#include "hist.h"

#define PEERS_NR_SIZES          2        /* element sizes: peer_sizes[] */
#define PEERS_MAX_THREADS       16
#define PEERS_PER_CPU           256u     /* reserve per CPU or thread */
#define PEERS_BATCH             64       /* operations per timed batch */
#define PEERS_DPDK_CACHE        256u     /* DPDK's per-lcore cache */
#define PEERS_WHY               256      /* reason text */
#define PEERS_VERSION           96       /* version text */
#define PEERS_CACHELINE         64
#define PEERS_NAME_MAX          32       /* pool name prefix */

/* The allocators preloaded into their competitors' processes (Debian's
 * sonames; another system may name them at build time). */
#ifndef BENCH_JEMALLOC_SO
#define BENCH_JEMALLOC_SO "libjemalloc.so.2"
#endif
#ifndef BENCH_MIMALLOC_SO
#define BENCH_MIMALLOC_SO "libmimalloc.so.2"
#endif

/* The element escapes: the compiler must produce it and cannot pair an
 * allocation with its free, nor keep the structure in registers. */
#define OPAQUE(p)   __asm__ __volatile__("" : "+r"(p) : : "memory")

/* The element sizes, in bytes (peer_list.c). */
extern const size_t peer_sizes[PEERS_NR_SIZES];

/* What a competitor sees of its process. */
struct peer_proc {
	uint32_t nr_cpus_conf;       /* get_nprocs_conf() */
	int nr_threads;              /* workers, one per CPU in cpus */
	int cpus[PEERS_MAX_THREADS];
	const char *socket;          /* pcpupool's: the daemon, and */
	const char *pool_prefix;     /* its pools' names (peer_pool_name()) */
	void *ctx[PEERS_NR_SIZES];   /* setup(): what the loops get, per size */
	void *priv;                  /* setup(): its process state */
	char version[PEERS_VERSION]; /* setup(): what was measured */
};

/* ... and of one of its worker threads. */
struct peer_thread {
	int id;
	void *priv;                  /* thread_setup(): its thread state */
};

/* The timed loops on one size's context; both return failed allocations. */
typedef uint64_t peer_pairs_fn(void *ctx, uint64_t chunks, uint64_t chunk, uint64_t *tk);
typedef uint64_t peer_batches_fn(void *ctx, uint64_t n, uint64_t ovh, struct hist *ha,
				 struct hist *hf);

struct peer {
	const char *name;        /* of --only */
	const char *label;       /* in the table */
	const char *preload;     /* LD_PRELOAD of its process, or NULL */
	bool floor;              /* a floor, not a peer to beat */
	bool ours;               /* pcpupool itself: needs the daemon */
	/* 0, or -errno with the reason in @why: unavailable */
	int (*setup)(struct peer_proc *pp, char *why, size_t len);
	int (*thread_setup)(struct peer_proc *pp, struct peer_thread *t, char *why,
			    size_t len);
	/* elements lost or duplicated */
	uint64_t (*thread_end)(struct peer_proc *pp, struct peer_thread *t);
	uint64_t (*check)(struct peer_proc *pp);
	void (*teardown)(struct peer_proc *pp);
	/* the pair loop at PEERS_PLACEMENTS places: see PEER_LOOPS() */
	peer_pairs_fn *const *pairs;
	peer_batches_fn *batches;
};

/*
 * The two timed loops of competitor PFX, from its inline PFX_get(ctx) and
 * PFX_put(ctx, p) on a struct PFX_ctx: PFX_pairs[PEERS_PLACEMENTS] and
 * PFX_batches, for struct peer's pairs and batches.  A macro rather than
 * a function taking function pointers so that get and put are inlined
 * into each competitor's own loop, as they are into an application's.
 * The pairs run in @chunks chunks of @chunk, each ending with a timestamp
 * in @tk (chunks + 1 of them), so that a chunk something preempted can be
 * told from the others.
 *
 * The pair loop is built PEERS_PLACEMENTS times, each copy starting on a
 * cache line and its loop 16 bytes further into the line than the last
 * copy's, and successive rounds run the copies in turn.  A loop of a few
 * dozen instructions runs faster or slower depending on where it falls in
 * the lines the front end fetches, the floor's as much as pcpupool's
 * (bench/results/notes.md), and where the linker puts each competitor's
 * loop is luck: the medians are then over the placements, the same ones
 * for everyone.  Each copy is out of line and aligned, so it keeps its place
 * in the line whichever file and position the competitor has.
 */
#define PEERS_PLACEMENTS 4
#define PEER_PAIRS_AT(pfx, k)						\
static BENCH_OUT_OF_LINE BENCH_HOT_ALIGN uint64_t			\
pfx##_pairs##k(void *arg, uint64_t chunks, uint64_t chunk, uint64_t *tk) \
{									\
	__asm__ __volatile__(".skip " #k " * 16 + 1, 0x90");		\
	return pfx##_pairs_body(arg, chunks, chunk, tk);		\
}
#define PEER_LOOPS(pfx)							\
static inline __attribute__((always_inline)) uint64_t			\
pfx##_pairs_body(void *arg, uint64_t chunks, uint64_t chunk, uint64_t *tk) \
{									\
	struct pfx##_ctx *c = arg;					\
	uint64_t bad = 0;						\
									\
	tk[0] = bench_tick();						\
	for (uint64_t k = 0; k < chunks; k++) {				\
		for (uint64_t i = 0; i < chunk; i++) {			\
			void *p = pfx##_get(c);				\
									\
			OPAQUE(p);					\
			if (unlikely(!p)) {				\
				bad++;					\
				continue;				\
			}						\
			*(volatile uint8_t *)p = (uint8_t)i;		\
			pfx##_put(c, p);				\
		}							\
		tk[k + 1] = bench_tick();				\
	}								\
	return bad;							\
}									\
									\
PEER_PAIRS_AT(pfx, 0)							\
PEER_PAIRS_AT(pfx, 1)							\
PEER_PAIRS_AT(pfx, 2)							\
PEER_PAIRS_AT(pfx, 3)							\
static peer_pairs_fn *const pfx##_pairs[PEERS_PLACEMENTS] = {		\
	pfx##_pairs0, pfx##_pairs1, pfx##_pairs2, pfx##_pairs3,		\
};									\
									\
static uint64_t pfx##_batches(void *arg, uint64_t n, uint64_t ovh,	\
			      struct hist *ha, struct hist *hf)		\
{									\
	struct pfx##_ctx *c = arg;					\
	void *v[PEERS_BATCH];						\
	uint64_t bad = 0;						\
									\
	for (uint64_t b = 0; b < n; b++) {				\
		uint64_t t0, t1, t2;					\
									\
		t0 = bench_tick();					\
		for (int k = 0; k < PEERS_BATCH; k++) {			\
			void *p = pfx##_get(c);				\
									\
			OPAQUE(p);					\
			if (likely(p))					\
				*(volatile uint8_t *)p = (uint8_t)k;	\
			v[k] = p;					\
		}							\
		t1 = bench_tick();					\
		for (int k = 0; k < PEERS_BATCH; k++) {			\
			void *p = v[k];					\
									\
			if (likely(p))					\
				pfx##_put(c, p);			\
			else						\
				bad++;					\
		}							\
		t2 = bench_tick();					\
		hist_add(ha, t1 - t0, ovh);				\
		hist_add(hf, t2 - t1, ovh);				\
	}								\
	return bad;							\
}

/* The competitors, in the order of the table and of the rounds. */
enum {
	PEER_PCPUPOOL,
	PEER_PCPUPOOL_CALL,
	PEER_TLS,
	PEER_RSEQ,
	PEER_RSEQ_CALL,
	PEER_GLIBC,
	PEER_JEMALLOC,
	PEER_MIMALLOC,
	PEER_DPDK,
	PEER_MUTEX,
	PEER_TREIBER,
	NR_PEERS
};

/* peer_list.c: the table, indexed by the enum above */
extern const struct peer *const peer_list[NR_PEERS];

/* The index of the competitor called @name[0..len), or -1. */
int peer_by_name(const char *name, size_t len);

/* A teardown() that frees pp->priv. */
void peer_free_priv(struct peer_proc *pp);

/* PEERS_NR_SIZES contexts of @size bytes each, zeroed, on a cache line,
 * as pp->priv; NULL if out of memory. */
void *peer_alloc_ctx(struct peer_proc *pp, size_t size);

/* pcpupool's pool of @size-byte elements: "@prefix-@size" (peer_pcpupool.c;
 * bench_peers creates them in the daemon, the competitor opens them). */
void peer_pool_name(char *buf, size_t len, const char *prefix, size_t size);

/* each in its bench/peer_*.c */
extern const struct peer peer_pcpupool, peer_pcpupool_call;   /* peer_pcpupool.c */
extern const struct peer peer_tls;                            /* peer_tls.c */
extern const struct peer peer_rseq, peer_rseq_call;           /* peer_rseq.c */
extern const struct peer peer_glibc, peer_jemalloc, peer_mimalloc; /* peer_malloc.c */
extern const struct peer peer_dpdk;                           /* peer_dpdk.c */
extern const struct peer peer_mutex;                          /* peer_mutex.c */
extern const struct peer peer_treiber;                        /* peer_treiber.c */

#endif
