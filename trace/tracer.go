package trace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Target is the container to trace.
type Target struct {
	Name string // shown in every event
	Pid  int    // host pid of the container's init
}

// Tracer holds the loaded programs, maps and links for one container.
type Tracer struct {
	target Target
	coll   *ebpf.Collection
	links  []link.Link
	rd     *ringbuf.Reader
	pidfd  int
	boot   time.Time
	// Interval is how often Run emits a syscalls summary, when that kind
	// is traced.
	Interval  time.Duration
	summaries bool
	prev      map[uint32]scStat
}

// scStat mirrors struct sc_stat in bpf/trace.bpf.c.
type scStat struct{ Count, Errors, Ns uint64 }

// Open loads and attaches the programs for the given kinds (all when empty),
// filtered to t's container. Close releases everything it made.
func Open(t Target, kinds []Kind) (_ *Tracer, err error) {
	if goruntime.GOARCH != "amd64" {
		// bpf/trace.bpf.c reads x86-64 system call numbers and registers.
		return nil, fmt.Errorf("kago trace runs on amd64 only, not %s", goruntime.GOARCH)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, fmt.Errorf("this kernel has no BTF (/sys/kernel/btf/vmlinux: %w): kago trace needs a kernel built with CONFIG_DEBUG_INFO_BTF", err)
	}
	if len(kinds) == 0 {
		kinds = DefaultKinds
	}
	f, err := filterFor(t.Pid)
	if err != nil {
		return nil, fmt.Errorf("trace container %s: %w", t.Name, err)
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()
	spec, err := loadKagotrace()
	if err != nil {
		return nil, fmt.Errorf("read kago's BPF object: %w", err)
	}
	var mask uint32
	want := map[Kind]bool{}
	for _, k := range kinds {
		mask |= 1 << kindNumber(k)
		want[k] = true
	}
	mode := uint32(1)
	if f.cgroupDir == "" {
		mode = 2
	}
	for name, v := range map[string]uint32{"filter_mode": mode, "target_pidns": f.pidns, "events_mask": mask} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s in kago's BPF object: %w", name, err)
		}
	}
	// Load only the programs of the wanted kinds.
	if !want[KindOOM] {
		delete(spec.Programs, "kagot_oom")
	}
	if len(want) == 1 && want[KindOOM] {
		delete(spec.Programs, "kagot_sys_enter")
		delete(spec.Programs, "kagot_sys_exit")
	}
	tr := &Tracer{target: t, pidfd: -1, Interval: 5 * time.Second, summaries: want[KindSyscalls], prev: map[uint32]scStat{}}
	defer func() {
		if err != nil {
			tr.Close()
		}
	}()
	tr.coll, err = ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("the kernel refused kago's BPF programs: %+v", ve)
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			return nil, fmt.Errorf("load kago's BPF programs: %w (kago trace needs root and a kernel with BPF enabled)", err)
		}
		return nil, fmt.Errorf("load kago's BPF programs: %w", err)
	}
	if f.cgroupDir != "" {
		cg, err := os.Open(f.cgroupDir)
		if err != nil {
			return nil, fmt.Errorf("open the cgroup of container %s: %w", t.Name, err)
		}
		err = tr.coll.Maps["target_cgroup"].Put(uint32(0), uint32(cg.Fd()))
		cg.Close()
		if err != nil {
			return nil, fmt.Errorf("set the cgroup filter to %s: %w", f.cgroupDir, err)
		}
	}
	tr.pidfd, err = unix.PidfdOpen(t.Pid, 0)
	if err != nil {
		return nil, fmt.Errorf("watch container %s (pid %d): %w", t.Name, t.Pid, err)
	}
	tr.rd, err = ringbuf.NewReader(tr.coll.Maps["events"])
	if err != nil {
		return nil, fmt.Errorf("read kago's trace ring buffer: %w", err)
	}
	for name, p := range tr.coll.Programs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			return nil, fmt.Errorf("attach %s to %s: %w", name, spec.Programs[name].AttachTo, err)
		}
		tr.links = append(tr.links, l)
	}
	tr.boot = bootTime()
	return tr, nil
}

// bootTime is the wall time at which CLOCK_BOOTTIME was zero.
func bootTime() time.Time {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return time.Now().Add(-time.Duration(ts.Nano()))
}

// ProgramIDs are the kernel ids of the loaded programs, to check from
// outside (bpftool prog) that Close released them.
func (tr *Tracer) ProgramIDs() []ebpf.ProgramID {
	var ids []ebpf.ProgramID
	for _, p := range tr.coll.Programs {
		if info, err := p.Info(); err == nil {
			if id, ok := info.ID(); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// Run calls emit for each event until ctx ends or the container's init
// exits; then it returns nil. An error from emit stops it.
// With the syscalls kind it also emits a summary every Interval and a last
// one at the end.
func (tr *Tracer) Run(ctx context.Context, emit func(Event) error) error {
	exited := false
	nextSummary := time.Now().Add(tr.Interval)
	for {
		if !exited {
			exited = tr.initExited()
		}
		if exited {
			// Events the last processes sent are in the ring already.
			tr.rd.SetDeadline(time.Now())
		} else {
			tr.rd.SetDeadline(time.Now().Add(100 * time.Millisecond))
		}
		rec, err := tr.rd.Read()
		if tr.summaries && (time.Now().After(nextSummary) || errors.Is(err, os.ErrDeadlineExceeded) && (exited || ctx.Err() != nil)) {
			nextSummary = time.Now().Add(tr.Interval)
			if err := tr.emitSummary(emit); err != nil {
				return err
			}
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if exited || ctx.Err() != nil {
				return nil
			}
			continue
		case err != nil:
			return fmt.Errorf("read the trace of container %s: %w", tr.target.Name, err)
		}
		ev, err := decode(rec.RawSample, tr.boot, tr.target.Name)
		if err != nil {
			return err
		}
		if err := emit(ev); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// emitSummary emits the system calls counted since the last summary.
func (tr *Tracer) emitSummary(emit func(Event) error) error {
	e := Event{Time: time.Now(), Container: tr.target.Name, Kind: KindSyscalls, Syscalls: []SyscallStat{}}
	m := tr.coll.Maps["sc_stats"]
	var perCPU []scStat
	for nr := uint32(0); nr < m.MaxEntries(); nr++ {
		if err := m.Lookup(nr, &perCPU); err != nil {
			return fmt.Errorf("read the syscall counts of container %s: %w", tr.target.Name, err)
		}
		var sum scStat
		for _, c := range perCPU {
			sum.Count += c.Count
			sum.Errors += c.Errors
			sum.Ns += c.Ns
		}
		prev := tr.prev[nr]
		tr.prev[nr] = sum
		if sum.Count == prev.Count {
			continue
		}
		name, ok := syscallNames[int(nr)]
		if !ok {
			name = fmt.Sprintf("syscall_%d", nr)
		}
		e.Syscalls = append(e.Syscalls, SyscallStat{Name: name, Count: sum.Count - prev.Count,
			Errors: sum.Errors - prev.Errors, TotalNs: sum.Ns - prev.Ns})
	}
	slices.SortStableFunc(e.Syscalls, func(a, b SyscallStat) int { return cmp.Compare(b.Count, a.Count) })
	return emit(e)
}

// initExited reports whether the container's init has exited (its pidfd
// turns readable).
func (tr *Tracer) initExited() bool {
	fds := []unix.PollFd{{Fd: int32(tr.pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// Close detaches and unloads everything. The kernel frees programs and
// maps when their last file descriptor closes, so nothing outlives it.
func (tr *Tracer) Close() error {
	var errs []error
	for _, l := range tr.links {
		errs = append(errs, l.Close())
	}
	tr.links = nil
	if tr.rd != nil {
		errs = append(errs, tr.rd.Close())
		tr.rd = nil
	}
	if tr.coll != nil {
		tr.coll.Close()
		tr.coll = nil
	}
	if tr.pidfd >= 0 {
		errs = append(errs, unix.Close(tr.pidfd))
		tr.pidfd = -1
	}
	return errors.Join(errs...)
}
