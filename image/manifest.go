package image

import (
	"encoding/json"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Size caps for metadata documents. Real manifests and configs are a few KiB;
// anything this large is a broken or hostile registry, refused before kago
// decodes it.
const (
	MaxManifestSize = 4 << 20
	MaxConfigSize   = 4 << 20
)

// Docker's media types, which mean the same as the OCI ones below them.
const (
	MediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig        = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer         = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

func isManifestType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

func isLayerType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		// Non-distributable layers are deprecated but still found in the wild.
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		MediaTypeDockerLayer, MediaTypeDockerForeignLayer, "application/vnd.docker.image.rootfs.diff.tar":
		return true
	}
	return false
}

// sniffMediaType finds a document's media type from its mediaType field, or
// from its shape when a registry omits it.
func sniffMediaType(data []byte) string {
	var probe struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     json.RawMessage   `json:"manifests"`
		Config        json.RawMessage   `json:"config"`
		FSLayers      []json.RawMessage `json:"fsLayers"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return ""
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.SchemaVersion == 1 || probe.FSLayers != nil:
		return mediaTypeDockerSchema1
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	case probe.Config != nil:
		return ocispec.MediaTypeImageManifest
	}
	return ""
}

// DecodeIndex parses and checks an image index or docker manifest list.
func DecodeIndex(data []byte) (*ocispec.Index, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("image index is %d bytes, more than %d: %w", len(data), MaxManifestSize, ErrTooLarge)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("image index is not valid JSON: %w", err)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("image index has schemaVersion %d, want 2", idx.SchemaVersion)
	}
	for i, m := range idx.Manifests {
		if err := checkDescriptor(m); err != nil {
			return nil, fmt.Errorf("image index entry %d: %w", i, err)
		}
	}
	return &idx, nil
}

// DecodeManifest parses and checks an image manifest (OCI or docker schema 2).
func DecodeManifest(data []byte) (*ocispec.Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("image manifest is %d bytes, more than %d: %w", len(data), MaxManifestSize, ErrTooLarge)
	}
	if mt := sniffMediaType(data); mt == mediaTypeDockerSchema1 || mt == mediaTypeDockerSchema1Signed {
		return nil, fmt.Errorf("image manifest is docker schema 1, which kago does not support: push the image again with a current docker or skopeo")
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("image manifest is not valid JSON: %w", err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("image manifest has schemaVersion %d, want 2", m.SchemaVersion)
	}
	if m.MediaType != "" && !isManifestType(m.MediaType) {
		return nil, fmt.Errorf("image manifest has media type %q, not an image manifest", m.MediaType)
	}
	if err := checkDescriptor(m.Config); err != nil {
		return nil, fmt.Errorf("image manifest config: %w", err)
	}
	if m.Config.Size > MaxConfigSize {
		return nil, fmt.Errorf("image config is %d bytes, more than %d: %w", m.Config.Size, MaxConfigSize, ErrTooLarge)
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != MediaTypeDockerConfig {
		return nil, fmt.Errorf("manifest config has media type %q: this is not a container image (maybe an artifact)", m.Config.MediaType)
	}
	for i, l := range m.Layers {
		if err := checkDescriptor(l); err != nil {
			return nil, fmt.Errorf("image manifest layer %d: %w", i, err)
		}
		if !isLayerType(l.MediaType) {
			return nil, fmt.Errorf("image manifest layer %d has unsupported media type %q", i, l.MediaType)
		}
	}
	return &m, nil
}

// DecodeConfig parses an image config and checks it matches the manifest.
func DecodeConfig(data []byte, layers int) (*ocispec.Image, error) {
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("image config is %d bytes, more than %d: %w", len(data), MaxConfigSize, ErrTooLarge)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("image config is not valid JSON: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != layers {
		return nil, fmt.Errorf("image config lists %d layer diff IDs but the manifest has %d layers", len(cfg.RootFS.DiffIDs), layers)
	}
	for i, d := range cfg.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("image config diff ID %d: %w", i, err)
		}
	}
	return &cfg, nil
}

func checkDescriptor(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d.Digest, err)
	}
	if d.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %s: only sha256 is supported", d.Digest)
	}
	if d.Size < 0 {
		return fmt.Errorf("descriptor %s has negative size %d", d.Digest, d.Size)
	}
	return nil
}

// ChainIDs computes the chain IDs of a layer stack from its diff IDs, as the
// OCI image spec defines them: ChainID(L0) = DiffID(L0) and
// ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}
