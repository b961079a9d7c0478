package build

import (
	"context"

	digest "github.com/opencontainers/go-digest"

	"github.com/kago-run/kago/image"
)

// layer is one layer of a build's image: its blob and the digest of its
// uncompressed tar.
type layer = image.Layer

// commitUpper turns what a step changed in the snapshot key into a layer
// (image.Store.CommitUpper), unpacked on top of the step's layers diffIDs
// so later steps can stack on it. nil: the step changed nothing.
func (b *Builder) commitUpper(ctx context.Context, key string, diffIDs []digest.Digest) (*layer, error) {
	return b.Images.CommitUpper(ctx, key, b.tmpDir(), diffIDs)
}

// available reports whether a layer a cache entry names is still stored:
// blob and snapshot both, since garbage collection may have removed them.
func (b *Builder) available(l *layer, diffIDs []digest.Digest) bool {
	if !b.Images.HasBlob(l.Desc.Digest) {
		return false
	}
	chains := image.ChainIDs(append(append([]digest.Digest{}, diffIDs...), l.DiffID))
	return b.Images.Snapshots().Exists(chains[len(chains)-1])
}
