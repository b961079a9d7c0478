#!/usr/bin/env bash
# Runs test/lsm in a Debian VM with AppArmor enabled (test/vm/debian.sh, one
# boot for every check): the kago and runc binaries confined by a test
# profile, exec'd processes, refusals, and the engine's kago-default. The
# guest has no Go toolchain: the binaries and the compiled test come in the
# share, with the host's static busybox for the test containers' roots.
#
# Usage: test/lsm/vm.sh [go test flags, e.g. -test.run Kago]
set -euo pipefail
cd "$(dirname "$0")/../.."
share=$(mktemp -d "${TMPDIR:-/tmp}/kago-lsm-vm.XXXXXX")
trap 'rm -rf "$share"' EXIT
go build -trimpath -ldflags "-s -w" -o "$share/bin/" ./cmd/kago-runc ./cmd/kago-init ./cmd/kago ./cmd/kago-compose ./cmd/kago-monitor
go test -c -trimpath -ldflags "-s -w" -o "$share/lsm.test" ./test/lsm
cp /bin/busybox "$share/busybox"
cat >"$share/run.sh" <<'GUEST'
#!/bin/sh
set -e
cp busybox /bin/busybox
echo "kago-vm: AppArmor enabled: $(cat /sys/module/apparmor/parameters/enabled 2>&1), kernel $(uname -r)"
KAGO_TEST_BINDIR=/share/bin exec ./lsm.test -test.v -test.count=1 -test.timeout 15m "$@"
GUEST
chmod +x "$share/run.sh"
rc=0
test/vm/debian.sh --share "$share" --timeout 1200 -- ./run.sh "$@" || rc=$?
exit "$rc"
