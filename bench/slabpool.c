// SPDX-License-Identifier: MIT
/*
 * slabpool.c - the slab pool bench_slab measures: one built in this
 * process as pcpupoold builds a pool (memfd, layout, format, publish),
 * attached as libpcpupool attaches one, its reserves prefilled; and its
 * checks.  slab_bench.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_bench.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int slabpool_init(struct slabpool *sp, uint32_t nr_cpus)
{
	struct slab_geometry g = {
		.nr_cpus = nr_cpus, .slab_cap = BENCH_SLAB_CAP,
		.elem_size = BENCH_ELEM_SIZE, .elem_align = BENCH_ELEM_SIZE,
		.max_elems = BENCH_MAX_ELEMS,
	};
	struct slab_hdr hdr;
	uint32_t idx[BENCH_PREFILL];
	int r;

	sp->fd = -1;
	sp->base = MAP_FAILED;
	memset(&sp->v, 0, sizeof(sp->v));
	r = slab_layout(&g, &hdr);
	if (r < 0)
		return r;
	sp->fd = memfd_create("bench_slab", MFD_CLOEXEC);
	if (sp->fd < 0)
		return -errno;
	if (ftruncate(sp->fd, (off_t)slab_bytes_for(&hdr, BENCH_MAX_ELEMS)) < 0)
		return -errno;
	sp->map_size = hdr.map_size;
	if (pwrite(sp->fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return -errno;
	sp->base = slab_map(sp->fd, sp->map_size);
	if (sp->base == MAP_FAILED)
		return -errno;
	r = slab_format(sp->base, &hdr, "bench_slab");
	if (r < 0)
		return r;
	atomic_store(&((struct slab_hdr *)sp->base)->nr_published, BENCH_MAX_ELEMS);
	r = slab_view_init(&sp->v, sp->base, sp->map_size, BENCH_OWNER);
	if (r < 0)
		return r;
	/* the inline sections' pages, as libpcpupool gives a client's view */
	r = slab_view_map_inline(&sp->v, sp->fd);
	if (r < 0)
		return r;

	sp->per_cpu = BENCH_PREFILL;
	if ((uint64_t)nr_cpus * sp->per_cpu > BENCH_MAX_ELEMS)
		sp->per_cpu = BENCH_MAX_ELEMS / nr_cpus;
	sp->total = sp->per_cpu * nr_cpus;
	for (uint32_t c = 0; c < nr_cpus; c++) {
		slab_set_limits(&sp->v, c, BENCH_LOW, BENCH_LIMIT);
		for (uint32_t k = 0; k < sp->per_cpu; k++)
			idx[k] = c * sp->per_cpu + k;
		r = slab_list_push(&sp->v, &slab_of(&sp->v, c)->inbox, idx, sp->per_cpu);
		if (r < 0)
			return r;
	}
	return 0;
}

void slabpool_destroy(struct slabpool *sp)
{
	slab_view_fini(&sp->v);
	if (sp->base != MAP_FAILED)
		munmap(sp->base, sp->map_size);
	if (sp->fd >= 0)
		close(sp->fd);
}

static uint32_t slabpool_outbox_len(const struct slabpool *sp, uint32_t cpu)
{
	return slab_list_len(atomic_load(&slab_of(&sp->v, cpu)->outbox));
}

static uint32_t slabpool_inbox_len(const struct slabpool *sp, uint32_t cpu)
{
	return slab_list_len(atomic_load(&slab_of(&sp->v, cpu)->inbox));
}

uint64_t slabpool_requests(const struct slabpool *sp)
{
	uint64_t n = 0;

	for (uint32_t c = 0; c < sp->v.nr_cpus; c++)
		n += atomic_load(&slab_of(&sp->v, c)->refill_requests);
	return n;
}

void slabpool_stat_sums(const struct slabpool *sp, uint64_t *ret_allocs, uint64_t *ret_frees)
{
	uint64_t a = 0, f = 0;

	for (uint32_t c = 0; c < sp->v.nr_cpus; c++) {
		uint64_t ca, cf;

		slab_cpu_counts(&sp->v, c, &ca, &cf);
		a += ca;
		f += cf;
	}
	*ret_allocs = a;
	*ret_frees = f;
}

int slabpool_check_steady(const struct slabpool *sp, const struct worker *w, int n,
			  uint64_t requests0, const char *when)
{
	int dev = 0;

	for (int i = 0; i < n; i++) {
		uint32_t c = (uint32_t)w[i].cpu;
		uint32_t level = slab_level(&sp->v, c), in = slabpool_inbox_len(sp, c);
		uint32_t out = slabpool_outbox_len(sp, c);

		if (level != sp->per_cpu || out || (sp->v.rseq_cpus && in)) {
			fprintf(stderr, "%s: CPU %u holds %u in slab + %u in inbox, "
				"%u in outbox (expected %u, 0, 0)\n", when, c,
				slab_count(&sp->v, c), in, out, sp->per_cpu);
			dev++;
		}
	}
	if (slabpool_requests(sp) != requests0) {
		fprintf(stderr, "%s: %llu refill request(s) in the steady state\n", when,
			(unsigned long long)(slabpool_requests(sp) - requests0));
		dev++;
	}
	return dev;
}

/* Count the elements of one inbox/outbox word of the slab pool; the
 * census goes bad where the list does not end where its length says. */
static void check_list(const struct slabpool *sp, uint64_t word, struct bench_census *cs)
{
	uint32_t cur = slab_list_head(word), len = slab_list_len(word);

	for (uint32_t k = 0; k < len; k++) {
		if (!bench_census_count(cs, cur))
			return;
		cur = atomic_load(&sp->v.meta[cur].next);
	}
	if (cur != SLAB_NIL)
		cs->bad = true;
}

int slabpool_check_final(const struct slabpool *sp)
{
	struct bench_census cs;

	bench_census_start(&cs, sp->total);
	for (uint32_t c = 0; c < sp->v.nr_cpus && !cs.bad; c++) {
		const struct slab *s = slab_of(&sp->v, c);

		uint32_t n = SLAB_CW_COUNT(s->cw);

		if (n > sp->v.slab_cap) {
			cs.bad = true;
			break;
		}
		for (uint32_t k = 0; k < n && !cs.bad; k++)
			bench_census_count(&cs, slab_idx_of_off(&sp->v, s->slots[k]));
		if (!cs.bad)
			check_list(sp, atomic_load(&s->inbox), &cs);
		if (!cs.bad)
			check_list(sp, atomic_load(&s->outbox), &cs);
	}
	return bench_census_end(&cs, "slab");
}
