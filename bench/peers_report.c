// SPDX-License-Identifier: MIT
/*
 * peers_report.c - what bench_peers prints: the figures of each cell
 * (medians of the samples, percentiles of the batches), the table against
 * pcpupool, the targets pcpupool is held to, the noise the run saw and the
 * checks of every competitor's elements.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peers.h"

#include <stdio.h>
#include <string.h>

double report_op_ns(const struct bench *b, double cycles)
{
	return cycles / PEERS_BATCH * 1e9 / b->hz;
}

struct cellrep report_cell(const struct bench *b, int p, int c)
{
	const struct prun *r = &b->run[p];
	const struct pcell *cl = &r->cell[c];
	struct cellrep cr = { .valid = false };

	if (r->state != PRUN_DONE || !cl->enabled || !cl->n)
		return cr;
	cr.wns = bench_stats_of(cl->wns, cl->n);
	cr.wmps = bench_stats_of(cl->wmps, cl->n);
	cr.wall = !cl->rn;
	cr.ns = cr.wall ? cr.wns : bench_stats_of(cl->ns, cl->rn);
	cr.mps = cr.wall ? cr.wmps : bench_stats_of(cl->mps, cl->rn);
	cr.valid = cr.ns.valid && cr.mps.valid && cr.wns.valid && cr.wmps.valid;
	if (cl->ha && cl->ha->n) {
		cr.a50 = report_op_ns(b, hist_quantile(cl->ha, 0.50));
		cr.a90 = report_op_ns(b, hist_quantile(cl->ha, 0.90));
		cr.a99 = report_op_ns(b, hist_quantile(cl->ha, 0.99));
		cr.a999 = report_op_ns(b, hist_quantile(cl->ha, 0.999));
		cr.amax = report_op_ns(b, (double)cl->ha->max);
		cr.batches = cl->ha->n;
	}
	if (cl->hf && cl->hf->n) {
		cr.f50 = report_op_ns(b, hist_quantile(cl->hf, 0.50));
		cr.f99 = report_op_ns(b, hist_quantile(cl->hf, 0.99));
		cr.f999 = report_op_ns(b, hist_quantile(cl->hf, 0.999));
		cr.fmax = report_op_ns(b, (double)cl->hf->max);
	}
	return cr;
}

static const char *fmt_ns(char *buf, size_t sz, double x)
{
	if (x < 10)
		snprintf(buf, sz, "%.2f", x);
	else if (x < 1000)
		snprintf(buf, sz, "%.1f", x);
	else
		snprintf(buf, sz, "%.0f", x);
	return buf;
}

const char *report_threads_word(int n)
{
	return n == 1 ? "thread" : "threads";
}

void report_table(const struct bench *b)
{
	struct cellrep base[PEERS_NR_CELLS];
	char x[6][32], pair[40];
	bool any_wall = false;

	for (int c = 0; c < PEERS_NR_CELLS; c++)
		base[c] = report_cell(b, PEER_PCPUPOOL, c);

	printf("%-27s %5s %3s %8s %7s %9s | %s\n", "", "", "", "pair", "vs", "aggr.",
	       "one alloc, ns (batches of 64)");
	printf("%-27s %5s %3s %8s %7s %9s | %7s %7s %7s %8s\n", "competitor", "size", "thr",
	       "ns", "pcpu", "Mpairs/s", "p50", "p99", "p99.9", "max");
	for (int c = 0; c < PEERS_NR_CELLS; c++) {
		int si = c / PEERS_NR_TCOUNTS, ti = c % PEERS_NR_TCOUNTS;
		bool any = false;

		if (ti && b->tcount[1] == 1)
			continue;   /* one CPU: no second thread count */
		printf("\n");
		for (int p = 0; p < NR_PEERS; p++) {
			const struct prun *r = &b->run[p];
			struct cellrep cr;
			char ratio[16];

			if (r->state == PRUN_OFF)
				continue;
			any = true;
			cr = report_cell(b, p, c);
			if (!cr.valid) {
				printf("%-27s %5zu %3d %s\n", peer_list[p]->label, peer_sizes[si],
				       b->tcount[ti], r->state == PRUN_UNAVAILABLE ? "unavailable"
				       : "failed");
				continue;
			}
			bench_fmt_ratio(ratio, sizeof(ratio), base[c].valid, cr.ns.med,
					base[c].ns.med);
			snprintf(pair, sizeof(pair), "%s%s", fmt_ns(x[0], sizeof(x[0]), cr.ns.med),
				 cr.wall ? "*" : "");
			any_wall |= cr.wall;
			printf("%-27s %5zu %3d %8s %7s %9.1f | %7s %7s %7s %8s\n",
			       peer_list[p]->label, peer_sizes[si], b->tcount[ti],
			       pair, ratio, cr.mps.med,
			       fmt_ns(x[1], sizeof(x[1]), cr.a50),
			       fmt_ns(x[2], sizeof(x[2]), cr.a99),
			       fmt_ns(x[3], sizeof(x[3]), cr.a999),
			       fmt_ns(x[4], sizeof(x[4]), cr.amax));
		}
		if (!any)
			break;
	}
	if (any_wall)
		printf("\n* the threads seldom ran at the same time (other processes on these "
		       "CPUs): wall-clock figure,\n  preemption included\n");
	for (int p = 0; p < NR_PEERS; p++) {
		const struct prun *r = &b->run[p];

		if (r->state == PRUN_UNAVAILABLE)
			printf("\n%s unavailable: %s", peer_list[p]->name, r->why);
		else if (r->state == PRUN_FAILED)
			printf("\n%s failed: %s", peer_list[p]->name, r->why);
	}
	printf("\n");
}

/* Target @what: the median pair of @ours at most TARGET_FLOOR_RATIO times
 * that of @floor, in the same cell. */
static void floor_target(struct target *t, const char *what, size_t size, int threads,
			 const struct cellrep *ours, const struct cellrep *floor)
{
	*t = (struct target){
		.what = what, .size = size, .threads = threads,
		.limit = TARGET_FLOOR_RATIO, .le = true,
		.valid = ours->valid && floor->valid && floor->ns.med > 0,
	};
	if (t->valid) {
		t->value = ours->ns.med / floor->ns.med;
		snprintf(t->note, sizeof(t->note), "%.2f ns vs %.2f ns", ours->ns.med,
			 floor->ns.med);
	}
}

int report_targets(const struct bench *b, struct target *t)
{
	int n = 0;

	for (int si = 0; si < PEERS_NR_SIZES; si++) {
		for (int ti = 0; ti < PEERS_NR_TCOUNTS; ti++) {
			int c = peers_cell_index((uint32_t)si, (uint32_t)ti);
			struct cellrep pc = report_cell(b, PEER_PCPUPOOL, c);
			struct cellrep fl = report_cell(b, PEER_RSEQ, c);
			struct cellrep lc = report_cell(b, PEER_PCPUPOOL_CALL, c);
			struct cellrep flc = report_cell(b, PEER_RSEQ_CALL, c);
			double best = 0;
			int best_p = -1;

			if (ti && b->tcount[1] == 1)
				continue;
			floor_target(&t[n++], "pair <= 1.5x the rseq per-CPU floor",
				     peer_sizes[si], b->tcount[ti], &pc, &fl);
			/* the same behind a call: the library's functions against
			 * the floor's, both through a function pointer */
			floor_target(&t[n++], "  behind a call: library / floor",
				     peer_sizes[si], b->tcount[ti], &lc, &flc);

			/* the fastest peer: ratio pcpupool / peer, met when <= 1 */
			for (int p = 0; p < NR_PEERS; p++) {
				struct cellrep cr;

				if (peer_list[p]->ours || peer_list[p]->floor)
					continue;
				cr = report_cell(b, p, c);
				if (cr.valid && (best_p < 0 || cr.ns.med < best)) {
					best = cr.ns.med;
					best_p = p;
				}
			}
			t[n] = (struct target){
				.what = "faster than every peer",
				.size = peer_sizes[si], .threads = b->tcount[ti],
				.limit = 1.0, .le = true,
				.valid = pc.valid && best_p >= 0 && best > 0,
			};
			if (t[n].valid) {
				t[n].value = pc.ns.med / best;
				snprintf(t[n].note, sizeof(t[n].note),
					 "fastest peer: %s %.2f ns, pcpupool %.2f ns",
					 peer_list[best_p]->name, best, pc.ns.med);
			}
			n++;

			if (ti == 0)
				continue;
			{
				struct cellrep one = report_cell(b, PEER_PCPUPOOL,
								 peers_cell_index((uint32_t)si, 0));

				t[n] = (struct target){
					.what = "aggregate >= 1.8x one thread",
					.size = peer_sizes[si], .threads = b->tcount[ti],
					.limit = TARGET_SCALING, .le = false,
					.valid = pc.valid && one.valid && one.mps.med > 0,
				};
				if (t[n].valid) {
					t[n].value = pc.mps.med / one.mps.med;
					snprintf(t[n].note, sizeof(t[n].note),
						 "%.1f vs %.1f M pairs/s", pc.mps.med,
						 one.mps.med);
				}
				n++;
			}
			t[n] = (struct target){
				.what = "alloc p99.9 <= 100 ns, all CPUs busy",
				.size = peer_sizes[si], .threads = b->tcount[ti],
				.limit = TARGET_P999_NS, .le = true, .in_ns = true,
				.valid = pc.valid && pc.batches > 0,
				.value = pc.a999,
			};
			if (t[n].valid)
				snprintf(t[n].note, sizeof(t[n].note), "p99 %.1f ns, max %.0f ns",
					 pc.a99, pc.amax);
			n++;
		}
	}
	return n;
}

bool report_target_met(const struct target *t)
{
	return t->valid && (t->le ? t->value <= t->limit : t->value >= t->limit);
}

void report_print_targets(const struct target *t, int n)
{
	printf("\ntargets for pcpupool (medians, this run):\n");
	for (int i = 0; i < n; i++) {
		const char *verdict = report_target_met(&t[i]) ? "met" : "MISSED";
		char thr[24];

		snprintf(thr, sizeof(thr), "%d %s", t[i].threads,
			 report_threads_word(t[i].threads));
		if (!t[i].valid) {
			printf("  %-38s %4zu B %-9s  n/a\n", t[i].what, t[i].size, thr);
			continue;
		}
		if (t[i].in_ns)
			printf("  %-38s %4zu B %-9s %7.1f ns  %-6s (%s)\n", t[i].what,
			       t[i].size, thr, t[i].value, verdict, t[i].note);
		else
			printf("  %-38s %4zu B %-9s %7.2fx    %-6s (%s)\n", t[i].what,
			       t[i].size, thr, t[i].value, verdict, t[i].note);
	}
}

void report_header(const struct bench *b)
{
	char cpus[128] = "";
	uint64_t ovh = 0;

	for (int i = 0; i < b->nr_threads; i++) {
		size_t l = strlen(cpus);

		snprintf(cpus + l, sizeof(cpus) - l, "%s%d", i ? "," : "", b->cpus[i]);
	}
	for (int p = 0; p < NR_PEERS; p++)
		if (b->run[p].state == PRUN_DONE && b->run[p].ovh > ovh)
			ovh = b->run[p].ovh;
	printf("pcpupool bench_peers \u2014 alloc+free pair and one-alloc latency, "
	       "median of %u samples per cell", b->rounds_done);
	if (b->rounds_done < b->o.samples)
		printf(" (of %u: the %u s budget ran out)", b->o.samples, b->o.budget_s);
	printf("\n");
	printf("CPU: %s; threads pinned to CPU %s; TSC %.2f GHz, timer cost %.1f ns "
	       "per batch subtracted\n", b->cpu_model, cpus, b->hz / 1e9,
	       (double)ovh * 1e9 / b->hz);
	if (b->run[PEER_PCPUPOOL].state != PRUN_OFF ||
	    b->run[PEER_PCPUPOOL_CALL].state != PRUN_OFF)
		printf("pcpupoold: %s (%s); pools min_nr %u per CPU, low watermark %d\n",
		       b->d.sock[0] ? b->d.sock : "none",
		       b->d.own ? "started by the bench" : "already running",
		       PEERS_PER_CPU, PEERS_POOL_LOW);
	printf("pair ns: per thread, over the chunks of >= %u pairs (TSC) that ran unpreempted "
	       "with every\nthread running; median of the samples.  \"vs pcpu\" = that / "
	       "pcpupool's in the same group\n(>1: slower than pcpupool).  aggr. = all "
	       "threads together\n\n", PEERS_CHUNK_MIN);
}

/* Say whether something else ran on the measured CPUs. */
void report_noise(const struct bench *b)
{
	uint64_t samples = 0, hit = 0, sw = 0, alone = 0;

	for (int p = 0; p < NR_PEERS; p++) {
		for (int c = 0; c < PEERS_NR_CELLS; c++) {
			const struct pcell *cl = &b->run[p].cell[c];

			if (b->run[p].state != PRUN_DONE)
				continue;
			samples += cl->n;
			hit += cl->n_preempted;
			sw += cl->preempted;
			alone += cl->n_alone;
		}
	}
	printf("\nnoise: %llu of %llu samples had a worker preempted (%llu involuntary "
	       "context switches); load average %.2f before the run%s\n",
	       (unsigned long long)hit, (unsigned long long)samples,
	       (unsigned long long)sw, b->load_start,
	       samples && hit * 4 > samples
	       ? ".\n       Other processes share these CPUs: pair figures count only "
		 "chunks nothing preempted;\n       the tails (p99.9, max) are "
		 "theirs" : "");
	if (alone)
		printf("       %llu multi-thread sample(s) had too few chunks with all "
		       "threads running and were left out\n       of the pair figures "
		       "(a cell left with none shows the wall clock, marked *)\n",
		       (unsigned long long)alone);
}

void report_checks(const struct bench *b, uint64_t *wrong)
{
	bool clean = true;

	printf("\nchecks:");
	for (int p = 0; p < NR_PEERS; p++) {
		const struct prun *r = &b->run[p];
		uint64_t bad = 0;

		if (r->state != PRUN_DONE)
			continue;
		for (int c = 0; c < PEERS_NR_CELLS; c++)
			bad += r->cell[c].bad;
		if (bad || r->wrong) {
			printf("\n  %s: %llu failed allocation(s), %llu element(s) lost or "
			       "duplicated", peer_list[p]->name, (unsigned long long)bad,
			       (unsigned long long)r->wrong);
			clean = false;
		}
		*wrong += bad + r->wrong;
	}
	if (clean)
		printf(" no failed allocation; every list, stack and mempool whole at the end");
	printf("\n");
}
