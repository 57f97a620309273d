#!/bin/bash
# test_access.sh - access control with real unprivileged users (created
# here, removed at the end): the socket is not world-accessible; each
# pool's owner, group and mode decide who may attach, refill it and read
# its stats (which name the attached processes), while the "pools" summary
# is for everyone; create/resize/destroy need root or the admin group.
# Each denial and its message is checked.
# Needs root (exit 77: skipped otherwise).
cd "$(dirname "$0")/../.."
. tests/lib/harness.sh access
if [ "$(id -u)" -ne 0 ]; then
	echo "test_access: needs root to create users; skipped"
	exit 77
fi
chmod 0755 "$T"
U=(pcpt_owner pcpt_member pcpt_other pcpt_admin pcpt_stranger)
G=(pcpt_pool pcpt_sock pcpt_adm)
remove_users() {
	for u in "${U[@]}"; do userdel "$u" >/dev/null 2>&1; done
	for g in "${G[@]}"; do groupdel "$g" >/dev/null 2>&1; done
}
cleanup() {
	[ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
	remove_users
	rm -rf "$T"
}
remove_users   # what an interrupted run left

for g in "${G[@]}"; do groupadd "$g"; done
useradd -M -N -g users -G pcpt_sock pcpt_owner
useradd -M -N -g users -G pcpt_sock,pcpt_pool pcpt_member
useradd -M -N -g users -G pcpt_sock pcpt_other
useradd -M -N -g users -G pcpt_sock,pcpt_adm pcpt_admin
useradd -M -N -g users pcpt_stranger

cat > "$T/cfg.json" <<JSON
{ "socket_group": "pcpt_sock", "admin_group": "pcpt_adm", "sweep_interval_ms": 20,
  "pools": [
    { "name": "grouped", "elem_size": 64, "min_nr": 4, "owner": "root", "group": "pcpt_pool", "mode": "0660" },
    { "name": "owned", "elem_size": 64, "min_nr": 4, "owner": "pcpt_owner", "mode": "0600" },
    { "name": "open", "elem_size": 64, "min_nr": 4, "mode": "0666" } ] }
JSON
start_daemon "$T/cfg.json"

as() { local u=$1; shift; runuser -u "$u" -- "$@"; }
ctl() { as "$1" env PCPUPOOL_SOCKET="$S" "$B/pcpupoolctl" "${@:2}" >"$T/out" 2>&1; echo $?; }
raw() { printf '%s\n' "$2" | as "$1" socat -t2 - UNIX-CONNECT:"$S" 2>&1; }
# refused CODE PATTERN: the reply in $out is an error CODE whose message
# matches PATTERN (grep)
refused() { grep -q "\"code\":\"$1\"" <<<"$out" && grep -q "$2" <<<"$out"; }

check "the socket is 0660, group pcpt_sock" test "$(stat -c '%a %G' "$S")" = "660 pcpt_sock"
check "a user outside the socket's group cannot connect (exit 3)" test "$(ctl pcpt_stranger status)" = 3
check "a user in the socket's group can" test "$(ctl pcpt_other status)" = 0

check "group member attaches a 0660 group pool" test "$(ctl pcpt_member refill grouped)" = 0
check "a non-member may not attach it (exit 1)" test "$(ctl pcpt_other refill grouped)" = 1
out=$(raw pcpt_other '{"cmd":"attach","pool":"grouped"}')
check "... refused with EACCES naming uid, owner, group and mode" \
	refused EACCES "uid $(id -u pcpt_other) may not attach pool .*grouped.* mode 0660"
check "the owner attaches a 0600 pool" test "$(ctl pcpt_owner refill owned)" = 0
check "a group member may not (owner only)" test "$(ctl pcpt_member refill owned)" = 1
check "anyone attaches a 0666 pool" test "$(ctl pcpt_other refill open)" = 0
check "root attaches whatever the mode" test "$(ctl root refill owned)" = 0

# --- a pool's stats and refill: for those who may attach it
# a process of the owner stays attached to "owned" (its pid is in the
# pool's stats) until $T/release appears
as pcpt_owner python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"{\"cmd\":\"attach\",\"pool\":\"owned\"}\n")
s.recv(65536)
print(os.getpid(), flush=True)
for _ in range(600):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.05)' "$S" "$T/release" >"$T/holder.pid" &
holder=$!
for _ in $(seq 100); do [ -s "$T/holder.pid" ] && break; sleep 0.05; done
hpid=$(cat "$T/holder.pid")
check "a process of the owner is attached to the 0600 pool (pid ${hpid:-?})" \
	bash -c "[ -n '$hpid' ] && grep -q '\"pid\":$hpid' <<<'$(raw pcpt_owner '{"cmd":"stats","pool":"owned"}')'"
# names KEY...: the names of the pools in the reply's array at KEY...,
# sorted, or the reply's error code
names() {
	python3 -c 'import json, sys
r = json.loads(sys.stdin.readline())
if not r["ok"]:
    sys.exit(print(r["error"]["code"]))
for k in sys.argv[1:]:
    r = r[k]
print(" ".join(sorted(p["name"] for p in r)))' "$@"
}
stats_of() { raw "$1" '{"cmd":"stats"}' | names stats pools; }
check "stats of all pools, for a user who may attach only the 0666 one: that one" \
	test "$(stats_of pcpt_other)" = "open"
check "... for a member of a pool's group: that pool and the 0666 one" \
	test "$(stats_of pcpt_member)" = "grouped open"
check "... for the owner of a 0600 pool: that pool and the 0666 one" \
	test "$(stats_of pcpt_owner)" = "open owned"
check "... for the admin group: every pool" test "$(stats_of pcpt_admin)" = "grouped open owned"
check "... for root: every pool" test "$(stats_of root)" = "grouped open owned"
out=$(raw pcpt_other '{"cmd":"stats"}')
check "... and the pid attached to a pool it may not attach is not in it" \
	bash -c "[ -n '$hpid' ] && ! grep -q '\"pid\":$hpid[,}]' <<<'$out'"
out=$(raw pcpt_member '{"cmd":"stats","pool":"owned"}')
check "stats of a pool one may not attach: EACCES naming uid, owner, group and mode" \
	refused EACCES "uid $(id -u pcpt_member) may not read the stats of pool .*owned.* (owner $(id -u pcpt_owner), group [0-9]*, mode 0600)"
check "... and nothing of the pool" bash -c "! grep -q '\"attached\"\|\"pid\"' <<<'$out'"
check "stats of a pool one may attach (the group's)" \
	test "$(raw pcpt_member '{"cmd":"stats","pool":"grouped"}' | names stats pools)" = grouped
check "stats of any pool for the admin group" \
	test "$(raw pcpt_admin '{"cmd":"stats","pool":"owned"}' | names stats pools)" = owned
out=$(raw pcpt_member '{"cmd":"refill","pool":"owned"}')
check "refill of a pool one may not attach: EACCES" \
	refused EACCES "uid $(id -u pcpt_member) may not refill pool .*owned.* mode 0600"
check "refill of a pool one may attach" \
	bash -c "grep -q '\"ok\":true,\"refilled\"' <<<'$(raw pcpt_other '{"cmd":"refill","pool":"open"}')'"
check "refill of any pool for the admin group" \
	bash -c "grep -q '\"ok\":true' <<<'$(raw pcpt_admin '{"cmd":"refill","pool":"owned"}')'"
check "an unknown pool is still ENOENT" \
	bash -c "grep -q '\"code\":\"ENOENT\"' <<<'$(raw pcpt_other '{"cmd":"stats","pool":"nope"}')'"
check "the pools summary (no pids) lists every pool, for anyone" \
	test "$(raw pcpt_other '{"cmd":"pools"}' | names pools)" = "grouped open owned"
check "pcpupoolctl stats POOL one may not attach exits 1" test "$(ctl pcpt_member stats owned)" = 1
check "... and says why" grep -q "pool \"owned\": Permission denied (the pool.s owner, group and mode do not let you" "$T/out"
check "pcpupoolctl stats lists the pools one may attach" \
	bash -c "[ \"\$(runuser -u pcpt_other -- env PCPUPOOL_SOCKET='$S' '$B/pcpupoolctl' stats | grep -o '^pool [a-z]*:')\" = 'pool open:' ]"
check "the daemon logs a stats refusal" grep -q "^<5>client pid [0-9]* uid $(id -u pcpt_member): read the stats of pool owned refused" "$T/daemon.log"
check "the daemon logs a refill refusal" grep -q "^<5>client pid [0-9]* uid $(id -u pcpt_member): refill pool owned refused" "$T/daemon.log"
touch "$T/release"; wait "$holder"

check "an ordinary user may not create (exit 1)" \
	test "$(ctl pcpt_member create mine --size 64 --min-nr 4)" = 1
out=$(raw pcpt_member '{"cmd":"create","pool":"mine","elem_size":64,"min_nr":4}')
check "... refused with EPERM naming who may" refused EPERM 'create needs root'
check "nor resize" bash -c "printf '%s\n' '{\"cmd\":\"resize\",\"pool\":\"open\",\"min_nr\":8}' | runuser -u pcpt_other -- socat -t2 - UNIX-CONNECT:$S | grep -q EPERM"
check "nor destroy" bash -c "printf '%s\n' '{\"cmd\":\"destroy\",\"pool\":\"open\"}' | runuser -u pcpt_other -- socat -t2 - UNIX-CONNECT:$S | grep -q EPERM"
check "the admin group may create" test "$(ctl pcpt_admin create adminpool --size 64 --min-nr 4)" = 0
out=$(raw pcpt_admin '{"cmd":"pools"}')
check "a created pool belongs to its creator" \
	bash -c "grep -q '\"name\":\"adminpool\"[^}]*\"owner\":$(id -u pcpt_admin)' <<<'$out'"
check "the admin group may resize" test "$(ctl pcpt_admin resize adminpool 8)" = 0
check "the admin group may destroy" test "$(ctl pcpt_admin destroy adminpool)" = 0
check "the daemon logs an attach refusal" grep -q "^<5>client pid [0-9]* uid $(id -u pcpt_other): attach to pool grouped refused" "$T/daemon.log"
check "the daemon logs an admin refusal" grep -q "^<5>client pid [0-9]* uid $(id -u pcpt_member): create refused" "$T/daemon.log"

kill -TERM "$daemon_pid"; wait "$daemon_pid"; rc=$?; daemon_pid=
check "the daemon exits 0" test $rc -eq 0
finish
