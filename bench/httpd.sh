#!/bin/sh
# Section 6 of bench/run.sh: the engine on the Apache demo image (the
# engine engineer may add bench/engine.sh beside it; run.sh runs both).
#   - `kago run --rm IMAGE true` vs `podman run --rm` of the same image
#     (exported with `kago save`, loaded with `podman load`), both --network none,
#     podman with crun and with runc (crun 1.8 refuses this host's hybrid
#     cgroups: its hyperfine runs in a mount namespace without the unified
#     mount, as bench/run.sh section 1 does, so it pays no wrapper per run)
#   - wrk through a published port (-p 127.0.0.1::80, nftables DNAT, bridge) vs the
#     same image on the host network (loopback, no NAT): N_WRK runs of each
#     path, alternated, both containers up all along; requests/s and the
#     whole machine's CPU time per request (/proc/stat: wrk, Apache, kernel)
#   - RSS and PSS of kago's per-container monitor while serving
# Runs on its own engine root with its own bridge, subnet and nftables table
# (kbench<pid>, a free 10.231.X.0/24, kagobench<pid>), removed at the end, so it never
# touches /var/lib/kago or kago0.
# Usage: bench/httpd.sh     Env: KAGO (bin/kago), N_RUN (20), WRK_DURATION (5s), N_WRK (3)
set -eu
cd "$(dirname "$0")/.."
KAGO=$(realpath "${KAGO:-bin/kago}")
N_RUN=${N_RUN:-20}
DUR=${WRK_DURATION:-5s}
N_WRK=${N_WRK:-3}
W=$(mktemp -d /tmp/kago-bench-engine.XXXXXX)
R=$W/root
BR=kbench$$
TABLE=kagobench$$
P="podman --root $W/podman --runroot $W/podman-run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"
# This host lacks CAP_SYS_RESOURCE and podman lowers RLIMIT_NPROC to 32768,
# so podman's default ulimits would be refused by the OCI runtime.
nofile=$(awk '/^Max open files/ {print $5}' /proc/self/limits)
PODMAN_ULIMITS="--ulimit nofile=$nofile:$nofile --ulimit nproc=32768:32768"

note() { printf '  note: %s\n' "$*"; }
k() { "$KAGO" --root "$R" "$@"; }

cleanup() {
	# rm -f, or at least stop (the monitor then detaches the network) if rm fails.
	for c in bweb bhost; do
		k rm -f "$c" >/dev/null 2>&1 || k stop -t 1 "$c" >/dev/null 2>&1 || true
	done
	$P rm -af >/dev/null 2>&1 || true
	$P rmi -af >/dev/null 2>&1 || true
	nft delete table ip "$TABLE" 2>/dev/null || true
	ip link del "$BR" 2>/dev/null || true
	if ip link show "$BR" >/dev/null 2>&1; then echo "bench/httpd.sh: bridge $BR is left behind" >&2; fi
	# Image layers may be overlay-mounted by podman or kago: unmount what is under $W first.
	awk -v w="$W" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

mkdir -p "$R"
# The first 10.231.X.0/24 no host route uses, so a leftover of another run
# cannot steal this run's traffic.
x=0
while ip -4 route show | grep -q "^10\.231\.$x\.0/24 "; do
	x=$((x + 1))
	[ "$x" -lt 128 ] || { echo "no free /24 in 10.231.0.0/17" >&2; exit 1; }
done
printf '{"Network":{"BridgeName":"%s","Subnet":"10.231.%d.0/24","TableName":"%s","UserSubnetPool":"10.231.128.0/20","UserBridgePrefix":"kbn"}}\n' "$BR" "$x" "$TABLE" >"$R/config.json"

tar=$(demo/build-httpd-image.sh)
k import --change 'CMD ["httpd-foreground"]' --change 'EXPOSE 80' "$tar" httpd:2.4 >/dev/null
IMAGE=httpd:2.4

. bench/lib.sh

echo "run --rm IMAGE true ($N_RUN runs, median)"
k save -o "$W/img.tar" "$IMAGE"
# label|wrapper|command, one a line; the first is the kago/x reference.
: >"$W/engines"
add() { printf '%s|%s|%s\n' "$1" "$2" "$3" >>"$W/engines"; }
add kago "" "$KAGO --root $R run --rm --network none $IMAGE true"
if command -v podman >/dev/null && $P load -q -i "$W/img.tar" >/dev/null 2>&1; then
	for rt in crun runc; do
		command -v $rt >/dev/null || { note "$rt missing: no podman+$rt"; continue; }
		w=
		[ $rt = crun ] && w=crun_ns
		add "podman+$rt" "$w" "$P --runtime $rt run --rm --network none $PODMAN_ULIMITS $IMAGE true"
	done
else
	note "podman missing or cannot load the image: kago only"
fi
add "kago(bridge)" "" "$KAGO --root $R run --rm $IMAGE true"
printf '  %-16s %10s %10s\n' engine "median ms" "kago/x"
k0=
while IFS='|' read -r l w c; do
	# One hyperfine per command, so one failing engine does not hide the others.
	if m=$(hyperfine_median "$w" "$N_RUN" "$c" </dev/null); then
		k0=${k0:-$m}
		awk -v l="$l" -v m="$m" -v k="$k0" 'BEGIN {r = (k + 0 > 0 && l !~ /^kago/) ? sprintf("%.2f", k / m) : "-"; printf "  %-16s %10.1f %10s\n", l, m, r}'
	else
		# Show the engine's own error, not hyperfine's.
		printf '  %-16s %10s   (%s)\n' "$l" failed "$($w sh -c "$c" 2>&1 >/dev/null </dev/null | tail -1 | cut -c1-100)"
		k0=${k0:-failed}
	fi
done <"$W/engines"
note "kago/x: kago --network none over x (below 1: kago faster); kago(bridge) adds veth + IPAM + nftables attach/detach"
/usr/bin/time -f '%M' -o "$W/cli.rss" "$KAGO" --root "$R" run --rm --network none "$IMAGE" true >/dev/null 2>&1 || true
echo "  max RSS of the kago CLI for one run --rm: $(cat "$W/cli.rss" 2>/dev/null || echo '?') KiB"

# wait_http PORT NAME waits up to 30 s for an HTTP answer on 127.0.0.1:PORT
# from container NAME, and shows the container's state and log if none comes.
wait_http() {
	for _ in $(seq 300); do
		curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no HTTP answer on 127.0.0.1:$1 from container $2 after 30 s:" >&2
	k ps -a >&2 || true
	k logs --tail 10 "$2" >&2 || true
	curl -sS -m 2 -o /dev/null "http://127.0.0.1:$1/" >&2 || true
	return 1
}

# kago_rss prints the summed VmRSS and PSS (KiB) and the count of the
# monitors of this benchmark's containers (kago-monitor ... --root $R ...).
kago_rss() {
	t=0 p=0 n=0
	for d in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
		case $cmd in *kago-monitor*" --root $R "*) ;; *) continue ;; esac
		r=$(awk '/^VmRSS:/ {print $2}' "$d/status" 2>/dev/null) || continue
		s=$(awk '/^Pss:/ {print $2}' "$d/smaps_rollup" 2>/dev/null) || continue
		t=$((t + ${r:-0})) p=$((p + ${s:-0})) n=$((n + 1))
	done
	echo "$t $p $n"
}

# busy_ticks prints the machine's non-idle CPU time so far, in clock ticks
# (/proc/stat: user nice system irq softirq steal).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# wrk_on PORT prints "req/s p50-latency cpu-us-per-request" for DUR of wrk
# -t2 -c32, sampling kago's monitor memory meanwhile into $W/rss.
wrk_on() {
	(while :; do kago_rss >>"$W/rss"; sleep 0.5; done) &
	sampler=$!
	b0=$(busy_ticks)
	wrk -t2 -c32 -d"$DUR" --latency "http://127.0.0.1:$1/" >"$W/wrk.txt" 2>&1 || true
	b1=$(busy_ticks)
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	awk -v b="$((b1 - b0))" -v hz="$(getconf CLK_TCK)" '
		/requests in/ {n=$1} /Requests\/sec/ {r=$2} /^ +50%/ {l=$2}
		END {printf "%s %s %.1f\n", r, l, (n > 0 ? b / hz * 1e6 / n : 0)}' "$W/wrk.txt"
}

echo "HTTP through the published port vs host network (wrk -t2 -c32 -d$DUR, $N_WRK runs each, alternated; medians)"
command -v wrk >/dev/null || { note "wrk missing: apt-get install -y wrk"; exit 0; }
# Host ports are chosen free (kago picks the published one) so that other
# people's tests on fixed ports cannot catch this traffic. Both containers
# stay up, so the runs of the two paths can alternate.
k run -d --name bweb -p 127.0.0.1::80 "$IMAGE" >/dev/null
PORT=$(k port bweb | awk -F: '/^80\/tcp/ {print $NF; exit}')
HOSTPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
k run -d --name bhost --network host "$IMAGE" sh -c "sed -i 's/^Listen .*/Listen 127.0.0.1:$HOSTPORT/' /etc/apache2/ports.conf && exec httpd-foreground" >/dev/null
wait_http "$PORT" bweb
wait_http "$HOSTPORT" bhost
: >"$W/rss"
: >"$W/pub"
: >"$W/host"
i=0
while [ $i -lt "$N_WRK" ]; do
	wrk_on "$PORT" >>"$W/pub"
	wrk_on "$HOSTPORT" >>"$W/host"
	i=$((i + 1))
done
k rm -f bweb bhost >/dev/null
# med FILE COLUMN prints the median of a column.
med() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '  %-38s %10s %12s %14s %s\n' path "req/s" "p50 latency" "CPU us/req" "(each run: req/s)"
printf '  %-38s %10s %12s %14s %s\n' "-p 127.0.0.1::80 (DNAT, veth, bridge)" "$(med "$W/pub" 1)" "$(awk 'NR==1 {print $2}' "$W/pub")" "$(med "$W/pub" 3)" "($(awk '{printf "%s ", $1}' "$W/pub"))"
printf '  %-38s %10s %12s %14s %s\n' "--network host (loopback)" "$(med "$W/host" 1)" "$(awk 'NR==1 {print $2}' "$W/host")" "$(med "$W/host" 3)" "($(awk '{printf "%s ", $1}' "$W/host"))"
awk -v a="$(med "$W/pub" 1)" -v b="$(med "$W/host" 1)" -v c="$(med "$W/pub" 3)" -v d="$(med "$W/host" 3)" 'BEGIN {if (b > 0 && d > 0) printf "  published/loopback: throughput %.2f, CPU per request %.2f\n", a/b, c/d}'
note "CPU us/req: the whole machine's busy CPU time during the run (wrk, Apache, kernel, and anything else running) over the requests served; p50 latency of the first run"
pub_rss=$(awk 'BEGIN {m=0} $1>m {m=$1; p=$2; n=$3} END {printf "%d KiB RSS, %d KiB PSS in %d processes", m, p, n}' "$W/rss")
echo "  kago monitor memory while serving (max; both containers' monitors): $pub_rss"
