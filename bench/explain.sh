#!/bin/sh
# bench/explain.sh: what explain costs (issue 18). The recorder must be free
# when explain is off, so a run without --explain must be as fast as a kago
# built before explain existed (BASE, default c4dd873^, the commit before the
# recorder), and --explain=json shows what recording costs when on.
#   kago-runc run of /bin/true from one busybox bundle (N_EXPLAIN runs);
#   kago run --rm --network none IMAGE true (N_EXPLAIN/4 runs);
# each with this tree's binaries (explain off, and on), then BASE's, taken
# in turn so that the load of a shared machine falls on all three alike.
# Then the Go benchmarks of one step with explain off (ns, allocations).
# Everything lives in a temp dir (state roots, engine roots, no network).
set -eu
N=${N_EXPLAIN:-60}
BASE=${BASE:-c4dd873^}
HERE=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/s3ex-bench.XXXXXX)
cleanup() {
	set +e
	for v in head base; do
		for id in $("$W/$v/kago" --root "$W/engine-$v" ps -aq 2>/dev/null); do "$W/$v/kago" --root "$W/engine-$v" rm -f "$id" >/dev/null 2>&1; done
		"$W/$v/kago-runc" --root "$W/state-$v" delete -f b >/dev/null 2>&1
	done
	rm -rf "$W" 2>/dev/null || { sleep 1; rm -rf "$W"; }
}
trap cleanup EXIT INT TERM

cd "$HERE"
go build -o "$W/head/" ./cmd/kago ./cmd/kago-runc ./cmd/kago-monitor ./cmd/kago-init
mkdir -p "$W/base-src"
git archive "$BASE" | tar -x -C "$W/base-src"
(cd "$W/base-src" && go build -o "$W/base/" ./cmd/kago ./cmd/kago-runc ./cmd/kago-monitor ./cmd/kago-init)

B=$W/bundle
mkdir -p "$B"
go run ./internal/testbundle/mkrootfs "$B/rootfs" >/dev/null
(cd "$B" && "$W/head/kago-runc" spec)
python3 - "$B/config.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
json.dump(s, open(sys.argv[1], "w"))
PY
tar -C "$B/rootfs" -cf "$W/bb.tar" .
for v in head base; do
	mkdir -p "$W/engine-$v"
	"$W/$v/kago" --root "$W/engine-$v" import "$W/bb.tar" bb >/dev/null
done

# interleave NAME RUNS CMD_OFF CMD_ON CMD_BEFORE: runs the three commands in
# turn RUNS times (after a warm-up round), so that the load of a shared
# machine falls on all three alike, and prints their median ms.
interleave() {
	name=$1 runs=$2
	shift 2
	for i in $(seq 0 "$runs"); do
		k=0
		for c in "$@"; do
			k=$((k + 1))
			s=$(date +%s%N)
			(cd "$B" && $c) >/dev/null 2>"$W/$name.err" || { echo "  $c failed: $(tail -1 "$W/$name.err")" >&2; exit 1; }
			e=$(date +%s%N)
			[ "$i" -gt 0 ] && echo $(((e - s) / 1000)) >>"$W/$name-$k"
		done
	done
	for k in 1 2 3; do sort -n "$W/$name-$k" | awk '{ a[NR] = $1 } END { printf "%.2f ", a[int((NR + 1) / 2)] / 1000 }'; done
}

set -- $(interleave runc "$N" "$W/head/kago-runc --root $W/state-head run b" "$W/head/kago-runc --root $W/state-head run --explain=json b" "$W/base/kago-runc --root $W/state-base run b")
rh=$1 ro=$2 rb=$3
NE=$((N / 4))
set -- $(interleave engine "$NE" "$W/head/kago --root $W/engine-head run --rm --network none bb true" "$W/head/kago --root $W/engine-head run --rm --network none --explain=json bb true" "$W/base/kago --root $W/engine-base run --rm --network none bb true")
eh=$1 eo=$2 eb=$3

printf '  %-46s %12s %12s %12s %10s\n' "median ms" "explain off" "--explain" "before ($BASE)" "off/before"
awk -v a="$rh" -v b="$ro" -v c="$rb" -v n="$N" 'BEGIN { printf "  %-46s %12.2f %12.2f %12.2f %10.2f\n", "kago-runc run (/bin/true), " n " runs", a, b, c, a/c }'
awk -v a="$eh" -v b="$eo" -v c="$eb" -v n="$NE" 'BEGIN { printf "  %-46s %12.2f %12.2f %12.2f %10.2f\n", "kago run --rm --network none, " n " runs", a, b, c, a/c }'
echo
echo "  one step with explain off (go test -bench), per call:"
go test -count=1 -run '^$' -bench 'StepOff|RecordWriteOff' -benchmem ./linux/explain ./linux/cgroups 2>&1 | awk '/^Benchmark/ { printf "  %-40s %10s %s %6s %s\n", $1, $3, $4, $7, $8 }'
