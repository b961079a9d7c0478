package rootfs

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/explain"
)

func TestMountFlags(t *testing.T) {
	for flags, want := range map[uintptr]string{
		0:                                        "0",
		unix.MS_BIND | unix.MS_REC:               "MS_BIND|MS_REC",
		unix.MS_RDONLY | unix.MS_REMOUNT | 1<<40: "MS_RDONLY|MS_REMOUNT|0x10000000000",
	} {
		if got := MountFlags(flags); got != want {
			t.Errorf("MountFlags(%#x) = %q, want %q", flags, got, want)
		}
	}
}

// TestExplainOffCostsNothing: with explain off the mount, device and sysctl
// steps allocate nothing.
func TestExplainOffCostsNothing(t *testing.T) {
	d := specs.LinuxDevice{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}
	if n := testing.AllocsPerRun(1000, func() {
		recordMount(nil, "proc", "/proc", "proc", unix.MS_NOSUID, "")
		recordDevice(nil, "/dev/null", d, 0o666, 0, 0)
		recordSysctl(nil, "/proc/sys/net/ipv4/ip_forward", "1")
	}); n != 0 {
		t.Errorf("recording with explain off allocates %v times, want 0", n)
	}
	var l explain.Log
	recordMount(&l, "/dev/null", "/proc/kcore", "", unix.MS_BIND, "")
	if s := l.Steps(); len(s) != 1 || s[0].Value != "source=/dev/null flags=MS_BIND" || s[0].Why[:11] != "masked path" {
		t.Errorf("steps %+v", s)
	}
}
