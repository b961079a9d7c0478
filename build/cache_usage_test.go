package build

import (
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CacheUsage counts the remembered steps and the layers they name, skips
// what is not an entry, and Prune leaves it at zero.
func TestCacheUsage(t *testing.T) {
	b := &Builder{Root: t.TempDir()}
	if n, size, err := b.CacheUsage(); n != 0 || size != 0 || err != nil {
		t.Fatalf("empty cache: %d %d %v", n, size, err)
	}
	if err := b.remember(digest.FromString("a"), cacheEntry{Layer: &layer{Desc: ocispec.Descriptor{Size: 1000}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.remember(digest.FromString("b"), cacheEntry{}); err != nil { // a step that changed no file
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(b.cacheDir(), "stray"), []byte("x"), 0o600)
	if n, size, err := b.CacheUsage(); n != 2 || size != 1000 || err != nil {
		t.Errorf("two entries, one layer of 1000 bytes: got %d %d %v", n, size, err)
	}
	if _, err := b.Prune(); err != nil {
		t.Fatal(err)
	}
	if n, size, err := b.CacheUsage(); n != 0 || size != 0 || err != nil {
		t.Errorf("after prune: %d %d %v", n, size, err)
	}
}
