package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kago-run/kago/archive"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotations naming an image in an OCI layout: containerd's full name and the
// OCI tag.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = ocispec.AnnotationRefName
)

// maxArchiveMeta caps the JSON files of an archive (index.json, manifest.json).
const maxArchiveMeta = 4 << 20

// dockerSaveEntry is one image in a docker-save manifest.json.
type dockerSaveEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// Save writes images as an OCI image layout tar to w. The archive also has a
// docker-save manifest.json, so docker load reads it too. Every blob sits
// under its digest, so Load can verify all of it.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("save: name at least one image")
	}
	tw := tar.NewWriter(w)
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	var dockerManifest []dockerSaveEntry
	written := map[digest.Digest]bool{}
	now := time.Now()
	addFile := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	addBlob := func(d digest.Digest) error {
		if written[d] {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := s.content.Open(d)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: "blobs/sha256/" + d.Encoded(), Mode: 0o644, Size: st.Size(), ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("save blob %s: %w", d, err)
		}
		written[d] = true
		return nil
	}
	if err := addFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	for _, ref := range refs {
		img, err := s.Resolve(ref)
		if err != nil {
			return err
		}
		raw, err := s.content.ReadAll(img.ManifestDigest, MaxManifestSize)
		if err != nil {
			return err
		}
		m, err := DecodeManifest(raw)
		if err != nil {
			return err
		}
		for _, d := range append([]digest.Digest{img.ManifestDigest, m.Config.Digest}, img.Layers...) {
			if err := addBlob(d); err != nil {
				return err
			}
		}
		// Name the saved entry by what the user asked for when it is a tag.
		var names []string
		if r, err := ParseReference(ref); err == nil && r.Digest == "" && findTag(img.RepoTags, r.String()) {
			names = []string{r.String()}
		} else {
			names = img.RepoTags
		}
		mt := img.ManifestMediaType
		if mt == "" {
			mt = ocispec.MediaTypeImageManifest
		}
		desc := ocispec.Descriptor{MediaType: mt, Digest: img.ManifestDigest, Size: int64(len(raw))}
		if len(names) == 0 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		var familiar []string
		for _, n := range names {
			d := desc
			_, tag := splitTag(n)
			d.Annotations = map[string]string{annotationImageName: n, annotationRefName: tag}
			idx.Manifests = append(idx.Manifests, d)
			familiar = append(familiar, familiarRef(n))
		}
		entry := dockerSaveEntry{Config: "blobs/sha256/" + m.Config.Digest.Encoded(), RepoTags: familiar}
		for _, l := range img.Layers {
			entry.Layers = append(entry.Layers, "blobs/sha256/"+l.Encoded())
		}
		dockerManifest = append(dockerManifest, entry)
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := addFile("index.json", data); err != nil {
		return err
	}
	if data, err = json.Marshal(dockerManifest); err != nil {
		return err
	}
	if err := addFile("manifest.json", data); err != nil {
		return err
	}
	return tw.Close()
}

func findTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

// LoadOptions control Load.
type LoadOptions struct {
	// Progress receives a line per loaded image.
	Progress io.Writer
	// Platform picks the image of a multi-platform index (default the host).
	Platform string
}

// Load reads an OCI image layout tar or a docker-save tar and adds its images
// to the store. Blobs are checked against their digests, and docker-save
// layers against the diff IDs of their config, before anything is recorded.
// It returns the loaded images.
func (s *Store) Load(ctx context.Context, r io.Reader, o LoadOptions) ([]*Image, error) {
	plat, err := ParsePlatform(o.Platform)
	if err != nil {
		return nil, err
	}
	unlock, err := s.holdGC()
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir, err := os.MkdirTemp(s.content.ingest, "load-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := extractArchive(ctx, r, dir); err != nil {
		return nil, err
	}
	p := newProgress(o.Progress)
	p.fetching, p.done = "Loading", "Loaded"
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return s.loadOCI(ctx, p, dir, plat)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return s.loadDockerSave(ctx, p, dir)
	}
	return nil, fmt.Errorf("load: archive has neither index.json (OCI layout) nor manifest.json (docker save)")
}

// extractArchive unpacks the regular files of an image archive into dir. It
// takes only plain relative names, so an archive cannot write outside dir.
func extractArchive(ctx context.Context, r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load: read archive: %w (is it a tar from kago save or docker save?)", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if name == "." || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("load: archive entry %q points outside the archive", hdr.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("load: write %s: %w", name, err)
		}
	}
}

// fileSource serves blobs from an extracted OCI layout.
func fileSource(dir string) blobSource {
	return func(_ context.Context, d ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
		if d.Digest.Validate() != nil {
			return nil, 0, fmt.Errorf("bad digest %q", d.Digest)
		}
		f, err := os.Open(filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
		if err != nil {
			return nil, 0, fmt.Errorf("archive lacks blob %s: %w", d.Digest, ErrNotFound)
		}
		return seekTo(f, offset)
	}
}

func readArchiveFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, maxArchiveMeta, filepath.Base(p))
}

func (s *Store) loadOCI(ctx context.Context, p *progress, dir string, plat ocispec.Platform) ([]*Image, error) {
	data, err := readArchiveFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	idx, err := DecodeIndex(data)
	if err != nil {
		return nil, fmt.Errorf("load: index.json: %w", err)
	}
	src := fileSource(dir)
	var out []*Image
	for _, desc := range idx.Manifests {
		pm, err := s.readLayoutManifest(ctx, src, desc, plat)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		rec, err := s.ingestImage(ctx, p, pm, src, 3)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		r := Reference{}
		if n := desc.Annotations[annotationImageName]; n != "" {
			if ref, err := ParseReference(n); err == nil {
				r = ref
			}
		} else if n := desc.Annotations[annotationRefName]; strings.ContainsAny(n, ":/") {
			if ref, err := ParseReference(n); err == nil {
				r = ref
			}
		}
		r.Digest = ""
		if err := s.commit(rec, r, pulledManifest{}); err != nil {
			return nil, err
		}
		img, err := s.Resolve(rec.ID.String())
		if err != nil {
			return nil, err
		}
		if r.Repository != "" {
			p.Printf("Loaded image: %s", familiarRef(r.String()))
		} else {
			p.Printf("Loaded image ID: %s", img.ID)
		}
		out = append(out, img)
	}
	return out, nil
}

// readLayoutManifest reads a manifest (choosing from a nested index) from a
// layout, checking its digest.
func (s *Store) readLayoutManifest(ctx context.Context, src blobSource, desc ocispec.Descriptor, plat ocispec.Platform) (pulledManifest, error) {
	read := func(d ocispec.Descriptor) ([]byte, error) {
		rc, _, err := src(ctx, d, 0)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		data, err := readLimited(rc, MaxManifestSize, "manifest "+d.Digest.String())
		if err != nil {
			return nil, err
		}
		if digest.FromBytes(data) != d.Digest {
			return nil, fmt.Errorf("manifest %s: content does not match: %w", d.Digest, ErrDigestMismatch)
		}
		return data, nil
	}
	data, err := read(desc)
	if err != nil {
		return pulledManifest{}, err
	}
	mt := desc.MediaType
	if mt == "" {
		mt = sniffMediaType(data)
	}
	if isIndexType(mt) {
		idx, err := DecodeIndex(data)
		if err != nil {
			return pulledManifest{}, err
		}
		chosen, err := choosePlatform(idx, plat)
		if err != nil {
			return pulledManifest{}, err
		}
		raw, err := read(chosen)
		if err != nil {
			return pulledManifest{}, err
		}
		return pulledManifest{top: desc.Digest, indexRaw: data, manifestDigest: chosen.Digest, manifestRaw: raw, mediaType: chosen.MediaType, platform: FormatPlatform(plat)}, nil
	}
	return pulledManifest{top: desc.Digest, manifestDigest: desc.Digest, manifestRaw: data, mediaType: mt}, nil
}

// loadDockerSave loads the format of docker save before OCI layouts: layers
// are files named by path, not by digest, so their digests are computed here
// and checked against the config's diff IDs, and a manifest is made for them.
func (s *Store) loadDockerSave(ctx context.Context, p *progress, dir string) ([]*Image, error) {
	data, err := readArchiveFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var entries []dockerSaveEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("load: manifest.json is not a docker save manifest: %w", err)
	}
	var out []*Image
	for i, e := range entries {
		img, err := s.loadDockerSaveEntry(ctx, p, dir, e)
		if err != nil {
			return nil, fmt.Errorf("load: image %d of manifest.json: %w", i, err)
		}
		out = append(out, img)
	}
	return out, nil
}

func (s *Store) loadDockerSaveEntry(ctx context.Context, p *progress, dir string, e dockerSaveEntry) (*Image, error) {
	open := func(name string) (*os.File, error) {
		clean := path.Clean(name)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("path %q points outside the archive", name)
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(clean)))
		if err != nil {
			return nil, fmt.Errorf("archive lacks %s", name)
		}
		return f, nil
	}
	cf, err := open(e.Config)
	if err != nil {
		return nil, err
	}
	cfgRaw, err := readLimited(cf, MaxConfigSize, "config "+e.Config)
	cf.Close()
	if err != nil {
		return nil, err
	}
	cfg, err := DecodeConfig(cfgRaw, len(e.Layers))
	if err != nil {
		return nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: MediaTypeDockerManifest,
		Config:    ocispec.Descriptor{MediaType: MediaTypeDockerConfig, Digest: digest.FromBytes(cfgRaw), Size: int64(len(cfgRaw))},
	}
	paths := map[digest.Digest]string{}
	for i, lp := range e.Layers {
		f, err := open(lp)
		if err != nil {
			return nil, err
		}
		blob, diffID, size, comp, err := layerDigests(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", lp, err)
		}
		if diffID != cfg.RootFS.DiffIDs[i] {
			return nil, fmt.Errorf("layer %s has content %s, the config says %s: %w", lp, diffID, cfg.RootFS.DiffIDs[i], ErrDigestMismatch)
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: layerMediaType(comp, true), Digest: blob, Size: size})
		paths[blob] = lp
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	src := func(_ context.Context, d ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
		if d.Digest == m.Config.Digest {
			return io.NopCloser(strings.NewReader(string(cfgRaw))), 0, nil
		}
		f, err := open(paths[d.Digest])
		if err != nil {
			return nil, 0, err
		}
		return seekTo(f, offset)
	}
	pm := pulledManifest{manifestDigest: digest.FromBytes(raw), manifestRaw: raw, mediaType: MediaTypeDockerManifest}
	rec, err := s.ingestImage(ctx, p, pm, src, 3)
	if err != nil {
		return nil, err
	}
	var refs []Reference
	for _, t := range e.RepoTags {
		r, err := ParseReference(t)
		if err != nil {
			return nil, fmt.Errorf("repo tag %q: %w", t, err)
		}
		refs = append(refs, r)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	if len(refs) == 0 {
		refs = []Reference{{}}
	}
	for _, r := range refs {
		if err := s.commit(rec, r, pulledManifest{}); err != nil {
			return nil, err
		}
		if r.Repository != "" {
			p.Printf("Loaded image: %s", familiarRef(r.String()))
		}
	}
	return s.Resolve(rec.ID.String())
}

// layerDigests reads a layer file once and returns its blob digest, its diff
// ID (digest of the uncompressed tar), its size and its compression.
func layerDigests(r io.Reader) (blob, diffID digest.Digest, size int64, comp archive.Compression, err error) {
	bh := sha256.New()
	counter := &countWriter{}
	tee := io.TeeReader(r, io.MultiWriter(bh, counter))
	head := make([]byte, 6)
	n, _ := io.ReadFull(tee, head)
	comp = archive.Detect(head[:n])
	dr, err := archive.Decompress(io.MultiReader(strings.NewReader(string(head[:n])), tee))
	if err != nil {
		return "", "", 0, 0, err
	}
	defer dr.Close()
	dh := sha256.New()
	if _, err := io.Copy(dh, dr); err != nil {
		return "", "", 0, 0, fmt.Errorf("decompress: %w", err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", "", 0, 0, err
	}
	return digest.NewDigest(digest.SHA256, bh), digest.NewDigest(digest.SHA256, dh), counter.n, comp, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// seekTo starts a file source at offset.
func seekTo(f *os.File, offset int64) (io.ReadCloser, int64, error) {
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, offset, nil
}
