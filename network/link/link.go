// Package link makes the layer-2/3 plumbing of a container network with
// netlink: the bridge on the host carrying the gateway address, and a veth
// pair per container whose peer is created directly inside the container's
// network namespace (so it never appears in the host namespace under a name
// that could clash) and configured there through a netlink handle bound to that
// namespace — no thread ever setns()es, so the Go scheduler's threads stay in
// the host namespace.
package link

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/network/mac"
)

// MaxNameLen is the longest interface name the kernel accepts (IFNAMSIZ-1).
const MaxNameLen = 15

// ValidateName rejects interface names the kernel would refuse, with a reason.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\x00") {
		return fmt.Errorf("interface name %q: want 1-%d characters without '/', ':' or spaces", name, MaxNameLen)
	}
	return nil
}

// HostVethName derives the host end's name from a container ID: "veth" plus 11
// hex characters (the ID's own prefix when it is a hex ID, else a hash of it),
// so an operator can tell from `ip link` which container owns an interface.
func HostVethName(containerID string) string {
	id := strings.ToLower(containerID)
	if len(id) < 11 || strings.Trim(id[:11], "0123456789abcdef") != "" {
		sum := sha256.Sum256([]byte(containerID))
		id = hex.EncodeToString(sum[:])
	}
	return "veth" + id[:11]
}

// SetSysctl writes value to /proc/sys/<key> (dots or slashes as separators).
func SetSysctl(key, value string) error {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// EnableIPForward turns on IPv4 forwarding, without which the host drops the
// containers' outbound packets instead of routing (and masquerading) them.
func EnableIPForward() error { return SetSysctl("net/ipv4/ip_forward", "1") }

// EnsureBridge creates bridge name if missing, makes sure it carries gateway
// (address with the subnet's prefix length) and is up. It also sets
// route_localnet on the bridge so DNAT of host traffic to 127.0.0.1:PORT can
// leave through it (the kernel otherwise drops packets with a 127/8 source on
// a non-loopback device). Calling it again changes nothing.
func EnsureBridge(name string, gateway netip.Prefix) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	l, err := netlink.LinkByName(name)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		// A bridge without an address of its own takes the lowest of its
		// ports' and changes it when that port leaves: its containers'
		// neighbour entries for the gateway then go stale for seconds, and
		// with them their DNS. Its own address (the one a container with the
		// gateway's IP would get) never changes.
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac.FromIP(gateway.Addr())}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		l, err = netlink.LinkByName(name)
	}
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("interface %s exists but is a %s, not a bridge: choose another bridge name or delete it", name, l.Type())
	}
	addr := &netlink.Addr{IPNet: prefixToIPNet(gateway)}
	if err := netlink.AddrReplace(l, addr); err != nil {
		return fmt.Errorf("add %v to bridge %s: %w", gateway, name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return SetSysctl("net/ipv4/conf/"+name+"/route_localnet", "1")
}

// Delete removes the interface name; a missing interface is not an error.
// Deleting either end of a veth pair deletes both.
func Delete(name string) error {
	l, err := netlink.LinkByName(name)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// Exists reports whether interface name exists in the host namespace.
func Exists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// Veth describes a container's interface.
type Veth struct {
	HostName  string           // host end, attached to Bridge
	Bridge    string           // host bridge
	NetnsPath string           // /proc/PID/ns/net or a bind-mounted netns file
	IfName    string           // name inside the container, usually eth0
	MAC       net.HardwareAddr // address of IfName
	Addr      netip.Prefix     // container address with subnet length
	Gateway   netip.Addr       // default route via
	MTU       int              // 0: 1500
}

// AddVeth creates and configures the pair described by v. On failure nothing
// is left behind (deleting the host end removes the peer too).
func AddVeth(v Veth) (err error) {
	for _, n := range []string{v.HostName, v.IfName} {
		if err := ValidateName(n); err != nil {
			return fmt.Errorf("veth: %w", err)
		}
	}
	br, err := netlink.LinkByName(v.Bridge)
	if err != nil {
		return fmt.Errorf("veth %s: bridge %s: %w", v.HostName, v.Bridge, err)
	}
	ns, err := netns.GetFromPath(v.NetnsPath)
	if err != nil {
		return fmt.Errorf("veth %s: open netns %s (is the container running?): %w", v.HostName, v.NetnsPath, err)
	}
	defer ns.Close()
	mtu := v.MTU
	if mtu == 0 {
		mtu = 1500
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: v.HostName, MTU: mtu, MasterIndex: br.Attrs().Index},
		PeerName:         v.IfName,
		PeerHardwareAddr: v.MAC,
		PeerNamespace:    netlink.NsFd(int(ns)),
		PeerMTU:          uint32(mtu),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("veth %s: %s exists already in the host or %s in netns %s: %w", v.HostName, v.HostName, v.IfName, v.NetnsPath, err)
		}
		return fmt.Errorf("create veth %s (peer %s in %s): %w", v.HostName, v.IfName, v.NetnsPath, err)
	}
	defer func() {
		if err != nil {
			_ = Delete(v.HostName)
		}
	}()
	host, err := netlink.LinkByName(v.HostName)
	if err != nil {
		return fmt.Errorf("look up veth %s: %w", v.HostName, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", v.HostName, err)
	}
	return configurePeer(ns, v)
}

// configurePeer brings lo and the peer up inside the namespace, with its
// address and the default route.
func configurePeer(ns netns.NsHandle, v Veth) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns %s: %w", v.NetnsPath, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns %s: look up lo: %w", v.NetnsPath, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netns %s: set lo up: %w", v.NetnsPath, err)
	}
	peer, err := h.LinkByName(v.IfName)
	if err != nil {
		return fmt.Errorf("netns %s: look up %s: %w", v.NetnsPath, v.IfName, err)
	}
	if err := h.AddrAdd(peer, &netlink.Addr{IPNet: prefixToIPNet(v.Addr)}); err != nil {
		return fmt.Errorf("netns %s: add %v to %s: %w", v.NetnsPath, v.Addr, v.IfName, err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("netns %s: set %s up: %w", v.NetnsPath, v.IfName, err)
	}
	if v.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: v.Gateway.AsSlice(), Scope: netlink.SCOPE_UNIVERSE}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("netns %s: default route via %v: %w", v.NetnsPath, v.Gateway, err)
		}
	}
	return nil
}

// HostPrefixes lists the IPv4 prefixes of the host's routes and addresses, so
// that a new network's subnet can avoid them.
func HostPrefixes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue // the default route covers everything; it is not a collision
		}
		ones, _ := r.Dst.Mask.Size()
		if a, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok && ones > 0 {
			out = append(out, netip.PrefixFrom(a, ones).Masked())
		}
	}
	return out, nil
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
