package seccomp

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Load installs the filter on the calling thread with
// seccomp(SECCOMP_SET_MODE_FILTER) (on all threads with
// SECCOMP_FILTER_FLAG_TSYNC). The caller holds runtime.LockOSThread and
// execs from this thread. The kernel requires no_new_privs or
// CAP_SYS_ADMIN, so without noNewPrivileges the init must load the filter
// before dropping capabilities.
//
// When the filter uses SCMP_ACT_NOTIFY, Load returns the listener fd
// (SECCOMP_FILTER_FLAG_NEW_LISTENER), which the caller passes on with
// SendNotifyFD and closes; otherwise it returns -1.
func (f *Filter) Load() (notifyFD int, err error) {
	raw, err := bpf.Assemble(f.prog)
	if err != nil {
		return -1, fmt.Errorf("seccomp: assemble filter: %w", err)
	}
	sf := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		sf[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(sf)), Filter: &sf[0]}
	flags := f.flags
	if f.notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			// TSYNC reports failure as a thread id, which would look like a
			// listener fd; TSYNC_ESRCH makes it an error instead.
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(sf)
	if errno != 0 {
		switch errno {
		case unix.EACCES:
			return -1, fmt.Errorf("seccomp: load filter: %w (set process.noNewPrivileges, or load before dropping CAP_SYS_ADMIN)", errno)
		case unix.EINVAL:
			return -1, fmt.Errorf("seccomp: load filter with flags %#x: %w (a flag may be unsupported by this kernel)", flags, errno)
		}
		return -1, fmt.Errorf("seccomp: load filter: %w", errno)
	}
	if f.notify {
		return int(r), nil
	}
	if r != 0 { // TSYNC: a thread that could not be synchronised
		return -1, fmt.Errorf("seccomp: load filter: thread %d could not be synchronised (TSYNC)", r)
	}
	return -1, nil
}

// SendNotifyFD connects to the unix socket at listenerPath (the profile's
// listenerPath) and sends state — the container process state JSON, see
// specs.ContainerProcessState — in one message carrying fd as SCM_RIGHTS, as
// the OCI runtime spec describes for seccomp notify listeners.
func SendNotifyFD(listenerPath string, fd int, state []byte) error {
	if listenerPath == "" {
		return errors.New("seccomp: send notify fd: listenerPath is empty")
	}
	if len(state) == 0 {
		return errors.New("seccomp: send notify fd: state is empty (the spec requires the process state JSON)")
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.Dial("unix", listenerPath)
	if err != nil {
		return fmt.Errorf("seccomp: connect to listener %s: %w", listenerPath, err)
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	if err := uc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return fmt.Errorf("seccomp: listener %s: %w", listenerPath, err)
	}
	n, _, err := uc.WriteMsgUnix(state, unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("seccomp: send notify fd to %s: %w", listenerPath, err)
	}
	if n != len(state) {
		return fmt.Errorf("seccomp: send notify fd to %s: short write (%d of %d bytes)", listenerPath, n, len(state))
	}
	return nil
}
