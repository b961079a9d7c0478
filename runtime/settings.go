package runtime

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/numlist"
	"github.com/kago-run/kago/linux/ioprio"
	"github.com/kago-run/kago/linux/mempolicy"
	"github.com/kago-run/kago/linux/netdev"
	"github.com/kago-run/kago/linux/personality"
	"github.com/kago-run/kago/linux/sched"
)

// This file checks the runtime-spec 1.2/1.3 settings that each have a small
// package of their own, so a config kago cannot honour is refused at load
// time with the field named, never silently run without it.

// maxCPUs bounds CPU numbers in execCPUAffinity (the kernel's NR_CPUS limit).
const maxCPUs = 8192

// validateProcessSettings checks the per-process fields; `exec` checks them
// for its process.json too.
func validateProcessSettings(p *specs.Process) error {
	if _, err := sched.FromSpec(p.Scheduler); err != nil {
		return err
	}
	if p.IOPriority != nil {
		if _, err := ioprio.Value(p.IOPriority); err != nil {
			return err
		}
	}
	if c := p.ConsoleSize; c != nil && (c.Height > 0xffff || c.Width > 0xffff) {
		return fmt.Errorf("process.consoleSize %dx%d is larger than a terminal can be (65535x65535)", c.Width, c.Height)
	}
	if a := p.ExecCPUAffinity; a != nil {
		if _, err := cpuSet("process.execCPUAffinity.initial", a.Initial); err != nil {
			return err
		}
		if _, err := cpuSet("process.execCPUAffinity.final", a.Final); err != nil {
			return err
		}
	}
	return nil
}

// validateLinuxSettings checks the container-wide fields of linux.
func validateLinuxSettings(spec *specs.Spec) error {
	l := spec.Linux
	if l.Personality != nil {
		if _, err := personality.Value(l.Personality); err != nil {
			return err
		}
	}
	if _, err := mempolicy.Parse(l.MemoryPolicy); err != nil {
		return err
	}
	if err := netdev.Validate(l.NetDevices, l.Namespaces); err != nil {
		return err
	}
	if len(l.NetDevices) > 0 && os.Geteuid() != 0 {
		return errors.New("linux.netDevices needs root on the host (moving host interfaces): remove it for a rootless container")
	}
	if spec.Domainname != "" {
		hasUTS := false
		for _, ns := range l.Namespaces {
			hasUTS = hasUTS || ns.Type == specs.UTSNamespace
		}
		if !hasUTS {
			return errors.New("domainname is set but the container has no UTS namespace of its own: add {\"type\": \"uts\"} to linux.namespaces")
		}
	}
	if err := checkUnsupportedResources(l.Resources); err != nil {
		return err
	}
	return checkIntelRdt(l.IntelRdt)
}

// checkUnsupportedResources refuses the cgroup v1 settings today's kernels
// no longer have, which would otherwise be dropped without a word. Values
// that ask for nothing (0, useHierarchy true) pass. memory.kernel, which the
// spec lets a runtime ignore, gets runc's warning instead (warnIgnored).
func checkUnsupportedResources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m := r.Memory; m != nil {
		if m.UseHierarchy != nil && !*m.UseHierarchy {
			return errors.New("linux.resources.memory.useHierarchy false is not supported: Linux always accounts memory hierarchically (since 5.16); remove it")
		}
	}
	if b := r.BlockIO; b != nil {
		leaf := b.LeafWeight != nil && *b.LeafWeight != 0
		for _, d := range b.WeightDevice {
			leaf = leaf || d.LeafWeight != nil && *d.LeafWeight != 0
		}
		if leaf {
			return errors.New("linux.resources.blockIO leafWeight is not supported: it belonged to the CFQ I/O scheduler, which Linux removed in 5.0; remove it")
		}
	}
	return nil
}

// resctrlDir is where the kernel's resctrl filesystem is mounted.
const resctrlDir = "/sys/fs/resctrl"

// checkIntelRdt refuses linux.intelRdt: kago does not manage resctrl groups,
// and the message says whether this host could have them at all.
func checkIntelRdt(r *specs.LinuxIntelRdt) error {
	if r == nil {
		return nil
	}
	if _, err := os.Stat(resctrlDir + "/info"); err != nil {
		return fmt.Errorf("linux.intelRdt is set but this host has no Intel RDT (resctrl is not mounted at %s: the CPU or kernel lacks RDT): remove linux.intelRdt", resctrlDir)
	}
	return errors.New("linux.intelRdt is not supported by kago: remove linux.intelRdt (or run this container with runc)")
}

// cpuSet parses a CPU list for sched_setaffinity; nil for "".
func cpuSet(field, list string) (*unix.CPUSet, error) {
	m, err := numlist.Parse(list, maxCPUs)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", field, list, err)
	}
	if m.Count() == 0 {
		return nil, nil
	}
	var set unix.CPUSet
	for cpu := 0; cpu < len(m)*64; cpu++ {
		if m.Has(cpu) {
			if cpu >= len(set)*64 {
				return nil, fmt.Errorf("%s %q: CPU %d is above the %d this runtime can set", field, list, cpu, len(set)*64-1)
			}
			set.Set(cpu)
		}
	}
	return &set, nil
}

// setExecAffinity applies one half of process.execCPUAffinity to pid.
func setExecAffinity(pid int, field, list string) error {
	set, err := cpuSet(field, list)
	if err != nil || set == nil {
		return err
	}
	if err := unix.SchedSetaffinity(pid, set); err != nil {
		return fmt.Errorf("%s %q: sched_setaffinity: %w (are the CPUs online and in the container's cpuset?)", field, list, err)
	}
	return nil
}

// warnIgnored logs, as runc does, the setting kago accepts and ignores: a
// kernel memory limit, deprecated by the spec ("runtimes MAY ignore") and
// no longer enforced by Linux (5.16 removed it).
func (r *Runtime) warnIgnored(id string, res *specs.LinuxResources) {
	//lint:ignore SA1019 the deprecated field is read only to warn that it is ignored
	if res != nil && res.Memory != nil && res.Memory.Kernel != nil && *res.Memory.Kernel > 0 {
		r.Log.Warn("linux.resources.memory.kernel is ignored: Linux no longer limits kernel memory separately; use memory.limit", "id", id)
	}
}
