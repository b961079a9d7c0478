package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/internal/testbundle"
	"golang.org/x/sys/unix"
)

// describe lists every entry under dir with the metadata Apply keeps, one
// line each, so two trees compare as strings.
func describe(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o uid=%d gid=%d rdev=%x", rel, st.Mode, st.Uid, st.Gid, st.Rdev)
		if rel != "." {
			line += fmt.Sprintf(" mtime=%d.%09d", st.Mtim.Sec, st.Mtim.Nsec)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" nlink=%d body=%q", st.Nlink, b)
		case unix.S_IFLNK:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			line += " -> " + target
		}
		for _, key := range []string{"user.kago", "trusted.overlay.opaque"} {
			buf := make([]byte, 64)
			if n, err := unix.Lgetxattr(path, key, buf); err == nil {
				line += fmt.Sprintf(" %s=%q", key, buf[:n])
			}
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestWriteTarRoundTrip(t *testing.T) {
	testbundle.RequireRoot(t)
	mt := time.Date(2015, 5, 5, 5, 5, 5, 0, time.UTC)
	dir, err := apply(t,
		E{Name: "bin/", Type: tar.TypeDir, ModTime: mt},
		E{Name: "bin/su", Body: "su", Mode: 0o4755, UID: 1000, GID: 1000, Xattrs: map[string]string{"user.kago": "x"}},
		E{Name: "bin/su2", Type: tar.TypeLink, Link: "bin/su"},
		E{Name: "bin/sh", Type: tar.TypeSymlink, Link: "su"},
		E{Name: "dev/null", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
		E{Name: "run/fifo", Type: tar.TypeFifo},
		E{Name: "etc/.wh.gone"},
		E{Name: "opt/.wh..wh..opq"},
		E{Name: "opt/x", Body: "x"},
	)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := archive.WriteTar(context.Background(), &buf, dir); err != nil {
		t.Fatal(err)
	}
	// The tar carries OCI whiteouts, not overlay ones.
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	for _, want := range []string{"etc/.wh.gone", "opt/.wh..wh..opq"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("tar lacks %s: %v", want, names)
		}
	}
	dir2 := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(dir2, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Apply(context.Background(), dir2, &buf, archive.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if a, b := describe(t, dir), describe(t, dir2); a != b {
		t.Errorf("round trip differs:\n%s\n--- vs ---\n%s", a, b)
	}
}

func TestWriteTarSkipsSockets(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Skipf("unix socket: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := archive.WriteTar(context.Background(), &buf, dir); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "f" {
		t.Errorf("tar holds %v, want only f", names)
	}
}

// TestWriteTarAs: the path itself is the first entry, under the name; what
// is below it (hard links too) is under name/; a file is one entry.
func TestWriteTarAs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "sub", "f"), []byte("data"), 0o644)
	os.Link(filepath.Join(dir, "d", "sub", "f"), filepath.Join(dir, "d", "g"))
	list := func(path, name string) []string {
		var buf bytes.Buffer
		if err := archive.WriteTarAs(context.Background(), &buf, path, name); err != nil {
			t.Fatal(err)
		}
		var out []string
		tr := tar.NewReader(&buf)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			e := hdr.Name
			if hdr.Typeflag == tar.TypeLink {
				e += ">" + hdr.Linkname
			}
			out = append(out, e)
		}
	}
	if got := strings.Join(list(filepath.Join(dir, "d"), "d"), " "); got != "d/ d/g d/sub/ d/sub/f>d/g" {
		t.Errorf("directory: %s", got)
	}
	if got := strings.Join(list(filepath.Join(dir, "d"), "."), " "); got != "./ ./g ./sub/ ./sub/f>./g" {
		t.Errorf("contents: %s", got)
	}
	if got := strings.Join(list(filepath.Join(dir, "d", "g"), "g"), " "); got != "g" {
		t.Errorf("file: %s", got)
	}
}
