#!/bin/sh
# bench/compat.sh: kago-runc as the runtime of real clients, against runc and
# crun in the same run: `ctr run --rm IMAGE true` (containerd's runc v2 shim)
# and `docker run --rm IMAGE true` (dockerd --add-runtime), N runs each.
#
# Usage: bench/compat.sh            (bench/run.sh 3 calls it)
# Env:   N_COMPAT (default 20) runs per client and runtime,
#        KAGO_RUNC (default bin/kago-runc, built if missing).
# Needs root, hyperfine, containerd, docker.io, runc, crun.
#
# Every daemon runs on private sockets and roots under one temp dir, with
# bridge networking off (docker --bridge none, containers --network none);
# everything is stopped (by PID) and removed at the end, even on failure.
# crun 1.8 refuses this host's hybrid cgroup layout, so the whole comparison
# (daemons, clients and all three runtimes) runs inside one private mount
# namespace without /sys/fs/cgroup/unified: every runtime pays the same, and
# each is given to the clients as its own binary, with no wrapper.
set -eu
cd "$(dirname "$0")/.."
if [ -z "${KAGO_BENCH_NS:-}" ]; then
	KAGO_BENCH_NS=1 exec unshare -m --propagation private sh -c \
		'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec "$@"' sh "$0" "$@"
fi
N=${N_COMPAT:-20}
KAGO_RUNC=${KAGO_RUNC:-bin/kago-runc}
[ -x "$KAGO_RUNC" ] || go build -o "$(dirname "$KAGO_RUNC")/" ./cmd/kago-runc ./cmd/kago-init # kago-runc needs kago-init beside it
KAGO_RUNC=$(realpath "$KAGO_RUNC")

note() { printf '  note: %s\n' "$*"; }
for tool in hyperfine containerd ctr dockerd runc crun; do
	command -v "$tool" >/dev/null 2>&1 || { note "skipped: $tool not installed (apt-get install -y hyperfine containerd docker.io runc crun)"; exit 0; }
done
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=docker

WORK=$(mktemp -d /tmp/kago-bench-compat.XXXXXX)
NS=kagobench$$
DCG=kagobench-docker$$
PIDS=""
# shellcheck source=bench/daemons.sh
. bench/daemons.sh
cleanup() {
	set +e
	if [ -S "$WORK/docker.sock" ]; then
		ids=$("$DOCKER" -H "unix://$WORK/docker.sock" ps -aq 2>/dev/null)
		# shellcheck disable=SC2086 # one argument per container ID
		[ -n "$ids" ] && "$DOCKER" -H "unix://$WORK/docker.sock" rm -f $ids >/dev/null 2>&1
	fi
	stop_daemons
	for h in /sys/fs/cgroup/*; do
		for cg in "$h/$NS" "$h/$DCG"; do
			[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The runtimes' binaries, by the names the clients are given.
for rt in kago runc crun; do
	case $rt in
	kago) bin=$KAGO_RUNC ;;
	*) bin=$(command -v $rt) ;;
	esac
	ln -s "$bin" "$WORK/$rt"
done

wait_sock() {
	i=0
	until [ -S "$1" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && { note "$2 did not start; log:"; tail -20 "$WORK/$2.log"; exit 1; }
		sleep 0.2
	done
	sleep 0.5
}

# containerd, no CRI.
containerd_config
containerd --config "$WORK/containerd.toml" >"$WORK/containerd.log" 2>&1 &
PIDS="$PIDS $!"
wait_sock "$WORK/containerd.sock" containerd

# dockerd, with its own managed containerd under the exec root.
dockerd --data-root "$WORK/docker-data" --exec-root "$WORK/docker-exec" --pidfile "$WORK/docker.pid" \
	--host "unix://$WORK/docker.sock" --bridge none --iptables=false --ip6tables=false \
	--storage-driver overlay2 --cgroup-parent "/$DCG" --exec-opt native.cgroupdriver=cgroupfs \
	--default-ulimit nofile=1024:1024 \
	--add-runtime "kago=$WORK/kago" --add-runtime "runc-b=$WORK/runc" --add-runtime "crun-b=$WORK/crun" \
	>"$WORK/dockerd.log" 2>&1 &
PIDS="$PIDS $!"
wait_sock "$WORK/docker.sock" dockerd
D="$DOCKER -H unix://$WORK/docker.sock"

# The image: a busybox rootfs, imported into docker, saved as a docker
# archive and imported into containerd (no registry).
IMG=localhost/kago-bench/busybox:latest
go run ./internal/testbundle/mkrootfs "$WORK/rootfs" >/dev/null
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
$D import "$WORK/rootfs.tar" "$IMG" >/dev/null
$D save -o "$WORK/image.tar" "$IMG"
CTR="ctr --address $WORK/containerd.sock --namespace $NS"
$CTR images import "$WORK/image.tar" >/dev/null

# Check each runtime works through each client before timing it.
for rt in kago runc crun; do
	$CTR run --rm --runc-binary "$WORK/$rt" --runc-root "$WORK/ctr-$rt" "$IMG" "check-$rt" true ||
		{ note "ctr run with $rt failed"; exit 1; }
	drt=$rt
	[ $rt = kago ] || drt=$rt-b
	$D run --rm --network none --runtime "$drt" "$IMG" true || { note "docker run with $rt failed"; exit 1; }
done

hyperfine --style none -N --warmup 2 --runs "$N" --export-json "$WORK/ctr.json" \
	-n kago "$CTR run --rm --runc-binary $WORK/kago --runc-root $WORK/ctr-kago $IMG b-kago true" \
	-n runc "$CTR run --rm --runc-binary $WORK/runc --runc-root $WORK/ctr-runc $IMG b-runc true" \
	-n crun "$CTR run --rm --runc-binary $WORK/crun --runc-root $WORK/ctr-crun $IMG b-crun true" >/dev/null
hyperfine --style none -N --warmup 2 --runs "$N" --export-json "$WORK/docker.json" \
	-n kago "$D run --rm --network none --runtime kago $IMG true" \
	-n runc "$D run --rm --network none --runtime runc-b $IMG true" \
	-n crun "$D run --rm --network none --runtime crun-b $IMG true" >/dev/null

python3 - "$WORK/ctr.json" "$WORK/docker.json" "$N" <<'EOF'
import json, sys
n = sys.argv[3]
print(f"    client                      runtime   median ms   mean ms    kago/x   (N={n} each)")
for path, client in ((sys.argv[1], "ctr run --rm ... true"), (sys.argv[2], "docker run --rm ... true")):
    res = {r["command"]: r for r in json.load(open(path))["results"]}
    k = res["kago"]["median"]
    for rt in ("kago", "runc", "crun"):
        r = res[rt]
        print(f"    {client:27} {rt:8} {r['median']*1000:10.1f} {r['mean']*1000:9.1f} {k/r['median']:9.2f}")
EOF
echo
note "kago/x: kago's median over that runtime's (below 1: kago is faster). Client and daemon overhead dominates; runtime differences show as a few ms."
