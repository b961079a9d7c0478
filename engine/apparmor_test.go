package engine

import (
	"strings"
	"testing"
)

func TestChooseAppArmorProfileIsDockersRule(t *testing.T) {
	for _, c := range []struct {
		requested           string
		privileged, enabled bool
		want, err           string
	}{
		{"", false, true, "kago-default", ""},
		{"", true, true, "unconfined", ""},
		{"unconfined", false, true, "unconfined", ""},
		{"ka5-own", true, true, "ka5-own", ""},
		// Without AppArmor: no profile; naming one is refused, not dropped.
		{"", false, false, "", ""},
		{"", true, false, "", ""},
		{"unconfined", false, false, "", ""},
		{"ka5-own", false, false, "", "AppArmor is not enabled on this host"},
	} {
		got, err := chooseAppArmorProfile(c.requested, c.privileged, c.enabled)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("chooseAppArmorProfile(%q, privileged %v, enabled %v) = %q, %v; want %q, %q", c.requested, c.privileged, c.enabled, got, err, c.want, c.err)
		}
	}
}

func TestParseSecurityOptsAppArmor(t *testing.T) {
	for in, want := range map[string]string{"apparmor=unconfined": "unconfined", "apparmor:ka5-own": "ka5-own", "apparmor=name with spaces": "name with spaces"} {
		o, err := ParseSecurityOpts([]string{in})
		if err != nil || o.AppArmorProfile != want {
			t.Errorf("--security-opt %q: %+v, %v; want AppArmorProfile %q", in, o, err, want)
		}
	}
	for in, want := range map[string]string{"apparmor=": "unsupported", "apparmor": "unsupported", "apparmor=a\nb": "control characters"} {
		if _, err := ParseSecurityOpts([]string{in}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--security-opt %q: %v, want an error containing %q", in, err, want)
		}
	}
}
