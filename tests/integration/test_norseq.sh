#!/bin/bash
# test_norseq.sh - the end-to-end and reconnection tests again, in
# processes where glibc registers no rseq (GLIBC_TUNABLES=
# glibc.pthread.rseq=0): every allocation and free then takes the
# library's lists, the inline sections leave at once on every call (the
# handle's zero pages), and everything must still hold, against a real
# pcpupoold.  Prints "ok"/"FAIL" lines and a closing "N passed, N failed".
. "$(dirname "$0")/../lib/harness.sh" norseq

# the tunable is honoured: a process started with it has no rseq area
if GLIBC_TUNABLES=glibc.pthread.rseq=0 "$B/tests/test_e2e" --print-rseq-size 2>/dev/null |
	grep -qx 'rseq size 0'; then
	ok "glibc.pthread.rseq=0: glibc registers no rseq"
else
	bad "glibc.pthread.rseq=0 did not turn rseq off"
fi
for t in test_e2e test_reconnect; do
	if GLIBC_TUNABLES=glibc.pthread.rseq=0 "$B/tests/$t" >"$T/$t.log" 2>&1; then
		ok "$t without rseq"
	else
		bad "$t without rseq"
		sed 's/^/    /' "$T/$t.log" | tail -40
	fi
done
finish
