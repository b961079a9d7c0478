package build

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/image"
)

// layer is one layer of a build's image: its blob and the digest of its
// uncompressed tar.
type layer struct {
	Desc   ocispec.Descriptor `json:"desc"`
	DiffID digest.Digest      `json:"diffID"`
}

// commitUpper turns what a step changed in the snapshot key into a layer:
// the tar of the upper directory (overlay whiteouts become OCI whiteouts),
// gzip-compressed into the content store, and unpacked under its chain ID
// on top of parent (the chain IDs of the step's layers) so later steps can
// stack on it. nil: the step changed nothing.
func (b *Builder) commitUpper(ctx context.Context, key string, diffIDs []digest.Digest) (*layer, error) {
	upper, err := b.Images.Snapshots().UpperDir(key)
	if err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(upper); err != nil {
		return nil, fmt.Errorf("read changes of build step: %w", err)
	} else if len(ents) == 0 {
		return nil, nil
	}
	if err := checkPlainUpper(upper); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(b.tmpDir(), "layer-")
	if err != nil {
		return nil, fmt.Errorf("create layer file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	blobHash, diffHash := sha256.New(), sha256.New()
	counter := &countWriter{}
	gz := gzip.NewWriter(io.MultiWriter(f, blobHash, counter))
	if err := archive.WriteTar(ctx, io.MultiWriter(gz, diffHash), upper); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	l := &layer{
		Desc:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.NewDigest(digest.SHA256, blobHash), Size: counter.n},
		DiffID: digest.NewDigest(digest.SHA256, diffHash),
	}
	if err := b.Images.PutBlobFile(ctx, f.Name(), l.Desc.Digest, l.Desc.Size); err != nil {
		return nil, err
	}
	chains := image.ChainIDs(append(append([]digest.Digest{}, diffIDs...), l.DiffID))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := b.Images.Snapshots().Unpack(ctx, chains[len(chains)-1], f); err != nil {
		return nil, fmt.Errorf("unpack built layer: %w", err)
	}
	return l, nil
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

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// checkPlainUpper refuses an upper directory whose entries only point at
// lower layers: with overlayfs's redirect_dir or metacopy on, a renamed
// directory or a chmod-ed file is a reference there, not a copy, and its
// tar would lose the content. Such a kernel must mount overlay with them off.
func checkPlainUpper(upper string) error {
	return filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, x := range []string{"trusted.overlay.redirect", "trusted.overlay.metacopy"} {
			if _, err := unix.Lgetxattr(p, x, nil); err == nil {
				return fmt.Errorf("%s has %s: this kernel's overlayfs keeps references, not copies, in a step's changes; set the overlay module's redirect_dir and metacopy parameters to off", p, x)
			}
		}
		return nil
	})
}
