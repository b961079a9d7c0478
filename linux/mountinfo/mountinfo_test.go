package mountinfo

import (
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	in := `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 master:2 - ext4 /dev/vda rw,discard
41 31 0:38 /kago /sys/fs/cgroup/with\040space rw - cgroup2 cgroup2 rw
`
	ms, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("got %d mounts", len(ms))
	}
	if m := ms[0]; m.ID != 22 || m.Parent != 27 || m.Mountpoint != "/proc" || m.FSType != "proc" || m.Shared() {
		t.Errorf("line 1: %+v", m)
	}
	if m := ms[1]; !m.Shared() || len(m.Optional) != 2 || m.SuperOptions != "rw,discard" || m.Source != "/dev/vda" {
		t.Errorf("line 2: %+v", m)
	}
	if m := ms[2]; m.Mountpoint != "/sys/fs/cgroup/with space" || m.Root != "/kago" {
		t.Errorf("line 3: %+v", m)
	}
	for _, bad := range []string{"1 2 3", "x 1 0:1 / / rw - ext4 a b", "1 2 0:1 / / rw ext4 a b c"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("22 27 0:21 / /proc rw,relatime - proc proc rw\n")
	f.Add("27 1 254:0 / /a\\040b rw shared:1 - ext4 /dev/vda rw\n")
	f.Add("1 1 0:0 \\ \\12 - - - -")
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := Parse(strings.NewReader(s))
		if err == nil && len(ms) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d mounts from %d lines", len(ms), strings.Count(s, "\n")+1)
		}
	})
}
