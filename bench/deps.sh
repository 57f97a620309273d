#!/bin/bash
# deps.sh - what bench_peers compares pcpupool with: jemalloc, mimalloc,
# DPDK, and gnuplot for its plot, from Debian.
#
# As root, installs whatever is missing with apt-get; otherwise prints the
# apt-get line.  Never fails the build: bench_peers reports a missing peer
# as "unavailable" with the reason.  Run it before bench_peers is compiled:
# DPDK is compiled in only when pkg-config finds libdpdk.  Quiet when
# everything is there.
set -u

missing=()
have_pc() { pkg-config --exists "$1" 2>/dev/null; }
have_so() { ldconfig -p 2>/dev/null | grep -q "[[:space:]]$1 "; }

have_so libjemalloc.so.2 || missing+=(libjemalloc-dev)
have_so libmimalloc.so.2 || missing+=(libmimalloc-dev)
have_pc libdpdk || missing+=(libdpdk-dev)
command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox)

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: peers missing; bench_peers will report them unavailable." >&2
	echo "  to compare with them: sudo apt-get install -y ${missing[*]}" >&2
	exit 0
fi
echo "bench: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq >&2 &&
       apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }; then
	echo "bench: apt-get failed; bench_peers will report the missing peers" \
	     "unavailable" >&2
fi
exit 0
