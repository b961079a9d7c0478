#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (v0.9.0, the suite runc, crun
# and youki are held to) against kago-runc and against runc on this machine,
# and compares them with tapcompare: every assertion runc passes, kago-runc
# must pass; every kago-runc failure must be listed, with its reason, in
# test/validation/expected-failures.txt (and nothing listed may pass).
#
# runtime-tools is built from the Go module proxy in a scratch module under
# a temp dir: it has no go.mod of its own and needs older runtime-spec,
# selinux and urfave/cli than kago uses, so none of it enters kago's go.mod.
# Needs root, runc, tar and unshare. About 4 minutes on 2 CPUs.
# VALIDATION_OUT=DIR keeps every program's TAP output and stderr there.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
GO=${GO:-go}

if [ "$(id -u)" != 0 ]; then echo "test/validation/run.sh: needs root (it creates containers)" >&2; exit 1; fi
command -v runc >/dev/null || { echo "test/validation/run.sh: runc not found: apt-get install runc (make deps)" >&2; exit 1; }

work=$(mktemp -d /tmp/kago-validation.XXXXXX)
# Containers with a user namespace reach their bundles as a mapped user.
chmod 755 "$work"
# The runtimes delete a container's own cgroup, not the parents that the
# suite's relative cgroupsPath testdir/cgrouptest/container made (under the
# caller's cgroup of each hierarchy), nor its absolute /cgrouptest: remove
# those the suite left, deepest first (rmdir takes only empty ones).
remove_suite_cgroups() {
	find /sys/fs/cgroup -depth -type d -name cgrouptest 2>/dev/null | while read -r d; do
		case "$d" in */testdir/cgrouptest | /sys/fs/cgroup/*/cgrouptest | /sys/fs/cgroup/cgrouptest) ;; *) continue ;; esac
		rmdir "$d/container" "$d" 2>/dev/null || true
		[ "$(basename "$(dirname "$d")")" = testdir ] && rmdir "$(dirname "$d")" 2>/dev/null || true
	done
}
cleanup() { remove_suite_cgroups; rm -rf "$work"; }
trap cleanup EXIT

echo "== building runtime-tools v0.9.0 (scratch module in $work/mod)"
mkdir -p "$work/mod" "$work/bin" "$work/tmp"
cat > "$work/mod/go.mod" <<'MOD'
module kago.validation/runtimetools

go 1.23
MOD
(
	cd "$work/mod"
	export GOFLAGS=-mod=mod
	if ! $GO get github.com/opencontainers/runtime-tools/cmd/runtimetest@v0.9.0 \
		github.com/opencontainers/runtime-tools/validation/...@v0.9.0 \
		github.com/opencontainers/runtime-spec@v1.0.2 \
		github.com/opencontainers/selinux@v1.6.0 \
		github.com/urfave/cli@v1.19.1 >"$work/go-get.log" 2>&1; then
		cat "$work/go-get.log" >&2
		exit 1
	fi
	CGO_ENABLED=0 $GO build -o "$work/bin/runtimetest" github.com/opencontainers/runtime-tools/cmd/runtimetest
	$GO build -o "$work/bin/" github.com/opencontainers/runtime-tools/validation/...
	cp "$($GO list -m -f '{{.Dir}}' github.com/opencontainers/runtime-tools)/rootfs-amd64.tar.gz" "$work/bin/"
	chmod 644 "$work/bin/rootfs-amd64.tar.gz"
)
$GO build -o "$work/kago-bin/" ./cmd/kago-runc ./cmd/kago-init
$GO build -o "$work/tapcompare" ./test/validation/tapcompare

# The programs take the runtime as one command ($RUNTIME): wrappers give each
# runtime a private --root, so nothing here meets containers of anyone else.
printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$work/kago-bin/kago-runc" "$work/root-kago" > "$work/kago"
printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$(command -v runc)" "$work/root-runc" > "$work/runc"
chmod +x "$work/kago" "$work/runc"

programs=$(cd "$work/bin" && ls | grep -v -e '^runtimetest$' -e '\.tar\.gz$')
echo "== running $(echo "$programs" | wc -w) validation programs against kago-runc and runc"
# In a private mount namespace: a container without a mount namespace of its
# own (linux_ns_itype) gets runc's mounts in its caller's, which would stay
# on the host under the bundle.
export work programs
unshare --mount --propagation private bash -euo pipefail -c '
	for rt in kago runc; do
		mkdir -p "$work/out/$rt" "$work/err/$rt"
		for p in $programs; do
			# Bundles go to TMPDIR; 120 s bounds a program that hangs.
			(cd "$work/bin" && TMPDIR="$work/tmp" RUNTIME="$work/$rt" timeout 120 "./$p" \
				>"$work/out/$rt/$p" 2>"$work/err/$rt/$p") || true
		done
		# Containers a program left behind (a failed test may skip its delete).
		for id in $(ls "$work/root-$rt" 2>/dev/null); do "$work/$rt" delete --force "$id" >/dev/null 2>&1 || true; done
	done
'

if [ -n "${VALIDATION_OUT:-}" ]; then
	mkdir -p "$VALIDATION_OUT" && cp -r "$work/out" "$work/err" "$VALIDATION_OUT/"
	echo "TAP output and stderr of every program: $VALIDATION_OUT"
fi
"$work/tapcompare" -expected "$repo/test/validation/expected-failures.txt" "$work/out/kago" "$work/out/runc"
