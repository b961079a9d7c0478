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

// available reports whether a layer a cache entry names can be used on
// top of diffIDs: its blob is stored, and its snapshot on that chain
// exists or is unpacked now from the blob (a COPY --link layer taken onto
// a new base), since garbage collection may have removed either.
func (b *Builder) available(ctx context.Context, l *layer, diffIDs []digest.Digest) bool {
	if !b.Images.HasBlob(l.Desc.Digest) {
		return false
	}
	chains := image.ChainIDs(append(append([]digest.Digest{}, diffIDs...), l.DiffID))
	chain := chains[len(chains)-1]
	if b.Images.Snapshots().Exists(chain) {
		return true
	}
	f, err := b.Images.OpenBlob(l.Desc.Digest)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = b.Images.Snapshots().Unpack(ctx, chain, f)
	return err == nil
}
