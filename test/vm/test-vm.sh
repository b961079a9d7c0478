#!/usr/bin/env bash
# make test-vm: the cgroup v2 tests in the busybox guest (cgroup2.sh) and the
# Debian guest's smoke test (smoke-debian.sh). Prints each part's result and
# "N passed, M failed" over both; exits 1 if anything failed.
set -uo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0 rc=0
start=$(date +%s)
for t in cgroup2.sh smoke-debian.sh; do
	echo "==== test/vm/$t"
	t0=$(date +%s)
	log=$(mktemp /tmp/kago-vm-log.XXXXXX)
	"$dir/$t" 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	line=$(tail -1 "$log")
	rm -f "$log"
	p=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\2/p')
	if [ -z "$p" ]; then f=1 p=0; echo "FAIL test/vm/$t printed no summary"; fi
	passed=$((passed + p)) failed=$((failed + f))
	echo "==== test/vm/$t: $(($(date +%s) - t0))s"
done
[ "$rc" = 0 ] || [ "$failed" != 0 ] || failed=1
echo "test-vm ($(($(date +%s) - start))s): $passed passed, $failed failed"
[ "$rc" = 0 ] && [ "$failed" = 0 ]
