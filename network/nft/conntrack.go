package nft

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DeleteConntrack forgets the connection-tracking entries of a container
// address: flows DNATed to it (reply source) and flows it started (original
// source). Without this, a UDP flow to a published port keeps its old NAT
// binding after the container is gone, and a new container that gets the
// port would not see that client until the entry times out.
func DeleteConntrack(ip netip.Addr) error {
	toIt := &netlink.ConntrackFilter{}
	if err := toIt.AddIP(netlink.ConntrackReplySrcIP, ip.AsSlice()); err != nil {
		return fmt.Errorf("conntrack filter for %v: %w", ip, err)
	}
	fromIt := &netlink.ConntrackFilter{}
	if err := fromIt.AddIP(netlink.ConntrackOrigSrcIP, ip.AsSlice()); err != nil {
		return fmt.Errorf("conntrack filter for %v: %w", ip, err)
	}
	if _, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, toIt, fromIt); err != nil {
		return fmt.Errorf("delete conntrack entries of %v: %w", ip, err)
	}
	return nil
}
