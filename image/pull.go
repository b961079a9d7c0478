package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PullOptions control Pull.
type PullOptions struct {
	// Platform is "os/arch[/variant]"; empty means the host's platform.
	Platform string
	// Insecure allows plain HTTP to a non-loopback registry.
	Insecure bool
	// Progress receives per-layer progress; a terminal gets a live display.
	Progress io.Writer
	// AuthFile overrides Store.AuthFile.
	AuthFile string
	// Jobs is how many layers download at once (default 3).
	Jobs int
	// Retries is how many times a failed request is retried (default 2,
	// negative for none).
	Retries int
}

// Pull fetches an image from its registry into the store and unpacks its
// layers. Blobs already in the store are not downloaded again. The image shows
// up in the store only once everything is verified and unpacked.
func (s *Store) Pull(ctx context.Context, ref string, o PullOptions) (*Image, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	plat, err := ParsePlatform(o.Platform)
	if err != nil {
		return nil, err
	}
	p := newProgress(o.Progress)
	if r.Digest != "" {
		if img, err := s.pullFromStore(r, r.Digest, plat, o.Platform != ""); err == nil {
			p.Printf("%s: image is up to date", r.Digest)
			return img, nil
		}
	}
	unlock, err := s.holdGC()
	if err != nil {
		return nil, err
	}
	defer unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ropts := s.remoteOptions(ctx, RegistryOptions{Insecure: o.Insecure, AuthFile: o.AuthFile, Retries: o.Retries})
	nref, err := nameRef(r, o.Insecure)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	// HEAD first, as docker does: it learns the size before any download,
	// and an unchanged tag needs no manifest download at all. Registries that
	// do not answer HEAD get the GET below.
	if hd, err := remote.Head(nref, ropts...); err == nil {
		if hd.Size > MaxManifestSize {
			return nil, fmt.Errorf("manifest of %s is %d bytes, more than %d: %w", familiarRef(r.String()), hd.Size, MaxManifestSize, ErrTooLarge)
		}
		if img, err := s.pullFromStore(r, digest.Digest(hd.Digest.String()), plat, o.Platform != ""); err == nil {
			p.Printf("Status: Image is up to date for %s", familiarRef(r.String()))
			return img, nil
		}
	}
	pulled, err := fetchManifest(r, nref, ropts, plat, o.Platform != "")
	if err != nil {
		return nil, err
	}
	what := r.Tag
	if what == "" {
		what = r.Digest.String()
	}
	p.Printf("%s: Pulling from %s", what, FamiliarName(r.Name()))

	blobs, err := s.newBlobFetcher(ctx, nref.Context(), RegistryOptions{Insecure: o.Insecure, AuthFile: o.AuthFile, Retries: o.Retries})
	if err != nil {
		return nil, registryError(r, err)
	}
	fetch := func(ctx context.Context, d ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
		// Blob requests run under this layer's context; when it ends
		// (another layer failed), end the pull's too, so that nothing else
		// the pull started keeps running.
		context.AfterFunc(ctx, cancel)
		rc, start, err := blobs.fetch(ctx, d, offset)
		if err != nil {
			return nil, 0, registryCause(r, err)
		}
		return rc, start, nil
	}
	rec, err := s.ingestImage(ctx, p, pulled, fetch, o.Jobs)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", familiarRef(r.String()), err)
	}
	if err := s.commit(rec, r, pulled); err != nil {
		return nil, err
	}
	p.Printf("Digest: %s", pulled.top)
	p.Printf("Status: Downloaded image for %s", familiarRef(r.String()))
	return s.Resolve(rec.ID.String())
}

// fetchManifest downloads what a reference points at and, for an index, the
// manifest of the wanted platform, checking sizes and digests.
func fetchManifest(r Reference, nref name.Reference, ropts []remote.Option, plat ocispec.Platform, explicit bool) (pulledManifest, error) {
	fr := familiarRef(r.String())
	desc, err := remote.Get(nref, ropts...)
	if err != nil {
		return pulledManifest{}, registryError(r, err)
	}
	top := digest.Digest(desc.Digest.String())
	if r.Digest != "" && top != r.Digest {
		return pulledManifest{}, fmt.Errorf("registry sent manifest %s for %s: %w", top, fr, ErrDigestMismatch)
	}
	if len(desc.Manifest) > MaxManifestSize {
		return pulledManifest{}, fmt.Errorf("manifest of %s is %d bytes, more than %d: %w", fr, len(desc.Manifest), MaxManifestSize, ErrTooLarge)
	}
	if digest.FromBytes(desc.Manifest) != top {
		return pulledManifest{}, fmt.Errorf("manifest of %s does not match its digest %s: %w", fr, top, ErrDigestMismatch)
	}
	mt := string(desc.MediaType)
	if mt == "" || (!isIndexType(mt) && !isManifestType(mt)) {
		if sniffed := sniffMediaType(desc.Manifest); sniffed != "" {
			mt = sniffed
		}
	}

	pulled := pulledManifest{top: top, manifestDigest: top, manifestRaw: desc.Manifest, mediaType: mt}
	switch {
	case isIndexType(mt):
		idx, err := DecodeIndex(desc.Manifest)
		if err != nil {
			return pulledManifest{}, fmt.Errorf("%s: %w", fr, err)
		}
		chosen, err := choosePlatform(idx, plat)
		if err != nil {
			return pulledManifest{}, fmt.Errorf("%s: %w", fr, err)
		}
		ridx, err := desc.ImageIndex()
		if err != nil {
			return pulledManifest{}, registryError(r, err)
		}
		img, err := ridx.Image(v1.Hash{Algorithm: "sha256", Hex: chosen.Digest.Encoded()})
		if err != nil {
			return pulledManifest{}, registryError(r, err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			return pulledManifest{}, registryError(r, err)
		}
		if digest.FromBytes(raw) != chosen.Digest {
			return pulledManifest{}, fmt.Errorf("manifest %s of %s: %w", chosen.Digest, fr, ErrDigestMismatch)
		}
		pulled.indexRaw = desc.Manifest
		pulled.manifestDigest, pulled.manifestRaw, pulled.mediaType = chosen.Digest, raw, chosen.MediaType
		pulled.platform = FormatPlatform(plat)
	case isManifestType(mt):
		if explicit {
			pulled.mustMatch = &plat
		}
	default:
		return pulledManifest{}, fmt.Errorf("%s has media type %q, which is neither an image manifest nor an index", fr, mt)
	}
	return pulled, nil
}

// pullFromStore satisfies a pull from the store when the reference resolved
// to digest d (a manifest, or an index for platform plat) that a complete
// local image came from: it only records the name. explicit says the user
// chose the platform, so a single-platform manifest must match it too.
func (s *Store) pullFromStore(r Reference, d digest.Digest, plat ocispec.Platform, explicit bool) (*Image, error) {
	var id digest.Digest
	err := s.db.update(func(st *dbState) error {
		for _, rec := range st.Images {
			have, err := ParsePlatform(rec.Platform)
			fits := err == nil && platformMatches(plat, &have)
			switch {
			case rec.IndexDigest == d && fits:
			case rec.ManifestDigest == d && (fits || !explicit):
			default:
				continue
			}
			if !s.complete(rec) {
				continue
			}
			rec.RepoDigests = addUnique(rec.RepoDigests, r.Name()+"@"+d.String())
			if r.Tag != "" {
				tag := r.Name() + ":" + r.Tag
				st.untag(tag)
				rec.RepoTags = addUnique(rec.RepoTags, tag)
			}
			id = rec.ID
			return nil
		}
		return ErrNotFound
	})
	if err != nil {
		return nil, err
	}
	return s.Resolve(id.String())
}

// complete reports whether every blob and layer of a record is on disk.
func (s *Store) complete(rec *Record) bool {
	for _, d := range append([]digest.Digest{rec.ManifestDigest, rec.ID}, rec.Layers...) {
		if !s.content.Has(d) {
			return false
		}
	}
	for _, c := range rec.ChainIDs {
		if !s.layers.Exists(c) {
			return false
		}
	}
	return true
}

// choosePlatform picks the manifest for a platform from an index.
func choosePlatform(idx *ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	var have []string
	for _, m := range idx.Manifests {
		if m.MediaType != "" && !isManifestType(m.MediaType) {
			continue
		}
		if platformMatches(want, m.Platform) {
			return m, nil
		}
		if m.Platform != nil && m.Platform.OS != "unknown" {
			have = append(have, FormatPlatform(*m.Platform))
		}
	}
	sort.Strings(have)
	return ocispec.Descriptor{}, fmt.Errorf("no image for platform %s (the index has %s): choose one with --platform: %w",
		FormatPlatform(want), strings.Join(have, ", "), ErrNotFound)
}

// registryError turns a registry client error into one line that says what
// to do.
func registryError(r Reference, err error) error {
	return oneLine{fmt.Errorf("%s: %w", familiarRef(r.String()), registryErrorf(r, err))}
}

// registryCause is registryError without the reference, for messages that
// name it already.
func registryCause(r Reference, err error) error {
	return oneLine{registryErrorf(r, err)}
}

// oneLine keeps registry error bodies from spreading an error over lines.
type oneLine struct{ err error }

func (o oneLine) Error() string { return strings.Join(strings.Fields(o.err.Error()), " ") }
func (o oneLine) Unwrap() error { return o.err }

func registryErrorf(r Reference, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode:
				return fmt.Errorf("manifest unknown: the tag or digest does not exist in %s: %w", r.Registry, ErrNotFound)
			case transport.NameUnknownErrorCode:
				return fmt.Errorf("repository %s does not exist in %s (or needs kago login): %w", r.Repository, r.Registry, ErrNotFound)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("access denied by %s: run kago login %s: %s", r.Registry, r.Registry, d.Message)
			case transport.BlobUnknownErrorCode:
				return fmt.Errorf("registry %s lost a blob: %s: %w", r.Registry, d.Message, ErrNotFound)
			}
		}
		if te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden {
			return fmt.Errorf("access denied by %s (HTTP %d): run kago login %s", r.Registry, te.StatusCode, r.Registry)
		}
		return fmt.Errorf("registry %s answered HTTP %d: %v", r.Registry, te.StatusCode, err)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return fmt.Errorf("registry %s is unreachable: %w", r.Registry, err)
	}
	return err
}
