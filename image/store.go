// Package image is kago's image store: it pulls images from registries, keeps
// their blobs in a content-addressed store, records which names point at which
// image, and hands each layer to the snapshot store to be unpacked once.
//
// The on-disk layout under the engine root is
//
//	<root>/content/blobs/sha256/<hex>   manifests, configs, compressed layers
//	<root>/content/ingest/              temp files of downloads in progress
//	<root>/image/images.json            image records (file-locked, atomic)
//
// An image is visible in the store only after every blob was verified and every
// layer unpacked, so an interrupted pull leaves no partial image; what it did
// download is kept and reused by the next pull.
//
// The engine uses it like this:
//
//	s, _ := image.Open(root)                       // layers go to <root>/snapshots
//	s.InUse = func(id digest.Digest) bool { ... }  // containers DB decides
//	img, err := s.Resolve("httpd:2.4")              // or s.Pull(ctx, ref, image.PullOptions{})
//	rootfs, err := s.Snapshots().Prepare(ctx, containerID, img.ChainIDs)
//	// img.Config.Config holds Entrypoint, Cmd, Env, WorkingDir, User, ...
//
// go-containerregistry speaks the distribution protocol (token and basic
// auth, retries); kago owns everything on disk.
package image

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kago-run/kago/snapshot"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Layers is the part of the snapshot store the image store needs: unpack a
// layer once under its chain ID, and remove layers no image refers to any more.
type Layers interface {
	Unpack(ctx context.Context, chainID digest.Digest, r io.Reader) (int64, error)
	Exists(chainID digest.Digest) bool
	RemoveLayer(chainID digest.Digest) error
}

// Store is the image store of one engine root.
type Store struct {
	root    string
	content *contentStore
	db      *db
	layers  Layers
	snaps   *snapshot.Store

	// InUse, when set, tells whether a container uses the image with this ID;
	// Remove refuses such images unless forced. The engine owns the answer.
	InUse func(id digest.Digest) bool
	// AuthFile is the docker-style config.json with registry credentials;
	// empty means $DOCKER_CONFIG/config.json or ~/.docker/config.json.
	AuthFile string
}

// Image is an image of the store, with its config decoded.
type Image struct {
	Record
	// Config is the OCI image config: Entrypoint, Cmd, Env, WorkingDir, User,
	// ExposedPorts and StopSignal live in Config.Config.
	Config ocispec.Image `json:"config"`
	// RawConfig is the config as stored, for fields docker has beyond the
	// OCI ones (the engine reads config.Healthcheck from it).
	RawConfig []byte `json:"-"`
}

// OpenWith opens (creating if needed) the image store under root, unpacking
// layers into layers.
func OpenWith(root string, layers Layers) (*Store, error) {
	if root == "" {
		return nil, fmt.Errorf("image store: empty root directory")
	}
	if layers == nil {
		return nil, fmt.Errorf("image store: no snapshot store")
	}
	cs, err := newContentStore(root)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "image")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create image store directory: %w", err)
	}
	return &Store{
		root:    root,
		content: cs,
		db:      &db{path: filepath.Join(dir, "images.json"), lock: filepath.Join(dir, "images.lock")},
		layers:  layers,
	}, nil
}

// List returns all images, newest first.
func (s *Store) List() ([]*Image, error) {
	var recs []*Record
	if err := s.db.view(func(st *dbState) error {
		for _, r := range st.Images {
			recs = append(recs, r)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	sort.Slice(recs, func(i, j int) bool {
		if !recs[i].Created.Equal(recs[j].Created) {
			return recs[i].Created.After(recs[j].Created)
		}
		return recs[i].ID < recs[j].ID
	})
	out := make([]*Image, 0, len(recs))
	for _, r := range recs {
		img, err := s.load(r)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func (s *Store) load(r *Record) (*Image, error) {
	data, err := s.content.ReadAll(r.ID, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", shortID(r.ID), err)
	}
	cfg, err := DecodeConfig(data, len(r.Layers))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", shortID(r.ID), err)
	}
	return &Image{Record: *r, Config: *cfg, RawConfig: data}, nil
}

// Resolve finds an image by reference ("httpd", "httpd:2.4",
// "docker.io/library/httpd@sha256:..."), by full ID or by an ID prefix.
func (s *Store) Resolve(ref string) (*Image, error) {
	var rec *Record
	err := s.db.view(func(st *dbState) error {
		r, err := resolveIn(st, ref)
		rec = r
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.load(rec)
}

func resolveIn(st *dbState, ref string) (*Record, error) {
	if r, err := ParseReference(ref); err == nil {
		if rec := findByRef(st, r); rec != nil {
			return rec, nil
		}
	}
	if id, ok := idPrefix(ref); ok {
		var found []*Record
		for k, r := range st.Images {
			if strings.HasPrefix(k.Encoded(), id) {
				found = append(found, r)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
		default:
			return nil, fmt.Errorf("image ID prefix %q matches %d images, give more digits: %w", ref, len(found), ErrAmbiguous)
		}
	}
	return nil, fmt.Errorf("image %q: %w (kago images lists the local images; kago pull fetches one)", ref, ErrNotFound)
}

func findByRef(st *dbState, r Reference) *Record {
	if r.Digest != "" {
		for _, rec := range st.Images {
			if rec.ManifestDigest == r.Digest || rec.IndexDigest == r.Digest {
				for _, rd := range rec.RepoDigests {
					if rd == r.Name()+"@"+r.Digest.String() {
						return rec
					}
				}
			}
		}
		return nil
	}
	return st.tagOwner(r.String())
}

// idPrefix reports whether s looks like an image ID or a prefix of one.
func idPrefix(s string) (string, bool) {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) == 0 || len(s) > 64 {
		return "", false
	}
	if _, err := hex.DecodeString(s + strings.Repeat("0", len(s)%2)); err != nil || strings.ToLower(s) != s {
		return "", false
	}
	return s, true
}

// Tag points the reference dst at the image src resolves to.
func (s *Store) Tag(src, dst string) error {
	r, err := ParseReference(dst)
	if err != nil {
		return err
	}
	if r.Digest != "" || r.Tag == "" {
		return fmt.Errorf("tag %q: a tag cannot carry a digest; use NAME:TAG", dst)
	}
	return s.db.update(func(st *dbState) error {
		rec, err := resolveIn(st, src)
		if err != nil {
			return err
		}
		st.untag(r.String())
		rec.RepoTags = addUnique(rec.RepoTags, r.String())
		return nil
	})
}

// RemoveOptions control Remove.
type RemoveOptions struct {
	// Force removes an image a container uses, and all tags of an image named
	// by ID.
	Force bool
}

// Remove untags or deletes an image, the way docker rmi does: a reference
// removes that one tag and deletes the image when it was the last one; an ID
// deletes the image (with Force if it has several tags). It returns what it did,
// as "Untagged: ..." and "Deleted: ..." lines.
func (s *Store) Remove(ctx context.Context, ref string, opts RemoveOptions) ([]string, error) {
	var report []string
	err := s.db.update(func(st *dbState) error {
		rec, err := resolveIn(st, ref)
		if err != nil {
			return err
		}
		byRef := false
		var tag string
		if r, err := ParseReference(ref); err == nil && findByRef(st, r) == rec {
			byRef = true
			tag = r.String()
		}
		if byRef && r0(tag, rec) && len(rec.RepoTags) > 1 {
			st.untag(tag)
			report = append(report, "Untagged: "+familiarRef(tag))
			return nil
		}
		if !byRef && len(rec.RepoTags) > 1 && !opts.Force {
			return fmt.Errorf("image %s is tagged in %d repositories (%s): remove the tags or use -f", shortID(rec.ID), len(rec.RepoTags), strings.Join(rec.RepoTags, ", "))
		}
		if !opts.Force && s.InUse != nil && s.InUse(rec.ID) {
			return fmt.Errorf("image %s (%s): %w by a container: remove the container first or use -f", ref, shortID(rec.ID), ErrInUse)
		}
		for _, t := range rec.RepoTags {
			report = append(report, "Untagged: "+familiarRef(t))
		}
		for _, d := range rec.RepoDigests {
			report = append(report, "Untagged: "+familiarRef(d))
		}
		delete(st.Images, rec.ID)
		report = append(report, "Deleted: "+rec.ID.String())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := s.GC(ctx); err != nil {
		return report, err
	}
	return report, nil
}

func r0(tag string, rec *Record) bool {
	for _, t := range rec.RepoTags {
		if t == tag {
			return true
		}
	}
	return false
}

// familiarRef shortens a canonical reference for messages.
func familiarRef(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		return FamiliarName(ref[:i]) + ref[i:]
	}
	name, tag := splitTag(ref)
	if tag == "" {
		return FamiliarName(name)
	}
	return FamiliarName(name) + ":" + tag
}

// shortID is the 12-hex-digit form of an image ID.
func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// ShortID is the 12-hex-digit form of an image ID, as docker prints it.
func ShortID(d digest.Digest) string { return shortID(d) }

// PruneOptions control Prune.
type PruneOptions struct {
	// All removes every image no container uses, not only untagged ones.
	All bool
	// Match, if set, limits the prune to the images it accepts (the
	// engine's --filter until= and label=).
	Match func(id digest.Digest) bool
}

// PruneResult says what Prune deleted and freed.
type PruneResult struct {
	Images []digest.Digest // IDs of the deleted images
	GCResult
}

// Prune deletes dangling images (without tags), or with All every image not in
// use, then collects garbage.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (*PruneResult, error) {
	res := &PruneResult{}
	err := s.db.update(func(st *dbState) error {
		for id, r := range st.Images {
			if len(r.RepoTags) > 0 && !opts.All || opts.Match != nil && !opts.Match(id) {
				continue
			}
			if s.InUse != nil && s.InUse(id) {
				continue
			}
			delete(st.Images, id)
			res.Images = append(res.Images, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(res.Images, func(i, j int) bool { return res.Images[i] < res.Images[j] })
	gc, err := s.GC(ctx)
	if gc != nil {
		res.GCResult = *gc
	}
	return res, err
}

// GCResult says what garbage collection freed.
type GCResult struct {
	Blobs     []digest.Digest
	Snapshots []digest.Digest
	// Bytes is the size of the deleted blobs and unpacked layers.
	Bytes int64
}

// GC deletes blobs and unpacked layers no image refers to. A pull holds a
// shared lock on the GC lock from its first download to its commit; GC only
// runs when it gets that lock exclusively without waiting, and otherwise frees
// nothing this time, so it never deletes a blob a pull just committed but has
// not recorded yet.
func (s *Store) GC(ctx context.Context) (*GCResult, error) {
	res := &GCResult{}
	unlock, ok, err := s.gcLock(unix.LOCK_EX | unix.LOCK_NB)
	if err != nil || !ok {
		return res, err
	}
	defer unlock()
	// No pull, load or import runs now, so everything in ingest is left over
	// from a killed process.
	if err := s.content.CleanIngest(); err != nil {
		return res, err
	}
	err = s.db.update(func(st *dbState) error {
		blobs := map[digest.Digest]bool{}
		chains := map[digest.Digest]bool{}
		for _, r := range st.Images {
			blobs[r.ID] = true
			blobs[r.ManifestDigest] = true
			if r.IndexDigest != "" {
				blobs[r.IndexDigest] = true
			}
			for _, l := range r.Layers {
				blobs[l] = true
			}
			for _, c := range r.ChainIDs {
				chains[c] = true
			}
		}
		all, err := s.content.List()
		if err != nil {
			return err
		}
		for _, d := range all {
			if blobs[d] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if n, err := s.content.Size(d); err == nil {
				res.Bytes += n
			}
			if err := s.content.Delete(d); err != nil {
				return err
			}
			res.Blobs = append(res.Blobs, d)
		}
		candidates := map[digest.Digest]bool{}
		for c := range st.LayerSizes {
			candidates[c] = true
		}
		if ll, ok := s.layers.(layerLister); ok {
			all, err := ll.Layers()
			if err != nil {
				return err
			}
			for _, c := range all {
				candidates[c] = true
			}
		}
		for c := range candidates {
			if chains[c] {
				continue
			}
			if err := s.layers.RemoveLayer(c); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
				// A layer a running container still uses stays until the next GC.
				continue
			}
			res.Bytes += st.LayerSizes[c]
			delete(st.LayerSizes, c)
			res.Snapshots = append(res.Snapshots, c)
		}
		return nil
	})
	return res, err
}

// gcLock takes the GC lock; ok is false if LOCK_NB was given and it is held.
func (s *Store) gcLock(how int) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(s.root, "image", "gc.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("open gc lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("gc lock: %w", err)
	}
	return func() { f.Close() }, true, nil
}

// holdGC keeps GC from running until unlock: pulls, loads and imports hold it
// from their first temp file until their image is recorded.
func (s *Store) holdGC() (unlock func(), err error) {
	unlock, _, err = s.gcLock(unix.LOCK_SH)
	return unlock, err
}
