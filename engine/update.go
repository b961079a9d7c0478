package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/runtime"
)

// UpdateRequest is docker update: the limits and restart policy to change
// on a container; nil leaves a setting as it is.
type UpdateRequest struct {
	// Memory is the memory limit in bytes; -1 removes it.
	Memory *int64
	// MemorySwap is memory plus swap in bytes, as docker's --memory-swap;
	// -1 is unlimited swap.
	MemorySwap *int64
	// NanoCPUs is --cpus in billionths of a CPU; 0 removes the quota.
	NanoCPUs *int64
	// CPUShares is the relative CPU weight (--cpu-shares, 2 to 262144).
	CPUShares *int64
	// PidsLimit is the most processes; 0 or -1 removes the limit.
	PidsLimit *int64
	// Restart replaces the restart policy.
	Restart *RestartPolicy
}

// cpuPeriod is the CFS period --cpus is a quota of, as docker's.
const cpuPeriod = 100000

// Update changes a container's limits and restart policy (docker update).
// Limits apply to a running container's cgroup at once and are written to
// its bundle, so every later start has them; a container that is not
// running gets them at its next start. What the kernel refuses (a memory
// limit below what the container uses now, say) fails before anything is
// stored.
func (e *Engine) Update(ref string, u UpdateRequest) (*containers.Record, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if u.Restart != nil {
		if err := validateRestart(*u.Restart); err != nil {
			return nil, err
		}
		if rec.AutoRemove && u.Restart.Name != "" && u.Restart.Name != RestartNo {
			return nil, fmt.Errorf("container %s was run with --rm: its restart policy cannot become %s", rec.Name, u.Restart.Name)
		}
	}
	// Under the record's lock, so two updates do not interleave; an error
	// leaves the record, the bundle and the cgroup as they were.
	return e.containers.Update(rec.ID, func(r *containers.Record) error {
		if err := e.updateResources(r, u); err != nil {
			return fmt.Errorf("update %s: %w", r.Name, err)
		}
		if u.Restart != nil {
			r.Restart = *u.Restart
			if r.Restart.Name == "" {
				r.Restart.Name = RestartNo
			}
		}
		return nil
	})
}

// updateResources applies the request's limits to the running container's
// cgroup and writes them to its bundle, which every start reads.
func (e *Engine) updateResources(rec *containers.Record, u UpdateRequest) error {
	bundle := e.bundleConfig(rec.ID)
	spec, err := readSpec(bundle)
	if err != nil {
		return err
	}
	res, err := u.resources(spec.Linux.Resources)
	if err != nil || res == nil {
		return err
	}
	if c, err := e.runtime.Load(rec.ID); err == nil && (c.Status() == runtime.StatusRunning || c.Status() == runtime.StatusPaused) {
		live := *res
		if res.Memory != nil && res.Memory.Limit != nil {
			// A limit below what the container uses now is refused rather
			// than met by the OOM killer.
			mem, check := *res.Memory, true
			mem.CheckBeforeUpdate, live.Memory = &check, &mem
		}
		if err := c.Update(&live); err != nil {
			return err
		}
	}
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	if err := runtime.MergeResources(spec.Linux.Resources, res); err != nil {
		return err
	}
	return writeJSON(bundle, spec)
}

// resources turns the request into the cgroup changes, checked against the
// limits in force (cur): docker's rules for memory and swap.
func (u UpdateRequest) resources(cur *specs.LinuxResources) (*specs.LinuxResources, error) {
	if u.Memory == nil && u.MemorySwap == nil && u.NanoCPUs == nil && u.CPUShares == nil && u.PidsLimit == nil {
		return nil, nil
	}
	res := &specs.LinuxResources{}
	var curMem, curSwap int64
	if cur != nil && cur.Memory != nil {
		if cur.Memory.Limit != nil {
			curMem = *cur.Memory.Limit
		}
		if cur.Memory.Swap != nil {
			curSwap = *cur.Memory.Swap
		}
	}
	mem, swap := curMem, curSwap
	if u.Memory != nil {
		switch m := *u.Memory; {
		case m == -1 || m == 0:
			mem = -1
		case m < minMemory:
			return nil, fmt.Errorf("--memory %d bytes is below the 6MiB minimum a container needs", m)
		default:
			mem = m
		}
		res.Memory = &specs.LinuxMemory{Limit: &mem}
	}
	if u.MemorySwap != nil {
		swap = *u.MemorySwap
		if swap < -1 || swap == 0 {
			return nil, fmt.Errorf("--memory-swap %d: use bytes of memory plus swap, or -1 for unlimited swap", swap)
		}
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		res.Memory.Swap = &swap
	}
	if mem == -1 && u.Memory != nil && swap > 0 && u.MemorySwap == nil {
		// No memory limit means no memory+swap limit either.
		swap = -1
		res.Memory.Swap = &swap
	}
	if swap > 0 && mem <= 0 {
		return nil, errors.New("--memory-swap needs a memory limit: give --memory too")
	}
	if swap > 0 && mem > swap {
		if u.MemorySwap == nil {
			return nil, fmt.Errorf("--memory %d is above the --memory-swap %d in force: give --memory-swap too", mem, swap)
		}
		return nil, fmt.Errorf("--memory-swap %d must not be below --memory %d", swap, mem)
	}
	if u.NanoCPUs != nil || u.CPUShares != nil {
		res.CPU = &specs.LinuxCPU{}
	}
	if u.NanoCPUs != nil {
		n := *u.NanoCPUs
		if err := (Resources{NanoCPUs: n}).validate(); err != nil {
			return nil, err
		}
		period, quota := uint64(cpuPeriod), int64(-1)
		if n > 0 {
			quota = n * cpuPeriod / 1e9
		}
		res.CPU.Period, res.CPU.Quota = &period, &quota
	}
	if u.CPUShares != nil {
		s := *u.CPUShares
		if s < 2 || s > 262144 {
			return nil, fmt.Errorf("--cpu-shares %d: use 2 to 262144 (1024 is the default weight)", s)
		}
		shares := uint64(s)
		res.CPU.Shares = &shares
	}
	if u.PidsLimit != nil {
		n := *u.PidsLimit
		if n < -1 {
			return nil, fmt.Errorf("--pids-limit %d: use a number of processes, or -1 for unlimited", n)
		}
		if n == 0 {
			n = -1
		}
		res.Pids = &specs.LinuxPids{Limit: &n}
	}
	return res, nil
}

// bundleConfig is the path of a container's OCI config (config.json in its
// bundle), which the engine writes at create and every start reads.
func (e *Engine) bundleConfig(id string) string {
	return filepath.Join(e.containers.Dir(id), "config.json")
}

func readSpec(path string) (*specs.Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read bundle config: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("bundle config %s is corrupt: %w", path, err)
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	return &spec, nil
}
