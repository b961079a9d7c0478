package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestNativeTable: on amd64 the x86_64 table agrees with x/sys/unix (whose
// SYS_ constants are the build architecture's; _sysctl exists only here).
func TestNativeTable(t *testing.T) {
	for name, nr := range map[string]uint32{"read": unix.SYS_READ, "clone3": unix.SYS_CLONE3, "seccomp": unix.SYS_SECCOMP, "openat2": unix.SYS_OPENAT2, "_sysctl": unix.SYS__SYSCTL} {
		if sysnumX86_64[name] != nr {
			t.Errorf("x86_64 %s = %d, want %d", name, sysnumX86_64[name], nr)
		}
	}
}
