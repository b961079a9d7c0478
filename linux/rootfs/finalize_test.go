package rootfs

import (
	"strings"
	"testing"
)

func TestSysctlPath(t *testing.T) {
	for name, want := range map[string]string{
		"net.ipv4.ip_forward": "/proc/sys/net/ipv4/ip_forward",
		"kernel.shmmax":       "/proc/sys/kernel/shmmax",
		"fs.mqueue.msg_max":   "/proc/sys/fs/mqueue/msg_max",
	} {
		got, err := SysctlPath(name)
		if err != nil || got != want {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "..", "net..ipv4", "net/../../etc/passwd", "/etc/passwd", ".net", "net.", "a.\x00", "a/./b", "a//b"} {
		if got, err := SysctlPath(bad); err == nil {
			t.Errorf("SysctlPath(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzSysctlPath(f *testing.F) {
	for _, s := range []string{"net.ipv4.ip_forward", "../x", "a/../../b", "kernel.msgmax"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := SysctlPath(name)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/proc/sys/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "//") {
			t.Fatalf("SysctlPath(%q) = %q escapes /proc/sys", name, p)
		}
	})
}
