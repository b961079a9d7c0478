package shim

import (
	"strings"
	"testing"
)

// TestParseFlags checks the command lines containerd 1.6 and 2.x pass, and
// that bad ones get a one-line error naming what is wrong.
func TestParseFlags(t *testing.T) {
	f, err := parseFlags([]string{"-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock",
		"-publish-binary", "/usr/bin/containerd", "-id", "abc", "-debug", "start"})
	if err != nil || f.namespace != "k8s.io" || f.id != "abc" || f.action != "start" || !f.debug {
		t.Fatalf("containerd 1.6 start command: %+v, %v", f, err)
	}
	f, err = parseFlags([]string{"-namespace", "default", "-id", "x", "-address", "/a", "-bundle", "/b", "delete"})
	if err != nil || f.bundle != "/b" || f.action != "delete" {
		t.Fatalf("delete command: %+v, %v", f, err)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{nil, "-namespace is required"},
		{[]string{"-namespace", "n"}, "-id is required"},
		{[]string{"-namespace", "n", "-id", "../etc"}, "invalid container ID"},
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
	} {
		_, err := parseFlags(bad.args)
		if err == nil || !strings.Contains(err.Error(), bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseFlags(%q) = %v, want one line with %q", bad.args, err, bad.want)
		}
	}
}

// TestRunUnknownAction: an action containerd never passes is refused, not
// served.
func TestRunUnknownAction(t *testing.T) {
	err := run([]string{"-namespace", "n", "-id", "x", "frobnicate"})
	if err == nil || !strings.Contains(err.Error(), `unknown action "frobnicate"`) {
		t.Fatalf("run with action frobnicate: %v", err)
	}
}
