package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/cgroups"
	sdcgroup "github.com/kago-run/kago/linux/cgroups/systemd"
)

// Status values beyond the OCI ones: "paused" is runc's.
const (
	StatusCreating = specs.StateCreating
	StatusCreated  = specs.StateCreated
	StatusRunning  = specs.StateRunning
	StatusStopped  = specs.StateStopped
	StatusPaused   = specs.ContainerState("paused")
)

// Container is one container known to the runtime.
type Container struct {
	rt  *Runtime
	rec *record
	dir string
	// init is set only in the process that created the container.
	init *Process
}

// InitProcess is the container's init as a waitable Process. It is nil
// unless this Container came from Create in this process.
func (c *Container) InitProcess() *Process { return c.init }

// ID is the container's ID.
func (c *Container) ID() string { return c.rec.ID }

// Bundle is the absolute path of the container's bundle.
func (c *Container) Bundle() string { return c.rec.Bundle }

// Spec is the config the container was created from.
func (c *Container) Spec() *specs.Spec { return c.rec.Spec }

// Pid is the host PID of the container's init process (0 before it exists).
func (c *Container) Pid() int { return c.rec.InitPid }

// Created is when create began.
func (c *Container) Created() time.Time { return c.rec.Created }

// Owner is the user name that created the container, as `runc list` shows it.
func (c *Container) Owner() string { return c.rec.Owner }

// Rootfs is the absolute path of the container's root filesystem.
func (c *Container) Rootfs() string { return c.rec.Rootfs }

// Cgroup returns the manager of the container's cgroup.
func (c *Container) Cgroup() (cgroups.Manager, error) {
	if c.rec.NoCgroup {
		return noCgroup{initPid: c.rec.InitPid}, nil
	}
	return newCgroup(c.rec.Spec, c.rec.CgroupsPath, c.rec.ID, c.rec.SystemdCgroup)
}

// newCgroup picks the cgroup driver: systemd's scopes (which take unit
// properties from the spec's annotations too), or kago's own cgroupfs
// manager (which itself picks v1, hybrid or v2).
func newCgroup(spec *specs.Spec, cgroupsPath, id string, systemd bool) (cgroups.Manager, error) {
	if systemd {
		var annotations map[string]string
		if spec != nil {
			annotations = spec.Annotations
		}
		return sdcgroup.New(cgroupsPath, id, annotations)
	}
	return cgroups.New(cgroupsPath, id)
}

// Status derives the container's status from what is true now: whether init
// is alive (and the same process), whether the start FIFO is still there, and
// whether the cgroup is frozen.
func (c *Container) Status() specs.ContainerState {
	if c.rec.InitPid == 0 {
		return StatusCreating
	}
	if !alive(c.rec.InitPid, c.rec.InitStartTime) {
		return StatusStopped
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoFile)); err == nil {
		return StatusCreated
	}
	if cg, err := c.Cgroup(); err == nil {
		if s, err := cg.FreezerState(); err == nil && s == "frozen" {
			return StatusPaused
		}
	}
	return StatusRunning
}

// State is the container's OCI state, as `kago-runc state` prints it.
func (c *Container) State() *specs.State {
	st := c.hookState(c.Status())
	if st.Status == StatusStopped {
		st.Pid = 0
	}
	return st
}

func (c *Container) refresh() error {
	rec, err := readRecord(c.dir)
	if err != nil {
		return err
	}
	c.rec = rec
	return nil
}

// lock serialises verbs that change this container and re-reads its record.
func (c *Container) lock() (func(), error) {
	unlock, err := lockDir(c.dir)
	if err != nil {
		return nil, err
	}
	if err := c.refresh(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

func (c *Container) stateError(verb string, st specs.ContainerState) error {
	return fmt.Errorf("cannot %s container %s: it is %s: %w", verb, c.rec.ID, st, ErrState)
}
