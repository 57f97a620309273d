// SPDX-License-Identifier: MIT
/*
 * slab_client.c - what a client does past the hit path: alloc when the
 * slab is empty (inbox, spare, stealing), free when it is full (spill), and
 * the refill request when a reserve crosses its low watermark.
 * The design, invariants and memory-order pairings of the slab core are
 * described at the top of slab.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab_impl.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


/* ------------------------------------------------------------------ */
/* client slow paths                                                   */

/**
 * slab_current_cpu() - the slab index for the calling thread.
 * @v: pool view.
 *
 * rseq's cpu_id where registered, else sched_getcpu() (vDSO), folded into
 * the pool's CPU range.
 *
 * Context: async-signal-safe.
 * Return: a slab index below v->nr_cpus.
 */
int slab_current_cpu(const struct slab_view *v)
{
	int cpu = -1;

#ifdef SLAB_HAVE_RSEQ
	if (v->rseq_cpus) {
		/* struct rseq's cpu_id, at thread pointer + __rseq_offset */
		uint32_t id;
		__asm__ __volatile__("movl %%fs:4(%1), %0" : "=r"(id) : "r"(v->rseq_off));
		cpu = (int)id;
	}
#endif
	if (cpu < 0)
		cpu = sched_getcpu();
	if (cpu < 0)
		cpu = 0;
	return (int)((uint32_t)cpu % v->nr_cpus);
}

static int slab_index(const struct slab_view *v, const struct slab *s)
{
	return (int)(((const char *)s - v->slabs) / v->slab_stride);
}

/* The clock requests are timed with: CLOCK_MONOTONIC, which the vDSO
 * reads with no system call where the kernel's clocksource is one it can
 * read (the TSC, kvm-clock, the arm64 counter, ...).  Where it cannot
 * (hpet, acpi_pm: a TSC the kernel found unstable, usual under emulation)
 * clock_gettime(CLOCK_MONOTONIC) is a system call, and a client times its
 * requests with CLOCK_MONOTONIC_COARSE, which the vDSO always serves: at
 * most a tick behind, which only makes a refill look that much slower in
 * the stats.  The daemon keeps CLOCK_MONOTONIC. */
static atomic_int slab_clock = CLOCK_MONOTONIC;

/**
 * slab_clock_init() - choose the clock a client times its requests with.
 *
 * Context: once per process, before its first pool (not signal-safe).
 */
void slab_clock_init(void)
{
	static const char *const slow[] = { "hpet", "acpi_pm", "jiffies", "refined-jiffies",
					    "pit" };
	char name[64] = "";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource",
			"re");

	if (!f)
		return;
	if (fgets(name, sizeof(name), f))
		name[strcspn(name, "\n")] = '\0';
	fclose(f);
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++)
		if (!strcmp(name, slow[i]))
			atomic_store_explicit(&slab_clock, CLOCK_MONOTONIC_COARSE,
					      memory_order_relaxed);
}

/* The request clock in ns (CLOCK_MONOTONIC in the daemon). */
uint64_t slab_now_ns(void)
{
	struct timespec ts;

	/* vDSO: no syscall, signal-safe */
	clock_gettime(atomic_load_explicit(&slab_clock, memory_order_relaxed), &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Raise @s's request flag for a message: true if the caller sends it,
 * false if one is already on its way (coalesced).  A flag raised quietly
 * (slab_request_quiet()) is taken over: the reserve needs more than the
 * poll's pace now. */
static bool slab_request(const struct slab_view *v, struct slab *s)
{
	(void)v;
	/* seq_cst: orders this exchange after the level we read and before
	 * the request; pairs with the daemon's store of 0 in
	 * slab_claim_request(), which it makes before reading levels */
	uint32_t old = atomic_exchange_explicit(&s->refill_pending, SLAB_REQ_SENT,
						memory_order_seq_cst);

	if (old == SLAB_REQ_SENT) {
		atomic_fetch_add_explicit(&s->refill_coalesced, 1, memory_order_relaxed);
		return false;
	}
	if (old == 0)
		atomic_store_explicit(&s->pending_since_ns, slab_now_ns(), memory_order_relaxed);
	atomic_fetch_add_explicit(&s->refill_requests, 1, memory_order_relaxed);
	return true;
}

/* A request the spare has already covered: raise the flag quietly, and
 * send nothing while the daemon polls the flags.  True if the caller
 * must send after all (the daemon does not poll).
 *
 * The daemon stops polling by storing 0 and then reading every flag
 * (slab_poll_set(), slab_request_raised()); this side raises the flag and
 * then reads polling, both seq_cst, so at least one of the two sees the
 * other and no request is left unserved. */
static bool slab_request_quiet(const struct slab_view *v, struct slab *s)
{
	uint32_t none = 0;

	if (!atomic_compare_exchange_strong_explicit(&s->refill_pending, &none, SLAB_REQ_QUIET,
						     memory_order_seq_cst,
						     memory_order_relaxed)) {
		atomic_fetch_add_explicit(&s->refill_coalesced, 1, memory_order_relaxed);
		return false;
	}
	atomic_store_explicit(&s->pending_since_ns, slab_now_ns(), memory_order_relaxed);
	if (atomic_load_explicit(&v->hdr->polling, memory_order_seq_cst)) {
		atomic_fetch_add_explicit(&s->refill_quiet, 1, memory_order_relaxed);
		return false;
	}
	return slab_request(v, s);
}

/**
 * slab_low_check() - a pop left @left elements in @s, below its low
 * watermark: decide whether this caller sends the refill request.
 * @v: pool view.
 * @s: the slab.
 * @left: its count after the pop.
 *
 * Context: async-signal-safe, lock-free.
 * Return: the CPU to request a refill for, or -1 (inbox still holds a
 * reserve, or a request is already pending).
 */
int slab_low_check(const struct slab_view *v, struct slab *s, uint32_t left)
{
	if (left >= s->low ||
	    slab_list_len(atomic_load_explicit(&s->inbox, memory_order_relaxed)))
		return -1;
	return slab_low_refill(v, (uint32_t)slab_index(v, s), left);
}

/* Move the whole spare list onto CPU @c's inbox: one exchange takes it,
 * and it goes onto the inbox as it is (the inbox is empty when a reserve
 * crosses its watermark, so that is one more exchange; else the inbox's
 * chain is walked and put in front).  Nothing walks the spare here: the
 * inbox's taker checks it.  Off both lists it belongs to nobody for those
 * few instructions, like any list in a take (see "Ownership" in slab.h).
 * Return: how many. */
static uint32_t take_spare(const struct slab_view *v, uint32_t c)
{
	uint32_t nodes = atomic_load_explicit(&v->hdr->nr_nodes, memory_order_relaxed);
	uint32_t node = __atomic_load_n(&slab_of(v, c)->node, __ATOMIC_RELAXED);
	_Atomic uint64_t *spare = NULL;
	uint64_t w;

	if (nodes == 0 || nodes > SLAB_MAX_NODES)
		nodes = 1;
	/* the CPU's node's spare, else the first other one not empty */
	for (uint32_t i = 0; i < nodes && !spare; i++) {
		_Atomic uint64_t *s = slab_spare(v, (node + i) % nodes);

		if (slab_list_len(atomic_load_explicit(s, memory_order_relaxed)))
			spare = s;
	}
	if (!spare)
		return 0;
	w = slab_list_take_word(v, spare);
	if (slab_list_len(w) == 0)
		return 0;
	slab_chain_put_back(v, &slab_of(v, c)->inbox, slab_list_head(w), slab_list_len(w));
	atomic_fetch_add_explicit(&slab_of(v, c)->from_spare, slab_list_len(w),
				  memory_order_relaxed);
	return slab_list_len(w);
}

/**
 * slab_low_refill() - CPU @c's reserve is down to @level, under its low
 * watermark: refill it from the spare at once (all of it: up to min_nr
 * elements), and raise the CPU's request so the daemon restocks the spare
 * (and covers whatever the spare could not).
 * @v: pool view.
 * @c: slab index.
 * @level: the reserve's level.
 *
 * When the spare brought the reserve back to its watermark, the request
 * is raised quietly: while the daemon polls, its next poll serves it and
 * nothing is sent.
 *
 * Context: async-signal-safe, lock-free, no syscall.
 * Return: @c if the caller must send the request, -1 if one is pending or
 * left to the daemon's poll.
 */
int slab_low_refill(const struct slab_view *v, uint32_t c, uint32_t level)
{
	uint32_t min_nr = atomic_load_explicit(&v->hdr->min_nr, memory_order_relaxed);
	struct slab *s = slab_of(v, c);
	uint32_t got = 0;

	if (min_nr > level)
		got = take_spare(v, c);
	if (got && level + got >= __atomic_load_n(&s->low, __ATOMIC_RELAXED))
		return slab_request_quiet(v, s) ? (int)c : -1;
	return slab_request(v, s) ? (int)c : -1;
}

/* Splice buf[0..n) (element indices) into the current CPU's slab; what
 * does not fit stays in buf (as indices) from the returned count on. */
static uint32_t splice_indices(const struct slab_view *v, uint32_t *buf, uint32_t n,
			       struct slab **ret_slab)
{
	uint32_t k;

	for (uint32_t i = 0; i < n; i++)
		buf[i] = slab_off_of(v, buf[i]);
	slab_tsan_release(v);
	k = slab_rseq_splice(v, buf, n, ret_slab);
	for (uint32_t i = k; i < n; i++)
		buf[i] /= v->elem_stride;
	if (k)
		atomic_fetch_add_explicit(&(*ret_slab)->spliced, k, memory_order_relaxed);
	return k;
}

/* Take the inbox of slab @c; hand out the first element, splice the rest
 * into the current CPU's slab (rseq) or put it back. */
static uint32_t take_from_inbox(const struct slab_view *v, uint32_t c, bool use_rseq,
				int *refill_cpu)
{
	struct slab *victim = slab_of(v, c);
	uint32_t buf[SLAB_BATCH_MAX], n = 0, k = 0;
	struct slab *s = NULL;

	if (slab_list_len(atomic_load_explicit(&victim->inbox, memory_order_relaxed)) == 0)
		return SLAB_NIL;
	if (slab_list_take(v, &victim->inbox, buf, use_rseq ? SLAB_BATCH_MAX : 1, &n) < 0 ||
	    n == 0)
		return SLAB_NIL;
	atomic_store_explicit(&v->meta[buf[0]].owner, v->owner, memory_order_relaxed);
	if (n > 1 && use_rseq)
		k = splice_indices(v, buf + 1, n - 1, &s);
	if (1 + k < n)
		slab_list_push(v, &victim->inbox, buf + 1 + k, n - 1 - k);
	/* what is left on the CPU we drew from */
	if (s) {
		uint64_t cw = __atomic_load_n(&s->cw, __ATOMIC_RELAXED);
		int r = slab_low_check(v, s, SLAB_CW_COUNT(cw));

		if (r >= 0)
			*refill_cpu = r;
	} else if (!use_rseq) {
		uint64_t w = atomic_load_explicit(&victim->inbox, memory_order_relaxed);
		int r = slab_list_len(w) < victim->low ? slab_low_refill(v, c, slab_list_len(w)) : -1;

		if (r >= 0)
			*refill_cpu = r;
	}
	return buf[0];
}

/**
 * slab_alloc_slow() - an element when the hit path could not give one: pop
 * whatever the current CPU's slab holds (asking for a refill when that
 * takes it under its low watermark), else its inbox, else the other CPUs'
 * inboxes.
 * @v: pool view.
 *
 * Context: async-signal-safe, lock-free, no syscall, never blocks.
 * Return: .idx the element or SLAB_NIL when every reserve it can reach is
 * empty; .refill_cpu the CPU whose refill the caller should request, or -1.
 */
struct slab_alloc_res slab_alloc_slow(const struct slab_view *v)
{
	struct slab_alloc_res r = { SLAB_NIL, -1 };
	uint32_t idx = SLAB_NIL, left = 0;
	struct slab *s;
	int st;

	/* every discarded slot shortens the slab, so at most a slab's worth
	 * are dropped, unless a process keeps rewriting the count: then the
	 * slab is as good as empty */
	st = slab_rseq_pop(v, &idx, &left, &s);
	for (uint32_t i = 0; st == SLAB_POP_DISCARDED && i <= v->slab_cap; i++)
		st = slab_rseq_pop(v, &idx, &left, &s);
	if (st == SLAB_POP_DISCARDED)
		st = SLAB_POP_EMPTY;
	if (st == SLAB_POP_OK) {
		slab_tsan_acquire(v);
		r.idx = idx;
		if (left < s->low)
			r.refill_cpu = slab_low_check(v, s, left);
		return r;
	}

	bool use_rseq = st == SLAB_POP_EMPTY;
	uint32_t cpu = (uint32_t)slab_current_cpu(v);

	r.idx = take_from_inbox(v, cpu, use_rseq, &r.refill_cpu);
	if (r.idx == SLAB_NIL) {
		/* the reserve is dry: the spare refills it before anything is
		 * stolen from the other CPUs */
		int rc = slab_low_refill(v, cpu, 0);

		if (rc >= 0)
			r.refill_cpu = rc;
		r.idx = take_from_inbox(v, cpu, use_rseq, &r.refill_cpu);
	}
	/* steal: from the CPUs of this CPU's NUMA node first, then the rest */
	uint32_t node = __atomic_load_n(&slab_of(v, cpu)->node, __ATOMIC_RELAXED);

	for (uint32_t pass = 0; pass < 2 && r.idx == SLAB_NIL; pass++)
		for (uint32_t i = 1; i < v->nr_cpus && r.idx == SLAB_NIL; i++) {
			uint32_t c = (cpu + i) % v->nr_cpus;
			bool near = __atomic_load_n(&slab_of(v, c)->node, __ATOMIC_RELAXED) == node;

			if (near != (pass == 0))
				continue;
			r.idx = take_from_inbox(v, c, use_rseq, &r.refill_cpu);
			if (r.idx != SLAB_NIL)
				atomic_fetch_add_explicit(&slab_of(v, c)->steals, 1,
							  memory_order_relaxed);
		}
	if (r.idx == SLAB_NIL) {
		/* every reachable reserve is dry: count the miss and make sure
		 * our CPU's refill is on its way (coalesced like any other) */
		s = slab_of(v, cpu);
		atomic_fetch_add_explicit(&s->misses, 1, memory_order_relaxed);
		if (r.refill_cpu < 0 && slab_request(v, s))
			r.refill_cpu = (int)cpu;
	}
	return r;
}

/**
 * slab_free_slow() - free when the hit path could not: spill the top of a
 * full slab to its outbox, then push; or, without rseq, push onto the
 * current CPU's inbox.
 * @v: pool view.
 * @idx: the element (checked: anything else is dropped).
 *
 * Context: async-signal-safe, lock-free, no syscall; never fails.
 */
void slab_free_slow(const struct slab_view *v, uint32_t idx)
{
	uint32_t buf[SLAB_BATCH_MAX];
	struct slab *s = NULL;
	uint32_t k;

	if (idx >= v->max_elems)
		return;  /* not ours: dropping it is all that is safe */
	k = slab_rseq_spill(v, buf, SLAB_BATCH_MAX, &s);
	if (!s) {
		/* no rseq here: the lists alone */
		slab_list_push(v, &slab_of(v, (uint32_t)slab_current_cpu(v))->inbox, &idx, 1);
		return;
	}
	slab_tsan_acquire(v);
	if (k) {
		uint32_t n = 0;

		atomic_fetch_add_explicit(&s->spilled, k, memory_order_relaxed);
		for (uint32_t i = 0; i < k; i++) {
			uint32_t e = slab_idx_of_off(v, buf[i]);

			if (e != SLAB_NIL)
				buf[n++] = e;
		}
		if (n)
			slab_list_push(v, &s->outbox, buf, n);
	}
	slab_tsan_release(v);
	if (slab_hit_push(v, slab_elem(v, idx), slab_off_of(v, idx)))
		return;
	/* limit 0 (trimmed to nothing), or migrated onto a full slab or off
	 * rseq: the element goes back to the daemon directly */
	slab_list_push(v, &s->outbox, &idx, 1);
}
