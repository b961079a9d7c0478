#!/bin/sh
# bench/engine.sh — kago engine speed, against podman (crun) on the same
# local busybox image:
#   1. `run --rm IMAGE true` wall time (kago with bridge and with --network none,
#      podman --network none), N runs each;
#   2. HTTP requests/s with wrk through a published port vs the same busybox
#      httpd on host loopback;
#   3. memory of the per-container monitor (RSS and PSS).
# Needs root, busybox-static, wrk, and podman+crun for the comparison (skipped
# if absent). Everything lives in a temp dir with its own bridge (kbench0,
# 10.220.250.0/24) and nftables table (kagobench); all of it is removed on exit.
# Usage: sudo bench/engine.sh [N]
set -eu
N=${1:-20}
HERE=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/kago-bench.XXXXXX)
K="$T/kago --root $T/root"
# crun refuses a hybrid v1+v2 cgroup host (like this VM's): podman uses runc there.
OCI=crun
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || OCI=runc
PM="podman --root $T/podman --runroot $T/podman-run --runtime $OCI"
# The host caps rlimits below the ones podman asks for by default.
PRUN="run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
HOSTPID=""
cleanup() {
	set +e
	[ -n "$HOSTPID" ] && kill "$HOSTPID"
	for id in $($K ps -aq 2>/dev/null); do $K rm -f "$id" >/dev/null; done
	command -v podman >/dev/null && $PM rm -af >/dev/null 2>&1 && $PM rmi -af >/dev/null 2>&1
	ip link del kbench0 2>/dev/null
	nft delete table ip kagobench 2>/dev/null
	umount -R "$T/podman" 2>/dev/null
	rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T"; }
}
trap cleanup EXIT INT TERM

(cd "$HERE" && go build -o "$T/" ./cmd/kago ./cmd/kago-monitor ./cmd/kago-init && go run ./internal/testbundle/mkrootfs "$T/rootfs")
mkdir -p "$T/rootfs/www" "$T/root"
head -c 4096 /dev/urandom | base64 > "$T/rootfs/www/index.html"
tar -C "$T/rootfs" -cf "$T/bb.tar" .
echo '{"Network":{"BridgeName":"kbench0","Subnet":"10.220.250.0/24","TableName":"kagobench","UserSubnetPool":"10.220.128.0/17"}}' > "$T/root/config.json"
$K import -c 'CMD ["httpd","-f","-p","80","-h","/www"]' "$T/bb.tar" bb >/dev/null

timeit() { # label, command...
	label=$1; shift
	start=$(date +%s%N)
	i=0
	while [ $i -lt "$N" ]; do "$@" >/dev/null; i=$((i+1)); done
	end=$(date +%s%N)
	echo "$label: $(( (end-start)/N/1000000 )) ms per run ($N runs)"
}

echo "== run --rm IMAGE true"
$K run --rm bb true # warm the page cache
timeit "kago  (bridge network)" $K run --rm bb true
timeit "kago  (--network none)" $K run --rm --network none bb true
if command -v podman >/dev/null && command -v $OCI >/dev/null; then
	$PM import "$T/bb.tar" bb >/dev/null 2>&1
	$PM $PRUN bb true
	timeit "podman+$OCI (--network none)" $PM $PRUN bb true
else
	echo "podman/$OCI not installed: no comparison"
fi

echo "== HTTP through a published port (wrk -t2 -c32 -d5s)"
$K run -d --name web -p 18481:80 bb >/dev/null
busybox httpd -f -p 127.0.0.1:18482 -h "$T/rootfs/www" &
HOSTPID=$!
sleep 0.5
printf "kago published port: "; wrk -t2 -c32 -d5s http://127.0.0.1:18481/index.html | awk '/Requests\/sec/ {print $2 " req/s"}'
printf "host loopback:       "; wrk -t2 -c32 -d5s http://127.0.0.1:18482/index.html | awk '/Requests\/sec/ {print $2 " req/s"}'

echo "== monitor memory (kago-monitor, one per container; target: RSS under 2 MiB)"
# Ten idle containers besides web, and one that logs a line a second; the
# monitors trim themselves a second after their container starts.
i=0
while [ $i -lt 10 ]; do $K run -d --name idle$i bb >/dev/null; i=$((i+1)); done
$K run -d --name chatty bb sh -c 'while :; do echo "line $(date)"; sleep 1; done' >/dev/null
sleep 5
mem() { # container -> "VmRSS RssAnon RssFile Pss" in KiB
	mp=$($K inspect "$1" | awk -F': ' '/"MonitorPid"/ {gsub(/,/, "", $2); print $2}')
	awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2}' "/proc/$mp/status"
	awk '/^Pss:/ {print $2}' "/proc/$mp/smaps_rollup"
}
printf '%-28s %8s %8s %8s %8s\n' "monitor of" "RSS KiB" "anon" "file" "PSS KiB"
# shellcheck disable=SC2046
printf '%-28s %8s %8s %8s %8s\n' "web (after wrk)" $(mem web)
# shellcheck disable=SC2046
printf '%-28s %8s %8s %8s %8s\n' "chatty (logs every second)" $(mem chatty)
sum=0 psum=0 max=0
i=0
while [ $i -lt 10 ]; do
	# shellcheck disable=SC2046
	set -- $(mem idle$i)
	sum=$((sum + $1)) psum=$((psum + $4))
	[ "$1" -gt "$max" ] && max=$1
	i=$((i+1))
done
printf '%-28s %8s %8s %8s %8s\n' "10 idle (mean; max $max)" $((sum / 10)) "" "" $((psum / 10))
