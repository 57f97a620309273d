// SPDX-License-Identifier: MIT
/*
 * shm.c - a pool's shared memory: one memfd, on tmpfs or (a pool on
 * hugepages) on hugetlbfs, sealed against shrinking and mapped by the
 * daemon; and whether a client gave pages of a hugetlbfs file back.
 */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "depot.h"
#include "guard.h"
#include "log.h"
#include "pool.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)   /* linux/memfd.h: log2(2 MiB) << MFD_HUGE_SHIFT */
#endif

#define SHM_ZERO_CHUNK (UINT64_C(128) << 20)  /* bytes of hugepages allocated
					       * between two watchdog pings */

/* Hugepages of @size bytes the kernel can still reserve (free ones not
 * reserved yet), or -1 when sysfs does not say. */
static long huge_pages_available(uint32_t size)
{
	static const char *const what[2] = { "free_hugepages", "resv_hugepages" };
	long n[2] = { -1, -1 };
	char path[96];

	for (int i = 0; i < 2; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%ukB/%s",
			 size / 1024, what[i]);
		f = fopen(path, "re");
		if (!f || fscanf(f, "%ld", &n[i]) != 1)
			n[i] = -1;
		if (f)
			fclose(f);
	}
	return n[0] < 0 || n[1] < 0 ? -1 : n[0] > n[1] ? n[0] - n[1] : 0;
}

/* A pool on hugepages: reserve and allocate every page of its file now.
 * The daemon's shared mapping reserves them all (for the file: any
 * process's mapping of it later needs none of its own), and fails at once
 * when not enough are free; fallocate() then allocates and zeroes each
 * one, so that no page fault, in any process, ever allocates a page of
 * the pool: none can fail with SIGBUS later, not even one that the
 * faulting process's memory policy, cpuset or hugetlb cgroup limit would
 * have refused (a reservation does not account for those).  That costs
 * the time to zero the pool's memory, here, once: in chunks, with a
 * watchdog ping after each when @watchdog, so that systemd does not take
 * a large pool's zeroing for a stuck event loop. */
/* Bind the element area to the NUMA nodes (depot.h), before any of its
 * pages is allocated: best effort, a pool without it works. */
static void bind_nodes(struct pool *p, const struct slab_hdr *layout, uint32_t nr_nodes)
{
	int r = depot_bind((char *)p->base + layout->elems_off,
			   layout->map_size - layout->elems_off, nr_nodes);

	if (r < 0)
		log_warning("pool %s: cannot bind its elements to their NUMA nodes: %s",
			    layout->name, strerror(-r));
}

static int create_huge(struct pool *p, const struct slab_hdr *layout, uint32_t nr_nodes,
		       bool watchdog,
			    char *err, size_t errlen)
{
	uint64_t need = layout->map_size / layout->huge_page_size, off = 0;
	int r;

	p->base = mmap(NULL, layout->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
	p->map_len = layout->map_size;
	if (p->base == MAP_FAILED) {
		long avail = huge_pages_available(layout->huge_page_size);

		r = -errno;
		/* ENOMEM with the pages there: a hugetlb cgroup's limit, or
		 * the address space */
		if (r != -ENOMEM || (avail >= 0 && (uint64_t)avail >= need))
			snprintf(err, errlen, "cannot reserve the pool's %llu hugepages: %s",
				 (unsigned long long)need, strerror(-r));
		else if (avail >= 0)
			snprintf(err, errlen, "not enough free 2 MiB hugepages: pool needs %llu, "
				 "%ld free (see /proc/sys/vm/nr_hugepages)",
				 (unsigned long long)need, avail);
		else
			snprintf(err, errlen, "not enough free 2 MiB hugepages: pool needs %llu "
				 "(see /proc/sys/vm/nr_hugepages)", (unsigned long long)need);
		return r;
	}
	bind_nodes(p, layout, nr_nodes);
	while (off < layout->map_size) {
		uint64_t n = layout->map_size - off;

		if (n > SHM_ZERO_CHUNK)
			n = SHM_ZERO_CHUNK;
		if (fallocate(p->memfd, 0, (off_t)off, (off_t)n) < 0) {
			/* a signal interrupts it; what it allocated stays */
			if (errno == EINTR)
				continue;
			r = -errno;
			snprintf(err, errlen, "cannot allocate the pool's %llu hugepages: %s",
				 (unsigned long long)need, strerror(-r));
			munmap(p->base, layout->map_size);
			p->base = MAP_FAILED;
			return r;
		}
		off += n;
		if (watchdog)
			sd_notify(0, "WATCHDOG=1");
	}
	/* a client may punch a hole in the file later: guard.h */
	if (guard_add(p->base, layout->map_size, layout->huge_page_size) < 0)
		log_warning("pool %s: too many hugepage pools to guard", layout->name);
	return 0;
}

/**
 * shm_create() - a new pool's memory: its memfd (p->memfd),
 * @layout->map_size bytes long, sealed against shrinking, mapped at
 * p->base; on hugepages when @layout says so.
 * @p: the pool being created.
 * @layout: its header as it will be formatted.
 * @nr_nodes: NUMA nodes to deal the element area to (depot.h), before any
 *            of its pages is allocated.
 * @watchdog: systemd's watchdog is on (pinged while hugepages are zeroed).
 * @err: receives the reason on failure (the caller disposes of @p).
 * @errlen: size of @err.
 *
 * Return: 0 or -errno.
 */
int shm_create(struct pool *p, const struct slab_hdr *layout, uint32_t nr_nodes, bool watchdog,
		       char *err, size_t errlen)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	char mname[PCP_NAME_MAX + 16];
	int r;

	if (layout->huge_page_size)
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	snprintf(mname, sizeof(mname), "pcpupool:%s", p->cfg.name);
	p->memfd = memfd_create(mname, flags | MFD_NOEXEC_SEAL);
	if (p->memfd < 0 && errno == EINVAL)   /* kernel before 6.3 */
		p->memfd = memfd_create(mname, flags);
	if (p->memfd < 0) {
		if (layout->huge_page_size && (errno == EINVAL || errno == ENOENT ||
					       errno == ENODEV)) {
			snprintf(err, errlen, "this kernel has no 2 MiB hugepages for a memfd "
				 "(%s)", strerror(errno));
			return -EINVAL;
		}
		goto sys_fail;
	}
	/* The file is the whole mapping from the start, sparse (tmpfs backs a
	 * page when it is first touched; hugepages are all allocated below):
	 * an offset a corrupt slab hands out past the published elements then
	 * reads zeros instead of raising SIGBUS in the client that touches it.
	 * refill_grow() only publishes. */
	if (ftruncate(p->memfd, (off_t)layout->map_size) < 0)
		goto sys_fail;
	/* nobody may shrink the file under a mapping: a client touching a
	 * page past EOF would take SIGBUS */
	if (fcntl(p->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		goto sys_fail;
	if (layout->huge_page_size)
		return create_huge(p, layout, nr_nodes, watchdog, err, errlen);
	p->base = mmap(NULL, layout->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
	p->map_len = layout->map_size;
	if (p->base == MAP_FAILED)
		goto sys_fail;
	bind_nodes(p, layout, nr_nodes);
	return 0;
sys_fail:
	r = -errno;
	snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

/* Whether a client gave pages of a hugepage pool's file back to the
 * kernel (its blocks no longer cover it, or the daemon met a hole). */
bool shm_pages_released(struct pool *p)
{
	struct stat st;

	if (guard_hit(p->base))
		return true;
	return fstat(p->memfd, &st) == 0 && (uint64_t)st.st_blocks * 512 < p->v.map_size;
}

