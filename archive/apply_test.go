package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/archive/tartest"
	"github.com/kago-run/kago/internal/testbundle"
	"golang.org/x/sys/unix"
)

type E = tartest.Entry

// apply extracts entries into a fresh directory and returns it.
func apply(t *testing.T, entries ...E) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := archive.Apply(context.Background(), dir, bytes.NewReader(tartest.Tar(entries...)), archive.ApplyOptions{Warn: func(m string) { t.Log("warn:", m) }})
	return dir, err
}

func lstat(t *testing.T, path string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("lstat %s: %v", path, err)
	}
	return &st
}

func getxattr(t *testing.T, path, key string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, key, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, key, err)
	}
	return string(buf[:n])
}

func TestApplyKeepsMetadata(t *testing.T) {
	testbundle.RequireRoot(t)
	dirTime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	fileTime := time.Date(2010, 1, 1, 0, 0, 0, 123456789, time.UTC)
	dir, err := apply(t,
		E{Name: "./", Type: tar.TypeDir, Mode: 0o755},
		E{Name: "usr/", Type: tar.TypeDir, ModTime: dirTime},
		E{Name: "usr/bin/", Type: tar.TypeDir, ModTime: dirTime},
		E{Name: "usr/bin/su", Body: "suid", Mode: 0o4755, UID: 1000, GID: 1000, ModTime: fileTime, Xattrs: map[string]string{"user.kago": "yes"}},
		E{Name: "usr/bin/su-link", Type: tar.TypeLink, Link: "usr/bin/su"},
		E{Name: "usr/bin/abs", Type: tar.TypeSymlink, Link: "/etc/passwd", UID: 1000, GID: 1000},
		E{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		E{Name: "dev/null", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
		E{Name: "dev/loop9", Type: tar.TypeBlock, Major: 7, Minor: 9, Mode: 0o660},
		E{Name: "run/fifo", Type: tar.TypeFifo, Mode: 0o620},
		E{Name: "usr/bin/later", Body: "written after the dir entry"},
	)
	if err != nil {
		t.Fatal(err)
	}
	su := lstat(t, filepath.Join(dir, "usr/bin/su"))
	if su.Mode != unix.S_IFREG|0o4755 || su.Uid != 1000 || su.Gid != 1000 || su.Nlink != 2 || su.Size != 4 {
		t.Errorf("su: mode %o uid %d gid %d nlink %d size %d", su.Mode, su.Uid, su.Gid, su.Nlink, su.Size)
	}
	if got := time.Unix(su.Mtim.Unix()); !got.Equal(fileTime) {
		t.Errorf("su mtime %v, want %v", got, fileTime)
	}
	if got := getxattr(t, filepath.Join(dir, "usr/bin/su"), "user.kago"); got != "yes" {
		t.Errorf("xattr user.kago = %q", got)
	}
	if link := lstat(t, filepath.Join(dir, "usr/bin/su-link")); link.Ino != su.Ino {
		t.Errorf("hard link has inode %d, target %d", link.Ino, su.Ino)
	}
	if target, err := os.Readlink(filepath.Join(dir, "usr/bin/abs")); err != nil || target != "/etc/passwd" {
		t.Errorf("symlink target %q, %v; want /etc/passwd stored as is", target, err)
	}
	if st := lstat(t, filepath.Join(dir, "usr/bin/abs")); st.Uid != 1000 {
		t.Errorf("symlink owner %d, want 1000 (lchown)", st.Uid)
	}
	if st := lstat(t, filepath.Join(dir, "tmp")); st.Mode != unix.S_IFDIR|0o1777 {
		t.Errorf("tmp mode %o, want sticky 1777", st.Mode)
	}
	if st := lstat(t, filepath.Join(dir, "dev/null")); st.Mode != unix.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null mode %o rdev %x", st.Mode, st.Rdev)
	}
	if st := lstat(t, filepath.Join(dir, "dev/loop9")); st.Mode != unix.S_IFBLK|0o660 || st.Rdev != unix.Mkdev(7, 9) {
		t.Errorf("dev/loop9 mode %o rdev %x", st.Mode, st.Rdev)
	}
	if st := lstat(t, filepath.Join(dir, "run/fifo")); st.Mode != unix.S_IFIFO|0o620 {
		t.Errorf("fifo mode %o", st.Mode)
	}
	// Directory times survive the files created inside them afterwards.
	for _, d := range []string{"usr", "usr/bin"} {
		if got := time.Unix(lstat(t, filepath.Join(dir, d)).Mtim.Unix()); !got.Equal(dirTime) {
			t.Errorf("%s mtime %v, want %v", d, got, dirTime)
		}
	}
}

func TestApplyWhiteoutsBecomeOverlayWhiteouts(t *testing.T) {
	testbundle.RequireRoot(t)
	dir, err := apply(t,
		E{Name: "etc/", Type: tar.TypeDir},
		E{Name: "etc/.wh.motd"},
		E{Name: "opt/.wh..wh..opq"},
		E{Name: "opt/kept", Body: "same layer"},
		E{Name: "keep", Body: "x"},
		E{Name: ".wh.keep"}, // same-layer whiteouts hide only lower layers
		E{Name: "f", Body: "x", Xattrs: map[string]string{"trusted.overlay.redirect": "/etc"}},
		// Deleted and made again in one layer: an opaque directory.
		E{Name: ".wh.re"},
		E{Name: "re/x", Body: "x"},
		E{Name: ".wh.re2"},
		E{Name: "re2/", Type: tar.TypeDir},
		E{Name: "plain/x", Body: "x"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, filepath.Join(dir, "etc/motd")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/motd mode %o rdev %d, want 0/0 char device", st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/.wh.motd")); !os.IsNotExist(err) {
		t.Errorf(".wh.motd itself was extracted: %v", err)
	}
	if got := getxattr(t, filepath.Join(dir, "opt"), "trusted.overlay.opaque"); got != "y" {
		t.Errorf("opaque xattr %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "opt/kept")); err != nil {
		t.Errorf("same-layer file in opaque dir: %v", err)
	}
	if st := lstat(t, filepath.Join(dir, "keep")); st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("keep was replaced by its same-layer whiteout: mode %o", st.Mode)
	}
	for _, d := range []string{"re", "re2"} {
		if got := getxattr(t, filepath.Join(dir, d), "trusted.overlay.opaque"); got != "y" {
			t.Errorf("%s re-made after its whiteout: opaque xattr %q, want y", d, got)
		}
	}
	if _, err := unix.Lgetxattr(filepath.Join(dir, "plain"), "trusted.overlay.opaque", nil); err != unix.ENODATA {
		t.Errorf("implicit parent plain is opaque: %v", err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(dir, "f"), "trusted.overlay.redirect", nil); err != unix.ENODATA {
		t.Errorf("a layer set trusted.overlay.redirect: %v", err)
	}
}

func TestApplyLaterEntryReplacesEarlier(t *testing.T) {
	testbundle.RequireRoot(t)
	dir, err := apply(t,
		E{Name: "a", Body: "file first"},
		E{Name: "a/", Type: tar.TypeDir},
		E{Name: "a/x", Body: "in dir"},
		E{Name: "a", Type: tar.TypeSymlink, Link: "b"},
		E{Name: "c", Type: tar.TypeSymlink, Link: "/"},
		E{Name: "c", Body: "file replaces symlink"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "a")); err != nil || target != "b" {
		t.Errorf("a = %q %v, want symlink to b", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "c")); err != nil || string(b) != "file replaces symlink" {
		t.Errorf("c = %q %v", b, err)
	}
}

// TestApplyConfined runs hostile layers and checks that each is rejected or
// stays inside its directory, with a canary directory beside it untouched.
func TestApplyConfined(t *testing.T) {
	testbundle.RequireRoot(t)
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		entries []E
		wantErr string // substring; empty: must succeed
		inside  string // must exist inside the root afterwards
	}{
		{"dotdot", []E{{Name: "../../etc/x", Body: "x"}}, "climbs out", ""},
		{"dotdot-inner", []E{{Name: "a/../../canary/x", Body: "x"}}, "climbs out", ""},
		{"dotdot-harmless", []E{{Name: "a/b/../../x", Body: "x"}}, "", "x"},
		{"absolute", []E{{Name: "/abs", Body: "x"}}, "", "abs"},
		{"symlink-root", []E{{Name: "evil", Type: tar.TypeSymlink, Link: "/"}, {Name: "evil/etc/passwd", Body: "pwned"}}, "", "etc/passwd"},
		{"symlink-dotdot-chain", []E{{Name: "a", Type: tar.TypeSymlink, Link: ".."}, {Name: "a/a/a/canary/x", Body: "x"}}, "", "canary/x"},
		{"symlink-relative-out", []E{{Name: "up", Type: tar.TypeSymlink, Link: "../canary"}, {Name: "up/x", Body: "x"}}, "parent directory up", ""},
		{"symlink-proc", []E{{Name: "p", Type: tar.TypeSymlink, Link: "/proc/self/root"}, {Name: "p/x", Body: "x"}}, "parent directory p", ""},
		{"hardlink-abs", []E{{Name: "shadow", Type: tar.TypeLink, Link: "/etc/shadow"}}, "must be an earlier entry", ""},
		{"hardlink-dotdot", []E{{Name: "l", Type: tar.TypeLink, Link: "../canary/secret"}}, "climbs out", ""},
		{"hardlink-via-symlink", []E{{Name: "e", Type: tar.TypeSymlink, Link: "/etc"}, {Name: "l", Type: tar.TypeLink, Link: "e/passwd"}}, "must be an earlier entry", ""},
		{"long-name", []E{{Name: strings.Repeat("a/", 2100) + "f", Body: "x"}}, "more than the 4096 allowed", ""},
		{"whiteout-dotdot", []E{{Name: "a/.wh..."}}, "whiteout names nothing", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, checkOutside := withCanary(t)
			_, err := archive.Apply(context.Background(), dir, bytes.NewReader(tartest.Tar(tc.entries...)), archive.ApplyOptions{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Apply: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Apply error %v, want one containing %q", err, tc.wantErr)
			case err != nil && !strings.Contains(err.Error(), tc.entries[len(tc.entries)-1].Name[:min(20, len(tc.entries[len(tc.entries)-1].Name))]):
				t.Errorf("error %q does not name the entry", err)
			}
			if tc.inside != "" {
				if _, err := os.Lstat(filepath.Join(dir, tc.inside)); err != nil {
					t.Errorf("confined entry missing inside the root: %v", err)
				}
			}
			checkOutside()
			if now, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(now, passwd) {
				t.Fatal("/etc/passwd changed")
			}
		})
	}
}

// withCanary makes an empty layer root with a canary directory beside it;
// checkOutside fails the test if anything beside the root was created or
// the canary changed.
func withCanary(t *testing.T) (dir string, checkOutside func()) {
	t.Helper()
	base := t.TempDir()
	dir, canary := filepath.Join(base, "root"), filepath.Join(base, "canary")
	for _, d := range []string{dir, canary} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(canary, "secret")
	if err := os.WriteFile(secret, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, func() {
		t.Helper()
		assertOnly(t, base, "canary", "root")
		assertOnly(t, canary, "secret")
		if b, err := os.ReadFile(secret); err != nil || string(b) != "s" {
			t.Fatalf("canary changed: %q %v", b, err)
		}
	}
}

// assertOnly checks that dir holds exactly the names given.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(names) {
		t.Errorf("%s holds %v, want %v: something was written outside the layer root", dir, got, names)
	}
}

func TestApplyTruncatedStreamFails(t *testing.T) {
	testbundle.RequireRoot(t)
	data := tartest.Tar(E{Name: "big", Body: strings.Repeat("x", 10000)})
	dir := t.TempDir()
	_, err := archive.Apply(context.Background(), dir, bytes.NewReader(data[:3000]), archive.ApplyOptions{})
	if err == nil {
		t.Fatal("truncated layer applied without error")
	}
}

func TestApplyHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := archive.Apply(ctx, t.TempDir(), bytes.NewReader(tartest.Tar(E{Name: "f", Body: "x"})), archive.ApplyOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with cancelled context: %v", err)
	}
}

func TestApplyRejectsGarbage(t *testing.T) {
	_, err := archive.Apply(context.Background(), t.TempDir(), strings.NewReader(strings.Repeat("not a tar ", 100)), archive.ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "read tar after") {
		t.Fatalf("garbage: %v", err)
	}
}

// TestApplyDrainsStream: a caller hashing the stream must see all of it,
// including bytes after the end-of-archive marker.
func TestApplyDrainsStream(t *testing.T) {
	testbundle.RequireRoot(t)
	data := append(tartest.Tar(E{Name: "f", Body: "x"}), make([]byte, 8192)...)
	r := bytes.NewReader(data)
	n, err := archive.Apply(context.Background(), t.TempDir(), r, archive.ApplyOptions{})
	if err != nil || n != 1 {
		t.Fatalf("Apply = %d, %v", n, err)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread", r.Len())
	}
}

// TestApplyReplacesInsideCachedParents replaces entries below the root,
// where the parent directory fd comes from Apply's cache, and overflows
// that cache, so a dropped fd in use would show.
func TestApplyReplacesInsideCachedParents(t *testing.T) {
	testbundle.RequireRoot(t)
	es := []E{
		{Name: "d/x", Body: "file"},
		{Name: "d/x/", Type: tar.TypeDir},
		{Name: "d/x/y", Body: "y"},
		{Name: "d/x", Type: tar.TypeSymlink, Link: "y"},
		{Name: "d/z", Body: "z"},
	}
	for i := range 300 {
		es = append(es, E{Name: fmt.Sprintf("many/%03d/f", i), Body: "x"}, E{Name: fmt.Sprintf("many/%03d/f", i), Body: "again"})
	}
	es = append(es, E{Name: "d/z/", Type: tar.TypeDir}, E{Name: "d/z/w", Body: "w"})
	dir, err := apply(t, es...)
	if err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "d/x")); err != nil || target != "y" {
		t.Errorf("d/x = %q, %v", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "d/z/w")); err != nil || string(b) != "w" {
		t.Errorf("d/z/w = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "many/299/f")); err != nil || string(b) != "again" {
		t.Errorf("many/299/f = %q, %v", b, err)
	}
	if ents, err := os.ReadDir(filepath.Join(dir, "many")); err != nil || len(ents) != 300 {
		t.Errorf("many holds %d entries, %v", len(ents), err)
	}
}
