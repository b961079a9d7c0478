package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/kago-run/kago/internal/atomicfile"
)

// The layer cache: one small JSON file per step key under <root>/cache,
// written atomically, so concurrent builds and a killed build never leave a
// half-written entry. An entry only says which layer a step made; the
// layer itself lives in the image store, and a step whose layer is gone
// (garbage-collected) is a miss.

// cacheEntry is what a step made.
type cacheEntry struct {
	// Layer is nil when the step changed no file.
	Layer   *layer    `json:"layer,omitempty"`
	Created time.Time `json:"created"`
}

func (b *Builder) cacheDir() string { return filepath.Join(b.Root, "cache") }

func (b *Builder) cachePath(key digest.Digest) string {
	return filepath.Join(b.cacheDir(), key.Encoded()+".json")
}

// cached returns the entry for key, or nil.
func (b *Builder) cached(key digest.Digest) *cacheEntry {
	data, err := os.ReadFile(b.cachePath(key))
	if err != nil {
		return nil
	}
	var e cacheEntry
	if json.Unmarshal(data, &e) != nil {
		return nil // a corrupt entry is a miss; the step rewrites it
	}
	return &e
}

func (b *Builder) remember(key digest.Digest, e cacheEntry) error {
	if err := os.MkdirAll(b.cacheDir(), 0o700); err != nil {
		return fmt.Errorf("create build cache: %w", err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(b.cachePath(key), data, 0o600)
}

// Prune forgets every cached step and returns how many there were. The
// layers they named are freed by the image store's garbage collection once
// no image uses them.
func (b *Builder) Prune() (int, error) {
	ents, err := os.ReadDir(b.cacheDir())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read build cache: %w", err)
	}
	n := 0
	for _, e := range ents {
		if err := os.Remove(filepath.Join(b.cacheDir(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("prune build cache: %w", err)
		}
		n++
	}
	return n, nil
}

// stepKey chains a step's cache key from its parent's and what the step is.
func stepKey(parent digest.Digest, parts ...string) digest.Digest {
	h := digest.SHA256.Digester()
	fmt.Fprintf(h.Hash(), "%s\n", parent)
	for _, p := range parts {
		fmt.Fprintf(h.Hash(), "%d:%s\n", len(p), p)
	}
	return h.Digest()
}
