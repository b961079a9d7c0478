package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// overlaySealedExe opens the binary at path through a private, read-only
// overlayfs mount of its directory: the zero-copy way to give the container
// an init binary it cannot overwrite (CVE-2019-5736), as runc 1.2 does.
//
// The mount is made with fsopen/fsmount and never attached to any mount
// namespace: nothing can remount it writable, and an overlay with lower
// layers only refuses every write (EROFS), whatever the writer's
// capabilities. Unlike a sealed memfd copy (newSealedExe), every container
// shares the page cache of the one file: no copy of the binary per create,
// no per-container memory for it. overlayfs wants two lower layers when it
// has no upper one; spare, an existing directory that does not overlap the
// binary's, is the lower of the two, so the binary is always found in the
// upper. Needs CAP_SYS_ADMIN in the initial user namespace and overlayfs;
// callers fall back to the memfd copy.
func overlaySealedExe(path, spare string) (*os.File, error) {
	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(ctx)
	dir, name := filepath.Split(path)
	lower := escapeLowerDir(filepath.Clean(dir)) + ":" + escapeLowerDir(spare)
	if err := unix.FsconfigSetString(ctx, "lowerdir", lower); err != nil {
		return nil, fmt.Errorf("overlay lowerdir=%s: %w", lower, err)
	}
	// xino is of no use here and, turned on by itself when the layers are
	// on different filesystems, only logs to the kernel ring buffer.
	_ = unix.FsconfigSetString(ctx, "xino", "off")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return nil, fmt.Errorf("create overlay of %s: %w", lower, err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, fmt.Errorf("fsmount overlay of %s: %w", lower, err)
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s through its overlay: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "kago-overlay:"+name), nil
}

// escapeLowerDir escapes the characters overlayfs's lowerdir option gives a
// meaning to: ':' separates layers, '\' escapes.
func escapeLowerDir(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(p)
}
