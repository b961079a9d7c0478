package engine

import (
	"fmt"

	sdcgroup "github.com/kago-run/kago/linux/cgroups/systemd"
)

// The cgroup drivers Config.CgroupManager names.
const (
	CgroupManagerSystemd  = "systemd"
	CgroupManagerCgroupfs = "cgroupfs"
)

// CgroupManagerName is the driver in force: the config's, or podman's
// default (systemd where systemd is PID 1: a cgroup made behind systemd's
// back is neither accounted nor safe from its rewrites).
func (e *Engine) CgroupManagerName() string {
	if e.Config.CgroupManager != "" {
		return e.Config.CgroupManager
	}
	if sdcgroup.IsRunningSystemd() {
		return CgroupManagerSystemd
	}
	return CgroupManagerCgroupfs
}

// systemdCgroup checks the configured driver and says whether it is systemd.
func (e *Engine) systemdCgroup() (bool, error) {
	switch m := e.CgroupManagerName(); m {
	case CgroupManagerCgroupfs:
		return false, nil
	case CgroupManagerSystemd:
		if !sdcgroup.IsRunningSystemd() {
			return false, fmt.Errorf("%s: cgroup_manager %q needs systemd as PID 1, and this host's init is not systemd: set it to %q or remove it", e.configPath(), m, CgroupManagerCgroupfs)
		}
		return true, nil
	default:
		return false, fmt.Errorf("%s: cgroup_manager %q is not a cgroup driver: use %q or %q", e.configPath(), m, CgroupManagerSystemd, CgroupManagerCgroupfs)
	}
}

// RuntimeRoot is where the engine's runtime keeps its container state, for
// `kago info`.
func (e *Engine) RuntimeRoot() string { return e.runtime.Root }
