package reap

import (
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExited: the exit codes of children, by status and by signal, come
// back with their pids.
func TestExited(t *testing.T) {
	want := map[int]int{}
	for _, tc := range []struct {
		script string
		code   int
	}{{"exit 3", 3}, {"kill -9 $$", 128 + 9}, {"true", 0}} {
		cmd := exec.Command("/bin/sh", "-c", tc.script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		want[cmd.Process.Pid] = tc.code
	}
	got := map[int]int{}
	for deadline := time.Now().Add(10 * time.Second); len(got) < len(want) && time.Now().Before(deadline); {
		Exited(func(pid, code int) { got[pid] = code })
		time.Sleep(10 * time.Millisecond)
	}
	for pid, code := range want {
		if got[pid] != code {
			t.Errorf("pid %d: code %d, want %d (got %v)", pid, got[pid], code, got)
		}
	}
	if Code(unix.WaitStatus(0x0100)) != 1 {
		t.Error("exit status 1 not decoded")
	}
}
