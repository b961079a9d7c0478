// Package shim is kago's containerd shim: it serves containerd's runtime v2
// task API over ttrpc and does the container work with kago's runtime
// package as Go calls, in one long-lived process per pod.
package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/console"
	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/mount"
	ctrdruntime "github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	ptypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/runtime"
)

// Name is the runtime name containerd resolves to this binary.
const Name = "io.containerd.kago.v2"

var empty = &ptypes.Empty{}

// Service is the task service of one shim process; it holds every
// container of the shim's group.
type Service struct {
	ctx       context.Context
	publisher Publisher
	done      chan struct{} // closed by Shutdown
	events    chan event
	flushed   chan struct{}

	mu sync.Mutex
	rt *runtime.Runtime
	// initCopy is held for reading while a create or exec may use the
	// runtime's sealed copy of the init binary, and for writing to release
	// it (releaseInitCopy).
	initCopy sync.RWMutex
	tasks    map[string]*ctask
	once     sync.Once

	evMu    sync.Mutex // guards closing and sends on events
	closing bool
}

// ctask is one container: its runtime handle, init and exec'd processes.
type ctask struct {
	c       *runtime.Container
	bundle  string
	mounted bool // rootfs mounted by the shim
	init    *process
	execs   map[string]*process
	stopOOM context.CancelFunc
}

type event struct {
	topic string
	ev    events.Event
}

var _ taskAPI.TTRPCTaskService = (*Service)(nil)

// Publisher sends task events to containerd.
type Publisher interface {
	Publish(ctx context.Context, topic string, event events.Event) error
}

// NewService returns the task service for the containers of namespace ns
// (in ctx); events go out through publisher in order.
func NewService(ctx context.Context, publisher Publisher) *Service {
	s := &Service{
		ctx:       ctx,
		publisher: publisher,
		done:      make(chan struct{}),
		events:    make(chan event, 128),
		flushed:   make(chan struct{}),
		tasks:     map[string]*ctask{},
	}
	go s.forward()
	return s
}

// Tracks reports whether pid is a container init or exec'd process of this
// shim, which the service waits for itself.
func (s *Service) Tracks(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		if t.init.pid == pid {
			return true
		}
		for _, e := range t.execs {
			if epid, _, _ := e.snapshot(); epid == pid {
				return true
			}
		}
	}
	return false
}

// Done is closed once containerd asked the shim to shut down.
func (s *Service) Done() <-chan struct{} { return s.done }

// Flush publishes the events still queued; call it once Done is closed.
func (s *Service) Flush() {
	s.evMu.Lock()
	s.closing = true
	close(s.events)
	s.evMu.Unlock()
	<-s.flushed
}

// forward publishes events in order, one at a time, as containerd expects.
func (s *Service) forward() {
	ns, _ := namespaces.Namespace(s.ctx)
	ctx := namespaces.WithNamespace(context.Background(), ns)
	defer close(s.flushed)
	for e := range s.events {
		if err := s.publisher.Publish(ctx, e.topic, e.ev); err != nil {
			fmt.Fprintf(os.Stderr, "publish %s: %v\n", e.topic, err)
		}
	}
}

// send queues an event; after Flush it is dropped (the shim is exiting).
func (s *Service) send(topic string, ev events.Event) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.closing {
		return
	}
	s.events <- event{topic, ev}
}

// RegisterTTRPC serves the task API on the shim's ttrpc server.
func (s *Service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	return nil
}

func (s *Service) runtime() (*runtime.Runtime, error) {
	if s.rt != nil {
		return s.rt, nil
	}
	ns, err := namespaces.NamespaceRequired(s.ctx)
	if err != nil {
		return nil, err
	}
	rt, err := runtime.New(StateRoot(ns), nil)
	if err != nil {
		return nil, err
	}
	s.rt = rt
	return rt, nil
}

// releaseInitCopy closes the runtime's sealed copy of the init binary (a
// memfd as large as the binary): the shim keeps it between requests only to
// spare the next create or exec the copy, and a pod's shim lives long.
func (s *Service) releaseInitCopy() {
	// s.mu first and on its own: Create holds it while it waits for
	// initCopy.
	s.mu.Lock()
	rt := s.rt
	s.mu.Unlock()
	if rt == nil {
		return
	}
	s.initCopy.Lock()
	defer s.initCopy.Unlock()
	rt.Close() //nolint:errcheck // closing a memfd
}

func (s *Service) get(id string) (*ctask, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok {
		return nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "container %s not found in this kago shim", id)
	}
	return t, nil
}

func (s *Service) process(id, execID string) (*ctask, *process, error) {
	t, err := s.get(id)
	if err != nil {
		return nil, nil, err
	}
	if execID == "" {
		return t, t.init, nil
	}
	s.mu.Lock()
	p, ok := t.execs[execID]
	s.mu.Unlock()
	if !ok {
		return nil, nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "exec %s not found in container %s", execID, id)
	}
	return t, p, nil
}

// toGRPC maps kago's runtime errors to containerd's error kinds.
func toGRPC(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, runtime.ErrNotExist):
		return errgrpc.ToGRPC(fmt.Errorf("%v: %w", err, errdefs.ErrNotFound))
	case errors.Is(err, runtime.ErrExist):
		return errgrpc.ToGRPC(fmt.Errorf("%v: %w", err, errdefs.ErrAlreadyExists))
	case errors.Is(err, runtime.ErrState):
		return errgrpc.ToGRPC(fmt.Errorf("%v: %w", err, errdefs.ErrFailedPrecondition))
	}
	return errgrpc.ToGRPC(err)
}

// Create mounts the rootfs containerd passes on the bundle's rootfs
// directory and creates the container, its init blocked until Start.
func (s *Service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (_ *taskAPI.CreateTaskResponse, retErr error) {
	if r.Checkpoint != "" {
		return nil, errgrpc.ToGRPCf(errdefs.ErrNotImplemented, "the kago shim cannot restore checkpoints")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tasks[r.ID]; ok {
		return nil, errgrpc.ToGRPCf(errdefs.ErrAlreadyExists, "container %s already exists", r.ID)
	}
	rt, err := s.runtime()
	if err != nil {
		return nil, toGRPC(err)
	}
	opts, err := parseTaskOptions(r.Options)
	if err != nil {
		return nil, toGRPC(err)
	}
	// One shim serves one pod, whose containers share the runtime handler
	// and so its options.
	rt.SystemdCgroup = opts.SystemdCgroup
	t := &ctask{bundle: r.Bundle, execs: map[string]*process{}}
	if len(r.Rootfs) > 0 {
		rootfs := filepath.Join(r.Bundle, "rootfs")
		if err := os.MkdirAll(rootfs, 0o711); err != nil {
			return nil, toGRPC(err)
		}
		var mounts []mount.Mount
		for _, m := range r.Rootfs {
			mounts = append(mounts, mount.Mount{Type: m.Type, Source: m.Source, Options: m.Options})
		}
		if err := mount.All(mounts, rootfs); err != nil {
			return nil, toGRPC(fmt.Errorf("mount rootfs of %s on %s: %w", r.ID, rootfs, err))
		}
		t.mounted = true
		defer func() {
			if retErr != nil {
				mount.UnmountAll(rootfs, unix.MNT_DETACH) //nolint:errcheck // best effort undo
			}
		}()
	}
	terminal, err := specTerminal(r.Bundle)
	if err != nil {
		return nil, toGRPC(err)
	}
	p := newProcess("", stdio{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: terminal})
	rio, err := p.io.setup(ctx, p.stdio)
	if err != nil {
		p.io.started()
		p.io.finish()
		return nil, toGRPC(err)
	}
	s.initCopy.RLock()
	c, err := rt.Create(ctx, r.ID, runtime.CreateOptions{Bundle: r.Bundle, IO: rio})
	s.initCopy.RUnlock()
	p.io.started()
	if err != nil {
		p.io.finish()
		return nil, toGRPC(err)
	}
	p.pid = c.Pid()
	t.c, t.init = c, p
	s.tasks[r.ID] = t
	go p.watch(c.InitProcess(), func(p *process) { s.exited(t, p) })
	t.stopOOM = s.watchOOM(t)
	s.send(ctrdruntime.TaskCreateEventTopic, &eventstypes.TaskCreate{
		ContainerID: r.ID,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO:          &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: terminal},
		Pid:         uint32(p.pid),
	})
	return &taskAPI.CreateTaskResponse{Pid: uint32(p.pid)}, nil
}

func specTerminal(bundle string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return false, fmt.Errorf("read bundle config: %w", err)
	}
	var spec struct {
		Process *struct {
			Terminal bool `json:"terminal"`
		} `json:"process"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return false, fmt.Errorf("parse %s/config.json: %w", bundle, err)
	}
	return spec.Process != nil && spec.Process.Terminal, nil
}

// watchOOM publishes a TaskOOM event after each OOM kill in the container's
// cgroup.
func (s *Service) watchOOM(t *ctask) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	cg, err := t.c.Cgroup()
	if err != nil {
		return cancel
	}
	ch, err := cg.WaitOOM(ctx)
	if err != nil {
		return cancel
	}
	go func() {
		for range ch {
			s.send(ctrdruntime.TaskOOMEventTopic, &eventstypes.TaskOOM{ContainerID: t.c.ID()})
		}
	}()
	return cancel
}

// exited publishes a process's exit; when the init exits, every exec'd
// process of the container is killed, as runc's shim does.
func (s *Service) exited(t *ctask, p *process) {
	pid, status, at := p.snapshot()
	if p.id == "" {
		s.mu.Lock()
		execs := make([]*process, 0, len(t.execs))
		for _, e := range t.execs {
			execs = append(execs, e)
		}
		s.mu.Unlock()
		for _, e := range execs {
			if epid, _, _ := e.snapshot(); epid > 0 && !e.hasExited() {
				unix.Kill(epid, unix.SIGKILL) //nolint:errcheck // it may be gone already
			}
		}
	}
	s.send(ctrdruntime.TaskExitEventTopic, &eventstypes.TaskExit{
		ContainerID: t.c.ID(),
		ID:          idOr(p.id, t.c.ID()),
		Pid:         uint32(pid),
		ExitStatus:  uint32(status),
		ExitedAt:    protobuf.ToTimestamp(at),
	})
}

func idOr(execID, id string) string {
	if execID != "" {
		return execID
	}
	return id
}

// Start starts the init (lets it execve) or runs an exec'd process.
func (s *Service) Start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	t, p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.ExecID == "" {
		if err := t.c.Start(ctx); err != nil {
			return nil, toGRPC(err)
		}
		p.mu.Lock()
		p.started = true
		p.mu.Unlock()
		s.send(ctrdruntime.TaskStartEventTopic, &eventstypes.TaskStart{ContainerID: r.ID, Pid: uint32(p.pid)})
		return &taskAPI.StartResponse{Pid: uint32(p.pid)}, nil
	}
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "exec %s already started", r.ExecID)
	}
	p.started = true
	p.mu.Unlock()
	rio, err := p.io.setup(ctx, p.stdio)
	if err != nil {
		p.io.started()
		p.io.finish()
		return nil, toGRPC(err)
	}
	s.initCopy.RLock()
	rp, err := t.c.Exec(ctx, p.spec, runtime.ExecOptions{IO: rio})
	s.initCopy.RUnlock()
	p.io.started()
	if err != nil {
		p.io.finish()
		p.mu.Lock()
		p.started = false
		p.mu.Unlock()
		return nil, toGRPC(err)
	}
	p.mu.Lock()
	p.pid = rp.Pid
	p.mu.Unlock()
	go p.watch(rp, func(p *process) { s.exited(t, p) })
	s.send(ctrdruntime.TaskExecStartedEventTopic, &eventstypes.TaskExecStarted{ContainerID: r.ID, ExecID: r.ExecID, Pid: uint32(rp.Pid)})
	return &taskAPI.StartResponse{Pid: uint32(rp.Pid)}, nil
}

// Exec records a process to run in the container; Start runs it.
func (s *Service) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (*ptypes.Empty, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if r.Spec == nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "exec %s: no process spec", r.ExecID)
	}
	var spec specs.Process
	if err := json.Unmarshal(r.Spec.Value, &spec); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "exec %s: parse process spec: %v", r.ExecID, err)
	}
	p := newProcess(r.ExecID, stdio{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal})
	if err := p.stdio.check(); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "%v", err)
	}
	p.spec = &spec
	s.mu.Lock()
	if _, ok := t.execs[r.ExecID]; ok {
		s.mu.Unlock()
		return nil, errgrpc.ToGRPCf(errdefs.ErrAlreadyExists, "exec %s already exists in container %s", r.ExecID, r.ID)
	}
	t.execs[r.ExecID] = p
	s.mu.Unlock()
	s.send(ctrdruntime.TaskExecAddedEventTopic, &eventstypes.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	return empty, nil
}

// Delete removes an exec'd process's record, or the whole container: its
// processes, cgroup, state and rootfs mount.
func (s *Service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	t, p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.ExecID != "" {
		if p.taskStatus() == task.Status_RUNNING {
			return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "exec %s is still running", r.ExecID)
		}
		s.mu.Lock()
		delete(t.execs, r.ExecID)
		s.mu.Unlock()
	} else {
		if err := t.c.Delete(ctx, true); err != nil {
			return nil, toGRPC(err)
		}
		// The force delete killed whatever was left; wait for the exit to be
		// recorded so the response carries the real status.
		if err := p.wait(ctx); err != nil {
			return nil, toGRPC(err)
		}
		t.stopOOM()
		if t.mounted {
			if err := mount.UnmountAll(filepath.Join(t.bundle, "rootfs"), unix.MNT_DETACH); err != nil {
				return nil, toGRPC(fmt.Errorf("unmount rootfs of %s: %w", r.ID, err))
			}
		}
		s.mu.Lock()
		delete(s.tasks, r.ID)
		s.mu.Unlock()
	}
	pid, status, at := p.snapshot()
	if r.ExecID == "" {
		s.send(ctrdruntime.TaskDeleteEventTopic, &eventstypes.TaskDelete{
			ContainerID: r.ID, Pid: uint32(pid), ExitStatus: uint32(status), ExitedAt: protobuf.ToTimestamp(at),
		})
	}
	return &taskAPI.DeleteResponse{Pid: uint32(pid), ExitStatus: uint32(status), ExitedAt: protobuf.ToTimestamp(at)}, nil
}

// State reports a process's status, pid, IO and exit.
func (s *Service) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	t, p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	status := p.taskStatus()
	if r.ExecID == "" && !p.hasExited() {
		switch t.c.Status() {
		case runtime.StatusCreated:
			status = task.Status_CREATED
		case runtime.StatusRunning:
			status = task.Status_RUNNING
		case runtime.StatusPaused:
			status = task.Status_PAUSED
		case runtime.StatusStopped:
			status = task.Status_STOPPED
		}
	}
	pid, code, at := p.snapshot()
	return &taskAPI.StateResponse{
		ID:         idOr(r.ExecID, r.ID),
		Bundle:     t.bundle,
		Pid:        uint32(pid),
		Status:     status,
		Stdin:      p.stdio.stdin,
		Stdout:     p.stdio.stdout,
		Stderr:     p.stdio.stderr,
		Terminal:   p.stdio.terminal,
		ExitStatus: uint32(code),
		ExitedAt:   protobuf.ToTimestamp(at),
		ExecID:     r.ExecID,
	}, nil
}

// Pause freezes the container's cgroup.
func (s *Service) Pause(ctx context.Context, r *taskAPI.PauseRequest) (*ptypes.Empty, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if err := t.c.Pause(); err != nil {
		return nil, toGRPC(err)
	}
	s.send(ctrdruntime.TaskPausedEventTopic, &eventstypes.TaskPaused{ContainerID: r.ID})
	return empty, nil
}

// Resume thaws the container's cgroup.
func (s *Service) Resume(ctx context.Context, r *taskAPI.ResumeRequest) (*ptypes.Empty, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if err := t.c.Resume(); err != nil {
		return nil, toGRPC(err)
	}
	s.send(ctrdruntime.TaskResumedEventTopic, &eventstypes.TaskResumed{ContainerID: r.ID})
	return empty, nil
}

// Kill signals the init (all: every process of the container) or an exec'd
// process.
func (s *Service) Kill(ctx context.Context, r *taskAPI.KillRequest) (*ptypes.Empty, error) {
	t, p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if p.hasExited() {
		return nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "process already finished")
	}
	sig := unix.Signal(r.Signal)
	if r.ExecID == "" {
		err = t.c.Kill(sig, r.All)
	} else if pid, _, _ := p.snapshot(); pid > 0 {
		err = unix.Kill(pid, sig)
	} else {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "exec %s not started", r.ExecID)
	}
	if err != nil {
		return nil, toGRPC(fmt.Errorf("signal %d to %s: %w", r.Signal, idOr(r.ExecID, r.ID), err))
	}
	return empty, nil
}

// Pids lists the processes of the container's cgroup.
func (s *Service) Pids(ctx context.Context, r *taskAPI.PidsRequest) (*taskAPI.PidsResponse, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	pids, err := t.c.Processes()
	if err != nil {
		return nil, toGRPC(err)
	}
	resp := &taskAPI.PidsResponse{}
	for _, pid := range pids {
		resp.Processes = append(resp.Processes, &task.ProcessInfo{Pid: uint32(pid)})
	}
	return resp, nil
}

// CloseIO ends a process's stdin.
func (s *Service) CloseIO(ctx context.Context, r *taskAPI.CloseIORequest) (*ptypes.Empty, error) {
	_, p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.Stdin {
		p.io.closeStdin()
	}
	return empty, nil
}

// Checkpoint is not supported: kago has no CRIU integration.
func (s *Service) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*ptypes.Empty, error) {
	return nil, errgrpc.ToGRPCf(errdefs.ErrNotImplemented, "checkpoint of %s: the kago runtime does not support checkpoint/restore", r.ID)
}

// Update changes the container's cgroup limits.
func (s *Service) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*ptypes.Empty, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if r.Resources == nil {
		return empty, nil
	}
	var res specs.LinuxResources
	if err := json.Unmarshal(r.Resources.Value, &res); err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "update %s: parse resources: %v", r.ID, err)
	}
	if err := t.c.Update(&res); err != nil {
		return nil, toGRPC(err)
	}
	return empty, nil
}

// Wait blocks until the process exits and returns its status.
func (s *Service) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	_, p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if err := p.wait(ctx); err != nil {
		return nil, toGRPC(err)
	}
	_, status, at := p.snapshot()
	return &taskAPI.WaitResponse{ExitStatus: uint32(status), ExitedAt: protobuf.ToTimestamp(at)}, nil
}

// ResizePty sets the size of a process's terminal.
func (s *Service) ResizePty(ctx context.Context, r *taskAPI.ResizePtyRequest) (*ptypes.Empty, error) {
	_, p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	pty := p.io.pty()
	if pty == nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "%s has no terminal", idOr(r.ExecID, r.ID))
	}
	con, err := console.ConsoleFromFile(pty)
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := con.Resize(console.WinSize{Width: uint16(r.Width), Height: uint16(r.Height)}); err != nil {
		return nil, toGRPC(fmt.Errorf("resize terminal of %s: %w", idOr(r.ExecID, r.ID), err))
	}
	return empty, nil
}

// Connect reports the shim's and the container init's pids.
func (s *Service) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	resp := &taskAPI.ConnectResponse{ShimPid: uint32(os.Getpid())}
	if t, err := s.get(r.ID); err == nil {
		resp.TaskPid = uint32(t.init.pid)
	}
	return resp, nil
}

// Shutdown ends the shim once it serves no container.
func (s *Service) Shutdown(ctx context.Context, r *taskAPI.ShutdownRequest) (*ptypes.Empty, error) {
	s.mu.Lock()
	n := len(s.tasks)
	s.mu.Unlock()
	if n > 0 {
		return empty, nil
	}
	s.once.Do(func() { close(s.done) })
	return empty, nil
}

// Stats returns the container's cgroup counters in containerd's metrics
// types.
func (s *Service) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	cg, err := t.c.Cgroup()
	if err != nil {
		return nil, toGRPC(err)
	}
	st, err := cg.Stats()
	if err != nil {
		return nil, toGRPC(fmt.Errorf("stats of %s: %w", r.ID, err))
	}
	data, err := metrics(st)
	if err != nil {
		return nil, toGRPC(err)
	}
	return &taskAPI.StatsResponse{Stats: data}, nil
}
