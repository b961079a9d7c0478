package engine

import (
	"errors"
	"fmt"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/runtime"
)

// Pause freezes every process of a running container (the cgroup freezer,
// as docker pause). The record says Paused until Unpause or the exit.
func (e *Engine) Pause(ref string) error {
	return e.setPaused(ref, true)
}

// Unpause thaws a paused container.
func (e *Engine) Unpause(ref string) error {
	return e.setPaused(ref, false)
}

func (e *Engine) setPaused(ref string, pause bool) error {
	rec, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	c, err := e.runtime.Load(rec.ID)
	if err != nil || rec.State.Status != containers.StatusRunning {
		return fmt.Errorf("container %s is not running: start it first (kago start %s)", rec.Name, rec.Name)
	}
	switch st := c.Status(); {
	case pause && st == runtime.StatusPaused:
		return fmt.Errorf("container %s is already paused", rec.Name)
	case !pause && st != runtime.StatusPaused:
		return fmt.Errorf("container %s is not paused", rec.Name)
	}
	// The record first, so a reader never sees a frozen container called
	// running; put back if the freezer refuses.
	mark := func(p bool) error {
		_, err := e.containers.Update(rec.ID, func(r *containers.Record) error {
			r.State.Paused = p
			return nil
		})
		return err
	}
	if pause {
		if err := mark(true); err != nil {
			return err
		}
		if err := c.Pause(); err != nil {
			mark(false)
			return fmt.Errorf("pause %s: %w", rec.Name, err)
		}
		return nil
	}
	if err := c.Resume(); err != nil {
		return fmt.Errorf("unpause %s: %w", rec.Name, err)
	}
	return mark(false)
}

// thawForSignal lets a signal just sent to a paused container act: frozen
// processes do not run their handlers (nor, under the v1 freezer, die of
// SIGKILL) until thawed. docker unpauses for stop and kill the same way.
func (e *Engine) thawForSignal(id string) error {
	c, err := e.runtime.Load(id)
	if err != nil || c.Status() != runtime.StatusPaused {
		return nil
	}
	if err := c.Resume(); err != nil && !errors.Is(err, runtime.ErrState) {
		return err
	}
	_, err = e.containers.Update(id, func(r *containers.Record) error {
		r.State.Paused = false
		return nil
	})
	return err
}
