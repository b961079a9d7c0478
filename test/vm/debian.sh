#!/usr/bin/env bash
# Boot a Debian root (debootstrap: systemd as PID 1, dbus, AppArmor enabled)
# on Debian's cloud kernel and run COMMAND there as root, after boot, in
# /share, a copy of DIR. Prints COMMAND's output and exits with its exit
# code. Pure cgroup v2 by default; --hybrid boots systemd's hybrid layout
# (systemd.unified_cgroup_hierarchy=0).
#
# Usage: test/vm/debian.sh [--hybrid] [--share DIR] [--timeout SECONDS] -- COMMAND...
#
# The root is built once per machine and cached in $KAGO_VM_CACHE
# (/var/cache/kago-vm) as an ext4 image, keyed by debian-packages, this
# debian-root.sh and the kernel version; the guest writes to a throw-away qemu
# snapshot of it, so every boot starts from the same root. No network in the
# guest.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/debian-root.sh"

vm_args "usage: debian.sh [--hybrid] [--share DIR] [--timeout S] -- COMMAND..." "$@"
cg="systemd.unified_cgroup_hierarchy=1"
[ "$VM_HYBRID" = 1 ] && cg="systemd.unified_cgroup_hierarchy=0"

vm_kernel
vm_base_initramfs
vm_debian_root

VM_QEMU_EXTRA=(-drive "file=$VM_ROOT,format=raw,if=none,id=root,snapshot=on"
	-device virtio-blk-device,drive=root)
rc=0
vm_run debian "$VM_SHARE" "$VM_TIMEOUT" "apparmor=1 security=apparmor $cg" "${VM_CMD[@]}" || rc=$?
exit "$rc"
