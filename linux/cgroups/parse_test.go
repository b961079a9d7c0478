package cgroups

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Samples of the three layouts, trimmed from real hosts.
const (
	hybridProcCgroup = `9:name=systemd:/
8:pids:/
4:memory:/process_api/0b02
2:cpu,cpuacct:/user.slice
0::/
`
	hybridMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	v2ProcCgroup = "0::/user.slice/user-0.slice/session-1.scope\n"
	v2Mountinfo  = `25 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	// Inside a container with a private cgroup namespace the mount's root is
	// the container's cgroup.
	nsMountinfo = `25 21 0:22 /kubepods/pod1 /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw
`
)

func TestBuildLayoutHybrid(t *testing.T) {
	l, err := buildLayout(ModeHybrid, []byte(hybridProcCgroup), []byte(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if l.Unified == nil || l.Unified.Mountpoint != "/sys/fs/cgroup/unified" {
		t.Fatalf("unified = %+v, want /sys/fs/cgroup/unified", l.Unified)
	}
	if len(l.V1) != 4 {
		t.Fatalf("got %d v1 hierarchies, want 4: %+v", len(l.V1), l.V1)
	}
	m := newV1(l, "rel/c1")
	want := map[string]string{
		"memory":       "/sys/fs/cgroup/memory/process_api/0b02/rel/c1", // relative: under own cgroup
		"cpuacct":      "/sys/fs/cgroup/cpu,cpuacct/user.slice/rel/c1",  // co-mounted controllers share a dir
		"name=systemd": "/sys/fs/cgroup/systemd/rel/c1",
		"":             "/sys/fs/cgroup/unified/rel/c1",
		"freezer":      "", // not mounted
	}
	for c, w := range want {
		if got := m.Path(c); got != w {
			t.Errorf("Path(%q) = %q, want %q", c, got, w)
		}
	}
	abs := newV1(l, "/kago/c1")
	if got := abs.Path("memory"); got != "/sys/fs/cgroup/memory/kago/c1" {
		t.Errorf("absolute path: Path(memory) = %q", got)
	}
}

func TestBuildLayoutV2(t *testing.T) {
	l, err := buildLayout(ModeV2, []byte(v2ProcCgroup), []byte(v2Mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.V1) != 0 || l.Unified == nil {
		t.Fatalf("layout %+v", l)
	}
	if got := newV2(*l.Unified, "k/c").Path(""); got != "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope/k/c" {
		t.Errorf("relative v2 path = %q", got)
	}
	l, err = buildLayout(ModeV2, []byte("0::/kubepods/pod1/ctr\n"), []byte(nsMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if got := newV2(*l.Unified, "sub").Path(""); got != "/sys/fs/cgroup/ctr/sub" {
		t.Errorf("path below a bind-mounted subtree = %q, want /sys/fs/cgroup/ctr/sub", got)
	}
}

func TestBuildLayoutErrors(t *testing.T) {
	if _, err := buildLayout(ModeV2, []byte("1:memory:/\n"), []byte(v2Mountinfo)); err == nil {
		t.Error("v2 mode without a 0:: line: no error")
	}
	if _, err := buildLayout(ModeV1, []byte("0::/\n"), []byte(v2Mountinfo)); err == nil {
		t.Error("v1 mode with no v1 mount: no error")
	}
	for _, bad := range []string{"garbage", "x:memory:/", "1:memory:relative"} {
		if _, err := parseProcCgroup([]byte(bad)); err == nil {
			t.Errorf("parseProcCgroup(%q): no error", bad)
		}
	}
	if _, err := parseMountInfo([]byte("1 2 3 4 5 6 no separator\n")); err == nil {
		t.Error("mountinfo line without '-': no error")
	}
}

func TestMountinfoEscapes(t *testing.T) {
	mi, err := parseMountInfo([]byte(`41 31 0:38 / /mnt/my\040cgroup rw - cgroup2 cgroup2 rw` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if mi[0].Mountpoint != "/mnt/my cgroup" {
		t.Errorf("mountpoint %q, want the \\040 decoded to a space", mi[0].Mountpoint)
	}
}

func TestCleanCgroupsPath(t *testing.T) {
	good := map[[2]string]string{
		{"", "abc"}:          "/kago/abc",
		{"/a/b", "x"}:        "/a/b",
		{"a/b/", "x"}:        "a/b",
		{"/a//b/./c", "x"}:   "/a/b/c",
		{"foo..bar/c", "id"}: "foo..bar/c",
		// runc's cgroupfs driver takes a systemd path as one relative cgroup.
		{"system.slice:kago:abc", "x"}: "system.slice:kago:abc",
	}
	for in, want := range good {
		got, err := cleanCgroupsPath(in[0], in[1])
		if err != nil || got != want {
			t.Errorf("cleanCgroupsPath(%q, %q) = %q, %v; want %q", in[0], in[1], got, err, want)
		}
	}
	for _, in := range [][2]string{{"/a/../b", "x"}, {"..", "x"}, {"a/..", "x"}, {"", ""}, {"", "a/b"}, {"", ".."}, {"/", "x"}} {
		if got, err := cleanCgroupsPath(in[0], in[1]); err == nil {
			t.Errorf("cleanCgroupsPath(%q, %q) = %q, want an error", in[0], in[1], got)
		}
	}
	_, err := New("/kago/../etc", "x")
	if err == nil || !strings.Contains(err.Error(), "/kago/../etc") {
		t.Errorf("New with '..': error %v, want one naming the path", err)
	}
}

func TestValidateResources(t *testing.T) {
	bad := map[string]*specs.LinuxResources{
		"memory.limit":        {Memory: &specs.LinuxMemory{Limit: ptr(int64(-2))}},
		"memory.swap":         {Memory: &specs.LinuxMemory{Limit: ptr(int64(100 << 20)), Swap: ptr(int64(50 << 20))}},
		"memory.swappiness":   {Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(101))}},
		"cpu.quota":           {CPU: &specs.LinuxCPU{Quota: ptr(int64(-7))}},
		"cpu.period":          {CPU: &specs.LinuxCPU{Period: ptr(uint64(10))}},
		"cpu.shares":          {CPU: &specs.LinuxCPU{Shares: ptr(uint64(1))}},
		"cpu.cpus":            {CPU: &specs.LinuxCPU{Cpus: "0-3;rm"}},
		"pids.limit":          {Pids: &specs.LinuxPids{Limit: ptr(int64(-3))}},
		"blockIO.weight":      {BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(5000))}},
		"pageSize":            {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB"}}},
		"unified key":         {Unified: map[string]string{"../memory.max": "1"}},
		"device type":         {Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}},
		"device access":       {Devices: []specs.LinuxDeviceCgroup{{Access: "rwx"}}},
		"device number":       {Devices: []specs.LinuxDeviceCgroup{{Major: ptr(int64(-5))}}},
		"blockIO throttle":    {BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: -1}}}}},
		"managed by the runt": {Unified: map[string]string{"cgroup.procs": "1"}},
		"rdma device":         {Rdma: map[string]specs.LinuxRdma{"mlx4_0 hca_object": {}}},
		"interface name":      {Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "eth0 5\nlo"}}}},
	}
	for want, r := range bad {
		err := validateResources(r)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", want, err, want)
		}
	}
	ok := &specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: ptr(int64(-1)), Swap: ptr(int64(-1)), Swappiness: ptr(uint64(60))},
		CPU:            &specs.LinuxCPU{Quota: ptr(int64(-1)), Period: ptr(uint64(100000)), Shares: ptr(uint64(1024)), Cpus: "0-1,3", Mems: "0"},
		Pids:           &specs.LinuxPids{Limit: ptr(int64(-1))},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}},
		Unified:        map[string]string{"memory.high": "max"},
		Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	if err := validateResources(ok); err != nil {
		t.Errorf("valid resources rejected: %v", err)
	}
}

func TestCPUSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 2: 1, 1024: 100, 262144: 10000, 512: 0} {
		got := cpuSharesToWeight(shares)
		if shares == 512 {
			if got <= 1 || got >= 100 {
				t.Errorf("cpuSharesToWeight(512) = %d, want between 1 and 100", got)
			}
			continue
		}
		if got != want {
			t.Errorf("cpuSharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	prev := uint64(0)
	for s := uint64(2); s <= 262144; s += 97 {
		w := cpuSharesToWeight(s)
		if w < prev || w < 1 || w > 10000 {
			t.Fatalf("cpuSharesToWeight(%d) = %d: not monotonic within 1..10000 (prev %d)", s, w, prev)
		}
		prev = w
	}
	if got := blkioWeightToIOWeight(10); got != 1 {
		t.Errorf("blkio weight 10 -> %d, want 1", got)
	}
	if got := blkioWeightToIOWeight(1000); got != 10000 {
		t.Errorf("blkio weight 1000 -> %d, want 10000", got)
	}
}

func TestSwapV2(t *testing.T) {
	cases := []struct {
		swap, limit int64
		want        string
		err         bool
	}{
		{0, -1, "max", false},
		{-1, 100, "max", false},
		{300, 100, "200", false},
		{100, 100, "0", false},
		{50, 100, "", true},
		{300, 0, "", true},
	}
	for _, c := range cases {
		got, err := swapV2(c.swap, c.limit)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("swapV2(%d, %d) = %q, %v; want %q, error %v", c.swap, c.limit, got, err, c.want, c.err)
		}
	}
}

func TestV1DeviceLines(t *testing.T) {
	got := v1DeviceLines([]specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rw"},
		{Allow: true, Type: "a", Major: ptr(int64(136)), Access: "r"},
		{Allow: true, Type: "b", Major: ptr(int64(-1)), Minor: ptr(int64(-1))},
		{Allow: true, Type: "u", Major: ptr(int64(4)), Minor: ptr(int64(1)), Access: "rw"},
	})
	want := [][2]string{
		{"devices.deny", "a *:* rwm"},
		{"devices.allow", "c 1:3 rw"},
		{"devices.allow", "b 136:* r"},
		{"devices.allow", "c 136:* r"},
		{"devices.allow", "b *:* rwm"},
		{"devices.allow", "c 4:1 rw"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParseStatsFiles(t *testing.T) {
	kv := parseKeyValues("usage_usec 1500\nuser_usec 1000\nbogus\nnr_periods max\n")
	if kv["usage_usec"] != 1500 || kv["user_usec"] != 1000 || len(kv) != 3 {
		t.Errorf("parseKeyValues = %v", kv)
	}
	bytes, ios := parseIOStat("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\nbad line\n")
	if len(bytes) != 2 || bytes[0] != (BlkioEntry{Major: 8, Minor: 0, Op: "Read", Value: 4096}) || bytes[1].Value != 8192 {
		t.Errorf("io bytes = %+v", bytes)
	}
	if len(ios) != 2 || ios[1] != (BlkioEntry{Major: 8, Op: "Write", Value: 2}) {
		t.Errorf("io ops = %+v", ios)
	}
	for kb, want := range map[uint64]string{2048: "2MB", 1048576: "1GB", 64: "64KB"} {
		if got := hugePageName(kb); got != want {
			t.Errorf("hugePageName(%d) = %q, want %q", kb, got, want)
		}
	}
}

// TestStatsJSON pins the JSON names runc's `events --stats` uses.
func TestStatsJSON(t *testing.T) {
	s := Stats{CPU: CPU{Usage: CPUUsage{Total: 5, Percpu: []uint64{5}}, Throttling: Throttling{ThrottledPeriods: 1}},
		Memory: Memory{Usage: MemoryEntry{Usage: 7}, Raw: map[string]uint64{"cache": 1}},
		Pids:   Pids{Current: 1}, Blkio: Blkio{IoServiceBytesRecursive: []BlkioEntry{{Major: 8, Op: "Read", Value: 1}}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"cpu":{"usage":{"total":5,"percpu":[5],"kernel":0,"user":0}`, `"throttledPeriods":1`,
		`"memory":{"usage":{"limit":0,"usage":7,"failcnt":0}`, `"raw":{"cache":1}`, `"pids":{"current":1}`, `"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":1}]`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("Stats JSON %s lacks %s", b, key)
		}
	}
}

func TestDeviceFilterAssembles(t *testing.T) {
	insns, err := deviceFilter([]specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
		{Allow: false, Type: "b", Access: "w"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := insns.Marshal(new(strings.Builder), nativeEndian()); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	// The leading deny-all is a catch-all: nothing may follow it, and no
	// default is needed.
	last := insns[len(insns)-2]
	if last.OpCode.Class() != asm.ALU64Class && last.OpCode.Class() != asm.ALUClass || last.Constant != 0 {
		t.Errorf("program should end with the deny-all verdict, ends with %v", last)
	}
	if _, err := deviceFilter([]specs.LinuxDeviceCgroup{{Type: "q"}}); err == nil {
		t.Error("bad device type compiled without error")
	}
}

// TestNewOnThisHost checks New against the running kernel without creating
// anything: the mode matches the filesystem, absolute paths start at each
// tree's root, and relative ones sit under this process's own cgroup.
func TestNewOnThisHost(t *testing.T) {
	mode, err := Mode()
	if err != nil {
		t.Fatal(err)
	}
	if mode != ModeV1 && mode != ModeV2 && mode != ModeHybrid {
		t.Fatalf("Mode() = %q", mode)
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	groups, err := parseProcCgroup(own)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := New("kago-rel/c1", "")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := New("", "c1")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, g := range groups {
		c := ""
		if len(g.Controllers) > 0 {
			c = g.Controllers[0]
		}
		p := rel.Path(c)
		if p == "" {
			continue
		}
		if want := filepath.Join(g.Path, "kago-rel/c1"); !strings.HasSuffix(p, want) {
			t.Errorf("relative path for %q: %s, want it to end in %s", c, p, want)
		}
		if a := abs.Path(c); !strings.HasPrefix(a, "/sys/fs/cgroup/") || !strings.HasSuffix(a, "/kago/c1") {
			t.Errorf("default path for %q: %s, want <mount>/kago/c1", c, a)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("New created or found %s; it must not touch the filesystem", p)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no hierarchy of /proc/self/cgroup is known to the manager")
	}
}

func TestRdmaLines(t *testing.T) {
	got := rdmaLines(map[string]specs.LinuxRdma{
		"mlx5_1": {HcaObjects: ptr(uint32(100))},
		"mlx4_0": {HcaHandles: ptr(uint32(2)), HcaObjects: ptr(uint32(2000))},
		"empty":  {},
	})
	want := []string{"mlx4_0 hca_handle=2 hca_object=2000", "mlx5_1 hca_object=100"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rdmaLines = %q, want %q", got, want)
	}
}
