package rootfs

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

func TestValidateSysctl(t *testing.T) {
	withNS := func(sysctl map[string]string, ns ...specs.LinuxNamespaceType) *specs.Spec {
		s := &specs.Spec{Linux: &specs.Linux{Sysctl: sysctl}}
		for _, n := range ns {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: n})
		}
		return s
	}
	ok := []*specs.Spec{
		nil,
		{},
		withNS(map[string]string{"net.ipv4.ip_forward": "1"}, specs.NetworkNamespace),
		withNS(map[string]string{"kernel.shmmax": "1", "fs.mqueue.msg_max": "10"}, specs.IPCNamespace),
		withNS(map[string]string{"kernel.domainname": "x"}, specs.UTSNamespace),
	}
	for i, s := range ok {
		if err := ValidateSysctl(s); err != nil {
			t.Errorf("case %d: %v", i, err)
		}
	}
	bad := map[string]*specs.Spec{
		"needs its own network": withNS(map[string]string{"net.ipv4.ip_forward": "1"}, specs.IPCNamespace),
		"needs its own ipc":     withNS(map[string]string{"kernel.sem": "1"}),
		"not namespaced":        withNS(map[string]string{"vm.swappiness": "1"}, specs.NetworkNamespace, specs.IPCNamespace),
		"without \"..\"":        withNS(map[string]string{"net..x": "1"}, specs.NetworkNamespace),
	}
	for want, s := range bad {
		if err := ValidateSysctl(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateSysctl(%v) = %v, want error mentioning %q", s.Linux.Sysctl, err, want)
		}
	}
}
