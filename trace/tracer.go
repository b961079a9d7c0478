package trace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// Target is the container to trace.
type Target struct {
	Name string // shown in every event
	Pid  int    // host pid of the container's init; 0 when it is not running
	// Created is a container created but not started: a trace attached
	// now sees it from its first instruction.
	Created bool
	// Recording is the trace the container's own tracer records (kago
	// run --trace); nil when it has none.
	Recording *Recording
}

// Recording is a trace file a container's tracer writes, as JSON lines.
type Recording struct {
	File   string
	Events string // the kinds recorded, as --events spells them
	// Active tells whether a tracer still writes to File.
	Active func() bool
}

// Tracer holds the loaded programs, maps and links for one container.
type Tracer struct {
	target Target
	coll   *ebpf.Collection
	links  []io.Closer // links and perf events
	rd     *ringbuf.Reader
	pidfd  int
	boot   time.Time
	// Interval is how often Run emits a syscalls summary, when that kind
	// is traced.
	Interval time.Duration
	// Idle, if not nil, is called whenever Run has emitted every event
	// the kernel sent so far (to flush buffered output).
	Idle      func() error
	summaries bool
	prev      map[uint32]scStat
	hooks     string
}

// scStat mirrors struct sc_stat in bpf/trace.bpf.c.
type scStat struct{ Count, Errors, Ns uint64 }

// attachment is one program on one syscall tracepoint.
type attachment struct{ prog, tracepoint string }

// attachments are the syscall tracepoints each kind needs, so a kind that
// is not asked for costs nothing. A tracepoint the kernel does not have
// (open on arm64, which has only openat) is skipped.
var attachments = map[Kind][]attachment{
	KindExec: {{"kagot_enter_execve", "sys_enter_execve"}, {"kagot_exit_execve", "sys_exit_execve"}},
	KindOpen: {{"kagot_enter_open", "sys_enter_open"}, {"kagot_exit", "sys_exit_open"},
		{"kagot_enter_openat", "sys_enter_openat"}, {"kagot_exit", "sys_exit_openat"}},
	KindConnect: {{"kagot_enter_connect", "sys_enter_connect"}, {"kagot_exit", "sys_exit_connect"}},
	KindBind:    {{"kagot_enter_bind", "sys_enter_bind"}, {"kagot_exit", "sys_exit_bind"}},
	KindAccept: {{"kagot_enter_accept", "sys_enter_accept"}, {"kagot_exit", "sys_exit_accept"},
		{"kagot_enter_accept", "sys_enter_accept4"}, {"kagot_exit", "sys_exit_accept4"}},
	KindSignal: {{"kagot_enter_kill", "sys_enter_kill"}, {"kagot_exit", "sys_exit_kill"}},
}

// fexits are the fentry/fexit programs of each kind (on the system call
// functions), preferred where the kernel allows BPF trampolines: unlike
// syscall tracepoints they leave every other task's system calls on the
// fast path. kagof_open exists on amd64 only.
var fexits = map[Kind][]string{
	KindExec: {"kagof_enter_execve", "kagof_exit_execve"}, KindOpen: {"kagof_open", "kagof_openat"},
	KindConnect: {"kagof_connect"}, KindBind: {"kagof_bind"}, KindAccept: {"kagof_accept", "kagof_accept4"},
	KindSignal: {"kagof_kill"},
}

// Open loads and attaches the programs for the given kinds (all when empty),
// filtered to t's container: on the system call functions (fexit) where the
// kernel allows it, else on the syscall tracepoints. Close releases
// everything it made.
func Open(t Target, kinds []Kind) (_ *Tracer, err error) {
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
	raiseMemlock()
	spec, err := loadKagotrace()
	if err != nil {
		return nil, fmt.Errorf("read kago's BPF object: %w", err)
	}
	mode := uint32(1)
	if f.cgroupDir == "" {
		mode = 2
	}
	for name, v := range map[string]uint32{"filter_mode": mode, "target_pidns": f.pidns} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s in kago's BPF object: %w", name, err)
		}
	}
	tr := &Tracer{target: t, pidfd: -1, Interval: 5 * time.Second, summaries: slices.Contains(kinds, KindSyscalls), prev: map[uint32]scStat{}}
	defer func() {
		if err != nil {
			tr.Close()
		}
	}()
	tr.pidfd, err = unix.PidfdOpen(t.Pid, 0)
	if err != nil {
		return nil, fmt.Errorf("watch container %s (pid %d): %w", t.Name, t.Pid, err)
	}
	if ferr := tr.attach(spec.Copy(), kinds, f, true); ferr != nil {
		tr.detach()
		if err = tr.attach(spec, kinds, f, false); err != nil {
			return nil, err
		}
	}
	tr.boot = bootTime()
	return tr, nil
}

// Hooks says what the programs are attached to: "fexit" (the system call
// functions) or "tracepoint" (the syscall tracepoints).
func (tr *Tracer) Hooks() string { return tr.hooks }

// attach loads the programs of kinds from spec, sets the filter and
// attaches them: with fexit on the system call functions, else on the
// syscall tracepoints.
func (tr *Tracer) attach(spec *ebpf.CollectionSpec, kinds []Kind, f filter, fexit bool) (err error) {
	keep := map[string]bool{}
	var tps []attachment
	for _, k := range kinds {
		if fexit {
			for _, p := range fexits[k] {
				keep[p] = true
			}
			continue
		}
		for _, a := range attachments[k] {
			tps = append(tps, a)
			keep[a.prog] = true
		}
	}
	keep["kagot_oom"] = slices.Contains(kinds, KindOOM)
	keep["kagot_sys_enter"] = slices.Contains(kinds, KindSyscalls)
	keep["kagot_sys_exit"] = keep["kagot_sys_enter"]
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	var ids map[string]uint64
	if len(tps) > 0 {
		names := make([]string, len(tps))
		for i, a := range tps {
			names[i] = a.tracepoint
		}
		if ids, err = tracepointIDs(names); err != nil {
			return err
		}
	}
	tr.coll, err = ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("the kernel refused kago's BPF programs: %+v", ve)
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("load kago's BPF programs: %w (kago trace needs root and a kernel with BPF enabled)", err)
		}
		return fmt.Errorf("load kago's BPF programs: %w", err)
	}
	if f.cgroupDir != "" {
		cg, err := os.Open(f.cgroupDir)
		if err != nil {
			return fmt.Errorf("open the cgroup of container %s: %w", tr.target.Name, err)
		}
		err = tr.coll.Maps["target_cgroup"].Put(uint32(0), uint32(cg.Fd()))
		cg.Close()
		if err != nil {
			return fmt.Errorf("set the cgroup filter to %s: %w", f.cgroupDir, err)
		}
	}
	tr.rd, err = ringbuf.NewReader(tr.coll.Maps["events"])
	if err != nil {
		return fmt.Errorf("read kago's trace ring buffer: %w", err)
	}
	// Exits before enters: an enter whose exit is not attached yet would
	// leave its record in flight.
	for _, phase := range []string{"sys_exit_", "sys_enter_"} {
		for _, a := range tps {
			id, ok := ids[a.tracepoint]
			if !ok || !strings.HasPrefix(a.tracepoint, phase) {
				continue
			}
			l, err := attachTracepoint(id, tr.coll.Programs[a.prog].FD())
			if err != nil {
				return fmt.Errorf("attach %s to syscalls:%s: %w", a.prog, a.tracepoint, err)
			}
			tr.links = append(tr.links, l)
		}
	}
	// The same order for the trampolines (kagof_exit_execve sorts first)
	// and the syscalls summary.
	sorted := slices.Sorted(maps.Keys(tr.coll.Programs))
	names := slices.DeleteFunc(slices.Clone(sorted), func(n string) bool { return !strings.Contains(n, "exit") })
	names = append(names, slices.DeleteFunc(sorted, func(n string) bool { return strings.Contains(n, "exit") })...)
	for _, name := range names {
		p := tr.coll.Programs[name]
		var l link.Link
		switch {
		case name == "kagot_oom":
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "mark_victim", Program: p})
		case p.Type() == ebpf.Tracing:
			l, err = link.AttachTracing(link.TracingOptions{Program: p})
		default:
			continue // a tracepoint program, attached above
		}
		if err != nil {
			return fmt.Errorf("attach %s to %s: %w", name, spec.Programs[name].AttachTo, err)
		}
		tr.links = append(tr.links, l)
	}
	tr.hooks = "tracepoint"
	if fexit {
		tr.hooks = "fexit"
	}
	return nil
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
	var rec ringbuf.Record // reused: no allocation per event
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
		err := tr.rd.ReadInto(&rec)
		if tr.summaries && (time.Now().After(nextSummary) || errors.Is(err, os.ErrDeadlineExceeded) && (exited || ctx.Err() != nil)) {
			nextSummary = time.Now().Add(tr.Interval)
			if err := tr.emitSummary(emit); err != nil {
				return err
			}
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if tr.Idle != nil {
				if err := tr.Idle(); err != nil {
					return err
				}
			}
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
	errs := []error{tr.detach()}
	if tr.pidfd >= 0 {
		errs = append(errs, unix.Close(tr.pidfd))
		tr.pidfd = -1
	}
	return errors.Join(errs...)
}

// detach closes the links, the ring reader and the collection.
func (tr *Tracer) detach() error {
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
	return errors.Join(errs...)
}

// raiseMemlock lifts RLIMIT_MEMLOCK's soft limit to its hard limit:
// kernels before 5.11 charge BPF maps and programs to it. It is our own
// setrlimit rather than cilium/ebpf/rlimit, whose package init probes the
// kernel with a bpf(2) call in every start of the kago binary. Later
// kernels charge the memory cgroup instead; failing here is not fatal,
// loading the objects says what is wrong.
func raiseMemlock() {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim)
	}
}
