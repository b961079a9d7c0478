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
