package caps

import (
	"slices"
	"testing"
)

// mobyDefaultCapabilities is Docker's default capability set as the daemon
// writes it into every container's spec: moby/moby
// daemon/pkg/oci/caps/defaults.go, DefaultCapabilities(), at commit
// aa06c28342a3a7c97ef2ead9908c1e1ce834c2da (oci/caps/defaults.go before the
// move to daemon/pkg; the list has not changed since Docker 20.10, and
// containerd's defaultUnixCaps is the same list). No small Go module
// carries it: github.com/moby/moby is the whole daemon. Copied here, in
// Docker's order, so that a change to kago's list is a change to this test
// too, made on purpose.
var mobyDefaultCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
}

// TestDefaultDockerIsMobys: DefaultDocker is Docker's list, same names in
// the same order, and each is a capability kago can parse.
func TestDefaultDockerIsMobys(t *testing.T) {
	got := DefaultDocker()
	if !slices.Equal(got, mobyDefaultCapabilities) {
		t.Errorf("DefaultDocker() = %v\nDocker's defaults = %v", got, mobyDefaultCapabilities)
	}
	for _, n := range got {
		if _, err := Parse(n); err != nil {
			t.Errorf("DefaultDocker has %s: %v", n, err)
		}
	}
	// DefaultDocker hands out a copy: a caller cannot change the default.
	got[0] = "CAP_SYS_ADMIN"
	if DefaultDocker()[0] != "CAP_CHOWN" {
		t.Error("changing the slice DefaultDocker returned changed the default set")
	}
}
