# plot.gnuplot - latency distributions of bench_peers.
#
# bench_peers runs it as
#   gnuplot -e "datafile='D'; outfile='O'; names='N1 N2 ...'; ncomp=K; \
#               nthreads=T; cpu='MODEL'" bench/plot.gnuplot
# on the <date>-latency.dat it wrote: for each cell (64 B 1 thread,
# 64 B T threads, 1024 B 1 thread, 1024 B T threads; the T-thread cells
# only when T > 1) one block per competitor, in the order of `names`,
# each block rows of "ns-per-allocation  fraction-of-batches-at-or-above".
# The panels show that complementary CDF on log-log axes: the median is
# where a curve crosses 0.5, p99 where it crosses 0.01, p99.9 at 0.001.

if (!exists("datafile")) datafile = 'latency.dat'
if (!exists("outfile")) outfile = 'latency.png'
if (!exists("names")) names = 'pcpupool'
if (!exists("ncomp")) ncomp = words(names)
if (!exists("nthreads")) nthreads = 2
if (!exists("cpu")) cpu = ''

set terminal pngcairo size 1600,1200 font ",10" noenhanced
set output outfile

ncells = nthreads > 1 ? 4 : 2
rows = 2
cols = ncells / 2

set multiplot layout rows, cols title sprintf("bench_peers: latency of one allocation (batches of 64, TSC), %s", cpu)
set logscale xy
set xrange [0.5:*]
set xlabel "ns per allocation"
set ylabel "fraction of batches at or above"
set yrange [1e-6:1.5]
set format y "%g"
set grid xtics ytics mxtics
set key top right font ",9"

# one line style per competitor, the same in every panel and every run
allnames = 'pcpupool tls-freelist rseq-array glibc jemalloc mimalloc dpdk mutex-freelist treiber'
style(n) = sum [k = 1:words(allnames)] (word(allnames, k) eq n ? k : 0)
set style line 1 lw 3 lc rgb "#d62728"
set style line 2 lw 1.5 lc rgb "#7f7f7f" dt 2
set style line 3 lw 1.5 lc rgb "#000000" dt 2
set style line 4 lw 1.5 lc rgb "#1f77b4"
set style line 5 lw 1.5 lc rgb "#2ca02c"
set style line 6 lw 1.5 lc rgb "#9467bd"
set style line 7 lw 1.5 lc rgb "#ff7f0e"
set style line 8 lw 1.5 lc rgb "#8c564b"
set style line 9 lw 1.5 lc rgb "#e377c2"
set style line 10 lw 1.5 lc rgb "#17becf"

do for [cell = 0:ncells - 1] {
	size = (ncells == 4 ? cell / 2 : cell) == 0 ? 64 : 1024
	thr = (ncells == 4 && cell % 2 == 1) ? nthreads : 1
	set title sprintf("%d-byte elements, %d thread%s", size, thr, thr > 1 ? "s (one per CPU)" : "")
	plot for [j = 1:ncomp] datafile index (cell * ncomp + j - 1) using 1:2 \
		with steps ls style(word(names, j)) title word(names, j)
}
unset multiplot
