package rootfs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// resolveFixture is a rootfs full of escape attempts next to a host
// directory that must never change: evil -> /, up -> ../../../.., abs ->
// the outside dir by absolute path, loop -> loop, dangling -> /nowhere.
func resolveFixture(t *testing.T) (r *root, rootDir, outside string) {
	t.Helper()
	base := t.TempDir()
	rootDir, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(rootDir, "dir"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "canary"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootDir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"evil": "/", "up": "../../../..", "abs": outside, "loop": "loop", "dangling": "/nowhere", "dir/back": "../.."} {
		if err := os.Symlink(target, filepath.Join(rootDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := openRoot(rootDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	return r, rootDir, outside
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// assertInside fails unless fd (when valid) is the root or below it and the
// directory outside the root is untouched.
func assertInside(t *testing.T, fd int, rootDir, outside, p string) {
	t.Helper()
	if got := listDir(t, outside); got != "canary" {
		t.Fatalf("%q: outside dir changed: %s", p, got)
	}
	if got := listDir(t, filepath.Dir(rootDir)); got != "outside,root" {
		t.Fatalf("%q: parent of root changed: %s", p, got)
	}
	if fd < 0 {
		return
	}
	got, err := os.Readlink(procFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	if got != rootDir && !strings.HasPrefix(got, rootDir+"/") {
		t.Fatalf("%q resolved to %s, outside %s", p, got, rootDir)
	}
}

func TestResolveStaysInRoot(t *testing.T) {
	r, rootDir, outside := resolveFixture(t)
	fd, err := r.mkdirAll("/abs/x", 0o755, 0)
	if err == nil || !strings.Contains(err.Error(), "symlink to a missing target") {
		t.Fatalf("mkdirAll through absolute symlink whose target is missing in the root: fd %d, err %v", fd, err)
	}
	// With the target present inside the root, the absolute link resolves there.
	if err := os.MkdirAll(rootDir+outside, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{ // path -> where it must resolve, relative to the root
		"/evil":              "",
		"/evil/dir":          "/dir",
		"/up/up/dir":         "/dir",
		"/dir/back/dir":      "/dir",
		"/../../../dir":      "/dir",
		"/abs/new":           outside + "/new", // created inside the root, under root/<outside>
		"/evil/evil/made/it": "/made/it",
	}
	for p, want := range cases {
		fd, err := r.mkdirAll(p, 0o755, 0)
		if err != nil {
			t.Errorf("mkdirAll(%q): %v", p, err)
			continue
		}
		assertInside(t, fd, rootDir, outside, p)
		got, _ := os.Readlink(procFd(fd))
		unix.Close(fd)
		if got != rootDir+want {
			t.Errorf("mkdirAll(%q) = %s, want %s", p, got, rootDir+want)
		}
	}
	for p, wantErr := range map[string]string{
		"/loop/x":     "symbolic links",
		"/dangling/x": "symlink to a missing target",
		"/file/x":     "not a directory",
	} {
		fd, err := r.mkdirAll(p, 0o755, 0)
		if err == nil {
			unix.Close(fd)
			t.Errorf("mkdirAll(%q) succeeded", p)
		} else if !strings.Contains(err.Error(), wantErr) {
			t.Errorf("mkdirAll(%q) = %v, want error mentioning %q", p, err, wantErr)
		}
	}
	if fd, err := r.mkdirAll("/evil/x", 0o755, unix.RESOLVE_NO_SYMLINKS); err == nil {
		unix.Close(fd)
		t.Errorf("RESOLVE_NO_SYMLINKS followed /evil")
	}
	fd, err = r.mkfile("/abs/newfile", 0o644, 0)
	if err != nil {
		t.Fatalf("mkfile through absolute symlink: %v", err)
	}
	assertInside(t, fd, rootDir, outside, "/abs/newfile")
	unix.Close(fd)
	if _, err := os.Stat(rootDir + outside + "/newfile"); err != nil {
		t.Errorf("mkfile did not create the file inside the root: %v", err)
	}
}

// FuzzResolveInRoot: whatever the path, mkdirAll and mkfile either fail or
// return an fd inside the root, and never create anything outside it.
func FuzzResolveInRoot(f *testing.F) {
	for _, s := range []string{"/evil/a", "up/up/../../b", "/abs/c", "/dir/back/back/d", "/loop", "/dangling/e", "file/f", "/../../g", ".", ""} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, p string, file bool) {
		if len(p) > 512 {
			return
		}
		r, rootDir, outside := resolveFixture(t)
		var fd int
		var err error
		if file {
			fd, err = r.mkfile(p, 0o644, 0)
		} else {
			fd, err = r.mkdirAll(p, 0o755, 0)
		}
		if err != nil {
			fd = -1
		}
		assertInside(t, fd, rootDir, outside, p)
		if fd >= 0 {
			unix.Close(fd)
		}
	})
}
