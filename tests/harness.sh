# harness.sh - sourced by the black-box test scripts: a temporary
# directory $T (removed at exit, with the daemon $daemon_pid if one is
# running), the ok/bad/check reporters, and finish, which prints the
# closing "N passed, N failed" line and returns the exit status.
# usage: . tests/harness.sh NAME   (T is /tmp/pcpupool-NAME.XXXXXX)
set -u
B=${B:-build}
D=$B/pcpupoold
T=$(mktemp -d "/tmp/pcpupool-$1.XXXXXX")
pass=0 fail=0
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok()    { pass=$((pass + 1)); echo "ok   $*"; }
bad()   { fail=$((fail + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; }
