#!/usr/bin/env bash
# The systemd cgroup driver's tests (cmd/kago-runc TestSystemd*: kago-runc
# --systemd-cgroup, and runc --systemd-cgroup as the reference) where systemd
# is PID 1: a Debian VM (test/vm/debian.sh), booted once on pure cgroup v2 and
# once on systemd's hybrid layout. Exits non-zero if either boot fails.
#
# Usage: test/systemd-cgroup-vm.sh [-run REGEXP]
set -euo pipefail
cd "$(dirname "$0")/.."
run='^TestSystemd'
if [ "${1:-}" = -run ]; then run=$2; fi
GO=${GO:-go}
share=$(mktemp -d /tmp/kago-vm-systemd.XXXXXX)
trap 'rm -rf "$share"' EXIT
# The guest has no Go: the runtime, its init and the test binary go in built.
$GO build -o "$share/bin/" ./cmd/kago-runc ./cmd/kago-init
$GO test -c -o "$share/kago-runc.test" ./cmd/kago-runc
cp /bin/busybox "$share/busybox" # test containers' root (testbundle wants /bin/busybox)
cmd="cp /share/busybox /bin/busybox && KAGO_RUNC_PREBUILT=/share/bin/kago-runc /share/kago-runc.test -test.run '$run' -test.v -test.count=1 -test.timeout 20m"
rc=0
for layout in v2 hybrid; do
	echo "== systemd cgroup driver in a VM, cgroup $layout"
	flag=
	[ "$layout" = hybrid ] && flag=--hybrid
	start=$(date +%s)
	test/vm/debian.sh $flag --share "$share" --timeout 1500 -- sh -c "$cmd" || rc=1
	echo "== cgroup $layout: $(( $(date +%s) - start ))s"
done
exit "$rc"
