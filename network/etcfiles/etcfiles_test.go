package etcfiles

import (
	"net/netip"
	"strings"
	"testing"
)

func TestResolvConfDropsLoopback(t *testing.T) {
	host := "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nnameserver fe80::1%eth0\nsearch example.org corp\noptions edns0 trust-ad\nnameserver\n"
	got := string(ResolvConf([]byte(host)))
	ns := Nameservers([]byte(got))
	if len(ns) != 1 || ns[0] != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("nameservers %v in:\n%s", ns, got)
	}
	for _, want := range []string{"search example.org corp\n", "options edns0 trust-ad\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestResolvConfOnlyLoopbackKeepsSearch(t *testing.T) {
	got := string(ResolvConf([]byte("nameserver 127.0.0.53\noptions ndots:2\nsearch lan\n")))
	if len(Nameservers([]byte(got))) != 0 || !strings.Contains(got, "search lan") || !strings.Contains(got, "options ndots:2") {
		t.Fatalf("got:\n%s", got)
	}
}

func TestHosts(t *testing.T) {
	self := Entry{IP: netip.MustParseAddr("10.90.0.2"), Names: []string{"web", "abc123"}}
	peer := Entry{IP: netip.MustParseAddr("10.90.0.3"), Names: []string{"db"}}
	got := string(Hosts(self, []Entry{peer}))
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "::1\tlocalhost", "10.90.0.2\tweb abc123\n", "10.90.0.3\tdb\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestValidateHostname(t *testing.T) {
	for _, ok := range []string{"web", "web-1.example", "A1"} {
		if err := ValidateHostname(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-web", "web-", "a..b", "we b", "web\n10.0.0.1 evil", strings.Repeat("a", 64), "ü"} {
		if err := ValidateHostname(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestResolvDockerOrder(t *testing.T) {
	host := []byte("nameserver 10.0.0.2\nsearch host.lan\noptions ndots:3\nsortlist 10.0.0.0/8\n")
	d := DNS{Servers: []netip.Addr{netip.MustParseAddr("10.9.9.9")}, Options: []string{"ndots:2", "timeout:1"}}
	want := header + "sortlist 10.0.0.0/8\nsearch host.lan\nnameserver 10.9.9.9\noptions ndots:2 timeout:1\n"
	if got := string(Resolv(host, netip.Addr{}, d)); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// Through a resolver: it is the only nameserver; --dns is noted.
	d = DNS{Servers: d.Servers, Search: []string{"."}}
	want = header + "sortlist 10.0.0.0/8\nnameserver 10.90.0.1\noptions ndots:3\n# ExtServers: [10.9.9.9]\n"
	if got := string(Resolv(host, netip.MustParseAddr("10.90.0.1"), d)); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestHostsExtra(t *testing.T) {
	self := Entry{IP: netip.MustParseAddr("10.90.0.2"), Names: []string{"web"}}
	got := string(Hosts(self, nil, Entry{IP: netip.MustParseAddr("10.1.2.3"), Names: []string{"db"}}))
	if !strings.Contains(got, "::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tdb\n10.90.0.2\tweb\n") {
		t.Errorf("got:\n%s", got)
	}
	if got := string(AppendHosts([]byte("1.1.1.1 a"), []Entry{{IP: netip.MustParseAddr("10.1.2.3"), Names: []string{"db"}}})); got != "1.1.1.1 a\n10.1.2.3\tdb\n" {
		t.Errorf("AppendHosts: %q", got)
	}
}

func FuzzResolvConf(f *testing.F) {
	f.Add("nameserver 127.0.0.53\nsearch a\n")
	f.Add("nameserver 1.1.1.1\noptions x\n#c\n")
	f.Add("nameserver ::1\x00\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		out := ResolvConf([]byte(in))
		for _, a := range Nameservers(out) {
			if a.IsLoopback() {
				t.Fatalf("loopback nameserver %v survived from %q", a, in)
			}
		}
		// Generating from our own output is stable.
		if again := ResolvConf(out); string(again) != string(out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

func FuzzValidateHostname(f *testing.F) {
	f.Add("web-1.example")
	f.Add("a\nb")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateHostname(s) == nil && strings.ContainsAny(s, " \t\n\r#\x00") {
			t.Fatalf("accepted %q", s)
		}
	})
}
