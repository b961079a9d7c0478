package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Errors callers test with errors.Is.
var (
	// ErrNotFound: no layer or container snapshot by that name.
	ErrNotFound = errors.New("snapshot not found")
	// ErrInUse: a container snapshot still uses the layer.
	ErrInUse = errors.New("snapshot in use")
	// ErrExists: Prepare was given a key that already has a snapshot.
	ErrExists = errors.New("snapshot already exists")
)

// Store is an overlayfs snapshotter rooted at one directory. Its methods are
// safe for concurrent use by goroutines and by processes sharing the root.
type Store struct {
	root string
}

// New opens (creating if needed) the store at root, e.g.
// /var/lib/kago/snapshots, and removes work left in tmp/ by killed processes.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("snapshot root %s: %w", root, err)
	}
	s := &Store{root: abs}
	for _, d := range []string{"", "layers", "containers", "tmp", "locks", "empty"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("create snapshot store: %w", err)
		}
	}
	// Lower layers must be readable by container users, not only root.
	for _, d := range []string{"", "layers", "empty"} {
		if err := os.Chmod(filepath.Join(abs, d), 0o711); err != nil {
			return nil, fmt.Errorf("create snapshot store: %w", err)
		}
	}
	if err := s.Cleanup(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// layerDir is where a layer's snapshot lives; the chain ID was validated.
func (s *Store) layerDir(id digest.Digest) string {
	return filepath.Join(s.root, "layers", id.Algorithm().String()+"-"+id.Encoded())
}

func (s *Store) containerDir(key string) string {
	return filepath.Join(s.root, "containers", key)
}

func checkChainID(id digest.Digest) error {
	if err := id.Validate(); err != nil {
		return fmt.Errorf("chain ID %q: %w", id, err)
	}
	return nil
}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func checkKey(key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("snapshot key %q: use 1-128 characters of letters, digits, '_', '.', '-', starting with a letter or digit", key)
	}
	return nil
}

// lockStore takes the store-wide lock guarding which containers use which
// layers.
func (s *Store) lockStore(ctx context.Context) (func(), error) {
	return lockFile(ctx, filepath.Join(s.root, "locks", "store.lock"))
}

// tmpDir makes a directory under tmp/ and returns it with its lock held, so
// Cleanup in another process leaves it alone while this one works in it.
func (s *Store) tmpDir(ctx context.Context, prefix string) (dir string, release func(), err error) {
	// Shared hold of tmp.lock: Cleanup takes it exclusively, so it cannot
	// remove the directory between MkdirTemp and flock.
	unlockTmp, err := s.lockTmp(ctx, unix.LOCK_SH)
	if err != nil {
		return "", nil, err
	}
	defer unlockTmp()
	dir, err = os.MkdirTemp(filepath.Join(s.root, "tmp"), prefix)
	if err != nil {
		return "", nil, fmt.Errorf("create temp dir: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("lock temp dir %s: %w", dir, err)
	}
	return dir, func() { unix.Close(fd) }, nil
}

func (s *Store) lockTmp(ctx context.Context, how int) (func(), error) {
	path := filepath.Join(s.root, "locks", "tmp.lock")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := flockWait(ctx, fd, how); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { unix.Close(fd) }, nil
}

// Cleanup removes what killed processes left under tmp/: every directory
// whose lock no live process holds.
func (s *Store) Cleanup(ctx context.Context) error {
	unlock, err := s.lockTmp(ctx, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	tmp := filepath.Join(s.root, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("clean up %s: %w", tmp, err)
	}
	var errs []error
	for _, e := range ents {
		p := filepath.Join(tmp, e.Name())
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("clean up %s: %w", p, err))
			continue
		}
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			// A killed Release may leave a mount below; detach it first.
			unmountAll(filepath.Join(p, "d", "merged"), unix.MNT_DETACH)
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, fmt.Errorf("clean up: %w", err))
			}
		}
		unix.Close(fd)
	}
	return errors.Join(errs...)
}

// removeDir moves dir into tmp/ with one rename, so it disappears from its
// name atomically, then deletes it.
func (s *Store) removeDir(ctx context.Context, dir string) error {
	tmp, release, err := s.tmpDir(ctx, "remove-")
	if err != nil {
		return err
	}
	defer release()
	dst := filepath.Join(tmp, "d")
	if err := os.Rename(dir, dst); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// dirName turns a layers/ entry back into its chain ID.
func dirName(name string) (digest.Digest, bool) {
	alg, enc, ok := strings.Cut(name, "-")
	if !ok {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
	return d, d.Validate() == nil
}
