package testbundle

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Output runs cmd with its stdout and stderr in files, not pipes: a
// container started in the background keeps the runtime's stdio, and a
// pipe would make the run wait for the container to exit. It returns both
// and the exit code; a command that cannot start fails the test.
func Output(t testing.TB, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	dir := t.TempDir()
	outf, err1 := os.Create(filepath.Join(dir, "stdout"))
	errf, err2 := os.Create(filepath.Join(dir, "stderr"))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	defer outf.Close()
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = outf, errf
	err := cmd.Run()
	out, _ := os.ReadFile(outf.Name())
	errb, _ := os.ReadFile(errf.Name())
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out), string(errb), code
}
