#!/usr/bin/env bash
# The systemd cgroup driver's tests where systemd is PID 1: a Debian VM
# (test/vm/debian.sh), booted once on pure cgroup v2 and once on systemd's
# hybrid layout. In each boot: cmd/kago-runc's TestSystemd* (kago-runc
# --systemd-cgroup, and runc --systemd-cgroup as the reference), then
# test/compat's TestCRISystemdCgroup (containerd's CRI plugin with
# SystemdCgroup = true, crictl as the kubelet, handlers: runc's shim running
# kago-runc, runc's shim running runc, kago's shim). Exits non-zero if either
# boot fails.
#
# Usage: test/systemd-cgroup-vm.sh [-run REGEXP] [-cri REGEXP]
#   -run: the kago-runc tests to run (default ^TestSystemd)
#   -cri: the test/compat tests to run (default ^TestCRISystemdCgroup$;
#         -cri none skips them)
set -euo pipefail
cd "$(dirname "$0")/.."
run='^TestSystemd'
cri='^TestCRISystemdCgroup$'
while [ $# -gt 0 ]; do
	case $1 in
	-run) run=$2; shift 2 ;;
	-cri) cri=$2; shift 2 ;;
	*) echo "usage: $0 [-run REGEXP] [-cri REGEXP|none]" >&2; exit 2 ;;
	esac
done
GO=${GO:-go}
share=$(mktemp -d /tmp/kago-vm-systemd.XXXXXX)
trap 'rm -rf "$share"' EXIT
# The guest has no Go: the runtime, its init, kago's shim, crictl and the
# test binaries go in built.
$GO build -o "$share/bin/" ./cmd/kago-runc ./cmd/kago-init ./cmd/containerd-shim-kago-v2
$GO test -c -o "$share/kago-runc.test" ./cmd/kago-runc
$GO test -c -tags compat -o "$share/compat.test" ./test/compat
GOBIN=$share/bin CGO_ENABLED=0 $GO install sigs.k8s.io/cri-tools/cmd/crictl@v1.34.0
cp /bin/busybox "$share/busybox" # test containers' root (testbundle wants /bin/busybox)
env="KAGO_RUNC_PREBUILT=/share/bin/kago-runc KAGO_SHIM_PREBUILT=/share/bin/containerd-shim-kago-v2 KAGO_CRICTL_PREBUILT=/share/bin/crictl"
# The guest's own containerd (started at boot) is not the one under test.
cmd="cp /share/busybox /bin/busybox && systemctl stop containerd.service; rc=0
$env /share/kago-runc.test -test.run '$run' -test.v -test.count=1 -test.timeout 20m || rc=1"
if [ "$cri" != none ]; then
	cmd="$cmd
start=\$(date +%s)
$env /share/compat.test -test.run '$cri' -test.v -test.count=1 -test.timeout 15m || rc=1
echo \"== CRI tests: \$(( \$(date +%s) - start ))s\""
fi
cmd="$cmd
exit \$rc"
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
