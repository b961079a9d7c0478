package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// root is an open handle on the rootfs directory. Every path inside the
// container is resolved relative to fd with RESOLVE_IN_ROOT, so the kernel,
// not string handling, keeps "..", absolute symlinks and symlinks in middle
// components inside the rootfs.
type root struct {
	fd   int    // O_PATH fd of the rootfs
	path string // its real path in the current mount namespace
}

// openRoot opens dir, which must already be the mount that will become "/"
// (after Prepare's self bind mount), so later opens land on that mount.
func openRoot(dir string) (*root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %s: %w", dir, err)
	}
	real, err := os.Readlink(procFd(fd))
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("read path of rootfs %s: %w", dir, err)
	}
	return &root{fd: fd, path: real}, nil
}

func (r *root) close() { unix.Close(r.fd) }

// procFd is the magic link through which syscalls that only take a path
// (mount(2), chmod(2)) act on exactly the object an fd refers to.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// cleanPath makes p absolute and lexically clean. Relative destinations are
// deprecated by the OCI spec but "MUST be interpreted as relative to /".
func cleanPath(p string) string { return path.Clean("/" + p) }

// openat2 retries the errors openat2 documents as transient.
func openat2(dirfd int, p string, how *unix.OpenHow) (int, error) {
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, p, how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		return fd, err
	}
}

// open resolves p inside the rootfs. extra adds RESOLVE_* flags, e.g.
// RESOLVE_NO_SYMLINKS for /proc and /sys destinations.
func (r *root) open(p string, flags int, extra uint64) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | extra,
	}
	rel := strings.TrimPrefix(cleanPath(p), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := openat2(r.fd, rel, &how)
	if err != nil {
		return -1, &os.PathError{Op: "open in rootfs", Path: cleanPath(p), Err: err}
	}
	return fd, nil
}

// mkdirAll returns an O_PATH fd of directory p inside the rootfs, creating
// missing components one at a time. Each mkdirat runs on the fd of the
// already-resolved parent with a single name, and the result is re-resolved
// from the rootfs, so a symlink raced into place is followed inside the
// rootfs, never outside it.
func (r *root) mkdirAll(p string, mode uint32, extra uint64) (int, error) {
	p = cleanPath(p)
	fd, err := r.open("/", unix.O_PATH|unix.O_DIRECTORY, extra)
	if err != nil {
		return -1, err
	}
	cur := ""
	for _, name := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if name == "" {
			continue
		}
		next := cur + "/" + name
		nfd, err := r.open(next, unix.O_PATH|unix.O_DIRECTORY, extra)
		if errors.Is(err, unix.ENOENT) {
			if merr := unix.Mkdirat(fd, name, mode); merr != nil && merr != unix.EEXIST {
				unix.Close(fd)
				return -1, fmt.Errorf("create directory %s in rootfs: %w", next, merr)
			}
			nfd, err = r.open(next, unix.O_PATH|unix.O_DIRECTORY, extra)
			if errors.Is(err, unix.ENOENT) {
				err = fmt.Errorf("%s in rootfs is a symlink to a missing target: create the target in the image or remove the link: %w", next, err)
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, explainResolve(next, err)
		}
		fd, cur = nfd, next
	}
	return fd, nil
}

// mkfile returns an O_PATH fd of p inside the rootfs, creating it as an
// empty regular file (and its parent directories) if it does not exist.
// It is the mount point for bind mounts of files and device nodes.
func (r *root) mkfile(p string, mode uint32, extra uint64) (int, error) {
	p = cleanPath(p)
	if fd, err := r.open(p, unix.O_PATH, extra); err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, explainResolve(p, err)
	}
	dfd, err := r.mkdirAll(path.Dir(p), 0o755, extra)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dfd)
	// O_EXCL makes O_CREAT refuse to follow a symlink at the last component.
	ffd, err := unix.Openat(dfd, path.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err == nil {
		unix.Close(ffd)
	} else if err != unix.EEXIST {
		return -1, fmt.Errorf("create file %s in rootfs: %w", p, err)
	}
	fd, err := r.open(p, unix.O_PATH, extra)
	if errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("%s in rootfs is a symlink to a missing target: create the target in the image or remove the link: %w", p, err)
	}
	return fd, explainResolve(p, err)
}

// explainResolve adds the fix to the openat2 errors a bad rootfs produces.
func explainResolve(p string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s in rootfs goes through a symlink, which is refused here: replace the symlink with a directory: %w", p, err)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("a component of %s in rootfs is not a directory: %w", p, err)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("%s in rootfs crosses a mount point, which is refused here: %w", p, err)
	}
	return err
}

// checkInside is defence in depth after openat2: the object the fd refers to
// must be the rootfs or below it, seen from the current mount namespace.
func (r *root) checkInside(fd int, p string) error {
	got, err := os.Readlink(procFd(fd))
	if err != nil {
		return fmt.Errorf("read path of %s: %w", p, err)
	}
	if got == r.path || r.path == "/" || strings.HasPrefix(got, r.path+"/") {
		return nil
	}
	return fmt.Errorf("%s resolved to %s, outside rootfs %s: refusing to mount", p, got, r.path)
}
