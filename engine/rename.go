package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/kago-run/kago/engine/containers"
)

// Rename gives a container a new name (docker rename). A running container
// answers to the new name at once in its network's DNS and its peers'
// /etc/hosts; its hostname stays, as in docker.
func (e *Engine) Rename(ctx context.Context, ref, name string) (*containers.Record, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if rec.Name == name {
		return nil, fmt.Errorf("container %s is already named %s", rec.ShortID(), name)
	}
	renamed, err := e.containers.Rename(rec.ID, name)
	if err != nil || renamed.Endpoint == nil {
		return renamed, err
	}
	// The old name goes unless the user also gave it as a --network-alias.
	old := slices.DeleteFunc(hostAliases(rec.Name), func(a string) bool { return slices.Contains(rec.NetworkAliases, a) })
	ep, err := e.Net.ReplaceAliases(ctx, rec.ID, old, hostAliases(name))
	if err != nil || ep == nil {
		return renamed, err
	}
	return e.containers.Update(rec.ID, func(r *containers.Record) error {
		if r.Endpoint != nil {
			r.Endpoint.Aliases = ep.Aliases
		}
		return nil
	})
}
