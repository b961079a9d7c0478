package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/internal/lockfile"
)

// TraceJob is what a container's tracer needs: the engine itself loads no
// BPF (package trace sits above it); StartTracer, set by the kago command,
// starts a tracer process for each run of a container created with a
// Trace. That process outlives the helper that started the container: it
// is re-parented to the container's monitor, like the container's init,
// and ends (its BPF programs released) when the container's init exits.
type TraceJob struct {
	ID, Name string
	Pid      int // the container's init, created but not started
	Trace    containers.Trace
	// Lock is a file the tracer holds an flock on from before it reports
	// ready until its last event is written: FinishRun waits for it, and
	// `kago trace --since-start` follows the file while it is held.
	Lock string
}

// TraceLock is the lock file of a container's tracer (see TraceJob.Lock).
func (e *Engine) TraceLock(id string) string {
	return filepath.Join(e.containers.Dir(id), "trace.lock")
}

// startTracer starts the tracer of rec's run and returns once it is
// attached: the container has not run an instruction yet.
func (e *Engine) startTracer(ctx context.Context, rec *containers.Record, pid int) error {
	if e.StartTracer == nil {
		return fmt.Errorf("container %s is traced (--trace) but this kago cannot trace", rec.Name)
	}
	job := TraceJob{ID: rec.ID, Name: rec.Name, Pid: pid, Trace: *rec.Trace, Lock: e.TraceLock(rec.ID)}
	if err := e.StartTracer(ctx, job); err != nil {
		return fmt.Errorf("trace container %s to %s: %w", rec.Name, rec.Trace.File, err)
	}
	return nil
}

// TracerRunning tells whether a tracer of the container still writes its
// trace file.
func (e *Engine) TracerRunning(id string) bool {
	return lockfile.Held(e.TraceLock(id))
}

// waitTracer waits (bounded) for the tracer of the run that just ended to
// write its last events.
func (e *Engine) waitTracer(id string) {
	deadline := time.Now().Add(10 * time.Second)
	for e.TracerRunning(id) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
