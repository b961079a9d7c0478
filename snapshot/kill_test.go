package snapshot_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/kago-run/kago/archive/tartest"
	"github.com/kago-run/kago/snapshot"
)

// TestKilledUnpack kills a process in the middle of Unpack: no layer may
// look complete, and the next New removes its temp dir.
func TestKilledUnpack(t *testing.T) {
	s := newStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperUnpackProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+s.Root())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	layer := tartest.Tar(E{Name: "first", Body: "x"}, E{Name: "big", Body: strings.Repeat("x", 4<<20)})
	if _, err := stdin.Write(layer[:2<<20]); err != nil {
		t.Fatal(err)
	}
	// Wait until the helper is visibly extracting, then kill it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(s.Root(), "tmp", "*", "fs", "big"))
		if len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("helper never started extracting")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	id := digest.FromString("killed")
	if s.Exists(id) {
		t.Fatal("killed unpack left a layer that looks complete")
	}
	if got := names(t, filepath.Join(s.Root(), "tmp")); got == "" {
		t.Fatal("expected the killed process's temp dir (the test did not kill mid-unpack)")
	}
	s2, err := snapshot.New(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, filepath.Join(s.Root(), "tmp")); got != "" {
		t.Errorf("tmp still holds %q after New", got)
	}
	if s2.Exists(id) {
		t.Error("layer exists")
	}
	if _, err := s2.Unpack(context.Background(), id, strings.NewReader(string(layer))); err != nil || !s2.Exists(id) {
		t.Errorf("unpack after crash: %v", err)
	}
}
