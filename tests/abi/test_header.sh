#!/bin/bash
# test_header.sh - the public header as applications use it: header_user.c
# built as C99 -pedantic, C11 (gcc -O0/-Og/-O2/-O3, clang -O0/-O2; some
# with a struct rseq of the program's own, which the header must not
# clash with), C++17 (g++ and clang++) and with -DPCPUPOOL_NO_INLINE, all
# with -Wall -Wextra -Werror, linked against build/libpcpupool.so and run
# against a real pcpupoold.
# The inline builds must call the library's slow path and not the
# out-of-line alloc/free on their hit path; the NO_INLINE one the reverse.
# Prints "ok"/"FAIL" lines and a closing "N passed, N failed".
. "$(dirname "$0")/../lib/harness.sh" hdr

echo '{ "pools": [] }' > "$T/conf.json"
start_daemon "$T/conf.json" || { cat "$T/daemon.log"; echo "FAIL the daemon did not start"; exit 1; }

W="-Wall -Wextra -Werror -Iinclude"
L="-L$B -lpcpupool -Wl,-rpath,$(cd "$B" && pwd)"
i=0
while IFS='|' read -r name cmd; do
	i=$((i + 1))
	exe=$T/user$i
	if ! $cmd $W tests/abi/header_user.c $L -o "$exe" 2>"$T/cc.log"; then
		bad "$name: does not build"; sed 's/^/    /' "$T/cc.log"; continue
	fi
	ok "$name: builds without a warning"
	syms=$(nm -u "$exe")
	case $name in
	*NO_INLINE*) want=pcpupool_alloc@PCPUPOOL_1.0; not=pcpupool__alloc_miss ;;
	*) want=pcpupool__alloc_miss@PCPUPOOL_1.0; not= ;;
	esac
	if grep -qE "(^| )${want//./\\.}\$" <<<"$syms" && { [ -z "$not" ] || ! grep -qF "$not" <<<"$syms"; }; then
		ok "$name: calls $want"
	else
		bad "$name: undefined symbols are $(tr '\n' ' ' <<<"$syms")"
	fi
	if "$exe" "$S" "hdr$i"; then
		ok "$name: runs against pcpupoold"
	else
		bad "$name: run failed"
	fi
done <<'LIST'
C99 -pedantic, gcc -O2|gcc -std=c99 -pedantic -O2
C11, gcc -O0|gcc -std=c11 -O0
C11, gcc -Og|gcc -std=c11 -Og
C11, gcc -O3 -DHEADER_USER_OWN_RSEQ|gcc -std=c11 -O3 -DHEADER_USER_OWN_RSEQ
C11, clang -O2|clang -std=c11 -O2
C11, clang -O0 -DHEADER_USER_OWN_RSEQ|clang -std=c11 -O0 -DHEADER_USER_OWN_RSEQ
C++17, g++ -O2|g++ -x c++ -std=c++17 -O2
C++17, clang++ -O2|clang++ -x c++ -std=c++17 -O2
C11, gcc -O2 -DPCPUPOOL_NO_INLINE|gcc -std=c11 -O2 -DPCPUPOOL_NO_INLINE
LIST

# the static library: a program linked with it runs, and meets no name of
# the library's but its API (its files call each other through hidden ones)
exe=$T/user_static
if gcc -std=c11 -O2 $W tests/abi/header_user.c "$B/libpcpupool.a" $(pkg-config --libs jansson) \
	-pthread -o "$exe" 2>"$T/cc.log" && "$exe" "$S" hdrstatic; then
	ok "static library: a program linked with libpcpupool.a runs against pcpupoold"
else
	bad "static library: link or run failed"; sed 's/^/    /' "$T/cc.log"
fi
others=$(nm -g --defined-only "$B/libpcpupool.a" | awk 'NF == 3 && $3 !~ /^pcpupool_/ { print $3 }')
if [ -z "$others" ] && nm -g --defined-only "$B/libpcpupool.a" | grep -q ' pcpupool_alloc$'; then
	ok "static library: only pcpupool_* names are global"
else
	bad "static library: global names besides the API: $(tr '\n' ' ' <<<"$others")"
fi

kill "$daemon_pid" && wait "$daemon_pid"
rc=$?; daemon_pid=
[ "$rc" -eq 0 ] && ok "the daemon exits 0" || bad "the daemon exited $rc"
finish
