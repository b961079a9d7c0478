package trace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tracefsDirs are where tracefs is usually mounted.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// tracepointIDs returns the perf event ids of the syscalls tracepoints
// named (sys_enter_openat, ...); one the kernel does not have (open on
// arm64) is left out. The ids are only in tracefs: when the host has not
// mounted it, it is mounted for the moment of the reading, on a temporary
// directory, in a mount namespace of one thread of ours, so the host's
// mounts do not change.
func tracepointIDs(names []string) (map[string]uint64, error) {
	for _, dir := range tracefsDirs {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.TRACEFS_MAGIC {
			return readTracepointIDs(dir, names)
		}
	}
	return privateTracepointIDs(names)
}

// privateTracepointIDs reads the ids from a tracefs mounted on a thread of
// its own, in a mount namespace of its own, with private propagation.
func privateTracepointIDs(names []string) (map[string]uint64, error) {
	type result struct {
		ids map[string]uint64
		err error
	}
	// work runs on a thread whose mount namespace is its own from the
	// unshare on, so the thread must never run other goroutines: it
	// stays locked, and ends with the goroutine.
	work := func(res chan<- result) {
		ids, err := readPrivate(names)
		res <- result{ids, err}
	}
	res := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			work(res)
			return
		}
		// The main thread, which the runtime never ends and whose
		// namespace /proc/self shows: held while another thread works.
		inner := make(chan result, 1)
		go func() {
			goruntime.LockOSThread()
			work(inner)
		}()
		res <- <-inner
		goruntime.UnlockOSThread()
	}()
	r := <-res
	if r.err != nil {
		return nil, fmt.Errorf("find the syscall tracepoints (tracefs is not mounted): %w", r.err)
	}
	return r.ids, nil
}

// readPrivate is privateTracepointIDs on its thread.
func readPrivate(names []string) (map[string]uint64, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("unshare the mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
	}
	dir, err := os.MkdirTemp("", "kago-tracefs-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	if err := unix.Mount("tracefs", dir, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount tracefs on %s: %w", dir, err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	return readTracepointIDs(dir, names)
}
func readTracepointIDs(dir string, names []string) (map[string]uint64, error) {
	ids := map[string]uint64{}
	for _, name := range names {
		p := filepath.Join(dir, "events", "syscalls", name, "id")
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		ids[name] = id
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s has no syscall tracepoints: kago trace needs a kernel built with CONFIG_FTRACE_SYSCALLS", filepath.Join(dir, "events", "syscalls"))
	}
	return ids, nil
}

// perfLink is a BPF program attached to a tracepoint through a perf event:
// closing the event detaches it.
type perfLink struct{ fd int }

// attachTracepoint attaches prog (a tracepoint program) to the tracepoint
// with perf event id id, for every task on every CPU: a tracepoint
// program runs wherever the event fires, whatever CPU the event was opened on.
func attachTracepoint(id uint64, progFD int) (*perfLink, error) {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_TRACEPOINT,
		Config:      id,
		Sample_type: unix.PERF_SAMPLE_RAW,
		Sample:      1,
		Wakeup:      1,
	}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open perf event %d: %w", id, err)
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, progFD); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach to perf event %d: %w", id, err)
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("enable perf event %d: %w", id, err)
	}
	return &perfLink{fd: fd}, nil
}

func (l *perfLink) Close() error { return unix.Close(l.fd) }
