package trace

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// TestPidNamespaceFilter traces a process that shares the test's cgroup but
// has a pid namespace of its own, so only the pid namespace tells it apart:
// its open is seen with the pid its namespace gave it, the same open by the
// test is not.
func TestPidNamespaceFilter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "kt12-pidns")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	goFile := filepath.Join(dir, "go")
	cmd := exec.Command("unshare", "--pid", "--fork", "sh", "-c",
		"while [ ! -e "+goFile+" ]; do sleep 0.02; done; cat "+marker+" >/dev/null")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The sh that unshare forked into the new pid namespace.
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task/" + strconv.Itoa(cmd.Process.Pid) + "/children")
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		if time.Now().After(deadline) {
			t.Fatal("unshare did not fork")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f, err := filterFor(pid)
	if err != nil || f.cgroupDir != "" || f.pidns == 0 {
		t.Fatalf("filter for a process in the test's cgroup = %+v, %v; want its pid namespace", f, err)
	}
	want := "tracepoint"
	if fexitAllowed(t) {
		want = "fexit"
	}
	tr, err := Open(Target{Name: "kt12-pidns", Pid: pid}, []Kind{KindOpen})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.Hooks() != want {
		t.Errorf("programs attached to %s hooks, want %s", tr.Hooks(), want)
	}
	if data, err := os.ReadFile(marker); err != nil || len(data) == 0 { // the test's own open: not seen
		t.Fatal(err)
	}
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var seen []Event
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Run(ctx, func(e Event) error {
		if e.Path == marker {
			seen = append(seen, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Pid == seen[0].HostPid || seen[0].Pid > 100 || seen[0].Comm != "cat" {
		t.Errorf("opens of %s seen: %+v, want exactly the one of cat, with its pid in the new namespace", marker, seen)
	}
}

// fexitAllowed tells whether this kernel runs a trivial fexit program on
// the openat system call function: then Open must use fexit hooks.
func fexitAllowed(t *testing.T) bool {
	fn := map[string]string{"amd64": "__x64_sys_openat", "arm64": "__arm64_sys_openat"}[goruntime.GOARCH]
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFExit, AttachTo: fn,
		License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Logf("fexit on %s: %v", fn, err)
		return false
	}
	defer p.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: p})
	if err != nil {
		t.Logf("fexit on %s: %v", fn, err)
		return false
	}
	l.Close()
	return true
}
