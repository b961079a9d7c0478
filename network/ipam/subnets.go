package ipam

import (
	"fmt"
	"net/netip"
)

// NextSubnet returns the first /bits subnet inside pool that overlaps none of
// used (existing networks, and the host's own routes so a new bridge does not
// shadow a LAN). User networks get theirs from a pool like 10.90.0.0/16.
func NextSubnet(pool netip.Prefix, bits int, used []netip.Prefix) (netip.Prefix, error) {
	pool = pool.Masked()
	if !pool.Addr().Is4() || bits < pool.Bits() || bits > 30 {
		return netip.Prefix{}, fmt.Errorf("subnet pool %v cannot be cut into /%d subnets: use an IPv4 pool and a size between /%d and /30", pool, bits, pool.Bits())
	}
	n := uint64(1) << (bits - pool.Bits())
	step := uint32(1) << (32 - bits)
	a4 := pool.Addr().As4()
	base := uint32(a4[0])<<24 | uint32(a4[1])<<16 | uint32(a4[2])<<8 | uint32(a4[3])
	for i := uint64(0); i < n; i++ {
		v := base + uint32(i)*step
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
		free := true
		for _, u := range used {
			if u.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("subnet pool %v has no free /%d left: remove unused networks or give a subnet explicitly", pool, bits)
}
