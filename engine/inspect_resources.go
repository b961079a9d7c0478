package engine

import (
	"strconv"

	"github.com/kago-run/kago/engine/containers"
)

// InspectContainer is Inspect with what the container's bundle holds: the
// limits in force (docker's HostConfig.Memory, MemorySwap, NanoCpus,
// CpuShares, PidsLimit; create and update keep them there) and the
// process's Config.Env, WorkingDir and User (as UID:GID).
func (e *Engine) InspectContainer(r *containers.Record) map[string]any {
	m := Inspect(r)
	hc, ok := m["HostConfig"].(map[string]any)
	if !ok {
		return m
	}
	hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["CpuShares"], hc["PidsLimit"] = int64(0), int64(0), int64(0), int64(0), int64(0)
	spec, err := readSpec(e.bundleConfig(r.ID))
	if err != nil {
		return m
	}
	if cfg, ok := m["Config"].(map[string]any); ok && spec.Process != nil {
		cfg["Env"], cfg["WorkingDir"] = spec.Process.Env, spec.Process.Cwd
		cfg["User"] = strconv.FormatUint(uint64(spec.Process.User.UID), 10) + ":" + strconv.FormatUint(uint64(spec.Process.User.GID), 10)
	}
	if spec.Linux.Resources == nil {
		return m
	}
	res := spec.Linux.Resources
	if mem := res.Memory; mem != nil {
		if mem.Limit != nil && *mem.Limit > 0 {
			hc["Memory"] = *mem.Limit
		}
		if mem.Swap != nil {
			hc["MemorySwap"] = *mem.Swap
		}
	}
	if cpu := res.CPU; cpu != nil {
		if cpu.Quota != nil && *cpu.Quota > 0 && cpu.Period != nil && *cpu.Period > 0 {
			hc["NanoCpus"] = *cpu.Quota * 1e9 / int64(*cpu.Period)
		}
		if cpu.Shares != nil {
			hc["CpuShares"] = int64(*cpu.Shares)
		}
	}
	if p := res.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		hc["PidsLimit"] = *p.Limit
	}
	return m
}
