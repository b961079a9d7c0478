package network

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// overlaps reports whether two mappings claim the same host socket: same
// protocol and port, and the same host IP or either one on every address.
func overlaps(a, b PortMapping) bool {
	return a.Protocol == b.Protocol && a.HostPort == b.HostPort &&
		(!a.HostIP.IsValid() || !b.HostIP.IsValid() || a.HostIP == b.HostIP)
}

// resolvePorts validates the requested mappings, picks host ports for those
// without one, and checks that no port is published by another container or
// bound by a host process. It changes nothing.
func resolvePorts(req []PortMapping, s *state) ([]PortMapping, error) {
	var taken []PortMapping
	for _, ep := range s.Endpoints {
		taken = append(taken, ep.Ports...)
	}
	out := make([]PortMapping, 0, len(req))
	for _, p := range req {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("publish %s: protocol %q is not tcp or udp", p, p.Protocol)
		}
		if p.ContainerPort == 0 {
			return nil, fmt.Errorf("publish %s: container port 0", p)
		}
		if p.HostIP.IsValid() && (!p.HostIP.Is4() || p.HostIP.IsUnspecified()) {
			if p.HostIP.IsUnspecified() {
				p.HostIP = netip.Addr{}
			} else {
				return nil, fmt.Errorf("publish %s: host IP %v is not IPv4", p, p.HostIP)
			}
		}
		if p.HostPort == 0 {
			port, err := pickFreePort(p, append(taken, out...))
			if err != nil {
				return nil, err
			}
			p.HostPort = port
		} else {
			for _, t := range append(taken, out...) {
				if overlaps(p, t) {
					return nil, fmt.Errorf("publish %s: %w: already published by another container or earlier in this request (%s)", p, ErrPortInUse, t)
				}
			}
			if err := probe(p); err != nil {
				return nil, err
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// bindOnce binds proto on ip:port (port 0: any free one), closes the socket
// and returns the port it got.
func bindOnce(proto, ip string, port uint16) (uint16, error) {
	addr := net.JoinHostPort(ip, strconv.Itoa(int(port)))
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

func hostIPString(p PortMapping) string {
	if p.HostIP.IsValid() {
		return p.HostIP.String()
	}
	return "0.0.0.0"
}

// probe binds the host socket a mapping would take over, and fails if a host
// process holds it (its traffic would silently go to the container instead),
// or if the host IP is not an address of this host.
func probe(p PortMapping) error {
	if _, err := bindOnce(p.Protocol, hostIPString(p), p.HostPort); err != nil {
		return fmt.Errorf("publish %s: %w: binding %s:%d/%s failed (stop the process using it or pick another host port): %w",
			p, ErrPortInUse, hostIPString(p), p.HostPort, p.Protocol, err)
	}
	return nil
}

// pickFreePort asks the kernel for an unused port (bind to port 0) that no
// container has published either.
func pickFreePort(p PortMapping, taken []PortMapping) (uint16, error) {
	for range 32 {
		port, err := bindOnce(p.Protocol, hostIPString(p), 0)
		if err != nil {
			return 0, fmt.Errorf("publish %s: pick a free host port: %w", p, err)
		}
		cand := p
		cand.HostPort = port
		free := true
		for _, t := range taken {
			if overlaps(cand, t) {
				free = false
				break
			}
		}
		if free {
			return port, nil
		}
	}
	return 0, fmt.Errorf("publish %s: no free host port found", p)
}
