package image

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/kago-run/kago/archive"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Ingesting is what pull, load and import share once they know the manifest:
// get config and layers from a blob source into the content store, unpack
// each layer into the snapshot store, and record the image.

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
			n, err := s.ingestLayer(gctx, p, layerRef{desc: l, diffID: cfg.RootFS.DiffIDs[i], chainID: chains[i]}, src)
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
	mt := pm.mediaType
	if !isManifestType(mt) {
		mt = m.MediaType // the index did not say; the manifest may
	}
	if mt == "" {
		mt = ocispec.MediaTypeImageManifest // OCI allows leaving it out
	}
	rec := &Record{
		ID:                m.Config.Digest,
		ManifestDigest:    pm.manifestDigest,
		ManifestMediaType: mt,
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
func (s *Store) ingestLayer(ctx context.Context, p *progress, l layerRef, src blobSource) (int64, error) {
	d, chainID := l.desc, l.chainID
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
		n, err := s.unpack(ctx, l, f)
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
		return s.ingestLayer(ctx, p, l, src)
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
		n, err = s.unpack(ctx, l, &verifyAtEOF{r: stream, w: w})
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

// layerRef is one layer of an image: its blob, and the digest of its
// uncompressed tar the config promises, which names its snapshot.
type layerRef struct {
	desc    ocispec.Descriptor
	diffID  digest.Digest
	chainID digest.Digest
}

// unpack decompresses a layer into the snapshot store, checking the tar
// against the diff ID of the config. Without that check an image could claim
// the diff ID (and so the chain ID) of a popular base layer with other
// content, and every later image sharing that base would get its files.
func (s *Store) unpack(ctx context.Context, l layerRef, compressed io.Reader) (int64, error) {
	dr, err := archive.Decompress(compressed)
	if err != nil {
		return 0, err
	}
	defer dr.Close()
	return s.layers.Unpack(ctx, l.chainID, &diffIDReader{r: dr, h: sha256.New(), want: l.diffID})
}

// diffIDReader turns the end of a tar whose digest is not the diff ID into
// an error, so the snapshot store never commits it.
type diffIDReader struct {
	r    io.Reader
	h    hash.Hash
	want digest.Digest
}

func (v *diffIDReader) Read(b []byte) (int, error) {
	n, err := v.r.Read(b)
	v.h.Write(b[:n])
	if err == io.EOF {
		if got := digest.NewDigest(digest.SHA256, v.h); got != v.want {
			return n, fmt.Errorf("layer content has diff ID %s, the image config says %s: %w", got, v.want, ErrDigestMismatch)
		}
	}
	return n, err
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
