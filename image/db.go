package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/kago-run/kago/internal/atomicfile"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound       = errors.New("not found")
	ErrDigestMismatch = errors.New("digest mismatch")
	ErrTooLarge       = errors.New("too large")
	ErrInUse          = errors.New("image is in use")
	ErrAmbiguous      = errors.New("ambiguous image ID prefix")
)

// Record is what the store remembers about one image. Its ID is the digest of
// its config, as in docker, so one image pulled under two names is one record.
type Record struct {
	ID                digest.Digest `json:"id"`
	ManifestDigest    digest.Digest `json:"manifestDigest"`
	ManifestMediaType string        `json:"manifestMediaType"`
	// IndexDigest is the image index the manifest was chosen from, if any.
	IndexDigest digest.Digest `json:"indexDigest,omitempty"`
	// RepoTags are canonical "registry/repository:tag" names.
	RepoTags []string `json:"repoTags,omitempty"`
	// RepoDigests are canonical "registry/repository@sha256:..." names.
	RepoDigests []string        `json:"repoDigests,omitempty"`
	Layers      []digest.Digest `json:"layers"` // compressed blob digests, in order
	DiffIDs     []digest.Digest `json:"diffIDs"`
	ChainIDs    []digest.Digest `json:"chainIDs"`
	Created     time.Time       `json:"created"`
	// Size is the sum of the unpacked layer sizes (compressed when unknown).
	Size     int64     `json:"size"`
	Platform string    `json:"platform,omitempty"`
	Added    time.Time `json:"added"`

	layerSizes []int64 // unpacked sizes found while ingesting, -1 if unknown
}

// dbState is the whole image database: records by ID and tags pointing at IDs.
type dbState struct {
	Version int                       `json:"version"`
	Images  map[digest.Digest]*Record `json:"images"`
	// LayerSizes holds the unpacked size of every layer this store unpacked,
	// by chain ID; GC removes the ones no image needs any more.
	LayerSizes map[digest.Digest]int64 `json:"layerSizes"`
}

// db is a JSON file guarded by an flock on a side file. Every change is read,
// modify, write temp, fsync, rename, under the exclusive lock, so concurrent
// kago processes see either the old or the new database, never a mix.
type db struct {
	path string
	lock string
}

func (d *db) withLock(how int, fn func() error) error {
	f, err := os.OpenFile(d.lock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open image db lock: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		return fmt.Errorf("lock image db: %w", err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

func (d *db) load() (*dbState, error) {
	st := &dbState{Version: 1, Images: map[digest.Digest]*Record{}, LayerSizes: map[digest.Digest]int64{}}
	data, err := os.ReadFile(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image db: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("image db %s is corrupt (%v): move it away to start empty", d.path, err)
	}
	if st.Images == nil {
		st.Images = map[digest.Digest]*Record{}
	}
	if st.LayerSizes == nil {
		st.LayerSizes = map[digest.Digest]int64{}
	}
	return st, nil
}

func (d *db) save(st *dbState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(d.path, data, 0o600)
}

// view runs fn on a snapshot of the database under a shared lock.
func (d *db) view(fn func(*dbState) error) error {
	return d.withLock(unix.LOCK_SH, func() error {
		st, err := d.load()
		if err != nil {
			return err
		}
		return fn(st)
	})
}

// update runs fn under the exclusive lock and saves its changes if it succeeds.
func (d *db) update(fn func(*dbState) error) error {
	return d.withLock(unix.LOCK_EX, func() error {
		st, err := d.load()
		if err != nil {
			return err
		}
		if err := fn(st); err != nil {
			return err
		}
		return d.save(st)
	})
}

// tagOwner finds the record holding a canonical tag.
func (st *dbState) tagOwner(tag string) *Record {
	for _, r := range st.Images {
		for _, t := range r.RepoTags {
			if t == tag {
				return r
			}
		}
	}
	return nil
}

// untag removes a tag from whichever record holds it.
func (st *dbState) untag(tag string) {
	for _, r := range st.Images {
		out := r.RepoTags[:0]
		for _, t := range r.RepoTags {
			if t != tag {
				out = append(out, t)
			}
		}
		r.RepoTags = out
	}
}

// addUnique appends s to list unless it is there.
func addUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
