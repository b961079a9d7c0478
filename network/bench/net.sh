#!/bin/sh
# Compare HTTP requests/s through a kago published port (nftables DNAT,
# veth, bridge) with the same busybox httpd on host loopback, using wrk.
# Needs root, busybox-static and iproute2; installs wrk when it is missing.
# Usage: network/bench/net.sh [duration, default 5s]
set -eu
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null 2>&1 || apt-get install -y -qq -o DPkg::Lock::Timeout=600 wrk >/dev/null
KAGO_NET_BENCH_DURATION="${1:-5s}" \
	go test -count=1 -run '^$' -bench '^BenchmarkWrk$' -benchtime 1x ./network/ | grep -E '^Benchmark|^ok|FAIL'
go test -count=1 -run '^$' -bench 'BenchmarkHTTP' -benchtime 2000x ./network/ | grep -E '^Benchmark|^ok'
