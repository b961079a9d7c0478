package rootfs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kago-run/kago/linux/mountinfo"
)

func TestCgroupPathsHybrid(t *testing.T) {
	mounts, err := mountinfo.Parse(strings.NewReader(`31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
50 1 0:39 / /other/memory rw - cgroup cgroup rw,memory
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := CgroupPaths(strings.NewReader("4:cpu,cpuacct:/kago/c1\n3:memory:/kago/c1\n1:name=systemd:/\n0::/kago/c1\n2:pids:/x\n"), mounts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/kago/c1",
		"memory":      "/sys/fs/cgroup/memory/kago/c1",
		"systemd":     "/sys/fs/cgroup/systemd",
		"unified":     "/sys/fs/cgroup/unified/kago/c1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CgroupPaths = %v\nwant %v", got, want)
	}
}

func TestCgroupPathsV2AndNamespaceRoot(t *testing.T) {
	mounts, _ := mountinfo.Parse(strings.NewReader("30 23 0:26 /kago /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"))
	got, err := CgroupPaths(strings.NewReader("0::/kago/c1\n"), mounts)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"": "/sys/fs/cgroup/c1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("CgroupPaths = %v, want %v", got, want)
	}
	// A cgroup outside what the mount shows is left out, never guessed.
	got, _ = CgroupPaths(strings.NewReader("0::/other\n"), mounts)
	if len(got) != 0 {
		t.Fatalf("CgroupPaths for unreachable cgroup = %v", got)
	}
	if _, err := CgroupPaths(strings.NewReader("garbage\n"), mounts); err == nil {
		t.Fatal("malformed /proc/self/cgroup accepted")
	}
}

func TestCgroupHierarchiesInCgroupNamespace(t *testing.T) {
	// Seen from inside a cgroup namespace, a host mount made outside it
	// has a root above the namespace's: no host path, but the controllers
	// are still known for a fresh mount.
	mounts, _ := mountinfo.Parse(strings.NewReader(`35 31 0:32 /../.. /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
41 31 0:38 /.. /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
`))
	got, err := CgroupHierarchies(strings.NewReader("4:memory:/\n0::/\n"), mounts)
	if err != nil {
		t.Fatal(err)
	}
	want := []CgroupHierarchy{{Key: "memory", Controllers: "memory"}, {Key: "unified"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CgroupHierarchies = %+v, want %+v", got, want)
	}
}
