#!/bin/bash
# test_fuzz.sh - run each libFuzzer target (fuzz_ctl.c, fuzz_config.c here,
# built into build-fuzz/ by make fuzz-bins) for FUZZ_SECONDS (default 10)
# on a scratch copy of its seed corpus in tests/fuzz/corpus/; fail on any
# crash, leak or sanitizer report.  Prints the executions each one made.
cd "$(dirname "$0")/../.."
. tests/lib/harness.sh fuzz
FB=build-fuzz
SECS=${FUZZ_SECONDS:-10}
for t in fuzz_ctl fuzz_config; do
	work=$(mktemp -d /tmp/pcpupool-$t.XXXXXX)
	cp -r tests/fuzz/corpus/$t "$work/corpus"
	mkdir -p "$work/artifacts"
	"$FB/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
	rc=$?
	execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/log" | awk '{print $2}')
	[ -z "$execs" ] && execs=$(grep -Eo '^#[0-9]+' "$work/log" | tail -1 | tr -d '#')
	if [ $rc -eq 0 ]; then
		ok "$t: ${execs:-?} executions in $SECS s, corpus $(ls "$work/corpus" | wc -l) inputs"
		rm -rf "$work"
	else
		bad "$t (exit $rc): artifacts and log kept in $work"
		grep -E 'ERROR|SUMMARY|Test unit written' "$work/log" | head -5
	fi
done
finish
