// Package netdev moves host network interfaces into a container's network
// namespace for linux.netDevices (runtime-spec 1.3), as runc 1.3 does: the
// link is set down, renamed and moved in one RTM_NEWLINK request (so the new
// name never collides on the host), its permanent global addresses are added
// again inside (the kernel drops addresses on a move), and it is set up.
//
// Nothing moves a device back: the spec forbids the runtime to, because the
// kernel does it when the namespace is freed ("its physical network devices
// are moved back to the initial network namespace", network_namespaces(7)),
// while virtual devices (veth, dummy, macvlan...) are destroyed with it.
package netdev

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// validName is the kernel's dev_valid_name: at most IFNAMSIZ-1 bytes, not
// "." or "..", no '/', ':' or whitespace.
func validName(name string) bool {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\v\f\r")
}

// Validate checks devices as runc does: names the kernel accepts, and a
// network namespace of the container's own to move them into.
func Validate(devices map[string]specs.LinuxNetDevice, namespaces []specs.LinuxNamespace) error {
	if len(devices) == 0 {
		return nil
	}
	hasNet := false
	for _, ns := range namespaces {
		hasNet = hasNet || ns.Type == specs.NetworkNamespace
	}
	if !hasNet {
		return errors.New("linux.netDevices needs a network namespace to move the devices into: add {\"type\": \"network\"} to linux.namespaces")
	}
	for _, host := range sortedNames(devices) {
		if !validName(host) {
			return fmt.Errorf("linux.netDevices: %q is not a valid interface name", host)
		}
		if n := devices[host].Name; n != "" && !validName(n) {
			return fmt.Errorf("linux.netDevices.%s.name %q is not a valid interface name", host, n)
		}
	}
	return nil
}

func sortedNames(devices map[string]specs.LinuxNetDevice) []string {
	names := make([]string, 0, len(devices))
	for n := range devices {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MoveAll moves every device into the network namespace at nsPath (for
// example /proc/PID/ns/net). On failure the devices already moved stay
// there: the kernel returns them when the namespace goes away.
func MoveAll(devices map[string]specs.LinuxNetDevice, nsPath string) error {
	if len(devices) == 0 {
		return nil
	}
	ns, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("linux.netDevices: open network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	for _, host := range sortedNames(devices) {
		if err := move(host, devices[host].Name, int(ns.Fd())); err != nil {
			return fmt.Errorf("linux.netDevices: move %s into the container: %w", host, err)
		}
	}
	return nil
}

func move(host, name string, nsFd int) error {
	if name == "" {
		name = host
	}
	link, err := netlink.LinkByName(host)
	if err != nil {
		return fmt.Errorf("no interface %s on the host: %w", host, err)
	}
	if err := netlink.LinkSetDown(link); err != nil {
		return fmt.Errorf("set down: %w", err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return fmt.Errorf("list addresses: %w", err)
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(link.Attrs().Index)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(nsFd))))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("the container already has an interface named %s: choose another linux.netDevices name (or a template like eth%%d): %w", name, err)
		}
		return fmt.Errorf("rename to %s and move: %w", name, err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(nsFd))
	if err != nil {
		return fmt.Errorf("netlink in the container's namespace: %w", err)
	}
	defer h.Close()
	inside, err := find(h, link, name)
	if err != nil {
		return fmt.Errorf("find %s in the container: %w", name, err)
	}
	for _, a := range addrs {
		if a.Flags&unix.IFA_F_PERMANENT == 0 || a.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		if err := h.AddrAdd(inside, &netlink.Addr{IPNet: a.IPNet}); err != nil {
			return fmt.Errorf("add address %s in the container: %w", a.IPNet, err)
		}
	}
	if err := h.LinkSetUp(inside); err != nil {
		return fmt.Errorf("set %s up in the container: %w", inside.Attrs().Name, err)
	}
	return nil
}

// find returns the moved link in its new namespace: by its new name, or for
// a "%d" template (the kernel picked the number) by its hardware address.
func find(h *netlink.Handle, moved netlink.Link, name string) (netlink.Link, error) {
	if !strings.Contains(name, "%") {
		return h.LinkByName(name)
	}
	mac := moved.Attrs().HardwareAddr.String()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if mac != "" && l.Attrs().HardwareAddr.String() == mac {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no link with address %q after the move", mac)
}
