package initproc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("INITPROC_RUN") == "1" {
		os.Exit(Run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func initCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
	cmd.Env = append(os.Environ(), "INITPROC_RUN=1")
	return cmd
}

func TestRunExitStatusAndSignals(t *testing.T) {
	if err := initCmd("sh", "-c", "exit 3").Run(); err == nil || err.(*exec.ExitError).ExitCode() != 3 {
		t.Fatalf("exit status: %v, want 3", err)
	}
	if err := initCmd("/no/such").Run(); err == nil || err.(*exec.ExitError).ExitCode() != 127 {
		t.Fatalf("missing command: %v, want 127", err)
	}
	cmd := initCmd("sh", "-c", "echo started; exec sleep 30")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	out.Read(buf) // the child runs, so Run is past its signal setup
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
			t.Fatalf("after SIGTERM: %v, want exit 143", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("SIGTERM was not forwarded to the child")
	}
}

func TestPrepareBundle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "init")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Prepare(dir, self)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, Name)); err != nil || st.Mode().Perm()&0o222 != 0 {
		t.Fatalf("bundle binary: %v %v (must exist and be read-only)", st, err)
	}
	args := b.Args()
	if args[len(args)-1] != "--" || !strings.HasPrefix(args[0], MountPoint+"/") {
		t.Fatalf("args %q", args)
	}
	if b.Interp != "" {
		if _, err := os.Stat(filepath.Join(dir, b.Interp)); err != nil {
			t.Fatalf("loader not copied: %v", err)
		}
	}
	// A second Prepare reuses the copies.
	st1, _ := os.Stat(filepath.Join(dir, Name))
	if _, err := Prepare(dir, self); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(filepath.Join(dir, Name)); !os.SameFile(st1, st2) {
		t.Error("Prepare copied the binary again")
	}
}
