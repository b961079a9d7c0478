package runtime

import (
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update changes the cgroup limits of a created, running or paused container,
// as `runc update` does: nil fields of res are left as they are. The new
// values are also merged into the container's recorded spec, so that later
// verbs (and a second update) see what is in force.
func (c *Container) Update(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	if err := checkUnsupportedResources(res); err != nil {
		return err
	}
	c.rt.warnIgnored(c.ID(), res)
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st == StatusStopped || st == StatusCreating {
		return c.stateError("update", st)
	}
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	if err := cg.Update(res); err != nil {
		return fmt.Errorf("update container %s: %w", c.ID(), err)
	}
	if c.rec.Spec.Linux.Resources == nil {
		c.rec.Spec.Linux.Resources = &specs.LinuxResources{}
	}
	if err := MergeResources(c.rec.Spec.Linux.Resources, res); err != nil {
		return fmt.Errorf("record update of container %s: %w", c.ID(), err)
	}
	return writeRecord(c.dir, c.rec)
}

// MergeResources overlays the set fields of res on dst. Decoding JSON into an
// existing value fills only the fields present in the input (omitempty drops
// the nil ones) and reuses the structs dst already points to, which is exactly
// update's "nil means unchanged".
func MergeResources(dst, res *specs.LinuxResources) error {
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, dst)
}
