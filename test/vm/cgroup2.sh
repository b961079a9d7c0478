#!/usr/bin/env bash
# Issue 15 §3: the cgroup v2 tests this hybrid host skips, run in the pure
# cgroup v2 guest (ramfs.sh: busybox initramfs, cgroup_no_v1=all, every
# controller enabled at the root). Builds static test binaries (go test -c)
# and kago-runc/kago-init, runs the packages and patterns listed in
# cgroup2-expected, and fails if a test fails or if a test listed there as
# "want" did not pass (a skip is a failure: it would hide that v2 went
# untested). Prints "N passed, M failed".
set -uo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$dir/../.." && pwd)
GO=${GO:-go}
share=$(mktemp -d /tmp/kago-vm-cgroup2.XXXXXX)
trap 'rm -rf "$share"' EXIT

expected=$dir/cgroup2-expected
mkdir -p "$share/bin"
echo "== build (ramfs.sh brings the libraries cgo binaries need)"
(cd "$repo" && $GO build -o "$share/bin/" ./cmd/kago-runc ./cmd/kago-init) || exit 1
# The peer of linux/cgroups TestCPUWeightMatchesRunc: a runc whose cpu.weight
# conversion kago follows (static, so the busybox guest can run it).
make -C "$repo" --no-print-directory peer-runc GO="$GO" >/dev/null || exit 1
cp "$repo"/bin/peers/runc-v* "$share/bin/runc-peer" || exit 1
script=$share/run-tests.sh
{
	echo '#!/bin/sh'
	echo 'export KAGO_RUNC_PREBUILT=/share/bin/kago-runc KAGO_PEER_RUNC=/share/bin/runc-peer TMPDIR=/tmp'
	echo 'rc=0'
} >"$script"
while read -r kind pkg pattern; do
	[ "$kind" = run ] || continue
	bin=$(echo "$pkg" | tr / _).test
	(cd "$repo" && $GO test -c -o "$share/$bin" "./$pkg") || exit 1
	# Each package from its own directory, as go test runs it.
	mkdir -p "$share/src/$pkg"
	printf 'echo "=== PACKAGE %s"\n(cd /share/src/%s && /share/%s -test.v -test.count=1 -test.timeout 5m -test.run %s) || rc=1\n' \
		"$pkg" "$pkg" "$bin" "'$pattern'" >>"$script"
done < <(grep -v '^#' "$expected")
echo 'exit $rc' >>"$script"
chmod +x "$script"

echo "== boot the cgroup v2 guest (test/vm/ramfs.sh) and run"
start=$(date +%s)
# The whole -test.v log is kept for the count; the screen gets it without
# the RUN/PAUSE/CONT lines.
"$dir/ramfs.sh" --share "$share" --timeout "${KAGO_VM_TIMEOUT:-360}" -- ./run-tests.sh |
	tee "$share/out" | grep --line-buffered -v -E '^=== (RUN|PAUSE|CONT) '
rc=${PIPESTATUS[0]}
echo "   (guest: $(($(date +%s) - start))s)"

# Which tests passed, by package.
awk '/^=== PACKAGE / {pkg=$3} /^ *--- (PASS|FAIL|SKIP): / {print pkg, $2, $3}' "$share/out" >"$share/results"
passed=$(awk '$2 == "PASS:"' "$share/results" | wc -l)
failed=$(awk '$2 == "FAIL:"' "$share/results" | wc -l)
missing=0
while read -r kind pkg name; do
	[ "$kind" = want ] || continue
	if ! grep -qxF "$pkg PASS: $name" "$share/results"; then
		got=$(awk -v p="$pkg" -v n="$name" '$1 == p && $3 == n {print $2}' "$share/results" | tr -d :)
		echo "FAIL $pkg $name: ${got:-did not run}, want PASS on cgroup v2"
		missing=$((missing + 1))
	fi
done < <(grep -v '^#' "$expected")
failed=$((failed + missing))
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
	echo "FAIL the guest run exited $rc"
	failed=1
fi
echo "cgroup2: $passed passed, $failed failed"
[ "$failed" = 0 ]
