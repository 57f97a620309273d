#!/bin/bash
# run.sh - run test binaries from $B/tests, each with its own time limit,
# and close with one "N passed, N failed" line.  Exit status: 0 only when
# every test program passed.
set -u
B=${B:-build}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
passed=0 failed=0 skipped=0 failures=()
for t in "$@"; do
	bin=$B/tests/$t
	[ -x "tests/$t.sh" ] && bin=tests/$t.sh
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
