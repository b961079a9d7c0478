package image

import (
	"fmt"
	"path/filepath"

	"github.com/kago-run/kago/snapshot"
	digest "github.com/opencontainers/go-digest"
)

// SnapshotDir is where, under the engine root, Open keeps the snapshot store
// the layers are unpacked into.
const SnapshotDir = "snapshots"

// Open opens the image store of an engine root, with its layers unpacked into
// the snapshot store at <root>/snapshots (Snapshots returns it, for
// Prepare).
func Open(root string) (*Store, error) {
	snaps, err := snapshot.New(filepath.Join(root, SnapshotDir))
	if err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}
	s, err := OpenWith(root, snaps)
	if err != nil {
		return nil, err
	}
	s.snaps = snaps
	return s, nil
}

// Snapshots is the snapshot store Open made, or nil if the store was opened
// with OpenWith.
func (s *Store) Snapshots() *snapshot.Store { return s.snaps }

// layerLister is implemented by snapshot stores that can list their layers;
// GC then also removes layers left behind by interrupted pulls.
type layerLister interface {
	Layers() ([]digest.Digest, error)
}

// layerUsage is implemented by snapshot stores that remember layer sizes.
type layerUsage interface {
	Usage(chainID digest.Digest) (int64, error)
}
