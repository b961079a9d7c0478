package engine

import (
	"path/filepath"

	"github.com/kago-run/kago/engine/containers"
)

// InspectContainer is Inspect with the limits in force: docker's
// HostConfig.Memory, MemorySwap, NanoCpus, CpuShares and PidsLimit, read
// from the container's bundle, where create and update keep them.
func (e *Engine) InspectContainer(r *containers.Record) map[string]any {
	m := Inspect(r)
	hc, ok := m["HostConfig"].(map[string]any)
	if !ok {
		return m
	}
	hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["CpuShares"], hc["PidsLimit"] = int64(0), int64(0), int64(0), int64(0), int64(0)
	spec, err := readSpec(filepath.Join(e.containers.Dir(r.ID), "config.json"))
	if err != nil || spec.Linux.Resources == nil {
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
