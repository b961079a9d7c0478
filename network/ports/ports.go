// Package ports parses docker-style port publishing specs (-p) into mappings.
//
// Accepted forms, each optionally followed by /tcp or /udp (default tcp):
//
//	CONTAINER               80            host port chosen by kago
//	HOST:CONTAINER          8080:80
//	IP:HOST:CONTAINER       127.0.0.1:8080:80
//	IP::CONTAINER           127.0.0.1::80 host port chosen by kago
//	ranges of equal length  8000-8002:80-82
//
// The host IP must be IPv4 (kago publishes through IPv4 NAT only).
package ports

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Mapping publishes one container port on the host.
type Mapping struct {
	// HostIP limits the mapping to one host address; the zero Addr means every
	// local address (including 127.0.0.1).
	HostIP netip.Addr `json:"hostIP,omitzero"`
	// HostPort 0 means "pick a free port" when the mapping is applied.
	HostPort      uint16 `json:"hostPort"`
	ContainerPort uint16 `json:"containerPort"`
	Protocol      string `json:"protocol"` // "tcp" or "udp"
}

// String renders the mapping in the -p syntax it was parsed from.
func (m Mapping) String() string {
	s := fmt.Sprintf("%d:%d/%s", m.HostPort, m.ContainerPort, m.Protocol)
	if m.HostIP.IsValid() {
		s = m.HostIP.String() + ":" + s
	}
	return s
}

// maxRange bounds one spec's expansion so a typo cannot create 65535 rules.
const maxRange = 1024

// Parse turns one -p value into its mappings (several for a range).
func Parse(spec string) ([]Mapping, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("port spec %q: %s (want [IP:][HOST:]CONTAINER[/tcp|udp], e.g. 8080:80 or 127.0.0.1:8080:80/udp)", spec, fmt.Sprintf(format, a...))
	}
	rest, proto := spec, "tcp"
	if i := strings.LastIndexByte(spec, '/'); i >= 0 {
		rest, proto = spec[:i], strings.ToLower(spec[i+1:])
		if proto != "tcp" && proto != "udp" {
			return nil, bad("protocol %q is not tcp or udp", spec[i+1:])
		}
	}
	var hostIP netip.Addr
	if strings.HasPrefix(rest, "[") {
		return nil, bad("IPv6 host addresses are not supported")
	}
	parts := strings.Split(rest, ":")
	var hostPart, ctrPart string
	switch len(parts) {
	case 1:
		ctrPart = parts[0]
	case 2:
		hostPart, ctrPart = parts[0], parts[1]
		if hostPart == "" {
			return nil, bad("empty host port")
		}
	case 3:
		ip, err := netip.ParseAddr(parts[0])
		if err != nil || !ip.Is4() {
			return nil, bad("host IP %q is not an IPv4 address", parts[0])
		}
		if !ip.IsUnspecified() {
			hostIP = ip
		}
		hostPart, ctrPart = parts[1], parts[2]
	default:
		return nil, bad("too many ':'")
	}
	cLo, cHi, err := parseRange(ctrPart)
	if err != nil {
		return nil, bad("container port: %v", err)
	}
	var hLo, hHi uint16
	if hostPart != "" {
		if hLo, hHi, err = parseRange(hostPart); err != nil {
			return nil, bad("host port: %v", err)
		}
		if hHi-hLo != cHi-cLo {
			return nil, bad("host range %s and container range %s differ in length", hostPart, ctrPart)
		}
	}
	out := make([]Mapping, 0, int(cHi-cLo)+1)
	for i := 0; i <= int(cHi-cLo); i++ {
		m := Mapping{HostIP: hostIP, ContainerPort: cLo + uint16(i), Protocol: proto}
		if hostPart != "" {
			m.HostPort = hLo + uint16(i)
		}
		out = append(out, m)
	}
	return out, nil
}

// parseRange reads "N" or "N-M" with 1 <= N <= M <= 65535.
func parseRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parsePort(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range %q ends before it starts", s)
		}
		if int(hi-lo) >= maxRange {
			return 0, 0, fmt.Errorf("range %q is longer than %d ports", s, maxRange)
		}
	}
	return lo, hi, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port between 1 and 65535", s)
	}
	return uint16(n), nil
}
