package engine

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/inroot"
)

// The image is untrusted: /etc/passwd or the working directory may be a
// symlink aimed at the host. These resolve paths through package inroot
// (openat2 RESOLVE_IN_ROOT), so the kernel clamps every lookup to the rootfs.

// readInRoot reads a small file of the rootfs; a missing file is nil, nil.
func readInRoot(rootfs, path string) ([]byte, error) {
	r, err := inroot.Open(rootfs)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := r.ReadFile(path, 4<<20)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of the image: %w", path, err)
	}
	return data, nil
}

// mkdirInRoot creates path (and parents) inside the rootfs, as docker does
// for a working directory the image lacks.
func mkdirInRoot(rootfs, path string) error {
	r, err := inroot.Open(rootfs)
	if err != nil {
		return err
	}
	defer r.Close()
	fd, err := r.MkdirAll(path, 0o755, 0)
	if err != nil {
		return fmt.Errorf("create %s in the container: %w", path, err)
	}
	return unix.Close(fd)
}
