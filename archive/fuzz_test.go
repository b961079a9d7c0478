package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/archive/tartest"
)

// FuzzApply feeds arbitrary bytes to Apply: it must never panic, and never
// create or change anything outside its directory (a canary beside it).
// Run longer with: go test -run '^$' -fuzz FuzzApply ./archive/
func FuzzApply(f *testing.F) {
	seeds := [][]E{
		{{Name: "a/", Type: tar.TypeDir}, {Name: "a/f", Body: "x", Mode: 0o4755}, {Name: "a/l", Type: tar.TypeLink, Link: "a/f"}},
		{{Name: "../../canary/x", Body: "x"}},
		{{Name: "/abs", Body: "x"}},
		{{Name: "evil", Type: tar.TypeSymlink, Link: "/"}, {Name: "evil/canary/x", Body: "pwned"}},
		{{Name: "up", Type: tar.TypeSymlink, Link: "../canary"}, {Name: "up/x", Body: "x"}},
		{{Name: "a", Type: tar.TypeSymlink, Link: ".."}, {Name: "a/a/canary/x", Body: "x"}},
		{{Name: "l", Type: tar.TypeLink, Link: "../canary/secret"}},
		{{Name: "e", Type: tar.TypeSymlink, Link: "/etc"}, {Name: "l", Type: tar.TypeLink, Link: "e/passwd"}},
		{{Name: "d/.wh..wh..opq"}, {Name: ".wh.x"}, {Name: "x", Body: "y"}},
		{{Name: "n", Type: tar.TypeFifo}, {Name: "n/", Type: tar.TypeDir}, {Name: "n", Body: "file"}},
		{{Name: "c", Type: tar.TypeChar, Major: 1, Minor: 3}, {Name: "f", Body: "x", Xattrs: map[string]string{"user.a": "b", "trusted.overlay.redirect": "/"}}},
	}
	for _, s := range seeds {
		f.Add(tartest.Tar(s...))
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, 1024))
	noOwner := os.Geteuid() != 0
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, checkOutside := withCanary(t)
		_, err := archive.Apply(context.Background(), dir, bytes.NewReader(data), archive.ApplyOptions{NoOwnership: noOwner})
		if err != nil && strings.Contains(err.Error(), "panic") {
			t.Fatal(err)
		}
		checkOutside()
		// Hostile modes (a 0000 directory) must not break the cleanup of a
		// non-root run.
		makeRemovable(dir)
	})
}

// makeRemovable gives every directory owner rwx so t.TempDir's cleanup can
// delete what a hostile layer made.
func makeRemovable(dir string) {
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o755)
		}
		return nil
	})
}
