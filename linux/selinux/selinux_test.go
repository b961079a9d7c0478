package selinux

import (
	"strings"
	"testing"
)

func TestFormatMountLabel(t *testing.T) {
	const l = "system_u:object_r:container_file_t:s0:c1,c2"
	for _, c := range []struct{ data, label, want string }{
		{"", "", ""},
		{"mode=755", "", "mode=755"},
		{"", l, `context="` + l + `"`},
		{"mode=755,size=65536k", l, `mode=755,size=65536k,context="` + l + `"`},
	} {
		if got := FormatMountLabel(c.data, c.label); got != c.want {
			t.Errorf("FormatMountLabel(%q, %q) = %q, want %q", c.data, c.label, got, c.want)
		}
	}
	for fstype, want := range map[string]bool{"tmpfs": true, "devpts": true, "proc": false, "sysfs": false, "mqueue": false} {
		if Labels(fstype) != want {
			t.Errorf("Labels(%q) = %v, want %v", fstype, !want, want)
		}
	}
}

// go-selinux's setters do nothing for an empty label; a set one on a host
// without SELinux fails (runc refuses it before it gets there).
func TestSetLabelsWithoutSELinux(t *testing.T) {
	if Enabled() {
		t.Skip("SELinux is enabled here")
	}
	if err := SetExecLabel(""); err != nil {
		t.Fatalf("SetExecLabel(\"\") = %v", err)
	}
	if err := SetKeyLabel(""); err != nil {
		t.Fatalf("SetKeyLabel(\"\") = %v", err)
	}
	if err := SetExecLabel("system_u:system_r:container_t:s0"); err == nil || !strings.Contains(err.Error(), "exec label") {
		t.Fatalf("SetExecLabel without SELinux = %v, want an error", err)
	}
}
