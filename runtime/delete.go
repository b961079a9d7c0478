package runtime

import (
	"context"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/runtime/hooks"
)

// Delete removes a stopped or created container: its processes (a created
// container's blocked init), its cgroup and its state directory, then runs
// the poststop hooks. A running or paused container is refused unless force,
// which kills it first.
func (c *Container) Delete(ctx context.Context, force bool) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st := c.Status()
	if (st == StatusRunning || st == StatusPaused) && !force {
		return fmt.Errorf("cannot delete container %s that is %s: stop it first, or use --force: %w", c.ID(), st, ErrState)
	}
	if st != StatusStopped || force {
		if err := c.signalAll(unix.SIGKILL); err != nil {
			c.rt.Log.Warn("kill before delete", "id", c.ID(), "error", err)
		}
		if st != StatusStopped && c.rec.InitPid > 0 {
			unix.Kill(c.rec.InitPid, unix.SIGKILL)
		}
		if st == StatusPaused {
			if cg, err := c.Cgroup(); err == nil {
				cg.Thaw()
			}
		}
	}
	if err := c.waitGone(10 * time.Second); err != nil {
		return err
	}
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	if err := cg.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup of container %s: %w", c.ID(), err)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove state of container %s: %w", c.ID(), err)
	}
	if c.rec.Spec.Hooks != nil && c.rec.InitPid != 0 {
		if err := hooks.Run(ctx, "poststop", c.rec.Spec.Hooks.Poststop, c.hookState(specs.StateStopped)); err != nil {
			c.rt.Log.Warn("poststop hook failed", "id", c.ID(), "error", err)
		}
	}
	return nil
}
