#!/bin/bash
# scale-vm.sh - bench/scale (the daemon's memory, CPU time per sweep and
# per poll tick, attach time, with 1, 64 and 256 pools) on this machine and
# in throwaway VMs of 1, 16 and 64 vCPUs (tests/vm/boot-vm.sh), then every
# row side by side with its growth (scale --report).  `make bench-scale`
# runs it.
#
#   B=build bench/scale-vm.sh [--host] [--vms 'CPUS:NODES ...']
#                             [--host-cpus 'N ...'] [--host-threads 'N ...']
#                             [--pools LIST] [--save]
#                             [--timeout S]
#
#   --host        this machine only, no VM
#   --vms LIST    the VMs (default '1:1 16:2 64:2': vCPUs:NUMA nodes)
#   --host-cpus LIST  on this machine, also with the daemon laying out N
#                 possible CPUs, this machine's online (scale --cpus N;
#                 default '16 64', '' for none)
#   --host-threads LIST  on this machine, also the most pools attached by a
#                 process of N more threads (scale --threads N; default '64')
#   --pools LIST  the pool counts (default 1,64,256)
#   --save        also write bench/results/<date>-scale.txt (this output)
#                 and <date>-scale.jsonl (the rows)
#   --timeout S   each VM's wall-time limit (default 1800)
#
# This machine's figures are real time.  The VMs run under TCG (no KVM):
# their CPU times are an emulated CPU's, inflated further whenever the
# host runs something else meanwhile, so only their ratios mean anything
# (--report divides each row by its own calibration loop before comparing
# machines), and the VMs are reported apart.  Memory is real everywhere.
# Needs $B/bench/scale, $B/bench/scale_cpus.so and $B/pcpupoold (make
# bench-scale builds them); the rows and the guests' console logs go to
# $B/bench/scale-vm/.  $PCPUPOOL_REV names the source in the output when it
# is not a git tree.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd -P)
B=${B:-build}
case $B in /*) babs=$B ;; *) babs=$top/$B ;; esac

vms='1:1 16:2 64:2' host_cpus='16 64' host_threads=64 pools=1,64,256 save='' limit=1800
while [ $# -gt 0 ]; do
	case $1 in
	--host) vms=''; shift ;;
	--vms) vms=$2; shift 2 ;;
	--host-cpus) host_cpus=$2; shift 2 ;;
	--host-threads) host_threads=$2; shift 2 ;;
	--pools) pools=$2; shift 2 ;;
	--save) save=1; shift ;;
	--timeout) limit=$2; shift 2 ;;
	*) echo "scale-vm.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
	esac
done
scale=$babs/bench/scale
for f in "$scale" "$babs/bench/scale_cpus.so" "$babs/pcpupoold"; do
	[ -e "$f" ] || { echo "scale-vm.sh: no $f (make B=$B bench-scale builds it)" >&2; exit 2; }
done
case $babs in /tmp/*) echo "scale-vm.sh: the guest mounts a tmpfs over /tmp: put B outside it" >&2; exit 2 ;; esac

logs=$babs/bench/scale-vm
mkdir -p "$logs"
host_rows=$logs/host.jsonl thread_rows=$logs/threads.jsonl vm_rows=$logs/vm.jsonl
out=$logs/output.txt
: > "$host_rows"
: > "$thread_rows"
: > "$vm_rows"

run() {
	local model n cpus nodes log status=0

	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	echo "bench/scale: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(nproc) CPUs ($model)," \
		"kernel $(uname -r); pcpupool $(git -C "$top" describe --always --dirty 2>/dev/null ||
		echo "${PCPUPOOL_REV:-?}")"

	echo
	echo "== this machine: $(nproc) CPUs"
	"$scale" --label host --pools "$pools" --json "$host_rows" || status=1
	for n in $host_cpus; do
		echo
		echo "== this machine, the daemon laying out $n possible CPUs ($(nproc) online)"
		"$scale" --label "host-$n" --cpus "$n" --pools "$pools" --json "$host_rows" ||
			status=1
	done
	# the placement pass looks at every thread of every attached process,
	# for each pool: the most pools, attached by a process of many threads
	for n in $host_threads; do
		echo
		echo "== this machine, the pools attached by a process of $((n + 1)) threads"
		"$scale" --label "host-threads-$((n + 1))" --threads "$n" --pools "${pools##*,}" \
			--json "$thread_rows" || status=1
	done

	for vm in $vms; do
		cpus=${vm%%:*} nodes=${vm#*:}
		log=$logs/${cpus}cpu-${nodes}node.log
		echo
		echo "== VM: $cpus vCPUs, $nodes NUMA node(s) (TCG: CPU times emulated)"
		# the guest prints its rows as JSON lines on the console, beside
		# its table: both taken from the log
		if ! tests/vm/boot-vm.sh --cpus "$cpus" --nodes "$nodes" --mem 2048 \
			--timeout "$limit" --add "$scale" --add "$babs/pcpupoold" --log "$log" -- \
			"$scale --label vm-$cpus --pools $pools --json -" > /dev/null; then
			echo "scale-vm.sh: the $cpus-vCPU VM failed; its console is $log"
			status=1
		fi
		[ -f "$log" ] || continue
		grep -E '^ *(CPUs|[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ \|)' "$log" || true
		grep '^{' "$log" >> "$vm_rows" || true
	done

	# each report compares rows against its own fewest CPUs: real time
	# and emulated time apart
	echo
	echo "==== this machine (real time)"
	"$scale" --report "$host_rows" || status=1
	if [ -s "$vm_rows" ]; then
		echo
		echo "==== the VMs (TCG: their ns are emulated time; compare the ratios)"
		"$scale" --report "$vm_rows" || status=1
	fi
	return "$status"
}

status=0
run 2>&1 | tee "$out" || status=1

if [ -n "$save" ]; then
	date=$(date -u +%Y-%m-%d)
	cp "$out" "bench/results/$date-scale.txt"
	cat "$host_rows" "$thread_rows" "$vm_rows" > "bench/results/$date-scale.jsonl"
	echo "saved: bench/results/$date-scale.txt, bench/results/$date-scale.jsonl"
fi
exit "$status"
