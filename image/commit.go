package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// What a local image builder (kago build) needs from the store: put the
// layer blobs it makes, read the layers of a base image, and record the
// result. The builder unpacks its layers into the snapshot store itself,
// because the next step runs on them before the image exists.

// HoldGC keeps garbage collection from deleting blobs and layers no image
// refers to yet, until the returned function is called. A build holds it
// from its first layer to its last tag.
func (s *Store) HoldGC() (func(), error) { return s.holdGC() }

// HasBlob reports whether the content store has the blob.
func (s *Store) HasBlob(d digest.Digest) bool { return s.content.Has(d) }

// OpenBlob opens a stored blob for reading, such as a layer a build
// unpacks again onto another parent.
func (s *Store) OpenBlob(d digest.Digest) (*os.File, error) { return s.content.Open(d) }

// PutBlobFile copies the file at path, which must have digest d and size
// bytes, into the content store.
func (s *Store) PutBlobFile(ctx context.Context, path string, d digest.Digest, size int64) error {
	if s.content.Has(d) {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	defer f.Close()
	w, err := s.content.Writer(d, size)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := io.Copy(w, ctxReader{ctx, f}); err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	return w.Commit()
}

// LayerDescriptors returns the layer descriptors of an image's manifest,
// with OCI media types (a docker media type names the same bytes).
func (s *Store) LayerDescriptors(img *Image) ([]ocispec.Descriptor, error) {
	raw, err := s.content.ReadAll(img.ManifestDigest, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", shortID(img.ID), err)
	}
	m, err := DecodeManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", shortID(img.ID), err)
	}
	out := make([]ocispec.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		out[i] = ocispec.Descriptor{MediaType: ociLayerType(l.MediaType), Digest: l.Digest, Size: l.Size}
	}
	return out, nil
}

func ociLayerType(mt string) string {
	switch mt {
	case "application/vnd.docker.image.rootfs.diff.tar.gzip":
		return ocispec.MediaTypeImageLayerGzip
	case "application/vnd.docker.image.rootfs.diff.tar":
		return ocispec.MediaTypeImageLayer
	}
	return mt
}

// AddBuilt records an image a build made: config is the raw config JSON
// (kept byte for byte, so fields beyond OCI's, such as Healthcheck, survive),
// layers its blobs, which must all be in the content store and unpacked
// under their chain IDs already. The image gets every tag in tags, taken from
// the images that had them.
func (s *Store) AddBuilt(ctx context.Context, config []byte, layers []ocispec.Descriptor, tags []string) (*Image, error) {
	refs := make([]Reference, 0, len(tags))
	for _, t := range tags {
		r, err := ParseReference(t)
		if err != nil {
			return nil, err
		}
		if r.Digest != "" || r.Tag == "" {
			return nil, fmt.Errorf("tag %q: name the image NAME[:TAG], without a digest", t)
		}
		refs = append(refs, r)
	}
	// Every blob is here: the source is never asked for one.
	src := func(context.Context, ocispec.Descriptor, int64) (io.ReadCloser, int64, error) {
		return nil, 0, errors.New("a built image's blob is missing from the content store")
	}
	rec, err := s.ingestLocal(ctx, config, layers, src)
	if err != nil {
		return nil, err
	}
	first := Reference{}
	if len(refs) > 0 {
		first = refs[0]
	}
	if err := s.commit(rec, first, pulledManifest{}); err != nil {
		return nil, err
	}
	for _, r := range refs[min(1, len(refs)):] {
		if err := s.Tag(rec.ID.String(), r.String()); err != nil {
			return nil, err
		}
	}
	return s.Resolve(rec.ID.String())
}

// ConfigJSON is an image's config as stored, byte for byte: docker
// extensions the OCI type drops (Healthcheck, OnBuild, Shell) included.
func (s *Store) ConfigJSON(img *Image) ([]byte, error) {
	return s.content.ReadAll(img.ID, MaxConfigSize)
}

// ingestLocal stores an image made on this machine (import, build): its
// config, a manifest of its layers, and the layers from src where the
// store lacks them. It returns the record to commit.
func (s *Store) ingestLocal(ctx context.Context, config []byte, layers []ocispec.Descriptor, src blobSource) (*Record, error) {
	cfgDigest, err := s.content.Put(config)
	if err != nil {
		return nil, err
	}
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(config))},
		Layers:    layers,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	pm := pulledManifest{manifestDigest: digest.FromBytes(raw), manifestRaw: raw, mediaType: ocispec.MediaTypeImageManifest}
	return s.ingestImage(ctx, newProgress(nil), pm, src, 1)
}
