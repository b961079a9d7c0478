#!/bin/sh
# Compare HTTP requests/s through a kago published port (nftables DNAT,
# veth, bridge) with the same busybox httpd on host loopback, using wrk.
# Needs root, busybox-static, iproute2 and wrk (apt-get install -y wrk).
# Usage: network/bench/net.sh [duration, default 5s]
set -eu
cd "$(dirname "$0")/../.."
KAGO_NET_BENCH=1 KAGO_NET_BENCH_DURATION="${1:-5s}" \
	go test -count=1 -v -run '^TestWrkPublishedVsLoopback$' ./network/ | grep -E 'req/s|Requests/sec|Latency|^(ok|FAIL|---)'
go test -count=1 -run '^$' -bench 'BenchmarkHTTP' -benchtime 2000x ./network/ | grep -E '^Benchmark|^ok'
