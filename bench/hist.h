/* SPDX-License-Identifier: MIT */
/*
 * hist.h - the latency histogram of bench_peers: log-linear over cycles
 * per timed batch.  hist_add() is inline because the timed batches call
 * it; hist.c has the rest.  Benchmark code only.
 */
#ifndef PCPUPOOL_BENCH_HIST_H
#define PCPUPOOL_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_LOG  40                 /* values clamp at 2^41 - 1 */
#define HIST_NR       ((HIST_MAX_LOG - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
	uint64_t n;
	uint64_t max;
	uint64_t b[HIST_NR];
};

/* Values below 2 * HIST_SUB have a bucket each; above, each power of two
 * is split into HIST_SUB buckets. */
static inline uint32_t hist_bucket(uint64_t v)
{
	uint32_t shift;

	if (v < 2 * HIST_SUB)
		return (uint32_t)v;
	if (v >> (HIST_MAX_LOG + 1))
		v = (UINT64_C(1) << (HIST_MAX_LOG + 1)) - 1;
	shift = (uint32_t)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	return shift * HIST_SUB + (uint32_t)(v >> shift);
}

/* Count one batch of @cycles, less the timer's own cost @ovh. */
static inline void hist_add(struct hist *h, uint64_t cycles, uint64_t ovh)
{
	uint64_t v = cycles > ovh ? cycles - ovh : 0;

	h->b[hist_bucket(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

/* The values bucket @i holds: [*ret_lo, *ret_lo + *ret_width). */
void hist_bounds(uint32_t i, uint64_t *ret_lo, uint64_t *ret_width);

void hist_merge(struct hist *into, const struct hist *h);

/* The @q quantile (0 < q <= 1) in cycles per batch: the middle of the
 * bucket holding it, never above the exact maximum. */
double hist_quantile(const struct hist *h, double q);

#endif
