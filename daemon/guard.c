// SPDX-License-Identifier: MIT
/*
 * guard.c - survive SIGBUS on a pool's mapping (guard.h).
 *
 * The handler may run in the middle of any daemon code, so it reads only a
 * fixed table of ranges whose entries are published whole (the range's
 * length last, with a release store) and written only by the event loop.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "guard.h"
#include "protocol.h"

struct guard_range {
	_Atomic uintptr_t base;
	_Atomic size_t len;           /* 0: a free entry */
	size_t page;                  /* the file's page size */
	atomic_int hit;               /* the handler replaced a page here */
};

static struct guard_range ranges[PCP_MAX_POOLS];

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	(void)uc;
	/* only the kernel's own (a fault), not one sent with kill() */
	for (size_t i = 0; si->si_code > 0 && i < PCP_MAX_POOLS; i++) {
		size_t len = atomic_load_explicit(&ranges[i].len, memory_order_acquire);
		uintptr_t b = atomic_load_explicit(&ranges[i].base, memory_order_relaxed);

		if (!len || a < b || a - b >= len)
			continue;
		uintptr_t pg = b + (a - b) / ranges[i].page * ranges[i].page;

		/* zeros where the page was: the faulting access then reads
		 * zeros, which the daemon's checks treat as corruption */
		if (mmap((void *)pg, ranges[i].page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
			atomic_store_explicit(&ranges[i].hit, 1, memory_order_relaxed);
			return;
		}
		break;
	}
	/* not a pool's page: a bug of the daemon's own; die of it */
	signal(sig, SIG_DFL);
	raise(sig);
}

/**
 * guard_init() - install the SIGBUS handler.
 *
 * Return: 0 or -errno.
 */
int guard_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

/**
 * guard_add() - watch a pool's mapping.
 * @base: where the daemon mapped it.
 * @len: its length.
 * @page: the file's page size.
 *
 * Return: 0, or -ENOSPC when the table is full.
 */
int guard_add(void *base, size_t len, size_t page)
{
	for (size_t i = 0; i < PCP_MAX_POOLS; i++)
		if (!atomic_load_explicit(&ranges[i].len, memory_order_relaxed)) {
			atomic_store_explicit(&ranges[i].base, (uintptr_t)base,
					      memory_order_relaxed);
			ranges[i].page = page;
			atomic_store_explicit(&ranges[i].hit, 0, memory_order_relaxed);
			atomic_store_explicit(&ranges[i].len, len, memory_order_release);
			return 0;
		}
	return -ENOSPC;
}

static struct guard_range *find(void *base)
{
	for (size_t i = 0; i < PCP_MAX_POOLS; i++)
		if (atomic_load_explicit(&ranges[i].len, memory_order_relaxed) &&
		    atomic_load_explicit(&ranges[i].base, memory_order_relaxed) == (uintptr_t)base)
			return &ranges[i];
	return NULL;
}

/* Stop watching the mapping at @base (before it is unmapped). */
void guard_remove(void *base)
{
	struct guard_range *r = find(base);

	if (r)
		atomic_store_explicit(&r->len, 0, memory_order_release);
}

/* Whether the handler replaced a page of the mapping at @base. */
bool guard_hit(void *base)
{
	struct guard_range *r = find(base);

	return r && atomic_load_explicit(&r->hit, memory_order_relaxed);
}
