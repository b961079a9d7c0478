package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout names from the image-spec layer document.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	// AUFS kept metadata under this prefix (".wh..wh.plnk", ".wh..wh.aufs");
	// some old images still carry it. It means nothing to overlayfs.
	whiteoutMetaPrefix = ".wh..wh."
)

// ApplyOptions changes how Apply treats metadata it cannot always keep.
type ApplyOptions struct {
	// Warn receives a note for each thing Apply skipped instead of failing
	// (an xattr the filesystem refuses, an entry type with no meaning here).
	// Nil discards the notes.
	Warn func(msg string)
	// NoOwnership skips lchown, for extraction without CAP_CHOWN.
	NoOwnership bool
	// UserXattr marks opaque directories with user.overlay.opaque instead of
	// trusted.overlay.opaque, for overlay mounted with the userxattr option
	// (rootless). The default needs CAP_SYS_ADMIN.
	UserXattr bool
}

func (o *ApplyOptions) warn(format string, args ...any) {
	if o.Warn != nil {
		o.Warn(fmt.Sprintf(format, args...))
	}
}

// copyBuf is the buffer for file contents: big copies, few syscalls.
const copyBuf = 1 << 20

// Apply extracts an uncompressed layer tar stream into dir, the new, empty
// snapshot directory of this layer, confined to dir (see the package doc).
// OCI whiteouts become overlayfs whiteouts. It keeps ownership, modes with
// setuid/setgid/sticky, xattrs, hard links, symlinks (stored as they are,
// never followed), device nodes, fifos and times; directory times are set
// after their contents. After the end-of-archive marker the rest of r is
// read and discarded, so a caller hashing the stream sees every byte.
// It returns the bytes of file content written.
func Apply(ctx context.Context, dir string, r io.Reader, opts ApplyOptions) (int64, error) {
	opaqueKey := "trusted.overlay.opaque"
	if opts.UserXattr {
		opaqueKey = "user.overlay.opaque"
	}
	rt, err := openRoot(dir, opaqueKey)
	if err != nil {
		return 0, err
	}
	defer rt.Close()
	a := &applier{root: rt, opts: opts, buf: make([]byte, copyBuf)}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return a.written, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return a.written, fmt.Errorf("read tar after %d entries: %w", a.entries, err)
		}
		a.entries++
		a.root.flush()
		if err := a.entry(ctx, hdr, tr); err != nil {
			return a.written, fmt.Errorf("tar entry %q: %w", shorten(hdr.Name), err)
		}
	}
	if err := a.finishDirs(); err != nil {
		return a.written, err
	}
	// Trailing zero blocks and padding: read them so the stream ends here.
	if _, err := io.CopyBuffer(io.Discard, r, a.buf); err != nil {
		return a.written, fmt.Errorf("read the end of the tar: %w", err)
	}
	return a.written, nil
}

type applier struct {
	root    *root
	opts    ApplyOptions
	buf     []byte
	written int64
	entries int
	dirs    []dirTimes
}

// dirTimes remembers a directory's times until its contents are written.
type dirTimes struct {
	name string
	ts   []unix.Timespec
}

func (a *applier) entry(ctx context.Context, hdr *tar.Header, tr *tar.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink,
		tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("unsupported tar entry type %q: the layer was not written by an OCI-compatible tool", hdr.Typeflag)
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the root of the layer must be a directory")
		}
		a.dirs = append(a.dirs, dirTimes{name: ".", ts: times(hdr)})
		return a.meta(a.root.fd, ".", hdr, -1)
	}
	pdir, base := splitName(name)
	pfd, err := a.root.dir(pdir)
	if err != nil {
		return err
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(pfd, pdir, base, hdr)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.mkdir(pfd, name, base, hdr)
	case tar.TypeLink:
		return a.link(pfd, base, hdr)
	case tar.TypeSymlink:
		if len(hdr.Linkname) > maxNameLen {
			return fmt.Errorf("symlink target is %d bytes long, more than the %d allowed", len(hdr.Linkname), maxNameLen)
		}
		if err := a.create(pfd, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return a.meta(pfd, base, hdr, -1)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.mknod(pfd, base, hdr)
	default:
		return a.file(ctx, pfd, base, hdr, tr)
	}
}

// create runs mk, and if the name is taken by an earlier entry, removes that
// entry and runs mk again: the later entry of a tar wins.
func (a *applier) create(pfd int, base string, mk func() error) error {
	err := mk()
	if err != unix.EEXIST {
		return err
	}
	if err := a.root.remove(pfd, base); err != nil {
		return err
	}
	return mk()
}

func (a *applier) file(ctx context.Context, pfd int, base string, hdr *tar.Header, tr *tar.Reader) error {
	var fd int
	err := a.create(pfd, base, func() (err error) {
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	defer unix.Close(fd)
	if err := a.copy(ctx, fd, tr); err != nil {
		return err
	}
	return a.meta(pfd, base, hdr, fd)
}

// copy writes the entry's content to fd in large chunks.
func (a *applier) copy(ctx context.Context, fd int, src io.Reader) error {
	for {
		n, rerr := fill(src, a.buf)
		for off := 0; off < n; {
			w, err := unix.Write(fd, a.buf[off:n])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("write file: %w", err)
			}
			off += w
		}
		a.written += int64(n)
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read file content: %w", rerr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (a *applier) mkdir(pfd int, name, base string, hdr *tar.Header) error {
	if err := a.root.mkdir(pfd, base, 0o700, true); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	if err := a.meta(pfd, base, hdr, -1); err != nil {
		return err
	}
	a.dirs = append(a.dirs, dirTimes{name: name, ts: times(hdr)})
	return nil
}

func (a *applier) link(pfd int, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if target == "." {
		return fmt.Errorf("hard link target %q is the root directory", hdr.Linkname)
	}
	tdir, tbase := splitName(target)
	tfd, err := openDir(a.root.fd, tdir)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w (it must be an earlier entry of the layer)", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	// Flags 0: a link to a symlink links the symlink itself, as tar means.
	err = a.create(pfd, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) })
	if err != nil {
		return fmt.Errorf("hard link to %q: %w (it must be an earlier entry of the layer)", hdr.Linkname, err)
	}
	// Metadata belongs to the shared inode, set by the target's entry.
	return nil
}

func (a *applier) mknod(pfd int, base string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	if hdr.Devmajor < 0 || hdr.Devmajor > math.MaxUint32 || hdr.Devminor < 0 || hdr.Devminor > math.MaxUint32 {
		return fmt.Errorf("device number %d:%d out of range", hdr.Devmajor, hdr.Devminor)
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := a.create(pfd, base, func() error { return unix.Mknodat(pfd, base, mode|0o600, dev) }); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return a.meta(pfd, base, hdr, -1)
}

// whiteout translates an OCI whiteout into its overlayfs form. Whiteouts only
// hide lower layers: if this layer has the name already, the name stays.
func (a *applier) whiteout(pfd int, pdir, base string, hdr *tar.Header) error {
	if base == opaqueMarker {
		if err := a.root.setOpaque(pfd); err != nil {
			return fmt.Errorf("mark %s opaque: %w", pdir, err)
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutMetaPrefix) {
		a.opts.warn("%s: skipped AUFS metadata", joinName(pdir, base))
		return nil
	}
	name := base[len(whiteoutPrefix):]
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("whiteout names nothing")
	}
	err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0)
	if err == unix.EEXIST {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create overlay whiteout %s: %w", name, err)
	}
	if err := unix.UtimesNanoAt(pfd, name, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of whiteout %s: %w", name, err)
	}
	return nil
}

// meta sets owner, mode, xattrs and (except for directories) times of an
// entry just created. fd is its open fd for regular files, -1 otherwise.
// Order matters: chown clears setuid, so the mode comes after it.
func (a *applier) meta(pfd int, base string, hdr *tar.Header, fd int) error {
	if !a.opts.NoOwnership {
		if hdr.Uid < 0 || hdr.Uid > math.MaxUint32-1 || hdr.Gid < 0 || hdr.Gid > math.MaxUint32-1 {
			return fmt.Errorf("owner %d:%d out of range", hdr.Uid, hdr.Gid)
		}
		var err error
		if fd >= 0 {
			err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
		} else {
			err = unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		mode := uint32(hdr.Mode) & 0o7777
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			// fchmodat2 (Linux 6.6) refuses to follow a symlink; older
			// kernels cannot, and the entry was created by us just now as a
			// non-symlink, so following is safe there.
			err = unix.Fchmodat(pfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
			if err == unix.EOPNOTSUPP {
				err = unix.Fchmodat(pfd, base, mode, 0)
			}
		}
		if err != nil {
			return fmt.Errorf("chmod %o: %w", mode, err)
		}
	}
	if err := a.xattrs(pfd, base, hdr, fd); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	if err := unix.UtimesNanoAt(pfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// xattrs applies the PAX SCHILY.xattr records. trusted.* is never taken from
// a layer: trusted.overlay.* would let a layer steer overlayfs itself
// (redirects, metacopy). security.* may be refused by the filesystem or LSM;
// that is a note, not a failure.
func (a *applier) xattrs(pfd int, base string, hdr *tar.Header, fd int) error {
	const prefix = "SCHILY.xattr."
	for k, v := range hdr.PAXRecords {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		key := k[len(prefix):]
		if strings.HasPrefix(key, "trusted.") {
			a.opts.warn("%s: skipped xattr %s: layers may not set trusted.* attributes", hdr.Name, key)
			continue
		}
		var err error
		if fd >= 0 {
			err = unix.Fsetxattr(fd, key, []byte(v), 0)
		} else {
			// pfd is our own open directory, so its /proc link is safe, and
			// Lsetxattr does not follow base itself.
			err = unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(pfd)+"/"+base, key, []byte(v), 0)
		}
		if err == nil {
			continue
		}
		// user.* is not allowed on symlinks and special files (EPERM).
		special := hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir
		if strings.HasPrefix(key, "security.") || err == unix.ENOTSUP || err == unix.EPERM && special {
			a.opts.warn("%s: skipped xattr %s: %v", hdr.Name, key, err)
			continue
		}
		return fmt.Errorf("set xattr %s: %w", key, err)
	}
	return nil
}

// finishDirs sets directory times last, deepest first, since creating their
// contents changed them.
func (a *applier) finishDirs() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		pdir, base := splitName(d.name)
		pfd, err := openDir(a.root.fd, pdir)
		if errors.Is(err, unix.ENOENT) {
			continue // removed by a later entry
		}
		if err != nil {
			return fmt.Errorf("set times of %s: %w", d.name, err)
		}
		err = unix.UtimesNanoAt(pfd, base, d.ts, unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(pfd)
		if err != nil && err != unix.ENOENT {
			return fmt.Errorf("set times of %s: %w", d.name, err)
		}
	}
	return nil
}

// times is the [atime, mtime] pair of an entry. Without an access time in
// the header, atime is the mtime.
func times(hdr *tar.Header) []unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return []unix.Timespec{timespec(at), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{}
	}
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// fill reads until buf is full or src fails. Unlike io.ReadFull it passes
// io.EOF through even after a partial read, and a truncated stream stays an
// error (the tar reader reports io.ErrUnexpectedEOF).
func fill(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// shorten keeps error messages readable when a hostile name is huge.
func shorten(name string) string {
	const max = 256
	if len(name) <= max {
		return name
	}
	return name[:max] + "..."
}
