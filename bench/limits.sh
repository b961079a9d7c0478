#!/bin/sh
# bench/limits.sh: the with-limits case of issue 4. One busybox bundle running
# `true` under a memory limit (64 MiB, no swap), a pids limit (64) and the
# default seccomp profile of `kago-runc spec` (Docker's), run by kago-runc,
# runc and crun; beside it the same bundle without limits and seccomp, so the
# cost of the limits shows on its own.
#
# Usage: bench/limits.sh            (called by bench/run.sh section 2)
# Env: KAGO_RUNC (bin/kago-runc), N_SEQ (default 100; 30 is enough for a look).
# Needs root, hyperfine, python3; runc and crun are measured if installed.
set -eu
cd "$(dirname "$0")/.."
KAGO_RUNC=$(realpath "${KAGO_RUNC:-bin/kago-runc}")
N=${N_SEQ:-100}
WORK=$(mktemp -d /tmp/kago-bench-limits.XXXXXX)
CG=/kago-bench-limits-$$
cleanup() {
	for st in "$WORK"/state-*; do
		[ -d "$st" ] || continue
		for d in "$st"/*/; do
			[ -d "$d" ] || continue
			case $st in
			*-kago) "$KAGO_RUNC" --root "$st" delete -f "$(basename "$d")" >/dev/null 2>&1 || true ;;
			*-runc) runc --root "$st" delete -f "$(basename "$d")" >/dev/null 2>&1 || true ;;
			*-crun) crun --root "$st" delete -f "$(basename "$d")" >/dev/null 2>&1 || true ;;
			esac
		done
	done
	# Cgroups are removed by rmdir, deepest first.
	find /sys/fs/cgroup/*$CG /sys/fs/cgroup$CG -depth -type d -exec rmdir {} \; 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
note() { printf '  note: %s\n' "$*"; }

command -v hyperfine >/dev/null || { note "hyperfine missing: apt-get install -y hyperfine"; exit 0; }
[ -x "$KAGO_RUNC" ] || { note "$KAGO_RUNC missing: make build (or set KAGO_RUNC)"; exit 0; }

# bundle DIR LIMITS(0|1) RUNTIME: busybox rootfs, `true`, ociVersion 1.0.2 so
# runc 1.1 and crun 1.8 accept the spec; each runtime gets its own cgroup.
bundle() {
	mkdir -p "$1"
	[ -d "$WORK/rootfs" ] || go run ./internal/testbundle/mkrootfs "$WORK/rootfs" >/dev/null
	cp -a "$WORK/rootfs" "$1/rootfs" # runc refuses a symlinked rootfs
	(cd "$1" && "$KAGO_RUNC" spec)
	python3 - "$1/config.json" "$2" "$CG/$3-$2" <<'PY'
import json, sys
path, limits, cg = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
s = json.load(open(path))
s["ociVersion"] = "1.0.2"
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
s["linux"]["cgroupsPath"] = cg
if limits:
    s["linux"]["resources"]["memory"] = {"limit": 64 << 20, "swap": 64 << 20}
    s["linux"]["resources"]["pids"] = {"limit": 64}
else:
    s["linux"].pop("seccomp", None)
json.dump(s, open(path, "w"))
PY
}

# median RUNTIME LIMITS prints the median ms of N sequential `run`s.
median() {
	b=$WORK/b-$1-$2
	case $1 in
	kago) c="$KAGO_RUNC --root $WORK/state-kago" ;;
	runc) c="runc --root $WORK/state-runc" ;;
	crun) c="crun --root $WORK/state-crun" ;;
	esac
	cmd="cd $b && hyperfine -N -w 3 -r $N --export-json $WORK/$1-$2.json '$c run l-$1' >/dev/null 2>$WORK/$1-$2.err"
	# crun 1.8 refuses the hybrid cgroup layout: run it without the unified mount.
	if [ "$1" = crun ] && mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
		unshare -m sh -c "umount /sys/fs/cgroup/unified && $cmd" || { echo nan; return; }
	else
		sh -c "$cmd" || { echo nan; return; }
	fi
	python3 -c "import json,sys; print('%.2f' % (json.load(open(sys.argv[1]))['results'][0]['median'] * 1000))" "$WORK/$1-$2.json"
}

# Every bundle is made before the first measurement, so none pays for go run.
RUNTIMES=kago
for rt in runc crun; do
	if command -v $rt >/dev/null; then RUNTIMES="$RUNTIMES $rt"; else note "$rt not installed"; fi
done
for rt in $RUNTIMES; do
	bundle "$WORK/b-$rt-0" 0 $rt
	bundle "$WORK/b-$rt-1" 1 $rt
done

printf '    %-8s %14s %16s %10s %10s\n' runtime "no limits ms" "with limits ms" "cost ms" "kago/x"
kago_l=
for rt in $RUNTIMES; do
	plain=$(median $rt 0)
	lim=$(median $rt 1)
	[ $rt = kago ] && kago_l=$lim
	python3 - "$rt" "$plain" "$lim" "$kago_l" <<'PY'
import sys
rt, plain, lim, kago = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print("    %-8s %14.2f %16.2f %10.2f %10.2f" % (rt, plain, lim, lim - plain, kago / lim))
PY
	for l in 0 1; do
		grep -qi error "$WORK/$rt-$l.err" 2>/dev/null && note "$rt (limits=$l): $(grep -i error "$WORK/$rt-$l.err" | tail -1)"
	done
done
note "median wall time of one \`RUNTIME run\` (create+start+wait+delete) of \`true\` over $N runs (hyperfine, 3 warm-ups)"
note "with limits: memory 64 MiB (no swap), pids 64, default seccomp profile (Docker's); no limits: neither, no seccomp"
note "cost: with - without, the price of the limits and the seccomp filter; kago/x below 1: kago is faster"
