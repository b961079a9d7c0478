// Package volumes is the engine's volume store, docker's "local" driver:
// each volume is a directory <root>/volumes/<name>/_data that containers
// bind-mount, with its metadata beside it in volume.json. Named volumes
// outlive their containers until `kago volume rm` or prune; anonymous ones
// (a -v /path, an image's VOLUME) carry docker's anonymous label and go
// with `rm -v` or `volume prune`.
//
// The store knows nothing of containers: whether a volume is in use is the
// engine's question (its records name the volumes they mount), asked under
// the store's lock through Remove's inUse argument.
package volumes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/kago-run/kago/internal/atomicfile"
	"github.com/kago-run/kago/internal/lockfile"
)

// ErrNotFound is returned for a volume the store lacks.
var ErrNotFound = errors.New("no such volume")

// AnonymousLabel marks anonymous volumes, as docker does.
const AnonymousLabel = "com.docker.volume.anonymous"

// Volume is one volume, as `volume inspect` shows it.
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  time.Time         `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
}

// Anonymous tells whether the volume was made for one container.
func (v *Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

// Store is the volumes of one engine root.
type Store struct{ dir string }

// Open returns the store under dir (<root>/volumes).
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create volume store %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a volume name the way docker does.
func ValidateName(name string) error {
	if len(name) > 255 || !namePattern.MatchString(name) {
		return fmt.Errorf("invalid volume name %q: it must be at least 2 characters of [a-zA-Z0-9][a-zA-Z0-9_.-]", name)
	}
	return nil
}

// Path is the directory containers mount for the volume.
func (s *Store) Path(name string) string { return filepath.Join(s.dir, name, "_data") }

func (s *Store) metaPath(name string) string { return filepath.Join(s.dir, name, "volume.json") }

// Create makes the volume, or returns the existing one of that name (as
// docker's volume create does); created says which.
func (s *Store) Create(name string, labels map[string]string) (v *Volume, created bool, err error) {
	if err := ValidateName(name); err != nil {
		return nil, false, err
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	if v, err := s.get(name); err == nil {
		return v, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	if labels == nil {
		labels = map[string]string{}
	}
	v = &Volume{Name: name, Driver: "local", Mountpoint: s.Path(name), CreatedAt: time.Now().UTC().Truncate(time.Second),
		Labels: labels, Options: map[string]string{}, Scope: "local"}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, false, err
	}
	// Made under a temporary name and renamed, so a volume appears whole.
	tmp, err := os.MkdirTemp(s.dir, ".tmp-")
	if err == nil {
		err = os.Mkdir(filepath.Join(tmp, "_data"), 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, "volume.json"), data, 0o600)
	}
	if err == nil {
		err = os.Chmod(tmp, 0o711)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err != nil {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	return v, true, nil
}

// Get returns one volume.
func (s *Store) Get(name string) (*Volume, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return s.get(name)
}

func (s *Store) get(name string) (*Volume, error) {
	st, err := os.Stat(s.Path(name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	v := &Volume{Name: name, Driver: "local", Mountpoint: s.Path(name), CreatedAt: st.ModTime().UTC().Truncate(time.Second), Scope: "local"}
	data, err := os.ReadFile(s.metaPath(name))
	if err == nil {
		if err := json.Unmarshal(data, v); err != nil {
			return nil, fmt.Errorf("volume %s: metadata %s is corrupt: %w", name, s.metaPath(name), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	v.Name, v.Mountpoint = name, s.Path(name)
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	return v, nil
}

// List returns every volume by name.
func (s *Store) List() ([]*Volume, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*Volume
	for _, e := range entries {
		if !e.IsDir() || !namePattern.MatchString(e.Name()) {
			continue
		}
		if v, err := s.get(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes the volume and its data unless inUse (asked under the
// store's lock) names containers using it.
func (s *Store) Remove(name string, inUse func(name string) []string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := s.Get(name); err != nil {
		return err
	}
	if users := inUse(name); len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use - %v", name, users)
	}
	// Renamed away first, so a half-removed volume is never listed.
	if err := atomicfile.RemoveDir(filepath.Join(s.dir, name), ".tmp-rm-"); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// lock serialises creating and removing volumes.
func (s *Store) lock() (func(), error) {
	return lockfile.Exclusive(filepath.Join(s.dir, ".lock"))
}
