package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// WriteTar writes the tree at dir to w as a layer tar, the inverse of Apply:
// overlayfs whiteouts (0/0 character devices, opaque xattrs) become OCI
// whiteouts again, files sharing an inode become hard links, and xattrs are
// kept as PAX records. Entries are in lexical order, names relative to dir.
func WriteTar(ctx context.Context, w io.Writer, dir string) error {
	return writeTree(ctx, w, dir, "")
}

// WriteTarAs writes path (a file, symlink or directory, not followed) to w
// as an entry named name, and for a directory the tree below it under
// name/, as `docker cp PATH -` archives it. Entries are made as WriteTar
// makes them.
func WriteTarAs(ctx context.Context, w io.Writer, path, name string) error {
	return writeTree(ctx, w, path, name)
}

// writeTree is WriteTar with the entry of root itself named name, and the
// others under name/; without a name, root has no entry and the others
// are relative to it.
func writeTree(ctx context.Context, w io.Writer, root, name string) error {
	bw := bufio.NewWriterSize(w, copyBuf)
	tw := tar.NewWriter(bw)
	inodes := map[[2]uint64]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		switch {
		case rel == "." && name == "":
			return nil
		case rel == ".":
			rel = name
		case name != "":
			rel = name + "/" + filepath.ToSlash(rel)
		default:
			rel = filepath.ToSlash(rel)
		}
		return writeEntry(tw, path, rel, inodes)
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", root, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar %s: %w", root, err)
	}
	return bw.Flush()
}

func writeEntry(tw *tar.Writer, path, rel string, inodes map[[2]uint64]string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil // sockets cannot be archived; a listener makes them again
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("stat %s: no unix metadata", path)
	}
	if fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0 {
		dirName, base := splitName(rel)
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: joinName(dirName, whiteoutPrefix+base), ModTime: fi.ModTime(), Format: tar.FormatPAX})
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = rel
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatPAX
	hdr.AccessTime = timeOf(st.Atim)
	hdr.ChangeTime = time.Time{}
	if fi.IsDir() {
		hdr.Name += "/"
	}
	key := [2]uint64{st.Dev, st.Ino}
	if fi.Mode().IsRegular() && st.Nlink > 1 {
		if first, ok := inodes[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			inodes[key] = rel
		}
	}
	opaque, err := readXattrs(path, hdr)
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if opaque {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel + "/" + opaqueMarker, ModTime: fi.ModTime(), Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	// The tree may be live (kago cp from a running container): the name may
	// have become a symlink or a FIFO since the Lstat. Open it without
	// following or blocking, and check it is still the file stat saw.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &now); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		return fmt.Errorf("%s changed while it was archived", path)
	}
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// readXattrs copies the xattrs of path into hdr.PAXRecords and reports an
// overlayfs opaque marker instead of copying it.
func readXattrs(path string, hdr *tar.Header) (opaque bool, err error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(path, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Llistxattr(path, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Llistxattr(path, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("list xattrs of %s: %w", path, err)
	}
	for _, key := range strings.Split(string(buf[:n]), "\x00") {
		if key == "" {
			continue
		}
		if key == "trusted.overlay.opaque" || key == "user.overlay.opaque" {
			opaque = true
			continue
		}
		if strings.HasPrefix(key, "trusted.") {
			continue
		}
		size, err := unix.Lgetxattr(path, key, nil)
		if err != nil {
			continue // removed meanwhile
		}
		val := make([]byte, size)
		if size, err = unix.Lgetxattr(path, key, val); err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+key] = string(val[:size])
	}
	return opaque, nil
}

func joinName(dir, base string) string {
	if dir == "." {
		return base
	}
	return dir + "/" + base
}

func timeOf(ts syscall.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }
