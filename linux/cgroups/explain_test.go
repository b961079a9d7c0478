package cgroups

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/explain"
)

// testExplain: with a recorder, Create and Join report each directory made
// and each file written, in order, and each value is what the file then
// holds (the kernel's own answer, read back).
func testExplain(t *testing.T, tg target) {
	probe := createProbe(t, tg)
	if !has(probe, "memory") || !has(probe, "pids") {
		t.Skipf("%s: no memory and pids controllers here", tg.name)
	}
	rec := &explain.Log{}
	const limit = 64 << 20
	m := createRecorded(t, tg, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(limit))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(16))},
	}, rec)
	pid := startInCgroup(t, m, "exec sleep 100").cmd.Process.Pid
	steps := rec.Steps()
	leaves := allDirs(m)
	var made []string
	seen := map[string]int{}
	for _, s := range steps {
		if s.Feature != "cgroup" || s.Why == "" || s.Man != explain.ManCgroups {
			t.Errorf("step %+v: want feature cgroup, a why and cgroups(7)", s)
		}
		name := filepath.Base(s.Path)
		switch s.Call {
		case "mkdir":
			if fi, err := os.Stat(s.Path); err != nil || !fi.IsDir() {
				t.Errorf("mkdir step %s: %v", s.Path, err)
			}
			made = append(made, s.Path)
		case "write":
			data, err := os.ReadFile(s.Path)
			if err != nil {
				t.Errorf("write step %s: %v", s.Path, err)
				continue
			}
			got := strings.TrimSpace(string(data))
			switch name {
			case "cgroup.procs":
				if s.Value != strconv.Itoa(pid) || !slices.Contains(strings.Fields(got), s.Value) {
					t.Errorf("%s holds %q, the step wrote %q (want pid %d)", s.Path, got, s.Value, pid)
				}
			case "cgroup.subtree_control":
				if !slices.Contains(strings.Fields(got), strings.TrimPrefix(s.Value, "+")) {
					t.Errorf("%s holds %q, the step enabled %q", s.Path, got, s.Value)
				}
			default:
				if got != s.Value {
					t.Errorf("%s holds %q, the step wrote %q", s.Path, got, s.Value)
				}
			}
		default:
			t.Errorf("unexpected step %+v", s)
		}
		if _, ok := seen[name]; !ok {
			seen[name] = s.Step
		}
	}
	for _, leaf := range leaves {
		if !slices.Contains(made, leaf) {
			t.Errorf("no mkdir step for %s in %+v", leaf, steps)
		}
	}
	memFile := "memory.max"
	if _, ok := seen[memFile]; !ok {
		memFile = "memory.limit_in_bytes"
	}
	for _, f := range []string{memFile, "pids.max", "cgroup.procs"} {
		if seen[f] == 0 {
			t.Errorf("no write of %s in %+v", f, steps)
		}
	}
	if seen[memFile] > seen["cgroup.procs"] || len(made) == 0 || seen[filepath.Base(made[0])] > seen[memFile] {
		t.Errorf("want mkdir, then the limits, then cgroup.procs; got %+v", steps)
	}
}

// TestExplainOffCostsNothing: with explain off (a nil recorder) a write and
// a mkdir record nothing and allocate nothing.
func TestExplainOffCostsNothing(t *testing.T) {
	made := []string{"/sys/fs/cgroup/kago/x"}
	if n := testing.AllocsPerRun(1000, func() {
		recordWrite(nil, "/sys/fs/cgroup/kago/x/memory.max", "67108864")
		recordMkdir(nil, made)
		recordDeviceFilter(nil, "/sys/fs/cgroup/kago/x", 40, 10)
	}); n != 0 {
		t.Errorf("recording with explain off allocates %v times, want 0", n)
	}
}

func BenchmarkRecordWriteOff(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		recordWrite(nil, "/sys/fs/cgroup/kago/x/memory.max", "67108864")
	}
}
