package cgroups

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Kernel bounds for the CFS bandwidth controller (kernel/sched/core.c).
const (
	minCFSPeriod = 1000    // 1ms
	maxCFSPeriod = 1000000 // 1s
	minCFSQuota  = 1000    // 1ms
)

var (
	pagesizeRe = regexp.MustCompile(`^[1-9][0-9]*[KMGT]B$`)
	cpuListRe  = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)
)

// validateResources checks every field before anything is written, so a bad
// spec never leaves a cgroup half-configured. Errors name the field and the
// accepted values.
func validateResources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m := r.Memory; m != nil {
		if err := checkLimit("memory.limit", m.Limit); err != nil {
			return err
		}
		if err := checkLimit("memory.reservation", m.Reservation); err != nil {
			return err
		}
		if err := checkLimit("memory.swap", m.Swap); err != nil {
			return err
		}
		if m.Limit != nil && m.Swap != nil && *m.Limit > 0 && *m.Swap > 0 && *m.Swap < *m.Limit {
			return fmt.Errorf("memory.swap %d is below memory.limit %d: swap is the memory+swap total and must be >= limit (or -1 for unlimited)", *m.Swap, *m.Limit)
		}
		if m.Swappiness != nil && *m.Swappiness > 100 {
			return fmt.Errorf("memory.swappiness %d is out of range: use 0 to 100", *m.Swappiness)
		}
		if err := checkLimit("memory.kernelTCP", m.KernelTCP); err != nil {
			return err
		}
	}
	if c := r.CPU; c != nil {
		if c.Quota != nil && *c.Quota != -1 && *c.Quota < minCFSQuota && *c.Quota != 0 {
			return fmt.Errorf("cpu.quota %d is invalid: use -1 for unlimited or at least %d microseconds", *c.Quota, minCFSQuota)
		}
		if c.Period != nil && *c.Period != 0 && (*c.Period < minCFSPeriod || *c.Period > maxCFSPeriod) {
			return fmt.Errorf("cpu.period %d is out of range: use %d to %d microseconds", *c.Period, minCFSPeriod, maxCFSPeriod)
		}
		if c.Shares != nil && *c.Shares != 0 && (*c.Shares < 2 || *c.Shares > 262144) {
			return fmt.Errorf("cpu.shares %d is out of range: use 2 to 262144", *c.Shares)
		}
		if c.Idle != nil && *c.Idle != 0 && *c.Idle != 1 {
			return fmt.Errorf("cpu.idle %d is invalid: use 0 or 1", *c.Idle)
		}
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime < -1 {
			return fmt.Errorf("cpu.realtimeRuntime %d is invalid: use -1 or a non-negative number of microseconds", *c.RealtimeRuntime)
		}
		if c.Cpus != "" && !cpuListRe.MatchString(c.Cpus) {
			return fmt.Errorf("cpu.cpus %q is not a CPU list like \"0-3,5\"", c.Cpus)
		}
		if c.Mems != "" && !cpuListRe.MatchString(c.Mems) {
			return fmt.Errorf("cpu.mems %q is not a node list like \"0-1\"", c.Mems)
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit < -1 {
		return fmt.Errorf("pids.limit %d is invalid: use -1 (or 0) for unlimited or a positive number", *p.Limit)
	}
	if b := r.BlockIO; b != nil {
		if err := checkWeight("blockIO.weight", b.Weight); err != nil {
			return err
		}
		for _, d := range b.WeightDevice {
			if err := checkDevNum("blockIO.weightDevice", d.Major, d.Minor); err != nil {
				return err
			}
			if err := checkWeight("blockIO.weightDevice.weight", d.Weight); err != nil {
				return err
			}
		}
		for _, t := range throttles(b) {
			for _, d := range t.devs {
				if err := checkDevNum("blockIO throttle device", d.Major, d.Minor); err != nil {
					return err
				}
			}
		}
	}
	for _, h := range r.HugepageLimits {
		if !pagesizeRe.MatchString(h.Pagesize) {
			return fmt.Errorf("hugepageLimits pageSize %q is invalid: use a size like 2MB or 1GB", h.Pagesize)
		}
	}
	for d := range r.Rdma {
		if err := checkRdmaDevice(d); err != nil {
			return err
		}
	}
	if r.Network != nil {
		for _, p := range r.Network.Priorities {
			if err := checkInterfaceName(p.Name); err != nil {
				return err
			}
		}
	}
	for k := range r.Unified {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
	}
	for i, d := range r.Devices {
		if err := checkDeviceRule(d); err != nil {
			return fmt.Errorf("devices[%d]: %w", i, err)
		}
	}
	return nil
}

func checkLimit(name string, v *int64) error {
	if v != nil && *v < -1 {
		return fmt.Errorf("%s %d is invalid: use -1 for unlimited or a positive number of bytes", name, *v)
	}
	return nil
}

func checkWeight(name string, w *uint16) error {
	if w != nil && *w != 0 && (*w < 10 || *w > 1000) {
		return fmt.Errorf("%s %d is out of range: use 10 to 1000", name, *w)
	}
	return nil
}

func checkDevNum(name string, major, minor int64) error {
	if major < 0 || minor < 0 || major > math.MaxUint32 || minor > math.MaxUint32 {
		return fmt.Errorf("%s %d:%d is not a valid major:minor device number", name, major, minor)
	}
	return nil
}

// checkUnifiedKey accepts only a plain cgroup2 file name like "memory.high":
// a "/" or ".." would let a spec write files outside the container's cgroup.
func checkUnifiedKey(k string) error {
	if k == "" || strings.Contains(k, "/") || strings.Contains(k, "..") || strings.ContainsRune(k, 0) {
		return fmt.Errorf("unified key %q is invalid: use a cgroup2 file name like \"memory.high\" (no '/' or '..')", k)
	}
	if !strings.Contains(k, ".") {
		return fmt.Errorf("unified key %q is not a cgroup2 file name: expected <controller>.<file>, like \"memory.high\"", k)
	}
	if k == "cgroup.procs" || k == "cgroup.threads" || k == "cgroup.subtree_control" {
		return fmt.Errorf("unified key %q is managed by the runtime, not by resources", k)
	}
	return nil
}

func checkDeviceRule(d specs.LinuxDeviceCgroup) error {
	switch d.Type {
	case "", "a", "b", "c", "u":
	default:
		return fmt.Errorf("device type %q is invalid: use a (all), b (block) or c (char); FIFOs (p) need no device rule", d.Type)
	}
	for _, c := range d.Access {
		if c != 'r' && c != 'w' && c != 'm' {
			return fmt.Errorf("device access %q is invalid: use letters from \"rwm\"", d.Access)
		}
	}
	for _, n := range []*int64{d.Major, d.Minor} {
		if n != nil && (*n < -1 || *n > math.MaxUint32) {
			return fmt.Errorf("device number %d is invalid: use -1 (any) or 0..%d", *n, uint32(math.MaxUint32))
		}
	}
	return nil
}

// cpuSharesToWeight converts cgroup v1 cpu.shares [2..262144] to cgroup v2
// cpu.weight [1..10000]. The peer kago follows is runc >= 1.3.2
// (opencontainers/cgroups ConvertCPUSharesToCgroupV2Value; crun >= 1.23 has
// the same curve): it maps the v1 default 1024 to the v2 default 100 and
// keeps both ends. runc 1.1 (Debian 12's) and crun < 1.23 used the linear
// 1 + (shares-2)*9999/262142, which makes 1024 shares weight 39, so a
// container with default shares got less CPU than its sibling cgroups.
// TestCPUWeightMatchesRunc compares with what runc (`make peer-runc`)
// writes on a cgroup v2 host.
func cpuSharesToWeight(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 0
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	exponent := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exponent)))
}

// blkioWeightToIOWeight converts a v1 blkio weight [10..1000] to a v2
// io.weight [1..10000], as runc does.
func blkioWeightToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}

// throttle is one of the four blockIO throttle lists with where it goes:
// a v1 file of its own, or a key of the v2 io.max line.
type throttle struct {
	v1File, v2Key string
	devs          []specs.LinuxThrottleDevice
}

func throttles(b *specs.LinuxBlockIO) []throttle {
	return []throttle{
		{"blkio.throttle.read_bps_device", "rbps", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", "wbps", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", "riops", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", "wiops", b.ThrottleWriteIOPSDevice},
	}
}

// applySteps runs one setter per controller, stopping at the first error so
// the caller learns which limit the kernel refused.
func applySteps(r *specs.LinuxResources, steps ...func(*specs.LinuxResources) error) error {
	for _, step := range steps {
		if err := step(r); err != nil {
			return err
		}
	}
	return nil
}
