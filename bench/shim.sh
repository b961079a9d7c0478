#!/bin/sh
# bench/shim.sh: kago's containerd shim (containerd-shim-kago-v2) against
# containerd's runc v2 shim, in the same run and on one private containerd:
#   - `ctr run --rm IMAGE true` wall time: kago shim; runc shim + runc;
#     runc shim + kago-runc;
#   - resident memory (VmRSS) of the shim process with one running container.
#
# Usage: bench/shim.sh            (bench/run.sh 8 calls it)
# Env:   N_SHIM (default 20) runs per runtime; SHIM (bin/containerd-shim-kago-v2)
#        and KAGO_RUNC (bin/kago-runc), built if missing.
# Needs root, hyperfine, containerd, runc.
#
# containerd runs on private sockets and roots under one temp dir, with the
# kago shim first on its PATH; everything is stopped (by PID) and removed at
# the end, even on failure.
set -eu
cd "$(dirname "$0")/.."
N=${N_SHIM:-20}
SHIM=${SHIM:-bin/containerd-shim-kago-v2}
KAGO_RUNC=${KAGO_RUNC:-bin/kago-runc}
[ -x "$SHIM" ] || go build -o "$SHIM" ./cmd/containerd-shim-kago-v2
[ -x "$KAGO_RUNC" ] || go build -o "$KAGO_RUNC" ./cmd/kago-runc
SHIM=$(realpath "$SHIM")
KAGO_RUNC=$(realpath "$KAGO_RUNC")

note() { printf '  note: %s\n' "$*"; }
for tool in hyperfine containerd ctr runc containerd-shim-runc-v2; do
	command -v "$tool" >/dev/null 2>&1 || { note "skipped: $tool not installed (apt-get install -y hyperfine containerd runc)"; exit 0; }
done

WORK=$(mktemp -d /tmp/kago-bench-shim.XXXXXX)
NS=kagobench-shim$$
PIDS=""
# shellcheck source=bench/daemons.sh
. bench/daemons.sh
cleanup() {
	set +e
	stop_daemons
	for h in /sys/fs/cgroup/* /sys/fs/cgroup; do
		[ -d "$h/$NS" ] && find "$h/$NS" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rm -rf "$WORK" "/run/containerd/kago/$NS"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/bin"
ln -s "$SHIM" "$WORK/bin/containerd-shim-kago-v2"
containerd_config
PATH="$WORK/bin:$PATH" containerd --config "$WORK/containerd.toml" >"$WORK/containerd.log" 2>&1 &
PIDS="$PIDS $!"
i=0
until [ -S "$WORK/containerd.sock" ]; do
	i=$((i + 1))
	[ $i -gt 300 ] && { note "containerd did not start; log:"; tail -20 "$WORK/containerd.log"; exit 1; }
	sleep 0.2
done

# The image: a busybox rootfs as a one-layer docker archive (no registry).
IMG=localhost/kago-bench/busybox:latest
go run ./internal/testbundle/mkrootfs "$WORK/rootfs" >/dev/null
mkdir "$WORK/img"
tar -C "$WORK/rootfs" -cf "$WORK/img/layer.tar" .
python3 - "$WORK/img" "$IMG" <<'EOF'
import hashlib, json, sys
d, ref = sys.argv[1], sys.argv[2]
diff = "sha256:" + hashlib.sha256(open(d + "/layer.tar", "rb").read()).hexdigest()
json.dump({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
           "rootfs": {"type": "layers", "diff_ids": [diff]}}, open(d + "/config.json", "w"))
json.dump([{"Config": "config.json", "RepoTags": [ref], "Layers": ["layer.tar"]}], open(d + "/manifest.json", "w"))
EOF
tar -C "$WORK/img" -cf "$WORK/image.tar" manifest.json config.json layer.tar
CTR="ctr --address $WORK/containerd.sock --namespace $NS"
$CTR images import "$WORK/image.tar" >/dev/null

KAGO_SHIM="--runtime io.containerd.kago.v2"
RUNC_RUNC="--runc-binary $(command -v runc) --runc-root $WORK/runc-root"
RUNC_KAGO="--runc-binary $KAGO_RUNC --runc-root $WORK/kago-runc-root"
for v in KAGO_SHIM RUNC_RUNC RUNC_KAGO; do
	eval "opts=\$$v"
	# shellcheck disable=SC2086 # options split on purpose
	$CTR run --rm $opts "$IMG" "check-$v" true || { note "ctr run with $v failed"; exit 1; }
done

hyperfine --style none -N --warmup 2 --runs "$N" --export-json "$WORK/ctr.json" \
	-n "kago shim (in-process kago runtime)" "$CTR run --rm $KAGO_SHIM $IMG b-kago true" \
	-n "runc shim + runc" "$CTR run --rm $RUNC_RUNC $IMG b-runc true" \
	-n "runc shim + kago-runc" "$CTR run --rm $RUNC_KAGO $IMG b-kr true" >/dev/null

# shim_rss OPTS ID prints the VmRSS (KiB) of the shim serving one running container.
shim_rss() {
	# shellcheck disable=SC2086 # options split on purpose
	$CTR run -d $1 "$IMG" "$2" sleep 1000 >/dev/null
	sleep 1
	pid=$(ctr --address "$WORK/containerd.sock" --namespace "$NS" task ls | awk -v id="$2" '$1 == id {print $2}')
	shim=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")
	# runc's init is reparented to its shim too (subreaper), so PPid is the shim.
	awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2} END {print ""}' "/proc/$shim/status"
	$CTR task kill -s SIGKILL "$2" >/dev/null
	sleep 0.5
	$CTR task rm -f "$2" >/dev/null 2>&1 || true
	$CTR containers rm "$2" >/dev/null
}
kago_rss=$(shim_rss "$KAGO_SHIM" rss-kago)
runc_rss=$(shim_rss "$RUNC_RUNC" rss-runc)

python3 - "$WORK/ctr.json" "$N" "$kago_rss" "$runc_rss" <<'EOF'
import json, sys
n = sys.argv[2]
krss, kanon, kfile = (int(x) / 1024 for x in sys.argv[3].split())
rrss, ranon, rfile = (int(x) / 1024 for x in sys.argv[4].split())
res = json.load(open(sys.argv[1]))["results"]
k = res[0]["median"]
print(f"    ctr run --rm IMAGE true               median ms   mean ms   kago-shim/x   (N={n} each)")
for r in res:
    print(f"    {r['command']:37} {r['median']*1000:9.1f} {r['mean']*1000:9.1f} {k/r['median']:13.2f}")
print()
print("    shim resident memory, one running container (MiB):  VmRSS   anon   file")
print(f"    kago shim                                          {krss:6.1f} {kanon:6.1f} {kfile:6.1f}")
print(f"    runc shim                                          {rrss:6.1f} {ranon:6.1f} {rfile:6.1f}")
EOF
