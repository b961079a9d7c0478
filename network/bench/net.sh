#!/bin/sh
# Compare HTTP requests/s through a kago published port (nftables DNAT,
# veth, bridge) with the same busybox httpd on host loopback, using wrk:
# KAGO_NET_BENCH_ROUNDS (3) alternated runs per path, medians of req/s and
# of the machine's busy CPU time per request.
# Needs root, busybox-static and iproute2; installs wrk when it is missing.
# Usage: network/bench/net.sh [duration, default 5s]
set -eu
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null 2>&1 || apt-get install -y -qq -o DPkg::Lock::Timeout=600 wrk >/dev/null
KAGO_NET_BENCH_DURATION="${1:-5s}" \
	go test -count=1 -run '^$' -bench '^BenchmarkWrk$' -benchtime 1x ./network/ | grep -E '^Benchmark|bench_test.go|^ok|FAIL'
go test -count=1 -run '^$' -bench 'BenchmarkHTTP' -benchtime 2000x ./network/ | grep -E '^Benchmark|^ok'
