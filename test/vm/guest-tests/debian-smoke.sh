#!/bin/sh
# Runs inside the Debian VM (test/vm/smoke-debian.sh): what issues 17 and 19
# test against must hold. $1: v2 or hybrid. Prints "ok ..." / "FAIL ...",
# exits 1 on any failure.
layout=$1
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

[ "$(cat /proc/1/comm)" = systemd ] && ok "PID 1 is systemd" || fail "PID 1 is $(cat /proc/1/comm)"
state=$(systemctl is-system-running)
[ "$state" = running ] && ok "systemctl is-system-running: running" ||
	fail "systemctl is-system-running: $state (failed units: $(systemctl --failed --plain --no-legend | awk '{print $1}' | xargs))"
[ -d /sys/kernel/security/apparmor ] && ok "/sys/kernel/security/apparmor exists" || fail "/sys/kernel/security/apparmor missing"
[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && ok "apparmor enabled" || fail "apparmor not enabled"
grep -qw apparmor /sys/kernel/security/lsm && ok "apparmor in the LSM list ($(cat /sys/kernel/security/lsm))" || fail "apparmor not in $(cat /sys/kernel/security/lsm)"
command -v apparmor_parser >/dev/null && ok "apparmor_parser installed" || fail "apparmor_parser missing"
[ -S /run/dbus/system_bus_socket ] && ok "D-Bus system bus socket" || fail "no /run/dbus/system_bus_socket"
mounts=$(awk '$3 == "cgroup" || $3 == "cgroup2" {print $3 ":" $2}' /proc/mounts | xargs)
case "$layout" in
v2)
	[ "$mounts" = "cgroup2:/sys/fs/cgroup" ] && ok "cgroup2 is the only cgroup mount" || fail "cgroup mounts: $mounts"
	;;
hybrid)
	echo "$mounts" | grep -q "cgroup2:/sys/fs/cgroup/unified" && echo "$mounts" | grep -q "cgroup:/sys/fs/cgroup/memory" &&
		ok "hybrid: cgroup2 at /sys/fs/cgroup/unified, memory on v1" || fail "hybrid cgroup mounts: $mounts"
	;;
esac
[ -x ./marker.sh ] && [ "$(./marker.sh)" = from-the-host ] && ok "share: host files in $(pwd)" || fail "share: marker.sh missing in $(pwd)"
runc --version >/dev/null 2>&1 && ok "runc installed (reference runtime)" || fail "runc missing"
/bin/busybox --help 2>&1 | head -1 | grep -q BusyBox && ! ldd /bin/busybox >/dev/null 2>&1 &&
	ok "static /bin/busybox (internal/testbundle)" || fail "no static /bin/busybox"
[ "$fails" = 0 ]
