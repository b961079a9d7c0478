package cgroups

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestV2Translation checks which cgroup2 files get which values for a full
// set of resources. It runs against a plain directory of empty files, so it
// shows the mapping only, not that the kernel accepts it: the kernel-backed
// checks are the conformance suite, which on a hybrid host has no cgroup2
// memory, cpu, pids or io controller to try these on.
func TestV2Translation(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c")
	files := map[string]string{
		"memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "memory.current": "0",
		"cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0",
		"cpuset.cpus": "", "cpuset.mems": "", "pids.max": "max", "io.weight": "default 100", "io.max": "",
		"hugetlb.2MB.max": "max", "memory.high": "max", "rdma.max": "",
	}
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids io\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("cpu memory pids io\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := newV2(hierarchy{Mountpoint: root, Root: "/", Self: "/"}, "/c")
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(100 << 20)), Swap: ptr(int64(300 << 20)), Reservation: ptr(int64(50 << 20))},
		CPU: &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(50000)), Burst: ptr(uint64(1000)), Idle: ptr(int64(1)),
			Cpus: "0-1", Mems: "0"},
		Pids: &specs.LinuxPids{Limit: ptr(int64(42))},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(1000)),
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 10}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Unified:        map[string]string{"memory.high": "90000000"},
		Rdma:           map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: ptr(uint32(2))}},
	}
	if err := m.Create(res); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"memory.max":      "104857600",
		"memory.swap.max": "209715200", // swap alone: 300M total - 100M memory
		"memory.low":      "52428800",
		"cpu.weight":      "100", // shares 1024 -> weight 100
		"cpu.max":         "50000 100000",
		"cpu.max.burst":   "1000",
		"cpu.idle":        "1",
		"cpuset.cpus":     "0-1",
		"cpuset.mems":     "0",
		"pids.max":        "42",
		"io.weight":       "default 10000",
		"io.max":          "8:0 wiops=10",
		"hugetlb.2MB.max": "4194304",
		"memory.high":     "90000000",
		"rdma.max":        "mlx4_0 hca_handle=2",
	}
	check := func(when string) {
		t.Helper()
		for f, w := range want {
			if got, _ := readFile(dir, f); got != w {
				t.Errorf("%s: %s = %q, want %q", when, f, got, w)
			}
		}
	}
	check("Create")

	// Update keeps what it is not given: a new period keeps the quota, and
	// swap alone is computed against the memory.max in force.
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr(uint64(200000))},
		Memory: &specs.LinuxMemory{Swap: ptr(int64(150 << 20))}}); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"cpu.max": "50000 200000", "memory.swap.max": "52428800", "memory.max": "104857600", "pids.max": "42"}
	check("Update")
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(-1))}, Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))},
		Pids: &specs.LinuxPids{Limit: ptr(int64(0))}}); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"cpu.max": "max 200000", "memory.max": "max", "memory.swap.max": "max", "pids.max": "max"}
	check("Update to unlimited")
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(int64(100))}}); err == nil {
		t.Error("realtime on v2: no error")
	}
}

// TestV2StatsTranslation reads a cgroup2 directory's counters into Stats,
// with runc's units (nanoseconds) and memory+swap convention.
func TestV2StatsTranslation(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"cpu.stat":            "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 500\n",
		"memory.current":      "1048576\n",
		"memory.max":          "max\n",
		"memory.peak":         "2097152\n",
		"memory.events":       "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n",
		"memory.swap.current": "4096\n",
		"memory.swap.max":     "max\n",
		"memory.stat":         "anon 1000\nfile 2000\nkernel 300\n",
		"pids.current":        "3\n",
		"pids.max":            "max\n",
		"io.stat":             "254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
	}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := &v2Manager{mount: filepath.Dir(dir), dir: dir}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU.Usage.Total != 3_000_000 || s.CPU.Usage.User != 2_000_000 || s.CPU.Usage.Kernel != 1_000_000 {
		t.Errorf("cpu usage %+v, want microseconds turned into nanoseconds", s.CPU.Usage)
	}
	if s.CPU.Throttling != (Throttling{Periods: 10, ThrottledPeriods: 4, ThrottledTime: 500_000}) {
		t.Errorf("throttling %+v", s.CPU.Throttling)
	}
	if s.Memory.Usage.Usage != 1<<20 || s.Memory.Usage.Max != 2<<20 || s.Memory.Usage.Failcnt != 7 || s.Memory.Cache != 2000 {
		t.Errorf("memory %+v", s.Memory)
	}
	if s.Memory.Swap.Usage != 1<<20+4096 {
		t.Errorf("swap usage %d, want memory+swap %d", s.Memory.Swap.Usage, 1<<20+4096)
	}
	if s.Pids != (Pids{Current: 3}) {
		t.Errorf("pids %+v, want current 3 and limit 0 for max", s.Pids)
	}
	if len(s.Blkio.IoServiceBytesRecursive) != 2 || s.Blkio.IoServiceBytesRecursive[1].Value != 20 {
		t.Errorf("io %+v", s.Blkio)
	}
	if n, err := m.OOMKillCount(); err != nil || n != 1 {
		t.Errorf("OOMKillCount = %d, %v; want 1", n, err)
	}
}

// TestV2WaitOOMWatch drives WaitOOM's inotify loop with regular files
// standing in for memory.events and cgroup.events (which change the same
// way: rewritten in place), since this host has no cgroup2 memory
// controller to OOM in.
func TestV2WaitOOMWatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	events := func(n string) {
		if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte("oom 0\noom_kill "+n+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	events("0")
	if err := os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 1\nfrozen 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &v2Manager{mount: filepath.Dir(dir), dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := m.WaitOOM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events("0") // a change that is not an OOM kill
	select {
	case <-ch:
		t.Fatal("event without an oom_kill rise")
	case <-time.After(200 * time.Millisecond):
	}
	events("1")
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no event after oom_kill rose")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, ch, "the cgroup went away")

	// An OOM kill that empties the cgroup: the kill is reported, then the
	// watch ends (on cgroupfs the rmdir that follows raises no event).
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	events("0")
	populated := func(v string) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated "+v+"\nfrozen 0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	populated("1")
	ch, err = m.WaitOOM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events("1")
	populated("0")
	select {
	case _, open := <-ch:
		if !open {
			t.Fatal("watch ended without reporting the OOM kill that emptied the cgroup")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after oom_kill rose")
	}
	wantClosed(t, ch, "the cgroup emptied (one OOM kill, one event)")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	// Cancelling the context ends a watch too.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	events("0")
	_ = os.WriteFile(filepath.Join(dir, "cgroup.events"), nil, 0o644)
	ctx2, cancel2 := context.WithCancel(context.Background())
	ch, err = m.WaitOOM(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	cancel2()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}
