#!/bin/bash
# deps.sh - make sure what pcpupool builds and tests with is installed.
#
# Checks pkg-config for libsystemd, libevent, cmocka and jansson, and the
# commands the build and the tests use.  When something is missing: as root,
# installs the Debian packages with apt-get; otherwise prints the exact
# apt-get line and fails.  Quiet when everything is there.
set -eu

missing=()
need_pc() { pkg-config --exists "$1" 2>/dev/null || missing+=("$2"); }
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }

need_cmd pkg-config pkg-config
need_cmd cc gcc
need_cmd make make
if command -v pkg-config >/dev/null 2>&1; then
	need_pc libsystemd libsystemd-dev
	need_pc libevent libevent-dev
	need_pc cmocka libcmocka-dev
	need_pc jansson libjansson-dev
else
	missing+=(libsystemd-dev libevent-dev libcmocka-dev libjansson-dev)
fi
need_cmd socat socat
need_cmd timeout coreutils
need_cmd nm binutils
need_cmd groff groff-base
need_cmd valgrind valgrind
need_cmd clang clang
need_cmd g++ g++
need_cmd tmux tmux
need_cmd python3 python3
# libFuzzer's runtime
dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] ||
	missing+=(libclang-rt-14-dev)
# the systemd tests boot a container, which only root can do
if [ "$(id -u)" -eq 0 ]; then
	need_cmd systemd-nspawn systemd-container
	need_cmd nsenter util-linux
	need_cmd systemd-analyze systemd
	need_cmd runuser util-linux
	need_cmd useradd passwd
fi

[ ${#missing[@]} -eq 0 ] && exit 0
# de-duplicate, keep order
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
if [ "$(id -u)" -ne 0 ]; then
	echo "pcpupool: missing build/test dependencies. Install them with:" >&2
	echo "  sudo apt-get install -y ${pkgs[*]}" >&2
	exit 1
fi
echo "pcpupool: installing ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
