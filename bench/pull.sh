#!/bin/sh
# Section 4 of bench/run.sh: image pull and unpack from a docker-registry on
# 127.0.0.1, kago against skopeo copy + umoci unpack and podman pull, each
# iteration into a fresh store (image/bench_test.go):
#   - BenchmarkPullUnpack: 5 layers of one big file each (KAGO_BENCH_MB, 100)
#   - BenchmarkPullUnpackRootfs: the Debian root filesystem of the demo image
#     (debootstrap bookworm + apache2, demo/build-httpd-image.sh, cached),
#     thousands of small files in 6 layers
# Usage: bench/pull.sh     Env: KAGO_BENCH_MB (100), BENCHTIME (2x)
set -eu
cd "$(dirname "$0")/.."
export KAGO_BENCH_MB="${KAGO_BENCH_MB:-100}"
if rootfs=$(demo/build-httpd-image.sh 2>"${TMPDIR:-/tmp}/kago-bench-pull.log"); then
	export KAGO_BENCH_ROOTFS="$rootfs"
else
	echo "  note: no Debian rootfs (demo/build-httpd-image.sh failed: $(tail -1 "${TMPDIR:-/tmp}/kago-bench-pull.log")): the many-small-files image is skipped"
fi
go test -count=1 -run '^$' -bench 'BenchmarkPullUnpack' -benchtime "${BENCHTIME:-2x}" -timeout 30m ./image/ 2>&1 |
	grep -E '^Benchmark|MB/s|bench_test.go|^(ok|FAIL|---)|skip'
echo "  note: MB/s of uncompressed layer content (file bytes for the rootfs image); ns/op is one whole pull + unpack"
