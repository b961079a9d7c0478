package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/network/etcfiles"
	"github.com/kago-run/kago/network/ipam"
	"github.com/kago-run/kago/network/link"
	"github.com/kago-run/kago/network/mac"
	"github.com/kago-run/kago/network/nft"
)

// AttachRequest says which container joins which network, and how.
type AttachRequest struct {
	ContainerID string
	Network     string // "" or "bridge": the default network
	NetnsPath   string // /proc/PID/ns/net or a bind-mounted netns file
	IfName      string // interface name inside; "eth0"
	Hostname    string // "": the first 12 characters of ContainerID
	// Aliases are extra names for the container in its own and (on user
	// networks) its peers' /etc/hosts; the engine passes the container name.
	Aliases []string
	MAC     string     // explicit --mac-address; "": derived from the IP
	IP      netip.Addr // static --ip; zero: next free
	Ports   []PortMapping
	// ExtraHosts are more lines of the container's /etc/hosts (--add-host).
	ExtraHosts []ExtraHost
	// DNS are the container's own resolver settings (--dns...): they go
	// into its resolv.conf, and its network's resolver forwards the names
	// it does not know to DNS.Servers instead of the host's.
	DNS etcfiles.DNS
	// Resolver points the container's resolv.conf at its user network's
	// resolver (see ServeResolver), which the caller keeps running; on the
	// default network it changes nothing (docker's rule).
	Resolver bool
	// Files to (re)write; empty paths are skipped. They are written in place,
	// not replaced, so a bind mount of them into the container sees updates.
	HostsPath, HostnamePath, ResolvConfPath string
}

// Endpoint is a container's attachment, as returned by Attach and persisted
// for Detach.
type Endpoint struct {
	ContainerID string        `json:"containerID"`
	Network     string        `json:"network"`
	IP          netip.Addr    `json:"ip"`
	Prefix      int           `json:"prefix"`
	Gateway     netip.Addr    `json:"gateway"`
	MAC         string        `json:"mac"`
	HostVeth    string        `json:"hostVeth"`
	Bridge      string        `json:"bridge"`
	IfName      string        `json:"ifName"`
	Hostname    string        `json:"hostname"`
	Aliases     []string      `json:"aliases,omitempty"`
	Ports       []PortMapping `json:"ports,omitempty"` // host ports resolved
	NetnsPath   string        `json:"netnsPath"`
	HostsPath   string        `json:"hostsPath,omitempty"`
	// ExtraHosts are the --add-host entries, host-gateway resolved: a
	// rewrite of the hosts file (a peer came or went) keeps them.
	ExtraHosts []etcfiles.Entry `json:"extraHosts,omitempty"`
	// DNSServers are the container's --dns servers, where the network's
	// resolver forwards its queries for other names.
	DNSServers []netip.Addr `json:"dnsServers,omitempty"`
}

// ExtraHost is one --add-host entry: a name and its address, or, with
// HostGateway, docker's host-gateway: the host's address on the
// container's network (its gateway), which the container can always reach.
type ExtraHost struct {
	Name        string
	IP          netip.Addr
	HostGateway bool
}

// ParseExtraHost parses docker's --add-host NAME:IP (or NAME=IP; IPv6 may
// be written in brackets), where IP may be host-gateway.
func ParseExtraHost(s string) (ExtraHost, error) {
	name, ip, ok := strings.Cut(s, "=")
	if !ok {
		name, ip, ok = strings.Cut(s, ":")
	}
	if !ok || name == "" || ip == "" {
		return ExtraHost{}, fmt.Errorf("invalid --add-host %q: use NAME:IP or NAME:host-gateway", s)
	}
	if err := etcfiles.ValidateHostname(name); err != nil {
		return ExtraHost{}, fmt.Errorf("invalid --add-host %q: %w", s, err)
	}
	if ip == HostGateway {
		return ExtraHost{Name: name, HostGateway: true}, nil
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]"))
	if err != nil || addr.Zone() != "" {
		return ExtraHost{}, fmt.Errorf("invalid --add-host %q: %q is not an IP address (nor host-gateway)", s, ip)
	}
	return ExtraHost{Name: name, IP: addr}, nil
}

// HostGateway is the special --add-host address that means the host.
const HostGateway = "host-gateway"

// String is the entry as --add-host takes it.
func (h ExtraHost) String() string {
	if h.HostGateway {
		return h.Name + ":" + HostGateway
	}
	return h.Name + ":" + h.IP.String()
}

// ExtraHostEntries resolves host-gateway to gateway.
func ExtraHostEntries(hs []ExtraHost, gateway netip.Addr) []etcfiles.Entry {
	var out []etcfiles.Entry
	for _, h := range hs {
		ip := h.IP
		if h.HostGateway {
			ip = gateway
		}
		out = append(out, etcfiles.Entry{IP: ip, Names: []string{h.Name}})
	}
	return out
}

var containerIDRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)

// undo is a stack of rollback steps for a half-done Attach.
type undo []func()

func (u *undo) push(f func()) { *u = append(*u, f) }
func (u undo) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

func (req *AttachRequest) normalise() error {
	if !containerIDRE.MatchString(req.ContainerID) {
		return fmt.Errorf("attach: container ID %q: want 1-128 letters, digits, '_', '.', '-'", req.ContainerID)
	}
	if req.NetnsPath == "" {
		return fmt.Errorf("attach %s: no network namespace path (want /proc/PID/ns/net)", req.ContainerID)
	}
	if _, err := os.Stat(req.NetnsPath); err != nil {
		return fmt.Errorf("attach %s: network namespace %s (is the container running?): %w", req.ContainerID, req.NetnsPath, err)
	}
	if req.IfName == "" {
		req.IfName = "eth0"
	}
	if err := link.ValidateName(req.IfName); err != nil {
		return fmt.Errorf("attach %s: %w", req.ContainerID, err)
	}
	if req.Hostname == "" {
		req.Hostname = defaultHostname(req.ContainerID)
	}
	for _, n := range append([]string{req.Hostname}, req.Aliases...) {
		if err := etcfiles.ValidateHostname(n); err != nil {
			return fmt.Errorf("attach %s: %w", req.ContainerID, err)
		}
	}
	if req.IP.IsValid() && !req.IP.Is4() {
		return fmt.Errorf("attach %s: static IP %v is not IPv4", req.ContainerID, req.IP)
	}
	return nil
}

// defaultHostname is docker's choice, the first 12 characters of the ID, made
// a valid host name ('_' and '.' become '-').
func defaultHostname(id string) string {
	b := []byte(id[:min(12, len(id))])
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	if h := strings.Trim(string(b), "-"); h != "" {
		return h
	}
	return "container"
}

// Attach connects a container to a network and publishes its ports. Before
// anything changes it checks every input, and that each host port is neither
// published by another container nor bound by a process; if a later step
// fails, the earlier ones are undone.
func (m *Manager) Attach(ctx context.Context, req AttachRequest) (*Endpoint, error) {
	if err := req.normalise(); err != nil {
		return nil, err
	}
	var explicitMAC string
	if req.MAC != "" {
		hw, err := mac.Parse(req.MAC)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", req.ContainerID, err)
		}
		explicitMAC = hw.String()
	}
	var out Endpoint
	err := m.locked(ctx, true, func(s *state) (err error) {
		id := req.ContainerID
		n, err := m.lookup(s, req.Network)
		if err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		if ep, ok := s.Endpoints[epKey(id, n.Name)]; ok {
			return fmt.Errorf("attach %s: %w on network %q with %v: detach it first", id, ErrAlreadyExists, ep.Network, ep.IP)
		}
		// A container's first endpoint is eth0 with the default route;
		// more networks (docker's network connect) add eth1, eth2... with
		// only their subnet's route.
		others := endpointsOf(s, id)
		hostVeth, gateway := link.HostVethName(id), n.Gateway
		if len(others) > 0 {
			// "n/" is not hex: the name is a hash of the key, not the ID's prefix.
			hostVeth, gateway = link.HostVethName("n/"+epKey(id, n.Name)), netip.Addr{}
			if req.IfName == "eth0" {
				req.IfName = nextIfName(others)
			}
		}
		published, err := resolvePorts(req.Ports, s)
		if err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var u undo
		defer func() {
			if err != nil {
				u.run()
			}
		}()
		if err := m.ensure(n); err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		pool, err := ipam.New(m.ipamPath(n.Name), n.Subnet, n.Gateway)
		if err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		ip, err := pool.Allocate(ctx, id, req.IP)
		if err != nil {
			return fmt.Errorf("attach %s to %s: %w", id, n.Name, err)
		}
		u.push(func() { _ = pool.Release(context.WithoutCancel(ctx), id) })

		hwStr := explicitMAC
		if hwStr == "" {
			hw := mac.FromIP(ip)
			if m.oui != nil {
				if hw, err = mac.FromOUI(m.oui, ip); err != nil {
					return fmt.Errorf("attach %s: %w", id, err)
				}
			}
			hwStr = hw.String()
		}
		hw, _ := mac.Parse(hwStr)
		ep := Endpoint{ContainerID: id, Network: n.Name, IP: ip, Prefix: n.Subnet.Bits(), Gateway: n.Gateway,
			MAC: hwStr, HostVeth: hostVeth, Bridge: n.Bridge, IfName: req.IfName,
			Hostname: req.Hostname, Aliases: req.Aliases, Ports: published, NetnsPath: req.NetnsPath, HostsPath: req.HostsPath,
			ExtraHosts: ExtraHostEntries(req.ExtraHosts, n.Gateway), DNSServers: req.DNS.Servers}
		if err := link.AddVeth(link.Veth{HostName: ep.HostVeth, Bridge: n.Bridge, NetnsPath: req.NetnsPath, IfName: req.IfName,
			MAC: hw, Addr: netip.PrefixFrom(ip, ep.Prefix), Gateway: gateway}); err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		u.push(func() { _ = link.Delete(ep.HostVeth) })
		if err := m.table.AddPorts(kernelPorts(ep)); err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		u.push(func() { _ = m.table.RemovePorts(kernelPorts(ep)) })
		if err := m.writeFiles(req, ep, s); err != nil {
			return fmt.Errorf("attach %s: %w", id, err)
		}
		s.Endpoints[epKey(id, n.Name)] = ep
		if !n.Default {
			if err := m.updatePeerHosts(s, n.Name, id); err != nil {
				return fmt.Errorf("attach %s: %w", id, err)
			}
		}
		m.recordAttach(explain.FromContext(ctx), n, ep, req.IP, explicitMAC)
		out = ep
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// kernelPorts turns an endpoint's mappings into nftables map elements.
func kernelPorts(ep Endpoint) []nft.Port {
	out := make([]nft.Port, 0, len(ep.Ports))
	for _, p := range ep.Ports {
		out = append(out, nft.Port{Protocol: p.Protocol, HostIP: p.HostIP, HostPort: p.HostPort, ContainerIP: ep.IP, ContainerPort: p.ContainerPort})
	}
	return out
}

// Detach undoes Attach for every network of the container: unpublishes
// its ports, deletes its veth pairs, frees its addresses and removes it
// from its peers' /etc/hosts. Detaching a container that is not attached
// succeeds, so Detach can always be retried.
func (m *Manager) Detach(ctx context.Context, containerID string) error {
	return m.locked(ctx, true, func(s *state) error {
		eps := endpointsOf(s, containerID)
		if len(eps) == 0 {
			return m.detachLeftovers(ctx, s, containerID)
		}
		for _, ep := range eps {
			if err := m.detach(ctx, s, ep); err != nil {
				return err
			}
		}
		return nil
	})
}

// DetachNetwork undoes Attach for one network of the container (docker's
// network disconnect); its other networks stay.
func (m *Manager) DetachNetwork(ctx context.Context, containerID, network string) error {
	return m.locked(ctx, true, func(s *state) error {
		n, err := m.lookup(s, network)
		if err != nil {
			return err
		}
		ep, ok := s.Endpoints[epKey(containerID, n.Name)]
		if !ok {
			return fmt.Errorf("container %s is not connected to network %s: %w", containerID, n.Name, ErrNotFound)
		}
		if err := m.detach(ctx, s, ep); err != nil {
			return err
		}
		// The container's own hosts file loses the network's peers.
		if rest := endpointsOf(s, containerID); len(rest) > 0 && rest[0].HostsPath != "" {
			if err := writeInPlace(rest[0].HostsPath, m.hostsFor(s, rest[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
}

// detach removes one endpoint, under the lock.
func (m *Manager) detach(ctx context.Context, s *state, ep Endpoint) error {
	containerID := ep.ContainerID
	if exists, err := m.table.Exists(); err != nil {
		return fmt.Errorf("detach %s: %w", containerID, err)
	} else if exists {
		if err := m.removePresentPorts(kernelPorts(ep)); err != nil {
			return fmt.Errorf("detach %s: %w", containerID, err)
		}
	}
	if err := link.Delete(ep.HostVeth); err != nil {
		return fmt.Errorf("detach %s: %w", containerID, err)
	}
	if err := nft.DeleteConntrack(ep.IP); err != nil {
		return fmt.Errorf("detach %s: %w", containerID, err)
	}
	n, err := m.lookup(s, ep.Network)
	if err == nil {
		pool, err := ipam.New(m.ipamPath(n.Name), n.Subnet, n.Gateway)
		if err != nil {
			return fmt.Errorf("detach %s: %w", containerID, err)
		}
		if err := pool.Release(ctx, containerID); err != nil {
			return fmt.Errorf("detach %s: %w", containerID, err)
		}
	}
	delete(s.Endpoints, epKey(containerID, ep.Network))
	if err == nil && !n.Default {
		return m.updatePeerHosts(s, n.Name, "")
	}
	return nil
}

// epKey is the key of a container's endpoint on a network in the state.
func epKey(id, network string) string { return id + "/" + network }

// endpointsOf are the endpoints of a container, eth0 first.
func endpointsOf(s *state, id string) []Endpoint {
	var out []Endpoint
	for _, ep := range s.Endpoints {
		if ep.ContainerID == id {
			out = append(out, ep)
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return ifIndex(a.IfName) - ifIndex(b.IfName) })
	return out
}

// ifIndex is N of ethN (others sort last).
func ifIndex(name string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "eth"))
	if err != nil || !strings.HasPrefix(name, "eth") {
		return 1 << 20
	}
	return n
}

// nextIfName is the first ethN none of the endpoints uses.
func nextIfName(eps []Endpoint) string {
	for i := 0; ; i++ {
		name := "eth" + strconv.Itoa(i)
		if !slices.ContainsFunc(eps, func(ep Endpoint) bool { return ep.IfName == name }) {
			return name
		}
	}
}

// detachLeftovers cleans what a crash between kernel changes and the state
// write could have left for an unrecorded container: its veth and addresses.
func (m *Manager) detachLeftovers(ctx context.Context, s *state, id string) error {
	if !containerIDRE.MatchString(id) {
		return fmt.Errorf("detach: container ID %q: want 1-128 letters, digits, '_', '.', '-'", id)
	}
	if err := link.Delete(link.HostVethName(id)); err != nil {
		return fmt.Errorf("detach %s: %w", id, err)
	}
	for _, n := range append(m.userNetworks(s), m.defaultNetwork()) {
		if _, err := os.Stat(m.ipamPath(n.Name)); err != nil {
			continue
		}
		pool, err := ipam.New(m.ipamPath(n.Name), n.Subnet, n.Gateway)
		if err == nil {
			err = pool.Release(ctx, id)
		}
		if err != nil {
			return fmt.Errorf("detach %s: %w", id, err)
		}
	}
	return nil
}

// removePresentPorts deletes those of ps the kernel still has, so a retried
// Detach does not fail on elements an earlier attempt removed.
func (m *Manager) removePresentPorts(ps []nft.Port) error {
	if len(ps) == 0 {
		return nil
	}
	have, err := m.table.Ports()
	if err != nil {
		return err
	}
	present := map[nft.Port]bool{}
	for _, p := range have {
		present[p] = true
	}
	var del []nft.Port
	for _, p := range ps {
		if present[p] {
			del = append(del, p)
		}
	}
	return m.table.RemovePorts(del)
}

// Endpoint returns the attachment of a container.
func (m *Manager) Endpoint(ctx context.Context, containerID string) (*Endpoint, error) {
	var out Endpoint
	err := m.locked(ctx, false, func(s *state) error {
		eps := endpointsOf(s, containerID)
		if len(eps) == 0 {
			return fmt.Errorf("endpoint of container %s: %w", containerID, ErrNotFound)
		}
		out = eps[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// writeFiles writes the container's hostname, hosts and resolv.conf files.
func (m *Manager) writeFiles(req AttachRequest, ep Endpoint, s *state) error {
	if req.HostnamePath != "" {
		if err := writeInPlace(req.HostnamePath, etcfiles.Hostname(ep.Hostname)); err != nil {
			return err
		}
	}
	if req.HostsPath != "" {
		key := epKey(ep.ContainerID, ep.Network)
		s.Endpoints[key] = ep // so hostsFor sees it; the caller keeps it on success
		defer delete(s.Endpoints, key)
		if err := writeInPlace(req.HostsPath, m.hostsFor(s, ep)); err != nil {
			return err
		}
	}
	if req.ResolvConfPath != "" {
		host, err := os.ReadFile(m.cfg.ResolvConf)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read host resolver config %s: %w", m.cfg.ResolvConf, err)
		}
		var via netip.Addr
		if req.Resolver && ep.Network != DefaultNetwork {
			via = ep.Gateway
		}
		conf := etcfiles.Resolv(host, via, req.DNS)
		if err := writeInPlace(req.ResolvConfPath, conf); err != nil {
			return err
		}
	}
	return nil
}

func entryOf(ep Endpoint) etcfiles.Entry {
	return etcfiles.Entry{IP: ep.IP, Names: append([]string{ep.Hostname}, ep.Aliases...)}
}

// hostsFor renders the /etc/hosts of ep's container: its address on each
// of its networks, plus its peers on each user network it is on.
func (m *Manager) hostsFor(s *state, ep Endpoint) []byte {
	mine := endpointsOf(s, ep.ContainerID)
	if len(mine) == 0 {
		mine = []Endpoint{ep}
	}
	var self etcfiles.Entry
	var peers []etcfiles.Entry
	for i, own := range mine {
		if i == 0 {
			self = entryOf(own)
		} else {
			peers = append(peers, entryOf(own))
		}
	}
	for _, own := range mine {
		if own.Network == DefaultNetwork {
			continue
		}
		for _, p := range peersOn(s, own.Network, ep.ContainerID) {
			peers = append(peers, entryOf(p))
		}
	}
	return etcfiles.Hosts(self, peers, mine[0].ExtraHosts...)
}

// updatePeerHosts rewrites the hosts file of every endpoint on network except
// one. A peer whose file vanished (its container is gone) is skipped.
func (m *Manager) updatePeerHosts(s *state, network, except string) error {
	for _, p := range peersOn(s, network, except) {
		if p.HostsPath == "" {
			continue
		}
		if err := writeInPlace(p.HostsPath, m.hostsFor(s, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("update hosts of peer %s: %w", p.ContainerID, err)
		}
	}
	return nil
}

// writeInPlace truncates and rewrites path rather than renaming a new file
// over it: the file is typically bind-mounted into a container, and a bind
// mount keeps showing the old inode after a rename.
func writeInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
