package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/internal/testbundle"
)

// rootlessUser is an unprivileged user made for one test, with a directory
// it owns holding a copy of kago-runc, its state root and its bundles.
type rootlessUser struct {
	t        *testing.T
	name     string
	uid, gid int
	dir      string
	bin      string
	// cgroups, if set, are the cgroup directories kago-runc is started in
	// (a delegated cgroup of the user).
	cgroups []string
}

func newRootlessUser(t *testing.T) *rootlessUser {
	t.Helper()
	testbundle.RequireRoot(t)
	for _, tool := range []string{"useradd", "userdel", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is needed to run kago-runc as an unprivileged user", tool)
		}
	}
	b := make([]byte, 3)
	rand.Read(b)
	name := "kagorl" + hex.EncodeToString(b)
	if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// t.TempDir is private to root; the user needs a directory of its own.
	dir, err := os.MkdirTemp("", "kago-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ru := &rootlessUser{t: t, name: name, uid: uid, gid: gid, dir: dir, bin: filepath.Join(dir, "kago-runc")}
	// kago-runc and, beside it, the kago-init it needs.
	initBin := filepath.Join(filepath.Dir(kagoRunc), "kago-init")
	copyProgram(t, kagoRunc, ru.bin)
	copyProgram(t, initBin, filepath.Join(dir, "kago-init"))
	for _, d := range []string{"state", "xdg"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ru.chown(dir)
	return ru
}

// chown gives path and everything under it to the user.
func (u *rootlessUser) chown(path string) {
	u.t.Helper()
	err := filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	})
	if err != nil {
		u.t.Fatal(err)
	}
}

// runc runs kago-runc as the user, with its own state root, from the bundle
// directory dir (or the user's directory).
func (u *rootlessUser) runc(dir string, args ...string) result {
	u.t.Helper()
	if dir == "" {
		dir = u.dir
	}
	argv := append([]string{"--reuid=" + strconv.Itoa(u.uid), "--regid=" + strconv.Itoa(u.gid), "--init-groups",
		u.bin, "--root", filepath.Join(u.dir, "state")}, args...)
	cmd := exec.Command("setpriv", argv...)
	if len(u.cgroups) > 0 {
		// Move the shell into the user's cgroup (as root), then become the user.
		script := ""
		for _, d := range u.cgroups {
			script += "echo $$ > " + filepath.Join(d, "cgroup.procs") + " && "
		}
		cmd = exec.Command("sh", append([]string{"-c", script + `exec setpriv "$@"`, "sh"}, argv...)...)
	}
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + u.dir, "XDG_RUNTIME_DIR=" + filepath.Join(u.dir, "xdg"), "USER=" + u.name}
	// Files, not pipes: a detached container keeps its stdio open.
	out, err1 := os.CreateTemp(u.t.TempDir(), "stdout")
	errf, err2 := os.CreateTemp(u.t.TempDir(), "stderr")
	if err1 != nil || err2 != nil {
		u.t.Fatal(err1, err2)
	}
	defer out.Close()
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	err := cmd.Run()
	stdout, _ := os.ReadFile(out.Name())
	stderr, _ := os.ReadFile(errf.Name())
	r := result{stdout: string(stdout), stderr: string(stderr)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("setpriv kago-runc %v: %v", args, err)
	}
	return r
}

// bundle writes a rootless bundle with `kago-runc spec --rootless` run as
// the user, then applies edit.
func (u *rootlessUser) bundle(args []string, edit func(*specs.Spec)) string {
	u.t.Helper()
	dir, err := os.MkdirTemp(u.dir, "bundle-")
	if err != nil {
		u.t.Fatal(err)
	}
	if err := testbundle.Rootfs(filepath.Join(dir, "rootfs")); err != nil {
		u.t.Fatal(err)
	}
	u.chown(dir)
	if r := u.runc(dir, "spec", "--rootless"); r.code != 0 {
		u.t.Fatalf("spec --rootless as %s: %s", u.name, r)
	}
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		u.t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		u.t.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = args
	if edit != nil {
		edit(&spec)
	}
	if data, err = json.Marshal(&spec); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		u.t.Fatal(err)
	}
	return dir
}

// id returns a container ID deleted (as the user) when the test ends.
func (u *rootlessUser) id() string {
	b := make([]byte, 4)
	rand.Read(b)
	id := "rl-" + hex.EncodeToString(b)
	u.t.Cleanup(func() { u.runc("", "delete", "--force", id) })
	return id
}

func TestRootlessSpecMapsUserToRoot(t *testing.T) {
	u := newRootlessUser(t)
	b := u.bundle(sh("id -u; cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/x && echo wrote"), func(s *specs.Spec) {
		s.Root.Readonly = false
	})
	var spec specs.Spec
	data, _ := os.ReadFile(filepath.Join(b, "config.json"))
	json.Unmarshal(data, &spec)
	if len(spec.Linux.UIDMappings) != 1 || spec.Linux.UIDMappings[0].HostID != uint32(u.uid) || spec.Linux.Resources != nil {
		t.Fatalf("spec --rootless as uid %d: uid mappings %+v, resources %+v", u.uid, spec.Linux.UIDMappings, spec.Linux.Resources)
	}
	id := u.id()
	r := u.runc(b, "run", id)
	if r.code != 0 {
		t.Fatalf("rootless run as %s: %s", u.name, r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	uidMap := "0 " + strconv.Itoa(u.uid) + " 1"
	if len(lines) != 4 || lines[0] != "0" || strings.Join(strings.Fields(lines[1]), " ") != uidMap ||
		strings.Join(strings.Fields(lines[2]), " ") != "0 "+strconv.Itoa(u.gid)+" 1" || lines[3] != "wrote" {
		t.Errorf("inside: want uid 0 mapped from %d and a writable rootfs, got %s", u.uid, r)
	}
	// No writable cgroup here: the container ran without one, and said so.
	if !strings.Contains(r.stderr, "cgroup") {
		t.Errorf("rootless run without a writable cgroup should warn about it: %s", r)
	}
	if _, err := os.Stat(filepath.Join(u.dir, "state", id)); !os.IsNotExist(err) {
		t.Errorf("state left behind after run (%v)", err)
	}
}

func TestRootlessLifecycleWithoutCgroup(t *testing.T) {
	u := newRootlessUser(t)
	b := u.bundle([]string{"sleep", "100"}, nil)
	id := u.id()
	if r := u.runc(b, "run", "--detach", id); r.code != 0 {
		t.Fatalf("rootless run --detach: %s", r)
	}
	var st containerState
	r := u.runc("", "state", id)
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Status != "running" || st.Owner != u.name {
		t.Fatalf("state: %v %s", err, r)
	}
	if r := u.runc("", "ps", "--format", "json", id); r.code != 0 || !strings.Contains(r.stdout, strconv.Itoa(st.InitProcessPid)) {
		t.Errorf("ps without a cgroup should list init %d: %s", st.InitProcessPid, r)
	}
	for _, verb := range [][]string{{"pause", id}, {"update", "--pids-limit", "5", id}, {"events", "--stats", id}} {
		if r := u.runc("", verb...); r.code == 0 || !strings.Contains(r.stderr, "delegate") {
			t.Errorf("%s of a container without a cgroup: want an error saying to delegate one: %s", verb[0], r)
		}
	}
	if r := u.runc("", "kill", "--all", id, "KILL"); r.code != 0 {
		t.Fatalf("kill --all: %s", r)
	}
	if r := u.runc("", "delete", "--force", id); r.code != 0 {
		t.Fatalf("delete: %s", r)
	}
	if err := exec.Command("kill", "-0", strconv.Itoa(st.InitProcessPid)).Run(); err == nil {
		t.Errorf("init %d still alive after kill and delete", st.InitProcessPid)
	}
	if _, err := os.Stat(filepath.Join(u.dir, "state", id)); !os.IsNotExist(err) {
		t.Errorf("state left behind after delete (%v)", err)
	}
}

func TestRootlessLimitsWithoutCgroupRefused(t *testing.T) {
	u := newRootlessUser(t)
	b := u.bundle([]string{"true"}, func(s *specs.Spec) {
		limit := int64(64 << 20)
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
	})
	id := u.id()
	r := u.runc(b, "run", id)
	if r.code == 0 || !strings.Contains(r.stderr, "linux.resources") || !strings.Contains(r.stderr, "delegate") {
		t.Fatalf("rootless limits without a writable cgroup: want a clear error, got %s", r)
	}
	if _, err := os.Stat(filepath.Join(u.dir, "state", id)); !os.IsNotExist(err) {
		t.Errorf("state left behind (%v)", err)
	}
}

// delegate makes cgroupsPath p in every tree and gives it to the user, as
// systemd's Delegate=yes does, and has kago-runc started inside it.
func (u *rootlessUser) delegate(p string) {
	u.t.Helper()
	for _, root := range cgroupRoots(u.t) {
		dir := filepath.Join(root, p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			u.t.Fatal(err)
		}
		if filepath.Base(root) == "cpuset" {
			// A new v1 cpuset is empty: give each level its parent's CPUs and nodes.
			for d := filepath.Join(root, testCgroupParent); ; d = filepath.Join(d, strings.Split(strings.TrimPrefix(dir, d+"/"), "/")[0]) {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					v, err := os.ReadFile(filepath.Join(filepath.Dir(d), f))
					if err != nil {
						u.t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(d, f), v, 0o644); err != nil {
						u.t.Fatal(err)
					}
				}
				if d == dir {
					break
				}
			}
		}
		for _, f := range []string{"", "cgroup.procs", "tasks"} {
			if err := os.Lchown(filepath.Join(dir, f), u.uid, u.gid); err != nil && !os.IsNotExist(err) {
				u.t.Fatal(err)
			}
		}
		u.cgroups = append(u.cgroups, dir)
	}
}

func TestRootlessDelegatedCgroupLimits(t *testing.T) {
	requireV1(t)
	u := newRootlessUser(t)
	deleg := testCgroupPath(t)
	u.delegate(deleg)
	const limit = 48 << 20
	// A relative cgroupsPath lands under the caller's (delegated) cgroup.
	b := u.bundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "c1"
		l, pids := int64(limit), int64(12)
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &l}, Pids: &specs.LinuxPids{Limit: &pids}}
	})
	id := u.id()
	if r := u.runc(b, "run", "--detach", id); r.code != 0 {
		t.Fatalf("rootless run in a delegated cgroup: %s", r)
	}
	cg := deleg + "/c1"
	if got := readCgroup(t, "memory", cg, "memory.limit_in_bytes"); got != strconv.Itoa(limit) {
		t.Errorf("memory.limit_in_bytes = %s, want %d", got, limit)
	}
	if r := u.runc("", "update", "--pids-limit", "7", id); r.code != 0 {
		t.Errorf("rootless update: %s", r)
	}
	if got := readCgroup(t, "pids", cg, "pids.max"); got != "7" {
		t.Errorf("pids.max after update = %s, want 7", got)
	}
	if r := u.runc("", "delete", "--force", id); r.code != 0 {
		t.Fatalf("delete: %s", r)
	}
	assertNoCgroup(t, cg)
}

// TestRootlessFlag: --rootless false makes a cgroup the kernel refuses an
// error even for an unprivileged user (auto would go on without one), and
// a value other than true, false or auto is refused.
func TestRootlessFlag(t *testing.T) {
	u := newRootlessUser(t)
	b := u.bundle([]string{"true"}, nil)
	id := u.id()
	r := u.runc(b, "--rootless", "false", "run", id)
	if r.code == 0 || !strings.Contains(r.stderr, "cgroup") {
		t.Fatalf("--rootless false without a writable cgroup: want a cgroup error, got %s", r)
	}
	if _, err := os.Stat(filepath.Join(u.dir, "state", id)); !os.IsNotExist(err) {
		t.Errorf("state left behind (%v)", err)
	}
	if r := u.runc(b, "--rootless", "true", "run", id); r.code != 0 {
		t.Fatalf("--rootless true: %s", r)
	}
	if r := u.runc(b, "--rootless", "maybe", "run", id); r.code == 0 || !strings.Contains(r.stderr, "use true, false or auto") {
		t.Fatalf("--rootless maybe: %s", r)
	}
}
