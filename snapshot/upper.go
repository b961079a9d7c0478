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
