package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
)

// ReplaceAliases changes a container's names on its network (kago rename):
// the names in remove go, those in add come, in its own /etc/hosts, in its
// peers' (on a user network) and, as the state changes, in the network's
// resolver. A container without an endpoint (not running) has nothing to
// change: its next attach uses its new name.
func (m *Manager) ReplaceAliases(ctx context.Context, containerID string, remove, add []string) ([]Endpoint, error) {
	var out []Endpoint
	err := m.locked(ctx, true, func(s *state) error {
		// Every network the container is on knows it by its name.
		eps := endpointsOf(s, containerID)
		if len(eps) == 0 {
			return nil
		}
		for i := range eps {
			eps[i].Aliases = replaceNames(eps[i].Aliases, remove, add)
			s.Endpoints[epKey(containerID, eps[i].Network)] = eps[i]
		}
		out = eps
		first := eps[0]
		if first.HostsPath != "" {
			if err := writeInPlace(first.HostsPath, m.hostsFor(s, first)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rename %s: %w", containerID, err)
			}
		}
		for _, ep := range eps {
			if ep.Network == DefaultNetwork {
				continue
			}
			if err := m.updatePeerHosts(s, ep.Network, containerID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// replaceNames is names without those in remove and with those in add
// (each once); names itself is left as it is.
func replaceNames(names, remove, add []string) []string {
	out := slices.DeleteFunc(slices.Clone(names), func(a string) bool { return slices.Contains(remove, a) })
	for _, a := range add {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
