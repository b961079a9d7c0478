package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/kago-run/kago/network/ipam"
	"github.com/kago-run/kago/network/link"
	"github.com/kago-run/kago/network/nft"
)

// NetworkInfo describes one network.
type NetworkInfo struct {
	Name    string       `json:"name"`
	Bridge  string       `json:"bridge"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	// Default is true for the built-in "bridge" network, whose containers do
	// not get each other's names in /etc/hosts (as in docker).
	Default bool      `json:"default,omitempty"`
	Created time.Time `json:"created,omitzero"`
	// Labels are the network's metadata (network create --label; compose
	// finds its networks by com.docker.compose.* labels).
	Labels map[string]string `json:"labels,omitempty"`
	// Endpoints is filled by Inspect only.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// NetworkOptions are the optional settings of CreateNetwork.
type NetworkOptions struct {
	Subnet netip.Prefix // zero: next free /UserSubnetBits of Config.UserSubnetPool
	Bridge string       // zero: Config.UserBridgePrefix + 8 hex of the name's hash
	Labels map[string]string
}

// HasLabel tells whether the network has label key, with value when
// withValue is set (docker's --filter label=KEY and label=KEY=VALUE).
func (n NetworkInfo) HasLabel(key, value string, withValue bool) bool {
	v, ok := n.Labels[key]
	return ok && (!withValue || v == value)
}

var networkNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

func validateNetworkName(name string) error {
	if !networkNameRE.MatchString(name) {
		return fmt.Errorf("network name %q: want 1-64 characters of letters, digits, '_', '.', '-' starting with a letter or digit", name)
	}
	return nil
}

func (m *Manager) defaultNetwork() NetworkInfo {
	return NetworkInfo{Name: DefaultNetwork, Bridge: m.cfg.BridgeName, Subnet: m.cfg.Subnet,
		Gateway: m.cfg.Subnet.Addr().Next(), Default: true}
}

// lookup finds a network by name in loaded state.
func (m *Manager) lookup(s *state, name string) (NetworkInfo, error) {
	if name == "" || name == DefaultNetwork {
		return m.defaultNetwork(), nil
	}
	n, ok := s.Networks[name]
	if !ok {
		return NetworkInfo{}, fmt.Errorf("network %q: %w (create it with CreateNetwork / kago network create)", name, ErrNotFound)
	}
	return n, nil
}

// ensure makes a network's kernel objects exist: bridge with gateway, IPv4
// forwarding, the nftables table and the network's masquerade rules.
func (m *Manager) ensure(n NetworkInfo) error {
	if err := link.EnsureBridge(n.Bridge, netip.PrefixFrom(n.Gateway, n.Subnet.Bits())); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := link.EnableIPForward(); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := m.table.Ensure(); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := m.table.AddNetwork(nft.Network{Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet}); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	return nil
}

// CreateNetwork creates and persists a user network with its own bridge and
// subnet, and sets it up in the kernel at once.
func (m *Manager) CreateNetwork(ctx context.Context, name string, opts NetworkOptions) (*NetworkInfo, error) {
	if err := validateNetworkName(name); err != nil {
		return nil, err
	}
	if name == DefaultNetwork || name == "host" || name == "none" {
		return nil, fmt.Errorf("network name %q is reserved: pick another name", name)
	}
	for k := range opts.Labels {
		if k == "" || strings.ContainsRune(k, 0) {
			return nil, fmt.Errorf("network %q: invalid label %q: a label needs a non-empty key", name, k)
		}
	}
	var out NetworkInfo
	err := m.locked(ctx, true, func(s *state) error {
		if _, ok := s.Networks[name]; ok {
			return fmt.Errorf("network %q: %w", name, ErrAlreadyExists)
		}
		all := append(m.userNetworks(s), m.defaultNetwork())
		n := NetworkInfo{Name: name, Bridge: opts.Bridge, Subnet: opts.Subnet, Created: time.Now().UTC(), Labels: maps.Clone(opts.Labels)}
		if n.Bridge == "" {
			sum := sha256.Sum256([]byte(name))
			n.Bridge = m.cfg.UserBridgePrefix + hex.EncodeToString(sum[:])[:8]
		}
		if err := link.ValidateName(n.Bridge); err != nil {
			return fmt.Errorf("network %q bridge: %w", name, err)
		}
		for _, o := range all {
			if o.Bridge == n.Bridge {
				return fmt.Errorf("network %q: bridge %s is already used by network %q", name, n.Bridge, o.Name)
			}
		}
		if link.Exists(n.Bridge) {
			return fmt.Errorf("network %q: interface %s already exists on the host: choose another bridge name", name, n.Bridge)
		}
		if n.Subnet.IsValid() {
			if !n.Subnet.Addr().Is4() || n.Subnet.Bits() > 30 || n.Subnet != n.Subnet.Masked() {
				return fmt.Errorf("network %q subnet %v: want an IPv4 network address of /30 or larger, e.g. 10.90.7.0/24", name, n.Subnet)
			}
			for _, o := range all {
				if o.Subnet.Overlaps(n.Subnet) {
					return fmt.Errorf("network %q subnet %v overlaps %v of network %q: pick another subnet", name, n.Subnet, o.Subnet, o.Name)
				}
			}
		} else {
			used, err := link.HostPrefixes()
			if err != nil {
				return fmt.Errorf("network %q: %w", name, err)
			}
			for _, o := range all {
				used = append(used, o.Subnet)
			}
			if n.Subnet, err = ipam.NextSubnet(m.cfg.UserSubnetPool, m.cfg.UserSubnetBits, used); err != nil {
				return fmt.Errorf("network %q: %w", name, err)
			}
		}
		n.Gateway = n.Subnet.Addr().Next()
		if err := m.ensure(n); err != nil {
			m.teardown(n)
			return err
		}
		s.Networks[name] = n
		out = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// teardown removes a network's kernel objects and IPAM state, best effort.
func (m *Manager) teardown(n NetworkInfo) error {
	var firstErr error
	if ok, err := m.table.Exists(); err == nil && ok {
		firstErr = m.table.RemoveNetwork(n.Name)
	}
	if err := link.Delete(n.Bridge); err != nil && firstErr == nil {
		firstErr = err
	}
	for _, p := range []string{m.ipamPath(n.Name), m.ipamPath(n.Name) + ".lock"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// RemoveNetwork deletes a user network that no container is attached to.
func (m *Manager) RemoveNetwork(ctx context.Context, name string) error {
	if name == DefaultNetwork {
		return fmt.Errorf("network %q is built in and cannot be removed", name)
	}
	return m.locked(ctx, true, func(s *state) error {
		n, ok := s.Networks[name]
		if !ok {
			return fmt.Errorf("network %q: %w", name, ErrNotFound)
		}
		var ids []string
		for id, ep := range s.Endpoints {
			if ep.Network == name {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			sort.Strings(ids)
			return fmt.Errorf("network %q: %w by %d containers (%v): detach them first", name, ErrInUse, len(ids), ids)
		}
		if err := m.teardown(n); err != nil {
			return fmt.Errorf("remove network %q: %w", name, err)
		}
		delete(s.Networks, name)
		return nil
	})
}

func (m *Manager) userNetworks(s *state) []NetworkInfo {
	out := make([]NetworkInfo, 0, len(s.Networks))
	for _, n := range s.Networks {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Networks lists the default network followed by user networks by name.
func (m *Manager) Networks(ctx context.Context) ([]NetworkInfo, error) {
	var out []NetworkInfo
	err := m.locked(ctx, false, func(s *state) error {
		out = append([]NetworkInfo{m.defaultNetwork()}, m.userNetworks(s)...)
		return nil
	})
	return out, err
}

// Inspect returns one network with the endpoints attached to it.
func (m *Manager) Inspect(ctx context.Context, name string) (*NetworkInfo, error) {
	var out NetworkInfo
	err := m.locked(ctx, false, func(s *state) error {
		n, err := m.lookup(s, name)
		if err != nil {
			return err
		}
		n.Endpoints = peersOn(s, n.Name, "")
		out = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// peersOn lists endpoints of network except the one of container except, by ID.
func peersOn(s *state, network, except string) []Endpoint {
	var out []Endpoint
	for id, ep := range s.Endpoints {
		if ep.Network == network && id != except {
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContainerID < out[j].ContainerID })
	return out
}
