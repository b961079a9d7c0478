package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kago-run/kago/internal/testbundle"
)

// TestHelperPullChild is the kago process TestKilledPull kills: it pulls
// and never returns on its own, because the registry stalls.
func TestHelperPullChild(t *testing.T) {
	root, ref := os.Getenv("KAGO_PULL_CHILD_ROOT"), os.Getenv("KAGO_PULL_CHILD_REF")
	if root == "" {
		t.Skip("helper process for TestKilledPull")
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Pull(context.Background(), ref, PullOptions{Retries: -1})
	t.Fatalf("pull returned: %v", err)
}

// Killing kago (SIGKILL, no chance to clean up) in the middle of a layer
// download leaves no image, a store that works, and leftovers GC removes.
func TestKilledPull(t *testing.T) {
	testbundle.RequireRoot(t)
	reg := startRegistry(t)
	img := smallImage(t, "gzip", true)
	pushFixture(t, reg.host, "killed:1", img)
	layers, _ := img.Layers()
	started := make(chan struct{}, 1)
	reg.setFault(stallBlob(layers[1], started))
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperPullChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KAGO_PULL_CHILD_ROOT="+root, "KAGO_PULL_CHILD_REF="+reg.host+"/killed:1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("child pull never reached the layer download")
	}
	// Kill only once the child has written the first bytes of the layer to
	// its temp file: the property under test is what happens to that file.
	ingest := filepath.Join(root, "content", "ingest")
	for deadline := time.Now().Add(30 * time.Second); ingestBytes(ingest) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("child pull received the first bytes of the layer but wrote nothing to content/ingest in 30s")
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := s.List()
	if err != nil || len(imgs) != 0 {
		t.Fatalf("after kill: %d images, %v; want none", len(imgs), err)
	}
	if s.content.ingest != ingest {
		t.Fatalf("the store's ingest directory is %s, the test watched %s", s.content.ingest, ingest)
	}
	if ingestBytes(ingest) == 0 {
		t.Fatal("the killed pull left no partial layer in content/ingest: the kill did not land mid-download")
	}
	if _, err := s.GC(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(s.content.ingest); len(ents) != 0 {
		t.Errorf("GC left %d temp files of the killed pull", len(ents))
	}
	reg.setFault(nil)
	got, err := s.Pull(context.Background(), reg.host+"/killed:1", PullOptions{})
	if err != nil {
		t.Fatalf("pull after kill: %v", err)
	}
	if !s.Snapshots().Exists(got.ChainIDs[1]) {
		t.Error("layer not unpacked after the second pull")
	}
}

// ingestBytes is how many bytes the temp files in dir hold together.
func ingestBytes(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}
