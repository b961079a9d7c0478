package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/internal/sdunit"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/linux/seccomp"
)

// TestExplainCreate creates a container with a memory limit through
// `kago-runc create --explain=json` and checks that the steps come in the
// order they are done and agree with what the kernel shows afterwards.
func TestExplainCreate(t *testing.T) {
	h := newHarness(t)
	limit := int64(64 << 20)
	b := bundle(t, []string{"sleep", "300"}, func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit},
			Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
		s.Root.Readonly = true
		s.Hostname = "kx13-explained"
		one := []string{"CAP_NET_BIND_SERVICE"}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: one, Effective: one, Permitted: one}
		s.Process.NoNewPrivileges = true
		s.Linux.Seccomp = seccomp.Default()
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	})
	id := h.id()
	r := h.runc("create", "--explain=json", "--bundle", b.Dir, id)
	if r.code != 0 {
		t.Fatalf("create --explain=json: %s", r)
	}
	t.Logf("kago-runc create --explain=json:\n%s", r.stderr)
	pid := h.state(id).InitProcessPid
	steps, err := explain.ParseJSON(r.stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := explain.CheckNumbered(steps); err != nil {
		t.Error(err)
	}
	order := map[string]int{}
	var cgroupDirs []string
	for _, s := range steps {
		key := s.Feature + "/" + s.Call
		if _, ok := order[key]; !ok {
			order[key] = s.Step
		}
		switch key {
		case "namespaces/clone":
			for _, f := range []string{"CLONE_NEWPID", "CLONE_NEWNS", "CLONE_NEWNET", "CLONE_NEWUTS", "CLONE_NEWIPC"} {
				if !strings.Contains(s.Value, f) {
					t.Errorf("clone flags %q lack %s", s.Value, f)
				}
			}
		case "process/pid":
			if s.Value != strconv.Itoa(pid) {
				t.Errorf("explain says host pid %s, state says %d", s.Value, pid)
			}
			if !strings.Contains(s.Why, "the container sees it as pid 1 ") {
				t.Errorf("pid step %q: want the pid in the container's new pid namespace, 1", s.Why)
			}
		case "cgroup/mkdir":
			cgroupDirs = append(cgroupDirs, s.Path)
		case "uts/sethostname":
			if s.Value != "kx13-explained" {
				t.Errorf("sethostname %q", s.Value)
			}
		case "exec/execve":
			if !strings.Contains(s.Value, `"sleep" "300"`) {
				t.Errorf("execve %q lacks the argv", s.Value)
			}
		case "seccomp/seccomp(SECCOMP_SET_MODE_FILTER)":
			if !strings.HasPrefix(s.Value, `profile="docker default" default=SCMP_ACT_ERRNO allowed=`) || !strings.Contains(s.Value, "BPF instructions") {
				t.Errorf("seccomp step %q: want the profile, its counts and the program size", s.Value)
			}
		case "sysctl/write":
			if s.Path != "/proc/sys/net/ipv4/ip_forward" || s.Value != "1" {
				t.Errorf("sysctl step %s = %s", s.Path, s.Value)
			}
		case "devices/mknod":
			if s.Path == "/dev/null" && s.Value != "c 1:3 mode=0666 uid=0 gid=0" {
				t.Errorf("mknod /dev/null: %q", s.Value)
			}
		case "capabilities/capset":
			if !strings.HasPrefix(s.Value, "effective: CAP_NET_BIND_SERVICE;") {
				t.Errorf("capset %q", s.Value)
			}
		case "cgroup/write":
			checkCgroupWrite(t, s)
			if filepath.Base(s.Path) == "cgroup.procs" && s.Value != strconv.Itoa(pid) {
				t.Errorf("%s: the step moved %s, want init %d", s.Path, s.Value, pid)
			}
		}
	}
	for _, want := range [][2]string{{"namespaces/clone", "process/pid"}, {"process/pid", "cgroup/mkdir"}, {"cgroup/mkdir", "cgroup/write"},
		{"cgroup/write", "mount/mount"}, {"mount/mount", "root/pivot_root"}, {"root/pivot_root", "uts/sethostname"},
		{"uts/sethostname", "capabilities/capset"}, {"capabilities/capset", "no_new_privs/prctl(PR_SET_NO_NEW_PRIVS)"},
		{"no_new_privs/prctl(PR_SET_NO_NEW_PRIVS)", "exec/execve"}} {
		a, okA := order[want[0]]
		z, okZ := order[want[1]]
		if !okA || !okZ || a >= z {
			t.Errorf("want %s (step %d) before %s (step %d) in\n%s", want[0], a, want[1], z, r.stderr)
		}
	}
	// After start, the process has what the steps said it would get.
	h.must("start", id)
	// start returns once init is released; it applies the start steps and
	// execs on its own time: wait for the exec before reading its status.
	deadline := time.Now().Add(5 * time.Second)
	for comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "sleep" && time.Now().Before(deadline); comm, _ = os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)) {
		time.Sleep(5 * time.Millisecond)
	}
	st := readStatus(t, pid)
	if st["CapEff"] != "0000000000000400" || st["CapBnd"] != "0000000000000400" || st["NoNewPrivs"] != "1" {
		t.Errorf("after start CapEff %s CapBnd %s NoNewPrivs %s; the steps said NET_BIND_SERVICE only and no_new_privs", st["CapEff"], st["CapBnd"], st["NoNewPrivs"])
	}
	wantSeccomp := "0"
	if _, ok := order["seccomp/seccomp(SECCOMP_SET_MODE_FILTER)"]; ok {
		wantSeccomp = "2"
	}
	if st["Seccomp"] != wantSeccomp {
		t.Errorf("Seccomp %s in /proc, the steps imply %s", st["Seccomp"], wantSeccomp)
	}
	// The kernel agrees: new pid namespace, and the memory limit in a cgroup made.
	self, _ := os.Readlink("/proc/self/ns/pid")
	child, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns", "pid"))
	if self == child {
		t.Errorf("init shares the pid namespace %s the steps say was new", self)
	}
	mounts, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/" && !strings.HasPrefix(f[5], "ro") {
			t.Errorf("steps say the root was made read-only, mountinfo says %q", l)
		}
	}
	// Every mount step made a mount the kernel lists; the read-only ones
	// (remounts with MS_RDONLY, masked tmpfs) are read-only there.
	byTarget := map[string][]string{}
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 5 {
			byTarget[f[4]] = append(byTarget[f[4]], f[5])
		}
	}
	roStep, masked, devices := false, 0, 0
	for _, s := range steps {
		switch s.Feature + "/" + s.Call {
		case "mount/mount":
			if strings.HasPrefix(s.Path, b.Dir) || strings.Contains(s.Value, "MS_SLAVE") || strings.Contains(s.Value, "MS_PRIVATE") {
				continue // the rootfs's bind onto itself (now "/"), propagation
			}
			opts, ok := byTarget[s.Path]
			if !ok {
				t.Errorf("step %d mounts on %s; mountinfo has no such mount point", s.Step, s.Path)
				continue
			}
			if strings.Contains(s.Value, "MS_RDONLY") && !slices.ContainsFunc(opts, func(o string) bool { return strings.HasPrefix(o, "ro") }) {
				t.Errorf("step %d made %s read-only; mountinfo says %v", s.Step, s.Path, opts)
			}
			roStep = roStep || s.Path == "/" && strings.Contains(s.Value, "MS_REMOUNT") && strings.Contains(s.Value, "MS_RDONLY")
			if strings.HasPrefix(s.Why, "masked path") {
				masked++
			}
		case "devices/mknod":
			devices++
		}
	}
	if !roStep || masked == 0 || devices < 6 {
		t.Errorf("want a read-only root, masked paths and the 6 default devices (got %v, %d, %d) in\n%s", roStep, masked, devices, r.stderr)
	}
	found := false
	for _, d := range cgroupDirs {
		for _, f := range []string{"memory.max", "memory.limit_in_bytes"} {
			if data, err := os.ReadFile(filepath.Join(d, f)); err == nil && strings.TrimSpace(string(data)) == strconv.FormatInt(limit, 10) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no cgroup made in %v holds the memory limit %d", cgroupDirs, limit)
	}
}

// TestExplainBadValue: an unknown --explain value is a clear one-line error.
func TestExplainBadValue(t *testing.T) {
	h := newHarness(t)
	r := h.runc("create", "--explain=yaml", "--bundle", t.TempDir(), h.id())
	if r.code == 0 || !strings.Contains(r.stderr, "--explain") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("create --explain=yaml: %s", r)
	}
}

func readStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// TestSystemdCgroupExplain: with --systemd-cgroup the account names each
// property kago gave systemd for the scope, and systemd reports the same
// values for the unit afterwards; files kago writes itself (the trees
// systemd does not manage) are recorded with what they then hold.
func TestSystemdCgroupExplain(t *testing.T) {
	systemdRuntimes(t) // skips without systemd as PID 1
	h, slice, id := sdHarness(t, kagoRunc)
	unit := "ks7-" + id + ".scope"
	b := bundle(t, []string{"sleep", "300"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = slice + ":ks7:" + id
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr[int64](64 << 20)}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr[int64](32)}
	})
	r := h.runc("--systemd-cgroup", "create", "--explain=json", "--bundle", b.Dir, id)
	if r.code != 0 {
		t.Fatalf("create --explain=json: %s", r)
	}
	defer func() {
		h.runc("delete", "--force", id)
		assertUnitGone(t, unit, "")
	}()
	steps, err := explain.ParseJSON(r.stderr)
	if err != nil {
		t.Fatal(err)
	}
	pid := h.state(id).InitProcessPid
	props := sdunit.MustShow(t, unit)
	asked := map[string]string{}
	for _, s := range steps {
		if s.Feature != "cgroup" {
			continue
		}
		switch s.Call {
		case "StartTransientUnit":
			if s.Path != unit {
				t.Errorf("step %d: unit %s, want %s", s.Step, s.Path, unit)
			}
			k, v, _ := strings.Cut(s.Value, "=")
			asked[k] = v
		case "write":
			checkCgroupWrite(t, s)
		}
	}
	memProp := "MemoryMax"
	if _, ok := asked[memProp]; !ok {
		memProp = "MemoryLimit" // v1 and hybrid
	}
	for k, want := range map[string]string{memProp: strconv.Itoa(64 << 20), "TasksMax": "32", "Delegate": "true", "PIDs": fmt.Sprintf("[%d]", pid)} {
		if asked[k] != want {
			t.Errorf("account gave systemd %s=%q, want %q (all: %v)", k, asked[k], want, asked)
		}
	}
	for _, k := range []string{memProp, "TasksMax"} {
		if props[k] != asked[k] {
			t.Errorf("systemd reports %s=%q for %s; the account says %q", k, props[k], unit, asked[k])
		}
	}
	if t.Failed() {
		t.Logf("account:\n%s", r.stderr)
	}
}

// checkCgroupWrite fails unless the cgroup file of a write step holds the
// value written: among others for cgroup.procs, "memory" for a "+memory" in
// subtree_control; v1's write-only devices.allow is checked in
// devices.list (devices.deny, which removes, is not).
func checkCgroupWrite(t *testing.T, s explain.Step) {
	t.Helper()
	switch filepath.Base(s.Path) {
	case "devices.deny":
		return
	case "devices.allow":
		list, err := os.ReadFile(filepath.Join(filepath.Dir(s.Path), "devices.list"))
		if err != nil || !slices.Contains(strings.Split(string(list), "\n"), s.Value) {
			t.Errorf("step %d: devices.list of %s is %q (%v), want the rule %q", s.Step, s.Path, list, err, s.Value)
		}
		return
	}
	data, err := os.ReadFile(s.Path)
	if err != nil || !slices.Contains(strings.Fields(string(data)), strings.TrimPrefix(s.Value, "+")) {
		t.Errorf("step %d: %s holds %q (%v), the step wrote %s", s.Step, s.Path, data, err, s.Value)
	}
}
