#!/bin/sh
# Build an Apache httpd root filesystem from Debian packages (debootstrap
# minbase bookworm + apache2) and pack it as a tar, cached by a hash of this
# script so a second run takes seconds.
#
# Usage: demo/build-httpd-image.sh [OUT.tar]
#   OUT.tar defaults to $KAGO_DEMO_CACHE/httpd-<hash>.tar and its path is printed
#   on stdout (progress goes to stderr).
#        demo/build-httpd-image.sh --print-mirror
#   prints the Debian mirror it would use, and exits.
# Env:
#   KAGO_DEMO_CACHE  cache directory (default /var/cache/kago-demo)
#   DEBIAN_MIRROR    Debian mirror URL. Default: the host's own, from its apt
#                    configuration (the first deb source of a Debian release
#                    suite in $KAGO_APT_ETC/sources.list, sources.list.d/*.list
#                    or the deb822 sources.list.d/*.sources), so debootstrap
#                    goes where apt on this host goes. No mirror is built in:
#                    without one the script stops and asks for DEBIAN_MIRROR.
#   KAGO_APT_ETC     the apt configuration directory (default /etc/apt)
#   http_proxy       honoured by debootstrap and by apt inside the chroot
#
# Needs root and debootstrap (apt-get install -y debootstrap).
set -eu

cache=${KAGO_DEMO_CACHE:-/var/cache/kago-demo}
suite=bookworm
hash=$(sha256sum "$0" | cut -c1-12)
out=${1:-$cache/httpd-$hash.tar}

log() { echo "build-httpd-image: $*" >&2; }

apt_etc=${KAGO_APT_ETC:-/etc/apt}
# A suite a Debian mirror has (not -updates, -security or -backports, and
# not a third-party repository's "nodistro" or "stable-extra").
release_suites='^(oldoldstable|oldstable|stable|testing|unstable|sid|buster|bullseye|bookworm|trixie|forky|duke)$'

# mirror_from_lists prints the URI of the first "deb [options] URI SUITE ..."
# line of the one-line-style files whose suite is a Debian release.
mirror_from_lists() {
	for f in "$apt_etc/sources.list" "$apt_etc"/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v re="$release_suites" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) ~ re) { print $i; exit }
			}' "$f"
	done | head -n 1
}

# mirror_from_sources does the same for deb822 stanzas (Types:, URIs:,
# Suites:, Enabled:) of sources.list.d/*.sources.
mirror_from_sources() {
	for f in "$apt_etc"/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v re="$release_suites" '
			function flush(   n, k, s, u) {
				if (!found && types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
					n = split(suites, s, " ")
					for (k = 1; k <= n; k++)
						if (s[k] ~ re) { split(uris, u, " "); print u[1]; found = 1; return }
				}
				types = ""; uris = ""; suites = ""; enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{ key = tolower($1); $1 = "" }
			key == "types:" { types = $0 }
			key == "uris:" { uris = $0 }
			key == "suites:" { suites = $0 }
			key == "enabled:" { enabled = tolower($2) }
			END { flush() }' "$f"
	done | head -n 1
}

mirror=${DEBIAN_MIRROR:-}
[ -n "$mirror" ] || mirror=$(mirror_from_lists)
[ -n "$mirror" ] || mirror=$(mirror_from_sources)
if [ -z "$mirror" ]; then
	log "no Debian mirror in this host's apt configuration ($apt_etc/sources.list, sources.list.d/*.list, *.sources): set DEBIAN_MIRROR to the URL of a Debian mirror"
	exit 1
fi
if [ "${1:-}" = --print-mirror ]; then
	echo "$mirror"
	exit 0
fi

if [ -s "$out" ]; then
	log "cached: $out"
	echo "$out"
	exit 0
fi
[ "$(id -u)" = 0 ] || { log "needs root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install -y debootstrap"; exit 1; }

# An apt proxy configured on the host (Acquire::http::Proxy) is what debootstrap must use too.
if [ -z "${http_proxy:-}" ]; then
	p=$(apt-config dump 2>/dev/null | sed -n 's/^Acquire::http::Proxy "\(.*\)";$/\1/p' | head -1)
	[ -n "$p" ] && [ "$p" != DIRECT ] && export http_proxy="$p"
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
root=$work/rootfs
cleanup() {
	for m in proc sys dev/pts dev; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
	done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

log "debootstrap --variant=minbase $suite from $mirror${http_proxy:+ via $http_proxy}"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2

# apt inside the chroot: same mirror and options as the host (snapshot
# mirrors have expired Release files, hence the host's Check-Valid-Until).
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
EOF
# The host's Acquire:: settings (proxy, Check-Valid-Until for snapshot
# mirrors) apply inside too.
for f in "$apt_etc"/apt.conf.d/*; do
	if [ -f "$f" ] && grep -q '^[[:space:]]*Acquire::' "$f"; then cp "$f" "$root/etc/apt/apt.conf.d/"; fi
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
# Daemons must not start inside the chroot during install.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

log "apt-get install apache2"
chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive http_proxy="${http_proxy:-}" \
	sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends apache2 curl && apt-get clean' >&2

# Foreground Apache, logs to the container's stdout/stderr, a ServerName so
# it does not warn, and the pid/lock/run dirs apache2ctl expects.
cat >"$root/etc/apache2/conf-available/kago-demo.conf" <<'EOF'
ServerName localhost
ErrorLog /dev/stderr
CustomLog /dev/stdout combined
EOF
chroot "$root" a2enconf -q kago-demo >&2
sed -i 's#^\(\s*\)\(ErrorLog\|CustomLog\) .*#\1\# \2 (kago demo: see conf-available/kago-demo.conf)#' \
	"$root/etc/apache2/sites-available/000-default.conf"
cat >"$root/usr/local/bin/httpd-foreground" <<'EOF'
#!/bin/sh
# Entrypoint of the kago demo image: Apache in the foreground, as PID 1.
set -e
. /etc/apache2/envvars
mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR"
rm -f "$APACHE_PID_FILE"
exec apache2 -D FOREGROUND "$@"
EOF
chmod 755 "$root/usr/local/bin/httpd-foreground"
echo '<html><body><h1>It works (kago demo image)</h1></body></html>' >"$root/var/www/html/index.html"

umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
: >"$root/etc/resolv.conf"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/debconf/"*-old \
	"$root/var/log/"*.log "$root/var/log/apt/"* "$root/usr/share/doc/"* "$root/usr/share/man/"* "$root/tmp/"*

log "packing $out"
tar --numeric-owner --xattrs -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
# Builds of older versions of this script are of no further use.
for old in "$cache"/httpd-*.tar; do
	[ "$old" = "$out" ] || rm -f "$old"
done
log "done: $(du -h "$out" | cut -f1) $out"
echo "$out"
