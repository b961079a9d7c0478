package compose

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
)

// waitHealthy waits until the container's healthcheck passes (the
// engine's health state); a container without one fails at once.
func (p *Project) waitHealthy(ctx context.Context, r *containers.Record) error {
	err := p.Engine.WaitHealthy(ctx, r.ID)
	if errors.Is(err, engine.ErrUnhealthy) {
		return fmt.Errorf("container %s is unhealthy", r.Name)
	}
	return err
}

// volumeLabels mark a volume as the project's, as docker compose does.
func (p *Project) volumeLabels(key string) map[string]string {
	return map[string]string{LabelProject: p.Name, LabelVolume: key, LabelVersion: composeVersionString}
}

// ensureVolumes makes the project volumes the services mount, labelled
// as the project's; an external one must exist already.
func (p *Project) ensureVolumes(services []string) error {
	used := map[string]bool{}
	for _, name := range services {
		for _, v := range p.Services[name].Volumes {
			if v.Type == "volume" && v.Source != "" {
				used[v.Source] = true
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		v, ok := p.Volumes[key]
		if !ok {
			continue // Request names the service and the volume
		}
		if _, err := p.Engine.InspectVolume(v.Name); err == nil {
			continue
		} else if !errors.Is(err, engine.ErrNoSuchVolume) {
			return err
		}
		if bool(v.External) {
			return fmt.Errorf("external volume %q not found: create it with kago volume create %s", v.Name, v.Name)
		}
		p.Say("Volume", v.Name, "Creating")
		if _, err := p.Engine.CreateVolume(v.Name, p.volumeLabels(key)); err != nil {
			return fmt.Errorf("volume %q: %w", key, err)
		}
		p.Say("Volume", v.Name, "Created")
	}
	return nil
}

// removeVolume removes a named volume the project made (its label says
// so); one made otherwise is left alone, as docker compose leaves it.
func (p *Project) removeVolume(name string) error {
	v, err := p.Engine.InspectVolume(name)
	if errors.Is(err, engine.ErrNoSuchVolume) {
		return nil
	}
	if err != nil {
		return err
	}
	if v.Labels[LabelProject] != p.Name {
		if p.Progress != nil {
			fmt.Fprintf(p.Progress, "WARN volume %s was not created by this project: left in place\n", name)
		}
		return nil
	}
	p.Say("Volume", name, "Removing")
	if err := p.Engine.RemoveVolume(name, false); err != nil && !errors.Is(err, engine.ErrNoSuchVolume) {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	p.Say("Volume", name, "Removed")
	return nil
}
