package rootfs

import (
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/linux/inroot"
)

// root is the rootfs directory every path inside the container is resolved
// in, through package inroot: openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)
// from an fd of it, so the kernel, not string handling, keeps "..", absolute
// symlinks and symlinks in middle components inside the rootfs.
type root struct {
	*inroot.Root
	rec explain.Recorder // each mount and device made; nil: explain off
}

// openRoot opens dir, which must already be the mount that will become "/"
// (after Prepare's self bind mount), so later opens land on that mount.
func openRoot(dir string) (*root, error) {
	r, err := inroot.Open(dir)
	if err != nil {
		return nil, err
	}
	return &root{Root: r}, nil
}

func (r *root) close() { r.Close() }

// procFd is the magic link through which syscalls that only take a path
// (mount(2), chmod(2)) act on exactly the object an fd refers to.
func procFd(fd int) string { return inroot.ProcFd(fd) }

// cleanPath makes p absolute and lexically clean. Relative destinations are
// deprecated by the OCI spec but "MUST be interpreted as relative to /".
func cleanPath(p string) string { return inroot.Clean(p) }
