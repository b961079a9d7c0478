package apparmorprofile

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// The generated text must be a profile Debian's apparmor_parser compiles,
// with the host's includes and without them. -Q compiles without loading,
// so this runs on hosts without AppArmor too.
func TestGenerateCompilesWithApparmorParser(t *testing.T) {
	if _, err := exec.LookPath("apparmor_parser"); err != nil {
		t.Fatal("apparmor_parser is missing: install Debian's apparmor package (make deps)")
	}
	all := func(string) bool { return true }
	none := func(string) bool { return false }
	for name, tc := range map[string]struct {
		engine string
		has    func(string) bool
	}{
		"host includes": {"unconfined", all},
		"no includes":   {"", none},
		"confined kago": {`kago "engine"`, all},
	} {
		t.Run(name, func(t *testing.T) {
			text := Generate(DefaultName, tc.engine, tc.has)
			cmd := exec.Command("apparmor_parser", "-QK")
			cmd.Stdin = bytes.NewReader(text)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("apparmor_parser -QK: %v\n%s\nprofile:\n%s", err, out, text)
			}
		})
	}
}

func TestGenerateNamesItsPeersAndIncludes(t *testing.T) {
	text := string(Generate("ka5-p", `kago "x"`, func(p string) bool { return p == "tunables/global" }))
	for _, want := range []string{`profile "ka5-p" flags=`, `signal (send,receive) peer="ka5-p",`, `signal (receive) peer="kago \"x\"",`, "#include <tunables/global>", "deny mount,"} {
		if !strings.Contains(text, want) {
			t.Errorf("profile lacks %q:\n%s", want, text)
		}
	}
	for _, unwanted := range []string{"abi <", "abstractions/base", "@{PROC}=/proc/"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("profile has %q although the host lacks it:\n%s", unwanted, text)
		}
	}
	if strings.Contains(string(Generate("p", "unconfined", func(string) bool { return false })), `peer="unconfined"`) {
		t.Error("an unconfined engine got a quoted peer rule of its own")
	}
}
