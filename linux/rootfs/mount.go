package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockedFlags are the per-mount flags a less privileged user namespace may
// not clear on a mount it inherited (mount_namespaces(7), "locked"); a bind
// remount must repeat them or fail with EPERM.
const lockedFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME

// mountAt mounts onto the object fd refers to, after checking it is inside
// the rootfs. p is only used in messages.
func (r *root) mountAt(source string, fd int, p, fstype string, flags uintptr, data string) error {
	if err := r.CheckInside(fd, p); err != nil {
		return err
	}
	if err := unix.Mount(source, procFd(fd), fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s (type %q, flags %#x, data %q) on %s: %w", source, fstype, flags, data, p, err)
	}
	recordMount(r.rec, source, p, fstype, flags, data)
	return nil
}

// openMounted re-opens p after something was mounted on it. The fd used for
// the mount still points at the covered directory; the new mount is only
// reached by resolving the path again, and must be the root of a mount.
func (r *root) openMounted(p string, extra uint64) (int, error) {
	fd, err := r.OpenFd(p, unix.O_PATH, extra)
	if err != nil {
		return -1, err
	}
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("statx %s: %w", p, err)
	}
	if st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && st.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("%s is not a mount point after mounting on it: the path changed underneath (racing container?)", p)
	}
	return fd, nil
}

// remountBind applies per-mount flags to the bind mount at p. In a user
// namespace the locked flags of the source are added if the kernel refuses.
func (r *root) remountBind(p string, flags uintptr, extra uint64) error {
	fd, err := r.openMounted(p, extra)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	flags = flags&^(unix.MS_REC|unix.MS_REMOUNT|unix.MS_BIND) | unix.MS_BIND | unix.MS_REMOUNT
	err = r.mountAt("", fd, p, "", flags, "")
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	var st unix.Statfs_t
	if serr := unix.Fstatfs(fd, &st); serr != nil {
		return err
	}
	locked := uintptr(st.Flags) & lockedFlags
	if flags&(unix.MS_NOATIME|unix.MS_RELATIME|unix.MS_STRICTATIME) != 0 {
		locked &^= unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_NODIRATIME
	}
	return r.mountAt("", fd, p, "", flags|locked, "")
}

// applyAfter applies what mount(2) cannot do in the first call: recursive
// attributes via mount_setattr(2), then the propagation changes.
func (r *root) applyAfter(p string, mo MountOptions, extra uint64) error {
	if mo.RecAttr == nil && len(mo.Propagation) == 0 {
		return nil
	}
	fd, err := r.openMounted(p, extra)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if mo.RecAttr != nil {
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, mo.RecAttr); err != nil {
			return fmt.Errorf("mount_setattr %s (set %#x, clear %#x): %w", p, mo.RecAttr.Attr_set, mo.RecAttr.Attr_clr, err)
		}
	}
	for _, prop := range mo.Propagation {
		if err := r.mountAt("", fd, p, "", prop, ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
	}
	return nil
}

// bind bind-mounts the host path source onto dest inside the rootfs,
// creating dest as a directory or an empty file to match the source.
func (r *root) bind(source, dest string, mo MountOptions, extra uint64) error {
	if mo.Flags&unix.MS_REMOUNT != 0 {
		// "bind,remount,ro": change the flags of a bind made earlier.
		if err := r.remountBind(dest, mo.Flags, extra); err != nil {
			return err
		}
		return r.applyAfter(dest, mo, extra)
	}
	fi, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("bind source %s: %w (create it on the host or fix mounts[].source)", source, err)
	}
	fd, err := r.mountPoint(dest, fi.IsDir(), extra)
	if err != nil {
		return err
	}
	err = r.mountAt(source, fd, dest, "", mo.Flags&(unix.MS_BIND|unix.MS_REC), "")
	unix.Close(fd)
	if err != nil {
		return err
	}
	return r.finishBind(dest, mo, extra)
}

// mountPoint returns an O_PATH fd of dest, made a directory or an empty
// file to match what is mounted on it.
func (r *root) mountPoint(dest string, dir bool, extra uint64) (int, error) {
	if dir {
		return r.MkdirAll(dest, 0o755, extra)
	}
	return r.MkFile(dest, 0o644, extra)
}

// finishBind applies the per-mount flags, recursive attributes and
// propagation of a bind mount that now exists at dest.
func (r *root) finishBind(dest string, mo MountOptions, extra uint64) error {
	if mo.needsRemount() {
		if err := r.remountBind(dest, mo.Flags, extra); err != nil {
			return err
		}
	}
	return r.applyAfter(dest, mo, extra)
}

// attachTree attaches a detached mount tree (open_tree(OPEN_TREE_CLONE), such
// as an id-mapped copy from linux/idmap) at dest with move_mount(2), then
// finishes it as any bind mount.
func (r *root) attachTree(tree *os.File, dest string, mo MountOptions, extra uint64) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(tree.Fd()), &st); err != nil {
		return fmt.Errorf("stat mount tree for %s: %w", dest, err)
	}
	fd, err := r.mountPoint(dest, st.Mode&unix.S_IFMT == unix.S_IFDIR, extra)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := r.CheckInside(fd, dest); err != nil {
		return err
	}
	if err := unix.MoveMount(int(tree.Fd()), "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount %s onto %s: %w", tree.Name(), dest, err)
	}
	recordMount(r.rec, tree.Name(), dest, "", unix.MS_BIND, "")
	return r.finishBind(dest, mo, extra)
}

// mountFS mounts a new filesystem instance on directory dest.
func (r *root) mountFS(source, dest, fstype string, mo MountOptions, extra uint64) error {
	if mo.CopyUp {
		return r.mountTmpfsCopyUp(source, dest, mo, extra)
	}
	if mo.Flags&unix.MS_REMOUNT != 0 {
		// "remount": change the filesystem mounted earlier at dest, which
		// only a fresh resolution of the path reaches.
		if err := r.remountFS(dest, mo.Flags, mo.Data); err != nil {
			return err
		}
		return r.applyAfter(dest, mo, extra)
	}
	fd, err := r.MkdirAll(dest, 0o755, extra)
	if err != nil {
		return err
	}
	err = r.mountAt(source, fd, dest, fstype, mo.Flags, mo.Data)
	unix.Close(fd)
	if err != nil {
		return err
	}
	return r.applyAfter(dest, mo, extra)
}

// remountFS changes the flags of the filesystem mounted at dest, e.g. to
// make /dev read-only once the device nodes are in it.
func (r *root) remountFS(dest string, flags uintptr, data string) error {
	fd, err := r.openMounted(dest, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return r.mountAt("", fd, dest, "", flags|unix.MS_REMOUNT, data)
}
