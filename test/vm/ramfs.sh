#!/usr/bin/env bash
# Boot Debian's cloud kernel with a busybox initramfs on pure cgroup v2
# (cgroup_no_v1=all, every controller enabled in the root's
# cgroup.subtree_control) and run COMMAND there as root, in /share, a copy
# of DIR. Prints COMMAND's output and exits with its exit code. An empty
# 16 MiB disk is /dev/vda (for block I/O limits).
#
# Usage: test/vm/ramfs.sh [--share DIR] [--timeout SECONDS] -- COMMAND...
# The guest has busybox only: DIR brings static binaries (Go test binaries
# built with CGO_ENABLED=0, kago binaries) and scripts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

vm_args "usage: ramfs.sh [--share DIR] [--timeout S] -- COMMAND..." "$@"
vm_kernel
vm_base_initramfs
VM_QEMU_EXTRA=()
VM_SCRATCH_MB=${VM_SCRATCH_MB:-16}
rc=0
vm_run ramfs "$VM_SHARE" "$VM_TIMEOUT" "quiet loglevel=1 cgroup_no_v1=all" "${VM_CMD[@]}" || rc=$?
exit "$rc"
