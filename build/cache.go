package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/atomicfile"
)

// The layer cache: one small JSON file per step key under <root>/cache,
// written atomically, so concurrent builds and a killed build never leave a
// half-written entry. An entry only says which layer a step made; the
// layer itself lives in the image store, and a step whose layer is gone
// (garbage-collected) is a miss.

// cacheEntry is what a step made.
type cacheEntry struct {
	// Layer is nil when the step changed no file.
	Layer   *layer    `json:"layer,omitempty"`
	Created time.Time `json:"created"`
}

func (b *Builder) cacheDir() string { return filepath.Join(b.Root, "cache") }

func (b *Builder) cachePath(key digest.Digest) string {
	return filepath.Join(b.cacheDir(), key.Encoded()+".json")
}

// cached returns the entry for key, or nil.
func (b *Builder) cached(key digest.Digest) *cacheEntry {
	data, err := os.ReadFile(b.cachePath(key))
	if err != nil {
		return nil
	}
	var e cacheEntry
	if json.Unmarshal(data, &e) != nil {
		return nil // a corrupt entry is a miss; the step rewrites it
	}
	return &e
}

func (b *Builder) remember(key digest.Digest, e cacheEntry) error {
	if err := os.MkdirAll(b.cacheDir(), 0o700); err != nil {
		return fmt.Errorf("create build cache: %w", err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(b.cachePath(key), data, 0o600)
}

// Prune forgets every cached step and removes every RUN
// --mount=type=cache directory no running build uses, and returns how many
// entries there were. The layers cached steps named are freed by the image
// store's garbage collection once no image uses them.
func (b *Builder) Prune() (int, error) {
	mounts, err := b.pruneCacheMounts()
	if err != nil {
		return mounts, err
	}
	n, err := b.pruneSteps()
	return mounts + n, err
}

func (b *Builder) pruneSteps() (int, error) {
	ents, err := os.ReadDir(b.cacheDir())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read build cache: %w", err)
	}
	n := 0
	for _, e := range ents {
		if err := os.Remove(filepath.Join(b.cacheDir(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("prune build cache: %w", err)
		}
		n++
	}
	return n, nil
}

// stepKey chains a step's cache key from its parent's and what the step is.
func stepKey(parent digest.Digest, parts ...string) digest.Digest {
	h := digest.SHA256.Digester()
	fmt.Fprintf(h.Hash(), "%s\n", parent)
	for _, p := range parts {
		fmt.Fprintf(h.Hash(), "%d:%s\n", len(p), p)
	}
	return h.Digest()
}

// RUN --mount=type=cache directories live under <root>/mounts, one per
// cache id (the target when no id is given), as <sha256 of the id>/data
// beside a lock file: a build holds it shared (sharing=shared, the
// default) or exclusively (locked; private takes the first instance
// nobody holds, <hash>-N, making one if all are in use) while a step uses
// the directory, and Prune removes only what it can lock exclusively.

func (b *Builder) mountsDir() string { return filepath.Join(b.Root, "mounts") }

// cacheMount locks and returns the directory of a cache mount, made empty
// with the mount's mode (0755) and owner (0:0) on first use.
func (b *Builder) cacheMount(ctx context.Context, m *instructions.Mount) (dir string, unlock func(), err error) {
	id := m.CacheID
	if id == "" {
		id = m.Target
	}
	base := filepath.Join(b.mountsDir(), digest.SHA256.FromString(id).Encoded()[:32])
	if err := os.MkdirAll(b.mountsDir(), 0o700); err != nil {
		return "", nil, fmt.Errorf("create cache mounts: %w", err)
	}
	for n := 0; ; n++ {
		inst := base
		if n > 0 {
			inst = fmt.Sprintf("%s-%d", base, n)
		}
		how := unix.LOCK_SH
		switch m.CacheSharing {
		case instructions.MountSharingLocked:
			how = unix.LOCK_EX
		case instructions.MountSharingPrivate:
			how = unix.LOCK_EX | unix.LOCK_NB
		}
		unlock, err := lockPath(ctx, inst, how)
		if errors.Is(err, unix.EWOULDBLOCK) {
			continue // private, and this instance is in use
		}
		if err != nil {
			return "", nil, fmt.Errorf("cache mount %s: %w", id, err)
		}
		data := filepath.Join(inst, "data")
		if _, err := os.Lstat(data); errors.Is(err, fs.ErrNotExist) {
			err = makeCacheDir(data, m)
			if err != nil {
				unlock()
				return "", nil, fmt.Errorf("cache mount %s: %w", id, err)
			}
		}
		return data, unlock, nil
	}
}

// makeCacheDir makes a cache mount's directory, whole or not at all.
func makeCacheDir(data string, m *instructions.Mount) error {
	tmp := data + ".new"
	os.RemoveAll(tmp)
	mode := os.FileMode(0o755)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode & 0o777)
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if err := os.Mkdir(tmp, mode); err != nil {
		return err
	}
	if err := os.Chown(tmp, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, data)
}

// lockPath makes the directory dir and flocks dir/lock (how: LOCK_SH or
// LOCK_EX, with LOCK_NB failing at once with EWOULDBLOCK); a blocking lock
// waits until ctx ends.
func lockPath(ctx context.Context, dir string, how int) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fd, err := unix.Open(filepath.Join(dir, "lock"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(fd, how|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Close(fd) }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || how&unix.LOCK_NB != 0 {
			unix.Close(fd)
			return nil, err
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pruneCacheMounts removes every cache mount no build uses now.
func (b *Builder) pruneCacheMounts() (int, error) {
	ents, err := os.ReadDir(b.mountsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cache mounts: %w", err)
	}
	n := 0
	for _, e := range ents {
		dir := filepath.Join(b.mountsDir(), e.Name())
		unlock, err := lockPath(context.Background(), dir, unix.LOCK_EX|unix.LOCK_NB)
		if err != nil {
			continue // in use by a running build: kept
		}
		err = os.RemoveAll(dir)
		unlock()
		if err != nil {
			return n, fmt.Errorf("prune cache mount: %w", err)
		}
		n++
	}
	return n, nil
}
