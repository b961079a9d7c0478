package cgroups

import (
	"os"
	"strconv"
)

// WarmMigration moves the calling process into the cgroup it is already in.
//
// Moving a task between cgroups takes the kernel's cgroup_threadgroup_rwsem
// for writing, and the first writer after a quiet period waits a full RCU
// grace period (several milliseconds) to switch that lock to its slow mode;
// writers that follow within a grace period pass at once. A runtime that
// calls WarmMigration in the background when it starts, and moves the
// container's init later, overlaps that wait with its other work instead of
// paying it on the critical path. The move is a no-op for the process;
// failures (an unwritable cgroup) are ignored, since only speed is at stake.
func WarmMigration() {
	l, err := readLayout()
	if err != nil {
		return
	}
	var h *hierarchy
	switch {
	case l.Unified != nil:
		h = l.Unified
	case len(l.V1) > 0:
		h = &l.V1[0]
	default:
		return
	}
	if f, err := os.OpenFile(h.dir(h.Self)+"/cgroup.procs", os.O_WRONLY, 0); err == nil {
		f.WriteString(strconv.Itoa(os.Getpid()))
		f.Close()
	}
}
