#!/bin/sh
# bench/trace.sh: the cost of tracing to the traced container (issue 13).
# Two syscall-heavy workloads in a kago-runc busybox container on the host's
# network, each run without a tracer ("plain"), with `kago-runc trace
# --format json` attached ("kago"; default events) and, when bpftrace is
# installed, with a bpftrace script collecting the same events filtered by
# the same cgroup ("bpftrace"); tracers write to a file. Modes alternate
# within each round, so the machine's load drifts over all of them alike:
#   opens: a shell loop of OPENS small open+read+close (no fork) in a fresh
#          container, traced from its first instruction; timed by the shell
#          itself from /proc/uptime (wall) and /proc/self/stat (its CPU time);
#   http:  wrk against busybox httpd in one container (every request is an
#          accept, a fork, an open of the page and the writes), requests/s
#          and requests per CPU-second of the container's cgroup.
# Each figure is the median of ROUNDS; loss % is against plain. Goal: under
# 5% throughput loss with kago's default events. Per CPU-second figures are
# what the tracer costs the container itself; on a shared machine the wall
# figures also move with everything else that runs.
set -eu
OPENS=${OPENS:-50000} # enough CPU time for its 10 ms ticks to resolve 1%
DUR=${DUR:-5}
PORT=${PORT:-16210}
ROUNDS=${ROUNDS:-5}
EVENTS=${EVENTS:-} # --events for kago's tracer; empty: the default kinds
BIN=${BIN:-bin}
RUNC=$BIN/kago-runc
[ -x "$RUNC" ] || { echo "  $RUNC missing: make build"; exit 0; }
W=$(mktemp -d /tmp/kt12-bench.XXXXXX)
ROOT=$W/root
ids=""
TP=""
cleanup() {
	[ -n "$TP" ] && kill "$TP" 2>/dev/null || true
	for id in $ids; do "$RUNC" --root "$ROOT" delete -f "$id" >/dev/null 2>&1 || true; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

HTTP=${HTTP:-1} # 0: the opens workload only
if [ -z "${MODES:-}" ]; then
	MODES="plain kago"
	if command -v bpftrace >/dev/null; then
		MODES="$MODES bpftrace"
	else
		echo "  bpftrace: not installed here (apt-get install -y bpftrace) - comparison skipped"
	fi
fi

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

# cgroup_dir PID: the cgroup2 directory of a process (the unified tree on
# a hybrid host).
cgroup_dir() {
	rel=$(sed -n 's/^0:://p' "/proc/$1/cgroup")
	if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
		echo "/sys/fs/cgroup/unified$rel"
	else
		echo "/sys/fs/cgroup$rel"
	fi
}

# The events kago traces by default, as bpftrace collects them: exec with
# argv, open/openat with path, flags and return code, connect, bind and
# accept with the address, kill; printed one line each.
bpftrace_script() {
	cat <<BT
BEGIN { printf("ready\n"); }
tracepoint:syscalls:sys_enter_execve /cgroup == $1/ { printf("exec %d %d %s %s ", pid, tid, comm, str(args->filename)); join(args->argv); }
tracepoint:syscalls:sys_exit_execve /cgroup == $1/ { printf("exec-ret %d %d\n", pid, args->ret); }
tracepoint:syscalls:sys_enter_open,tracepoint:syscalls:sys_enter_openat /cgroup == $1/ { @path[tid] = args->filename; @flags[tid] = args->flags; }
tracepoint:syscalls:sys_exit_open,tracepoint:syscalls:sys_exit_openat /@path[tid]/ { printf("open %d %d %s %s %d %d\n", pid, tid, comm, str(@path[tid]), @flags[tid], args->ret); delete(@path[tid]); delete(@flags[tid]); }
tracepoint:syscalls:sys_enter_connect /cgroup == $1/ { @addr[tid] = args->uservaddr; @ev[tid] = 1; }
tracepoint:syscalls:sys_enter_bind /cgroup == $1/ { @addr[tid] = args->umyaddr; @ev[tid] = 2; }
tracepoint:syscalls:sys_enter_accept,tracepoint:syscalls:sys_enter_accept4 /cgroup == $1/ { @addr[tid] = args->upeer_sockaddr; @ev[tid] = 3; }
tracepoint:syscalls:sys_exit_connect,tracepoint:syscalls:sys_exit_bind,tracepoint:syscalls:sys_exit_accept,tracepoint:syscalls:sys_exit_accept4 /@ev[tid]/ { printf("sock %d %d %d %s %d %r\n", @ev[tid], pid, tid, comm, args->ret, buf(@addr[tid], 28)); delete(@addr[tid]); delete(@ev[tid]); }
tracepoint:syscalls:sys_enter_kill /cgroup == $1/ { printf("kill %d %d %s %d %d\n", pid, tid, comm, args->pid, args->sig); }
BT
}

# tracer_on MODE ID: attach MODE's tracer to container ID and wait until
# it is attached.
tracer_on() {
	case $1 in
	plain) return 0 ;;
	kago)
		"$RUNC" --root "$ROOT" trace --format json ${EVENTS:+--events "$EVENTS"} "$2" >"$W/kago.out" 2>"$W/trace.err" &
		TP=$!
		while ! grep -q "^tracing" "$W/trace.err" 2>/dev/null; do
			kill -0 "$TP" 2>/dev/null || { echo "  kago-runc trace failed: $(cat "$W/trace.err")"; exit 1; }
			sleep 0.05
		done ;;
	bpftrace)
		pid=$("$RUNC" --root "$ROOT" state "$2" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
		bpftrace_script "cgroupid(\"$(cgroup_dir "$pid")\")" >"$W/bt.bt"
		# Its syscall tracepoints are in tracefs: mounted for it alone.
		unshare -m sh -c 'mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing; exec bpftrace "$1"' sh "$W/bt.bt" >"$W/bt.out" 2>"$W/bt.err" &
		TP=$!
		while ! grep -q "^ready" "$W/bt.out" 2>/dev/null; do
			kill -0 "$TP" 2>/dev/null || { echo "  bpftrace failed: $(cat "$W/bt.err")"; exit 1; }
			sleep 0.05
		done ;;
	esac
}
tracer_off() {
	[ -n "$TP" ] || return 0
	kill -INT "$TP" 2>/dev/null || true
	wait "$TP" 2>/dev/null || true
	TP=""
}

# opens_once MODE: "opens/s opens-per-CPU-second" of the open loop in a
# fresh container.
opens_once() {
	id=kt12-bench-opens-$$-$1-$(date +%s%N)
	ids="$ids $id"
	"$RUNC" --root "$ROOT" create --bundle "$W/opens" "$id" </dev/null >"$W/opens.out" 2>&1
	tracer_on "$1" "$id"
	"$RUNC" --root "$ROOT" start "$id"
	while [ "$("$RUNC" --root "$ROOT" state "$id" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')" != stopped ]; do sleep 0.01; done
	tracer_off
	"$RUNC" --root "$ROOT" delete -f "$id" >/dev/null 2>&1
	# u0 u1 and /proc/1/stat: utime and stime are its 14th and 15th fields.
	awk -v n="$OPENS" '{ wall = $2 - $1; cpu = ($16 + $17) / 100; printf "%.0f %.0f\n", n / wall, n / cpu }' "$W/opens.out"
}

median() { sort -n | awk '{ a[NR]=$1 } END { print a[int((NR+1)/2)] }'; }

# row NAME FILE COLUMN: the median of COLUMN per mode, and the loss of each
# tracer against plain.
row() {
	line=$(printf '  %-44s' "$1")
	base=""
	for m in $MODES; do
		v=$(awk -v m="$m" -v c="$3" '$1 == m { print $c }' "$2" | median)
		if [ -z "$base" ]; then
			base=$v
			line="$line $(printf '%9.0f' "$v")"
		else
			line="$line $(awk -v b="$base" -v v="$v" 'BEGIN { printf "%9.0f %6.1f", v, (1 - v / b) * 100 }')"
		fi
	done
	echo "$line"
}

header="$(printf '  %-44s %9s' workload plain)"
for m in $MODES; do [ "$m" = plain ] || header="$header $(printf '%9s %6s' "$m" "loss%")"; done
echo "$header"

bundle "$W/opens" "[\"sh\",\"-c\",\"read -r u0 x </proc/uptime; i=0; while [ \$i -lt $OPENS ]; do read l </etc/passwd; i=\$((i+1)); done; read -r u1 x </proc/uptime; read -r st </proc/1/stat; echo \$u0 \$u1 \$st\"]"
: >"$W/opens.res"
for r in $(seq "$ROUNDS"); do
	for m in $MODES; do echo "$m $(opens_once "$m")" >>"$W/opens.res"; done
done
row "opens: $OPENS open+read, opens/s" "$W/opens.res" 2
row "opens: opens per CPU-second of the container" "$W/opens.res" 3

if [ "$HTTP" = 0 ]; then
	:
elif command -v wrk >/dev/null; then
	bundle "$W/http" "[\"httpd\",\"-f\",\"-p\",\"$PORT\",\"-h\",\"/www\"]"
	mkdir -p "$W/http/rootfs/www" && echo kt12 >"$W/http/rootfs/www/index.html"
	id=kt12-bench-http-$$
	ids="$ids $id"
	"$RUNC" --root "$ROOT" run --detach --bundle "$W/http" "$id" </dev/null >/dev/null 2>&1
	sleep 0.5
	pid=$("$RUNC" --root "$ROOT" state "$id" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
	cpustat=$(cgroup_dir "$pid")/cpu.stat
	usage() { awk '$1 == "usage_usec" { print $2 }' "$cpustat"; }
	: >"$W/http.res"
	for r in $(seq "$ROUNDS"); do
		for m in $MODES; do
			tracer_on "$m" "$id"
			c0=$(usage)
			out=$(wrk -t2 -c16 -d"${DUR}s" "http://127.0.0.1:$PORT/" 2>/dev/null)
			c1=$(usage)
			tracer_off
			echo "$out" | awk -v m="$m" -v cpu=$((c1 - c0)) '
				/requests in/ { n = $1 } /^Requests\/sec/ { rps = $2 }
				END { printf "%s %.0f %.0f\n", m, rps, n / (cpu / 1e6) }' >>"$W/http.res"
		done
	done
	row "http: wrk -c16 on busybox httpd, req/s" "$W/http.res" 2
	row "http: requests per CPU-second of the container" "$W/http.res" 3
else
	echo "  http: wrk missing (apt-get install -y wrk)"
fi
echo "  medians of $ROUNDS rounds, modes alternating; loss %: throughput lost against plain; goal < 5% for kago"
