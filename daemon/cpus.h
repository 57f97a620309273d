/* SPDX-License-Identifier: MIT */
/*
 * cpus.h - the machine's CPUs as the daemon sees them: which are online
 * (kept current by the kernel's CPU hotplug uevents), which the daemon
 * itself may run on, and which a client process may run on.  Pools decide
 * from these where to keep reserves (place.h).
 */
#ifndef PCPUPOOLD_CPUS_H
#define PCPUPOOLD_CPUS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct event;

/* A set of CPU ids below the daemon's nr_cpus, one bit each. */
struct cpus_set {
	uint64_t w[64];              /* SLAB_MAX_CPUS bits */
};

struct cpus {
	uint32_t nr;                 /* CPU ids: 0 .. nr - 1 */
	struct cpus_set online;
	struct cpus_set own;         /* where the daemon may run (its cpuset) */
	uint64_t changes;            /* times the online set changed */
	uint32_t nr_nodes;           /* NUMA node ids: 0 .. nr_nodes - 1 */
	uint16_t node[4096];         /* each CPU's node (SLAB_MAX_CPUS) */
	int uevent_fd;               /* NETLINK_KOBJECT_UEVENT, or -1 */
	struct event *ev_uevent;
};

static inline void cpus_set_add(struct cpus_set *s, uint32_t cpu)
{
	s->w[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

static inline bool cpus_set_has(const struct cpus_set *s, uint32_t cpu)
{
	return s->w[cpu / 64] >> (cpu % 64) & 1;
}

int cpus_init(struct daemon *d);
void cpus_fini(struct daemon *d);
bool cpus_refresh(struct daemon *d);
bool cpus_online(const struct daemon *d, uint32_t cpu);
int cpus_of_process(const struct daemon *d, pid_t pid, struct cpus_set *ret);
uint32_t cpus_count(const struct cpus_set *s, uint32_t nr);
uint32_t cpus_node_of(const struct daemon *d, uint32_t cpu);
uint32_t cpus_nr_nodes(const struct daemon *d);

#endif
