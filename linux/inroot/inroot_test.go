package inroot

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fixture is a root full of escape attempts next to a host directory that
// must never change: evil -> /, up -> ../../../.., abs -> the outside dir by
// absolute path, loop -> loop, dangling -> /nowhere, dir/back -> ../..
type fixture struct {
	r       *Root
	root    string // the root directory
	outside string // a host directory beside it, holding only "canary"
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{filepath.Join(f.root, "dir"), f.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.outside, "canary"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"evil": "/", "up": "../../../..", "abs": f.outside, "loop": "loop", "dangling": "/nowhere", "dir/back": "../.."} {
		if err := os.Symlink(target, filepath.Join(f.root, name)); err != nil {
			t.Fatal(err)
		}
	}
	f.open(t)
	return f
}

func (f *fixture) open(t testing.TB) {
	r, err := Open(f.root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	f.r = r
}

func listDir(t testing.TB, dir string) string {
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

// untouched fails if anything outside the root changed.
func (f *fixture) untouched(t testing.TB, what string) {
	t.Helper()
	if got := listDir(t, f.outside); got != "canary" {
		t.Fatalf("%s: the directory outside the root changed: %s", what, got)
	}
	if got := listDir(t, filepath.Dir(f.root)); got != "outside,root" {
		t.Fatalf("%s: the parent of the root changed: %s", what, got)
	}
}

// where returns the path of fd relative to the root, failing the test if
// fd is outside it.
func (f *fixture) where(t testing.TB, fd int, what string) string {
	t.Helper()
	got, err := os.Readlink(ProcFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	if got != f.root && !strings.HasPrefix(got, f.root+"/") {
		t.Fatalf("%s resolved to %s, outside the root %s", what, got, f.root)
	}
	if err := f.r.CheckInside(fd, what); err != nil {
		t.Fatalf("CheckInside disagrees: %v", err)
	}
	return strings.TrimPrefix(got, f.root)
}

// expectAt checks that the lookup op(p) succeeded and gave an fd of want
// (relative to the root), and closes it.
func (f *fixture) expectAt(t *testing.T, op, p string, fd int, err error, want string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s(%q): %v", op, p, err)
		return
	}
	defer unix.Close(fd)
	if got := f.where(t, fd, p); got != want {
		t.Errorf("%s(%q) = root%s, want root%s", op, p, got, want)
	}
}

func TestOpenStaysInRoot(t *testing.T) {
	f := newFixture(t)
	for p, want := range map[string]string{ // path -> where it resolves, from the root
		"/evil":          "",
		"evil/dir":       "/dir",
		"/up/up/dir":     "/dir",
		"/dir/back/dir":  "/dir",
		"/../../../dir":  "/dir",
		"dir/back/../..": "",
	} {
		fd, err := f.r.OpenFd(p, unix.O_PATH, 0)
		f.expectAt(t, "OpenFd", p, fd, err, want)
	}
	for p, wantErr := range map[string]error{
		"/abs/canary": unix.ENOENT, // absolute symlinks are taken from the root
		"/loop/x":     unix.ELOOP,
		"/dangling":   unix.ENOENT,
		"/file/x":     unix.ENOTDIR,
	} {
		fd, err := f.r.OpenFd(p, unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(fd)
			t.Errorf("OpenFd(%q) succeeded", p)
		} else if !errors.Is(err, wantErr) || !strings.Contains(err.Error(), Clean(p)) {
			t.Errorf("OpenFd(%q) = %v, want %v naming the path", p, err, wantErr)
		}
	}
	if fd, err := f.r.OpenFd("/evil/dir", unix.O_PATH, unix.RESOLVE_NO_SYMLINKS); err == nil {
		unix.Close(fd)
		t.Error("RESOLVE_NO_SYMLINKS followed /evil")
	} else if !strings.Contains(err.Error(), "replace the symlink with a directory") {
		t.Errorf("RESOLVE_NO_SYMLINKS error %q does not say what to do", err)
	}
	f.untouched(t, "OpenFd")
}

func TestMkdirAllAndMkFileStayInRoot(t *testing.T) {
	f := newFixture(t)
	fd, err := f.r.MkdirAll("/abs/x", 0o755, 0)
	if err == nil || !strings.Contains(err.Error(), "symlink to a missing target") {
		t.Fatalf("MkdirAll through an absolute symlink whose target is missing in the root: fd %d, err %v", fd, err)
	}
	// With the target present inside the root, the absolute link resolves there.
	if err := os.MkdirAll(f.root+f.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"/evil":              "",
		"/evil/dir":          "/dir",
		"/up/up/dir":         "/dir",
		"/../../../dir":      "/dir",
		"/abs/new":           f.outside + "/new",
		"/evil/evil/made/it": "/made/it",
	} {
		fd, err := f.r.MkdirAll(p, 0o755, 0)
		f.expectAt(t, "MkdirAll", p, fd, err, want)
	}
	for p, wantErr := range map[string]string{
		"/loop/x":     "symbolic links",
		"/dangling/x": "symlink to a missing target",
		"/file/x":     "not a directory",
	} {
		fd, err := f.r.MkdirAll(p, 0o755, 0)
		if err == nil {
			unix.Close(fd)
			t.Errorf("MkdirAll(%q) succeeded", p)
		} else if !strings.Contains(err.Error(), wantErr) {
			t.Errorf("MkdirAll(%q) = %v, want an error mentioning %q", p, err, wantErr)
		}
	}
	fd, err = f.r.MkFile("/abs/newfile", 0o644, 0)
	if err != nil {
		t.Fatalf("MkFile through an absolute symlink: %v", err)
	}
	f.where(t, fd, "/abs/newfile")
	unix.Close(fd)
	if _, err := os.Stat(f.root + f.outside + "/newfile"); err != nil {
		t.Errorf("MkFile did not create the file inside the root: %v", err)
	}
	f.untouched(t, "MkdirAll")
}

// TestLastComponent: Parent, Lstat and Readlink act on the last component
// itself, never on what a symlink there points to.
func TestLastComponent(t *testing.T) {
	f := newFixture(t)
	st, err := f.r.Lstat("/evil")
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("Lstat(/evil) = mode %o, %v; want the symlink itself", st.Mode, err)
	}
	if st, err := f.r.Lstat("/dir/back/dir"); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("Lstat(/dir/back/dir) = mode %o, %v; want the root's dir", st.Mode, err)
	}
	if _, err := f.r.Lstat("/abs/canary"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Lstat(/abs/canary) = %v, want ENOENT (the host file must not be seen)", err)
	}
	if target, err := f.r.Readlink("/dir/back"); err != nil || target != "../.." {
		t.Errorf("Readlink(/dir/back) = %q, %v", target, err)
	}
	if target, err := f.r.Readlink("/up/up/abs"); err != nil || target != f.outside {
		t.Errorf("Readlink(/up/up/abs) = %q, %v", target, err)
	}
	dfd, name, err := f.r.Parent("/up/up/evil/newfile", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.where(t, dfd, "parent"); got != "" || name != "newfile" {
		t.Errorf("Parent(/up/up/evil/newfile) = root%s, %q", got, name)
	}
	unix.Close(dfd)
	if _, _, err := f.r.Parent("/../", 0); err == nil {
		t.Error("Parent of the root succeeded")
	}
	f.untouched(t, "last component")
}

// TestMagicLinksRefused: /proc links that jump to another process's view
// (root, cwd, exe, fd/N) are refused even where the root is /proc/self.
func TestMagicLinksRefused(t *testing.T) {
	r, err := Open("/proc/self")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, p := range []string{"root/etc", "root", "cwd", "exe", "fd/" + strconv.Itoa(r.Fd()), "/ns/net"} {
		fd, err := r.OpenFd(p, unix.O_PATH, 0)
		if err == nil {
			got, _ := os.Readlink(ProcFd(fd))
			unix.Close(fd)
			t.Errorf("magic link %s was followed to %s", p, got)
		} else if !errors.Is(err, unix.ELOOP) || !strings.Contains(err.Error(), "magic link") {
			t.Errorf("%s: %v, want ELOOP saying magic links are refused", p, err)
		}
	}
	// The plain files of /proc/self are fine.
	b, err := r.ReadFile("status", 1<<20)
	if err != nil || !strings.Contains(string(b), "Pid:") {
		t.Errorf("ReadFile(status) = %.40q, %v", b, err)
	}
}

// TestOpenat2RetryIsBounded: a lookup the kernel keeps aborting is given up
// with ErrRaced, EAGAIN still visible, after MaxAttempts tries.
func TestOpenat2RetryIsBounded(t *testing.T) {
	// RESOLVE_CACHED asks for a lookup from the dentry cache alone; a name
	// never looked up is not there, so the kernel answers EAGAIN each time.
	dir := t.TempDir()
	name := filepath.Join(dir, "nothing-cached-"+strconv.Itoa(os.Getpid()))
	_, err := Openat2(unix.AT_FDCWD, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolveCached | unix.RESOLVE_NO_MAGICLINKS})
	if errors.Is(err, unix.ENOENT) {
		t.Skip("the kernel answered the uncached lookup without EAGAIN")
	}
	if !errors.Is(err, ErrRaced) || !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Openat2 on a lookup answered EAGAIN every time = %v, want ErrRaced wrapping EAGAIN", err)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(MaxAttempts)+" attempts") {
		t.Errorf("error %q does not say how often it tried", err)
	}
}

// TestSymlinkSwapRace flips a path component between a directory and a
// symlink (to "/", to "../..", to the host directory beside the root) with
// renameat2(RENAME_EXCHANGE) while lookups run through it. Every lookup
// either fails or lands inside the root; nothing outside the root changes.
// Both sides of the swap must have been seen, or the race was not run.
func TestSymlinkSwapRace(t *testing.T) {
	for _, target := range []string{"/", "../..", "abs"} {
		t.Run(target, func(t *testing.T) {
			f := newFixture(t)
			// Through a symlink to "/" or "../.." the lookup lands in the
			// root itself; through the absolute one, in root/<outside>,
			// which does not exist.
			throughLink := target != "abs"
			if target == "abs" {
				target = f.outside
			}
			if err := os.MkdirAll(filepath.Join(f.root, "x", "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(f.root, "swap")); err != nil {
				t.Fatal(err)
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			var swaps atomic.Int64
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if err := unix.Renameat2(f.r.Fd(), "x", f.r.Fd(), "swap", unix.RENAME_EXCHANGE); err != nil {
						t.Errorf("exchange: %v", err)
						return
					}
					swaps.Add(1)
				}
			}()
			seen := map[string]int{}
			deadline, minEnd := time.Now().Add(5*time.Second), time.Now().Add(300*time.Millisecond)
			for i := 0; time.Now().Before(deadline) && (time.Now().Before(minEnd) || seen["dir"] == 0 || throughLink && seen["link"] == 0); i++ {
				var fd int
				var err error
				switch i % 5 {
				case 0:
					fd, err = f.r.OpenFd("x/sub", unix.O_PATH, 0)
				case 1:
					fd, err = f.r.MkdirAll("x/sub/made", 0o755, 0)
				case 2:
					var name string
					fd, name, err = f.r.Parent("x/sub/leaf", 0)
					if err == nil && name != "leaf" {
						t.Fatalf("Parent gave name %q", name)
					}
				case 3:
					fd, err = f.r.MkFile("x/sub/file", 0o644, 0)
				case 4:
					_, err = f.r.Lstat("x/sub/made")
					fd = -1
				}
				if err != nil || fd < 0 {
					continue
				}
				w := f.where(t, fd, "x/sub")
				unix.Close(fd)
				if strings.HasPrefix(w, "/x/sub") || strings.HasPrefix(w, "/swap/sub") {
					seen["dir"]++
				} else {
					seen["link"]++
				}
			}
			stop.Store(true)
			wg.Wait()
			f.untouched(t, "swap race")
			if _, err := os.Lstat("/sub"); err == nil {
				t.Errorf("/sub exists on the host")
			}
			t.Logf("%d swaps; landed in the directory %d times, through the symlink %d times", swaps.Load(), seen["dir"], seen["link"])
			if seen["dir"] == 0 || throughLink && seen["link"] == 0 {
				t.Errorf("the race did not happen: %v", seen)
			}
		})
	}
}

// treeTargets are the symlink targets FuzzOpenInRoot builds trees from:
// every way out a hostile image might try, plus links that stay inside.
var treeTargets = []string{"/", "..", "../..", "../../..", "/a", "a/../..", "b/../../..", "self", "/proc/self/root", "/proc/self/fd/3", "/nowhere", "c", "a/c", "."}

// treeNames are where FuzzOpenInRoot puts directories, files and symlinks.
var treeNames = []string{"a", "b", "c", "a/c", "b/d", "a/c/e", "d", "b/d/f"}

// realDirs tells whether rel and each directory above it, below root, is a
// directory and not a symlink.
func realDirs(root, rel string) bool {
	for ; rel != "." && rel != "/"; rel = filepath.Dir(rel) {
		st, err := os.Lstat(filepath.Join(root, rel))
		if err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// FuzzOpenInRoot builds a tree of directories, files and symlinks from
// tree, then runs every operation on p: each either fails or gives an fd
// inside the root, and nothing is created outside it.
func FuzzOpenInRoot(f *testing.F) {
	for _, s := range []string{"/evil/a", "up/up/../../b", "/abs/c", "/dir/back/back/d", "/loop", "/dangling/e", "file/f", "/../../g", ".", "", "a/c/e/x", "b/d/f/../../x"} {
		f.Add(s, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		f.Add(s, []byte{3, 6, 9, 12, 15, 18, 21, 24})
	}
	f.Fuzz(func(t *testing.T, p string, tree []byte) {
		if len(p) > 256 || strings.IndexByte(p, 0) >= 0 {
			return
		}
		fx := newFixture(t)
		for i, b := range tree {
			if i >= len(treeNames) {
				break
			}
			name := filepath.Join(fx.root, treeNames[i])
			if !realDirs(fx.root, filepath.Dir(treeNames[i])) {
				continue // the tree is made by host paths: never through its links
			}
			switch b % 3 {
			case 0:
				os.Mkdir(name, 0o755)
			case 1:
				os.WriteFile(name, nil, 0o644)
			case 2:
				target := treeTargets[int(b/3)%len(treeTargets)]
				if target == "self" {
					target = filepath.Base(name)
				}
				os.Symlink(target, name)
			}
		}
		check := func(op string, fd int, err error) {
			if err == nil && fd >= 0 {
				fx.where(t, fd, op+" "+p)
				unix.Close(fd)
			}
			fx.untouched(t, op+" "+p)
		}
		fd, err := fx.r.OpenFd(p, unix.O_PATH, 0)
		check("OpenFd", fd, err)
		fd, err = fx.r.MkdirAll(p, 0o755, 0)
		check("MkdirAll", fd, err)
		fd, err = fx.r.MkFile(p+"/f", 0o644, 0)
		check("MkFile", fd, err)
		fd, _, err = fx.r.Parent(p+"/leaf", 0)
		check("Parent", fd, err)
		_, err = fx.r.Lstat(p)
		check("Lstat", -1, err)
		_, err = fx.r.Readlink(p)
		check("Readlink", -1, err)
	})
}

// resolveCached is RESOLVE_CACHED (Linux 5.12, include/uapi/linux/openat2.h),
// which x/sys/unix does not name.
const resolveCached = 0x20
