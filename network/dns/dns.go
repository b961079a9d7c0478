// Package dns is the resolver of a kago user network, docker's embedded DNS
// server (127.0.0.11) or podman's aardvark-dns in kago's shape: it answers
// for the names of the containers on one network (container name, network
// aliases, host name; A and PTR records) and forwards every other name to
// the host's resolvers.
//
// It only answers queries that come from its network's subnet, so a
// container on another network cannot learn this network's names by
// sending its queries here. Names of one label that are not on the network
// fail at once (NXDOMAIN) instead of waiting for upstream servers that
// cannot know them; when no upstream answers, the reply is SERVFAIL.
//
// The package holds no state of its own beyond what its caller gives it:
// the records come from a function called per query (package network reads
// them from its state file), so a container recreated with a new address
// is found at its new address with the next query.
package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Entry is one container on the network: its address and its names.
type Entry struct {
	IP    netip.Addr
	Names []string
	// Upstreams are where this container's queries for other names go
	// (its --dns servers, host:port); nil: the server's Upstreams.
	Upstreams []string
}

// Table is the network's records, indexed for lookup.
type Table struct {
	byName map[string][]netip.Addr
	byAddr map[netip.Addr]string
	// upstreams are the containers' own upstreams, by their address.
	upstreams map[netip.Addr][]string
}

// NewTable indexes entries. Names are matched without regard to case; the
// first name of an entry is what a reverse lookup of its address answers.
func NewTable(entries []Entry) *Table {
	t := &Table{byName: map[string][]netip.Addr{}, byAddr: map[netip.Addr]string{}, upstreams: map[netip.Addr][]string{}}
	for _, e := range entries {
		if e.IP.IsValid() && len(e.Upstreams) > 0 {
			t.upstreams[e.IP] = e.Upstreams
		}
		if !e.IP.IsValid() || len(e.Names) == 0 {
			continue
		}
		for _, n := range e.Names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if n != "" {
				t.byName[n] = append(t.byName[n], e.IP)
			}
		}
		if _, ok := t.byAddr[e.IP]; !ok {
			t.byAddr[e.IP] = e.Names[0]
		}
	}
	return t
}

// Len is the number of names in the table.
func (t *Table) Len() int { return len(t.byName) }

// TTL of the network's answers: short, because a container's address
// changes when it is recreated.
const TTL = 5

// Server answers queries for one network.
type Server struct {
	// Records returns the records the client (a container on the
	// network) may resolve; it is called for every query.
	Records func(client netip.Addr) *Table
	// Subnet is the network's subnet: queries from other sources are
	// refused, and reverse lookups in it are answered here.
	Subnet netip.Prefix
	// Upstreams are host:port addresses of the resolvers other names go to.
	Upstreams []string
	// Timeout is how long one upstream may take; default 2s.
	Timeout time.Duration
}

// ServeDNS answers one query; it implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	w.WriteMsg(s.answer(context.Background(), w.RemoteAddr(), w.LocalAddr().Network(), req))
}

// answer computes the reply to req from client over network ("udp"/"tcp").
func (s *Server) answer(ctx context.Context, client net.Addr, network string, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return resp.SetRcode(req, dns.RcodeFormatError)
	}
	if s.Subnet.IsValid() {
		if ip := addrOf(client); !ip.IsValid() || !s.Subnet.Contains(ip.Unmap()) {
			return resp.SetRcode(req, dns.RcodeRefused)
		}
	}
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	t := s.Records(addrOf(client).Unmap())
	if q.Qclass == dns.ClassINET {
		if addrs, ok := t.byName[name]; ok {
			resp.SetReply(req)
			resp.Authoritative = true
			if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
				for _, a := range addrs {
					resp.Answer = append(resp.Answer, &dns.A{
						Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: TTL},
						A:   a.AsSlice(),
					})
				}
			}
			return resp // other types: the name exists, without such records
		}
		if ip, ok := reverseAddr(name); ok && s.Subnet.IsValid() && s.Subnet.Contains(ip) {
			target, found := t.byAddr[ip]
			if !found {
				return resp.SetRcode(req, dns.RcodeNameError)
			}
			resp.SetReply(req)
			resp.Authoritative = true
			if q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY {
				resp.Answer = append(resp.Answer, &dns.PTR{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: TTL},
					Ptr: dns.Fqdn(target),
				})
			}
			return resp
		}
		if !strings.Contains(name, ".") {
			// One label and not a container here: no upstream knows it.
			resp.SetRcode(req, dns.RcodeNameError)
			resp.Authoritative = true
			return resp
		}
	}
	ups := s.Upstreams
	if own := t.upstreams[addrOf(client).Unmap()]; len(own) > 0 {
		ups = own
	}
	if r := s.forward(ctx, network, req, ups); r != nil {
		return r
	}
	return resp.SetRcode(req, dns.RcodeServerFailure)
}

// forward asks each upstream in turn and returns the first reply.
func (s *Server) forward(ctx context.Context, network string, req *dns.Msg, upstreams []string) *dns.Msg {
	c := &dns.Client{Net: network, Timeout: s.Timeout}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	for _, up := range upstreams {
		r, _, err := c.ExchangeContext(ctx, req, up)
		if err == nil && r != nil {
			r.Id = req.Id
			return r
		}
	}
	return nil
}

// addrOf is the IP of a client address.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip
	}
	return netip.Addr{}
}

// reverseAddr parses d.c.b.a.in-addr.arpa (lower case, no final dot).
func reverseAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
	if err != nil || !ip.Is4() {
		return netip.Addr{}, false
	}
	return ip, true
}

// Serve answers queries on the UDP and TCP sockets until ctx ends, then
// closes them.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, l net.Listener) error {
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: l, Handler: s}
	errs := make(chan error, 2)
	go func() { errs <- udp.ActivateAndServe() }()
	go func() { errs <- tcp.ActivateAndServe() }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	udp.Shutdown()
	tcp.Shutdown()
	pc.Close()
	l.Close()
	return err
}
