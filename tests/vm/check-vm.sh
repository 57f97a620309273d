#!/bin/bash
# check-vm.sh - run tests inside throwaway VMs of many CPUs and NUMA nodes
# (tests/vm/boot-vm.sh), one VM per RUN, and close with one
# "N passed, N failed" line over all of them.  `make check-vm` runs it.
#
#   B=build tests/vm/check-vm.sh 'CPUS NODES [VAR=VALUE]... TEST...'...
#
# Each TEST is a name as tests/run.sh takes it (a program in $B/tests, or
# a script tests/<kind>/NAME.sh); a VAR=VALUE word sets a variable for that
# run's tests (e.g. WIPE_PAGE_STEP=4).  The tests run inside the VM through
# tests/run.sh itself, at the same absolute paths as on this host: the
# integration tests find the daemon where the build compiled its path in
# (-DPCPUPOOLD), and every program finds libpcpupool through its rpath.
# The guest first prints its kernel, CPUs and NUMA nodes, and fails if
# they are not the ones asked for.
#
# Environment: B (default build); VM_TIMEOUT, each VM's wall-time limit in
# seconds (default 1200); TEST_TIMEOUT, each test's inside (default 600);
# TORTURE_SECONDS (default 3), RECLAIM_KILLS (default 1000) as for make
# check; VM_MEM_PER_CPU MiB of guest memory per vCPU (default 64, at least
# 2048 in all); PCPUPOOL_VM_CACHE where boot-vm.sh keeps the kernel.
# The guests' console logs are kept in $B/vm/.
#
# What runs under emulation is slow (TCG: every vCPU a host thread, on as
# few host cores as there are): only behaviour is tested, never timing.
set -u
cd "$(dirname "$0")/../.." || exit 2
top=$(pwd -P)
B=${B:-build}
case $B in /*) babs=$B ;; *) babs=$top/$B ;; esac
VM_TIMEOUT=${VM_TIMEOUT:-1200}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
TORTURE_SECONDS=${TORTURE_SECONDS:-3}
RECLAIM_KILLS=${RECLAIM_KILLS:-1000}
VM_MEM_PER_CPU=${VM_MEM_PER_CPU:-64}
logs=$B/vm
mkdir -p "$logs"

[ $# -gt 0 ] || { echo "usage: $0 'CPUS NODES TEST...'..." >&2; exit 2; }

passed=0 failed=0 skipped=0
summary=()
overall=0

for run in "$@"; do
	read -r cpus nodes words <<<"$run"
	names=() vars=()
	for w in $words; do
		case $w in
		*=*) vars+=("$w") ;;
		*) names+=("$w") ;;
		esac
	done
	tag=${cpus}cpu-${nodes}node
	log=$logs/$tag.log
	mem=$((cpus * VM_MEM_PER_CPU))
	[ "$mem" -ge 2048 ] || mem=2048
	mem=$(((mem + nodes - 1) / nodes * nodes))

	# what the guest needs, at this host's paths
	adds=(--add "$babs/pcpupoold:$babs/pcpupoold" --add "$babs/pcpupoolctl:$babs/pcpupoolctl"
	      --add "$top/tests/run.sh:$top/tests/run.sh"
	      --add "$(command -v bash):/bin/bash"
	      --add "$(command -v timeout):/usr/bin/timeout")
	missing=()
	for t in "${names[@]}"; do
		s=
		for f in "$top"/tests/*/"$t".sh; do
			[ -f "$f" ] && s=$f
		done
		if [ -n "$s" ]; then
			adds+=(--add "$s:$s")
		elif [ -x "$babs/tests/$t" ]; then
			adds+=(--add "$babs/tests/$t:$babs/tests/$t")
		else
			missing+=("$t")
		fi
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "check-vm: not built: ${missing[*]} (make B=$B test-bins)" >&2
		exit 2
	fi

	guest=$(cat <<EOF
echo "vm: kernel \$(uname -r), \$(nproc) CPUs online (\$(cat /sys/devices/system/cpu/online)), \$(ls -d /sys/devices/system/node/node[0-9]* | wc -l) NUMA nodes"
for n in /sys/devices/system/node/node[0-9]*; do
	echo "vm: \${n##*/}: CPUs \$(cat \$n/cpulist), \$(awk '/MemTotal/ { print int(\$4 / 1024) " MiB" }' \$n/meminfo)"
done
if [ "\$(nproc)" != $cpus ] || [ "\$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)" != $nodes ]; then
	echo "vm: asked for $cpus CPUs on $nodes nodes: wrong machine"
	exit 3
fi
cd $top
env B=$B TEST_TIMEOUT=$TEST_TIMEOUT TORTURE_SECONDS=$TORTURE_SECONDS RECLAIM_KILLS=$RECLAIM_KILLS \\
	${vars[*]} bash tests/run.sh ${names[*]}
EOF
)
	echo "check-vm: === $cpus vCPUs, $nodes NUMA nodes, $mem MiB: ${names[*]}${vars[*]+ (${vars[*]})}"
	rm -f "$log"   # no verdict of an earlier run may stand in for this one's
	start=$SECONDS
	tests/vm/boot-vm.sh --cpus "$cpus" --nodes "$nodes" --mem "$mem" --timeout "$VM_TIMEOUT" \
		--log "$log" "${adds[@]}" -- "$guest"
	rc=$?
	took=$((SECONDS - start))
	topo=$(sed -n 's/^vm: kernel \([^,]*\), \([0-9]* CPUs online ([^)]*)\), \([0-9]* NUMA nodes\)$/\2, \3, kernel \1/p' \
		"$log" 2>/dev/null | head -n 1)
	nodecpus=$(sed -n 's/^vm: \(node[0-9]*\): CPUs \([^,]*\),.*/\1: CPUs \2/p' "$log" 2>/dev/null |
		paste -sd ';' - | sed 's/;/; /g')
	summary+=("$tag ($took s): ${topo:-the guest named no CPUs}${nodecpus:+ ($nodecpus)}")
	for t in "${names[@]}"; do
		# run.sh's verdict: "=== NAME: ok (N s)", "FAILED (exit N, N s)", "skipped"
		r=$(sed -n "s/^=== $t: \(ok\|FAILED\|skipped\)\( .*\)\{0,1\}$/\1\2/p" "$log" 2>/dev/null |
		    tail -n 1)
		case $r in
		ok*) passed=$((passed + 1)) ;;
		skipped*) skipped=$((skipped + 1)) ;;
		FAILED*) failed=$((failed + 1)) ;;
		*) failed=$((failed + 1)); r="FAILED (no result: the VM stopped first)" ;;
		esac
		summary+=("$(printf '    %-16s %s' "$t" "$r")")
	done
	if [ "$rc" -ne 0 ]; then
		overall=1
		case $rc in
		124) summary+=("    the VM ran out of time (VM_TIMEOUT=${VM_TIMEOUT} s)") ;;
		125) summary+=("    the guest gave no exit status (a kernel panic? see $log)") ;;
		3) summary+=("    the guest is not the machine asked for") ;;
		1) ;;
		*) summary+=("    boot-vm.sh failed (exit $rc)") ;;
		esac
	fi
	echo "check-vm: === $tag: exit $rc after $took s (log: $log)"
done

echo "check-vm: summary"
printf '  %s\n' "${summary[@]}"
[ "$failed" -eq 0 ] || overall=1
echo "$passed passed, $failed failed, $skipped skipped"
exit "$overall"
