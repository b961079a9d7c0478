package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

func TestTagRemoveAndGC(t *testing.T) {
	reg := startRegistry(t)
	s, layers := newTestStore(t)
	ctx := context.Background()
	base := layerOf(t, tarLayer(t, map[string]string{"base": "shared"}), "gzip")
	pushFixture(t, reg.host, "a:1", testImage(t, true, base, layerOf(t, tarLayer(t, map[string]string{"a": "a"}), "gzip")))
	pushFixture(t, reg.host, "b:1", testImage(t, true, base, layerOf(t, tarLayer(t, map[string]string{"b": "b"}), "gzip")))
	a, err := s.Pull(ctx, reg.host+"/a:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Pull(ctx, reg.host+"/b:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(reg.host+"/a:1", "mine:latest"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Resolve("mine"); err != nil || got.ID != a.ID {
		t.Fatalf("Resolve(mine) = %v, %v", got, err)
	}
	if err := s.Tag("nothere", "x:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tag of unknown image: %v", err)
	}
	// By ID, an image with two tags needs force.
	if _, err := s.Remove(ctx, a.ID.String(), RemoveOptions{}); err == nil {
		t.Error("remove by ID of a twice tagged image succeeded without force")
	}
	// Removing one of two tags only untags.
	out, err := s.Remove(ctx, "mine", RemoveOptions{})
	if err != nil || len(out) != 1 || !strings.HasPrefix(out[0], "Untagged: mine:latest") {
		t.Fatalf("remove mine = %q, %v", out, err)
	}
	// In use: refused, unless forced.
	s.InUse = func(id digest.Digest) bool { return id == a.ID }
	if _, err := s.Remove(ctx, reg.host+"/a:1", RemoveOptions{}); !errors.Is(err, ErrInUse) {
		t.Errorf("remove of image in use: %v", err)
	}
	s.InUse = nil
	blobsBefore, _ := s.content.List()
	out, err = s.Remove(ctx, reg.host+"/a:1", RemoveOptions{})
	if err != nil || !strings.HasPrefix(out[len(out)-1], "Deleted: ") {
		t.Fatalf("remove a = %q, %v", out, err)
	}
	if _, err := s.Resolve(a.ID.String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed image still resolves: %v", err)
	}
	blobsAfter, _ := s.content.List()
	if len(blobsBefore)-len(blobsAfter) != 3 { // manifest, config, own layer; shared layer stays
		t.Errorf("GC freed %d blobs, want 3", len(blobsBefore)-len(blobsAfter))
	}
	if !layers.Exists(b.ChainIDs[0]) || !layers.Exists(b.ChainIDs[1]) || layers.Exists(a.ChainIDs[1]) {
		t.Error("GC removed a layer b needs or kept a's own layer")
	}
	// Retagging b's tag onto nothing: prune -a removes b, and GC empties the store.
	if _, err := s.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(b.ID.String()); err != nil {
		t.Error("prune without -a removed a tagged image")
	}
	pruned, err := s.Prune(ctx, PruneOptions{All: true})
	if err != nil || len(pruned.Images) != 1 || pruned.Images[0] != b.ID {
		t.Fatalf("prune -a = %+v, %v", pruned, err)
	}
	if len(pruned.Blobs) != 4 || len(pruned.Snapshots) != 2 || pruned.Bytes < b.Size {
		t.Errorf("prune -a freed %d blobs, %d snapshots, %d bytes; want 4, 2, at least %d", len(pruned.Blobs), len(pruned.Snapshots), pruned.Bytes, b.Size)
	}
	if blobs, _ := s.content.List(); len(blobs) != 0 {
		t.Errorf("%d blobs left after prune -a", len(blobs))
	}
	if n := layers.count(); n != 0 {
		t.Errorf("%d snapshots left after prune -a", n)
	}
}

func TestRetagLeavesDanglingImage(t *testing.T) {
	reg := startRegistry(t)
	s, _ := newTestStore(t)
	ctx := context.Background()
	pushFixture(t, reg.host, "app:1", smallImage(t, "gzip", true))
	old, err := s.Pull(ctx, reg.host+"/app:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pushFixture(t, reg.host, "app:1", testImage(t, true, layerOf(t, tarLayer(t, map[string]string{"v2": "2"}), "gzip")))
	cur, err := s.Pull(ctx, reg.host+"/app:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Resolve(old.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if cur.ID == old.ID || len(got.RepoTags) != 0 {
		t.Fatalf("old image %s kept its tag: %v", old.ID, got.RepoTags)
	}
	pruned, err := s.Prune(ctx, PruneOptions{})
	if err != nil || len(pruned.Images) != 1 || pruned.Images[0] != old.ID {
		t.Errorf("prune = %+v, %v; want the dangling %s", pruned, err, old.ID)
	}
}

// Pulling the same config under a different manifest (other compression)
// updates the one record instead of making a second image.
func TestSameConfigOtherManifestIsOneImage(t *testing.T) {
	reg := startRegistry(t)
	s, _ := newTestStore(t)
	ctx := context.Background()
	pushFixture(t, reg.host, "app:gz", smallImage(t, "gzip", true))
	pushFixture(t, reg.host, "app:zst", smallImage(t, "zstd", true))
	a, err := s.Pull(ctx, reg.host+"/app:gz", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Pull(ctx, reg.host+"/app:zst", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	imgs, _ := s.List()
	if a.ID != b.ID || len(imgs) != 1 || len(imgs[0].RepoTags) != 2 {
		t.Errorf("got %d images (%s, %s), want one with two tags", len(imgs), a.ID, b.ID)
	}
}

// A kago killed mid-pull leaves temp files in ingest and maybe an unpacked
// layer no image records; GC removes both, and only when no pull runs.
func TestGCRemovesLeftoversOfKilledPull(t *testing.T) {
	s, layers := newTestStore(t)
	ctx := context.Background()
	leftover := filepath.Join(s.content.ingest, "deadbeef-123")
	if err := os.WriteFile(leftover, []byte("half a layer"), 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := digest.FromString("orphan layer")
	if _, err := layers.Unpack(ctx, orphan, bytes.NewReader(tarLayer(t, map[string]string{"f": "x"}))); err != nil {
		t.Fatal(err)
	}
	// While a pull holds its lock, GC frees nothing.
	unlock, _, err := s.gcLock(unix.LOCK_SH)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); err != nil {
		t.Error("GC removed ingest files while a pull ran")
	}
	unlock()
	res, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); err == nil {
		t.Error("GC kept a leftover temp file")
	}
	if layers.Exists(orphan) || len(res.Snapshots) != 1 {
		t.Errorf("GC kept the orphan layer (removed %v)", res.Snapshots)
	}
}
