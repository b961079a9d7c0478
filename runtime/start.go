package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/runtime/hooks"
)

// Start lets a created container's init execve the user process, by opening
// the exec FIFO it is blocked on, then runs the poststart hooks.
func (c *Container) Start(ctx context.Context) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st != StatusCreated {
		return c.stateError("start", st)
	}
	if err := c.openFifo(ctx); err != nil {
		return err
	}
	c.rec.Started = true
	if err := writeRecord(c.dir, c.rec); err != nil {
		return err
	}
	if c.rec.Spec.Hooks != nil {
		if err := hooks.Run(ctx, "poststart", c.rec.Spec.Hooks.Poststart, c.hookState(specs.StateRunning)); err != nil {
			// The spec says a failing poststart hook is only a warning.
			c.rt.Log.Warn("poststart hook failed", "id", c.ID(), "error", err)
		}
	}
	return nil
}

// openFifo opens the FIFO for reading, which unblocks init's open for
// writing, and reads the byte init writes. Opening blocks while init has not
// reached the FIFO yet, so it runs beside a watch on init's liveness.
func (c *Container) openFifo(ctx context.Context) error {
	path := filepath.Join(c.dir, fifoFile)
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
		done <- result{f, err}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			if res.err != nil {
				return fmt.Errorf("open exec fifo: %w", res.err)
			}
			if err := readStartByte(res.f); err != nil {
				return fmt.Errorf("container %s init exited before start completed", c.ID())
			}
			return os.Remove(path)
		case <-tick.C:
			if alive(c.rec.InitPid, c.rec.InitStartTime) {
				continue
			}
			// Init is gone. It may have passed the FIFO, run a quick user
			// process (`true`) and exited before this tick: then our open
			// has succeeded and init's byte waits in the FIFO. containerd
			// reports such a start as failed if we miss it. A writer open
			// fails (ENXIO) when no reader is open, i.e. init never passed.
			f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("container %s init has exited; it cannot be started", c.ID())
			}
			f.Close()
			if res := <-done; res.err == nil && readStartByte(res.f) == nil {
				return os.Remove(path)
			}
			return fmt.Errorf("container %s init has exited; it cannot be started", c.ID())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readStartByte reads the one byte init writes to the exec FIFO, and closes f.
func readStartByte(f *os.File) error {
	defer f.Close()
	buf := make([]byte, 1)
	n, err := f.Read(buf)
	if err != nil || n != 1 {
		return fmt.Errorf("read exec fifo: %d bytes, %v", n, err)
	}
	return nil
}

func (c *Container) hookState(status specs.ContainerState) *specs.State {
	return &specs.State{
		Version: specs.Version, ID: c.rec.ID, Status: status, Pid: c.rec.InitPid,
		Bundle: c.rec.Bundle, Annotations: c.rec.Spec.Annotations,
	}
}
