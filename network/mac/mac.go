// Package mac chooses and checks Ethernet addresses for container interfaces.
//
// By default an address is derived from the container's IPv4 address the way
// docker does it, 02:42:a.b.c.d: the first octet 0x02 has the
// locally-administered (U/L) bit set and the multicast (I/G) bit clear, so it
// can never collide with a vendor-assigned NIC, and the address is stable for a
// given IP (peers' ARP caches stay right across a container restart).
//
// An operator who owns an OUI may configure it; then the first three octets are
// the OUI (a universally administered prefix: U/L bit clear) and the last three
// are the low three bytes of the IP. An explicit address (--mac-address) is
// used as given once Validate accepts it.
package mac

import (
	"fmt"
	"net"
	"net/netip"
)

const (
	multicastBit = 0x01 // I/G bit of the first octet
	localBit     = 0x02 // U/L bit of the first octet
)

// FromIP derives the default locally administered address 02:42:<ip>.
func FromIP(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{localBit, 0x42, a[0], a[1], a[2], a[3]}
}

// FromOUI derives OUI:<low three bytes of ip>. The OUI must pass ValidateOUI.
func FromOUI(oui net.HardwareAddr, ip netip.Addr) (net.HardwareAddr, error) {
	if err := ValidateOUI(oui); err != nil {
		return nil, err
	}
	a := ip.As4()
	return net.HardwareAddr{oui[0], oui[1], oui[2], a[1], a[2], a[3]}, nil
}

// Parse reads an explicit address like 02:42:ac:11:00:02 and validates it.
func Parse(s string) (net.HardwareAddr, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("MAC address %q: %w (want six hex octets like 02:42:0a:59:00:02)", s, err)
	}
	if err := Validate(hw); err != nil {
		return nil, err
	}
	return hw, nil
}

// Validate accepts only a 6-byte unicast address that is neither all-zero nor
// broadcast: the kernel refuses some of these and the rest break ARP.
func Validate(hw net.HardwareAddr) error {
	switch {
	case len(hw) != 6:
		return fmt.Errorf("MAC address %q has %d bytes: an Ethernet address has 6", hw.String(), len(hw))
	case isAll(hw, 0x00):
		return fmt.Errorf("MAC address %s is all-zero: pick a unicast address such as 02:42:0a:59:00:02", hw)
	case isAll(hw, 0xff):
		return fmt.Errorf("MAC address %s is the broadcast address: pick a unicast address such as 02:42:0a:59:00:02", hw)
	case hw[0]&multicastBit != 0:
		return fmt.Errorf("MAC address %s is multicast (lowest bit of the first octet set): clear that bit, e.g. first octet %02x", hw, hw[0]&^multicastBit)
	}
	return nil
}

// ParseOUI reads an operator OUI like "00:16:3e" and validates it.
func ParseOUI(s string) (net.HardwareAddr, error) {
	hw, err := net.ParseMAC(s + ":00:00:00")
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("OUI %q: want three hex octets like 00:16:3e", s)
	}
	oui := hw[:3]
	if err := ValidateOUI(oui); err != nil {
		return nil, err
	}
	return oui, nil
}

// ValidateOUI accepts a 3-byte universally administered unicast prefix.
func ValidateOUI(oui net.HardwareAddr) error {
	switch {
	case len(oui) != 3:
		return fmt.Errorf("OUI %q has %d bytes: an OUI has 3", oui.String(), len(oui))
	case oui[0]&multicastBit != 0:
		return fmt.Errorf("OUI %s has the multicast bit set: it cannot prefix unicast addresses", oui)
	case oui[0]&localBit != 0:
		return fmt.Errorf("OUI %s has the locally-administered bit set: an OUI is a universally administered prefix (leave OUI empty for locally administered 02:42:... addresses)", oui)
	}
	return nil
}

func isAll(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}
