#!/bin/sh
# kago benchmark harness: prints one table per section (see bench/README.md).
#
# Usage: bench/run.sh [SECTION...]     sections: 1 2 3 4 5 6 (default: all)
#   1  runtime: `run` of /bin/true, kago-runc vs runc vs crun (issue 3)
#   2  resource limits (bench/limits.sh, if present)
#   3  compatibility (bench/compat.sh, if present)
#   4  image pull (bench/pull.sh, if present)
#   5  network: published port vs loopback (network/bench/net.sh)
#   6  engine: kago run vs podman run, wrk through -p, RSS (needs `kago run`)
#   7  kago build vs podman build, cold and cached (bench/build.sh)
#   8  containerd shim: kago shim vs runc shim, ctr run wall, shim RSS/PSS, CRI pod start (bench/shim.sh)
#   9  compose: kago compose vs podman-compose (bench/compose.sh)
#   18 explain: run with explain off, on, and built before explain (bench/explain.sh)
# Env: N_SEQ (default 100) sequential runs, N_PAR (default 50) parallel runs
#      in each of N_ROUNDS (default 6) rounds,
#      KAGO (bin/kago), KAGO_RUNC (bin/kago-runc), BENCH_IMAGE (httpd:2.4).
# Needs root, hyperfine, runc, crun, strace, time, wrk, curl (apt-get install -y ...).
set -eu
cd "$(dirname "$0")/.."
KAGO=$(realpath "${KAGO:-bin/kago}")
KAGO_RUNC=$(realpath "${KAGO_RUNC:-bin/kago-runc}")
N_SEQ=${N_SEQ:-100}
N_PAR=${N_PAR:-50}
N_ROUNDS=${N_ROUNDS:-6}
WORK=$(mktemp -d /tmp/kago-bench.XXXXXX)
cleanup() {
	# Containers left by an interrupted run: delete them from our own state dirs only.
	for st in "$WORK"/state-*; do
		[ -d "$st" ] || continue
		rt=${st##*/state-}
		for d in "$st"/*/; do
			[ -d "$d" ] || continue
			id=$(basename "$d")
			case $rt in
			kago) in_bench_ns "$KAGO_RUNC" --root "$st" delete -f "$id" >/dev/null 2>&1 || true ;;
			runc) in_bench_ns runc --root "$st" delete -f "$id" >/dev/null 2>&1 || true ;;
			crun) in_bench_ns crun --root "$st" delete -f "$id" >/dev/null 2>&1 || true ;;
			esac
		done
	done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

hr() { printf '\n## %s\n\n' "$*"; }
note() { printf '  note: %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# median FILE prints the median of the numbers in FILE (one a line).
median() { sort -g "$1" | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# bundle makes the busybox bundle every runtime runs: `true`, no terminal,
# ociVersion 1.0.2 so runc 1.1 and crun 1.8 accept kago's generated spec.
bundle() {
	B=$WORK/bundle
	[ -f "$B/config.json" ] && return 0
	mkdir -p "$B"
	go run ./internal/testbundle/mkrootfs "$B/rootfs" >/dev/null
	(cd "$B" && "$KAGO_RUNC" spec)
	python3 - "$B/config.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
s["ociVersion"] = "1.0.2"
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
json.dump(s, open(sys.argv[1], "w"))
EOF
}

# in_bench_ns CMD... runs CMD in a private mount namespace without the
# cgroup2 "unified" mount of a hybrid host (crun 1.8 refuses that layout).
# Section 1 runs every runtime inside one such namespace, so all pay the same
# and none gets a wrapper of its own.
in_bench_ns() {
	unshare -m --propagation private sh -c 'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec "$@"' sh "$@"
}

section1() {
	hr "1. runtime: run of /bin/true from one busybox bundle, all runtimes in one mount namespace (issues 3, 16)"
	for t in runc crun python3 unshare; do have "$t" || { note "$t missing: apt-get install -y runc crun python3 util-linux"; return 0; }; done
	[ -x /usr/bin/time ] || { note "/usr/bin/time missing: apt-get install -y time"; return 0; }
	[ -x "$KAGO_RUNC" ] || { note "$KAGO_RUNC missing: make build"; return 0; }
	bundle
	uptime | sed 's/.*load average/  load average before (1, 5, 15 min)/'
	in_bench_ns python3 bench/runtimes.py "$WORK/bundle" "$N_SEQ" "$N_PAR" "$N_ROUNDS" \
		"kago=$KAGO_RUNC --root $WORK/state-kago" "crun=crun --root $WORK/state-crun" "runc=runc --root $WORK/state-runc" ||
		note "bench/runtimes.py failed (exit $?)"
	uptime | sed 's/.*load average/  load average after (1, 5, 15 min)/'
	note "seq: one \`RUNTIME run ID\` (create+start+wait+delete) after another, $N_SEQ each, the runtimes taking turns (forward and reverse order), 3 warm-ups; medians"
	note "CPU: user+sys of the runtime and the children it reaped (the container included); kago/x > 1 means kago is slower or costlier than x"
	note "at once: $N_PAR runs started together, $N_ROUNDS rounds taking turns; median wall of a round, median of its summed CPU"
	note "create RSS: the largest peak resident memory (GNU time %M) of \`RUNTIME create\` over 5 creates"
	note "same config.json for all: kago-runc spec (Docker's seccomp profile, a cgroup namespace), args [true], ociVersion 1.0.2"
	section1_profile
}

# section1_profile shows where a kago-runc run spends its time: the Go
# binary's start-up alone, and the syscalls that cost most (strace -c -f).
section1_profile() {
	hyperfine -N -w 3 -r 30 --export-json "$WORK/ver.json" "$KAGO_RUNC --version" "runc --version" "crun --version" >/dev/null 2>&1 || return 0
	python3 - "$WORK/ver.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print("  start-up of the binary alone (--version, median): " + ", ".join(
    "%s %.2f ms" % (x["command"].split()[0].rsplit("/", 1)[-1], x["median"] * 1000) for x in r))
EOF
	have strace || { note "strace missing: no syscall profile"; return 0; }
	(cd "$WORK/bundle" && strace -f -c -S time -o "$WORK/strace.txt" "$KAGO_RUNC" --root "$WORK/state-kago" run b-strace </dev/null >/dev/null 2>&1) || true
	echo "  kago-runc run under strace -f -c (top syscalls by time, all its processes; futex/nanosleep/epoll are Go threads waiting):"
	awk 'NR>2 && $1 ~ /^[0-9.]+$/ && NF>=5 && n<4 {printf "    %-16s %6s%% %6s calls\n", $NF, $1, $4; n++}' "$WORK/strace.txt"
	awk '$NF=="total" {printf "    total %s syscalls, %s s in syscalls\n", $4, $2}' "$WORK/strace.txt"
	section1_timeline
}

# section1_timeline prints when the milestones of one kago-runc run happen,
# from strace -f -ttt timestamps (strace slows every syscall, so read the
# proportions, not the absolute times).
section1_timeline() {
	tl=$WORK/timeline.txt
	ok=
	for i in 1 2 3; do
		if (cd "$WORK/bundle" && strace -f -ttt -e trace=execve,clone,pivot_root,mkdirat,exit_group -o "$tl" \
			"$KAGO_RUNC" --root "$WORK/state-kago" run "b-tl$i" </dev/null >/dev/null 2>"$WORK/tl.err"); then
			ok=1
			break
		fi
	done
	[ -n "$ok" ] || { note "kago-runc failed under strace: $(tail -1 "$WORK/tl.err")"; return 0; }
	echo "  timeline of one kago-runc run under strace (ms since its execve):"
	awk '
	NR == 1 { t0 = $2 }
	function mark(name) { if (!(name in seen)) { seen[name] = 1; order[++n] = name; at[name] = ($2 - t0) * 1000 } }
	/mkdirat\(AT_FDCWD, "[^"]*", 0711\) = 0/ { mark("state dir created (spec loaded and validated)") }
	/clone\(.*CLONE_PIDFD/ { mark("container init forked") }
	/execve\(.*"kago-init"/ { mark("init re-executed (kago-init, read-only overlay or memfd)") }
	/mkdirat\(AT_FDCWD, "\/sys\/fs\/cgroup/ && / = 0$/ { mark("first cgroup directory made") }
	/pivot_root\(/ { mark("pivot_root done (mounts, devices made)") }
	/execve\(.*\["true"\]/ { mark("container process exec (start)") }
	/exit_group/ { last = $2 }
	END {
		for (i = 1; i <= n; i++) printf "    %8.2f  %s\n", at[order[i]], order[i]
		printf "    %8.2f  %s\n", (last - t0) * 1000, "kago-runc exits (after wait and delete)"
	}' "$tl"
}

# run_script TITLE SCRIPT... runs the first script present, or notes that none is.
run_script() {
	title=$1
	shift
	hr "$title"
	for s in "$@"; do
		if [ -f "$s" ]; then
			# Executable scripts run with their own interpreter (#!), others with sh.
			if [ -x "$s" ]; then set -- "./$s"; else set -- sh "$s"; fi
			timeout 600 "$@" || note "$s failed (exit $?)"
			return 0
		fi
	done
	note "skipped: none of $* exists yet"
}

section6() {
	hr "6. engine: kago run vs podman run, published port vs loopback, RSS (issue 6)"
	if ! "$KAGO" run --help >/dev/null 2>&1; then
		note "skipped: \`kago run\` is not built yet (engine in progress); the demo runs the image with kago-runc meanwhile"
		return 0
	fi
	# bench/httpd.sh is this harness's (the demo image); bench/engine.sh, if the
	# engine's author adds one, runs too.
	for s in bench/httpd.sh bench/engine.sh; do
		[ -f "$s" ] || continue
		echo "### $s"
		if [ -x "$s" ]; then set -- "./$s"; else set -- sh "$s"; fi
		KAGO="$KAGO" timeout 600 "$@" || note "$s failed (exit $?)"
	done
}

# want N: is section N chosen? Used as "want N && ...": the script's
# status is its sections', not the last test's (exit 0 at the end).
want() { [ -z "$SECTIONS" ] || echo " $SECTIONS " | grep -q " $1 "; }
SECTIONS="$*"
echo "# kago benchmarks $(date -u +%FT%TZ) on $(uname -r), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
want 1 && section1
want 2 && run_script "2. resource limits (issue 4)" bench/limits.sh
want 3 && run_script "3. compatibility: containerd and Docker driving each runtime (issue 7)" bench/compat.sh
want 4 && if [ -f bench/pull.sh ]; then
	run_script "4. image pull (issue 5)" bench/pull.sh
else
	hr "4. image pull (issue 5): kago vs skopeo+umoci from a local registry (image/bench_test.go)"
	KAGO_BENCH_MB=${KAGO_BENCH_MB:-100} timeout 600 go test -count=1 -run '^$' -bench 'BenchmarkPullUnpack' -benchtime 2x ./image/ 2>&1 |
		grep -E '^Benchmark|MB/s|^(ok|FAIL|---)|skip' || note "image pull benchmark failed"
fi
want 5 && run_script "5. network: published port vs loopback" network/bench/net.sh
want 6 && section6
want 7 && run_script "7. kago build vs podman build (issue 12)" bench/build.sh
want 8 && run_script "8. containerd shim: containerd-shim-kago-v2 vs the runc shim (issue 14)" bench/shim.sh
want 9 && run_script "9. compose: kago compose vs podman-compose, up -d and down of 3 services (issue 11)" bench/compose.sh
want 13 && run_script "13. kago trace: overhead on the traced container (issue 13)" bench/trace.sh
want 18 && run_script "18. explain: a run without --explain is as fast as before explain (issue 18)" bench/explain.sh
exit 0
