package runtime

import "fmt"

// Pause freezes every process of a running container (cgroup freezer).
func (c *Container) Pause() error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st != StatusRunning {
		return c.stateError("pause", st)
	}
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	if err := cg.Freeze(); err != nil {
		return fmt.Errorf("pause container %s: %w", c.ID(), err)
	}
	return nil
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st != StatusPaused {
		return c.stateError("resume", st)
	}
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	if err := cg.Thaw(); err != nil {
		return fmt.Errorf("resume container %s: %w", c.ID(), err)
	}
	return nil
}

// Processes lists the host PIDs of every process in the container.
func (c *Container) Processes() ([]int, error) {
	cg, err := c.Cgroup()
	if err != nil {
		return nil, err
	}
	pids, err := cg.Pids()
	if err != nil {
		return nil, fmt.Errorf("list processes of container %s: %w", c.ID(), err)
	}
	return pids, nil
}
