package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/archive/tartest"
	"github.com/kago-run/kago/internal/testbundle"
)

type E = tartest.Entry

// extractInto extracts an archive into /dest of a fresh "container root"
// that holds /dest/keep/sub and the file /dest/f, with a "host" directory
// beside it that holds a secret file. mk makes the archive, knowing where
// the host directory is. It returns the root, the host directory and the
// error.
func extractInto(t *testing.T, mk func(host string) []byte) (string, string, error) {
	t.Helper()
	root, host := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(host, "secret"), []byte("host"), 0o644)
	dest := filepath.Join(root, "dest")
	os.MkdirAll(filepath.Join(dest, "keep", "sub"), 0o755)
	os.WriteFile(filepath.Join(dest, "f"), []byte("old"), 0o644)
	os.Chmod(dest, os.ModeSticky|0o777)
	return root, host, extractTar(context.Background(), root, "/dest", bytes.NewReader(mk(host)))
}

// checkHost fails the test if anything but the secret is in the host
// directory, or the secret changed or gained a hard link.
func checkHost(t *testing.T, host string) {
	t.Helper()
	ents, _ := os.ReadDir(host)
	if len(ents) != 1 {
		t.Fatalf("written outside the container root: %v", ents)
	}
	var st unix.Stat_t
	b, _ := os.ReadFile(filepath.Join(host, "secret"))
	if err := unix.Stat(filepath.Join(host, "secret"), &st); err != nil || st.Nlink != 1 || string(b) != "host" {
		t.Fatalf("host secret changed: %q, %d links, %v", b, st.Nlink, err)
	}
}

// A hostile archive from stdin is refused with an error naming the entry,
// or lands inside the container root; the host is untouched.
func TestExtractTarRefusesHostileEntries(t *testing.T) {
	// hostRel reaches the host directory by climbing from /dest.
	hostRel := func(host string) string { return "../../../../../../../../../.." + host }
	for _, tc := range []struct {
		name    string
		entries func(host string) []E
		wantErr string
		inside  func(host string) string // a path that must then exist in the root
	}{
		{"dotdot", func(h string) []E { return []E{{Name: "../../escape", Body: "x"}} }, `"../../escape" climbs out`, nil},
		{"dotdot to the host", func(h string) []E { return []E{{Name: hostRel(h) + "/pwned", Body: "x"}} }, "climbs out", nil},
		{"dotdot in the middle", func(h string) []E { return []E{{Name: "a/../../x", Body: "x"}} }, "climbs out", nil},
		{"absolute name", func(h string) []E { return []E{{Name: "/abs", Body: "x"}} }, "", func(string) string { return "dest/abs" }},
		{"symlink to / then a file through it", func(h string) []E {
			return []E{{Name: "evil", Type: tar.TypeSymlink, Link: "/"}, {Name: "evil" + h + "/pwned", Body: "x"}}
		}, "", func(h string) string { return h + "/pwned" }},
		{"symlink to the host then a file through it", func(h string) []E {
			// It resolves to the root's (missing) copy of the host path.
			return []E{{Name: "evil", Type: tar.TypeSymlink, Link: hostRel(h)}, {Name: "evil/pwned", Body: "x"}}
		}, "evil exists and is not a directory", nil},
		{"hard link out", func(h string) []E {
			return []E{{Name: "l", Type: tar.TypeLink, Link: hostRel(h) + "/secret"}}
		}, "hard link", nil},
		{"hard link through a symlink out", func(h string) []E {
			return []E{{Name: "e", Type: tar.TypeSymlink, Link: "/"}, {Name: "l", Type: tar.TypeLink, Link: "e" + h + "/secret"}}
		}, "hard link", nil},
		{"device", func(h string) []E { return []E{{Name: "mem", Type: tar.TypeChar, Major: 1, Minor: 1}} }, "device node", nil},
		{"whiteout", func(h string) []E { return []E{{Name: ".wh.passwd"}} }, "whiteout", nil},
		{"file over a directory", func(h string) []E { return []E{{Name: "keep", Body: "x"}} }, "cannot overwrite directory /dest/keep", nil},
		{"file over a directory through a symlink", func(h string) []E {
			return []E{{Name: "r", Type: tar.TypeSymlink, Link: "/dest"}, {Name: "r/keep", Body: "x"}}
		}, "cannot overwrite directory", nil},
		{"directory over a file", func(h string) []E { return []E{{Name: "f/", Type: tar.TypeDir}} }, "cannot overwrite non-directory /dest/f", nil},
		{"garbage", nil, "not a tar archive", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, host, err := extractInto(t, func(host string) []byte {
				if tc.entries == nil {
					return bytes.Repeat([]byte("junk"), 200)
				}
				return tartest.Tar(tc.entries(host)...)
			})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			checkHost(t, host)
			if tc.inside != nil {
				if _, err := os.Lstat(filepath.Join(root, tc.inside(host))); err != nil {
					t.Fatalf("entry did not land inside the root: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "dest", "keep", "sub")); err != nil {
				t.Fatalf("existing tree was damaged: %v", err)
			}
		})
	}
}

// An ordinary archive extracts with contents, links and modes, and a "./"
// entry leaves the destination's own mode alone.
func TestExtractTarPlain(t *testing.T) {
	data := tartest.Tar(
		E{Name: "./", Type: tar.TypeDir, Mode: 0o700},
		E{Name: "./d/", Type: tar.TypeDir},
		E{Name: "./d/f", Body: "hello", Mode: 0o640},
		E{Name: "./d/s", Type: tar.TypeSymlink, Link: "f"},
		E{Name: "./d/h", Type: tar.TypeLink, Link: "d/f"},
		E{Name: "./d/f", Body: "again"}, // a later entry wins, as in tar
	)
	root, _, err := extractInto(t, func(string) []byte { return data })
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(root, "dest")
	if b, _ := os.ReadFile(filepath.Join(dest, "d", "s")); string(b) != "again" {
		t.Fatalf("d/s reads %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "d", "h")); string(b) != "hello" {
		t.Fatalf("hard link d/h reads %q", b)
	}
	if st, _ := os.Stat(dest); st.Mode()&os.ModePerm != 0o777 || st.Mode()&os.ModeSticky == 0 {
		t.Fatalf("destination mode changed to %v", st.Mode())
	}
}

// writeTarOf archives a directory under its base name, symlinks as links,
// and resolves a symlinked path inside the root, never on the host.
func TestWriteTarOfStaysInRoot(t *testing.T) {
	testbundle.RequireRoot(t) // chroot
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc", "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	os.Symlink("/", filepath.Join(root, "etc", "sub", "up"))
	os.Symlink("/", filepath.Join(root, "hostroot"))
	read := func(src string) map[string]*tar.Header {
		t.Helper()
		var buf bytes.Buffer
		if err := writeTarOf(context.Background(), root, src, path.Base(src), &buf); err != nil {
			t.Fatalf("tar %s: %v", src, err)
		}
		got := map[string]*tar.Header{}
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return got
			}
			if err != nil {
				t.Fatal(err)
			}
			got[h.Name] = h
		}
	}
	got := read("/etc")
	for _, want := range []string{"etc/", "etc/passwd", "etc/sub/", "etc/sub/up"} {
		if got[want] == nil {
			t.Fatalf("archive of /etc lacks %s: %v", want, got)
		}
	}
	if h := got["etc/sub/up"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "/" {
		t.Fatalf("etc/sub/up: %+v", h)
	}
	// /hostroot/etc is the root's /etc, not the host's (which has more).
	got = read("/hostroot/etc")
	if len(got) != 4 || got["etc/passwd"] == nil {
		t.Fatalf("archive of /hostroot/etc left the root: %d entries", len(got))
	}
	if got := read("/hostroot"); len(got) != 1 || got["hostroot"].Typeflag != tar.TypeSymlink {
		t.Fatalf("archive of a symlink: %v", got)
	}
	if err := writeTarOf(context.Background(), root, "/nope", "nope", io.Discard); err == nil || !strings.Contains(err.Error(), "/nope") {
		t.Fatalf("missing source: %v", err)
	}
	// The chroot was the helper thread's alone.
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("the process's root moved: %v", err)
	}
}

// FuzzExtractTar feeds arbitrary bytes to the stdin side of `kago cp -`: it
// must never panic nor write beside the destination.
// Run longer with: go test -run '^$' -fuzz FuzzExtractTar ./engine/
func FuzzExtractTar(f *testing.F) {
	for _, s := range [][]E{
		{{Name: "a/", Type: tar.TypeDir}, {Name: "a/f", Body: "x"}, {Name: "a/l", Type: tar.TypeLink, Link: "a/f"}},
		{{Name: "../../x", Body: "x"}},
		{{Name: "evil", Type: tar.TypeSymlink, Link: "/"}, {Name: "evil/x", Body: "x"}},
		{{Name: "l", Type: tar.TypeLink, Link: "../../secret"}},
		{{Name: "n", Type: tar.TypeFifo}, {Name: "n/", Type: tar.TypeDir}, {Name: "n", Body: "file"}},
		{{Name: "keep", Body: "x"}, {Name: ".wh.x"}},
	} {
		f.Add(tartest.Tar(s...))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		root, host, _ := extractInto(t, func(string) []byte { return data })
		checkHost(t, host)
		// Hostile modes must not break t.TempDir's cleanup.
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}
