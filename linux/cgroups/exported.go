package cgroups

import specs "github.com/opencontainers/runtime-spec/specs-go"

// These are for the systemd driver (package cgroups/systemd), which must
// agree with this package on what a limit means: it validates before asking
// systemd for anything, and gives systemd the same converted values that
// this package writes to the files.

// ValidateResources checks linux.resources as Create and Update do, without
// writing anything.
func ValidateResources(r *specs.LinuxResources) error { return validateResources(r) }

// CPUSharesToWeight is the cpu.shares to cgroup v2 cpu.weight conversion
// Create uses.
func CPUSharesToWeight(shares uint64) uint64 { return cpuSharesToWeight(shares) }

// BlkioWeightToIOWeight is the blkio weight to cgroup v2 io.weight
// conversion Create uses.
func BlkioWeightToIOWeight(w uint16) uint64 { return blkioWeightToIOWeight(w) }
