package caps

import (
	"encoding/json"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzFromSpec feeds JSON capability objects (untrusted config.json input):
// FromSpec must never panic, and every name it accepts must round-trip.
func FuzzFromSpec(f *testing.F) {
	f.Add(`{"bounding":["CAP_CHOWN"],"ambient":["cap_kill"]}`)
	f.Add(`{"effective":["CAP_NOPE"]}`)
	f.Add(`{"permitted":["CHOWN",""," CAP_BPF "]}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, in string) {
		var c *specs.LinuxCapabilities
		if json.Unmarshal([]byte(in), &c) != nil {
			return
		}
		s, err := FromSpec(c)
		if err != nil {
			if !strings.Contains(err.Error(), "capabilities.") {
				t.Fatalf("error %q does not name the set", err)
			}
			return
		}
		for _, n := range Names(s.Bounding | s.Effective | s.Permitted | s.Inheritable | s.Ambient) {
			if _, err := Parse(n); err != nil {
				t.Fatalf("accepted capability %s does not parse back: %v", n, err)
			}
		}
	})
}
