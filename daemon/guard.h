/* SPDX-License-Identifier: MIT */
/*
 * guard.h - the daemon's defence against a pool's pages disappearing under
 * it.  A pool on hugepages lives on hugetlbfs, where any process holding
 * the memfd can give a page back to the kernel (a hole punched with
 * fallocate(), madvise(MADV_REMOVE)); the next touch of that page then
 * raises SIGBUS when no free hugepage is left to back it again.  No seal
 * forbids that short of forbidding writes, so the daemon survives it: its
 * SIGBUS handler puts a private page of zeros over the hole in the
 * daemon's own mapping, and the sweep quarantines the pool.
 */
#ifndef PCPUPOOLD_GUARD_H
#define PCPUPOOLD_GUARD_H

#include <stdbool.h>
#include <stddef.h>

int guard_init(void);
int guard_add(void *base, size_t len, size_t page);
void guard_remove(void *base);
bool guard_hit(void *base);

#endif
