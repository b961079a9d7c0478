package seccomp

import (
	"errors"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// AvailableActions lists the OCI actions the running kernel implements, by
// asking it: seccomp(SECCOMP_GET_ACTION_AVAIL) for each action's return
// value (Linux 4.14). A kernel without that operation (EINVAL) predates
// KILL_PROCESS, LOG and NOTIFY; it has the older actions.
func AvailableActions() []string {
	var out []string
	for _, r := range retValues {
		ret := r.ret
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&ret)))
		switch {
		case errno == 0:
		case errno == unix.EINVAL:
			switch r.act {
			case specs.ActKillProcess, specs.ActLog, specs.ActNotify:
				continue
			}
		default: // EOPNOTSUPP: the kernel knows the operation, not the action
			continue
		}
		out = append(out, string(r.act))
	}
	return out
}

// SupportedFlags lists the flags of KnownFlags the running kernel accepts.
// seccomp(SECCOMP_SET_MODE_FILTER, flag, NULL) checks the flags before it
// reads the program: a known flag fails with EFAULT (no program), an unknown
// one with EINVAL. Nothing is loaded either way. runc probes the same way.
// WAIT_KILLABLE_RECV is only valid with NEW_LISTENER, so it is probed with it.
func SupportedFlags() []string {
	var out []string
	for _, f := range flagValues {
		bits := f.bit
		if bits == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
			bits |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		}
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(bits), 0)
		if errors.Is(errno, unix.EFAULT) {
			out = append(out, string(f.name))
		}
	}
	return out
}
