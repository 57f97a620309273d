// SPDX-License-Identifier: MIT
/*
 * pooltest.c - the slab-core tests' helpers (pooltest.h): a pool in a
 * memfd, CMocka setup and teardown around it, pinning.
 */
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "pooltest.h"

int testpool_make_cpus(struct testpool *tp, uint32_t nr_cpus, uint32_t cap, uint64_t size,
		       uint64_t align, uint64_t max)
{
	struct slab_geometry g = {
		.nr_cpus = nr_cpus, .slab_cap = cap,
		.elem_size = size, .elem_align = align, .max_elems = max,
	};
	if (slab_layout(&g, &tp->layout) < 0)
		return -1;
	tp->fd = memfd_create("pooltest", MFD_CLOEXEC);
	if (tp->fd < 0 || ftruncate(tp->fd, (off_t)slab_bytes_for(&tp->layout, max)) < 0)
		return -1;
	/* written before slab_map() reads it: the elements' offset */
	if (pwrite(tp->fd, &tp->layout, sizeof(tp->layout), 0) != (ssize_t)sizeof(tp->layout))
		return -1;
	tp->base = slab_map(tp->fd, tp->layout.map_size);
	if (tp->base == MAP_FAILED)
		return -1;
	if (slab_format(tp->base, &tp->layout, "test") < 0)
		return -1;
	atomic_store(&((struct slab_hdr *)tp->base)->nr_published, max);
	return slab_view_init(&tp->v, tp->base, tp->layout.map_size, 1);
}

int testpool_make(struct testpool *tp, uint32_t cap, uint64_t size, uint64_t align,
		  uint64_t max)
{
	return testpool_make_cpus(tp, (uint32_t)get_nprocs_conf(), cap, size, align, max);
}

void testpool_free(struct testpool *tp)
{
	slab_view_fini(&tp->v);
	munmap(tp->base, tp->layout.map_size);
	close(tp->fd);
}

int testpool_setup(void **state, uint32_t cap, uint64_t size, uint64_t align, uint64_t max)
{
	struct testpool *tp = calloc(1, sizeof(*tp));

	if (!tp || testpool_make(tp, cap, size, align, max) < 0) {
		free(tp);
		return -1;
	}
	*state = tp;
	return 0;
}

int testpool_teardown(void **state)
{
	testpool_free(*state);
	free(*state);
	return 0;
}

int pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -1;
	/* make sure we run there before the caller reads rseq's cpu_id */
	sched_yield();
	return sched_getcpu() == cpu ? 0 : -1;
}

int nr_cpus_online(void)
{
	return get_nprocs();
}
