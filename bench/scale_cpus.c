// SPDX-License-Identifier: MIT
/*
 * scale_cpus.c - preloaded into the pcpupoold that bench/scale --cpus N
 * starts: get_nprocs_conf() answers $SCALE_NR_CPUS, so that the daemon
 * lays out a slab per CPU for N possible CPUs of which this machine's are
 * the online ones, as on a machine whose firmware declares more CPUs than
 * it has online (CPU hotplug, many a cloud VM).  Everything else is the
 * machine's own: the daemon walks N slabs in real time.  Benchmark code
 * only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/sysinfo.h>

int get_nprocs_conf(void)
{
	const char *s = getenv("SCALE_NR_CPUS");
	int n = s ? atoi(s) : 0;
	int (*real)(void);

	if (n > 0)
		return n;
	real = (int (*)(void))dlsym(RTLD_NEXT, "get_nprocs_conf");
	return real ? real() : get_nprocs();
}
