#!/bin/sh
# The kago demo: Apache from Debian packages, imported with `kago import`,
# pushed to a registry on 127.0.0.1 and pulled back with `kago pull` (the real
# pull path), then served by `kago run -p 8080:80` with ./demo/site mounted.
#
# Usage: demo/demo.sh [up|down]      (make demo / make demo-clean)
# Env:
#   KAGO            kago binary (default bin/kago)
#   KAGO_ROOT       engine root (default /var/lib/kago)
#   KAGO_DEMO_CACHE image and registry cache (default /var/cache/kago-demo)
#   KAGO_DEMO_PORT  host port (default 8080); KAGO_DEMO_REGISTRY_PORT (default 5055)
set -eu
cd "$(dirname "$0")/.."

KAGO=${KAGO:-bin/kago}
ROOT=${KAGO_ROOT:-/var/lib/kago}
CACHE=${KAGO_DEMO_CACHE:-/var/cache/kago-demo}
PORT=${KAGO_DEMO_PORT:-8080}
REG_PORT=${KAGO_DEMO_REGISTRY_PORT:-5055}
REG=localhost:$REG_PORT
NAME=web
IMAGE=httpd:2.4
export KAGO_DEMO_CACHE="$CACHE"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
# kago_at ROOT ARGS... runs kago on an engine root and shows the command.
kago_at() {
	r=$1
	shift
	echo "+ kago $*" >&2
	"$KAGO" --root "$r" "$@"
}
kago() { kago_at "$ROOT" "$@"; }

# registry_up starts Debian's docker-registry on 127.0.0.1, storing under the
# cache so a second demo finds the image already pushed.
registry_up() {
	if curl -fsS -m 2 "http://127.0.0.1:$REG_PORT/v2/" >/dev/null 2>&1; then
		return 0
	fi
	command -v docker-registry >/dev/null || { echo "docker-registry missing: apt-get install -y docker-registry" >&2; exit 1; }
	mkdir -p "$CACHE/registry"
	cat >"$CACHE/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $CACHE/registry}
  delete: {enabled: true}
http: {addr: "127.0.0.1:$REG_PORT"}
EOF
	nohup docker-registry serve "$CACHE/registry.yml" >"$CACHE/registry.log" 2>&1 &
	echo $! >"$CACHE/registry.pid"
	for _ in $(seq 50); do
		curl -fsS -m 1 "http://127.0.0.1:$REG_PORT/v2/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "registry on 127.0.0.1:$REG_PORT did not start; see $CACHE/registry.log" >&2
	exit 1
}

registry_down() {
	[ -s "$CACHE/registry.pid" ] || return 0
	pid=$(cat "$CACHE/registry.pid")
	# Only stop the process this script started, and only if it still is the registry.
	if grep -q docker-registry "/proc/$pid/cmdline" 2>/dev/null; then
		kill "$pid" && echo "stopped registry (pid $pid)" >&2
	fi
	rm -f "$CACHE/registry.pid"
}

image_up() {
	say "1. Apache root filesystem from Debian packages (cached after the first build)"
	tar=$(demo/build-httpd-image.sh)
	key=$(basename "$tar" .tar)

	# Import into a staging root and push from there, so the engine root only
	# ever gets the image through a registry pull.
	stage=$CACHE/stage-root
	if [ "$(cat "$CACHE/imported" 2>/dev/null)" != "$key" ]; then
		say "2. kago import $tar"
		rm -rf "$stage"
		kago_at "$stage" import --change 'CMD ["httpd-foreground"]' --change 'EXPOSE 80' \
			--change 'STOPSIGNAL SIGWINCH' -m "kago demo: debootstrap bookworm + apache2" "$tar" "$REG/httpd:2.4"
		echo "$key" >"$CACHE/imported"
	else
		say "2. imported already (staging root $stage)"
	fi
	say "3. push to a registry on 127.0.0.1:$REG_PORT and pull back"
	registry_up
	kago_at "$stage" push "$REG/httpd:2.4"
	kago pull "$REG/httpd:2.4"
	kago tag "$REG/httpd:2.4" "$IMAGE"
	kago images httpd
}

# run_with_kago_run is the demo proper: the engine's run with a published
# port and a bind-mounted site.
run_with_kago_run() {
	say "4. kago run -d --name $NAME -p $PORT:80 -v ./demo/site:/var/www/html $IMAGE"
	"$KAGO" --root "$ROOT" rm -f "$NAME" >/dev/null 2>&1 || true
	kago run -d --name "$NAME" -p "$PORT:80" -v ./demo/site:/var/www/html "$IMAGE"
}

# preflight names every missing tool at once, with the command that installs it.
preflight() {
	[ "$(id -u)" = 0 ] || { echo "the demo needs root (namespaces, overlayfs, nftables): sudo make demo" >&2; exit 1; }
	[ -x "$KAGO" ] || { echo "$KAGO missing: run make build" >&2; exit 1; }
	missing=
	for c in debootstrap docker-registry curl; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	if [ -n "$missing" ]; then
		echo "missing:$missing. Install with: apt-get install -y$missing (or: make demo-deps)" >&2
		exit 1
	fi
}

up() {
	preflight
	image_up
	run_with_kago_run
	stop_hint="make demo-clean   (kago rm -f $NAME; stops the registry)"
	say "5. curl http://127.0.0.1:$PORT/"
	for _ in $(seq 50); do
		if page=$(curl -fsS -m 2 "http://127.0.0.1:$PORT/" 2>/dev/null); then
			echo "$page"
			say "Apache is serving ./demo/site from a kago container on http://127.0.0.1:$PORT/ (edit demo/site/index.html and reload)."
			echo "Stop it with: $stop_hint" >&2
			return 0
		fi
		sleep 0.2
	done
	echo "no answer on 127.0.0.1:$PORT after 10s; the container's log:" >&2
	"$KAGO" --root "$ROOT" logs --tail 20 "$NAME" >&2 || true
	exit 1
}

down() {
	if [ -x "$KAGO" ]; then
		kago rm -f "$NAME" || kago stop -t 2 "$NAME" || true
	fi
	registry_down
}

case "${1:-up}" in
up) up ;;
down) down ;;
*) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac
