package snapshot

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts overlayfs on target with the new mount API. Each lower
// layer is passed on its own with "lowerdir+" (Linux 6.8), because the
// classic "lowerdir=a:b:c" option string is limited to one page, which about
// 40 layers of long paths exceed. lowers are top first.
func mountOverlay(lowers []string, upper, work, target string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	set := func(key, val string) error {
		if err := unix.FsconfigSetString(fsfd, key, val); err != nil {
			return fmt.Errorf("overlay option %s=%s: %w%s", key, val, err, fsLog(fsfd))
		}
		return nil
	}
	for _, l := range lowers {
		if err := set("lowerdir+", l); err != nil {
			if errors.Is(err, unix.EINVAL) {
				return mountOverlayLegacy(lowers, upper, work, target)
			}
			return err
		}
	}
	if err := set("upperdir", upper); err != nil {
		return err
	}
	if err := set("workdir", work); err != nil {
		return err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		msg := fsLog(fsfd)
		// Before Linux 6.5 overlayfs has no parser of its own for the new
		// mount API: the generic one takes any key ("lowerdir+" too) and
		// the options are only read, and refused, here.
		if errors.Is(err, unix.EINVAL) {
			if lerr := mountOverlayLegacy(lowers, upper, work, target); lerr != nil {
				return fmt.Errorf("create overlay: %w%s; without lowerdir+: %w", err, msg, lerr)
			}
			return nil
		}
		return fmt.Errorf("create overlay: %w%s", err, msg)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount overlay: %w%s", err, fsLog(fsfd))
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move overlay mount to %s: %w", target, err)
	}
	return nil
}

// mountOverlayLegacy is for kernels before 6.8, which lack "lowerdir+": one
// mount(2) option string, so the layer count is limited by the page size.
func mountOverlayLegacy(lowers []string, upper, work, target string) error {
	data := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(data) >= unix.Getpagesize() {
		return fmt.Errorf("overlay options for %d layers are %d bytes, over the %d this kernel allows without lowerdir+ (Linux 6.8): use a newer kernel or a shorter store path", len(lowers), len(data), unix.Getpagesize())
	}
	if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

// fsLog reads the messages the kernel queued on a filesystem context: they
// say which option overlayfs disliked, where errno alone says EINVAL.
func fsLog(fsfd int) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		b.WriteString("; ")
		b.Write(buf[:n])
	}
	return b.String()
}

// isMountPoint reports whether path is the root of a mount.
func isMountPoint(path string) (bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st); err != nil {
		return false, fmt.Errorf("statx %s: %w", path, err)
	}
	return st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// unmountAll unmounts everything stacked on path. Nothing mounted is fine.
func unmountAll(path string, flags int) error {
	for {
		err := unix.Unmount(path, flags|unix.UMOUNT_NOFOLLOW)
		switch err {
		case nil:
			continue
		case unix.EINVAL, unix.ENOENT:
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
}
