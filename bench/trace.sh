#!/bin/sh
# bench/trace.sh: the cost of `kago-runc trace` to the traced container
# (issue 13). Two syscall-heavy workloads in a kago-runc container on the
# host's network, each without and with `kago-runc trace --format json`
# attached (default events; output to /dev/null):
#   opens: a shell loop of OPENS small open+read+close (no fork), wall time;
#   http:  wrk against busybox httpd in the container (every request is an
#          accept, an open of the page and the writes), requests/s.
# Goal: under 5% throughput loss. bpftrace, when installed, collects the same
# events (execve, openat, connect, accept4, bind, kill tracepoints filtered by
# cgroup) for comparison.
set -eu
OPENS=${OPENS:-20000}
DUR=${DUR:-5}
PORT=${PORT:-16210}
ROUNDS=${ROUNDS:-3}
EVENTS=${EVENTS:-} # --events for the tracer; empty: the default kinds
BIN=${BIN:-bin}
RUNC=$BIN/kago-runc
[ -x "$RUNC" ] || { echo "  $RUNC missing: make build"; exit 0; }
W=$(mktemp -d /tmp/kt12-bench.XXXXXX)
ROOT=$W/root
ids=""
cleanup() {
	for id in $ids; do "$RUNC" --root "$ROOT" delete -f "$id" >/dev/null 2>&1 || true; done
	[ -n "${TP:-}" ] && kill "$TP" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

# bundle DIR ARGS_JSON: a busybox bundle on the host's network.
bundle() {
	mkdir -p "$1"
	go run ./internal/testbundle/mkrootfs "$1/rootfs"
	(cd "$1" && "$OLDPWD/$RUNC" spec)
	python3 - "$1/config.json" "$2" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["process"]["terminal"] = False
s["process"]["args"] = json.loads(sys.argv[2])
s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != "network"]
json.dump(s, open(p, "w"))
PY
}

# trace_on ID: attach kago-runc trace and wait until it is attached.
trace_on() {
	"$RUNC" --root "$ROOT" trace --format json ${EVENTS:+--events "$EVENTS"} "$1" >/dev/null 2>"$W/trace.err" &
	TP=$!
	while ! grep -q "^tracing" "$W/trace.err" 2>/dev/null; do
		kill -0 "$TP" 2>/dev/null || { echo "  kago-runc trace failed: $(cat "$W/trace.err")"; exit 1; }
		sleep 0.05
	done
}
trace_off() { kill "$TP" 2>/dev/null || true; wait "$TP" 2>/dev/null || true; TP=""; }

# opens_once TRACED: seconds for the open loop in a fresh container.
opens_once() {
	id=kt12-bench-opens-$$-$1-$(date +%s%N)
	ids="$ids $id"
	"$RUNC" --root "$ROOT" create --bundle "$W/opens" "$id" </dev/null >/dev/null 2>&1
	[ "$1" = traced ] && trace_on "$id"
	s=$(date +%s.%N)
	"$RUNC" --root "$ROOT" start "$id"
	while [ "$("$RUNC" --root "$ROOT" state "$id" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')" != stopped ]; do sleep 0.01; done
	e=$(date +%s.%N)
	[ "$1" = traced ] && trace_off
	"$RUNC" --root "$ROOT" delete -f "$id" >/dev/null 2>&1
	echo "$s $e" | awk '{ printf "%.3f\n", $2-$1 }'
}

median() { sort -n | awk '{ a[NR]=$1 } END { print a[int((NR+1)/2)] }'; }

bundle "$W/opens" "[\"sh\",\"-c\",\"i=0; while [ \$i -lt $OPENS ]; do read l </etc/passwd; i=\$((i+1)); done\"]"
plain=$(for r in $(seq "$ROUNDS"); do opens_once plain; done | median)
traced=$(for r in $(seq "$ROUNDS"); do opens_once traced; done | median)
printf '  %-34s %12s %12s %10s\n' workload "without" "with trace" "loss %"
awk -v p="$plain" -v t="$traced" -v n="$OPENS" 'BEGIN {
	printf "  %-34s %12.0f %12.0f %10.1f\n", "opens: " n " open+read, opens/s", n/p, n/t, (1-p/t)*100 }'

if command -v wrk >/dev/null; then
	bundle "$W/http" "[\"httpd\",\"-f\",\"-p\",\"$PORT\",\"-h\",\"/www\"]"
	mkdir -p "$W/http/rootfs/www" && echo kt12 >"$W/http/rootfs/www/index.html"
	id=kt12-bench-http-$$
	ids="$ids $id"
	"$RUNC" --root "$ROOT" run --detach --bundle "$W/http" "$id" </dev/null >/dev/null 2>&1
	sleep 0.5
	rps() { wrk -t2 -c16 -d"${DUR}s" "http://127.0.0.1:$PORT/" 2>/dev/null | awk '/^Requests\/sec/ { print $2 }'; }
	p=$(rps)
	trace_on "$id"
	t=$(rps)
	trace_off
	awk -v p="$p" -v t="$t" 'BEGIN { printf "  %-34s %12.0f %12.0f %10.1f\n", "http: wrk -c16 on busybox httpd, req/s", p, t, (1-t/p)*100 }'
else
	echo "  http: wrk missing (apt-get install -y wrk)"
fi
command -v bpftrace >/dev/null || echo "  bpftrace: not installed here (apt-get install -y bpftrace) - comparison skipped"
echo "  loss %: throughput lost with kago-runc trace attached (median of $ROUNDS runs for opens); goal < 5%"
