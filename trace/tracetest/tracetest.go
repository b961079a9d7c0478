// Package tracetest has what the tests of kago trace share across
// packages.
package tracetest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// NoPrograms fails if any of kago trace's BPF programs (named kagot_* or
// kagof_*) is still loaded, as `bpftool prog show` lists them (or, where
// bpftool is not installed, as the kernel's program ids do). The kernel
// frees a program a little after its last reference goes (after an RCU
// grace period), so it waits a while.
func NoPrograms(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := loaded(t)
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kago trace programs left loaded after trace exited:\n%s", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loaded lists kago's loaded programs, "" if none.
func loaded(t testing.TB) string {
	if _, err := exec.LookPath("bpftool"); err == nil {
		out, err := exec.Command("bpftool", "prog", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("bpftool prog show: %v\n%s", err, out)
		}
		var left []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "kagot_") || strings.Contains(l, "kagof_") {
				left = append(left, l)
			}
		}
		return strings.Join(left, "\n")
	}
	var left []string
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatalf("list BPF programs: %v", err)
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // gone meanwhile
		}
		info, err := p.Info()
		p.Close()
		if err == nil && (strings.HasPrefix(info.Name, "kagot_") || strings.HasPrefix(info.Name, "kagof_")) {
			left = append(left, info.Name)
		}
	}
	return strings.Join(left, "\n")
}
