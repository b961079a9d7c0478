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
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
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

// pulledManifest is what a pull, load or import found before fetching blobs.
type pulledManifest struct {
	top            digest.Digest // what the reference resolved to (index or manifest)
	indexRaw       []byte
	manifestDigest digest.Digest
	manifestRaw    []byte
	mediaType      string
	platform       string
	// mustMatch, if set, is a platform the image config must be for: the
	// user asked for it and the registry had a single-platform manifest.
	mustMatch *ocispec.Platform
}

// blobSource opens the compressed content of a blob from byte offset on;
// start says where the stream really begins (0 if the source cannot skip).
type blobSource func(ctx context.Context, d ocispec.Descriptor, offset int64) (rc io.ReadCloser, start int64, err error)

// ingestImage makes sure config and layers of a manifest are in the store and
// unpacked, and returns the record to commit.
func (s *Store) ingestImage(ctx context.Context, p *progress, pm pulledManifest, src blobSource, jobs int) (*Record, error) {
	m, err := DecodeManifest(pm.manifestRaw)
	if err != nil {
		return nil, err
	}
	cfgRaw, err := s.ensureConfig(ctx, m.Config, src)
	if err != nil {
		return nil, err
	}
	cfg, err := DecodeConfig(cfgRaw, len(m.Layers))
	if err != nil {
		return nil, err
	}
	if want := pm.mustMatch; want != nil {
		have := ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		if !platformMatches(*want, &have) {
			return nil, fmt.Errorf("the image is for %s, not the requested %s: %w", FormatPlatform(have), FormatPlatform(*want), ErrNotFound)
		}
	}
	chains := ChainIDs(cfg.RootFS.DiffIDs)
	sizes := make([]int64, len(m.Layers))
	if jobs <= 0 {
		jobs = 3
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, l := range m.Layers {
		p.Status(l.Digest, "Waiting", l.Size)
	}
	for i, l := range m.Layers {
		g.Go(func() error {
			n, err := s.ingestLayer(gctx, p, l, chains[i], src)
			if err != nil {
				cancel()
				return fmt.Errorf("layer %s: %w", shortID(l.Digest), err)
			}
			sizes[i] = n
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if pm.indexRaw != nil {
		if _, err := s.content.Put(pm.indexRaw); err != nil {
			return nil, err
		}
	}
	if d, err := s.content.Put(pm.manifestRaw); err != nil {
		return nil, err
	} else if d != pm.manifestDigest {
		return nil, fmt.Errorf("manifest %s: %w", pm.manifestDigest, ErrDigestMismatch)
	}
	rec := &Record{
		ID:                m.Config.Digest,
		ManifestDigest:    pm.manifestDigest,
		ManifestMediaType: pm.mediaType,
		DiffIDs:           cfg.RootFS.DiffIDs,
		ChainIDs:          chains,
		Platform:          pm.platform,
		Added:             time.Now().UTC(),
	}
	if pm.indexRaw != nil {
		rec.IndexDigest = pm.top
	}
	if rec.Platform == "" {
		rec.Platform = FormatPlatform(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
	}
	if cfg.Created != nil {
		rec.Created = cfg.Created.UTC()
	}
	for i, l := range m.Layers {
		rec.Layers = append(rec.Layers, l.Digest)
		if sizes[i] < 0 {
			sizes[i] = 0 // unpacked before: commit takes the size from the database
		}
	}
	rec.layerSizes = sizes
	return rec, nil
}

// commit records an ingested image and points r's tag (and digest) at it.
func (s *Store) commit(rec *Record, r Reference, pm pulledManifest) error {
	return s.db.update(func(st *dbState) error {
		old := st.Images[rec.ID]
		if old != nil {
			rec.RepoTags, rec.RepoDigests, rec.Added = old.RepoTags, old.RepoDigests, old.Added
		}
		var size int64
		for i, c := range rec.ChainIDs {
			if rec.layerSizes[i] > 0 {
				st.LayerSizes[c] = rec.layerSizes[i]
			} else if st.LayerSizes[c] == 0 {
				st.LayerSizes[c] = 0
				if u, ok := s.layers.(layerUsage); ok {
					if n, err := u.Usage(c); err == nil {
						st.LayerSizes[c] = n
					}
				}
			}
			size += st.LayerSizes[c]
		}
		rec.Size = size
		if r.Repository != "" {
			if r.Tag != "" {
				st.untag(r.String())
				rec.RepoTags = addUnique(rec.RepoTags, r.Name()+":"+r.Tag)
			}
			if pm.top != "" {
				rec.RepoDigests = addUnique(rec.RepoDigests, r.Name()+"@"+pm.top.String())
			}
		}
		st.Images[rec.ID] = rec
		return nil
	})
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

// ensureConfig returns the image config, fetching and storing it if needed.
func (s *Store) ensureConfig(ctx context.Context, d ocispec.Descriptor, src blobSource) ([]byte, error) {
	if s.content.Has(d.Digest) {
		return s.content.ReadAll(d.Digest, MaxConfigSize)
	}
	rc, _, err := src(ctx, d, 0)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", shortID(d.Digest), err)
	}
	defer rc.Close()
	data, err := readLimited(rc, MaxConfigSize, "image config "+d.Digest.String())
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(data); got != d.Digest {
		return nil, fmt.Errorf("image config %s has digest %s: %w", d.Digest, got, ErrDigestMismatch)
	}
	if d.Size > 0 && int64(len(data)) != d.Size {
		return nil, fmt.Errorf("image config %s is %d bytes, manifest says %d: %w", d.Digest, len(data), d.Size, ErrDigestMismatch)
	}
	if _, err := s.content.Put(data); err != nil {
		return nil, err
	}
	return data, nil
}

// ingestLayer makes sure one layer's blob is stored and its snapshot unpacked.
// A missing blob is downloaded once and streamed at the same time into the
// blob's temp file and into the snapshot store, so the layer is read from the
// network once and never from disk again. It returns the unpacked size, or
// -1 if the layer was unpacked before.
func (s *Store) ingestLayer(ctx context.Context, p *progress, d ocispec.Descriptor, chainID digest.Digest, src blobSource) (int64, error) {
	haveBlob := s.content.Has(d.Digest)
	haveSnap := s.layers.Exists(chainID)
	switch {
	case haveBlob && haveSnap:
		p.Status(d.Digest, "Already exists", d.Size)
		return -1, nil
	case haveBlob:
		f, err := s.content.Open(d.Digest)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		p.Status(d.Digest, "Extracting", d.Size)
		n, err := s.layers.Unpack(ctx, chainID, f)
		if err != nil {
			return 0, fmt.Errorf("unpack: %w", err)
		}
		p.Status(d.Digest, p.done, d.Size)
		return n, nil
	}
	w, err := s.content.ResumableWriter(ctx, d.Digest, d.Size)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	if s.content.Has(d.Digest) {
		// Another pull committed the blob while this one waited for it.
		w.Close()
		return s.ingestLayer(ctx, p, d, chainID, src)
	}
	p.Status(d.Digest, p.fetching, d.Size)
	// A killed or failed earlier pull may have left the first bytes: fetch
	// only the rest, and feed the unpacker the saved bytes first.
	var body io.Reader = strings.NewReader("")
	if d.Size <= 0 || w.Have() < d.Size {
		rc, start, err := src(ctx, d, w.Have())
		if err != nil {
			return 0, err
		}
		defer rc.Close()
		if start == 0 && w.Have() > 0 {
			if err := w.Reset(); err != nil {
				return 0, err
			}
		}
		body = rc
	}
	p.Add(d.Digest, w.Have())
	tee := io.TeeReader(countingReader{r: body, p: p, d: d.Digest}, w)
	stream := io.MultiReader(w.Prefix(), tee)
	fail := func(err error) (int64, error) {
		if !haveSnap {
			_ = s.layers.RemoveLayer(chainID)
		}
		// Wrong bytes must not be resumed from.
		if errors.Is(err, ErrDigestMismatch) || (w.Have() >= d.Size && w.Verify() != nil) {
			w.Discard()
		}
		return 0, err
	}
	var n int64 = -1
	if !haveSnap {
		n, err = s.layers.Unpack(ctx, chainID, &verifyAtEOF{r: stream, w: w})
		if err != nil {
			return fail(fmt.Errorf("store and unpack: %w", err))
		}
	}
	// The unpacker may stop at the tar end marker; read the rest so the
	// whole blob is verified before anything is kept.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return fail(err)
	}
	if err := w.Commit(); err != nil {
		return fail(err)
	}
	p.Status(d.Digest, p.done, d.Size)
	return n, nil
}

// verifyAtEOF turns the end of a blob whose digest or size is wrong into an
// error, so the unpacker aborts instead of committing a bad layer.
type verifyAtEOF struct {
	r io.Reader
	w *blobWriter
}

func (v *verifyAtEOF) Read(b []byte) (int, error) {
	n, err := v.r.Read(b)
	if err == io.EOF {
		if verr := v.w.Verify(); verr != nil {
			return n, verr
		}
	}
	return n, err
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
