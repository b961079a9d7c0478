#!/bin/sh
# bench/shim.sh: kago's containerd shim (containerd-shim-kago-v2) against
# containerd's runc v2 shim, in the same run and on one private containerd:
#   - `ctr run --rm IMAGE true` wall time: kago shim; runc shim + runc;
#     runc shim + kago-runc, in turns, medians;
#   - resident memory (VmRSS and PSS) of the shim process with one running
#     container, once it has been idle for 3 s;
#   - a CRI pod with one container (crictl runp + create + start, host
#     network): kago shim; runc shim + runc; runc shim + kago-runc, in
#     turns, medians.
#
# Usage: bench/shim.sh            (bench/run.sh 8 calls it)
# Env:   N_SHIM (default 20) runs per runtime; N_POD (default 15) pods per
#        runtime; SHIM (bin/containerd-shim-kago-v2) and KAGO_RUNC
#        (bin/kago-runc), built if missing; crictl from PATH, else
#        `go install`ed into the temp dir.
# Needs root, containerd, runc.
#
# containerd runs on private sockets and roots under one temp dir, with the
# kago shim first on its PATH (a second one with CRI for the pods);
# everything is stopped (by PID) and removed at the end, even on failure.
set -eu
cd "$(dirname "$0")/.."
N=${N_SHIM:-20}
N_POD=${N_POD:-15}
SHIM=${SHIM:-bin/containerd-shim-kago-v2}
KAGO_RUNC=${KAGO_RUNC:-bin/kago-runc}
[ -x "$SHIM" ] || go build -o "$SHIM" ./cmd/containerd-shim-kago-v2
[ -x "$KAGO_RUNC" ] || go build -o "$(dirname "$KAGO_RUNC")/" ./cmd/kago-runc ./cmd/kago-init # kago-runc needs kago-init beside it
SHIM=$(realpath "$SHIM")
KAGO_RUNC=$(realpath "$KAGO_RUNC")

note() { printf '  note: %s\n' "$*"; }
for tool in containerd ctr runc containerd-shim-runc-v2; do
	command -v "$tool" >/dev/null 2>&1 || { note "skipped: $tool not installed (apt-get install -y containerd runc)"; exit 0; }
done

WORK=$(mktemp -d /tmp/kago-bench-shim.XXXXXX)
NS=kagobench-shim$$
CRI_PARENT=kagobench-shim-cri$$
PIDS=""
# shellcheck source=bench/daemons.sh
. bench/daemons.sh
cleanup() {
	set +e
	stop_daemons
	for h in /sys/fs/cgroup/* /sys/fs/cgroup; do
		for cg in "$NS" "$CRI_PARENT"; do
			[ -d "$h/$cg" ] && find "$h/$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	done
	rm -rf "$WORK" "/run/containerd/kago/$NS"
	rmdir /run/containerd/kago/k8s.io 2>/dev/null # only if empty: other containerds may use it
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/bin"
ln -s "$SHIM" "$WORK/bin/containerd-shim-kago-v2"
# start_containerd DIR starts containerd with DIR/containerd.toml (its
# socket DIR/containerd.sock) and the kago shim first on PATH; false if it
# does not come up.
start_containerd() {
	PATH="$WORK/bin:$PATH" containerd --config "$1/containerd.toml" >"$1/containerd.log" 2>&1 &
	PIDS="$PIDS $!"
	i=0
	until [ -S "$1/containerd.sock" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && { tail -20 "$1/containerd.log"; return 1; }
		sleep 0.2
	done
}
containerd_config
start_containerd "$WORK" || { note "containerd did not start"; exit 1; }

# The images: a busybox rootfs as a one-layer docker archive (no registry);
# the pods' pause image is the same layer running sleep.
IMG=localhost/kago-bench/busybox:latest
PAUSE=localhost/kago-bench/pause:latest
go run ./internal/testbundle/mkrootfs "$WORK/rootfs" >/dev/null
mkdir "$WORK/img"
tar -C "$WORK/rootfs" -cf "$WORK/img/layer.tar" .
# image_tar REF CMD... writes $WORK/NAME.tar (NAME from REF) of an image
# running CMD.
image_tar() {
	python3 - "$WORK/img" "$@" <<'EOF'
import hashlib, json, sys
d, ref, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
diff = "sha256:" + hashlib.sha256(open(d + "/layer.tar", "rb").read()).hexdigest()
json.dump({"architecture": "amd64", "os": "linux", "config": {"Cmd": cmd,
           "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
           "rootfs": {"type": "layers", "diff_ids": [diff]}}, open(d + "/config.json", "w"))
json.dump([{"Config": "config.json", "RepoTags": [ref], "Layers": ["layer.tar"]}], open(d + "/manifest.json", "w"))
EOF
	name=${1%:*}
	tar -C "$WORK/img" -cf "$WORK/${name##*/}.tar" manifest.json config.json layer.tar
}
image_tar "$IMG" sh
image_tar "$PAUSE" sleep 2147483647
CTR="ctr --address $WORK/containerd.sock --namespace $NS"
$CTR images import "$WORK/busybox.tar" >/dev/null

KAGO_SHIM="--runtime io.containerd.kago.v2"
RUNC_RUNC="--runc-binary $(command -v runc) --runc-root $WORK/runc-root"
RUNC_KAGO="--runc-binary $KAGO_RUNC --runc-root $WORK/kago-runc-root"
for v in KAGO_SHIM RUNC_RUNC RUNC_KAGO; do
	eval "opts=\$$v"
	# shellcheck disable=SC2086 # options split on purpose
	$CTR run --rm $opts "$IMG" "check-$v" true || { note "ctr run with $v failed"; exit 1; }
done

# label RUNTIME names a row: kago (the kago shim), runc or kagorunc (the
# runc shim with runc or with kago-runc).
label() {
	case $1 in
	kago) echo "kago shim (in-process kago runtime)" ;;
	runc) echo "runc shim + runc" ;;
	*) echo "runc shim + kago-runc" ;;
	esac
}

# timed FILE TURN RUNTIME CMD... runs CMD and, past the warm-up turn 0,
# appends "LABEL MILLISECONDS" to FILE; it fails as CMD does. The runtimes
# take turns so that load from elsewhere falls on all of them alike.
timed() {
	out=$1 turn=$2 rt=$3
	shift 3
	start=$(date +%s%N)
	"$@" || return
	end=$(date +%s%N)
	[ "$turn" -eq 0 ] || echo "$(label "$rt") $(( (end - start) / 1000 ))e-3" >>"$out"
}

: >"$WORK/ctr.txt"
turn=0
while [ $turn -le "$N" ]; do
	for rt in kago runc kagorunc; do
		case $rt in
		kago) opts=$KAGO_SHIM ;;
		runc) opts=$RUNC_RUNC ;;
		*) opts=$RUNC_KAGO ;;
		esac
		# shellcheck disable=SC2086 # options split on purpose
		timed "$WORK/ctr.txt" $turn $rt $CTR run --rm $opts "$IMG" "b-$rt" true >/dev/null
	done
	turn=$((turn + 1))
done

# shim_mem OPTS ID COUNT runs COUNT containers (one shim each) and prints
# the mean RSS, PSS, anonymous and file PSS (KiB) of their shims, idle for
# 3 s (the kago shim trims itself 1 s after its last request). PSS shares
# the pages several shims map (their program) among them.
shim_mem() {
	shims=""
	for n in $(seq "$3"); do
		# shellcheck disable=SC2086 # options split on purpose
		$CTR run -d $1 "$IMG" "$2-$n" sleep 1000 >/dev/null
		pid=$($CTR task ls | awk -v id="$2-$n" '$1 == id {print $2}')
		# runc's init is reparented to its shim too (subreaper), so PPid is the shim.
		shims="$shims $(awk '/^PPid:/ {print $2}' "/proc/$pid/status")"
	done
	sleep 3
	for shim in $shims; do cat "/proc/$shim/smaps_rollup"; done |
		awk '/^(Rss|Pss|Pss_Anon|Pss_File):/ {v[$1] += $2} END {n = '"$3"'; print v["Rss:"] / n, v["Pss:"] / n, v["Pss_Anon:"] / n, v["Pss_File:"] / n}'
	for n in $(seq "$3"); do $CTR task kill -s SIGKILL "$2-$n" >/dev/null; done
	sleep 0.5
	for n in $(seq "$3"); do
		$CTR task rm -f "$2-$n" >/dev/null 2>&1 || true
		$CTR containers rm "$2-$n" >/dev/null
	done
}
kago_mem=$(shim_mem "$KAGO_SHIM" mem-kago 1)
runc_mem=$(shim_mem "$RUNC_RUNC" mem-runc 1)
kago_mem5=$(shim_mem "$KAGO_SHIM" mem5-kago 5)
runc_mem5=$(shim_mem "$RUNC_RUNC" mem5-runc 5)

# pod_bench times crictl runp + create + start of a host-network pod with
# one container through a second containerd (with CRI) whose runtimes are
# the kago shim, and the runc shim with runc and with kago-runc: one pod of
# each in turn, N_POD turns after a warm-up turn; each pod is removed
# before the next. Times go to $WORK/pods.txt (see timed).
pod_bench() {
	: >"$WORK/pods.txt"
	CRICTL=$(command -v crictl || true)
	if [ -z "$CRICTL" ]; then
		GOBIN="$WORK/bin" go install sigs.k8s.io/cri-tools/cmd/crictl@v1.34.0 >/dev/null 2>&1 || {
			note "CRI pods skipped: no crictl (go install sigs.k8s.io/cri-tools/cmd/crictl needs the Go module proxy)"
			return
		}
		CRICTL="$WORK/bin/crictl"
	fi
	C="$WORK/cri"
	mkdir -p "$C/cni-bin" "$C/cni-conf"
	cat >"$C/containerd.toml" <<EOT
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$C/containerd.sock"
[ttrpc]
  address = "$C/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$C/cni-bin"
    conf_dir = "$C/cni-conf"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kago]
    runtime_type = "io.containerd.kago.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      BinaryName = "$(command -v runc)"
      Root = "$C/runc-root"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kagorunc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kagorunc.options]
      BinaryName = "$KAGO_RUNC"
      Root = "$C/kago-runc-root"
EOT
	start_containerd "$C" || { note "CRI pods skipped: containerd with CRI did not start"; return; }
	for t in busybox pause; do
		ctr --address "$C/containerd.sock" --namespace k8s.io images import "$WORK/$t.tar" >/dev/null
	done
	printf 'timeout: 60\n' >"$C/crictl.yaml"
	CRI="$CRICTL --config $C/crictl.yaml --runtime-endpoint unix://$C/containerd.sock --image-endpoint unix://$C/containerd.sock"
	cat >"$C/pod.json" <<EOT
{"metadata": {"name": "bench", "namespace": "default", "uid": "kagobench-pod", "attempt": 0},
 "log_directory": "$C/pod-logs",
 "linux": {"cgroup_parent": "/$CRI_PARENT/pod-bench", "security_context": {"namespace_options": {"network": 2}}}}
EOT
	cat >"$C/box.json" <<EOT
{"metadata": {"name": "box"}, "image": {"image": "$IMG"}, "command": ["sleep", "1000"], "log_path": "box.log"}
EOT
	# runp_start RUNTIME: a pod with one container, started; its id in $pod.
	runp_start() {
		# shellcheck disable=SC2086 # $CRI split on purpose
		pod=$($CRI runp --runtime "$1" "$C/pod.json") &&
			cid=$($CRI create "$pod" "$C/box.json" "$C/pod.json") &&
			$CRI start "$cid" >/dev/null
	}
	turn=0
	while [ $turn -le "$N_POD" ]; do
		for rt in kago runc kagorunc; do
			timed "$WORK/pods.txt" $turn $rt runp_start $rt || {
				note "CRI pod with runtime $rt failed; containerd log:"
				tail -5 "$C/containerd.log"
				return
			}
			# shellcheck disable=SC2086
			$CRI stopp "$pod" >/dev/null && $CRI rmp "$pod" >/dev/null
		done
		turn=$((turn + 1))
	done
}
pod_bench

python3 - "$N" "$N_POD" "$WORK/ctr.txt" "$WORK/pods.txt" "$kago_mem" "$runc_mem" "$kago_mem5" "$runc_mem5" <<'EOF'
import statistics, sys
n, npod, ctr, pods = sys.argv[1:5]

def table(title, path, n):
    times = {}
    for line in open(path):
        name, ms = line.rsplit(" ", 1)
        times.setdefault(name, []).append(float(ms))
    if not times:
        return
    names = list(times)
    k = statistics.median(times[names[0]])
    print(f"    {title:37} median ms   mean ms   kago-shim/x   (N={n} each, in turns)")
    for name in names:
        t = times[name]
        print(f"    {name:37} {statistics.median(t):9.1f} {statistics.mean(t):9.1f} {k/statistics.median(t):13.2f}")
    print()

table("ctr run --rm IMAGE true", ctr, n)
print("    shim memory, idle 3 s, per shim (MiB)               RSS    PSS   anon   file")
for name, v in (("kago shim, one container", sys.argv[5]), ("runc shim, one container", sys.argv[6]),
                ("kago shim, 5 containers (5 shims)", sys.argv[7]), ("runc shim, 5 containers (5 shims)", sys.argv[8])):
    rss, pss, anon, file = (float(x) / 1024 for x in v.split())
    print(f"    {name:49} {rss:6.1f} {pss:6.1f} {anon:6.1f} {file:6.1f}")
print()
table("CRI pod: runp + create + start", pods, npod)
EOF
