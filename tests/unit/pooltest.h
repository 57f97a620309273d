/* SPDX-License-Identifier: MIT */
/*
 * pooltest.h - helpers the slab-core tests share (compiled once, in
 * pooltest.c): make a pool in a memfd (as CMocka setup and teardown too),
 * pin the calling thread.  Test code only.
 */
#ifndef PCPUPOOL_POOLTEST_H
#define PCPUPOOL_POOLTEST_H

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "slab.h"

struct testpool {
	int fd;
	void *base;
	struct slab_hdr layout;
	struct slab_view v;
};

/* Create, back and map a pool of @max elements, all published, with
 * slabs for CPUs 0..@nr_cpus-1. */
int testpool_make_cpus(struct testpool *tp, uint32_t nr_cpus, uint32_t cap, uint64_t size,
		       uint64_t align, uint64_t max);
/* ... with a slab for every configured CPU */
int testpool_make(struct testpool *tp, uint32_t cap, uint64_t size, uint64_t align,
		  uint64_t max);
void testpool_free(struct testpool *tp);
/* CMocka setup and teardown around testpool_make() / testpool_free(). */
int testpool_setup(void **state, uint32_t cap, uint64_t size, uint64_t align, uint64_t max);
int testpool_teardown(void **state);
/* Pin the calling thread to @cpu and make sure it runs there: 0 or -1. */
int pin_to_cpu(int cpu);
int nr_cpus_online(void);

#endif
