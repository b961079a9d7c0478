package network

import (
	"testing"

	"github.com/kago-run/kago/network/etcfiles"
)

func TestDefaultHostname(t *testing.T) {
	for id, want := range map[string]string{
		"4f2a9c0e1b7d3a5c9e8f": "4f2a9c0e1b7d",
		"my_app.web_1":         "my-app-web-1",
		"_._":                  "container",
		"a":                    "a",
	} {
		got := defaultHostname(id)
		if got != want || etcfiles.ValidateHostname(got) != nil {
			t.Errorf("defaultHostname(%q) = %q, want %q", id, got, want)
		}
	}
}

func FuzzDefaultHostname(f *testing.F) {
	f.Add("4f2a9c0e1b7d3a5c")
	f.Add("-_-.x")
	f.Fuzz(func(t *testing.T, id string) {
		if !containerIDRE.MatchString(id) {
			return // Attach rejects such IDs before deriving a hostname
		}
		if h := defaultHostname(id); etcfiles.ValidateHostname(h) != nil {
			t.Fatalf("defaultHostname(%q) = %q is not a valid hostname", id, h)
		}
	})
}
