package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/runtime/containerinit"
)

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// CVE-2019-5736: a container process must not be able to reach the host's
// kago-runc binary through /proc/PID/exe of a runtime process in the container.
func TestHostBinaryUnreachable(t *testing.T) {
	h := newHarness(t)
	before := fileHash(t, kagoRunc)
	b := bundle(t, []string{"true"}, nil)
	id := h.id()
	h.must("create", "--bundle", b.Dir, id)
	// While created, the container's PID 1 is kago's init (a re-exec of the
	// runtime). Attack it from inside, as the CVE's exploit did.
	// CAP_SYS_PTRACE lets the attacker open /proc/1/exe at all; the private
	// read-only overlay it is opened through (or, without root, the seals on
	// a memfd copy) must still refuse every write.
	out := h.must("exec", "--cap", "CAP_SYS_PTRACE", id, "sh", "-c", "readlink /proc/1/exe; (echo pwned >> /proc/1/exe && echo WROTE-EXE); (exec 3</proc/1/exe && echo pwned >> /proc/self/fd/3 && echo WROTE-FD); echo done")
	if strings.Contains(out, "WROTE") {
		t.Errorf("container wrote to the runtime binary:\n%s", out)
	}
	// As root, no copy per container: the binary is opened through a
	// detached overlay of its directory, so the link shows the overlay's
	// path, never the host's.
	if exe := strings.SplitN(out, "\n", 2)[0]; exe != "/"+containerinit.InitBinary {
		t.Errorf("/proc/1/exe of init is %q, want /%s from the private read-only overlay (output:\n%s)", exe, containerinit.InitBinary, out)
	}
	// The init runs the small kago-init that sits beside kago-runc.
	small, err := os.Stat(filepath.Join(filepath.Dir(kagoRunc), "kago-init"))
	if err != nil {
		t.Fatal(err)
	}
	size := strings.TrimSpace(h.must("exec", "--cap", "CAP_SYS_PTRACE", id, "stat", "-L", "-c", "%s", "/proc/1/exe"))
	if size != fmt.Sprint(small.Size()) {
		t.Errorf("init runs a %s-byte binary, want kago-init's %d bytes", size, small.Size())
	}
	// The classic entrypoint of the exploit: the container runs /proc/self/exe.
	b2 := bundle(t, sh("exec /proc/self/exe --version"), nil)
	h.runc("run", "--bundle", b2.Dir, h.id())
	if after := fileHash(t, kagoRunc); after != before {
		t.Fatal("host kago-runc binary changed")
	}
}

// CVE-2024-21626: no host file descriptor and no host working directory may
// leak into the container.
func TestNoHostFdOrCwdLeak(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("for f in /proc/self/fd/*; do echo $f $(readlink $f); done; readlink /proc/self/cwd"), nil)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		target := f[len(f)-1]
		switch {
		case strings.HasPrefix(f[0], "/proc/self/fd/") && !strings.HasSuffix(f[0], "/fd/0") && !strings.HasSuffix(f[0], "/fd/1") && !strings.HasSuffix(f[0], "/fd/2") && !strings.HasPrefix(target, "/proc/"):
			t.Errorf("descriptor leaked into the container: %s", line)
		case strings.Contains(target, "kago") || strings.Contains(target, "/sys/fs/cgroup") || strings.Contains(target, "(unreachable)"):
			t.Errorf("host object visible: %s", line)
		}
	}
	// A cwd through a descriptor number must not land outside the rootfs.
	for fd := 3; fd <= 12; fd++ {
		cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
		r := h.runIn(sh("readlink /proc/self/cwd; ls .."), func(s *specs.Spec) { s.Process.Cwd = cwd })
		if r.code == 0 && (strings.Contains(r.stdout, "unreachable") || !strings.HasPrefix(r.stdout, "/")) {
			t.Errorf("cwd %s escaped the container: %s", cwd, r)
		}
	}
	// The same through exec --cwd.
	id := h.detached(bundle(t, []string{"sleep", "100"}, nil))
	for fd := 3; fd <= 12; fd++ {
		r := h.runc("exec", "--cwd", fmt.Sprintf("/proc/self/fd/%d", fd), id, "readlink", "/proc/self/cwd")
		if r.code == 0 && (strings.Contains(r.stdout, "unreachable") || !strings.HasPrefix(r.stdout, "/")) {
			t.Errorf("exec --cwd /proc/self/fd/%d escaped: %s", fd, r)
		}
	}
}

// CVE-2021-30465: mount destinations are resolved inside the rootfs, so a
// symlink in the image cannot point a mount at the host.
func TestMountDestinationSymlinkStaysInRootfs(t *testing.T) {
	h := newHarness(t)
	canary := t.TempDir()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := bundle(t, sh("ls /abs /rel; cat /proc/self/mountinfo"), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/abs", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/rel/inner", Type: "tmpfs", Source: "tmpfs"},
		)
	})
	// /abs points at the host canary by absolute path, /rel climbs out with "..".
	if err := os.Symlink(canary, filepath.Join(b.RootfsDir(), "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../.."+canary, filepath.Join(b.RootfsDir(), "rel")); err != nil {
		t.Fatal(err)
	}
	r := h.runc("run", "--bundle", b.Dir, h.id())
	entries, _ := os.ReadDir(canary)
	if len(entries) != 0 {
		t.Errorf("host canary %s was written through a symlink: %v (%s)", canary, entries, r)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), canary) {
		t.Errorf("a mount landed on the host canary %s", canary)
	}
	if r.code == 0 && !strings.Contains(r.stdout, "secret") {
		t.Errorf("bind mount did not land inside the container: %s", r)
	}
}

// withoutCloseRange edits the default (Docker) profile so that close_range
// is not allowed: refused with the profile's default errno when errno is
// nil, or failing with *errno (ENOSYS: "this kernel has no close_range"), as
// in profiles written before Linux 5.9.
func withoutCloseRange(errno *uint) func(*specs.Spec) {
	return func(s *specs.Spec) {
		p := s.Linux.Seccomp
		for i := range p.Syscalls {
			p.Syscalls[i].Names = slices.DeleteFunc(slices.Clone(p.Syscalls[i].Names), func(n string) bool { return n == "close_range" })
		}
		if errno != nil {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"close_range"}, Action: specs.ActErrno, ErrnoRet: errno})
		}
	}
}

// leakedFDs lists the descriptors above want a shell saw in /proc/self/fd,
// except the directory ls itself has open.
func leakedFDs(out string, want int) []string {
	var leaked []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[len(f)-1], "/proc/") {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(f[0], "/proc/self/fd/")); err == nil && n > want {
			leaked = append(leaked, line)
		}
	}
	return leaked
}

// CVE-2024-21626 with a profile that does not allow close_range (any written
// before Linux 5.9, many Kubernetes Localhost profiles): the container and an
// exec'd process still run, --preserve-fds still passes exactly its
// descriptors, and nothing else reaches the process.
func TestNoFdLeakWithoutCloseRange(t *testing.T) {
	h := newHarness(t)
	enosys := uint(unix.ENOSYS)
	listFDs := "for f in /proc/self/fd/*; do echo $f $(readlink $f); done"
	for name, errno := range map[string]*uint{"errno-default": nil, "enosys": &enosys} {
		t.Run(name, func(t *testing.T) {
			h := &harness{t: t, root: h.root}
			// Three descriptors from the caller: the first is preserved.
			var extra []*os.File
			for range 3 {
				f, err := os.Open(os.DevNull)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				extra = append(extra, f)
			}
			// The last preserved descriptor is there, nothing above it.
			check := func(r result, last int) {
				t.Helper()
				if r.code != 0 {
					t.Fatalf("a profile lacking close_range: %s", r)
				}
				if !strings.Contains(r.stdout, fmt.Sprintf("/proc/self/fd/%d /dev/null", last)) {
					t.Errorf("preserved fd %d did not reach the process:\n%s", last, r.stdout)
				}
				if l := leakedFDs(r.stdout, last); len(l) > 0 {
					t.Errorf("descriptors leaked into the process: %v", l)
				}
			}
			b := bundle(t, sh(listFDs), withoutCloseRange(errno))
			check(h.runcWith(nil, extra, "run", "--preserve-fds", "1", "--bundle", b.Dir, h.id()), 3)
			id := h.detached(bundle(t, []string{"sleep", "100"}, withoutCloseRange(errno)))
			check(h.runcWith(nil, extra, "exec", "--preserve-fds", "2", id, "sh", "-c", listFDs), 4)
		})
	}
}

// kago-runc carries no namespace-joining constructor (it is pure Go): without
// kago-init beside it, create must refuse with one clear line and leave
// nothing behind, instead of starting an init that cannot join namespaces.
func TestCreateNeedsKagoInitBeside(t *testing.T) {
	h := newHarness(t)
	h.bin = filepath.Join(t.TempDir(), "kago-runc")
	copyProgram(t, kagoRunc, h.bin)
	b := bundle(t, []string{"true"}, nil)
	id := h.id()
	r := h.runc("create", "--bundle", b.Dir, id)
	if r.code == 0 {
		t.Fatalf("create without kago-init beside kago-runc succeeded: %s", r)
	}
	msg := strings.TrimSpace(r.stderr)
	if !strings.Contains(msg, containerinit.InitBinary) || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") {
		t.Errorf("want one line naming %s, got:\n%s", containerinit.InitBinary, r.stderr)
	}
	if entries, _ := os.ReadDir(h.root); len(entries) != 0 {
		t.Errorf("state root %s not empty after the failed create: %v", h.root, entries)
	}
}

// copyProgram copies the executable src to dst.
func copyProgram(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
