package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/internal/testbundle"
)

func TestRunIsPID1WithHostname(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("echo pid=$$; hostname; cat /proc/sys/kernel/domainname"), func(s *specs.Spec) {
		s.Hostname = "box1"
		s.Domainname = "example.test"
	})
	for _, want := range []string{"pid=1\n", "box1\n", "example.test\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}

func TestNamespacesAreNew(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("for n in pid mnt uts ipc net cgroup; do echo $n $(readlink /proc/self/ns/$n); done"), nil)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, link, _ := strings.Cut(line, " ")
		host, err := os.Readlink("/proc/self/ns/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if link == host {
			t.Errorf("container %s namespace %s is the host's", name, link)
		}
	}
}

func TestMountTable(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("cat /proc/self/mountinfo"), nil)
	want := map[string]string{"/": "", "/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue", "/sys": "sysfs"}
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		i := 6
		for f[i] != "-" {
			i++
		}
		got[f[4]] = f[i+1]
		if f[4] == "/sys" && !strings.Contains(f[5], "ro") {
			t.Errorf("/sys is not read-only: %s", line)
		}
	}
	for dst, fstype := range want {
		if _, ok := got[dst]; !ok {
			t.Errorf("no mount at %s in\n%s", dst, out)
		} else if fstype != "" && got[dst] != fstype {
			t.Errorf("%s is %s, want %s", dst, got[dst], fstype)
		}
	}
	// Nothing of the host's mounts leaks in: the host's /work and /tmp are not there.
	for _, hostOnly := range []string{"/work", "/run/kago-runc"} {
		if _, ok := got[hostOnly]; ok {
			t.Errorf("host mount %s visible in the container", hostOnly)
		}
	}
}

func TestDeviceNodes(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("for d in null zero full random urandom tty; do stat -c '%n %F %t:%T' /dev/$d; done; for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done; echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; stat -c '%n %F %t:%T' /dev/fuse"), func(s *specs.Spec) {
		major, minor := int64(10), int64(229)
		mode := os.FileMode(0o666)
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: major, Minor: minor, FileMode: &mode}}
	})
	for _, want := range []string{
		"/dev/null character special file 1:3", "/dev/zero character special file 1:5", "/dev/full character special file 1:7",
		"/dev/random character special file 1:8", "/dev/urandom character special file 1:9", "/dev/tty character special file 5:0",
		"pts/ptmx", "/proc/self/fd\n", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "null-ok", "4\n",
		"/dev/fuse character special file a:e5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname && echo WROTE-SYS; touch /proc/sysrq-trigger 2>/dev/null && echo WROTE-SYSRQ; echo done"), nil)
	lines := strings.Fields(out)
	if len(lines) < 3 || lines[0] != "0" || lines[1] != "0" {
		t.Errorf("masked paths readable: %q", out)
	}
	if strings.Contains(out, "WROTE") {
		t.Errorf("read-only path was written: %q", out)
	}
}

func TestReadonlyRootfs(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("touch /newfile 2>&1 && echo WROTE; touch /tmp/x 2>&1 && echo WROTE-TMP; echo done"), func(s *specs.Spec) {
		s.Root.Readonly = true
	})
	if strings.Contains(out, "WROTE") {
		t.Errorf("read-only root was written: %q", out)
	}
	if !strings.Contains(out, "Read-only file system") {
		t.Errorf("expected EROFS, got %q", out)
	}
	// A writable root really is writable.
	out = h.mustRunIn(sh("touch /newfile && echo WROTE"), func(s *specs.Spec) { s.Root.Readonly = false })
	if !strings.Contains(out, "WROTE") {
		t.Errorf("writable root not writable: %q", out)
	}
}

func TestUserNamespaceMapping(t *testing.T) {
	h := newHarness(t)
	b := usernsBundle(t, sh("id -u; cat /proc/self/uid_map /proc/self/gid_map; stat -c '%u' /bin/busybox"), nil)
	r := h.runc("run", "--bundle", b.Dir, h.id())
	if r.code != 0 {
		t.Fatalf("run in user namespace: %s", r)
	}
	fields := strings.Fields(r.stdout)
	want := []string{"0", "0", "100000", "65536", "0", "100000", "65536", "0"}
	if fmt.Sprint(fields) != fmt.Sprint(want) {
		t.Errorf("user namespace view = %v, want %v", fields, want)
	}
}

// usernsBundle is bundle with a user namespace mapping container IDs 0-65535
// to host 100000-165535, its rootfs owned by the mapped root.
func usernsBundle(t *testing.T, args []string, edit func(*specs.Spec)) *testbundle.Bundle {
	t.Helper()
	b := bundle(t, args, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Root.Readonly = false
		if edit != nil {
			edit(s)
		}
	})
	// The rootfs must belong to the mapped root, as with any user-namespaced container.
	if err := filepath.Walk(b.RootfsDir(), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 100000, 100000)
	}); err != nil {
		t.Fatal(err)
	}
	// t.TempDir makes 0700 directories the mapped root could not traverse.
	for _, d := range []string{b.Dir, filepath.Dir(b.Dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestJoinNamespaceByPath(t *testing.T) {
	h := newHarness(t)
	ida := h.detached(bundle(t, []string{"sleep", "60"}, nil))
	pid := h.state(ida).InitProcessPid
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := h.mustRunIn(sh("readlink /proc/self/ns/net; readlink /proc/self/ns/uts"), func(s *specs.Spec) {
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", pid)
			}
		}
	})
	lines := strings.Fields(out)
	if len(lines) != 2 || lines[0] != want {
		t.Fatalf("joined net namespace %q, want %s", out, want)
	}
	if utsA, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/uts", pid)); lines[1] == utsA {
		t.Errorf("uts namespace was shared though only net was joined")
	}
}

func TestProcessAttributes(t *testing.T) {
	h := newHarness(t)
	umask := uint32(0o027)
	adj := 300
	out := h.mustRunIn(sh("id; ulimit -n; cat /proc/self/oom_score_adj; umask; grep NoNewPrivs /proc/self/status; pwd; echo $FOO; cat /proc/sys/net/ipv4/ip_forward"), func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}, Umask: &umask}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 768}}
		s.Process.OOMScoreAdj = &adj
		s.Process.Cwd = "/tmp"
		s.Process.Env = append(s.Process.Env, "FOO=bar")
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	})
	for _, want := range []string{"uid=1000 gid=1000 groups=10,20", "\n512\n", "\n300\n", "0027", "NoNewPrivs:\t1", "/tmp\n", "bar\n", "\n1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCapabilities(t *testing.T) {
	h := newHarness(t)
	set := &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Effective:   []string{"CAP_CHOWN", "CAP_KILL"},
		Permitted:   []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Inheritable: []string{"CAP_KILL"},
		Ambient:     []string{"CAP_KILL"},
	}
	// CHOWN=bit 0, KILL=bit 5, NET_BIND_SERVICE=bit 10. After execve the
	// kernel gives root permitted = inheritable|bounding (and effective =
	// permitted), and a non-root user only its ambient set.
	for _, tc := range []struct {
		uid  uint32
		want map[string]string
	}{
		{0, map[string]string{"CapInh": "0000000000000020", "CapPrm": "0000000000000421", "CapEff": "0000000000000421", "CapBnd": "0000000000000421", "CapAmb": "0000000000000020"}},
		{1000, map[string]string{"CapInh": "0000000000000020", "CapPrm": "0000000000000020", "CapEff": "0000000000000020", "CapBnd": "0000000000000421", "CapAmb": "0000000000000020"}},
	} {
		out := h.mustRunIn(sh("grep Cap /proc/self/status"), func(s *specs.Spec) {
			s.Process.User = specs.User{UID: tc.uid, GID: tc.uid}
			s.Process.Capabilities = set
		})
		for k, v := range tc.want {
			if !strings.Contains(out, k+":\t"+v) {
				t.Errorf("uid %d: %s want %s in:\n%s", tc.uid, k, v, out)
			}
		}
	}
}

func TestNoPivot(t *testing.T) {
	h := newHarness(t)
	b := bundle(t, sh("echo pid=$$; ls /bin/busybox"), nil)
	r := h.runc("run", "--no-pivot", "--bundle", b.Dir, h.id())
	if r.code != 0 || !strings.Contains(r.stdout, "pid=1") || !strings.Contains(r.stdout, "/bin/busybox") {
		t.Fatalf("run --no-pivot: %s", r)
	}
}

func TestTimeAndCgroupNamespaces(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("readlink /proc/self/ns/time; readlink /proc/self/ns/cgroup; cat /proc/self/cgroup"), func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	hostTime, _ := os.Readlink("/proc/self/ns/time")
	hostCg, _ := os.Readlink("/proc/self/ns/cgroup")
	if len(lines) < 3 || lines[0] == hostTime || lines[1] == hostCg {
		t.Fatalf("time/cgroup namespaces not new:\n%s", out)
	}
	// In its own cgroup namespace the container sees its cgroup as the root.
	for _, l := range lines[2:] {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("cgroup path visible inside the container: %s", l)
		}
	}
}

// A container without a mount namespace of its own (none listed: it
// inherits the runtime's; or one joined by path) is chroot'ed with no /proc:
// create must still leave its init waiting, with its pid in the state and
// the expected namespaces, and start must run the process.
func TestMountNamespaceNotNew(t *testing.T) {
	cases := map[string]func(t *testing.T) (edit func(*specs.Spec), wantMnt string){
		"inherited": func(t *testing.T) (func(*specs.Spec), string) {
			host, err := os.Readlink("/proc/self/ns/mnt")
			if err != nil {
				t.Fatal(err)
			}
			return func(s *specs.Spec) { s.Linux.Namespaces = nil; s.Hostname = "" }, host
		},
		"joined": func(t *testing.T) (func(*specs.Spec), string) {
			holder := exec.Command("unshare", "--mount", "sleep", "100")
			if err := holder.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
			path := fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid)
			var want string
			for range 100 { // until unshare has made the namespace
				host, _ := os.Readlink("/proc/self/ns/mnt")
				if want, _ = os.Readlink(path); want != "" && want != host {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			return func(s *specs.Spec) {
				for i, n := range s.Linux.Namespaces {
					if n.Type == specs.MountNamespace {
						s.Linux.Namespaces[i].Path = path
					}
				}
			}, want
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			edit, wantMnt := setup(t)
			b := bundle(t, sh("echo ran > /ran"), edit)
			id := h.id()
			h.must("create", "--bundle", b.Dir, id)
			st := h.state(id)
			if st.InitProcessPid == 0 || st.Status != "created" {
				t.Fatalf("after create: status %s, pid %d", st.Status, st.InitProcessPid)
			}
			if got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", st.InitProcessPid)); err != nil || got != wantMnt {
				t.Errorf("container's mount namespace %s (%v), want %s", got, err, wantMnt)
			}
			h.must("start", id)
			h.waitStatus(id, "stopped")
			if data, err := os.ReadFile(filepath.Join(b.RootfsDir(), "ran")); err != nil || string(data) != "ran\n" {
				t.Errorf("the process did not run: %q, %v", data, err)
			}
		})
	}
}

// An address-space limit below what the Go runtime of kago's init has
// reserved (about 1.5 GB) must reach the process, and not starve the init
// on its way there (validation process_rlimits: the container never ran).
func TestRlimitAddressSpace(t *testing.T) {
	h := newHarness(t)
	const gib = 1 << 30
	rlimits := func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{
			{Type: "RLIMIT_AS", Soft: gib, Hard: 2 * gib},
			{Type: "RLIMIT_NOFILE", Soft: 3000, Hard: 4000},
		}
	}
	want := "1048576 2097152 3000 4000"
	script := `echo $(ulimit -v) $(ulimit -Hv) $(ulimit -n) $(ulimit -Hn)`
	if out := strings.TrimSpace(h.mustRunIn(sh(script), rlimits)); out != want {
		t.Errorf("run: limits %q, want %q", out, want)
	}
	id := h.detached(bundle(t, []string{"sleep", "100"}, rlimits))
	if out := strings.TrimSpace(h.must("exec", id, "sh", "-c", script)); out != want {
		t.Errorf("exec: limits %q, want %q", out, want)
	}
}

// linux.rootfsPropagation: the container's / gets it, "unbindable" included
// (the rootfs is bound onto itself under a / that refuses binds). "slave"
// is left out: it shows only where the host's / is shared.
func TestRootfsPropagation(t *testing.T) {
	h := newHarness(t)
	for prop, want := range map[string]string{"shared": "shared:", "private": "", "unbindable": "unbindable"} {
		out := h.mustRunIn(sh("awk '$5 == \"/\"' /proc/self/mountinfo"), func(s *specs.Spec) { s.Linux.RootfsPropagation = prop })
		fields := strings.Fields(out)
		if len(fields) < 7 {
			t.Fatalf("%s: mountinfo line of /: %q", prop, out)
		}
		optional := strings.Join(fields[6:slices.Index(fields, "-")], " ")
		if (want == "" && optional != "") || !strings.Contains(optional, want) {
			t.Errorf("rootfsPropagation %s: / has optional fields %q, want %q", prop, optional, want)
		}
	}
}

// A relative bind-mount source is relative to the bundle (as in runc), not
// to the directory kago-runc is run from, even when that one has a path of
// the same name.
func TestRelativeBindSourceIsInBundle(t *testing.T) {
	h := newHarness(t)
	b := bundle(t, sh("cat /data/which"), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "data", Options: []string{"rbind", "ro"}})
	})
	cwd := t.TempDir()
	for dir, content := range map[string]string{b.Dir: "bundle", cwd: "caller"} {
		if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "data", "which"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	id := h.id()
	cmd := exec.Command(kagoRunc, "--root", h.root, "run", "--bundle", b.Dir, id)
	cmd.Dir = cwd
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "bundle" {
		t.Errorf("bind source \"data\" from cwd %s: %q (%v), want the bundle's", cwd, out, err)
	}
}
