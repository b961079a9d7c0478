#!/usr/bin/env bash
# Boot Debian's cloud kernel with a busybox initramfs on pure cgroup v2
# (cgroup_no_v1=all, every controller enabled in the root's
# cgroup.subtree_control) and run COMMAND there as root, in /share, a copy
# of DIR. Prints COMMAND's output and exits with its exit code.
#
# Usage: test/vm/ramfs.sh [--share DIR] [--timeout SECONDS] -- COMMAND...
# The guest has busybox only: DIR brings static binaries (Go test binaries
# built with CGO_ENABLED=0, kago binaries) and scripts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

share= timeout=600
while [ $# -gt 0 ]; do
	case "$1" in
	--share) share=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--) shift; break ;;
	*) vm_die "unknown option $1 (usage: ramfs.sh [--share DIR] [--timeout S] -- COMMAND...)" ;;
	esac
done
[ $# -gt 0 ] || vm_die "no command (usage: ramfs.sh [--share DIR] [--timeout S] -- COMMAND...)"
[ -z "$share" ] || [ -d "$share" ] || vm_die "--share $share: not a directory"
[ "$(id -u)" = 0 ] || vm_die "needs root"

vm_kernel
vm_base_initramfs
VM_QEMU_EXTRA=()
rc=0
vm_run ramfs "$share" "$timeout" "quiet loglevel=1 cgroup_no_v1=all" "$@" || rc=$?
exit "$rc"
