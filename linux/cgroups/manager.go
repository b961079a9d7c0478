package cgroups

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager is one container's cgroup, in whatever trees the host has.
type Manager interface {
	// Create makes the cgroup (and missing parents) in every tree and applies
	// res. Calling it again on an existing cgroup just re-applies res.
	Create(res *specs.LinuxResources) error
	// Join moves pid (a whole process, all its threads) into the cgroup.
	Join(pid int) error
	// Update changes limits of a live cgroup; nil fields are left as they are,
	// as `runc update` does.
	Update(res *specs.LinuxResources) error
	// Freeze stops every process in the cgroup and returns once the kernel
	// reports the cgroup frozen; Thaw undoes it.
	Freeze() error
	Thaw() error
	// FreezerState is "frozen" or "thawed" (OCI state "paused" is "frozen").
	FreezerState() (string, error)
	// Pids lists every process in the cgroup and in cgroups below it.
	Pids() ([]int, error)
	// Stats reads usage counters; it marshals like `runc events --stats` data.
	Stats() (*Stats, error)
	// OOMKillCount is how many processes the OOM killer killed in the cgroup.
	OOMKillCount() (uint64, error)
	// WaitOOM returns a channel that receives a value after each OOM kill in
	// the cgroup and is closed when ctx ends or the cgroup is removed (v2:
	// when the cgroup, once populated, has no process left).
	WaitOOM(ctx context.Context) (<-chan struct{}, error)
	// Kill sends SIGKILL to every process in the cgroup and below, without
	// the race of listing pids while they fork: cgroup.kill where the kernel
	// has it (v2, or the unified tree of a hybrid host), otherwise freeze,
	// signal each pid, thaw. It returns without waiting for them to exit.
	Kill() error
	// Destroy removes the cgroup (and cgroups below it) in every tree. It
	// does not kill: processes still inside make it fail with EBUSY.
	Destroy() error
	// Path is the directory for a v1 controller such as "memory", or the
	// unified (cgroup2) directory for "". Empty if there is none.
	Path(controller string) string
}

// CloneTarget is a Manager whose cgroup a process can be born into: its
// cgroup is one directory of a cgroup2 tree (pure cgroup v2 with the
// cgroupfs driver). On a hybrid host the v1 controllers still need a move,
// and systemd moves the process itself, so their managers are not.
type CloneTarget interface {
	Manager
	// OpenForClone opens the cgroup directory for CLONE_INTO_CGROUP.
	OpenForClone() (*os.File, error)
}

// FreezerState values.
const (
	Frozen = "frozen"
	Thawed = "thawed"
)

// DefaultParent is where a container goes when its spec has no cgroupsPath.
const DefaultParent = "/kago"

// New returns the cgroupfs manager for an OCI linux.cgroupsPath. An absolute
// path is taken from the root of each tree; a relative one is placed under
// the caller's own cgroup in each tree, as runc does; an empty one means
// /kago/<containerID>. A systemd "slice:prefix:name" path given without the
// systemd driver is, as in runc's cgroupfs driver, just a relative path: one
// cgroup of that name (colons and all). New reads the host layout but
// creates nothing. The systemd driver (package cgroups/systemd) builds on it.
func New(cgroupsPath, containerID string) (Manager, error) {
	rel, err := cleanCgroupsPath(cgroupsPath, containerID)
	if err != nil {
		return nil, err
	}
	l, err := readLayout()
	if err != nil {
		return nil, err
	}
	if l.Mode == ModeV2 {
		return newV2(*l.Unified, rel), nil
	}
	return newV1(l, rel), nil
}

// cleanCgroupsPath validates a cgroupsPath and applies the default. It keeps
// a relative path relative (no leading "/").
func cleanCgroupsPath(cgroupsPath, containerID string) (string, error) {
	if cgroupsPath == "" {
		if containerID == "" || strings.ContainsAny(containerID, "/\x00") || containerID == "." || containerID == ".." {
			return "", fmt.Errorf("container id %q cannot name a cgroup: use an id without '/' or set linux.cgroupsPath", containerID)
		}
		return path.Join(DefaultParent, containerID), nil
	}
	if strings.ContainsRune(cgroupsPath, 0) {
		return "", fmt.Errorf("cgroupsPath %q contains a NUL byte", cgroupsPath)
	}
	for _, part := range strings.Split(cgroupsPath, "/") {
		if part == ".." {
			return "", fmt.Errorf("cgroupsPath %q contains \"..\": use a path that stays inside the cgroup tree, like /kago/<id>", cgroupsPath)
		}
	}
	cleaned := path.Clean(cgroupsPath)
	if cleaned == "/" || cleaned == "." {
		return "", fmt.Errorf("cgroupsPath %q names the root cgroup: use a path like /kago/<id>", cgroupsPath)
	}
	return cleaned, nil
}

// resolve places a cleaned cgroupsPath in one tree: absolute paths from the
// tree's root, relative ones under the caller's own cgroup there.
func resolve(h hierarchy, p string) string {
	if !path.IsAbs(p) {
		p = path.Join(h.Self, p)
	}
	return h.dir(p)
}
