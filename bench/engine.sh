#!/bin/sh
# bench/engine.sh — kago engine speed, against podman on the same local
# busybox image:
#   1. `run --rm IMAGE true` wall time, median of N runs (hyperfine): kago with
#      the bridge and with --network none, podman --network none with crun and
#      with runc (podman's fastest settings);
#   2. HTTP requests/s with wrk through a published port vs the same busybox
#      httpd on host loopback, 3 runs of each alternated;
#   3. memory of the per-container monitor (RSS and PSS): idle, logging, after
#      wrk, and probing its health every second.
# Needs root, busybox-static, hyperfine, wrk, and podman, crun, runc for the
# comparison (skipped if absent). Everything lives in a temp dir with its own bridge (kbench0,
# 10.220.250.0/24) and nftables table (kagobench); all of it is removed on exit.
# Usage: sudo bench/engine.sh [N]
set -eu
N=${1:-20}
HERE=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/kago-bench.XXXXXX)
K="$T/kago --root $T/root"
PM="podman --root $T/podman --runroot $T/podman-run"
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
W=$T
. "$HERE/bench/lib.sh"

(cd "$HERE" && go build -o "$T/" ./cmd/kago ./cmd/kago-monitor ./cmd/kago-init && go run ./internal/testbundle/mkrootfs "$T/rootfs")
mkdir -p "$T/rootfs/www" "$T/root"
head -c 4096 /dev/urandom | base64 > "$T/rootfs/www/index.html"
tar -C "$T/rootfs" -cf "$T/bb.tar" .
echo '{"Network":{"BridgeName":"kbench0","Subnet":"10.220.250.0/24","TableName":"kagobench","UserSubnetPool":"10.220.128.0/17"}}' > "$T/root/config.json"
$K import -c 'CMD ["httpd","-f","-p","80","-h","/www"]' "$T/bb.tar" bb >/dev/null

row() { # label, wrapper, command: the median of N runs
	if m=$(hyperfine_median "$2" "$N" "$3"); then
		printf '%-32s %8s ms\n' "$1" "$m"
	else
		printf '%-32s failed: %s\n' "$1" "$(tail -1 "$W/h.err")"
	fi
}

echo "== run --rm IMAGE true (median of $N runs)"
$K run --rm bb true # warm the page cache
row "kago  (bridge network)" "" "$K run --rm bb true"
row "kago  (--network none)" "" "$K run --rm --network none bb true"
if command -v podman >/dev/null; then
	$PM import "$T/bb.tar" bb >/dev/null 2>&1
	for rt in crun runc; do
		command -v $rt >/dev/null || { echo "$rt not installed: no podman+$rt"; continue; }
		w=
		[ $rt = crun ] && w=crun_ns
		row "podman+$rt (--network none)" "$w" "$PM --runtime $rt $PRUN bb true"
	done
else
	echo "podman not installed: no comparison"
fi

echo "== HTTP through a published port vs host loopback (wrk -t2 -c32 -d5s, 3 runs each, alternated)"
$K run -d --name web -p 18481:80 bb >/dev/null
busybox httpd -f -p 127.0.0.1:18482 -h "$T/rootfs/www" &
HOSTPID=$!
sleep 0.5
rps() { wrk -t2 -c32 -d5s "http://127.0.0.1:$1/index.html" | awk '/Requests\/sec/ {printf "%s ", $2}'; }
: >"$T/pub"
: >"$T/host"
for _ in 1 2 3; do
	rps 18481 >>"$T/pub"
	rps 18482 >>"$T/host"
done
echo "kago published port req/s: $(cat "$T/pub")"
echo "host loopback req/s:       $(cat "$T/host")"
echo "  note: bench/httpd.sh measures the same on the Apache image, with CPU time per request"

echo "== monitor memory (kago-monitor, one per container; target: RSS under 2 MiB)"
# Ten idle containers besides web, one that logs a line a second and one
# whose health is probed every second; the monitors trim themselves a
# second after their container starts.
$K run -d --name probed --health-cmd true --health-interval 1s bb sleep 1000 >/dev/null
i=0
while [ $i -lt 10 ]; do $K run -d --name idle$i bb >/dev/null; i=$((i+1)); done
$K run -d --name chatty bb sh -c 'while :; do echo "line $(date)"; sleep 1; done' >/dev/null
sleep 10
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
# shellcheck disable=SC2046
printf '%-28s %8s %8s %8s %8s\n' "probed (health every 1 s)" $(mem probed)
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
echo "  note: PSS shares the program pages among the monitors; a probed monitor first collects its garbage after ~150 probes, then after every probe, and the Go collector's metadata (~0.7 MiB) stays resident from that first collection on"
