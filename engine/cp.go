package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/linux/inroot"
)

// The container side of `kago cp` is untrusted: every path in it is
// resolved with openat2(RESOLVE_IN_ROOT) against the container's root, so a
// symlink in the container can never lead the copy onto the host. For a
// running container the root is /proc/<pid>/root, its view with volumes and
// tmpfs mounts; for a stopped one, its rootfs snapshot.

// containerRoot returns the directory the container's paths resolve in,
// and what to call when the copy is done. A stopped container's rootfs is
// mounted for the copy only: as docker, kago keeps a stopped container's
// root unmounted, so release unmounts it again unless the container was
// started in the meantime (start mounts it itself and then owns it).
func (e *Engine) containerRoot(ctx context.Context, ref string) (root string, release func(), err error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return "", nil, err
	}
	if c, err := e.runtime.Load(rec.ID); err == nil && e.Running(rec.ID) {
		return fmt.Sprintf("/proc/%d/root", c.Pid()), func() {}, nil
	}
	snaps := e.Images.Snapshots()
	if root, err = snaps.Mount(ctx, rec.ID); err != nil {
		return "", nil, err
	}
	return root, func() {
		// The thread inContainerRoot chrooted into the root exits just
		// after the copy returns, and holds the mount busy until it has.
		for try := 0; ; try++ {
			if e.monitorAlive(rec.ID) {
				return
			}
			err := snaps.Unmount(context.WithoutCancel(ctx), rec.ID)
			if err == nil {
				return
			}
			if !errors.Is(err, unix.EBUSY) || try == 100 {
				e.Log.Warn("unmount rootfs after cp", "id", rec.ID, "error", err)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}, nil
}

// CopyFrom copies src of the container to dst on the host, as docker cp:
// into dst if it is a directory, else as dst. A src ending in "/." is a
// directory whose contents go into dst.
func (e *Engine) CopyFrom(ctx context.Context, ref, src, dst string) error {
	root, src, contents, release, err := e.copySource(ctx, ref, src)
	if err != nil {
		return err
	}
	defer release()
	if st, err := os.Stat(dst); err == nil && st.IsDir() && !contents {
		dst = filepath.Join(dst, path.Base(src))
	}
	r, err := inroot.Open(root)
	if err != nil {
		return err
	}
	defer r.Close()
	return copyOut(r, src, dst)
}

// copySource resolves the container side of a copy out: the root its paths
// resolve in, src cleaned, whether src is docker's "SRC/." (which must
// then be a directory), and the root's release (see containerRoot).
func (e *Engine) copySource(ctx context.Context, ref, src string) (root, clean string, contents bool, release func(), err error) {
	if root, release, err = e.containerRoot(ctx, ref); err != nil {
		return "", "", false, nil, err
	}
	contents = isContentsPath(src)
	clean = path.Clean("/" + src)
	if contents {
		d, err := inroot.OpenFile(root, clean, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			release()
			return "", "", false, nil, fmt.Errorf("copy the contents of %s:%s: %w (a path ending in /. must be a directory)", ref, clean, err)
		}
		d.Close()
	}
	return root, clean, contents, release, nil
}

// isContentsPath tells docker cp's "SRC/." (the contents of the directory
// SRC, not SRC itself) from other paths.
func isContentsPath(p string) bool {
	return p == "." || strings.HasSuffix(p, "/.")
}

func copyOut(root *inroot.Root, src, dst string) error {
	f, err := root.OpenFile(src, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if errors.Is(err, unix.ELOOP) {
		// src itself is a symlink: copy the link, as docker does.
		target, err := root.Readlink(src)
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

// CopyTo copies the host's src into the container at dst, as docker cp:
// into dst if it is a directory there, else as dst. A src ending in "/."
// is a directory whose contents go into dst.
func (e *Engine) CopyTo(ctx context.Context, ref, src, dst string) error {
	dir, release, err := e.containerRoot(ctx, ref)
	if err != nil {
		return err
	}
	defer release()
	root, err := inroot.Open(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	dst = path.Clean("/" + dst)
	contents := isContentsPath(src)
	if contents {
		if st, err := os.Stat(src); err != nil || !st.IsDir() {
			return fmt.Errorf("copy the contents of %s: a path ending in /. must be a directory", src)
		}
	}
	if d, err := root.OpenFd(dst, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
		unix.Close(d)
		if !contents {
			dst = path.Join(dst, filepath.Base(src))
		}
	}
	src = filepath.Clean(src)
	if contents && dst == "/" {
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, en := range entries {
			if err := copyIn(root, filepath.Join(src, en.Name()), "/"+en.Name()); err != nil {
				return err
			}
		}
		return nil
	}
	return copyIn(root, src, dst)
}

func copyIn(root *inroot.Root, src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if path.Clean(dst) == "/" {
		return fmt.Errorf("cannot copy onto / of the container")
	}
	pfd, name, err := root.Parent(dst, 0)
	if err != nil {
		return fmt.Errorf("copy to %s in the container: %w", dst, err)
	}
	parent := os.NewFile(uintptr(pfd), path.Dir(dst))
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

// CopyFromTar writes src of the container to w as a tar archive, as
// `docker cp CONTAINER:SRC -` does: one entry named by the base name of src,
// with the tree below it when src is a directory. A symlink is archived as
// the link, not followed.
//
// archive.WriteTarAs walks by path name, which is only safe where no symlink
// can lead out, and a running container may swap a directory for a symlink
// to / in the middle of the walk. So the walk runs on a thread chrooted into
// the container's root (inContainerRoot): every lookup, symlinks and ".."
// included, stays inside the container.
func (e *Engine) CopyFromTar(ctx context.Context, ref, src string, w io.Writer) error {
	root, src, contents, release, err := e.copySource(ctx, ref, src)
	if err != nil {
		return err
	}
	defer release()
	// The entries are named by src's base name, or "." for "SRC/." (its
	// contents), as docker names them.
	name := path.Base(src)
	if contents || src == "/" {
		name = "."
	}
	if err := writeTarOf(ctx, root, src, name, w); err != nil {
		return fmt.Errorf("copy %s from container %s: %w", src, ref, err)
	}
	return nil
}

// writeTarOf writes src (clean, absolute) of the tree at root to w, its
// entries under name.
func writeTarOf(ctx context.Context, root, src, name string, w io.Writer) error {
	// Fail before any byte is written, with the path in the message.
	f, err := inroot.OpenFile(root, src, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return err
	}
	f.Close()
	return inContainerRoot(root, func() error { return archive.WriteTarAs(ctx, w, src, name) })
}

// inContainerRoot runs fn on a thread of its own whose root directory is
// root. The thread leaves the process's shared filesystem state (unshare
// CLONE_FS) and chroots, so every path fn resolves stays inside root: the
// guarantee openat2(RESOLVE_IN_ROOT) gives one lookup, for code that walks by
// path name. The thread is never handed back to the Go scheduler (no
// UnlockOSThread), so it exits with the goroutine; threads the runtime starts
// meanwhile are cloned from its template thread, not from this one. The
// process's main thread never exits (Go wedges it instead, keeping the
// container's root busy for the life of the process), so the work moves off
// it when the goroutine lands there.
func inContainerRoot(root string, fn func() error) error {
	dir, err := os.Open(root)
	if err != nil {
		return fmt.Errorf("open the container's root: %w", err)
	}
	defer dir.Close()
	fd := int(dir.Fd())
	done := make(chan error, 1)
	offMain := make(chan struct{})
	var work func()
	work = func() {
		goruntime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// While this goroutine holds the main thread, the new one
			// cannot be scheduled on it.
			go work()
			<-offMain
			goruntime.UnlockOSThread()
			return
		}
		close(offMain)
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare the filesystem state: %w", err)
			}
			if err := unix.Fchdir(fd); err != nil {
				return fmt.Errorf("enter the container's root: %w", err)
			}
			if err := unix.Chroot("."); err != nil {
				return fmt.Errorf("chroot into the container's root: %w", err)
			}
			return fn()
		}()
	}
	go work()
	return <-done
}

// CopyToTar extracts the tar archive r into the directory dst of the
// container, as `docker cp - CONTAINER:DST` does. The archive is untrusted.
// archive.Apply confines every entry to the container's root with
// openat2(RESOLVE_IN_ROOT): a symlink, from the archive or the container,
// resolves as it would inside the container (docker's meaning) and never
// on the host. entryChecker refuses what climbs out of dst, what must not
// be created in a container and what would replace a directory. Files
// belong to root, as docker's without --archive.
func (e *Engine) CopyToTar(ctx context.Context, ref, dst string, r io.Reader) error {
	root, release, err := e.containerRoot(ctx, ref)
	if err != nil {
		return err
	}
	defer release()
	dst = path.Clean("/" + dst)
	d, err := inroot.OpenFile(root, dst, unix.O_PATH|unix.O_DIRECTORY)
	switch {
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("destination %s:%s is not a directory: an archive from stdin is extracted into a directory", ref, dst)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("destination %s:%s does not exist: create the directory first", ref, dst)
	case err != nil:
		return fmt.Errorf("open destination %s:%s: %w", ref, dst, err)
	}
	d.Close()
	if err := extractTar(ctx, root, dst, r); err != nil {
		return fmt.Errorf("extract the archive into %s:%s: %w", ref, dst, err)
	}
	return nil
}

// extractTar extracts r into the directory dst (clean, absolute) of the
// tree at root, each entry checked by entryChecker first.
func extractTar(ctx context.Context, root, dst string, r io.Reader) error {
	rootDir, err := inroot.Open(root)
	if err != nil {
		return err
	}
	defer rootDir.Close()
	c := &entryChecker{root: rootDir, prefix: strings.TrimPrefix(dst, "/")}
	s := &tarStream{src: tar.NewReader(r), fix: c.check}
	_, err = archive.Apply(ctx, root, s, archive.ApplyOptions{NoOwnership: true})
	if s.err != nil {
		return s.err // Apply's error would only wrap it
	}
	return err
}

// entryChecker vets the entries of an untrusted archive for extractTar,
// with a message naming the entry, and puts them under the destination.
// archive.Apply is the confinement; these checks keep docker's rules:
// nothing climbs out of the destination, no device nodes (nor overlay
// whiteouts, which Apply would interpret), and no directory is replaced by
// a non-directory or the reverse (Apply would delete the old tree).
type entryChecker struct {
	root   *inroot.Root // the container's root
	prefix string       // the destination relative to root, "" for /
}

func (c *entryChecker) check(hdr *tar.Header) (bool, error) {
	name, ok := c.under(hdr.Name)
	switch {
	case hdr.Typeflag == tar.TypeXGlobalHeader:
		return false, nil
	case !ok:
		return false, fmt.Errorf("tar entry %q climbs out of the destination with \"..\"", hdr.Name)
	case name == c.dest() && hdr.Typeflag == tar.TypeDir:
		return false, nil // the destination keeps its own mode and times
	case name == c.dest():
		return false, fmt.Errorf("tar entry %q would replace the destination directory itself", hdr.Name)
	case hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock:
		return false, fmt.Errorf("tar entry %q is a device node: kago cp does not create devices in a container", hdr.Name)
	case strings.HasPrefix(path.Base(name), ".wh."):
		return false, fmt.Errorf("tar entry %q has an overlay whiteout name (.wh.*), which cannot be stored in a container", hdr.Name)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeFifo:
	case tar.TypeLink:
		// A hard link's target is an entry of the archive, under dst too.
		target, ok := c.under(hdr.Linkname)
		if !ok {
			return false, fmt.Errorf("tar entry %q is a hard link to %q, outside the destination", hdr.Name, hdr.Linkname)
		}
		hdr.Linkname = target
	default:
		return false, fmt.Errorf("tar entry %q has type %q, which kago cp cannot store", hdr.Name, hdr.Typeflag)
	}
	if err := c.checkReplace(name, hdr.Typeflag == tar.TypeDir); err != nil {
		return false, fmt.Errorf("tar entry %q: %w", hdr.Name, err)
	}
	hdr.Name = name
	return true, nil
}

// under turns an entry name into a name relative to the root, below the
// destination; false if it climbs out of the destination.
func (c *entryChecker) under(name string) (string, bool) {
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return path.Join(c.dest(), rel), true
}

func (c *entryChecker) dest() string {
	if c.prefix == "" {
		return "."
	}
	return c.prefix
}

// checkReplace refuses to replace an existing directory by a non-directory
// or the reverse. Entries are checked only when Apply asks for them (see
// tarStream), so the earlier ones are on disk and count too, as in docker.
// It fails closed: only a name that does not exist yet (or whose parent
// does not, which Apply makes) passes unchecked; any other error stops the
// copy.
func (c *entryChecker) checkReplace(name string, dir bool) error {
	st, err := c.root.Lstat(name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check what it would replace: %w", err)
	}
	switch isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR; {
	case isDir && !dir:
		return fmt.Errorf("cannot overwrite directory /%s with a non-directory", name)
	case !isDir && dir:
		return fmt.Errorf("cannot overwrite non-directory /%s with a directory", name)
	}
	return nil
}

// tarStream re-encodes the tar stream src as its reader asks for bytes:
// fix may change a header, drop its entry (false) or end the stream (an
// error, kept in err). It reads the next entry only when the reader wants
// bytes past the current one; a tar reader does that in Next, after it is
// done with the current entry. So when fix runs, the entries before are
// already extracted, and a check of the disk is not racing the extraction.
// Only SCHILY.xattr PAX records are carried over: the others restate header
// fields, which the writer encodes itself.
type tarStream struct {
	src  *tar.Reader
	fix  func(*tar.Header) (bool, error)
	buf  bytes.Buffer // the encoded header of the current entry
	data int64        // bytes of its content still to pass
	pad  int64        // zero bytes after the content, to a 512-byte block
	done bool         // the end-of-archive marker is in buf
	err  error
	// entries counts the entries read, for messages.
	entries int
}

func (s *tarStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for s.err == nil {
		switch {
		case s.buf.Len() > 0:
			return s.buf.Read(p)
		case s.data > 0:
			if int64(len(p)) > s.data {
				p = p[:s.data]
			}
			n, err := s.src.Read(p)
			s.data -= int64(n)
			if n > 0 {
				return n, nil
			}
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			s.err = fmt.Errorf("read the tar archive: %w", err)
		case s.pad > 0:
			n := min(int64(len(p)), s.pad)
			clear(p[:n])
			s.pad -= n
			return int(n), nil
		case s.done:
			return 0, io.EOF
		default:
			s.err = s.next()
		}
	}
	return 0, s.err
}

// next puts the header of the next kept entry in buf, or the end marker.
func (s *tarStream) next() error {
	for {
		hdr, err := s.src.Next()
		if err == io.EOF {
			s.buf.Write(make([]byte, 2*512))
			s.done = true
			return nil
		}
		if err != nil && s.entries == 0 {
			return fmt.Errorf("the input is not a tar archive: %w", err)
		}
		if err != nil {
			return fmt.Errorf("read the tar archive after %d entries: %w", s.entries, err)
		}
		s.entries++
		keep, err := s.fix(hdr)
		if err != nil {
			return err
		}
		if !keep {
			continue
		}
		if hdr.Typeflag == tar.TypeGNUSparse {
			hdr.Typeflag = tar.TypeReg // the reader fills the holes
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		for k := range hdr.PAXRecords {
			if !strings.HasPrefix(k, "SCHILY.xattr.") {
				delete(hdr.PAXRecords, k)
			}
		}
		hdr.Format = tar.FormatPAX
		// A fresh writer per header: the content does not go through it.
		if err := tar.NewWriter(&s.buf).WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar entry %q: %w", hdr.Name, err)
		}
		s.data, s.pad = hdr.Size, (512-hdr.Size%512)%512
		return nil
	}
}
