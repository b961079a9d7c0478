package rootfs

import (
	"fmt"
	"path/filepath"

	"github.com/kago-run/kago/linux/mountinfo"

	"golang.org/x/sys/unix"
)

// Pivot makes rootfs the root of the calling process's mount namespace and
// changes into it. With pivot_root the old root is detached entirely, so
// nothing of the host stays reachable; with opts.NoPivot the rootfs is moved
// over "/" and chroot'ed into, which leaves the host's mounts underneath.
func Pivot(rootfs string, opts Options) error {
	abs, err := filepath.Abs(rootfs)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	if rootfs, err = filepath.EvalSymlinks(abs); err != nil {
		return fmt.Errorf("rootfs %s: %w", abs, err)
	}
	if opts.NoPivot {
		return moveRoot(rootfs)
	}
	return pivotRoot(rootfs)
}

// pivotRoot uses pivot_root(".", ".") (as runc and lxc do): the old root
// ends up stacked on top of the new one at "/", so no put_old directory is
// needed inside the image; it is then unmounted lazily.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open new root %s: %w", rootfs, err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("chdir to new root %s: %w", rootfs, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root to %s: %w (the rootfs must be a mount whose parent is not shared; use NoPivot on a ramfs root)", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("chdir to old root: %w", err)
	}
	// The old root may still be shared with the host; make it a slave so
	// that unmounting it does not propagate the unmount to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to /: %w", err)
	}
	return nil
}

// moveRoot is runc's --no-pivot. Before the move, the host's full proc and
// sysfs mounts are detached (or covered when that is not permitted): they
// would stay in the namespace under the chroot, and the kernel refuses new
// proc/sysfs mounts in nested containers while a fully visible one exists.
func moveRoot(rootfs string) error {
	mounts, err := mountinfo.Read()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.Root != "/" || (m.FSType != "proc" && m.FSType != "sysfs") || under(m.Mountpoint, rootfs) {
			continue
		}
		if err := unix.Mount("", m.Mountpoint, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if err == unix.ENOENT || err == unix.EINVAL {
				continue // already gone with an earlier detach
			}
			return fmt.Errorf("make %s rslave: %w", m.Mountpoint, err)
		}
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil {
			if err != unix.EINVAL && err != unix.EPERM {
				return fmt.Errorf("detach host %s at %s: %w", m.FSType, m.Mountpoint, err)
			}
			if err := unix.Mount("tmpfs", m.Mountpoint, "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("cover host %s at %s: %w", m.FSType, m.Mountpoint, err)
			}
		}
	}
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to %s: %w", rootfs, err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s onto /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot into %s: %w", rootfs, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to /: %w", err)
	}
	return nil
}
