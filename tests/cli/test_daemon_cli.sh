#!/bin/bash
# test_daemon_cli.sh - black-box checks of pcpupoold as a program: options,
# configuration errors, SIGHUP reload, clean shutdown, and the examples
# (producer | consumer) through a real daemon.  Prints "ok"/"FAIL" lines
# and a closing "N passed, N failed".
. "$(dirname "$0")/../lib/harness.sh" cli


# --- options
check "--help explains usage and exits 0" bash -c "'$D' --help | grep -q -- '--check-config'"
check "--version prints the version" bash -c "'$D' --version | grep -q '^pcpupoold [0-9]'"
ver=$(make --no-print-directory -s print-version)
check "pcpupoold --version is the release ($ver), the library's name and header agree" bash -c "
	'$D' --version | grep -q '^pcpupoold $ver ' &&
	test -e '$B/libpcpupool.so.$ver' &&
	grep -q '^#define PCPUPOOL_VERSION_MAJOR ${ver%%.*}\$' include/pcpupool.h &&
	v=${ver#*.} && grep -q \"^#define PCPUPOOL_VERSION_MINOR \${v%%.*}\$\" include/pcpupool.h &&
	grep -q '\"pcpupool $ver\"' docs/man/pcpupool.3"
"$D" --bogus >/dev/null 2>&1; check "an unknown option exits 2" test $? -eq 2
"$D" extra-arg >/dev/null 2>&1; check "a stray argument exits 2" test $? -eq 2
"$D" --log-level loud --check-config >/dev/null 2>&1
check "a bad --log-level exits 2" test $? -eq 2

# --- manual pages render without warnings
for page in docs/man/*.[0-9]; do
	out=$(LC_ALL=C.UTF-8 groff -man -ww -z "$page" 2>&1)
	check "man page $(basename "$page") renders without warnings" test -z "$out"
	[ -n "$out" ] && echo "$out"
done

# --- make install honours PREFIX; pkg-config then builds a client
if [ "$B" = build ]; then
	make -s --no-print-directory install PREFIX="$T/pfx" SYSCONFDIR="$T/pfx/etc" >/dev/null 2>&1
	check "make install PREFIX=... installs library, header, daemon, tool, .pc" \
		test -x "$T/pfx/sbin/pcpupoold" -a -x "$T/pfx/bin/pcpupoolctl" -a \
		     -e "$T/pfx/lib/libpcpupool.so.1" -a -e "$T/pfx/include/pcpupool.h"
	check "a client builds with pkg-config libpcpupool against the install" \
		bash -c "cc -Iexamples examples/producer.c \$(PKG_CONFIG_PATH='$T/pfx/lib/pkgconfig' pkg-config --cflags --libs libpcpupool) -Wl,-rpath,'$T/pfx/lib' -o '$T/prod' && ldd '$T/prod' | grep -q '$T/pfx/lib/libpcpupool.so.1'"
	make -s --no-print-directory uninstall PREFIX="$T/pfx" SYSCONFDIR="$T/pfx/etc" >/dev/null 2>&1
	check "make uninstall removes them (the config stays)" \
		test ! -e "$T/pfx/sbin/pcpupoold" -a ! -e "$T/pfx/lib/libpcpupool.so.1" -a -e "$T/pfx/etc/pcpupool/pcpupoold.json"
fi

# --- generated files follow the install paths they name: installed with
# one PREFIX, then another, the unit's ExecStart and the .pc follow (they
# used to keep the first PREFIX until make clean)
for pfx in /opt/pcpt-a /opt/pcpt-b; do
	make -s --no-print-directory B="$B" install-systemd DESTDIR="$T/dest" PREFIX="$pfx" \
		>"$T/make.out" 2>&1 || cat "$T/make.out"
	check "make install-systemd PREFIX=$pfx: ExecStart=$pfx/sbin/pcpupoold" \
		grep -q "^ExecStart=$pfx/sbin/pcpupoold " "$T/dest$pfx/lib/systemd/system/pcpupoold.service"
	make -s --no-print-directory B="$B" "$B/libpcpupool.pc" PREFIX="$pfx" >"$T/make.out" 2>&1 ||
		cat "$T/make.out"
	check "the .pc made for PREFIX=$pfx says prefix=$pfx" grep -qx "prefix=$pfx" "$B/libpcpupool.pc"
done
make -s --no-print-directory B="$B" install-systemd DESTDIR="$T/dest" PREFIX=/opt/pcpt-b \
	SYSCONFDIR=/opt/pcpt-etc >/dev/null 2>&1
check "... and so does --config when only SYSCONFDIR changes" \
	grep -q -- "--config /opt/pcpt-etc/pcpupool/pcpupoold.json\$" \
	"$T/dest/opt/pcpt-b/lib/systemd/system/pcpupoold.service"
make -s --no-print-directory B="$B" "$B/libpcpupool.pc" >/dev/null 2>&1   # back to the defaults

# --- configuration
check "the shipped config is valid" "$D" --check-config --config config/pcpupoold.json
printf '{\n  "pools": [\n    { "name": "a", "elem_size": 64, }\n  ]\n}\n' > "$T/syntax.json"
out=$("$D" --check-config --config "$T/syntax.json" 2>&1); rc=$?
check "a syntax error exits 1" test $rc -eq 1
check "a syntax error names file:line:column" bash -c "grep -q '$T/syntax.json:3:[0-9]*:' <<<'$out'"
printf '{"pools":[{"name":"a","elem_size":64,"min_nr":0}]}' > "$T/range.json"
out=$("$D" --check-config --config "$T/range.json" 2>&1)
check "an out-of-range value names the setting" bash -c "grep -q 'pools\[0\]: min_nr' <<<'$out'"
for bad in '"refill_poll_us": -1' '"refill_poll_us": 10' '"refill_poll_us": 1000001' '"refill_poll_linger_ms": 0' \
	   '"refill_poll_linger_ms": 60001' '"refill_poll_us": "fast"' '"request_timeout_ms": 0' \
	   '"request_timeout_ms": 99' '"request_timeout_ms": 3600001' '"request_timeout_ms": "10s"'; do
	printf '{%s}' "$bad" > "$T/poll.json"
	out=$("$D" --check-config --config "$T/poll.json" 2>&1); rc=$?
	key=${bad%%\":*}; key=${key#\"}
	check "config {$bad} is refused, naming $key" bash -c "[ $rc -eq 1 ] && grep -q '$key' <<<'$out'"
done
printf '{"refill_poll_us": 0, "refill_poll_linger_ms": 60000}' > "$T/poll.json"
check "refill_poll_us 0 (no polling) and the longest linger are valid" \
	"$D" --check-config --config "$T/poll.json"
for ms in 100 3600000; do
	printf '{"request_timeout_ms": %s}' "$ms" > "$T/timeout.json"
	check "request_timeout_ms $ms is valid" "$D" --check-config --config "$T/timeout.json"
done
# a pool's mode is an octal string: JSON has no octal, and 440 as a number
# is decimal 440, mode 0670 (the group may attach)
printf '{"pools":[{"name":"a","elem_size":64,"min_nr":4,"mode":440}]}' > "$T/mode.json"
out=$("$D" --check-config --config "$T/mode.json" 2>&1); rc=$?
check "a mode given as a number is refused (exit 1)" test $rc -eq 1
check "... naming the pool and the key, and why" grep -qF \
	"$T/mode.json: pools[0]: mode must be an octal string such as \"0660\", not a number (440 would be read as decimal)" \
	<<<"$out"
for bad in 416 0 '"0x1b0"' '"-660"' '" 660"' '"0800"' '"1000"' '"00660"' '""' '"u=rw"' 432.0 null; do
	printf '{"pools":[{"name":"a","elem_size":64,"min_nr":4,"mode":%s}]}' "$bad" > "$T/mode.json"
	out=$("$D" --check-config --config "$T/mode.json" 2>&1); rc=$?
	check "\"mode\": $bad is refused, naming the key" \
		bash -c "[ $rc -eq 1 ] && grep -qF 'pools[0]: mode must be an octal string' <<<\"\$0\"" "$out"
done
for good in '"0640"' '"640"' '"0"' '"0777"'; do
	printf '{"pools":[{"name":"a","elem_size":64,"min_nr":4,"mode":%s}]}' "$good" > "$T/mode.json"
	check "\"mode\": $good is valid" "$D" --check-config --config "$T/mode.json"
done
for bad in 1 '"yes"' null; do
	printf '{"pools":[{"name":"a","elem_size":64,"min_nr":4,"hugepages":%s}]}' "$bad" > "$T/huge.json"
	out=$("$D" --check-config --config "$T/huge.json" 2>&1); rc=$?
	check "\"hugepages\": $bad is refused, naming the key" \
		bash -c "[ $rc -eq 1 ] && grep -qF 'pools[0]: hugepages must be true or false' <<<\"\$0\"" "$out"
done
for good in true false; do
	printf '{"pools":[{"name":"a","elem_size":64,"min_nr":4,"hugepages":%s}]}' "$good" > "$T/huge.json"
	check "\"hugepages\": $good is valid" "$D" --check-config --config "$T/huge.json"
done
printf '{"pools":[],"colour":"blue"}' > "$T/unknown.json"
out=$("$D" --check-config --config "$T/unknown.json" 2>&1)
check "an unknown key is refused" bash -c "grep -q colour <<<'$out'"
printf '{"pools":[{"name":"a","elem_size":64,"min_nr":4},{"name":"a","elem_size":64,"min_nr":4}]}' > "$T/dup.json"
"$D" --check-config --config "$T/dup.json" >/dev/null 2>&1
check "a duplicate pool name is refused" test $? -eq 1
"$D" --check-config --config "$T/missing.json" >/dev/null 2>&1
check "a missing named config file is an error" test $? -eq 1
"$D" --config "$T/range.json" --socket "$T/never.sock" 2>/dev/null
check "the daemon does not start on a bad config" test $? -eq 1 -a ! -e "$T/never.sock"

# --- running daemon: reload, examples, shutdown
cat > "$T/good.json" <<JSON
{ "sweep_interval_ms": 20,
  "pools": [ { "name": "one", "elem_size": 64, "min_nr": 8 } ] }
JSON
if start_daemon "$T/good.json"; then
	ok "the daemon starts and answers"
	check "the socket is not world-accessible" bash -c "[ \$(( 0\$(stat -c %a '$T/ctl.sock') & 7 )) -eq 0 ]"
	cp "$T/good.json" "$T/live.json"
	cat > "$T/good.json" <<JSON
{ "sweep_interval_ms": 20,
  "pools": [ { "name": "one", "elem_size": 64, "min_nr": 16 },
             { "name": "two", "elem_size": 128, "min_nr": 4 } ] }
JSON
	kill -HUP "$daemon_pid"; sleep ${RELOAD_WAIT:-0.3}
	check "SIGHUP creates new pools" bash -c "ctl() { printf '%s\n' \"\$1\" | socat -t2 - UNIX-CONNECT:'$T/ctl.sock'; }; ctl '{\"cmd\":\"pools\"}' | grep -q '\"name\":\"two\"'"
	check "SIGHUP applies a changed min_nr" bash -c "printf '%s\n' '{\"cmd\":\"pools\"}' | socat -t2 - UNIX-CONNECT:'$T/ctl.sock' | grep -q '\"name\":\"one\",\"elem_size\":64,\"align\":8,\"min_nr\":16'"
	echo '{ "pools": [ { "name": "one", ' > "$T/good.json"
	kill -HUP "$daemon_pid"; sleep ${RELOAD_WAIT:-0.3}
	check "a bad file on SIGHUP keeps the daemon running" kill -0 "$daemon_pid"
	check "a bad file on SIGHUP keeps the running pools" bash -c "printf '%s\n' '{\"cmd\":\"pools\"}' | socat -t2 - UNIX-CONNECT:'$T/ctl.sock' | grep -q '\"name\":\"two\"'"
	check "the failed reload is logged as an error" grep -q '^<3>reload failed' "$T/daemon.log"

	export PCPUPOOL_SOCKET=$T/ctl.sock
	out=$("$B/examples/producer" -n 5000 | "$B/examples/consumer" 2>&1); rc=$?
	check "producer | consumer pass 5000 messages by offset" bash -c "[ $rc -eq 0 ] && grep -q '5000 messages received in place, 0 bad' <<<'$out'"
	check "stats are readable with socat" bash -c "printf '%s\n' '{\"cmd\":\"stats\",\"pool\":\"messages\"}' | socat -t2 - UNIX-CONNECT:'$T/ctl.sock' | grep -q '\"ok\":true,\"stats\"'"

	kill -TERM "$daemon_pid"; wait "$daemon_pid"; rc=$?; daemon_pid=
	check "SIGTERM shuts down with status 0${DAEMON_WRAPPER:+ (and ${DAEMON_WRAPPER%% *} found nothing)}" test $rc -eq 0
	[ $rc -ne 0 ] && tail -40 "$T/daemon.log"
	check "shutdown removes the socket" test ! -e "$T/ctl.sock"
	check "shutdown is logged" grep -q '^<5>signal 15: shutting down' "$T/daemon.log"
else
	bad "the daemon starts and answers"; cat "$T/daemon.log"
fi

# --- the daemon takes the hard descriptor limit (connections, attachments
# and watched clients each cost one)
hard=$(ulimit -Hn)
if [ -n "${DAEMON_WRAPPER:-}" ]; then
	: # valgrind keeps descriptors of its own at the top of the range
elif [ "$hard" != unlimited ] && [ "$hard" -gt 256 ] &&
     DAEMON_WRAPPER="prlimit --nofile=256:$hard --" start_daemon "$T/live.json"; then
	soft=$(awk '/^Max open files/ { print $4 }' "/proc/$daemon_pid/limits")
	want=$(( hard > 1048576 ? 1048576 : hard ))
	check "started with a soft limit of 256 descriptors, it runs with $want (has $soft)" test "$soft" = "$want"
	kill -TERM "$daemon_pid"; wait "$daemon_pid"; daemon_pid=
else
	bad "the daemon starts under a soft descriptor limit of 256 (hard limit $hard)"
fi

# --- --log-level outranks the file's log_level, across a reload too
cat > "$T/chatty.json" <<JSON
{ "log_level": "debug", "pools": [ { "name": "one", "elem_size": 64, "min_nr": 8 } ] }
JSON
from=$(( $(wc -l < "$T/daemon.log") + 1 ))
if start_daemon "$T/chatty.json" --log-level warning; then
	kill -HUP "$daemon_pid"; sleep ${RELOAD_WAIT:-0.3}
	ctl '{"cmd":"attach","pool":"one"}' >/dev/null   # logged at info
	ctl '{"cmd":"ping"}' >/dev/null
	kill -TERM "$daemon_pid"; wait "$daemon_pid"; daemon_pid=
	check "--log-level warning keeps info and debug out of the log, after SIGHUP too" \
		bash -c "! tail -n +$from '$T/daemon.log' | grep -q '^<[67]>'"
else
	bad "the daemon starts with --log-level warning"; tail -n +$from "$T/daemon.log"
fi

finish
