package engine

// ReadInRoot reads a small file of a root filesystem with every lookup
// clamped to it (openat2 RESOLVE_IN_ROOT); a missing file is nil, nil. The
// image builder reads /etc/passwd of a build step's rootfs with it.
func ReadInRoot(rootfs, path string) ([]byte, error) { return readInRoot(rootfs, path) }

// MkdirInRoot creates path and its parents inside a root filesystem, every
// lookup clamped to it, as docker does for a missing working directory.
func MkdirInRoot(rootfs, path string) error { return mkdirInRoot(rootfs, path) }
