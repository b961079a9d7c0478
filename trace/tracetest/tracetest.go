// Package tracetest has what the tests of kago trace share across
// packages.
package tracetest

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// NoPrograms fails if any of kago trace's BPF programs (named kagot_*) is
// still loaded. The kernel frees a program a little after its last
// reference goes (after an RCU grace period), so it waits a while.
func NoPrograms(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("bpftool", "prog", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("bpftool prog show: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "kagot_") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kago trace programs left loaded after trace exited:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
