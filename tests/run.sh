#!/bin/bash
# run.sh - run tests by name, each with its own time limit, and close with
# one "N passed, N failed" line.  A name is a test program in $B/tests (the
# C tests, whatever directory of tests/ their sources are in) or a script
# tests/<kind>/NAME.sh.  Exit status: 0 only when every test passed.
set -u
B=${B:-build}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
passed=0 failed=0 skipped=0 failures=()
for t in "$@"; do
	bin=$B/tests/$t
	for s in tests/*/"$t".sh; do
		[ -x "$s" ] && bin=$s
	done
	echo "=== $t"
	start=$SECONDS
	if B=$B timeout --kill-after=10 "$TEST_TIMEOUT" "$bin"; then
		passed=$((passed + 1))
		echo "=== $t: ok ($((SECONDS - start)) s)"
	else
		rc=$?
		if [ "$rc" -eq 77 ]; then
			skipped=$((skipped + 1))
			echo "=== $t: skipped"
			continue
		fi
		failed=$((failed + 1))
		failures+=("$t")
		echo "=== $t: FAILED (exit $rc, $((SECONDS - start)) s)"
	fi
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
