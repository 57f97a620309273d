#!/bin/bash
# boot.sh - boot a throwaway systemd (PID 1 of a systemd-nspawn container on
# a copy-on-write overlay of this machine's /) so tests can use real
# systemctl, journalctl and socket activation on a host whose PID 1 is not
# systemd.  Nothing is written to the host: the overlay's upper layer is a
# tmpfs in a private mount namespace and vanishes with the container.
#
#   boot.sh start        boot and wait until the system has settled
#   boot.sh exec CMD...  run CMD inside (its mount, pid, ipc, uts, net ns)
#   boot.sh root         print a host path of the container's /
#   boot.sh stop         power off (then kill), remove what start created
#
# SDBOOT_STATE (default /tmp/pcpupool-sdboot) is the state directory; use a
# distinct one per instance.  Needs root and systemd-nspawn (Debian:
# systemd-container).  Do not replace nspawn with a bare unshare+systemd:
# that systemd sees the host's /sys and devices and reconfigures the host.
set -euo pipefail

STATE=${SDBOOT_STATE:-/tmp/pcpupool-sdboot}
TIMEOUT=${SDBOOT_TIMEOUT:-60}

die() { echo "boot.sh: $*" >&2; exit 1; }

leader() { [ -s "$STATE/leader" ] || die "not running"; cat "$STATE/leader"; }
inside() { nsenter -t "$(leader)" -m -u -i -n -p -- "$@"; }

start() {
	[ "$(id -u)" = 0 ] || die "needs root"
	command -v systemd-nspawn >/dev/null || die "needs systemd-nspawn (apt-get install systemd-container)"
	case $STATE in /|"") die "bad SDBOOT_STATE";; esac
	if [ -s "$STATE/nspawn.pid" ] && kill -0 "$(cat "$STATE/nspawn.pid")" 2>/dev/null; then
		die "already running"
	fi
	rm -rf "$STATE"
	mkdir -p "$STATE/ov"
	# In a private mount namespace: a tmpfs /run (nspawn keeps state there),
	# the overlay, a fresh machine id; move into private child cgroups so
	# nspawn's payload/supervisor split does not land in the host's root
	# cgroup; --register=no/--keep-unit since there is no host systemd.
	ST="$STATE" setsid unshare --mount --propagation private bash -c '
		set -e
		mount -t tmpfs -o mode=755 tmpfs /run
		mount -t tmpfs -o mode=700 tmpfs "$ST/ov"
		mkdir "$ST/ov/upper" "$ST/ov/work" "$ST/ov/root"
		mount -t overlay overlay -o "lowerdir=/,upperdir=$ST/ov/upper,workdir=$ST/ov/work" "$ST/ov/root"
		systemd-id128 new > "$ST/ov/root/etc/machine-id"
		for m in $(findmnt -rn -t cgroup2 -o TARGET) $(findmnt -rn -t cgroup -O name=systemd -o TARGET); do
			if [ "$(findmnt -rn -o FSTYPE "$m")" = cgroup2 ]; then
				own=$(sed -n "s/^0:://p" /proc/self/cgroup)
			else
				own=$(sed -n "s/^[0-9]*:name=systemd://p" /proc/self/cgroup)
			fi
			d="$m${own%/}/pcpupool-sdboot.$$"
			mkdir "$d" && echo $$ > "$d/cgroup.procs" && echo "$d" >> "$ST/cgroups"
		done
		exec systemd-nspawn --quiet --directory="$ST/ov/root" --boot --register=no \
			--keep-unit --link-journal=no --private-network --console=pipe \
			-- systemd.unit=basic.target
	' </dev/null >"$STATE/console.log" 2>&1 &
	echo $! > "$STATE/nspawn.pid"
	local np p="" i; np=$(cat "$STATE/nspawn.pid")
	for i in $(seq 100); do
		p=$(cat /proc/"$np"/task/*/children 2>/dev/null | awk '{print $1}' | head -1)
		[ -n "$p" ] && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = systemd ] && break
		kill -0 "$np" 2>/dev/null || { cat "$STATE/console.log" >&2; die "nspawn exited"; }
		p=; sleep 0.1
	done
	[ -n "$p" ] || die "the container's systemd did not appear"
	echo "$p" > "$STATE/leader"
	for i in $(seq $((TIMEOUT * 10))); do
		[ -S /proc/"$p"/root/run/systemd/private ] && break
		sleep 0.1
	done
	local st
	st=$(timeout "$TIMEOUT" nsenter -t "$p" -m -p -- systemctl is-system-running --wait || true)
	case $st in
	running|degraded) echo "container systemd (host pid $p): $st" ;;
	*) die "boot did not settle ($st)" ;;
	esac
}

stop() {
	[ -s "$STATE/nspawn.pid" ] || return 0
	local np i; np=$(cat "$STATE/nspawn.pid")
	if kill -0 "$np" 2>/dev/null; then
		if [ -s "$STATE/leader" ]; then
			inside systemctl poweroff --no-block 2>/dev/null || kill -TERM "$np"
		else
			kill -TERM "$np"
		fi
		for i in $(seq 150); do kill -0 "$np" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$np" 2>/dev/null && { kill -TERM "$np"; sleep 3; }
		kill -0 "$np" 2>/dev/null && kill -KILL "$np"
	fi
	if [ -s "$STATE/cgroups" ]; then
		while read -r d; do
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null ||
				echo "boot.sh: cannot remove $d" >&2
		done < "$STATE/cgroups"
	fi
	rm -f "$STATE/nspawn.pid" "$STATE/leader" "$STATE/cgroups"
}

case ${1:-} in
start) start ;;
stop) stop ;;
exec) shift; inside "$@" ;;
root) echo "/proc/$(leader)/root" ;;
*) sed -n '2,16p' "$0"; exit 2 ;;
esac
