package apparmor

import (
	"strings"
	"testing"
)

func TestListedParsesTheKernelsProfileList(t *testing.T) {
	list := "docker-default (enforce)\nname with spaces (complain)\n/usr/bin/man (enforce)\nkago-default//null-x (enforce)\n"
	for name, want := range map[string]bool{
		"docker-default": true, "name with spaces": true, "/usr/bin/man": true,
		"kago-default": false, "docker": false, "enforce": false, "": false,
	} {
		got, err := listed(strings.NewReader(list), name)
		if err != nil || got != want {
			t.Errorf("listed(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
}

// On a host without AppArmor (this CI's kernel has no LSM), asking for a
// profile must fail, as runc's write to /proc/self/attr/exec does, never
// pass silently.
func TestApplyOnExecFailsWithoutAppArmor(t *testing.T) {
	if Enabled() {
		t.Skip("AppArmor is enabled here; test/lsm covers confinement")
	}
	err := ApplyOnExec("ka5-profile")
	if err == nil || !strings.Contains(err.Error(), `"ka5-profile"`) {
		t.Fatalf("ApplyOnExec without AppArmor = %v, want an error naming the profile", err)
	}
	if err := ApplyOnExec(""); err != nil {
		t.Fatalf("ApplyOnExec(\"\") = %v, want no request and no error", err)
	}
}
