// SPDX-License-Identifier: MIT
/*
 * peers_output.c - bench_peers' results files in bench/results (or
 * --results): <date>.json with every figure and the machine,
 * <date>-latency.dat with the latency distributions and, when gnuplot is
 * installed, <date>.png drawn from it by bench/plot.gnuplot.  --quick names
 * them <date>-quick.*.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

static json_t *json_lat(double p50, double p90, double p99, double p999, double max,
			uint64_t n)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f, s:I}", "p50", p50, "p90", p90,
			 "p99", p99, "p99.9", p999, "max", max, "batches", (json_int_t)n);
}

static json_t *json_doubles(const double *x, uint32_t n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(a, json_real(x[i]));
	return a;
}

static json_t *json_results(const struct bench *b, const struct target *t, int nt,
			    const char *date, double run_s)
{
	json_t *root = json_object(), *comps = json_array(), *tg = json_array();

	json_object_set_new(root, "bench", json_string("bench_peers"));
	json_object_set_new(root, "date", json_string(date));
	json_object_set_new(root, "mode", json_string(b->o.common.quick ? "quick" : "default"));
	json_object_set_new(root, "machine", resultfile_machine(b->cpu_model, b->cpus,
								b->nr_threads, b->hz,
								b->load_start));
	json_object_set_new(root, "method", json_pack(
		"{s:i, s:i, s:i, s:i, s:s, s:s}",
		"samples", (int)b->rounds_done, "pair_budget_ms", (int)b->o.pair_ms,
		"batch_budget_ms", (int)b->o.batch_ms, "batch", PEERS_BATCH,
		"pair_ns", "median over samples of: per thread, ns per alloc+free pair "
			   "over its chunks of >= 4096 pairs (TSC) that no other process "
			   "preempted and during which every thread ran; mean of the "
			   "threads (aggregate: sum of their rates); wall_clock: the "
			   "whole loop by CLOCK_MONOTONIC",
		"latency_ns", "per operation, from TSC-timed batches of 64, "
			      "timer cost subtracted"));
	json_object_set_new(root, "daemon", json_pack("{s:s, s:b}", "socket", b->d.sock,
						      "started_by_bench", b->d.own));
	for (int p = 0; p < NR_PEERS; p++) {
		const struct prun *r = &b->run[p];
		json_t *o, *cells;

		if (r->state == PRUN_OFF)
			continue;
		o = json_pack("{s:s, s:s, s:b, s:s}", "name", peer_list[p]->name,
			      "label", peer_list[p]->label, "available", r->state == PRUN_DONE,
			      "version", r->version);
		if (r->state != PRUN_DONE) {
			json_object_set_new(o, "reason", json_string(r->why));
			json_array_append_new(comps, o);
			continue;
		}
		json_object_set_new(o, "timer_overhead_ns",
				    json_real((double)r->ovh * 1e9 / b->hz));
		json_object_set_new(o, "wrong_results", json_integer((json_int_t)r->wrong));
		cells = json_array();
		for (int c = 0; c < PEERS_NR_CELLS; c++) {
			const struct pcell *cl = &r->cell[c];
			struct cellrep cr = report_cell(b, p, c);
			struct cellrep base = report_cell(b, PEER_PCPUPOOL, c);
			json_t *co;

			if (!cr.valid)
				continue;
			co = json_pack("{s:i, s:i, s:I, s:I, s:o, s:f, s:f, s:f, s:o, s:f, s:I}",
				       "size", (int)peer_sizes[c / PEERS_NR_TCOUNTS],
				       "threads", b->tcount[c % PEERS_NR_TCOUNTS],
				       "pairs_per_sample", (json_int_t)cl->pairs,
				       "batches_per_sample", (json_int_t)cl->batches,
				       "ns_per_pair_samples", json_doubles(cl->ns, cl->rn),
				       "ns_per_pair", cr.ns.med, "ns_per_pair_p25", cr.ns.p25,
				       "ns_per_pair_p75", cr.ns.p75,
				       "mpairs_per_s_samples", json_doubles(cl->mps, cl->rn),
				       "mpairs_per_s", cr.mps.med,
				       "failed_allocations", (json_int_t)cl->bad);
			json_object_set_new(co, "samples_preempted",
					    json_integer((json_int_t)cl->n_preempted));
			json_object_set_new(co, "samples_threads_seldom_together",
					    json_integer((json_int_t)cl->n_alone));
			json_object_set_new(co, "pair_figures", json_string(
				cr.wall ? "wall clock (the threads never ran together)"
					: "running chunks"));
			json_object_set_new(co, "wall_clock", json_pack(
				"{s:o, s:f, s:f, s:f, s:o, s:f}",
				"ns_per_pair_samples", json_doubles(cl->wns, cl->n),
				"ns_per_pair", cr.wns.med, "ns_per_pair_p25", cr.wns.p25,
				"ns_per_pair_p75", cr.wns.p75,
				"mpairs_per_s_samples", json_doubles(cl->wmps, cl->n),
				"mpairs_per_s", cr.wmps.med));
			json_object_set_new(co, "ratio_to_pcpupool",
					    base.valid && base.ns.med > 0
					    ? json_real(cr.ns.med / base.ns.med) : json_null());
			json_object_set_new(co, "alloc_ns", json_lat(cr.a50, cr.a90, cr.a99,
								     cr.a999, cr.amax, cr.batches));
			json_object_set_new(co, "free_ns", json_pack(
				"{s:f, s:f, s:f, s:f, s:I}", "p50", cr.f50, "p99", cr.f99,
				"p99.9", cr.f999, "max", cr.fmax,
				"batches", (json_int_t)cr.batches));
			json_array_append_new(cells, co);
		}
		json_object_set_new(o, "cells", cells);
		json_array_append_new(comps, o);
	}
	json_object_set_new(root, "competitors", comps);
	for (int i = 0; i < nt; i++)
		json_array_append_new(tg, json_pack("{s:s, s:i, s:i, s:o, s:f, s:o, s:s}",
			"target", t[i].what, "size", (int)t[i].size, "threads", t[i].threads,
			"value", t[i].valid ? json_real(t[i].value) : json_null(),
			"limit", t[i].limit,
			"met", t[i].valid ? json_boolean(report_target_met(&t[i])) : json_null(),
			"note", t[i].note));
	json_object_set_new(root, "targets", tg);
	json_object_set_new(root, "run_time_s", json_real(run_s));
	return root;
}

#define PLOT_STEP 1.01   /* smallest x ratio between two points of the data file */

/* Latency distributions for the plot: one block per cell and available
 * competitor (gnuplot "index"), rows "ns-per-alloc fraction-of-batches-at-
 * or-above", i.e. the complementary CDF.  Return the competitors written. */
static int write_dat(const struct bench *b, const char *path, char *names, size_t len)
{
	FILE *f = fopen(path, "w");
	int nc = 0;

	if (!f)
		return -errno;
	names[0] = '\0';
	fprintf(f, "# bench_peers latency: ns per allocation (batches of %d), "
		"fraction of batches at or above it\n", PEERS_BATCH);
	for (int p = 0; p < NR_PEERS; p++) {
		if (b->run[p].state == PRUN_DONE) {
			size_t l = strlen(names);

			snprintf(names + l, len - l, "%s%s", l ? " " : "", peer_list[p]->name);
			nc++;
		}
	}
	for (int c = 0; c < PEERS_NR_CELLS; c++) {
		if (c % PEERS_NR_TCOUNTS && b->tcount[1] == 1)
			continue;
		for (int p = 0; p < NR_PEERS; p++) {
			const struct pcell *cl = &b->run[p].cell[c];
			uint64_t above;
			double last;

			if (b->run[p].state != PRUN_DONE)
				continue;
			fprintf(f, "# %s, %zu B, %d %s\n", peer_list[p]->name,
				peer_sizes[c / PEERS_NR_TCOUNTS], b->tcount[c % PEERS_NR_TCOUNTS],
				report_threads_word(b->tcount[c % PEERS_NR_TCOUNTS]));
			above = cl->ha ? cl->ha->n : 0;
			if (!above)
				fprintf(f, "nan nan\n");
			last = 0;
			for (uint32_t i = 0; above && i < HIST_NR; i++) {
				uint64_t lo, width;
				double x;

				if (!cl->ha->b[i])
					continue;
				hist_bounds(i, &lo, &width);
				x = report_op_ns(b, (double)lo + (double)(width - 1) / 2);
				/* 1% steps are plenty for a plot; the maximum always */
				if (x >= last * PLOT_STEP || above == cl->ha->b[i]) {
					fprintf(f, "%.4g %.6g\n", x,
						(double)above / (double)cl->ha->n);
					last = x;
				}
				above -= cl->ha->b[i];
			}
			fprintf(f, "\n\n");
		}
	}
	if (fclose(f) == EOF)
		return -errno;
	return nc;
}

/* gnuplot @script on @dat into @png; 0, or -errno (-ENOENT: no gnuplot). */
static int plot(const struct bench *b, const char *script, const char *dat,
		const char *png, const char *names, int nc)
{
	char expr[3 * PATH_MAX + 1024], cpu[sizeof(b->cpu_model)];
	int status, pfd[2];
	pid_t pid;
	ssize_t n;

	if (access(script, R_OK))
		return -ENOTDIR;
	snprintf(cpu, sizeof(cpu), "%s", b->cpu_model);
	for (char *c = cpu; *c; c++)
		if (*c == '\'' || *c == '\\')
			*c = ' ';   /* it goes inside a gnuplot string */
	snprintf(expr, sizeof(expr), "datafile='%s'; outfile='%s'; names='%s'; ncomp=%d; "
		 "nthreads=%d; cpu='%s'", dat, png, names, nc, b->tcount[1], cpu);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int err = 0;

		execlp("gnuplot", "gnuplot", "-e", expr, script, (char *)NULL);
		err = errno;
		if (write(pfd[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	status = 0;
	n = read(pfd[0], &status, sizeof(status));
	close(pfd[0]);
	if (n == (ssize_t)sizeof(status)) {
		waitpid(pid, NULL, 0);
		return -status;   /* exec failed: ENOENT when not installed */
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -EIO;
	return 0;
}

void output_write(const struct bench *b, const struct target *t, int nt, double run_s)
{
	char date[16], dir[PATH_MAX], path[PATH_MAX + 64], dat[PATH_MAX + 64];
	char png[PATH_MAX + 64], script[PATH_MAX + 32], names[512];
	const char *suffix = b->o.common.quick ? "-quick" : "";
	json_t *root;
	int nc, r;

	resultfile_date(date, sizeof(date));
	r = resultfile_dir(dir, sizeof(dir), b->o.common.results, &b->dirs);
	if (r < 0) {
		fprintf(stderr, "bench_peers: %s: %s; no result files written\n", dir,
			strerror(-r));
		return;
	}
	snprintf(path, sizeof(path), "%s/%s%s.json", dir, date, suffix);
	root = json_results(b, t, nt, date, run_s);
	if (!root || json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(6)))
		fprintf(stderr, "bench_peers: cannot write %s\n", path);
	else
		printf("\nresults: %s\n", path);
	json_decref(root);

	snprintf(dat, sizeof(dat), "%s/%s%s-latency.dat", dir, date, suffix);
	snprintf(png, sizeof(png), "%s/%s%s.png", dir, date, suffix);
	nc = write_dat(b, dat, names, sizeof(names));
	if (nc < 0) {
		fprintf(stderr, "bench_peers: cannot write %s: %s\n", dat, strerror(-nc));
		return;
	}
	if (b->o.plot)
		snprintf(script, sizeof(script), "%s", b->o.plot);
	else
		snprintf(script, sizeof(script), "%.*s/plot.gnuplot", PATH_MAX - 16, b->dirs.src);
	r = nc ? plot(b, script, dat, png, names, nc) : -ENODATA;
	if (!r)
		printf("plot:    %s (data %s)\n", png, dat);
	else if (r == -ENOENT)
		printf("plot:    none, gnuplot is not installed (apt-get install gnuplot-nox); "
		       "data %s\n", dat);
	else if (r == -ENOTDIR)
		printf("plot:    none, no plot script at %s; data %s\n", script, dat);
	else
		printf("plot:    none, gnuplot failed (%s); data %s\n", strerror(-r), dat);
}

