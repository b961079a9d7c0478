package network

import (
	"net/netip"
	"strconv"

	"github.com/kago-run/kago/linux/explain"
)

// recordAttach records what Attach did, in its order, once all of it
// succeeded: the bridge, the address and the MAC with where each came
// from, the veth pair, and one nftables DNAT element per published port.
func (m *Manager) recordAttach(rec explain.Recorder, n NetworkInfo, ep Endpoint, static netip.Addr, explicitMAC string) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "network", Call: "bridge", Path: n.Bridge, Value: "gateway " + netip.PrefixFrom(n.Gateway, ep.Prefix).String(),
		Why: "the bridge of network " + n.Name + ", a virtual switch on the host that the containers' veths plug into; made if missing, with forwarding and masquerade", Man: "ip-link(8)"})
	ipWhy := "IPAM: the next free address of " + n.Subnet.String() + ", recorded in " + m.ipamPath(n.Name)
	if static.IsValid() {
		ipWhy = "the static address asked for (--ip), reserved in " + m.ipamPath(n.Name)
	}
	rec.Record(explain.Step{Feature: "network", Call: "ipam", Value: ep.IP.String() + "/" + strconv.Itoa(ep.Prefix), Why: ipWhy, Man: "ip-address(8)"})
	macWhy := "locally administered (02:42, then the IPv4 address, as docker derives it), so it never clashes with a vendor's card"
	switch {
	case explicitMAC != "":
		macWhy = "the address asked for (--mac-address)"
	case m.oui != nil:
		macWhy = "the operator's OUI " + m.oui.String() + ", then the low three bytes of the IPv4 address"
	}
	rec.Record(explain.Step{Feature: "network", Call: "mac", Value: ep.MAC, Why: macWhy, Man: "ip-link(8)"})
	rec.Record(explain.Step{Feature: "network", Call: "veth", Path: ep.HostVeth,
		Value: ep.HostVeth + " on bridge " + ep.Bridge + " <-> " + ep.IfName + " in " + ep.NetnsPath + " (" + ep.MAC + ", " + ep.IP.String() + ", default via " + ep.Gateway.String() + ")",
		Why:   "a veth pair: a cable whose host end plugs into the bridge and whose other end is the container's " + ep.IfName, Man: "veth(4)"})
	for _, e := range m.NFTElements(ep) {
		rec.Record(explain.Step{Feature: "network", Call: "nft add element", Path: e.Map, Value: e.Element,
			Why: "publish " + e.Protocol + " port " + strconv.Itoa(int(e.HostPort)) + ": DNAT to the container, in prerouting and (for localhost) output, by one map lookup", Man: "nft(8)"})
	}
}

// NFTElement is one published port of an endpoint as it is in the kernel:
// the nftables map ("ip kago tcp-any") and the element ("8080 : 10.88.0.2
// . 80"), as `nft list map` prints them.
type NFTElement struct {
	Protocol string `json:"protocol"`
	HostPort uint16 `json:"hostPort"`
	Map      string `json:"map"`
	Element  string `json:"element"`
}

// NFTElements are the elements Attach added for ep's published ports.
func (m *Manager) NFTElements(ep Endpoint) []NFTElement {
	var out []NFTElement
	for _, p := range kernelPorts(ep) {
		set, elem := m.table.Element(p)
		out = append(out, NFTElement{Protocol: p.Protocol, HostPort: p.HostPort, Map: set, Element: elem})
	}
	return out
}
