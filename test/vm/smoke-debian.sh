#!/usr/bin/env bash
# Smoke test of the Debian VM (debian.sh): boots it pure cgroup v2 and
# hybrid, checks systemd as PID 1, AppArmor enabled, D-Bus, the cgroup
# layout, the share, and that the command's exit code comes back.
# Prints "N passed, M failed"; exits 1 if anything failed.
set -uo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
share=$(mktemp -d /tmp/kago-vm-smoke.XXXXXX)
trap 'rm -rf "$share"' EXIT
cp "$dir/guest-tests/debian-smoke.sh" "$share/"
printf '#!/bin/sh\necho from-the-host\n' >"$share/marker.sh"
chmod +x "$share"/*.sh

passed=0 failed=0
count() {
	passed=$((passed + $(grep -c '^ok ' "$1")))
	failed=$((failed + $(grep -c '^FAIL ' "$1")))
}
for layout in v2 hybrid; do
	opt=; [ "$layout" = hybrid ] && opt=--hybrid
	echo "== debian.sh $opt: smoke ($layout)"
	start=$(date +%s)
	"$dir/debian.sh" $opt --timeout 180 --share "$share" -- ./debian-smoke.sh "$layout" | tee "$share/out"
	rc=${PIPESTATUS[0]}
	count "$share/out"
	if [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$share/out"; then
		echo "FAIL debian.sh $opt exited $rc without a check failing"; failed=$((failed + 1))
	fi
	echo "   ($layout boot + checks: $(($(date +%s) - start))s)"
done
echo "== exit code of the command comes back"
"$dir/debian.sh" --timeout 180 -- sh -c 'exit 7'
rc=$?
if [ "$rc" = 7 ]; then echo "ok   exit code 7 came back"; passed=$((passed + 1)); else echo "FAIL exit code: got $rc, want 7"; failed=$((failed + 1)); fi
echo "debian-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
