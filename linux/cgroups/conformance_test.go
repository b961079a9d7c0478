package cgroups

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestConformance runs one behaviour suite against every Manager this host
// supports, like containerd's snapshotter suites: what the runtime relies on
// must hold for v1, hybrid and v2 alike. Cases a layout cannot do skip with
// the reason.
func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		run  func(*testing.T, target)
	}{
		{"CreateJoinPids", testCreateJoinPids},
		{"CreateIdempotent", testCreateIdempotent},
		{"FreezeThaw", testFreezeThaw},
		{"Devices", testDevices},
		{"DeviceRuleOrder", testDeviceRuleOrder},
		{"Stats", testStats},
		{"MemoryOOM", testMemoryOOM},
		{"UpdateMemory", testUpdateMemory},
		{"PidsLimit", testPidsLimit},
		{"CPUQuota", testCPUQuota},
		{"InvalidBeforeWrite", testInvalidBeforeWrite},
		{"Kill", testKill},
		{"Explain", testExplain},
	}
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, tg) })
			}
		})
	}
}

// allocate2MB makes the shell hold 2MB, so the cgroup is charged memory.
const allocate2MB = `x=$(head -c 2000000 /dev/zero | tr '\0' a); `

func testCreateJoinPids(t *testing.T, tg target) {
	m := createManager(t, tg, nil)
	p := startInCgroup(t, m, "exec sleep 100")
	pid := p.cmd.Process.Pid
	ok := waitFor(2*time.Second, func() bool {
		pids, err := m.Pids()
		return err == nil && slices.Equal(pids, []int{pid})
	})
	if !ok {
		pids, err := m.Pids()
		t.Fatalf("Pids() = %v, %v; want [%d]", pids, err, pid)
	}
	// The kernel's own view: /proc/<pid>/cgroup names the cgroup.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), testCgroupPath(t)) {
		t.Errorf("/proc/%d/cgroup does not mention %s:\n%s", pid, testCgroupPath(t), b)
	}
}

func testCreateIdempotent(t *testing.T, tg target) {
	m := createManager(t, tg, nil)
	if err := m.Create(nil); err != nil {
		t.Fatalf("second Create: %v", err)
	}
	for _, p := range allDirs(m) {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			t.Errorf("cgroup dir %s missing after Create: %v", p, err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	dirs := allDirs(m)
	if len(dirs) == 0 {
		t.Fatal("manager reports no directories")
	}
	for _, p := range dirs {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Destroy (stat err %v)", p, err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("Destroy of a removed cgroup: %v, want nil", err)
	}
}

func testFreezeThaw(t *testing.T, tg target) {
	m := createManager(t, tg, nil)
	p := startInCgroup(t, m, "while :; do :; done")
	pid := p.cmd.Process.Pid
	if st, err := m.FreezerState(); err != nil || st != Thawed {
		t.Fatalf("FreezerState before Freeze = %q, %v; want thawed", st, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if st, err := m.FreezerState(); err != nil || st != Frozen {
		t.Fatalf("FreezerState after Freeze = %q, %v; want frozen", st, err)
	}
	state, before := procStat(t, pid)
	time.Sleep(300 * time.Millisecond)
	_, after := procStat(t, pid)
	if state == "R" || after != before {
		t.Errorf("frozen busy loop: state %s, cpu ticks %d -> %d; want not running and no cpu used", state, before, after)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if st, err := m.FreezerState(); err != nil || st != Thawed {
		t.Fatalf("FreezerState after Thaw = %q, %v; want thawed", st, err)
	}
	if !waitFor(3*time.Second, func() bool { _, now := procStat(t, pid); return now > after }) {
		t.Errorf("thawed busy loop used no cpu")
	}
}

func testDevices(t *testing.T, tg target) {
	if v1, ok := createProbe(t, tg).(*v1Manager); ok && v1.Path("devices") == "" {
		t.Skip("no v1 devices controller mounted")
	}
	null, zero := int64(3), int64(5)
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: &zero, Access: "rw"},
	}
	m := createManager(t, tg, &specs.LinuxResources{Devices: rules})
	script := "if echo x > /dev/null; then echo null-ok; else echo null-denied; fi; " +
		"if head -c 1 /dev/zero > /tmp/kago-cg-zero-$$; then echo zero-ok; else echo zero-denied; fi; rm -f /tmp/kago-cg-zero-$$"
	p := startInCgroup(t, m, script)
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Fatalf("script: %v, stderr %s", err, p.stderr.String())
	}
	if got := p.stdout.String(); got != "null-denied\nzero-ok\n" {
		t.Errorf("with /dev/null denied: output %q, want null-denied then zero-ok (stderr %q)", got, p.stderr.String())
	}

	// Update replaces the rules of the live cgroup.
	rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: &null, Access: "rwm"})
	if err := m.Update(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatalf("Update devices: %v", err)
	}
	p = startInCgroup(t, m, script)
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Fatalf("script: %v", err)
	}
	if got := p.stdout.String(); got != "null-ok\nzero-ok\n" {
		t.Errorf("after Update allowing /dev/null: output %q, want null-ok then zero-ok (stderr %q)", got, p.stderr.String())
	}
	if v2, ok := m.(*v2Manager); ok {
		fd, err := unix.Open(v2.dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		res, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Programs) != 1 {
			t.Errorf("%d device programs attached after Update, want 1 (the old one replaced)", len(res.Programs))
		}
	}
}

// testDeviceRuleOrder checks OCI semantics that the v2 program must
// reproduce: later rules override earlier ones, access letters are honoured
// one by one, and a deny of one letter wins over a broader earlier allow.
func testDeviceRuleOrder(t *testing.T, tg target) {
	if v1, ok := createProbe(t, tg).(*v1Manager); ok && v1.Path("devices") == "" {
		t.Skip("no v1 devices controller mounted")
	}
	null := ptr(int64(3))
	const script = "if cat /dev/null; then echo r-ok; else echo r-denied; fi; " +
		"if echo x > /dev/null; then echo w-ok; else echo w-denied; fi"
	cases := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{"read-only allow", []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: null, Access: "r"},
		}, "r-ok\nw-denied\n"},
		{"deny write after allow all", []specs.LinuxDeviceCgroup{
			{Allow: true, Access: "rwm"},
			{Allow: false, Type: "c", Major: ptr(int64(1)), Minor: null, Access: "w"},
		}, "r-ok\nw-denied\n"},
		{"wildcard minor", []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr(int64(1)), Access: "rw"},
		}, "r-ok\nw-ok\n"},
		{"block rule does not match char device", []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "b", Major: ptr(int64(1)), Minor: null, Access: "rwm"},
		}, "r-denied\nw-denied\n"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			m := createManager(t, tg, &specs.LinuxResources{Devices: c.rules})
			p := startInCgroup(t, m, script)
			if err := p.wait(t, 10*time.Second); err != nil {
				t.Fatalf("script: %v", err)
			}
			if got := p.stdout.String(); got != c.want {
				t.Errorf("output %q, want %q", got, c.want)
			}
		})
	}
}

// createProbe returns a manager for the test path without creating it, to
// ask what the layout offers.
func createProbe(t *testing.T, tg target) Manager {
	return tg.make(t, testCgroupPath(t))
}

func testStats(t *testing.T, tg target) {
	var res *specs.LinuxResources
	if has(createProbe(t, tg), "pids") {
		res = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(50))}}
	}
	m := createManager(t, tg, res)
	startInCgroup(t, m, allocate2MB+"i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 100")
	var s *Stats
	ok := waitFor(5*time.Second, func() bool {
		var err error
		s, err = m.Stats()
		return err == nil && s.CPU.Usage.Total > 10_000_000 && // 10ms
			(!has(m, "memory") || s.Memory.Usage.Usage > 0) &&
			(!has(m, "pids") || s.Pids.Current == 1) // the allocating pipeline is over
	})
	if !ok {
		t.Fatalf("Stats: cpu usage %+v, memory %d after a busy loop allocating 2MB, want > 10ms and > 0", s.CPU.Usage, s.Memory.Usage.Usage)
	}
	if s.CPU.Usage.User+s.CPU.Usage.Kernel == 0 || s.CPU.Usage.Total > uint64(time.Minute) {
		t.Errorf("cpu usage %+v is not plausible", s.CPU.Usage)
	}
	if has(m, "memory") {
		if s.Memory.Usage.Usage == 0 || s.Memory.Usage.Usage > 1<<30 {
			t.Errorf("memory usage %d is not plausible for one shell", s.Memory.Usage.Usage)
		}
		if len(s.Memory.Raw) == 0 {
			t.Errorf("memory.stat not read: raw is empty")
		}
	}
	if has(m, "pids") {
		if s.Pids.Current != 1 || s.Pids.Limit != 50 {
			t.Errorf("pids %+v, want current 1 limit 50", s.Pids)
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatalf("Stats JSON %s: %v", b, err)
	}
	if _, ok := generic["cpu"]["usage"]; !ok {
		t.Errorf("Stats JSON lacks cpu.usage as runc prints it: %s", b)
	}
}

func testMemoryOOM(t *testing.T, tg target) {
	if !has(createProbe(t, tg), "memory") {
		t.Skipf("%s: no memory controller here (a hybrid host's unified tree has none)", tg.name)
	}
	const limit = 32 << 20
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(limit))}}
	m := createManager(t, tg, res)
	if _, isV1 := m.(*v1Manager); isV1 && fileExists(m.Path("memory"), "memory.memsw.limit_in_bytes") {
		// Without a memsw limit the kernel could swap instead of killing.
		if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(limit)), Swap: ptr(int64(limit))}}); err != nil {
			t.Fatalf("set swap: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ooms, err := m.WaitOOM(ctx)
	if err != nil {
		t.Fatalf("WaitOOM: %v", err)
	}
	before, err := m.OOMKillCount()
	if err != nil {
		t.Fatalf("OOMKillCount: %v", err)
	}
	// dd's buffer is 128MB and is filled from /dev/zero: well past the limit.
	p := startInCgroup(t, m, "exec dd if=/dev/zero of=/dev/null bs=128M count=1")
	err = p.wait(t, 30*time.Second)
	if sig := exitSignal(err); sig != syscall.SIGKILL {
		t.Fatalf("dd past the memory limit ended with %v (signal %v), want SIGKILL by the OOM killer; stderr %s", err, sig, p.stderr.String())
	}
	select {
	case <-ooms:
	case <-time.After(5 * time.Second):
		t.Errorf("WaitOOM channel got nothing after an OOM kill")
	}
	after, err := m.OOMKillCount()
	if err != nil || after <= before {
		t.Errorf("OOMKillCount = %d, %v after an OOM kill; was %d", after, err, before)
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy after OOM kill: %v", err)
	}
	for _, p := range allDirs(m) {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s remains after Destroy", p)
		}
	}
	wantClosed(t, ooms, "the cgroup was removed")
}

func testUpdateMemory(t *testing.T, tg target) {
	if !has(createProbe(t, tg), "memory") {
		t.Skipf("%s: no memory controller here", tg.name)
	}
	m := createManager(t, tg, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}})
	startInCgroup(t, m, allocate2MB+"sleep 100")
	limit := func() uint64 {
		s, err := m.Stats()
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		return s.Memory.Usage.Limit
	}
	if got := limit(); got != 64<<20 {
		t.Fatalf("limit after Create = %d, want %d", got, 64<<20)
	}
	if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(48 << 20))}}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := limit(); got != 48<<20 {
		t.Errorf("limit after Update = %d, want %d", got, 48<<20)
	}
	// nil fields are left alone.
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{}}); err != nil {
		t.Fatalf("Update without memory: %v", err)
	}
	if got := limit(); got != 48<<20 {
		t.Errorf("limit after an Update without memory = %d, want it unchanged at %d", got, 48<<20)
	}
	// checkBeforeUpdate refuses a limit below current usage.
	waitFor(5*time.Second, func() bool { s, err := m.Stats(); return err == nil && s.Memory.Usage.Usage > 1<<20 })
	err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(4096)), CheckBeforeUpdate: ptr(true)}})
	if err == nil || !strings.Contains(err.Error(), "current usage") {
		t.Errorf("Update to 4096 bytes with checkBeforeUpdate: %v, want a usage error", err)
	}
}

func testPidsLimit(t *testing.T, tg target) {
	if !has(createProbe(t, tg), "pids") {
		t.Skipf("%s: no pids controller here", tg.name)
	}
	const limit = 8
	m := createManager(t, tg, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(limit))}})
	p := startInCgroup(t, m, "i=0; while [ $i -lt 30 ]; do sleep 100 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo spawned")
	_ = p.wait(t, 20*time.Second)
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) > limit || len(pids) < limit-2 {
		t.Errorf("%d processes in the cgroup after a fork loop of 30, want about %d (the limit)", len(pids), limit)
	}
	if !strings.Contains(p.stderr.String(), "fork") {
		t.Errorf("shell reported no fork failure; stderr %q", p.stderr.String())
	}
}

func testCPUQuota(t *testing.T, tg target) {
	if !has(createProbe(t, tg), "cpu") {
		t.Skipf("%s: no cpu controller here", tg.name)
	}
	m := createManager(t, tg, &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(20000)), Period: ptr(uint64(100000))}})
	startInCgroup(t, m, "while :; do :; done")
	time.Sleep(200 * time.Millisecond)
	s0, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(2 * time.Second)
	s1, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	share := float64(s1.CPU.Usage.Total-s0.CPU.Usage.Total) / float64(time.Since(start))
	// 0.2 CPU allowed. The upper bound is the limit plus slack for one
	// period's accounting; the lower bound only proves the loop ran, since
	// the machine is shared.
	if share > 0.3 || share < 0.02 {
		t.Errorf("busy loop under a 0.2 CPU quota used %.2f CPU, want about 0.2", share)
	}
	if s1.CPU.Throttling.ThrottledPeriods == 0 {
		t.Errorf("no throttled periods reported: %+v", s1.CPU.Throttling)
	}
}

func testInvalidBeforeWrite(t *testing.T, tg target) {
	m := createManager(t, tg, nil)
	bad := &specs.LinuxResources{
		Pids:   &specs.LinuxPids{Limit: ptr(int64(5))},
		Memory: &specs.LinuxMemory{Limit: ptr(int64(-5))},
	}
	err := m.Update(bad)
	if err == nil || !strings.Contains(err.Error(), "memory.limit") {
		t.Fatalf("Update with memory.limit -5: %v, want an error naming memory.limit", err)
	}
	if has(m, "pids") {
		s, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if s.Pids.Limit != 0 {
			t.Errorf("pids limit %d was written although the update was invalid", s.Pids.Limit)
		}
	}
}

// TestDevicesWithChildCgroup updates the device list of a cgroup that has a
// child cgroup, as a container running systemd would have: v1 refuses a
// whole-list "deny all" there, so the manager must still get the same result.
func TestDevicesWithChildCgroup(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			if v1, ok := createProbe(t, tg).(*v1Manager); ok && v1.Path("devices") == "" {
				t.Skip("no v1 devices controller mounted")
			}
			rules := []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
			}
			m := createManager(t, tg, &specs.LinuxResources{Devices: rules})
			for _, d := range allDirs(m) {
				if err := os.Mkdir(d+"/child", 0o755); err != nil {
					t.Fatal(err)
				}
			}
			rules[1].Access = "r"
			if err := m.Update(&specs.LinuxResources{Devices: rules}); err != nil {
				t.Fatalf("Update devices with a child cgroup: %v", err)
			}
			p := startInCgroup(t, m, "if echo x > /dev/null; then echo w-ok; else echo w-denied; fi")
			if err := p.wait(t, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if got := p.stdout.String(); got != "w-denied\n" {
				t.Errorf("write to /dev/null after narrowing to read-only: %q, want w-denied", got)
			}
		})
	}
}

func testKill(t *testing.T, tg target) {
	m := createManager(t, tg, nil)
	// A shell that keeps forking children, which would escape a naive
	// list-then-signal loop.
	startInCgroup(t, m, "while :; do sleep 100 </dev/null >/dev/null 2>&1 & sleep 0.01; done")
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) > 5 }) {
		t.Fatal("fork loop did not start")
	}
	if err := m.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if !waitFor(5*time.Second, func() bool { pids, err := m.Pids(); return err == nil && len(pids) == 0 }) {
		pids, _ := m.Pids()
		t.Fatalf("processes %v still in the cgroup after Kill", pids)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("Destroy after Kill: %v", err)
	}
}

// TestKillWithoutCgroupKill covers a pure v1 host, where Kill has no
// cgroup.kill and must freeze, signal and thaw.
func TestKillWithoutCgroupKill(t *testing.T) {
	tg := targets(t)[0]
	m := createManager(t, tg, nil)
	v1, ok := m.(*v1Manager)
	if !ok {
		t.Skip("host is not cgroup v1 or hybrid")
	}
	if v1.Path("freezer") == "" {
		t.Skip("no v1 freezer")
	}
	pureV1 := *v1
	pureV1.unified = nil
	startInCgroup(t, m, "while :; do sleep 100 </dev/null >/dev/null 2>&1 & sleep 0.01; done")
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) > 5 }) {
		t.Fatal("fork loop did not start")
	}
	if err := pureV1.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if !waitFor(5*time.Second, func() bool { pids, err := m.Pids(); return err == nil && len(pids) == 0 }) {
		pids, _ := m.Pids()
		t.Fatalf("processes %v still in the cgroup after Kill", pids)
	}
	if st, _ := m.FreezerState(); st != Thawed {
		t.Errorf("freezer state %q after Kill, want thawed", st)
	}
}
