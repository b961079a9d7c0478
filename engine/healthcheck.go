package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/health"
	"github.com/kago-run/kago/runtime"
)

// errNotProbed is Probe's update calling itself off: the container stopped
// or lost its healthcheck while the probe ran.
var errNotProbed = errors.New("container no longer probed")

// Probe is the body of `kago container-health ID`, which the container's
// monitor runs at each healthcheck interval: it runs the probe in the
// container, records the result in the container's health state, and
// returns how long the monitor waits before the next probe; ok is false
// when there is nothing more to probe (the container stopped).
func (e *Engine) Probe(ctx context.Context, id string) (next time.Duration, ok bool, err error) {
	rec, err := e.containers.Get(id)
	if err != nil {
		return 0, false, err
	}
	hc := rec.Healthcheck
	if hc == nil || rec.State.Status != containers.StatusRunning {
		return 0, false, nil
	}
	if rec.State.Paused {
		// A frozen container cannot answer: no probe until unpause, and
		// its health stays what it was.
		return healthDelay(rec), true, nil
	}
	res := e.runProbe(ctx, rec, hc)
	rec, err = e.containers.Update(id, func(r *containers.Record) error {
		if r.State.Status != containers.StatusRunning || r.State.Health == nil || r.Healthcheck == nil {
			return errNotProbed
		}
		r.State.Health.Record(r.Healthcheck, res, r.State.StartedAt)
		return nil
	})
	if errors.Is(err, errNotProbed) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return healthDelay(rec), true, nil
}

// healthDelay is the wait before the container's next probe.
func healthDelay(rec *containers.Record) time.Duration {
	hc := rec.Healthcheck
	starting := rec.State.Health == nil || rec.State.Health.Status == health.Starting
	return hc.EffectiveInterval(starting && time.Since(rec.State.StartedAt) < hc.StartPeriod)
}

// runProbe execs the healthcheck's command in the container and waits for
// it, killing it at the timeout (exit code -1, as docker reports it).
func (e *Engine) runProbe(ctx context.Context, rec *containers.Record, hc *health.Config) health.Result {
	res := health.Result{Start: time.Now().UTC()}
	fail := func(msg string) health.Result {
		res.End, res.ExitCode, res.Output = time.Now().UTC(), -1, msg
		return res
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fail(err.Error())
	}
	defer r.Close()
	p, err := e.Exec(ctx, rec.ID, ExecOptions{Args: hc.Args(), IO: runtime.IO{Stdout: w, Stderr: w}})
	w.Close()
	if err != nil {
		return fail(err.Error())
	}
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, io.LimitReader(r, health.MaxOutput))
		io.Copy(io.Discard, r)
		close(copied)
	}()
	exited := make(chan int, 1)
	go func() {
		code, err := p.Wait()
		if err != nil {
			code = -1
		}
		exited <- code
	}()
	timeout := hc.EffectiveTimeout()
	select {
	case res.ExitCode = <-exited:
	case <-time.After(timeout):
		p.Signal(unix.SIGKILL)
		<-exited
		return fail(fmt.Sprintf("Health check exceeded timeout (%s)", timeout))
	}
	// A probe's background child may hold the pipe: do not wait for it.
	r.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	<-copied
	res.End, res.Output = time.Now().UTC(), out.String()
	return res
}

// ErrUnhealthy is WaitHealthy's error for a container whose healthcheck
// failed its retries.
var ErrUnhealthy = errors.New("container is unhealthy")

// WaitHealthy waits until the container's healthcheck passed (compose's
// service_healthy). It fails at once for a container without a healthcheck,
// and when the container becomes unhealthy or stops.
func (e *Engine) WaitHealthy(ctx context.Context, ref string) error {
	rec, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	if rec.Healthcheck == nil {
		return fmt.Errorf("container %s has no healthcheck", rec.Name)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if h := rec.State.Health; h != nil && rec.State.Status == containers.StatusRunning {
			switch h.Status {
			case health.Healthy:
				return nil
			case health.Unhealthy:
				return fmt.Errorf("container %s: %w", rec.Name, ErrUnhealthy)
			}
		} else if rec.State.Status == containers.StatusExited || rec.State.Status == containers.StatusRemoving {
			return fmt.Errorf("container %s exited (code %d) before it was healthy", rec.Name, rec.State.ExitCode)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if rec, err = e.containers.Get(rec.ID); err != nil {
			return err
		}
	}
}
