package dns

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func testServer() *Server {
	t := NewTable([]Entry{{IP: netip.MustParseAddr("10.219.250.2"), Names: []string{"web", "www"}}})
	return &Server{Records: func(netip.Addr) *Table { return t }, Subnet: netip.MustParsePrefix("10.219.250.0/24")}
}

var inside = &net.UDPAddr{IP: net.ParseIP("10.219.250.9"), Port: 4000}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	return m
}

func TestAnswer(t *testing.T) {
	s := testServer()
	ctx := context.Background()
	r := s.answer(ctx, inside, "udp", query("WWW", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.219.250.2" {
		t.Fatalf("A www: %v", r)
	}
	if r := s.answer(ctx, inside, "udp", query("web", dns.TypeAAAA)); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("AAAA web: want no data, got %v", r)
	}
	if r := s.answer(ctx, inside, "udp", query("2.250.219.10.in-addr.arpa", dns.TypePTR)); len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "web." {
		t.Fatalf("PTR: %v", r)
	}
	if r := s.answer(ctx, inside, "udp", query("3.250.219.10.in-addr.arpa", dns.TypePTR)); r.Rcode != dns.RcodeNameError {
		t.Fatalf("PTR of a free address: %v", r)
	}
	if r := s.answer(ctx, inside, "udp", query("nosuch", dns.TypeA)); r.Rcode != dns.RcodeNameError {
		t.Fatalf("unknown single label: %v", r)
	}
	// No upstream: SERVFAIL at once.
	if r := s.answer(ctx, inside, "udp", query("example.org", dns.TypeA)); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("no upstream: %v", r)
	}
	outside := &net.UDPAddr{IP: net.ParseIP("10.219.251.9"), Port: 4000}
	if r := s.answer(ctx, outside, "udp", query("web", dns.TypeA)); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Fatalf("query from another subnet: %v", r)
	}
}

// FuzzAnswer: whatever a container sends, the answer is a reply to it, and
// nothing panics.
func FuzzAnswer(f *testing.F) {
	for _, q := range []*dns.Msg{query("web", dns.TypeA), query("2.250.219.10.in-addr.arpa", dns.TypePTR), query("nosuch", dns.TypeANY)} {
		b, _ := q.Pack()
		f.Add(b)
	}
	s := testServer()
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		r := s.answer(context.Background(), inside, "udp", m)
		if r.Id != m.Id || !r.Response {
			t.Fatalf("reply %d/%v to query %d", r.Id, r.Response, m.Id)
		}
		if _, err := r.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v", err)
		}
	})
}
