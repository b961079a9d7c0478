// Package rootfs builds a container's filesystem view inside its new mount
// namespace: the mounts listed in config.json, the device nodes and symlinks
// under /dev, pivot_root into the rootfs, then sysctls, read-only paths,
// masked paths and a read-only root.
//
// The container init calls it in three steps, in this order:
//
//	Prepare(spec, rootfs, opts)  // still sees the host's mounts; cwd is the bundle
//	Pivot(rootfs, opts)          // rootfs becomes "/" (pivot_root, or MS_MOVE+chroot)
//	Finalize(spec, rec)             // inside the new root
//	SetupConsole("/dev/pts/N")   // optional, for a pty opened after Pivot
//
// Prepare first makes "/" rslave (or linux.rootfsPropagation), so nothing
// it does propagates to the host, and bind-mounts the rootfs onto itself.
// Then every spec mount is made in order. /dev is treated as runc does: if
// it is a bind mount it is left alone, otherwise the default devices, the
// spec's devices, /dev/ptmx -> pts/ptmx, /dev/fd and friends and (when the
// spec has none) a /dev/shm tmpfs are created in it; a read-only /dev tmpfs
// is remounted read-only afterwards. In a user namespace (Options.UserNS)
// device nodes are bind mounts of the host's nodes.
//
// # Why destinations are resolved with openat2
//
// A rootfs is untrusted: an image (or a container sharing a volume with another
// one) can place a symlink where a mount destination will be. Joining strings
// and calling mount(2) would follow that symlink on the host (CVE-2021-30465,
// where a racing container swapped a directory for a symlink between runc's
// check and its mount). Every destination is therefore opened through
// package linux/inroot, with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)
// relative to an fd of the rootfs, so ".." and absolute symlinks are clamped to the rootfs by the
// kernel, missing components are created one at a time with mkdirat on the
// parent's fd, and the mount is made onto /proc/self/fd/N of the opened
// target. The fd pins the exact inode and mount that were resolved, so
// swapping a path component afterwards cannot redirect the mount. As defence
// in depth the fd's path is checked to be under the rootfs before mounting,
// and a path re-opened to remount must be a mount root. Destinations on or
// under /proc and /sys, and every proc or sysfs mount, are resolved with
// RESOLVE_NO_SYMLINKS: they must be ordinary directories.
//
// # What is decided without root
//
// ParseOptions turns the OCI "options" strings into mount(2) flags, the
// propagation changes made after the mount, recursive mount_setattr(2)
// attributes ("rro", "rnosuid", ...) and the filesystem data string (runc's
// table). Plan checks the spec's mounts (destinations, what may be mounted
// under /proc, tmpcopyup only on tmpfs) and returns the list of operations
// Prepare performs. SysctlPath and ValidateSysctl check linux.sysctl names
// and that each sysctl belongs to a namespace the container owns.
// CgroupPaths maps /proc/self/cgroup and the mount table to the container's
// cgroup directories. All are pure functions with table tests and fuzz
// targets.
package rootfs
