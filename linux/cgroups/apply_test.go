package cgroups

import (
	"os"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// diskDevice returns "major:minor" of a real (non-loop, non-zram) disk.
func diskDevice(t *testing.T) (int64, int64, bool) {
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "loop") || strings.HasPrefix(e.Name(), "zram") || strings.HasPrefix(e.Name(), "ram") {
			continue
		}
		b, err := os.ReadFile("/sys/block/" + e.Name() + "/dev")
		if err != nil {
			continue
		}
		major, minor, ok := parseDevNum(strings.TrimSpace(string(b)))
		if ok {
			return int64(major), int64(minor), true
		}
	}
	return 0, 0, false
}

// TestApplyV1 sets every v1 knob the host has and reads back what the
// kernel accepted.
func TestApplyV1(t *testing.T) {
	tg := targets(t)[0]
	if _, ok := createProbe(t, tg).(*v1Manager); !ok {
		t.Skip("host is not cgroup v1 or hybrid")
	}
	res := &specs.LinuxResources{
		CPU: &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(200000)), Cpus: "0", Mems: "0"},
		Memory: &specs.LinuxMemory{Limit: ptr(int64(256 << 20)), Swap: ptr(int64(512 << 20)), Reservation: ptr(int64(128 << 20)),
			Swappiness: ptr(uint64(30)), DisableOOMKiller: ptr(true)},
		Pids: &specs.LinuxPids{Limit: ptr(int64(100))},
	}
	major, minor, haveDisk := diskDevice(t)
	if haveDisk {
		res.BlockIO = &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 1 << 20}}}
	}
	m := createManager(t, tg, res)
	want := []struct{ controller, file, value string }{
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "200000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"memory", "memory.limit_in_bytes", "268435456"},
		{"memory", "memory.memsw.limit_in_bytes", "536870912"},
		{"memory", "memory.soft_limit_in_bytes", "134217728"},
		{"memory", "memory.swappiness", "30"},
		{"pids", "pids.max", "100"},
	}
	if haveDisk {
		want = append(want, struct{ controller, file, value string }{"blkio", "blkio.throttle.read_bps_device", itoa64(major) + ":" + itoa64(minor) + " 1048576"})
	}
	check := func(when string) {
		t.Helper()
		for _, w := range want {
			dir := m.Path(w.controller)
			if dir == "" {
				continue
			}
			got, err := readFile(dir, w.file)
			if err != nil || got != w.value {
				t.Errorf("%s: %s = %q, %v; want %q", when, w.file, got, err, w.value)
			}
		}
	}
	check("after Create")

	// blkio weight needs CFQ (gone) or BFQ policy files in the cgroup.
	if dir := m.Path("blkio"); dir != "" && (fileExists(dir, "blkio.weight") || fileExists(dir, "blkio.bfq.weight")) {
		if err := m.Update(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500))}}); err != nil {
			t.Fatalf("Update blkio weight: %v", err)
		}
		f := "blkio.bfq.weight"
		if fileExists(dir, "blkio.weight") {
			f = "blkio.weight"
		}
		if got, err := readFile(dir, f); err != nil || got != "500" {
			t.Errorf("%s = %q, %v; want 500", f, got, err)
		}
	}
	if dir := m.Path("memory"); dir != "" {
		if kv, _ := readKeyValues(dir, "memory.oom_control"); kv["oom_kill_disable"] != 1 {
			t.Errorf("oom_kill_disable = %d, want 1", kv["oom_kill_disable"])
		}
	}

	// Update: raise memory above the old memsw limit (needs the swap write
	// first), lift the quota, change only the period, lift pids.
	upd := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 30)), Swap: ptr(int64(2 << 30))},
		CPU:    &specs.LinuxCPU{Quota: ptr(int64(-1)), Period: ptr(uint64(100000))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(-1))},
	}
	if err := m.Update(upd); err != nil {
		t.Fatalf("Update: %v", err)
	}
	want = []struct{ controller, file, value string }{
		{"memory", "memory.limit_in_bytes", "1073741824"},
		{"memory", "memory.memsw.limit_in_bytes", "2147483648"},
		{"memory", "memory.swappiness", "30"}, // untouched
		{"cpu", "cpu.cfs_quota_us", "-1"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.shares", "512"}, // untouched
		{"pids", "pids.max", "max"},
	}
	check("after Update")

	// And back down: memory below the current memsw goes first.
	if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(64 << 20))}}); err != nil {
		t.Fatalf("Update down: %v", err)
	}
	want = []struct{ controller, file, value string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.memsw.limit_in_bytes", "67108864"},
	}
	check("after lowering")

	for field, r := range map[string]*specs.LinuxResources{
		"cgroup v2": {Unified: map[string]string{"memory.high": "1"}},
		"hugetlb":   {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}},
		"net_cls":   {Network: &specs.LinuxNetwork{ClassID: ptr(uint32(0x100001))}},
		"rdma":      {Rdma: map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: ptr(uint32(1))}}},
	} {
		if field != "cgroup v2" && m.Path(field) != "" {
			continue
		}
		if err := m.Update(r); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Update needing %s on this host: %v, want an error naming it", field, err)
		}
	}
}

// TestApplyUnifiedKeys writes linux.resources.unified on a cgroup2 tree. On a
// hybrid host the unified tree has no controllers, but its core files
// (cgroup.max.depth) still take values.
func TestApplyUnifiedKeys(t *testing.T) {
	var tg *target
	for _, x := range targets(t) {
		if _, ok := createProbe(t, x).(*v2Manager); ok {
			tg = &x
			break
		}
	}
	if tg == nil {
		t.Skip("no cgroup2 tree on this host")
	}
	m := createManager(t, *tg, &specs.LinuxResources{Unified: map[string]string{"cgroup.max.depth": "3"}})
	if got, err := readFile(m.Path(""), "cgroup.max.depth"); err != nil || got != "3" {
		t.Errorf("cgroup.max.depth = %q, %v; want 3", got, err)
	}
	err := m.Update(&specs.LinuxResources{Unified: map[string]string{"../cgroup.max.depth": "1"}})
	if err == nil || !strings.Contains(err.Error(), "../cgroup.max.depth") {
		t.Errorf("unified key with '..': %v, want it rejected by name", err)
	}
	if !has(m, "memory") {
		err := m.Update(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1000000"}})
		if err == nil || !strings.Contains(err.Error(), `"memory" controller is not available`) {
			t.Errorf("memory.high without a memory controller: %v, want a clear error", err)
		}
	}
}

func itoa64(v int64) string { return strconv.FormatInt(v, 10) }

// TestHugetlbV2 limits huge pages through a cgroup2 tree. It needs a
// controller on cgroup2: on a hybrid host hugetlb is often there because no
// v1 tree claims it. Create enables it in the parents' subtree_control
// (createManager puts the tree root's back afterwards).
func TestHugetlbV2(t *testing.T) {
	var tg *target
	for _, x := range targets(t) {
		if v2, ok := createProbe(t, x).(*v2Manager); ok {
			if s, err := readFile(v2.mount, "cgroup.controllers"); err == nil && contains(strings.Fields(s), "hugetlb") {
				tg = &x
			}
		}
	}
	sizes := hugePageSizes()
	if tg == nil || !contains(sizes, "2MB") {
		t.Skip("no hugetlb controller on a cgroup2 tree, or no 2MB huge pages")
	}
	m := createManager(t, *tg, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}})
	if got, err := readFile(m.Path(""), "hugetlb.2MB.max"); err != nil || got != "4194304" {
		t.Errorf("hugetlb.2MB.max = %q, %v; want 4194304", got, err)
	}
	if fileExists(m.Path(""), "hugetlb.2MB.rsvd.max") {
		if got, _ := readFile(m.Path(""), "hugetlb.2MB.rsvd.max"); got != "4194304" {
			t.Errorf("hugetlb.2MB.rsvd.max = %q, want the reservation limited too", got)
		}
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := s.Hugetlb["2MB"]; !ok || h.Max != 4<<20 {
		t.Errorf("Stats hugetlb = %+v, want 2MB with max 4MB", s.Hugetlb)
	}
}
