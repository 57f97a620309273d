# harness.sh - sourced by the test scripts, run from the top of the tree:
# a temporary directory $T (removed at exit, with the daemon $daemon_pid if
# one is running; a script may redefine cleanup), the ok/bad/check
# reporters, start_daemon and ctl on the socket $S, and finish, which
# prints the closing "N passed, N failed" line and returns the exit status.
# usage: . tests/lib/harness.sh NAME   (T is /tmp/pcpupool-NAME.XXXXXX)
set -u
B=${B:-build}
D=$B/pcpupoold
T=$(mktemp -d "/tmp/pcpupool-$1.XXXXXX")
S=$T/ctl.sock
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

# one request line to the daemon, its reply on stdout
ctl() { printf '%s\n' "$1" | socat -t2 - UNIX-CONNECT:"$S"; }

# start_daemon CONFIG [ARG...]: pcpupoold on $S (with ARGs), its stderr in $T/daemon.log, until
# it answers a ping.  DAEMON_WRAPPER, e.g. "valgrind --leak-check=full
# --error-exitcode=99", runs it under a checker: its exit status must stay 0
start_daemon() {
	${DAEMON_WRAPPER:-} "$D" --config "$1" --socket "$S" "${@:2}" 2>>"$T/daemon.log" &
	daemon_pid=$!
	for _ in $(seq 400); do
		[ -S "$S" ] && ctl '{"cmd":"ping"}' 2>/dev/null | grep -q '"ok":true' && return 0
		kill -0 "$daemon_pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
