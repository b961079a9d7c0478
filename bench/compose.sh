#!/bin/sh
# bench/compose.sh — `compose up -d` and `down` of a three-service project
# (two busybox httpd services, one with a published port, and a sleeper, on
# the project's network), kago compose against podman-compose on the same
# local busybox image. Prints the median wall time of N rounds of each.
# Needs root, busybox-static, podman and podman-compose (skipped if absent).
# Everything lives in a temp dir with its own bridge (kk10b0,
# 10.220.251.0/24), user networks from 10.220.252.0/22, nftables table
# kk10bench and port 16050; all of it is removed on exit. Each service's
# shell exits on SIGTERM, so `down` measures the tools, not the 10 s grace
# period of a PID 1 that ignores the signal.
# Usage: sudo bench/compose.sh [N]
set -eu
N=${1:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/kk10-bench.XXXXXX)
K="$T/kago --root $T/root"
OCI=crun
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || OCI=runc
PMARGS="--root $T/podman --runroot $T/podman-run --runtime $OCI"
cleanup() {
	set +e
	(cd "$T/proj" 2>/dev/null && $K compose down -v >/dev/null 2>&1)
	for id in $($K ps -aq 2>/dev/null); do $K rm -f "$id" >/dev/null; done
	if command -v podman-compose >/dev/null; then
		(cd "$T/proj" 2>/dev/null && podman-compose --podman-args="$PMARGS" -f compose.yaml -f podman.yaml down >/dev/null 2>&1)
		podman $PMARGS rm -af >/dev/null 2>&1
		podman $PMARGS network prune -f >/dev/null 2>&1
		podman $PMARGS rmi -af >/dev/null 2>&1
	fi
	for l in $(ip -o link show | awk -F': ' '{print $2}' | grep -E '^(kk10b0|kk10bu-)'); do ip link del "${l%@*}"; done
	nft delete table ip kk10bench 2>/dev/null
	umount -R "$T/podman" 2>/dev/null
	rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T"; }
}
trap cleanup EXIT INT TERM

(cd "$HERE" && go build -o "$T/" ./cmd/kago ./cmd/kago-compose ./cmd/kago-monitor ./cmd/kago-init && go run ./internal/testbundle/mkrootfs "$T/rootfs")
mkdir -p "$T/rootfs/www" "$T/root" "$T/proj/site"
echo "hello from compose" > "$T/proj/site/index.html"
tar -C "$T/rootfs" -cf "$T/bb.tar" .
cat > "$T/root/config.json" <<JSON
{"Network":{"BridgeName":"kk10b0","Subnet":"10.220.251.0/24","TableName":"kk10bench","UserSubnetPool":"10.220.252.0/22","UserBridgePrefix":"kk10bu-"}}
JSON
$K import "$T/bb.tar" localhost/bb:latest >/dev/null
cat > "$T/proj/compose.yaml" <<'YAML'
name: kk10bench
services:
  web:
    image: localhost/bb:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"]
    ports: ["127.0.0.1:16050:80"]
    volumes: ["./site:/www:ro"]
  app:
    image: localhost/bb:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h / & wait"]
    depends_on: [web]
  worker:
    image: localhost/bb:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    depends_on: [app]
YAML
# The host caps rlimits below the ones podman asks for by default.
cat > "$T/proj/podman.yaml" <<'YAML'
services:
  web: {ulimits: {nofile: 1024, nproc: 4096}}
  app: {ulimits: {nofile: 1024, nproc: 4096}}
  worker: {ulimits: {nofile: 1024, nproc: 4096}}
YAML

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

# rounds NAME UP DOWN: N rounds of UP (then a check of the published page)
# and DOWN, printing the median seconds of each.
rounds() {
	name=$1 up=$2 down=$3
	: > "$T/up.$name"; : > "$T/down.$name"
	i=0
	while [ $i -lt "$N" ]; do
		a=$(now); (cd "$T/proj" && sh -c "$up") >/dev/null 2>&1 || { echo "$name: up failed"; return 1; }
		b=$(now)
		curl -sf --max-time 5 http://127.0.0.1:16050/index.html >/dev/null || echo "$name: page not served after up"
		c=$(now); (cd "$T/proj" && sh -c "$down") >/dev/null 2>&1 || { echo "$name: down failed"; return 1; }
		d=$(now)
		echo "$b - $a" | bc >> "$T/up.$name"; echo "$d - $c" | bc >> "$T/down.$name"
		i=$((i + 1))
	done
	printf '| %-16s | %8.3f | %8.3f |\n' "$name" "$(median < "$T/up.$name")" "$(median < "$T/down.$name")"
}

echo "compose up -d / down of 3 busybox services, median of $N rounds (seconds)"
echo
echo "| tool             | up -d    | down     |"
echo "|------------------|----------|----------|"
rounds "kago compose" "$K compose up -d" "$K compose down"
if command -v podman-compose >/dev/null && command -v podman >/dev/null; then
	podman $PMARGS import "$T/bb.tar" localhost/bb:latest >/dev/null
	PC="podman-compose --podman-args='$PMARGS' -f compose.yaml -f podman.yaml"
	rounds "podman-compose" "$PC up -d" "$PC down"
else
	echo "  note: podman-compose not installed (apt-get install podman-compose): skipped"
fi
