// Package ioprio applies process.ioPriority (runtime-spec 1.2) with
// ioprio_set(2): the I/O scheduling class and level of the container's
// process, which its children inherit.
package ioprio

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Kernel constants from include/uapi/linux/ioprio.h.
const (
	classShift = 13
	whoProcess = 1 // IOPRIO_WHO_PROCESS
)

var classes = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT:   1,
	specs.IOPRIO_CLASS_BE:   2,
	specs.IOPRIO_CLASS_IDLE: 3,
}

// ClassNames maps the kernel's class numbers back to the spec's names.
var ClassNames = map[int]specs.IOPriorityClass{1: specs.IOPRIO_CLASS_RT, 2: specs.IOPRIO_CLASS_BE, 3: specs.IOPRIO_CLASS_IDLE}

// Value checks p as runc does and returns the ioprio value for the kernel.
func Value(p *specs.LinuxIOPriority) (int, error) {
	class, ok := classes[p.Class]
	if !ok {
		return 0, fmt.Errorf("process.ioPriority.class %q is unknown: use IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return 0, fmt.Errorf("process.ioPriority.priority %d is outside 0..7", p.Priority)
	}
	return class<<classShift | p.Priority, nil
}

// Apply sets p on the calling thread (nil: nothing to do), which becomes the
// container's process at execve. runc sets it on the caller's process group
// instead; for an exec'd process that group can be the caller's own, which
// must not change, so kago sets exactly the one process.
func Apply(p *specs.LinuxIOPriority) error {
	if p == nil {
		return nil
	}
	v, err := Value(p)
	if err != nil {
		return err
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_IOPRIO_SET, whoProcess, 0, uintptr(v)); errno != 0 {
		return fmt.Errorf("process.ioPriority: ioprio_set %s %d: %w", p.Class, p.Priority, errno)
	}
	return nil
}

// Get returns the class and level of process pid, as `ionice -p` shows them.
func Get(pid int) (specs.IOPriorityClass, int, error) {
	v, _, errno := unix.RawSyscall(unix.SYS_IOPRIO_GET, whoProcess, uintptr(pid), 0)
	if errno != 0 {
		return "", 0, fmt.Errorf("ioprio_get %d: %w", pid, errno)
	}
	return ClassNames[int(v)>>classShift], int(v) & (1<<classShift - 1), nil
}
