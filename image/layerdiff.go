package image

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
)

// Layer is a layer made from a container's changes: its blob and the
// digest of its uncompressed tar.
type Layer struct {
	Desc   ocispec.Descriptor `json:"desc"`
	DiffID digest.Digest      `json:"diffID"`
}

// CommitUpper turns what a container changed (the upper directory of its
// snapshot key) into a layer, as a build step and `kago commit` do: the
// tar of the upper directory (overlay whiteouts become OCI whiteouts),
// gzip-compressed into the content store, and unpacked under its chain ID
// on top of parent (the diff IDs of the layers below) so a container can
// run on it at once. tmpDir holds the blob while it is written. nil: the
// container changed nothing.
func (s *Store) CommitUpper(ctx context.Context, key, tmpDir string, parent []digest.Digest) (*Layer, error) {
	upper, err := s.Snapshots().UpperDir(key)
	if err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(upper); err != nil {
		return nil, fmt.Errorf("read changes of %s: %w", key, err)
	} else if len(ents) == 0 {
		return nil, nil
	}
	if err := checkPlainUpper(upper); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("create layer file: %w", err)
	}
	f, err := os.CreateTemp(tmpDir, "layer-")
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
	l := &Layer{
		Desc:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.NewDigest(digest.SHA256, blobHash), Size: counter.n},
		DiffID: digest.NewDigest(digest.SHA256, diffHash),
	}
	if err := s.PutBlobFile(ctx, f.Name(), l.Desc.Digest, l.Desc.Size); err != nil {
		return nil, err
	}
	chains := ChainIDs(append(append([]digest.Digest{}, parent...), l.DiffID))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := s.Snapshots().Unpack(ctx, chains[len(chains)-1], f); err != nil {
		return nil, fmt.Errorf("unpack the new layer: %w", err)
	}
	return l, nil
}

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
				return fmt.Errorf("%s has %s: this kernel's overlayfs keeps references, not copies, in a container's changes; set the overlay module's redirect_dir and metacopy parameters to off", p, x)
			}
		}
		return nil
	})
}
