#!/bin/bash
# boot-vm.sh - run shell commands as PID 1's child in a throwaway x86-64
# virtual machine with as many CPUs and NUMA nodes as asked, and exit with
# their exit status.
#
#   tests/vm/boot-vm.sh [--cpus N] [--nodes K] [--mem MIB] [--timeout S]
#                       [--add FILE[:GUEST_PATH]]... [--append ARGS] [--log FILE]
#                       -- 'commands'
#
#   --cpus N      vCPUs (default 4); --nodes K NUMA nodes, one socket each,
#                 N/K CPUs and MIB/K of the memory on each (default 1)
#   --mem MIB     the guest's memory (default 2048)
#   --timeout S   the whole VM's wall-time limit (default 900)
#   --add F[:G]   copy F into the guest as G (default: the same absolute
#                 path as on the host), with every shared library F needs,
#                 each at the path the host's loader finds it (so an rpath
#                 such as $ORIGIN/.. keeps working inside)
#   --append ARGS more kernel command-line arguments (hugepages=, ...)
#   --log FILE    keep the guest's console output there too
#
# The commands run as root under /bin/sh (busybox) in /tmp, with /proc,
# /sys, /dev, /dev/shm and cgroup2 (/sys/fs/cgroup) mounted; / (so /tmp
# and /run) is the initramfs, a tmpfs.
# Their exit status is this script's; 124 means the VM ran out of time,
# 125 that it gave no exit status (a kernel panic, a guest that hung).
#
# What the guest is made of:
#  - a kernel: the Debian cloud kernel (linux-image-cloud-amd64, which has
#    RSEQ, NUMA, CPU hotplug, cpusets, memfd and pidfd built in), fetched
#    with `apt-get download` and unpacked once into the cache directory
#    ($PCPUPOOL_VM_CACHE, else /var/cache/pcpupool-vm as root and
#    ${XDG_CACHE_HOME:-~/.cache}/pcpupool-vm otherwise), one directory per
#    package version;
#  - an initramfs: a static busybox (Debian's busybox-static, cached the
#    same way) and the --add files, made afresh each run;
#  - qemu-system-x86_64 with TCG, multi-threaded: no KVM is needed (and
#    nested KVM is not to be trusted on cloud machines), so nothing inside
#    is fast, and timings mean nothing; but the guest's CPUs are real CPUs
#    to its kernel: preemption, migration, rseq aborts, NUMA placement,
#    hotplug and cpusets behave as on a machine of that shape.  One
#    difference from most machines: the vCPUs' TSCs fail the kernel's
#    synchronisation check, so the clocksource is hpet, which the vDSO
#    cannot read: clock_gettime() is a real system call in the guest (as
#    on any machine whose TSC is unstable).  tsc=reliable would keep the
#    TSC, but hung about one boot in ten here.
# Missing host packages (qemu-system-x86, cpio) are installed with apt-get
# when run as root; otherwise the apt-get line to run is printed.
set -euo pipefail

die() { echo "boot-vm.sh: $*" >&2; exit 2; }

cpus=4 nodes=1 mem=2048 limit=900 log='' extra=''
adds=()
while [ $# -gt 0 ]; do
	case $1 in
	--cpus) cpus=$2; shift 2 ;;
	--nodes) nodes=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) limit=$2; shift 2 ;;
	--add) adds+=("$2"); shift 2 ;;
	--append) extra="$extra $2"; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--) shift; break ;;
	*) die "unknown option $1 (see the top of $0)" ;;
	esac
done
[ $# -eq 1 ] || die "give the guest's commands as one argument after --"
commands=$1
if ! [ "$cpus" -ge 1 ] || ! [ "$nodes" -ge 1 ] || [ $((cpus % nodes)) -ne 0 ]; then
	die "--cpus must be a positive multiple of --nodes"
fi
[ $((mem % nodes)) -eq 0 ] || die "--mem must be a multiple of --nodes"
[ "$(uname -m)" = x86_64 ] || die "this host is $(uname -m); the VM is x86-64 on an x86-64 host"

# ---- host packages ----
as_root() { [ "$(id -u)" -eq 0 ]; }
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v cpio >/dev/null || missing+=(cpio)
command -v readelf >/dev/null || missing+=(binutils)
if [ ${#missing[@]} -gt 0 ]; then
	as_root || die "missing packages; install them with: sudo apt-get install -y ${missing[*]}"
	echo "boot-vm.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	}
fi

# ---- the kernel and busybox, fetched once per version ----
if [ -n "${PCPUPOOL_VM_CACHE:-}" ]; then
	cache=$PCPUPOOL_VM_CACHE
elif as_root; then
	cache=/var/cache/pcpupool-vm
else
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/pcpupool-vm
fi
mkdir -p "$cache"

# The package and version apt would give for @name (a virtual package such
# as linux-image-cloud-amd64 is followed to what it depends on).
resolve() {
	local name=$1 real ver
	real=$(apt-cache depends "$name" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
	real=${real:-$name}
	ver=$(apt-cache policy "$real" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] && echo "$real $ver"
}

# unpack PKG VER DIR FILE...: download PKG=VER, put its FILEs (globs) in DIR
unpack() {
	local pkg=$1 ver=$2 dir=$3 tmp f
	shift 3
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	chmod 0777 "$tmp"   # apt-get download writes as user _apt when it can
	if ! (cd "$tmp" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$tmp/err"); then
		sed 's/^/apt-get: /' "$tmp/err" >&2
		rm -rf "$tmp"
		return 1
	fi
	mkdir -p "$tmp/x" "$tmp/out"
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	for f in "$@"; do
		# shellcheck disable=SC2086 # FILE is a glob
		cp -L "$tmp"/x/$f "$tmp/out/" || { rm -rf "$tmp"; die "$pkg has no $f"; }
	done
	echo "$pkg $ver" > "$tmp/out/.complete"
	rm -rf "$dir"
	mv "$tmp/out" "$dir"
	rm -rf "$tmp"
}

# fetch NAME PREFIX FILE...: print the directory $cache/<package>_<version>
# holding the FILEs of the package NAME (as apt resolves it now), fetched
# if it is not there yet.  With no package list to ask (apt-get update
# never ran, and we may not run it), the newest PREFIX* directory that an
# earlier run left.
fetch() {
	local name=$1 prefix=$2 pv pkg ver dir try
	shift 2
	for try in 1 2; do
		if [ "$try" = 2 ]; then
			as_root || break
			echo "boot-vm.sh: apt-get update" >&2
			apt-get update -qq >/dev/null 2>&1 || true
		fi
		pv=$(resolve "$name") || continue
		read -r pkg ver <<<"$pv"
		dir=$cache/${pkg}_${ver//:/%}
		if [ -f "$dir/.complete" ]; then
			echo "$dir"
			return
		fi
		echo "boot-vm.sh: fetching $pkg $ver into $cache" >&2
		if unpack "$pkg" "$ver" "$dir" "$@"; then
			echo "$dir"
			return
		fi
	done
	# shellcheck disable=SC2012 # names of our own making
	dir=$(ls -d "$cache/$prefix"*/.complete 2>/dev/null | sort -V | tail -n 1)
	[ -n "$dir" ] || die "could not fetch the package $name"
	echo "boot-vm.sh: using the cached $(cat "$dir")" >&2
	dirname "$dir"
}

kdir=$(fetch linux-image-cloud-amd64 linux-image- 'boot/vmlinuz-*' 'boot/config-*')
bdir=$(fetch busybox-static busybox-static_ bin/busybox)
kernel=$(ls "$kdir"/vmlinuz-*)

# ---- the initramfs ----
work=$(mktemp -d "${TMPDIR:-/tmp}/pcpupool-vm.XXXXXX")
qpid=
# shellcheck disable=SC2317 # a trap's
cleanup() {
	if [ -n "$qpid" ]; then
		kill "$qpid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run}
cp "$bdir/busybox" "$root/bin/busybox"

# put SRC at GUEST inside the guest, following symbolic links
put() {
	local src=$1 dst=$2
	[ -e "$root$dst" ] && return 0
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$src" "$root$dst"
}
# put FILE and, if it is a dynamic ELF file, its interpreter and every
# library the host's loader resolves for it, each at the host's path
put_with_libs() {
	local f=$1 dst=$2 interp lib
	put "$f" "$dst"
	head -c 4 "$f" | grep -q ELF || return 0
	interp=$(readelf -l "$f" 2>/dev/null | sed -n 's/.*interpreter: \(.*\)]$/\1/p')
	[ -z "$interp" ] && return 0   # static
	put "$interp" "$interp"
	# ldd, not readelf: it follows rpaths and runpaths, $ORIGIN included
	while read -r lib; do
		put "$lib" "$lib"
	done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
	if ldd "$f" 2>/dev/null | grep -q 'not found'; then
		ldd "$f" | grep 'not found' >&2
		die "$f: a library it needs is not found on this host"
	fi
}
for a in ${adds[@]+"${adds[@]}"}; do
	src=${a%%:*} dst=${a#*:}
	[ "$dst" != "$a" ] || dst=$(realpath -s "$src")
	[ -e "$src" ] || die "--add $src: no such file"
	put_with_libs "$src" "$dst"
done

# users and groups for whatever looks them up
printf '%s\n' 'root:x:0:0:root:/tmp:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
	> "$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > "$root/etc/group"

# The guest's commands go in a file of their own: no quoting to get wrong.
printf '%s\n' "$commands" > "$root/commands.sh"
cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts /sys/fs/cgroup
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
chmod 1777 /tmp   # /tmp and /run are the initramfs' own (a tmpfs): files
                  # added under them stay in sight
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null
echo "pcpupool-vm: up"
cd /tmp
/bin/sh /commands.sh </dev/null
rc=$?
sync
echo "pcpupool-vm: guest exit status $rc"
poweroff -f
EOF
chmod 0755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd"

# ---- the machine: one socket per NUMA node ----
per_node=$((cpus / nodes))
# shellcheck disable=SC2054 # qemu's commas
machine=(-M pc -cpu max -accel tcg,thread=multi -m "$mem"
	 -smp "cpus=$cpus,sockets=$nodes,cores=$per_node,threads=1")
if [ "$nodes" -gt 1 ]; then
	for n in $(seq 0 $((nodes - 1))); do
		machine+=(-object "memory-backend-ram,id=mem$n,size=$((mem / nodes))M"
			  -numa "node,nodeid=$n,memdev=mem$n"
			  -numa "cpu,node-id=$n,socket-id=$n")
	done
fi

# lpj: the delay loop's calibration, skipped (udelay counts the TSC anyway):
# each vCPU would spend a second or more of emulation on it.
# mitigations=off: no speculation to defend against in a test VM.
append="console=ttyS0 quiet panic=-1 rdinit=/init mitigations=off lpj=10000000$extra"
console=$work/console

# boot VM_LIMIT BOOT_LIMIT: run the VM until it powers off (0), or kill it
# when it has not reached init within BOOT_LIMIT seconds (2) or is still
# running after VM_LIMIT seconds (124).  The console goes to a file, shown
# as it grows: qemu never waits for a reader.
boot() {
	local vm_limit=$1 boot_limit=$2 t0=$SECONDS tpid up=
	: > "$console"
	qemu-system-x86_64 "${machine[@]}" -kernel "$kernel" -initrd "$work/initrd" \
		-append "$append" -nodefaults -display none -no-reboot \
		-serial "file:$console" -monitor none </dev/null >/dev/null 2>"$work/qemu.err" &
	qpid=$!
	tail -n +1 -s 0.5 -f --pid="$qpid" "$console" | tr -d '\r' | tee -a ${log:+"$log"} &
	tpid=$!
	while kill -0 "$qpid" 2>/dev/null; do
		if [ -z "$up" ] && grep -q '^pcpupool-vm: up' "$console"; then
			up=1
		fi
		if [ -z "$up" ] && [ $((SECONDS - t0)) -ge "$boot_limit" ]; then
			kill "$qpid" 2>/dev/null
			wait "$qpid" 2>/dev/null
			qpid=
			wait "$tpid" 2>/dev/null
			return 2
		fi
		if [ $((SECONDS - t0)) -ge "$vm_limit" ]; then
			kill "$qpid" 2>/dev/null
			wait "$qpid" 2>/dev/null
			qpid=
			wait "$tpid" 2>/dev/null
			return 124
		fi
		sleep 1
	done
	wait "$qpid" 2>/dev/null
	qpid=
	wait "$tpid" 2>/dev/null
	return 0
}

[ -z "$log" ] || : > "$log"
echo "boot-vm.sh: $cpus vCPUs, $nodes node(s), $mem MiB, kernel $(basename "$kernel"), limit ${limit}s" >&2
start=$SECONDS
# A kernel that never reaches init is the emulator's trouble, not the
# tests': such a boot is tried once more.  How long a boot may take grows
# with the vCPUs (64 boot in about 25 s on a 2-core host).
boot_limit=${BOOT_VM_BOOT_LIMIT:-$((120 + 4 * cpus))}
rc=0
boot "$limit" "$boot_limit" || rc=$?
if [ "$rc" = 2 ]; then
	echo "boot-vm.sh: the guest did not reach init within ${boot_limit}s: booting it again" >&2
	rc=0
	boot "$limit" "$boot_limit" || rc=$?
fi
echo "boot-vm.sh: the VM ran $((SECONDS - start)) s" >&2
if [ -s "$work/qemu.err" ]; then
	sed 's/^/qemu: /' "$work/qemu.err" >&2
fi
case $rc in
2) echo "boot-vm.sh: the guest did not reach init, twice" >&2; exit 125 ;;
124) echo "boot-vm.sh: the VM was still running after ${limit}s: killed" >&2; exit 124 ;;
esac
status=$(tr -d '\r' < "$console" | sed -n 's/^pcpupool-vm: guest exit status \([0-9][0-9]*\)$/\1/p' | tail -n 1)
if [ -z "$status" ]; then
	echo "boot-vm.sh: the guest gave no exit status (a kernel panic or a hang?)" >&2
	exit 125
fi
exit "$status"
