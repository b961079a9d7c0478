// Package nft programs kago's NAT in the kernel with nftables, the way podman's
// netavark does: everything lives in ONE table of family ip (default "kago"),
// and every change is ONE netlink batch (Conn.Flush), so the kernel applies it
// whole or not at all and no packet ever sees half a configuration.
//
// The table, once made by Ensure:
//
//	table ip kago {
//	  map tcp-any { type inet_service : ipv4_addr . inet_service }            # -p 8080:80
//	  map tcp-ip  { type ipv4_addr . inet_service : ipv4_addr . inet_service } # -p 127.0.0.1:8080:80
//	  map udp-any, udp-ip  (same for udp)
//	  chain dnat {
//	    meta l4proto tcp dnat ip to ip daddr . tcp dport map @tcp-ip
//	    meta l4proto tcp dnat ip to tcp dport map @tcp-any
//	    (udp likewise)
//	  }
//	  chain prerouting  { type nat hook prerouting priority dstnat; fib daddr type local jump dnat }
//	  chain output      { type nat hook output priority -100;      fib daddr type local jump dnat }
//	  chain postrouting { type nat hook postrouting priority srcnat; per-network rules (AddNetwork) }
//	}
//
// Publishing a port adds one map element, not a rule, so the rule set stays the
// same size however many ports are published and a lookup is one hash probe.
// The output-chain jump is what makes the host itself reach a published port
// on 127.0.0.1 or on one of its own addresses without a userland proxy.
package nft

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Port is one published port as programmed in the kernel.
type Port struct {
	Protocol      string     // "tcp" or "udp"
	HostIP        netip.Addr // zero: every local address
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// Network is the part of a network the NAT rules need.
type Network struct {
	Name   string
	Bridge string
	Subnet netip.Prefix
}

// Table is kago's nftables table called Name (family ip).
type Table struct{ Name string }

const (
	chainDNAT        = "dnat"
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	tagPrefix        = "kago-net="
)

var protocols = []string{"tcp", "udp"}

func (t Table) table() *nftables.Table {
	return &nftables.Table{Name: t.Name, Family: nftables.TableFamilyIPv4}
}

func mapName(proto string, withIP bool) string {
	if withIP {
		return proto + "-ip"
	}
	return proto + "-any"
}

var (
	addrPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
)

func (t Table) mapSet(proto string, withIP bool) *nftables.Set {
	s := &nftables.Set{Table: t.table(), Name: mapName(proto, withIP), IsMap: true, DataType: addrPort}
	if withIP {
		s.KeyType, s.Concatenation = addrPort, true
	} else {
		s.KeyType, s.KeyByteOrder = nftables.TypeInetService, binaryutil.BigEndian
	}
	return s
}

func validName(name string) error {
	if name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\n\x00\"'") {
		return fmt.Errorf("nftables table name %q: want 1-64 characters without spaces or quotes", name)
	}
	return nil
}

// Exists reports whether the table is present.
func (t Table) Exists() (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	_, err = c.ListTableOfFamily(t.Name, nftables.TableFamilyIPv4)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("nftables: look up table ip %s: %w", t.Name, err)
	}
	return true, nil
}

// Ensure creates the table with its maps and fixed chains in one transaction
// if it does not exist. Callers serialise Ensure (kago holds its state lock),
// so check-then-create cannot race with another kago.
func (t Table) Ensure() error {
	if err := validName(t.Name); err != nil {
		return err
	}
	ok, err := t.Exists()
	if err != nil || ok {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tbl := c.AddTable(t.table())
	var rules [][]expr.Any
	for _, p := range protocols {
		for _, withIP := range []bool{true, false} {
			s := t.mapSet(p, withIP)
			if err := c.AddSet(s, nil); err != nil {
				return fmt.Errorf("nftables: map %s: %w", s.Name, err)
			}
			rules = append(rules, dnatExprs(p, withIP, s))
		}
	}
	dnat := c.AddChain(&nftables.Chain{Name: chainDNAT, Table: tbl})
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: tbl, Chain: dnat, Exprs: r})
	}
	jumpIfLocal := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: chainDNAT},
	}
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
		prio *nftables.ChainPriority
	}{
		{chainPrerouting, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest},
		{chainOutput, nftables.ChainHookOutput, nftables.ChainPriorityNATDest},
	} {
		ch := c.AddChain(&nftables.Chain{Name: h.name, Table: tbl, Type: nftables.ChainTypeNAT, Hooknum: h.hook, Priority: h.prio})
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: jumpIfLocal})
	}
	c.AddChain(&nftables.Chain{Name: chainPostrouting, Table: tbl, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: create table ip %s: %w", t.Name, err)
	}
	return nil
}

// dnatExprs is "meta l4proto P dnat ip to [ip daddr .] P dport map @m".
func dnatExprs(proto string, withIP bool, m *nftables.Set) []expr.Any {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNum(proto)}},
	}
	if withIP {
		// Concatenation: daddr in 32-bit register 8 (= 128-bit reg 1), dport in 9.
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	} else {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	}
	return append(e,
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 9})
}

func protoNum(p string) byte {
	if p == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// Delete removes the whole table; a missing table is not an error.
func (t Table) Delete() error {
	ok, err := t.Exists()
	if err != nil || !ok {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	c.DelTable(t.table())
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table ip %s: %w", t.Name, err)
	}
	return nil
}

// AddNetwork adds, in one transaction, the source NAT of a network:
//
//	ip saddr SUBNET oifname != BRIDGE masquerade         outbound traffic
//	ip saddr 127.0.0.0/8 oifname BRIDGE masquerade       host's 127.0.0.1:PORT after DNAT
//	ip saddr SUBNET oifname BRIDGE ct status dnat masquerade  hairpin: a container
//	                                                     reaching a peer through a published port
//
// Rules carry the comment kago-net=NAME so RemoveNetwork finds them. Adding a
// network that is present replaces its rules.
func (t Table) AddNetwork(n Network) error {
	if !n.Subnet.Addr().Is4() {
		return fmt.Errorf("nftables: network %s: subnet %v is not IPv4", n.Name, n.Subnet)
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if err := t.delNetworkRules(c, n.Name); err != nil {
		return err
	}
	tbl, ch := t.table(), &nftables.Chain{Name: chainPostrouting, Table: t.table()}
	tag := userdata.AppendString(nil, userdata.TypeComment, tagPrefix+n.Name)
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	for _, r := range [][]expr.Any{
		append(append(saddrIn(n.Subnet), oifname(n.Bridge, expr.CmpOpNeq)...), &expr.Masq{}),
		append(append(saddrIn(loopback), oifname(n.Bridge, expr.CmpOpEq)...), &expr.Masq{}),
		append(append(append(saddrIn(n.Subnet), oifname(n.Bridge, expr.CmpOpEq)...), ctStatusDNAT()...), &expr.Masq{}),
	} {
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: r, UserData: tag})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add masquerade for network %s (%v on %s): %w", n.Name, n.Subnet, n.Bridge, err)
	}
	return nil
}

// RemoveNetwork deletes a network's rules in one transaction.
func (t Table) RemoveNetwork(name string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if err := t.delNetworkRules(c, name); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: remove rules of network %s: %w", name, err)
	}
	return nil
}

// delNetworkRules queues deletion of rules tagged with name.
func (t Table) delNetworkRules(c *nftables.Conn, name string) error {
	rules, err := c.GetRules(t.table(), &nftables.Chain{Name: chainPostrouting, Table: t.table()})
	if err != nil {
		return fmt.Errorf("nftables: list %s/%s: %w", t.Name, chainPostrouting, err)
	}
	for _, r := range rules {
		if tag, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && tag == tagPrefix+name {
			if err := c.DelRule(r); err != nil {
				return fmt.Errorf("nftables: delete rule of network %s: %w", name, err)
			}
		}
	}
	return nil
}

func saddrIn(p netip.Prefix) []expr.Any {
	p = p.Masked()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: net.CIDRMask(p.Bits(), 32), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
	}
}

func oifname(name string, op expr.CmpOp) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: b},
	}
}

// ctStatusDNAT is "ct status dnat": the connection's destination was rewritten.
func ctStatusDNAT() []expr.Any {
	const ipsDstNAT = 1 << 5
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// element encodes p as its map element.
func element(p Port) nftables.SetElement {
	val := append(p.ContainerIP.AsSlice(), portBytes(p.ContainerPort)...)
	if p.HostIP.IsValid() {
		return nftables.SetElement{Key: append(p.HostIP.AsSlice(), portBytes(p.HostPort)...), Val: val}
	}
	return nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(p.HostPort), Val: val}
}

// portBytes is a port padded to the 4-byte register width of a concatenation.
func portBytes(port uint16) []byte { return append(binaryutil.BigEndian.PutUint16(port), 0, 0) }

func checkPort(p Port) error {
	if p.Protocol != "tcp" && p.Protocol != "udp" {
		return fmt.Errorf("nftables: port %d: protocol %q is not tcp or udp", p.HostPort, p.Protocol)
	}
	if p.HostPort == 0 || p.ContainerPort == 0 || !p.ContainerIP.Is4() || (p.HostIP.IsValid() && !p.HostIP.Is4()) {
		return fmt.Errorf("nftables: incomplete IPv4 port mapping %+v", p)
	}
	return nil
}

// AddPorts publishes ports in one transaction: all or none.
func (t Table) AddPorts(ps []Port) error { return t.changePorts(ps, true) }

// RemovePorts unpublishes ports in one transaction.
func (t Table) RemovePorts(ps []Port) error { return t.changePorts(ps, false) }

func (t Table) changePorts(ps []Port, add bool) error {
	if len(ps) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	byMap := map[string][]nftables.SetElement{}
	for _, p := range ps {
		if err := checkPort(p); err != nil {
			return err
		}
		n := mapName(p.Protocol, p.HostIP.IsValid())
		byMap[n] = append(byMap[n], element(p))
	}
	for _, proto := range protocols {
		for _, withIP := range []bool{true, false} {
			s := t.mapSet(proto, withIP)
			els := byMap[s.Name]
			if len(els) == 0 {
				continue
			}
			if add {
				err = c.SetAddElements(s, els)
			} else {
				err = c.SetDeleteElements(s, els)
			}
			if err != nil {
				return fmt.Errorf("nftables: map %s: %w", s.Name, err)
			}
		}
	}
	if err := c.Flush(); err != nil {
		verb := "publish"
		if !add {
			verb = "unpublish"
		}
		return fmt.Errorf("nftables: %s %d ports in table ip %s: %w", verb, len(ps), t.Name, err)
	}
	return nil
}

// Ports lists what the kernel currently publishes (all maps).
func (t Table) Ports() ([]Port, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	var out []Port
	for _, proto := range protocols {
		for _, withIP := range []bool{true, false} {
			s := t.mapSet(proto, withIP)
			els, err := c.GetSetElements(s)
			if err != nil {
				return nil, fmt.Errorf("nftables: list map %s: %w", s.Name, err)
			}
			for _, e := range els {
				p := Port{Protocol: proto}
				if len(e.Val) < 6 {
					return nil, fmt.Errorf("nftables: map %s: element value of %d bytes", s.Name, len(e.Val))
				}
				p.ContainerIP = netip.AddrFrom4([4]byte(e.Val[:4]))
				p.ContainerPort = binaryutil.BigEndian.Uint16(e.Val[4:6])
				switch {
				case withIP && len(e.Key) >= 6:
					p.HostIP = netip.AddrFrom4([4]byte(e.Key[:4]))
					p.HostPort = binaryutil.BigEndian.Uint16(e.Key[4:6])
				case !withIP && len(e.Key) >= 2:
					p.HostPort = binaryutil.BigEndian.Uint16(e.Key[:2])
				default:
					return nil, fmt.Errorf("nftables: map %s: element key of %d bytes", s.Name, len(e.Key))
				}
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Element is where p lives in the table and how `nft list map` prints it:
// "ip kago tcp-any" and "8080 : 10.88.0.2 . 80" (host address first when
// the port is published on one).
func (t Table) Element(p Port) (set, elem string) {
	elem = strconv.Itoa(int(p.HostPort)) + " : " + p.ContainerIP.String() + " . " + strconv.Itoa(int(p.ContainerPort))
	if p.HostIP.IsValid() {
		elem = p.HostIP.String() + " . " + elem
	}
	return "ip " + t.Name + " " + mapName(p.Protocol, p.HostIP.IsValid()), elem
}
