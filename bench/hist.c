// SPDX-License-Identifier: MIT
/*
 * hist.c - the latency histogram of bench_peers: hist.h.
 */
#include "hist.h"

void hist_bounds(uint32_t i, uint64_t *ret_lo, uint64_t *ret_width)
{
	uint32_t shift;

	if (i < 2 * HIST_SUB) {
		*ret_lo = i;
		*ret_width = 1;
		return;
	}
	shift = i / HIST_SUB - 1;
	*ret_lo = (uint64_t)(i - shift * HIST_SUB) << shift;
	*ret_width = UINT64_C(1) << shift;
}

void hist_merge(struct hist *into, const struct hist *h)
{
	for (uint32_t i = 0; i < HIST_NR; i++)
		into->b[i] += h->b[i];
	into->n += h->n;
	if (h->max > into->max)
		into->max = h->max;
}

double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, cum = 0, lo, width;

	if (!h->n)
		return 0;
	if (q >= 1)
		return (double)h->max;
	rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;
	if (rank == 0)
		rank = 1;
	for (uint32_t i = 0; i < HIST_NR; i++) {
		cum += h->b[i];
		if (cum >= rank) {
			double mid;

			hist_bounds(i, &lo, &width);
			mid = (double)lo + (double)(width - 1) / 2;
			return mid > (double)h->max ? (double)h->max : mid;
		}
	}
	return (double)h->max;
}
