package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/kago-run/kago/internal/atomicfile"
	"github.com/kago-run/kago/linux/explain"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// maxLayers is overlayfs's limit of lower layers (OVL_MAX_STACK).
const maxLayers = 500

// containerMeta is containers/<key>/meta.json: the layers, bottom first.
type containerMeta struct {
	Layers []digest.Digest `json:"layers"`
}

// Prepare gives a container a writable rootfs: an overlay of the layers
// (chainIDs bottom first) plus a fresh upper and work directory, mounted at
// the returned directory. Every layer must exist (ErrNotFound otherwise); a
// key used before gives ErrExists. Zero layers give an empty rootfs.
func (s *Store) Prepare(ctx context.Context, key string, chainIDs []digest.Digest) (rootfs string, err error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	for _, id := range chainIDs {
		if err := checkChainID(id); err != nil {
			return "", err
		}
	}
	unlock, err := s.lockStore(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	for _, id := range chainIDs {
		if !s.Exists(id) {
			return "", fmt.Errorf("prepare %s: layer %s: %w", key, id, ErrNotFound)
		}
	}
	final := s.containerDir(key)
	if _, err := os.Lstat(final); err == nil {
		return "", fmt.Errorf("prepare %s: %w", key, ErrExists)
	}
	// Build the directory under tmp/ and rename it into place whole.
	tmp, release, err := s.tmpDir(ctx, "prepare-")
	if err != nil {
		return "", err
	}
	defer release()
	if err := s.newContainerDir(tmp, chainIDs); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("prepare %s: %w", key, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("prepare %s: %w", key, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(final)); err != nil {
		return "", err
	}
	recordDirs(explain.FromContext(ctx), final)
	merged, err := s.mount(explain.FromContext(ctx), key, chainIDs)
	if err != nil {
		if rerr := s.removeDir(ctx, final); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return "", err
	}
	return merged, nil
}

func (s *Store) newContainerDir(dir string, chainIDs []digest.Digest) error {
	// 0755 on the container dir and merged so that a container user other
	// than root can walk into its rootfs path; upper and work are overlay's.
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	for _, d := range []string{"upper", "work", "merged"} {
		// Chmod after Mkdir: the umask must not decide it. The upper
		// directory's mode is the mode of the container's "/".
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	meta, err := json.Marshal(containerMeta{Layers: chainIDs})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o600)
}

// Mount mounts an existing container snapshot again, e.g. after a reboot,
// and returns its rootfs. Mounting a mounted snapshot does nothing.
func (s *Store) Mount(ctx context.Context, key string) (string, error) {
	unlock, err := s.lockKey(ctx, key)
	if err != nil {
		return "", err
	}
	defer unlock()
	meta, err := s.readContainer(key)
	if err != nil {
		return "", err
	}
	merged := filepath.Join(s.containerDir(key), "merged")
	if mounted, err := isMountPoint(merged); err != nil || mounted {
		return merged, err
	}
	for _, id := range meta.Layers {
		if !s.Exists(id) {
			return "", fmt.Errorf("mount %s: layer %s: %w", key, id, ErrNotFound)
		}
	}
	return s.mount(explain.FromContext(ctx), key, meta.Layers)
}

// mount puts the overlay of chainIDs with the container's upper and work on
// its merged directory, and records it on rec.
func (s *Store) mount(rec explain.Recorder, key string, chainIDs []digest.Digest) (string, error) {
	dir := s.containerDir(key)
	if len(chainIDs) > maxLayers {
		return "", fmt.Errorf("mount snapshot %s: %d layers, more than the %d overlayfs stacks: flatten the image", key, len(chainIDs), maxLayers)
	}
	// overlayfs lists lower layers top first.
	lowers := make([]string, 0, len(chainIDs))
	for _, id := range slices.Backward(chainIDs) {
		lowers = append(lowers, filepath.Join(s.layerDir(id), "fs"))
	}
	if len(lowers) == 0 {
		lowers = append(lowers, filepath.Join(s.root, "empty"))
	}
	merged := filepath.Join(dir, "merged")
	if err := mountOverlay(lowers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), merged); err != nil {
		return "", fmt.Errorf("mount snapshot %s: %w", key, err)
	}
	recordOverlay(rec, lowers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), merged)
	return merged, nil
}

func (s *Store) readContainer(key string) (*containerMeta, error) {
	data, err := os.ReadFile(filepath.Join(s.containerDir(key), "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container snapshot %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("container snapshot %s: %w", key, err)
	}
	var m containerMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("container snapshot %s: corrupt meta.json: %w", key, err)
	}
	return &m, nil
}

// Unmount unmounts a container snapshot's rootfs; it keeps upper and work.
// Unmounting an unmounted snapshot does nothing.
func (s *Store) Unmount(ctx context.Context, key string) error {
	unlock, err := s.lockKey(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := s.readContainer(key); err != nil {
		return err
	}
	merged := filepath.Join(s.containerDir(key), "merged")
	rec := explain.FromContext(ctx)
	mounted := false
	if rec != nil { // only an unmount that was done is recorded
		mounted, _ = isMountPoint(merged)
	}
	if err := unmountAll(merged, 0); err != nil {
		return fmt.Errorf("unmount snapshot %s: %w", key, err)
	}
	if mounted {
		recordUnmount(rec, merged)
	}
	return nil
}

// Release unmounts a container snapshot and deletes its upper, work and
// merged directories. A busy mount is detached lazily: the container's files
// stay readable to whoever still has them open, and the name is free at once.
func (s *Store) Release(ctx context.Context, key string) error {
	unlock, err := s.lockKey(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	dir := s.containerDir(key)
	if _, err := os.Lstat(dir); err != nil {
		return fmt.Errorf("release %s: %w", key, ErrNotFound)
	}
	if err := unmountAll(filepath.Join(dir, "merged"), unix.MNT_DETACH); err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	return s.removeDir(ctx, dir)
}

// lockKey checks a container key and takes the store lock.
func (s *Store) lockKey(ctx context.Context, key string) (func(), error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return s.lockStore(ctx)
}

// usersOf lists the container snapshots using a layer. The caller holds the
// store lock.
func (s *Store) usersOf(chainID digest.Digest) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "containers"))
	if err != nil {
		return nil, fmt.Errorf("list container snapshots: %w", err)
	}
	var users []string
	for _, e := range ents {
		m, err := s.readContainer(e.Name())
		if err != nil {
			return nil, err
		}
		if slices.Contains(m.Layers, chainID) {
			users = append(users, e.Name())
		}
	}
	return users, nil
}
