# shellcheck shell=bash
# Shared pieces of kago's VM test harness (see README.md): the guest kernel
# (Debian's cloud kernel, cached by version), the busybox initramfs that
# loads its virtio modules, and one qemu boot (microvm, TCG) whose command
# output and exit code come back over two virtio-serial ports.
#
# Sourced by debian.sh and ramfs.sh; needs root, apt, qemu-system-x86,
# busybox-static and e2fsprogs.

KAGO_VM_CACHE=${KAGO_VM_CACHE:-/var/cache/kago-vm}
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The cloud kernel has the virtio transport and devices as modules; the
# initramfs loads these (in this order) before anything else.
VM_BOOT_MODULES="virtio_ring virtio virtio_mmio virtio_blk virtio_console virtio-rng"

vm_log() { echo "kago-vm: $*" >&2; }
vm_die() { vm_log "$*"; exit 125; }

# vm_locked FILE CMD...: CMD under an exclusive lock, so concurrent runs on
# one machine build each cache entry once.
vm_locked() {
	local lock=$1; shift
	mkdir -p "$KAGO_VM_CACHE"
	(flock 9 && "$@") 9>"$KAGO_VM_CACHE/$lock.lock"
}

# vm_kernel: sets VM_KVER (uname -r of the guest), VM_KERNEL (vmlinuz) and
# VM_KDIR (the extracted package: boot/, lib/modules/). The image package is
# the one linux-image-cloud-amd64 depends on, fetched with apt-get download
# and kept under $KAGO_VM_CACHE/kernel/<package>_<version>. Without apt
# lists (offline), the newest cached kernel is used.
vm_kernel() {
	local pkg ver
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
	if [ -z "$pkg" ] && [ ! -d "$KAGO_VM_CACHE/kernel" ]; then
		vm_log "apt-get update (no package lists for linux-image-cloud-amd64)"
		apt-get update -qq >&2 || true
		pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
	fi
	if [ -n "$pkg" ]; then
		ver=$(apt-cache show --no-all-versions "$pkg" | awk '/^Version:/ {print $2; exit}')
		VM_KDIR=$KAGO_VM_CACHE/kernel/${pkg}_$ver
		[ -f "$VM_KDIR/.done" ] || vm_locked kernel vm_kernel_fetch "$pkg" "$VM_KDIR"
	else
		VM_KDIR=$(ls -d "$KAGO_VM_CACHE"/kernel/linux-image-*/ 2>/dev/null | sort -V | tail -1)
		VM_KDIR=${VM_KDIR%/}
		[ -f "$VM_KDIR/.done" ] || vm_die "no kernel: linux-image-cloud-amd64 is unknown to apt (run apt-get update) and $KAGO_VM_CACHE/kernel is empty"
	fi
	VM_KVER=$(ls "$VM_KDIR/lib/modules")
	VM_KERNEL=$VM_KDIR/boot/vmlinuz-$VM_KVER
}

vm_kernel_fetch() {
	local pkg=$1 dir=$2 tmp
	[ -f "$dir/.done" ] && return 0
	tmp=$(mktemp -d "$KAGO_VM_CACHE/kernel.XXXXXX")
	vm_log "apt-get download $pkg"
	(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2) || { rm -rf "$tmp"; vm_die "apt-get download $pkg failed"; }
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	# modules.dep for busybox modprobe/depmod (the package leaves it to postinst).
	busybox depmod -b "$tmp/x" "$(ls "$tmp/x/lib/modules")"
	rm -rf "$dir"; mkdir -p "$(dirname "$dir")"
	mv "$tmp/x" "$dir" && rm -rf "$tmp"
	touch "$dir/.done"
}

# vm_args USAGE ARGS...: the options both guests take. Sets VM_SHARE,
# VM_TIMEOUT (default 600), VM_HYBRID (1 for --hybrid, where USAGE offers
# it) and VM_CMD (the command after --); dies with USAGE on bad input.
vm_args() {
	local usage=$1; shift
	VM_SHARE= VM_TIMEOUT=600 VM_HYBRID=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--hybrid) [[ $usage == *--hybrid* ]] || vm_die "unknown option $1 ($usage)"; VM_HYBRID=1; shift ;;
		--share) [ $# -ge 2 ] || vm_die "--share needs a directory ($usage)"; VM_SHARE=$2; shift 2 ;;
		--timeout) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || vm_die "--timeout needs seconds ($usage)"; VM_TIMEOUT=$2; shift 2 ;;
		--) shift; break ;;
		*) vm_die "unknown option $1 ($usage)" ;;
		esac
	done
	[ $# -gt 0 ] || vm_die "no command ($usage)"
	[ -z "$VM_SHARE" ] || [ -d "$VM_SHARE" ] || vm_die "--share $VM_SHARE: not a directory"
	[ "$(id -u)" = 0 ] || vm_die "needs root"
	VM_CMD=("$@")
}

# vm_mirror: the Debian mirror this host's apt uses for its own release
# (never a hard-coded host); DEBIAN_MIRROR overrides.
vm_mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
	local suite m
	suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
	m=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' 2>/dev/null |
		awk -v s="$suite" '$2 == s {print $1; exit}')
	[ -n "$m" ] || vm_die "no Debian mirror for $suite in this host's apt sources: set DEBIAN_MIRROR"
	echo "${m%/}"
}

# vm_cpio DIR: a newc archive of DIR's contents (paths relative to DIR) on
# stdout. Archives concatenate: the kernel unpacks them in order.
vm_cpio() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null)
}

# vm_base_initramfs: sets VM_BASE_CPIO, the cached archive with busybox,
# the boot modules and the guest scripts (guest/), rebuilt when any of them
# changes.
vm_base_initramfs() {
	local key
	key=$( (cat /bin/busybox "$VM_DIR"/guest/* "$VM_DIR/lib.sh"; echo "$VM_KVER") | sha256sum | cut -c1-16)
	VM_BASE_CPIO=$KAGO_VM_CACHE/initramfs/base-$key.cpio
	[ -s "$VM_BASE_CPIO" ] || vm_locked initramfs vm_base_initramfs_build
}

vm_base_initramfs_build() {
	[ -s "$VM_BASE_CPIO" ] && return 0
	case "$(ldd /bin/busybox 2>&1)" in
	*"not a dynamic"*) ;;
	*) vm_die "/bin/busybox is missing or not static: apt-get install busybox-static" ;;
	esac
	local t m f
	t=$(mktemp -d)
	mkdir -p "$t"/{bin,dev,proc,sys,newroot,lib/modules,kago-vm}
	cp /bin/busybox "$t/bin/busybox"
	for m in $VM_BOOT_MODULES; do
		f=$(awk -F: -v m="/$m.ko" 'index($1, m) && substr($1, length($1) - length(m) + 1) == m {print $1; exit}' \
			"$VM_KDIR/lib/modules/$VM_KVER/modules.dep")
		[ -n "$f" ] || vm_die "module $m not in $VM_KVER"
		cp "$VM_KDIR/lib/modules/$VM_KVER/$f" "$t/lib/modules/"
		echo "$m" >>"$t/lib/modules/load"
	done
	cp "$VM_DIR"/guest/* "$t/kago-vm/"
	mv "$t/kago-vm/init" "$t/init"
	chmod 755 "$t/init" "$t"/kago-vm/*
	mkdir -p "$(dirname "$VM_BASE_CPIO")"
	vm_cpio "$t" >"$VM_BASE_CPIO.tmp" && mv "$VM_BASE_CPIO.tmp" "$VM_BASE_CPIO"
	rm -rf "$t"
}

# vm_copy_libs DIR ROOT: the shared libraries (and the dynamic loader) that
# the ELF executables in DIR need, copied to the same paths under ROOT, so
# cgo binaries (kago-init's nsenter) run in the busybox guest.
vm_copy_libs() {
	local f l
	find "$1" -type f -perm -u+x | while read -r f; do
		head -c 4 "$f" | grep -q ELF || continue
		ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true
	done | sort -u | while read -r l; do
		mkdir -p "$2$(dirname "$l")"
		cp -L "$l" "$2$l"
	done
}

# vm_quote ARGS...: the arguments as one POSIX sh command line.
vm_quote() {
	local a out=
	for a in "$@"; do
		out+="'${a//\'/\'\\\'\'}' "
	done
	echo "$out"
}

# vm_run MODE SHARE TIMEOUT APPEND COMMAND...: boots the guest in MODE
# (debian or ramfs) with SHARE's contents at /share, runs COMMAND there,
# streams its output to stdout and returns its exit code (124: timeout,
# 125: the guest did not boot or report one). A boot that does not reach
# the command within KAGO_VM_BOOT_TIMEOUT (150 s) is tried once more. Extra
# qemu arguments come from the array VM_QEMU_EXTRA; VM_SCRATCH_MB adds an
# empty disk of that size; KAGO_VM_VERBOSE=1 prints the serial console.
vm_run() {
	local mode=$1 share=$2 timeout=$3 append=$4; shift 4
	local rc qrc=0 khz
	VM_WORK=$(mktemp -d "${TMPDIR:-/tmp}/kago-vm.XXXXXX")
	VM_PIDS=
	trap vm_cleanup EXIT
	trap 'exit 130' INT TERM
	local work=$VM_WORK
	mkdir -p "$work/run/kago-vm" "$work/run/share"
	if [ -n "$share" ]; then
		cp -a "$share/." "$work/run/share/"
		[ "$mode" = ramfs ] && vm_copy_libs "$share" "$work/run"
	fi
	vm_quote "$@" >"$work/run/kago-vm/cmd"
	echo "$mode" >"$work/run/kago-vm/mode"
	{ cat "$VM_BASE_CPIO"; vm_cpio "$work/run"; } >"$work/initrd"
	rm -rf "$work/run"
	: >"$work/out"
	: >"$work/rc"
	# Under TCG the guest's TSC is the host's, and calibrating it against
	# the emulated PIT fails at random on a loaded host (the boot then hangs
	# after "Marking TSC unstable"): tell the guest the frequency instead.
	# KAGO_VM_TSC_KHZ overrides where "cpu MHz" is not the TSC's rate
	# (frequency scaling without constant_tsc).
	khz=${KAGO_VM_TSC_KHZ:-$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)}
	[ -n "$khz" ] && append="tsc_early_khz=$khz tsc=reliable $append"
	local extra=("${VM_QEMU_EXTRA[@]}")
	if [ -n "${VM_SCRATCH_MB:-}" ]; then
		# An empty disk (/dev/vda in the ramfs guest) for block I/O limits.
		truncate -s "${VM_SCRATCH_MB}M" "$work/scratch.img"
		extra+=(-drive "file=$work/scratch.img,format=raw,if=none,id=scratch" -device virtio-blk-device,drive=scratch)
	fi
	tail -n +1 -f "$work/out" &
	VM_PIDS="$VM_PIDS $!"
	local attempt up
	for attempt in 1 2; do
		: >"$work/up"
		qrc=0
		# timeout(1) ends qemu after TIMEOUT seconds (status 124), and passes
		# on the TERM that vm_cleanup sends it when this script is interrupted.
		timeout -k 5 "$timeout" qemu-system-x86_64 \
			-M microvm -accel tcg -m "${KAGO_VM_MEM:-2G}" -smp "${KAGO_VM_CPUS:-2}" \
			-nographic -no-reboot \
			-kernel "$VM_KERNEL" -initrd "$work/initrd" \
			-append "console=ttyS0 panic=-1 reboot=t kago_vm.mode=$mode $append" \
			-device virtio-rng-device -device virtio-serial-device \
			-chardev file,id=out,path="$work/out" -device virtserialport,chardev=out,name=kago.out \
			-chardev file,id=rc,path="$work/rc" -device virtserialport,chardev=rc,name=kago.rc \
			-chardev file,id=up,path="$work/up" -device virtserialport,chardev=up,name=kago.up \
			"${extra[@]}" </dev/null >"$work/console" 2>&1 &
		local qpid=$!
		VM_PIDS="$VM_PIDS $qpid"
		# A boot that never reaches the command (a guest hung in early boot
		# under TCG) is tried once more instead of costing the whole timeout.
		up=0
		for _ in $(seq $((${KAGO_VM_BOOT_TIMEOUT:-150} * 2))); do
			if [ -s "$work/up" ]; then up=1; break; fi
			kill -0 "$qpid" 2>/dev/null || break
			sleep 0.5
		done
		[ -s "$work/up" ] && up=1
		if [ "$up" = 0 ] && kill -0 "$qpid" 2>/dev/null; then
			kill "$qpid" 2>/dev/null
			wait "$qpid" 2>/dev/null
			vm_log "boot $attempt did not reach the command in ${KAGO_VM_BOOT_TIMEOUT:-150}s; serial console ends:"
			tail -n 15 "$work/console" >&2
			continue
		fi
		wait "$qpid" || qrc=$?
		break
	done
	sleep 0.2
	vm_stop_pids
	if [ "${KAGO_VM_VERBOSE:-0}" = 1 ]; then
		echo "---- kago-vm: serial console" >&2; cat "$work/console" >&2
	fi
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		vm_log "timed out after ${timeout}s; serial console ends:"
		tail -n 40 "$work/console" >&2
		return 124
	fi
	if [ "$up" = 0 ] && [ -z "$(tr -dc 0-9 <"$work/rc")" ]; then
		vm_log "the guest did not boot"
		return 125
	fi
	rc=$(tr -dc 0-9 <"$work/rc")
	if [ -z "$rc" ]; then
		vm_log "the guest reported no exit code (qemu exit $qrc); serial console ends:"
		tail -n 40 "$work/console" >&2
		return 125
	fi
	return "$rc"
}

# vm_stop_pids: ends what vm_run started (qemu's timeout, the output tail),
# by PID.
vm_stop_pids() {
	local p
	for p in $VM_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $VM_PIDS; do wait "$p" 2>/dev/null || true; done
	VM_PIDS=
}

vm_cleanup() {
	vm_stop_pids
	[ -n "${VM_WORK:-}" ] && rm -rf "$VM_WORK"
}
