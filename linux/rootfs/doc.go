// Package rootfs builds a container's filesystem view inside its new mount
// namespace: the mounts listed in config.json, the device nodes and symlinks
// under /dev, pivot_root into the rootfs, then masked paths, read-only paths,
// a read-only root and sysctls.
//
// The container init calls it in three steps, in this order:
//
//	Prepare(spec, rootfs, opts)  // still sees the host's mounts; cwd is the bundle
//	Pivot(rootfs, opts)          // rootfs becomes "/"
//	Finalize(spec)               // inside the new root
//
// # Why destinations are resolved with openat2
//
// A rootfs is untrusted: an image (or a container sharing a volume with another
// one) can place a symlink where a mount destination will be. Joining strings
// and calling mount(2) would follow that symlink on the host (CVE-2021-30465,
// where a racing container swapped a directory for a symlink between runc's
// check and its mount). Every destination is therefore opened with
// openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) relative to an fd of the
// rootfs, so ".." and absolute symlinks are clamped to the rootfs by the
// kernel, missing components are created one at a time with mkdirat on the
// parent's fd, and the mount is made onto /proc/self/fd/N of the opened
// target. The fd pins the exact inode and mount that were resolved, so
// swapping a path component afterwards cannot redirect the mount. As defence
// in depth the fd's path is checked to be under the rootfs before mounting.
//
// # What is decided without root
//
// ParseOptions turns the OCI "options" strings into mount(2) flags, the
// propagation changes made after the mount, recursive mount_setattr(2)
// attributes and the filesystem data string (runc's table). Plan checks the
// spec's mounts (absolute destinations, what may be mounted under /proc) and
// returns the list of operations Prepare performs. Both are pure functions
// with table tests and fuzz targets.
package rootfs
