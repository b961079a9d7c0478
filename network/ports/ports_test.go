package ports

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	cases := map[string][]Mapping{
		"8080:80":           {{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		"8080:80/udp":       {{HostPort: 8080, ContainerPort: 80, Protocol: "udp"}},
		"53:53/UDP":         {{HostPort: 53, ContainerPort: 53, Protocol: "udp"}},
		"127.0.0.1:8080:80": {{HostIP: lo, HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		"0.0.0.0:8080:80":   {{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		"127.0.0.1::80/tcp": {{HostIP: lo, ContainerPort: 80, Protocol: "tcp"}},
		"80":                {{ContainerPort: 80, Protocol: "tcp"}},
		"8000-8001:80-81": {
			{HostPort: 8000, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 8001, ContainerPort: 81, Protocol: "tcp"},
		},
	}
	for spec, want := range cases {
		got, err := Parse(spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", spec, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", spec, got, want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, spec := range []string{"", ":", "8080:", ":80", "0:80", "8080:0", "70000:80", "8080:80/sctp", "8080:80/",
		"a:80", "1.2.3:8080:80", "[::1]:8080:80", "::1:8080:80", "1:2:3:4", "8000-8002:80-81", "90-80:90-80",
		"1-2000:1-2000", "+80:80", "-1:80", "8080:80/tcp/udp", "localhost:8080:80"} {
		if m, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) accepted: %+v", spec, m)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"8080:80", "127.0.0.1:8080:80/udp", "80", "8000-8002:80-82", "[::1]:1:2", "1.2.3.4::5/tcp", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := Parse(s)
		if err != nil {
			return
		}
		if len(ms) == 0 || len(ms) > maxRange {
			t.Fatalf("Parse(%q) gave %d mappings", s, len(ms))
		}
		for _, m := range ms {
			if m.ContainerPort == 0 || (m.Protocol != "tcp" && m.Protocol != "udp") || (m.HostIP.IsValid() && !m.HostIP.Is4()) {
				t.Fatalf("Parse(%q) gave invalid %+v", s, m)
			}
			// The rendered form parses back to the same mapping.
			if m.HostPort != 0 {
				back, err := Parse(m.String())
				if err != nil || len(back) != 1 || back[0] != m {
					t.Fatalf("round trip %q -> %q -> %+v, %v", s, m.String(), back, err)
				}
			}
		}
	})
}
