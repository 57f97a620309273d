// SPDX-License-Identifier: MIT
/*
 * cpus.c - which CPUs are online, where the daemon and its clients may
 * run.
 *
 * The online set is read from sysfs at start and again whenever the kernel
 * announces a CPU going offline or online (a uevent of subsystem "cpu" on
 * a NETLINK_KOBJECT_UEVENT socket, on the event loop): nothing polls.
 * Where that socket cannot be had (a network namespace of its own, an
 * address family the service may not use), place.c rereads the set at
 * every placement pass instead, once a second at most.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <event2/event.h>

#include "cpus.h"
#include "slab.h"
#include "daemon.h"
#include "log.h"
#include "place.h"

#define CPUS_ONLINE_PATH "/sys/devices/system/cpu/online"
#define CPUS_NODE_DIR    "/sys/devices/system/node"
#define CPUS_MAX_NODES   64u

uint32_t cpus_count(const struct cpus_set *s, uint32_t nr)
{
	uint32_t n = 0;

	for (uint32_t c = 0; c < nr; c++)
		n += cpus_set_has(s, c);
	return n;
}

/* Parse a CPU list ("0-3,8,10-11") into @s, ids below @nr.  Return 0, or
 * -EINVAL for anything else. */
static int parse_list(const char *str, uint32_t nr, struct cpus_set *s)
{
	const char *p = str;

	memset(s, 0, sizeof(*s));
	while (*p && *p != '\n') {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;

		if (end == p || !isdigit((unsigned char)*p))
			return -EINVAL;
		p = end;
		if (*p == '-') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1 || b < a)
				return -EINVAL;
			p = end;
		}
		for (unsigned long c = a; c <= b && c < nr; c++)
			cpus_set_add(s, (uint32_t)c);
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return -EINVAL;
	}
	return 0;
}

/* The online set from sysfs; every CPU when it cannot be read. */
static void read_online(uint32_t nr, struct cpus_set *s)
{
	char buf[4096];
	FILE *f = fopen(CPUS_ONLINE_PATH, "re");
	bool ok = f && fgets(buf, sizeof(buf), f) && parse_list(buf, nr, s) == 0;

	if (f)
		fclose(f);
	if (!ok) {
		memset(s, 0, sizeof(*s));
		for (uint32_t c = 0; c < nr; c++)
			cpus_set_add(s, c);
	}
}

/* Each CPU's NUMA node from sysfs (node<k>/cpulist); one node where the
 * kernel has no NUMA.  Node ids past CPUS_MAX_NODES count as node 0. */
static void read_nodes(struct cpus *c)
{
	char path[96], buf[4096];

	c->nr_nodes = 1;
	memset(c->node, 0, sizeof(c->node));
	for (uint32_t k = 0; k < CPUS_MAX_NODES; k++) {
		struct cpus_set s;
		FILE *f;

		snprintf(path, sizeof(path), CPUS_NODE_DIR "/node%u/cpulist", k);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && parse_list(buf, c->nr, &s) == 0) {
			for (uint32_t cpu = 0; cpu < c->nr; cpu++)
				if (cpus_set_has(&s, cpu))
					c->node[cpu] = (uint16_t)k;
			if (k + 1 > c->nr_nodes)
				c->nr_nodes = k + 1;
		}
		fclose(f);
	}
}

uint32_t cpus_node_of(const struct daemon *d, uint32_t cpu)
{
	return d->cpus && cpu < d->cpus->nr ? d->cpus->node[cpu] : 0;
}

uint32_t cpus_nr_nodes(const struct daemon *d)
{
	return d->cpus ? d->cpus->nr_nodes : 1;
}

/* The CPUs thread @tid may run on, added to @s.  Return 0 or -errno. */
static int add_affinity(pid_t tid, uint32_t nr, struct cpus_set *s)
{
	cpu_set_t *m = CPU_ALLOC(nr);
	size_t sz = CPU_ALLOC_SIZE(nr);
	int r = 0;

	if (!m)
		return -ENOMEM;
	CPU_ZERO_S(sz, m);
	if (sched_getaffinity(tid, sz, m) < 0)
		r = -errno;
	else
		for (uint32_t c = 0; c < nr; c++)
			if (CPU_ISSET_S(c, sz, m))
				cpus_set_add(s, c);
	CPU_FREE(m);
	return r;
}

/**
 * cpus_of_process() - the CPUs any thread of process @pid may run on now
 * (its threads' affinity masks, which its cpuset bounds), online ones only.
 * @d: the daemon.
 * @pid: the process.
 * @ret: the set.
 *
 * Return: 0, or -ESRCH when the process is gone.
 */
int cpus_of_process(const struct daemon *d, pid_t pid, struct cpus_set *ret)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	int found = 0;

	memset(ret, 0, sizeof(*ret));
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir) {
		while ((de = readdir(dir))) {
			char *end;
			long tid = strtol(de->d_name, &end, 10);

			if (*end || tid <= 0)
				continue;
			if (add_affinity((pid_t)tid, d->cpus->nr, ret) == 0)
				found = 1;
		}
		closedir(dir);
	}
	if (!found && add_affinity(pid, d->cpus->nr, ret) < 0)
		return -ESRCH;
	for (uint32_t i = 0; i < sizeof(ret->w) / sizeof(ret->w[0]); i++)
		ret->w[i] &= d->cpus->online.w[i];
	return 0;
}

/* Whether @cpu is online (every CPU is, to a daemon without the topology:
 * a test's). */
bool cpus_online(const struct daemon *d, uint32_t cpu)
{
	return !d->cpus || (cpu < d->cpus->nr && cpus_set_has(&d->cpus->online, cpu));
}

/**
 * cpus_refresh() - read the online set again.
 * @d: the daemon.
 *
 * Return: true when it changed.
 */
bool cpus_refresh(struct daemon *d)
{
	struct cpus_set s;

	read_online(d->cpus->nr, &s);
	if (!memcmp(&s, &d->cpus->online, sizeof(s)))
		return false;
	d->cpus->online = s;
	d->cpus->changes++;
	log_info("CPUs online: %u of %u", cpus_count(&s, d->cpus->nr), d->cpus->nr);
	return true;
}

/* Whether one uevent message is about a CPU. */
static bool uevent_is_cpu(const char *msg, size_t len)
{
	for (size_t i = 0; i < len; i += strlen(msg + i) + 1)
		if (!strncmp(msg + i, "SUBSYSTEM=cpu", 14))
			return true;
	return false;
}

static void uevent_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	char buf[8192];
	bool cpu = false;
	ssize_t n;

	(void)what;
	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		cpu |= uevent_is_cpu(buf, (size_t)n);
	}
	/* the socket's buffer overflowed: events were lost, look anyway */
	if (n < 0 && errno == ENOBUFS)
		cpu = true;
	/* the message only says when to look: the set is sysfs's */
	if (cpu && cpus_refresh(d))
		place_topology_changed(d);
}

static int uevent_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			NETLINK_KOBJECT_UEVENT);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/**
 * cpus_init() - learn the CPUs and start listening for hotplug.
 * @d: the daemon, its nr_cpus and event base set.
 *
 * Return: 0 or -ENOMEM.
 */
int cpus_init(struct daemon *d)
{
	struct cpus *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	d->cpus = c;
	c->nr = d->nr_cpus < SLAB_MAX_CPUS ? d->nr_cpus : SLAB_MAX_CPUS;
	c->uevent_fd = -1;
	read_online(c->nr, &c->online);
	read_nodes(c);
	if (add_affinity(0, c->nr, &c->own) < 0)
		c->own = c->online;
	int fd = uevent_open();

	if (fd >= 0) {
		c->ev_uevent = event_new(d->base, fd, EV_READ | EV_PERSIST, uevent_cb, d);
		if (!c->ev_uevent || event_add(c->ev_uevent, NULL) < 0) {
			if (c->ev_uevent)
				event_free(c->ev_uevent);
			c->ev_uevent = NULL;
			close(fd);
			fd = -1;
		}
	}
	c->uevent_fd = fd;
	if (fd < 0)
		log_info("no CPU hotplug events (%s): the online CPUs are read at each "
			 "placement pass", strerror(-fd));
	log_info("CPUs: %u configured, %u online, the daemon may run on %u; %u NUMA node(s)",
		 c->nr, cpus_count(&c->online, c->nr), cpus_count(&c->own, c->nr), c->nr_nodes);
	return 0;
}

void cpus_fini(struct daemon *d)
{
	struct cpus *c = d->cpus;

	if (!c)
		return;
	if (c->ev_uevent)
		event_free(c->ev_uevent);
	if (c->uevent_fd >= 0)
		close(c->uevent_fd);
	free(c);
	d->cpus = NULL;
}
