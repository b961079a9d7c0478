# bench/daemons.sh: shared by bench scripts that start private daemons under
# $WORK (sourced, not run). Daemons' PIDs are collected in $PIDS.

# stop_daemons stops every daemon in $PIDS (SIGTERM, then SIGKILL after 20 s),
# kills what they started (shims, conmon: found by the private $WORK path in
# their command line, ended by PID) and lazily unmounts what is left under $WORK.
stop_daemons() {
	for pid in $PIDS; do kill "$pid" 2>/dev/null; done
	for pid in $PIDS; do
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
		kill -9 "$pid" 2>/dev/null
	done
	for p in /proc/[0-9]*; do
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "$WORK"; then kill -9 "${p#/proc/}" 2>/dev/null; fi
	done
	grep " $WORK/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
}

# containerd_config writes $WORK/containerd.toml: a containerd without CRI on
# private sockets and roots under $WORK.
containerd_config() {
	cat >"$WORK/containerd.toml" <<EOT
version = 2
root = "$WORK/containerd-root"
state = "$WORK/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$WORK/containerd.sock"
[ttrpc]
  address = "$WORK/containerd.sock.ttrpc"
EOT
}
