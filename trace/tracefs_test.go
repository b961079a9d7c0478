package trace

import (
	"os"
	"testing"
)

// TestPrivateTracefs finds the syscall tracepoints the way a host without
// tracefs mounted makes kago do, and checks that neither the host's mount
// table (pid 1's) nor the test's changed: the mount stayed in the
// reading thread's own namespace.
func TestPrivateTracefs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	before := mountTables(t)
	ids, err := privateTracepointIDs([]string{"sys_enter_openat", "sys_exit_openat", "sys_enter_kt12_missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids["sys_enter_openat"] == 0 || ids["sys_exit_openat"] == 0 {
		t.Errorf("ids = %v, want those of sys_enter_openat and sys_exit_openat only", ids)
	}
	if after := mountTables(t); after != before {
		t.Errorf("mount tables changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func mountTables(t *testing.T) string {
	var all string
	for _, p := range []string{"/proc/1/mountinfo", "/proc/self/mountinfo"} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all += string(data)
	}
	return all
}
