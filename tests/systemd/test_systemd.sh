#!/bin/bash
# test_systemd.sh - pcpupoold under a real systemd (booted in a throwaway
# container by tests/systemd/boot.sh): units verify cleanly, the socket
# activates the service, a restart and a watchdog restart keep every pool
# and the contents of elements a client holds (fd store), the client keeps
# allocating meanwhile and reconnects, reload applies a config change, the
# journal has the log lines with their priorities, stop is clean.
# Needs root (exit 77: skipped otherwise).  Uses a plain (not sanitized)
# build: $B, default build/.
#
# A pid is signalled only once checked to be a live pcpupoold of the
# service (svc_pid): MainPID is 0 when the service is not running, and
# `kill -STOP 0` would stop this script's own process group (and hang
# make check).
cd "$(dirname "$0")/../.."
. tests/lib/harness.sh systemd
if [ "$(id -u)" -ne 0 ]; then
	echo "test_systemd: needs root to boot a container; skipped"
	exit 77
fi
export SDBOOT_STATE=/tmp/pcpupool-sdtest.$$
BOOT=tests/systemd/boot.sh
W=/tmp/sdclient          # inside the container
ct() { "$BOOT" exec "$@"; }
prop() { ct systemctl show -P "$1" pcpupoold.service; }
ctl() { ct bash -c "printf '%s\n' '$1' | socat -t3 - UNIX-CONNECT:/run/pcpupool/control.sock"; }
wait_for() {   # seconds, command...
	local t=$1; shift
	for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
# pid_is_service PID: PID is a pid (not empty, 0, 1 or negative, which
# kill(1) would take for a process group, init or every process) of a live
# pcpupoold in the container, in pcpupoold.service's cgroup
pid_is_service() {
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 1 ] &&
		[ "$(ct cat "/proc/$1/comm" 2>/dev/null)" = pcpupoold ] &&
		ct grep -q '/pcpupoold\.service$' "/proc/$1/cgroup" 2>/dev/null
}
# svc_pid: the service's MainPID if pid_is_service, else nothing
svc_pid() {
	local p
	p=$(prop MainPID)
	pid_is_service "$p" && echo "$p"
}
cleanup() { "$BOOT" stop >/dev/null 2>&1; rm -rf "$SDBOOT_STATE" "$T"; }
trap cleanup EXIT

make --no-print-directory -s B="$B" "$B/pcpupoold" \
	"$B/libpcpupool.so.$(make --no-print-directory -s print-version)" "$B/tests/sd_client" \
	>/dev/null || { echo "build failed"; exit 1; }
"$BOOT" start || { echo "FAIL cannot boot systemd"; echo "0 passed, 1 failed"; exit 1; }
R=$("$BOOT" root)
make --no-print-directory -s B="$B" install install-systemd DESTDIR="$R" PREFIX=/usr/local >/dev/null ||
	{ echo "FAIL make install"; exit 1; }
install -m 0755 "$B/tests/sd_client" "$R/usr/local/bin/sd_client"
ct ldconfig
ct systemd-sysusers
ct systemd-tmpfiles --create /usr/local/lib/tmpfiles.d/pcpupool.conf
ct systemctl daemon-reload

out=$(ct systemd-analyze verify /usr/local/lib/systemd/system/pcpupoold.service \
	/usr/local/lib/systemd/system/pcpupoold.socket 2>&1)
check "systemd-analyze verify: no warnings" test -z "$out"
[ -n "$out" ] && echo "$out"

ct systemctl start pcpupoold.socket
check "the socket unit listens" test "$(ct systemctl is-active pcpupoold.socket)" = active
check "the service is not running before the first client" \
	test "$(ct systemctl is-active pcpupoold.service)" = inactive
check "the socket is mode 0660, group pcpupool" \
	test "$(ct stat -c '%a %G' /run/pcpupool/control.sock)" = "660 pcpupool"

# --- socket activation by a real client holding elements
ct mkdir -p $W
ct bash -c "setsid sd_client $W </dev/null >$W/out 2>&1 &"
check "the first client starts the service (socket activation)" \
	wait_for 10 ct test -e $W/ready
check "the service is active and notified READY" test "$(prop ActiveState)" = active
check "STATUS= reports pools and clients" bash -c "$BOOT exec systemctl show -P StatusText pcpupoold.service | grep -q 'pools,.*clients'"
pid1=$(svc_pid)
check "MainPID is a live pcpupoold of the service (${pid1:-not: $(prop MainPID)})" test -n "$pid1"
guard=true
for p in "" 0 1 -1 "$$"; do pid_is_service "$p" && guard=false; done
check "the pid check refuses '', 0, 1, -1 and a pid that is not the service's" $guard
check "the pool's memfds are in the fd store" test "$(prop NFileDescriptorStore)" -ge 2
# LimitNOFILE=131072, or as many as the box allows
nofile=$(ct awk '/^Max open files/ { print $4 }' /proc/$pid1/limits)
box=$(ct awk '/^Max open files/ { print $5 }' /proc/1/limits)
want=$([ "$box" = unlimited ] || [ "$box" -ge 131072 ] && echo 131072 || echo "$box")
check "the daemon may open $want descriptors (has $nofile)" test "$nofile" = "$want"

count() { ct cat $W/count 2>/dev/null | awk '{print $1}'; }
client_check() {   # asks the client to check; prints its verdict
	ct rm -f $W/check
	ct pkill -USR1 -x sd_client
	wait_for 10 ct test -e $W/check
	ct cat $W/check
}

# --- restart: same pool, contents intact, client keeps allocating, reconnects
c0=$(count)
ct systemctl restart pcpupoold.service
check "restart: the service is active again with a new pid" \
	bash -c "[ \"\$($BOOT exec systemctl show -P ActiveState pcpupoold.service)\" = active ] && [ \"\$($BOOT exec systemctl show -P MainPID pcpupoold.service)\" != $pid1 ]"
check "restart: the pool came back from the fd store" \
	bash -c "$BOOT exec journalctl -u pcpupoold -o cat | grep -q 'pool sdtest restored from the fd store'"
sleep 0.3
c1=$(count)
check "the client kept allocating through the restart" test "${c1:-0}" -gt "${c0:-0}"
v=$(client_check)
check "restart: held contents intact, the client reconnected (refill WAIT = 0)" \
	bash -c "grep -q 'contents=intact refill=0' <<<'$v'"
echo "     client: $v"

# --- watchdog: a stopped daemon is killed and restarted, pools kept
pid2=$(svc_pid)
if [ -n "$pid2" ]; then
	ct kill -STOP "$pid2"
	check "watchdog: a stuck daemon is restarted" \
		wait_for 15 bash -c "p=\$($BOOT exec systemctl show -P MainPID pcpupoold.service); [ -n \"\$p\" ] && [ \"\$p\" != 0 ] && [ \"\$p\" != $pid2 ] && [ \"\$($BOOT exec systemctl show -P ActiveState pcpupoold.service)\" = active ]"
else
	bad "watchdog: MainPID is a live pcpupoold of the service (it is '$(prop MainPID)'): nothing stopped"
fi
check "watchdog: the journal says why" \
	bash -c "$BOOT exec journalctl -u pcpupoold -o cat | grep -qi 'watchdog timeout'"
v=$(client_check)
check "watchdog: held contents intact, the client reconnected" \
	bash -c "grep -q 'contents=intact refill=0' <<<'$v'"

# --- reload applies a configuration change
ct bash -c 'cat > /etc/pcpupool/pcpupoold.json' <<'JSON'
{ "pools": [ { "name": "reloaded", "elem_size": 128, "min_nr": 8 } ] }
JSON
ct systemctl reload pcpupoold.service
check "reload: the new pool exists" wait_for 5 bash -c "$BOOT exec bash -c \"printf '%s\n' '{\\\"cmd\\\":\\\"pools\\\"}' | socat -t3 - UNIX-CONNECT:/run/pcpupool/control.sock\" | grep -q reloaded"

# --- journal: lines with their priorities
check "journal: the ready line at priority notice (5)" \
	bash -c "$BOOT exec journalctl -u pcpupoold -o json | grep '\"PRIORITY\":\"5\"' | grep -q 'ready on'"
check "journal: -p err shows no info lines" \
	bash -c "! $BOOT exec journalctl -u pcpupoold -p err -o cat | grep -q 'attached to pool'"
check "journal: the refill poll's timerfd passes the unit's system call filter" \
	bash -c "$BOOT exec journalctl -u pcpupoold -o cat | grep -q 'ready on' && ! $BOOT exec journalctl -u pcpupoold -o cat | grep -q 'refill poll unavailable'"

# --- security exposure
score=$(ct systemd-analyze security pcpupoold.service 2>/dev/null | sed -n 's/.*Overall exposure level for pcpupoold.service: \([0-9.]*\).*/\1/p')
echo "     systemd-analyze security: exposure ${score:-?}"
check "systemd-analyze security exposure below 2.0" awk -v s="${score:-99}" 'BEGIN { exit !(s < 2.0) }'

# --- stop is clean
ct pkill -TERM -x sd_client
ct systemctl stop pcpupoold.service
check "stop: inactive, result success" \
	bash -c "[ \"\$($BOOT exec systemctl show -P ActiveState pcpupoold.service)\" = inactive ] && [ \"\$($BOOT exec systemctl show -P Result pcpupoold.service)\" = success ]"
check "stop: the shutdown is logged" \
	bash -c "$BOOT exec journalctl -u pcpupoold -o cat | grep -q 'shutting down'"

finish
