package systemd

import (
	"fmt"

	sd "github.com/coreos/go-systemd/v22/dbus"

	"github.com/kago-run/kago/linux/cgroups"
	"github.com/kago-run/kago/linux/explain"
)

// SetRecorder makes the manager report each unit property it asks systemd
// for, and (through the cgroupfs manager it embeds) each file it writes
// itself; nil turns reporting off.
func (m *Manager) SetRecorder(rec explain.Recorder) {
	m.rec = rec
	cgroups.SetRecorder(m.Manager, rec)
}

// recordProperties records the D-Bus call that gave systemd the unit's
// properties, one step a property, after systemd accepted them: systemd, not
// kago, then writes the cgroup files they stand for.
func recordProperties(rec explain.Recorder, call, unit string, props []sd.Property) {
	if rec == nil {
		return
	}
	for _, p := range props {
		rec.Record(explain.Step{Feature: "cgroup", Call: call, Path: unit, Value: p.Name + "=" + fmt.Sprint(p.Value.Value()),
			Why: "systemd owns this cgroup: a unit property it turns into the cgroup's files", Man: "systemd.resource-control(5)"})
	}
}
