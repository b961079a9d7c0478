// Package network gives kago containers their network: a bridge per network
// on the host, a veth pair per container with its peer as eth0 inside the
// container's network namespace, addresses from a persistent IPAM, stable MAC
// addresses, masquerade for outbound traffic, published ports in the kernel
// (nftables DNAT, no userland proxy) and the /etc/hosts, /etc/hostname and
// /etc/resolv.conf a container needs. Everything is done with netlink and
// nftables from Go; nothing shells out to ip, iptables or nft.
//
// Model (docker's, with podman/netavark's kernel path):
//
//   - The default network "bridge" uses Config.BridgeName (kago0) and
//     Config.Subnet (10.89.0.0/16); it is created on the first Attach.
//   - User networks (CreateNetwork) each get their own bridge and a /24 from
//     Config.UserSubnetPool (10.90.0.0/16) that overlaps no other network or
//     host route. Containers on a user network find each other by name: Attach
//     and Detach rewrite the /etc/hosts file of every peer (the files the
//     callers named in AttachRequest.HostsPath).
//   - One nftables table (Config.TableName, "kago") holds all NAT; see
//     network/nft for its layout.
//
// State lives under the stateDir given to New:
//
//	network.lock       flock serialising Attach/Detach/CreateNetwork/RemoveNetwork
//	networks.json      user networks
//	endpoints.json     attached containers (what Detach must undo)
//	ipam/<net>.json    address allocations per network (network/ipam)
//
// All files are replaced atomically (temp, fsync, rename), so a killed kago
// leaves a consistent record; an Attach that fails part-way undoes what it did.
// Detach also forgets the container's conntrack entries, so a stale UDP NAT
// binding cannot outlive it.
//
// Limits: IPv4 only (no IPv6 addresses, published ports or ::1); kago adds no
// filter/forward rules, so a host firewall whose forward policy is drop (as
// left by docker's iptables) must allow the bridges itself.
//
// API:
//
//	m, err := network.New("/var/lib/kago/network", network.Config{})
//	ep, err := m.Attach(ctx, network.AttachRequest{ContainerID: id, NetnsPath: "/proc/1234/ns/net", Ports: ps})
//	err = m.Detach(ctx, id)
//	ps, err := network.ParsePort("127.0.0.1:8080:80/tcp")
//	info, err := m.CreateNetwork(ctx, "app", network.NetworkOptions{})
//	list, err := m.Networks(ctx); info, err = m.Inspect(ctx, "app"); err = m.RemoveNetwork(ctx, "app")
package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/kago-run/kago/network/internal/statefile"
	"github.com/kago-run/kago/network/link"
	"github.com/kago-run/kago/network/mac"
	"github.com/kago-run/kago/network/nft"
	"github.com/kago-run/kago/network/ports"
)

// DefaultNetwork is the name of the network containers join when they name none.
const DefaultNetwork = "bridge"

// Errors callers can test with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrPortInUse     = errors.New("host port already in use")
	ErrInUse         = errors.New("in use")
)

// PortMapping publishes one container port; see network/ports for the -p syntax.
type PortMapping = ports.Mapping

// ParsePort parses one -p value: HOST:CONTAINER[/tcp|udp], IP:HOST:CONTAINER,
// CONTAINER (host port chosen at Attach) and equal-length ranges.
func ParsePort(s string) ([]PortMapping, error) { return ports.Parse(s) }

// Config is the host-wide network configuration; zero fields take defaults.
type Config struct {
	BridgeName       string       // bridge of the default network; "kago0"
	Subnet           netip.Prefix // subnet of the default network; 10.89.0.0/16
	OUI              string       // operator-owned OUI like "00:16:3e" for MACs; empty: 02:42:<ip>
	TableName        string       // nftables table (family ip); "kago"
	UserSubnetPool   netip.Prefix // where user networks get subnets; 10.90.0.0/16
	UserSubnetBits   int          // size of a user network's subnet; 24
	UserBridgePrefix string       // user network bridges are PREFIX+hash(name); "kbr-"
	ResolvConf       string       // host resolv.conf to derive from; "/etc/resolv.conf"
}

func (c *Config) setDefaults() {
	if c.BridgeName == "" {
		c.BridgeName = "kago0"
	}
	if !c.Subnet.IsValid() {
		c.Subnet = netip.MustParsePrefix("10.89.0.0/16")
	}
	if c.TableName == "" {
		c.TableName = "kago"
	}
	if !c.UserSubnetPool.IsValid() {
		c.UserSubnetPool = netip.MustParsePrefix("10.90.0.0/16")
	}
	if c.UserSubnetBits == 0 {
		c.UserSubnetBits = 24
	}
	if c.UserBridgePrefix == "" {
		c.UserBridgePrefix = "kbr-"
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
}

// Manager attaches containers to networks. It keeps no state in memory beyond
// its configuration: every call reads the state files under the lock, so
// several Managers (in several processes) on one stateDir cooperate.
type Manager struct {
	dir   string
	cfg   Config
	oui   net.HardwareAddr
	table nft.Table
}

// New validates cfg and returns a Manager keeping its state under stateDir.
// It changes nothing on the host; bridges and rules appear on first use.
func New(stateDir string, cfg Config) (*Manager, error) {
	cfg.setDefaults()
	if stateDir == "" {
		return nil, errors.New("network: empty state directory")
	}
	if err := link.ValidateName(cfg.BridgeName); err != nil {
		return nil, fmt.Errorf("network config BridgeName: %w", err)
	}
	if len(cfg.UserBridgePrefix) > 7 {
		return nil, fmt.Errorf("network config UserBridgePrefix %q: at most 7 characters (8 hex follow, 15 in all)", cfg.UserBridgePrefix)
	}
	if !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("network config Subnet %v: want an IPv4 subnet of /30 or larger, e.g. 10.89.0.0/16", cfg.Subnet)
	}
	if cfg.Subnet != cfg.Subnet.Masked() {
		return nil, fmt.Errorf("network config Subnet %v has host bits set: did you mean %v?", cfg.Subnet, cfg.Subnet.Masked())
	}
	m := &Manager{dir: stateDir, cfg: cfg, table: nft.Table{Name: cfg.TableName}}
	if cfg.OUI != "" {
		oui, err := mac.ParseOUI(cfg.OUI)
		if err != nil {
			return nil, fmt.Errorf("network config OUI: %w", err)
		}
		m.oui = oui
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("network state dir %s: %w", stateDir, err)
	}
	return m, nil
}

// Config returns the effective configuration (defaults filled in).
func (m *Manager) Config() Config { return m.cfg }

// Table returns the nftables table the manager programs.
func (m *Manager) Table() nft.Table { return m.table }

// state is what the manager persists besides IPAM.
type state struct {
	Networks  map[string]NetworkInfo `json:"networks"`
	Endpoints map[string]Endpoint    `json:"endpoints"`
}

func (m *Manager) networksPath() string  { return filepath.Join(m.dir, "networks.json") }
func (m *Manager) endpointsPath() string { return filepath.Join(m.dir, "endpoints.json") }
func (m *Manager) ipamPath(network string) string {
	return filepath.Join(m.dir, "ipam", network+".json")
}

// locked runs fn with the manager lock held and the state loaded; if fn
// returns nil and write is set, the state is saved.
func (m *Manager) locked(ctx context.Context, write bool, fn func(s *state) error) error {
	l, err := statefile.Acquire(ctx, filepath.Join(m.dir, "network"))
	if err != nil {
		return err
	}
	defer l.Release()
	s := state{Networks: map[string]NetworkInfo{}, Endpoints: map[string]Endpoint{}}
	nets, err := statefile.ReadStored(m.networksPath(), &s.Networks)
	if err != nil {
		return err
	}
	eps, err := statefile.ReadStored(m.endpointsPath(), &s.Endpoints)
	if err != nil {
		return err
	}
	if s.Networks == nil {
		s.Networks = map[string]NetworkInfo{}
	}
	if s.Endpoints == nil {
		s.Endpoints = map[string]Endpoint{}
	}
	// Endpoints were keyed by container ID before a container could be on
	// several networks.
	for k, ep := range s.Endpoints {
		if want := epKey(ep.ContainerID, ep.Network); k != want {
			delete(s.Endpoints, k)
			s.Endpoints[want] = ep
		}
	}
	if err := fn(&s); err != nil {
		return err
	}
	if !write {
		return nil
	}
	if err := nets.Save(m.networksPath(), s.Networks); err != nil {
		return err
	}
	return eps.Save(m.endpointsPath(), s.Endpoints)
}
