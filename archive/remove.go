package archive

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// removeAllAt removes name in the directory dirfd, recursively if it is a
// directory, without following any symlink: children are opened with
// O_NOFOLLOW relative to their parent's fd, never by path.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return fmt.Errorf("unlink %s: %w", name, err)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	if err := removeChildren(fd); err != nil {
		unix.Close(fd)
		return fmt.Errorf("%s: %w", name, err)
	}
	unix.Close(fd)
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return fmt.Errorf("rmdir %s: %w", name, err)
	}
	return nil
}

func removeChildren(fd int) error {
	buf := make([]byte, 32<<10)
	for {
		// Read a batch of names, remove them, read again from the start:
		// removing while iterating one getdents stream may skip entries.
		if _, err := unix.Seek(fd, 0, 0); err != nil {
			return err
		}
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			return fmt.Errorf("read directory: %w", err)
		}
		if n == 0 {
			return nil
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		if len(names) == 0 {
			return nil
		}
		for _, child := range names {
			if err := removeAllAt(fd, child); err != nil {
				return err
			}
		}
	}
}
