package cgroups

import (
	"strconv"
	"strings"

	"github.com/kago-run/kago/linux/explain"
)

// Recorded is a Manager that reports, to an explain.Recorder, each cgroup
// directory it makes and each control file it writes, with the value, as it
// does them (kago-runc --explain). The cgroupfs managers and the systemd
// driver are.
type Recorded interface {
	SetRecorder(rec explain.Recorder)
}

// SetRecorder makes m report its steps to rec when m can; a nil rec turns
// reporting off (the default), which then costs a nil check per write.
func SetRecorder(m Manager, rec explain.Recorder) {
	if r, ok := m.(Recorded); ok {
		r.SetRecorder(rec)
	}
}

func (m *v2Manager) SetRecorder(rec explain.Recorder) { m.rec = rec }

func (m *v1Manager) SetRecorder(rec explain.Recorder) {
	m.rec = rec
	if m.unified != nil {
		m.unified.rec = rec
	}
}

// recordWrite records that value was written to the control file path. It
// is called after the write succeeded, so the account holds only what the
// kernel took; with rec nil it does nothing and allocates nothing.
func recordWrite(rec explain.Recorder, path, value string) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "cgroup", Call: "write", Path: path, Value: value, Why: writeWhy(path), Man: explain.ManCgroups})
}

// recordMkdir records the cgroup directories mkdirAll made (only those: a
// parent that was there already is not the container's doing).
func recordMkdir(rec explain.Recorder, made []string) {
	if rec == nil {
		return
	}
	for _, d := range made {
		rec.Record(explain.Step{Feature: "cgroup", Call: "mkdir", Path: d,
			Why: "a cgroup: a directory in a cgroup filesystem whose files limit and count what its processes use", Man: explain.ManCgroups})
	}
}

// recordDeviceFilter records the eBPF device program attached to a cgroup2
// directory, which replaces v1's devices.allow/deny files.
func recordDeviceFilter(rec explain.Recorder, dir string, insns, rules int) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "cgroup", Call: "bpf(BPF_PROG_ATTACH)", Path: dir,
		Value: "BPF_CGROUP_DEVICE program of " + strconv.Itoa(insns) + " instructions from " + strconv.Itoa(rules) + " device rules",
		Why:   "cgroup v2 has no devices files: a BPF program decides each open or mknod of a device node", Man: "bpf(2)"})
}

// writeWhy is one line on what a control file does, by its name.
func writeWhy(path string) string {
	name := path[strings.LastIndexByte(path, '/')+1:]
	switch name {
	case "cgroup.procs":
		return "move init (and so every process it starts) into the cgroup"
	case "cgroup.subtree_control":
		return "enable a controller for the cgroups below, so they get its files"
	case "memory.max", "memory.limit_in_bytes":
		return "the most memory the processes may use: past it the kernel reclaims, then OOM-kills"
	case "memory.swap.max", "memory.memsw.limit_in_bytes":
		return "the swap the processes may use (v1: memory plus swap)"
	case "memory.low", "memory.soft_limit_in_bytes":
		return "memory reservation: reclaimed last when the host runs short"
	case "pids.max":
		return "the most processes and threads: fork fails with EAGAIN past it"
	case "cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us":
		return "CPU bandwidth: so much CPU time per period"
	case "cpu.weight", "cpu.shares":
		return "relative CPU share when CPUs are busy"
	case "cpuset.cpus", "cpuset.mems":
		return "the CPUs and memory nodes the processes may run on"
	case "devices.allow", "devices.deny":
		return "device access rule: which device nodes may be opened or made"
	}
	return "a limit from linux.resources, written to its control file"
}
