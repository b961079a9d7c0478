# shellcheck shell=bash
# The Debian root of debian.sh: debootstrap minbase of this host's release
# from this host's mirror, plus debian-packages, the guest kernel's modules
# and the kago-vm.service that runs the command after boot; packed as an
# ext4 image (mkfs.ext4 -d) and cached by a hash of debian-packages, this
# file and the kernel version. Sourced after lib.sh and vm_kernel.

# vm_debian_root: sets VM_ROOT, building the image when it is missing.
vm_debian_root() {
	local key
	key=$( (cat "$VM_DIR/debian-packages" "$VM_DIR/debian-root.sh"; echo "$VM_KVER") | sha256sum | cut -c1-16)
	VM_ROOT=$KAGO_VM_CACHE/debian-$key.ext4
	[ -s "$VM_ROOT" ] || vm_locked debian vm_debian_root_build
}

# Units a test VM does not want: a serial getty (the console is ours),
# timers and cleaners that would only cost boot time under TCG, and the
# distribution's containerd (tests start their own on private sockets).
MASK="serial-getty@ttyS0.service getty@tty1.service getty.target apt-daily.timer
apt-daily-upgrade.timer e2scrub_reap.service e2scrub_all.timer fstrim.timer
systemd-timesyncd.service man-db.timer dpkg-db-backup.timer logrotate.timer
systemd-tmpfiles-clean.timer systemd-networkd-wait-online.service
containerd.service"

vm_debian_root_build() {
	[ -s "$VM_ROOT" ] && return 0
	command -v debootstrap >/dev/null || vm_die "debootstrap missing: apt-get install debootstrap"
	local mirror suite work root pkgs u size
	mirror=$(vm_mirror)
	suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
	# A proxy configured for the host's apt (Acquire::http::Proxy) is debootstrap's too.
	if [ -z "${http_proxy:-}" ]; then
		u=$(apt-config dump 2>/dev/null | sed -n 's/^Acquire::http::Proxy "\(.*\)";$/\1/p' | head -1)
		if [ -n "$u" ] && [ "$u" != DIRECT ]; then export http_proxy=$u; fi
	fi
	pkgs=$(grep -v '^#' "$VM_DIR/debian-packages" | xargs | tr ' ' ,)
	work=$(mktemp -d "$KAGO_VM_CACHE/debian.XXXXXX")
	root=$work/root
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	vm_log "debootstrap $suite from $mirror with $pkgs (once per machine, a few minutes)"
	debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
		{ tail -20 "$work/debootstrap.log" >&2; vm_die "debootstrap failed (log above)"; }
	# The guest kernel's modules (overlay, veth, bridge, nf_tables, ...).
	mkdir -p "$root/lib/modules"
	cp -a "$VM_KDIR/lib/modules/$VM_KVER" "$root/lib/modules/"
	chroot "$root" depmod -a "$VM_KVER"
	echo kago-vm >"$root/etc/hostname"
	echo "127.0.1.1 kago-vm" >>"$root/etc/hosts"
	: >"$root/etc/machine-id"
	printf '# the root is /dev/vda, mounted read-write by the initramfs\n' >"$root/etc/fstab"
	cat >"$root/etc/systemd/system/kago-vm.service" <<'UNIT'
[Unit]
Description=kago VM command (test/vm)
After=basic.target dbus.socket apparmor.service

[Service]
Type=simple
ExecStart=/kago-vm/run
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
UNIT
	chroot "$root" systemctl enable kago-vm.service >/dev/null 2>&1
	for u in $MASK; do ln -sf /dev/null "$root/etc/systemd/system/$u"; done
	chroot "$root" apt-get clean
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc "$root"/usr/share/man
	size=$(( $(du -sm "$root" | cut -f1) * 5 / 4 + 1024 ))
	vm_log "mkfs.ext4 -d (${size} MiB, sparse)"
	mkfs.ext4 -q -F -L kago-vm -d "$root" "$work/root.ext4" "${size}M" >&2
	mv "$work/root.ext4" "$VM_ROOT"
	rm -rf "$work"
	trap - EXIT
}

