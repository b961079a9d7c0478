package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The image is untrusted: /etc/passwd or the working directory may be a
// symlink aimed at the host. These helpers resolve paths with openat2
// RESOLVE_IN_ROOT so the kernel clamps every lookup to the rootfs.

func openInRoot(rootfs, path string, flags uint64) (*os.File, error) {
	root, err := os.Open(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	rel := strings.TrimLeft(path, "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(int(root.Fd()), rel, &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readInRoot reads a small file of the rootfs; a missing file is nil, nil.
func readInRoot(rootfs, path string) ([]byte, error) {
	f, err := openInRoot(rootfs, path, unix.O_RDONLY)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s of the image: %w", path, err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4<<20))
}

// mkdirInRoot creates path (and parents) inside the rootfs, as docker does
// for a working directory the image lacks.
func mkdirInRoot(rootfs, path string) error {
	cur := ""
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if part == "" || part == "." {
			continue
		}
		parent, err := openInRoot(rootfs, cur, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("create %s in the container: %w", path, err)
		}
		err = unix.Mkdirat(int(parent.Fd()), part, 0o755)
		parent.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create %s in the container: %w", path, err)
		}
		cur += "/" + part
	}
	return nil
}
