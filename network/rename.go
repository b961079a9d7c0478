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
func (m *Manager) ReplaceAliases(ctx context.Context, containerID string, remove, add []string) (*Endpoint, error) {
	var out *Endpoint
	err := m.locked(ctx, true, func(s *state) error {
		ep, ok := s.Endpoints[containerID]
		if !ok {
			return nil
		}
		aliases := slices.DeleteFunc(slices.Clone(ep.Aliases), func(a string) bool { return slices.Contains(remove, a) })
		for _, a := range add {
			if !slices.Contains(aliases, a) {
				aliases = append(aliases, a)
			}
		}
		ep.Aliases = aliases
		s.Endpoints[containerID] = ep
		out = &ep
		if ep.HostsPath != "" {
			if err := writeInPlace(ep.HostsPath, m.hostsFor(s, ep)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rename %s: %w", containerID, err)
			}
		}
		if ep.Network == DefaultNetwork {
			return nil
		}
		return m.updatePeerHosts(s, ep.Network, containerID)
	})
	return out, err
}
