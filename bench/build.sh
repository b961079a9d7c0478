#!/bin/sh
# kago build vs podman build (issue 12): a cold and a cached build of the
# same multi-stage Dockerfile on a Debian base with several RUN steps, both
# builders in this run, each with its own temporary storage.
#
# Usage: bench/build.sh   (root; podman and runc for the comparison)
# Env: KAGO (bin/kago), BUILD_BASE_TAR: the base root filesystem tar
#      (default: the demo's Debian + apache2 image, demo/build-httpd-image.sh).
# Goal: cold <= 0.7x podman, cached rebuild <= 0.3 s.
set -eu
cd "$(dirname "$0")/.."
KAGO=$(realpath "${KAGO:-bin/kago}")
BASE=${BUILD_BASE_TAR:-$(demo/build-httpd-image.sh)}
WORK=$(mktemp -d /tmp/kago-bench-build.XXXXXX)
P="podman --root $WORK/podman/root --runroot $WORK/podman/run --cgroup-manager cgroupfs --events-backend file --storage-driver overlay --runtime runc"
cleanup() {
	$P system reset --force >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/ctx/src"
for i in $(seq 1 50); do seq 1 $((i * 100)) > "$WORK/ctx/src/f$i.txt"; done
cat > "$WORK/ctx/Dockerfile" <<'DOCKERFILE'
FROM localhost/benchbase:latest AS build
WORKDIR /build
COPY src/ ./src/
RUN cat src/*.txt | sort -n > all.txt && wc -l all.txt > count
RUN for i in 1 2 3 4 5; do sha256sum all.txt > sum$i; done
RUN mkdir -p out && cp count sum1 out/ && rm -rf /var/cache/apt

FROM localhost/benchbase:latest
COPY --from=build /build/out /opt/app
RUN useradd -r app 2>/dev/null || adduser -S app 2>/dev/null || true
RUN ls -la /opt/app > /opt/app/listing
ENV APP=/opt/app
WORKDIR /opt/app
CMD ["cat", "count"]
DOCKERFILE

secs() { awk -v s="$1" -v e="$2" 'BEGIN {printf "%.2f", (e - s) / 1e9}'; }
now() { date +%s%N; }

"$KAGO" --root "$WORK/kago" import "$BASE" localhost/benchbase:latest >/dev/null
have_podman=0
if command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1; then
	$P import "$BASE" localhost/benchbase:latest >/dev/null 2>&1 && have_podman=1
fi

t0=$(now); "$KAGO" --root "$WORK/kago" build -q --network none -t b:1 "$WORK/ctx" >/dev/null; t1=$(now)
touch "$WORK/ctx/src/f1.txt"
"$KAGO" --root "$WORK/kago" build -q --network none -t b:1 "$WORK/ctx" >/dev/null; t2=$(now)
kcold=$(secs "$t0" "$t1"); kcached=$(secs "$t1" "$t2")
pcold=- pcached=-
if [ $have_podman = 1 ]; then
	t0=$(now); $P build -q --network none -t b:1 "$WORK/ctx" >/dev/null; t1=$(now)
	$P build -q --network none -t b:1 "$WORK/ctx" >/dev/null; t2=$(now)
	pcold=$(secs "$t0" "$t1"); pcached=$(secs "$t1" "$t2")
fi
echo "| build of a 2-stage Dockerfile, 6 RUN steps (s) | kago | podman build | kago/podman |"
echo "|---|---|---|---|"
ratio() { [ "$2" = - ] && echo - || awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "| cold (no cache) | $kcold | $pcold | $(ratio "$kcold" "$pcold") |"
echo "| cached rebuild | $kcached | $pcached | $(ratio "$kcached" "$pcached") |"
