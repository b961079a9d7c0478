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
	eps, err := e.Net.ReplaceAliases(ctx, rec.ID, old, hostAliases(name))
	if err != nil || len(eps) == 0 {
		return renamed, err
	}
	// The record keeps a copy of each live endpoint: take the new names
	// from the network's state, by network.
	aliases := map[string][]string{}
	for _, ep := range eps {
		aliases[ep.Network] = ep.Aliases
	}
	return e.containers.Update(rec.ID, func(r *containers.Record) error {
		if r.Endpoint != nil {
			r.Endpoint.Aliases = aliases[r.Endpoint.Network]
		}
		for i := range r.MoreEndpoints {
			r.MoreEndpoints[i].Aliases = aliases[r.MoreEndpoints[i].Network]
		}
		return nil
	})
}
