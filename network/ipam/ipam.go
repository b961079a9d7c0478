// Package ipam hands out IPv4 addresses from one subnet so that no address is
// ever given to two containers at once, even when several kago processes
// allocate at the same moment.
//
// The allocation table of a subnet is one JSON file (the path is the caller's
// choice, normally <state>/ipam/<network>.json). Every operation takes an
// flock on it, reads it, changes it and writes it back atomically (see
// network/internal/statefile). The network address, the broadcast address and
// the gateway are never handed out. Allocation is next-fit: the search starts
// after the address handed out last, so a just-released address is not reused
// at once (a stale peer ARP cache or a late packet then reaches nobody rather
// than the wrong container).
package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/kago-run/kago/network/internal/statefile"
)

// Errors callers can test with errors.Is.
var (
	// ErrFull means every usable address of the subnet is allocated.
	ErrFull = errors.New("no free address left in subnet")
	// ErrInUse means a requested static address already belongs to someone.
	ErrInUse = errors.New("address already allocated")
	// ErrNotUsable means a requested address is outside the subnet or is its
	// network, broadcast or gateway address.
	ErrNotUsable = errors.New("address not usable in subnet")
)

// Pool allocates from one IPv4 subnet, persisted at Path.
type Pool struct {
	path    string
	subnet  netip.Prefix
	gateway netip.Addr
}

// record is the on-disk format.
type record struct {
	Subnet  string            `json:"subnet"`
	Gateway string            `json:"gateway"`
	Last    string            `json:"last,omitempty"`
	Owners  map[string]string `json:"owners"` // address -> owner (container ID)
}

// New returns the pool of subnet (masked to its network address) persisted at
// path, with gateway excluded from allocation. An invalid gateway means the
// subnet's first usable address (docker's and podman's convention).
func New(path string, subnet netip.Prefix, gateway netip.Addr) (*Pool, error) {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return nil, fmt.Errorf("ipam subnet %v: only IPv4 subnets such as 10.89.0.0/16 are supported", subnet)
	}
	subnet = subnet.Masked()
	if subnet.Bits() > 30 {
		return nil, fmt.Errorf("ipam subnet %v is too small: use /30 or larger (it needs a gateway and at least one container address)", subnet)
	}
	if !gateway.IsValid() {
		gateway = subnet.Addr().Next()
	}
	if !usable(subnet, gateway) {
		return nil, fmt.Errorf("ipam gateway %v is not a host address of %v", gateway, subnet)
	}
	return &Pool{path: path, subnet: subnet, gateway: gateway}, nil
}

// Subnet returns the pool's subnet.
func (p *Pool) Subnet() netip.Prefix { return p.subnet }

// Gateway returns the address reserved for the bridge.
func (p *Pool) Gateway() netip.Addr { return p.gateway }

// Broadcast returns the last address of a subnet.
func Broadcast(subnet netip.Prefix) netip.Addr {
	a := subnet.Masked().Addr().As4()
	host := uint32(1)<<(32-subnet.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// usable reports whether a is a host address of subnet (not its network or
// broadcast address).
func usable(subnet netip.Prefix, a netip.Addr) bool {
	return a.Is4() && subnet.Contains(a) && a != subnet.Addr() && a != Broadcast(subnet)
}

// update runs fn on the locked, decoded record and writes it back.
func (p *Pool) update(ctx context.Context, fn func(r *record) error) error {
	r := record{}
	return statefile.Update(ctx, p.path, &r, func() error {
		if r.Subnet != "" && r.Subnet != p.subnet.String() {
			return fmt.Errorf("ipam state %s belongs to subnet %s, not %v: remove the network first", p.path, r.Subnet, p.subnet)
		}
		r.Subnet, r.Gateway = p.subnet.String(), p.gateway.String()
		if r.Owners == nil {
			r.Owners = map[string]string{}
		}
		return fn(&r)
	})
}

// Allocate gives owner an address. If want is valid that exact address is
// reserved (a static IP), else the next free one. An owner that already holds
// an address gets the same one back, so a retried Attach does not leak.
func (p *Pool) Allocate(ctx context.Context, owner string, want netip.Addr) (netip.Addr, error) {
	if owner == "" {
		return netip.Addr{}, errors.New("ipam allocate: empty owner")
	}
	var got netip.Addr
	err := p.update(ctx, func(r *record) error {
		for a, o := range r.Owners {
			if o == owner {
				held, err := netip.ParseAddr(a)
				if err != nil {
					return fmt.Errorf("ipam state %s: bad address %q: %w", p.path, a, err)
				}
				if want.IsValid() && want != held {
					return fmt.Errorf("ipam: %s already holds %v, cannot also take %v", owner, held, want)
				}
				got = held
				return nil
			}
		}
		if want.IsValid() {
			if !usable(p.subnet, want) || want == p.gateway {
				return fmt.Errorf("static IP %v for %s: %w %v (pick a host address of the subnet other than gateway %v)", want, owner, ErrNotUsable, p.subnet, p.gateway)
			}
			if o, taken := r.Owners[want.String()]; taken {
				return fmt.Errorf("static IP %v for %s: %w by %s", want, owner, ErrInUse, o)
			}
			got = want
		} else {
			a, err := p.next(r)
			if err != nil {
				return err
			}
			got = a
			r.Last = a.String()
		}
		r.Owners[got.String()] = owner
		return nil
	})
	if err != nil {
		return netip.Addr{}, err
	}
	return got, nil
}

// next finds the first free address after r.Last, wrapping around once.
func (p *Pool) next(r *record) (netip.Addr, error) {
	start := p.subnet.Addr().Next()
	if last, err := netip.ParseAddr(r.Last); err == nil && usable(p.subnet, last) {
		start = last.Next()
	}
	size := uint64(1) << (32 - p.subnet.Bits())
	a := start
	for i := uint64(0); i < size; i++ {
		if !p.subnet.Contains(a) {
			a = p.subnet.Addr()
		}
		if usable(p.subnet, a) && a != p.gateway {
			if _, taken := r.Owners[a.String()]; !taken {
				return a, nil
			}
		}
		a = a.Next()
	}
	return netip.Addr{}, fmt.Errorf("subnet %v: %w (%d addresses allocated; remove containers or use a larger subnet)", p.subnet, ErrFull, len(r.Owners))
}

// Release frees every address held by owner. Releasing an owner that holds
// nothing is not an error, so Detach can be retried.
func (p *Pool) Release(ctx context.Context, owner string) error {
	return p.update(ctx, func(r *record) error {
		for a, o := range r.Owners {
			if o == owner {
				delete(r.Owners, a)
			}
		}
		return nil
	})
}

// Allocations returns a snapshot of address -> owner.
func (p *Pool) Allocations(ctx context.Context) (map[netip.Addr]string, error) {
	l, err := statefile.Acquire(ctx, p.path)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	var r record
	if _, err := statefile.Read(p.path, &r); err != nil {
		return nil, err
	}
	out := make(map[netip.Addr]string, len(r.Owners))
	for a, o := range r.Owners {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("ipam state %s: bad address %q: %w", p.path, a, err)
		}
		out[addr] = o
	}
	return out, nil
}
