package systemd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/cgroups"
)

// completeCPUQuota returns res with the half of the CFS limit that an update
// leaves out (the quota when only the period changes, or the period when
// only the quota does) filled in from the cgroup's current values, as runc's
// update does. systemd keeps the quota as CPU time per second
// (CPUQuotaPerSecUSec): a new period sent alone would make systemd scale the
// quota per period, and a quota sent alone would be read against the default
// period, so the unit, the cgroup files and the recorded spec would part.
// res itself is not changed.
func (m *Manager) completeCPUQuota(res *specs.LinuxResources) (*specs.LinuxResources, error) {
	if res.CPU == nil {
		return res, nil
	}
	quota, period := value(res.CPU.Quota), value(res.CPU.Period)
	if (quota == 0) == (period == 0) {
		return res, nil // both given, or neither
	}
	curQuota, curPeriod, err := m.cpuQuota()
	if err != nil {
		return nil, err
	}
	cpu := *res.CPU
	if quota == 0 {
		cpu.Quota = &curQuota
	} else {
		cpu.Period = &curPeriod
	}
	out := *res
	out.CPU = &cpu
	return &out, nil
}

// cpuQuota reads the cgroup's CFS quota (-1 for no limit) and period: v2's
// cpu.max, or v1's cpu.cfs_quota_us and cpu.cfs_period_us.
func (m *Manager) cpuQuota() (quota int64, period uint64, err error) {
	if m.mode == cgroups.ModeV2 {
		data, err := os.ReadFile(filepath.Join(m.Path(""), "cpu.max"))
		if err != nil {
			return 0, 0, fmt.Errorf("read the CPU quota of systemd unit %s: %w", m.unit.Name, err)
		}
		q, p, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
		if q == "max" {
			q = "-1"
		}
		return parseQuota(m.unit.Name, "cpu.max", q, p)
	}
	dir := m.Path("cpu")
	q, qerr := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
	p, perr := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
	if dir == "" || qerr != nil || perr != nil {
		return 0, 0, fmt.Errorf("read the CPU quota of systemd unit %s in the v1 cpu controller (%q): quota %v, period %v", m.unit.Name, dir, qerr, perr)
	}
	return parseQuota(m.unit.Name, "cpu.cfs_quota_us and cpu.cfs_period_us", strings.TrimSpace(string(q)), strings.TrimSpace(string(p)))
}

func parseQuota(unit, files, q, p string) (int64, uint64, error) {
	quota, qerr := strconv.ParseInt(q, 10, 64)
	period, perr := strconv.ParseUint(p, 10, 64)
	if qerr != nil || perr != nil || period == 0 {
		return 0, 0, fmt.Errorf("systemd unit %s: %s hold quota %q and period %q, not numbers", unit, files, q, p)
	}
	return quota, period, nil
}
