#!/bin/bash
# test_pcpupoolctl.sh - black-box checks of pcpupoolctl against a real
# pcpupoold on a temporary socket: every command and its exit codes (0 ok,
# 1 daemon error, 2 usage, 3 unreachable, 4 no such pool), --json (valid,
# canonical: indented, keys sorted; every field documented in
# docs/stats.md), --prometheus (a strict parser below, and promtool when it
# is installed), and `top` in a real terminal: tmux runs it, capture-pane
# reads the screen, send-keys quits, and the pane must be back to the shell
# with the terminal modes as they were.  Prints "ok"/"FAIL" lines and a
# closing "N passed, N failed".
. "$(dirname "$0")/../lib/harness.sh" ctl
C=$B/pcpupoolctl
TM="tmux -S $T/tmux.sock"
holder_pid=
cleanup() {
	[ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
	[ -S "$T/tmux.sock" ] && $TM kill-server 2>/dev/null
	rm -rf "$T"
}

# run the tool; its status in $rc, its stdout in $out, its stderr in $err
run() { out=$("$C" "$@" 2>"$T/stderr"); rc=$?; err=$(cat "$T/stderr"); }
# expect_rc WHAT STATUS ARGS...: the tool exits STATUS
expect_rc() {
	local what=$1 want=$2; shift 2
	run "$@"
	if [ "$rc" -eq "$want" ]; then ok "$what (exit $want)"
	else bad "$what (exit $rc, want $want)"; [ -n "$err" ] && echo "     stderr: $err"; fi
}
has() { grep -q -- "$1" <<<"$2"; }
# is_proc PID COMM: PID is a live process named COMM, and a pid at all: not
# empty, 0, 1 or negative (kill(1) would signal this script's process
# group, init, or every process)
is_proc() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 1 ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]; }


stop_daemon() {
	local st
	kill -TERM "$daemon_pid"; wait "$daemon_pid"; st=$?; daemon_pid=
	check "SIGTERM stops the daemon with status 0${DAEMON_WRAPPER:+ (and ${DAEMON_WRAPPER%% *} found nothing)}" test "$st" -eq 0
	[ "$st" -ne 0 ] && tail -40 "$T/daemon.log"
}

# until COMMAND succeeds, at most SECONDS
wait_for() {
	local secs=$1; shift
	for _ in $(seq $((secs * 20))); do "$@" && return 0; sleep 0.05; done
	return 1
}

if [ ! -x "$C" ]; then
	bad "$C is built"
	finish
	exit 1
fi

# ---------------------------------------------------------------------
# the checkers, in python3

# promcheck.py FILE: exit 0 iff FILE is strict text exposition format 0.0.4
cat > "$T/promcheck.py" <<'PY'
import math, re, sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
VALUE = re.compile(r'[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z|[+-]?Inf\Z|NaN\Z')

def fail(n, msg):
    sys.exit('line %d: %s' % (n, msg))

def parse(n, pattern, line, what):
    """The groups of line n as pattern matches it; its group 'name' must be
    a metric name.  Fails saying what the line is not, or that the name is bad."""
    m = re.match(pattern, line)
    if not m:
        fail(n, '%s: %r' % (what, line))
    if not NAME.match(m.group('name')):
        fail(n, 'bad metric name %r' % m.group('name'))
    return m.groups()

def labels(n, s):
    """Parse '{a="x",b="y"}' strictly; return the sorted (name, value) pairs."""
    out, i = {}, 1
    if s == '{}':
        fail(n, 'empty label set: leave the braces out')
    while True:
        m = LABEL.match(s, i)
        if not m:
            fail(n, 'bad label name at %r' % s[i:])
        name, i = m.group(0), m.end()
        if name.startswith('__'):
            fail(n, 'reserved label name %s' % name)
        if name in out:
            fail(n, 'label %s twice' % name)
        if s[i:i + 2] != '="':
            fail(n, 'expected =" after label %s' % name)
        i += 2
        v = []
        while True:
            if i >= len(s):
                fail(n, 'unterminated label value')
            ch = s[i]
            if ch == '\\':
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    fail(n, 'bad escape in label value')
                v.append({'\\': '\\', '"': '"', 'n': '\n'}[s[i + 1]])
                i += 2
            elif ch == '"':
                i += 1
                break
            elif ch == '\n':
                fail(n, 'raw newline in label value')
            else:
                v.append(ch)
                i += 1
        out[name] = ''.join(v)
        if s[i:] == '}':
            return tuple(sorted(out.items()))
        if s[i] != ',':
            fail(n, 'expected , or } after a label value')
        i += 1

def check(text):
    if not text:
        fail(0, 'empty')
    if not text.endswith('\n'):
        fail(0, 'no final newline')
    helps, types, samples, series = {}, {}, {}, set()
    done, current = set(), None
    for n, line in enumerate(text[:-1].split('\n'), 1):
        if line.startswith('#'):
            kind, name, rest = parse(n, r'# (HELP|TYPE) (?P<name>\S+) (.*)\Z', line,
                                     'a comment that is neither HELP nor TYPE')
            if name != current:
                if current is not None:
                    done.add(current)
                if name in done:
                    fail(n, 'family %s is not contiguous' % name)
                current = name
            if kind == 'HELP':
                if name in helps:
                    fail(n, 'second HELP for %s' % name)
                if re.search(r'\\[^\\n]|\\\Z', rest):
                    fail(n, 'bad escape in HELP text')
                if not rest.strip():
                    fail(n, 'empty HELP text for %s' % name)
                helps[name] = rest
            else:
                if name in types:
                    fail(n, 'second TYPE for %s' % name)
                if name in samples:
                    fail(n, 'TYPE of %s after its samples' % name)
                if rest not in ('counter', 'gauge'):
                    fail(n, 'type %r of %s is not counter or gauge' % (rest, name))
                if (rest == 'counter') != name.endswith('_total'):
                    fail(n, '%s: counters, and only counters, end in _total' % name)
                types[name] = rest
            continue
        name, lab, value = parse(n, r'(?P<name>[^{ ]+)(\{.*\})? (\S+)\Z', line,
                                 'not a sample "name{labels} value" (or has a timestamp)')
        if name not in types:
            fail(n, 'sample of %s before (or without) its TYPE' % name)
        if name != current:
            fail(n, 'sample of %s inside family %s' % (name, current))
        if not VALUE.match(value):
            fail(n, 'bad value %r' % value)
        if types[name] == 'counter' and (not math.isfinite(float(value)) or float(value) < 0):
            fail(n, 'counter %s is %s' % (name, value))
        key = (name, labels(n, lab) if lab else ())
        if key in series:
            fail(n, 'duplicate series %s%s' % (name, lab or ''))
        series.add(key)
        samples[name] = samples.get(name, 0) + 1
    for name in types:
        if name not in helps:
            fail(0, 'family %s has no HELP' % name)
        if not samples.get(name):
            fail(0, 'family %s has no samples' % name)
    for name in helps:
        if name not in types:
            fail(0, 'family %s has no TYPE' % name)
    return len(series)

print(check(open(sys.argv[1]).read()), 'series')
PY
promcheck() { python3 "$T/promcheck.py" "$1"; }

# jsoncheck.py FILE: valid, canonical (two-space indent, keys sorted),
# schema 1; prints the fields (keys of objects, except error codes)
cat > "$T/jsoncheck.py" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
def sorted_pairs(pairs):
    keys = [k for k, _ in pairs]
    if keys != sorted(keys):
        sys.exit('keys not sorted: %s' % keys)
    return dict(pairs)
doc = json.loads(text, object_pairs_hook=sorted_pairs)
if json.dumps(doc, indent=2, sort_keys=True) + '\n' != text:
    sys.exit('not in canonical form (indent 2, sorted keys, one trailing newline)')
if doc.get('schema') != 1:
    sys.exit('schema is %r' % doc.get('schema'))
fields = set()
def walk(o, parent):
    if isinstance(o, dict):
        for k, v in o.items():
            if parent != 'errors':
                fields.add(k)
            walk(v, k)
    elif isinstance(o, list):
        for v in o:
            walk(v, parent)
walk(doc, None)
print('\n'.join(sorted(fields)))
PY

# ---------------------------------------------------------------------
# help and usage: no daemon needed

run --help
check "--help exits 0" test "$rc" -eq 0
for word in status pools stats top create resize refill destroy --socket --json \
	    --prometheus "Exit status" "3  the daemon cannot be reached" "4  no such pool"; do
	check "--help mentions '$word'" has "$word" "$out"
done
for cmd in status pools stats top create resize refill destroy; do
	run "$cmd" --help
	check "$cmd --help exits 0 with its usage" \
		bash -c "[ $rc -eq 0 ] && grep -q '^Usage: pcpupoolctl $cmd' <<<\"\$0\"" "$out"
	run help "$cmd"
	check "help $cmd is $cmd --help" bash -c "[ $rc -eq 0 ] && grep -q '^Usage: pcpupoolctl $cmd' <<<\"\$0\"" "$out"
done
run stats --help
check "stats --help explains the columns" has "COALESCED  low-watermark crossings" "$out"
run create --help
check "create --help has --hugepages" has "--hugepages        the pool's memory on 2 MiB hugepages" "$out"
run --version
check "--version prints the version" bash -c "[ $rc -eq 0 ] && grep -q '^pcpupoolctl ' <<<\"\$0\"" "$out"

expect_rc "no command" 2
check "no command says so and points at --help" has "Try 'pcpupoolctl --help'" "$err"
expect_rc "an unknown command" 2 frobnicate
expect_rc "an unknown global option" 2 --frob status
expect_rc "an unknown command option" 2 stats --frob
expect_rc "--socket without a value" 2 status --socket
expect_rc "a second positional argument" 2 stats one two
expect_rc "--json with --prometheus" 2 --json --prometheus stats
expect_rc "--json with an admin command" 2 --json refill one
expect_rc "a malformed pool name" 2 stats 'no/such name'
expect_rc "a pool name starting with '.' (the daemon's rule)" 2 stats .hidden
expect_rc "a pool name of 64 characters" 2 stats "$(printf 'n%.0s' {1..64})"
expect_rc "create without --size" 2 create x --min-nr 4
expect_rc "create without --min-nr" 2 create x --size 64
expect_rc "create --size 0" 2 create x --size 0 --min-nr 4
expect_rc "create --size too large" 2 create x --size 1048577 --min-nr 4
expect_rc "create --size not a number" 2 create x --size 12k --min-nr 4
expect_rc "create --align not a power of two" 2 create x --size 64 --min-nr 4 --align 24
expect_rc "create --low-watermark above --min-nr" 2 create x --size 64 --min-nr 4 --low-watermark 5
expect_rc "resize without MIN_NR" 2 resize one
expect_rc "resize MIN_NR 0" 2 resize one 0
expect_rc "resize MIN_NR not a number" 2 resize one many
expect_rc "refill without a pool" 2 refill
expect_rc "destroy with two pools" 2 destroy one two
expect_rc "top -d out of range" 2 top -d 0
expect_rc "top without a terminal" 2 --socket "$S" top </dev/null
expect_rc "help for an unknown command" 2 help frobnicate

# ---------------------------------------------------------------------
# the daemon cannot be reached

expect_rc "status on a missing socket" 3 --socket "$T/none.sock" status
check "the message names the socket" has "cannot reach pcpupoold at $T/none.sock" "$err"
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$T/stale.sock"
expect_rc "stats on a socket nobody listens on" 3 --socket "$T/stale.sock" stats
PCPUPOOL_SOCKET=$T/none.sock expect_rc "\$PCPUPOOL_SOCKET naming a missing socket" 3 pools
check "the message names \$PCPUPOOL_SOCKET's socket" has "$T/none.sock" "$err"
expect_rc "create with no daemon" 3 --socket "$T/none.sock" create x --size 64 --min-nr 4
expect_rc "destroy with no daemon" 3 --socket "$T/none.sock" destroy x

# ---------------------------------------------------------------------
# a real daemon

cat > "$T/pools.json" <<JSON
{ "sweep_interval_ms": 20,
  "pools": [ { "name": "one", "elem_size": 64, "min_nr": 8 },
             { "name": "two", "elem_size": 128, "align": 64, "min_nr": 4 } ] }
JSON
if ! start_daemon "$T/pools.json"; then
	bad "the daemon starts and answers"; cat "$T/daemon.log"
	finish
	exit 1
fi
ok "the daemon starts and answers"
ncpu=$(ctl '{"cmd":"stats"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["daemon"]["nr_cpus"])')
export PCPUPOOL_SOCKET=/nonexistent/ctl.sock   # --socket must win over it

# --- status
expect_rc "status" 0 --socket "$S" status
check "status shows the version" bash -c "grep -q '^pcpupoold [0-9]*\.[0-9]*\.[0-9]* (protocol 1)' <<<\"\$0\"" "$out"
check "status shows uptime, clients, pools, cpus, requests, errors" \
	bash -c 'for f in uptime clients pools cpus requests errors; do grep -q "^$f: " <<<"$0" || exit 1; done' "$out"
check "status counts 2 pools" bash -c "grep -q '^pools: *2$' <<<\"\$0\"" "$out"
PCPUPOOL_SOCKET=$S expect_rc "status through \$PCPUPOOL_SOCKET" 0 status

# --- pools
expect_rc "pools" 0 --socket "$S" pools
check "pools lists both pools with their configuration" \
	bash -c "grep -Eq '^one +64 +8 +8 +2 ' <<<\"\$0\" && grep -Eq '^two +128 +64 +4 +1 ' <<<\"\$0\"" "$out"

# --- stats
expect_rc "stats" 0 --socket "$S" stats
check "stats has a header per pool" bash -c "grep -q '^pool one: 64-byte elements' <<<\"\$0\" && grep -q '^pool two: 128-byte elements' <<<\"\$0\"" "$out"
check "stats shows the daemon's refill counters, polled requests included" \
	bash -c "grep -Eq '^  daemon: +[0-9]+ refill messages \\([0-9]+ bad\\), [0-9]+ requests polled' <<<\"\$0\"" "$out"
check "stats says how many CPUs hold a reserve" \
	bash -c "grep -Eq '^  cpus: +[0-9]+ of $ncpu hold a reserve' <<<\"\$0\"" "$out"
check "stats has the per-CPU columns" has "CPU  LEVEL  MIN_NR  LOW_WM  ALLOCS  FREES  MISSES  STEALS  REQUESTS  COALESCED  SERVED  TRIMMED  P50_US  P99_US  MAX_US" "$out"
rows=$(grep -Ec '^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ ' <<<"$out")
check "stats has one row per CPU per pool ($rows = 2 x $ncpu)" test "$rows" -eq $((2 * ncpu))
expect_rc "stats POOL" 0 --socket "$S" stats two
check "stats POOL shows that pool only" bash -c "grep -q '^pool two:' <<<\"\$0\" && ! grep -q '^pool one:' <<<\"\$0\"" "$out"
expect_rc "stats of an unknown pool" 4 --socket "$S" stats nope
check "the message names the pool" has 'no pool named "nope"' "$err"
expect_rc "stats with the options after the command" 0 stats one --socket "$S"

# --- --json
for cmd in status pools stats "stats one"; do
	# shellcheck disable=SC2086
	run --socket "$S" --json $cmd
	printf '%s\n' "$out" > "$T/out.json"
	check "--json $cmd exits 0 and parses (python3 -m json.tool)" \
		bash -c "[ $rc -eq 0 ] && python3 -m json.tool '$T/out.json' >/dev/null"
	fields=$(python3 "$T/jsoncheck.py" "$T/out.json" 2>&1)
	check "--json $cmd is canonical (indent 2, sorted keys) with schema 1" test $? -eq 0
	[ "$cmd" = stats ] && all_fields=$fields
done
run --socket "$S" --json status
check "--json status is the daemon object" bash -c "python3 -c 'import json,sys; d=json.load(sys.stdin); assert sorted(d)==[\"daemon\",\"schema\"] and d[\"daemon\"][\"pools\"]==2' <<<\"\$0\"" "$out"
run --socket "$S" --json pools
check "--json pools has the configuration, no CPUs" bash -c "python3 -c 'import json,sys; p=json.load(sys.stdin)[\"pools\"]; assert [x[\"name\"] for x in p]==[\"one\",\"two\"] and p[0][\"min_nr\"]==8 and \"cpus\" not in p[0]' <<<\"\$0\"" "$out"
run --socket "$S" stats one --json
check "--json stats POOL has that pool's CPUs" bash -c "python3 -c 'import json,sys; s=json.load(sys.stdin); assert [p[\"name\"] for p in s[\"pools\"]]==[\"one\"] and len(s[\"pools\"][0][\"cpus\"])==$ncpu and s[\"pools\"][0][\"cpus\"][0][\"refill_latency_us\"][\"count\"]>=0' <<<\"\$0\"" "$out"
undocumented=$(for f in $all_fields; do grep -q "\`$f\`" docs/stats.md || echo "$f"; done)
check "every field of --json stats is documented in docs/stats.md${undocumented:+ (missing: $(echo $undocumented))}" test -z "$undocumented"

# --- --prometheus
python3 "$T/promcheck.py" /dev/stdin >/dev/null 2>&1 <<<'# HELP a_total x
# TYPE a_total counter
a_total 1'
check "the exposition checker accepts a good file" test $? -eq 0
while IFS='|' read -r what text; do
	printf '%b' "$text" > "$T/bad.prom"
	check "the exposition checker rejects $what" bash -c "! python3 '$T/promcheck.py' '$T/bad.prom' >/dev/null 2>&1"
done <<'CASES'
a sample before its TYPE|a_total 1\n# HELP a_total x\n# TYPE a_total counter\n
a duplicate series|# HELP a x\n# TYPE a gauge\na{p="1"} 1\na{p="1"} 2\n
a bad escape|# HELP a x\n# TYPE a gauge\na{p="\\q"} 1\n
a counter without _total|# HELP a x\n# TYPE a counter\na 1\n
a family split in two|# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{p="2"} 1\n
a bad metric name|# HELP 1a x\n# TYPE 1a gauge\n1a 1\n
a missing HELP|# TYPE a gauge\na 1\n
a timestamp|# HELP a x\n# TYPE a gauge\na 1 1700000000\n
an unquoted label value|# HELP a x\n# TYPE a gauge\na{p=1} 1\n
a missing final newline|# HELP a x\n# TYPE a gauge\na 1
CASES
for cmd in status pools stats "stats two"; do
	# shellcheck disable=SC2086
	run --socket "$S" --prometheus $cmd
	printf '%s\n' "$out" > "$T/out.prom"
	res=$(promcheck "$T/out.prom" 2>&1)
	check "--prometheus $cmd exits 0 and passes the strict checker ($res)" \
		bash -c "[ $rc -eq 0 ] && python3 '$T/promcheck.py' '$T/out.prom' >/dev/null"
	if command -v promtool >/dev/null 2>&1; then
		res=$(promtool check metrics <"$T/out.prom" 2>&1)
		check "--prometheus $cmd passes promtool check metrics" test $? -eq 0 -a -z "$res"
		[ -n "$res" ] && echo "$res"
	fi
done
command -v promtool >/dev/null 2>&1 || echo "note: promtool not installed (Debian package prometheus): the strict checker alone"
run --socket "$S" --prometheus stats
check "--prometheus has per-CPU series labelled pool and cpu" has 'pcpupool_cpu_level_elements{pool="one",cpu="0"} 8' "$out"
check "--prometheus has the pool's configuration" has 'pcpupool_pool_min_nr{pool="two"} 4' "$out"
check "--prometheus counters end in _total" has '# TYPE pcpupool_cpu_allocs_total counter' "$out"
check "--prometheus has the daemon's info" bash -c "grep -Eq '^pcpupool_daemon_info\{version=\"[0-9.]+\",protocol=\"1\"\} 1$' <<<\"\$0\"" "$out"
check "--prometheus latencies are in seconds" has '# TYPE pcpupool_cpu_refill_latency_p99_seconds gauge' "$out"
check "--prometheus says which CPUs hold a reserve" has 'pcpupool_cpu_open{pool="one",cpu="0"} 1' "$out"
check "--prometheus counts reserves by NUMA node" bash -c "grep -Eq '^pcpupool_node_reserved_elements\{pool=\"one\",node=\"0\"\} [0-9]+$' <<<\"\$0\"" "$out"
check "--prometheus has the online CPUs" bash -c "grep -Eq '^pcpupool_daemon_cpus_online [1-9][0-9]*$' <<<\"\$0\"" "$out"
run --socket "$S" --prometheus status
check "--prometheus status has the daemon families only" bash -c "grep -q pcpupool_daemon_uptime_seconds <<<\"\$0\" && ! grep -q pcpupool_pool_ <<<\"\$0\"" "$out"
check "--prometheus counts errors by code" has 'pcpupool_daemon_errors_total{code="ENOENT"}' "$out"

# --- create / resize / refill / destroy
expect_rc "create" 0 --socket "$S" create three --size 96 --min-nr 4 --align 32 --max-elems 2048 --low-watermark 2
check "create says what it made" has "created pool three" "$out"
run --socket "$S" --json pools
check "the created pool has the options given" bash -c "python3 -c 'import json,sys; p={x[\"name\"]:x for x in json.load(sys.stdin)[\"pools\"]}[\"three\"]; assert (p[\"elem_size\"],p[\"align\"],p[\"min_nr\"],p[\"low_watermark\"],p[\"max_elems\"])==(96,32,4,2,2048), p' <<<\"\$0\"" "$out"
expect_rc "create an existing pool" 1 --socket "$S" create three --size 96 --min-nr 4
check "the error names the pool and the cause" bash -c "grep -q 'pool \"three\": File exists' <<<\"\$0\"" "$err"
expect_rc "create refused by the daemon (max_elems too large)" 1 --socket "$S" create four --size 64 --min-nr 4 --max-elems 999999999999
expect_rc "resize" 0 --socket "$S" resize three 16
run --socket "$S" --json stats three
check "resize set min_nr and refilled every CPU to it" bash -c "python3 -c 'import json,sys; p=json.load(sys.stdin)[\"pools\"][0]; assert p[\"min_nr\"]==16 and all(c[\"level\"]==16 for c in p[\"cpus\"]), p[\"cpus\"]' <<<\"\$0\"" "$out"
expect_rc "resize beyond max_elems" 1 --socket "$S" resize three 1048576
check "the error explains the range" has "max_elems" "$err"
expect_rc "resize an unknown pool" 4 --socket "$S" resize nope 4
expect_rc "refill" 0 --socket "$S" refill three
expect_rc "refill an unknown pool" 4 --socket "$S" refill nope
# another client attached to the pool: a process that attaches and waits
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"{\"cmd\":\"attach\",\"pool\":\"three\"}\n")
s.recv(65536)
time.sleep(60)' "$S" &
holder_pid=$!
pool_clients() {
	ctl '{"cmd":"pools"}' | python3 -c 'import json,sys; print({p["name"]: p["clients"] for p in json.load(sys.stdin)["pools"]}.get(sys.argv[1], -1))' "$1"
}
clients_are() { [ "$(pool_clients "$1")" = "$2" ]; }
check "a second client attaches to the pool" wait_for 5 clients_are three 1
expect_rc "destroy a pool another client is attached to" 1 --socket "$S" destroy three
check "the error says it is busy" has "other clients are attached" "$err"
kill "$holder_pid" 2>/dev/null; wait "$holder_pid" 2>/dev/null; holder_pid=
check "the second client detaches" wait_for 5 clients_are three 0
expect_rc "destroy" 0 --socket "$S" destroy three
expect_rc "stats of the destroyed pool" 4 --socket "$S" stats three
expect_rc "destroy it again" 4 --socket "$S" destroy three

# administration as an ordinary user: the daemon says EPERM
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	chmod 0755 "$T"; chmod 0666 "$S"
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	if nobody "$C" --version >/dev/null 2>&1; then
		out=$(nobody "$C" --socket "$S" create five --size 64 --min-nr 4 2>&1); rc=$?
		check "create by an ordinary user exits 1 (exit $rc)" test "$rc" -eq 1
		check "and says administration needs root" has "root or the daemon's user" "$out"
		# pools one and two are root's, mode 0660: nobody may not attach
		# them, so neither refill them nor read their stats
		out=$(nobody "$C" --socket "$S" stats one 2>&1); rc=$?
		check "stats of a pool an ordinary user may not attach exits 1 (exit $rc)" \
			test "$rc" -eq 1
		check "and says the pool's permissions forbid it" \
			has "Permission denied (the pool's owner, group and mode" "$out"
		out=$(nobody "$C" --socket "$S" stats 2>&1); rc=$?
		check "stats of all pools by an ordinary user leaves out those it may not attach (exit $rc)" \
			bash -c "[ $rc -eq 0 ] && [ \"\$0\" = 'no pools' ]" "$out"
		out=$(nobody "$C" --socket "$S" status 2>&1); rc=$?
		check "status by an ordinary user is allowed (exit $rc)" test "$rc" -eq 0
	else
		echo "skip administration as an ordinary user ($C not runnable by nobody)"
	fi
	chmod 0700 "$T"; chmod 0660 "$S"
else
	echo "skip administration as an ordinary user (needs root and setpriv)"
fi

# ---------------------------------------------------------------------
# top in a real terminal

if ! command -v tmux >/dev/null 2>&1; then
	bad "tmux is installed (tools/deps.sh installs it): top cannot be tested"
else
	# 120 x 40, taller when three pools of $ncpu CPUs need more rows
	height=$((3 * (ncpu + 3) + 6)); [ "$height" -lt 40 ] && height=40
	$TM new-session -d -x 120 -y "$height" -s ctl \
		"env -i PATH=$PATH HOME=$T HISTFILE=/dev/null TERM=xterm-256color PS1='READY\$ ' bash --norc --noprofile"
	pane() { $TM capture-pane -p -t ctl; }
	altscreen() { $TM display-message -p -t ctl '#{alternate_on}'; }
	prompt_last() { [ "$(pane | grep -v '^$' | tail -1)" = 'READY$' ]; }
	wait_for 5 prompt_last
	$TM send-keys -t ctl "cd '$PWD' && stty -g > '$T/stty.before' && clear" Enter
	wait_for 5 prompt_last
	# start_top ARGS: run top in the pane; its status goes to top.rc, its
	# pid to top.pid, the terminal modes after it to stty.after
	start_top() {
		rm -f "$T/top.rc" "$T/top.pid" "$T/stty.after"
		$TM send-keys -t ctl "clear; sh -c 'echo \$\$ > $T/top.pid; exec $C --socket $S top $*'; echo \$? > $T/top.rc; stty -g > $T/stty.after" Enter
	}
	top_done() { [ -s "$T/top.rc" ] && [ -s "$T/stty.after" ]; }
	# after_top HOW: top exited 0, and left the terminal as it found it
	after_top() {
		local how=$1
		wait_for 10 top_done
		check "top exits 0 on $how" test "$(cat "$T/top.rc" 2>/dev/null)" = 0
		check "top leaves the alternate screen on $how" test "$(altscreen)" = 0
		wait_for 5 prompt_last
		check "the pane is back to the shell after $how (no leftover table)" \
			bash -c "! grep -Eq 'ALLOC/s|RESERVE|pcpupoolctl top  [0-9]' <<<\"\$0\" && [ \"\$(grep -v '^\$' <<<\"\$0\" | tail -1)\" = 'READY\$' ]" "$(pane)"
		check "the terminal modes are restored after $how" cmp -s "$T/stty.before" "$T/stty.after"
	}
	top_shows() { pane | grep -q "$1"; }

	# all pools, quit with q
	start_top -d 0.2
	wait_for 5 top_shows 'ALLOC/s'
	screen=$(pane)
	check "top runs on the alternate screen" test "$(altscreen)" = 1
	check "top shows its title and the daemon" bash -c "grep -Eq '^pcpupoolctl top  [0-9:]+  pcpupoold [0-9.]+' <<<\"\$0\"" "$screen"
	check "top shows every pool by name" bash -c "grep -q '^pool one ' <<<\"\$0\" && grep -q '^pool two ' <<<\"\$0\"" "$screen"
	check "top shows the per-CPU table" has "CPU  LEVEL  RESERVE" "$screen"
	rows=$(grep -Ec '^ +[0-9]+ +[0-9]+ +\[[#|.]+\]' <<<"$screen")
	check "top has one row per CPU per pool ($rows = 2 x $ncpu)" test "$rows" -eq $((2 * ncpu))
	check "top shows the level bars (one: 8 of 16, min_nr at 8)" bash -c "grep -Eq '^ +0 +8 +\[#{10}\|\.{9}\]' <<<\"\$0\"" "$screen"
	rated() { pane | grep -Eq '^ +0 +[0-9]+ +\[[#|.]+\] +[0-9]+\.[0-9] '; }
	check "top shows rates once it has two samples" wait_for 5 rated
	# traffic through a pool moves its rates
	( while [ ! -e "$T/stop" ]; do
		PCPUPOOL_SOCKET=$S "$B/examples/producer" -n 20000 -p moving 2>/dev/null |
			PCPUPOOL_SOCKET=$S "$B/examples/consumer" -p moving >/dev/null 2>&1
	  done ) &
	load=$!
	# a CPU row of pool "moving" with a rate (columns 4 to 10) above 0
	moving() {
		pane | awk '/^pool moving /{ s = 1; next } /^pool /{ s = 0 }
			s && $3 ~ /^\[/ { for (i = 4; i <= 10; i++) if ($i + 0 > 0) f = 1 }
			END { exit !f }'
	}
	check "top shows the rates of a pool under load" wait_for 15 moving
	touch "$T/stop"; wait "$load" 2>/dev/null
	$TM send-keys -t ctl q
	after_top "q"

	# one pool, quit with ^C (SIGINT)
	start_top two -d 0.2
	wait_for 5 top_shows 'ALLOC/s'
	screen=$(pane)
	check "top POOL shows that pool only" bash -c "grep -q '^pool two ' <<<\"\$0\" && ! grep -q '^pool one ' <<<\"\$0\"" "$screen"
	$TM send-keys -t ctl C-c
	after_top "SIGINT"

	# SIGTERM from outside
	start_top -d 0.2
	wait_for 5 top_shows 'ALLOC/s'
	wait_for 5 test -s "$T/top.pid"
	top_pid=$(cat "$T/top.pid" 2>/dev/null)
	if is_proc "$top_pid" pcpupoolctl; then
		kill -TERM "$top_pid"
		after_top "SIGTERM"
	else
		bad "top runs as pid '$top_pid' to be sent SIGTERM (not signalled: no such pcpupoolctl)"
	fi

	# the daemon restarts under it: top says so, then carries on
	start_top -d 0.2
	wait_for 5 top_shows 'ALLOC/s'
	stop_daemon
	check "top says when the daemon is gone" wait_for 5 top_shows 'retrying'
	check "top keeps the screen while the daemon is gone" test "$(altscreen)" = 1
	if start_daemon "$T/pools.json"; then
		back() { ! pane | grep -q retrying && pane | grep -q '^pool one '; }
		check "top carries on when the daemon is back" wait_for 5 back
	else
		bad "the daemon starts again"; cat "$T/daemon.log"
	fi
	$TM send-keys -t ctl q
	after_top "q after a daemon restart"

	# an unknown pool: exit 4 before taking the screen
	start_top nope
	wait_for 10 top_done
	check "top of an unknown pool exits 4" test "$(cat "$T/top.rc" 2>/dev/null)" = 4
	check "top of an unknown pool leaves the screen alone" test "$(altscreen)" = 0
fi

# ---------------------------------------------------------------------
# the daemon goes away

stop_daemon
expect_rc "status after the daemon stopped" 3 --socket "$S" status
expect_rc "refill after the daemon stopped" 3 --socket "$S" refill one

finish
