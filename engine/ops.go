package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/runtime"
)

// Lookup finds a container by name, ID or ID prefix and reconciles its
// record with reality first (a killed monitor, a reboot, a killed create).
// A container still being created is waited for.
func (e *Engine) Lookup(ref string) (*containers.Record, error) {
	rec, err := e.containers.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if rec.Creating {
		e.waitCreated(rec.ID)
		if rec, err = e.containers.Get(rec.ID); err != nil {
			return nil, err
		}
	}
	return e.reconcile(rec)
}

// waitCreated waits (a minute at most) while another process creates the
// container.
func (e *Engine) waitCreated(id string) {
	for deadline := time.Now().Add(time.Minute); e.containers.CreatorAlive(id) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// Get returns the record of the container with this full ID as it is
// stored, without reconciling it (the monitor's helpers use it).
func (e *Engine) Get(id string) (*containers.Record, error) { return e.containers.Get(id) }

// List returns every container, reconciled, newest first.
func (e *Engine) List() ([]*containers.Record, error) {
	all, err := e.containers.List()
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, r := range all {
		if r, err := e.reconcile(r); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// finishCreating settles a record whose create has not finished: while
// its creator lives it is shown as it is (created); a create that was
// killed is removed with whatever it made, as if it never happened: nobody
// was told its ID.
func (e *Engine) finishCreating(rec *containers.Record) (*containers.Record, error) {
	if e.containers.CreatorAlive(rec.ID) {
		return rec, nil
	}
	cur, err := e.containers.Get(rec.ID)
	if err != nil || !cur.Creating {
		return cur, err // finished (or removed) meanwhile
	}
	e.Log.Info("removing a container whose create was interrupted", "id", cur.ID, "name", cur.Name)
	if err := e.removeFiles(context.Background(), cur, true); err != nil {
		return nil, fmt.Errorf("remove container %s, whose create was interrupted: %w", cur.Name, err)
	}
	return nil, fmt.Errorf("%s: its create was interrupted, and what it made is removed: %w", cur.Name, containers.ErrNotFound)
}

// reconcile fixes a record whose monitor is gone. If the container still
// runs (only its monitor was killed) it stays "running" and stop/rm handle
// it without a monitor; if it is gone (or the host rebooted) it becomes
// "exited" with its network and runtime state cleaned up.
func (e *Engine) reconcile(rec *containers.Record) (*containers.Record, error) {
	if rec.Creating {
		return e.finishCreating(rec)
	}
	st := rec.State.Status
	if st != containers.StatusRunning && st != containers.StatusRestarting {
		return rec, nil
	}
	if e.monitorAlive(rec.ID) {
		return rec, nil
	}
	if e.Running(rec.ID) {
		return rec, nil
	}
	e.teardown(context.Background(), rec.ID)
	return e.containers.Update(rec.ID, func(r *containers.Record) error {
		if r.State.Status != containers.StatusRunning && r.State.Status != containers.StatusRestarting {
			return nil
		}
		r.State.Status = containers.StatusExited
		r.State.Pid, r.State.Paused = 0, false
		r.State.ExitCode = 255
		r.State.Error = "the container's monitor ended before it (killed, or the host rebooted)"
		r.State.FinishedAt = time.Now().UTC()
		r.Endpoint, r.MoreEndpoints = nil, nil
		return nil
	})
}

// Running reports whether the container's process is alive now.
func (e *Engine) Running(id string) bool {
	c, err := e.runtime.Load(id)
	return err == nil && (c.Status() == runtime.StatusRunning || c.Status() == runtime.StatusPaused)
}

// teardown removes what a run of the container left in the kernel: the
// network attachment (veth, DNAT rules, address), the runtime container
// (processes, cgroup, state) and the rootfs mount, as docker unmounts a
// stopped container's root (start mounts it again). It is idempotent, and
// needs nothing but the ID, so it serves half-made containers too.
func (e *Engine) teardown(ctx context.Context, id string) {
	e.teardownRun(ctx, id)
	if err := e.Images.Snapshots().Unmount(ctx, id); err != nil && !isNotFound(err) {
		e.Log.Warn("unmount rootfs", "id", id, "error", err)
	}
}

// teardownRun is teardown without the unmount: what start clears before
// it runs the container again, keeping a rootfs mount it can use as it is
// (left by `run`'s create, or by a monitor that was killed).
//
// The network detach and the runtime delete share nothing (the netns goes
// with the container's last process either way): they run side by side.
func (e *Engine) teardownRun(ctx context.Context, id string) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := e.Net.Detach(ctx, id); err != nil {
			e.Log.Warn("detach network", "id", id, "error", err)
		}
	})
	if c, err := e.runtime.Load(id); err == nil {
		if err := c.Delete(ctx, true); err != nil {
			e.Log.Warn("delete runtime container", "id", id, "error", err)
		}
	}
	wg.Wait()
}

// removeFiles deletes a stopped container for good: kernel state, rootfs
// snapshot, anonymous volumes (with volumes) and its directory. Every part
// may be missing (a create that failed or was killed half-way).
func (e *Engine) removeFiles(ctx context.Context, rec *containers.Record, volumes bool) error {
	e.teardown(ctx, rec.ID)
	return e.removeTornDown(ctx, rec, volumes)
}

// removeTornDown is removeFiles for a container whose run was just torn
// down (FinishRun of a --rm container): a second teardown would only
// repeat the network detach and the runtime and mount look-ups.
func (e *Engine) removeTornDown(ctx context.Context, rec *containers.Record, volumes bool) error {
	if err := e.Images.Snapshots().Release(ctx, rec.ID); err != nil && !isNotFound(err) {
		return fmt.Errorf("release rootfs of %s: %w", rec.Name, err)
	}
	if volumes {
		for _, m := range rec.Mounts {
			if m.Type == string(MountVolume) && m.Anonymous {
				err := e.volumes.Remove(m.Name, func(name string) []string {
					return slices.DeleteFunc(e.volumeUsers()[name], func(id string) bool { return id == rec.ID })
				})
				if err != nil && !errors.Is(err, ErrNoSuchVolume) {
					return err
				}
			}
		}
	}
	return e.containers.Delete(rec.ID)
}

func isNotFound(err error) bool {
	return errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "not found")
}

// DefaultStopTimeout is how long stop waits when neither the caller nor
// the container (--stop-timeout) says, as docker.
const DefaultStopTimeout = 10 * time.Second

// Stop sends the stop signal (the image's StopSignal, default SIGTERM) and
// SIGKILL after timeout, and waits until the monitor recorded the exit. The
// restart policy does not bring a stopped container back. A negative
// timeout is the container's --stop-timeout (DefaultStopTimeout without
// one; its -1 waits for ever).
func (e *Engine) Stop(ctx context.Context, ref string, timeout time.Duration) error {
	rec, err := e.markStopped(ref, "")
	if err != nil {
		return err
	}
	if timeout < 0 {
		timeout = DefaultStopTimeout
		if t := rec.HostConfig.StopTimeout; t != nil {
			timeout = time.Duration(*t) * time.Second
			if *t < 0 {
				timeout = 100 * 365 * 24 * time.Hour // for ever
			}
		}
	}
	sig := unix.SIGTERM
	if rec.StopSignal != "" {
		if s, err := runtime.ParseSignal(rec.StopSignal); err == nil {
			sig = s
		}
	}
	return e.stop(ctx, rec, sig, timeout)
}

func (e *Engine) markStopped(ref, status string) (*containers.Record, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	return e.containers.Update(rec.ID, func(r *containers.Record) error {
		r.State.ManuallyStopped = true
		if status != "" {
			r.State.Status = status
		}
		return nil
	})
}

func (e *Engine) stop(ctx context.Context, rec *containers.Record, sig unix.Signal, timeout time.Duration) error {
	if c, err := e.runtime.Load(rec.ID); err == nil && c.Status() != runtime.StatusStopped {
		if err := c.Kill(sig, false); err != nil && !errors.Is(err, runtime.ErrState) {
			return err
		}
		if err := e.thawForSignal(rec.ID); err != nil {
			return err
		}
		if !e.waitExit(ctx, rec.ID, timeout) {
			// The container may exit meanwhile and its monitor tear its
			// cgroup down under the kill: that is no failure.
			if err := c.Kill(unix.SIGKILL, true); err != nil && e.Running(rec.ID) {
				return err
			}
			// Without a monitor, init's new parent reaps it a moment later.
			if !e.waitExit(ctx, rec.ID, 10*time.Second) {
				return fmt.Errorf("container %s is still running after SIGKILL", rec.Name)
			}
		}
	}
	// The monitor records the exit (or, if it is gone, reconcile does). A
	// monitor that was starting the container as we came may start it
	// after all: it is stopped too.
	deadline := time.Now().Add(10 * time.Second)
	for e.monitorAlive(rec.ID) && time.Now().Before(deadline) {
		if c, err := e.runtime.Load(rec.ID); err == nil && c.Status() == runtime.StatusRunning {
			c.Kill(unix.SIGKILL, true)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err := e.reconcileGone(rec.ID)
	return err
}

// reconcileGone records the exit of a container that has no monitor and no
// running process.
func (e *Engine) reconcileGone(id string) (*containers.Record, error) {
	rec, err := e.containers.Get(id)
	if err != nil {
		return nil, err
	}
	if e.monitorAlive(id) || e.Running(id) {
		return rec, nil
	}
	return e.reconcile(rec)
}

// waitExit polls until the container's init is gone or timeout passes.
func (e *Engine) waitExit(ctx context.Context, id string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !e.Running(id) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends sig to the container's init; the restart policy does not apply
// to the exit it causes.
func (e *Engine) Kill(ctx context.Context, ref string, sig unix.Signal) error {
	rec, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	if !e.Running(rec.ID) {
		return fmt.Errorf("container %s is not running", rec.Name)
	}
	if _, err := e.markStopped(rec.ID, ""); err != nil {
		return err
	}
	c, err := e.runtime.Load(rec.ID)
	if err != nil {
		return err
	}
	if err := c.Kill(sig, false); err != nil {
		return err
	}
	return e.thawForSignal(rec.ID)
}

// Signal passes sig to the container's init for a client attached to it
// (docker's sig-proxy); unlike Kill it leaves the restart policy in force.
func (e *Engine) Signal(id string, sig unix.Signal) error {
	c, err := e.runtime.Load(id)
	if err != nil {
		return fmt.Errorf("container %s is not running", id)
	}
	return c.Kill(sig, false)
}

// Remove deletes a container. A running one is refused unless force, which
// kills it first. With volumes its anonymous volumes go too.
func (e *Engine) Remove(ctx context.Context, ref string, force, volumes bool) error {
	rec, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	running := e.Running(rec.ID) || e.monitorAlive(rec.ID)
	if running && !force {
		return fmt.Errorf("cannot remove running container %s: stop it first (kago stop %s) or use rm -f", rec.Name, rec.Name)
	}
	if running {
		rec, err = e.markStopped(rec.ID, containers.StatusRemoving)
		if err != nil {
			return err
		}
		if err := e.stop(ctx, rec, unix.SIGKILL, 0); err != nil {
			return err
		}
	}
	return e.removeFiles(ctx, rec, volumes)
}

// WaitStopped blocks until the container is not running (docker wait) and
// returns its exit code.
func (e *Engine) WaitStopped(ctx context.Context, ref string) (int, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return -1, err
	}
	for {
		cur, err := e.reconcileGone(rec.ID)
		if err != nil {
			if errors.Is(err, containers.ErrNotFound) {
				return rec.State.ExitCode, nil // removed (--rm) after it exited
			}
			return -1, err
		}
		rec = cur
		if rec.State.Status != containers.StatusRunning && rec.State.Status != containers.StatusRestarting && !e.monitorAlive(rec.ID) {
			return rec.State.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Startable lists the containers `start --all` starts: every one that is not
// running, oldest first, or with policies only those whose restart policy is
// one of them. An "unless-stopped" container stopped by hand is left alone,
// as docker leaves it when its daemon starts.
func (e *Engine) Startable(policies []RestartPolicyName) ([]string, error) {
	list, err := e.List()
	if err != nil {
		return nil, err
	}
	var refs []string
	for i := len(list) - 1; i >= 0; i-- {
		r := list[i]
		if r.State.Status == containers.StatusRunning || r.State.Status == containers.StatusRestarting {
			continue
		}
		policy := cmp.Or(r.Restart.Name, RestartNo)
		if len(policies) > 0 && (!slices.Contains(policies, policy) || policy == RestartUnlessStopped && r.State.ManuallyStopped) {
			continue
		}
		refs = append(refs, r.Name)
	}
	return refs, nil
}
