package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/caps"
	"github.com/kago-run/kago/linux/cgroups"
	"github.com/kago-run/kago/linux/seccomp"
)

// testCgroupParent holds every cgroup these tests make, so a leftover is
// easy to spot (and to remove by hand).
const testCgroupParent = "/kago-test-limits"

// cgroupRoots are the v1 controller trees and the cgroup2 tree of this host.
func cgroupRoots(t *testing.T) []string {
	t.Helper()
	mode, err := cgroups.Mode()
	if err != nil {
		t.Fatal(err)
	}
	if mode == "v2" {
		return []string{"/sys/fs/cgroup"}
	}
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var roots []string
	for _, e := range entries {
		// Co-mounted controllers appear once as a directory and again as
		// symlinks (cpu -> cpu,cpuacct); take the directories.
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", e.Name(), "cgroup.procs")); err == nil {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return roots
}

// testCgroupPath returns a fresh cgroupsPath under testCgroupParent (with
// extra path elements appended) and removes whatever is left of it, in every
// tree, when the test ends. Call it before h.id(): cleanups run last-first,
// so the container is deleted before its cgroup is checked.
func testCgroupPath(t *testing.T, extra ...string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	top := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + hex.EncodeToString(b)
	p := filepath.Join(append([]string{testCgroupParent, top}, extra...)...)
	roots := cgroupRoots(t)
	t.Cleanup(func() {
		for _, root := range roots {
			// rmdir deepest first; a cgroup is removed by rmdir, not by unlink.
			for d := filepath.Join(root, p); strings.HasPrefix(d, filepath.Join(root, testCgroupParent)); d = filepath.Dir(d) {
				os.Remove(d)
			}
		}
	})
	return p
}

// cgroupDir is the directory of cgroupsPath p in a v1 controller tree (or
// the cgroup2 tree on a v2 host).
func cgroupDir(t *testing.T, controller, p string) string {
	t.Helper()
	if mode, _ := cgroups.Mode(); mode == "v2" {
		return filepath.Join("/sys/fs/cgroup", p)
	}
	return filepath.Join("/sys/fs/cgroup", controller, p)
}

func readCgroup(t *testing.T, controller, p, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cgroupDir(t, controller, p), file))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// onV2 reports whether this host runs pure cgroup v2 (test/vm runs these
// tests in such a VM).
func onV2(t *testing.T) bool {
	t.Helper()
	mode, err := cgroups.Mode()
	if err != nil {
		t.Fatal(err)
	}
	return mode == "v2"
}

// pick names the file holding a setting: v1's or, on a v2 host, v2's.
func pick(t *testing.T, v1, v2 string) string {
	t.Helper()
	if onV2(t) {
		return v2
	}
	return v1
}

// cpuQuota reads the CFS quota of cgroupsPath p (cpu.cfs_quota_us on v1,
// the first field of cpu.max on v2).
func cpuQuota(t *testing.T, p string) string {
	t.Helper()
	if onV2(t) {
		return strings.Fields(readCgroup(t, "cpu", p, "cpu.max"))[0]
	}
	return readCgroup(t, "cpu", p, "cpu.cfs_quota_us")
}

// requireV1 skips tests whose assertions read v1 controller files.
func requireV1(t *testing.T) {
	t.Helper()
	if mode, _ := cgroups.Mode(); mode == "v2" {
		t.Skip("assertions read cgroup v1 files; this host runs cgroup v2")
	}
}

// assertNoCgroup fails if cgroupsPath p exists in any tree.
func assertNoCgroup(t *testing.T, p string) {
	t.Helper()
	for _, root := range cgroupRoots(t) {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left behind in %s (%v)", p, root, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestLimitsOOMKillExit137AndEvent(t *testing.T) {
	h := newHarness(t)
	cg := testCgroupPath(t, "nested", "oom")
	const limit = 32 << 20
	// tail buffers /dev/zero (which has no newline) until it is killed; the
	// sleep gives `events` time to attach first.
	b := bundle(t, sh("sleep 1; exec tail /dev/zero"), func(s *specs.Spec) {
		s.Linux.CgroupsPath = cg
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr[int64](limit), Swap: ptr[int64](limit)}
	})
	id := h.id()
	run := exec.Command(kagoRunc, "--root", h.root, "run", "--bundle", b.Dir, id)
	var runErr bytes.Buffer
	run.Stderr = &runErr
	runDone := background(t, run)
	waitExists(t, h, id)
	if f := pick(t, "memory.limit_in_bytes", "memory.max"); readCgroup(t, "memory", cg, f) != strconv.Itoa(limit) {
		t.Errorf("%s = %s, want %d", f, readCgroup(t, "memory", cg, f), limit)
	}
	events := exec.Command(kagoRunc, "--root", h.root, "events", "--interval", "200ms", id)
	var evOut bytes.Buffer
	events.Stdout = &evOut
	events.Stderr = &evOut
	evDone := background(t, events)
	select {
	case err := <-runDone:
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 137 {
			t.Errorf("run exit = %v (code %d), want 137 (SIGKILL by the OOM killer); stderr: %s", err, code, runErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("container was not OOM-killed within 30s")
	}
	select {
	case err := <-evDone:
		if err != nil {
			t.Errorf("events: %v\n%s", err, evOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("events did not end after the container stopped:\n%s", evOut.String())
	}
	types := map[string]int{}
	sc := bufio.NewScanner(&evOut)
	for sc.Scan() {
		var e struct {
			Type string          `json:"type"`
			ID   string          `json:"id"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("events line %q is not JSON: %v", sc.Text(), err)
		}
		if e.ID != id {
			t.Errorf("event for %q, want %q", e.ID, id)
		}
		types[e.Type]++
	}
	if types["oom"] == 0 || types["stats"] == 0 {
		t.Errorf("events want oom and stats lines, got %v", types)
	}
	// run deletes the container, cgroup included, once it has exited.
	assertNoCgroup(t, cg)

	// A detached container killed by the OOM killer is stopped, and delete
	// removes its cgroup.
	cg2 := testCgroupPath(t, "nested", "oom")
	b2 := bundle(t, sh("exec tail /dev/zero"), func(s *specs.Spec) {
		s.Linux.CgroupsPath = cg2
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr[int64](limit), Swap: ptr[int64](limit)}
	})
	id2 := h.detached(b2)
	h.waitStatus(id2, "stopped")
	if f := pick(t, "memory.oom_control", "memory.events"); !strings.Contains(readCgroup(t, "memory", cg2, f), "oom_kill 1") {
		t.Errorf("%s of the stopped container: %q, want oom_kill 1", f, readCgroup(t, "memory", cg2, f))
	}
	h.must("delete", id2)
	assertNoCgroup(t, cg2)
}

// background starts cmd and returns a channel that receives its Wait result
// once; the process is killed and reaped when the test ends.
func background(t *testing.T, cmd *exec.Cmd) <-chan error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done, reaped := make(chan error, 1), make(chan struct{})
	go func() {
		done <- cmd.Wait()
		close(reaped)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-reaped
	})
	return done
}

// waitExists polls until the container has a state record with an init pid.
func waitExists(t *testing.T, h *harness, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r := h.runc("state", id); r.code == 0 && !strings.Contains(r.stdout, `"creating"`) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("container %s did not appear", id)
}

func TestLimitsEventsStats(t *testing.T) {
	h := newHarness(t)
	cg := testCgroupPath(t)
	b := bundle(t, []string{"sleep", "100"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = cg
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr[int64](20)}
	})
	id := h.detached(b)
	out := h.must("events", "--stats", id)
	if strings.Count(out, "\n") != 1 {
		t.Errorf("events --stats printed %q, want one line", out)
	}
	var e struct {
		Type string        `json:"type"`
		ID   string        `json:"id"`
		Data cgroups.Stats `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("events --stats output %q: %v", out, err)
	}
	if e.Type != "stats" || e.ID != id || e.Data.Pids.Current != 1 || e.Data.Pids.Limit != 20 || e.Data.Memory.Usage.Usage == 0 {
		t.Errorf("events --stats = %+v, want type stats, id %s, 1 pid of 20, memory used", e, id)
	}
	if r := h.runc("events", "--interval", "0s", id); r.code == 0 || !strings.Contains(r.stderr, "--interval") {
		t.Errorf("events --interval 0s: %s", r)
	}
	h.must("kill", id, "KILL")
	h.waitStatus(id, "stopped")
	if r := h.runc("events", "--stats", id); r.code == 0 || !strings.Contains(r.stderr, "stopped") {
		t.Errorf("events --stats of a stopped container: %s", r)
	}
}

func TestLimitsPidsStopForkLoop(t *testing.T) {
	h := newHarness(t)
	cg := testCgroupPath(t)
	// Each successful fork prints its count; the shell dies at the first
	// fork the pids controller refuses. sh itself is one of the 8.
	r := h.runIn(sh("i=0; while :; do sleep 100 & i=$((i+1)); echo $i; done"), func(s *specs.Spec) {
		s.Linux.CgroupsPath = cg
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr[int64](8)}
	})
	lines := strings.Fields(r.stdout)
	if r.code == 0 || len(lines) == 0 || lines[len(lines)-1] != "7" || !strings.Contains(r.stderr, "fork") {
		t.Fatalf("fork loop under pids limit 8: want 7 forks then a fork error, got %s", r)
	}
}

func TestLimitsCPUQuotaAndUpdate(t *testing.T) {
	h := newHarness(t)
	cg := testCgroupPath(t)
	b := bundle(t, sh("while :; do :; done"), func(s *specs.Spec) {
		s.Linux.CgroupsPath = cg
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr[int64](20000), Period: ptr[uint64](100000)}
	})
	id := h.detached(b)
	first := cpuShare(t, cg, 3*time.Second)
	// CFS enforces the quota per period; 0.2 CPU with tolerance for a busy
	// shared machine below and accounting slack above.
	if first > 0.26 || first < 0.05 {
		t.Errorf("busy loop under a 0.2 CPU quota used %.2f CPU", first)
	}
	h.must("update", "--cpu-quota", "60000", id)
	if got := cpuQuota(t, cg); got != "60000" {
		t.Errorf("cpu quota after update = %s, want 60000", got)
	}
	second := cpuShare(t, cg, 3*time.Second)
	if second > 0.7 || second < first*1.3 {
		t.Errorf("after update to 0.6 CPU the loop used %.2f CPU (was %.2f)", second, first)
	}
}

// cpuShare measures the CPU the cgroup used over d, in CPUs.
func cpuShare(t *testing.T, cg string, d time.Duration) float64 {
	t.Helper()
	read := func() float64 {
		if onV2(t) {
			for _, l := range strings.Split(readCgroup(t, "cpu", cg, "cpu.stat"), "\n") {
				if f := strings.Fields(l); len(f) == 2 && f[0] == "usage_usec" {
					v, err := strconv.ParseFloat(f[1], 64)
					if err != nil {
						t.Fatal(err)
					}
					return v * 1000
				}
			}
			t.Fatal("no usage_usec in cpu.stat")
		}
		v, err := strconv.ParseFloat(readCgroup(t, "cpuacct", cg, "cpuacct.usage"), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	u0, t0 := read(), time.Now()
	time.Sleep(d)
	u1, t1 := read(), time.Now()
	return (u1 - u0) / float64(t1.Sub(t0).Nanoseconds())
}

func TestLimitsUpdateLive(t *testing.T) {
	h := newHarness(t)
	cg := testCgroupPath(t)
	b := bundle(t, []string{"sleep", "100"}, func(s *specs.Spec) { s.Linux.CgroupsPath = cg })
	id := h.detached(b)
	h.must("update", "--memory", "64m", "--memory-swap", "128M", "--memory-reservation", "32m",
		"--kernel-memory", "16m", "--cpu-shares", "512", "--cpu-period", "50000", "--cpu-quota", "25000",
		"--cpuset-cpus", "0", "--pids-limit", "9", id)
	want := []struct{ controller, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.memsw.limit_in_bytes", "134217728"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_period_us", "50000"},
		{"cpu", "cpu.cfs_quota_us", "25000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"pids", "pids.max", "9"},
	}
	memFile, pidsFile := "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max"
	if onV2(t) {
		want = []struct{ controller, file, want string }{
			{"memory", "memory.max", "67108864"},
			{"memory", "memory.swap.max", "67108864"}, // v2's swap alone: 128M total - 64M memory
			{"memory", "memory.low", "33554432"},
			{"cpu", "cpu.max", "25000 50000"},
			{"cpuset", "cpuset.cpus", "0"},
			{"pids", "pids.max", "9"},
		}
		memFile, pidsFile = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max"
		// Shares become a weight (the formula is TestCPUSharesToWeight's);
		// 512 shares are not the default weight.
		if w := readCgroup(t, "cpu", cg, "cpu.weight"); w == "100" || w == "" {
			t.Errorf("cpu.weight after update --cpu-shares 512 = %q, want a non-default weight", w)
		}
	}
	for _, c := range want {
		if got := readCgroup(t, c.controller, cg, c.file); got != c.want {
			t.Errorf("%s after update = %s, want %s", c.file, got, c.want)
		}
	}
	// The container sees its own cgroup as the root of its cgroup namespace.
	inside := h.must("exec", id, "cat", memFile, pidsFile)
	if strings.Fields(inside)[0] != "67108864" || strings.Fields(inside)[1] != "9" {
		t.Errorf("inside the container the limits read %q", inside)
	}
	// -r - reads linux.resources from stdin; flags not given stay as they are.
	in := writeTemp(t, `{"pids": {"limit": 7}, "memory": {"limit": 100663296, "swap": 134217728}}`)
	if r := h.runcWith(in, nil, "update", "-r", "-", id); r.code != 0 {
		t.Fatalf("update -r -: %s", r)
	}
	if got := readCgroup(t, "pids", cg, "pids.max"); got != "7" {
		t.Errorf("pids.max after update -r - = %s, want 7", got)
	}
	if f := pick(t, "memory.limit_in_bytes", "memory.max"); readCgroup(t, "memory", cg, f) != "100663296" {
		t.Errorf("%s after update -r - = %s", f, readCgroup(t, "memory", cg, f))
	}
	if got := cpuQuota(t, cg); got != "25000" {
		t.Errorf("cpu quota changed by an update that did not name it: %s", got)
	}
	// Bad input is refused with an error naming the flag, and changes nothing.
	for _, args := range [][]string{
		{"--memory", "-5m"}, {"--memory", "lots"}, {"--pids-limit", "-2"}, {"--cpu-quota", "5"},
		{"--cpuset-cpus", "zero"}, {"--l3-cache-schema", "L3:0=f"},
	} {
		r := h.runc(append(append([]string{"update"}, args...), id)...)
		if r.code == 0 || r.stderr == "" {
			t.Errorf("update %v: want a clear error, got %s", args, r)
		}
	}
	for _, doc := range []string{`{"pids": {"limit": "x"}}`, `{"pids": {}} {}`, `[1]`, `{`} {
		if r := h.runcWith(writeTemp(t, doc), nil, "update", "-r", "-", id); r.code == 0 || !strings.Contains(r.stderr, "resources") {
			t.Errorf("update -r - with %q: %s", doc, r)
		}
	}
	if got := readCgroup(t, "pids", cg, "pids.max"); got != "7" {
		t.Errorf("pids.max after refused updates = %s, want 7", got)
	}
	h.must("kill", id, "KILL")
	h.waitStatus(id, "stopped")
	if r := h.runc("update", "--pids-limit", "5", id); r.code == 0 || !strings.Contains(r.stderr, "stopped") {
		t.Errorf("update of a stopped container: %s", r)
	}
}

// writeTemp returns an open file holding s, for use as stdin.
func writeTemp(t *testing.T, s string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLimitsDeviceRuleDeniesWrite(t *testing.T) {
	h := newHarness(t)
	if out := h.mustRunIn(sh("echo x > /dev/null && echo wrote"), nil); !strings.Contains(out, "wrote") {
		t.Fatalf("control: writing /dev/null in a default container failed: %q", out)
	}
	r := h.runIn(sh("echo x > /dev/null && echo wrote; cat /dev/null && echo read"), func(s *specs.Spec) {
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "w"})
	})
	if strings.Contains(r.stdout, "wrote") || !strings.Contains(r.stdout, "read") {
		t.Fatalf("deny c 1:3 w: want the write refused and the read allowed: %s", r)
	}
}

func TestLimitsBadInputLeavesNothing(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		edit func(s *specs.Spec, cg string)
		want string
	}{
		{"dotdot", func(s *specs.Spec, cg string) { s.Linux.CgroupsPath = cg + "/../escape" }, ".."},
		{"negative", func(s *specs.Spec, cg string) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr[int64](-5)}
		}, "memory.limit"},
		{"negativepids", func(s *specs.Spec, cg string) {
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr[int64](-3)}
		}, "pids.limit"},
		{"seccompaction", func(s *specs.Spec, cg string) { s.Linux.Seccomp.DefaultAction = "SCMP_ACT_BOGUS" }, "SCMP_ACT_BOGUS"},
		{"seccomparch", func(s *specs.Spec, cg string) { s.Linux.Seccomp.Architectures = []specs.Arch{"SCMP_ARCH_PDP11"} }, "SCMP_ARCH_PDP11"},
		{"seccompop", func(s *specs.Spec, cg string) {
			s.Linux.Seccomp.Syscalls = append(s.Linux.Seccomp.Syscalls, specs.LinuxSyscall{
				Names: []string{"read"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 9, Op: specs.OpEqualTo}},
			})
		}, "index"},
		{"unifiedonv1", func(s *specs.Spec, cg string) {
			s.Linux.Resources.Unified = map[string]string{"memory.high": "1000000"}
		}, "unified"},
		{"capability", func(s *specs.Spec, cg string) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_BOGUS")
		}, "CAP_BOGUS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unifiedonv1" && onV2(t) {
				t.Skip("unified is valid on a cgroup v2 host")
			}
			cg := testCgroupPath(t)
			b := bundle(t, []string{"true"}, func(s *specs.Spec) {
				s.Linux.CgroupsPath = cg
				tc.edit(s, cg)
			})
			id := h.id()
			r := h.runc("run", "--bundle", b.Dir, id)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want an error naming %q, got %s", tc.want, r)
			}
			if _, err := os.Stat(filepath.Join(h.root, id)); !os.IsNotExist(err) {
				t.Errorf("state directory left behind (%v)", err)
			}
			assertNoCgroup(t, cg)
		})
	}
}

func TestLimitsSeccompUnknownSyscallSkipped(t *testing.T) {
	h := newHarness(t)
	r := h.runIn(sh("echo ran"), func(s *specs.Spec) {
		s.Linux.Seccomp.Syscalls = append(s.Linux.Seccomp.Syscalls, specs.LinuxSyscall{
			Names: []string{"no_such_syscall_kago"}, Action: specs.ActAllow,
		})
	})
	if r.code != 0 || !strings.Contains(r.stdout, "ran") || !strings.Contains(r.stderr, "no_such_syscall_kago") {
		t.Fatalf("an unknown syscall name should be skipped with a warning: %s", r)
	}
}

// probeSource is a static helper run inside containers: it makes each named
// system call with arguments that are harmless when allowed and prints
// "name errno" (errno 0 for success).
const probeSource = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"unsafe"
)

func main() {
	tmp := "/tmp/probe-mnt"
	os.MkdirAll(tmp, 0o755)
	p := func(s string) uintptr { b, _ := syscall.BytePtrFromString(s); return uintptr(unsafe.Pointer(b)) }
	calls := map[string][]uintptr{
		"unshare":         {272, syscall.CLONE_NEWUTS},
		"mount":           {165, p("none"), p(tmp), p("tmpfs"), 0, 0},
		"keyctl":          {250, 0, ^uintptr(2), 0},   // KEYCTL_GET_KEYRING_ID, session
		"add_key":         {248, p("user"), p("k"), 0, 0, ^uintptr(2)},
		"kexec_load":      {246, 0, 0, 0, 0xffff0000}, // bad flags: EINVAL when allowed
		"bpf":             {321, 0xffff, 0, 0},        // bad command: EINVAL when allowed
		"perf_event_open": {298, 0, 0, ^uintptr(0), ^uintptr(0), 0},
		"setns":           {308, ^uintptr(0), 0},
		"finit_module":    {313, ^uintptr(0), p(""), 0},
		"clock_settime":   {227, 0, 0},
		"open_by_handle_at": {304, ^uintptr(0), 0, 0},
		"pivot_root":      {155, 0, 0},
	}
	for _, name := range os.Args[1:] {
		if name == "monotonic" || name == "boottime" {
			// clock_gettime(CLOCK_MONOTONIC or CLOCK_BOOTTIME), in seconds.
			var ts syscall.Timespec
			id := uintptr(1)
			if name == "boottime" {
				id = 7
			}
			syscall.Syscall(228, id, uintptr(unsafe.Pointer(&ts)), 0)
			fmt.Println(name, ts.Sec)
			continue
		}
		if name == "ptrace-other" {
			// PTRACE_ATTACH to a process of another user.
			cmd := exec.Command("/bin/sleep", "100")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
			if err := cmd.Start(); err != nil {
				fmt.Println(name, "start:", err)
				continue
			}
			_, _, e := syscall.Syscall6(101, 16, uintptr(cmd.Process.Pid), 0, 0, 0, 0)
			cmd.Process.Kill()
			cmd.Wait()
			fmt.Println(name, int(e))
			continue
		}
		a := calls[name]
		for len(a) < 7 {
			a = append(a, 0)
		}
		_, _, e := syscall.Syscall6(a[0], a[1], a[2], a[3], a[4], a[5], a[6])
		fmt.Println(name, int(e))
	}
}
`

var (
	probeOnce sync.Once
	probePath string
	probeErr  error
)

// buildProbe compiles probeSource as a static binary, once per test run.
func buildProbe(t *testing.T) string {
	t.Helper()
	if goruntimeArch() != "amd64" {
		t.Skip("the probe's syscall numbers are for amd64")
	}
	probeOnce.Do(func() {
		dir := filepath.Dir(kagoRunc)
		src := filepath.Join(dir, "probe")
		if probeErr = os.MkdirAll(src, 0o755); probeErr != nil {
			return
		}
		os.WriteFile(filepath.Join(src, "go.mod"), []byte("module probe\n\ngo 1.21\n"), 0o644)
		os.WriteFile(filepath.Join(src, "main.go"), []byte(probeSource), 0o644)
		probePath = filepath.Join(dir, "probe-bin")
		cmd := exec.Command("go", "build", "-o", probePath, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("build probe: %v\n%s", err, out)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probePath
}

// probeIn runs the probe in a container made by edit and returns each
// call's errno.
func probeIn(t *testing.T, h *harness, names []string, edit func(*specs.Spec)) map[string]int {
	t.Helper()
	probe := buildProbe(t)
	b := bundle(t, append([]string{"/probe"}, names...), edit)
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.RootfsDir(), "probe"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	r := h.runc("run", "--bundle", b.Dir, h.id())
	if r.code != 0 {
		t.Fatalf("probe: %s", r)
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("probe output line %q: %s", line, r)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("probe output line %q: %s", line, r)
		}
		got[f[0]] = n
	}
	return got
}

const eperm = 1

func TestLimitsDefaultSeccompRefuses(t *testing.T) {
	h := newHarness(t)
	names := []string{"unshare", "mount", "keyctl", "add_key", "kexec_load", "bpf", "perf_event_open",
		"setns", "finit_module", "clock_settime", "open_by_handle_at", "pivot_root"}
	all := hostBoundingCaps(t)
	allCaps := func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	// Control: with every capability and no seccomp, none of the calls is
	// refused with EPERM, so an EPERM below comes from the profile.
	control := probeIn(t, h, names, func(s *specs.Spec) { allCaps(s); s.Linux.Seccomp = nil })
	for _, n := range names {
		if control[n] == eperm {
			t.Errorf("control: %s returned EPERM without seccomp", n)
		}
	}
	filtered := probeIn(t, h, names, allCaps)
	for _, n := range names {
		if filtered[n] != eperm {
			t.Errorf("default profile with all capabilities: %s returned errno %d, want EPERM", n, filtered[n])
		}
	}
	// The default container (Docker's capabilities and profile) refuses
	// them too, and may not ptrace a process of another user.
	def := probeIn(t, h, append(names, "ptrace-other"), nil)
	for _, n := range append(names, "ptrace-other") {
		if def[n] != eperm {
			t.Errorf("default container: %s returned errno %d, want EPERM", n, def[n])
		}
	}
	// busybox's own applets see the same.
	r := h.runIn(sh("unshare -m true; echo unshare=$?; mkdir -p /tmp/m; mount -t tmpfs none /tmp/m; echo mount=$?"), func(s *specs.Spec) { s.Root.Readonly = false })
	if !strings.Contains(r.stdout, "unshare=1") || !strings.Contains(r.stdout, "mount=255") && !strings.Contains(r.stdout, "mount=1") {
		t.Errorf("busybox unshare/mount in a default container: %s", r)
	}
}

// hostBoundingCaps is every capability the test process may pass on.
func hostBoundingCaps(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:\t"); ok {
			mask, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return caps.Names(mask)
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return nil
}

func TestLimitsCapabilitySets(t *testing.T) {
	h := newHarness(t)
	out := h.mustRunIn(sh("grep -E 'Cap(Bnd|Eff)' /proc/self/status"), nil)
	var mask uint64
	for _, name := range caps.DefaultDocker() {
		bit, err := caps.Parse(name)
		if err != nil {
			t.Fatal(err)
		}
		mask |= 1 << bit
	}
	want := fmt.Sprintf("%016x", mask)
	if !strings.Contains(out, "CapBnd:\t"+want) || !strings.Contains(out, "CapEff:\t"+want) {
		t.Errorf("default container caps want %s (Docker's set):\n%s", want, out)
	}
	out = h.mustRunIn(sh("grep -E 'Cap(Bnd|Eff)' /proc/self/status"), func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{}
	})
	if !strings.Contains(out, "CapBnd:\t0000000000000000") || !strings.Contains(out, "CapEff:\t0000000000000000") {
		t.Errorf("empty capability config should leave no capabilities:\n%s", out)
	}
}

func TestLimitsSeccompNotifyListener(t *testing.T) {
	h := newHarness(t)
	sock := filepath.Join(t.TempDir(), "listener.sock")
	l := listenSeccomp(t, sock)
	b := bundle(t, sh("mkdir /tmp/d && echo mkdir-ok || echo mkdir-failed"), func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow, ListenerPath: sock, ListenerMetadata: "kago-test",
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
		}
	})
	r := h.runc("run", "--bundle", b.Dir, h.id())
	got := <-l
	if got.err != nil {
		t.Fatalf("listener: %v (run: %s)", got.err, r)
	}
	if got.state.Metadata != "kago-test" || len(got.state.Fds) != 1 || got.state.Fds[0] != specs.SeccompFdName || got.state.State.Pid == 0 {
		t.Errorf("process state sent to the listener: %+v", got.state)
	}
	if got.syscall == 0 {
		t.Error("listener received no notification")
	}
	// The listener answers EACCES (13); the container sees the failure.
	if r.code != 0 || !strings.Contains(r.stdout, "mkdir-failed") {
		t.Errorf("mkdir under a notify rule answered with EACCES: %s", r)
	}
}

// listenerResult is what listenSeccomp saw.
type listenerResult struct {
	state   specs.ContainerProcessState
	syscall int32
	err     error
}

// listenSeccomp is a seccomp agent: it accepts the listener fd kago-runc
// sends to sock, answers every notification with EACCES until the
// container's filter goes away, and reports what it saw.
func listenSeccomp(t *testing.T, sock string) <-chan listenerResult {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan listenerResult, 1)
	go func() {
		var res listenerResult
		defer func() { out <- res }()
		ln.SetDeadline(time.Now().Add(30 * time.Second))
		conn, err := ln.AcceptUnix()
		if err != nil {
			res.err = fmt.Errorf("accept: %w", err)
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 1<<16), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			res.err = err
			return
		}
		if err := json.Unmarshal(buf[:n], &res.state); err != nil {
			res.err = fmt.Errorf("state %q: %w", buf[:n], err)
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			res.err = fmt.Errorf("control messages %v: %v", msgs, err)
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			res.err = fmt.Errorf("rights %v: %v", fds, err)
			return
		}
		fd := fds[0]
		defer unix.Close(fd)
		for {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if n, err := unix.Poll(pfd, 30000); err == unix.EINTR {
				continue
			} else if err != nil || n == 0 {
				res.err = fmt.Errorf("poll listener: n=%d err=%v", n, err)
				return
			}
			if pfd[0].Revents&unix.POLLIN == 0 {
				return // POLLHUP: every process of the filter is gone
			}
			var req struct {
				ID    uint64
				Pid   uint32
				Flags uint32
				Nr    int32
				Arch  uint32
				IP    uint64
				Args  [6]uint64
			}
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); e != 0 {
				if e == unix.ENOENT || e == unix.EINTR {
					continue // the caller went away before we read it
				}
				res.err = fmt.Errorf("NOTIF_RECV: %w", e)
				return
			}
			res.syscall = req.Nr
			resp := struct {
				ID    uint64
				Val   int64
				Error int32
				Flags uint32
			}{ID: req.ID, Error: -int32(unix.EACCES)}
			unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
		}
	}()
	return out
}

func goruntimeArch() string { return goruntime.GOARCH }

// selfCgroup is the test process's own cgroup in a v1 controller tree (in
// the cgroup2 tree for controller "").
func selfCgroup(t *testing.T, controller string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ","+controller+",") {
			return parts[2]
		}
	}
	t.Fatalf("no %s cgroup in /proc/self/cgroup", controller)
	return ""
}

func TestLimitsCgroupsPathRelativeAndDefault(t *testing.T) {
	h := newHarness(t)
	// A relative path goes under the caller's own cgroup, as runc does.
	abs := testCgroupPath(t)
	rel := strings.TrimPrefix(abs, "/")
	if self := selfCgroup(t, pick(t, "pids", "")); self != "/" {
		t.Cleanup(func() {
			for _, root := range cgroupRoots(t) {
				os.Remove(filepath.Join(root, self, rel))
				os.Remove(filepath.Join(root, self, testCgroupParent))
			}
		})
		abs = filepath.Join(self, rel)
	}
	b := bundle(t, []string{"sleep", "100"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = rel
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr[int64](11)}
	})
	id := h.detached(b)
	st := h.state(id)
	if got := readCgroup(t, "pids", abs, "pids.max"); got != "11" {
		t.Errorf("relative cgroupsPath %s: pids.max at %s = %s, want 11", rel, abs, got)
	}
	if procs := readCgroup(t, "pids", abs, "cgroup.procs"); procs != strconv.Itoa(st.InitProcessPid) {
		t.Errorf("cgroup.procs of %s = %q, want init %d", abs, procs, st.InitProcessPid)
	}
	h.must("delete", "--force", id)
	assertNoCgroup(t, abs)

	// No cgroupsPath: /kago/<id>.
	id = h.detached(bundle(t, []string{"sleep", "100"}, nil))
	if _, err := os.Stat(cgroupDir(t, "memory", "/kago/"+id)); err != nil {
		t.Errorf("default cgroup /kago/%s: %v", id, err)
	}
	h.must("delete", "--force", id)
	assertNoCgroup(t, "/kago/"+id)
}

// FuzzUpdateInput feeds update's parsers (sizes and the -r document) with
// arbitrary input: they must return a value or an error, never panic, and
// never accept a negative size other than -1.
func FuzzUpdateInput(f *testing.F) {
	for _, s := range []string{"512m", "1g", "-1", "-5", "1.5k", "10 MiB", "", "9999999999999999p", "0",
		`{"memory":{"limit":1}}`, `{"pids":{"limit":-1}} x`, `[`, `{"cpu":{"cpus":"0-1"}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := parseMemory("memory", s); err == nil && v < -1 {
			t.Errorf("parseMemory(%q) = %d", s, v)
		}
		if res, err := parseResources("fuzz", []byte(s)); err == nil && res == nil {
			t.Errorf("parseResources(%q) returned nil without an error", s)
		}
	})
}

func TestLimitsBlockIOThrottle(t *testing.T) {
	h := newHarness(t)
	data, err := os.ReadFile("/sys/block/vda/dev")
	if err != nil {
		t.Skip("no /sys/block/vda to throttle")
	}
	var major, minor int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &major, &minor); err != nil {
		t.Fatal(err)
	}
	cg := testCgroupPath(t)
	b := bundle(t, []string{"sleep", "100"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = cg
		s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{
			ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 1 << 20}},
		}
	})
	h.detached(b)
	if onV2(t) {
		want := fmt.Sprintf("%d:%d rbps=max wbps=%d riops=max wiops=max", major, minor, 1<<20)
		if got := readCgroup(t, "io", cg, "io.max"); got != want {
			t.Errorf("io.max = %q, want %q", got, want)
		}
		return
	}
	want := fmt.Sprintf("%d:%d %d", major, minor, 1<<20)
	if got := readCgroup(t, "blkio", cg, "blkio.throttle.write_bps_device"); got != want {
		t.Errorf("blkio.throttle.write_bps_device = %q, want %q", got, want)
	}
}

func TestLimitsProcessStartsInItsCgroup(t *testing.T) {
	h := newHarness(t)
	cg := testCgroupPath(t, "a", "b")
	// Without a cgroup namespace the process sees its cgroup's full path.
	out := h.mustRunIn(sh("cat /proc/self/cgroup"), func(s *specs.Spec) {
		s.Linux.CgroupsPath = cg
		var nss []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.CgroupNamespace {
				nss = append(nss, n)
			}
		}
		s.Linux.Namespaces = nss
	})
	controllers := []string{"memory", "pids", "cpu", "cpuacct", "devices", "freezer", ""}
	if onV2(t) {
		controllers = []string{""} // one line, 0::PATH
	}
	for _, c := range controllers {
		if !strings.Contains(out, ":"+c+":"+cg+"\n") {
			t.Errorf("first process is not in %s cgroup %s:\n%s", c, cg, out)
		}
	}
	assertNoCgroup(t, cg)
}

// TestLimitsProcessBornInItsCgroup: on pure cgroup v2 the container's init
// is cloned straight into its cgroup (clone3 CLONE_INTO_CGROUP), so the
// kernel never migrates it: its cgroup_attach_task tracepoint, which fires
// on every move of a task between cgroups, stays silent for the
// container's cgroup. make test-vm runs it in the cgroup v2 guest.
func TestLimitsProcessBornInItsCgroup(t *testing.T) {
	if !onV2(t) {
		t.Skip("CLONE_INTO_CGROUP is used on pure cgroup v2 only (make test-vm runs this test)")
	}
	h := newHarness(t)
	cg, control := testCgroupPath(t), testCgroupPath(t)
	tracing := traceCgroupAttach(t)
	// The control: a move the tracepoint must see.
	if err := os.MkdirAll(filepath.Join("/sys/fs/cgroup", control), 0o755); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Wait()
	defer sleep.Process.Kill()
	if err := os.WriteFile(filepath.Join("/sys/fs/cgroup", control, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	id := h.id()
	b := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Linux.CgroupsPath = cg })
	r := h.runc("--explain=json", "create", "--bundle", b.Dir, id)
	if r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	// --explain tells it as it is done: a clone into the cgroup, no move.
	if !strings.Contains(r.stderr, `"CLONE_INTO_CGROUP"`) || strings.Contains(r.stderr, "cgroup.procs") {
		t.Errorf("--explain should show init cloned into its cgroup and no write to cgroup.procs:\n%s", r.stderr)
	}
	pid := h.state(id).InitProcessPid
	self, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(self)); got != "0::"+cg {
		t.Errorf("init's /proc/PID/cgroup is %q, want 0::%s", got, cg)
	}
	trace, err := os.ReadFile(filepath.Join(tracing, "trace"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(trace), "dst_path="+control+" ") {
		t.Fatalf("the trace does not show the control move into %s:\n%s", control, trace)
	}
	for _, l := range strings.Split(string(trace), "\n") {
		if strings.Contains(l, "dst_path="+cg+" ") {
			t.Errorf("a task was moved into the container's cgroup after it was cloned:\n%s", l)
		}
	}
	h.must("delete", "--force", id)
}

// traceCgroupAttach turns on the kernel's cgroup:cgroup_attach_task
// tracepoint (mounting tracefs if need be) with an empty trace buffer, and
// turns it off at the end of the test; it returns the tracefs directory.
func traceCgroupAttach(t *testing.T) string {
	t.Helper()
	dir := "/sys/kernel/tracing"
	event := filepath.Join(dir, "events/cgroup/cgroup_attach_task/enable")
	if _, err := os.Stat(event); err != nil {
		if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
			t.Skipf("no tracefs at %s: %v", dir, err)
		}
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	}
	if err := os.WriteFile(event, []byte("1"), 0); err != nil {
		t.Fatalf("enable tracepoint cgroup_attach_task: %v", err)
	}
	t.Cleanup(func() { os.WriteFile(event, []byte("0"), 0) })
	if err := os.WriteFile(filepath.Join(dir, "trace"), nil, 0); err != nil {
		t.Fatalf("clear trace buffer: %v", err)
	}
	return dir
}

func TestLimitsSpecHasDockerDefaults(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(kagoRunc, "spec", "--bundle", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("spec: %v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(seccomp.Default())
	got, _ := json.Marshal(spec.Linux.Seccomp)
	if !bytes.Equal(got, want) {
		t.Errorf("spec's linux.seccomp is not the default (Docker's) profile")
	}
	if spec.Linux.Seccomp.DefaultAction != specs.ActErrno || len(spec.Linux.Seccomp.Syscalls) < 10 {
		t.Errorf("default profile: default action %s, %d rules", spec.Linux.Seccomp.DefaultAction, len(spec.Linux.Seccomp.Syscalls))
	}
	c := spec.Process.Capabilities
	docker := caps.DefaultDocker()
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if strings.Join(set, ",") != strings.Join(docker, ",") {
			t.Errorf("spec's %s capabilities %v, want Docker's %v", name, set, docker)
		}
	}
}
