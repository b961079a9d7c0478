package rootfs

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// maxCopyDepth bounds tmpcopyup recursion: an image directory nested deeper
// than this is more likely an attack on the runtime than data.
const maxCopyDepth = 128

// mountTmpfsCopyUp mounts a tmpfs on dest and copies what the image had
// there into it (runc's "tmpcopyup"), so a tmpfs over /var/lib/app keeps the
// image's files. The directory fd opened before the mount still reads the
// covered directory, so no temporary mount point is needed.
func (r *root) mountTmpfsCopyUp(source, dest string, mo MountOptions, extra uint64) error {
	pfd, err := r.MkdirAll(dest, 0o755, extra)
	if err != nil {
		return err
	}
	src, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(pfd)
		return fmt.Errorf("open %s for tmpcopyup: %w", dest, err)
	}
	defer unix.Close(src)
	err = r.mountAt(source, pfd, dest, "tmpfs", mo.Flags&^unix.MS_RDONLY, mo.Data)
	unix.Close(pfd)
	if err != nil {
		return err
	}
	mfd, err := r.openMounted(dest, extra)
	if err != nil {
		return err
	}
	dst, err := unix.Openat(mfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	unix.Close(mfd)
	if err != nil {
		return fmt.Errorf("open new tmpfs at %s: %w", dest, err)
	}
	defer unix.Close(dst)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dest, err)
	}
	if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("tmpcopyup %s: chown: %w", dest, err)
	}
	if !strings.Contains(","+mo.Data, ",mode=") {
		if err := unix.Fchmod(dst, st.Mode&0o7777); err != nil {
			return fmt.Errorf("tmpcopyup %s: chmod: %w", dest, err)
		}
	}
	if err := copyTree(src, dst, 0); err != nil {
		return fmt.Errorf("tmpcopyup %s: %w", dest, err)
	}
	if mo.Flags&unix.MS_RDONLY != 0 {
		if err := r.remountFS(dest, mo.Flags, mo.Data); err != nil {
			return err
		}
	}
	return r.applyAfter(dest, mo, extra)
}

// copyTree copies the entries of directory src into directory dst. Every
// entry is opened relative to its parent's fd with O_NOFOLLOW, so symlinks
// in the image are copied as links, never followed.
func copyTree(src, dst, depth int) error {
	if depth > maxCopyDepth {
		return fmt.Errorf("directories nested deeper than %d", maxCopyDepth)
	}
	dup, err := unix.FcntlInt(uintptr(src), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(dup), "copy source")
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return fmt.Errorf("read directory: %w", err)
	}
	for _, name := range names {
		if err := copyEntry(src, dst, name, depth); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func copyEntry(src, dst int, name string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil {
			return err
		}
		if err := withDirs(src, dst, name, func(s, d int) error { return copyTree(s, d, depth+1) }); err != nil {
			return err
		}
	case unix.S_IFREG:
		if err := copyFile(src, dst, name); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := readlinkat(src, name)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(target, dst, name); err != nil {
			return err
		}
	default: // devices, fifos, sockets
		if err := unix.Mknodat(dst, name, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
	}
	if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		// The entry was just created by us in a fresh tmpfs: not a symlink.
		if err := unix.Fchmodat(dst, name, st.Mode&0o7777, 0); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	return unix.UtimesNanoAt(dst, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// withDirs opens name under both src and dst as directories and runs fn.
func withDirs(src, dst int, name string, fn func(s, d int) error) error {
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	return fn(s, d)
}

func copyFile(src, dst int, name string) error {
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	sf := os.NewFile(uintptr(s), name)
	defer sf.Close()
	d, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	df := os.NewFile(uintptr(d), name)
	defer df.Close()
	if _, err := io.Copy(df, sf); err != nil {
		return err
	}
	return df.Close()
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("symlink target too long")
}
