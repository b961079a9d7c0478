package image

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
)

// PushOptions control Push.
type PushOptions struct {
	// Insecure allows plain HTTP to a non-loopback registry.
	Insecure bool
	// Progress receives a line per step.
	Progress io.Writer
	// AuthFile overrides Store.AuthFile.
	AuthFile string
	// Retries is how many times a failed request is retried (default 2).
	Retries int
}

// Push uploads the local image named ref to the registry ref names, with the
// exact manifest bytes the store holds, so the pushed digest is the local one.
// Blobs the registry has already are not uploaded again.
func (s *Store) Push(ctx context.Context, ref string, o PushOptions) (digest.Digest, error) {
	img, err := s.Resolve(ref)
	if err != nil {
		return "", err
	}
	r, err := ParseReference(ref)
	if err != nil {
		return "", err
	}
	nref, err := nameRef(r, o.Insecure)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	p := newProgress(o.Progress)
	p.Printf("The push refers to repository [%s]", r.Name())
	raw, err := s.content.ReadAll(img.ManifestDigest, MaxManifestSize)
	if err != nil {
		return "", err
	}
	m, err := DecodeManifest(raw)
	if err != nil {
		return "", err
	}
	core := &storedImage{s: s, raw: raw, mediaType: img.ManifestMediaType, layers: map[digest.Digest]string{}}
	if core.mediaType == "" {
		core.mediaType = sniffMediaType(raw)
	}
	core.layers[m.Config.Digest] = m.Config.MediaType
	for _, l := range m.Layers {
		core.layers[l.Digest] = l.MediaType
	}
	vimg, err := partial.CompressedToImage(core)
	if err != nil {
		return "", err
	}
	opts := s.remoteOptions(ctx, RegistryOptions{Insecure: o.Insecure, AuthFile: o.AuthFile, Retries: o.Retries})
	if err := remote.Write(nref, vimg, opts...); err != nil {
		return "", fmt.Errorf("push %s: %w", familiarRef(r.String()), registryCause(r, err))
	}
	p.Printf("%s: digest: %s size: %d", r.Tag, img.ManifestDigest, len(raw))
	return img.ManifestDigest, nil
}

// storedImage serves a stored image to go-containerregistry's writer.
type storedImage struct {
	s         *Store
	raw       []byte
	mediaType string
	layers    map[digest.Digest]string // blob digest -> media type
}

func (i *storedImage) RawConfigFile() ([]byte, error) {
	m, err := DecodeManifest(i.raw)
	if err != nil {
		return nil, err
	}
	return i.s.content.ReadAll(m.Config.Digest, MaxConfigSize)
}

func (i *storedImage) MediaType() (types.MediaType, error) { return types.MediaType(i.mediaType), nil }

func (i *storedImage) RawManifest() ([]byte, error) { return i.raw, nil }

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	d := digest.Digest(h.String())
	mt, ok := i.layers[d]
	if !ok {
		return nil, fmt.Errorf("blob %s is not part of the image: %w", d, ErrNotFound)
	}
	return storedBlob{s: i.s, d: d, mt: mt}, nil
}

// storedBlob is one blob of the content store as a compressed layer.
type storedBlob struct {
	s  *Store
	d  digest.Digest
	mt string
}

func (b storedBlob) Digest() (v1.Hash, error) { return v1.NewHash(b.d.String()) }

func (b storedBlob) Compressed() (io.ReadCloser, error) { return b.s.content.Open(b.d) }

func (b storedBlob) Size() (int64, error) { return b.s.content.Size(b.d) }

func (b storedBlob) MediaType() (types.MediaType, error) { return types.MediaType(b.mt), nil }
