package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/linux/idmap"
	"github.com/kago-run/kago/linux/ioprio"
)

// Tests of the runtime-spec 1.2/1.3 settings (process.scheduler, ioPriority,
// linux.personality, memoryPolicy, timeOffsets, netDevices, id-mapped mounts):
// each reads the effect back from the kernel, from the host or from inside,
// and runs against runc too where the installed runc implements the field.

// peerRuntimes returns the runtimes to run a feature's test with: kago-runc
// ("") and, when runc is at least version since (the release that added
// feature), runc's path. runc is $KAGO_TEST_RUNC (say a newer runc built
// by `make peer-runc`), else the one on PATH. Each subtest makes its
// harness with peerHarness.
func peerRuntimes(t *testing.T, feature, since string) []string {
	t.Helper()
	testbundle.RequireRoot(t)
	bins := []string{""}
	bin := os.Getenv("KAGO_TEST_RUNC")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("runc"); err != nil {
			return bins
		}
	}
	out, _ := exec.Command(bin, "--version").Output()
	m := regexp.MustCompile(`runc version (\d+)\.(\d+)`).FindStringSubmatch(string(out))
	var want [2]int
	fmt.Sscanf(since, "%d.%d", &want[0], &want[1])
	if m == nil {
		return bins
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < want[0] || major == want[0] && minor < want[1] {
		t.Logf("runc %s.%s lacks %s (added in runc %s): checked on kago-runc only", m[1], m[2], feature, since)
		return bins
	}
	return append(bins, bin)
}

// peerHarness is newHarness for the runtime bin ("" is kago-runc).
func peerHarness(t *testing.T, bin string) *harness {
	h := newHarness(t)
	h.bin = bin
	return h
}

// name is how subtests call the runtime bin.
func name(bin string) string {
	if bin == "" {
		return "kago-runc"
	}
	return filepath.Base(bin)
}

// pidOf reads a pid file written by --pid-file.
func pidOf(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file %s: %q", path, data)
	}
	return pid
}

// hostSched reads a process's policy and nice value as the host sees them
// (chrt -p, and field 19 of /proc/PID/stat).
func hostSched(t *testing.T, pid int) (policy string, nice int) {
	t.Helper()
	out, err := exec.Command("chrt", "-p", strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		t.Fatalf("chrt -p %d: %v %s", pid, err, out)
	}
	if m := regexp.MustCompile(`policy: (\S+)`).FindStringSubmatch(string(out)); m != nil {
		policy = m[1]
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	nice, _ = strconv.Atoi(fields[16])
	return policy, nice
}

func TestSchedulerAndIOPriorityForInitAndExec(t *testing.T) {
	for _, bin := range peerRuntimes(t, "process.scheduler, ioPriority and execCPUAffinity", "1.3") {
		t.Run(name(bin), func(t *testing.T) {
			h := peerHarness(t, bin)
			b := bundle(t, []string{"sleep", "600"}, func(s *specs.Spec) {
				s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}
				s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}
			})
			pidFile := filepath.Join(t.TempDir(), "pid")
			id := h.detached(b, "--pid-file", pidFile)
			pid := pidOf(t, pidFile)
			if policy, nice := hostSched(t, pid); policy != "SCHED_BATCH" || nice != 7 {
				t.Errorf("init: chrt/stat report %s nice %d, want SCHED_BATCH nice 7", policy, nice)
			}
			if class, _, err := ioprio.Get(pid); err != nil || class != specs.IOPRIO_CLASS_IDLE {
				t.Errorf("init: ioprio_get says %s (%v), want IOPRIO_CLASS_IDLE", class, err)
			}
			if out, _ := exec.Command("ionice", "-p", strconv.Itoa(pid)).CombinedOutput(); !strings.Contains(string(out), "idle") {
				t.Errorf("init: ionice -p says %q, want idle", out)
			}
			// exec takes its own settings from process.json, as runc does.
			proc := *b.Spec.Process
			proc.Args = []string{"sleep", "600"}
			// Not a real-time policy: the container's cgroup v1 cpu
			// controller admits no real-time tasks without a budget
			// (linux/sched's tests cover SCHED_FIFO on the host).
			proc.Scheduler = &specs.Scheduler{Policy: specs.SchedIdle}
			proc.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 3}
			proc.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0-1", Final: "0"}
			procFile := filepath.Join(t.TempDir(), "process.json")
			data, _ := json.Marshal(proc)
			os.WriteFile(procFile, data, 0o644)
			execPid := filepath.Join(t.TempDir(), "exec.pid")
			h.must("exec", "--detach", "--pid-file", execPid, "--process", procFile, id)
			epid := pidOf(t, execPid)
			if policy, _ := hostSched(t, epid); policy != "SCHED_IDLE" {
				t.Errorf("exec: chrt -p says %s, want SCHED_IDLE", policy)
			}
			if class, level, err := ioprio.Get(epid); err != nil || class != specs.IOPRIO_CLASS_BE || level != 3 {
				t.Errorf("exec: ioprio_get says %s %d (%v), want IOPRIO_CLASS_BE 3", class, level, err)
			}
			var set unix.CPUSet
			if err := unix.SchedGetaffinity(epid, &set); err != nil || set.Count() != 1 || !set.IsSet(0) {
				t.Errorf("exec: CPU affinity has %d CPUs (%v), want execCPUAffinity.final 0 only", set.Count(), err)
			}
		})
	}
}

func TestPersonalityAndMemoryPolicy(t *testing.T) {
	if _, err := os.Stat("/proc/self/numa_maps"); err != nil {
		t.Skip("kernel without NUMA")
	}
	if goruntimeArch() != "amd64" {
		t.Skip("LINUX32 reads back as i686 on amd64 only")
	}
	for _, bin := range peerRuntimes(t, "linux.personality and linux.memoryPolicy", "1.4") {
		t.Run(name(bin), func(t *testing.T) {
			h := peerHarness(t, bin)
			const script = "cat /proc/self/personality; uname -m; head -1 /proc/self/numa_maps"
			b := bundle(t, []string{"sleep", "600"}, func(s *specs.Spec) {
				s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}}
				s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}
			})
			id := h.detached(b)
			// Container-wide settings: an exec'd process gets them too.
			out := h.must("exec", id, "sh", "-c", script)
			// LINUX32 with ADDR_NO_RANDOMIZE; runc ignores the flags (with
			// a warning), kago applies the kernel's.
			want := "00040008"
			if bin != "" {
				want = "00000008"
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || lines[0] != want || lines[1] != "i686" || !strings.Contains(lines[2], " bind=static:0 ") {
				t.Errorf("exec sees %q, want personality %s, uname i686, numa_maps bind=static:0", lines, want)
			}
			pid := h.state(id).InitProcessPid
			if p, _ := os.ReadFile(fmt.Sprintf("/proc/%d/personality", pid)); strings.TrimSpace(string(p)) != want {
				t.Errorf("init's /proc/PID/personality is %q, want %s", p, want)
			}
		})
	}
}

func TestTimeOffsets(t *testing.T) {
	for _, bin := range peerRuntimes(t, "linux.timeOffsets", "1.2") {
		t.Run(name(bin), func(t *testing.T) {
			h := peerHarness(t, bin)
			const mono, boot = 2 * 86400, 3 * 86400
			got := probeIn(t, h, []string{"monotonic", "boottime"}, func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
				s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: mono}, "boottime": {Secs: boot, Nanosecs: 5}}
			})
			var m, bt unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
			unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt)
			// The container ran a moment ago: its clocks are ahead by the
			// offsets, less the seconds since.
			for clock, d := range map[string]int64{"monotonic": int64(got["monotonic"]) - m.Sec - mono, "boottime": int64(got["boottime"]) - bt.Sec - boot} {
				if d < -30 || d > 1 {
					t.Errorf("CLOCK_%s inside is %ds off the host's plus its offset", strings.ToUpper(clock), d)
				}
			}
		})
	}
}

func TestNetDevicesMovedRenamedAndUp(t *testing.T) {
	for _, bin := range peerRuntimes(t, "linux.netDevices", "1.3") {
		t.Run(name(bin), func(t *testing.T) {
			h := peerHarness(t, bin)
			// A dummy interface named with the tag kr6, or a veth end where
			// the kernel lacks the dummy driver.
			if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "kr6rn0"}}); err != nil {
				veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "kr6rn0"}, PeerName: "kr6rn0p"}
				if err := netlink.LinkAdd(veth); err != nil {
					t.Fatalf("add a dummy or veth interface: %v", err)
				}
			}
			t.Cleanup(func() {
				for _, n := range []string{"kr6rn0", "kr6rn0p"} {
					if l, err := netlink.LinkByName(n); err == nil {
						netlink.LinkDel(l)
					}
				}
			})
			link, _ := netlink.LinkByName("kr6rn0")
			addr, _ := netlink.ParseAddr("10.216.7.1/24")
			if err := netlink.AddrAdd(link, addr); err != nil {
				t.Fatal(err)
			}
			b := bundle(t, []string{"sleep", "600"}, func(s *specs.Spec) {
				s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"kr6rn0": {Name: "eth7"}}
			})
			id := h.detached(b)
			if _, err := netlink.LinkByName("kr6rn0"); err == nil {
				t.Error("kr6rn0 is still on the host")
			}
			out := h.must("exec", id, "sh", "-c", "ip -o addr show eth7; ip -o link show eth7")
			if !strings.Contains(out, "inet 10.216.7.1/24") || !strings.Contains(out, ",UP") {
				t.Errorf("eth7 in the container:\n%s\nwant address 10.216.7.1/24 and UP", out)
			}
			// The spec forbids moving it out: when the namespace dies the
			// kernel returns physical devices and destroys virtual ones.
			h.must("delete", "--force", id)
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, e1 := netlink.LinkByName("kr6rn0p")
				_, e2 := netlink.LinkByName("eth7")
				_, e3 := netlink.LinkByName("kr6rn0")
				if e1 != nil && e2 != nil && e3 != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the virtual interface outlived the container's network namespace")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// chownedSource makes a directory holding f, owned by host uid/gid 1000.
func chownedSource(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(f, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestIDMappedMounts(t *testing.T) {
	if !idmap.Supported() {
		t.Skip("kernel without mount_setattr")
	}
	for _, bin := range peerRuntimes(t, "id-mapped mounts", "1.2") {
		t.Run(name(bin)+"/no userns", func(t *testing.T) {
			h := peerHarness(t, bin)
			src := chownedSource(t)
			out := h.mustRunIn(sh("stat -c '%u:%g' /mapped/f /plain/f"), func(s *specs.Spec) {
				s.Mounts = append(s.Mounts,
					specs.Mount{Destination: "/mapped", Source: src, Type: "bind", Options: []string{"rbind", "idmap"},
						UIDMappings: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 2000, Size: 1}},
						GIDMappings: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 3000, Size: 1}}},
					specs.Mount{Destination: "/plain", Source: src, Type: "bind", Options: []string{"rbind"}})
			})
			if got := strings.Fields(out); fmt.Sprint(got) != "[2000:3000 1000:1000]" {
				t.Errorf("owners seen inside %v, want [2000:3000 1000:1000]", got)
			}
		})
		t.Run(name(bin)+"/userns", func(t *testing.T) {
			h := peerHarness(t, bin)
			src := chownedSource(t)
			b := usernsBundle(t, sh("stat -c '%u:%g' /own/f /mapped/f /plain/f; touch /mapped/x 2>&1"), func(s *specs.Spec) {
				s.Mounts = append(s.Mounts,
					// idmap without mappings: the container's own.
					specs.Mount{Destination: "/own", Source: src, Type: "bind", Options: []string{"rbind", "idmap"}},
					specs.Mount{Destination: "/mapped", Source: src, Type: "bind", Options: []string{"rbind", "ro", "idmap"},
						UIDMappings: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 101234, Size: 1}},
						GIDMappings: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 101234, Size: 1}}},
					specs.Mount{Destination: "/plain", Source: src, Type: "bind", Options: []string{"rbind"}})
			})
			r := h.runc("run", "--bundle", b.Dir, h.id())
			got := strings.Fields(r.stdout)
			if len(got) < 3 || fmt.Sprint(got[:3]) != "[1000:1000 1234:1234 65534:65534]" {
				t.Errorf("owners seen inside %v, want [1000:1000 1234:1234 65534:65534]\n%s", got, r)
			}
			if !strings.Contains(r.stdout, "Read-only file system") {
				t.Errorf("ro was not applied to the id-mapped mount:\n%s", r)
			}
		})
	}
	// features says what the kernel allows.
	var f struct {
		Linux struct {
			MountExtensions struct {
				IDMap struct{ Enabled *bool } `json:"idmap"`
			} `json:"mountExtensions"`
		} `json:"linux"`
	}
	h := newHarness(t)
	if err := json.Unmarshal([]byte(h.must("features")), &f); err != nil {
		t.Fatal(err)
	}
	if e := f.Linux.MountExtensions.IDMap.Enabled; e == nil || !*e {
		t.Errorf("features: mountExtensions.idmap.enabled is %v on a kernel with mount_setattr", e)
	}
}

// TestSpec13FieldsRefusedByName: what kago cannot do, or a value the kernel
// would refuse, fails create with one line naming the field, leaving
// nothing. A runc that has the fields refuses each too.
func TestSpec13FieldsRefusedByName(t *testing.T) {
	h := newHarness(t)
	var peer *harness
	if bins := peerRuntimes(t, "the runtime-spec 1.3 fields", "1.4"); len(bins) > 1 {
		peer = peerHarness(t, bins[1])
	}
	// What runc takes and drops without a word.
	runcAccepts := map[string]bool{"memory useHierarchy false": true}
	for name, tc := range map[string]struct {
		edit func(*specs.Spec)
		want string
	}{
		"intelRdt without resctrl": {func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "kr6"} }, "linux.intelRdt"},
		"timeOffsets without timens": {func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets"},
		"scheduler priority for batch": {func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Priority: 5}
		}, "process.scheduler.priority"},
		"ioPriority level": {func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 9}
		}, "process.ioPriority.priority"},
		"personality domain": {func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX64"} }, "linux.personality.domain"},
		"memoryPolicy offline node": {func(s *specs.Spec) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "1000"}
		}, "linux.memoryPolicy"},
		"netDevices missing on host": {func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"kr6none0": {}}
		}, "linux.netDevices"},
		"idmap on tmpfs": {func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"idmap"}})
		}, "only supported for bind mounts"},
		"idmap without userns": {func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"}})
		}, "mounts["},
		"execCPUAffinity": {func(s *specs.Spec) {
			s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "x"}
		}, "process.execCPUAffinity.initial"},
		"memory useHierarchy false": {func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{UseHierarchy: ptr(false)}
		}, "useHierarchy"},
		"blkio leaf weight": {func(s *specs.Spec) {
			s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{LeafWeight: ptr(uint16(500))}
		}, "leafWeight"},
		"domainname without uts": {func(s *specs.Spec) {
			s.Hostname, s.Domainname = "", "kr6"
			s.Linux.Namespaces = s.Linux.Namespaces[:2]
		}, "domainname"},
	} {
		t.Run(name, func(t *testing.T) {
			b := bundle(t, []string{"true"}, tc.edit)
			id := h.id()
			oneLine(t, name, h.runc("create", "--bundle", b.Dir, id), tc.want)
			assertNothingLeft(t, h, id)
			if peer != nil && !runcAccepts[name] {
				if r := peer.runc("create", "--bundle", b.Dir, peer.id()); r.code == 0 {
					t.Errorf("runc accepted it: %s", r)
				}
			}
		})
	}
}

// TestKernelMemoryWarned: memory.kernel is accepted and ignored with a
// warning, as runc 1.2+ does (the spec lets runtimes ignore it; Linux 5.16
// removed kernel memory limits), never silently.
func TestKernelMemoryWarned(t *testing.T) {
	for _, bin := range peerRuntimes(t, "the kernel memory warning", "1.2") {
		t.Run(name(bin), func(t *testing.T) {
			h := peerHarness(t, bin)
			r := h.runIn([]string{"true"}, func(s *specs.Spec) {
				//lint:ignore SA1019 the deprecated field is what this test sets
				s.Linux.Resources.Memory = &specs.LinuxMemory{Kernel: ptr(int64(64 << 20))}
			})
			if r.code != 0 || !strings.Contains(strings.ToLower(r.stderr), "kernel memory") || !strings.Contains(r.stderr, "warn") {
				t.Errorf("run with memory.kernel: want success with a warning about kernel memory, got %s", r)
			}
		})
	}
}
