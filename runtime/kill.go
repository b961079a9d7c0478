package runtime

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Kill sends sig to the container's init, or with all to every process in its
// cgroup (runc's kill --all).
func (c *Container) Kill(sig unix.Signal, all bool) error {
	st := c.Status()
	if all {
		return c.signalAll(sig)
	}
	if st == StatusStopped || st == StatusCreating {
		return fmt.Errorf("cannot kill container %s: it is %s (container not running): %w", c.ID(), st, ErrState)
	}
	return c.signalInit(sig)
}

// signalInit signals init through a pidfd taken after checking the start
// time, so a recycled PID can never receive the signal.
func (c *Container) signalInit(sig unix.Signal) error {
	pidfd, err := unix.PidfdOpen(c.rec.InitPid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("container %s is not running: %w", c.ID(), ErrState)
		}
		return fmt.Errorf("pidfd_open %d: %w", c.rec.InitPid, err)
	}
	defer unix.Close(pidfd)
	if !alive(c.rec.InitPid, c.rec.InitStartTime) {
		return fmt.Errorf("container %s is not running: %w", c.ID(), ErrState)
	}
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %s to container %s: %w", unix.SignalName(sig), c.ID(), err)
	}
	return nil
}

// signalAll signals every process in the container's cgroup. SIGKILL goes
// through the cgroup manager's Kill (cgroup.kill, or freeze-kill-thaw), so no
// process can fork away from it.
func (c *Container) signalAll(sig unix.Signal) error {
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	if sig == unix.SIGKILL {
		if err := cg.Kill(); err != nil {
			return fmt.Errorf("kill processes of container %s: %w", c.ID(), err)
		}
		return nil
	}
	pids, err := cg.Pids()
	if err != nil {
		return fmt.Errorf("list processes of container %s: %w", c.ID(), err)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal %s to pid %d of container %s: %w", unix.SignalName(sig), pid, c.ID(), err)
		}
	}
	return nil
}

// waitGone waits until no process is left in the cgroup and init is gone.
func (c *Container) waitGone(timeout time.Duration) error {
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		pids, _ := cg.Pids()
		if len(pids) == 0 && !alive(c.rec.InitPid, c.rec.InitStartTime) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of container %s still running after %s: %v", c.ID(), timeout, pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ParseSignal accepts a signal as runc and docker do: TERM, SIGTERM,
// sigterm or 15.
func ParseSignal(s string) (unix.Signal, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if v, err := strconv.Atoi(u); err == nil {
		if v > 0 && v < 65 {
			return unix.Signal(v), nil
		}
	} else {
		if !strings.HasPrefix(u, "SIG") {
			u = "SIG" + u
		}
		if sig := unix.SignalNum(u); sig != 0 {
			return sig, nil
		}
	}
	return 0, fmt.Errorf("invalid signal %q: use a name like TERM or KILL, or a number 1-64", s)
}
