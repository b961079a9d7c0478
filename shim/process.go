package shim

import (
	"context"
	"sync"
	"time"

	"github.com/containerd/containerd/api/types/task"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/runtime"
)

// process is a container's init or one exec'd process, as containerd sees
// it: created, then started, then exited with a status.
type process struct {
	id     string // exec id; "" for the init process
	stdio  stdio
	spec   *specs.Process // exec'd processes: what to run at Start
	io     procIO
	exited chan struct{} // closed once status is set

	mu       sync.Mutex
	pid      int
	started  bool
	status   int
	exitedAt time.Time
}

func newProcess(id string, s stdio) *process {
	return &process{id: id, stdio: s, exited: make(chan struct{})}
}

// watch waits for the process, then its output, records the exit status
// and calls onExit. It runs in its own goroutine per process: the shim is
// the subreaper its processes are re-parented to, and wait4 on each pid
// reaps them.
func (p *process) watch(rp *runtime.Process, onExit func(*process)) {
	code, _ := rp.Wait()
	p.io.finish()
	p.mu.Lock()
	p.status = code
	p.exitedAt = time.Now()
	p.mu.Unlock()
	close(p.exited)
	onExit(p)
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// wait blocks until the process has exited or ctx ends.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *process) snapshot() (pid int, status int, exitedAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid, p.status, p.exitedAt
}

// taskStatus is containerd's view of an exec'd process (the init's status
// comes from the container).
func (p *process) taskStatus() task.Status {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	switch {
	case p.hasExited():
		return task.Status_STOPPED
	case started:
		return task.Status_RUNNING
	default:
		return task.Status_CREATED
	}
}
