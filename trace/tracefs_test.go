package trace

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
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

// TestRaiseMemlock: the tracer lifts RLIMIT_MEMLOCK's soft limit to the
// hard one (kernels before 5.11 charge BPF memory to it), never above.
func TestRaiseMemlock(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_MEMLOCK, &old) })
	low := unix.Rlimit{Cur: old.Max / 2, Max: old.Max} // lowering needs no privilege
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &low); err != nil {
		t.Fatal(err)
	}
	raiseMemlock()
	var got unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &got); err != nil {
		t.Fatal(err)
	}
	if got != (unix.Rlimit{Cur: old.Max, Max: old.Max}) {
		t.Fatalf("RLIMIT_MEMLOCK %+v, want soft = hard = %d", got, old.Max)
	}
}
