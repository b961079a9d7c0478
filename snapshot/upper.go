package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
)

// UpperDir is the upper directory of a container snapshot: what the
// container changed, deletions as overlayfs whiteouts. An image builder
// turns it into a layer.
func (s *Store) UpperDir(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	dir := filepath.Join(s.containerDir(key), "upper")
	if _, err := os.Lstat(dir); err != nil {
		return "", fmt.Errorf("container snapshot %s: %w", key, ErrNotFound)
	}
	return dir, nil
}

// Containers lists the keys of the container snapshots, in no particular
// order, so an owner can find the ones it left behind when it was killed.
func (s *Store) Containers() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "containers"))
	if err != nil {
		return nil, fmt.Errorf("list container snapshots: %w", err)
	}
	keys := make([]string, 0, len(ents))
	for _, e := range ents {
		keys = append(keys, e.Name())
	}
	return keys, nil
}
