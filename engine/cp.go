package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The container side of `kago cp` is untrusted: every path in it is
// resolved with openat2(RESOLVE_IN_ROOT) against the container's root, so a
// symlink in the container can never lead the copy onto the host. For a
// running container the root is /proc/<pid>/root, its view with volumes and
// tmpfs mounts; for a stopped one, its rootfs snapshot.

// containerRoot returns the directory the container's paths resolve in.
func (e *Engine) containerRoot(ctx context.Context, ref string) (string, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return "", err
	}
	if c, err := e.Runtime.Load(rec.ID); err == nil && e.Running(rec.ID) {
		return fmt.Sprintf("/proc/%d/root", c.Pid()), nil
	}
	return e.Images.Snapshots().Mount(ctx, rec.ID)
}

// CopyFrom copies src of the container to dst on the host, as docker cp:
// into dst if it is a directory, else as dst.
func (e *Engine) CopyFrom(ctx context.Context, ref, src, dst string) error {
	root, err := e.containerRoot(ctx, ref)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dst); err == nil && st.IsDir() {
		dst = filepath.Join(dst, path.Base(path.Clean("/"+src)))
	}
	return copyOut(root, path.Clean("/"+src), dst)
}

func copyOut(root, src, dst string) error {
	f, err := openInRoot(root, src, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if errors.Is(err, unix.ELOOP) {
		// src itself is a symlink: copy the link, as docker does.
		l, lerr := openInRoot(root, src, unix.O_PATH|unix.O_NOFOLLOW)
		if lerr != nil {
			return fmt.Errorf("copy %s: %w", src, lerr)
		}
		defer l.Close()
		target, err := readlinkFd(l)
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		return os.Symlink(target, dst)
	}
	if err != nil {
		return fmt.Errorf("copy %s from the container: %w", src, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	switch {
	case st.IsDir():
		if err := os.MkdirAll(dst, st.Mode().Perm()|0o700); err != nil {
			return err
		}
		names, err := f.Readdirnames(-1)
		if err != nil {
			return fmt.Errorf("list %s: %w", src, err)
		}
		for _, n := range names {
			if err := copyOut(root, path.Join(src, n), filepath.Join(dst, n)); err != nil {
				return err
			}
		}
		return nil
	case st.Mode().IsRegular():
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
		if err != nil {
			return err
		}
		_, err = io.Copy(out, f)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil // devices, fifos and sockets are not copied
}

func readlinkFd(f *os.File) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(int(f.Fd()), "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// CopyTo copies the host's src into the container at dst, as docker cp:
// into dst if it is a directory there, else as dst.
func (e *Engine) CopyTo(ctx context.Context, ref, src, dst string) error {
	root, err := e.containerRoot(ctx, ref)
	if err != nil {
		return err
	}
	dst = path.Clean("/" + dst)
	if d, err := openInRoot(root, dst, unix.O_PATH|unix.O_DIRECTORY); err == nil {
		d.Close()
		dst = path.Join(dst, filepath.Base(src))
	}
	return copyIn(root, src, dst)
}

func copyIn(root, src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	dir, name := path.Split(dst)
	if name == "" {
		return fmt.Errorf("cannot copy onto / of the container")
	}
	parent, err := openInRoot(root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("copy to %s in the container: %w", dst, err)
	}
	defer parent.Close()
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return unix.Symlinkat(target, int(parent.Fd()), name)
	case st.IsDir():
		if err := unix.Mkdirat(int(parent.Fd()), name, uint32(st.Mode().Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create %s in the container: %w", dst, err)
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, en := range entries {
			if err := copyIn(root, filepath.Join(src, en.Name()), path.Join(dst, en.Name())); err != nil {
				return err
			}
		}
		return nil
	case st.Mode().IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		// The last component must not be a symlink either.
		fd, err := unix.Openat(int(parent.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(st.Mode().Perm()))
		if err != nil {
			return fmt.Errorf("create %s in the container: %w", dst, err)
		}
		out := os.NewFile(uintptr(fd), dst)
		_, err = io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}
