package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"

	sd "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/cgroups"
	"github.com/kago-run/kago/linux/explain"
)

// Manager is one container's cgroup made by systemd as a transient scope.
// It is a cgroups.Manager: the embedded cgroupfs manager, pointed at the
// scope's directories, does whatever systemd has no verb for.
type Manager struct {
	cgroups.Manager // the scope's cgroup files
	unit            Unit
	id              string
	mode            string
	extra           []sd.Property // from AnnotationPrefix annotations
	// pending holds Create's limits until Join names the first process:
	// systemd makes a scope only around a process.
	pending *specs.LinuxResources
	started bool
	// taken: Join found the scope name in use by a live unit, which Destroy
	// must then leave alone (it is another container's).
	taken bool
	rec   explain.Recorder // nil: explain off
}

var _ cgroups.Manager = (*Manager)(nil)

// New returns the manager for a container whose linux.cgroupsPath is
// "slice:prefix:name" (see ParsePath); annotations are the config's, whose
// AnnotationPrefix entries become properties of the unit. It creates nothing.
func New(cgroupsPath, containerID string, annotations map[string]string) (*Manager, error) {
	u, err := ParsePath(cgroupsPath, containerID)
	if err != nil {
		return nil, err
	}
	extra, err := annotationProperties(annotations)
	if err != nil {
		return nil, err
	}
	if !IsRunningSystemd() {
		return nil, errors.New("--systemd-cgroup needs systemd as the host's init, and this host's PID 1 is not systemd (no /run/systemd/system): drop the flag to use cgroupfs")
	}
	mode, err := cgroups.Mode()
	if err != nil {
		return nil, err
	}
	fs, err := cgroups.New(u.CgroupPath(), containerID)
	if err != nil {
		return nil, err
	}
	return &Manager{Manager: fs, unit: u, id: containerID, mode: mode, extra: extra}, nil
}

// Unit is the scope's unit name, "kago-<id>.scope" for instance.
func (m *Manager) Unit() string { return m.unit.Name }

// Create validates res and keeps it for Join, which starts the scope with
// the container's init as its first process and applies res then. On a
// scope already started by this manager it applies res at once.
func (m *Manager) Create(res *specs.LinuxResources) error {
	if m.started {
		return m.Update(res)
	}
	if err := cgroups.ValidateResources(res); err != nil {
		return err
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	m.pending = res
	return nil
}

// Join starts the scope around pid after Create; otherwise it moves pid
// into the scope's cgroup.
func (m *Manager) Join(pid int) error {
	if m.pending == nil || m.started {
		return m.Manager.Join(pid)
	}
	if pid <= 0 {
		return fmt.Errorf("join cgroup: invalid pid %d", pid)
	}
	var files *specs.LinuxResources
	err := withSystemd(func(ctx context.Context, c *sd.Conn) error {
		rprops, f, err := resourceProperties(m.pending, m.mode, systemdVersion(c))
		if err != nil {
			return err
		}
		files = f
		// The annotations may override kago's defaults; the limits come last.
		props := append(scopeProperties(m.unit, m.id, m.mode, pid), m.extra...)
		props = append(props, rprops...)
		if err := startUnit(ctx, c, m.unit.Name, props); err != nil {
			return err
		}
		recordProperties(m.rec, "StartTransientUnit", m.unit.Name, props)
		return nil
	})
	if errors.Is(err, ErrUnitExists) {
		m.taken = true
	}
	if err != nil {
		return err
	}
	m.started = true
	// systemd made the cgroup in the trees it manages; the cgroupfs manager
	// makes it in the v1 trees it does not (cpuset, freezer, net_cls, ...),
	// writes what systemd cannot express, and moves pid into those trees.
	if err := m.Manager.Create(files); err != nil {
		return fmt.Errorf("systemd unit %s: %w", m.unit.Name, err)
	}
	return m.Manager.Join(pid)
}

// Update sets the unit's properties, then writes the cgroup files, as
// Create does. On cgroup v1 a change of device rules is made with the
// container frozen: systemd rewrites the devices list from scratch (deny
// all, then each allow), and a process must not meet the gap.
func (m *Manager) Update(res *specs.LinuxResources) (err error) {
	if res == nil {
		return nil
	}
	if err := cgroups.ValidateResources(res); err != nil {
		return err
	}
	if err := m.checkMemoryUsage(res.Memory); err != nil {
		return err
	}
	if res, err = m.completeCPUQuota(res); err != nil {
		return err
	}
	if len(res.Devices) > 0 && m.mode != cgroups.ModeV2 {
		if st, err := m.FreezerState(); err == nil && st == cgroups.Thawed {
			if err := m.Freeze(); err != nil {
				return fmt.Errorf("freeze before changing device rules: %w", err)
			}
			defer func() {
				if terr := m.Thaw(); terr != nil && err == nil {
					err = terr
				}
			}()
		}
	}
	var files *specs.LinuxResources
	err = withSystemd(func(ctx context.Context, c *sd.Conn) error {
		props, f, err := resourceProperties(res, m.mode, systemdVersion(c))
		files = f
		if err != nil || len(props) == 0 {
			return err
		}
		if err := c.SetUnitPropertiesContext(ctx, m.unit.Name, true, props...); err != nil {
			return fmt.Errorf("set properties of systemd unit %s: %w", m.unit.Name, err)
		}
		recordProperties(m.rec, "SetUnitProperties", m.unit.Name, props)
		return nil
	})
	if err != nil {
		return err
	}
	return m.Manager.Update(files)
}

// checkMemoryUsage is memory.checkBeforeUpdate, done before systemd sees
// the new limit: systemd would apply a limit below the usage at once, and
// the kernel would OOM-kill the container before the check in the cgroupfs
// manager ran.
func (m *Manager) checkMemoryUsage(mem *specs.LinuxMemory) error {
	if mem == nil || mem.CheckBeforeUpdate == nil || !*mem.CheckBeforeUpdate || value(mem.Limit) <= 0 {
		return nil
	}
	st, err := m.Stats()
	if err != nil {
		return err
	}
	if uint64(*mem.Limit) < st.Memory.Usage.Usage {
		return fmt.Errorf("memory.limit %d is below the cgroup's current usage %d (checkBeforeUpdate is set): raise the limit", *mem.Limit, st.Memory.Usage.Usage)
	}
	return nil
}

// Destroy stops the scope (systemd kills what is still inside and removes
// its cgroups), waits for that, clears a failed unit from systemd's list,
// and then removes the cgroups systemd does not manage (v1 trees it does
// not know). A scope that is already gone is fine: that is what a crashed
// create or an exited container leaves. After a Join that found the scope
// taken by another container, Destroy does nothing.
func (m *Manager) Destroy() error {
	if m.taken {
		return nil
	}
	err := withSystemd(func(ctx context.Context, c *sd.Conn) error {
		return stopUnit(ctx, c, m.unit.Name)
	})
	if err != nil {
		return err
	}
	m.started = false
	return m.Manager.Destroy()
}

// Kill kills every process in the scope. A scope whose processes are all
// gone has no cgroup any more (systemd removes an emptied scope at once),
// and there is nothing to kill.
func (m *Manager) Kill() error {
	if err := m.Manager.Kill(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
